"""Alliance gap kernel (Numba backend): client-therapist gap statistics per conversation.

Algorithm: per conversation, pairs each client turn with the therapist turn that answers it
(or, with ``compass_compat``, the k-th client with the k-th therapist turn), then the mean of
the gaps, their OLS slope on normalised position (centred two-pass sums) and their sample SD.
Parallel strategy: ``prange`` over conversations; each writes only its own output rows.
Memory: O(turns of one conversation) scratch per conversation.
Numerical caveats: float64 accumulation in dialogue order; NaN where undefined. No fastmath.
"""
import numba
import numpy as np


@numba.njit(parallel=True, cache=True, nogil=True)
def alliance_gap_kernel(scores, role, conv_offsets, compass_compat, out_mean, out_slope, out_sd):
    """Per conversation and scale column s: gaps g = |client - therapist| over answer pairs.

    Pairs: by default each client turn with the first therapist turn after it (normalised
    position x = client position / (T - 1)); with ``compass_compat`` the k-th client turn with
    the k-th therapist turn (x = k / (K - 1), K pairs). Writes the mean of g, the OLS slope of
    g on x and the sample SD of g (NaN where undefined).
    """
    n_conv = conv_offsets.shape[0] - 1
    n_s = scores.shape[1]
    for c in numba.prange(n_conv):
        a = conv_offsets[c]
        b = conv_offsets[c + 1]
        T = b - a
        pc = np.empty(T, dtype=np.int64)  # client turn of each pair
        pt = np.empty(T, dtype=np.int64)  # therapist turn of each pair
        px = np.empty(T, dtype=np.float64)
        K = 0
        if compass_compat:
            nt = 0
            for t in range(a, b):
                if role[t] == 1:
                    nt += 1
            ther = np.empty(nt, dtype=np.int64)
            j = 0
            for t in range(a, b):
                if role[t] == 1:
                    ther[j] = t
                    j += 1
            for t in range(a, b):
                if role[t] == 0 and nt > K:
                    pc[K] = t
                    pt[K] = ther[K]
                    K += 1
            for k in range(K):
                px[k] = k / (K - 1) if K > 1 else 0.0
        else:
            nxt = -1
            # walk backwards remembering the next therapist turn, then store pairs in order
            tmp = np.full(T, -1, dtype=np.int64)
            for t in range(b - 1, a - 1, -1):
                if role[t] == 0:
                    tmp[t - a] = nxt
                elif role[t] == 1:
                    nxt = t
            for t in range(a, b):
                if role[t] == 0 and tmp[t - a] >= 0:
                    pc[K] = t
                    pt[K] = tmp[t - a]
                    px[K] = (t - a) / (T - 1) if T > 1 else 0.0
                    K += 1
        for s in range(n_s):
            g = np.empty(K, dtype=np.float64)
            x = np.empty(K, dtype=np.float64)
            m = 0
            for k in range(K):
                v = abs(np.float64(scores[pc[k], s]) - np.float64(scores[pt[k], s]))
                if np.isfinite(v):
                    g[m] = v
                    x[m] = px[k]
                    m += 1
            if m == 0:
                out_mean[c, s] = np.nan
                out_slope[c, s] = np.nan
                out_sd[c, s] = np.nan
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
                out_slope[c, s] = np.nan
                out_sd[c, s] = np.nan
                continue
            sxx = 0.0
            sxy = 0.0
            sgg = 0.0
            for k in range(m):
                dx = x[k] - mx
                dg = g[k] - mg
                sxx += dx * dx
                sxy += dx * dg
                sgg += dg * dg
            out_slope[c, s] = sxy / sxx if sxx > 0.0 else np.nan
            out_sd[c, s] = np.sqrt(sgg / (m - 1))


def alliance_gaps(scores, role, conv_offsets, compass_compat, out_mean, out_slope, out_sd,
                  n_threads):
    """Gap mean, convergence slope and dispersion per conversation and scale: the backend
    interface (see fastmetrics.backends)."""
    from ..._threads import threads

    with threads(n_threads):
        alliance_gap_kernel(scores, role, conv_offsets, compass_compat, out_mean, out_slope, out_sd)
    return 0
