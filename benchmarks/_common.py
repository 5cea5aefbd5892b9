"""What every benchmark script records about the machine and the run (docs: BENCHMARKS.md §4).

The timing and machine code is :mod:`fastmetrics.bench.core`, shared with ``fastmetrics
bench``; this module adds the repository paths.
"""
from __future__ import annotations

from pathlib import Path

from fastmetrics.bench.core import (  # noqa: F401
                                    cpu_model,
                                    interleave,
                                    loadavg,
                                    med_ratio,
                                    peak_rss_mb,
                                    ratio_stats,
                                    rel_err,
                                    timed,
)

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DATA = ROOT.parent / "shared" / "data" / "esconv"
RESULTS = HERE / "results"
