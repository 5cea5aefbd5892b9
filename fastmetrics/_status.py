"""Kernel status codes shared by the C kernels and the Numba twins, mapped to exceptions here.

The codes come from the C header (kernels/fastmetrics.h) through the generated
:mod:`fastmetrics._constants`."""
from __future__ import annotations

import enum
import warnings

from . import _constants as K
from .errors import ConvergenceWarning, InputError, KernelError

__all__ = ["KernelStatus", "check_status"]


class KernelStatus(enum.IntEnum):
    OK = K.FM_OK
    ERR_INPUT = K.FM_ERR_INPUT
    ERR_NOMEM = K.FM_ERR_NOMEM
    ERR_INFEASIBLE = K.FM_ERR_INFEASIBLE
    MAX_ITER = K.FM_MAX_ITER


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
