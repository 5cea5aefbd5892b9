"""Trajectory features of per-turn series, reduced per conversation in one compiled pass.

For a per-turn numeric series (valence, a rating, an alliance score, ...), optionally
restricted to one role, every conversation gets (docs METRICS.md sections 6 and 8):

==================  ==========================================================================
feature             definition over the conversation's points (turns with a value, in order)
==================  ==========================================================================
``n``               number of points
``mean``            mean (the "snapshot")
``first``/``last``  first and last value; ``change`` = last - first
``slope``           OLS slope of value on normalised position x = turn position / (T - 1),
                    T the conversation's number of turns (NaN with < 2 points)
``late_minus_early`` mean of the last n//3 points minus mean of the first n//3 (NaN if n < 3)
``auc``             trapezoid area over the points at x = i / (n - 1) (i = 0..n-1), i.e. the
                    area with unit spacing / (n - 1): position-normalised, a constant c has
                    AUC c at any length; the value itself for one point
``volatility``      sample SD (ddof 1) of first differences (NaN if n < 3)
``min``             minimum
``max_drawdown``    largest drop from a running maximum to a later value (>= 0)
``first_below``     0-based turn position of the first point below ``threshold`` (NaN if none
                    or no threshold)
``convergence``     series without role restriction only: OLS slope of the gap
                    |client value - therapist value| (a client turn and the therapist turn right
                    after it) on the client turn's normalised position (NaN with < 2 gaps);
                    negative = converging. A project definition, not a published statistic.
``rlver_reward``    RLVER-compatible reward for 0-100 emotion series (Wang et al. 2025): the
                    emotion starts at 30 and is clipped at 100 above; reward =
                    max(e_final / 100, 0), e_final the last point (30 when there is none)
==================  ==========================================================================

Missing values are NaN in the input and are skipped; empty conversations give NaN (``n`` 0).
"""
from __future__ import annotations

import numpy as np

from ... import backends
from ..._threads import resolve_threads
from ...corpus import ROLE_CODES
from ...errors import InputError
from ._numba import FEATURES

__all__ = ["FEATURES", "parse_series_spec", "trajectory_features"]


def parse_series_spec(spec: str) -> tuple[str, str | None]:
    """``"valence:client"`` -> ("valence", "client"); ``"rating"`` -> ("rating", None)."""
    if not isinstance(spec, str) or not spec.strip():
        raise InputError(f"trajectory series must be 'SERIES' or 'SERIES:ROLE', got {spec!r}")
    spec = spec.strip()
    if ":" in spec:
        name, role = spec.rsplit(":", 1)
        role = role.strip().lower()
        if role not in ROLE_CODES:
            raise InputError(f"trajectory series {spec!r}: role must be one of "
                             f"{', '.join(ROLE_CODES)}, got {role!r}")
        return name.strip(), role
    return spec, None


def trajectory_features(conv_offsets, values, role=None, *, role_filter: str | int | None = None,
                        threshold: float | None = None, n_threads: int | None = None,
                        backend: str = "auto") -> dict[str, np.ndarray]:
    """Trajectory features of one per-turn series for every conversation.

    Parameters
    ----------
    conv_offsets : numpy.ndarray of int64, shape (n_conversations + 1,)
    values : array-like of float, shape (n_turns,)
        NaN marks a missing value; +-inf is rejected.
    role : numpy.ndarray of int8, shape (n_turns,), optional
        Role codes (0 client, 1 therapist, 2 other); needed for ``role_filter`` and for
        ``convergence``.
    role_filter : {"client", "therapist", "other"} or int, optional
        Keep only turns of this role.
    threshold : float, optional
        For ``first_below``.
    n_threads : int or None
    backend : {"auto", "numba", "c", "cuda"}
        See :mod:`fastmetrics.backends`.

    Returns
    -------
    dict of str -> numpy.ndarray of float64, shape (n_conversations,)
        One entry per name in :data:`FEATURES`.

    Notes
    -----
    METRICS.md sections 6 and 8; RLVER reward: Wang et al. 2025, arXiv:2507.03112.

    Examples
    --------
    >>> import numpy as np
    >>> f = trajectory_features(np.array([0, 3]), np.array([1.0, 2.0, 4.0]))
    >>> float(f["slope"][0]), float(f["auc"][0])
    (3.0, 2.25)
    """
    off = np.ascontiguousarray(conv_offsets, dtype=np.int64)
    if off.ndim != 1 or len(off) < 1 or off[0] != 0 or np.any(np.diff(off) < 0):
        raise InputError("conv_offsets must be a non-decreasing int64 array starting at 0")
    n = int(off[-1])
    try:
        v = np.ascontiguousarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InputError(f"trajectory values must be numeric: {exc}") from None
    if v.shape != (n,):
        raise InputError(f"values must have one entry per turn ({n}), got shape {v.shape}")
    if np.isinf(v).any():
        raise InputError("trajectory values contain +-inf; use NaN for missing values")
    if role is None:
        if role_filter is not None:
            raise InputError("role_filter needs the role array")
        r = np.full(n, 2, dtype=np.int8)
    else:
        r = np.ascontiguousarray(role, dtype=np.int8)
        if r.shape != (n,):
            raise InputError(f"role must have one entry per turn ({n}), got shape {r.shape}")
    if role_filter is None:
        rf = -1
    elif isinstance(role_filter, str):
        if role_filter not in ROLE_CODES:
            raise InputError(f"role_filter must be one of {', '.join(ROLE_CODES)}, got {role_filter!r}")
        rf = ROLE_CODES[role_filter]
    else:
        rf = int(role_filter)
    thr = np.nan if threshold is None else float(threshold)
    out = np.empty((len(FEATURES), len(off) - 1), dtype=np.float64)
    backends.resolve(backend, "trajectory")(off, v, r, rf, thr, out, resolve_threads(n_threads))
    return {name: out[i] for i, name in enumerate(FEATURES)}
