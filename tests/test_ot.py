"""Optimal-transport engine: exact EMD, batched WMD, bounds, Sinkhorn, nCLiD, vectors, families.

Every backend runs the same suite; references are POT ``ot.emd2`` / scipy ``linprog`` / gensim
and a plain-loop nCLiD written from METRICS.md (fastmetrics/testing/reference_ot.py).
"""
from __future__ import annotations

import math
import struct

import numpy as np
import pyarrow as pa
import pytest
from conftest import BACKENDS
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fastmetrics import ot as fo
from fastmetrics.corpus import Corpus
from fastmetrics.errors import InputError
from fastmetrics.testing.reference_ot import emd_linprog, nclid_reference, wmd_reference
from fastmetrics.vectors import WordVectors, load_vectors

ot = pytest.importorskip("ot", reason="POT is the test oracle (pip install -e '.[test]')")

RTOL64 = 1e-9
ATOL = 1e-12


def close(x, y, rtol=RTOL64):
    x, y = np.asarray(x, float), np.asarray(y, float)
    both_inf = np.isinf(x) & np.isinf(y) & (np.sign(x) == np.sign(y))
    with np.errstate(invalid="ignore"):
        return bool(np.all(both_inf | (np.abs(x - y) <= rtol * np.abs(y) + ATOL)))


@pytest.fixture(scope="module")
def table():
    """A random vector table with 60 words; vectors of mixed norms."""
    r = np.random.default_rng(7)
    words = [f"w{i}" for i in range(60)]
    mat = r.normal(size=(60, 6)) * r.uniform(0.5, 2.0, size=(60, 1))
    return WordVectors.from_numpy(mat, words, name="random60")


def random_docs(r, n, vocab=70, max_len=25):
    """Token lists over w0..w69 (w60..w69 are out of vocabulary); some empty-in-vocab docs."""
    docs = []
    for q in range(n):
        L = int(r.integers(0, max_len))
        if q % 17 == 5:
            docs.append([f"w{int(i)}" for i in r.integers(60, 70, size=max(L, 1))])  # OOV only
        else:
            docs.append([f"w{int(i)}" for i in r.integers(0, vocab, size=L)])
    return docs


def corpus_of(docs, conv_sizes, roles=None):
    n = len(docs)
    off = np.concatenate([[0], np.cumsum(conv_sizes)]).astype(np.int64)
    assert off[-1] == n
    roles = np.array(roles if roles is not None else [q % 2 for q in range(n)], dtype=np.int8)
    return Corpus(conversation_id=pa.array([f"c{i}" for i in range(len(conv_sizes))]),
                  conv_offsets=off, role=roles, speaker=pa.array(["x"] * n),
                  text=pa.array([" ".join(d) for d in docs]))


# ------------------------------------------------------------------------------------------
# exact EMD of dense problems
# ------------------------------------------------------------------------------------------
def random_problem(r, n1, n2, kind):
    if kind == "uniform":
        a, b = np.full(n1, 1 / n1), np.full(n2, 1 / n2)
    else:
        a = r.integers(1, 6, n1).astype(float)
        b = r.integers(1, 6, n2).astype(float)
        a, b = a / a.sum(), b / b.sum()
    if kind == "integer":
        M = r.integers(0, 3, (n1, n2)).astype(float)  # heavily degenerate
    else:
        M = ot.dist(r.normal(size=(n1, 4)), r.normal(size=(n2, 4)), metric="euclidean")
    return a, b, M


@pytest.mark.parametrize("backend", BACKENDS)
def test_emd_matches_pot_on_mixed_sizes(backend, rng):
    worst = 0.0
    for q in range(150):
        n1, n2 = (int(x) for x in rng.integers(1, 45, 2))
        a, b, M = random_problem(rng, n1, n2, ("uniform", "counts", "integer")[q % 3])
        ours = fo.emd(a, b, M, backend=backend)
        ref = float(ot.emd2(a, b, M))
        assert close(ours, ref), (n1, n2, ours, ref)
        worst = max(worst, abs(ours - ref) / max(ref, 1e-300))
    assert worst < RTOL64


