"""The ``embedding_sync`` family declaration (computation: :mod:`fastmetrics.metrics.embedding_sync`)."""
from __future__ import annotations

from ...options import CACHE_DIR, ENCODER, MODEL_DIR, SURROGATE_SEED, SURROGATES, WINDOW
from ...registry import Context, MetricFamily, MetricResult
from ...surrogates import column_pattern
from . import LAG_COLUMNS

__all__ = ["FAMILY"]

_OPERATIONS = ("adjacent_cosine", "window_mean", "lagged_spearman", "segment_nanmean",
               "change_cosine_surrogates")


def _compute(corpus, ctx: Context) -> MetricResult:
    from ...embed.api import corpus_embeddings
    from . import embedding_synchrony

    window = ctx.options["window"]
    emb, meta = corpus_embeddings(corpus, ctx)
    backend = [ctx.backend_for(op) for op in _OPERATIONS[:4]][0]
    turns, convs = embedding_synchrony(emb, corpus.role, corpus.conv_offsets, window=window,
                                       n_threads=ctx.n_threads, backend=backend)
    metadata = dict(meta)
    n_sur = ctx.options[SURROGATES.name]
    if n_sur:
        from ...surrogates import SCHEME, conversation_seeds, summarise
        from . import change_surrogates

        seeds = conversation_seeds(corpus.conversation_id.to_pylist(), ctx.options[SURROGATE_SEED.name])
        _, sur = change_surrogates(emb, corpus.role, corpus.conv_offsets, seeds, n_sur,
                                   n_threads=ctx.n_threads,
                                   backend=ctx.backend_for("change_cosine_surrogates"))
        convs.update(summarise("emb_sim_change_mean", convs["emb_sim_change_mean"], sur))
        metadata["embedding_sync_surrogates"] = (f"N={n_sur}, seed={ctx.options[SURROGATE_SEED.name]}, "
                                                 f"{SCHEME}")
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
    options=(MODEL_DIR, CACHE_DIR, ENCODER, WINDOW, SURROGATES, SURROGATE_SEED),
    column_patterns=(column_pattern(("emb_sim_change_mean",)),),
    operations=_OPERATIONS,
    reference="ConversationAlign (Behav. Res. Methods 2026); METRICS.md section 4",
)
