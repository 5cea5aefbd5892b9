"""The ``embedding_sync`` family: synchrony of turn embeddings (METRICS.md section 4).

Turn columns: ``emb_sim_prev`` (cosine of a turn's embedding to the preceding turn's, NaN for
a conversation's first turn) and ``emb_sim_window`` (mean of the finite ``emb_sim_prev`` over
the last W turns of the conversation, the turn included; W = ``--window``).
Conversation columns: ``emb_sim_prev_mean``, ``emb_sim_change_mean`` (mean of ``emb_sim_prev``
over the turns where the speaker role changes: the cosine at each speaker change) and
``emb_sync_lag_m2`` .. ``emb_sync_lag_p2``:
the Spearman correlation, at lags -2..+2, of the client's and the therapist's per-turn
``emb_sim_prev`` series (each speaker's turns in order; lag L pairs the client's k-th turn with
the therapist's (k+L)-th; at least 3 finite pairs, else NaN), after ConversationAlign
(Behav. Res. Methods 2026).
"""
from __future__ import annotations

import numpy as np

from ... import backends
from ..._threads import resolve_threads
from ...errors import InputError
from ...options import WINDOW

__all__ = ["LAGS", "LAG_COLUMNS", "embedding_synchrony", "change_surrogates"]

LAGS = (-2, -1, 0, 1, 2)
LAG_COLUMNS = tuple(f"emb_sync_lag_{'m' if l < 0 else 'p' if l > 0 else ''}{abs(l)}" for l in LAGS)


def embedding_synchrony(embeddings, role, conv_offsets, *, window: int = 8,
                        n_threads: int | None = None, backend: str = "auto") -> tuple[dict, dict]:
    """Embedding synchrony columns from precomputed turn embeddings.

    Parameters
    ----------
    embeddings : numpy.ndarray of float32 or float64, shape (n_turns, d)
    role : numpy.ndarray of int8, shape (n_turns,)
        0 client, 1 therapist, 2 other.
    conv_offsets : numpy.ndarray of int64, shape (n_conversations + 1,)
    window : int
        W, the number of turns of the windowed mean.
    n_threads : int or None
    backend : {"auto", "numba", "c", "cuda"}
        See :mod:`fastmetrics.backends`.

    Returns
    -------
    turns : dict of str -> numpy.ndarray of float64, shape (n_turns,)
        ``emb_sim_prev``, ``emb_sim_window``.
    conversations : dict of str -> numpy.ndarray of float64, shape (n_conversations,)
        ``emb_sim_prev_mean``, ``emb_sim_change_mean`` and the five lag columns.

    Examples
    --------
    >>> import numpy as np
    >>> e = np.eye(3, dtype=np.float32)[[0, 0, 1]]
    >>> t, c = embedding_synchrony(e, np.array([0, 1, 0], np.int8), np.array([0, 3]))
    >>> t["emb_sim_prev"].tolist()
    [nan, 1.0, 0.0]
    """
    emb = np.asarray(embeddings)
    if emb.ndim != 2 or emb.dtype not in (np.float32, np.float64):
        raise InputError(f"embeddings must be float32/float64 of shape (n_turns, d), got {emb.dtype} {emb.shape}")
    emb = np.ascontiguousarray(emb)
    role = np.ascontiguousarray(role, dtype=np.int8)
    off = np.ascontiguousarray(conv_offsets, dtype=np.int64)
    if off.ndim != 1 or len(off) < 1 or off[0] != 0 or off[-1] != emb.shape[0] or np.any(np.diff(off) < 0):
        raise InputError("conv_offsets must be non-decreasing, start at 0 and end at n_turns")
    if role.shape != (emb.shape[0],):
        raise InputError(f"role must have shape ({emb.shape[0]},), got {role.shape}")
    window = WINDOW.validate(window)
    n, n_conv = emb.shape[0], len(off) - 1
    sim = np.empty(n)
    win = np.empty(n)
    lagged = np.empty((n_conv, len(LAGS)))
    nt = resolve_threads(n_threads)
    backends.resolve(backend, "adjacent_cosine")(emb, off, sim, nt)
    backends.resolve(backend, "window_mean")(sim, off, window, win, nt)
    backends.resolve(backend, "lagged_spearman")(sim, role, off, np.int8(0), np.int8(1),
                                                 np.array(LAGS, dtype=np.int64), lagged, nt)
    change = np.zeros(n, dtype=bool)
    change[1:] = role[1:] != role[:-1]
    mean_all = np.empty(n_conv)
    mean_change = np.empty(n_conv)
    nanmean = backends.resolve(backend, "segment_nanmean")
    nanmean(sim, off, mean_all, nt)
    nanmean(np.where(change, sim, np.nan), off, mean_change, nt)
    conv = {"emb_sim_prev_mean": mean_all, "emb_sim_change_mean": mean_change}
    for j, name in enumerate(LAG_COLUMNS):
        conv[name] = lagged[:, j]
    return {"emb_sim_prev": sim, "emb_sim_window": win}, conv


def change_surrogates(embeddings, role, conv_offsets, conv_seeds, n_surrogates: int, *,
                      n_threads: int | None = None, backend: str = "auto"):
    """Observed (n_conversations,) and surrogate (n_conversations, N) ``emb_sim_change_mean``:
    the mean cosine at speaker changes with the therapist's turns shuffled among the therapist's
    positions (:mod:`fastmetrics.surrogates`), all surrogates in one kernel call."""
    emb = np.ascontiguousarray(embeddings)
    role = np.ascontiguousarray(role, dtype=np.int8)
    off = np.ascontiguousarray(conv_offsets, dtype=np.int64)
    seeds = np.ascontiguousarray(conv_seeds, dtype=np.uint64)
    if emb.ndim != 2 or role.shape != (emb.shape[0],) or seeds.shape != (len(off) - 1,):
        raise InputError("embeddings, role and conv_seeds must match the turns and conversations")
    obs = np.empty(len(off) - 1)
    sur = np.empty((len(off) - 1, int(n_surrogates)))
    backends.resolve(backend, "change_cosine_surrogates")(emb, role, off, seeds, int(n_surrogates), obs,
                                                          sur, resolve_threads(n_threads))
    return obs, sur
