"""Embedding-similarity kernels on CUDA (numba-cuda): adjacent-turn cosine, windowed means,
per-conversation NaN-means and the lagged Spearman correlation of two speakers' series; the
same names and signatures as the Numba kernels of this family.

Algorithm: the CPU kernels' definitions, term for term. Adjacent cosine and windowed means run
one thread per turn (its conversation found by binary search in ``conv_offsets``); the
per-conversation reductions (NaN-mean, lagged Spearman) one thread per conversation, in
dialogue order. Spearman uses average ranks computed by counting (rank = #smaller +
(#equal + 1) / 2, the same numbers as the CPU's sort-and-average), NaN for fewer than 3
pairs or a constant series.
Parallel strategy: no thread writes another's output; every sum runs in the CPU's order.
Memory: inputs already on the device (a ``__cuda_array_interface__`` array, e.g. the GPU
encoder's output) are used in place, without a copy; host inputs go over in one packed copy,
host outputs come back in one. The Spearman kernel takes a preallocated slab of 6 doubles per
turn (offsets = 6 x conversation offsets), never allocating inside the kernel.
Numerics: float64 accumulation of float32/float64 inputs; products rounded on their own
(``dmul_rn``) so that results equal the CPU kernels' bit for bit; a zero-norm row gives NaN.
No fastmath.
"""
from __future__ import annotations

import math

import numpy as np
from numba import cuda

from ..._cuda_support import OutPack, Pack, input_array, launch_1d, rounded_mul

__all__ = ["adjacent_cosine_kernel", "window_mean_kernel", "segment_nanmean_kernel",
           "lagged_spearman_kernel", "synchrony_device"]

_mul = rounded_mul(False)
_K: dict = {}


@cuda.jit(device=True)
def _conv_of(off, t):
    """Largest c with off[c] <= t (the conversation of turn t; empty ones skipped)."""
    lo = 0
    hi = off.shape[0] - 1
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if off[mid] <= t:
            lo = mid
        else:
            hi = mid
    return lo


@cuda.jit
def _adjacent(emb, off, out):
    t = cuda.grid(1)
    n = emb.shape[0]
    if t >= n:
        return
    c = _conv_of(off, t)
    if t == off[c]:
        out[t] = math.nan
        return
    d = emb.shape[1]
    dot = 0.0
    nrm = 0.0
    prev = 0.0
    for k in range(d):
        x = np.float64(emb[t, k])
        y = np.float64(emb[t - 1, k])
        dot += _mul(x, y)
        nrm += _mul(x, x)
        prev += _mul(y, y)
    if nrm > 0.0 and prev > 0.0:
        out[t] = dot / math.sqrt(nrm * prev)
    else:
        out[t] = math.nan


@cuda.jit
def _window(x, off, window, out):
    t = cuda.grid(1)
    if t >= x.shape[0]:
        return
    c = _conv_of(off, t)
    a = off[c]
    lo = t - window + 1
    if lo < a:
        lo = a
    s = 0.0
    m = 0
    for u in range(lo, t + 1):
        v = x[u]
        if math.isfinite(v):
            s += v
            m += 1
    out[t] = s / m if m > 0 else math.nan


@cuda.jit
def _segmean(x, off, out):
    c = cuda.grid(1)
    if c >= off.shape[0] - 1:
        return
    s = 0.0
    m = 0
    for t in range(off[c], off[c + 1]):
        v = x[t]
        if math.isfinite(v):
            s += v
            m += 1
    out[c] = s / m if m > 0 else math.nan


@cuda.jit(device=True)
def _ranks(v, m, r):
    for i in range(m):
        less = 0
        eq = 0
        for j in range(m):
            if v[j] < v[i]:
                less += 1
            elif v[j] == v[i]:
                eq += 1
        r[i] = less + 0.5 * (eq + 1)


@cuda.jit(device=True)
def _spearman(px, py, m, rx, ry):
    if m < 3:
        return math.nan
    _ranks(px, m, rx)
    _ranks(py, m, ry)
    mx = 0.0
    my = 0.0
    for i in range(m):
        mx += rx[i]
    for i in range(m):
        my += ry[i]
    mx = mx / m
    my = my / m
    sxy = 0.0
    sxx = 0.0
    syy = 0.0
    for i in range(m):
        dx = rx[i] - mx
        dy = ry[i] - my
        sxy += _mul(dx, dy)
        sxx += _mul(dx, dx)
        syy += _mul(dy, dy)
    if sxx <= 0.0 or syy <= 0.0:
        return math.nan
    return sxy / math.sqrt(sxx * syy)