@pytest.mark.parametrize("backend", BACKENDS)
def test_emd_matches_linprog_on_tiny_problems(backend, rng):
    for q in range(25):
        n1, n2 = (int(x) for x in rng.integers(1, 6, 2))
        a, b, M = random_problem(rng, n1, n2, ("uniform", "counts", "integer")[q % 3])
        assert close(fo.emd(a, b, M, backend=backend), emd_linprog(a, b, M), rtol=1e-7)


@pytest.mark.parametrize("backend", BACKENDS)
def test_emd_plan_is_feasible_and_prices_to_the_value(backend, rng):
    for q in range(20):
        n1, n2 = (int(x) for x in rng.integers(2, 30, 2))
        a, b, M = random_problem(rng, n1, n2, ("uniform", "counts", "integer")[q % 3])
        value, plan = fo.emd(a, b, M, backend=backend, return_plan=True)
        assert plan.min() >= 0
        np.testing.assert_allclose(plan.sum(1), a, atol=1e-12)
        np.testing.assert_allclose(plan.sum(0), b, atol=1e-12)
        assert close(value, float((plan * M).sum()))
        # any feasible plan costs at least as much (the independent-coupling plan)
        assert value <= float((np.outer(a, b) * M).sum()) + 1e-12


def test_emd_backends_agree(rng):
    pytest.importorskip("fastmetrics._c._fastmetrics_c", reason="C extension not built")
    for q in range(30):
        n1, n2 = (int(x) for x in rng.integers(1, 40, 2))
        a, b, M = random_problem(rng, n1, n2, ("uniform", "counts", "integer")[q % 3])
        assert close(fo.emd(a, b, M, backend="c"), fo.emd(a, b, M, backend="numba"), rtol=1e-12)


# ------------------------------------------------------------------------------------------
# batched WMD against POT on the same float64 costs
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("normalize,ground", [(True, "euclidean"), (False, "euclidean"), (True, "cosine")])
def test_wmd_pairs_match_pot(backend, normalize, ground, table, rng):
    docs = random_docs(rng, 40)
    corpus = corpus_of(docs, [12, 9, 19])
    pa_ = rng.integers(0, 40, 300)
    pb_ = rng.integers(0, 40, 300)  # within and across conversations
    ours = fo.wmd_pairs(corpus, pa_, pb_, table, backend=backend, normalize_vectors=normalize,
                        ground_cost=ground, n_threads=2)
    words = table.words.to_pylist()
    mat = np.asarray(table.matrix)
    ref = [wmd_reference(docs[i], docs[j], words, mat, normalize=normalize, ground_cost=ground)
           for i, j in zip(pa_, pb_)]
    assert np.isinf(ref).any() and np.isfinite(ref).any()
    assert close(ours, ref)


@pytest.mark.parametrize("backend", BACKENDS)
def test_wmd_float32_table_close_to_float64(backend, table, rng):
    docs = random_docs(rng, 30)
    i, j = np.triu_indices(30, 1)
    d64 = fo.wmd_pairs(docs, i, j, table, backend=backend)
    d32 = fo.wmd_pairs(docs, i, j, table, backend=backend, dtype=np.float32)
    assert close(d32, d64, rtol=1e-5)




@pytest.mark.parametrize("backend", BACKENDS)
def test_lower_bounds_match_their_definitions(backend, table, rng):
    docs = random_docs(rng, 25)
    i, j = np.triu_indices(25, 1)
    rw = fo.wmd_pairs(docs, i, j, table, backend=backend, method="rwmd")
    wc = fo.wmd_pairs(docs, i, j, table, backend=backend, method="wcd")
    index = {w: q for q, w in enumerate(table.words.to_pylist())}
    from fastmetrics.testing.reference_ot import nbow
    mat = np.asarray(table.matrix)
    for q, (x, y) in enumerate(zip(i, j)):
        r1, w1 = nbow(docs[x], index)
        r2, w2 = nbow(docs[y], index)
        if r1 is None or r2 is None:
            assert np.isinf(rw[q]) and np.isinf(wc[q])
            continue
        X = mat[r1] / np.linalg.norm(mat[r1], axis=1)[:, None]
        Y = mat[r2] / np.linalg.norm(mat[r2], axis=1)[:, None]
        M = np.sqrt(((X[:, None, :] - Y[None, :, :]) ** 2).sum(-1))
        assert close(rw[q], max(w1 @ M.min(1), w2 @ M.min(0)))
        assert close(wc[q], np.linalg.norm(w1 @ X - w2 @ Y))


