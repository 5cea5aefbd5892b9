"""Trajectory features on CUDA (numba-cuda): the segmented reduction of ``trajectory_kernel``
with its name and signature.

Algorithm: the CPU kernel's two passes over each conversation's points (turns with a value,
of the requested role, in dialogue order; x = position / (T - 1)): count, sum, first, last,
min, running-peak drawdown, first value under the threshold; then the centred OLS slope,
late-minus-early means, AUC and the SD of first differences; then the dyadic convergence
slope of |client - therapist| on position. AUC is normalised by position: the trapezoidal
integral of the points over x_i = i / (n - 1), i = 0..n-1 over the points used, so a constant
series c has AUC c and the value does not depend on the number of points; a single point
gives its value.
Parallel strategy: one thread per conversation; its outputs are written by it alone and its
sums run in dialogue order.
Memory: O(1) per thread; values already on the device are read in place; host inputs go over
in one packed copy and the (14, n_conversations) output comes back in one.
Numerics: float64; products rounded on their own (``dmul_rn``) so that sums of products round
as on the CPU: every feature equals the CPU kernel's bit for bit (AUC: the same definition).
"""
from __future__ import annotations

import math

import numpy as np
from numba import cuda

from ..._cuda_support import OutPack, Pack, input_array, launch_1d, rounded_mul

__all__ = ["trajectory_kernel", "FEATURES"]

#: Row order of the output matrix.
FEATURES = ("n", "mean", "first", "last", "change", "slope", "late_minus_early", "auc",
            "volatility", "min", "max_drawdown", "first_below", "convergence", "rlver_reward")

_mul = rounded_mul(False)


@cuda.jit(device=True)
def _use(v, r, role_filter):
    return (not math.isnan(v)) and (role_filter < 0 or r == role_filter)


@cuda.jit
def _traj(off, values, role, role_filter, threshold, out):
    c = cuda.grid(1)
    if c >= off.shape[0] - 1:
        return
    nan = math.nan
    a = off[c]
    b = off[c + 1]
    T = b - a
    scale = 1.0 / (T - 1) if T > 1 else 0.0
    n = 0
    s = 0.0
    sx = 0.0
    first = nan
    last = nan
    vmin = nan
    peak = nan
    dd = 0.0
    below = nan
    for t in range(a, b):
        v = values[t]
        if not _use(v, role[t], role_filter):
            continue
        if n == 0:
            first = v
            vmin = v
            peak = v
        n += 1
        s += v
        sx += _mul(np.float64(t - a), scale)
        last = v
        if v < vmin:
            vmin = v
        if v > peak:
            peak = v
        if peak - v > dd:
            dd = peak - v
        if math.isnan(below) and v < threshold:
            below = t - a
    for f in range(out.shape[0]):
        out[f, c] = nan
    out[0, c] = n
    if n > 0:
        e = last if last < 100.0 else 100.0
        e = e / 100.0
        out[13, c] = e if e > 0.0 else 0.0
    else:
        out[13, c] = 0.3
    if n == 0:
        return
    mean = s / n
    xm = sx / n
    out[1, c] = mean
    out[2, c] = first
    out[3, c] = last
    out[4, c] = last - first
    out[9, c] = vmin
    out[10, c] = dd
    out[11, c] = below
    k3 = n // 3
    sxy = 0.0
    sxx = 0.0
    early = 0.0
    late = 0.0
    trap = 0.0
    d_n = 0
    d_s = 0.0
    i = 0
    prev = nan
    for t in range(a, b):
        v = values[t]
        if not _use(v, role[t], role_filter):
            continue
        dx = _mul(np.float64(t - a), scale) - xm
        sxy += _mul(dx, v - mean)
        sxx += _mul(dx, dx)
        if i < k3:
            early += v
        if i >= n - k3:
            late += v
        if i > 0:
            trap += _mul(0.5, prev + v)
            d_n += 1
            d_s += v - prev
        prev = v
        i += 1
    if n >= 2 and sxx > 0:
        out[5, c] = sxy / sxx
    if k3 > 0:
        out[6, c] = late / k3 - early / k3
    out[7, c] = trap / (n - 1) if n > 1 else first
    if d_n >= 2:
        d_mean = d_s / d_n
        ss = 0.0
        i = 0
        prev = nan
        for t in range(a, b):
            v = values[t]
            if not _use(v, role[t], role_filter):
                continue
            if i > 0:
                e2 = (v - prev) - d_mean
                ss += _mul(e2, e2)
            prev = v
            i += 1
        out[8, c] = math.sqrt(ss / (d_n - 1))
    if role_filter < 0:
        g_n = 0
        g_s = 0.0
        g_sx = 0.0
        for t in range(a, b - 1):
            if role[t] == 0 and role[t + 1] == 1 and not math.isnan(values[t]) \
                    and not math.isnan(values[t + 1]):
                g_n += 1
                g_s += abs(values[t] - values[t + 1])
                g_sx += _mul(np.float64(t - a), scale)
        if g_n >= 2:
            gm = g_s / g_n
            gxm = g_sx / g_n
            gxy = 0.0
            gxx = 0.0
            for t in range(a, b - 1):
                if role[t] == 0 and role[t + 1] == 1 and not math.isnan(values[t]) \
                        and not math.isnan(values[t + 1]):
                    dx = _mul(np.float64(t - a), scale) - gxm
                    gxy += _mul(dx, abs(values[t] - values[t + 1]) - gm)
                    gxx += _mul(dx, dx)
            if gxx > 0:
                out[12, c] = gxy / gxx


def trajectory_kernel(conv_offsets, values, role, role_filter, threshold, out) -> int:
    """out[f, c] = feature f (see FEATURES) of conversation c, on the GPU.

    Parameters
    ----------
    conv_offsets : numpy.ndarray of int64, shape (n_conversations + 1,)
    values : numpy.ndarray or device array of float64, shape (n_turns,); NaN = missing
    role : numpy.ndarray or device array of int8, shape (n_turns,)
    role_filter : int
        -1 for all roles, else the role code kept.
    threshold : float
        NaN for none (first_below is then NaN).
    out : numpy.ndarray or device array of float64, shape (14, n_conversations)

    Returns
    -------
    int
        0.
    """
    n_conv = int(conv_offsets.shape[0]) - 1
    if n_conv <= 0:
        return 0
    views, pack, host = {}, Pack(), False
    for name, arr, dt in (("off", conv_offsets, np.int64), ("values", values, np.float64),
                          ("role", role, np.int8)):
        d = input_array(arr)
        if d is not None:
            views[name] = d
        else:
            pack.add(name, np.ascontiguousarray(arr, dtype=dt))
            host = True
    if host:
        views.update(pack.upload())
    bl, tpb = launch_1d(n_conv)
    args = (views["off"], views["values"], views["role"], np.int64(role_filter),
            np.float64(threshold))
    d_out = input_array(out)
    if d_out is not None:
        _traj[bl, tpb](*args, d_out)
        return 0
    op = OutPack()
    op.add("o", (out.shape[0], n_conv), np.float64)
    o = op.allocate()
    _traj[bl, tpb](*args, o["o"])
    out[...] = op.download()["o"]
    return 0


def trajectory(conv_offsets, values, role, role_filter, threshold, out, n_threads):
    """Every trajectory feature of every conversation into ``out`` (n_features, n_conv): the
    backend interface (same signature as :func:`fastmetrics.metrics.trajectory._numba.trajectory`)."""
    trajectory_kernel(conv_offsets, values, role, role_filter, threshold, out)
    return 0
