"""Feedback attribution, the ESConv -> BOLT mapping and behaviour rates, against naive loops."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from fastmetrics.errors import InputError
from fastmetrics.metrics.behaviour import (
    BEHAVIOURS,
    STRATEGY_TO_BOLT,
    behaviour_rates,
    map_strategies,
    previous_client_turn,
)
from fastmetrics.study.signals import attribute_feedback, unattributed_ratings

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "esconv"
C, T = 0, 1
nan = np.nan


# ----------------------------------------------------------------------------- attribution
def naive_attribution(conv, role, rating, rule):
    """Reference: walk each conversation; a rating covers the supporter turns since the
    previous rating ('since_last_rating') or only the supporter block right before the rated
    client turn ('next_client')."""
    out = [nan] * len(role)
    for c in sorted(set(conv)):
        idx = [i for i in range(len(role)) if conv[i] == c]
        pending = []
        for i in idx:
            if role[i] == T:
                pending.append(i)
            elif role[i] == C:
                if not np.isnan(rating[i]):
                    for s in pending:
                        out[s] = rating[i]
                    pending = []
                elif rule == "next_client":
                    pending = []
    return np.array(out)


def test_attribution_worked_example():
    #          T    T    C(4)  T    C    T    C(2)  T     | next conversation: T  C(5)
    conv = np.array([0, 0, 0, 0, 0, 0, 0, 0, 1, 1])
    role = np.array([T, T, C, T, C, T, C, T, T, C])
    rate = np.array([nan, nan, 4, nan, nan, nan, 2, nan, nan, 5])
    got = attribute_feedback(conv, role, rate)
    np.testing.assert_array_equal(got, [4, 4, nan, 2, nan, 2, nan, nan, 5, nan])
    got = attribute_feedback(conv, role, rate, rule="next_client")
    np.testing.assert_array_equal(got, [4, 4, nan, nan, nan, 2, nan, nan, 5, nan])
    # the trailing supporter turn of conversation 0 is never credited with conversation 1's rating
    assert np.isnan(got[7])


def test_attribution_matches_naive_reference_on_random_conversations():
    rng = np.random.default_rng(0)
    for _ in range(30):
        lens = rng.integers(1, 15, size=6)
        conv = np.repeat(np.arange(6), lens)
        role = rng.choice([C, T, 2], size=len(conv), p=[0.45, 0.45, 0.1])
        rate = np.where((role == C) & (rng.uniform(size=len(conv)) < 0.4),
                        rng.integers(1, 6, size=len(conv)).astype(float), nan)
        for rule in ("since_last_rating", "next_client"):
            np.testing.assert_array_equal(attribute_feedback(conv, role, rate, rule),
                                          naive_attribution(conv, role, rate, rule))


def test_attribution_rejects_bad_input():
    with pytest.raises(InputError, match="non-client"):
        attribute_feedback(np.zeros(2, int), np.array([T, T]), np.array([nan, 3.0]))
    with pytest.raises(InputError, match="rule"):
        attribute_feedback(np.zeros(1, int), np.array([C]), np.array([nan]), rule="previous")
    with pytest.raises(InputError, match="same length"):
        attribute_feedback(np.zeros(2, int), np.array([C]), np.array([nan]))
    with pytest.raises(InputError, match="ordered"):
        attribute_feedback(np.array([1, 0]), np.array([C, T]), np.array([nan, nan]))


def test_unattributed_ratings_counts_ratings_with_no_supporter_turn():
    conv = np.array([0, 0, 0, 0])
    role = np.array([C, T, C, C])
    rate = np.array([3.0, nan, 4.0, 5.0])  # first: nothing before; last: nothing since the 4
    assert unattributed_ratings(conv, role, rate) == 2


@pytest.mark.realdata
def test_attribution_on_failed_esconv_matches_raw_json():
    """Every supporter turn in FailedESConv gets the feedback of the next seeker turn with
    feedback, read straight from the raw file."""
    path = DATA / "FailedESConv-dev.json"
    if not path.exists():
        pytest.skip(f"real ESConv data not found at {path} (a fresh clone has no ../shared/data)")
    convs = json.loads(path.read_text())
    conv, role, rate, expect = [], [], [], []
    for ci, d in enumerate(convs):
        dialog = d["dialog"]
        for i, t in enumerate(dialog):
            conv.append(ci)
            role.append(C if t["speaker"] == "speaker" else T)
            fb = t.get("annotation", {}).get("feedback")
            rate.append(float(fb) if fb is not None else nan)
            e = nan
            if t["speaker"] == "listener":
                for u in dialog[i + 1:]:
                    if u.get("annotation", {}).get("feedback") is not None:
                        e = float(u["annotation"]["feedback"])
                        break
            expect.append(e)
    got = attribute_feedback(np.array(conv), np.array(role), np.array(rate))
    np.testing.assert_array_equal(got, np.array(expect))
    assert np.isfinite(got).sum() > 1400  # most of the 1655 supporter turns are rated


# ----------------------------------------------------------------------------- mapping
EXPECTED = {
    "Question": "question", "Questions": "question",
    "Restatement or Paraphrasing": "reflection_content", "Restatement": "reflection_content",
    "Reflection of feelings": "reflection_emotions",
    "Providing Suggestions": "problem_solving", "Direct Guidance": "problem_solving",
    "Information": "psychoeducation",
    "Affirmation and Reassurance": "normalizing", "Approval and Reassurance": "normalizing",
    "Self-disclosure": "self_disclosure", "Others": "other", "Other": "other",
}


def test_strategy_mapping_table():
    labels = list(EXPECTED) + [None, "  questions ", "Something new"]
    codes, n_unknown = map_strategies(pa.array(labels, pa.string()))
    names = [BEHAVIOURS[c] if c >= 0 else None for c in codes]
    assert names == list(EXPECTED.values()) + [None, "question", "other"]
    assert n_unknown == 1
    assert set(STRATEGY_TO_BOLT.values()) <= set(BEHAVIOURS)


@pytest.mark.realdata
def test_every_strategy_in_the_esconv_files_is_known():
    files = [DATA / "FailedESConv-dev.json", DATA / "ESConv-valid.jsonl"]
    if not all(f.exists() for f in files):
        pytest.skip(f"real ESConv data not found under {DATA}")
    seen = set()
    for d in json.loads(files[0].read_text()):
        seen |= {t["annotation"]["strategy"] for t in d["dialog"] if "strategy" in t.get("annotation", {})}
    for line in files[1].read_text().splitlines():
        seen |= {t["strategy"] for t in json.loads(line)["dialog"] if t.get("strategy")}
    codes, n_unknown = map_strategies(sorted(seen))
    assert n_unknown == 0, sorted(seen)
    assert {BEHAVIOURS[c] for c in codes} == set(EXPECTED.values())


# ----------------------------------------------------------------------------- rates
def naive_rates(conv, role, codes, valence, n_conv, thr=-0.05):
    out, cond = np.full((n_conv, len(BEHAVIOURS)), nan), np.full((n_conv, len(BEHAVIOURS)), nan)
    for c in range(n_conv):
        lab, neg = [], []
        last_client = None
        for i in range(len(role)):
            if conv[i] != c:
                continue
            if role[i] == T and codes[i] >= 0:
                lab.append(codes[i])
                if last_client is not None and valence is not None and valence[last_client] <= thr:
                    neg.append(codes[i])
            if role[i] == C:
                last_client = i
        for arr, res in ((lab, out), (neg, cond)):
            if arr:
                res[c] = [arr.count(k) / len(arr) for k in range(len(BEHAVIOURS))]
    return out, cond


def test_behaviour_rates_match_naive_loops():
    rng = np.random.default_rng(1)
    lens = rng.integers(0, 25, size=12)
    n = lens.sum()
    conv = np.repeat(np.arange(12), lens)
    role = rng.choice([C, T, 2], size=n, p=[0.45, 0.45, 0.1]).astype(np.int8)
    codes = np.where(role == T, rng.integers(-1, len(BEHAVIOURS), size=n), -1).astype(np.int8)
    val = np.round(rng.normal(scale=0.3, size=n), 2)
    val[rng.uniform(size=n) < 0.1] = nan
    got = behaviour_rates(conv, 12, role, codes, val)
    ref, ref_cond = naive_rates(conv, role, codes, val, 12)
    for k, b in enumerate(BEHAVIOURS):
        np.testing.assert_allclose(got[f"bolt_{b}_rate"], ref[:, k], equal_nan=True)
        np.testing.assert_allclose(got[f"bolt_{b}_given_neg_rate"], ref_cond[:, k], equal_nan=True)
    rates = np.column_stack([got[f"bolt_{b}_rate"] for b in BEHAVIOURS])
    ok = np.isfinite(rates).all(axis=1)
    np.testing.assert_allclose(rates[ok].sum(axis=1), 1.0)
    assert "bolt_question_given_neg_rate" not in behaviour_rates(conv, 12, role, codes)


def test_previous_client_turn_stays_inside_the_conversation():
    conv = np.array([0, 0, 0, 1, 1, 1])
    role = np.array([C, T, T, T, C, T])
    np.testing.assert_array_equal(previous_client_turn(conv, role), [-1, 0, 0, -1, -1, 4])