# ------------------------------------------------------------------------------------------
# metric properties (Hypothesis)
# ------------------------------------------------------------------------------------------
doc_strategy = st.lists(st.integers(0, 25).map(lambda i: f"w{i}"), min_size=1, max_size=12)


@pytest.mark.parametrize("backend", BACKENDS)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(x=doc_strategy, y=doc_strategy, z=doc_strategy)
def test_wmd_metric_properties(backend, table, x, y, z):
    docs = [x, y, z, list(reversed(x))]
    A = np.array([0, 1, 0, 1, 0, 0])
    B = np.array([0, 1, 1, 0, 2, 3])
    d = fo.wmd_pairs(docs, A, B, table, backend=backend)
    dxx, dyy, dxy, dyx, dxz, dx_rev = d
    assert dxx == 0 and dyy == 0 and dx_rev == 0  # d(x, x) = 0, bag of words ignores order
    assert dxy >= 0 and close(dxy, dyx, rtol=1e-12)
    dyz = fo.wmd_pairs(docs, [1], [2], table, backend=backend)[0]
    assert dxz <= dxy + dyz + 1e-12  # triangle inequality (Euclidean ground cost)
    wc = fo.wmd_pairs(docs, A, B, table, backend=backend, method="wcd")
    rw = fo.wmd_pairs(docs, A, B, table, backend=backend, method="rwmd")
    assert np.all(wc <= d + 1e-12) and np.all(rw <= d + 1e-12)


def test_wcd_is_not_always_below_rwmd(table):
    """Both are lower bounds of WMD, but METRICS.md's chain WCD <= RWMD does not hold in general:
    with x = {w0, w1} and z = {w0, w0, w1} every word has a zero-cost match (RWMD = 0) while the
    weighted centroids differ (WCD > 0)."""
    docs = [["w0", "w1"], ["w0", "w0", "w1"]]
    wc = fo.wmd_pairs(docs, [0], [1], table, method="wcd")[0]
    rw = fo.wmd_pairs(docs, [0], [1], table, method="rwmd")[0]
    d = fo.wmd_pairs(docs, [0], [1], table)[0]
    assert rw == 0 and 0 < wc <= d + 1e-12


# ------------------------------------------------------------------------------------------
# Sinkhorn
# ------------------------------------------------------------------------------------------
def test_sinkhorn_converges_to_the_exact_value(table, rng):
    docs = random_docs(rng, 12)
    docs = [d for d in docs if any(int(w[1:]) < 60 for w in d)][:8]
    i, j = np.triu_indices(len(docs), 1)
    exact = fo.wmd_pairs(docs, i, j, table)
    errs = []
    for reg in (0.5, 0.2, 0.1, 0.05):
        val, n_iter, conv = fo.sinkhorn_pairs(docs, i, j, table, reg=reg, max_iter=100000, tol=1e-7)
        assert conv.all() and (n_iter >= 1).all()
        assert np.all(val >= exact - 1e-9)  # <P_reg, C> >= optimal cost
        errs.append(np.max(np.abs(val - exact) / exact))
    assert all(e2 < e1 for e1, e2 in zip(errs, errs[1:])), errs
    assert errs[-1] < 0.03


def test_sinkhorn_matches_pot_log_domain(table, rng):
    docs = random_docs(rng, 10)
    docs = [d for d in docs if any(int(w[1:]) < 60 for w in d)][:6]
    i, j = np.triu_indices(len(docs), 1)
    val, _, conv = fo.sinkhorn_pairs(docs, i, j, table, reg=0.1, max_iter=5000, tol=1e-12)
    index = {w: q for q, w in enumerate(table.words.to_pylist())}
    from fastmetrics.testing.reference_ot import nbow
    mat = np.asarray(table.matrix)
    for q, (x, y) in enumerate(zip(i, j)):
        r1, w1 = nbow(docs[x], index)
        r2, w2 = nbow(docs[y], index)
        X = mat[r1] / np.linalg.norm(mat[r1], axis=1)[:, None]
        Y = mat[r2] / np.linalg.norm(mat[r2], axis=1)[:, None]
        M = ot.dist(X, Y, metric="euclidean")
        ref = float(ot.sinkhorn2(w1, w2, M, 0.1, method="sinkhorn_log", numItermax=5000, stopThr=1e-12))
        assert abs(val[q] - ref) <= 1e-6 * ref


