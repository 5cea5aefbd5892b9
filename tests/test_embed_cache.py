"""The content-addressed embedding cache: hits, misses, model separation, two processes at once,
compaction, the ``fastmetrics cache`` command."""
from __future__ import annotations

import hashlib
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import fastmetrics
from fastmetrics import InputError
from fastmetrics.embed.cache import EmbeddingCache, cache_info, clear_cache, resolve_cache_dir, text_keys
from fastmetrics.embed.encoder import get_encoder

DIM = 8


def fake_vectors(texts, dim=DIM):
    """Deterministic vectors derived from the text alone (independent of the cache code)."""
    out = np.empty((len(texts), dim), dtype=np.float32)
    for i, t in enumerate(texts):
        seed = int.from_bytes(hashlib.sha256(t.encode()).digest()[:8], "little")
        out[i] = np.random.default_rng(seed).standard_normal(dim)
    return out


def test_put_get_hits_and_misses(tmp_path):
    c = EmbeddingCache(tmp_path, "model-A", DIM)
    texts = ["a", "b", "c", "b"]
    found, _ = c.get(texts)
    assert not found.any() and c.misses == 4
    assert c.put(texts, fake_vectors(texts)) == 3  # "b" stored once
    found, vec = c.get(["c", "zz", "a", "b"])
    assert found.tolist() == [True, False, True, True]
    np.testing.assert_array_equal(vec[[0, 2, 3]], fake_vectors(["c", "a", "b"]))
    assert c.put(["a", "b"], fake_vectors(["a", "b"])) == 0  # nothing new: no shard written
    assert len(list(c.dir.glob("*.key.npy"))) == 1
    # a fresh process view sees the same entries
    c2 = EmbeddingCache(tmp_path, "model-A", DIM)
    found, vec = c2.get(["a", "b", "c"])
    assert found.all()
    np.testing.assert_array_equal(vec, fake_vectors(["a", "b", "c"]))


def test_model_id_separates_entries(tmp_path):
    EmbeddingCache(tmp_path, "model-A", DIM).put(["x"], fake_vectors(["x"]))
    found, _ = EmbeddingCache(tmp_path, "model-B", DIM).get(["x"])
    assert not found.any()


def test_unicode_and_empty_texts_keyed_distinctly(tmp_path):
    texts = ["", " ", "café", "cafe\u0301", "\U0001F600", "a\x00b"]
    keys = text_keys(texts)
    assert len({tuple(k) for k in keys}) == len(texts)
    c = EmbeddingCache(tmp_path, "m", DIM)
    c.put(texts, fake_vectors(texts))
    found, vec = c.get(texts)
    assert found.all()
    np.testing.assert_array_equal(vec, fake_vectors(texts))


def test_partial_shard_is_ignored(tmp_path):
    c = EmbeddingCache(tmp_path, "m", DIM)
    c.put(["a"], fake_vectors(["a"]))
    # a writer that died after the vectors but before the key file (the commit marker)
    np.save(c.dir / "deadbeef.vec.npy", fake_vectors(["b"]))
    # a shard of another width
    np.save(c.dir / "wide.vec.npy", np.zeros((1, DIM + 1), np.float32))
    np.save(c.dir / "wide.key.npy", text_keys(["c"]))
    found, _ = EmbeddingCache(tmp_path, "m", DIM).get(["a", "b", "c"])
    assert found.tolist() == [True, False, False]


def test_put_validates_shape(tmp_path):
    with pytest.raises(InputError):
        EmbeddingCache(tmp_path, "m", DIM).put(["a"], np.zeros((1, DIM + 1), np.float32))


def test_compact_keeps_every_entry_and_old_readers(tmp_path):
    c = EmbeddingCache(tmp_path, "m", DIM)
    groups = [[f"t{i}-{j}" for j in range(5)] for i in range(4)]
    for g in groups:
        c.put(g, fake_vectors(g))
    reader = EmbeddingCache(tmp_path, "m", DIM)
    reader.refresh()  # maps the four shards
    assert EmbeddingCache(tmp_path, "m", DIM).compact() == 20
    assert len(list(c.dir.glob("*.key.npy"))) == 1
    allt = sum(groups, [])
    for view in (reader, EmbeddingCache(tmp_path, "m", DIM)):
        found, vec = view.get(allt)
        assert found.all()
        np.testing.assert_array_equal(vec, fake_vectors(allt))


WRITER = textwrap.dedent("""
    import hashlib, sys
    import numpy as np
    from fastmetrics.embed.cache import EmbeddingCache
    root, lo, hi = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    def vec(t):
        seed = int.from_bytes(hashlib.sha256(t.encode()).digest()[:8], "little")
        return np.random.default_rng(seed).standard_normal(8).astype(np.float32)
    c = EmbeddingCache(root, "shared-model", 8)
    for start in range(lo, hi, 7):   # many small writes, interleaving with the other process
        texts = [f"text {i}" for i in range(start, min(hi, start + 7))]
        found, got = c.get(texts)
        for t, f, g in zip(texts, found, got):
            if f and not np.array_equal(g, vec(t)):
                sys.exit("wrong vector for " + t)
        c.put(texts, np.stack([vec(t) for t in texts]))
    print("ok")
""")


def test_two_processes_share_a_cache(tmp_path):
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path), lo, hi],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for lo, hi in (("0", "300"), ("150", "450"))]
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0 and out.strip() == "ok", err
    texts = [f"text {i}" for i in range(450)]
    c = EmbeddingCache(tmp_path, "shared-model", 8)
    found, vec = c.get(texts)
    assert found.all() and len(c) == 450
    np.testing.assert_array_equal(vec, fake_vectors(texts))


