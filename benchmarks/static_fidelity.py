"""Fidelity and speed of the static encoder tier against MiniLM, in one run.

Real ESConv conversations (../shared/data/esconv/ESConv-valid.jsonl, never copied here):

1. ``cosine``: per turn, the cosine between MiniLM's embedding and the static tier's mapped back
   into MiniLM's space (``StaticEncoder(space="minilm")``): mean and quartiles.
2. ``columns``: every embedding-based column (alliance, embedding_sync, empathy; turn and
   conversation columns) scored with ``--encoder minilm`` and ``--encoder static`` on the first
   ``--conversations`` conversations; Spearman rho between the two per column (rows where both
   are finite).
3. ``speed``: sentences/s of both encoders on the same distinct turns, deduplication off, 1 and
   2 threads (onnxruntime intra-op threads for MiniLM; Numba threads for the static pooling),
   interleaved A B A B, median of ``--repeats``.

Usage::

    python benchmarks/static_fidelity.py                  # writes results/static_fidelity.json
    python benchmarks/static_fidelity.py --turns 300 --conversations 10 --repeats 1   # smoke
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import DATA, RESULTS, cpu_model, loadavg  # noqa: E402

FAMILIES = ["alliance", "embedding_sync", "empathy"]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--turns", type=int, default=3000, help="turns for the cosine workload")
    ap.add_argument("--speed-turns", type=int, default=1000, help="distinct turns for the speed workload")
    ap.add_argument("--conversations", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("-o", "--output", type=Path, default=RESULTS / "static_fidelity.json")
    args = ap.parse_args(argv)

    import numba
    from scipy.stats import spearmanr

    import fastmetrics
    from fastmetrics.embed.encoder import Encoder, unique_texts
    from fastmetrics.embed.static import StaticEncoder

    path = DATA / "ESConv-valid.jsonl"
    if not path.exists():
        raise SystemExit(f"real ESConv data not found at {path}")
    load_before = loadavg()
    corpus = fastmetrics.load(path)
    texts = corpus.text.to_pylist()
    out: dict = {"data": str(path.name), "cpu": cpu_model(), "load_before": load_before}

    # 1. per-turn cosine
    minilm = Encoder(n_threads=2)
    st384 = StaticEncoder(space="minilm")
    sample = texts[:args.turns]
    a, b = minilm.encode(sample), st384.encode(sample)
    cos = (a * b).sum(axis=1)
    q = np.percentile(cos, [0, 25, 50, 75, 100])
    out["cosine"] = {"turns": len(sample), "mean": float(cos.mean()), "min": float(q[0]), "q1": float(q[1]),
                     "median": float(q[2]), "q3": float(q[3]), "max": float(q[4])}
    print("cosine", json.dumps(out["cosine"]))

    # 2. Spearman agreement of every embedding-based column
    sub = corpus.select(np.arange(min(args.conversations, corpus.n_conversations)))
    res = {tier: fastmetrics.score(sub, metrics=FAMILIES, n_threads=2, cache_dir="none", encoder=tier)
           for tier in ("minilm", "static")}
    cols = {}
    for level in ("turns", "conversations"):
        ta, tb = getattr(res["minilm"], level), getattr(res["static"], level)
        for name in ta.column_names:
            if name not in tb.column_names:
                continue
            try:
                x = np.array(ta[name].to_pylist(), dtype=float)
                y = np.array(tb[name].to_pylist(), dtype=float)
            except (TypeError, ValueError):
                continue
            ok = np.isfinite(x) & np.isfinite(y)
            fam = next((f for f in FAMILIES if name in (fastmetrics.registry.get(f).turn_columns
                                                         + fastmetrics.registry.get(f).conversation_columns)), None)
            if fam is None or ok.sum() < 3:
                continue
            rho = spearmanr(x[ok], y[ok])[0]
            cols[name] = {"family": fam, "level": level, "n": int(ok.sum()), "spearman": float(rho)}
    out["columns"] = {"conversations": sub.n_conversations, "turns": sub.n_turns, "spearman": cols}
    for k, v in cols.items():
        print(f"{v['family']:15s} {k:35s} rho={v['spearman']:.3f} n={v['n']}")

    # 3. speed, interleaved, same distinct turns, dedup off
    uniq, _ = unique_texts(texts)
    speed_texts = uniq[:args.speed_turns]
    st = StaticEncoder()
    speed = {}
    for threads in (1, 2):
        numba.set_num_threads(threads)
        enc = Encoder(n_threads=threads)
        enc.encode(speed_texts[:50], dedupe=False)
        st.encode(speed_texts[:50], dedupe=False)
        tm, ts = [], []
        for _ in range(args.repeats):
            t = time.perf_counter(); enc.encode(speed_texts, dedupe=False); tm.append(time.perf_counter() - t)
            t = time.perf_counter(); st.encode(speed_texts, dedupe=False); ts.append(time.perf_counter() - t)
        n = len(speed_texts)
        speed[str(threads)] = {"sentences": n, "minilm_median_s": statistics.median(tm),
                               "static_median_s": statistics.median(ts),
                               "minilm_sentences_per_s": n / statistics.median(tm),
                               "static_sentences_per_s": n / statistics.median(ts),
                               "median_ratio": statistics.median([m / s for m, s in zip(tm, ts)])}
        print("speed", threads, json.dumps(speed[str(threads)]))
    out["speed"] = speed
    out["load_after"] = loadavg()
    out["note"] = "measured on a shared 2-core machine under load from other jobs"
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(out, indent=2) + "\n")
    print("wrote", args.output)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