def test_sinkhorn_reports_non_convergence(table, rng):
    docs = random_docs(rng, 6)
    docs = [d for d in docs if any(int(w[1:]) < 60 for w in d)][:4]
    from fastmetrics.errors import ConvergenceWarning
    with pytest.warns(ConvergenceWarning):
        _, n_iter, conv = fo.sinkhorn_pairs(docs, [0, 1], [2, 3], table, reg=0.001, max_iter=2, tol=1e-14)
    assert not conv.any() and (n_iter == 2).all()


# ------------------------------------------------------------------------------------------
# gensim agreement with the default GloVe vectors
# ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def glove_kv():
    pytest.importorskip("gensim", reason="gensim is the reference for wmdistance")
    from gensim.models import KeyedVectors

    try:
        wv = load_vectors()
    except InputError as exc:
        pytest.skip(str(exc))
    kv = KeyedVectors(wv.dim)
    kv.add_vectors(wv.words.to_pylist(), np.asarray(wv.matrix))
    return wv, kv


SENTENCES = [
    "I have been feeling really anxious about my job lately",
    "I am sorry to hear that. Losing sleep over work is hard.",
    "hello", "hello", "Hello hello", "zzqxv qqzzx", "", "the the the the",
    "It sounds like you are under a lot of pressure at work",
    "Have you talked to your manager about how you feel?",
]


@pytest.mark.parametrize("backend", BACKENDS)
def test_wmd_matches_gensim_wmdistance(backend, glove_kv):
    import re

    wv, kv = glove_kv
    toks = [re.findall(r"\w+", s.lower()) for s in SENTENCES]
    n = len(toks)
    i, j = (x.ravel() for x in np.meshgrid(np.arange(n), np.arange(n)))
    ours = fo.wmd_pairs(SENTENCES, i, j, wv, backend=backend)
    import logging
    logging.getLogger("gensim").setLevel(logging.ERROR)
    ref = np.array([kv.wmdistance(toks[a], toks[b]) for a, b in zip(i, j)])
    assert np.isinf(ref).any()
    assert close(ours, ref, rtol=1e-6)
    assert fo.wmd(SENTENCES[0], SENTENCES[1], wv, backend=backend) == pytest.approx(
        kv.wmdistance(toks[0], toks[1]), rel=1e-6)


# ------------------------------------------------------------------------------------------
# nCLiD
# ------------------------------------------------------------------------------------------
def _dist_from(docs, table):
    words = table.words.to_pylist()
    mat = np.asarray(table.matrix)
    cache = {}

    def dist(i, j):
        key = (min(i, j), max(i, j))
        if key not in cache:
            cache[key] = wmd_reference(docs[i], docs[j], words, mat)
        return cache[key]
    return dist


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("k,denominator", [(3, "sum"), (1, "mean"), (10, "sum")])
def test_nclid_matches_reference(backend, k, denominator, table, rng):
    docs = random_docs(rng, 64)
    sizes = [14, 10, 4, 1, 20, 15]
    roles = list(rng.integers(0, 3, 64))
    roles[24:28] = [0, 0, 0, 0]             # conversation 2: client only -> NaN
    roles[29:49] = list(rng.integers(0, 2, 20))
    corpus = corpus_of(docs, sizes, roles)
    res = fo.nclid(corpus, table, k=k, denominator=denominator, backend=backend)
    dist = _dist_from(docs, table)
    off = corpus.conv_offsets
    for c in range(len(sizes)):
        lo, hi = off[c], off[c + 1]
        sub_roles = roles[lo:hi]

        def d(i, j, lo=lo):
            return dist(lo + i, lo + j)

        for anchor, coord, name in ((0, 1, "therapist_to_client"), (1, 0, "client_to_therapist")):
            u, n = nclid_reference(sub_roles, d, anchor=anchor, coord=coord, k=k, denominator=denominator)
            got_u, got_n = res[f"uclid_{name}"][c], res[f"nclid_{name}"][c]
            if math.isnan(u):
                assert math.isnan(got_u) and math.isnan(got_n)
            else:
                assert close(got_u, u) and close(got_n, n), (c, name, got_u, u, got_n, n)
    np.testing.assert_allclose(res["nclid"], (res["nclid_therapist_to_client"] + res["nclid_client_to_therapist"]) / 2)
    assert math.isnan(res["nclid"][2]) and math.isnan(res["nclid"][3])


