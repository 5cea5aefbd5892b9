"""Single-turn signals per supporter turn, each named by its source.

The human signal lives here:

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

* the model signals (empathy, behaviour) come from their families,
  :mod:`fastmetrics.metrics.empathy` and :mod:`fastmetrics.metrics.behaviour`.

Algorithm: vectorised with ``searchsorted`` over the flat turn arrays (no per-turn Python
objects); memory O(n_turns).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..corpus import CLIENT, THERAPIST
from ..errors import InputError

__all__ = ["RULES", "attribute_feedback", "unattributed_ratings", "supporter_signals"]

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


# --------------------------------------------------------------------------- supporter signals
#: Trajectory features of a supporter signal in the per-signal comparison.
SIGNAL_TRAJECTORY = ("slope", "late_minus_early", "volatility")
#: Per-turn model empathy columns by preference: trained models, else the prototype heuristic.
EMPATHY_MODEL = ("empathy_er", "empathy_ip", "empathy_ex")
EMPATHY_PROTO = ("empathy_proto_er", "empathy_proto_ip", "empathy_proto_ex")
#: Two-role per-turn series: the supporter's turns are the signal; convergence (slope of the
#: between-speaker gap) is added.
DYADIC = {"alliance_full": "alliance", "emb_sim_prev": "embedding_sync"}
#: Per-turn pair measures (a supporter turn against the client turn before it): the
#: supporter's turns are the signal, no convergence.
PAIRWISE = {"lsm_prev": "style_sync", "rlsm_turn": "style_sync"}


@dataclass
class TurnSignal:
    """A supporter signal built from a per-turn series (see :func:`supporter_signals`)."""

    name: str
    mean: np.ndarray
    trajectory: dict
    source: str
    group: str
    series: np.ndarray
    mask: np.ndarray
    mean_name: str = ""


def _signal(T, name, values, group, source, *, dyadic=False, mean_name=""):
    from ..metrics.trajectory import trajectory_features

    v = np.asarray(values, dtype=np.float64)
    sup = np.where(T.role == THERAPIST, v, np.nan)
    f = trajectory_features(T.conv_offsets, sup, T.role, role_filter="therapist")
    traj = {f"{name}_{k}": np.asarray(f[k], dtype=np.float64) for k in SIGNAL_TRAJECTORY}
    if dyadic and np.isfinite(v[T.role == CLIENT]).any():
        g = trajectory_features(T.conv_offsets, v, T.role)
        traj[f"{name}_convergence"] = np.asarray(g["convergence"], dtype=np.float64)
    mean = np.asarray(f["mean"], dtype=np.float64)
    mean = np.where(np.asarray(f["n"]) > 0, mean, np.nan)
    return TurnSignal(name, mean, traj, source, group, sup, np.isfinite(sup),
                      mean_name or f"{name}_mean")


def supporter_signals(T, *, feedback=None, rating_column="rating", behaviour_codes=None,
                      behaviours=(), valence_column="valence", extra=()) -> list:
    """The supporter signals of the per-signal comparison, from the aligned turns ``T``.

    In this order, each where its per-turn column is present: model empathy per mechanism
    (``empathy_er/ip/ex`` from a trained model, else ``empathy_proto_er/ip/ex``); the human
    rating (``feedback``: seeker ratings attributed by :func:`attribute_feedback`); one
    behaviour indicator per BOLT behaviour (1 when a labelled supporter turn shows it, 0 when
    it shows another; its mean is the behaviour rate); the supporter's valence; alliance
    (``alliance_full``); embedding synchrony (``emb_sim_prev``: a turn's cosine to the
    previous turn); style synchrony per turn (``lsm_prev``, ``rlsm_turn``); then every per-turn
    column named in ``extra``. Each signal is read on supporter turns only: mean, slope,
    late - early, volatility
    (:func:`fastmetrics.metrics.trajectory.trajectory_features`); for two-role series also
    the convergence of the between-speaker gap.
    """
    out = []
    emp = [c for c in EMPATHY_MODEL if T.has(c)] or [c for c in EMPATHY_PROTO if T.has(c)]
    for c in emp:
        v = T.numeric(c)
        if v is not None:
            out.append(_signal(T, c, v, "empathy", f"model: per-turn '{c}' (empathy family)"))
    if feedback is not None:
        out.append(_signal(T, "feedback", feedback, "human",
                           f"human: seeker '{rating_column}' attributed to supporter turns"))
    if behaviour_codes is not None:
        codes = np.asarray(behaviour_codes)
        lab = (T.role == THERAPIST) & (codes >= 0)
        for i, b in enumerate(behaviours):
            ind = np.where(lab, (codes == i).astype(np.float64), np.nan)
            if np.nansum(ind) == 0:
                continue
            s = _signal(T, f"bolt_{b}", ind, "behaviour",
                        "BOLT behaviour indicator on labelled supporter turns",
                        mean_name=f"bolt_{b}_rate")
            out.append(s)
    if T.has(valence_column):
        v = T.numeric(valence_column)
        if v is not None and np.isfinite(v[T.role == THERAPIST]).any():
            out.append(_signal(T, f"{valence_column}_therapist", v, "valence",
                               f"'{valence_column}' on supporter turns (emotion family)", dyadic=True))
    for c, grp in DYADIC.items():
        if T.has(c):
            v = T.numeric(c)
            if v is not None and np.isfinite(v[T.role == THERAPIST]).any():
                out.append(_signal(T, f"{c}_therapist", v, grp,
                                   f"'{c}' on supporter turns ({grp} family)", dyadic=True))
    for c, grp in PAIRWISE.items():
        if T.has(c):
            v = T.numeric(c)
            if v is not None and np.isfinite(v[T.role == THERAPIST]).any():
                out.append(_signal(T, f"{c}_therapist", v, grp,
                                   f"'{c}' on supporter turns ({grp.replace('_', ' ')}, "
                                   f"{c.split('_')[0]} family)"))
    have = {s.name for s in out}
    for c in extra:
        if not T.has(c):
            raise InputError(f"--signal {c!r} is not a column of turns.parquet; columns: "
                             f"{', '.join(T.table.column_names)}")
        v = T.numeric(c)
        if v is None:
            raise InputError(f"--signal {c!r} is not numeric")
        if c not in have:
            out.append(_signal(T, c, v, "named", f"per-turn '{c}' (named)", dyadic=True))
    return out
