"""Embedding prototypes: categories described by anchor statements, scored by cosine.

A category's prototype is the L2-normalised mean embedding of its anchor statements; a turn's
score for the category is the cosine of its embedding to the prototype. Used by the heuristic
(unvalidated) scorers of the ``empathy`` and ``behaviour`` families.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..config import DATA_DIR
from ..errors import InputError

__all__ = ["load_anchors", "centroids", "prototype_scores"]


def load_anchors(name: str) -> dict[str, list[str]]:
    """Anchor statements shipped in ``fastmetrics/data/study/<name>_anchors.json``
    (``"empathy"`` or ``"behaviour"``), or from a user's JSON file path with the same layout
    (``{category: [statement, ...]}``; keys ``name``/``description`` are ignored)."""
    p = Path(name)
    if not p.suffix:
        p = DATA_DIR / "study" / f"{name}_anchors.json"
    if not p.is_file():
        raise InputError(f"anchor file {str(p)!r} not found")
    try:
        raw = json.loads(p.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InputError(f"anchor file {str(p)!r} is not valid JSON: {exc}") from None
    out = {k: v for k, v in raw.items() if k not in ("name", "description")}
    for k, v in out.items():
        if not isinstance(v, list) or not v or not all(isinstance(s, str) and s.strip() for s in v):
            raise InputError(f"anchor file {str(p)!r}: {k!r} must be a non-empty list of statements")
    return out


def centroids(anchor_emb: dict[str, np.ndarray]) -> tuple[list[str], np.ndarray]:
    """L2-normalised mean embedding per category: (names, float32 array (k, d))."""
    names = list(anchor_emb)
    C = np.stack([np.asarray(anchor_emb[k], dtype=np.float64).mean(axis=0) for k in names])
    C /= np.maximum(np.linalg.norm(C, axis=1, keepdims=True), 1e-12)
    return names, C.astype(np.float32)


def prototype_scores(turn_emb: np.ndarray, centroid_emb: np.ndarray) -> np.ndarray:
    """Cosine similarity of each turn to each category centroid.

    Parameters
    ----------
    turn_emb : numpy.ndarray of float32, shape (n, d)
        L2-normalised turn embeddings.
    centroid_emb : numpy.ndarray of float32, shape (k, d)
        L2-normalised centroids (:func:`centroids`).

    Returns
    -------
    numpy.ndarray of float64, shape (n, k)
    """
    turn_emb = np.asarray(turn_emb, dtype=np.float32)
    centroid_emb = np.asarray(centroid_emb, dtype=np.float32)
    if turn_emb.ndim != 2 or centroid_emb.ndim != 2 or turn_emb.shape[1] != centroid_emb.shape[1]:
        raise InputError(f"embedding shapes do not match: turns {turn_emb.shape}, "
                         f"centroids {centroid_emb.shape}")
    return (turn_emb @ centroid_emb.T).astype(np.float64)
