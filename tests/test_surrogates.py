"""Surrogate baselines of the synchrony measures against the naive references of
fastmetrics/testing/reference_surrogates.py; the null rate of "above chance"; invariance."""
from __future__ import annotations

import numpy as np
import pyarrow as pa

import fastmetrics as fm
import fastmetrics.testing.reference_surrogates as ref
from fastmetrics import Corpus
from fastmetrics._surrogates_numba import fill_source
from fastmetrics.lexicon import CATEGORIES, builtin_lexicon
from fastmetrics.metrics.sync import SURROGATE_MEASURES, category_counts, sync_surrogates, synchrony
from fastmetrics.surrogates import conversation_seeds, summarise

WORDS = ["i", "you", "it", "the", "a", "is", "was", "very", "in", "on", "and", "but", "not",
         "all", "some", "so", "dog", "sad", "tree", "run", "blue", "work"]


def _convs(rng, n_conv, lo=2, hi=14):
    out = []
    for _ in range(n_conv):
        T = int(rng.integers(lo, hi + 1))
        out.append([(int(rng.integers(0, 2)) if rng.random() > 0.05 else 2,
                     " ".join(rng.choice(WORDS, int(rng.integers(0, 9))))) for _ in range(T)])
    return out


def _corpus(convs):
    off = np.zeros(len(convs) + 1, dtype=np.int64)
    off[1:] = np.cumsum([len(c) for c in convs])
    text = [t for c in convs for _, t in c]
    return Corpus(conversation_id=pa.array([f"c{i}" for i in range(len(convs))]), conv_offsets=off,
                  role=np.array([r for c in convs for r, _ in c], dtype=np.int8),
                  speaker=pa.array(["x"] * len(text)), text=pa.array(text))


def _cats():
    lex = builtin_lexicon()
    return lambda w: [CATEGORIES[k] for k in range(9) if (lex.mask_of(w) >> k) & 1]


def _run(corpus, seeds, n):
    tok = corpus.tokens()
    counts = category_counts(tok.token_offsets, tok.token_ids, builtin_lexicon().vocab_mask(tok.vocab))
    return sync_surrogates(corpus.conv_offsets, corpus.role, counts, np.diff(tok.token_offsets), seeds, n)


def test_permutation_matches_the_python_twin_and_is_a_shuffle_of_therapist_turns():
    rng = np.random.default_rng(5)
    for _ in range(50):
        roles = rng.integers(0, 3, int(rng.integers(0, 30))).astype(np.int8)
        seed = int(rng.integers(0, 2**63))
        for s in range(4):
            src = np.empty(len(roles), np.int64)
            slots = np.empty(len(roles), np.int64)
            fill_source(0, len(roles), roles, np.uint64(seed), s, slots, src)
            expect = ref.permutation(roles.tolist(), seed, s)
            assert src.tolist() == expect
            assert sorted(expect) == list(range(len(roles)))
            assert all(roles[expect[t]] == roles[t] for t in range(len(roles)))
            assert all(expect[t] == t for t in range(len(roles)) if roles[t] != 1)


