"""Content-addressed on-disk embedding cache, safe for several processes at once.

Layout::

    CACHE_DIR/
      <model key>/                 # 16 hex digits of sha256(model id); one folder per model
        MODEL                      # the full model id, for `fastmetrics cache info`
        <shard>.vec.npy            # float32 (n, d): the embeddings of one write
        <shard>.key.npy            # uint64 (n, 2): blake2b-128 digests of the texts (commit marker)

Keys are the 128-bit BLAKE2b digest of the UTF-8 text; the model id (weights hash, tokenizer
hash, truncation length, pooling) selects the folder, so a changed model never returns stale
vectors. Shards are immutable: a writer writes both files under temporary names and renames
them into place, the key file last, so a reader sees a shard whole or not at all. No locks are
needed: two processes that encode the same text both write it, and readers keep the first copy
(the vectors are the same). ``compact`` merges shards into one (written first, old ones removed
after); a reader that still maps a removed shard keeps its data (POSIX unlink semantics), and one
that had not opened it yet treats those texts as misses.

Memory: the index keeps the keys (16 bytes per entry) plus one sorted uint64 array; vectors
stay memory-mapped until looked up.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import uuid
import warnings
from pathlib import Path

import numpy as np

from ..errors import InputError

ENV_VAR = "FASTMETRICS_CACHE_DIR"
#: option values that switch the cache off
DISABLED = ("none", "off", "false", "0", "no")


def default_cache_dir() -> Path:
    """``$FASTMETRICS_CACHE_DIR``, else ``$XDG_CACHE_HOME/fastmetrics/embeddings``
    (``~/.cache/fastmetrics/embeddings``)."""
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "fastmetrics" / "embeddings"


def resolve_cache_dir(cache_dir) -> Path | None:
    """None when the cache is disabled ("none", "off", False); the default location for
    "" / "default" / True; else the given path."""
    if cache_dir is False:
        return None
    if cache_dir is None or cache_dir is True:
        return default_cache_dir()
    s = str(cache_dir).strip()
    if s.lower() in DISABLED:
        return None
    if s in ("", "default"):
        return default_cache_dir()
    return Path(s).expanduser()


def model_key(model_id: str) -> str:
    return hashlib.sha256(model_id.encode("utf-8")).hexdigest()[:16]


def text_keys(texts: list[str]) -> np.ndarray:
    """uint64 (n, 2): the 128-bit BLAKE2b digest of each text's UTF-8 bytes."""
    buf = b"".join(hashlib.blake2b(t.encode("utf-8", "surrogatepass"), digest_size=16).digest()
                   for t in texts)
    return np.frombuffer(buf, dtype="<u8").reshape(len(texts), 2).copy() if texts else np.zeros((0, 2), np.uint64)


