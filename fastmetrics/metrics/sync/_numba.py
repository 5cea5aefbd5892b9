"""Style-synchrony kernels: function-word category counts, LSM, rLSM, windowed rLSM and
Danescu-Niculescu-Mizil coordination (Numba).

Algorithm: ``category_counts_kernel`` maps every token to its vocabulary bitmask and adds one
to each category bit set (a word in two categories counts in both). ``sync_kernel`` walks each
conversation once: it sums per-role counts for conversation LSM, scores each adjacent
client/therapist speaker change for ``lsm_prev`` and rLSM, pools each speaker's last W own
turns for the windowed rLSM, and tallies reply pairs for coordination. Definitions follow
docs METRICS.md section 4 (see :mod:`fastmetrics.sync`).

Parallel strategy: ``prange`` over balanced ranges of turns (counting) and over conversations
(synchrony). Every output element is written by exactly one iteration and every reduction is
sequential inside one conversation, so results do not depend on the thread count.

Memory: counts are int32 (n_turns, n_categories); the synchrony kernel allocates
O(n_categories) scratch per conversation plus one int64 index array of the conversation's
length for the window.

Numerical caveats: rates are percentages in float64; the ``+ 0.0001`` of the LSM formula keeps
the denominator positive. Undefined values are NaN.
"""
import numba
import numpy as np

from ..._surrogates_numba import fill_source

_EPS = 0.0001


@numba.njit(parallel=True, cache=True, nogil=True)
def category_counts_kernel(token_offsets, token_ids, vocab_mask, n_cat, n_ranges, out):
    """out[t, k] = number of tokens of turn t whose vocabulary mask has bit k (int32)."""
    n_turns = token_offsets.shape[0] - 1
    for r in numba.prange(n_ranges):
        lo = (n_turns * r) // n_ranges
        hi = (n_turns * (r + 1)) // n_ranges
        for t in range(lo, hi):
            for k in range(n_cat):
                out[t, k] = 0
            for j in range(token_offsets[t], token_offsets[t + 1]):
                m = vocab_mask[token_ids[j]]
                if m != 0:
                    for k in range(n_cat):
                        if (m >> k) & 1:
                            out[t, k] += 1
    return 0


@numba.njit(cache=True, nogil=True, inline="always")
def _lsm_c(p1, p2):
    return 1.0 - abs(p1 - p2) / (p1 + p2 + _EPS)


