"""``fastmetrics.show_config()``: versions, backends that loaded, thread counts."""
from __future__ import annotations

import importlib
import os
import platform
import sys
from pathlib import Path

from ._version import __version__

__all__ = ["DATA_DIR", "config", "show_config"]

#: Data files shipped inside the package (demo corpus, anchors, tokenizer, lexicons).
DATA_DIR = Path(__file__).resolve().parent / "data"

_PACKAGES = ("numpy", "numba", "llvmlite", "pyarrow", "cffi", "onnxruntime", "tokenizers",
             "faiss", "scipy", "sklearn", "vaderSentiment", "pandas", "polars")


def config() -> dict:
    """Configuration as a dict (what :func:`show_config` prints)."""
    import numba

    from . import _c
    from ._threads import available_cpus

    versions = {}
    for name in _PACKAGES:
        try:
            mod = importlib.import_module(name)
            versions[name] = getattr(mod, "__version__", "installed")
        except Exception:  # noqa: BLE001 - optional packages may fail in many ways
            versions[name] = None
    cuda = False
    try:
        from numba import cuda as _cuda

        cuda = bool(_cuda.is_available())
    except Exception:  # noqa: BLE001
        cuda = False
    try:
        import onnxruntime

        ort_providers = onnxruntime.get_available_providers()
    except Exception:  # noqa: BLE001 - optional at this level
        ort_providers = []
    return {
        "fastmetrics": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "backends": {
            "numba": True,
            "c": _c.available,
            "c_error": _c.load_error,
            "cuda": cuda,
            "onnxruntime_providers": ort_providers,
        },
        "threads": {
            "cpus_available": available_cpus(),
            "numba_num_threads": numba.config.NUMBA_NUM_THREADS,
            "numba_threading_layer": numba.config.THREADING_LAYER,
            "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
            "NUMBA_NUM_THREADS": os.environ.get("NUMBA_NUM_THREADS"),
        },
        "packages": versions,
    }


def show_config(file=None) -> None:
    """Print versions, backends that loaded and thread counts."""
    cfg = config()
    out = file or sys.stdout
    print(f"fastmetrics {cfg['fastmetrics']} (Python {cfg['python']}, {cfg['platform']})", file=out)
    b = cfg["backends"]
    print("backends:", file=out)
    print("  numba : yes", file=out)
    print(f"  c     : {'yes' if b['c'] else 'no (' + str(b['c_error']) + '); using numba'}", file=out)
    print(f"  cuda  : {'yes' if b['cuda'] else 'no GPU found'}", file=out)
    print(f"  encoder (onnxruntime providers): {', '.join(b['onnxruntime_providers']) or 'onnxruntime missing'}",
          file=out)
    print("threads:", file=out)
    for k, v in cfg["threads"].items():
        print(f"  {k}: {v}", file=out)
    print("packages:", file=out)
    for k, v in cfg["packages"].items():
        print(f"  {k}: {v if v else 'not installed'}", file=out)