def test_surrogates_against_the_naive_reference():
    rng = np.random.default_rng(11)
    convs = _convs(rng, 25)
    corpus = _corpus(convs)
    seeds = conversation_seeds(corpus.conversation_id.to_pylist(), 3)
    obs, sur = _run(corpus, seeds, 7)
    cats = _cats()
    res = synchrony(corpus)
    np.testing.assert_array_equal(obs[:, 1], res.rlsm)
    np.testing.assert_array_equal(obs[:, 2], res.coordination_therapist_to_client)
    np.testing.assert_array_equal(obs[:, 3], res.coordination_client_to_therapist)
    for c, conv in enumerate(convs):
        rc = [(r, t.split()) for r, t in conv]
        np.testing.assert_allclose(obs[c], ref.measures(rc, cats), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(sur[c], ref.surrogate_values(rc, cats, int(seeds[c]), 7),
                                   rtol=1e-12, atol=1e-12)
        for i, name in enumerate(SURROGATE_MEASURES):
            cols = summarise(name, obs[c:c + 1, i], sur[c:c + 1, i])
            got = [cols[f"{name}_{k}"][0] for k in ("surrogate_mean", "surrogate_sd", "z", "p")]
            np.testing.assert_allclose(got, ref.summary(obs[c, i], sur[c, i]), rtol=1e-12, atol=1e-12)


def test_seeds_depend_on_the_seed_and_the_id_only():
    a = conversation_seeds(["x", "y", "z"], 1)
    assert conversation_seeds(["z", "x"], 1).tolist() == [a[2], a[0]]
    assert conversation_seeds(["x"], 2)[0] != a[0]


def test_shuffled_conversations_are_above_chance_at_the_nominal_rate():
    """Conversations whose therapist turns were already shuffled at random: the permutation
    p-value is valid, so the share with p <= 0.05 is at most about 5% (binomial bounds)."""
    rng = np.random.default_rng(2)
    convs = _convs(rng, 400, lo=16, hi=30)
    corpus = _corpus(convs)
    seeds = conversation_seeds(corpus.conversation_id.to_pylist(), 0)
    obs, sur = _run(corpus, seeds, 99)
    for i, name in enumerate(SURROGATE_MEASURES):
        p = summarise(name, obs[:, i], sur[:, i])[f"{name}_p"]
        p = p[np.isfinite(p)]
        assert len(p) > 200
        share = np.mean(p <= 0.05)
        assert share <= 0.05 + 3 * np.sqrt(0.05 * 0.95 / len(p)), (name, share)
        assert share >= 0.01, (name, share)


def test_planted_synchrony_is_above_chance():
    """Therapist turns that repeat the client's previous turn: far above their shuffles."""
    rng = np.random.default_rng(4)
    convs = []
    for _ in range(30):
        conv = []
        for _ in range(10):
            t = " ".join(rng.choice(WORDS, int(rng.integers(3, 9))))
            conv += [(0, t), (1, t)]
        convs.append(conv)
    corpus = _corpus(convs)
    obs, sur = _run(corpus, conversation_seeds(corpus.conversation_id.to_pylist(), 0), 49)
    p = summarise("lsm_prev_mean", obs[:, 0], sur[:, 0])["lsm_prev_mean_p"]
    assert np.mean(p <= 0.05) > 0.9


def test_surrogate_columns_do_not_depend_on_chunks_or_threads():
    rng = np.random.default_rng(9)
    table = pa.Table.from_pylist([{"conversation_id": f"k{c}", "turn": t, "speaker": ["usr", "sys"][t % 2],
                                   "text": " ".join(rng.choice(WORDS, int(rng.integers(1, 9))))}
                                  for c in range(12) for t in range(int(rng.integers(4, 12)))])
    kw = dict(metrics=["lsm", "rlsm", "coordination"], surrogates=9, surrogate_seed=5)
    a = fm.score(table, n_threads=2, **kw).conversations
    b = fm.score(table, n_threads=1, chunk_turns=13, **kw).conversations
    assert a.column_names == b.column_names
    assert "rlsm_z" in a.column_names and "lsm_prev_mean_p" in a.column_names
    for name in a.column_names:
        assert a.column(name).to_pylist() == b.column(name).to_pylist() or np.allclose(
            a.column(name).to_numpy(zero_copy_only=False), b.column(name).to_numpy(zero_copy_only=False),
            rtol=0, atol=0, equal_nan=True), name
    c = fm.score(table, **{**kw, "surrogate_seed": 6}).conversations
    assert c.column("rlsm_surrogate_mean").to_pylist() != a.column("rlsm_surrogate_mean").to_pylist()


def test_embedding_change_surrogates_against_numpy():
    from fastmetrics.metrics.embedding_sync import change_surrogates, embedding_synchrony

    rng = np.random.default_rng(8)
    convs = _convs(rng, 20)
    corpus = _corpus(convs)
    emb = rng.normal(size=(corpus.n_turns, 6)).astype(np.float32)
    emb[3] = 0.0  # a zero vector: no cosine
    seeds = conversation_seeds(corpus.conversation_id.to_pylist(), 1)
    obs, sur = change_surrogates(emb, corpus.role, corpus.conv_offsets, seeds, 5)
    _, convs_cols = embedding_synchrony(emb, corpus.role, corpus.conv_offsets)
    np.testing.assert_allclose(obs, convs_cols["emb_sim_change_mean"], rtol=1e-12, equal_nan=True)
    e64 = emb.astype(np.float64)
    for c in range(len(convs)):
        a, b = corpus.conv_offsets[c], corpus.conv_offsets[c + 1]
        roles = corpus.role[a:b].tolist()
        for s in range(5):
            src = ref.permutation(roles, int(seeds[c]), s)
            vals = []
            for t in range(1, b - a):
                if roles[t] != roles[t - 1]:
                    x, y = e64[a + src[t]], e64[a + src[t - 1]]
                    if x @ x > 0 and y @ y > 0:
                        vals.append(x @ y / np.sqrt((x @ x) * (y @ y)))
            expect = np.mean(vals) if vals else np.nan
            np.testing.assert_allclose(sur[c, s], expect, rtol=1e-10, equal_nan=True)


def test_surrogate_benchmark_smoke(tmp_path):
    """benchmarks/bench_surrogates.py runs on a tiny size (no timing asserted)."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    out = tmp_path / "s.json"
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_surrogates.py"
    r = subprocess.run([sys.executable, str(script), "--conversations", "50", "--n", "3", "--repeats", "1",
                        "--nclid-conversations", "10", "--out", str(out)], capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stderr
    res = json.loads(out.read_text())
    assert res["surrogates"]["3"]["multiple"] > 0 and res["turns"] > 0
    assert res["nclid"]["conversations"] == 10 and res["nclid"]["surrogates"]["3"]["multiple"] > 0
