"""Synchrony, emotion and trajectory benchmark: fastmetrics vs its peers, same run.

Workloads
---------
emotion : ``fastmetrics.emotion.valence`` vs ``vaderSentiment``'s
          ``SentimentIntensityAnalyzer().polarity_scores(t)["compound"]`` over every real ESConv
          turn (train + valid), interleaved A B A B; values checked equal first.
sync    : ``fastmetrics.sync.synchrony`` (tokenisation included) vs a plain-Python
          per-conversation loop (re.findall tokens, dict lookups) computing the same LSM, rLSM
          and coordination on the real ESConv conversations; values checked equal first. Also
          "from tokens": both sides given tokenised turns (ours: vocabulary masks, counts,
          metrics; the peer: its loop over token lists).
corpus  : ``fastmetrics.score(parquet, metrics=lsm,rlsm,coordination,emotion,trajectory)`` on
          seeded ESConv-like corpora (benchmarks/generate_corpus.py, seed 0) of 100k and 1M
          turns, trajectory features on every numeric per-turn series (plus valence by role),
          read, tokenise, score and write Parquet included. Each run is a fresh subprocess
          (own peak RSS); the cold start (imports, cached-kernel load) is a separate warm-up
          call on a tiny corpus, reported apart. Also a per-stage breakdown at 1M turns.

Usage: python benchmarks/bench_sync.py [--turns 1000000] [--small 100000] [--repeats 5]
       [--corpus-repeats 3] [--threads 1,2] [--quick]
Writes benchmarks/results/sync.json and prints a summary.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import cpu_model, loadavg, med_ratio  # noqa: E402

HERE = Path(__file__).resolve().parent
DATA = HERE.parents[0].parent / "shared" / "data" / "esconv"

os.environ.setdefault("NUMBA_NUM_THREADS", "2")
for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_v, "1")






def esconv_dialogs(limit: int | None = None):
    out = []
    for name in ("ESConv-train.jsonl", "ESConv-valid.jsonl"):
        with open(DATA / name, encoding="utf-8") as f:
            for line in f:
                out.append(json.loads(line)["dialog"])
    return out[:limit] if limit else out




# ----------------------------------------------------------------------------------- emotion
def bench_emotion(repeats: int, threads: list[int], limit: int | None = None) -> dict:
    import numpy as np
    import pyarrow as pa
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    from fastmetrics.emotion import vader_tables, valence

    texts = [u["text"] for d in esconv_dialogs(limit) for u in d]
    arr = pa.array(texts)
    t0 = time.perf_counter()
    vader_tables()
    valence(["warm up 😁", "warm up"])
    cold = time.perf_counter() - t0
    sia = SentimentIntensityAnalyzer()
    ours = valence(arr)
    ref = np.array([sia.polarity_scores(t)["compound"] for t in texts])
    max_diff = float(np.abs(ours - ref).max())
    if max_diff > 1e-9:
        raise SystemExit(f"emotion: values differ from vadersentiment (max |diff| {max_diff})")
    res = {"turns": len(texts), "max_abs_diff": max_diff, "cold_start_s": cold, "by_threads": {}}
    for nt in threads:
        t_ours, t_peer = [], []
        for _ in range(repeats):
            t = time.perf_counter()
            valence(arr, n_threads=nt)
            t_ours.append(time.perf_counter() - t)
            t = time.perf_counter()
            for s in texts:
                sia.polarity_scores(s)["compound"]
            t_peer.append(time.perf_counter() - t)
        r = med_ratio(t_peer, t_ours)
        r["ours_turns_per_s"] = len(texts) / r["ours_median_s"]
        r["peer_turns_per_s"] = len(texts) / r["peer_median_s"]
        res["by_threads"][str(nt)] = r
    return res


# ----------------------------------------------------------------------------------- sync
_WORD = re.compile(r"\w+")


def python_sync(dialogs, mask_of, tokenised=None):
    """Plain-Python per-conversation LSM, rLSM and coordination (the peer).

    ``tokenised``: optional list (per dialog) of token lists, to time the peer without its
    tokenisation."""
    eps = 0.0001
    cats = range(9)
    markers = (2, 3, 6, 4, 0, 1, 5, 8)  # article auxverb conj adverb ppron ipron prep quant
    cache: dict[str, int] = {}
    out_lsm, out_rlsm, out_coord = [], [], []
    for di, dialog in enumerate(dialogs):
        turns = []
        for ui, u in enumerate(dialog):
            toks = tokenised[di][ui] if tokenised is not None else _WORD.findall(u["text"].lower())
            cnt = [0] * 9
            for w in toks:
                m = cache.get(w)
                if m is None:
                    m = cache[w] = mask_of(w)
                if m:
                    for k in cats:
                        if m >> k & 1:
                            cnt[k] += 1
            turns.append((0 if u["speaker"] == "usr" else 1, cnt, len(toks)))
        tot = [[0] * 9, [0] * 9]
        nw = [0, 0]
        for r, cnt, n in turns:
            nw[r] += n
            for k in cats:
                tot[r][k] += cnt[k]
        if nw[0] and nw[1]:
            s = 0.0
            for k in cats:
                p1 = 100.0 * tot[0][k] / nw[0]
                p2 = 100.0 * tot[1][k] / nw[1]
                s += 1.0 - abs(p1 - p2) / (p1 + p2 + eps)
            out_lsm.append(s / 9)
        else:
            out_lsm.append(float("nan"))
        psum = [[0.0] * 9, [0.0] * 9]
        pcnt = [[0] * 9, [0] * 9]
        ct = [[0] * 8, [0] * 8]
        cto = [[0] * 8, [0] * 8]
        ta = [[0] * 8, [0] * 8]
        npairs = [0, 0]
        for t in range(1, len(turns)):
            r, cnt, n = turns[t]
            q, pc, pn = turns[t - 1]
            if r == q:
                continue
            npairs[r] += 1
            for mi, k in enumerate(markers):
                rep = cnt[k] > 0
                if rep:
                    ta[r][mi] += 1
                if pc[k] > 0:
                    cto[r][mi] += 1
                    if rep:
                        ct[r][mi] += 1
            if n == 0 or pn == 0:
                continue
            for k in cats:
                prev = 100.0 * pc[k] / pn
                if prev > 0:
                    cur = 100.0 * cnt[k] / n
                    psum[r][k] += 1.0 - abs(prev - cur) / (prev + cur + eps)
                    pcnt[r][k] += 1
        dy = [0.5 * (psum[0][k] / pcnt[0][k] + psum[1][k] / pcnt[1][k]) for k in cats
              if pcnt[0][k] and pcnt[1][k]]
        out_rlsm.append(sum(dy) / len(dy) if dy else float("nan"))
        sc = [ct[1][m] / cto[1][m] - ta[1][m] / npairs[1] for m in range(8) if cto[1][m] >= 3 and npairs[1]]
        out_coord.append(sum(sc) / len(sc) if sc else float("nan"))
    return out_lsm, out_rlsm, out_coord


def bench_sync(repeats: int, threads: list[int], limit: int | None = None) -> dict:
    import numpy as np
    import pyarrow as pa

    from fastmetrics import Corpus
    from fastmetrics.lexicon import builtin_lexicon
    from fastmetrics.sync import synchrony

    dialogs = esconv_dialogs(limit)
    lens = [len(d) for d in dialogs]
    off = np.zeros(len(dialogs) + 1, dtype=np.int64)
    off[1:] = np.cumsum(lens)
    role = np.array([0 if u["speaker"] == "usr" else 1 for d in dialogs for u in d], dtype=np.int8)
    text = pa.array([u["text"] for d in dialogs for u in d])
    lex = builtin_lexicon()

    def corpus():
        return Corpus(conversation_id=pa.array([str(i) for i in range(len(dialogs))]), conv_offsets=off,
                      role=role, speaker=pa.array(["x"] * len(role)), text=text)

    t0 = time.perf_counter()
    synchrony(corpus(), lexicon=lex)
    cold = time.perf_counter() - t0
    ours = synchrony(corpus(), lexicon=lex)
    peer = python_sync(dialogs, lex.mask_of)
    for name, a, b in (("lsm", ours.lsm, peer[0]), ("rlsm", ours.rlsm, peer[1]),
                       ("coordination", ours.coordination_therapist_to_client, peer[2])):
        b = np.array(b)
        if not (np.array_equal(np.isnan(a), np.isnan(b)) and np.allclose(a[~np.isnan(a)], b[~np.isnan(b)],
                                                                          rtol=1e-12, atol=1e-12)):
            raise SystemExit(f"sync: {name} differs from the plain-Python peer")
    from fastmetrics.sync import category_counts, sync_from_counts

    toks = [[_WORD.findall(u["text"].lower()) for u in d] for d in dialogs]
    res = {"conversations": len(dialogs), "turns": int(off[-1]), "cold_start_s": cold,
           "by_threads": {}, "from_tokens_by_threads": {}}
    for nt in threads:
        t_ours, t_peer, k_ours, k_peer = [], [], [], []
        for _ in range(repeats):
            c = corpus()
            t = time.perf_counter()
            synchrony(c, lexicon=lex, n_threads=nt)
            t_ours.append(time.perf_counter() - t)
            t = time.perf_counter()
            python_sync(dialogs, lex.mask_of)
            t_peer.append(time.perf_counter() - t)
            # from tokens: ours = vocabulary masks + counts + metrics; peer = its loop on token lists
            tok = c.tokens()
            t = time.perf_counter()
            cnt = category_counts(tok.token_offsets, tok.token_ids, lex.vocab_mask(tok.vocab), n_threads=nt)
            sync_from_counts(off, role, cnt, np.diff(tok.token_offsets), n_threads=nt)
            k_ours.append(time.perf_counter() - t)
            t = time.perf_counter()
            python_sync(dialogs, lex.mask_of, toks)
            k_peer.append(time.perf_counter() - t)
        r = med_ratio(t_peer, t_ours)
        r["ours_turns_per_s"] = res["turns"] / r["ours_median_s"]
        res["by_threads"][str(nt)] = r
        r = med_ratio(k_peer, k_ours)
        r["ours_turns_per_s"] = res["turns"] / r["ours_median_s"]
        res["from_tokens_by_threads"][str(nt)] = r
    return res


# ----------------------------------------------------------------------------------- corpus
WORKER = r"""
import json, resource, sys, time, tempfile
path, threads, tiny, breakdown = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4] == "1"


