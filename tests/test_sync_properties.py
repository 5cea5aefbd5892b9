"""Published properties of the synchrony measures, checked with Hypothesis on random counts."""
from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from fastmetrics.sync import sync_from_counts


@st.composite
def conversations(draw):
    T = draw(st.integers(0, 14))
    role = np.array(draw(st.lists(st.sampled_from([0, 1, 1, 0, 2]), min_size=T, max_size=T)), dtype=np.int8)
    n_words = np.array(draw(st.lists(st.integers(0, 12), min_size=T, max_size=T)), dtype=np.int64)
    counts = np.zeros((T, 9), dtype=np.int32)
    for t in range(T):
        for k in range(9):
            counts[t, k] = draw(st.integers(0, int(n_words[t])))
    return role, counts, n_words


@settings(max_examples=80, deadline=None)
@given(conversations(), st.integers(1, 5))
def test_bounds_symmetry_and_definedness(conv, window):
    role, counts, n_words = conv
    off = np.array([0, len(role)], dtype=np.int64)
    res = sync_from_counts(off, role, counts, n_words, window=window)
    # LSM_c and every mean of them lie in [0, 1]
    for name in ("lsm", "rlsm", "rlsm_client", "rlsm_therapist"):
        v = getattr(res, name)
        assert np.all(np.isnan(v) | ((v >= 0) & (v <= 1)))
    for name in ("lsm_prev", "rlsm_turn", "rlsm_window"):
        v = getattr(res, name)
        assert np.all(np.isnan(v) | ((v >= 0) & (v <= 1)))
    # coordination is a difference of two probabilities
    for v in (res.coordination_therapist_to_client, res.coordination_client_to_therapist):
        assert np.all(np.isnan(v) | ((v >= -1) & (v <= 1)))
    # turn-level values exist only at client/therapist speaker changes
    change = np.zeros(len(role), dtype=bool)
    change[1:] = ((role[1:] == 0) & (role[:-1] == 1)) | ((role[1:] == 1) & (role[:-1] == 0))
    for v in (res.lsm_prev, res.rlsm_turn, res.rlsm_window):
        assert not np.any(np.isfinite(v) & ~change)
    # conversation LSM is symmetric in the two speakers; swapping roles swaps the directions
    swapped = np.where(role == 2, 2, 1 - role).astype(np.int8)
    sw = sync_from_counts(off, swapped, counts, n_words, window=window)
    np.testing.assert_array_equal(sw.lsm, res.lsm)
    np.testing.assert_array_equal(sw.rlsm, res.rlsm)
    np.testing.assert_array_equal(sw.rlsm_client, res.rlsm_therapist)
    np.testing.assert_array_equal(sw.coordination_therapist_to_client, res.coordination_client_to_therapist)
    np.testing.assert_array_equal(sw.lsm_prev, res.lsm_prev)


@settings(max_examples=40, deadline=None)
@given(conversations())
def test_identical_style_scores_one(conv):
    role, counts, n_words = conv
    # every turn has the same rates in every category -> LSM 1 wherever defined
    counts = np.repeat(np.array([[1, 2, 1, 1, 0, 1, 1, 0, 1]], dtype=np.int32), len(role), axis=0)
    n_words = np.full(len(role), 10, dtype=np.int64)
    res = sync_from_counts(np.array([0, len(role)]), role, counts, n_words)
    for v in (res.lsm, res.lsm_prev):
        assert np.allclose(v[np.isfinite(v)], 1.0)
