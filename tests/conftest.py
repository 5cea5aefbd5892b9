"""Shared fixtures: the real-data folder (skips with a reason where absent), seeds, backends."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
# models the user trained (fastmetrics train ...) must not change what the tests see
os.environ["FASTMETRICS_MODELS"] = str(ROOT / "tests" / ".no-user-models")
DATA = ROOT.parent / "shared" / "data"
ESCONV = DATA / "esconv"


@pytest.fixture
def esconv_dir() -> Path:
    if not ESCONV.is_dir():
        pytest.skip(f"real ESConv data not found at {ESCONV} (only in the development checkout)")
    return ESCONV


@pytest.fixture
def rng():
    return np.random.default_rng(20261126)


def c_backend_available() -> bool:
    from fastmetrics import _c

    return _c.available


#: Backends every kernel suite runs on ("c" only where the extension is built).
BACKENDS = ["numba", pytest.param("c", marks=pytest.mark.skipif(not c_backend_available(),
                                                                  reason="C extension not built"))]
