"""Per-turn token statistics: the Numba backend (twin of kernels/tokens.c).

Algorithm: one pass per turn; distinct ids counted with a per-range "last seen" stamp array.
Parallel strategy: balanced ranges of turns -> prange over ranges -> private stamp arrays.
Memory: n_ranges * vocab_size * 8 bytes of scratch.
"""
import numba
import numpy as np


@numba.njit(parallel=True, cache=True, nogil=True)
def token_stats_kernel(token_offsets, token_ids, vocab_size, n_ranges, out_n_tokens, out_n_types):
    n_turns = token_offsets.shape[0] - 1
    status = np.zeros(n_ranges, dtype=np.int32)
    for r in numba.prange(n_ranges):
        lo = (n_turns * r) // n_ranges
        hi = (n_turns * (r + 1)) // n_ranges
        seen = np.zeros(max(vocab_size, 1), dtype=np.int64)
        for t in range(lo, hi):
            a = token_offsets[t]
            b = token_offsets[t + 1]
            types = 0
            for k in range(a, b):
                i = token_ids[k]
                if i < 0 or i >= vocab_size:
                    status[r] = 1
                    break
                if seen[i] != t + 1:
                    seen[i] = t + 1
                    types += 1
            out_n_tokens[t] = b - a
            out_n_types[t] = types
    return status.max() if n_ranges > 0 else 0


def token_stats(token_offsets, token_ids, vocab_size, out_n_tokens, out_n_types, n_threads):
    """Tokens and distinct ids per turn into the two outputs; returns a status (the backend
    interface, same signature as :func:`fastmetrics.metrics.basic._c.token_stats`)."""
    from ..._threads import threads

    n = len(token_offsets) - 1
    with threads(n_threads) as nt:
        return int(token_stats_kernel(token_offsets, token_ids, int(vocab_size), nt if n > 0 else 0,
                                      out_n_tokens, out_n_types))
