"""Working-alliance kernels on CUDA (numba-cuda): item / subscale scores of turn embeddings
against the role's item matrix, and the between-speaker gap statistics per conversation; the
gap kernel has the name and signature of the Numba kernel it replaces.

Algorithm
    * Scores: s[t, i] = (e_t . w_{r(t), i}) / |e_t|, w the client form's rows for client turns
      and the therapist form's for therapist turns, NaN rows for other roles. Item scores use
      the 36 unit item vectors (minus the negated items for "counter"); the four subscales use
      the key-weighted projection (d, 4) per form, as ``alliance_scores`` does on the CPU.
    * Gaps: the CPU kernel's pairing (client turn -> first therapist turn after it, or the
      k-th client turn with the k-th therapist turn in COMPASS mode), then per scale the mean,
      the OLS slope on normalised position and the sample SD of the finite gaps.
Parallel strategy: scores one thread per (turn, item) (threads of one turn share its row
through the cache); gaps one thread per conversation in dialogue order.
Memory: embeddings already on the device are read in place (no copy); host inputs go over in
one packed copy, outputs come back in one. The gap kernel takes a preallocated slab of
3 int64 + 3 float64 per turn (offsets = 3 x conversation offsets).
Numerics: dot products accumulate in the embedding dtype (float32 for the encoder's output),
as the CPU's BLAS product does, but in another order: scores agree with the CPU to float32
round-off (about 1e-6); norms and everything in the gap kernel are float64, the gap statistics
bit-identical to the CPU kernel given the same scores. No fastmath.
"""
from __future__ import annotations

import math

import numpy as np
from numba import cuda

from ..._cuda_support import OutPack, Pack, input_array, launch_1d, rounded_mul

__all__ = ["alliance_gap_kernel", "alliance_item_scores_kernel", "row_norms_kernel"]

_mul = rounded_mul(False)


@cuda.jit
def _norms(emb, out):
    t = cuda.grid(1)
    if t >= emb.shape[0]:
        return
    s = 0.0
    for k in range(emb.shape[1]):
        x = np.float64(emb[t, k])
        s += _mul(x, x)
    out[t] = math.sqrt(s)


@cuda.jit
def _scores(emb, role, norms, w0, w1, out):
    q = cuda.grid(1)
    n = emb.shape[0]
    k_items = w0.shape[0]
    if q >= n * k_items:
        return
    t = q // k_items
    i = q - t * k_items
    r = role[t]
    nrm = norms[t]
    if (r != 0 and r != 1) or not nrm > 0.0:
        out[t, i] = math.nan
        return
    acc = emb[0, 0] - emb[0, 0]
    if r == 0:
        for k in range(emb.shape[1]):
            acc += emb[t, k] * w0[i, k]
    else:
        for k in range(emb.shape[1]):
            acc += emb[t, k] * w1[i, k]
    out[t, i] = np.float64(acc) / nrm


@cuda.jit
def _gaps(scores, role, off, compass, islab, fslab, out_mean, out_slope, out_sd):
    c = cuda.grid(1)
    if c >= off.shape[0] - 1:
        return
    a = off[c]
    b = off[c + 1]
    T = b - a
    base = 3 * a
    pc = islab[base:base + T]
    pt = islab[base + T:base + 2 * T]
    aux = islab[base + 2 * T:base + 3 * T]
    px = fslab[base:base + T]
    g = fslab[base + T:base + 2 * T]
    x = fslab[base + 2 * T:base + 3 * T]
    n_s = scores.shape[1]
    K = 0
    if compass:
        nt = 0
        for t in range(a, b):
            if role[t] == 1:
                aux[nt] = t
                nt += 1
        for t in range(a, b):
            if role[t] == 0 and nt > K:
                pc[K] = t
                pt[K] = aux[K]
                K += 1
        for k in range(K):
            px[k] = k / (K - 1) if K > 1 else 0.0
    else:
        nxt = -1
        for t in range(b - 1, a - 1, -1):
            aux[t - a] = -1
            if role[t] == 0:
                aux[t - a] = nxt
            elif role[t] == 1:
                nxt = t
        for t in range(a, b):
            if role[t] == 0 and aux[t - a] >= 0:
                pc[K] = t
                pt[K] = aux[t - a]
                px[K] = (t - a) / (T - 1) if T > 1 else 0.0
                K += 1
    for s in range(n_s):
        m = 0
        for k in range(K):
            v = abs(np.float64(scores[pc[k], s]) - np.float64(scores[pt[k], s]))
            if math.isfinite(v):
                g[m] = v
                x[m] = px[k]
                m += 1
        if m == 0:
            out_mean[c, s] = math.nan
            out_slope[c, s] = math.nan
            out_sd[c, s] = math.nan
            continue
        mg = 0.0
        mx = 0.0
        for k in range(m):
            mg += g[k]
            mx += x[k]
        mg /= m
        mx /= m
        out_mean[c, s] = mg
        if m < 2:
            out_slope[c, s] = math.nan
            out_sd[c, s] = math.nan
            continue
        sxx = 0.0
        sxy = 0.0
        sgg = 0.0
        for k in range(m):
            dx = x[k] - mx
            dg = g[k] - mg
            sxx += _mul(dx, dx)
            sxy += _mul(dx, dg)
            sgg += _mul(dg, dg)
        out_slope[c, s] = sxy / sxx if sxx > 0.0 else math.nan
        out_sd[c, s] = math.sqrt(sgg / (m - 1))


