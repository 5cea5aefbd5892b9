"""The ``trajectory`` family: per-conversation trajectory features of per-turn series.

Runs after every other family (``after=("*",)``) and reads the per-turn columns available so
far (carried input columns such as ESConv's ``rating`` and the turn columns of the families
computed before it, e.g. ``valence``). ``--trajectory SERIES[:ROLE]`` (repeatable) selects the
series; without it, every numeric per-turn column is used. Columns are written to
``conversations.parquet`` as ``<series>[_<role>]_<feature>`` (e.g. ``valence_client_slope``,
``rating_mean``); features and definitions: :mod:`fastmetrics.trajectory`.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa

from ..registry import Context, MetricFamily, MetricResult, Option

#: Features written for every series (``first_below``, ``convergence`` and ``rlver_reward``
#: are added as described in the module docstring).
BASE_FEATURES = ("n", "mean", "first", "last", "change", "slope", "late_minus_early", "auc",
                 "volatility", "min", "max_drawdown")


#: Numeric per-turn columns that are positions, not series (left out of the default).
_BOOKKEEPING = frozenset({"source_order", "turn", "turn_index", "position", "role"})


def _float_or_none(value):
    if value in (None, ""):
        return None
    from ..errors import InputError

    try:
        return float(value)
    except (TypeError, ValueError):
        raise InputError(f"expected a number, got {value!r}") from None


OPTIONS = (
    Option("trajectory", list, [],
           "per-turn series for trajectory features, SERIES or SERIES:ROLE (repeatable); "
           "default: every numeric per-turn column except positions (turn, source_order)"),
    Option("trajectory_threshold", _float_or_none, None,
           "write <series>_first_below: first turn whose value is below this threshold"),
    Option("rlver", list, [],
           "series holding 0-100 emotion points: write <series>_rlver_reward (RLVER reward)"),
)


def _as_float(name: str, col) -> np.ndarray:
    """The series as float64 with NaN for missing values.

    Infinite values count as missing here: in the metric columns they mark an undefined value
    (``wmd_prev`` is +inf when a turn has no in-vocabulary word), not a magnitude.
    """
    v = _to_float(name, col)
    inf = np.isinf(v)
    return np.where(inf, np.nan, v) if inf.any() else v


def _to_float(name: str, col) -> np.ndarray:
    from ..errors import InputError

    if isinstance(col, np.ndarray):
        if col.dtype.kind in "fiub":
            return col.astype(np.float64, copy=False)
        col = pa.array(col)
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks()
    if not isinstance(col, pa.Array):
        col = pa.array(col)
    try:
        col = col.cast(pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
        raise InputError(f"trajectory series {name!r} is not numeric ({col.type}): {exc}") from None
    return col.fill_null(np.nan).to_numpy(zero_copy_only=False).astype(np.float64, copy=False)


def _is_numeric(col) -> bool:
    if isinstance(col, np.ndarray):
        return col.dtype.kind in "fiu"
    typ = col.type if isinstance(col, (pa.Array, pa.ChunkedArray)) else None
    return typ is not None and (pa.types.is_integer(typ) or pa.types.is_floating(typ))


def _compute(corpus, ctx: Context) -> MetricResult:
    from ..errors import InputError
    from ..trajectory import parse_series_spec, trajectory_features

    opts = ctx.options
    specs = list(opts.get("trajectory") or [])
    if isinstance(opts.get("trajectory"), str):
        specs = [opts["trajectory"]]
    if not specs:
        specs = [name for name, col in ctx.columns.items()
                 if _is_numeric(col) and name not in _BOOKKEEPING]
    threshold = _float_or_none(opts.get("trajectory_threshold"))
    rlver = opts.get("rlver") or []
    if isinstance(rlver, str):
        rlver = [rlver]
    rlver = set(rlver)
    out: dict[str, np.ndarray] = {}
    for spec in specs:
        name, role = parse_series_spec(spec)
        if name not in ctx.columns:
            raise InputError(f"trajectory series {name!r} is not a per-turn column of this run; "
                             f"available: {', '.join(sorted(ctx.columns)) or 'none'} (request the "
                             "family that writes it, e.g. --metrics emotion for valence)")
        values = _as_float(name, ctx.columns[name])
        feats = trajectory_features(corpus.conv_offsets, values, corpus.role, role_filter=role,
                                    threshold=threshold, n_threads=ctx.n_threads)
        prefix = name if role is None else f"{name}_{role}"
        for f in BASE_FEATURES:
            out[f"{prefix}_{f}"] = feats[f]
        if threshold is not None:
            out[f"{prefix}_first_below"] = feats["first_below"]
        if role is None:
            out[f"{prefix}_convergence"] = feats["convergence"]
        if name in rlver or spec in rlver:
            out[f"{prefix}_rlver_reward"] = feats["rlver_reward"]
    return MetricResult(conversations=out, metadata={"trajectory_series": ",".join(specs)})


FAMILY = MetricFamily(
    name="trajectory",
    description="trajectory features (mean, slope, late-early, AUC, volatility, min, drawdown, ...) "
                "of per-turn series per conversation",
    compute=_compute,
    needs=frozenset({"columns"}),
    options=OPTIONS,
    after=("*",),
    reference="METRICS.md 6 and 8; RLVER (Wang et al. 2025) for the reward",
)
