"""Tokeniser and per-turn token statistics (C kernel and Numba twin) against naive references."""
import numpy as np
import pyarrow as pa
import pytest
from conftest import BACKENDS
from hypothesis import given, settings
from hypothesis import strategies as st

from fastmetrics.errors import InputError
from fastmetrics.metrics.basic import token_stats
from fastmetrics.testing.reference import token_stats_ref, tokenize_ref
from fastmetrics.tokens import tokenize


def test_tokenize_matches_python_re():
    texts = ["Hi, I'm fine.", "", None, "  Ça va? Straße_1 naïve 東京 x²", "élan—NO!! 12.5",
             "tab\tnew\nline", "UPPER lower MiXeD", "emoji 🙂 here", "a_b-c d'e"]
    tok = tokenize(pa.array(texts))
    assert [tok.turn(i) for i in range(len(texts))] == tokenize_ref(texts)
    assert tok.token_offsets[0] == 0 and tok.token_offsets[-1] == len(tok.token_ids)
    assert tok.token_ids.dtype == np.int32 and tok.token_offsets.dtype == np.int64


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.none(), st.text(alphabet=st.characters(
    blacklist_categories=("Cs",), blacklist_characters="\u0130\u03a3"), max_size=30)),
    min_size=1, max_size=20))
def test_tokenize_property(texts):
    tok = tokenize(pa.array(texts, pa.string()))
    assert [tok.turn(i) for i in range(len(texts))] == tokenize_ref(texts)


def test_tokenize_simple_case_mapping_documented():
    # Python's str.lower() maps U+0130 to "i" + U+0307 (a combining mark, not a word character);
    # Arrow applies the simple Unicode mapping "i". The tokeniser documents this one difference.
    assert tokenize(pa.array(["\u0130stanbul"])).turn(0) == ["istanbul"]
    assert tokenize(pa.array(["ΟΔΟΣ"])).turn(0) == ["οδοσ"]  # Python: "οδος" (final sigma)


def test_tokenize_ids_first_appearance_and_large_vocab():
    words = [f"w{i}" for i in range(20000)]  # forces several hash-table doublings
    tok = tokenize(pa.array([" ".join(words[:10000]), " ".join(words[5000:]), "w0 w1 w0"]))
    assert tok.vocab.to_pylist() == words
    np.testing.assert_array_equal(tok.token_ids[:10000], np.arange(10000))
    np.testing.assert_array_equal(tok.token_ids[10000:25000], np.arange(5000, 20000))
    assert tok.turn(2) == ["w0", "w1", "w0"]


def test_tokenize_chunked_and_large_string():
    arr = pa.chunked_array([pa.array(["a b", "c"]), pa.array(["d e f"])])
    tok = tokenize(arr)
    assert tok.turn(2) == ["d", "e", "f"]
    tok2 = tokenize(pa.array(["x y"], pa.large_string()))
    assert tok2.turn(0) == ["x", "y"]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("n_threads", [1, 2])
def test_token_stats_against_reference(backend, n_threads, rng):
    lens = rng.integers(0, 40, size=500)
    off = np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)
    ids = rng.integers(0, 50, size=off[-1]).astype(np.int32)
    nt, ny = token_stats(off, ids, 50, n_threads=n_threads, backend=backend)
    rt, ry = token_stats_ref(off, ids)
    np.testing.assert_array_equal(nt, rt)
    np.testing.assert_array_equal(ny, ry)


@pytest.mark.parametrize("backend", BACKENDS)
def test_token_stats_rejects_out_of_range_ids(backend):
    with pytest.raises(InputError):
        token_stats(np.array([0, 2]), np.array([0, 7], dtype=np.int32), 3, backend=backend)


def test_token_stats_rejects_bad_offsets():
    with pytest.raises(InputError):
        token_stats(np.array([0, 3]), np.array([0], dtype=np.int32), 3)
    with pytest.raises(InputError):
        token_stats(np.array([0, 1]), np.array([0], dtype=np.int32), 3, backend="gpu")


def test_token_stats_empty():
    nt, ny = token_stats(np.array([0]), np.zeros(0, np.int32), 0)
    assert len(nt) == 0 and len(ny) == 0
