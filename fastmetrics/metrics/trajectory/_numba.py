"""Trajectory features: one segmented reduction over conversations for a per-turn series.

Algorithm: for each conversation, the points are the turns whose value is not NaN (and whose
role matches ``role_filter`` when it is >= 0), in dialogue order; x = position / (T - 1) is
the turn's normalised position in the conversation (0 when T = 1). One pass collects
count, sum, first, last, min, running-peak drawdown and the first value under the threshold; a
second pass over the same points computes the centred OLS slope, the late-minus-early
difference, the position-normalised trapezoid AUC (over x = i / (n - 1), i the point's rank, so a
constant c has AUC c whatever the length) and the SD of first differences. The dyadic convergence slope
regresses |client value - therapist value| (a client turn and the therapist turn right after
it) on the client turn's normalised position.

Parallel strategy: ``prange`` over conversations; each conversation's outputs are written by
one iteration and its sums run sequentially, so results do not depend on the thread count.

Memory: no scratch beyond O(1) per conversation; outputs are float64 (n_features, n_conv).

Numerical caveats: slopes use centred two-pass sums (no catastrophic cancellation for long
conversations); sums are sequential in dialogue order.
"""
import numba
import numpy as np

#: Row order of the output matrix.
FEATURES = ("n", "mean", "first", "last", "change", "slope", "late_minus_early", "auc",
            "volatility", "min", "max_drawdown", "first_below", "convergence", "rlver_reward")


@numba.njit(cache=True, nogil=True)
def _use(v, r, role_filter):
    return (not np.isnan(v)) and (role_filter < 0 or r == role_filter)


@numba.njit(parallel=True, cache=True, nogil=True)
def trajectory_kernel(conv_offsets, values, role, role_filter, threshold, out):
    """out[f, c] = feature f (see FEATURES) of conversation c.

    Parameters
    ----------
    conv_offsets : int64[n_conv + 1]
    values : float64[n_turns], NaN = missing
    role : int8[n_turns]
    role_filter : int, -1 for all roles, else the role code kept
    threshold : float, NaN for none (first_below is then NaN)
    out : float64[14, n_conv]
    """
    n_conv = conv_offsets.shape[0] - 1
    nan = np.nan
    for c in numba.prange(n_conv):
        a = conv_offsets[c]
        b = conv_offsets[c + 1]
        T = b - a
        scale = 1.0 / (T - 1) if T > 1 else 0.0
        # ---------------------------------------------------------------- pass 1
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
            sx += (t - a) * scale
            last = v
            if v < vmin:
                vmin = v
            if v > peak:
                peak = v
            if peak - v > dd:
                dd = peak - v
            if np.isnan(below) and v < threshold:
                below = t - a
        for f in range(out.shape[0]):
            out[f, c] = nan
        out[0, c] = n
        out[13, c] = max(min(last, 100.0) / 100.0, 0.0) if n > 0 else 0.3
        if n == 0:
            continue
        mean = s / n
        xm = sx / n
        out[1, c] = mean
        out[2, c] = first
        out[3, c] = last
        out[4, c] = last - first
        out[9, c] = vmin
        out[10, c] = dd
        out[11, c] = below
        # ---------------------------------------------------------------- pass 2
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
            dx = (t - a) * scale - xm
            sxy += dx * (v - mean)
            sxx += dx * dx
            if i < k3:
                early += v
            if i >= n - k3:
                late += v
            if i > 0:
                trap += 0.5 * (prev + v)
                d_n += 1
                d_s += v - prev
            prev = v
            i += 1
        if n >= 2 and sxx > 0:
            out[5, c] = sxy / sxx
        if k3 > 0:
            out[6, c] = late / k3 - early / k3
        # position-normalised AUC: trapezoid over x = i / (n - 1), so a constant c gives c
        out[7, c] = trap / (n - 1) if n >= 2 else first
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
                    e = (v - prev) - d_mean
                    ss += e * e
                prev = v
                i += 1
            out[8, c] = np.sqrt(ss / (d_n - 1))
        # ---------------------------------------------------------------- dyadic gap
        if role_filter < 0:
            g_n = 0
            g_s = 0.0
            g_sx = 0.0
            for t in range(a, b - 1):
                if role[t] == 0 and role[t + 1] == 1 and not np.isnan(values[t]) \
                        and not np.isnan(values[t + 1]):
                    g_n += 1
                    g_s += abs(values[t] - values[t + 1])
                    g_sx += (t - a) * scale
            if g_n >= 2:
                gm = g_s / g_n
                gxm = g_sx / g_n
                gxy = 0.0
                gxx = 0.0
                for t in range(a, b - 1):
                    if role[t] == 0 and role[t + 1] == 1 and not np.isnan(values[t]) \
                            and not np.isnan(values[t + 1]):
                        dx = (t - a) * scale - gxm
                        gxy += dx * (abs(values[t] - values[t + 1]) - gm)
                        gxx += dx * dx
                if gxx > 0:
                    out[12, c] = gxy / gxx
    return 0


def trajectory(conv_offsets, values, role, role_filter, threshold, out, n_threads):
    """Every trajectory feature of every conversation into ``out`` (n_features, n_conv): the
    backend interface (see fastmetrics.backends)."""
    from ..._threads import threads

    with threads(n_threads):
        trajectory_kernel(conv_offsets, values, role, role_filter, threshold, out)
    return 0
