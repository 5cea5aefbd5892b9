"""Supporter behaviours (BOLT categories) from ESConv strategies; per-conversation rates.

BOLT (Chiu et al., 2024, arXiv:2401.00820) codes therapist turns as reflections, questions,
solutions (problem-solving, planning), normalising and psychoeducation. ESConv (Liu et al.,
ACL 2021) annotates supporter turns with eight helping-skill strategies. ``STRATEGY_TO_BOLT``
maps one onto the other; the mapping is the project's, documented here:

=================================  =====================  ======================================
ESConv strategy                    BOLT category          note
=================================  =====================  ======================================
Question / Questions               question
Restatement or Paraphrasing        reflection_content     reflection of content / needs
Reflection of feelings             reflection_emotions
Providing Suggestions              problem_solving
Direct Guidance                    problem_solving        FailedESConv only
Information                        psychoeducation
Affirmation and Reassurance        normalizing            closest BOLT code; reassurance is
                                                          broader than normalising
Approval and Reassurance           normalizing            FailedESConv spelling
Self-disclosure                    self_disclosure        no BOLT code; kept apart
Others / Other                     other
=================================  =====================  ======================================

No ESConv strategy maps onto BOLT ``planning``; it is produced only by the prototype
classifier (:mod:`fastmetrics.metrics.behaviour.family`). Matching is case-insensitive and ignores
surrounding whitespace; an unknown label maps to ``other`` and is counted.

Rates (per conversation, over supporter turns with a behaviour label):

* ``bolt_<b>_rate`` = n(turns coded b) / n(labelled supporter turns); NaN with no such turn.
* ``bolt_<b>_given_neg_rate`` = P(b | the client turn before it carries negative affect): among
  labelled supporter turns whose most recent preceding client turn (same conversation) has
  valence <= ``neg_threshold`` (VADER's conventional -0.05), the share coded b; NaN when no
  such turn, and not computed without a valence column.

All operations are vectorised over the flat turn arrays (NumPy ``bincount``).
"""
from __future__ import annotations

import numpy as np

from ...corpus import CLIENT, THERAPIST
from ...errors import InputError

__all__ = ["BEHAVIOURS", "STRATEGY_TO_BOLT", "NEG_THRESHOLD", "map_strategies",
           "previous_client_turn", "behaviour_rates"]

#: BOLT behaviour categories used by fastmetrics, in output order.
BEHAVIOURS = ("reflection_emotions", "reflection_content", "question", "problem_solving",
              "planning", "normalizing", "psychoeducation", "self_disclosure", "other")

STRATEGY_TO_BOLT: dict[str, str] = {
    "question": "question",
    "questions": "question",
    "restatement or paraphrasing": "reflection_content",
    "restatement": "reflection_content",
    "paraphrasing": "reflection_content",
    "reflection of feelings": "reflection_emotions",
    "providing suggestions": "problem_solving",
    "direct guidance": "problem_solving",
    "information": "psychoeducation",
    "affirmation and reassurance": "normalizing",
    "approval and reassurance": "normalizing",
    "self-disclosure": "self_disclosure",
    "others": "other",
    "other": "other",
}

#: VADER's conventional threshold for negative compound valence.
NEG_THRESHOLD = -0.05


