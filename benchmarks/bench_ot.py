"""Benchmark of the optimal-transport engine against the tools researchers use today.

Workloads (real ESConv turns, default GloVe 6B 50-d vectors, L2-normalised, Euclidean cost):

1. ``wmd_adjacent``: exact WMD of every adjacent pair of turns of ESConv-valid, against
   (a) the loop users write: bag of words -> ``ot.dist`` -> ``ot.emd2``,
   (b) ``ot.emd2(..., check_marginals=False)`` on precomputed weights and costs (POT's floor
       from Python), (c) gensim ``KeyedVectors.wmdistance``.
   Values checked first: 1e-9 relative against POT on the same float64 costs, 1e-6 against
   gensim.
2. ``sinkhorn``: entropic OT of adjacent pairs against POT ``ot.sinkhorn2`` (log domain, per
   pair) and ``ot.batch.solve_batch`` (log Sinkhorn on padded batches of similar sizes; needs
   POT >= 0.9.7), same regularisation and marginal tolerance, compared at matched error to the
   exact WMD.
3. ``nclid``: nCLiD over all of ESConv-valid against a reference that follows the published
   code (DSincerity/Eval-LLM-BehavAlign: gensim ``wmdistance`` loops per direction).
4. ``threads``: the batched kernels (exact WMD over all within-conversation pairs, Sinkhorn)
   with 1 and 2 threads.

Ours and each peer are timed interleaved in the same run (A B A B ...); the report gives the
median ratio peer/ours and its spread (min-max over repeats). Numba compilation / cache load,
vector loading and gensim's table construction are reported apart.

Usage::

    python benchmarks/bench_ot.py                 # full run, writes benchmarks/results/ot.{json,md}
    python benchmarks/bench_ot.py --smoke         # tiny sizes, checks the script still runs
"""
from __future__ import annotations

import os

# pin threads before numpy / numba load
for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")
os.environ.setdefault("NUMBA_NUM_THREADS", "2")

import argparse  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import re  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import DATA, RESULTS, cpu_model, interleave, ratio_stats, rel_err, timed  # noqa: E402

from fastmetrics.testing.reference_ot import nbow, published_direction  # noqa: E402  (peer-side references)


def loadavg() -> str:
    """All three load averages (this report records them as a list)."""
    try:
        return str(Path("/proc/loadavg").read_text().split(" ", 3)[:3])
    except OSError:
        return "n/a"