def peak_mb():
    # VmHWM belongs to this process image; ru_maxrss would inherit the parent's peak across fork+exec
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


t0 = time.perf_counter()
import fastmetrics as fm
METRICS = ["lsm", "rlsm", "coordination", "emotion", "trajectory"]
SERIES = ["n_tokens", "n_types", "lsm_prev", "rlsm_turn", "rlsm_window", "valence",
          "valence:client", "valence:therapist"]
with tempfile.TemporaryDirectory() as d:
    fm.score(tiny, metrics=METRICS, trajectory=SERIES, out_dir=d, n_threads=threads)
cold = time.perf_counter() - t0
with tempfile.TemporaryDirectory() as d:
    t = time.perf_counter()
    res = fm.score(path, metrics=METRICS, trajectory=SERIES, out_dir=d, n_threads=threads)
    wall = time.perf_counter() - t
    n_conv_cols = len(res.conversations.column_names)  # read from the output folder, while it exists
out = {"cold_start_s": cold, "seconds": wall, "turns": int(res.metadata["fastmetrics.n_turns"]),
       "conversation_columns": n_conv_cols, "peak_rss_mb": peak_mb()}
if breakdown:
    import numpy as np
    from fastmetrics.emotion import valence
    from fastmetrics.lexicon import builtin_lexicon
    from fastmetrics.sync import synchrony
    from fastmetrics.trajectory import trajectory_features
    st = {}
    t = time.perf_counter(); c = fm.load(path); st["load"] = time.perf_counter() - t
    t = time.perf_counter(); c.tokens(); st["tokenise"] = time.perf_counter() - t
    t = time.perf_counter(); s = synchrony(c, lexicon=builtin_lexicon(), n_threads=threads)
    st["sync (counts + lsm/rlsm/window/coordination)"] = time.perf_counter() - t
    t = time.perf_counter(); v = valence(c.text, n_threads=threads); st["emotion (VADER)"] = time.perf_counter() - t
    t = time.perf_counter()
    for x in (s.lsm_prev, s.rlsm_turn, s.rlsm_window, v):
        trajectory_features(c.conv_offsets, x, c.role, n_threads=threads)
    trajectory_features(c.conv_offsets, v, c.role, role_filter="client", n_threads=threads)
    st["trajectory (5 series)"] = time.perf_counter() - t
    out["breakdown_s"] = st
