"""Surrogate baselines of the synchrony measures: "is this conversation's synchrony above
what its own turns give when the pairing is broken?" (METRICS.md section 4, surrogates).

Scheme (the same in every family, :mod:`fastmetrics._surrogates_numba`): each surrogate keeps
the client's turns, the role sequence and therefore every pair position, and shuffles the
therapist's turns among the therapist's positions. A shuffle rather than a circular shift: a
circular shift of a conversation with m therapist turns has only m - 1 distinct surrogates
(too few for N = 100 on the short conversations of support corpora) and keeps the therapist's
turn-to-turn structure, which the shuffle removes; both break the pairing that synchrony
measures.

Seeds: the 64-bit key of a conversation is taken from BLAKE2b of its id and the run's
``--surrogate-seed``, so surrogate values do not depend on the chunking, the thread count or
the engine. Per conversation and measure: ``<m>_surrogate_mean``, ``<m>_surrogate_sd`` (ddof 1,
over the finite surrogates), ``<m>_z`` = (observed − mean) / sd, and ``<m>_p`` = (1 + #{surrogate
>= observed}) / (1 + n finite), the one-sided permutation p-value of "synchrony above chance"
(higher = more synchrony). Distance-like measures, where lower = more synchrony (nCLiD, see
:data:`LOWER_IS_MORE`), keep mean, SD and z in their own units and direction (z < 0 is more
coordination than the surrogates) and take the other tail: ``<m>_p`` = (1 + #{surrogate <=
observed}) / (1 + n finite). So for every measure ``<m>_p`` is the p-value of "more synchrony than
chance", and a conversation is above chance at level α when ``<m>_p <= α``; under the null this
happens at most at rate α.
"""
from __future__ import annotations

import hashlib

import numpy as np

from .options import SURROGATE_SEED, SURROGATES

__all__ = ["SURROGATES", "SURROGATE_SEED", "SUFFIXES", "SCHEME", "LOWER_IS_MORE", "conversation_seeds",
           "summarise", "direction", "column_pattern"]

SUFFIXES = ("surrogate_mean", "surrogate_sd", "z", "p")
SCHEME = "therapist turns shuffled among therapist positions within the conversation (SplitMix64 " \
         "Fisher-Yates; conversation key BLAKE2b(seed, conversation_id))"
#: Measure-name pattern (``re.fullmatch``) of the surrogate measures where lower = more synchrony.
LOWER_IS_MORE = r"nclid(_therapist_to_client|_client_to_therapist)?(_rwmd|_wcd|_sinkhorn)?"


def direction(name: str) -> str:
    """"lower" when lower values of surrogate measure ``name`` mean more synchrony (nCLiD),
    else "higher"."""
    import re

    return "lower" if re.fullmatch(LOWER_IS_MORE, name) else "higher"


def conversation_seeds(conversation_ids, seed: int) -> np.ndarray:
    """uint64 key per conversation from the run's seed and the conversation id."""
    out = np.empty(len(conversation_ids), dtype=np.uint64)
    salt = int(seed).to_bytes(8, "little")
    for i, cid in enumerate(conversation_ids):
        h = hashlib.blake2b(str(cid).encode("utf-8"), digest_size=8, key=salt)
        out[i] = int.from_bytes(h.digest(), "little")
    return out


def summarise(name: str, observed: np.ndarray, sur: np.ndarray, *,
              lower_is_more: bool | None = None) -> dict[str, np.ndarray]:
    """Conversation columns for measure ``name`` from observed (n_conv,) and surrogates (n_conv, N).

    ``lower_is_more`` (default: from the name, :data:`LOWER_IS_MORE`) makes ``_p`` the lower
    tail, the p-value of "more synchrony than chance" for a distance-like measure.
    """
    if lower_is_more is None:
        lower_is_more = direction(name) == "lower"
    observed = np.asarray(observed, dtype=np.float64)
    sur = np.asarray(sur, dtype=np.float64)
    fin = np.isfinite(sur)
    n = fin.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        s0 = np.where(fin, sur, 0.0)
        mean = np.where(n > 0, s0.sum(axis=1) / np.maximum(n, 1), np.nan)
        dev = np.where(fin, sur - mean[:, None], 0.0)
        sd = np.where(n > 1, np.sqrt((dev ** 2).sum(axis=1) / np.maximum(n - 1, 1)), np.nan)
        z = np.where(np.isfinite(observed) & (sd > 0), (observed - mean) / sd, np.nan)
        beyond = sur <= observed[:, None] if lower_is_more else sur >= observed[:, None]
        ge = (fin & beyond).sum(axis=1)
        p = np.where(np.isfinite(observed) & (n > 0), (1.0 + ge) / (1.0 + n), np.nan)
    return {f"{name}_surrogate_mean": mean, f"{name}_surrogate_sd": sd, f"{name}_z": z, f"{name}_p": p}


def column_pattern(measures) -> str:
    """Regular expression of the surrogate columns of ``measures`` (for MetricFamily.column_patterns)."""
    return "(" + "|".join(measures) + ")_(" + "|".join(SUFFIXES) + ")"
