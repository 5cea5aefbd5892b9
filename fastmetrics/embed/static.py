"""Static encoder tier: a model2vec table distilled from the MiniLM encoder.

The table (``fastmetrics/data/static_minilm/table.npz``, built by
``scripts/build_static_encoder.py``; Apache-2.0, see LICENSE and NOTICE there) holds one int8
row per WordPiece token of the MiniLM tokenizer: the token encoded alone by MiniLM, reduced by
PCA to 256 dimensions, weighted by SIF with Zipf frequencies and quantised with a per-row scale.

Algorithm
---------
1. Tokenise with the MiniLM WordPiece tokenizer (``tokenizers``, batch API, no special
   tokens, no truncation).
2. Embedding of a text = mean over its tokens of ``scale[t] * vectors[t]`` (the weights are
   folded into the rows), a Numba kernel over the ragged batch; texts without tokens get the
   zero vector.
3. L2 normalisation (rows of norm 0 stay 0).

``space="minilm"`` maps each pooled vector back into MiniLM's 384-d space (``v @ components +
mean`` before normalising); the default ``space="static"`` keeps the 256-d PCA space, which is
what the families use (every cosine is taken between vectors of one tier).

It is a bag of token vectors: word order and context are lost. Fidelity to MiniLM is measured
in ``benchmarks/static_fidelity.py`` (docs/encoders.md).
"""
from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import BackendUnavailableError, InputError
from .encoder import DATA_DIR as MINILM_DIR
from .encoder import as_text_list, file_sha256, unique_texts

STATIC_DIR = Path(__file__).resolve().parents[1] / "data" / "static_minilm"
TIER_STATIC = "static"
TIER_MINILM = "minilm"
TIERS = (TIER_MINILM, TIER_STATIC)
SPACES = ("static", "minilm")


def _pool_numpy(offsets, ids, vectors, scales, out):
    """Reference pooling (used when Numba is unavailable)."""
    for i in range(len(offsets) - 1):
        a, b = offsets[i], offsets[i + 1]
        if b > a:
            t = ids[a:b]
            out[i] = (vectors[t].astype(np.float32) * scales[t, None]).sum(axis=0) / (b - a)
        else:
            out[i] = 0.0


def _make_pool_kernel():
    try:
        import numba
    except ImportError:  # pragma: no cover - numba is a dependency
        return _pool_numpy

    @numba.njit(parallel=True, cache=True, nogil=True)
    def pool(offsets, ids, vectors, scales, out):
        n = offsets.shape[0] - 1
        d = vectors.shape[1]
        for i in numba.prange(n):
            a = offsets[i]
            b = offsets[i + 1]
            for k in range(d):
                out[i, k] = 0.0
            for j in range(a, b):
                t = ids[j]
                s = scales[t]
                for k in range(d):
                    out[i, k] += s * vectors[t, k]
            if b > a:
                inv = np.float32(1.0) / np.float32(b - a)
                for k in range(d):
                    out[i, k] *= inv
    return pool


_POOL = None


def pool_tokens(offsets: np.ndarray, ids: np.ndarray, vectors: np.ndarray, scales: np.ndarray) -> np.ndarray:
    """Mean of ``scales[t] * vectors[t]`` over each text's tokens (ragged: ``offsets``), float32."""
    global _POOL
    if _POOL is None:
        _POOL = _make_pool_kernel()
    out = np.empty((len(offsets) - 1, vectors.shape[1]), dtype=np.float32)
    _POOL(offsets.astype(np.int64), ids.astype(np.int32), vectors, scales, out)
    return out


@dataclass(frozen=True)
class StaticInfo:
    """What identifies the static tier's output (metadata and cache keys)."""

    name: str
    table_sha256: str
    tokenizer_sha256: str
    space: str
    dim: int

    @property
    def model_id(self) -> str:
        return (f"{self.name}|tier=static|table={self.table_sha256[:16]}|tok={self.tokenizer_sha256[:16]}"
                f"|space={self.space}|pooling=mean|normalize=l2")

    def metadata(self) -> dict[str, str]:
        return {"embedding_tier": TIER_STATIC, "embedding_model": self.name,
                "embedding_model_id": self.model_id,
                "embedding_pooling": "mean of SIF-weighted static token vectors, L2-normalised",
                "embedding_dim": str(self.dim), "embedding_max_length": "none"}


