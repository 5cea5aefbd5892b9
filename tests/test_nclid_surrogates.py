"""Surrogate baselines of nCLiD (fastmetrics.metrics.ot.nclid_surrogates, the nclid family with
--surrogates): against nCLiD of explicitly shuffled corpora and the plain-loop reference of
fastmetrics/testing/reference_ot.py, with the permutation from the pure-Python twin of
fastmetrics/testing/reference_surrogates.py; direction of the p-value; the null rate of "above
chance"; invariance to chunks and threads."""
from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pytest

import fastmetrics as fm
import fastmetrics.testing.reference_surrogates as ref
from fastmetrics import ot as fo
from fastmetrics.corpus import Corpus
from fastmetrics.surrogates import conversation_seeds, direction, summarise
from fastmetrics.vectors import WordVectors

MEASURES = ("nclid_therapist_to_client", "nclid_client_to_therapist", "nclid")


@pytest.fixture(scope="module")
def table():
    """A random vector table with 40 words (w40.. are out of vocabulary)."""
    r = np.random.default_rng(3)
    mat = r.normal(size=(40, 5)) * r.uniform(0.5, 2.0, size=(40, 1))
    return WordVectors.from_numpy(mat, [f"w{i}" for i in range(40)], name="random40")


def _docs(rng, n, lo=1, hi=7, vocab=44, oov_rate=None):
    """Token lists over w0..w{vocab-1}; some turns have no in-vocabulary word: every 23rd, or
    each with probability ``oov_rate`` (independent draws keep the turns exchangeable)."""
    out = []
    for q in range(n):
        if (q % 23 == 7) if oov_rate is None else (rng.random() < oov_rate):
            out.append(["w41", "w42"])  # no in-vocabulary word: +inf distances
        else:
            out.append([f"w{int(i)}" for i in rng.integers(0, vocab, int(rng.integers(lo, hi + 1)))])
    return out


def _corpus(docs, sizes, roles, ids=None):
    off = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    ids = ids or [f"c{i}" for i in range(len(sizes))]
    return Corpus(conversation_id=pa.array(ids), conv_offsets=off, role=np.asarray(roles, dtype=np.int8),
                  speaker=pa.array(["x"] * len(docs)), text=pa.array([" ".join(d) for d in docs]))


def _small(rng):
    sizes = [9, 12, 5, 1, 7, 14, 3, 10]
    n = sum(sizes)
    docs = _docs(rng, n)
    roles = [int(r) if rng.random() > 0.1 else 2 for r in rng.integers(0, 2, n)]
    off = np.concatenate([[0], np.cumsum(sizes)])
    roles[off[2]:off[3]] = [0] * sizes[2]            # client only: NaN
    roles[off[6]:off[7]] = [0, 1, 0]                 # one therapist turn: every surrogate = observed
    return docs, sizes, roles


def _shuffled(docs, sizes, roles, seeds, s):
    """The corpus with each conversation's therapist turns reordered by surrogate s's permutation."""
    out = []
    lo = 0
    for c, T in enumerate(sizes):
        src = ref.permutation(roles[lo:lo + T], int(seeds[c]), s)
        out += [docs[lo + src[t]] for t in range(T)]
        lo += T
    return out


@pytest.mark.parametrize("k,denominator", [(3, "sum"), (1, "mean")])
def test_surrogates_equal_nclid_of_the_explicitly_shuffled_corpus(k, denominator, table):
    rng = np.random.default_rng(1)
    docs, sizes, roles = _small(rng)
    corpus = _corpus(docs, sizes, roles)
    seeds = conversation_seeds(corpus.conversation_id.to_pylist(), 7)
    n = 6
    dist = fo.nclid_distances(corpus, table)
    sur = fo.nclid_surrogates(dist, seeds, n, k=k, denominator=denominator)
    assert sur.shape == (len(sizes), 3, n)
    obs = fo.nclid(corpus, k=k, denominator=denominator, distances=dist)
    plain = fo.nclid(corpus, table, k=k, denominator=denominator)
    for m in plain:
        np.testing.assert_array_equal(obs[m], plain[m])
    changed = 0
    for s in range(n):
        shuffled = _corpus(_shuffled(docs, sizes, roles, seeds, s), sizes, roles)
        expect = fo.nclid(shuffled, table, k=k, denominator=denominator)
        for i, m in enumerate(MEASURES):
            np.testing.assert_allclose(sur[:, i, s], expect[m], rtol=1e-12, atol=1e-12, equal_nan=True,
                                       err_msg=f"surrogate {s}, {m}")
            with np.errstate(invalid="ignore"):
                changed += int(np.sum(np.abs(sur[:, i, s] - obs[m]) > 1e-9))
    assert np.all(np.isnan(sur[2])), "a conversation without a therapist turn has NaN surrogates"
    np.testing.assert_array_equal(sur[6], np.repeat([[obs[m][6]] for m in MEASURES], n, axis=1))
    assert changed > 20, "the shuffles must change nCLiD"