def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ------------------------------------------------------------------------------------------
# peers
# ------------------------------------------------------------------------------------------


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--smoke", action="store_true", help="tiny sizes (CI: keeps the script from rotting)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--nclid-repeats", type=int, default=3)
    ap.add_argument("--conversations", type=int, default=None, help="use the first N conversations")
    ap.add_argument("--reg", type=float, default=0.05, help="Sinkhorn regularisation")
    ap.add_argument("--sinkhorn-pairs", type=int, default=1000,
                    help="adjacent pairs (seeded sample) in the Sinkhorn workload")
    ap.add_argument("--sinkhorn-max-iter", type=int, default=2000)
    ap.add_argument("--out", default=str(RESULTS / "ot"))
    ap.add_argument("--only", default="wmd,sinkhorn,nclid,threads",
                    help="comma-separated sections to run (wmd always runs: the others use its values)")
    args = ap.parse_args(argv)
    if not DATA.is_dir():
        print(f"ESConv not found at {DATA}; nothing to benchmark")
        return 0
    if args.smoke:
        args.repeats, args.nclid_repeats, args.conversations = 1, 1, args.conversations or 4
        args.out = str(Path(args.out).with_name("ot_smoke"))

    logging.getLogger("gensim").setLevel(logging.ERROR)
    import ot

    import fastmetrics
    from fastmetrics import _c
    from fastmetrics import ot as fo
    from fastmetrics.vectors import load_vectors

    report: dict = {"machine": {"cpu": cpu_model(), "loadavg_before": loadavg(),
                                "python": sys.version.split()[0], "platform": platform.platform()},
                    "thread_env": {k: os.environ.get(k) for k in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS",
                                                                  "OPENBLAS_NUM_THREADS")}}
    try:
        import threadpoolctl

        report["threadpoolctl"] = threadpoolctl.threadpool_info()
    except ImportError:
        pass
    import gensim
    import numba
    report["versions"] = {"numpy": np.__version__, "numba": numba.__version__, "pot": ot.__version__,
                          "gensim": gensim.__version__, "fastmetrics": fastmetrics.__version__,
                          "c_backend": _c.available}
    backend = "c" if _c.available else "numba"
    cold = {}

    # ---------------------------------------------------------------- setup (reported apart)
    cold["load_corpus_s"], corpus = timed(lambda: fastmetrics.load(DATA / "ESConv-valid.jsonl"))
    if args.conversations:
        corpus = corpus.select(np.arange(min(args.conversations, corpus.n_conversations)))
    cold["load_vectors_s"], wv = timed(load_vectors)
    from gensim.models import KeyedVectors

    def build_kv():
        kv = KeyedVectors(wv.dim)
        kv.add_vectors(wv.words.to_pylist(), np.asarray(wv.matrix))
        kv.fill_norms()
        return kv

    cold["gensim_table_s"], kv = timed(build_kv)
    tokens = corpus.tokens()
    prep = [tokens.turn(t) for t in range(corpus.n_turns)]  # token lists for the peers
    index = {w: i for i, w in enumerate(wv.words.to_pylist())}
    # first calls: Numba compilation or cache load
    cold["first_call_bags_s"], bags = timed(lambda: fo.make_bags(tokens, wv, n_threads=1))
    a, b = fo.adjacent_pairs(corpus.conv_offsets)
    cold["first_call_wmd_numba_s"], _ = timed(lambda: fo.bag_pairs(bags, a[:5], b[:5], backend="numba", n_threads=1))
    cold["first_call_sinkhorn_s"], _ = timed(lambda: fo.sinkhorn_pairs(None, a[:5], b[:5], bags=bags, n_threads=1))
    report["cold_start"] = cold
    report["corpus"] = {"conversations": corpus.n_conversations, "turns": corpus.n_turns,
                        "adjacent_pairs": int(len(a)),
                        "mean_distinct_in_vocab_words_per_turn": float(bags.length.mean())}
    print(f"corpus: {corpus.n_conversations} conversations, {corpus.n_turns} turns; cold start {cold}")

    # ---------------------------------------------------------------- 1. exact WMD, adjacent
    # precomputed inputs for peer (b), the POT floor from Python
    from scipy.spatial.distance import cdist

    pre = []
    for i, j in zip(a, b):
        r1, w1 = nbow(prep[i], index)
        r2, w2 = nbow(prep[j], index)
        if r1 is None or r2 is None:
            pre.append(None)
            continue
        X = wv.rows(r1)
        Y = wv.rows(r2)
        pre.append((w1, w2, cdist(X, Y)))  # the same float64 costs as ours (direct formula)

    def ours_kernel():
        return fo.bag_pairs(bags, a, b, conv_offsets=corpus.conv_offsets, backend=backend, n_threads=1)

    def ours_from_tokens():
        bg = fo.make_bags(tokens, wv, n_threads=1)
        return fo.bag_pairs(bg, a, b, conv_offsets=corpus.conv_offsets, backend=backend, n_threads=1)

    def pot_loop():
        out = np.empty(len(a))
        for q, (i, j) in enumerate(zip(a, b)):
            r1, w1 = nbow(prep[i], index)
            r2, w2 = nbow(prep[j], index)
            if r1 is None or r2 is None:
                out[q] = math.inf
                continue
            M = ot.dist(wv.rows(r1), wv.rows(r2), metric="euclidean")
            out[q] = ot.emd2(w1, w2, M)
        return out

    def pot_floor():
        out = np.empty(len(a))
        for q, p in enumerate(pre):
            out[q] = math.inf if p is None else ot.emd2(p[0], p[1], p[2], check_marginals=False)
        return out

    def gensim_loop():
        return np.array([kv.wmdistance(prep[i], prep[j]) for i, j in zip(a, b)])

    vals = {"ours_kernel": ours_kernel(), "ours_from_tokens": ours_from_tokens(), "pot_loop": pot_loop(),
            "pot_emd2_no_check": pot_floor(), "gensim": gensim_loop()}
    fin_l = np.isfinite(vals["pot_loop"])
    checks = {"ours_vs_pot_loop_max_abs": float(np.max(np.abs(vals["ours_kernel"][fin_l] - vals["pot_loop"][fin_l]))),
              "ours_vs_pot_no_check": rel_err(vals["ours_kernel"], vals["pot_emd2_no_check"]),
              "ours_vs_gensim": rel_err(vals["ours_kernel"], vals["gensim"]),
              "ours_numba_vs_c": rel_err(fo.bag_pairs(bags, a, b, conv_offsets=corpus.conv_offsets,
                                                      backend="numba", n_threads=1), vals["ours_kernel"])}
    # ot.dist computes Euclidean costs as sqrt(|x|^2 + |y|^2 - 2 x.y), which gives ~1e-8 instead
    # of 0 for a word against itself: the loop's values are checked to 1e-6 absolute, the
    # solver itself to 1e-9 relative on identical float64 costs (peer b)
    ok = (checks["ours_vs_pot_loop_max_abs"] <= 1e-6 and checks["ours_vs_pot_no_check"] <= 1e-9
          and checks["ours_vs_gensim"] <= 1e-6)
    print("wmd_adjacent value checks:", checks, "OK" if ok else "MISMATCH")
    if not ok:
        report["wmd_adjacent"] = {"checks": checks, "error": "values disagree; no speed reported"}
    else:
        t = interleave({"ours_kernel": ours_kernel, "ours_from_tokens": ours_from_tokens,
                        "pot_loop": pot_loop, "pot_emd2_no_check": pot_floor, "gensim": gensim_loop},
                       args.repeats)
        n = len(a)
        report["wmd_adjacent"] = {
            "pairs": n, "backend": backend, "threads": 1, "checks": checks,
            "median_s": {k: float(np.median(v)) for k, v in t.items()},
            "pairs_per_s": {k: n / float(np.median(v)) for k, v in t.items()},
            "ratio_vs_ours_kernel": {k: ratio_stats(t[k], t["ours_kernel"]) for k in
                                     ("pot_loop", "pot_emd2_no_check", "gensim")},
            "ratio_vs_ours_from_tokens": {k: ratio_stats(t[k], t["ours_from_tokens"]) for k in
                                          ("pot_loop", "pot_emd2_no_check", "gensim")},
        }
        print("wmd_adjacent:", json.dumps(report["wmd_adjacent"]["ratio_vs_ours_kernel"]))

    only = set(args.only.split(","))
    # ---------------------------------------------------------------- 2. Sinkhorn
    exact = vals["ours_kernel"]
    reg, tol, maxit = args.reg, 1e-6, args.sinkhorn_max_iter
    if "sinkhorn" in only:
        fin = np.flatnonzero(np.isfinite(exact) & (exact > 0))
        if len(fin) > args.sinkhorn_pairs:
            fin = np.sort(np.random.default_rng(20261126).choice(fin, args.sinkhorn_pairs, replace=False))
        sa, sb = a[fin], b[fin]

        def ours_sink():
            return fo.sinkhorn_pairs(None, sa, sb, bags=bags, conv_offsets=corpus.conv_offsets, reg=reg,
                                     tol=tol, max_iter=maxit, n_threads=1)

        def pot_sink():
            return np.array([ot.sinkhorn2(pre[q][0], pre[q][1], pre[q][2], reg, method="sinkhorn_log",
                                          stopThr=tol, numItermax=maxit) for q in fin])

        have_batch = hasattr(ot, "batch") and hasattr(getattr(ot, "batch", None), "solve_batch")
        # padded batches of similar sizes for ot.batch: sort by (n1, n2), 256 problems per batch,
        # zero-weight padding with zero cost (padded rows/columns carry no mass)
        order = np.lexsort(([len(pre[q][1]) for q in fin], [len(pre[q][0]) for q in fin]))
        batches = []
        for s in range(0, len(order), 256):
            idx = order[s:s + 256]
            n1 = max(len(pre[fin[q]][0]) for q in idx)
            n2 = max(len(pre[fin[q]][1]) for q in idx)
            A = np.zeros((len(idx), n1))
            B = np.zeros((len(idx), n2))
            M = np.zeros((len(idx), n1, n2))
            for r, q in enumerate(idx):
                w1, w2, C = pre[fin[q]]
                A[r, :len(w1)] = w1
                B[r, :len(w2)] = w2
                M[r, :len(w1), :len(w2)] = C
            batches.append((idx, A, B, M))

        def batch_sink():
            out = np.empty(len(fin))
            for idx, A, B, M in batches:
                res = ot.batch.solve_batch(M, reg=reg, a=A, b=B, max_iter=maxit, tol=tol, method="log_sinkhorn")
                out[idx] = np.asarray(res.value_linear)
            return out

        s_ours, s_it, s_conv = ours_sink()
        s_pot = pot_sink()
        sink = {"pairs": int(len(fin)), "reg": reg, "tol": tol, "max_iter": maxit,
                "batching": "ot.batch: pairs sorted by (n1, n2), 256 per batch, zero-weight padding",
                "ours_converged": int(s_conv.sum()), "ours_median_iterations": float(np.median(s_it)),
                "median_rel_error_to_exact": {
                    "ours": float(np.median(np.abs(s_ours - exact[fin]) / exact[fin])),
                    "pot_sinkhorn2": float(np.median(np.abs(s_pot - exact[fin]) / exact[fin]))},
                "ours_vs_pot_sinkhorn2_max_rel": rel_err(s_ours, s_pot)}
        fns = {"ours": lambda: ours_sink(), "pot_sinkhorn2": pot_sink}
        if have_batch:
            try:
                s_batch = batch_sink()
            except TypeError:  # POT < 0.9.7: a different ot.batch interface
                have_batch = False
        if have_batch:
            sink["median_rel_error_to_exact"]["pot_batch"] = float(np.median(np.abs(s_batch - exact[fin]) / exact[fin]))
            sink["ours_vs_pot_batch_max_rel"] = rel_err(s_ours, s_batch)
            fns["pot_batch"] = batch_sink
        else:
            sink["pot_batch"] = f"skipped: POT {ot.__version__} has no usable ot.batch.solve_batch (needs >= 0.9.7)"
        t = interleave(fns, args.repeats)
        sink["median_s"] = {k: float(np.median(v)) for k, v in t.items()}
        sink["pairs_per_s"] = {k: len(fin) / float(np.median(v)) for k, v in t.items()}
        sink["ratio_vs_ours"] = {k: ratio_stats(t[k], t["ours"]) for k in t if k != "ours"}
        report["sinkhorn"] = sink
        print("sinkhorn:", json.dumps({k: sink[k] for k in ("median_rel_error_to_exact", "ratio_vs_ours")}))

    # ---------------------------------------------------------------- 3. nCLiD
    if "nclid" in only:
        lines = (DATA / "ESConv-valid.jsonl").read_text(encoding="utf-8").splitlines()[:corpus.n_conversations]
        dialogs = [json.loads(x)["dialog"] for x in lines]

        def reference_nclid():
            out = []
            for d in dialogs:
                pr = [re.findall(r"\w+", t["text"].lower()) for t in d]
                sp = [t["speaker"] for t in d]
                u1, n1 = published_direction(pr, sp, kv, "usr", "sys")
                u2, n2 = published_direction(pr, sp, kv, "sys", "usr")
                out.append((u1, n1, u2, n2, (n1 + n2) / 2))
            return np.array(out)

        def ours_nclid():
            return fo.nclid(corpus, wv, backend=backend, n_threads=1)

        ref = reference_nclid()
        got = ours_nclid()
        keys = ["uclid_therapist_to_client", "nclid_therapist_to_client", "uclid_client_to_therapist",
                "nclid_client_to_therapist", "nclid"]
        nclid_check = max(rel_err(got[k], ref[:, q]) for q, k in enumerate(keys))
        nc = {"conversations": corpus.n_conversations, "max_rel_diff": nclid_check}
        if nclid_check <= 1e-6:
            t = interleave({"ours": ours_nclid, "reference_gensim": reference_nclid}, args.nclid_repeats)
            nc["median_s"] = {k: float(np.median(v)) for k, v in t.items()}
            nc["conversations_per_s"] = {k: corpus.n_conversations / float(np.median(v)) for k, v in t.items()}
            nc["ratio"] = ratio_stats(t["reference_gensim"], t["ours"])
            # end to end from text, 2 threads (the CLI's path): tokens and bags included
            def ours_e2e():
                c2 = corpus.select(np.arange(corpus.n_conversations))
                return fo.nclid(c2, wv, backend=backend, n_threads=2)
            t2 = interleave({"ours_e2e_2threads": ours_e2e}, args.nclid_repeats)
            nc["ours_end_to_end_2_threads_s"] = float(np.median(t2["ours_e2e_2threads"]))
            nc["ratio_end_to_end_2_threads"] = float(nc["median_s"]["reference_gensim"]
                                                     / nc["ours_end_to_end_2_threads_s"])
        else:
            nc["error"] = "values disagree; no speed reported"
        report["nclid"] = nc
        print("nclid:", json.dumps(nc))

    # ---------------------------------------------------------------- 4. threads
    if "threads" in only:
        keep = np.ones(corpus.n_turns, dtype=bool)
        pa_, pb_ = fo.conversation_pairs(corpus.conv_offsets, keep)
        thr = {"pairs": int(len(pa_))}
        fns = {}
        for be in (["c"] if _c.available else []) + ["numba"]:
            for nt in (1, 2):
                fns[f"wmd_{be}_{nt}"] = (lambda be=be, nt=nt: fo.bag_pairs(
                    bags, pa_, pb_, conv_offsets=corpus.conv_offsets, backend=be, n_threads=nt))
        sub = slice(0, min(len(pa_), 20000))
        for nt in (1, 2):
            fns[f"sinkhorn_{nt}"] = (lambda nt=nt: fo.sinkhorn_pairs(None, pa_[sub], pb_[sub], bags=bags,
                                                                     conv_offsets=corpus.conv_offsets, reg=reg,
                                                                     tol=tol, max_iter=maxit, n_threads=nt))
        cpu = {k: [] for k in fns}

        def with_cpu(name, fn):
            def run():
                r0 = os.times()
                t0 = time.perf_counter()
                out = fn()
                wall = time.perf_counter() - t0
                r1 = os.times()
                cpu[name].append(((r1.user - r0.user) + (r1.system - r0.system)) / wall)
                return out
            return run

        t = interleave({k: with_cpu(k, f) for k, f in fns.items()}, args.repeats)
        thr["median_s"] = {k: float(np.median(v)) for k, v in t.items()}
        # cores actually obtained: process CPU time / wall time (2 threads on an idle 2-core box: ~2)
        thr["cpu_time_per_wall"] = {k: float(np.median(v)) for k, v in cpu.items()}
        thr["speedup_2_vs_1"] = {k[:-2]: ratio_stats(t[k[:-2] + "_1"], t[k]) for k in t if k.endswith("_2")}
        report["threads"] = thr
        print("threads:", json.dumps(thr["speedup_2_vs_1"]))

    report["machine"]["loadavg_after"] = loadavg()
    report["peak_rss_mb"] = rss_mb()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(report, indent=2, default=str))
    out.with_suffix(".md").write_text(render(report))
    print(f"wrote {out.with_suffix('.json')} and {out.with_suffix('.md')}")
    return 0