@numba.njit(parallel=True, cache=True, nogil=True)
def sync_kernel(conv_offsets, role, counts, n_words, window, coord_cats, target_thresh,
                lsm, rlsm, rlsm_client, rlsm_therapist, coord_tc, coord_ct,
                lsm_prev, rlsm_turn, rlsm_window):
    """Synchrony metrics for every conversation.

    Parameters
    ----------
    conv_offsets : int64[n_conv + 1]
    role : int8[n_turns] (0 client, 1 therapist, 2 other)
    counts : int32[n_turns, n_cat] category counts
    n_words : int64[n_turns] words per turn
    window : int, W >= 1
    coord_cats : int64[n_markers] category columns used as coordination markers
    target_thresh : int, minimum number of target turns exhibiting a marker
    lsm, rlsm, rlsm_client, rlsm_therapist, coord_tc, coord_ct : float64[n_conv] outputs
    lsm_prev, rlsm_turn, rlsm_window : float64[n_turns] outputs
    """
    n_conv = conv_offsets.shape[0] - 1
    n_cat = counts.shape[1]
    n_mark = coord_cats.shape[0]
    for c in numba.prange(n_conv):
        a = conv_offsets[c]
        b = conv_offsets[c + 1]
        # ---------------------------------------------------------- conversation LSM
        tot = np.zeros((2, n_cat), dtype=np.float64)
        words = np.zeros(2, dtype=np.float64)
        for t in range(a, b):
            r = role[t]
            if r == 0 or r == 1:
                words[r] += n_words[t]
                for k in range(n_cat):
                    tot[r, k] += counts[t, k]
        if words[0] > 0 and words[1] > 0:
            s = 0.0
            for k in range(n_cat):
                s += _lsm_c(100.0 * tot[0, k] / words[0], 100.0 * tot[1, k] / words[1])
            lsm[c] = s / n_cat
        else:
            lsm[c] = np.nan
        # ---------------------------------------------------------- pairs at speaker changes
        # rLSM person x category sums (responder role) and counts
        psum = np.zeros((2, n_cat), dtype=np.float64)
        pcnt = np.zeros((2, n_cat), dtype=np.int64)
        # coordination tallies per responder role: [role, marker]
        cond_tally = np.zeros((2, n_mark), dtype=np.int64)
        cond_total = np.zeros((2, n_mark), dtype=np.int64)
        tally = np.zeros((2, n_mark), dtype=np.int64)
        n_pairs = np.zeros(2, dtype=np.int64)
        # window state: indices of each role's turns seen so far
        own = np.empty(b - a, dtype=np.int64)
        own_role = np.empty(b - a, dtype=np.int8)
        n_own = 0
        for t in range(a, b):
            lsm_prev[t] = np.nan
            rlsm_turn[t] = np.nan
            rlsm_window[t] = np.nan
            r = role[t]
            if r == 0 or r == 1:
                own[n_own] = t
                own_role[n_own] = r
                n_own += 1
            if t == a:
                continue
            q = role[t - 1]
            if not ((r == 0 and q == 1) or (r == 1 and q == 0)):
                continue
            # ---- coordination: reply t by role r to target t-1 (binary presence)
            n_pairs[r] += 1
            for mi in range(n_mark):
                k = coord_cats[mi]
                tgt = counts[t - 1, k] > 0
                rep = counts[t, k] > 0
                if rep:
                    tally[r, mi] += 1
                if tgt:
                    cond_total[r, mi] += 1
                    if rep:
                        cond_tally[r, mi] += 1
            # ---- rolling-window rLSM: pool each speaker's last W own turns up to t
            pooled_r = np.zeros(n_cat, dtype=np.float64)
            pooled_q = np.zeros(n_cat, dtype=np.float64)
            w_r = 0.0
            w_q = 0.0
            got_r = 0
            got_q = 0
            for j in range(n_own - 1, -1, -1):
                u = own[j]
                if own_role[j] == r and got_r < window:
                    got_r += 1
                    w_r += n_words[u]
                    for k in range(n_cat):
                        pooled_r[k] += counts[u, k]
                elif own_role[j] == q and got_q < window:
                    got_q += 1
                    w_q += n_words[u]
                    for k in range(n_cat):
                        pooled_q[k] += counts[u, k]
                if got_r >= window and got_q >= window:
                    break
            if w_r > 0 and w_q > 0:
                s = 0.0
                m = 0
                for k in range(n_cat):
                    prev = 100.0 * pooled_q[k] / w_q
                    cur = 100.0 * pooled_r[k] / w_r
                    if prev > 0:
                        s += _lsm_c(prev, cur)
                        m += 1
                if m > 0:
                    rlsm_window[t] = s / m
            # ---- per-pair LSM and rLSM (both turns need words)
            if n_words[t] == 0 or n_words[t - 1] == 0:
                continue
            s_all = 0.0
            s = 0.0
            m = 0
            for k in range(n_cat):
                prev = 100.0 * counts[t - 1, k] / n_words[t - 1]
                cur = 100.0 * counts[t, k] / n_words[t]
                v = _lsm_c(prev, cur)
                s_all += v
                if prev > 0:  # prev = 0 -> NA (whatever curr is); prev > 0, curr = 0 -> scored
                    s += v
                    m += 1
                    psum[r, k] += v
                    pcnt[r, k] += 1
            lsm_prev[t] = s_all / n_cat
            if m > 0:
                rlsm_turn[t] = s / m
        # ---------------------------------------------------------- rLSM aggregation
        # person x category mean -> dyad x category mean (NA if either side NA) -> mean
        s_dyad = 0.0
        m_dyad = 0
        s_p = np.zeros(2, dtype=np.float64)
        m_p = np.zeros(2, dtype=np.int64)
        for k in range(n_cat):
            for rr in range(2):
                if pcnt[rr, k] > 0:
                    s_p[rr] += psum[rr, k] / pcnt[rr, k]
                    m_p[rr] += 1
            if pcnt[0, k] > 0 and pcnt[1, k] > 0:
                s_dyad += 0.5 * (psum[0, k] / pcnt[0, k] + psum[1, k] / pcnt[1, k])
                m_dyad += 1
        rlsm[c] = s_dyad / m_dyad if m_dyad > 0 else np.nan
        rlsm_client[c] = s_p[0] / m_p[0] if m_p[0] > 0 else np.nan
        rlsm_therapist[c] = s_p[1] / m_p[1] if m_p[1] > 0 else np.nan
        # ---------------------------------------------------------- coordination
        for rr in range(2):
            s = 0.0
            m = 0
            for mi in range(n_mark):
                thr = target_thresh if target_thresh > 1 else 1
                if cond_total[rr, mi] >= thr and n_pairs[rr] >= 1:
                    s += cond_tally[rr, mi] / cond_total[rr, mi] - tally[rr, mi] / n_pairs[rr]
                    m += 1
            v = s / m if m > 0 else np.nan
            if rr == 1:
                coord_tc[c] = v  # therapist (replying) coordinating to client
            else:
                coord_ct[c] = v
    return 0


