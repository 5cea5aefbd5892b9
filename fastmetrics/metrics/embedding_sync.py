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

from ..embed.options import CACHE_DIR, MODEL_DIR, WINDOW, positive_int
from ..errors import InputError
from ..registry import Context, MetricFamily, MetricResult

LAGS = (-2, -1, 0, 1, 2)
LAG_COLUMNS = tuple(f"emb_sync_lag_{'m' if l < 0 else 'p' if l > 0 else ''}{abs(l)}" for l in LAGS)


def embedding_synchrony(embeddings, role, conv_offsets, *, window: int = 8,
                        n_threads: int | None = None) -> tuple[dict, dict]:
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
    from .._numba.sim import (adjacent_cosine_kernel, lagged_spearman_kernel, segment_nanmean_kernel,
                              window_mean_kernel)
    from .._threads import threads

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
    window = positive_int(window)
    n, n_conv = emb.shape[0], len(off) - 1
    sim = np.empty(n)
    win = np.empty(n)
    lagged = np.empty((n_conv, len(LAGS)))
    with threads(n_threads):
        adjacent_cosine_kernel(emb, off, sim)
        window_mean_kernel(sim, off, window, win)
        lagged_spearman_kernel(sim, role, off, np.int8(0), np.int8(1), np.array(LAGS, dtype=np.int64), lagged)
    change = np.zeros(n, dtype=bool)
    change[1:] = role[1:] != role[:-1]
    mean_all = np.empty(n_conv)
    mean_change = np.empty(n_conv)
    with threads(n_threads):
        segment_nanmean_kernel(sim, off, mean_all)
        segment_nanmean_kernel(np.where(change, sim, np.nan), off, mean_change)
    conv = {"emb_sim_prev_mean": mean_all, "emb_sim_change_mean": mean_change}
    for j, name in enumerate(LAG_COLUMNS):
        conv[name] = lagged[:, j]
    return {"emb_sim_prev": sim, "emb_sim_window": win}, conv


def _compute(corpus, ctx: Context) -> MetricResult:
    from ..embed.api import corpus_embeddings

    window = positive_int(ctx.options.get("window", 8) or 8)
    emb, meta = corpus_embeddings(corpus, ctx)
    turns, convs = embedding_synchrony(emb, corpus.role, corpus.conv_offsets, window=window,
                                       n_threads=ctx.n_threads)
    metadata = dict(meta)
    metadata["embedding_sync_window"] = str(window)
    metadata["embedding_sync_lags"] = "client k-th turn vs therapist (k+lag)-th turn, Spearman"
    return MetricResult(turns=turns, conversations=convs, metadata=metadata)


FAMILY = MetricFamily(
    name="embedding_sync",
    description="cosine of adjacent turn embeddings, windowed mean, lagged speaker correlation",
    compute=_compute,
    needs=frozenset({"embeddings"}),
    turn_columns=("emb_sim_prev", "emb_sim_window"),
    conversation_columns=("emb_sim_prev_mean", "emb_sim_change_mean", *LAG_COLUMNS),
    options=(MODEL_DIR, CACHE_DIR, WINDOW),
    reference="ConversationAlign (Behav. Res. Methods 2026); METRICS.md section 4",
)
