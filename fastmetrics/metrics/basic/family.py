"""The ``basic`` family declaration: ``n_tokens`` and ``n_types`` per turn (always computed)."""
from __future__ import annotations

from ...registry import Context, MetricFamily, MetricResult

__all__ = ["FAMILY"]


def _compute(corpus, ctx: Context) -> MetricResult:
    from . import token_stats

    tok = corpus.tokens()
    n_tokens, n_types = token_stats(tok.token_offsets, tok.token_ids, len(tok.vocab),
                                    n_threads=ctx.n_threads, backend=ctx.backend_for("token_stats"))
    return MetricResult(turns={"n_tokens": n_tokens, "n_types": n_types})


FAMILY = MetricFamily(
    name="basic",
    description="tokens and distinct word types per turn",
    compute=_compute,
    needs=frozenset({"tokens"}),
    turn_columns=("n_tokens", "n_types"),
    operations=("token_stats",),
)
