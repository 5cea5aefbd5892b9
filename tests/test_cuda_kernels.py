"""CUDA kernels (numba-cuda) against the CPU Numba kernels and independent references.

Without a GPU the kernels run in numba-cuda's simulator: ``test_kernels_in_simulator`` runs
this file again in a subprocess with ``NUMBA_ENABLE_CUDASIM=1`` (set before numba is
imported there, and kept out of this process so that the rest of the suite still sees no
GPU). In that subprocess every kernel test runs on small inputs. On a machine with a GPU the
same kernel tests run here on the device, marked ``gpu`` (``pytest -m gpu``). Everything skips
cleanly when numba-cuda is not installed.

References: the CPU Numba kernels (same definitions, so exact kernels must agree bit for bit),
POT ``ot.emd2`` / ``ot.sinkhorn2`` on costs computed here with NumPy, and naive NumPy for the
similarity, gap and trajectory definitions.
"""
from __future__ import annotations

import importlib
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

SIM = os.environ.get("NUMBA_ENABLE_CUDASIM") == "1"
HAVE_NUMBA_CUDA = importlib.util.find_spec("numba_cuda") is not None
ROOT = Path(__file__).resolve().parents[1]


def _real_gpu() -> bool:
    if SIM or not HAVE_NUMBA_CUDA:
        return False
    from fastmetrics._cuda_support import cuda_status

    return cuda_status()[0]


if not HAVE_NUMBA_CUDA:
    pytestmark = pytest.mark.skip(reason="numba-cuda is not installed (the gpu extra)")
    RUN_KERNELS = False
else:
    RUN_KERNELS = SIM or _real_gpu()


def kernel_test(fn):
    """A kernel test: runs in the simulator subprocess, or on a real GPU (marked ``gpu``)."""
    fn = pytest.mark.skipif(not RUN_KERNELS,
                            reason="no GPU here: the kernel tests run in the simulator subprocess")(fn)
    return fn if SIM else pytest.mark.gpu(fn)


def _cpu(family: str, legacy: str):
    """The CPU Numba kernels of a family (refactored layout first, then the older one)."""
    try:
        return importlib.import_module(f"fastmetrics.metrics.{family}._numba")
    except ImportError:
        return importlib.import_module(f"fastmetrics._numba.{legacy}")


# ------------------------------------------------------------------------------------------
# the simulator run (this process has no GPU)
# ------------------------------------------------------------------------------------------
@pytest.mark.skipif(SIM, reason="this process is the simulator run")
@pytest.mark.skipif(not HAVE_NUMBA_CUDA, reason="numba-cuda is not installed")
@pytest.mark.skipif(RUN_KERNELS and not SIM, reason="a GPU is here: the kernel tests run on it")
def test_kernels_in_simulator():
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1")
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-x",
                        "-m", "not slow", str(Path(__file__).resolve())],
                       cwd=str(ROOT), env=env, capture_output=True, text=True, timeout=900)
    tail = (r.stdout[-6000:] + "\n" + r.stderr[-3000:])
    assert r.returncode == 0, tail
    assert " passed" in r.stdout and " failed" not in r.stdout, tail


# ------------------------------------------------------------------------------------------
# bags
# ------------------------------------------------------------------------------------------
def make_bags(rng, lens, n_rows=48, dim=7, dtype=np.float64, same=()):
    """Random unit vectors and bags of the given lengths (0 = empty bag); ``same`` lists turn
    pairs (i, j) whose bag j copies bag i."""
    table = rng.standard_normal((n_rows, dim))
    table /= np.linalg.norm(table, axis=1, keepdims=True)
    table = table.astype(dtype)
    lens = list(lens)
    rows, weights = [], []
    for length in lens:
        r = rng.choice(n_rows, length, replace=False).astype(np.int32)
        w = rng.integers(1, 5, length).astype(np.float64)
        rows.append(r)
        weights.append(w / w.sum() if length else w)
    for i, j in same:
        rows[j], weights[j], lens[j] = rows[i].copy(), weights[i].copy(), lens[i]
    length = np.array(lens, dtype=np.int32)
    start = np.concatenate([[0], np.cumsum(length)[:-1]]).astype(np.int64)
    return (table, start, length, np.concatenate(rows).astype(np.int32),
            np.concatenate(weights).astype(np.float64))


