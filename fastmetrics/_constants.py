"""Constants shared by the C kernels and their Numba twins.

Generated from kernels/fastmetrics.h by bindings/gen_constants.py: do not edit; edit the
header and rerun the script."""

__all__ = [
    "FM_OK",
    "FM_ERR_INPUT",
    "FM_ERR_NOMEM",
    "FM_ERR_INFEASIBLE",
    "FM_MAX_ITER",
    "FM_MEMO_MAX_U",
    "FM_EMD_PRICE_TOL",
    "FM_EMD_DANTZIG_CAP",
    "FM_EMD_BLAND_CAP_N2",
    "FM_EMD_BLAND_CAP_BASE",
]

FM_OK = 0
FM_ERR_INPUT = 1
FM_ERR_NOMEM = 2
FM_ERR_INFEASIBLE = 3
FM_MAX_ITER = 4
FM_MEMO_MAX_U = 2048
FM_EMD_PRICE_TOL = 1e-13
FM_EMD_DANTZIG_CAP = 100
FM_EMD_BLAND_CAP_N2 = 50000
FM_EMD_BLAND_CAP_BASE = 100000