ENCODER_PROC = textwrap.dedent("""
    import sys
    import numpy as np
    import fastmetrics
    texts = [f"I have been feeling low for {i} days." for i in range(int(sys.argv[2]), int(sys.argv[3]))]
    e = fastmetrics.encode(texts, cache_dir=sys.argv[1], n_threads=1)
    np.save(sys.argv[4], e)
""")


def test_two_processes_encode_through_one_cache(tmp_path):
    cache = tmp_path / "cache"
    procs = [subprocess.Popen([sys.executable, "-c", ENCODER_PROC, str(cache), lo, hi, str(tmp_path / f"{lo}.npy")],
                              stderr=subprocess.PIPE, text=True)
             for lo, hi in (("0", "40"), ("20", "60"))]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    texts = [f"I have been feeling low for {i} days." for i in range(60)]
    direct = get_encoder(n_threads=1).encode(texts)
    np.testing.assert_allclose(np.load(tmp_path / "0.npy"), direct[:40], atol=2e-6)
    np.testing.assert_allclose(np.load(tmp_path / "20.npy"), direct[20:], atol=2e-6)
    enc = get_encoder(n_threads=1)
    found, vec = EmbeddingCache(cache, enc.model_id, enc.dim).get(texts)
    assert found.all()
    np.testing.assert_allclose(vec, direct, atol=2e-6)


def test_rerun_and_overlap_encode_only_new_texts(tmp_path, monkeypatch):
    enc = get_encoder(n_threads=1)
    encoded: list[str] = []
    real = enc.encode_distinct

    def spy(texts, **kw):
        encoded.extend(texts)
        return real(texts, **kw)

    monkeypatch.setattr(enc, "encode_distinct", spy)
    first = ["I feel stuck.", "That sounds hard.", "I feel stuck.", "What happened?"]
    a = fastmetrics.encode(first, cache_dir=tmp_path, n_threads=1)
    assert sorted(encoded) == sorted(set(first))
    encoded.clear()
    b = fastmetrics.encode(first, cache_dir=tmp_path, n_threads=1)  # full re-run: all hits
    assert encoded == []
    np.testing.assert_array_equal(a, b)
    c = fastmetrics.encode(["What happened?", "Tell me more."], cache_dir=tmp_path, n_threads=1)
    assert encoded == ["Tell me more."]  # the overlap is read, only the new text encoded
    np.testing.assert_array_equal(c[0], a[3])
    np.testing.assert_allclose(c, real(["What happened?", "Tell me more."], normalize=True), atol=2e-6)


def test_resolve_cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("FASTMETRICS_CACHE_DIR", str(tmp_path / "env"))
    assert resolve_cache_dir("") == tmp_path / "env"
    assert resolve_cache_dir(None) == tmp_path / "env"
    assert resolve_cache_dir("none") is None and resolve_cache_dir(False) is None
    assert resolve_cache_dir(str(tmp_path / "x")) == tmp_path / "x"


def test_cache_info_clear_and_cli(tmp_path, capsys):
    from fastmetrics.cli import main

    EmbeddingCache(tmp_path, "model-A", DIM).put(["a", "b"], fake_vectors(["a", "b"]))
    EmbeddingCache(tmp_path, "model-B", DIM).put(["a"], fake_vectors(["a"]))
    (tmp_path / "unrelated").mkdir()
    info = {r["model_id"]: r for r in cache_info(tmp_path)}
    assert info["model-A"]["entries"] == 2 and info["model-B"]["entries"] == 1
    assert main(["cache", "info", "--cache-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "model-A" in out and "model-B" in out
    EmbeddingCache(tmp_path, "model-A", DIM).put(["c"], fake_vectors(["c"]))  # a second shard
    assert main(["cache", "compact", "--cache-dir", str(tmp_path)]) == 0
    info = {r["model_id"]: r for r in cache_info(tmp_path)}
    assert info["model-A"]["entries"] == 3 and info["model-A"]["shards"] == 1
    assert main(["cache", "clear", "--cache-dir", str(tmp_path)]) == 0
    assert cache_info(tmp_path) == [] and (tmp_path / "unrelated").exists()
    assert clear_cache(tmp_path) == 0


def test_many_small_writes_are_compacted(tmp_path, monkeypatch):
    monkeypatch.setattr(EmbeddingCache, "max_shards", 4)
    c = EmbeddingCache(tmp_path, "m", DIM)
    texts = [f"t{i}" for i in range(12)]
    for t in texts:
        c.put([t], fake_vectors([t]))
    assert len(list(c.dir.glob("*.key.npy"))) <= 5
    found, vec = EmbeddingCache(tmp_path, "m", DIM).get(texts)
    assert found.all()
    np.testing.assert_array_equal(vec, fake_vectors(texts))


def test_unwritable_cache_warns_and_still_returns_embeddings(tmp_path, monkeypatch):
    from fastmetrics.embed import cache as cache_mod

    def fail(path, arr):
        raise OSError(30, "Read-only file system")

    monkeypatch.setattr(cache_mod, "_atomic_save", fail)
    with pytest.warns(RuntimeWarning, match="not written"):
        e = fastmetrics.encode(["I feel stuck."], cache_dir=tmp_path, n_threads=1)
    np.testing.assert_allclose(e, get_encoder(n_threads=1).encode(["I feel stuck."]), atol=2e-6)
