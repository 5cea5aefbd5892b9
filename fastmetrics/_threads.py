"""Thread-count handling shared by the Numba and C backends.

``n_threads=None`` respects the environment (NUMBA_NUM_THREADS / the CPU quota), an int
pins the count, ``-1`` means all available cores. The context manager restores the previous
Numba setting in ``finally``.
"""
from __future__ import annotations

import contextlib
import os

import numba

from .errors import InputError


def available_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - non-Linux
        return os.cpu_count() or 1


def resolve_threads(n_threads: int | None) -> int:
    """Map the public ``n_threads`` value to a concrete count in [1, numba.config.NUMBA_NUM_THREADS]."""
    limit = numba.config.NUMBA_NUM_THREADS
    if n_threads is None:
        return max(1, min(limit, available_cpus()))
    if not isinstance(n_threads, (int,)) or isinstance(n_threads, bool):
        raise InputError(f"n_threads must be None, -1 or a positive int, got {n_threads!r}")
    if n_threads == -1:
        return max(1, min(limit, available_cpus()))
    if n_threads < 1:
        raise InputError(f"n_threads must be None, -1 or a positive int, got {n_threads!r}")
    return min(n_threads, limit)


@contextlib.contextmanager
def threads(n_threads: int | None):
    """Run Numba parallel kernels with ``n_threads`` threads; yields the resolved count."""
    n = resolve_threads(n_threads)
    old = numba.get_num_threads()
    numba.set_num_threads(n)
    try:
        yield n
    finally:
        numba.set_num_threads(old)