def test_surrogates_against_the_plain_loop_reference(table):
    """Independent of every kernel: POT WMD between the permuted turns, nCLiD from METRICS.md."""
    from fastmetrics.testing.reference_ot import nclid_reference, wmd_reference

    rng = np.random.default_rng(5)
    sizes = [8, 6]
    docs = _docs(rng, sum(sizes), lo=1, hi=4)
    roles = [0, 1, 0, 1, 1, 0, 2, 1] + [1, 0, 1, 0, 0, 1]
    corpus = _corpus(docs, sizes, roles)
    seeds = conversation_seeds(corpus.conversation_id.to_pylist(), 11)
    sur = fo.nclid_surrogates(fo.nclid_distances(corpus, table), seeds, 4, k=2)
    words, mat = table.words.to_pylist(), np.asarray(table.matrix)
    lo = 0
    for c, T in enumerate(sizes):
        r = roles[lo:lo + T]
        for s in range(4):
            src = ref.permutation(r, int(seeds[c]), s)

            def d(i, j, lo=lo, src=src):
                return wmd_reference(docs[lo + src[i]], docs[lo + src[j]], words, mat)
            _, n_tc = nclid_reference(r, d, anchor=0, coord=1, k=2)
            _, n_ct = nclid_reference(r, d, anchor=1, coord=0, k=2)
            np.testing.assert_allclose(sur[c, :, s], [n_tc, n_ct, (n_tc + n_ct) / 2], rtol=1e-9)
        lo += T


def test_p_is_the_lower_tail_for_nclid():
    """Lower nCLiD is more coordination: nclid_p counts surrogates at or below the observed
    value, i.e. the usual upper-tail p of the negated values."""
    rng = np.random.default_rng(0)
    obs = rng.uniform(0.2, 0.5, 30)
    sur = rng.uniform(0.2, 0.5, (30, 19))
    sur[0, :5] = np.inf
    sur[1, :] = np.nan
    obs[2] = np.inf
    assert direction("nclid") == direction("nclid_therapist_to_client_rwmd") == "lower"
    assert direction("rlsm") == direction("nclid_like") == "higher"
    cols = summarise("nclid", obs, sur)
    neg = summarise("x", -obs, -sur)
    np.testing.assert_allclose(cols["nclid_p"], neg["x_p"], equal_nan=True)
    for c in range(30):
        mean, sd, z, p = ref.summary(-obs[c], -sur[c])
        got = [cols[f"nclid_{k}"][c] for k in ("surrogate_mean", "surrogate_sd", "z", "p")]
        np.testing.assert_allclose(got, [-mean, sd, -z, p], rtol=1e-12, equal_nan=True)
        v = sur[c][np.isfinite(sur[c])]
        if np.isfinite(obs[c]) and len(v):
            assert cols["nclid_p"][c] == (1 + np.sum(v <= obs[c])) / (1 + len(v))
    assert math.isnan(cols["nclid_p"][1]) and math.isnan(cols["nclid_p"][2])
    upper = summarise("nclid", obs, sur, lower_is_more=False)["nclid_p"]
    assert not np.allclose(cols["nclid_p"], upper, equal_nan=True)


def _alternating(rng, n_conv, lo, hi, planted=False):
    docs, sizes, roles = [], [], []
    for _ in range(n_conv):
        T = int(rng.integers(lo, hi + 1))
        r = [(t + int(rng.random() < 0.15)) % 2 for t in range(T)]
        d = _docs(rng, T, lo=2, hi=6, vocab=40, oov_rate=0.04)
        if planted:
            for t in range(1, T):
                if r[t] == 1 and r[t - 1] == 0:
                    d[t] = list(d[t - 1])  # the therapist repeats the client
        docs += d
        sizes.append(T)
        roles += r
    return docs, sizes, roles


