"""Alliance (COMPASS) + embedding synchrony over 1,000,000 turns of precomputed embeddings.

The corpus structure follows ESConv (conversation lengths and the probability that the next
turn changes speaker, from ``generate_corpus.esconv_stats``; seed 0); the embeddings are seeded
random unit vectors (384-d float32, 1.5 GB), precomputed before timing, as are the 36 + 36
anchor vectors. The encoder is not part of this workload (see bench_embed_encoder.py).

Timed, in a fresh child process per thread count (so that its peak RSS is this workload's):
``alliance_scores`` (4 subscales per turn) + ``alliance_gaps`` (12 conversation columns) +
``embedding_synchrony`` (2 turn columns, 6 conversation columns) -- everything the ``alliance``
and ``embedding_sync`` families compute after the embeddings exist. Numba compile / cache load
is timed apart (first call on a tiny input). Reference point in the same child: plain NumPy for
the per-turn parts (36 item cosines per turn then keyed sums; adjacent cosine with einsum),
values compared before timing.

Usage::

    NUMBA_NUM_THREADS=2 OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2 \\
        python benchmarks/bench_embed_alliance.py --turns 1000000 --repeats 3
    python benchmarks/bench_embed_alliance.py --smoke
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _common import RESULTS, loadavg  # noqa: E402

D = 384


def structure(n_turns: int, seed: int = 0):
    """conv_offsets (int64) and role (int8) of about n_turns turns with ESConv's statistics."""
    from generate_corpus import esconv_stats

    st = esconv_stats()
    rng = np.random.default_rng(seed)
    lens = []
    total = 0
    while total < n_turns:
        L = int(rng.choice(st["conv_lens"]))
        L = min(L, n_turns - total)
        lens.append(L)
        total += L
    off = np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)
    change = rng.random(n_turns) < st["p_change"]
    role = np.empty(n_turns, dtype=np.int8)
    for a, b in zip(off[:-1], off[1:]):
        r = 0
        for t in range(a, b):  # seekers open, then the speaker changes with ESConv's probability
            if t > a and change[t]:
                r = 1 - r
            role[t] = r
    return off, role


def write_embeddings(path: Path, n: int, seed: int = 0, block: int = 100_000) -> None:
    rng = np.random.default_rng(seed)
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n, D))
    for lo in range(0, n, block):
        x = rng.standard_normal((min(block, n - lo), D), dtype=np.float32)
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        out[lo:lo + len(x)] = x
    out.flush()
    del out


def child(workdir: str, threads: int, repeats: int) -> dict:
    from fastmetrics.alliance import alliance_gaps, alliance_scores, scale_keys
    from fastmetrics.metrics.embedding_sync import embedding_synchrony

    w = Path(workdir)
    off = np.load(w / "off.npy")
    role = np.load(w / "role.npy")
    items = np.load(w / "items.npy")
    t = time.perf_counter()
    tiny_e = np.eye(4, D, dtype=np.float32)
    tiny_r = np.array([0, 1, 0, 1], np.int8)
    tiny_o = np.array([0, 4], np.int64)
    s = alliance_scores(tiny_e, tiny_r, items[0], items[1])
    alliance_gaps(s, tiny_r, tiny_o, n_threads=threads)
    embedding_synchrony(tiny_e, tiny_r, tiny_o, n_threads=threads)
    compile_s = time.perf_counter() - t
    t = time.perf_counter()
    emb = np.load(w / "emb.npy")  # into memory: the precomputed embeddings
    load_s = time.perf_counter() - t
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        scores = alliance_scores(emb, role, items[0], items[1])
        gaps = alliance_gaps(scores, role, off, n_threads=threads)
        turns, convs = embedding_synchrony(emb, role, off, window=8, n_threads=threads)
        times.append(time.perf_counter() - t)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    # plain NumPy reference for the per-turn parts, values compared
    t = time.perf_counter()
    keys = scale_keys().astype(np.float32)
    ref = np.full((len(role), 4), np.nan, dtype=np.float32)
    for code in (0, 1):
        rows = np.nonzero(role == code)[0]
        ref[rows] = (emb[rows] @ items[code].T) @ keys  # item cosines (unit vectors), keyed sums
    sim = np.full(len(role), np.nan, dtype=np.float32)
    sim[1:] = np.einsum("ij,ij->i", emb[1:], emb[:-1])
    sim[off[:-1][off[:-1] < len(role)]] = np.nan
    numpy_s = time.perf_counter() - t
    ok_alliance = bool(np.allclose(scores, ref, atol=1e-4, equal_nan=True))
    ok_sim = bool(np.allclose(turns["emb_sim_prev"], sim, atol=1e-5, equal_nan=True))
    return {"threads": threads, "n_turns": int(len(role)), "n_conversations": int(len(off) - 1),
            "compile_or_cache_load_s": compile_s, "embeddings_load_s": load_s, "times_s": times,
            "median_s": statistics.median(times), "turns_per_s": len(role) / statistics.median(times),
            "peak_rss_mb": peak_mb, "numpy_per_turn_parts_s": numpy_s,
            "values_match_numpy": ok_alliance and ok_sim,
            "finite_gap_rows": int(np.isfinite(gaps["alliance_full_convergence"]).sum()),
            "finite_lag0_rows": int(np.isfinite(convs["emb_sync_lag_0"]).sum())}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--turns", type=int, default=1_000_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--child", nargs=3, metavar=("DIR", "THREADS", "REPEATS"), help=argparse.SUPPRESS)
    ap.add_argument("--out", default=str(RESULTS / "embed_alliance.json"))
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child[0], int(args.child[1]), int(args.child[2]))))
        return 0
    if args.smoke:
        args.turns, args.repeats = 5000, 1
    load_before = loadavg()
    with tempfile.TemporaryDirectory(prefix="fm-alliance-bench-", dir=os.environ.get("BENCH_TMP")) as d:
        w = Path(d)
        t = time.perf_counter()
        off, role = structure(args.turns)
        np.save(w / "off.npy", off)
        np.save(w / "role.npy", role)
        rng = np.random.default_rng(1)
        items = rng.standard_normal((2, 36, D)).astype(np.float32)
        items /= np.linalg.norm(items, axis=2, keepdims=True)
        np.save(w / "items.npy", items)
        write_embeddings(w / "emb.npy", args.turns)
        print(f"generated {args.turns} turns in {time.perf_counter() - t:.1f} s")
        runs = []
        for nt in [int(x) for x in args.threads.split(",")]:
            env = dict(os.environ, NUMBA_NUM_THREADS=str(nt), OMP_NUM_THREADS=str(nt),
                       OPENBLAS_NUM_THREADS=str(nt), MKL_NUM_THREADS=str(nt))
            p = subprocess.run([sys.executable, __file__, "--child", d, str(nt), str(args.repeats)],
                               env=env, capture_output=True, text=True)
            if p.returncode != 0:
                print(p.stderr, file=sys.stderr)
                return 1
            row = json.loads(p.stdout.strip().splitlines()[-1])
            runs.append(row)
            print(json.dumps({k: v for k, v in row.items() if k != "times_s"}))
    res = {"loadavg_before": load_before, "loadavg_after": loadavg(),
           "runs": runs}
    if not args.smoke:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(res, indent=1))
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
