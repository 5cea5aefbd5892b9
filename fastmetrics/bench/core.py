"""Timing and machine records shared by ``fastmetrics bench`` and ``benchmarks/``."""
from __future__ import annotations

import math
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np

THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def pin_threads(numba_threads: int, blas_threads: int = 1) -> None:
    """Pin BLAS/OpenMP pools (before numpy loads them) and Numba's thread count."""
    for v in THREAD_VARS:
        os.environ.setdefault(v, str(blas_threads))
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(blas_threads)
    except ImportError:  # pragma: no cover
        pass
    import numba

    numba.set_num_threads(max(1, min(numba_threads, numba.config.NUMBA_NUM_THREADS)))


def loadavg() -> str:
    """The 1-minute load average ("?" where /proc is absent)."""
    try:
        return Path("/proc/loadavg").read_text().split(" ")[0]
    except OSError:
        return "?"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def peak_rss_mb() -> float:
    """Peak RSS of this process image (VmHWM); ru_maxrss would carry a parent's peak across exec."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def machine() -> dict:
    return {"cpu": cpu_model(), "cores": os.cpu_count(), "python": platform.python_version(),
            "loadavg": loadavg()}


def timed(fn):
    """(seconds, result) of one call."""
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def interleave(fns: dict, repeats: int) -> dict:
    """Run each callable once per repeat, rotating the order; returns name -> list of seconds."""
    names = list(fns)
    times: dict = {n: [] for n in names}
    for r in range(repeats):
        order = names[r % len(names):] + names[:r % len(names)]
        for n in order:
            dt, _ = timed(fns[n])
            times[n].append(dt)
    return times


def ratio_stats(peer, ours) -> dict:
    """Median, min and max of the per-repeat ratios peer/ours."""
    r = np.array(peer) / np.array(ours)
    return {"median": float(np.median(r)), "min": float(r.min()), "max": float(r.max())}


def med_ratio(peer: list, ours: list) -> dict:
    """Median (and range) of the per-repeat ratios peer/ours of interleaved timings."""
    ratios = [p / o for p, o in zip(peer, ours)]
    return {"median_ratio": statistics.median(ratios), "min_ratio": min(ratios), "max_ratio": max(ratios),
            "ours_median_s": statistics.median(ours), "peer_median_s": statistics.median(peer)}


def rel_err(x, ref) -> float:
    """Largest relative difference over finite reference values (inf where infinities differ)."""
    x, ref = np.asarray(x, float), np.asarray(ref, float)
    fin = np.isfinite(ref)
    if not np.array_equal(np.isinf(x), np.isinf(ref)):
        return math.inf
    if not fin.any():
        return 0.0
    return float(np.max(np.abs(x[fin] - ref[fin]) / np.maximum(np.abs(ref[fin]), 1e-12)))
