"""VADER compound valence, compiled (Numba port of vaderSentiment 3.3.2's rules).

Algorithm: a faithful port of ``SentimentIntensityAnalyzer.polarity_scores(text)["compound"]``
(Hutto & Gilbert 2014; the ``vadersentiment`` package, MIT). Words are the package's own
tokens (``text.split()`` with leading/trailing ASCII punctuation stripped unless that leaves two
characters or fewer), never the library's ``\\w+`` tokens. Every distinct lowercase word the
rules can look at (lexicon entries, boosters, negations, the words of the special-case idioms
and the handful of words the rules compare against) has an id in a hash table; a token carries
(id or -1, is-ALL-CAPS, contains "n't"). The rules then run over those arrays in the package's
order: booster / "kind of" skips, lexicon valence, "no" handling, ALL-CAPS emphasis, the three
preceding scalar modifiers with their 1 / 0.95 / 0.9 damping, negation checks ("never so/this",
"without doubt"), special idioms and booster bigrams, "least", the "but" rule (including the
package's list.index() behaviour on repeated values), punctuation emphasis, normalisation
x / sqrt(x^2 + 15) and ``round(x, 4)``.

Two entry points: ``vader_ascii_kernel`` tokenises turns directly from the Arrow UTF-8
buffer: pure-ASCII turns, and turns whose non-ASCII characters are all opaque to the rules
(not Unicode whitespace, not an emoji key, uncased: curly quotes, dashes, CJK, ...; the
caller checks this with one regular expression); ``vader_tokens_kernel`` scores turns
tokenised in Python (the other turns, where Unicode ``str.split``/``lower``/``isupper`` and
emoji replacement decide the tokens).

Parallel strategy: ``prange`` over balanced ranges of turns, private scratch per range; each
turn's score is computed sequentially, so results do not depend on the thread count.

Memory: per range, three arrays as long as the longest turn (bytes).

Numerical caveats: the sum of word valences follows Python's ``sum`` (left to right; with
Neumaier compensation when ``neumaier`` is set, as CPython >= 3.12 does for floats). Rounding
to 4 decimals uses rint on x * 1e4; values whose scaled fraction lies within 1e-6 of one half
are flagged so the caller can apply Python's exactly rounded ``round``.
"""
import numba
import numpy as np

# special word slots (see fastmetrics.emotion._SPECIAL_WORDS)
NO, KIND, OF, LEAST, AT, VERY, NEVER, SO, THIS, WITHOUT, DOUBT, OR, NOR, BUT = range(14)

_FNV_OFFSET = np.uint64(14695981039346656037)
_FNV_PRIME = np.uint64(1099511628211)


@numba.njit(cache=True, nogil=True)
def fnv1a_lower(data, s, e):
    """FNV-1a 64 hash of the ASCII-lowercased bytes data[s:e]."""
    h = _FNV_OFFSET
    for j in range(s, e):
        c = data[j]
        if 65 <= c <= 90:
            c += 32
        h = (h ^ np.uint64(c)) * _FNV_PRIME
    return h


@numba.njit(cache=True, nogil=True)
def _lookup(data, s, e, h, slots, key_blob, key_off):
    mask = slots.shape[0] - 1
    p = np.int64(h & np.uint64(mask))
    n = e - s
    while True:
        k = slots[p]
        if k < 0:
            return -1
        a = key_off[k]
        if key_off[k + 1] - a == n:
            same = True
            for j in range(n):
                c = data[s + j]
                if 65 <= c <= 90:
                    c += 32
                if key_blob[a + j] != c:
                    same = False
                    break
            if same:
                return k
        p = (p + 1) & mask


@numba.njit(cache=True, nogil=True, inline="always")
def _in_lex(w, val):
    return w >= 0 and not np.isnan(val[w])


@numba.njit(cache=True, nogil=True, inline="always")
def _negated(w, nt, isneg):
    return (w >= 0 and isneg[w]) or nt


@numba.njit(cache=True, nogil=True)
def _scalar_inc_dec(w, up, valence, is_cap_diff, boost, isboost, c_incr):
    scalar = 0.0
    if w >= 0 and isboost[w]:
        scalar = boost[w]
        if valence < 0:
            scalar *= -1
        if up and is_cap_diff:
            if valence > 0:
                scalar += c_incr
            else:
                scalar -= c_incr
    return scalar


@numba.njit(cache=True, nogil=True)
def _match2(a, b, keys):
    for r in range(keys.shape[0]):
        if keys[r, 0] == a and keys[r, 1] == b:
            return r
    return -1