# ------------------------------------------------------------------------------------------
# host side
# ------------------------------------------------------------------------------------------
def _views(named: dict) -> dict:
    views, pack, host = {}, Pack(), False
    for name, (arr, dtype) in named.items():
        d = input_array(arr)
        if d is not None:
            views[name] = d
        else:
            pack.add(name, np.ascontiguousarray(arr, dtype=dtype))
            host = True
    if host:
        views.update(pack.upload())
    return views


def row_norms_kernel(emb, out) -> None:
    """out[t] = |emb[t]| in float64 (summed in order).

    Parameters
    ----------
    emb : numpy.ndarray or device array of float32/float64, shape (n_turns, d)
    out : device array of float64, shape (n_turns,)
    """
    bl, tpb = launch_1d(emb.shape[0])
    _norms[bl, tpb](emb, out)


def alliance_item_scores_kernel(emb, role, w_client, w_therapist, out) -> None:
    """Scores of every turn against its role's rows: (e_t . w_i) / |e_t|.

    Parameters
    ----------
    emb : numpy.ndarray or device array of float32/float64, shape (n_turns, d)
        Used in place when on the device.
    role : numpy.ndarray of int8, shape (n_turns,)
        0 client (``w_client``), 1 therapist (``w_therapist``); other roles get NaN.
    w_client, w_therapist : numpy.ndarray, shape (k, d)
        Item matrices (36 unit item vectors) or transposed subscale projections (4, d), cast
        to the embedding dtype.
    out : numpy.ndarray or device array of float32, shape (n_turns, k)
    """
    n = int(emb.shape[0])
    k = int(w_client.shape[0])
    if n == 0 or k == 0:
        return
    d_emb = input_array(emb)
    dt = np.dtype(d_emb.dtype) if d_emb is not None else np.dtype(np.asarray(emb).dtype)
    v = _views({"emb": (emb, dt), "role": (role, np.int8), "w0": (w_client, dt),
                "w1": (w_therapist, dt)})
    norms = cuda.device_array(n, dtype=np.float64)
    row_norms_kernel(v["emb"], norms)
    bl, tpb = launch_1d(n * k)
    d_out = input_array(out)
    if d_out is not None:
        _scores[bl, tpb](v["emb"], v["role"], norms, v["w0"], v["w1"], d_out)
        return
    op = OutPack()
    op.add("o", (n, k), np.float32)
    o = op.allocate()
    _scores[bl, tpb](v["emb"], v["role"], norms, v["w0"], v["w1"], o["o"])
    out[...] = op.download()["o"]


def alliance_gap_kernel(scores, role, conv_offsets, compass_compat, out_mean, out_slope,
                        out_sd) -> None:
    """Per conversation and scale column s: mean, OLS slope on position and sample SD of the
    gaps |client - therapist| over answer pairs (see the Numba kernel of this family).

    Parameters
    ----------
    scores : numpy.ndarray or device array of float32/float64, shape (n_turns, n_scales)
    role : numpy.ndarray of int8, shape (n_turns,)
    conv_offsets : numpy.ndarray of int64, shape (n_conversations + 1,)
    compass_compat : bool
    out_mean, out_slope, out_sd : numpy.ndarray of float64, shape (n_conversations, n_scales)
    """
    n_conv = int(conv_offsets.shape[0]) - 1
    n_s = int(scores.shape[1])
    if n_conv <= 0 or n_s == 0:
        return
    n = int(scores.shape[0])
    v = _views({"scores": (scores, np.dtype(scores.dtype)), "role": (role, np.int8),
                "off": (conv_offsets, np.int64)})
    islab = cuda.device_array(max(3 * n, 1), dtype=np.int64)
    fslab = cuda.device_array(max(3 * n, 1), dtype=np.float64)
    op = OutPack()
    for name in ("mean", "slope", "sd"):
        op.add(name, (n_conv, n_s), np.float64)
    o = op.allocate()
    bl, tpb = launch_1d(n_conv)
    _gaps[bl, tpb](v["scores"], v["role"], v["off"], bool(compass_compat), islab, fslab,
                   o["mean"], o["slope"], o["sd"])
    h = op.download()
    out_mean[...] = h["mean"]
    out_slope[...] = h["slope"]
    out_sd[...] = h["sd"]


def alliance_gaps(scores, role, conv_offsets, compass_compat, out_mean, out_slope, out_sd,
                  n_threads):
    """Gap mean, convergence slope and dispersion per conversation and scale: the backend
    interface (same signature as :func:`fastmetrics.metrics.alliance._numba.alliance_gaps`)."""
    alliance_gap_kernel(scores, role, conv_offsets, compass_compat, out_mean, out_slope, out_sd)
    return 0
