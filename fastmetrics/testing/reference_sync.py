"""Naive references for style synchrony, written straight from docs METRICS.md section 4 and
ConvoKit's ``Coordination.scores_over_utterances``. Plain Python over lists of turns; slow on
purpose and independent of the compiled kernels.

A conversation is a list of ``(role, tokens)`` with role 0 client, 1 therapist, 2 other and
tokens a list of lowercase words; ``cats`` maps a word to the set of its category names.
"""
from __future__ import annotations

import math

CATS = ("ppron", "ipron", "article", "auxverb", "adverb", "prep", "conj", "negate", "quant")
MARKERS = ("article", "auxverb", "conj", "adverb", "ppron", "ipron", "prep", "quant")
NAN = float("nan")


def count(tokens, cats):
    c = dict.fromkeys(CATS, 0)
    for w in tokens:
        for k in cats(w):
            c[k] += 1
    return c


def rates(tokens, cats):
    c = count(tokens, cats)
    n = len(tokens)
    return {k: 100.0 * c[k] / n for k in CATS}


def lsm_pair(p1, p2):
    return sum(1 - abs(p1[k] - p2[k]) / (p1[k] + p2[k] + 0.0001) for k in CATS) / len(CATS)


def lsm_conversation(conv, cats):
    client = [w for r, toks in conv if r == 0 for w in toks]
    ther = [w for r, toks in conv if r == 1 for w in toks]
    if not client or not ther:
        return NAN
    return lsm_pair(rates(client, cats), rates(ther, cats))


def speaker_changes(conv):
    """Indices t with (role[t-1], role[t]) a client/therapist change."""
    return [t for t in range(1, len(conv)) if {conv[t][0], conv[t - 1][0]} == {0, 1}]


def lsm_prev(conv, cats):
    out = [NAN] * len(conv)
    for t in speaker_changes(conv):
        if conv[t][1] and conv[t - 1][1]:
            out[t] = lsm_pair(rates(conv[t - 1][1], cats), rates(conv[t][1], cats))
    return out


def rlsm_category(prev, curr):
    """The published missing-data rule: NA when prev = 0 (whatever curr), scored otherwise."""
    if prev == 0:
        return None
    return 1 - abs(prev - curr) / (prev + curr + 0.0001)


def rlsm(conv, cats):
    """(rlsm, rlsm_client, rlsm_therapist, rlsm_turn list)."""
    per_person = {0: {k: [] for k in CATS}, 1: {k: [] for k in CATS}}
    turn = [NAN] * len(conv)
    for t in speaker_changes(conv):
        if not conv[t][1] or not conv[t - 1][1]:
            continue
        prev, curr = rates(conv[t - 1][1], cats), rates(conv[t][1], cats)
        vals = []
        for k in CATS:
            v = rlsm_category(prev[k], curr[k])
            if v is not None:
                per_person[conv[t][0]][k].append(v)
                vals.append(v)
        if vals:
            turn[t] = sum(vals) / len(vals)
    person_cat = {r: {k: (sum(v) / len(v) if v else None) for k, v in per_person[r].items()} for r in (0, 1)}
    dyad = []
    for k in CATS:
        a, b = person_cat[0][k], person_cat[1][k]
        if a is not None and b is not None:
            dyad.append((a + b) / 2)
    overall = sum(dyad) / len(dyad) if dyad else NAN

    def person(r):
        v = [x for x in person_cat[r].values() if x is not None]
        return sum(v) / len(v) if v else NAN

    return overall, person(0), person(1), turn


def rlsm_window(conv, cats, window):
    out = [NAN] * len(conv)
    for t in speaker_changes(conv):
        r, q = conv[t][0], conv[t - 1][0]
        mine = [toks for rr, toks in conv[:t + 1] if rr == r][-window:]
        theirs = [toks for rr, toks in conv[:t + 1] if rr == q][-window:]
        a = [w for toks in mine for w in toks]
        b = [w for toks in theirs for w in toks]
        if not a or not b:
            continue
        pa_, pb = rates(a, cats), rates(b, cats)
        vals = [v for k in CATS if (v := rlsm_category(pb[k], pa_[k])) is not None]
        if vals:
            out[t] = sum(vals) / len(vals)
    return out


def coordination(conv, cats, speaker_role, target_thresh=3):
    """ConvoKit-style coordination of ``speaker_role`` replying to the other role.

    Reply pairs: (t-1, t) with role[t] = speaker_role and role[t-1] the other dyad role.
    Mean over markers that meet the target threshold (ConvoKit aggregate 3, one speaker).
    """
    target_role = 1 - speaker_role
    tally = dict.fromkeys(MARKERS, 0)
    cond_tally = dict.fromkeys(MARKERS, 0)
    cond_total = dict.fromkeys(MARKERS, 0)
    n_utt = 0
    for t in range(1, len(conv)):
        if conv[t][0] != speaker_role or conv[t - 1][0] != target_role:
            continue
        n_utt += 1
        c1 = {m for m in MARKERS if count(conv[t - 1][1], cats)[m] > 0}
        c2 = {m for m in MARKERS if count(conv[t][1], cats)[m] > 0}
        for m in c1 | c2:
            if m in c2:
                tally[m] += 1
            if m in c1:
                cond_total[m] += 1
                if m in c2:
                    cond_tally[m] += 1
    scores = [cond_tally[m] / cond_total[m] - tally[m] / n_utt for m in MARKERS
              if cond_total[m] >= max(target_thresh, 1) and n_utt >= 1]
    return sum(scores) / len(scores) if scores else NAN


def isclose_nan(a, b, tol=1e-12):
    if isinstance(a, float) and math.isnan(a):
        return isinstance(b, float) and math.isnan(b)
    return abs(a - b) <= tol * max(1.0, abs(a), abs(b))