@numba.njit(cache=True, nogil=True)
def _match3(a, b, c, keys):
    for r in range(keys.shape[0]):
        if keys[r, 0] == a and keys[r, 1] == b and keys[r, 2] == c:
            return r
    return -1


@numba.njit(cache=True, nogil=True)
def score_tokens(wid, up, nt, n, ep_count, qm_count, val, boost, isboost, isneg, sp,
                 sc2, sc2v, sc3, sc3v, bb2, bb2v, consts, neumaier, sent):
    """Unrounded compound score of one tokenised text (n tokens in wid/up/nt[:n]).

    consts = (N_SCALAR, C_INCR); sent is float64 scratch of length >= n.
    """
    n_scalar = consts[0]
    c_incr = consts[1]
    if n == 0:
        return 0.0
    allcap = 0
    for i in range(n):
        if up[i]:
            allcap += 1
    diff = n - allcap
    is_cap_diff = 0 < diff < n
    for i in range(n):
        w = wid[i]
        sent[i] = 0.0
        if w >= 0 and isboost[w]:
            continue
        if i < n - 1 and w == sp[KIND] and wid[i + 1] == sp[OF]:
            continue
        if not _in_lex(w, val):
            continue
        valence = val[w]
        if w == sp[NO] and i != n - 1 and _in_lex(wid[i + 1], val):
            valence = 0.0
        if (i > 0 and wid[i - 1] == sp[NO]) or (i > 1 and wid[i - 2] == sp[NO]) or \
                (i > 2 and wid[i - 3] == sp[NO] and (wid[i - 1] == sp[OR] or wid[i - 1] == sp[NOR])):
            valence = val[w] * n_scalar
        if up[i] and is_cap_diff:
            if valence > 0:
                valence += c_incr
            else:
                valence -= c_incr
        for start_i in range(3):
            j = i - (start_i + 1)
            if i > start_i and not _in_lex(wid[j], val):
                s = _scalar_inc_dec(wid[j], up[j], valence, is_cap_diff, boost, isboost, c_incr)
                if start_i == 1 and s != 0:
                    s = s * 0.95
                if start_i == 2 and s != 0:
                    s = s * 0.9
                valence = valence + s
                # _negation_check
                if start_i == 0:
                    if _negated(wid[i - 1], nt[i - 1], isneg):
                        valence = valence * n_scalar
                elif start_i == 1:
                    if wid[i - 2] == sp[NEVER] and (wid[i - 1] == sp[SO] or wid[i - 1] == sp[THIS]):
                        valence = valence * 1.25
                    elif wid[i - 2] == sp[WITHOUT] and wid[i - 1] == sp[DOUBT]:
                        pass
                    elif _negated(wid[i - 2], nt[i - 2], isneg):
                        valence = valence * n_scalar
                else:
                    if (wid[i - 3] == sp[NEVER] and (wid[i - 2] == sp[SO] or wid[i - 2] == sp[THIS])) or \
                            (wid[i - 1] == sp[SO] or wid[i - 1] == sp[THIS]):
                        valence = valence * 1.25
                    elif wid[i - 3] == sp[WITHOUT] and (wid[i - 2] == sp[DOUBT] or wid[i - 1] == sp[DOUBT]):
                        pass
                    elif _negated(wid[i - 3], nt[i - 3], isneg):
                        valence = valence * n_scalar
                    # _special_idioms_check (i >= 3 here)
                    w3 = wid[i - 3]
                    w2 = wid[i - 2]
                    w1 = wid[i - 1]
                    r = _match2(w1, w, sc2)                       # onezero
                    if r >= 0:
                        valence = sc2v[r]
                    else:
                        r = _match3(w2, w1, w, sc3)               # twoonezero
                        if r >= 0:
                            valence = sc3v[r]
                        else:
                            r = _match2(w2, w1, sc2)              # twoone
                            if r >= 0:
                                valence = sc2v[r]
                            else:
                                r = _match3(w3, w2, w1, sc3)      # threetwoone
                                if r >= 0:
                                    valence = sc3v[r]
                                else:
                                    r = _match2(w3, w2, sc2)      # threetwo
                                    if r >= 0:
                                        valence = sc2v[r]
                    if n - 1 > i:
                        r = _match2(w, wid[i + 1], sc2)           # zeroone
                        if r >= 0:
                            valence = sc2v[r]
                    if n - 1 > i + 1:
                        r = _match3(w, wid[i + 1], wid[i + 2], sc3)   # zeroonetwo
                        if r >= 0:
                            valence = sc3v[r]
                    # booster n-grams (threetwoone has no 3-word booster key)
                    r = _match2(w3, w2, bb2)                      # threetwo
                    if r >= 0:
                        valence = valence + bb2v[r]
                    r = _match2(w2, w1, bb2)                      # twoone
                    if r >= 0:
                        valence = valence + bb2v[r]
        # _least_check ("least" is not a lexicon word)
        if i > 1 and not _in_lex(wid[i - 1], val) and wid[i - 1] == sp[LEAST]:
            if wid[i - 2] != sp[AT] and wid[i - 2] != sp[VERY]:
                valence = valence * n_scalar
        elif i > 0 and not _in_lex(wid[i - 1], val) and wid[i - 1] == sp[LEAST]:
            valence = valence * n_scalar
        sent[i] = valence
    # _but_check, reproducing list.index() on the live list
    bi = -1
    for i in range(n):
        if wid[i] == sp[BUT]:
            bi = i
            break
    if bi >= 0:
        for k in range(n):
            v = sent[k]
            si = 0
            while sent[si] != v:
                si += 1
            if si < bi:
                sent[si] = v * 0.5
            elif si > bi:
                sent[si] = v * 1.5
    # sum as Python's sum()
    f = 0.0
    comp = 0.0
    for i in range(n):
        x = sent[i]
        if neumaier:
            t = f + x
            if abs(f) >= abs(x):
                comp += (f - t) + x
            else:
                comp += (x - t) + f
            f = t
        else:
            f = f + x
    if neumaier and comp != 0.0 and np.isfinite(comp):
        f += comp
    sum_s = f
    # punctuation emphasis
    ep = ep_count if ep_count < 4 else 4
    ep_amp = ep * 0.292
    qm_amp = 0.0
    if qm_count > 1:
        if qm_count <= 3:
            qm_amp = qm_count * 0.18
        else:
            qm_amp = 0.96
    punct = ep_amp + qm_amp
    if sum_s > 0:
        sum_s += punct
    elif sum_s < 0:
        sum_s -= punct
    comp_score = sum_s / np.sqrt((sum_s * sum_s) + 15)
    if comp_score < -1.0:
        return -1.0
    if comp_score > 1.0:
        return 1.0
    return comp_score


