"""Options shared by the embedding-based metric families (``alliance``, ``embedding_sync``)."""
from __future__ import annotations

from ..errors import InputError
from ..registry import Option


def positive_int(value) -> int:
    """Parse a positive integer option value (InputError otherwise)."""
    try:
        v = int(value)
    except (TypeError, ValueError):
        raise InputError(f"expected a positive integer, got {value!r}") from None
    if v < 1 or (isinstance(value, float) and value != v):
        raise InputError(f"expected a positive integer, got {value!r}")
    return v


def as_bool(value) -> bool:
    """An option value as bool (accepts True/False and the strings true/false/yes/no/1/0)."""
    if isinstance(value, bool):
        return value
    if value is None:
        return False
    s = str(value).strip().lower()
    if s in ("1", "true", "yes", "on"):
        return True
    if s in ("0", "false", "no", "off", ""):
        return False
    raise InputError(f"expected a boolean (true/false), got {value!r}")


MODEL_DIR = Option("model_dir", str, "",
                   "sentence encoder directory with model.onnx + tokenizer.json "
                   "(empty: built-in all-MiniLM-L6-v2, int8 ONNX)")
CACHE_DIR = Option("cache_dir", str, "",
                   "embedding cache folder (empty: $FASTMETRICS_CACHE_DIR or "
                   "~/.cache/fastmetrics/embeddings; 'none': no cache)")
WINDOW = Option("window", positive_int, 8, "window of W turns (rolling / windowed means)")
