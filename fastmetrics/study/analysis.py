"""The outcome study's statistics: rank correlations and cross-validated model comparisons.

Question (docs METRICS.md section 8): does the *snapshot* (per-conversation mean of a
single-turn signal, or a behaviour rate) predict the conversation outcome, and what do
*trajectory* features (slope, late-minus-early, volatility, ...) add?

Per feature
    Spearman's rho with the outcome (``scipy.stats.spearmanr``), or, with controls, the partial
    Spearman correlation: Pearson correlation of the ranks of x and y after regressing each on
    the ranks of the controls (least squares), p-value from Student's t with
    n - 2 - n_controls degrees of freedom. Pairwise-complete conversations only. 95% CI by the
    percentile bootstrap over conversations (``n_boot`` resamples, seeded). q-values by
    Benjamini-Hochberg (``scipy.stats.false_discovery_control``) across all features.

Models
    Grouped K-fold cross-validation (``sklearn.model_selection.GroupKFold(shuffle=True)``,
    ``n_repeats`` different seeds; groups = conversations unless a grouping column is given),
    pipeline median-imputation -> standardisation -> ``RidgeCV(alphas=10**[-3..3])`` for a
    continuous outcome, ``LogisticRegression(C=1)`` for a binary one. Predictor sets:
    ``snapshot``, ``trajectory``, ``both`` (controls are added to every set; with controls a
    ``control_only`` baseline is also fitted). Held-out metric on the pooled out-of-fold
    predictions (R^2, or ROC AUC), averaged over repeats. CIs (and the CI of
    ``both - snapshot``) by the percentile bootstrap over conversations of those fixed
    out-of-fold predictions (the same resample for every set, so the difference is paired).
    This CI reflects sampling variation of the evaluation set, not of model fitting.

Everything is vectorised over bootstrap resamples with ``scipy.stats.rankdata(axis=1)``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import InputError

ALPHAS = tuple(float(a) for a in np.logspace(-3, 3, 13))


# --------------------------------------------------------------------------- correlations
def _residualise(a: np.ndarray, Z: np.ndarray) -> np.ndarray:
    """Residuals of the rows of ``a`` (B, n) on ``Z`` (B, n, k) plus an intercept (batched
    least squares through the normal equations; Z holds ranks, so it is well conditioned)."""
    B, n = a.shape
    D = np.concatenate([np.ones((B, n, 1)), Z], axis=2)
    DtD = np.einsum("bnk,bnj->bkj", D, D)
    Dta = np.einsum("bnk,bn->bk", D, a)
    coef = np.linalg.lstsq(DtD[0], Dta[0], rcond=None)[0][None] if B == 1 else None
    if coef is None:
        try:
            coef = np.linalg.solve(DtD, Dta[:, :, None])[:, :, 0]
        except np.linalg.LinAlgError:  # a constant control in some resample
            coef = np.stack([np.linalg.lstsq(DtD[b], Dta[b], rcond=None)[0] for b in range(B)])
    return a - np.einsum("bnk,bk->bn", D, coef)


def _pearson_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a - a.mean(axis=1, keepdims=True)
    b = b - b.mean(axis=1, keepdims=True)
    den = np.sqrt((a * a).sum(axis=1) * (b * b).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (a * b).sum(axis=1) / den, np.nan)


def _rank_corr_rows(x: np.ndarray, y: np.ndarray, z: np.ndarray | None) -> np.ndarray:
    """Spearman (or partial Spearman on controls ``z``) for each row; x, y (B, n); z (B, n, k)."""
    from scipy.stats import rankdata

    rx, ry = rankdata(x, axis=1), rankdata(y, axis=1)
    if z is None or z.shape[2] == 0:
        return _pearson_rows(rx, ry)
    rz = np.stack([rankdata(z[:, :, j], axis=1) for j in range(z.shape[2])], axis=2)
    return _pearson_rows(_residualise(rx, rz), _residualise(ry, rz))


def partial_spearman(x, y, z=None) -> tuple[float, float, int]:
    """Spearman's rho of x and y, partial on the controls z when given.

    Parameters
    ----------
    x, y : array_like of float, shape (n,)
    z : array_like of float, shape (n,) or (n, k), optional
        Control variables. Rows with a NaN anywhere are dropped.

    Returns
    -------
    rho : float
    p : float
        Two-sided p-value (``scipy.stats.spearmanr`` without controls; Student's t with
        n - 2 - k degrees of freedom with k controls).
    n : int
        Complete cases used. rho and p are NaN when n < k + 4 or a variable is constant.
    """
    from scipy import stats

    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    Z = np.zeros((len(x), 0)) if z is None else np.asarray(z, dtype=np.float64).reshape(len(x), -1)
    ok = ~(np.isnan(x) | np.isnan(y) | np.isnan(Z).any(axis=1))
    x, y, Z = x[ok], y[ok], Z[ok]
    n, k = len(x), Z.shape[1]
    if n < k + 4 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan"), float("nan"), n
    if k == 0:
        res = stats.spearmanr(x, y)
        return float(res.statistic), float(res.pvalue), n
    r = float(_rank_corr_rows(x[None], y[None], Z[None])[0])
    if not np.isfinite(r):
        return float("nan"), float("nan"), n
    df = n - 2 - k
    r = max(min(r, 1.0), -1.0)
    t = r * np.sqrt(df / max(1.0 - r * r, 1e-300))
    return r, float(2 * stats.t.sf(abs(t), df)), n


def bootstrap_rank_corr_ci(x, y, z=None, n_boot: int = 2000, seed: int = 0,
                           level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap CI of (partial) Spearman's rho, resampling complete cases."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    Z = np.zeros((len(x), 0)) if z is None else np.asarray(z, dtype=np.float64).reshape(len(x), -1)
    ok = ~(np.isnan(x) | np.isnan(y) | np.isnan(Z).any(axis=1))
    x, y, Z = x[ok], y[ok], Z[ok]
    n = len(x)
    if n < Z.shape[1] + 4 or n_boot < 1 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan"), float("nan")
    r = np.empty(n_boot)
    for s, ii in _resamples(n, n_boot, seed):
        r[s:s + len(ii)] = _rank_corr_rows(x[ii], y[ii], Z[ii] if Z.shape[1] else None)
    r = r[np.isfinite(r)]
    if len(r) == 0:
        return float("nan"), float("nan")
    a = (1 - level) / 2
    lo, hi = np.quantile(r, [a, 1 - a])
    return float(lo), float(hi)


def _resamples(n: int, n_boot: int, seed: int, budget: int = 2_000_000):
    """Yield (start, index block) of bootstrap resamples, ``budget`` indices at a time, so that
    memory stays bounded for large corpora. The stream depends only on (n, n_boot, seed)."""
    rng = np.random.default_rng(seed)
    step = max(1, budget // max(n, 1))
    for s in range(0, n_boot, step):
        yield s, rng.integers(0, n, size=(min(step, n_boot - s), n))


def bh_qvalues(p) -> np.ndarray:
    """Benjamini-Hochberg q-values (``scipy.stats.false_discovery_control``); NaN stays NaN."""
    from scipy.stats import false_discovery_control

    p = np.asarray(p, dtype=np.float64)
    q = np.full(len(p), np.nan)
    ok = np.isfinite(p)
    if ok.any():
        q[ok] = false_discovery_control(p[ok], method="bh")
    return q


# --------------------------------------------------------------------------- models
def _metric_rows(y: np.ndarray, pred: np.ndarray, binary: bool) -> np.ndarray:
    """R^2 (or ROC AUC) of each row of ``pred`` against the matching row of ``y``; (B, n)."""
    if binary:
        from scipy.stats import rankdata

        pos = y > 0.5
        n1 = pos.sum(axis=1)
        n0 = y.shape[1] - n1
        rk = rankdata(pred, axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            auc = ((rk * pos).sum(axis=1) - n1 * (n1 + 1) / 2) / (n1 * n0)
        return np.where((n1 > 0) & (n0 > 0), auc, np.nan)
    sse = ((y - pred) ** 2).sum(axis=1)
    sst = ((y - y.mean(axis=1, keepdims=True)) ** 2).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(sst > 0, 1 - sse / sst, np.nan)


def make_model(binary: bool):
    """The estimator every predictor set uses (see the module docstring)."""
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression, RidgeCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    est = LogisticRegression(C=1.0, max_iter=2000) if binary else RidgeCV(alphas=ALPHAS)
    return make_pipeline(SimpleImputer(strategy="median", keep_empty_features=True),
                         StandardScaler(), est)


def oof_predictions(X: np.ndarray, y: np.ndarray, groups: np.ndarray, binary: bool,
                    n_splits: int, seed: int) -> np.ndarray:
    """Out-of-fold predictions (probability of class 1 for a binary outcome), shape (n,)."""
    from sklearn.model_selection import GroupKFold

    cv = GroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    pred = np.empty(len(y))
    for tr, te in cv.split(X, y, groups):
        m = make_model(binary)
        if binary and len(np.unique(y[tr])) < 2:
            pred[te] = float(np.mean(y[tr]))
            continue
        m.fit(X[tr], y[tr])
        pred[te] = m.predict_proba(X[te])[:, 1] if binary else m.predict(X[te])
    return pred


def compare_models(sets: dict[str, np.ndarray], y: np.ndarray, groups: np.ndarray,
                   binary: bool, n_splits: int = 5, n_repeats: int = 5, n_boot: int = 2000,
                   seed: int = 0, level: float = 0.95) -> dict:
    """Cross-validated held-out metric of each predictor set and of ``both - snapshot``.

    Parameters
    ----------
    sets : dict of str -> numpy.ndarray of float, shape (n, p_set)
        Predictor matrices by set name (p_set may be 0: the set is reported as unavailable).
    y : numpy.ndarray of float, shape (n,)
    groups : numpy.ndarray, shape (n,)
        Group labels; conversations of one group never straddle train and test.
    binary : bool
        Logistic regression and ROC AUC instead of ridge and R^2.

    Returns
    -------
    dict
        ``{set: {metric, mean, ci_low, ci_high, n_features, per_repeat}}`` plus
        ``delta_both_minus_snapshot`` ``{metric, mean, ci_low, ci_high}`` when both exist.
    """
    y = np.asarray(y, dtype=np.float64)
    n = len(y)
    n_groups = len(np.unique(groups))
    if n_groups < n_splits:
        raise InputError(f"{n_groups} groups (conversations) is too few for {n_splits}-fold "
                         "cross-validation; lower --folds or add data")
    metric = "auc" if binary else "r2"
    a = (1 - level) / 2
    preds_by_set: dict[str, np.ndarray] = {}
    for name, X in sets.items():
        if X.shape[1]:
            preds_by_set[name] = np.stack([oof_predictions(X, y, groups, binary, n_splits, seed + r)
                                           for r in range(n_repeats)])
    # the same resamples for every set: paired differences
    boot = {name: np.empty(n_boot) for name in preds_by_set}
    for s, ii in _resamples(n, n_boot, seed + 7919):
        yb = y[ii]
        for name, preds in preds_by_set.items():
            boot[name][s:s + len(ii)] = np.nanmean(
                np.stack([_metric_rows(yb, p[ii], binary) for p in preds]), axis=0)
    out: dict = {}
    for name, X in sets.items():
        if X.shape[1] == 0:
            out[name] = {"metric": metric, "mean": None, "ci_low": None, "ci_high": None,
                         "n_features": 0, "per_repeat": [],
                         "reason": "no features of this kind are available"}
            continue
        preds = preds_by_set[name]
        full = _metric_rows(np.broadcast_to(y, preds.shape), preds, binary)
        bs = boot[name]
        lo, hi = np.nanquantile(bs, [a, 1 - a])
        out[name] = {"metric": metric, "mean": float(np.mean(full)), "ci_low": float(lo),
                     "ci_high": float(hi), "n_features": int(X.shape[1]),
                     "per_repeat": [float(v) for v in full]}
    if "both" in boot and "snapshot" in boot:
        d = boot["both"] - boot["snapshot"]
        lo, hi = np.nanquantile(d, [a, 1 - a])
        out["delta_both_minus_snapshot"] = {
            "metric": metric, "mean": out["both"]["mean"] - out["snapshot"]["mean"],
            "ci_low": float(lo), "ci_high": float(hi)}
    else:
        out["delta_both_minus_snapshot"] = {"metric": metric, "mean": None, "ci_low": None,
                                            "ci_high": None,
                                            "reason": "needs both snapshot and trajectory features"}
    if "control_only" in boot:
        for name in ("snapshot", "trajectory"):
            if name in boot:
                d = boot[name] - boot["control_only"]
                lo, hi = np.nanquantile(d, [a, 1 - a])
                out[f"delta_{name}_minus_control_only"] = {
                    "metric": metric, "mean": out[name]["mean"] - out["control_only"]["mean"],
                    "ci_low": float(lo), "ci_high": float(hi)}
    return out


# --------------------------------------------------------------------------- features table
@dataclass
class Feature:
    """One candidate predictor: a per-conversation column and its kind."""

    name: str
    kind: str  # "snapshot" | "trajectory"
    values: np.ndarray
    source: str = ""


@dataclass
class StudyInput:
    """Aligned per-conversation arrays for :func:`analyse`."""

    conversation_id: list
    outcome_name: str
    y: np.ndarray
    control_names: list[str] = field(default_factory=list)
    Z: np.ndarray | None = None  # (n, k)
    features: list[Feature] = field(default_factory=list)
    groups: np.ndarray | None = None


def analyse(data: StudyInput, *, n_boot: int = 2000, n_splits: int = 5, n_repeats: int = 5,
            seed: int = 0, alpha: float = 0.05) -> dict:
    """Correlations and model comparison for a prepared :class:`StudyInput`.

    Conversations with a missing outcome or control are dropped first. Returns the
    ``features`` and ``models`` parts of ``results.json`` plus ``n_conversations`` and
    ``outcome_type``.
    """
    y = np.asarray(data.y, dtype=np.float64)
    n0 = len(y)
    Z = np.zeros((n0, 0)) if data.Z is None else np.asarray(data.Z, dtype=np.float64).reshape(n0, -1)
    keep = np.isfinite(y) & np.isfinite(Z).all(axis=1)
    y, Z = y[keep], Z[keep]
    n = len(y)
    if n < max(n_splits, 8):
        raise InputError(f"only {n} conversations have the outcome {data.outcome_name!r}"
                         + (f" and controls {data.control_names}" if data.control_names else "")
                         + "; the study needs at least 8 (and one per fold)")
    uniq = np.unique(y)
    if len(uniq) < 2:
        raise InputError(f"outcome {data.outcome_name!r} is constant ({uniq[0]!r}); nothing to predict")
    binary = len(uniq) == 2
    if binary:
        y = (y == uniq[1]).astype(np.float64)
    groups = (np.arange(n) if data.groups is None else np.asarray(data.groups)[keep])
    zc = Z if Z.shape[1] else None

    feats, skipped, used = [], [], []
    for f in data.features:
        x = np.asarray(f.values, dtype=np.float64)[keep]
        fin = x[np.isfinite(x)]
        if len(fin) < 4 or np.ptp(fin) == 0:
            skipped.append({"name": f.name, "kind": f.kind,
                            "reason": "constant" if len(fin) >= 4 else "fewer than 4 values"})
        else:
            used.append(f)
    if not used:
        raise InputError("every feature is constant or nearly empty over the conversations with "
                         f"an outcome: {', '.join(s['name'] for s in skipped)}")
    for i, f in enumerate(used):
        x = np.asarray(f.values, dtype=np.float64)[keep]
        rho, p, nf = partial_spearman(x, y, zc)
        lo, hi = bootstrap_rank_corr_ci(x, y, zc, n_boot=n_boot, seed=seed + 101 * (i + 1))
        feats.append({"name": f.name, "kind": f.kind, "source": f.source, "n": nf,
                      "rho": rho, "ci_low": lo, "ci_high": hi, "p": p,
                      "partial": bool(data.control_names)})
    q = bh_qvalues([f["p"] for f in feats])
    for f, qq in zip(feats, q):
        f["q"] = float(qq)
        f["significant"] = bool(np.isfinite(qq) and qq < alpha)

    def matrix(kinds):
        cols = [np.asarray(f.values, dtype=np.float64)[keep] for f in used if f.kind in kinds]
        X = np.column_stack(cols) if cols else np.zeros((n, 0))
        return X

    Xs, Xt = matrix({"snapshot"}), matrix({"trajectory"})
    sets = {
        "snapshot": np.column_stack([Z, Xs]) if Xs.shape[1] else Xs,
        "trajectory": np.column_stack([Z, Xt]) if Xt.shape[1] else Xt,
        "both": np.column_stack([Z, Xs, Xt]) if (Xs.shape[1] and Xt.shape[1]) else np.zeros((n, 0)),
    }
    if Z.shape[1]:
        sets["control_only"] = Z
    models = compare_models(sets, y, groups, binary, n_splits=n_splits, n_repeats=n_repeats,
                            n_boot=n_boot, seed=seed)
    for name, m in models.items():  # report features and controls apart
        if "n_features" in m:
            m["n_controls"] = int(Z.shape[1]) if m["n_features"] else 0
            m["n_features"] = max(m["n_features"] - m["n_controls"], 0)
    return {"n_conversations": int(n), "n_dropped_missing_outcome": int(n0 - n),
            "outcome_type": "binary" if binary else "continuous",
            "outcome_levels": [float(u) for u in uniq] if binary else None,
            "features": feats, "skipped_features": skipped, "models": models}