def test_nclid_identical_utterances_give_zero(table):
    docs = [["w1", "w2"]] * 6
    corpus = corpus_of(docs, [6])
    res = fo.nclid(corpus, table)
    assert res["uclid_therapist_to_client"][0] == 0 and res["nclid_therapist_to_client"][0] == math.inf
    docs = [["w1", "w2"], ["w1", "w2"], ["w3"], ["w3"], ["w4", "w5"], ["w5", "w4"]]
    res = fo.nclid(corpus_of(docs, [6]), table, k=1)
    assert res["uclid_therapist_to_client"][0] == 0 and res["nclid_therapist_to_client"][0] == 0


@pytest.mark.filterwarnings("ignore::fastmetrics.errors.ConvergenceWarning")
def test_nclid_approximate_modes_have_their_own_names(table, rng):
    docs = random_docs(rng, 20)
    corpus = corpus_of(docs, [20])
    exact = fo.nclid(corpus, table)
    for mode in ("rwmd", "wcd", "sinkhorn"):
        res = fo.nclid(corpus, table, mode=mode)
        assert set(res) == {f"{k}_{mode}" for k in exact}
        assert "nclid" not in res
        if mode in ("rwmd", "wcd"):  # lower bounds: uCLiD cannot exceed the exact one
            assert res[f"uclid_therapist_to_client_{mode}"][0] <= exact["uclid_therapist_to_client"][0] + 1e-12


# ------------------------------------------------------------------------------------------
# all-pairs matrix, adjacent pairs, the families
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
def test_wmd_matrix_and_adjacent(backend, table, rng):
    docs = random_docs(rng, 30)
    corpus = corpus_of(docs, [10, 20])
    M = fo.wmd_matrix(corpus, 1, table, backend=backend)
    assert M.shape == (20, 20)
    dist = _dist_from(docs, table)
    for i in range(20):
        for j in range(20):
            if i == j:
                in_vocab = any(int(w[1:]) < 60 for w in docs[10 + i])
                assert M[i, i] == (0.0 if in_vocab else math.inf)
            else:
                assert close(M[i, j], dist(10 + i, 10 + j))
    adj = fo.wmd_adjacent(corpus, table, backend=backend)
    assert math.isnan(adj[0]) and math.isnan(adj[10])
    for t in list(range(1, 10)) + list(range(11, 30)):
        assert close(adj[t], dist(t - 1, t))


def test_families_write_the_issue_columns(table, rng):
    from fastmetrics import registry

    docs = random_docs(rng, 30)
    corpus = corpus_of(docs, [10, 20])
    ctx = registry.Context(options={"vectors": "random60", "ground_cost": "euclidean",
                                    "normalize_vectors": True, "nclid_k": 3,
                                    "nclid_denominator": "sum", "nclid_mode": "exact"}, n_threads=2)
    ctx.resources["vectors:random60"] = table
    res = registry.get("wmd").compute(corpus, ctx)
    col = res.turns["wmd_prev"]
    assert col.null_count == 2 and col[0].as_py() is None and col[10].as_py() is None
    np.testing.assert_allclose(col.to_numpy(zero_copy_only=False)[1:10],
                               fo.wmd_adjacent(corpus, table)[1:10])
    assert res.metadata["ot.vectors"] == "random60"
    res2 = registry.get("nclid").compute(corpus, ctx)
    assert set(res2.conversations) == {"uclid_therapist_to_client", "nclid_therapist_to_client",
                                       "uclid_client_to_therapist", "nclid_client_to_therapist", "nclid"}
    np.testing.assert_array_equal(res2.conversations["nclid"], fo.nclid(corpus, table)["nclid"])


