"""``fastmetrics study``: from a scored directory to ``results.json`` and ``report.html``.

Inputs are the files ``fastmetrics score`` writes: ``turns.parquet`` (``conversation_id``,
``turn``, ``role``, ``text``, carried columns such as ``rating`` and ``strategy``, metric
columns such as ``valence``) and ``conversations.parquet`` (``conversation_id``, carried
outcome columns, trajectory feature columns ``<series>_<feature>``).

Features come from three places, each recorded with its ``source``:

* derived here from ``turns.parquet``: ``feedback_mean`` (seeker ratings on client turns
  attributed to supporter turns, :func:`fastmetrics.study.signals.attribute_feedback`; a
  rating that sits on a supporter turn is that turn's own rating; averaged per conversation) and BOLT behaviour rates from ``strategy``
  (:mod:`fastmetrics.metrics.behaviour`), unless the behaviour family already wrote them;
  trajectory features of the attributed ratings through :mod:`fastmetrics.trajectory` when
  that module is installed;
* ``conversations.parquet`` columns, chosen automatically by name: ``*_mean`` and
  ``bolt_*_rate`` are snapshot features, ``*_slope``, ``*_late_minus_early``,
  ``*_volatility``, ``*_change``, ``*_max_drawdown`` and ``*_convergence`` trajectory
  features (outcome and control columns are never features; nor are trajectory columns of
  ``n_tokens``/``n_types``, nor those of the raw rating column when ``feedback_mean`` is
  derived from it);
* or exactly the columns named with ``snapshot=`` / ``trajectory=``.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from ..errors import InputError
from .analysis import Feature, StudyInput, analyse

SNAPSHOT_SUFFIXES = ("_mean",)
TRAJECTORY_SUFFIXES = ("_slope", "_late_minus_early", "_volatility", "_change",
                       "_max_drawdown", "_convergence")
#: Per-turn series whose trajectory columns are never picked automatically.
STRUCTURAL_SERIES = ("n_tokens", "n_types", "turn", "n_turns", "n_client_turns",
                     "n_therapist_turns")
ROLE_CODES = {"client": 0, "therapist": 1, "other": 2}


def load_scored(scored_dir) -> tuple:
    """Read ``turns.parquet`` and ``conversations.parquet`` from a scored directory."""
    import pyarrow.parquet as pq

    d = Path(scored_dir)
    if not d.is_dir():
        raise InputError(f"scored directory {str(d)!r} does not exist; run `fastmetrics score` first")
    tp, cp = d / "turns.parquet", d / "conversations.parquet"
    for p in (tp, cp):
        if not p.exists():
            raise InputError(f"{str(p)!r} is missing; a scored directory holds turns.parquet "
                             "and conversations.parquet (written by `fastmetrics score`)")
    return pq.read_table(tp), pq.read_table(cp)


def _numeric(col) -> np.ndarray | None:
    """A float64 NumPy view of an Arrow column (strings parsed), or None if not numeric."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks()
    t = col.type
    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t) or pa.types.is_decimal(t):
        return col.cast(pa.float64()).fill_null(float("nan")).to_numpy(zero_copy_only=False)
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        try:
            return pc.cast(col, pa.float64()).fill_null(float("nan")).to_numpy(zero_copy_only=False)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return None
    return None