def _atomic_save(path: Path, arr: np.ndarray) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    with open(tmp, "wb") as f:
        np.save(f, arr, allow_pickle=False)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class EmbeddingCache:
    """The cache of one model's embeddings in ``cache_dir``.

    Parameters
    ----------
    cache_dir : str or path
    model_id : str
        The encoder's :attr:`~fastmetrics.embed.encoder.ModelInfo.model_id`.
    dim : int
        Embedding dimension (a shard of another width is ignored).

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> c = EmbeddingCache(tempfile.mkdtemp(), "demo-model", 2)
    >>> c.put(["hi"], np.array([[1, 0]], np.float32))
    1
    >>> found, vec = c.get(["hi", "ho"])
    >>> found.tolist(), vec[0].tolist()
    ([True, False], [1.0, 0.0])
    """

    #: shards in a model folder above which ``put`` merges them (bounds files and index time)
    max_shards = 256

    def __init__(self, cache_dir, model_id: str, dim: int):
        self.root = Path(cache_dir).expanduser()
        self.model_id = model_id
        self.dim = int(dim)
        self.dir = self.root / model_key(model_id)
        self._shards: dict[str, np.ndarray] = {}  # shard name -> memmapped vectors
        self._keys = np.zeros((0, 2), dtype=np.uint64)  # all keys, sorted by (k0, k1)
        self._where = np.zeros((0, 2), dtype=np.int64)  # (shard number, row) per key
        self._names: list[str] = []
        self.hits = 0
        self.misses = 0

    # ------------------------------------------------------------------ index
    def _ensure_dir(self) -> None:
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(f"cannot create the embedding cache folder {str(self.dir)!r}: {exc}") from exc
        marker = self.dir / "MODEL"
        if not marker.exists():
            tmp = self.dir / f".MODEL.{uuid.uuid4().hex}.tmp"
            tmp.write_text(self.model_id + "\n", encoding="utf-8")
            os.replace(tmp, marker)

    def refresh(self) -> None:
        """Load the keys of shards written since the last refresh (by any process)."""
        if not self.dir.is_dir():
            return
        new_keys, new_where = [], []
        for key_path in sorted(self.dir.glob("*.key.npy")):
            name = key_path.name[:-len(".key.npy")]
            if name in self._shards:
                continue
            try:
                keys = np.load(key_path, allow_pickle=False)
                vecs = np.load(self.dir / f"{name}.vec.npy", mmap_mode="r", allow_pickle=False)
            except (FileNotFoundError, ValueError, OSError):
                continue  # removed by `clear`/`compact` meanwhile, or not ours
            if (keys.ndim != 2 or keys.shape[1] != 2 or vecs.ndim != 2 or vecs.shape[1] != self.dim
                    or len(vecs) != len(keys)):
                continue
            self._shards[name] = vecs
            self._names.append(name)
            num = len(self._names) - 1
            new_keys.append(keys.astype(np.uint64, copy=False))
            new_where.append(np.stack([np.full(len(keys), num, np.int64), np.arange(len(keys), dtype=np.int64)], 1))
        if not new_keys:
            return
        keys = np.concatenate([self._keys, *new_keys])
        where = np.concatenate([self._where, *new_where])
        order = np.lexsort((keys[:, 1], keys[:, 0]))  # stable: earlier shards first among equals
        keys, where = keys[order], where[order]
        if len(keys) > 1:  # keep the first copy of duplicated keys
            dup = np.zeros(len(keys), dtype=bool)
            dup[1:] = (keys[1:, 0] == keys[:-1, 0]) & (keys[1:, 1] == keys[:-1, 1])
            keys, where = keys[~dup], where[~dup]
        self._keys, self._where = np.ascontiguousarray(keys), np.ascontiguousarray(where)

    def __len__(self) -> int:
        return len(self._keys)

    def _find(self, keys: np.ndarray) -> np.ndarray:
        """Index into the sorted key table per query key, -1 when absent."""
        if len(self._keys) == 0 or len(keys) == 0:
            return np.full(len(keys), -1, dtype=np.int64)
        k0 = self._keys[:, 0]
        lo = np.searchsorted(k0, keys[:, 0], side="left")
        hi = np.searchsorted(k0, keys[:, 0], side="right")
        pos = np.full(len(keys), -1, dtype=np.int64)
        single = (hi - lo) == 1
        ok = single & (self._keys[np.minimum(lo, len(k0) - 1), 1] == keys[:, 1])
        pos[ok] = lo[ok]
        for i in np.nonzero((hi - lo) > 1)[0]:  # 64-bit prefix collisions: vanishingly rare
            for j in range(lo[i], hi[i]):
                if self._keys[j, 1] == keys[i, 1]:
                    pos[i] = j
        return pos

    # ------------------------------------------------------------------ public
    def get(self, texts: list[str], keys: np.ndarray | None = None, out: np.ndarray | None = None):
        """Look texts up.

        Parameters
        ----------
        texts : list of str, length n
        keys : numpy.ndarray of uint64, shape (n, 2), optional
            Precomputed :func:`text_keys` of ``texts``.
        out : numpy.ndarray of float32, shape (n, dim), optional
            Written in place for the hits.

        Returns
        -------
        found : numpy.ndarray of bool, shape (n,)
        out : numpy.ndarray of float32, shape (n, dim)
            Rows of misses are left unset (zeros when ``out`` was not given).
        """
        self.refresh()
        if keys is None:
            keys = text_keys(texts)
        if out is None:
            out = np.zeros((len(keys), self.dim), dtype=np.float32)
        pos = self._find(keys)
        found = pos >= 0
        if found.any():
            idx = np.nonzero(found)[0]
            where = self._where[pos[idx]]
            for num in np.unique(where[:, 0]):
                sel = where[:, 0] == num
                rows = where[sel, 1]
                order = np.argsort(rows, kind="stable")  # sequential reads of the memmap
                out[idx[sel][order]] = self._shards[self._names[num]][rows[order]]
        n_hit = int(found.sum())
        self.hits += n_hit
        self.misses += len(keys) - n_hit
        return found, out

    def put(self, texts: list[str], vectors: np.ndarray, keys: np.ndarray | None = None) -> int:
        """Store embeddings of texts not yet cached; returns how many were written."""
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[1] != self.dim or len(vectors) != len(texts):
            raise InputError(f"cache.put: expected vectors of shape ({len(texts)}, {self.dim}), "
                             f"got {vectors.shape}")
        if keys is None:
            keys = text_keys(texts)
        self.refresh()
        new = self._find(keys) < 0
        if not new.any():
            return 0
        keys, vectors = keys[new], vectors[new]
        _, first = np.unique(keys, axis=0, return_index=True)  # one copy of repeated texts
        first.sort()
        keys, vectors = keys[first], vectors[first]
        name = f"{uuid.uuid4().hex}"
        try:
            self._ensure_dir()
            _atomic_save(self.dir / f"{name}.vec.npy", vectors)
            _atomic_save(self.dir / f"{name}.key.npy", keys)  # commit marker: written last
        except (OSError, InputError) as exc:  # read-only or full cache: results stay correct
            warnings.warn(f"embedding cache {str(self.dir)!r} not written ({exc}); continuing "
                          "without caching these embeddings", RuntimeWarning, stacklevel=2)
            return 0
        self.refresh()
        if len(self._names) > self.max_shards:
            self.compact()
        return len(keys)

    def compact(self) -> int:
        """Merge all shards into one; returns the number of entries."""
        self.refresh()
        if len(self._names) <= 1:
            return len(self)
        vecs = np.empty((len(self._keys), self.dim), dtype=np.float32)
        for num, name in enumerate(self._names):
            sel = self._where[:, 0] == num
            vecs[sel] = self._shards[name][self._where[sel, 1]]
        name = f"{uuid.uuid4().hex}"
        _atomic_save(self.dir / f"{name}.vec.npy", vecs)
        _atomic_save(self.dir / f"{name}.key.npy", self._keys)
        old = list(self._names)
        for n in old:
            for suffix in (".key.npy", ".vec.npy"):  # key first: the shard disappears whole
                try:
                    (self.dir / f"{n}{suffix}").unlink()
                except FileNotFoundError:
                    pass
        self._shards, self._names = {}, []
        self._keys = np.zeros((0, 2), dtype=np.uint64)
        self._where = np.zeros((0, 2), dtype=np.int64)
        self.refresh()
        return len(self)


