"""Kernel status codes shared by the C kernels (kernels/fastmetrics.h) and the Numba twins."""
from __future__ import annotations

import enum
import warnings

from .errors import ConvergenceWarning, InputError, KernelError


class KernelStatus(enum.IntEnum):
    OK = 0
    ERR_INPUT = 1
    ERR_NOMEM = 2
    ERR_INFEASIBLE = 3
    MAX_ITER = 4


def check_status(status: int, what: str) -> None:
    """Turn a kernel status into an exception (errors) or a warning (max-iterations)."""
    status = KernelStatus(int(status))
    if status == KernelStatus.OK:
        return
    if status == KernelStatus.MAX_ITER:
        warnings.warn(f"{what}: iteration limit reached before convergence", ConvergenceWarning,
                      stacklevel=3)
        return
    if status == KernelStatus.ERR_INPUT:
        raise InputError(f"{what}: the kernel rejected its input (index out of range or bad size)")
    if status == KernelStatus.ERR_NOMEM:
        raise MemoryError(f"{what}: out of memory in the C kernel")
    raise KernelError(f"{what}: problem is infeasible")