def cost_np(table, ra, rb, ground_cost):
    """Ground costs in float64 with NumPy (independent of the kernels)."""
    x = table[ra].astype(np.float64)
    y = table[rb].astype(np.float64)
    if ground_cost == 0:
        M = np.sqrt(np.maximum(((x[:, None, :] - y[None, :, :]) ** 2).sum(-1), 0.0))
    else:
        nx = np.linalg.norm(x, axis=1)
        ny = np.linalg.norm(y, axis=1)
        M = np.clip(1.0 - (x @ y.T) / np.outer(nx, ny), 0.0, None)
    M[ra[:, None] == rb[None, :]] = 0.0
    return M


LENS = [5, 7, 0, 3, 1, 6, 9, 4, 2, 8, 5, 1, 7]   # ragged, an empty bag, single words


def _pairs(n):
    a = np.arange(n - 1, dtype=np.int64)
    return a, a + 1


def _tasks(a, b, n_turns, length):
    from fastmetrics.ot import pair_tasks as tasks  # the CPU task builder (any layout keeps it)

    return tasks(a, b, None, n_turns, 2, length)


def _task_args(bags, a, b):
    table, start, length, rows, w = bags
    order, lo, hi, toff = _tasks(a, b, len(length), length)
    return lo, hi, toff, a[order], b[order], start, length, rows, w, table


@pytest.fixture
def ot_cuda():
    from fastmetrics.metrics.ot import _cuda

    return _cuda


@pytest.fixture
def forced_global(ot_cuda, monkeypatch):
    """Shrink the shared-memory class so that most problems take the global-slab path."""
    monkeypatch.setattr(ot_cuda, "SH_NODES", 6)
    monkeypatch.setattr(ot_cuda, "SH_CELLS", 9)
    monkeypatch.setattr(ot_cuda, "_KERNELS", {})
    return ot_cuda


def _run_wmd(mod, args, gc, mode):
    out = np.empty(len(args[3]))
    st = mod.wmd_pairs_kernel(*args, gc, mode, out, 2)
    return out, st


# ------------------------------------------------------------------------------------------
# exact WMD, RWMD, WCD
# ------------------------------------------------------------------------------------------
@kernel_test
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("gc", [0, 1])
def test_exact_wmd_equals_cpu_and_pot(ot_cuda, rng, dtype, gc):
    import ot

    cpu = _cpu("ot", "ot")
    bags = make_bags(rng, LENS, dtype=dtype, same=[(5, 6)])
    a, b = _pairs(len(LENS))
    args = _task_args(bags, a, b)
    ref, st_ref = _run_wmd(cpu, args, gc, 0)
    got, st = _run_wmd(ot_cuda, args, gc, 0)
    assert st == st_ref == 0
    np.testing.assert_array_equal(got, ref)  # same pivots, same sums: bit for bit
    table, start, length, rows, w = bags
    pa, pb = args[3], args[4]
    for p in range(len(pa)):
        n1, n2 = length[pa[p]], length[pb[p]]
        if n1 == 0 or n2 == 0:
            assert got[p] == np.inf
            continue
        ra = rows[start[pa[p]]:start[pa[p]] + n1]
        rb = rows[start[pb[p]]:start[pb[p]] + n2]
        if dtype == np.float64:
            M = cost_np(table, ra, rb, gc)
            val = ot.emd2(w[start[pa[p]]:start[pa[p]] + n1], w[start[pb[p]]:start[pb[p]] + n2], M)
            assert got[p] == pytest.approx(float(val), rel=1e-9, abs=1e-12)
        if set(ra) == set(rb):
            assert got[p] == pytest.approx(0.0, abs=1e-12)  # identical bags


@kernel_test
def test_exact_wmd_global_slab_path(forced_global, rng):
    cpu = _cpu("ot", "ot")
    bags = make_bags(rng, LENS)
    a, b = _pairs(len(LENS))
    args = _task_args(bags, a, b)
    ref, _ = _run_wmd(cpu, args, 0, 0)
    got, st = _run_wmd(forced_global, args, 0, 0)
    assert st == 0
    np.testing.assert_array_equal(got, ref)