@numba.njit(cache=True, nogil=True, inline="always")
def _round4(x):
    """(rint(x * 1e4) / 1e4, near_tie flag)."""
    y = x * 10000.0
    r = np.rint(y)
    fr = abs(y - np.floor(y))
    return r / 10000.0, abs(fr - 0.5) < 1e-6


@numba.njit(cache=True, nogil=True, inline="always")
def _is_ws(c):
    return c == 32 or (9 <= c <= 13) or (28 <= c <= 31)


@numba.njit(cache=True, nogil=True, inline="always")
def _is_punct(c):
    return (33 <= c <= 47) or (58 <= c <= 64) or (91 <= c <= 96) or (123 <= c <= 126)


@numba.njit(parallel=True, cache=True, nogil=True)
def vader_ascii_kernel(data, offsets, todo, max_len, n_ranges, slots, key_blob, key_off,
                       val, boost, isboost, isneg, sp, sc2, sc2v, sc3, sc3v, bb2, bb2v, consts,
                       neumaier, out, raw, tie):
    """Score the turns t with todo[t] straight from UTF-8 bytes.

    todo[t] may be set only for turns whose non-ASCII characters are all "opaque" (not
    whitespace, not an emoji key, uncased): such bytes are then never whitespace,
    punctuation or letters for the rules, exactly as in the package.

    data : uint8[n_bytes]; offsets : int64[n_turns + 1] (byte offsets into data).
    out, raw : float64[n_turns] (rounded and unrounded compound); tie : bool[n_turns].
    """
    n_turns = offsets.shape[0] - 1
    cap = max_len // 2 + 2
    for r in numba.prange(n_ranges):
        lo = (n_turns * r) // n_ranges
        hi = (n_turns * (r + 1)) // n_ranges
        wid = np.empty(cap, dtype=np.int64)
        up = np.empty(cap, dtype=np.bool_)
        nt = np.empty(cap, dtype=np.bool_)
        sent = np.empty(cap, dtype=np.float64)
        for t in range(lo, hi):
            if not todo[t]:
                continue
            a = offsets[t]
            b = offsets[t + 1]
            n = 0
            ep = 0
            qm = 0
            for i in range(a, b):
                if data[i] == 33:
                    ep += 1
                elif data[i] == 63:
                    qm += 1
            i = a
            while i < b:
                if _is_ws(data[i]):
                    i += 1
                    continue
                ts = i
                while i < b and not _is_ws(data[i]):
                    i += 1
                te = i
                ss = ts
                se = te
                while ss < se and _is_punct(data[ss]):
                    ss += 1
                while se > ss and _is_punct(data[se - 1]):
                    se -= 1
                # the package compares the stripped length in code points, not bytes
                n_cp = 0
                for j in range(ss, se):
                    if (data[j] & 0xC0) != 0x80:
                        n_cp += 1
                if n_cp <= 2:
                    ss = ts
                    se = te
                h = fnv1a_lower(data, ss, se)
                wid[n] = _lookup(data, ss, se, h, slots, key_blob, key_off)
                has_upper = False
                has_lower = False
                has_nt = False
                for j in range(ss, se):
                    ch = data[j]
                    if 65 <= ch <= 90:
                        has_upper = True
                    elif 97 <= ch <= 122:
                        has_lower = True
                    if j + 2 < se and (ch == 110 or ch == 78) and data[j + 1] == 39 and \
                            (data[j + 2] == 116 or data[j + 2] == 84):
                        has_nt = True
                up[n] = has_upper and not has_lower
                nt[n] = has_nt
                n += 1
            x = score_tokens(wid, up, nt, n, ep, qm, val, boost, isboost, isneg, sp,
                             sc2, sc2v, sc3, sc3v, bb2, bb2v, consts, neumaier, sent)
            raw[t] = x
            out[t], tie[t] = _round4(x)
    return 0


