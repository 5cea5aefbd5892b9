"""Loads the compiled C kernels (built by ``pip install .`` through cffi).

``lib`` and ``ffi`` are None when the extension is missing; ``load_error`` then says why.
Callers use :func:`require` to get the module or a :class:`BackendUnavailableError`.
"""
from __future__ import annotations

import logging

from ..errors import BackendUnavailableError

log = logging.getLogger("fastmetrics")

try:  # pragma: no branch
    from ._fastmetrics_c import ffi, lib  # type: ignore[attr-defined]

    load_error: str | None = None
except ImportError as exc:  # not built: run on the Numba kernels
    ffi = None
    lib = None
    load_error = str(exc)
    log.info("fastmetrics C kernels not available (%s); using Numba", exc)

available = lib is not None


def require():
    """Return ``(ffi, lib)`` or raise BackendUnavailableError."""
    if lib is None:
        raise BackendUnavailableError(
            "the C kernels are not built in this installation "
            f"({load_error}); reinstall with a C compiler or use backend='numba'"
        )
    return ffi, lib


def ptr(array, ctype: str):
    """A cffi pointer to a C-contiguous NumPy array (checked, never copied)."""
    if not array.flags["C_CONTIGUOUS"]:
        raise ValueError("internal: array handed to C must be C-contiguous")
    return ffi.cast(ctype, ffi.from_buffer(array))
