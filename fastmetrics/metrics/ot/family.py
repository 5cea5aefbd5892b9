"""The ``wmd`` and ``nclid`` families: word mover's distances and nCLiD coordination.

``wmd`` writes the per-turn column ``wmd_prev``: the exact WMD between a turn and the
immediately preceding turn of its conversation (null for the first turn; +inf when either turn
has no in-vocabulary token). ``nclid`` writes, per conversation, ``uclid_therapist_to_client``,
``nclid_therapist_to_client`` (anchor client, coordinator therapist: how closely the therapist
follows the client), ``uclid_client_to_therapist``, ``nclid_client_to_therapist`` and ``nclid`` (mean
of the two directions); approximate modes write the same names with a ``_<mode>`` suffix.
With ``--surrogates N`` the three nCLiD measures also get ``<m>_surrogate_mean``, ``_sd``, ``_z``
and ``_p`` (:mod:`fastmetrics.surrogates`; lower = more coordination, so ``_p`` is the lower
tail), from the same distance matrix.
Definitions: METRICS.md §2-3; computation API in :mod:`fastmetrics.metrics.ot`.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa

from ...options import SURROGATE_SEED, SURROGATES, Boolean, Choice, ExistingPath, Integer, Option
from ...registry import Context, MetricFamily, MetricResult
from ...surrogates import column_pattern

__all__ = ["FAMILY_WMD", "FAMILY_NCLID", "VECTOR_OPTIONS"]

VECTOR_OPTIONS = (
    Option("vectors", "glove-6b-50d",
           "word vectors for WMD: 'glove-6b-50d' (default, GloVe 6B 50-d) or a path to word2vec "
           ".bin / word2vec, fastText or GloVe text / .npy matrix with <stem>.vocab.txt",
           ExistingPath("file", specials=("glove-6b-50d",), what="a path to a word-vector file")),
    Option("ground_cost", "euclidean", "WMD ground cost between word vectors",
           Choice(("euclidean", "cosine"))),
    Option("normalize_vectors", True, "L2-normalise word vectors before WMD (gensim 4 default)",
           Boolean()),
)


def _bags(corpus, ctx: Context):
    """The chunk's bags of words, built once per chunk and shared by both families."""
    from . import make_bags
    from .vectors import load_vectors

    spec, norm = ctx.options["vectors"], ctx.options["normalize_vectors"]
    wv = ctx.resource(f"vectors:{spec}", lambda: load_vectors(spec))
    ctx.backend_for("build_bags")
    return ctx.cached(("ot:bags", spec, norm),
                      lambda: make_bags(corpus.tokens(), wv, normalize_vectors=norm,
                                        n_threads=ctx.n_threads))


def _metadata(ctx: Context, bags) -> dict[str, str]:
    return {
        "ot.vectors": bags.vectors_name,
        "ot.ground_cost": ctx.options["ground_cost"],
        "ot.normalize_vectors": str(ctx.options["normalize_vectors"]).lower(),
        "ot.weights": "token count / in-vocabulary total; out-of-vocabulary tokens dropped",
    }


def _compute_wmd(corpus, ctx: Context) -> MetricResult:
    from . import wmd_adjacent

    bags = _bags(corpus, ctx)
    values = wmd_adjacent(corpus, bags=bags, ground_cost=ctx.options["ground_cost"],
                          backend=ctx.backend_for("wmd_pairs"), n_threads=ctx.n_threads)
    first = np.zeros(corpus.n_turns, dtype=bool)
    off = corpus.conv_offsets
    first[off[:-1][np.diff(off) > 0]] = True
    meta = _metadata(ctx, bags)
    meta["wmd_prev"] = ("exact WMD to the preceding turn of the conversation; null for the first "
                        "turn; +inf when either turn has no in-vocabulary token")
    return MetricResult(turns={"wmd_prev": pa.array(values, mask=first, type=pa.float64())},
                        metadata=meta)


