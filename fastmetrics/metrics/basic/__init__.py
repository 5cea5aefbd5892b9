"""The ``basic`` family: per-turn token statistics (number of tokens and of distinct types).

The C kernel (``fm_token_stats`` in kernels/tokens.c) and its Numba twin compute the same
values; the backend is chosen by :func:`fastmetrics.backends.resolve` (``auto``: C when the
extension is built).
"""
from __future__ import annotations

import numpy as np

from ... import backends
from ..._status import check_status
from ..._threads import resolve_threads
from ...errors import InputError

__all__ = ["token_stats"]


def token_stats(token_offsets, token_ids, vocab_size: int, *, n_threads: int | None = None,
                backend: str = "auto") -> tuple[np.ndarray, np.ndarray]:
    """Tokens and distinct types per turn of a ragged token array.

    Parameters
    ----------
    token_offsets : numpy.ndarray of int64, shape (n_turns + 1,)
    token_ids : numpy.ndarray of int32, shape (n_tokens,)
        Ids in ``[0, vocab_size)``.
    vocab_size : int
    n_threads : int or None
        None respects the environment, -1 uses all cores.
    backend : {"auto", "c", "numba"}

    Returns
    -------
    n_tokens, n_types : numpy.ndarray of int32, shape (n_turns,)

    Examples
    --------
    >>> import numpy as np
    >>> token_stats(np.array([0, 3, 3]), np.array([1, 1, 0], dtype=np.int32), 2)
    (array([3, 0], dtype=int32), array([2, 0], dtype=int32))
    """
    off = np.ascontiguousarray(token_offsets, dtype=np.int64)
    ids = np.ascontiguousarray(token_ids, dtype=np.int32)
    if off.ndim != 1 or len(off) < 1 or off[0] != 0 or off[-1] != len(ids) or np.any(np.diff(off) < 0):
        raise InputError("token_offsets must be non-decreasing, start at 0 and end at len(token_ids)")
    impl = backends.resolve(backend, "token_stats")
    n = len(off) - 1
    n_tokens = np.empty(n, dtype=np.int32)
    n_types = np.empty(n, dtype=np.int32)
    status = impl(off, ids, int(vocab_size), n_tokens, n_types, resolve_threads(n_threads))
    check_status(status, "token_stats")
    return n_tokens, n_types
