"""Naive reference implementations of the foundation (plain Python / NumPy), for tests only."""
from __future__ import annotations

import re
import unicodedata

import numpy as np


def tokenize_ref(texts: list[str | None]) -> list[list[str]]:
    """NFC-normalised, lowercase ``\\w+`` tokens exactly as METRICS.md §1 states, with Python's
    unicodedata and re."""
    return [re.findall(r"\w+", unicodedata.normalize("NFC", t or "").lower()) for t in texts]


def token_stats_ref(token_offsets: np.ndarray, token_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n = len(token_offsets) - 1
    nt = np.zeros(n, dtype=np.int32)
    ny = np.zeros(n, dtype=np.int32)
    for t in range(n):
        ids = token_ids[token_offsets[t]:token_offsets[t + 1]]
        nt[t] = len(ids)
        ny[t] = len(set(ids.tolist()))
    return nt, ny