def map_strategies(strategy) -> tuple[np.ndarray, int]:
    """Map ESConv strategy labels to BOLT behaviour codes.

    Parameters
    ----------
    strategy : sequence of str or None, shape (n_turns,)
        Strategy label per turn (None/null where the turn has none).

    Returns
    -------
    codes : numpy.ndarray of int8, shape (n_turns,)
        Index into ``BEHAVIOURS``; -1 where the turn has no label.
    n_unknown : int
        Labels not in ``STRATEGY_TO_BOLT`` (mapped to ``other``).
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    arr = strategy if isinstance(strategy, (pa.Array, pa.ChunkedArray)) else pa.array(
        list(strategy), type=pa.string())
    if arr.type != pa.string():
        arr = arr.cast(pa.string())
    enc = pc.utf8_lower(pc.utf8_trim_whitespace(arr)).dictionary_encode()
    if isinstance(enc, pa.ChunkedArray):
        enc = enc.combine_chunks()
    labels = enc.dictionary.to_pylist()
    other = BEHAVIOURS.index("other")
    lut = np.array([BEHAVIOURS.index(STRATEGY_TO_BOLT.get(lbl, "other")) for lbl in labels]
                   or [other], dtype=np.int8)
    known = np.array([lbl in STRATEGY_TO_BOLT for lbl in labels] or [True])
    idx = enc.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
    codes = np.where(idx >= 0, lut[np.maximum(idx, 0)], -1).astype(np.int8)
    n_unknown = int(np.sum((idx >= 0) & ~known[np.maximum(idx, 0)]))
    return codes, n_unknown


def previous_client_turn(conv_index: np.ndarray, role: np.ndarray) -> np.ndarray:
    """int64[n_turns]: index of the latest client turn before each turn in the same
    conversation, -1 where there is none."""
    n = len(role)
    idx = np.where(np.asarray(role) == CLIENT, np.arange(n), -1)
    # running max of client indices, shifted by one (strictly before)
    last = np.maximum.accumulate(idx) if n else idx
    prev = np.concatenate([[-1], last[:-1]]) if n else last
    prev = np.where(prev >= 0, prev, -1)
    same = prev >= 0
    same[same] = conv_index[prev[same]] == conv_index[same]
    return np.where(same, prev, -1).astype(np.int64)


def behaviour_rates(conv_index: np.ndarray, n_conversations: int, role: np.ndarray,
                    codes: np.ndarray, valence: np.ndarray | None = None,
                    neg_threshold: float = NEG_THRESHOLD) -> dict[str, np.ndarray]:
    """Per-conversation behaviour rates and conditional rates.

    Parameters
    ----------
    conv_index : numpy.ndarray of int, shape (n_turns,)
    n_conversations : int
    role : numpy.ndarray of int8, shape (n_turns,)
    codes : numpy.ndarray of int8, shape (n_turns,)
        Behaviour code per turn (index into ``BEHAVIOURS``, -1 = none); only therapist turns
        count.
    valence : numpy.ndarray of float, shape (n_turns,), optional
        Per-turn valence; enables the ``*_given_neg_rate`` columns.
    neg_threshold : float
        A client turn is negative when its valence is <= this value.

    Returns
    -------
    dict of str -> numpy.ndarray of float64, shape (n_conversations,)
        ``bolt_<b>_rate`` for every behaviour, ``bolt_<b>_given_neg_rate`` when valence is
        given, and ``bolt_n_labelled`` (labelled supporter turns).
    """
    conv_index = np.asarray(conv_index, dtype=np.int64)
    role = np.asarray(role)
    codes = np.asarray(codes)
    if not (len(conv_index) == len(role) == len(codes)):
        raise InputError("conv_index, role and codes must have the same length")
    nb = len(BEHAVIOURS)
    lab = (role == THERAPIST) & (codes >= 0)
    out: dict[str, np.ndarray] = {}

    def rates(mask):
        ci, cb = conv_index[mask], codes[mask].astype(np.int64)
        tot = np.bincount(ci, minlength=n_conversations).astype(np.float64)
        cnt = np.bincount(ci * nb + cb, minlength=n_conversations * nb).reshape(n_conversations, nb)
        with np.errstate(invalid="ignore", divide="ignore"):
            r = np.where(tot[:, None] > 0, cnt / tot[:, None], np.nan)
        return r, tot

    r, tot = rates(lab)
    for k, b in enumerate(BEHAVIOURS):
        out[f"bolt_{b}_rate"] = r[:, k]
    out["bolt_n_labelled"] = tot
    if valence is not None:
        valence = np.asarray(valence, dtype=np.float64)
        if len(valence) != len(role):
            raise InputError("valence must have one value per turn")
        prev = previous_client_turn(conv_index, role)
        neg = np.zeros(len(role), dtype=bool)
        has = prev >= 0
        neg[has] = valence[prev[has]] <= neg_threshold  # NaN compares False
        r, _ = rates(lab & neg)
        for k, b in enumerate(BEHAVIOURS):
            out[f"bolt_{b}_given_neg_rate"] = r[:, k]
    return out