@cuda.jit
def _lagged(x, role, off, role_a, role_b, lags, slab, out):
    c = cuda.grid(1)
    if c >= off.shape[0] - 1:
        return
    a0 = off[c]
    b0 = off[c + 1]
    T = b0 - a0
    base = 6 * a0
    sa = slab[base:base + T]
    sb = slab[base + T:base + 2 * T]
    px = slab[base + 2 * T:base + 3 * T]
    py = slab[base + 3 * T:base + 4 * T]
    rx = slab[base + 4 * T:base + 5 * T]
    ry = slab[base + 5 * T:base + 6 * T]
    na = 0
    nb = 0
    for t in range(a0, b0):
        if role[t] == role_a:
            sa[na] = x[t]
            na += 1
        elif role[t] == role_b:
            sb[nb] = x[t]
            nb += 1
    for j in range(lags.shape[0]):
        lag = lags[j]
        m = 0
        for k in range(na):
            kb = k + lag
            if kb < 0 or kb >= nb:
                continue
            if math.isfinite(sa[k]) and math.isfinite(sb[kb]):
                px[m] = sa[k]
                py[m] = sb[kb]
                m += 1
        out[c, j] = _spearman(px, py, m, rx, ry)


# ------------------------------------------------------------------------------------------
# host side: numpy or device arrays in; outputs written where they live
# ------------------------------------------------------------------------------------------
def _inputs(named: dict) -> dict:
    """Device views of the arrays: those already on the device as they are, the host ones in
    one packed copy."""
    views, pack, any_host = {}, Pack(), False
    for name, (arr, dtype) in named.items():
        d = input_array(arr)
        if d is not None:
            views[name] = d
        else:
            pack.add(name, np.ascontiguousarray(arr, dtype=dtype))
            any_host = True
    if any_host:
        views.update(pack.upload())
    return views


def _run(out, shape, dtype, launch):
    """Run ``launch(device_out)`` writing into ``out`` (device: in place; host: one copy back)."""
    d = input_array(out)
    if d is not None:
        launch(d)
        return out
    op = OutPack()
    op.add("o", shape, dtype)
    v = op.allocate()
    launch(v["o"])
    out[...] = op.download()["o"]
    return out


def _emb_dtype(emb):
    d = input_array(emb)
    dt = np.dtype(d.dtype) if d is not None else np.dtype(np.asarray(emb).dtype)
    return dt if dt in (np.float32, np.float64) else np.dtype(np.float64)


def adjacent_cosine_kernel(emb, conv_offsets, out) -> None:
    """out[t] = cos(emb[t], emb[t-1]) within a conversation; NaN for its first turn.

    Parameters
    ----------
    emb : numpy.ndarray or device array of float32/float64, shape (n_turns, d)
    conv_offsets : numpy.ndarray of int64, shape (n_conversations + 1,)
    out : numpy.ndarray or device array of float64, shape (n_turns,)
    """
    n = int(emb.shape[0])
    if n == 0:
        return
    v = _inputs({"emb": (emb, _emb_dtype(emb)), "off": (conv_offsets, np.int64)})
    bl, tpb = launch_1d(n)
    _run(out, (n,), np.float64, lambda o: _adjacent[bl, tpb](v["emb"], v["off"], o))


def window_mean_kernel(x, conv_offsets, window, out) -> None:
    """out[t] = mean of the finite x over the last ``window`` turns (t included) of t's
    conversation; NaN when none is finite.

    Parameters
    ----------
    x : numpy.ndarray or device array of float64, shape (n_turns,)
    conv_offsets : numpy.ndarray of int64, shape (n_conversations + 1,)
    window : int
    out : numpy.ndarray or device array of float64, shape (n_turns,)
    """
    n = int(x.shape[0])
    if n == 0:
        return
    v = _inputs({"x": (x, np.float64), "off": (conv_offsets, np.int64)})
    bl, tpb = launch_1d(n)
    _run(out, (n,), np.float64, lambda o: _window[bl, tpb](v["x"], v["off"], np.int64(window), o))


def segment_nanmean_kernel(x, conv_offsets, out) -> None:
    """out[c] = mean of the finite x over conversation c's turns (NaN if none).

    Parameters
    ----------
    x : numpy.ndarray or device array of float64, shape (n_turns,)
    conv_offsets : numpy.ndarray of int64, shape (n_conversations + 1,)
    out : numpy.ndarray or device array of float64, shape (n_conversations,)
    """
    n_conv = int(conv_offsets.shape[0]) - 1
    if n_conv <= 0:
        return
    v = _inputs({"x": (x, np.float64), "off": (conv_offsets, np.int64)})
    bl, tpb = launch_1d(n_conv)
    _run(out, (n_conv,), np.float64, lambda o: _segmean[bl, tpb](v["x"], v["off"], o))