def _compute_nclid(corpus, ctx: Context) -> MetricResult:
    from . import nclid, nclid_distances

    bags = _bags(corpus, ctx)
    mode = ctx.options["nclid_mode"]
    op = "sinkhorn_pairs" if mode == "sinkhorn" else "wmd_pairs"
    backend = ctx.backend_for(op)
    ctx.backend_for("nclid_reduce")
    k, denominator = ctx.options["nclid_k"], ctx.options["nclid_denominator"]
    dist = nclid_distances(corpus, mode=mode, ground_cost=ctx.options["ground_cost"], backend=backend,
                           n_threads=ctx.n_threads, bags=bags)
    res = nclid(corpus, k=k, denominator=denominator, n_threads=ctx.n_threads, distances=dist)
    meta = _metadata(ctx, bags)
    meta.update({"nclid.k": str(k),
                 "nclid.denominator": denominator,
                 "nclid.mode": mode,
                 "nclid.undefined": "NaN when the conversation lacks a client or a therapist turn; "
                                    "+inf when no anchor has a finite local distance or the "
                                    "normaliser is infinite or zero"})
    n_sur = ctx.options[SURROGATES.name]
    if n_sur:
        res.update(_nclid_surrogates(corpus, ctx, dist, res, n_sur, k, denominator))
        from ...surrogates import SCHEME

        meta["nclid_surrogates"] = (f"N={n_sur}, seed={ctx.options[SURROGATE_SEED.name]}, {SCHEME}; "
                                    "from the same distance matrix; lower = more coordination, so "
                                    "<m>_p = (1 + #{surrogate <= observed}) / (1 + n finite) and "
                                    "<m>_z < 0 is more coordination than the surrogates")
    return MetricResult(conversations=res, metadata=meta)


def _nclid_surrogates(corpus, ctx: Context, dist, res, n_sur, k, denominator) -> dict[str, np.ndarray]:
    """Surrogate columns of the three nCLiD measures (one kernel call, no new distance)."""
    from ...surrogates import conversation_seeds, summarise
    from . import NCLID_SURROGATE_MEASURES, nclid_surrogates

    suffix = "" if dist.mode == "exact" else f"_{dist.mode}"
    seeds = conversation_seeds(corpus.conversation_id.to_pylist(), ctx.options[SURROGATE_SEED.name])
    sur = nclid_surrogates(dist, seeds, n_sur, k=k, denominator=denominator, n_threads=ctx.n_threads,
                           backend=ctx.backend_for("nclid_surrogates"))
    out: dict[str, np.ndarray] = {}
    for i, m in enumerate(NCLID_SURROGATE_MEASURES):
        name = m + suffix
        out.update(summarise(name, res[name], sur[:, i, :], lower_is_more=True))
    return out


#: Measures with surrogate columns, in every mode (approximate modes carry ``_<mode>``).
_NCLID_SURROGATE_NAMES = tuple(m + suf for m in ("nclid_therapist_to_client", "nclid_client_to_therapist",
                                                 "nclid")
                               for suf in ("", "_rwmd", "_wcd", "_sinkhorn"))


FAMILY_WMD = MetricFamily(
    name="wmd",
    description="exact word mover's distance of each turn to the preceding turn",
    compute=_compute_wmd,
    needs=frozenset({"tokens", "vectors"}),
    turn_columns=("wmd_prev",),
    options=VECTOR_OPTIONS,
    operations=("build_bags", "wmd_pairs"),
    reference="Kusner et al., ICML 2015; gensim 4 wmdistance semantics",
)

FAMILY_NCLID = MetricFamily(
    name="nclid",
    description="uCLiD / nCLiD linguistic coordination by WMD, both directions",
    compute=_compute_nclid,
    needs=frozenset({"tokens", "vectors"}),
    conversation_columns=("uclid_therapist_to_client", "nclid_therapist_to_client",
                          "uclid_client_to_therapist", "nclid_client_to_therapist", "nclid"),
    options=VECTOR_OPTIONS + (
        Option("nclid_k", 3, "nCLiD: next k coordinator utterances compared with each anchor",
               Integer(low=1)),
        Option("nclid_denominator", "sum", "nCLiD normaliser: sum (public code) or mean of "
               "alpha_A, alpha_B, alpha_AB", Choice(("sum", "mean"))),
        Option("nclid_mode", "exact", "nCLiD distance: exact WMD, or an approximation written "
               "under suffixed column names (nclid_rwmd, ...)",
               Choice(("exact", "rwmd", "wcd", "sinkhorn"))),
        SURROGATES, SURROGATE_SEED,
    ),
    column_patterns=(column_pattern(_NCLID_SURROGATE_NAMES),),
    operations=("build_bags", "wmd_pairs", "sinkhorn_pairs", "nclid_reduce", "nclid_surrogates"),
    reference="Nasir et al., Interspeech 2019 (arXiv:1904.06002); METRICS.md §3",
)
