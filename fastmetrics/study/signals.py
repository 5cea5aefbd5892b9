"""Single-turn signals per supporter turn, each named by its source.

Two signals live here:

* ``attribute_feedback`` -- the human signal. In ESConv the help-seeker rates the supporter
  (``feedback`` "1".."5") on some of their own turns, about every two supporter utterances
  (Liu et al., ACL 2021, section 4). A rating on a seeker turn is the seeker's judgement of the
  supporter turns received *since the previous rating*. The attribution rule, implemented
  below, is therefore:

      every supporter turn s gets the rating r of the first rating-carrying turn t > s of the
      same conversation, provided no other rating-carrying turn lies between s and t
      (which is implied by "first"); supporter turns after the last rating get NaN.

  With ``rule="next_client"`` the rating is credited only to the supporter turns between the
  rated seeker turn and the client turn before it (the supporter's immediately preceding
  block), a stricter reading used as a sensitivity check.

* ``model_empathy`` -- the heuristic model score used where a corpus has no ratings; see
  :mod:`fastmetrics.metrics.empathy`.

Algorithm: vectorised with ``searchsorted`` over the flat turn arrays (no per-turn Python
objects); memory O(n_turns).
"""
from __future__ import annotations

import numpy as np

from ..corpus import CLIENT, THERAPIST
from ..errors import InputError

RULES = ("since_last_rating", "next_client")


def attribute_feedback(conv_index: np.ndarray, role: np.ndarray, rating: np.ndarray,
                       rule: str = "since_last_rating") -> np.ndarray:
    """Attribute seeker ratings to the supporter turns they rate.

    Parameters
    ----------
    conv_index : numpy.ndarray of int, shape (n_turns,)
        Conversation index of each turn; turns ordered by (conversation, position).
    role : numpy.ndarray of int8, shape (n_turns,)
        Role codes (0 client, 1 therapist, 2 other).
    rating : numpy.ndarray of float, shape (n_turns,)
        The rating carried by a turn, NaN where none. Ratings on non-client turns are
        rejected.
    rule : {"since_last_rating", "next_client"}
        See the module docstring.

    Returns
    -------
    numpy.ndarray of float64, shape (n_turns,)
        The attributed rating on supporter (therapist) turns, NaN on every other turn and on
        supporter turns no rating covers.

    Examples
    --------
    >>> import numpy as np
    >>> attribute_feedback(np.zeros(5, int), np.array([1, 1, 0, 1, 0]),
    ...                    np.array([np.nan, np.nan, 4.0, np.nan, 2.0]))
    array([ 4.,  4., nan,  2., nan])
    """
    conv_index = np.asarray(conv_index, dtype=np.int64)
    role = np.asarray(role)
    rating = np.asarray(rating, dtype=np.float64)
    n = len(role)
    if len(conv_index) != n or len(rating) != n:
        raise InputError(f"conv_index, role and rating must have the same length; got "
                         f"{len(conv_index)}, {n}, {len(rating)}")
    if rule not in RULES:
        raise InputError(f"unknown feedback attribution rule {rule!r}; expected one of {RULES}")
    if n and np.any(np.diff(conv_index) < 0):
        raise InputError("turns must be ordered by conversation (conv_index non-decreasing)")
    rated = np.flatnonzero(~np.isnan(rating))
    bad = rated[role[rated] != CLIENT]
    if len(bad):
        raise InputError(f"{len(bad)} rating(s) sit on non-client turns (first at turn index "
                         f"{int(bad[0])}); seeker feedback must be on seeker (client) turns")
    out = np.full(n, np.nan)
    sup = np.flatnonzero(role == THERAPIST)
    if len(rated) == 0 or len(sup) == 0:
        return out
    # first rated turn after each supporter turn
    j = np.searchsorted(rated, sup, side="right")
    ok = j < len(rated)
    sup, j = sup[ok], j[ok]
    t = rated[j]
    ok = conv_index[t] == conv_index[sup]
    sup, t = sup[ok], t[ok]
    if rule == "next_client":
        # the rated turn must be the first client turn after the supporter turn
        clients = np.flatnonzero(role == CLIENT)
        k = np.searchsorted(clients, sup, side="right")
        ok = clients[np.minimum(k, len(clients) - 1)] == t
        sup, t = sup[ok], t[ok]
    out[sup] = rating[t]
    return out


def unattributed_ratings(conv_index: np.ndarray, role: np.ndarray, rating: np.ndarray,
                         rule: str = "since_last_rating") -> int:
    """Number of ratings that credit no supporter turn under ``rule`` (for the record)."""
    att = attribute_feedback(conv_index, role, rating, rule)
    rating = np.asarray(rating, dtype=np.float64)
    rated = np.flatnonzero(~np.isnan(rating))
    sup = np.flatnonzero(~np.isnan(att))
    if len(rated) == 0:
        return 0
    # a rating is used if some supporter turn maps to it
    j = np.searchsorted(rated, sup, side="right")
    used = np.zeros(len(rated), dtype=bool)
    used[j[j < len(rated)]] = True
    return int((~used).sum())


# --------------------------------------------------------------------------- prototypes
def load_anchors(name: str) -> dict[str, list[str]]:
    """Anchor statements shipped in ``fastmetrics/data/study/<name>_anchors.json``
    (``"empathy"`` or ``"behaviour"``), or from a user's JSON file path with the same layout
    (``{category: [statement, ...]}``; keys ``name``/``description`` are ignored)."""
    import json
    from pathlib import Path

    p = Path(name)
    if not p.suffix:
        p = Path(__file__).resolve().parents[1] / "data" / "study" / f"{name}_anchors.json"
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
