"""The ``trajectory`` family: per-conversation trajectory features of per-turn series.

Runs after every other family (``after=("*",)``) and reads the per-turn columns available so
far (carried input columns such as ESConv's ``rating`` and the turn columns of the families
computed before it, e.g. ``valence``). ``--trajectory SERIES[:ROLE]`` (repeatable) selects the
series; without it, every numeric per-turn column that a metric family declares
(:func:`declared_turn_series`) is used: carried input columns (identifiers such as an
``annotator_id``, a seeker ``rating``) are series only when named. Columns are written to
``conversations.parquet`` as ``<series>[_<role>]_<feature>`` (e.g. ``valence_client_slope``,
``rating_mean``); features and definitions: :mod:`fastmetrics.metrics.trajectory`. A feature
whose name another family of the run already writes (``alliance_<scale>_convergence`` is the
alliance family's own definition) is left to that family and listed in the metadata key
``fastmetrics.trajectory_left_to_other_families``.
"""
from __future__ import annotations

import numpy as np

from ...options import ListOf, Option, Real, Text
from ...registry import Context, MetricFamily, MetricResult

__all__ = ["FAMILY", "BASE_FEATURES"]

#: Features written for every series (``first_below``, ``convergence`` and ``rlver_reward``
#: are added as described in the module docstring).
BASE_FEATURES = ("n", "mean", "first", "last", "change", "slope", "late_minus_early", "auc",
                 "volatility", "min", "max_drawdown")


#: Numeric per-turn columns that are positions, not series (left out of the default).
_BOOKKEEPING = frozenset({"source_order", "turn", "turn_index", "position", "role"})

OPTIONS = (
    Option("trajectory", [], "per-turn series for trajectory features, SERIES or SERIES:ROLE "
           "(repeatable); default: every numeric per-turn column a metric family declares "
           "(carried input columns only when named)", ListOf(Text("SERIES or SERIES:ROLE", allow_empty=False))),
    Option("trajectory_threshold", None, "write <series>_first_below: first turn whose value is "
           "below this threshold", Real(optional=True)),
    Option("rlver", [], "series holding 0-100 emotion points: write <series>_rlver_reward "
           "(RLVER reward)", ListOf(Text("a series name", allow_empty=False))),
)


def declared_turn_series() -> frozenset:
    """Per-turn columns declared by the registered metric families (the default series)."""
    from ...registry import get, names

    out: set = set()
    for n in names():
        if n != "trajectory":
            out.update(get(n).turn_columns)
    return frozenset(out - _BOOKKEEPING)


def _compute(corpus, ctx: Context) -> MetricResult:
    from ...columns import as_float, is_numeric
    from ...errors import InputError
    from . import parse_series_spec, trajectory_features

    specs = list(ctx.options["trajectory"])
    if not specs:
        declared = declared_turn_series()
        specs = [name for name, col in ctx.columns.items()
                 if name in declared and is_numeric(col)]
    threshold = ctx.options["trajectory_threshold"]
    rlver = set(ctx.options["rlver"])
    backend = ctx.backend_for("trajectory")
    unused = sorted(r for r in rlver if r not in specs and r not in {parse_series_spec(s)[0] for s in specs})
    if unused:
        raise InputError(f"--rlver {', '.join(unused)}: not among the trajectory series of this run "
                         f"({', '.join(specs) or 'none'}); add it with --trajectory")
    out: dict[str, np.ndarray] = {}
    for spec in specs:
        name, role = parse_series_spec(spec)
        if name not in ctx.columns:
            raise InputError(f"trajectory series {name!r} is not a per-turn column of this run; "
                             f"available: {', '.join(sorted(ctx.columns)) or 'none'} (request the "
                             "family that writes it, e.g. --metrics emotion for valence)")
        values = as_float(name, ctx.columns[name])
        feats = trajectory_features(corpus.conv_offsets, values, corpus.role, role_filter=role,
                                    threshold=threshold, n_threads=ctx.n_threads, backend=backend)
        prefix = name if role is None else f"{name}_{role}"
        for f in BASE_FEATURES:
            out[f"{prefix}_{f}"] = feats[f]
        if threshold is not None:
            out[f"{prefix}_first_below"] = feats["first_below"]
        if role is None:
            out[f"{prefix}_convergence"] = feats["convergence"]
        if name in rlver or spec in rlver:
            out[f"{prefix}_rlver_reward"] = feats["rlver_reward"]
    # a feature whose name another family of the run already writes (alliance_<scale>_convergence
    # is the alliance family's own definition) is left to that family
    left = sorted(k for k in out if k in ctx.conv_columns and k not in corpus.conv_columns)
    for k in left:
        del out[k]
    meta = {"trajectory_series": ",".join(specs)}
    if left:
        meta["trajectory_left_to_other_families"] = ",".join(left)
    return MetricResult(conversations=out, metadata=meta)


FAMILY = MetricFamily(
    name="trajectory",
    description="trajectory features (mean, slope, late-early, AUC, volatility, min, drawdown, ...) "
                "of per-turn series per conversation",
    compute=_compute,
    needs=frozenset({"columns"}),
    options=OPTIONS,
    operations=("trajectory",),
    column_patterns=(r".+_(" + "|".join(BASE_FEATURES) + r"|first_below|convergence|rlver_reward)",),
    after=("*",),
    reference="METRICS.md 6 and 8; RLVER (Wang et al. 2025) for the reward",
)
