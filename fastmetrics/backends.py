"""The compute backends and the operations each one implements.

A backend is a sibling module of a metric family, with the same function names and
signatures as its other backends (the pattern of POT's ``ot/backend.py``):

* ``numba`` -- ``fastmetrics/metrics/<family>/_numba.py``; every operation has one;
* ``c``     -- ``fastmetrics/metrics/<family>/_c.py``, binding the C kernels in ``kernels/``
  (built by ``pip install`` through cffi; absent when no C compiler was found);
* ``cuda``  -- ``fastmetrics/metrics/<family>/_cuda.py`` (numba-cuda; the ``gpu`` extra and a
  CUDA GPU).

:data:`OPERATIONS` is the one table of which operation each backend implements, in the order
``auto`` prefers them (fastest first). :func:`resolve` returns the implementation of an
operation for a requested backend, or raises :class:`~fastmetrics.errors.BackendUnavailableError`
with the reason (C extension not built, numba-cuda missing, no GPU found). Nothing here
initialises CUDA at import time.

Examples
--------
>>> from fastmetrics import backends
>>> impl = backends.resolve("auto", "token_stats")
>>> impl.backend in ("c", "numba")
True
>>> backends.why_not("numba") is None
True
"""
from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

from .errors import BackendUnavailableError, InputError

__all__ = ["BACKENDS", "CHOICES", "OPERATIONS", "Operation", "Implementation", "available",
           "why_not", "resolve", "prefer", "implementations", "table", "check_requested"]

#: Backend names, in no particular order. ``auto`` (see :data:`CHOICES`) is not a backend.
BACKENDS: tuple[str, ...] = ("numba", "c", "cuda")
#: What a user may request: a backend, or ``auto`` (the fastest available per operation).
CHOICES: tuple[str, ...] = ("auto", *BACKENDS)


@dataclass(frozen=True)
class Operation:
    """An operation: the family package that owns it, and its backends in ``auto`` order."""

    name: str
    package: str
    backends: tuple[str, ...]
    description: str

    def module(self, backend: str) -> str:
        return f"{self.package}._{backend}"


def _ops(*rows: tuple[str, str, tuple[str, ...], str]) -> dict[str, Operation]:
    return {name: Operation(name, pkg, bks, desc) for name, pkg, bks, desc in rows}


_OT = "fastmetrics.metrics.ot"
_SYNC = "fastmetrics.metrics.sync"
_ES = "fastmetrics.metrics.embedding_sync"

#: Operation -> owning package and implementing backends, fastest first.
OPERATIONS: dict[str, Operation] = _ops(
    ("token_stats", "fastmetrics.metrics.basic", ("c", "numba"), "tokens and distinct types per turn"),
    ("build_bags", _OT, ("numba",), "per-turn bags of words over a chunk-local vector table"),
    ("emd", _OT, ("c", "numba"), "exact EMD of one dense problem (transportation simplex)"),
    ("wmd_pairs", _OT, ("cuda", "c", "numba"), "exact WMD / RWMD / WCD for batches of turn pairs"),
    ("sinkhorn_pairs", _OT, ("cuda", "numba"), "log-domain Sinkhorn for batches of turn pairs"),
    ("nclid_reduce", _OT, ("numba",), "uCLiD / nCLiD reduction of per-conversation distances"),
    ("nclid_surrogates", _OT, ("numba",), "nCLiD of N shuffled surrogates from the same distances"),
    ("category_counts", _SYNC, ("numba",), "function-word category counts per turn"),
    ("sync_from_counts", _SYNC, ("numba",), "LSM, rLSM, windows and coordination per conversation"),
    ("sync_surrogates", _SYNC, ("numba",), "LSM per turn, rLSM and coordination of N shuffled surrogates"),
    ("vader_ascii", "fastmetrics.metrics.emotion", ("numba",), "VADER compound valence from UTF-8 bytes"),
    ("vader_tokens", "fastmetrics.metrics.emotion", ("numba",), "VADER compound valence of tokenised turns"),
    ("trajectory", "fastmetrics.metrics.trajectory", ("cuda", "numba"),
     "segmented trajectory reductions per conversation"),
    ("alliance_gaps", "fastmetrics.metrics.alliance", ("cuda", "numba"),
     "client-therapist alliance gap statistics per conversation"),
    ("adjacent_cosine", _ES, ("cuda", "numba"), "cosine of each turn embedding to the previous turn's"),
    ("window_mean", _ES, ("cuda", "numba"), "mean of a per-turn series over the last W turns"),
    ("lagged_spearman", _ES, ("cuda", "numba"), "lagged Spearman correlation of two speakers' series"),
    ("segment_nanmean", _ES, ("cuda", "numba"), "per-conversation mean of the finite values"),
    ("change_cosine_surrogates", _ES, ("numba",),
     "embedding similarity at speaker changes of N shuffled surrogates"),
)


