"""Ingest benchmark: fastmetrics loaders vs pandas on the same 1M-turn files, same run.

Workloads:
  parquet : fastmetrics.load(file.parquet)           vs pandas.read_parquet(file.parquet)
  jsonl   : fastmetrics.load(file.jsonl)             vs pandas.read_json(file.jsonl, lines=True)
  streamed: fastmetrics.iter_corpus(chunk_turns=250k) over each file (bounded memory)
fastmetrics builds the full columnar corpus (grouping, ordering, role mapping, checks);
pandas only parses the table, so the comparison favours pandas. For Parquet the bare
``pyarrow.parquet.read_table`` of the same columns is timed too: ``ours / arrow`` is what the
ingest costs on top of the reader itself (target: at most 1.2x).

Two measurements, reported apart (docs: BENCHMARKS.md rule 1):
  steady state: one process, both sides warmed up once, then A B A B interleaved repeats;
                the median ratio peer/ours is the headline figure;
  cold start  : each tool in a fresh subprocess (imports included), interleaved; also gives
                each tool's own peak RSS (VmHWM).

Usage: python benchmarks/bench_ingest.py [--turns 1000000] [--repeats 5] [--threads 2] [--steady-only]
Writes benchmarks/results/ingest.json and prints a table.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent

WORKER = r"""
import json, sys, time
kind, path = sys.argv[1], sys.argv[2]
t0 = time.perf_counter()
if kind == "fm":
    import fastmetrics as fm
    c = fm.load(path)
    n = c.n_turns
elif kind == "fm_stream":
    from fastmetrics.io import iter_corpus
    n = 0
    for chunk in iter_corpus(path, chunk_turns=250_000):
        n += chunk.n_turns
elif kind == "pd_parquet":
    import pandas as pd
    n = len(pd.read_parquet(path))
elif kind == "pd_json":
    import pandas as pd
    n = len(pd.read_json(path, lines=True))
