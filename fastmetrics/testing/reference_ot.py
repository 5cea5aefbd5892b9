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


def published_direction(prep, speakers, kv, anchor, coord, k=3):
    """uCLiD / nCLiD of one direction as the published code computes them.

    The public code (DSincerity/Eval-LLM-BehavAlign, ``linguistic_entrainment.py``) re-expressed
    over plain lists: ``prep`` holds each utterance's tokens, ``kv`` is a gensim KeyedVectors and
    every pair distance is one ``kv.wmdistance`` call. Shared by the tests and ``bench_ot.py``.
    """
    A = [i for i, s in enumerate(speakers) if s == anchor]
    B = [i for i, s in enumerate(speakers) if s == coord]
    d_sum, n = 0.0, 0
    for i in A:
        later = [j for j in B if j > i][:k]
        if not later:
            continue
        di = math.inf
        for j in later:
            w = kv.wmdistance(prep[i], prep[j])
            if w < di:
                di = w
        if di == math.inf:
            continue
        d_sum += di
        n += 1
    uclid = d_sum / n if n else math.inf

    def mean_pairs(pairs):
        s, m = 0.0, 0
        for i, j in pairs:
            w = kv.wmdistance(prep[i], prep[j])
            if w == math.inf:
                continue
            s += w
            m += 1
        return s / m if m else math.inf

    alpha = (mean_pairs([(A[x], A[y]) for x in range(len(A)) for y in range(x + 1, len(A))])
             + mean_pairs([(B[x], B[y]) for x in range(len(B)) for y in range(x + 1, len(B))])
             + mean_pairs([(i, j) for i in A for j in B if j > i]))
    nclid = uclid / alpha if alpha != math.inf and alpha != 0 else math.inf
    return uclid, nclid
