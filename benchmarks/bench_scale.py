"""Scaling benchmark: every family end to end (read, tokenise, encode, score, write) at 10k,
100k and 1M turns, per encoder tier and engine, with a stage breakdown and peak memory; and the
MiniLM encoder's measured throughput next to its arithmetic limit on this CPU.

Corpora: ``generate_corpus.generate(n, seed=0)`` (ESConv-like; needs ../shared/data/esconv for
its statistics), written once per size as Parquet under ``--work``.

Each configuration (size x tier x engine) runs in a fresh child process, which times, in order:
``cold_start`` (a 3-conversation run: imports, compiled kernels, lexicons, encoder, anchors),
``end_to_end``: ``fastmetrics.score(path, metrics=..., out_dir=..., engine=..., encoder=...,
cache_dir="none")`` (read, tokenise, encode, score, write), then the stages alone (warm):

- ``read``: ``fastmetrics.load`` of the Parquet file;
- ``tokenise``: ``corpus.tokens()`` (the lexical tokeniser);
- ``encode``: the tier's embeddings of every turn (no cache), when an embedding family runs;
- ``score_and_write`` = end_to_end - read - tokenise - encode (an estimate).

Peak memory: VmHWM of the child (with Dask, the workers are other processes: their peak is
not in it; their RSS at the end is sampled with psutil, ``workers_rss_mb_at_end``).

Arithmetic limit of the MiniLM tier: FLOPs per token from the ONNX graph's layer sizes
(hidden d, FFN width f, layers L; per token and layer 2*(4 d^2 + 2 d f) for the projections
and 4*d*s for attention over s tokens), against the float32 GEMM rate numpy measures on this
CPU for the shapes of one batch (512 tokens x d times d x f), with 1 and 2 threads.

Usage::

    python benchmarks/bench_scale.py --sizes 10000,100000 --tiers static --engines local,dask1,dask2
    python benchmarks/bench_scale.py --sizes 2000 --tiers minilm --engines local
    python benchmarks/bench_scale.py --limit-only          # the arithmetic limit alone
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _common import RESULTS, cpu_model, loadavg  # noqa: E402

LEXICAL = ["basic", "lsm", "rlsm", "coordination", "emotion", "trajectory"]
EMBEDDING = ["alliance", "embedding_sync", "empathy", "behaviour"]
OT = ["wmd", "nclid"]
ENGINES = {"local": ("local", None), "dask1": ("dask", 1), "dask2": ("dask", 2)}


# --------------------------------------------------------------------------- child process
def child(cfg: dict) -> dict:
    import numpy as np

    import fastmetrics
    from fastmetrics.embed.api import _tier_encoder, encode_corpus

    out: dict = {"stages": {}}
    engine, workers = ENGINES[cfg["engine"]]
    kw = {"engine": engine}
    if workers:
        kw["workers"] = workers
    with tempfile.TemporaryDirectory(prefix="fm-scale-") as d:
        # cold start apart: imports, compiled kernels, lexicons, encoder and anchors on a tiny run
        t = time.perf_counter()
        tiny = fastmetrics.load(cfg["path"])
        tiny = tiny.select(np.arange(min(3, tiny.n_conversations)))
        fastmetrics.score(tiny, metrics=cfg["families"], n_threads=cfg["threads"], encoder=cfg["tier"],
                          cache_dir="none")
        out["cold_start_s"] = time.perf_counter() - t
        del tiny
        t = time.perf_counter()
        fastmetrics.score(cfg["path"], metrics=cfg["families"], out_dir=Path(d) / "out", n_threads=cfg["threads"],
                          encoder=cfg["tier"], cache_dir="none", **kw)
        out["end_to_end_s"] = time.perf_counter() - t
        try:
            import psutil

            kids = psutil.Process().children(recursive=True)
            out["workers_rss_mb_at_end"] = sum(k.memory_info().rss for k in kids) / 2 ** 20
        except Exception:
            pass
    # the stages alone, warm, after the end-to-end run
    t = time.perf_counter()
    corpus = fastmetrics.load(cfg["path"])
    out["stages"]["read"] = time.perf_counter() - t
    t = time.perf_counter()
    corpus.tokens()
    out["stages"]["tokenise"] = time.perf_counter() - t
    if any(f in EMBEDDING for f in cfg["families"]):
        enc = _tier_encoder(cfg["tier"], None, cfg["threads"])
        t = time.perf_counter()
        encode_corpus(corpus, encoder=enc, cache_dir="none")
        out["stages"]["encode"] = time.perf_counter() - t
    s = out["stages"]
    s["score_and_write"] = out["end_to_end_s"] - sum(s.values())
    out["turns"] = corpus.n_turns
    out["turns_per_s"] = corpus.n_turns / out["end_to_end_s"]
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM"):
            out["peak_rss_mb"] = int(line.split()[1]) / 1024
    return out


# --------------------------------------------------------------------------- arithmetic limit
def minilm_layer_sizes() -> dict:
    """(d, f, L) from the ONNX graph's weight shapes (FFN up-projections are (d, f) with f > d)."""
    import onnx

    from fastmetrics.embed.encoder import default_model_files

    path, _, _ = default_model_files()
    m = onnx.load(str(path), load_external_data=False)
    shapes = [tuple(int(x) for x in i.dims) for i in m.graph.initializer if len(i.dims) == 2]
    from collections import Counter

    cnt = Counter(shapes)
    d = max((a for (a, b) in cnt if a == b), default=384)           # square projections d x d
    f = max((b for (a, b) in cnt if a == d and b > d), default=4 * d)
    layers = cnt.get((d, f), 0) or cnt.get((f, d), 0)
    return {"d": d, "ffn": f, "layers": layers, "square_matrices": cnt.get((d, d), 0)}


