"""Reference for the study's nested cross-validation, written with scikit-learn alone.

Outer ``GroupKFold(n_splits, shuffle=True, random_state=seed)``; in each training fold a
``GridSearchCV`` over the penalty (ridge alpha, or logistic C = 1/alpha, alpha in
logspace(-3, 3, 7)) with inner ``GroupKFold(3, shuffle=True, random_state=seed * 1009 + fold)``
on that fold's groups, scored by negative MSE (ridge) or ROC AUC (logistic), refitted on the
fold; pipeline median imputation -> standardisation -> estimator.
"""
from __future__ import annotations

import numpy as np


def nested_oof_reference(X, y, groups, seed: int, binary: bool, n_splits: int = 5) -> np.ndarray:
    """Out-of-fold predictions of the nested penalised model (probabilities when binary)."""
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.model_selection import GridSearchCV, GroupKFold
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    groups = np.asarray(groups)
    outer = GroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    pred = np.empty(len(y))
    for fold, (tr, te) in enumerate(outer.split(X, y, groups)):
        est = LogisticRegression(max_iter=2000) if binary else Ridge()
        pipe = Pipeline([("i", SimpleImputer(strategy="median", keep_empty_features=True)),
                         ("s", StandardScaler()), ("m", est)])
        grid = ({"m__C": list(1 / np.logspace(-3, 3, 7))} if binary
                else {"m__alpha": list(np.logspace(-3, 3, 7))})
        gs = GridSearchCV(pipe, grid, scoring="roc_auc" if binary else "neg_mean_squared_error",
                          cv=GroupKFold(3, shuffle=True, random_state=seed * 1009 + fold))
        gs.fit(X[tr], y[tr], groups=groups[tr])
        pred[te] = gs.predict_proba(X[te])[:, 1] if binary else gs.predict(X[te])
    return pred