@kernel_test
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_rwmd_and_wcd_equal_cpu_and_numpy(ot_cuda, rng, dtype):
    cpu = _cpu("ot", "ot")
    bags = make_bags(rng, LENS, dtype=dtype)
    table, start, length, rows, w = bags
    a, b = _pairs(len(LENS))
    args = _task_args(bags, a, b)
    pa, pb = args[3], args[4]
    for gc in (0, 1):
        ref, _ = _run_wmd(cpu, args, gc, 1)
        got, st = _run_wmd(ot_cuda, args, gc, 1)
        assert st == 0
        np.testing.assert_array_equal(got, ref)
        for p in range(len(pa)):
            n1, n2 = length[pa[p]], length[pb[p]]
            if n1 == 0 or n2 == 0:
                assert got[p] == np.inf
                continue
            ra, rb = rows[start[pa[p]]:][:n1], rows[start[pb[p]]:][:n2]
            wa, wb = w[start[pa[p]]:][:n1], w[start[pb[p]]:][:n2]
            M = cost_np(table, ra, rb, gc)
            naive = max(wa @ M.min(axis=1), wb @ M.min(axis=0))
            assert got[p] == pytest.approx(naive, rel=1e-5 if dtype == np.float32 else 1e-12, abs=1e-7)
    ref, _ = _run_wmd(cpu, args, 0, 2)
    got, st = _run_wmd(ot_cuda, args, 0, 2)
    np.testing.assert_array_equal(got, ref)
    for p in range(len(pa)):
        n1, n2 = length[pa[p]], length[pb[p]]
        if n1 and n2:
            ca = w[start[pa[p]]:][:n1] @ table[rows[start[pa[p]]:][:n1]].astype(np.float64)
            cb = w[start[pb[p]]:][:n2] @ table[rows[start[pb[p]]:][:n2]].astype(np.float64)
            assert got[p] == pytest.approx(np.linalg.norm(ca - cb), rel=1e-12, abs=1e-14)


@kernel_test
def test_exact_wmd_pivot_limit_reports_max_iter(ot_cuda, rng, monkeypatch):
    import ot

    monkeypatch.setattr(ot_cuda, "EMD_CAPS", (0, 0, 0))  # one Dantzig pivot, then stop
    bags = make_bags(rng, [6, 7, 8, 6])
    table, start, length, rows, w = bags
    a, b = _pairs(4)
    args = _task_args(bags, a, b)
    got, st = _run_wmd(ot_cuda, args, 0, 0)
    exact = []
    for p in range(len(args[3])):
        i, j = args[3][p], args[4][p]
        M = cost_np(table, rows[start[i]:][:length[i]], rows[start[j]:][:length[j]], 0)
        exact.append(ot.emd2(w[start[i]:][:length[i]], w[start[j]:][:length[j]], M))
    exact = np.array(exact)
    assert st == 4  # MAX_ITER, as the CPU kernels report it
    assert np.all(got >= exact - 1e-12)  # the cost of a feasible plan: an upper bound
    assert np.any(got > exact + 1e-9)


# ------------------------------------------------------------------------------------------
# Sinkhorn
# ------------------------------------------------------------------------------------------
SK_LENS = [4, 6, 0, 3, 1, 5, 5]


def _run_sk(mod, args, gc, reg, max_iter, tol):
    n = len(args[3])
    out, it, conv = np.empty(n), np.zeros(n, np.int64), np.zeros(n, bool)
    st = mod.sinkhorn_pairs_kernel(*args, gc, reg, max_iter, tol, out, it, conv, 2)
    return out, it, conv, st


@kernel_test
@pytest.mark.parametrize("dtype,gc", [(np.float64, 0), (np.float32, 1)])
def test_sinkhorn_equals_cpu_and_pot(ot_cuda, rng, dtype, gc):
    import ot

    cpu = _cpu("ot", "ot")
    bags = make_bags(rng, SK_LENS, dtype=dtype)
    table, start, length, rows, w = bags
    a, b = _pairs(len(SK_LENS))
    args = _task_args(bags, a, b)
    reg = 0.25
    r_out, r_it, r_conv, r_st = _run_sk(cpu, args, gc, reg, 2000, 1e-10)
    out, it, conv, st = _run_sk(ot_cuda, args, gc, reg, 2000, 1e-10)
    assert st == r_st == 0
    assert conv.all()
    np.testing.assert_array_equal(it, r_it)
    np.testing.assert_allclose(out, r_out, rtol=1e-12, atol=0)
    for p in range(len(args[3])):
        i, j = args[3][p], args[4][p]
        if length[i] == 0 or length[j] == 0:
            assert out[p] == np.inf and it[p] == 0 and conv[p]
            continue
        M = cost_np(table, rows[start[i]:][:length[i]], rows[start[j]:][:length[j]], gc)
        val = ot.sinkhorn2(w[start[i]:][:length[i]], w[start[j]:][:length[j]], M, reg,
                           method="sinkhorn_log", numItermax=5000, stopThr=1e-13)
        assert out[p] == pytest.approx(float(val), rel=1e-5 if dtype == np.float32 else 1e-7,
                                       abs=1e-9)


