"""Static encoder tier (model2vec table): the shipped table, the pooling against a naive NumPy
reference, the cache kept apart per tier, and the embedding families with ``--encoder static``."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import fastmetrics
from fastmetrics import Corpus
from fastmetrics.cli import main
from fastmetrics.embed.static import STATIC_DIR, StaticEncoder, get_static_encoder, pool_tokens

TEXTS = ["I lost my job and I feel worthless.", "That sounds really painful. What happened?",
         "They let me go without warning.", "I'm here for you. Let's think about next steps together.",
         "Thank you, that helps.", "Hi.", "Hello, how are you feeling today?", "Not great.", ""]
EMBEDDING_FAMILIES = ["alliance", "embedding_sync", "empathy", "behaviour"]


def small_corpus():
    texts = TEXTS[:8]
    return Corpus(conversation_id=pa.array(["a", "b"]), conv_offsets=np.array([0, 5, 8]),
                  role=np.array([0, 1, 0, 1, 0, 0, 1, 0], dtype=np.int8),
                  speaker=pa.array(["usr", "sys", "usr", "sys", "usr", "usr", "sys", "usr"]),
                  text=pa.array(texts))


def test_table_ships_in_the_package_with_licence_and_manifest():
    manifest = json.loads((STATIC_DIR / "manifest.json").read_text())
    digest = hashlib.sha256((STATIC_DIR / "table.npz").read_bytes()).hexdigest()
    assert manifest["table_sha256"] == digest
    assert "Apache License" in (STATIC_DIR / "LICENSE").read_text()
    assert "all-MiniLM-L6-v2" in (STATIC_DIR / "NOTICE").read_text()
    with np.load(STATIC_DIR / "table.npz") as z:
        assert z["vectors"].dtype == np.int8 and z["vectors"].shape == (manifest["vocab_size"], manifest["dim"])
        assert z["scales"].shape == (manifest["vocab_size"],)
    assert (STATIC_DIR / "table.npz").stat().st_size < 10 * 2 ** 20


def test_pooling_equals_naive_numpy_reference():
    from tokenizers import Tokenizer

    enc = StaticEncoder()
    with np.load(STATIC_DIR / "table.npz") as z:
        table = z["vectors"].astype(np.float64) * z["scales"].astype(np.float64)[:, None]
    tok = Tokenizer.from_file(str(Path(fastmetrics.__file__).parent / "data" / "minilm" / "tokenizer.json"))
    tok.no_padding()  # the released file pads to 128
    tok.no_truncation()
    got = enc.encode(TEXTS)
    for i, t in enumerate(TEXTS):
        ids = tok.encode(t, add_special_tokens=False).ids
        if not ids:
            assert not got[i].any()
            continue
        v = table[ids].mean(axis=0)
        np.testing.assert_allclose(got[i], v / np.linalg.norm(v), atol=1e-5)


def test_pool_kernel_on_ragged_ids():
    rng = np.random.default_rng(0)
    vec = rng.integers(-127, 128, (50, 7)).astype(np.int8)
    sc = rng.random(50).astype(np.float32)
    lens = np.array([0, 1, 5, 3, 0, 12])
    off = np.concatenate([[0], np.cumsum(lens)])
    ids = rng.integers(0, 50, off[-1]).astype(np.int32)
    got = pool_tokens(off, ids, vec, sc)
    for i in range(len(lens)):
        t = ids[off[i]:off[i + 1]]
        ref = (vec[t] * sc[t, None].astype(np.float64)).mean(axis=0) if len(t) else np.zeros(7)
        np.testing.assert_allclose(got[i], ref, rtol=1e-5, atol=1e-5)


def test_minilm_space_and_dedup():
    enc = StaticEncoder(space="minilm")
    e = enc.encode(TEXTS[:4] * 2)
    assert e.shape == (8, 384)
    np.testing.assert_allclose(np.linalg.norm(e, axis=1), 1, atol=1e-5)
    np.testing.assert_array_equal(e[:4], e[4:])
    np.testing.assert_allclose(enc.encode(TEXTS[:4], dedupe=False), e[:4], atol=1e-6)


def test_public_encode_with_the_static_tier():
    e = fastmetrics.encode(TEXTS[:3], encoder="static")
    assert e.shape == (3, 256) and e.dtype == np.float32


def test_cache_never_mixes_tiers(tmp_path):
    cache = tmp_path / "cache"
    c = small_corpus()
    r_min = fastmetrics.score(c, metrics=["embedding_sync"], n_threads=1, cache_dir=str(cache))
    r_st = fastmetrics.score(c, metrics=["embedding_sync"], n_threads=1, cache_dir=str(cache), encoder="static")
    folders = sorted(p for p in cache.iterdir() if p.is_dir())
    assert len(folders) == 2
    models = sorted((p / "MODEL").read_text() for p in folders)
    assert sum("tier=static" in m for m in models) == 1
    # second runs read the cache of their own tier only: equal to uncached runs
    r_min2 = fastmetrics.score(c, metrics=["embedding_sync"], n_threads=1, cache_dir=str(cache))
    r_st2 = fastmetrics.score(c, metrics=["embedding_sync"], n_threads=1, cache_dir="none", encoder="static")
    a = np.array(r_min.turns["emb_sim_prev"].to_pylist(), dtype=float)
    b = np.array(r_st.turns["emb_sim_prev"].to_pylist(), dtype=float)
    np.testing.assert_allclose(np.array(r_min2.turns["emb_sim_prev"].to_pylist(), dtype=float), a, atol=1e-6)
    np.testing.assert_allclose(np.array(r_st2.turns["emb_sim_prev"].to_pylist(), dtype=float), b, atol=1e-6)
    assert not np.allclose(np.nan_to_num(a), np.nan_to_num(b), atol=1e-3)
    # the static values are the cosines of the static encoder's own rows
    emb = get_static_encoder().encode(c.text.to_pylist())
    np.testing.assert_allclose(b[1], float(emb[1] @ emb[0]), atol=1e-5)


def _tier(meta: dict) -> str:
    return {k.decode() if isinstance(k, bytes) else k: v.decode() if isinstance(v, bytes) else v
            for k, v in meta.items()}["fastmetrics.embedding_tier"]


def test_every_embedding_family_through_the_api(tmp_path):
    res = fastmetrics.score(small_corpus(), metrics=EMBEDDING_FAMILIES, n_threads=1, cache_dir="none",
                            encoder="static", out_dir=tmp_path / "out")
    for col in ("alliance_full", "emb_sim_prev", "empathy_proto"):
        assert col in res.turns.column_names
    full = np.array(res.turns["alliance_full"].to_pylist(), dtype=float)
    assert np.isfinite(full).all()
    meta = pq.read_schema(tmp_path / "out" / "turns.parquet").metadata
    assert _tier(meta) == "static"


def test_every_embedding_family_through_the_cli(tmp_path):
    out = tmp_path / "out"
    assert main(["score", "--demo", "-o", str(out), "-q", "--metrics", ",".join(EMBEDDING_FAMILIES),
                 "--encoder", "static", "--cache-dir", "none", "--threads", "1"]) == 0
    t = pq.read_table(out / "turns.parquet")
    assert "emb_sim_prev" in t.column_names and _tier(t.schema.metadata) == "static"


def test_bad_encoder_value_is_one_line_exit_2(tmp_path, capsys):
    assert main(["score", "--demo", "-o", str(tmp_path / "o"), "--metrics", "embedding_sync",
                 "--encoder", "fast"]) == 2
    err = capsys.readouterr().err.strip()
    assert "option encoder (--encoder)" in err and "\n" not in err
    with pytest.raises(fastmetrics.InputError):
        fastmetrics.score(small_corpus(), metrics=["embedding_sync"], encoder="fast")
