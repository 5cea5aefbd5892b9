"""fastmetrics: fast multi-turn metrics for therapeutic and emotional-support conversations."""
from __future__ import annotations

from ._version import __version__
from .corpus import Corpus
from .errors import BackendUnavailableError, ConvergenceWarning, FastMetricsError, InputError, KernelError

__all__ = [
    "__version__", "Corpus", "FastMetricsError", "InputError", "BackendUnavailableError",
    "KernelError", "ConvergenceWarning", "load", "score", "encode", "show_config",
]


_SUBMODULES = frozenset({"api", "cli", "config", "corpus", "io", "embed", "engine", "metrics",
                         "registry", "backends", "options", "study", "testing", "tokens"})


def __getattr__(name):  # lazy public API: keep `import fastmetrics` light
    if name == "load":
        from .io import load

        return load
    if name == "score":
        from .api import score

        return score
    if name == "show_config":
        from .config import show_config

        return show_config
    if name == "encode":
        from .embed.api import encode

        return encode
    if name in _SUBMODULES:  # ``fastmetrics.api`` etc. without importing them up front
        import importlib

        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'fastmetrics' has no attribute {name!r}")