@kernel_test
def test_sinkhorn_max_iter_not_converged(ot_cuda, rng):
    cpu = _cpu("ot", "ot")
    bags = make_bags(rng, SK_LENS)
    a, b = _pairs(len(SK_LENS))
    args = _task_args(bags, a, b)
    r_out, r_it, r_conv, r_st = _run_sk(cpu, args, 0, 0.01, 3, 1e-14)
    out, it, conv, st = _run_sk(ot_cuda, args, 0, 0.01, 3, 1e-14)
    assert st == r_st == 4
    capped = it == 3
    assert capped.sum() >= 2 and not conv[capped].any()  # 1 x n problems converge at once
    np.testing.assert_array_equal(it, r_it)
    np.testing.assert_array_equal(conv, r_conv)
    np.testing.assert_allclose(out, r_out, rtol=1e-12)


@kernel_test
def test_sinkhorn_global_slab_path_and_ragged_convergence(forced_global, rng):
    cpu = _cpu("ot", "ot")
    bags = make_bags(rng, SK_LENS)
    a, b = _pairs(len(SK_LENS))
    args = _task_args(bags, a, b)
    r = _run_sk(cpu, args, 0, 0.3, 500, 1e-9)
    g = _run_sk(forced_global, args, 0, 0.3, 500, 1e-9)
    np.testing.assert_array_equal(g[1], r[1])
    assert len(set(g[1][np.isfinite(g[0]) & (g[1] > 1)].tolist())) > 1  # per-problem stopping
    np.testing.assert_allclose(g[0], r[0], rtol=1e-12)


@kernel_test
def test_one_copy_in_one_copy_out(ot_cuda, rng):
    from fastmetrics._cuda_support import reset_transfers, transfer_counts

    bags = make_bags(rng, LENS)
    a, b = _pairs(len(LENS))
    args = _task_args(bags, a, b)
    reset_transfers()
    _run_wmd(ot_cuda, args, 0, 0)
    c = transfer_counts()
    assert (c["h2d"], c["d2h"]) == (1, 1)
    reset_transfers()
    _run_sk(ot_cuda, args, 0, 0.5, 50, 1e-6)
    c = transfer_counts()
    assert (c["h2d"], c["d2h"]) == (1, 1)


# ------------------------------------------------------------------------------------------
# embedding similarities
# ------------------------------------------------------------------------------------------
CONV_LENS = [0, 1, 6, 9, 2, 12, 0, 7]


@pytest.fixture
def convs(rng):
    off = np.concatenate([[0], np.cumsum(CONV_LENS)]).astype(np.int64)
    n = int(off[-1])
    emb = rng.standard_normal((n, 12)).astype(np.float32)
    emb[4] = 0.0  # a zero row: NaN cosines
    role = rng.integers(0, 3, n).astype(np.int8)
    role[off[3]:off[4]] = np.array([0, 1] * 5)[:9]
    return off, emb, role


def cos_ref(emb, off):
    out = np.full(len(emb), np.nan)
    e = emb.astype(np.float64)
    for c in range(len(off) - 1):
        for t in range(off[c] + 1, off[c + 1]):
            d = np.linalg.norm(e[t]) * np.linalg.norm(e[t - 1])
            out[t] = e[t] @ e[t - 1] / d if d > 0 else np.nan
    return out