# ------------------------------------------------------------------------------------------
# availability
# ------------------------------------------------------------------------------------------
def _c_reason() -> str | None:
    from . import _c

    if _c.available:
        return None
    return (f"the C extension is not built in this installation ({_c.load_error}); reinstall "
            "with a C compiler (pip install -e .) or use --backend numba")


def _cuda_reason() -> str | None:
    from ._cuda_support import cuda_status

    ok, reason = cuda_status()
    return None if ok else reason


def why_not(backend: str) -> str | None:
    """None when ``backend`` can run here, else the reason it cannot (one line)."""
    if backend == "numba":
        return None
    if backend == "c":
        return _c_reason()
    if backend == "cuda":
        return _cuda_reason()
    raise InputError(f"unknown backend {backend!r}; expected one of {', '.join(CHOICES)}")


def available(backend: str) -> bool:
    """True when ``backend`` can run on this machine."""
    return why_not(backend) is None


def is_simulator() -> bool:
    """True when the CUDA backend runs on numba-cuda's simulator (NUMBA_ENABLE_CUDASIM=1): it is
    then available to a named request (for tests) but ``auto`` never picks it."""
    from ._cuda_support import is_simulator as sim

    return sim()


def check_requested(backend: str) -> str:
    """Validate a requested backend name; raise BackendUnavailableError when it cannot run here."""
    if backend not in CHOICES:
        raise InputError(f"backend must be one of {', '.join(CHOICES)}, got {backend!r}")
    if backend != "auto":
        reason = why_not(backend)
        if reason is not None:
            raise BackendUnavailableError(f"backend {backend!r} is unavailable: {reason}")
    return backend


# ------------------------------------------------------------------------------------------
# resolution
# ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Implementation:
    """An operation's implementation on one backend: call it like the function itself."""

    operation: str
    backend: str
    fn: Callable

    def __call__(self, *args, **kwargs):
        return self.fn(*args, **kwargs)


def _operation(name: str) -> Operation:
    try:
        return OPERATIONS[name]
    except KeyError:
        raise InputError(f"unknown operation {name!r}; known: {', '.join(OPERATIONS)}") from None


@cache
def _load(op_name: str, backend: str) -> Callable:
    op = OPERATIONS[op_name]
    module = importlib.import_module(op.module(backend))
    return getattr(module, op_name)


def implementations(operation: str) -> tuple[str, ...]:
    """The backends that implement ``operation``, fastest first (available or not)."""
    return _operation(operation).backends


def resolve(requested: str, operation: str) -> Implementation:
    """The implementation of ``operation`` for the ``requested`` backend.

    ``auto`` picks the fastest available backend that implements the operation. A named
    backend must both be available here and implement the operation.

    Raises
    ------
    BackendUnavailableError
        The named backend cannot run here (the reason is in the message) or does not
        implement ``operation``.
    """
    op = _operation(operation)
    if requested == "auto":
        for b in op.backends:
            if available(b) and not (b == "cuda" and is_simulator()):
                return Implementation(operation, b, _load(operation, b))
        raise BackendUnavailableError(f"no available backend implements {operation}")  # pragma: no cover
    check_requested(requested)
    if requested not in op.backends:
        raise BackendUnavailableError(f"{operation} has no {requested} implementation "
                                      f"(implemented by: {', '.join(op.backends)})")
    return Implementation(operation, requested, _load(operation, requested))


def prefer(requested: str, operation: str) -> Implementation:
    """Like :func:`resolve`, but a named backend that does not implement ``operation`` falls
    back to ``auto`` (the pipeline's rule: ``--backend cuda`` runs every operation that has a
    CUDA kernel on the GPU and the rest on the CPU; the metadata records what ran)."""
    op = _operation(operation)
    if requested != "auto" and requested not in op.backends:
        check_requested(requested)
        return resolve("auto", operation)
    return resolve(requested, operation)


def table() -> list[dict]:
    """One row per operation: its package, and per backend "yes", "no: <reason>" or "-"."""
    rows = []
    for op in OPERATIONS.values():
        row = {"operation": op.name, "package": op.package, "description": op.description}
        for b in BACKENDS:
            if b not in op.backends:
                row[b] = "-"
            else:
                reason = why_not(b)
                row[b] = "yes" if reason is None else f"no: {reason}"
        row["auto"] = resolve("auto", op.name).backend
        rows.append(row)
    return rows