class _Turns:
    """Turns aligned to the conversation table: sorted by (conversation, turn)."""

    def __init__(self, turns, conv_ids: list):
        import pyarrow as pa
        import pyarrow.compute as pc

        for c in ("conversation_id", "role"):
            if c not in turns.column_names:
                raise InputError(f"turns.parquet has no {c!r} column (columns: {turns.column_names})")
        cid = turns.column("conversation_id").cast(pa.string())
        ci = pc.index_in(cid, value_set=pa.array(conv_ids, type=pa.string()))
        ci = ci.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
        pos = (_numeric(turns.column("turn")) if "turn" in turns.column_names
               else np.arange(turns.num_rows, dtype=np.float64))
        keep = ci >= 0
        order = np.flatnonzero(keep)[np.lexsort((pos[keep], ci[keep]))]
        self.table = turns.take(pa.array(order))
        self.conv_index = ci[order]
        self.n_conversations = len(conv_ids)
        rl = self.table.column("role")
        if pa.types.is_integer(rl.type):
            self.role = rl.to_numpy().astype(np.int8)
        else:
            rl = rl.combine_chunks() if isinstance(rl, pa.ChunkedArray) else rl
            enc = pc.utf8_lower(pc.utf8_trim_whitespace(rl.cast(pa.string()))).fill_null(
                "other").dictionary_encode()
            labels = enc.dictionary.to_pylist()
            bad = sorted(r for r in labels if r not in ROLE_CODES)
            if bad:
                raise InputError(f"turns.parquet role values {bad} are not client/therapist/other")
            lut = np.array([ROLE_CODES[r] for r in labels] or [2], dtype=np.int8)
            self.role = lut[enc.indices.to_numpy(zero_copy_only=False)] if len(enc) else \
                np.zeros(0, dtype=np.int8)
        self.n_orphan_turns = int((~keep).sum())
        counts = np.bincount(self.conv_index, minlength=self.n_conversations)
        self.conv_offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        self.position = (np.arange(len(order)) - self.conv_offsets[self.conv_index]).astype(np.int64)

    def has(self, name):
        return name in self.table.column_names

    def numeric(self, name):
        return _numeric(self.table.column(name))

    def conv_mean(self, values: np.ndarray) -> np.ndarray:
        ok = np.isfinite(values)
        s = np.bincount(self.conv_index[ok], weights=values[ok], minlength=self.n_conversations)
        c = np.bincount(self.conv_index[ok], minlength=self.n_conversations)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(c > 0, s / np.maximum(c, 1), np.nan)


def _trajectory_of(series: np.ndarray, turns: _Turns, name: str,
                   role_filter: str | None = None) -> dict[str, np.ndarray]:
    """Trajectory features of a per-turn series via :mod:`fastmetrics.trajectory` (the
    project's single implementation of the reductions); empty when that module is absent."""
    try:
        from ..metrics.trajectory import trajectory_features
    except ImportError:
        return {}
    res = trajectory_features(turns.conv_offsets, series, turns.role, role_filter=role_filter)
    return {f"{name}_{k}": np.asarray(v, dtype=np.float64) for k, v in res.items()
            if f"_{k}".endswith(TRAJECTORY_SUFFIXES)}


