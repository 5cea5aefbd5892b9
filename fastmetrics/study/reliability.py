"""Split-half reliability of per-turn measures across conversations.

For a per-turn measure x (``lsm_prev``, ``rlsm_turn``, ``emb_sim_prev``, ``valence``,
``empathy_*`` ...), each conversation's score is the mean of its finite values. The halves are
the **odd and even turns** of the conversation (turn positions 1, 3, 5 ... against 0, 2, 4 ...;
with ``role`` given, the positions among that role's turns): an interleaved split, because a
first-versus-second-half split confounds the measure's reliability with its trend across the
conversation. r is the Pearson correlation, across conversations with a finite value in both
halves, of the two half means; the Spearman-Brown corrected reliability of the full-length
score is 2r / (1 + r).

Conversation-level measures computed from pairs (rLSM, coordination, nCLiD) are not means of a
turn column and would need re-scoring on each half; :func:`split_half` covers the per-turn
columns (``lsm_prev`` is LSM per turn; ``rlsm_turn`` rLSM per speaker change).
"""
from __future__ import annotations

import numpy as np

__all__ = ["split_half", "spearman_brown"]

_SKIP = {"turn", "n_tokens", "n_types"}


def spearman_brown(r: float, factor: float = 2.0) -> float:
    """Reliability of a test ``factor`` times as long: factor * r / (1 + (factor - 1) * r)."""
    return float(factor * r / (1.0 + (factor - 1.0) * r)) if np.isfinite(r) else float("nan")


def _half_means(cid, parity, x):
    keys, inv = np.unique(cid, return_inverse=True)
    out = np.full((len(keys), 2), np.nan)
    ok = np.isfinite(x)
    for h in (0, 1):
        sel = ok & (parity == h)
        s = np.bincount(inv[sel], weights=x[sel], minlength=len(keys))
        n = np.bincount(inv[sel], minlength=len(keys))
        with np.errstate(invalid="ignore", divide="ignore"):
            out[:, h] = np.where(n > 0, s / np.maximum(n, 1), np.nan)
    return out


def split_half(turns_table, columns=None, *, role: str | None = None, min_conversations: int = 3) -> dict:
    """Odd/even split-half reliability (Spearman-Brown corrected) of per-turn measures.

    Parameters
    ----------
    turns_table : pyarrow.Table or pandas.DataFrame
        ``turns.parquet``: ``conversation_id``, ``turn``, ``role`` and the measure columns.
    columns : list of str, optional
        Measures (default: every floating-point column except structural ones).
    role : {"client", "therapist"}, optional
        Use only that role's turns, split by their order among that role's turns.
    min_conversations : int
        Fewer conversations with both halves gives NaN.

    Returns
    -------
    dict : column -> {"n": conversations used, "r_half": r, "reliability": 2r / (1 + r)}
    """
    import pyarrow as pa

    t = turns_table if isinstance(turns_table, pa.Table) else pa.Table.from_pandas(turns_table, preserve_index=False)
    if columns is None:
        columns = [f.name for f in t.schema if pa.types.is_floating(f.type) and f.name not in _SKIP]
    cid = np.asarray(t.column("conversation_id").to_pylist(), dtype=object).astype(str)
    turn = np.asarray(t.column("turn").to_numpy(zero_copy_only=False), dtype=np.int64)
    keep = np.ones(len(cid), dtype=bool)
    if role is not None:
        keep = np.asarray(t.column("role").to_pylist(), dtype=object) == role
    order = np.lexsort((turn, cid))
    order = order[keep[order]]
    c_sorted = cid[order]
    # position among the kept turns of the conversation
    start = np.r_[True, c_sorted[1:] != c_sorted[:-1]]
    first = np.maximum.accumulate(np.where(start, np.arange(len(order)), 0))
    parity = (np.arange(len(order)) - first) % 2
    out = {}
    for col in columns:
        x = np.asarray(t.column(col).to_numpy(zero_copy_only=False), dtype=float)[order]
        h = _half_means(c_sorted, parity, x)
        both = np.isfinite(h).all(axis=1)
        n = int(both.sum())
        if n < min_conversations or np.std(h[both, 0]) == 0 or np.std(h[both, 1]) == 0:
            r = float("nan")
        else:
            r = float(np.corrcoef(h[both, 0], h[both, 1])[0, 1])
        out[col] = {"n": n, "r_half": r, "reliability": spearman_brown(r)}
    return out