# ------------------------------------------------------------------------------------------
# operations (the backend interface; see fastmetrics.backends)
# ------------------------------------------------------------------------------------------
def category_counts(token_offsets, token_ids, vocab_mask, n_cat, out, n_threads):
    """Per-turn category counts into ``out`` (int32, (n_turns, n_cat))."""
    from ..._threads import threads

    n = len(token_offsets) - 1
    with threads(n_threads) as nt:
        return int(category_counts_kernel(token_offsets, token_ids, vocab_mask, n_cat,
                                          nt if n > 0 else 0, out))


def sync_from_counts(conv_offsets, role, counts, n_words, window, coord_cats, target_thresh,
                     lsm, rlsm, rlsm_client, rlsm_therapist, coord_tc, coord_ct,
                     lsm_prev, rlsm_turn, rlsm_window, n_threads):
    """Every synchrony metric of every conversation into the outputs (see ``sync_kernel``)."""
    from ..._threads import threads

    with threads(n_threads):
        sync_kernel(conv_offsets, role, counts, n_words, window, coord_cats, target_thresh,
                    lsm, rlsm, rlsm_client, rlsm_therapist, coord_tc, coord_ct,
                    lsm_prev, rlsm_turn, rlsm_window)
    return 0


# ------------------------------------------------------------------------------------------
# surrogates: every surrogate of every conversation of a chunk in one call
# ------------------------------------------------------------------------------------------
@numba.njit(cache=True, nogil=True)
def _pair_measures(a, b, src, role, rates, has_words, marks, n_mark, target_thresh, out, j, scratch_f,
                   scratch_i):
    """lsm_prev mean, rLSM and coordination (both directions) of conversation [a, b) with the
    content of position t taken from turn src[t - a]; written to out[0..3, j].

    ``rates``: per-turn category percentages (100 * count / words); ``has_words``: turn has
    words; ``marks``: bit mi set when the turn shows coordination marker mi. ``scratch_f``
    (2, 2 * n_cat) and ``scratch_i`` (2, n_cat + 3 * n_mark + 1) are reused across surrogates."""
    n_cat = rates.shape[1]
    for rr in range(2):
        for k in range(scratch_f.shape[1]):
            scratch_f[rr, k] = 0.0
        for k in range(scratch_i.shape[1]):
            scratch_i[rr, k] = 0
    # scratch_f[r, k] psum; scratch_i[r, k] pcnt, [n_cat + mi] tally, [n_cat + n_mark + mi]
    # cond_total, [n_cat + 2 n_mark + mi] cond_tally, [-1] n_pairs
    o_t = n_cat
    o_ct = n_cat + n_mark
    o_cy = n_cat + 2 * n_mark
    last = scratch_i.shape[1] - 1
    lp_sum = 0.0
    lp_n = 0
    for t in range(a + 1, b):
        r = role[t]
        q = role[t - 1]
        if not ((r == 0 and q == 1) or (r == 1 and q == 0)):
            continue
        u = src[t - a]
        v = src[t - 1 - a]
        scratch_i[r, last] += 1
        mu = marks[u]
        mv = marks[v]
        if mu | mv:
            for mi in range(n_mark):
                rep = (mu >> mi) & 1
                if rep:
                    scratch_i[r, o_t + mi] += 1
                if (mv >> mi) & 1:
                    scratch_i[r, o_ct + mi] += 1
                    if rep:
                        scratch_i[r, o_cy + mi] += 1
        if not (has_words[u] and has_words[v]):
            continue
        s_all = 0.0
        for k in range(n_cat):
            prev = rates[v, k]
            x = _lsm_c(prev, rates[u, k])
            s_all += x
            if prev > 0:
                scratch_f[r, k] += x
                scratch_i[r, k] += 1
        lp_sum += s_all / n_cat
        lp_n += 1
    out[0, j] = lp_sum / lp_n if lp_n > 0 else np.nan
    s_dyad = 0.0
    m_dyad = 0
    for k in range(n_cat):
        if scratch_i[0, k] > 0 and scratch_i[1, k] > 0:
            s_dyad += 0.5 * (scratch_f[0, k] / scratch_i[0, k] + scratch_f[1, k] / scratch_i[1, k])
            m_dyad += 1
    out[1, j] = s_dyad / m_dyad if m_dyad > 0 else np.nan
    thr = target_thresh if target_thresh > 1 else 1
    for rr in range(2):
        s = 0.0
        m = 0
        npairs = scratch_i[rr, last]
        for mi in range(n_mark):
            if scratch_i[rr, o_ct + mi] >= thr and npairs >= 1:
                s += scratch_i[rr, o_cy + mi] / scratch_i[rr, o_ct + mi] - scratch_i[rr, o_t + mi] / npairs
                m += 1
        # row 2: therapist (replying) coordinating to the client; row 3: the reverse
        out[3 - rr, j] = s / m if m > 0 else np.nan
    return 0


