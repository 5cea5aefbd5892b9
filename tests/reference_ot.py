"""Naive references for the optimal-transport engine (plain loops + POT / scipy).

Independent of fastmetrics' kernels: WMD via POT ``ot.emd2`` on a cost matrix from
``scipy.spatial.distance.cdist``; EMD via ``scipy.optimize.linprog``; nCLiD written straight
from METRICS.md §3 with plain loops.
"""
from __future__ import annotations

import math
from collections import Counter

import numpy as np


def nbow(tokens, index):
    """(rows, weights) of the in-vocabulary tokens: count / in-vocabulary total."""
    kept = [t for t in tokens if t in index]
    if not kept:
        return None, None
    cnt = Counter(kept)
    words = list(cnt)
    rows = np.array([index[w] for w in words])
    w = np.array([cnt[x] / len(kept) for x in words], dtype=np.float64)
    return rows, w


def wmd_reference(doc1, doc2, words, matrix, *, normalize=True, ground_cost="euclidean"):
    """WMD with POT ``ot.emd2``: OOV dropped, weights count/total, +inf for an empty side."""
    import ot
    from scipy.spatial.distance import cdist

    index = {w: i for i, w in enumerate(words)}
    r1, w1 = nbow(doc1, index)
    r2, w2 = nbow(doc2, index)
    if r1 is None or r2 is None:
        return math.inf
    X, Y = matrix[r1], matrix[r2]
    if normalize:
        X = X / np.linalg.norm(X, axis=1)[:, None].astype(X.dtype)
        Y = Y / np.linalg.norm(Y, axis=1)[:, None].astype(Y.dtype)
    M = cdist(X.astype(np.float64), Y.astype(np.float64),
              metric="euclidean" if ground_cost == "euclidean" else "cosine")
    if ground_cost == "cosine":
        M = np.maximum(M, 0.0)
    return float(ot.emd2(w1, w2, M))


def emd_linprog(a, b, M):
    """Exact EMD as a linear programme (scipy HiGHS)."""
    from scipy.optimize import linprog

    n1, n2 = M.shape
    A = np.zeros((n1 + n2, n1 * n2))
    for i in range(n1):
        A[i, i * n2:(i + 1) * n2] = 1.0
    for j in range(n2):
        A[n1 + j, j::n2] = 1.0
    res = linprog(M.ravel(), A_eq=A, b_eq=np.concatenate([a, b]), bounds=(0, None), method="highs")
    assert res.status == 0
    return float(res.fun)


def nclid_reference(roles, dist, *, anchor, coord, k=3, denominator="sum"):
    """uCLiD, nCLiD of one direction of one conversation, straight from METRICS.md §3.

    ``roles``: list of role codes in dialogue order; ``dist(i, j)``: WMD of turns i and j.
    Returns (uclid, nclid); (nan, nan) if either role is absent.
    """
    A = [i for i, r in enumerate(roles) if r == anchor]
    B = [i for i, r in enumerate(roles) if r == coord]
    if not A or not B:
        return math.nan, math.nan
    ds = []
    for i in A:
        later = [j for j in B if j > i][:k]
        if not later:
            continue
        di = min(dist(i, j) for j in later)
        if math.isinf(di):
            continue
        ds.append(di)
    uclid = sum(ds) / len(ds) if ds else math.inf

    def mean_finite(vals):
        vals = [v for v in vals if not math.isinf(v)]
        return sum(vals) / len(vals) if vals else math.inf

    alpha_a = mean_finite([dist(A[x], A[y]) for x in range(len(A)) for y in range(x + 1, len(A))])
    alpha_b = mean_finite([dist(B[x], B[y]) for x in range(len(B)) for y in range(x + 1, len(B))])
    alpha_ab = mean_finite([dist(i, j) for i in A for j in B if j > i])
    alpha = alpha_a + alpha_b + alpha_ab
    if denominator == "mean":
        alpha = alpha / 3
    if math.isinf(alpha) or alpha == 0:
        return uclid, math.inf
    return uclid, uclid / alpha