# ------------------------------------------------------------------------------------------
# vectors loaders
# ------------------------------------------------------------------------------------------
def test_vector_file_formats(tmp_path):
    r = np.random.default_rng(3)
    words = ["alpha", "beta", "gamma", "déjà"]
    mat = r.normal(size=(4, 5)).astype(np.float32)
    # word2vec binary
    with open(tmp_path / "v.bin", "wb") as fh:
        fh.write(b"4 5\n")
        for w, v in zip(words, mat):
            fh.write(w.encode() + b" " + struct.pack("<5f", *v) + b"\n")
    # word2vec text (header) and GloVe text (no header)
    lines = [w + " " + " ".join(repr(float(x)) for x in v) for w, v in zip(words, mat)]
    (tmp_path / "w2v.txt").write_text("4 5\n" + "\n".join(lines) + "\n", encoding="utf-8")
    (tmp_path / "glove.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    np.save(tmp_path / "m.npy", mat)
    (tmp_path / "m.vocab.txt").write_text("\n".join(words) + "\n", encoding="utf-8")
    for name in ("v.bin", "w2v.txt", "glove.txt", "m.npy"):
        wv = load_vectors(tmp_path / name)
        assert wv.words.to_pylist() == words, name
        np.testing.assert_allclose(np.asarray(wv.matrix), mat, rtol=1e-6, err_msg=name)
        np.testing.assert_array_equal(wv.lookup(pa.array(["gamma", "zzz", "déjà"])), [2, -1, 3])
    (tmp_path / "bad.txt").write_text("a 1 2\nb 1\n", encoding="utf-8")
    with pytest.raises(InputError, match="line 2"):
        load_vectors(tmp_path / "bad.txt")
    with pytest.raises(InputError, match="no such file"):
        load_vectors(tmp_path / "missing.vec")
    np.save(tmp_path / "lonely.npy", mat)
    with pytest.raises(InputError, match="vocabulary"):
        load_vectors(tmp_path / "lonely.npy")


def test_default_vectors_are_memory_mapped():
    try:
        wv = load_vectors()
    except InputError as exc:
        pytest.skip(str(exc))
    assert wv.name == "glove-6b-50d" and wv.matrix.shape == (400000, 50)
    assert isinstance(wv.matrix, np.memmap)


# ------------------------------------------------------------------------------------------
# bad input
# ------------------------------------------------------------------------------------------
def test_bad_input_raises_input_error(table):
    docs = [["w1"], ["w2", "w3"]]
    bad = [
        lambda: fo.wmd_pairs(docs, [0], [1], table, method="fast"),
        lambda: fo.wmd_pairs(docs, [0], [1], table, backend="gpu"),
        lambda: fo.wmd_pairs(docs, [0, 1], [1], table),
        lambda: fo.wmd_pairs(docs, [0], [2], table),
        lambda: fo.wmd_pairs(docs, [0], [1], table, ground_cost="cosine", method="wcd"),
        lambda: fo.wmd_pairs(docs, [0], [1], table, dtype=np.int32),
        lambda: fo.wmd_pairs("not a list", [0], [1], table),
        lambda: fo.emd([0.5, 0.5], [0.3, 0.3], np.ones((2, 2))),
        lambda: fo.emd([1.5, -0.5], [1.0], np.ones((2, 1))),
        lambda: fo.emd([1.0], [1.0], [[np.nan]]),
        lambda: fo.emd([1.0], [1.0], np.ones((2, 2))),
        lambda: fo.sinkhorn_pairs(docs, [0], [1], table, reg=0),
        lambda: fo.nclid(corpus_of([["w1"], ["w2"]], [2]), table, k=0),
        lambda: fo.nclid(corpus_of([["w1"], ["w2"]], [2]), table, denominator="median"),
        lambda: fo.nclid(corpus_of([["w1"], ["w2"]], [2]), table, mode="fast"),
        lambda: fo.wmd_matrix(corpus_of([["w1"], ["w2"]], [2]), 5, table),
    ]
    for f in bad:
        with pytest.raises(InputError):
            f()