@numba.njit(parallel=True, cache=True, nogil=True)
def sync_surrogate_kernel(conv_offsets, role, counts, n_words, coord_cats, target_thresh,
                          conv_seeds, n_surrogates, observed, surrogates):
    """observed[c, 0..3] and surrogates[c, 0..3, s]: lsm_prev mean, rLSM, coordination
    therapist->client and client->therapist, of the conversation as it is and of its surrogates
    (therapist turns shuffled, :mod:`fastmetrics._surrogates_numba`). Per-turn rates and marker
    bits are computed once; every surrogate then only re-pairs them."""
    n_conv = conv_offsets.shape[0] - 1
    n_turns = counts.shape[0]
    n_cat = counts.shape[1]
    n_mark = coord_cats.shape[0]
    rates = np.empty((n_turns, n_cat), dtype=np.float64)
    has_words = np.empty(n_turns, dtype=np.bool_)
    marks = np.zeros(n_turns, dtype=np.uint32)
    for t in numba.prange(n_turns):
        has_words[t] = n_words[t] > 0
        for k in range(n_cat):
            rates[t, k] = 100.0 * counts[t, k] / n_words[t] if n_words[t] > 0 else 0.0
        m = np.uint32(0)
        for mi in range(n_mark):
            if counts[t, coord_cats[mi]] > 0:
                m |= np.uint32(1) << np.uint32(mi)
        marks[t] = m
    for c in numba.prange(n_conv):
        a = conv_offsets[c]
        b = conv_offsets[c + 1]
        src = np.empty(b - a, dtype=np.int64)
        slots = np.empty(b - a, dtype=np.int64)
        sf = np.empty((2, 2 * n_cat), dtype=np.float64)
        si = np.empty((2, n_cat + 3 * n_mark + 1), dtype=np.int64)
        for t in range(a, b):
            src[t - a] = t
        tmp = np.empty((4, 1), dtype=np.float64)
        _pair_measures(a, b, src, role, rates, has_words, marks, n_mark, target_thresh, tmp, 0, sf, si)
        for i in range(4):
            observed[c, i] = tmp[i, 0]
        out = np.empty((4, n_surrogates), dtype=np.float64)
        for s in range(n_surrogates):
            fill_source(a, b, role, conv_seeds[c], s, slots, src)
            _pair_measures(a, b, src, role, rates, has_words, marks, n_mark, target_thresh, out, s, sf, si)
        for i in range(4):
            for s in range(n_surrogates):
                surrogates[c, i, s] = out[i, s]
    return 0


def sync_surrogates(conv_offsets, role, counts, n_words, coord_cats, target_thresh, conv_seeds,
                    n_surrogates, observed, surrogates, n_threads):
    """Observed and surrogate pair measures into ``observed`` (n_conv, 4) and ``surrogates``
    (n_conv, 4, N) (see ``sync_surrogate_kernel``)."""
    from ..._threads import threads

    with threads(n_threads):
        sync_surrogate_kernel(conv_offsets, role, counts, n_words, coord_cats, int(target_thresh),
                              conv_seeds, int(n_surrogates), observed, surrogates)
    return 0
