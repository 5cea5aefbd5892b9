"""Embedding-synchrony kernels (Numba backend): adjacent-turn cosine, windowed means, lagged
Spearman correlation of two speakers' series, per-conversation means of finite values.

Algorithm: every kernel walks the turns of one conversation in dialogue order (CSR offsets
``conv_offsets``); nothing crosses a conversation boundary.
Parallel strategy: ``prange`` over conversations; each conversation writes only its own
output slots, so results do not depend on the thread count or the scheduling.
Memory: no scratch beyond O(turns of one conversation) per thread; the (n_turns, d) embedding
array is read once, row by row (memory-bound: about 1.5 GB read for 1M x 384 float32).
Numerical caveats: dot products and norms accumulate in float64; a zero-norm row gives NaN.
Spearman uses average ranks for ties and returns NaN for fewer than 3 pairs or a constant
series. No fastmath.
"""
import numba
import numpy as np

from ..._surrogates_numba import fill_source


@numba.njit(parallel=True, cache=True, nogil=True)
def adjacent_cosine_kernel(emb, conv_offsets, out):
    """out[t] = cos(emb[t], emb[t-1]) within a conversation; NaN for its first turn."""
    n_conv = conv_offsets.shape[0] - 1
    d = emb.shape[1]
    for c in numba.prange(n_conv):
        a = conv_offsets[c]
        b = conv_offsets[c + 1]
        if b <= a:
            continue
        out[a] = np.nan
        prev_norm = 0.0
        for k in range(d):
            prev_norm += np.float64(emb[a, k]) * np.float64(emb[a, k])
        for t in range(a + 1, b):
            dot = 0.0
            nrm = 0.0
            for k in range(d):
                x = np.float64(emb[t, k])
                dot += x * np.float64(emb[t - 1, k])
                nrm += x * x
            if nrm > 0.0 and prev_norm > 0.0:
                out[t] = dot / np.sqrt(nrm * prev_norm)
            else:
                out[t] = np.nan
            prev_norm = nrm


@numba.njit(parallel=True, cache=True, nogil=True)
def window_mean_kernel(x, conv_offsets, window, out):
    """out[t] = mean of the finite x over the last ``window`` turns (t included) of t's
    conversation; NaN when none is finite."""
    n_conv = conv_offsets.shape[0] - 1
    for c in numba.prange(n_conv):
        a = conv_offsets[c]
        b = conv_offsets[c + 1]
        for t in range(a, b):
            lo = max(a, t - window + 1)
            s = 0.0
            m = 0
            for u in range(lo, t + 1):
                v = x[u]
                if np.isfinite(v):
                    s += v
                    m += 1
            out[t] = s / m if m > 0 else np.nan


@numba.njit(cache=True)
def _average_ranks(v):
    n = v.shape[0]
    order = np.argsort(v, kind="mergesort")
    ranks = np.empty(n, dtype=np.float64)
    i = 0
    while i < n:
        j = i
        while j + 1 < n and v[order[j + 1]] == v[order[i]]:
            j += 1
        r = 0.5 * (i + j) + 1.0
        for k in range(i, j + 1):
            ranks[order[k]] = r
        i = j + 1
    return ranks


@numba.njit(cache=True)
def spearman(x, y):
    """Spearman correlation of two equal-length float64 arrays (average ranks; NaN if n < 3
    or either series is constant)."""
    n = x.shape[0]
    if n < 3:
        return np.nan
    rx = _average_ranks(x)
    ry = _average_ranks(y)
    mx = rx.mean()
    my = ry.mean()
    sxy = 0.0
    sxx = 0.0
    syy = 0.0
    for i in range(n):
        dx = rx[i] - mx
        dy = ry[i] - my
        sxy += dx * dy
        sxx += dx * dx
        syy += dy * dy
    if sxx <= 0.0 or syy <= 0.0:
        return np.nan
    return sxy / np.sqrt(sxx * syy)


@numba.njit(parallel=True, cache=True, nogil=True)
def lagged_spearman_kernel(x, role, conv_offsets, role_a, role_b, lags, out):
    """out[c, j] = Spearman(a_k, b_{k + lags[j]}) where a (b) is the series of x at the turns
    of role ``role_a`` (``role_b``) of conversation c in order; pairs with a non-finite value
    are dropped."""
    n_conv = conv_offsets.shape[0] - 1
    n_lags = lags.shape[0]
    for c in numba.prange(n_conv):
        a0 = conv_offsets[c]
        b0 = conv_offsets[c + 1]
        na = 0
        nb = 0
        for t in range(a0, b0):
            if role[t] == role_a:
                na += 1
            elif role[t] == role_b:
                nb += 1
        sa = np.empty(na, dtype=np.float64)
        sb = np.empty(nb, dtype=np.float64)
        ia = 0
        ib = 0
        for t in range(a0, b0):
            if role[t] == role_a:
                sa[ia] = x[t]
                ia += 1
            elif role[t] == role_b:
                sb[ib] = x[t]
                ib += 1
        for j in range(n_lags):
            lag = lags[j]
            px = np.empty(na, dtype=np.float64)
            py = np.empty(na, dtype=np.float64)
            m = 0
            for k in range(na):
                kb = k + lag
                if kb < 0 or kb >= nb:
                    continue
                if np.isfinite(sa[k]) and np.isfinite(sb[kb]):
                    px[m] = sa[k]
                    py[m] = sb[kb]
                    m += 1
            out[c, j] = spearman(px[:m], py[:m])


