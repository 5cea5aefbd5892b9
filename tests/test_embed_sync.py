"""Embedding synchrony (adjacent cosine, windowed mean, lagged Spearman) against NumPy/SciPy."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import spearmanr

from fastmetrics import InputError
from fastmetrics.metrics.embedding_sync import LAG_COLUMNS, LAGS, embedding_synchrony


def random_corpus(seed=0, n_conv=25, d=16):
    rng = np.random.default_rng(seed)
    lens = rng.integers(0, 30, n_conv)
    lens[0], lens[1] = 1, 0  # a one-turn and an empty conversation
    off = np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)
    n = int(off[-1])
    emb = rng.standard_normal((n, d)).astype(np.float32)
    role = rng.choice(np.array([0, 1, 2], np.int8), n, p=[0.45, 0.45, 0.1])
    return emb, role, off


def reference(emb, role, off, window):
    """Plain-Python loops over conversations."""
    n = len(role)
    sim = np.full(n, np.nan)
    win = np.full(n, np.nan)
    mean = np.full(len(off) - 1, np.nan)
    change_mean = np.full(len(off) - 1, np.nan)
    lag = np.full((len(off) - 1, len(LAGS)), np.nan)
    for c in range(len(off) - 1):
        a, b = off[c], off[c + 1]
        for t in range(a + 1, b):
            x, y = emb[t].astype(np.float64), emb[t - 1].astype(np.float64)
            sim[t] = x @ y / np.linalg.norm(x) / np.linalg.norm(y)
        for t in range(a, b):
            vals = [v for v in sim[max(a, t - window + 1):t + 1] if np.isfinite(v)]
            win[t] = np.mean(vals) if vals else np.nan
        vals = [v for v in sim[a:b] if np.isfinite(v)]
        mean[c] = np.mean(vals) if vals else np.nan
        vals = [sim[t] for t in range(a + 1, b) if role[t] != role[t - 1] and np.isfinite(sim[t])]
        change_mean[c] = np.mean(vals) if vals else np.nan
        sa = [sim[t] for t in range(a, b) if role[t] == 0]
        sb = [sim[t] for t in range(a, b) if role[t] == 1]
        for j, L in enumerate(LAGS):
            pairs = [(sa[k], sb[k + L]) for k in range(len(sa)) if 0 <= k + L < len(sb)
                     and np.isfinite(sa[k]) and np.isfinite(sb[k + L])]
            if len(pairs) >= 3:
                x, y = np.array(pairs).T
                if np.ptp(x) > 0 and np.ptp(y) > 0:
                    lag[c, j] = spearmanr(x, y).statistic
    return sim, win, mean, lag, change_mean


@pytest.mark.parametrize("window", [1, 3, 8])
def test_against_reference(window):
    emb, role, off = random_corpus()
    turns, convs = embedding_synchrony(emb, role, off, window=window)
    sim, win, mean, lag, change_mean = reference(emb, role, off, window)
    np.testing.assert_allclose(turns["emb_sim_prev"], sim, atol=1e-6, equal_nan=True)
    np.testing.assert_allclose(turns["emb_sim_window"], win, atol=1e-6, equal_nan=True)
    np.testing.assert_allclose(convs["emb_sim_prev_mean"], mean, atol=1e-6, equal_nan=True)
    np.testing.assert_allclose(convs["emb_sim_change_mean"], change_mean, atol=1e-6, equal_nan=True)
    assert np.isfinite(change_mean).sum() > 10
    got = np.stack([convs[c] for c in LAG_COLUMNS], axis=1)
    np.testing.assert_allclose(got, lag, atol=1e-9, equal_nan=True)
    assert np.isfinite(got).sum() > 20  # the reference is exercised, not only NaN paths


def test_spearman_ties_match_scipy():
    from fastmetrics.metrics.embedding_sync._numba import spearman

    rng = np.random.default_rng(3)
    for n in (3, 5, 12, 40):
        x = rng.integers(0, 4, n).astype(np.float64)  # heavy ties
        y = rng.integers(0, 3, n).astype(np.float64)
        ref = spearmanr(x, y).statistic if np.ptp(x) > 0 and np.ptp(y) > 0 else np.nan
        np.testing.assert_allclose(spearman(x, y), ref, atol=1e-12, equal_nan=True)
    assert np.isnan(spearman(np.array([1.0, 2.0]), np.array([2.0, 1.0])))  # fewer than 3 pairs
    # one-hot embeddings: cosines exactly 0 or 1, so the series are tied in both codes
    emb = np.eye(3, dtype=np.float32)[rng.integers(0, 3, 60)]
    role = np.tile(np.array([0, 1], np.int8), 30)
    off = np.array([0, 60])
    _, convs = embedding_synchrony(emb, role, off)
    lag = reference(emb, role, off, 8)[3]
    got = np.array([convs[c][0] for c in LAG_COLUMNS])
    np.testing.assert_allclose(got, lag[0], atol=1e-12, equal_nan=True)
    assert np.isfinite(got).all()


def test_known_values():
    e = np.array([[1, 0], [1, 0], [0, 1], [-1, 0]], np.float32)
    turns, _ = embedding_synchrony(e, np.array([0, 1, 0, 1], np.int8), np.array([0, 4]), window=2)
    np.testing.assert_allclose(turns["emb_sim_prev"], [np.nan, 1, 0, 0], atol=1e-12)
    np.testing.assert_allclose(turns["emb_sim_window"], [np.nan, 1, 0.5, 0], atol=1e-12)


def test_float64_embeddings_match_float32():
    emb, role, off = random_corpus(seed=5)
    a = embedding_synchrony(emb, role, off, n_threads=2)
    c = embedding_synchrony(emb.astype(np.float64), role, off, n_threads=2)
    for k in a[0]:
        np.testing.assert_allclose(a[0][k], c[0][k], atol=1e-12, equal_nan=True)


def test_bad_input():
    emb, role, off = random_corpus()
    with pytest.raises(InputError):
        embedding_synchrony(emb, role, off[:-1])
    with pytest.raises(InputError):
        embedding_synchrony(emb, role[:-1], off)
    with pytest.raises(InputError):
        embedding_synchrony(emb.astype(np.int32), role, off)
    with pytest.raises(InputError):
        embedding_synchrony(emb, role, off, window=0)


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=25, deadline=None)
@given(lens=st.lists(st.integers(0, 12), min_size=1, max_size=8), seed=st.integers(0, 2**32 - 1),
       window=st.integers(1, 10), split=st.integers(0, 8))
def test_properties_and_chunk_invariance(lens, seed, window, split):
    rng = np.random.default_rng(seed)
    off = np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)
    n = int(off[-1])
    emb = rng.standard_normal((n, 6)).astype(np.float32)
    role = rng.integers(0, 3, n).astype(np.int8)
    turns, convs = embedding_synchrony(emb, role, off, window=window)
    sim = turns["emb_sim_prev"]
    assert np.isnan(sim[off[:-1][np.diff(off) > 0]]).all()  # first turns have no predecessor
    fin = np.isfinite(sim)
    assert (np.abs(sim[fin]) <= 1 + 1e-6).all()
    assert (fin == (np.arange(n) != np.repeat(off[:-1], np.diff(off)))).all()
    # scoring two chunks of whole conversations separately gives the same columns
    k = min(split, len(lens))
    cut = int(off[k])
    a = embedding_synchrony(emb[:cut], role[:cut], off[:k + 1], window=window)
    b = embedding_synchrony(emb[cut:], role[cut:], off[k:] - cut, window=window)
    for name in turns:
        np.testing.assert_array_equal(np.concatenate([a[0][name], b[0][name]]), turns[name])
    for name in convs:
        np.testing.assert_array_equal(np.concatenate([a[1][name], b[1][name]]), convs[name])
