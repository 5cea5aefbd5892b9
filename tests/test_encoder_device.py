"""Where the MiniLM tier runs: the CPU unless a real GPU (or a named --backend cuda) says otherwise."""
import pytest

from fastmetrics import backends
from fastmetrics.embed.api import _encoder_device
from fastmetrics.errors import BackendUnavailableError


@pytest.mark.parametrize("backend", ["numba", "c"])
def test_cpu_backends_keep_the_cpu_encoder(backend):
    assert _encoder_device(backend) == "cpu"


@pytest.mark.skipif(backends.available("cuda") and not backends.is_simulator(), reason="a GPU is present")
def test_auto_without_a_gpu_stays_on_the_cpu():
    assert _encoder_device("auto") == "cpu"


@pytest.mark.skipif(backends.available("cuda"), reason="CUDA is available here")
def test_named_cuda_without_a_gpu_fails_with_the_reason(tmp_path):
    from fastmetrics.api import demo_path, score

    with pytest.raises(BackendUnavailableError, match="unavailable"):
        score(demo_path(), metrics=["embedding_sync"], backend="cuda", out_dir=tmp_path / "o")
