"""C backend of the optimal-transport operations: thin bindings of kernels/emd.c.

Same names and signatures as :mod:`fastmetrics.metrics.ot._numba`. Arrays are checked for
contiguity by :func:`fastmetrics._c.ptr` before a pointer is handed to C; the C side releases
the GIL (cffi) and runs its own OpenMP threads (``n_threads``).
"""
from __future__ import annotations

import numpy as np

from ... import _c

__all__ = ["emd", "wmd_pairs"]


def emd(a, b, cost, plan):
    """Exact EMD of one dense problem; fills ``plan`` (n1, n2); returns (status, cost)."""
    _, lib = _c.require()
    p = _c.ptr
    out = np.zeros(1)
    status = lib.fm_emd_f64(len(a), len(b), p(a, "double *"), p(b, "double *"), p(cost, "double *"),
                            p(out, "double *"), p(plan, "double *"))
    return int(status), float(out[0])


def wmd_pairs(task_lo, task_hi, task_pair_off, pair_a, pair_b, bag_start, bag_len, bag_rows,
              bag_weights, table, ground_cost, mode, out, n_threads):
    """Exact WMD (mode 0), RWMD (1) or WCD (2) for every pair into ``out``; returns a status."""
    _, lib = _c.require()
    p = _c.ptr
    fn = lib.fm_wmd_pairs_f64 if table.dtype == np.float64 else lib.fm_wmd_pairs_f32
    ttype = "double *" if table.dtype == np.float64 else "float *"
    return int(fn(len(task_lo), p(task_lo, "int64_t *"), p(task_hi, "int64_t *"),
                  p(task_pair_off, "int64_t *"), p(pair_a, "int64_t *"), p(pair_b, "int64_t *"),
                  p(bag_start, "int64_t *"), p(bag_len, "int32_t *"), p(bag_rows, "int32_t *"),
                  p(bag_weights, "double *"), table.shape[0], table.shape[1], p(table, ttype),
                  ground_cost, mode, p(out, "double *"), n_threads))