print(json.dumps(out))
"""


def run_worker(path: Path, threads: int, tiny: Path, breakdown: bool) -> dict:
    env = dict(os.environ, NUMBA_NUM_THREADS=str(max(threads, 1)), OMP_NUM_THREADS="1",
               OPENBLAS_NUM_THREADS="1")
    out = subprocess.run([sys.executable, "-c", WORKER, str(path), str(threads), str(tiny),
                          "1" if breakdown else "0"], env=env, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def bench_corpus(n_big: int, n_small: int, repeats: int, threads: list[int]) -> dict:
    import pyarrow.parquet as pq

    sys.path.insert(0, str(HERE))
    from generate_corpus import esconv_stats, generate

    stats = esconv_stats()
    res = {"sizes": [n_small, n_big], "runs": {}}
    with tempfile.TemporaryDirectory() as d:
        paths = {}
        for n in (n_small, n_big, 2000):
            p = Path(d) / f"gen{n}.parquet"
            pq.write_table(generate(n, seed=0, stats=stats), p, row_group_size=100_000)
            paths[n] = p
        for nt in threads:
            runs = {n_small: [], n_big: []}
            for _ in range(repeats):  # interleaved: small, big, small, big ...
                for n in (n_small, n_big):
                    runs[n].append(run_worker(paths[n], nt, paths[2000], False))
            bd = run_worker(paths[n_big], nt, paths[2000], True)["breakdown_s"]
            summary = {}
            for n, rr in runs.items():
                secs = [r["seconds"] for r in rr]
                summary[str(n)] = {"median_s": statistics.median(secs), "min_s": min(secs), "max_s": max(secs),
                                   "turns_per_s": rr[0]["turns"] / statistics.median(secs),
                                   "turns": rr[0]["turns"],
                                   "peak_rss_mb_max": max(r["peak_rss_mb"] for r in rr),
                                   "cold_start_s_median": statistics.median(r["cold_start_s"] for r in rr),
                                   "conversation_columns": rr[0]["conversation_columns"]}
            ratios = [b["seconds"] / s["seconds"] for s, b in zip(runs[n_small], runs[n_big])]
            summary["scaling_time_big_over_small_median"] = statistics.median(ratios)
            summary["breakdown_big_s"] = bd
            res["runs"][str(nt)] = summary
    return res


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--turns", type=int, default=1_000_000)
    ap.add_argument("--small", type=int, default=100_000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--corpus-repeats", type=int, default=3)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--quick", action="store_true", help="tiny sizes, 1 repeat (smoke test)")
    ap.add_argument("--only", choices=("emotion", "sync", "corpus"), help="run one workload")
    ap.add_argument("--out", type=Path, default=None,
                    help="results file (default results/sync.json; --quick writes only when given)")
    args = ap.parse_args(argv)
    threads = [int(x) for x in args.threads.split(",")]
    limit = None
    if args.quick:
        args.turns, args.small, args.repeats, args.corpus_repeats = 4_000, 2_000, 1, 1
        limit = 60
    elif args.out is None:
        args.out = HERE / "results" / "sync.json"
    if not DATA.exists():
        print(f"ESConv data not found at {DATA}; the benchmark needs it", file=sys.stderr)
        return 2
    from importlib.metadata import version

    import numba
    import numpy as np
    import pyarrow as pa

    info = {"cpu": cpu_model(), "python": sys.version.split()[0], "numba": numba.__version__,
            "numpy": np.__version__, "pyarrow": pa.__version__,
            "vadersentiment": version("vadersentiment"), "loadavg_before": loadavg(),
            "threads": threads, "NUMBA_NUM_THREADS": os.environ.get("NUMBA_NUM_THREADS")}
    try:
        from threadpoolctl import threadpool_info

        info["threadpoolctl"] = threadpool_info()
    except ImportError:
        pass
    out = {"info": info}
    if args.only and args.out is not None and args.out.exists() and not args.quick:
        out = json.loads(args.out.read_text())  # update one workload of an earlier run
        out["info_" + args.only] = info
    if args.only in (None, "emotion"):
        out["emotion"] = bench_emotion(args.repeats, threads, limit)
        print("emotion", json.dumps(out["emotion"], indent=1))
    if args.only in (None, "sync"):
        out["sync"] = bench_sync(args.repeats, threads, limit)
        print("sync", json.dumps(out["sync"], indent=1))
    if args.only in (None, "corpus"):
        out["corpus"] = bench_corpus(args.turns, args.small, args.corpus_repeats, threads)
        print("corpus", json.dumps(out["corpus"], indent=1))
    info["loadavg_after"] = loadavg()
    if float(info["loadavg_before"]) > 1:
        info["flag"] = "run started with load average above 1"
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(out, indent=1))
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