def lagged_spearman_kernel(x, role, conv_offsets, role_a, role_b, lags, out) -> None:
    """out[c, j] = Spearman(a_k, b_{k + lags[j]}) over the finite pairs of conversation c,
    a (b) the series of x at the turns of role ``role_a`` (``role_b``) in order.

    Parameters
    ----------
    x : numpy.ndarray or device array of float64, shape (n_turns,)
    role : numpy.ndarray of int8, shape (n_turns,)
    conv_offsets : numpy.ndarray of int64, shape (n_conversations + 1,)
    role_a, role_b : int
    lags : numpy.ndarray of int64, shape (n_lags,)
    out : numpy.ndarray or device array of float64, shape (n_conversations, n_lags)
    """
    n_conv = int(conv_offsets.shape[0]) - 1
    n_lags = int(len(lags))
    if n_conv <= 0 or n_lags == 0:
        return
    n = int(x.shape[0])
    v = _inputs({"x": (x, np.float64), "role": (role, np.int8), "off": (conv_offsets, np.int64),
                 "lags": (np.asarray(lags), np.int64)})
    slab = cuda.device_array(max(6 * n, 1), dtype=np.float64)
    bl, tpb = launch_1d(n_conv)
    _run(out, (n_conv, n_lags), np.float64,
         lambda o: _lagged[bl, tpb](v["x"], v["role"], v["off"], np.int8(role_a), np.int8(role_b),
                                    v["lags"], slab, o))


def synchrony_device(emb, role, conv_offsets, window: int, lags) -> tuple[dict, dict]:
    """Every embedding-synchrony column with all intermediates kept on the device: one packed
    copy in (role, offsets, and the embeddings unless already on the device), one copy out.

    Returns
    -------
    turns : dict of str -> numpy.ndarray of float64, shape (n_turns,)
        ``emb_sim_prev``, ``emb_sim_window``.
    conversations : dict of str -> numpy.ndarray of float64
        ``emb_sim_prev_mean``, ``emb_sim_change_mean`` (n_conversations,) and ``lagged``
        (n_conversations, n_lags).
    """
    n = int(emb.shape[0])
    off = np.ascontiguousarray(conv_offsets, dtype=np.int64)
    role = np.ascontiguousarray(role, dtype=np.int8)
    n_conv = len(off) - 1
    lags = np.asarray(lags, dtype=np.int64)
    change = np.zeros(n, dtype=np.int8)
    change[1:] = role[1:] != role[:-1]
    v = _inputs({"emb": (emb, _emb_dtype(emb)), "off": (off, np.int64), "role": (role, np.int8),
                 "lags": (lags, np.int64), "change": (change, np.int8)})
    op = OutPack()
    op.add("sim", max(n, 1), np.float64)
    op.add("win", max(n, 1), np.float64)
    op.add("sim_change", max(n, 1), np.float64)
    op.add("mean_all", max(n_conv, 1), np.float64)
    op.add("mean_change", max(n_conv, 1), np.float64)
    op.add("lagged", (max(n_conv, 1), max(len(lags), 1)), np.float64)
    o = op.allocate()
    if n:
        bl, tpb = launch_1d(n)
        _adjacent[bl, tpb](v["emb"], v["off"], o["sim"])
        _window[bl, tpb](o["sim"], v["off"], np.int64(window), o["win"])
        _mask[bl, tpb](o["sim"], v["change"], o["sim_change"])
    if n_conv > 0:
        bc, tpc = launch_1d(n_conv)
        slab = cuda.device_array(max(6 * n, 1), dtype=np.float64)
        _segmean[bc, tpc](o["sim"], v["off"], o["mean_all"])
        _segmean[bc, tpc](o["sim_change"], v["off"], o["mean_change"])
        if len(lags):
            _lagged[bc, tpc](o["sim"], v["role"], v["off"], np.int8(0), np.int8(1), v["lags"], slab,
                             o["lagged"])
    h = op.download()
    turns = {"emb_sim_prev": h["sim"][:n].copy(), "emb_sim_window": h["win"][:n].copy()}
    convs = {"emb_sim_prev_mean": h["mean_all"][:n_conv].copy(),
             "emb_sim_change_mean": h["mean_change"][:n_conv].copy(),
             "lagged": h["lagged"][:n_conv, :len(lags)].copy()}
    return turns, convs


@cuda.jit
def _mask(x, keep, out):
    t = cuda.grid(1)
    if t < x.shape[0]:
        out[t] = x[t] if keep[t] != 0 else math.nan



# ------------------------------------------------------------------------------------------
# operations (the backend interface: same names and signatures as _numba.py)
# ------------------------------------------------------------------------------------------
def adjacent_cosine(emb, conv_offsets, out, n_threads):
    """out[t] = cos(emb[t], emb[t-1]) within a conversation; NaN for its first turn."""
    adjacent_cosine_kernel(emb, conv_offsets, out)
    return 0


def window_mean(x, conv_offsets, window, out, n_threads):
    """out[t] = mean of the finite x over the last ``window`` turns of t's conversation."""
    window_mean_kernel(x, conv_offsets, window, out)
    return 0


def lagged_spearman(x, role, conv_offsets, role_a, role_b, lags, out, n_threads):
    """out[c, j] = Spearman of role_a's k-th and role_b's (k + lags[j])-th values of x."""
    lagged_spearman_kernel(x, role, conv_offsets, role_a, role_b, lags, out)
    return 0


def segment_nanmean(x, conv_offsets, out, n_threads):
    """out[c] = mean of the finite x over conversation c's turns (NaN if none)."""
    segment_nanmean_kernel(x, conv_offsets, out)
    return 0
