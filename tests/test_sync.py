"""Style synchrony (LSM, rLSM, windows, coordination) against the naive references of
fastmetrics/testing/reference_sync.py, hand-worked rLSM missing-data cases, and invariance checks."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

import fastmetrics.testing.reference_sync as ref
from fastmetrics import Corpus, InputError
from fastmetrics.lexicon import CATEGORIES, builtin_lexicon
from fastmetrics.sync import category_counts, sync_from_counts, synchrony

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"

# a tiny vocabulary with known categories, plus content words
WORDS = ["i", "you", "it", "the", "a", "is", "was", "very", "in", "on", "and", "but", "not",
         "all", "some", "so", "dog", "sad", "tree", "run", "blue", "work"]


def _corpus(convs):
    """convs: list of list of (role, text)."""
    off = np.zeros(len(convs) + 1, dtype=np.int64)
    off[1:] = np.cumsum([len(c) for c in convs])
    roles = np.array([r for c in convs for r, _ in c], dtype=np.int8)
    text = [t for c in convs for _, t in c]
    return Corpus(conversation_id=pa.array([f"c{i}" for i in range(len(convs))]), conv_offsets=off,
                  role=roles, speaker=pa.array(["x"] * len(text)), text=pa.array(text))


def _random_convs(rng, n_conv, max_len=12, p_other=0.05, p_empty=0.05):
    convs = []
    for _ in range(n_conv):
        T = int(rng.integers(0, max_len + 1))
        conv = []
        for _ in range(T):
            u = rng.random()
            role = 2 if u < p_other else int(rng.integers(0, 2))
            n = 0 if rng.random() < p_empty else int(rng.integers(1, 9))
            conv.append((role, " ".join(rng.choice(WORDS, n))))
        convs.append(conv)
    return convs


def _cats_fn():
    lex = builtin_lexicon()
    return lambda w: [CATEGORIES[k] for k in range(9) if (lex.mask_of(w) >> k) & 1]


def _ref_convs(convs):
    return [[(r, t.split()) for r, t in c] for c in convs]


def _close(a, b, tol=1e-12):
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    assert a.shape == b.shape
    assert np.array_equal(np.isnan(a), np.isnan(b)), (a, b)
    np.testing.assert_allclose(a[~np.isnan(a)], b[~np.isnan(b)], rtol=tol, atol=tol)


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def test_category_counts_against_python(rng):
    convs = _random_convs(rng, 30)
    c = _corpus(convs)
    tok = c.tokens()
    lex = builtin_lexicon()
    counts = category_counts(tok.token_offsets, tok.token_ids, lex.vocab_mask(tok.vocab))
    cats = _cats_fn()
    expect = [[sum(1 for w in t.split() if k in cats(w)) for k in CATEGORIES]
              for conv in convs for _, t in conv]
    assert counts.tolist() == expect


def test_all_metrics_against_reference(rng):
    convs = _random_convs(rng, 60, max_len=30)
    res = synchrony(_corpus(convs), window=3)
    cats = _cats_fn()
    rc = _ref_convs(convs)
    off = 0
    for i, conv in enumerate(rc):
        T = len(conv)
        sl = slice(off, off + T)
        off += T
        _close(res.lsm[i], ref.lsm_conversation(conv, cats))
        overall, cl, th, turn = ref.rlsm(conv, cats)
        _close(res.rlsm[i], overall)
        _close(res.rlsm_client[i], cl)
        _close(res.rlsm_therapist[i], th)
        _close(res.rlsm_turn[sl], turn)
        _close(res.lsm_prev[sl], ref.lsm_prev(conv, cats))
        _close(res.rlsm_window[sl], ref.rlsm_window(conv, cats, 3))
        _close(res.coordination_therapist_to_client[i], ref.coordination(conv, cats, 1))
        _close(res.coordination_client_to_therapist[i], ref.coordination(conv, cats, 0))
    # the random corpus exercised every branch
    assert np.isfinite(res.coordination_therapist_to_client).sum() > 5
    assert np.isnan(res.rlsm).sum() > 0 and np.isfinite(res.rlsm).sum() > 20


def _counts_case(rows):
    """Counts for 2 turns from explicit per-category counts (9 columns) and word totals."""
    counts = np.array([r[0] for r in rows], dtype=np.int32)
    n_words = np.array([r[1] for r in rows], dtype=np.int64)
    return counts, n_words


def test_rlsm_missing_data_rules_by_hand():
    # turn 0 (client, 10 words): ppron 2, article 0, prep 1, others 0
    # turn 1 (therapist, 5 words): ppron 0, article 1, prep 1
    z = [0] * 9
    c0 = list(z); c0[0] = 2; c0[5] = 1
    c1 = list(z); c1[2] = 1; c1[5] = 1
    counts, nw = _counts_case([(c0, 10), (c1, 5)])
    res = sync_from_counts(np.array([0, 2]), np.array([0, 1], dtype=np.int8), counts, nw)
    # ppron: prev 20, curr 0 -> scored: 1 - 20/20.0001
    v_ppron = 1 - 20 / 20.0001
    # article: prev 0, curr 20 -> NA; prep: prev 10, curr 20 -> 1 - 10/30.0001
    v_prep = 1 - 10 / 30.0001
    # the other six: prev 0, curr 0 -> NA
    assert res.rlsm_turn[1] == pytest.approx((v_ppron + v_prep) / 2, abs=1e-15)
    assert math.isnan(res.rlsm_turn[0])
    # only the therapist responded: person means exist for the therapist only -> dyad NA
    assert res.rlsm_therapist[0] == pytest.approx((v_ppron + v_prep) / 2, abs=1e-15)
    assert math.isnan(res.rlsm_client[0]) and math.isnan(res.rlsm[0])


def test_rlsm_aggregation_order_by_hand():
    # 4 turns: C T C T. ppron only (other categories zero); 10 words each.
    # rates: C0 10, T1 20, C2 0, T3 10
    z = [0] * 9
    rows = []
    for k in (1, 2, 0, 1):
        r = list(z); r[0] = k
        rows.append((r, 10))
    counts, nw = _counts_case(rows)
    res = sync_from_counts(np.array([0, 4]), np.array([0, 1, 0, 1], dtype=np.int8), counts, nw)
    t1 = 1 - 10 / 30.0001       # therapist replying to client (prev 10, curr 20)
    t2 = 1 - 20 / 20.0001       # client replying (prev 20, curr 0) -> scored
    # t3: prev 0 -> NA
    assert res.rlsm_turn[1] == pytest.approx(t1, abs=1e-15)
    assert res.rlsm_turn[2] == pytest.approx(t2, abs=1e-15)
    assert math.isnan(res.rlsm_turn[3])
    # person x category: therapist ppron = t1, client ppron = t2; dyad ppron = mean; one category
    assert res.rlsm[0] == pytest.approx((t1 + t2) / 2, abs=1e-15)
    assert res.rlsm_therapist[0] == pytest.approx(t1, abs=1e-15)
    assert res.rlsm_client[0] == pytest.approx(t2, abs=1e-15)


def test_lsm_formula_by_hand():
    # all nine categories identical rates -> LSM 1 in every category
    c = [1] * 9
    counts, nw = _counts_case([(c, 9), (c, 9)])
    res = sync_from_counts(np.array([0, 2]), np.array([0, 1], dtype=np.int8), counts, nw)
    assert res.lsm[0] == pytest.approx(1 - 0 / (2 * 100 / 9 + 0.0001))
    assert res.lsm_prev[1] == pytest.approx(1.0)
    # both zero in a category -> LSM_c = 1 - 0/0.0001 = 1
    zero = [0] * 9
    counts, nw = _counts_case([(zero, 3), (zero, 4)])
    res = sync_from_counts(np.array([0, 2]), np.array([1, 0], dtype=np.int8), counts, nw)
    assert res.lsm[0] == 1.0
    assert math.isnan(res.rlsm_turn[1])  # prev = 0 everywhere -> NA


def test_same_speaker_and_other_role_break_pairs():
    c = _corpus([[(0, "i am sad"), (0, "i am sad"), (2, "the dog"), (1, "you are")]])
    res = synchrony(c)
    assert np.isnan(res.lsm_prev).all() and np.isnan(res.rlsm_turn).all()
    assert np.isfinite(res.lsm[0])




def test_bad_input():
    counts = np.zeros((2, 9), dtype=np.int32)
    with pytest.raises(InputError, match="window"):
        sync_from_counts(np.array([0, 2]), np.zeros(2, np.int8), counts, np.ones(2), window=0)
    with pytest.raises(InputError, match="category columns"):
        sync_from_counts(np.array([0, 2]), np.zeros(2, np.int8), counts[:, :3], np.ones(2))
    with pytest.raises(InputError, match="one row per turn"):
        sync_from_counts(np.array([0, 3]), np.zeros(2, np.int8), counts, np.ones(2))


def test_families_through_registry(rng):
    from fastmetrics.registry import Context, get

    c = _corpus(_random_convs(rng, 10))
    ctx = Context(options={"dictionary": None, "window": 8, "coordination_threshold": 3})
    direct = synchrony(c)
    r1 = get("lsm").compute(c, ctx)
    r2 = get("rlsm").compute(c, ctx)
    r3 = get("coordination").compute(c, ctx)
    np.testing.assert_array_equal(r1.conversations["lsm"], direct.lsm)
    np.testing.assert_array_equal(r2.turns["rlsm_window"], direct.rlsm_window)
    np.testing.assert_array_equal(r3.conversations["coordination_client_to_therapist"],
                                  direct.coordination_client_to_therapist)
    assert r1.metadata["sync_dictionary"] == "builtin"


@pytest.mark.realdata
def test_esconv_runs_and_is_in_range():
    import json

    path = DATA / "esconv" / "ESConv-valid.jsonl"
    if not path.exists():
        pytest.skip(f"real data not available at {path}")
    convs = []
    with open(path) as f:
        for line in list(f)[:40]:
            d = json.loads(line)
            convs.append([(0 if u["speaker"] == "usr" else 1, u["text"]) for u in d["dialog"]])
    c = _corpus(convs)
    res = synchrony(c)
    assert np.all((res.lsm > 0) & (res.lsm <= 1))
    ok = np.isfinite(res.rlsm)
    assert ok.mean() > 0.9 and np.all((res.rlsm[ok] >= 0) & (res.rlsm[ok] <= 1))
    # spot-check against the naive reference on real turns, tokenised by the library
    tok = c.tokens()
    cats = _cats_fn()
    for i in range(5):
        a, b = c.conv_offsets[i], c.conv_offsets[i + 1]
        conv = [(int(c.role[t]), tok.turn(t)) for t in range(a, b)]
        _close(res.lsm[i], ref.lsm_conversation(conv, cats))
        _close(res.rlsm[i], ref.rlsm(conv, cats)[0])
        _close(res.coordination_therapist_to_client[i], ref.coordination(conv, cats, 1))


def test_public_wrappers_match_synchrony(rng):
    from fastmetrics.sync import coordination, lsm, rlsm

    c = _corpus(_random_convs(rng, 15, max_len=20))
    full = synchrony(c, window=5, target_thresh=2)
    np.testing.assert_array_equal(lsm(c)["lsm_prev"], full.lsm_prev)
    np.testing.assert_array_equal(rlsm(c, window=5)["rlsm_window"], full.rlsm_window)
    np.testing.assert_array_equal(coordination(c, target_thresh=2)["coordination_client_to_therapist"],
                                  full.coordination_client_to_therapist)