class StaticEncoder:
    """The static (model2vec) tier with the interface of :class:`fastmetrics.embed.encoder.Encoder`.

    Parameters
    ----------
    table_dir : path, optional
        Folder with ``table.npz`` + ``manifest.json`` (default: the shipped table).
    space : {"static", "minilm"}
        Output space: the table's 256-d PCA space (default) or MiniLM's 384-d space.

    Examples
    --------
    >>> enc = StaticEncoder()
    >>> enc.encode(["I feel alone.", "That sounds hard."]).shape
    (2, 256)
    """

    tier = TIER_STATIC

    def __init__(self, table_dir=None, *, space: str = "static"):
        if space not in SPACES:
            raise InputError(f"space must be one of {', '.join(SPACES)}, got {space!r}")
        try:
            from tokenizers import Tokenizer
        except ImportError as exc:  # pragma: no cover - runtime dependency
            raise BackendUnavailableError("the static encoder needs tokenizers (pip install tokenizers)") from exc
        d = Path(table_dir) if table_dir else STATIC_DIR
        table, manifest = d / "table.npz", d / "manifest.json"
        if not table.is_file() or not manifest.is_file():
            raise InputError(f"static encoder folder {str(d)!r} lacks table.npz or manifest.json")
        self.manifest = json.loads(manifest.read_text())
        with np.load(table) as z:
            self.vectors = np.ascontiguousarray(z["vectors"])            # int8 (V, d)
            self.scales = np.ascontiguousarray(z["scales"], dtype=np.float32)
            self.components = np.ascontiguousarray(z["components"], dtype=np.float32)
            self.mean = np.ascontiguousarray(z["mean"], dtype=np.float32)
        tok_path = MINILM_DIR / "tokenizer.json"
        tok = Tokenizer.from_file(str(tok_path))
        tok.no_padding()
        tok.no_truncation()
        self._tokenizer = tok
        self.tokenizer_path = tok_path
        self.space = space
        dim = self.vectors.shape[1] if space == "static" else self.components.shape[1]
        self.info = StaticInfo(name=f"static-minilm (model2vec of {self.manifest.get('source_model', '?')}, "
                                    f"d={self.vectors.shape[1]})",
                               table_sha256=file_sha256(table), tokenizer_sha256=file_sha256(tok_path),
                               space=space, dim=int(dim))
        self.providers = ("static",)

    @property
    def dim(self) -> int:
        return self.info.dim

    @property
    def model_id(self) -> str:
        return self.info.model_id

    def tokenize_ragged(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """(offsets int64 (n+1,), ids int32) of the texts' WordPiece tokens, without specials."""
        encs = self._tokenizer.encode_batch_fast(texts, add_special_tokens=False) \
            if hasattr(self._tokenizer, "encode_batch_fast") else \
            self._tokenizer.encode_batch(texts, add_special_tokens=False)
        lists = [e.ids for e in encs]
        offsets = np.zeros(len(lists) + 1, dtype=np.int64)
        np.cumsum([len(x) for x in lists], out=offsets[1:])
        ids = np.fromiter((t for x in lists for t in x), dtype=np.int32, count=int(offsets[-1]))
        return offsets, ids

    def encode_distinct(self, texts: list[str], *, normalize: bool, want_tokens: bool = False,
                        on_progress=None):
        """Embeddings of texts (no deduplication): float32 (n, dim)."""
        if want_tokens:
            raise InputError("the static encoder has no contextual token states; use the minilm tier")
        offsets, ids = self.tokenize_ragged(texts)
        out = pool_tokens(offsets, ids, self.vectors, self.scales)
        if self.space == "minilm":
            out = out @ self.components + self.mean
            out[offsets[1:] == offsets[:-1]] = 0.0
        if normalize:
            norms = np.linalg.norm(out, axis=1, keepdims=True)
            np.divide(out, np.maximum(norms, 1e-12), out=out)
        if on_progress is not None:
            on_progress(1.0)
        return out

    def encode(self, texts: Iterable[str], *, normalize: bool = True, dedupe: bool = True) -> np.ndarray:
        """Sentence embeddings, float32 (n, dim), rows L2-normalised (see the module doc)."""
        texts = as_text_list(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        if not dedupe:
            return self.encode_distinct(texts, normalize=normalize)
        uniq, inverse = unique_texts(texts)
        emb = self.encode_distinct(uniq, normalize=normalize)
        return emb if len(uniq) == len(texts) else emb[inverse]


_STATIC: dict[tuple, StaticEncoder] = {}
_LOCK = threading.Lock()


def get_static_encoder(table_dir=None, *, space: str = "static") -> StaticEncoder:
    """A process-wide shared :class:`StaticEncoder` (loaded on first use)."""
    key = (str(table_dir or ""), space)
    with _LOCK:
        enc = _STATIC.get(key)
        if enc is None:
            enc = _STATIC[key] = StaticEncoder(table_dir, space=space)
        return enc


def table_fingerprint() -> str:
    """sha256 of the shipped table (for tests and the manifest check)."""
    h = hashlib.sha256()
    h.update((STATIC_DIR / "table.npz").read_bytes())
    return h.hexdigest()
