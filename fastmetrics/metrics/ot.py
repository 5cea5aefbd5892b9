"""The ``wmd`` and ``nclid`` families: word mover's distances and nCLiD coordination.

``wmd`` writes the per-turn column ``wmd_prev``: the exact WMD between a turn and the
immediately preceding turn of its conversation (null for the first turn; +inf when either turn
has no in-vocabulary token). ``nclid`` writes, per conversation, ``uclid_client_therapist``,
``nclid_client_therapist`` (anchor client, coordinator therapist: how closely the therapist
follows the client), ``uclid_therapist_client``, ``nclid_therapist_client`` and ``nclid`` (mean
of the two directions); approximate modes write the same names with a ``_<mode>`` suffix.
Definitions: METRICS.md §2-3; kernels in :mod:`fastmetrics.ot`.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa

from ..registry import Context, MetricFamily, MetricResult, Option


def _bool(value) -> bool:
    if isinstance(value, bool):
        return value
    v = str(value).strip().lower()
    if v in ("1", "true", "yes", "on"):
        return True
    if v in ("0", "false", "no", "off"):
        return False
    from ..errors import InputError

    raise InputError(f"expected a boolean (true/false), got {value!r}")


VECTOR_OPTIONS = (
    Option("vectors", str, "glove-6b-50d",
           "word vectors for WMD: 'glove-6b-50d' (default, GloVe 6B 50-d) or a path to word2vec "
           ".bin / word2vec, fastText or GloVe text / .npy matrix with <stem>.vocab.txt"),
    Option("ground_cost", str, "euclidean", "WMD ground cost between word vectors",
           choices=("euclidean", "cosine")),
    Option("normalize_vectors", bool, True,
           "L2-normalise word vectors before WMD (gensim 4 default)"),
)


def _bags(corpus, ctx: Context):
    """The chunk's bags of words, built once and shared by both families of this chunk."""
    from ..ot import make_bags
    from ..vectors import load_vectors

    spec = str(ctx.options.get("vectors", "glove-6b-50d"))
    norm = _bool(ctx.options.get("normalize_vectors", True))
    wv = ctx.resource(f"vectors:{spec}", lambda: load_vectors(spec))
    tokens = corpus.tokens()
    key = (id(tokens), spec, norm)
    cached = ctx.resources.get("ot:bags")
    if cached is not None and cached[0] == key:
        return cached[2]
    bags = make_bags(tokens, wv, normalize_vectors=norm, n_threads=ctx.n_threads)
    ctx.resources["ot:bags"] = (key, tokens, bags)  # holds tokens so that id(tokens) stays unique
    return bags


def _backend(ctx: Context) -> str:
    return ctx.backend if ctx.backend in ("c", "numba") else "auto"


def _metadata(ctx: Context, bags) -> dict[str, str]:
    return {
        "ot.vectors": bags.vectors_name,
        "ot.ground_cost": str(ctx.options.get("ground_cost", "euclidean")),
        "ot.normalize_vectors": str(_bool(ctx.options.get("normalize_vectors", True))).lower(),
        "ot.weights": "token count / in-vocabulary total; out-of-vocabulary tokens dropped",
    }


def _compute_wmd(corpus, ctx: Context) -> MetricResult:
    from ..ot import wmd_adjacent

    bags = _bags(corpus, ctx)
    values = wmd_adjacent(corpus, bags=bags, ground_cost=str(ctx.options.get("ground_cost", "euclidean")),
                          backend=_backend(ctx), n_threads=ctx.n_threads)
    first = np.zeros(corpus.n_turns, dtype=bool)
    off = corpus.conv_offsets
    first[off[:-1][np.diff(off) > 0]] = True
    meta = _metadata(ctx, bags)
    meta["wmd_prev"] = ("exact WMD to the preceding turn of the conversation; null for the first "
                        "turn; +inf when either turn has no in-vocabulary token")
    return MetricResult(turns={"wmd_prev": pa.array(values, mask=first, type=pa.float64())},
                        metadata=meta)


def _compute_nclid(corpus, ctx: Context) -> MetricResult:
    from ..ot import nclid

    bags = _bags(corpus, ctx)
    mode = str(ctx.options.get("nclid_mode", "exact"))
    res = nclid(corpus, k=int(ctx.options.get("nclid_k", 3)),
                denominator=str(ctx.options.get("nclid_denominator", "sum")), mode=mode,
                ground_cost=str(ctx.options.get("ground_cost", "euclidean")),
                backend=_backend(ctx), n_threads=ctx.n_threads, bags=bags)
    meta = _metadata(ctx, bags)
    meta.update({"nclid.k": str(ctx.options.get("nclid_k", 3)),
                 "nclid.denominator": str(ctx.options.get("nclid_denominator", "sum")),
                 "nclid.mode": mode,
                 "nclid.undefined": "NaN when the conversation lacks a client or a therapist turn; "
                                    "+inf when no anchor has a finite local distance or the "
                                    "normaliser is infinite or zero"})
    return MetricResult(conversations=res, metadata=meta)


FAMILY_WMD = MetricFamily(
    name="wmd",
    description="exact word mover's distance of each turn to the preceding turn",
    compute=_compute_wmd,
    needs=frozenset({"tokens", "vectors"}),
    turn_columns=("wmd_prev",),
    options=VECTOR_OPTIONS,
    reference="Kusner et al., ICML 2015; gensim 4 wmdistance semantics",
)

FAMILY_NCLID = MetricFamily(
    name="nclid",
    description="uCLiD / nCLiD linguistic coordination by WMD, both directions",
    compute=_compute_nclid,
    needs=frozenset({"tokens", "vectors"}),
    conversation_columns=("uclid_client_therapist", "nclid_client_therapist",
                          "uclid_therapist_client", "nclid_therapist_client", "nclid"),
    options=VECTOR_OPTIONS + (
        Option("nclid_k", int, 3, "nCLiD: next k coordinator utterances compared with each anchor"),
        Option("nclid_denominator", str, "sum", "nCLiD normaliser: sum (public code) or mean of "
               "alpha_A, alpha_B, alpha_AB", choices=("sum", "mean")),
        Option("nclid_mode", str, "exact", "nCLiD distance: exact WMD, or an approximation written "
               "under suffixed column names (nclid_rwmd, ...)",
               choices=("exact", "rwmd", "wcd", "sinkhorn")),
    ),
    reference="Nasir et al., Interspeech 2019 (arXiv:1904.06002); METRICS.md §3",
)