@kernel_test
def test_similarity_kernels_equal_cpu_and_numpy(convs):
    from fastmetrics.metrics.embedding_sync import _cuda as g

    cpu = _cpu("embedding_sync", "sim")
    off, emb, role = convs
    n, n_conv = len(emb), len(off) - 1
    sim, ref = np.empty(n), np.empty(n)
    g.adjacent_cosine_kernel(emb, off, sim)
    cpu.adjacent_cosine_kernel(emb, off, ref)
    np.testing.assert_array_equal(sim, ref)
    np.testing.assert_allclose(sim, cos_ref(emb, off), rtol=1e-12, atol=1e-14)
    win, wref = np.empty(n), np.empty(n)
    g.window_mean_kernel(sim, off, 3, win)
    cpu.window_mean_kernel(sim, off, 3, wref)
    np.testing.assert_array_equal(win, wref)
    c = 3
    for t in range(off[c], off[c + 1]):
        x = sim[max(off[c], t - 2):t + 1]
        assert win[t] == pytest.approx(np.nanmean(x) if np.isfinite(x).any() else np.nan, nan_ok=True)
    m, mref = np.empty(n_conv), np.empty(n_conv)
    g.segment_nanmean_kernel(sim, off, m)
    cpu.segment_nanmean_kernel(sim, off, mref)
    np.testing.assert_array_equal(m, mref)
    lags = np.array([-2, -1, 0, 1, 2], dtype=np.int64)
    x = sim.copy()
    x[::3] = np.round(x[::3], 1)  # ties
    lg, lref = np.empty((n_conv, 5)), np.empty((n_conv, 5))
    g.lagged_spearman_kernel(x, role, off, 0, 1, lags, lg)
    cpu.lagged_spearman_kernel(x, role, off, np.int8(0), np.int8(1), lags, lref)
    np.testing.assert_array_equal(lg, lref)
    assert np.isfinite(lg).sum() >= 3
    from scipy.stats import spearmanr

    c = 3
    seg = slice(off[c], off[c + 1])
    sa, sb = x[seg][role[seg] == 0], x[seg][role[seg] == 1]
    k = min(len(sa), len(sb))
    ok = np.isfinite(sa[:k]) & np.isfinite(sb[:k])
    if ok.sum() >= 3:
        assert lg[c, 2] == pytest.approx(spearmanr(sa[:k][ok], sb[:k][ok]).statistic, rel=1e-12)


@kernel_test
def test_embeddings_on_the_device_are_not_copied(convs):
    from numba import cuda

    from fastmetrics._cuda_support import reset_transfers, transfer_counts
    from fastmetrics.metrics.embedding_sync import _cuda as g

    cpu = _cpu("embedding_sync", "sim")
    off, emb, role = convs
    d_emb = cuda.to_device(emb)
    reset_transfers()
    out = np.empty(len(emb))
    g.adjacent_cosine_kernel(d_emb, off, out)
    c = transfer_counts()
    assert c["h2d"] == 1 and c["h2d_bytes"] < emb.nbytes  # only the offsets went over
    ref = np.empty(len(emb))
    cpu.adjacent_cosine_kernel(emb, off, ref)
    np.testing.assert_array_equal(out, ref)
    turns, conv = g.synchrony_device(d_emb, role, off, 3, [-2, -1, 0, 1, 2])
    np.testing.assert_array_equal(turns["emb_sim_prev"], ref)
    mref = np.empty(len(off) - 1)
    change = np.zeros(len(emb), dtype=bool)
    change[1:] = role[1:] != role[:-1]
    cpu.segment_nanmean_kernel(np.where(change, ref, np.nan), off, mref)
    np.testing.assert_array_equal(conv["emb_sim_change_mean"], mref)


# ------------------------------------------------------------------------------------------
# alliance
# ------------------------------------------------------------------------------------------
@kernel_test
@pytest.mark.parametrize("compass", [False, True])
def test_alliance_gaps_equal_cpu(convs, rng, compass):
    from fastmetrics.metrics.alliance import _cuda as g

    cpu = _cpu("alliance", "sim")
    off, emb, role = convs
    scores = rng.standard_normal((len(emb), 4)).astype(np.float32)
    scores[2, 1] = np.nan
    n_conv = len(off) - 1
    got = [np.empty((n_conv, 4)) for _ in range(3)]
    ref = [np.empty((n_conv, 4)) for _ in range(3)]
    g.alliance_gap_kernel(scores, role, off, compass, *got)
    cpu.alliance_gap_kernel(scores, role, off, compass, *ref)
    for x, y in zip(got, ref):
        np.testing.assert_array_equal(x, y)
    assert np.isfinite(got[1]).any()