dt = time.perf_counter() - t0
# VmHWM (peak RSS of this process image; ru_maxrss would carry the parent's peak across exec)
hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM")][0].split()[1]
print(json.dumps({"seconds": dt, "turns": n, "peak_rss_mb": int(hwm) / 1024}))
"""


def run(kind: str, path: Path, threads: int) -> dict:
    env = dict(os.environ, NUMBA_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads),
               OPENBLAS_NUM_THREADS=str(threads), ARROW_NUM_THREADS=str(threads))
    out = subprocess.run([sys.executable, "-c", WORKER, kind, str(path)], env=env, check=True,
                         capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def steady_state(files: dict, repeats: int) -> dict:
    """In-process timings after one warm-up of each side, interleaved."""
    import time

    import pandas as pd
    import pyarrow.parquet as pq

    import fastmetrics as fm
    from fastmetrics.io import iter_corpus

    def stream(p):
        return sum(c.n_turns for c in iter_corpus(p, chunk_turns=250_000))

    work = {
        "parquet": (lambda: fm.load(files["parquet"]).n_turns, lambda: len(pd.read_parquet(files["parquet"])),
                    lambda: stream(files["parquet"]), lambda: pq.read_table(files["parquet"]).num_rows),
        "jsonl": (lambda: fm.load(files["jsonl"]).n_turns, lambda: len(pd.read_json(files["jsonl"], lines=True)),
                  lambda: stream(files["jsonl"]), None),
    }
    out = {}
    for name, (ours, peer, streamed, bare) in work.items():
        fns = [("ours", ours), ("peer", peer), ("ours_streamed", streamed)] + ([("arrow", bare)] if bare else [])
        n = [fn() for _, fn in fns]  # warm-up (imports, caches), values checked
        if len(set(n)) != 1:
            raise RuntimeError(f"{name}: row counts differ {n}")
        times = {k: [] for k, _ in fns}
        for _ in range(repeats):
            for key, fn in fns:
                t0 = time.perf_counter()
                fn()
                times[key].append(time.perf_counter() - t0)
        ratios = [p / o for o, p in zip(times["ours"], times["peer"])]
        med = {k: statistics.median(v) for k, v in times.items()}
        out[name] = {"median_seconds": med, "turns_per_s": {k: n[0] / v for k, v in med.items()},
                     "ratio_peer_over_ours_median": statistics.median(ratios),
                     "ratio_spread": [min(ratios), max(ratios)]}
        if bare:  # per repeat, from the same round: ours / the bare Arrow read
            over = [o / b for o, b in zip(times["ours"], times["arrow"])]
            out[name]["ratio_ours_over_arrow_median"] = statistics.median(over)
            out[name]["ratio_ours_over_arrow_spread"] = [min(over), max(over)]
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--turns", type=int, default=1_000_000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, default=HERE / "results" / "ingest.json")
    ap.add_argument("--steady-only", action="store_true", help="skip the cold-start subprocess runs")
    a = ap.parse_args()
    sys.path.insert(0, str(HERE))
    from _common import cpu_model
    from generate_corpus import generate, write

    load0 = open("/proc/loadavg").read().split()[:3]
    with tempfile.TemporaryDirectory() as tmp:
        files = write(generate(a.turns, seed=0), Path(tmp) / "corpus")
        pairs = {"parquet": ("fm", "pd_parquet", files["parquet"]),
                 "jsonl": ("fm", "pd_json", files["jsonl"])}
        os.environ.update(NUMBA_NUM_THREADS=str(a.threads), OMP_NUM_THREADS=str(a.threads),
                          OPENBLAS_NUM_THREADS=str(a.threads))
        import pyarrow as pa

        pa.set_cpu_count(a.threads)
        steady = steady_state(files, a.repeats)
        results = {}
        for name, (ours, peer, path) in ({} if a.steady_only else pairs).items():
            rows = {"ours": [], "peer": [], "ours_streamed": []}
            for _ in range(a.repeats):  # interleaved
                rows["ours"].append(run(ours, path, a.threads))
                rows["peer"].append(run(peer, path, a.threads))
                rows["ours_streamed"].append(run("fm_stream", path, a.threads))
            med = {k: statistics.median(r["seconds"] for r in v) for k, v in rows.items()}
            ratios = [p["seconds"] / o["seconds"] for o, p in zip(rows["ours"], rows["peer"])]
            results[name] = {
                "turns": rows["ours"][0]["turns"],
                "median_seconds": med,
                "turns_per_s": {k: rows["ours"][0]["turns"] / v for k, v in med.items()},
                "peak_rss_mb": {k: max(r["peak_rss_mb"] for r in v) for k, v in rows.items()},
                "ratio_peer_over_ours_median": statistics.median(ratios),
                "ratio_spread": [min(ratios), max(ratios)],
                "peer": peer,
            }
    load1 = open("/proc/loadavg").read().split()[:3]
    report = {"turns": a.turns, "repeats": a.repeats, "threads": a.threads,
              "cpu": cpu_model(), "loadavg_before": load0,
              "loadavg_after": load1, "steady_state": steady, "cold_start": results}
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(report, indent=2))
    print("steady state (in-process, warmed up, interleaved; medians)")
    print(f"{'workload':10s} {'ours s':>8s} {'peer s':>8s} {'stream s':>9s} {'ratio':>6s} "
          f"{'spread':>12s} {'ours turns/s':>13s}")
    for name, r in steady.items():
        m = r["median_seconds"]
        lo, hi = r["ratio_spread"]
        print(f"{name:10s} {m['ours']:8.2f} {m['peer']:8.2f} {m['ours_streamed']:9.2f} "
              f"{r['ratio_peer_over_ours_median']:6.2f} {lo:5.2f}-{hi:5.2f} {r['turns_per_s']['ours']:13,.0f}")
        if "arrow" in m:
            lo, hi = r["ratio_ours_over_arrow_spread"]
            print(f"{'':10s} bare pyarrow.parquet.read_table {m['arrow']:.2f} s; ours / arrow "
                  f"{r['ratio_ours_over_arrow_median']:.2f} (spread {lo:.2f}-{hi:.2f})")
    print("cold start (fresh process each, imports included) and peak RSS")
    print(f"{'workload':10s} {'ours s':>8s} {'peer s':>8s} {'stream s':>9s} {'ratio':>6s} "
          f"{'ours MB':>8s} {'peer MB':>8s} {'stream MB':>9s}")
    for name, r in results.items():
        m, p = r["median_seconds"], r["peak_rss_mb"]
        print(f"{name:10s} {m['ours']:8.2f} {m['peer']:8.2f} {m['ours_streamed']:9.2f} "
              f"{r['ratio_peer_over_ours_median']:6.2f} {p['ours']:8.0f} {p['peer']:8.0f} {p['ours_streamed']:9.0f}")
    print(f"loadavg before {load0} after {load1}")


if __name__ == "__main__":
    main()