@numba.njit(parallel=True, cache=True, nogil=True)
def segment_nanmean_kernel(x, conv_offsets, out):
    """out[c] = mean of the finite x over conversation c's turns (NaN if none); summed in
    order within the conversation, so a value never depends on other conversations."""
    n_conv = conv_offsets.shape[0] - 1
    for c in numba.prange(n_conv):
        s = 0.0
        m = 0
        for t in range(conv_offsets[c], conv_offsets[c + 1]):
            v = x[t]
            if np.isfinite(v):
                s += v
                m += 1
        out[c] = s / m if m > 0 else np.nan


@numba.njit(parallel=True, cache=True, nogil=True)
def change_cosine_surrogate_kernel(emb, role, conv_offsets, conv_seeds, n_surrogates, observed,
                                   surrogates):
    """observed[c] and surrogates[c, s]: mean cosine of adjacent turn embeddings at speaker
    changes (``emb_sim_change_mean``) as the conversation is and with its therapist turns
    shuffled (:mod:`fastmetrics._surrogates_numba`); norms computed once per turn."""
    n = emb.shape[0]
    d = emb.shape[1]
    norm2 = np.empty(n, dtype=np.float64)
    for t in numba.prange(n):
        s = 0.0
        for k in range(d):
            s += np.float64(emb[t, k]) * np.float64(emb[t, k])
        norm2[t] = s
    n_conv = conv_offsets.shape[0] - 1
    for c in numba.prange(n_conv):
        a = conv_offsets[c]
        b = conv_offsets[c + 1]
        src = np.empty(b - a, dtype=np.int64)
        slots = np.empty(b - a, dtype=np.int64)
        for t in range(a, b):
            src[t - a] = t
        for s in range(-1, n_surrogates):
            if s >= 0:
                fill_source(a, b, role, conv_seeds[c], s, slots, src)
            tot = 0.0
            m = 0
            for t in range(a + 1, b):
                if role[t] == role[t - 1]:
                    continue
                u = src[t - a]
                v = src[t - 1 - a]
                if norm2[u] > 0.0 and norm2[v] > 0.0:
                    dot = 0.0
                    for k in range(d):
                        dot += np.float64(emb[u, k]) * np.float64(emb[v, k])
                    tot += dot / np.sqrt(norm2[u] * norm2[v])
                    m += 1
            val = tot / m if m > 0 else np.nan
            if s < 0:
                observed[c] = val
            else:
                surrogates[c, s] = val


# ------------------------------------------------------------------------------------------
# operations (the backend interface; see fastmetrics.backends)
# ------------------------------------------------------------------------------------------
def adjacent_cosine(emb, conv_offsets, out, n_threads):
    """out[t] = cos(emb[t], emb[t-1]) within a conversation; NaN for its first turn."""
    from ..._threads import threads

    with threads(n_threads):
        adjacent_cosine_kernel(emb, conv_offsets, out)
    return 0


def window_mean(x, conv_offsets, window, out, n_threads):
    """out[t] = mean of the finite x over the last ``window`` turns of t's conversation."""
    from ..._threads import threads

    with threads(n_threads):
        window_mean_kernel(x, conv_offsets, window, out)
    return 0


def lagged_spearman(x, role, conv_offsets, role_a, role_b, lags, out, n_threads):
    """out[c, j] = Spearman of role_a's k-th and role_b's (k + lags[j])-th values of x."""
    from ..._threads import threads

    with threads(n_threads):
        lagged_spearman_kernel(x, role, conv_offsets, role_a, role_b, lags, out)
    return 0


def segment_nanmean(x, conv_offsets, out, n_threads):
    """out[c] = mean of the finite x over conversation c's turns (NaN if none)."""
    from ..._threads import threads

    with threads(n_threads):
        segment_nanmean_kernel(x, conv_offsets, out)
    return 0


def change_cosine_surrogates(emb, role, conv_offsets, conv_seeds, n_surrogates, observed, surrogates,
                             n_threads):
    """Observed and surrogate ``emb_sim_change_mean`` (see ``change_cosine_surrogate_kernel``)."""
    from ..._threads import threads

    with threads(n_threads):
        change_cosine_surrogate_kernel(emb, role, conv_offsets, conv_seeds, int(n_surrogates),
                                       observed, surrogates)
    return 0
