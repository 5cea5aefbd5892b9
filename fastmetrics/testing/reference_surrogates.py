"""Naive references for the surrogate baselines (:mod:`fastmetrics.surrogates`).

``permutation`` re-derives the documented scheme in plain Python integers (SplitMix64 with
64-bit wrap-around, Fisher-Yates over the therapist positions), independent of the Numba
kernel; ``surrogate_values`` applies each surrogate permutation to a conversation given as a
list of ``(role, tokens)`` and scores it with the naive references of
:mod:`fastmetrics.testing.reference_sync`; ``summary`` is the NumPy summary (mean, SD ddof 1,
z, permutation p) written from the module docstring.
"""
from __future__ import annotations

import math

import numpy as np

from . import reference_sync as rs

_MASK = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15


def _mix(z: int) -> int:
    z = (z + _GOLDEN) & _MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    return z ^ (z >> 31)


def permutation(roles, conv_seed: int, s: int) -> list[int]:
    """src[t] = the index (within the conversation) whose content position t takes in surrogate s."""
    slots = [t for t, r in enumerate(roles) if r == 1]
    state = (int(conv_seed) + _mix(s + 1)) & _MASK
    for i in range(len(slots) - 1, 0, -1):
        state = (state + _GOLDEN) & _MASK
        j = _mix((state - _GOLDEN) & _MASK) % (i + 1)
        slots[i], slots[j] = slots[j], slots[i]
    src = list(range(len(roles)))
    k = 0
    for t, r in enumerate(roles):
        if r == 1:
            src[t] = slots[k]
            k += 1
    return src


def measures(conv, cats, target_thresh=3):
    """(lsm_prev mean, rlsm, coordination therapist->client, client->therapist) of one conversation."""
    lp = [v for v in rs.lsm_prev(conv, cats) if not math.isnan(v)]
    return (sum(lp) / len(lp) if lp else rs.NAN, rs.rlsm(conv, cats)[0],
            rs.coordination(conv, cats, 1, target_thresh), rs.coordination(conv, cats, 0, target_thresh))


def surrogate_values(conv, cats, conv_seed: int, n: int, target_thresh=3) -> np.ndarray:
    """(4, n): the measures of the n surrogates of ``conv``."""
    roles = [r for r, _ in conv]
    out = np.empty((4, n))
    for s in range(n):
        src = permutation(roles, conv_seed, s)
        shuffled = [(roles[t], conv[src[t]][1]) for t in range(len(conv))]
        out[:, s] = measures(shuffled, cats, target_thresh)
    return out


def summary(observed: float, values) -> tuple[float, float, float, float]:
    """(mean, sd, z, p) of one measure of one conversation."""
    v = np.asarray([x for x in values if np.isfinite(x)], dtype=float)
    mean = v.mean() if len(v) else math.nan
    sd = v.std(ddof=1) if len(v) > 1 else math.nan
    z = (observed - mean) / sd if np.isfinite(observed) and np.isfinite(sd) and sd > 0 else math.nan
    p = (1 + np.sum(v >= observed)) / (1 + len(v)) if np.isfinite(observed) and len(v) else math.nan
    return mean, sd, z, p
