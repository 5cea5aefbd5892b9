"""Style-synchrony families: ``lsm``, ``rlsm`` and ``coordination``.

All three share one compiled pass (:func:`fastmetrics.metrics.sync.synchrony`); when several are
requested for the same chunk the pass runs once and its result is reused. Definitions:
:mod:`fastmetrics.metrics.sync` and docs METRICS.md section 4. The built-in function-word lists are
the project's own (not LIWC); ``--dictionary FILE`` (a LIWC-format ``.dic``) replaces them.
"""
from __future__ import annotations

import numpy as np

from ...options import SURROGATE_SEED, SURROGATES, WINDOW, ExistingPath, Integer, Option
from ...registry import Context, MetricFamily, MetricResult
from ...surrogates import column_pattern

__all__ = ["LSM", "RLSM", "COORDINATION", "DICTIONARY", "THRESHOLD"]

DICTIONARY = Option("dictionary", "", "LIWC-format .dic file replacing the built-in (non-LIWC) "
                    "function-word lists (empty: the built-in lists)",
                    ExistingPath("file", what="a path to a LIWC .dic file"))
THRESHOLD = Option("coordination_threshold", 3, "coordination: minimum target turns exhibiting a "
                   "marker (ConvoKit target_thresh)", Integer(low=1))
_COORD = ("coordination_therapist_to_client", "coordination_client_to_therapist")
_OPERATIONS = ("category_counts", "sync_from_counts", "sync_surrogates")


def _result(corpus, ctx: Context):
    """The chunk's synchrony pass, run once per chunk for whichever of the three families asks."""
    from . import synchrony
    from .lexicon import load_lexicon

    # one pass computes all three families; an option of a family not in the run has no
    # effect on the columns written, and reads as its declared default
    dictionary = ctx.options["dictionary"] or None
    window, thresh = ctx.options[WINDOW.name], ctx.options[THRESHOLD.name]
    lexicon = ctx.resource(f"lexicon:{dictionary}", lambda: load_lexicon(dictionary))
    backend = ctx.backend_for("sync_from_counts")
    ctx.backend_for("category_counts")
    res = ctx.cached(("sync", dictionary, window, thresh),
                     lambda: synchrony(corpus, lexicon=lexicon, window=window, target_thresh=thresh,
                                       n_threads=ctx.n_threads, backend=backend))
    return res, lexicon.source


def _surrogates(corpus, ctx: Context, measures: tuple[str, ...]) -> dict:
    """Surrogate columns of ``measures`` (empty when --surrogates is 0); one kernel call per chunk."""
    n = ctx.options[SURROGATES.name]
    if not n:
        return {}
    from ...surrogates import conversation_seeds, summarise
    from . import SURROGATE_MEASURES, category_counts, sync_surrogates
    from .lexicon import CATEGORIES, load_lexicon

    dictionary = ctx.options["dictionary"] or None
    seed, thresh = ctx.options[SURROGATE_SEED.name], ctx.options[THRESHOLD.name]
    backend = ctx.backend_for("sync_surrogates")

    def run():
        lexicon = ctx.resource(f"lexicon:{dictionary}", lambda: load_lexicon(dictionary))
        tok = corpus.tokens()
        counts = category_counts(tok.token_offsets, tok.token_ids, lexicon.vocab_mask(tok.vocab),
                                 len(CATEGORIES), n_threads=ctx.n_threads)
        seeds = conversation_seeds(corpus.conversation_id.to_pylist(), seed)
        obs, sur = sync_surrogates(corpus.conv_offsets, corpus.role, counts,
                                   np.diff(tok.token_offsets), seeds, n, target_thresh=thresh,
                                   n_threads=ctx.n_threads, backend=backend)
        out = {"lsm_prev_mean": obs[:, 0]}
        for i, name in enumerate(SURROGATE_MEASURES):
            out.update(summarise(name, obs[:, i], sur[:, i, :]))
        return out

    allcols = ctx.cached(("sync_surrogates", dictionary, n, seed, thresh), run)
    return {k: v for k, v in allcols.items() if any(k == m or k.startswith(m + "_") for m in measures)}


def _meta(source: str, ctx: Context) -> dict[str, str]:
    meta = {"sync_dictionary": source}
    if ctx.options[SURROGATES.name]:
        from ...surrogates import SCHEME

        meta["sync_surrogates"] = (f"N={ctx.options[SURROGATES.name]}, seed="
                                   f"{ctx.options[SURROGATE_SEED.name]}, {SCHEME}")
    if WINDOW.name in ctx.options:
        meta["sync_window"] = str(ctx.options[WINDOW.name])
    return meta


def _lsm(corpus, ctx: Context) -> MetricResult:
    res, src = _result(corpus, ctx)
    return MetricResult(turns={"lsm_prev": res.lsm_prev},
                        conversations={"lsm": res.lsm, **_surrogates(corpus, ctx, ("lsm_prev_mean",))},
                        metadata=_meta(src, ctx))


def _rlsm(corpus, ctx: Context) -> MetricResult:
    res, src = _result(corpus, ctx)
    return MetricResult(turns={"rlsm_turn": res.rlsm_turn, "rlsm_window": res.rlsm_window},
                        conversations={"rlsm": res.rlsm, "rlsm_client": res.rlsm_client,
                                       "rlsm_therapist": res.rlsm_therapist,
                                       **_surrogates(corpus, ctx, ("rlsm",))},
                        metadata=_meta(src, ctx))


def _coordination(corpus, ctx: Context) -> MetricResult:
    res, src = _result(corpus, ctx)
    return MetricResult(conversations={
        "coordination_therapist_to_client": res.coordination_therapist_to_client,
        "coordination_client_to_therapist": res.coordination_client_to_therapist,
        **_surrogates(corpus, ctx, _COORD)},
        metadata=_meta(src, ctx))


LSM = MetricFamily(
    name="lsm", description="language style matching per conversation and per speaker change",
    compute=_lsm, needs=frozenset({"tokens"}), turn_columns=("lsm_prev",),
    conversation_columns=("lsm",), options=(DICTIONARY, SURROGATES, SURROGATE_SEED),
    column_patterns=("lsm_prev_mean", column_pattern(("lsm_prev_mean",))), operations=_OPERATIONS,
    reference="Ireland & Pennebaker 2010; METRICS.md 4")

RLSM = MetricFamily(
    name="rlsm", description="reciprocal LSM (turn level, per person, dyad) and rolling-window rLSM",
    compute=_rlsm, needs=frozenset({"tokens"}), turn_columns=("rlsm_turn", "rlsm_window"),
    conversation_columns=("rlsm", "rlsm_client", "rlsm_therapist"),
    options=(DICTIONARY, WINDOW, SURROGATES, SURROGATE_SEED), column_patterns=(column_pattern(("rlsm",)),),
    operations=_OPERATIONS,
    reference="Müller-Frommeyer, Frommeyer & Kauffeld 2019; METRICS.md 4")

COORDINATION = MetricFamily(
    name="coordination", description="function-word coordination therapist->client and client->therapist",
    compute=_coordination, needs=frozenset({"tokens"}),
    conversation_columns=("coordination_therapist_to_client", "coordination_client_to_therapist"),
    options=(DICTIONARY, THRESHOLD, SURROGATES, SURROGATE_SEED), column_patterns=(column_pattern(_COORD),),
    operations=_OPERATIONS, reference="Danescu-Niculescu-Mizil et al. 2012 (ConvoKit Coordination)")
