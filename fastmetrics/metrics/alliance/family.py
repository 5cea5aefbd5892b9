"""The ``alliance`` family: per-turn working alliance (COMPASS) and between-speaker gap statistics.

Turn columns ``alliance_task``, ``alliance_bond``, ``alliance_goal``, ``alliance_full``: signed
sums of the item cosines of each turn against its role's form (client turns: client form,
therapist turns: therapist form; other turns NaN). Conversation columns
``alliance_<scale>_gap_mean``, ``_convergence``, ``_dispersion`` (project definitions, not part
of COMPASS; see :func:`fastmetrics.alliance.alliance_gaps`). With ``--alliance-items`` the 36
item scores go to ``alliance_items.parquet``. Definitions: METRICS.md section 5.
"""
from __future__ import annotations

from ...options import CACHE_DIR, ENCODER, MODEL_DIR, Boolean, ExistingPath, Option
from ...registry import Context, MetricFamily, MetricResult

__all__ = ["FAMILY"]

SCALES = ("task", "bond", "goal", "full")
STATS = ("gap_mean", "convergence", "dispersion")

OPTIONS = (
    MODEL_DIR,
    CACHE_DIR,
    ENCODER,
    Option("anchors", "builtin",
           "alliance item anchors: 'builtin' (statements written for fastmetrics, not WAI items) "
           "or a JSON/CSV file with the 36 client-form and 36 therapist-form items",
           ExistingPath("file", specials=("builtin",), what="a JSON/CSV anchor file")),
    Option("compass_compat", False,
           "alliance: count turns within each speaker and pair the k-th client turn with the "
           "k-th therapist turn, as the COMPASS code does", Boolean()),
    Option("alliance_items", False, "alliance: also write the 36 item scores per turn to "
                                    "alliance_items.parquet", Boolean()),
)


def _anchor_embeddings(ctx: Context, spec: str):
    """(Anchors, dict of form -> (36, d) embeddings), built once per run."""
    from ...embed.api import encode_texts
    from . import load_anchors

    model_dir = ctx.options["model_dir"] or None

    def build():
        anchors = load_anchors(spec)
        texts = list(anchors.client) + list(anchors.therapist)
        if anchors.counter:
            texts += list(anchors.client_negated) + list(anchors.therapist_negated)
        emb = encode_texts(texts, ctx)
        parts = {"client": emb[0:36], "therapist": emb[36:72]}
        if anchors.counter:
            parts["client_negated"], parts["therapist_negated"] = emb[72:108], emb[108:144]
        return anchors, parts

    return ctx.resource(f"alliance:anchors:{spec}:{model_dir}:{ctx.options['encoder']}", build)


def _compute(corpus, ctx: Context) -> MetricResult:
    import pyarrow as pa

    from ...embed.api import corpus_embeddings
    from . import alliance_gaps, alliance_item_scores, alliance_scores, turn_index

    spec = ctx.options["anchors"]
    compat = ctx.options["compass_compat"]
    want_items = ctx.options["alliance_items"]
    anchors, w = _anchor_embeddings(ctx, spec)
    emb, meta = corpus_embeddings(corpus, ctx)
    kw = dict(client_negated=w.get("client_negated"), therapist_negated=w.get("therapist_negated"))
    scores = alliance_scores(emb, corpus.role, w["client"], w["therapist"], **kw)
    turns = {f"alliance_{s}": scores[:, j] for j, s in enumerate(SCALES)}
    convs = alliance_gaps(scores, corpus.role, corpus.conv_offsets, compass_compat=compat,
                          n_threads=ctx.n_threads, backend=ctx.backend_for("alliance_gaps"))
    tables = {}
    if want_items:
        items = alliance_item_scores(emb, corpus.role, w["client"], w["therapist"], **kw)
        cols = {
            "conversation_id": corpus.conversation_id.take(pa.array(corpus.conv_index)),
            "turn": pa.array(corpus.position),
            "turn_index": pa.array(turn_index(corpus.role, corpus.conv_offsets, compat)),
            "role": pa.array(corpus.role),
        }
        for i in range(items.shape[1]):
            cols[f"item_{i + 1}"] = pa.array(items[:, i])
        tables["alliance_items"] = pa.table(cols)
    metadata = dict(meta)
    metadata.update({
        "alliance_anchors": anchors.label(),
        "alliance_score": "counter (item minus negated item)" if anchors.counter else "standard (cosine)",
        "alliance_turn_index": "within speaker (compass_compat)" if compat else "dialogue order",
        "alliance_gap_definitions": "project definitions, not COMPASS: gap |client - therapist| per "
                                    "answer pair; convergence = OLS slope on normalised position; "
                                    "dispersion = sample SD",
    })
    return MetricResult(turns=turns, conversations=convs, tables=tables, metadata=metadata)


FAMILY = MetricFamily(
    name="alliance",
    description="working alliance per turn (COMPASS: task, bond, goal, full) and speaker gaps",
    compute=_compute,
    needs=frozenset({"embeddings"}),
    turn_columns=tuple(f"alliance_{s}" for s in SCALES),
    conversation_columns=tuple(f"alliance_{s}_{t}" for s in SCALES for t in STATS),
    options=OPTIONS,
    operations=("alliance_gaps",),
    reference="Lin et al., Transl. Psychiatry 2025 (arXiv:2402.14701); arXiv:2204.05522",
)
