"""The shipped BOLT behaviour classifier (therapist: 13 behaviours; client: 6).

Trained on BOLT's labelled utterances (Chiu et al. 2024, arXiv:2401.00820; BSD-3-Clause, notice
in ``fastmetrics/data/bolt_classifier/LICENSE-BSD-3-Clause.txt``) by
``scripts/train_bolt_classifier.py``: a multinomial logistic regression on the utterance's
sentence embedding (all-MiniLM-L6-v2) and the lexical cues of
:data:`fastmetrics.models.linear.LEXICAL`, standardised. Stored as ``manifest.json`` +
``weights.npz`` (no pickle); evaluated with NumPy.

``TO_BEHAVIOUR`` maps the 13 therapist labels onto the ``behaviour`` family's categories
(:data:`fastmetrics.metrics.behaviour.BEHAVIOURS`): the six reflection labels other than
emotions are reflections of content; the three question labels are questions.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..errors import InputError
from .linear import lexical_features, softmax_head

__all__ = ["TO_BEHAVIOUR", "BoltClassifier", "features", "shipped_path", "load_shipped"]

TO_BEHAVIOUR = {
    "Reflections on Emotions": "reflection_emotions",
    "Reflections on Needs": "reflection_content",
    "Reflections on Values": "reflection_content",
    "Reflections on Strengths": "reflection_content",
    "Reflections on Consequences": "reflection_content",
    "Reflections on Conflicts": "reflection_content",
    "Questions on Experiences": "question",
    "Questions on Emotions": "question",
    "Questions on Perspectives": "question",
    "Problem-Solving": "problem_solving",
    "Planning": "planning",
    "Normalizing": "normalizing",
    "Psychoeducation": "psychoeducation",
}


def features(emb: np.ndarray, texts: list[str]) -> np.ndarray:
    """Dense features: the embedding and the lexical cues (float64)."""
    return np.hstack([np.asarray(emb, dtype=np.float64), lexical_features(texts)])


def shipped_path() -> Path:
    return Path(__file__).resolve().parents[1] / "data" / "bolt_classifier"


class BoltClassifier:
    """Heads ``therapist`` and ``client``: labels, standardisation and weights."""

    def __init__(self, manifest: dict, arrays: dict):
        self.manifest = manifest
        self.arrays = arrays

    @classmethod
    def load(cls, path=None) -> BoltClassifier:
        path = Path(path) if path else shipped_path()
        try:
            manifest = json.loads((path / "manifest.json").read_text(encoding="utf-8"))
            with np.load(path / "weights.npz", allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
        except (OSError, ValueError) as exc:
            raise InputError(f"{path}: cannot read the BOLT classifier ({exc})") from None
        return cls(manifest, arrays)

    def save(self, path) -> Path:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        np.savez(path / "weights.npz", **self.arrays)
        (path / "manifest.json").write_text(json.dumps(self.manifest, indent=1, sort_keys=True),
                                            encoding="utf-8")
        return path

    def labels(self, who: str = "therapist") -> list[str]:
        return list(self.manifest["heads"][who]["labels"])

    def predict_proba(self, emb: np.ndarray, texts: list[str], who: str = "therapist") -> np.ndarray:
        a = self.arrays
        x = features(emb, texts)
        return softmax_head(x, a[f"{who}_mean"], a[f"{who}_scale"], a[f"{who}_w"], a[f"{who}_b"])

    def predict(self, emb: np.ndarray, texts: list[str], who: str = "therapist") -> list[str]:
        lab = self.labels(who)
        return [lab[i] for i in self.predict_proba(emb, texts, who).argmax(axis=1)]


def load_shipped() -> BoltClassifier:
    return BoltClassifier.load(shipped_path())
