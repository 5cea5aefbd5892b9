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

import warnings
from dataclasses import dataclass, field

import numpy as np

from ..errors import InputError


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
def _kind(binary) -> str:
    """Outcome kind from a bool (binary or not) or a kind name."""
    if isinstance(binary, str):
        return binary
    return "binary" if binary else "continuous"


METRIC_OF = {"binary": "auc", "continuous": "r2", "ordinal": "spearman"}
#: The metric's value for an uninformative model (chance, or predicting the mean).
NULL_OF = {"binary": 0.5, "continuous": 0.0, "ordinal": 0.0}


def _metric_rows(y: np.ndarray, pred: np.ndarray, binary) -> np.ndarray:
    """Held-out metric of each row of ``pred`` against the matching row of ``y``; (B, n):
    ROC AUC (binary), Spearman's rho of prediction and outcome (ordinal: only the order of
    the levels is used), R^2 (continuous)."""
    kind = _kind(binary)
    if kind == "binary":
        from scipy.stats import rankdata

        pos = y > 0.5
        n1 = pos.sum(axis=1)
        n0 = y.shape[1] - n1
        rk = rankdata(pred, axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            auc = ((rk * pos).sum(axis=1) - n1 * (n1 + 1) / 2) / (n1 * n0)
        return np.where((n1 > 0) & (n0 > 0), auc, np.nan)
    if kind == "ordinal":
        from scipy.stats import rankdata

        return _pearson_rows(rankdata(pred, axis=1), rankdata(y, axis=1))
    sse = ((y - pred) ** 2).sum(axis=1)
    sst = ((y - y.mean(axis=1, keepdims=True)) ** 2).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(sst > 0, 1 - sse / sst, np.nan)


#: Penalty grid searched by the inner cross-validation (ridge alpha; logistic C = 1/alpha).
ALPHAS = tuple(float(a) for a in np.logspace(-3, 3, 7))
#: Folds of the inner (penalty-choosing) cross-validation.
INNER_SPLITS = 3


def make_model(binary: bool):
    """The pipeline every predictor set uses, before the penalty is chosen:
    median imputation -> standardisation -> ridge (continuous, ordinal) or L2 logistic
    regression (binary). The penalty is set by :func:`fit_nested`."""
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    est = LogisticRegression(C=1.0, max_iter=2000) if binary else Ridge(alpha=1.0)
    return Pipeline([("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
                     ("scale", StandardScaler()), ("model", est)])


def penalty_grid(binary: bool) -> dict:
    """The ``GridSearchCV`` grid of :func:`make_model`'s penalty."""
    return ({"model__C": [1.0 / a for a in ALPHAS]} if binary else {"model__alpha": list(ALPHAS)})


def fit_nested(X: np.ndarray, y: np.ndarray, groups: np.ndarray, binary: bool, seed: int):
    """Fit :func:`make_model` on a training fold with the penalty chosen by an inner grouped
    cross-validation of that fold only (``GroupKFold(INNER_SPLITS, shuffle=True,
    random_state=seed)``; score: ROC AUC for a binary outcome, else negative MSE; refit on
    the whole fold). The held-out fold is never seen, so the choice cannot leak."""
    from sklearn.model_selection import GridSearchCV, GroupKFold

    k = min(INNER_SPLITS, len(np.unique(groups)))
    if k < 2 or (binary and min(np.bincount(y.astype(np.int64), minlength=2)) < k):
        return make_model(binary).fit(X, y)  # too few for an inner split: default penalty
    gs = GridSearchCV(make_model(binary), penalty_grid(binary),
                      cv=GroupKFold(n_splits=k, shuffle=True, random_state=seed),
                      scoring="roc_auc" if binary else "neg_mean_squared_error", refit=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # an inner fold with one class scores NaN
        gs.fit(X, y, groups=groups)
    return gs


def oof_predictions(X: np.ndarray, y: np.ndarray, groups: np.ndarray, binary: bool,
                    n_splits: int, seed: int) -> np.ndarray:
    """Out-of-fold predictions (probability of class 1 for a binary outcome), shape (n,).

    Outer folds ``GroupKFold(n_splits, shuffle=True, random_state=seed)`` (the same for every
    predictor set of a repeat: they depend on the groups and the seed only); in each training
    fold the penalty is chosen by :func:`fit_nested` with inner seed ``seed * 1009 + fold``."""
    from sklearn.model_selection import GroupKFold

    cv = GroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    pred = np.empty(len(y))
    for fold, (tr, te) in enumerate(cv.split(X, y, groups)):
        if binary and len(np.unique(y[tr])) < 2:
            pred[te] = float(np.mean(y[tr]))
            continue
        m = fit_nested(X[tr], y[tr], groups[tr], binary, seed * 1009 + fold)
        pred[te] = m.predict_proba(X[te])[:, 1] if binary else m.predict(X[te])
    return pred


def compare_models(sets: dict[str, np.ndarray], y: np.ndarray, groups: np.ndarray,
                   binary, n_splits: int = 5, n_repeats: int = 5, n_boot: int = 2000,
                   seed: int = 0, level: float = 0.95, _keep_boot: bool = False) -> dict:
    """Cross-validated held-out metric of each predictor set and of ``both - snapshot``.

    Parameters
    ----------
    sets : dict of str -> numpy.ndarray of float, shape (n, p_set)
        Predictor matrices by set name (p_set may be 0: the set is reported as unavailable).
    y : numpy.ndarray of float, shape (n,)
    groups : numpy.ndarray, shape (n,)
        Group labels; conversations of one group never straddle train and test.
    binary : bool or {"continuous", "binary", "ordinal"}
        Logistic regression and ROC AUC instead of ridge and R^2; "ordinal": ridge on the
        level codes, scored by held-out Spearman's rho (see :func:`_metric_rows`).

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
    metric = METRIC_OF[_kind(binary)]
    a = (1 - level) / 2
    preds_by_set: dict[str, np.ndarray] = {}
    for name, X in sets.items():
        if X.shape[1]:
            preds_by_set[name] = np.stack([oof_predictions(X, y, groups, _kind(binary) == "binary",
                                                           n_splits, seed + r)
                                           for r in range(n_repeats)])
    # the same resamples for every set: paired differences
    boot = {name: np.empty(n_boot) for name in preds_by_set}
    rep = {name: np.empty((n_repeats, n_boot)) for name in preds_by_set}  # per repeat
    for s, ii in _resamples(n, n_boot, seed + 7919):
        yb = y[ii]
        for name, preds in preds_by_set.items():
            m = np.stack([_metric_rows(yb, p[ii], binary) for p in preds])
            rep[name][:, s:s + len(ii)] = m
            boot[name][s:s + len(ii)] = np.nanmean(m, axis=0)
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
    if _keep_boot:
        out["_boot"] = rep
    if "control_only" in boot:
        for name in ("snapshot", "trajectory"):
            if name in boot:
                d = boot[name] - boot["control_only"]
                lo, hi = np.nanquantile(d, [a, 1 - a])
                out[f"delta_{name}_minus_control_only"] = {
                    "metric": metric, "mean": out[name]["mean"] - out["control_only"]["mean"],
                    "ci_low": float(lo), "ci_high": float(hi)}
    return out


def compare_pair(X_base: np.ndarray, X_full: np.ndarray, y: np.ndarray, groups: np.ndarray,
                 binary, n_splits: int = 5, n_repeats: int = 5, n_boot: int = 2000,
                 seed: int = 0, level: float = 0.95) -> dict:
    """Held-out metric of a base and a full predictor set and the paired CI of full - base.

    Both sets are fitted on the same outer folds in every repeat (:func:`oof_predictions`).
    The CI of the difference is a paired percentile bootstrap over conversations: each
    resample of conversations scores both sets' out-of-fold predictions of one repeat (the
    same resample for both sets), and the differences of all repeats are pooled (n_repeats x
    n_boot values), so the CI reflects the sampling of conversations and the variation over
    fold assignments (a difference that one fold split shows and another does not widens
    it). The two-sided p-value is ``2 * min(P*(d <= 0), P*(d >= 0))`` over those pooled
    differences (at least ``1 / (n_boot + 1)``). The point estimate is the mean over
    repeats of the full-sample difference.

    Returns
    -------
    dict
        ``{metric, base: {mean, ci_low, ci_high, per_repeat}, full: {...}, delta: {mean, ci_low,
        ci_high, p, per_repeat}}``.
    """
    if X_base.shape[1] == 0:  # intercept only: a constant column (the training-fold mean)
        X_base = np.zeros((len(y), 1))
    res = compare_models({"base": X_base, "full": X_full}, y, groups, binary, n_splits=n_splits,
                         n_repeats=n_repeats, n_boot=n_boot, seed=seed, level=level,
                         _keep_boot=True)
    boot = res.pop("_boot")
    d = (boot["full"] - boot["base"]).ravel()
    d = d[np.isfinite(d)]
    a = (1 - level) / 2
    if len(d):
        lo, hi = np.quantile(d, [a, 1 - a])
        p = min(1.0, max(2 * min(np.mean(d <= 0), np.mean(d >= 0)), 1.0 / (n_boot + 1)))
    else:
        lo = hi = p = float("nan")
    per = [f - b for f, b in zip(res["full"]["per_repeat"], res["base"]["per_repeat"])]
    return {"metric": res["base"]["metric"], "base": res["base"], "full": res["full"],
            "delta": {"mean": res["full"]["mean"] - res["base"]["mean"], "ci_low": float(lo),
                      "ci_high": float(hi), "p": float(p), "per_repeat": per}}


@dataclass
class Signal:
    """A supporter signal: its per-conversation mean and trajectory features."""

    name: str
    mean: np.ndarray
    trajectory: dict  # feature name -> (n,) array
    source: str = ""
    group: str = ""   # "empathy", "human", "behaviour", "valence", "alliance", "embedding_sync"
    mean_name: str = ""  # the mean's feature name (default <name>_mean)


def signal_comparison(signals: list, y: np.ndarray, Z: np.ndarray, groups: np.ndarray, binary,
                      *, n_splits: int = 5, n_repeats: int = 5, n_boot: int = 2000,
                      seed: int = 0, alpha: float = 0.05, min_conversations: int = 8) -> list:
    """For each signal S: control + mean(S) against control + mean(S) + trajectory(S).

    Conversations where S has no value (its mean is NaN) are left out of that signal's
    comparison (counted); missing trajectory features (too few turns for a slope) are
    imputed inside the pipeline. Benjamini-Hochberg over the signals' p-values.
    """
    out = []
    for i, s in enumerate(signals):
        m = np.asarray(s.mean, dtype=np.float64)
        ok = np.isfinite(m)
        tr = {k: np.asarray(v, dtype=np.float64) for k, v in s.trajectory.items()}
        tr = {k: v for k, v in tr.items() if np.isfinite(v[ok]).sum() >= 4 and np.ptp(v[ok][np.isfinite(v[ok])]) > 0}
        row = {"signal": s.name, "group": s.group, "source": s.source, "n": int(ok.sum()),
               "n_dropped_no_value": int((~ok).sum()),
               "mean_feature": s.mean_name or f"{s.name}_mean",
               "trajectory_features": sorted(tr)}
        n_grp = len(np.unique(np.asarray(groups)[ok]))
        reason = None
        if ok.sum() < max(min_conversations, n_splits) or n_grp < n_splits:
            reason = f"only {int(ok.sum())} conversations have this signal"
        elif np.ptp(m[ok]) == 0:
            reason = "its mean is constant"
        elif not tr:
            reason = "no trajectory feature varies"
        elif _kind(binary) == "binary" and len(np.unique(y[ok])) < 2:
            reason = "one outcome class only among these conversations"
        if reason:
            row.update({"reason": reason, "p": None, "q": None, "significant": False})
            out.append(row)
            continue
        Xb = np.column_stack([Z[ok], m[ok]])
        Xf = np.column_stack([Xb] + [tr[k][ok] for k in sorted(tr)])
        res = compare_pair(Xb, Xf, y[ok], np.asarray(groups)[ok], binary, n_splits=n_splits,
                           n_repeats=n_repeats, n_boot=n_boot, seed=seed + 31 * (i + 1))
        row.update({"metric": res["metric"], "base": res["base"], "full": res["full"],
                    "delta": res["delta"], "p": res["delta"]["p"]})
        out.append(row)
    q = bh_qvalues([r["p"] if r.get("p") is not None else np.nan for r in out])
    for r, qq in zip(out, q):
        if r.get("p") is not None:
            r["q"] = float(qq)
            # "the trajectory adds": q < alpha, a positive difference, and a full model better
            # than chance / the mean (not merely less harmful than an uninformative base)
            r["significant"] = bool(np.isfinite(qq) and qq < alpha and r["delta"]["mean"] > 0
                                    and r["full"]["mean"] > NULL_OF[_kind(binary)])
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
    """Aligned per-conversation arrays for :func:`analyse`.

    ``features`` are the columns of the feature table (kinds ``snapshot``, ``trajectory``,
    ``relational``, ``client_state``); ``signals`` the supporter signals of the per-signal
    comparison; ``primary`` the names of the pre-declared primary features; ``outcome_type``
    ``auto`` (two distinct values: binary, else continuous), ``binary``, ``continuous`` or
    ``ordinal`` (y holds the level codes 0..k-1).
    """

    conversation_id: list
    outcome_name: str
    y: np.ndarray
    control_names: list[str] = field(default_factory=list)
    Z: np.ndarray | None = None  # (n, k)
    features: list[Feature] = field(default_factory=list)
    groups: np.ndarray | None = None
    signals: list = field(default_factory=list)
    primary: list[str] = field(default_factory=list)
    outcome_type: str = "auto"


def _correlations(used, keep, y, zc, n_boot, seed, alpha, partial, offset=0):
    out = []
    for i, f in enumerate(used):
        x = np.asarray(f.values, dtype=np.float64)[keep]
        rho, p, nf = partial_spearman(x, y, zc)
        lo, hi = bootstrap_rank_corr_ci(x, y, zc, n_boot=n_boot, seed=seed + 101 * (i + 1 + offset))
        out.append({"name": f.name, "kind": f.kind, "source": f.source, "n": nf,
                    "rho": rho, "ci_low": lo, "ci_high": hi, "p": p, "partial": partial})
    q = bh_qvalues([f["p"] for f in out])
    for f, qq in zip(out, q):
        f["q"] = float(qq)
        f["significant"] = bool(np.isfinite(qq) and qq < alpha)
    return out


def analyse(data: StudyInput, *, n_boot: int = 2000, n_splits: int = 5, n_repeats: int = 5,
            seed: int = 0, alpha: float = 0.05) -> dict:
    """Correlations, the per-signal comparison and the model comparisons for a
    :class:`StudyInput`.

    Conversations with a missing outcome or control are dropped first (counted). Returns the
    ``features`` (exploratory, BH over them), ``primary`` (BH over the primary features
    only, and control + primary against control), ``signal_comparison``, ``groups``
    (relational with and without the snapshot signals; client state) and ``models`` (pooled
    snapshot / trajectory / both) parts of ``results.json``.
    """
    y = np.asarray(data.y, dtype=np.float64)
    n0 = len(y)
    Z = np.zeros((n0, 0)) if data.Z is None else np.asarray(data.Z, dtype=np.float64).reshape(n0, -1)
    miss_y = ~np.isfinite(y)
    miss_z = np.isfinite(y) & ~np.isfinite(Z).all(axis=1)
    keep = ~miss_y & ~miss_z
    y, Z = y[keep], Z[keep]
    n = len(y)
    if n < max(n_splits, 8):
        raise InputError(f"only {n} conversations have the outcome {data.outcome_name!r}"
                         + (f" and controls {data.control_names}" if data.control_names else "")
                         + "; the study needs at least 8 (and one per fold)")
    uniq = np.unique(y)
    if len(uniq) < 2:
        raise InputError(f"outcome {data.outcome_name!r} is constant ({uniq[0]!r}); nothing to predict")
    kind = data.outcome_type
    if kind == "auto":
        kind = "binary" if len(uniq) == 2 else "continuous"
    if kind == "binary":
        if len(uniq) != 2:
            raise InputError(f"outcome {data.outcome_name!r} has {len(uniq)} distinct values; a "
                             "binary outcome has two")
        y = (y == uniq[1]).astype(np.float64)
    groups = (np.arange(n) if data.groups is None else np.asarray(data.groups)[keep])
    zc = Z if Z.shape[1] else None
    cv = dict(n_splits=n_splits, n_repeats=n_repeats, n_boot=n_boot)

    skipped, used = [], []
    for f in data.features:
        x = np.asarray(f.values, dtype=np.float64)[keep]
        fin = x[np.isfinite(x)]
        if len(fin) < 4 or np.ptp(fin) == 0:
            skipped.append({"name": f.name, "kind": f.kind,
                            "reason": "constant" if len(fin) >= 4 else "fewer than 4 values"})
        else:
            used.append(f)
    if not used and not data.signals:
        raise InputError("every feature is constant or nearly empty over the conversations with "
                         f"an outcome: {', '.join(s['name'] for s in skipped)}")
    partial = bool(data.control_names)
    prim = set(data.primary)
    feats = _correlations([f for f in used if f.name not in prim], keep, y, zc, n_boot, seed,
                          alpha, partial)
    prim_used = [f for f in used if f.name in prim]
    primary: dict = {"features": _correlations(prim_used, keep, y, zc, n_boot, seed, alpha,
                                               partial, offset=len(used))} if prim else {}
    if prim_used:
        Xp = np.column_stack([np.asarray(f.values, dtype=np.float64)[keep] for f in prim_used])
        primary["model"] = compare_pair(Z, np.column_stack([Z, Xp]), y, groups, kind,
                                        seed=seed + 3, **cv) if Z.shape[1] else \
            compare_models({"primary": Xp}, y, groups, kind, seed=seed + 3, **cv)["primary"]
        primary["names"] = [f.name for f in prim_used]

    def matrix(kinds):
        cols = [np.asarray(f.values, dtype=np.float64)[keep] for f in used if f.kind in kinds]
        return np.column_stack(cols) if cols else np.zeros((n, 0))

    Xs, Xt = matrix({"snapshot"}), matrix({"trajectory"})
    sets = {
        "snapshot": np.column_stack([Z, Xs]) if Xs.shape[1] else Xs,
        "trajectory": np.column_stack([Z, Xt]) if Xt.shape[1] else Xt,
        "both": np.column_stack([Z, Xs, Xt]) if (Xs.shape[1] and Xt.shape[1]) else np.zeros((n, 0)),
    }
    if Z.shape[1]:
        sets["control_only"] = Z
    models = compare_models(sets, y, groups, kind, seed=seed, **cv) if (Xs.shape[1] or Xt.shape[1]) \
        else {}
    for m in models.values():  # report features and controls apart
        if "n_features" in m:
            m["n_controls"] = int(Z.shape[1]) if m["n_features"] else 0
            m["n_features"] = max(m["n_features"] - m["n_controls"], 0)

    # per-signal comparison: the same signal on both sides
    sigs = [Signal(s.name, np.asarray(s.mean, dtype=np.float64)[keep],
                   {k: np.asarray(v, dtype=np.float64)[keep] for k, v in s.trajectory.items()},
                   s.source, s.group, s.mean_name) for s in data.signals]
    per_signal = signal_comparison(sigs, y, Z, groups, kind, seed=seed + 11, alpha=alpha, **cv)

    # groups: relational (with and without the snapshot signals), client state
    grp: dict = {}
    Xr, Xc = matrix({"relational"}), matrix({"client_state"})
    snap_means = [s.mean for s in sigs if np.isfinite(s.mean).sum() >= 4]
    Xm = np.column_stack(snap_means) if snap_means else np.zeros((n, 0))
    names = {k: [f.name for f in used if f.kind == k] for k in ("relational", "client_state")}
    if Xr.shape[1]:
        grp["relational"] = {"features": names["relational"],
                             "vs_control": compare_pair(Z, np.column_stack([Z, Xr]), y, groups,
                                                        kind, seed=seed + 5, **cv)}
        if Xm.shape[1]:
            grp["relational"]["beyond_snapshot"] = compare_pair(
                np.column_stack([Z, Xm]), np.column_stack([Z, Xm, Xr]), y, groups, kind,
                seed=seed + 6, **cv)
            grp["relational"]["snapshot_features"] = [s.mean_name or f"{s.name}_mean" for s in sigs
                                                      if np.isfinite(s.mean).sum() >= 4]
    if Xc.shape[1]:
        grp["client_state"] = {"features": names["client_state"],
                               "vs_control": compare_pair(Z, np.column_stack([Z, Xc]), y, groups,
                                                          kind, seed=seed + 7, **cv)}
    return {"n_conversations": int(n), "n_dropped_missing_outcome": int(miss_y.sum()),
            "n_dropped_missing_control": int(miss_z.sum()),
            "outcome_type": kind,
            "outcome_levels": [float(u) for u in uniq] if kind in ("binary", "ordinal") else None,
            "features": feats, "skipped_features": skipped, "primary": primary,
            "signal_comparison": per_signal, "groups": grp, "models": models}
