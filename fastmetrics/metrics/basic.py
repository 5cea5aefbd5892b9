"""The ``basic`` family: per-turn token statistics (always computed).

Writes ``n_tokens`` and ``n_types`` per turn, computed by the C kernel ``fm_token_stats``
when the C extension is built, else by its Numba twin (see :mod:`fastmetrics.tokenstats`).
"""
from __future__ import annotations

from ..registry import Context, MetricFamily, MetricResult


def _compute(corpus, ctx: Context) -> MetricResult:
    from ..tokenstats import token_stats

    tok = corpus.tokens()
    n_tokens, n_types = token_stats(tok.token_offsets, tok.token_ids, len(tok.vocab),
                                    n_threads=ctx.n_threads, backend=ctx.backend)
    return MetricResult(turns={"n_tokens": n_tokens, "n_types": n_types})


FAMILY = MetricFamily(
    name="basic",
    description="tokens and distinct word types per turn",
    compute=_compute,
    needs=frozenset({"tokens"}),
    turn_columns=("n_tokens", "n_types"),
)
