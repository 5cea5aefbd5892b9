"""Trained single-turn models: the EPITOME empathy model and the BOLT behaviour classifier.

Both are small linear heads over the shipped sentence encoder's embeddings plus lexical
features, stored as portable folders (``manifest.json`` + ``weights.npz``; no pickle) and
evaluated with NumPy alone:

* :mod:`fastmetrics.models.empathy`: trained by the user (``fastmetrics train empathy``) from
  their own copy of EPITOME (Sharma et al., EMNLP 2020), whose licence forbids shipping a
  model trained on it; kept in the user's model folder (:func:`default_models_dir`);
* :mod:`fastmetrics.models.bolt`: trained on BOLT (Chiu et al. 2024, BSD-3-Clause), shipped in
  ``fastmetrics/data/bolt_classifier/`` with the licence notice;
* :mod:`fastmetrics.models.pairs`: both applied to two replies to the same contexts (e.g. a
  human's and a model's), compared pair by pair (``fastmetrics pairs``).
"""
from __future__ import annotations

import os
from pathlib import Path

__all__ = ["ENV_VAR", "default_models_dir"]

#: Environment variable overriding the user's model folder.
ENV_VAR = "FASTMETRICS_MODELS"


def default_models_dir() -> Path:
    """``$FASTMETRICS_MODELS``, else ``$XDG_DATA_HOME/fastmetrics/models``
    (``~/.local/share/fastmetrics/models``)."""
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "fastmetrics" / "models"