def test_random_pairing_is_above_chance_at_the_nominal_rate(table):
    """Conversations whose turns are independent draws (no coordination to find): the
    permutation p-value is valid, so the share with p <= 0.05 is at most about 5% (binomial)."""
    rng = np.random.default_rng(2)
    docs, sizes, roles = _alternating(rng, 300, 14, 22)
    corpus = _corpus(docs, sizes, roles)
    dist = fo.nclid_distances(corpus, table)
    obs = fo.nclid(corpus, distances=dist)
    sur = fo.nclid_surrogates(dist, conversation_seeds(corpus.conversation_id.to_pylist(), 0), 99)
    for i, m in enumerate(MEASURES):
        p = summarise(m, obs[m], sur[:, i])[f"{m}_p"]
        p = p[np.isfinite(p)]
        assert len(p) > 250
        share = np.mean(p <= 0.05)
        assert share <= 0.05 + 3 * np.sqrt(0.05 * 0.95 / len(p)), (m, share)
        assert share >= 0.01, (m, share)


def test_planted_coordination_is_above_chance(table):
    """Therapist turns that repeat the client's previous turn: nCLiD far below its shuffles."""
    rng = np.random.default_rng(4)
    docs, sizes, roles = _alternating(rng, 40, 14, 20, planted=True)
    corpus = _corpus(docs, sizes, roles)
    dist = fo.nclid_distances(corpus, table)
    obs = fo.nclid(corpus, distances=dist)
    sur = fo.nclid_surrogates(dist, conversation_seeds(corpus.conversation_id.to_pylist(), 0), 49)
    cols = summarise("nclid_therapist_to_client", obs["nclid_therapist_to_client"], sur[:, 0])
    assert np.mean(cols["nclid_therapist_to_client_p"] <= 0.05) > 0.9
    assert np.nanmean(cols["nclid_therapist_to_client_z"]) < -2


def _table(seed=9):
    rng = np.random.default_rng(seed)
    words = ["i", "feel", "so", "sad", "and", "alone", "you", "are", "not", "that", "sounds", "really",
             "hard", "what", "happened", "the", "good", "day", "but", "a", "lot", "of", "work"]
    return pa.Table.from_pylist([{"conversation_id": f"k{c}", "turn": t,
                                  "speaker": ["usr", "sys", "other"][t % 2 if t % 7 else 2],
                                  "text": " ".join(rng.choice(words, int(rng.integers(1, 9))))}
                                 for c in range(12) for t in range(int(rng.integers(2, 12)))])


def test_family_columns_do_not_depend_on_chunks_or_threads_and_follow_the_seed():
    table = _table()
    kw = {"metrics": ["nclid"], "surrogates": 9, "surrogate_seed": 5}
    a = fm.score(table, n_threads=2, **kw)
    b = fm.score(table, n_threads=1, chunk_turns=13, **kw).conversations
    convs = a.conversations
    for m in MEASURES:
        for suf in ("surrogate_mean", "surrogate_sd", "z", "p"):
            assert f"{m}_{suf}" in convs.column_names
    assert convs.column_names == b.column_names
    for name in convs.column_names:
        x, y = convs.column(name), b.column(name)
        if pa.types.is_floating(x.type):
            np.testing.assert_array_equal(x.to_numpy(zero_copy_only=False), y.to_numpy(zero_copy_only=False),
                                          err_msg=name)
        else:
            assert x.to_pylist() == y.to_pylist(), name
    assert "N=9, seed=5" in a.metadata["fastmetrics.nclid_surrogates"]
    assert "nclid_surrogates" in a.metadata["fastmetrics.backends"]
    c = fm.score(table, **{**kw, "surrogate_seed": 6}).conversations
    assert c.column("nclid_surrogate_mean").to_pylist() != convs.column("nclid_surrogate_mean").to_pylist()
    off = fm.score(table, metrics=["nclid"]).conversations
    assert not any(n.endswith("_p") for n in off.column_names)
    np.testing.assert_array_equal(off.column("nclid").to_numpy(zero_copy_only=False),
                                  convs.column("nclid").to_numpy(zero_copy_only=False))


def test_approximate_mode_surrogates_carry_the_mode_and_chance_summary_reads_them():
    from fastmetrics import registry
    from fastmetrics.study.chance import chance_summary

    res = fm.score(_table(), metrics=["nclid"], surrogates=5, nclid_mode="wcd").conversations
    assert "nclid_wcd_p" in res.column_names and "nclid_p" not in res.column_names
    fam = registry.get("nclid")
    written = [n for n in res.column_names if "surrogate" in n or n.endswith(("_z", "_p"))]
    assert len(written) == 12 and all(fam.declares(n, "conversation") for n in written)
    s = chance_summary(res)
    assert set(s) == {f"{m}_wcd" for m in MEASURES}
    assert s["nclid_wcd"]["direction"] == "lower"