def cache_info(cache_dir=None) -> list[dict]:
    """One dict per model folder in ``cache_dir``: model id, entries, shards, bytes."""
    root = resolve_cache_dir(cache_dir if cache_dir is not None else "")
    out = []
    if root is None or not root.is_dir():
        return out
    for d in sorted(p for p in root.iterdir() if p.is_dir()):
        if not ((d / "MODEL").exists() or any(d.glob("*.key.npy"))):
            continue  # not a cache folder
        marker = d / "MODEL"
        model = marker.read_text(encoding="utf-8").strip() if marker.exists() else "?"
        entries, shards, size = 0, 0, 0
        for f in d.iterdir():
            try:
                size += f.stat().st_size
            except FileNotFoundError:
                continue
            if f.name.endswith(".key.npy"):
                shards += 1
                try:
                    entries += int(np.load(f, mmap_mode="r").shape[0])
                except (OSError, ValueError):
                    pass
        out.append({"folder": str(d), "model_id": model, "entries": entries, "shards": shards,
                    "bytes": size})
    return out


def clear_cache(cache_dir=None) -> int:
    """Remove every model folder under ``cache_dir``; returns how many were removed.

    Only folders that look like cache folders (a ``MODEL`` file or shard files) are removed.
    """
    root = resolve_cache_dir(cache_dir if cache_dir is not None else "")
    if root is None or not root.is_dir():
        return 0
    n = 0
    for d in root.iterdir():
        if d.is_dir() and ((d / "MODEL").exists() or any(d.glob("*.key.npy"))):
            shutil.rmtree(d, ignore_errors=True)
            n += 1
    return n