def prepare(turns, convs, outcome: str, control=None, snapshot=None, trajectory=None, *,
            rating_column: str = "rating", strategy_column: str = "strategy",
            valence_column: str = "valence", group_column: str | None = None,
            feedback_rule: str = "since_last_rating"):
    """Align turns and conversations and collect features (see the module docstring).

    Returns
    -------
    data : StudyInput
    extras : dict
        Per-turn series for the trajectory plot (``series``: name -> (values, role mask)),
        the aligned turns, and notes on what was derived.
    """
    import pyarrow as pa

    from ..metrics.behaviour import behaviour_rates, map_strategies
    from .signals import attribute_feedback, unattributed_ratings

    controls = [control] if isinstance(control, str) else list(control or [])
    if "conversation_id" not in convs.column_names:
        raise InputError("conversations.parquet has no 'conversation_id' column")
    conv_ids = convs.column("conversation_id").cast(pa.string()).to_pylist()
    if len(set(conv_ids)) != len(conv_ids):
        raise InputError("conversations.parquet has duplicate conversation_id values")
    for c in [outcome, *controls] + ([group_column] if group_column else []):
        if c not in convs.column_names:
            raise InputError(f"column {c!r} is not in conversations.parquet; available: "
                             f"{', '.join(convs.column_names)}")
    y = _numeric(convs.column(outcome))
    if y is None:
        raise InputError(f"outcome column {outcome!r} is not numeric")
    Z = []
    for c in controls:
        z = _numeric(convs.column(c))
        if z is None:
            raise InputError(f"control column {c!r} is not numeric")
        Z.append(z)
    Z = np.column_stack(Z) if Z else None
    groups = None
    if group_column:
        groups = np.array([str(v) for v in convs.column(group_column).to_pylist()])

    T = _Turns(turns, conv_ids)
    derived: dict[str, tuple[np.ndarray, str, str]] = {}  # name -> (values, kind, source)
    series: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    notes: dict = {"turns_without_conversation_row": T.n_orphan_turns}
    if T.has(rating_column):
        r = T.numeric(rating_column)
        if r is None:
            raise InputError(f"turn column {rating_column!r} is not numeric")
        # a rating on a client turn (ESConv feedback) rates earlier supporter turns and is
        # attributed; a rating on a supporter turn rates that turn and is used as it is;
        # ratings on "other" turns are ignored (counted in the notes)
        direct = np.isfinite(r) & (T.role == 1)
        notes["ratings_on_supporter_turns_used_directly"] = int(direct.sum())
        notes["ratings_on_other_turns_ignored"] = int((np.isfinite(r) & (T.role == 2)).sum())
        r_direct = np.where(direct, r, np.nan)
        r = np.where(np.isfinite(r) & (T.role == 0), r, np.nan)
        fb = attribute_feedback(T.conv_index, T.role, r, feedback_rule)
        fb = np.where(direct, r_direct, fb)
        notes["ratings"] = int(np.isfinite(r).sum())
        notes["ratings_attributed_to_no_turn"] = unattributed_ratings(T.conv_index, T.role, r, feedback_rule)
        notes["supporter_turns_rated"] = int(np.isfinite(fb).sum())
        notes["supporter_turns"] = int((T.role == 1).sum())
        notes["feedback_rule"] = feedback_rule
        notes["feedback_rule_description"] = (
            "each supporter turn gets the rating of the first rated client turn after it in the "
            "same conversation" if feedback_rule == "since_last_rating" else
            "a rating on a client turn is credited to the supporter turns between it and the "
            "previous client turn")
        if np.isfinite(fb).any():
            derived["feedback_mean"] = (T.conv_mean(fb), "snapshot",
                                        f"human: seeker '{rating_column}' attributed by rule {feedback_rule}")
            series["feedback"] = (fb, T.role == 1)
            for k, v in _trajectory_of(fb, T, "feedback", "therapist").items():
                derived[k] = (v, "trajectory", "fastmetrics.trajectory of attributed feedback")
    has_bolt = any(c.startswith("bolt_") and c.endswith("_rate") for c in convs.column_names)
    if not has_bolt and T.has(strategy_column):
        codes, n_unknown = map_strategies(T.table.column(strategy_column))
        notes["strategy_labels_unknown"] = n_unknown
        val = T.numeric(valence_column) if T.has(valence_column) else None
        rates = behaviour_rates(T.conv_index, T.n_conversations, T.role, codes, val)
        for k, v in rates.items():
            if k.endswith("_rate") and np.isfinite(v).any():
                derived[k] = (v, "snapshot", f"annotation: '{strategy_column}' mapped to BOLT")
    exclude = {"conversation_id", outcome, *controls}
    available: dict[str, tuple[np.ndarray, str, str]] = dict(derived)
    # not quality signals (verbosity, counters), or replaced by the attributed feedback
    structural = tuple(f"{s}_" for s in STRUCTURAL_SERIES) + (
        (f"{rating_column}_",) if "feedback_mean" in derived else ())
    for c in convs.column_names:
        if c in exclude or c in available:
            continue
        v = _numeric(convs.column(c))
        if v is None:
            continue
        if c.startswith(structural):
            kind = ""
        elif c.startswith("bolt_") and c.endswith("_rate") or c.endswith(SNAPSHOT_SUFFIXES):
            kind = "snapshot"
        elif c.endswith(TRAJECTORY_SUFFIXES):
            kind = "trajectory"
        else:
            kind = ""
        available[c] = (v, kind, "conversations.parquet")

    def pick(names, kind):
        out = []
        for nm in names:
            if nm in exclude:
                raise InputError(f"{nm!r} is the outcome or a control; it cannot also be a feature")
            if nm not in available:
                raise InputError(f"feature column {nm!r} not found; available: "
                                 f"{', '.join(sorted(available))}")
            v, _, src = available[nm]
            out.append(Feature(nm, kind, v, src))
        return out

    if snapshot is None and trajectory is None:
        feats = [Feature(k, kind, v, src) for k, (v, kind, src) in available.items()
                 if kind in ("snapshot", "trajectory")]
    else:
        feats = pick(snapshot or [], "snapshot") + pick(trajectory or [], "trajectory")
    feats = [f for f in feats if np.isfinite(f.values).sum() >= 4]
    if not feats:
        raise InputError("no feature columns found: the scored directory has no ratings, "
                         "strategies, *_mean or trajectory feature columns; name features with "
                         "--snapshot/--trajectory")
    # per-turn series behind the chosen features, for the trajectory plot (feature order)
    fnames = [f.name for f in feats]
    for name in turns.column_names:
        if name in ("conversation_id", "turn", "role", "speaker", "text", rating_column) or \
                name in STRUCTURAL_SERIES:
            continue
        v = None
        for role_name, code in (("client", 0), ("therapist", 1)):
            if any(f.startswith(f"{name}_{role_name}_") for f in fnames):
                v = T.numeric(name) if v is None else v
                if v is not None:
                    series[f"{name} ({role_name})"] = (v, (T.role == code) & np.isfinite(v))
        if v is None and any(f.startswith(f"{name}_") for f in fnames):
            v = T.numeric(name)
            if v is not None and np.isfinite(v).any():
                series[name] = (v, np.isfinite(v))

    def first_use(key):
        base = key.split(" (")[0]
        return min([i for i, f in enumerate(fnames) if f.startswith(base + "_")] or [len(fnames)])

    if "feedback" in series and not any(f.startswith("feedback_") for f in fnames):
        del series["feedback"]
    series = dict(sorted(series.items(), key=lambda kv: first_use(kv[0])))
    data = StudyInput(conversation_id=conv_ids, outcome_name=outcome, y=y,
                      control_names=controls, Z=Z, features=feats, groups=groups)
    return data, {"series": series, "turns": T, "notes": notes}


