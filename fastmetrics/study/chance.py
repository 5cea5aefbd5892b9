"""Synchrony above chance, per measure, from a conversations table scored with ``--surrogates N``.

A conversation's measure ``m`` is above chance at level ``alpha`` when its one-sided permutation
p-value ``m_p`` (:mod:`fastmetrics.surrogates`) is at most ``alpha``; under the null of no
synchrony this happens at most at rate ``alpha``, so a share near ``alpha`` says the measure
does not tell this corpus's conversations from their own shuffles. ``direction`` says which way
the measure's z and excess point for more synchrony: "lower" for nCLiD (a distance), where
``m_p`` is already the lower tail (:func:`fastmetrics.surrogates.summarise`).
"""
from __future__ import annotations

import numpy as np

from ..surrogates import direction

__all__ = ["chance_summary"]


def _column(table, name) -> np.ndarray:
    if hasattr(table, "column_names"):  # pyarrow
        return np.asarray(table.column(name).to_numpy(zero_copy_only=False), dtype=float)
    return np.asarray(table[name], dtype=float)  # pandas / polars / dict


def _names(table) -> list[str]:
    return (list(table.column_names) if hasattr(table, "column_names")
            else list(table.columns if hasattr(table, "columns") else table))


def chance_summary(conversations_table, alpha: float = 0.05) -> dict:
    """Per synchrony measure: conversations with a p-value (``n``), the share above chance,
    the mean and median z, and the mean observed minus surrogate mean.

    Parameters
    ----------
    conversations_table : pyarrow.Table, pandas.DataFrame or dict of arrays
        ``conversations.parquet`` of a run with ``--surrogates N``.
    alpha : float
        Level of "above chance" (default 0.05).

    Returns
    -------
    dict : measure -> {"n", "share_above_chance", "mean_z", "median_z", "mean_excess", "alpha",
    "direction"}; empty when the table has no surrogate columns. ``direction`` is "higher" or
    "lower" (nCLiD): the sign of z and of the excess that means more synchrony.

    Examples
    --------
    >>> chance_summary({"rlsm": [0.5, 0.6], "rlsm_surrogate_mean": [0.4, 0.6],
    ...                 "rlsm_z": [2.0, 0.0], "rlsm_p": [0.01, 0.5]})["rlsm"]["share_above_chance"]
    0.5
    """
    names = _names(conversations_table)
    out: dict = {}
    for col in names:
        if not col.endswith("_p"):
            continue
        m = col[:-2]
        if f"{m}_z" not in names or f"{m}_surrogate_mean" not in names:
            continue
        p, z = _column(conversations_table, col), _column(conversations_table, f"{m}_z")
        ok = np.isfinite(p)
        excess = (_column(conversations_table, m) - _column(conversations_table, f"{m}_surrogate_mean")
                  if m in names else np.full(len(p), np.nan))
        zf, ef = z[ok & np.isfinite(z)], excess[ok & np.isfinite(excess)]
        out[m] = {"n": int(ok.sum()),
                  "share_above_chance": float(np.mean(p[ok] <= alpha)) if ok.any() else float("nan"),
                  "mean_z": float(zf.mean()) if len(zf) else float("nan"),
                  "median_z": float(np.median(zf)) if len(zf) else float("nan"),
                  "mean_excess": float(ef.mean()) if len(ef) else float("nan"),
                  "alpha": float(alpha), "direction": direction(m)}
    return out
