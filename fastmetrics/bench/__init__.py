"""Side-by-side benchmarks against the tools researchers use (``fastmetrics bench``).

The timing rules (values checked before speed, interleaved repeats, medians, compile time and
cold start reported apart, pinned thread counts) live in :mod:`fastmetrics.bench.core`; the
workloads against each peer in :mod:`fastmetrics.bench.peers`. The scripts in ``benchmarks/``
use the same code.
"""
from .core import interleave, machine, med_ratio, ratio_stats, rel_err, timed  # noqa: F401
from .peers import PEERS, run_bench  # noqa: F401