def render(rep: dict) -> str:
    def r(x):
        return f"{x['median']:.1f}x ({x['min']:.1f}-{x['max']:.1f})"

    L = ["# OT benchmark results", "",
         f"CPU: {rep['machine']['cpu']}; load before/after: {rep['machine']['loadavg_before']} / "
         f"{rep['machine']['loadavg_after']}; thread pins: {rep.get('thread_env')}; versions: {rep['versions']}", "",
         f"Corpus: {rep['corpus']}", "", f"Cold start (s): {rep['cold_start']}", ""]
    w = rep.get("wmd_adjacent", {})
    if "median_s" in w:
        L += ["## Exact WMD, adjacent turns (1 thread)", "",
              f"Value checks (max relative difference): {w['checks']}", "",
              "| workload | median s | pairs/s | peer / ours (kernel) | peer / ours (from tokens) |",
              "| --- | --- | --- | --- | --- |"]
        for k in w["median_s"]:
            rk = w["ratio_vs_ours_kernel"].get(k)
            rt = w["ratio_vs_ours_from_tokens"].get(k)
            L.append(f"| {k} | {w['median_s'][k]:.3f} | {w['pairs_per_s'][k]:.0f} | "
                     f"{r(rk) if rk else '-'} | {r(rt) if rt else '-'} |")
        L.append("")
    s = rep.get("sinkhorn", {})
    if s:
        L += ["## Sinkhorn at matched error (1 thread)", "",
              f"reg={s['reg']}, tol={s['tol']}, pairs={s['pairs']}; median relative error to the exact "
              f"WMD: {s['median_rel_error_to_exact']}", "",
              "| workload | median s | pairs/s | peer / ours |", "| --- | --- | --- | --- |"]
        for k in s["median_s"]:
            rk = s["ratio_vs_ours"].get(k)
            L.append(f"| {k} | {s['median_s'][k]:.3f} | {s['pairs_per_s'][k]:.0f} | {r(rk) if rk else '-'} |")
        if "pot_batch" in s:
            L.append(f"\n{s['pot_batch']}")
        L.append("")
    n = rep.get("nclid", {})
    if "median_s" in n:
        L += ["## nCLiD over ESConv-valid (1 thread)", "",
              f"max relative difference to the published-code reference: {n['max_rel_diff']:.2e}", "",
              "| workload | median s | conversations/s |", "| --- | --- | --- |"]
        for k in n["median_s"]:
            L.append(f"| {k} | {n['median_s'][k]:.2f} | {n['conversations_per_s'][k]:.1f} |")
        L += ["", f"reference / ours: {r(n['ratio'])}; end to end with 2 threads: "
                  f"{n['ours_end_to_end_2_threads_s']:.2f} s ({n['ratio_end_to_end_2_threads']:.1f}x)", ""]
    t = rep.get("threads", {})
    if t:
        L += ["## Threads (all within-conversation pairs)", "",
              "| kernel | 2 threads vs 1 | CPU time / wall, 1 thread | CPU time / wall, 2 threads |",
              "| --- | --- | --- | --- |"]
        for k, v in t["speedup_2_vs_1"].items():
            cw = t.get("cpu_time_per_wall", {})
            L.append(f"| {k} | {r(v)} | {cw.get(k + '_1', float('nan')):.2f} | {cw.get(k + '_2', float('nan')):.2f} |")
        L.append("")
    L.append(f"Peak RSS of the benchmark process: {rep['peak_rss_mb']:.0f} MB (includes gensim's copy of the table)")
    return "\n".join(L) + "\n"


if __name__ == "__main__":
    sys.exit(main())