@numba.njit(parallel=True, cache=True, nogil=True)
def vader_tokens_kernel(tok_offsets, wid, up, nt, ep, qm, n_ranges, val, boost, isboost, isneg,
                        sp, sc2, sc2v, sc3, sc3v, bb2, bb2v, consts, neumaier, out, raw, tie):
    """Score pre-tokenised texts: tokens tok_offsets[k]:tok_offsets[k+1] of wid/up/nt.

    ep, qm : int64[n_texts] counts of '!' and '?'; out, raw : float64[n_texts]; tie : bool.
    """
    n_texts = tok_offsets.shape[0] - 1
    for r in numba.prange(n_ranges):
        lo = (n_texts * r) // n_ranges
        hi = (n_texts * (r + 1)) // n_ranges
        longest = 1
        for k in range(lo, hi):
            m = tok_offsets[k + 1] - tok_offsets[k]
            if m > longest:
                longest = m
        sent = np.empty(longest, dtype=np.float64)
        for k in range(lo, hi):
            a = tok_offsets[k]
            b = tok_offsets[k + 1]
            x = score_tokens(wid[a:b], up[a:b], nt[a:b], b - a, ep[k], qm[k], val, boost, isboost,
                             isneg, sp, sc2, sc2v, sc3, sc3v, bb2, bb2v, consts, neumaier, sent)
            raw[k] = x
            out[k], tie[k] = _round4(x)
    return 0


# ------------------------------------------------------------------------------------------
# operations (the backend interface; see fastmetrics.backends)
# ------------------------------------------------------------------------------------------
def vader_ascii(data, offsets, todo, max_len, slots, key_blob, key_off, tables, out, raw, tie,
                n_threads):
    """Score the turns flagged in ``todo`` straight from their UTF-8 bytes.

    ``tables`` is the tuple (val, boost, isboost, isneg, sp, sc2, sc2v, sc3, sc3v, bb2, bb2v,
    consts, neumaier) of :class:`fastmetrics.metrics.emotion.VaderTables` arrays.
    """
    from ..._threads import threads

    with threads(n_threads) as nt:
        return int(vader_ascii_kernel(data, offsets, todo, max_len, nt, slots, key_blob, key_off,
                                      *tables, out, raw, tie))


def vader_tokens(tok_offsets, wid, up, nt_flags, ep, qm, tables, out, raw, tie, n_threads):
    """Score pre-tokenised texts (tokens ``tok_offsets[k]:tok_offsets[k+1]``)."""
    from ..._threads import threads

    n_texts = len(tok_offsets) - 1
    with threads(n_threads) as nt:
        return int(vader_tokens_kernel(tok_offsets, wid, up, nt_flags, ep, qm,
                                       min(nt, max(n_texts, 1)), *tables, out, raw, tie))
