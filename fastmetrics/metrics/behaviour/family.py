"""The ``behaviour`` family: BOLT behaviour of each supporter turn and per-conversation rates.

Source of the labels (``--behaviour-source``):

* ``strategy``: the corpus's ESConv strategy annotations (turn column ``strategy``) mapped
  onto BOLT categories (:data:`fastmetrics.metrics.behaviour.STRATEGY_TO_BOLT`);
* ``prototype``: an embedding-prototype classifier for unlabelled corpora: each supporter
  turn goes to the category whose anchor centroid (anchor statements written for this
  project, ``fastmetrics/data/study/behaviour_anchors.json``) is the most cosine-similar
  under the sentence encoder. A heuristic, not a validated classifier;
* ``classifier``: the shipped BOLT classifier (:mod:`fastmetrics.models.bolt`, trained on
  BOLT's 13 therapist behaviours, BSD-3-Clause) on each supporter turn's embedding, its label
  mapped to a category by :data:`fastmetrics.models.bolt.TO_BEHAVIOUR`; validation figures in
  ``docs/validation.md`` (weak: valid macro-F1 0.22 over the 13 behaviours);
* ``auto`` (default): ``strategy`` when the column has labels, else ``classifier`` (else, with
  an encoder other than MiniLM, ``prototype`` with a warning).

Writes per turn ``behaviour`` (category name on supporter turns, null elsewhere) and per
conversation ``bolt_<b>_rate`` (share of labelled supporter turns coded b) and
``bolt_<b>_given_neg_rate`` = P(b | the client turn before it has valence <=
``--neg-valence-threshold``), with ``valence`` from the ``emotion`` family (which therefore
runs first). Definitions: :mod:`fastmetrics.metrics.behaviour`.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa

from ...options import CACHE_DIR, ENCODER, MODEL_DIR, Choice, Option, Real
from ...registry import Context, MetricFamily, MetricResult
from . import BEHAVIOURS, NEG_THRESHOLD, behaviour_rates, map_strategies

__all__ = ["FAMILY"]

PROTOTYPE_SOURCE = "embedding-prototype classifier (fastmetrics builtin behaviour anchors v1; heuristic)"


def _prototype_codes(corpus, ctx: Context, anchors: str = "behaviour") -> np.ndarray:
    """Behaviour code per turn (index into BEHAVIOURS) from the prototype classifier; -1 on
    non-supporter turns."""
    from ...embed.api import corpus_embeddings, encode_texts
    from ...embed.prototypes import centroids, load_anchors, prototype_scores
    from ...errors import InputError

    def build():
        a = load_anchors(anchors)
        unknown = sorted(set(a) - set(BEHAVIOURS))
        if unknown:
            raise InputError(f"behaviour anchors: unknown categories {unknown}; expected {BEHAVIOURS}")
        return centroids({k: encode_texts(v, ctx) for k, v in a.items()})

    key = f"behaviour:centroids:{anchors}:{ctx.options['model_dir']}:{ctx.options['encoder']}"
    names, C = ctx.resource(key, build)
    codes = np.full(corpus.n_turns, -1, dtype=np.int8)
    sup = np.flatnonzero(corpus.role == 1)
    if len(sup):
        emb, _ = corpus_embeddings(corpus, ctx)
        best = prototype_scores(emb[sup], C).argmax(axis=1)
        lut = np.array([BEHAVIOURS.index(n) for n in names], dtype=np.int8)
        codes[sup] = lut[best]
    return codes


def _classifier_codes(corpus, ctx: Context) -> np.ndarray | None:
    """Behaviour code per turn from the shipped BOLT classifier; -1 on non-supporter turns.
    None when this run's encoder is not the classifier's (its weights read MiniLM embeddings)."""
    from ...embed.api import corpus_embeddings, run_encoder_reads
    from ...models.bolt import TO_BEHAVIOUR, load_shipped

    clf = ctx.resource("behaviour:bolt_classifier", load_shipped)
    if not run_encoder_reads(ctx, clf.manifest["encoder_model_id"])[0]:
        return None
    codes = np.full(corpus.n_turns, -1, dtype=np.int8)
    sup = np.flatnonzero(corpus.role == 1)
    if len(sup):
        emb, _ = corpus_embeddings(corpus, ctx)
        text = corpus.text.to_pylist()
        lab = clf.predict(emb[sup], [text[i] or "" for i in sup], "therapist")
        codes[sup] = [BEHAVIOURS.index(TO_BEHAVIOUR[v]) for v in lab]
    return codes


def _compute(corpus, ctx: Context) -> MetricResult:
    import warnings

    from ...columns import as_float
    from ...errors import InputError

    src = ctx.options["behaviour_source"]
    strat = ctx.columns.get("strategy")
    codes = None
    meta = {}
    if src in ("auto", "strategy") and strat is not None:
        c, n_unknown = map_strategies(strat)
        if src == "strategy" or np.any(c[corpus.role == 1] >= 0):
            codes = np.where(corpus.role == 1, c, -1).astype(np.int8)
            meta = {"fastmetrics.behaviour.source": "esconv strategy annotations mapped to BOLT",
                    "fastmetrics.behaviour.unknown_labels": str(n_unknown)}
    if codes is None:
        if src == "strategy":
            raise InputError("--behaviour-source strategy: the corpus has no 'strategy' turn column")
        if src == "prototype":
            codes = _prototype_codes(corpus, ctx)
            meta = {"fastmetrics.behaviour.source": PROTOTYPE_SOURCE}
        else:
            codes = _classifier_codes(corpus, ctx)
            meta = {"fastmetrics.behaviour.source":
                    "BOLT classifier (fastmetrics/data/bolt_classifier, trained on BOLT, BSD-3-Clause)"}
            if codes is None:
                if src == "classifier":
                    raise InputError("--behaviour-source classifier: the BOLT classifier reads "
                                     "all-MiniLM-L6-v2 embeddings and this run encodes with "
                                     f"--encoder {ctx.options['encoder']}; use --encoder minilm, "
                                     "or --behaviour-source prototype")
                if not ctx.resources.get("behaviour:warned"):
                    ctx.resources["behaviour:warned"] = True
                    warnings.warn(f"behaviour: the BOLT classifier reads all-MiniLM-L6-v2 embeddings, "
                                  f"not those of --encoder {ctx.options['encoder']}; writing the "
                                  "prototype heuristic's labels instead", stacklevel=2)
                codes = _prototype_codes(corpus, ctx)
                meta = {"fastmetrics.behaviour.source": PROTOTYPE_SOURCE}
    val = ctx.columns.get("valence")
    if val is not None:
        val = as_float("valence", val, inf_as_missing=False)
    rates = behaviour_rates(corpus.conv_index, corpus.n_conversations, corpus.role, codes, val,
                            ctx.options["neg_valence_threshold"])
    labels = pa.array(np.array(BEHAVIOURS, dtype=object)[np.maximum(codes, 0)].tolist(),
                      type=pa.string())
    import pyarrow.compute as pc

    labels = pc.if_else(pa.array(codes >= 0), labels, pa.scalar(None, pa.string()))
    return MetricResult(turns={"behaviour": labels}, conversations=rates, metadata=meta)


FAMILY = MetricFamily(
    name="behaviour",
    description="BOLT behaviour per supporter turn (ESConv strategies or prototype classifier) and rates",
    compute=_compute,
    turn_columns=("behaviour",),  # embeddings are computed lazily, only for the prototype source
    conversation_columns=(tuple(f"bolt_{b}_rate" for b in BEHAVIOURS)
                          + tuple(f"bolt_{b}_given_neg_rate" for b in BEHAVIOURS) + ("bolt_n_labelled",)),
    options=(
        Option("behaviour_source", "auto",
               "behaviour labels from 'strategy' annotations, the trained BOLT 'classifier', a "
               "'prototype' heuristic, or 'auto' (strategy, else classifier)",
               Choice(("auto", "strategy", "classifier", "prototype"))),
        Option("neg_valence_threshold", NEG_THRESHOLD,
               "a client turn is negative when its valence is <= this (VADER convention)",
               Real()),
        MODEL_DIR,
        CACHE_DIR,
        ENCODER,
    ),
    after=("emotion",),  # valence of the client turns, for the conditional rates
    reference="Chiu et al. 2024, arXiv:2401.00820 (BOLT); Liu et al. ACL 2021 (ESConv)",
)