def gemm_rate(d: int, f: int, threads: int, repeats: int = 7) -> float:
    """Measured float32 GEMM GFLOP/s for (512 x d) @ (d x f) with numpy."""
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(0)
    A = rng.standard_normal((512, d), dtype=np.float32)
    B = rng.standard_normal((d, f), dtype=np.float32)
    with threadpool_limits(threads):
        A @ B
        best = []
        for _ in range(repeats):
            t = time.perf_counter()
            for _ in range(20):
                A @ B
            best.append((time.perf_counter() - t) / 20)
    return 2 * 512 * d * f / float(np.median(best)) / 1e9


def arithmetic_limit(n_texts: int = 300) -> dict:
    import fastmetrics
    from fastmetrics.embed.encoder import Encoder, unique_texts

    sz = minilm_layer_sizes()
    d, f, L = sz["d"], sz["ffn"], sz["layers"]
    data = HERE.parent.parent / "shared" / "data" / "esconv" / "ESConv-valid.jsonl"
    texts = unique_texts(fastmetrics.load(data).text.to_pylist())[0][:n_texts]
    out = {"layer_sizes": sz, "runs": []}
    for threads in (1, 2):
        enc = Encoder(n_threads=threads)
        ids = enc.tokenize(texts)
        ntok = sum(len(x) for x in ids)
        mean_len = ntok / len(ids)
        flops_tok = L * (2 * (4 * d * d + 2 * d * f) + 4 * d * mean_len)
        enc.encode(texts[:20], dedupe=False)
        t = time.perf_counter()
        enc.encode(texts, dedupe=False)
        dt = time.perf_counter() - t
        rate = gemm_rate(d, f, threads)
        limit_tok_s = rate * 1e9 / flops_tok
        out["runs"].append({"threads": threads, "texts": len(texts), "tokens": ntok,
                            "mean_tokens_per_text": mean_len, "flops_per_token": flops_tok,
                            "gemm_gflops": rate, "limit_tokens_per_s": limit_tok_s,
                            "measured_tokens_per_s": ntok / dt, "measured_texts_per_s": len(texts) / dt,
                            "fraction_of_limit": (ntok / dt) / limit_tok_s})
        print("limit", json.dumps(out["runs"][-1]))
    return out