def _clean(o):
    """JSON-safe copy: NaN/inf -> None, NumPy scalars -> Python."""
    if isinstance(o, dict):
        return {str(k): _clean(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_clean(v) for v in o]
    if isinstance(o, (np.floating, float)):
        return float(o) if math.isfinite(o) else None
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.bool_):
        return bool(o)
    return o


def run_study(scored_dir, report_dir, outcome: str, control=None, snapshot=None,
              trajectory=None, *, n_boot: int = 2000, n_splits: int = 5, n_repeats: int = 5,
              seed: int = 0, alpha: float = 0.05, group_column: str | None = None,
              rating_column: str = "rating", strategy_column: str = "strategy",
              valence_column: str = "valence", feedback_rule: str = "since_last_rating",
              report: bool = True) -> dict:
    """Run the outcome study on a scored directory; write ``results.json`` and ``report.html``.

    Parameters
    ----------
    scored_dir : path
        Directory written by ``fastmetrics score`` (turns.parquet, conversations.parquet).
    report_dir : path
        Created if needed; receives ``results.json`` and ``report.html``.
    outcome : str
        Conversation column to predict (numeric; two distinct values = binary).
    control : str or list of str, optional
        Conversation columns to partial out (e.g. ``initial_emotion_intensity``).
    snapshot, trajectory : list of str, optional
        Feature columns by kind; automatic selection when both are None.
    n_boot, n_splits, n_repeats, seed, alpha
        Bootstrap resamples, CV folds, CV repeats, random seed, FDR level for "significant".

    Returns
    -------
    dict
        The content of ``results.json``.
    """
    from .._version import __version__

    turns, convs = load_scored(scored_dir)
    data, extras = prepare(turns, convs, outcome, control, snapshot, trajectory,
                           rating_column=rating_column, strategy_column=strategy_column,
                           valence_column=valence_column, group_column=group_column,
                           feedback_rule=feedback_rule)
    res = analyse(data, n_boot=n_boot, n_splits=n_splits, n_repeats=n_repeats, seed=seed,
                  alpha=alpha)
    controls = data.control_names
    results = {
        "outcome": outcome,
        "control": controls[0] if len(controls) == 1 else (controls or None),
        "controls": controls,
        **res,
        "signals": extras["notes"],
        "settings": {"n_boot": n_boot, "n_splits": n_splits, "n_repeats": n_repeats,
                     "seed": seed, "alpha": alpha, "group_column": group_column,
                     "cv": "sklearn GroupKFold(shuffle=True, random_state=seed+repeat)",
                     "model": ("median impute -> StandardScaler -> "
                               + ("LogisticRegression(C=1)" if res["outcome_type"] == "binary"
                                  else "RidgeCV(alphas=logspace(-3,3,13))")),
                     "correlation": "partial Spearman (rank residuals)" if controls else "Spearman",
                     "ci": "percentile bootstrap over conversations",
                     "multiple_testing": "Benjamini-Hochberg over all features"},
        "scored_dir": str(scored_dir),
        "fastmetrics_version": __version__,
    }
    from .report import summarise, write_report

    results["summary"] = summarise(results)
    results = _clean(results)
    out = Path(report_dir)
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / "results.json.tmp"
    tmp.write_text(json.dumps(results, indent=2, allow_nan=False))
    tmp.replace(out / "results.json")
    if report:
        write_report(results, data, extras, out / "report.html")
    return results
