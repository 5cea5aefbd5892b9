"""What every benchmark script records about the machine and the run (docs: BENCHMARKS.md §4)."""
from __future__ import annotations

import platform
import statistics
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DATA = ROOT.parent / "shared" / "data" / "esconv"
RESULTS = HERE / "results"


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
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM"):
            return int(line.split()[1]) / 1024
    return float("nan")


def med_ratio(peer: list[float], ours: list[float]) -> dict:
    """Median (and range) of the per-repeat ratios peer/ours of interleaved timings."""
    ratios = [p / o for p, o in zip(peer, ours)]
    return {"median_ratio": statistics.median(ratios), "min_ratio": min(ratios), "max_ratio": max(ratios),
            "ours_median_s": statistics.median(ours), "peer_median_s": statistics.median(peer)}
