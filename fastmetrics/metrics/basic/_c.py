"""C backend of ``token_stats``: a thin binding of kernels/tokens.c (same signature as
:func:`fastmetrics.metrics.basic._numba.token_stats`)."""
from __future__ import annotations

from ... import _c

__all__ = ["token_stats"]


def token_stats(token_offsets, token_ids, vocab_size, out_n_tokens, out_n_types, n_threads):
    """Tokens and distinct ids per turn into the two outputs; returns a status."""
    _, lib = _c.require()
    p = _c.ptr
    return int(lib.fm_token_stats(len(token_offsets) - 1, p(token_offsets, "int64_t *"),
                                  p(token_ids, "int32_t *"), int(vocab_size),
                                  p(out_n_tokens, "int32_t *"), p(out_n_types, "int32_t *"),
                                  n_threads))