@kernel_test
def test_alliance_item_scores_equal_numpy(convs, rng):
    from fastmetrics.metrics.alliance import _cuda as g

    off, emb, role = convs
    wc = rng.standard_normal((36, emb.shape[1])).astype(np.float32)
    wt = rng.standard_normal((36, emb.shape[1])).astype(np.float32)
    out = np.empty((len(emb), 36), dtype=np.float32)
    g.alliance_item_scores_kernel(emb, role, wc, wt, out)
    e = emb.astype(np.float64)
    nrm = np.linalg.norm(e, axis=1)
    ref = np.full((len(emb), 36), np.nan)
    for r, wm in ((0, wc), (1, wt)):
        k = (role == r) & (nrm > 0)
        ref[k] = (e[k] @ wm.T.astype(np.float64)) / nrm[k, None]
    np.testing.assert_array_equal(np.isnan(out), np.isnan(ref))
    np.testing.assert_allclose(out[~np.isnan(ref)], ref[~np.isnan(ref)], rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------------------------------
# trajectory
# ------------------------------------------------------------------------------------------
@kernel_test
@pytest.mark.parametrize("role_filter", [-1, 0])
def test_trajectory_equals_cpu_with_position_normalised_auc(convs, rng, role_filter):
    from fastmetrics.metrics.trajectory import _cuda as g

    cpu = _cpu("trajectory", "trajectory")
    off, emb, role = convs
    vals = rng.standard_normal(len(emb))
    vals[::4] = np.nan
    n_conv = len(off) - 1
    got, ref = np.empty((14, n_conv)), np.empty((14, n_conv))
    g.trajectory_kernel(off, vals, role, role_filter, 0.0, got)
    cpu.trajectory_kernel(off, vals, role, role_filter, 0.0, ref)
    auc = g.FEATURES.index("auc")
    keep = [f for f in range(14) if f != auc]
    np.testing.assert_array_equal(got[keep], ref[keep])
    for c in range(n_conv):
        seg = slice(off[c], off[c + 1])
        use = ~np.isnan(vals[seg]) & ((role[seg] == role_filter) if role_filter >= 0 else True)
        y = vals[seg][use]
        if len(y) == 0:
            assert np.isnan(got[auc, c])
        elif len(y) == 1:
            assert got[auc, c] == y[0]
        else:
            x = np.linspace(0.0, 1.0, len(y))
            assert got[auc, c] == pytest.approx(np.sum(np.diff(x) * (y[1:] + y[:-1]) / 2), rel=1e-12)


@kernel_test
def test_trajectory_auc_of_a_constant_is_the_constant():
    from fastmetrics.metrics.trajectory import _cuda as g

    off = np.array([0, 1, 4, 14], dtype=np.int64)
    vals = np.full(14, 2.5)
    out = np.empty((14, 3))
    g.trajectory_kernel(off, vals, np.zeros(14, np.int8), -1, np.nan, out)
    np.testing.assert_array_equal(out[g.FEATURES.index("auc")], [2.5, 2.5, 2.5])


# ------------------------------------------------------------------------------------------
# availability
# ------------------------------------------------------------------------------------------
def test_cuda_status_reasons(monkeypatch):
    import fastmetrics._cuda_support as cs

    monkeypatch.setattr(cs.importlib.util, "find_spec",
                        lambda name, *a: None if name == "numba_cuda" else importlib.util.find_spec(name))
    ok, why = cs.cuda_status(refresh=True)
    assert not ok and "numba-cuda is not installed" in why
    monkeypatch.undo()
    if HAVE_NUMBA_CUDA:
        monkeypatch.setattr(cs, "is_simulator", lambda: False)

        def no_driver(name, *a, **k):
            raise OSError(f"{name}: cannot open shared object file")

        monkeypatch.setattr(cs.ctypes, "CDLL", no_driver)
        ok, why = cs.cuda_status(refresh=True)
        assert not ok and "no NVIDIA driver" in why
        monkeypatch.undo()
    ok, why = cs.cuda_status(refresh=True)
    if SIM:
        assert ok and "simulator" in why
    cs.cuda_status(refresh=True)
