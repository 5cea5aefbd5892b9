"""Statistics of the outcome study against independent references and planted effects.

References: scipy.stats.spearmanr and the textbook first-order partial-correlation formula
for the correlations, a hand-written Benjamini-Hochberg step-up for the q-values,
the scikit-learn nested-CV reference (:mod:`fastmetrics.testing.study`) + ``sklearn.metrics`` for the cross-validated
models. Synthetic corpora plant an effect in a trajectory feature only, in a snapshot feature
only, or nowhere (null rate checked over seeds).
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from scipy import stats

from fastmetrics.errors import InputError
from fastmetrics.study.analysis import (
    Feature,
    StudyInput,
    analyse,
    bh_qvalues,
    bootstrap_rank_corr_ci,
    compare_models,
    partial_spearman,
)


# ----------------------------------------------------------------------------- generator
def make_scored_dir(path, *, n_conv=80, n_turns=20, effect="trajectory", seed=0,
                    with_ratings=False, with_strategy=False, noise=1.0):
    """Write a synthetic scored directory (turns.parquet + conversations.parquet).

    Supporter turns carry a quality series q = a_c + b_c * (x - mean x) + e, x the normalised
    position; the snapshot is a_c (= the mean of q up to noise), the trajectory b_c (its OLS
    slope). The outcome ``final`` = (b_c | a_c | 0) + 0.5 * initial + noise. Feature columns
    are computed here with numpy (np.polyfit), independently of fastmetrics.
    """
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=n_conv), rng.normal(size=n_conv)
    initial = rng.integers(1, 6, size=n_conv).astype(float)
    signal = {"trajectory": b, "snapshot": a, "null": np.zeros(n_conv)}[effect]
    final = signal + 0.5 * initial + noise * rng.normal(size=n_conv)
    x = np.arange(n_turns) / (n_turns - 1)
    sup = np.arange(n_turns) % 2 == 1
    xs = x[sup]
    labels = ["Question", "Reflection of feelings", "Providing Suggestions", "Information",
              "Affirmation and Reassurance", "Others"]
    cols = {k: [] for k in ("conversation_id", "turn", "role", "speaker", "text", "quality")}
    if with_ratings:
        cols["rating"] = []
    if with_strategy:
        cols["strategy"] = []
    qmean, qslope = [], []
    for c in range(n_conv):
        q = a[c] + b[c] * (xs - xs.mean()) * 3 + 0.3 * rng.normal(size=len(xs))
        qmean.append(q.mean())
        qslope.append(np.polyfit(xs, q, 1)[0])
        qi = iter(q)
        for t in range(n_turns):
            cols["conversation_id"].append(f"conv{c:04d}")
            cols["turn"].append(t)
            cols["role"].append("therapist" if sup[t] else "client")
            cols["speaker"].append("sys" if sup[t] else "usr")
            cols["text"].append("words words")
            cols["quality"].append(float(next(qi)) if sup[t] else None)
            if with_ratings:
                r = None
                if not sup[t] and t > 0 and t % 4 == 0:
                    r = float(rng.integers(1, 6))
                cols["rating"].append(r)
            if with_strategy:
                cols["strategy"].append(labels[rng.integers(len(labels))] if sup[t] else None)
    path.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(cols), path / "turns.parquet")
    pq.write_table(pa.table({
        "conversation_id": [f"conv{c:04d}" for c in range(n_conv)],
        "n_turns": np.full(n_conv, n_turns, dtype=np.int32),
        "initial": initial, "final": final,
        "quality_mean": np.array(qmean), "quality_slope": np.array(qslope),
    }), path / "conversations.parquet")
    return {"a": a, "b": b, "initial": initial, "final": final,
            "quality_mean": np.array(qmean), "quality_slope": np.array(qslope)}


# ----------------------------------------------------------------------------- correlations
def test_spearman_without_control_is_scipy():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=50), rng.normal(size=50)
    y += 0.5 * x
    rho, p, n = partial_spearman(x, y)
    ref = stats.spearmanr(x, y)
    assert n == 50
    assert rho == pytest.approx(ref.statistic, abs=1e-12)
    assert p == pytest.approx(ref.pvalue, rel=1e-9)


def test_partial_spearman_matches_first_order_formula():
    rng = np.random.default_rng(2)
    z = rng.normal(size=70)
    x = z + rng.normal(size=70)
    y = z + 0.4 * x + rng.normal(size=70)
    rho, p, n = partial_spearman(x, y, z)
    rxy = stats.spearmanr(x, y).statistic
    rxz = stats.spearmanr(x, z).statistic
    ryz = stats.spearmanr(y, z).statistic
    ref = (rxy - rxz * ryz) / np.sqrt((1 - rxz ** 2) * (1 - ryz ** 2))
    assert rho == pytest.approx(ref, abs=1e-10)
    df = n - 3
    t = ref * np.sqrt(df / (1 - ref ** 2))
    assert p == pytest.approx(2 * stats.t.sf(abs(t), df), rel=1e-8)


def test_partial_spearman_drops_missing_and_handles_ties_and_constants():
    x = np.array([1, 2, 2, 3, np.nan, 5, 6, 7, 8, 9.0])
    y = np.array([2, 1, 4, 3, 5, np.nan, 8, 7, 9, 9.0])
    rho, p, n = partial_spearman(x, y)
    ok = ~(np.isnan(x) | np.isnan(y))
    assert n == ok.sum() == 8
    assert rho == pytest.approx(stats.spearmanr(x[ok], y[ok]).statistic)
    rho, p, n = partial_spearman(np.ones(10), np.arange(10.0))
    assert np.isnan(rho) and np.isnan(p)


def test_bootstrap_ci_brackets_the_estimate_and_matches_scipy_bootstrap():
    rng = np.random.default_rng(3)
    x = rng.normal(size=60)
    y = 0.6 * x + rng.normal(size=60)
    lo, hi = bootstrap_rank_corr_ci(x, y, n_boot=1500, seed=5)
    rho = stats.spearmanr(x, y).statistic
    assert lo < rho < hi
    ref = stats.bootstrap((x, y), lambda a, b: stats.spearmanr(a, b).statistic, paired=True,
                          vectorized=False, n_resamples=1500, method="percentile",
                          random_state=np.random.default_rng(9)).confidence_interval
    # different resample streams: agree to Monte Carlo error
    assert lo == pytest.approx(ref.low, abs=0.05)
    assert hi == pytest.approx(ref.high, abs=0.05)


def _bh_reference(p):
    p = np.asarray(p, dtype=float)
    m = len(p)
    order = np.argsort(p)
    q = np.empty(m)
    prev = 1.0
    for rank in range(m, 0, -1):
        i = order[rank - 1]
        prev = min(prev, p[i] * m / rank)
        q[i] = prev
    return q


def test_bh_qvalues_match_step_up_reference_and_keep_nan():
    rng = np.random.default_rng(4)
    p = np.concatenate([rng.uniform(size=15), [0.001, 0.004, 0.02]])
    np.testing.assert_allclose(bh_qvalues(p), _bh_reference(p), rtol=1e-12)
    q = bh_qvalues([0.01, np.nan, 0.04])
    assert np.isnan(q[1])
    np.testing.assert_allclose(q[[0, 2]], _bh_reference([0.01, 0.04]))


# ----------------------------------------------------------------------------- models
def test_compare_models_matches_the_sklearn_nested_reference():
    from sklearn.metrics import r2_score, roc_auc_score

    from fastmetrics.testing.study import nested_oof_reference

    rng = np.random.default_rng(6)
    n = 90
    X = rng.normal(size=(n, 3))
    y = X[:, 0] + 0.5 * rng.normal(size=n)
    groups = np.repeat(np.arange(30), 3)  # three conversations per group
    sets = {"snapshot": X[:, :1], "trajectory": X[:, 1:], "both": X}
    res = compare_models(sets, y, groups, binary=False, n_splits=5, n_repeats=2, n_boot=200, seed=3)
    for name, Xs in sets.items():  # nested penalty: the scikit-learn reference on the same folds
        ref = np.mean([r2_score(y, nested_oof_reference(Xs, y, groups, 3 + r, False))
                       for r in range(2)])
        assert res[name]["mean"] == pytest.approx(ref, abs=1e-10)
        assert res[name]["ci_low"] <= res[name]["mean"] <= res[name]["ci_high"]
    d = res["delta_both_minus_snapshot"]
    assert d["mean"] == pytest.approx(res["both"]["mean"] - res["snapshot"]["mean"])

    yb = (y > 0).astype(float)
    res = compare_models({"snapshot": X[:, :1], "trajectory": X[:, 1:], "both": X}, yb, groups,
                         binary=True, n_splits=5, n_repeats=1, n_boot=100, seed=0)
    pred = nested_oof_reference(X[:, :1], yb, groups, 0, True)
    assert res["snapshot"]["metric"] == "auc"
    assert res["snapshot"]["mean"] == pytest.approx(roc_auc_score(yb, pred), abs=1e-12)


def test_too_few_conversations_is_an_input_error():
    with pytest.raises(InputError, match="at least 8"):
        analyse(StudyInput(conversation_id=list("abcde"), outcome_name="y",
                           y=np.arange(5.0), features=[Feature("f", "snapshot", np.arange(5.0))]))
    with pytest.raises(InputError, match="constant"):
        analyse(StudyInput(conversation_id=list(range(20)), outcome_name="y",
                           y=np.ones(20), features=[Feature("f", "snapshot", np.arange(20.0))]))


# ----------------------------------------------------------------------------- planted effects
def _study(tmp_path, effect, seed=0, n_conv=120):
    from fastmetrics.study import run_study

    truth = make_scored_dir(tmp_path / "scored", n_conv=n_conv, effect=effect, seed=seed)
    res = run_study(tmp_path / "scored", tmp_path / "report", "final", control="initial",
                    n_boot=400, n_repeats=2, seed=seed, report=False)
    return res, truth


def test_planted_trajectory_effect_comes_out_as_trajectory(tmp_path):
    res, truth = _study(tmp_path, "trajectory")
    f = {x["name"]: x for x in res["features"]}
    assert set(f) == {"quality_mean", "quality_slope"}
    assert f["quality_slope"]["kind"] == "trajectory" and f["quality_mean"]["kind"] == "snapshot"
    assert f["quality_slope"]["q"] < 1e-6 and f["quality_slope"]["ci_low"] > 0.4
    assert f["quality_mean"]["q"] > 0.05 and f["quality_mean"]["ci_low"] < 0 < f["quality_mean"]["ci_high"]
    m = res["models"]
    assert m["delta_both_minus_snapshot"]["ci_low"] > 0.1
    assert m["trajectory"]["ci_low"] > m["control_only"]["mean"]
    assert m["delta_snapshot_minus_control_only"]["ci_low"] < 0.02
    # independent check of the reported partial correlation
    rxy = stats.spearmanr(truth["quality_slope"], truth["final"]).statistic
    rxz = stats.spearmanr(truth["quality_slope"], truth["initial"]).statistic
    ryz = stats.spearmanr(truth["final"], truth["initial"]).statistic
    ref = (rxy - rxz * ryz) / np.sqrt((1 - rxz ** 2) * (1 - ryz ** 2))
    assert f["quality_slope"]["rho"] == pytest.approx(ref, abs=1e-9)
    assert any("evidence that trajectory features add" in s for s in res["summary"])


def test_planted_snapshot_effect_comes_out_as_snapshot(tmp_path):
    res, _ = _study(tmp_path, "snapshot")
    f = {x["name"]: x for x in res["features"]}
    assert f["quality_mean"]["q"] < 1e-6 and f["quality_mean"]["ci_low"] > 0.4
    assert f["quality_slope"]["q"] > 0.05
    m = res["models"]
    assert m["delta_snapshot_minus_control_only"]["ci_low"] > 0.1
    assert m["delta_both_minus_snapshot"]["ci_high"] < 0.1
    assert m["delta_both_minus_snapshot"]["ci_low"] < 0
    assert any("no evidence that trajectory features add" in s for s in res["summary"])


def test_null_correlation_rejects_at_the_nominal_rate():
    """Pure noise: P(p < 0.05) = 0.05 for Spearman and partial Spearman (binomial bounds)."""
    rng = np.random.default_rng(123)
    n_rep, n = 600, 30
    rej = np.zeros(2)
    for _ in range(n_rep):
        x, y, z = rng.normal(size=(3, n))
        rej[0] += partial_spearman(x, y)[1] < 0.05
        rej[1] += partial_spearman(x, y, z)[1] < 0.05
    lo, hi = stats.binom.ppf([0.0005, 0.9995], n_rep, 0.05)
    assert np.all((rej >= lo) & (rej <= hi)), rej


@pytest.mark.slow
def test_null_study_is_null_at_the_stated_rate_over_seeds():
    """Pure noise end to end: with only null features BH's FDR equals the family-wise rate, so
    P(any q < 0.05) <= 0.05; the CI of both - snapshot should exclude 0 from above rarely."""
    n_seeds = 60
    any_sig = pos_delta = 0
    for seed in range(n_seeds):
        rng = np.random.default_rng(1000 + seed)
        n = 50
        feats = [Feature("s1_mean", "snapshot", rng.normal(size=n)),
                 Feature("s2_mean", "snapshot", rng.normal(size=n)),
                 Feature("t1_slope", "trajectory", rng.normal(size=n)),
                 Feature("t2_volatility", "trajectory", rng.normal(size=n))]
        res = analyse(StudyInput(conversation_id=list(range(n)), outcome_name="y",
                                 y=rng.normal(size=n), features=feats),
                      n_boot=200, n_splits=5, n_repeats=1, seed=seed)
        any_sig += any(f["significant"] for f in res["features"])
        pos_delta += res["models"]["delta_both_minus_snapshot"]["ci_low"] > 0
    # expected <= 3 of 60 each; P(Binomial(60, 0.05) > 8) < 0.004
    assert any_sig <= 8, any_sig
    assert pos_delta <= 8, pos_delta
