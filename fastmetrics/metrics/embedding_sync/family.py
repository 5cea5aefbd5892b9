"""The ``embedding_sync`` family declaration (computation: :mod:`fastmetrics.metrics.embedding_sync`)."""
from __future__ import annotations

from ...options import CACHE_DIR, ENCODER, MODEL_DIR, WINDOW
from ...registry import Context, MetricFamily, MetricResult
from . import LAG_COLUMNS

__all__ = ["FAMILY"]

_OPERATIONS = ("adjacent_cosine", "window_mean", "lagged_spearman", "segment_nanmean")


def _compute(corpus, ctx: Context) -> MetricResult:
    from ...embed.api import corpus_embeddings
    from . import embedding_synchrony

    window = ctx.options["window"]
    emb, meta = corpus_embeddings(corpus, ctx)
    backend = [ctx.backend_for(op) for op in _OPERATIONS][0]
    turns, convs = embedding_synchrony(emb, corpus.role, corpus.conv_offsets, window=window,
                                       n_threads=ctx.n_threads, backend=backend)
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
    options=(MODEL_DIR, CACHE_DIR, ENCODER, WINDOW),
    operations=_OPERATIONS,
    reference="ConversationAlign (Behav. Res. Methods 2026); METRICS.md section 4",
)