# --------------------------------------------------------------------------- driver
def corpus_file(n: int, work: Path) -> Path:
    path = work / f"scale_{n}.parquet"
    if not path.exists():
        import pyarrow.parquet as pq
        from generate_corpus import generate

        pq.write_table(generate(n, seed=0), path, row_group_size=100_000)
    return path


def plot(results: list, png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    groups: dict = {}
    for r in results:
        if "error" in r:
            continue
        groups.setdefault((r["tier"], r["engine"], r["family_set"]), []).append((r["turns"], r["end_to_end_s"]))
    for key, pts in sorted(groups.items()):
        pts.sort()
        x, y = zip(*pts)
        line, = ax.loglog(x, y, "o-", label="/".join(key))
        ax.loglog(x, [y[0] * xi / x[0] for xi in x], ":", color=line.get_color(), lw=1)
    ax.set_xlabel("turns")
    ax.set_ylabel("end-to-end seconds")
    ax.set_title("fastmetrics scaling (dotted: linear from the smallest size)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(png, dpi=120)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--tiers", default="static,minilm")
    ap.add_argument("--engines", default="local,dask1,dask2")
    ap.add_argument("--families", default="all", help="'all', 'lexical', 'lexical+embedding' or a list")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "fm-scale")
    ap.add_argument("-o", "--output", type=Path, default=RESULTS / "scale.json")
    ap.add_argument("--png", type=Path, default=RESULTS / "scale.png")
    ap.add_argument("--limit-only", action="store_true")
    ap.add_argument("--no-limit", action="store_true")
    args = ap.parse_args(argv)
    if args.child:
        print("RESULT " + json.dumps(child(json.loads(args.child))))
        return 0

    sets = {"all": LEXICAL + OT + EMBEDDING, "lexical": LEXICAL, "lexical+embedding": LEXICAL + EMBEDDING}
    families = sets.get(args.families) or args.families.split(",")
    report: dict = {"cpu": cpu_model(), "load_before": loadavg(), "threads": args.threads, "families": families,
                    "note": "measured on a shared 2-core machine under load from other jobs", "runs": []}
    if args.output.exists():
        old = json.loads(args.output.read_text())
        report["runs"] = old.get("runs", [])
        report["arithmetic_limit"] = old.get("arithmetic_limit")
    if not args.limit_only:
        args.work.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ, NUMBA_NUM_THREADS=str(args.threads), OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
        for n in [int(s) for s in args.sizes.split(",")]:
            path = corpus_file(n, args.work)
            for tier in args.tiers.split(","):
                for eng in args.engines.split(","):
                    cfg = {"path": str(path), "tier": tier, "engine": eng, "families": families,
                           "threads": args.threads}
                    t = time.perf_counter()
                    p = subprocess.run([sys.executable, __file__, "--child", json.dumps(cfg)], env=env,
                                       capture_output=True, text=True)
                    rec = {"size": n, "tier": tier, "engine": eng, "family_set": args.families,
                           "wall_s": time.perf_counter() - t, "load": loadavg()}
                    line = next((x for x in p.stdout.splitlines() if x.startswith("RESULT ")), None)
                    if line is None:
                        rec["error"] = (p.stderr.strip().splitlines() or ["?"])[-1]
                    else:
                        rec.update(json.loads(line[7:]))
                    print(json.dumps(rec))
                    report["runs"] = [r for r in report["runs"] if (r["size"], r["tier"], r["engine"],
                                                                    r.get("family_set")) !=
                                      (n, tier, eng, args.families)] + [rec]
                    args.output.parent.mkdir(parents=True, exist_ok=True)
                    args.output.write_text(json.dumps(report, indent=2) + "\n")
        plot(report["runs"], args.png)
    if not args.no_limit:
        report["arithmetic_limit"] = arithmetic_limit()
    report["load_after"] = loadavg()
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print("wrote", args.output)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
