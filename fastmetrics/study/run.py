"""``fastmetrics study``: from a scored directory to ``results.json`` and ``report.html``.

Inputs are the files ``fastmetrics score`` writes: ``turns.parquet`` (``conversation_id``,
``turn``, ``role``, ``text``, carried columns such as ``rating`` and ``strategy``, metric
columns such as ``valence``) and ``conversations.parquet`` (``conversation_id``, carried
outcome columns, trajectory feature columns ``<series>_<feature>``).

What goes where (each feature recorded with its ``kind`` and ``source``):

* **controls**: the named ``control`` columns plus, by default, ``n_turns`` and
  ``n_supporter_turns`` counted from ``turns.parquet`` (a constant one is left out, noted);
* **supporter signals** (:func:`fastmetrics.study.signals.supporter_signals`), from the turns:
  model empathy per mechanism, the human rating (``feedback``: seeker ratings attributed to
  supporter turns, :func:`fastmetrics.study.signals.attribute_feedback`; a rating on a
  supporter turn is that turn's own), BOLT behaviour indicators (from the behaviour family's
  ``behaviour`` column, else the ``strategy`` annotations), supporter valence, alliance,
  embedding and style synchrony, and per-turn columns named with ``signals=``. Each gives a
  snapshot feature (its mean; ``bolt_<b>_rate`` for a behaviour) and trajectory features
  (``<signal>_slope``, ``_late_minus_early``, ``_volatility``, ``_convergence``);
* **client state**: the client's valence and its trajectory (``valence_client_*``, and the
  two-role ``valence_*`` columns), a group apart, never a predictor unless
  ``client_state=True``;
* ``conversations.parquet`` columns, only when a registered metric family declares them
  (:meth:`fastmetrics.registry.MetricFamily.declares`) or they are named: the relational
  measures (:data:`RELATIONAL_FAMILIES`, alliance gaps, embedding lags) form their own group;
  ``*_mean`` and ``bolt_*_rate`` are snapshot features, ``*_slope``, ``*_late_minus_early``,
  ``*_volatility``, ``*_change``, ``*_max_drawdown``, ``*_convergence`` trajectory features.
  Identifier-like names (``*_id``, ``*_key``, ``<id>_mean``, ...) and constant columns never
  are features (listed in ``signals.excluded_columns``); nor are the outcome, the controls,
  the group column, trajectory columns of ``n_tokens``/``n_types`` or of the raw rating;
* or exactly the columns named with ``snapshot=`` / ``trajectory=`` (and ``primary=``).
"""
from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np

from ..errors import InputError
from .analysis import INNER_SPLITS, Feature, StudyInput, analyse

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


#: Families whose conversation columns are the relational (multi-turn) group.
RELATIONAL_FAMILIES = ("nclid", "lsm", "rlsm", "coordination")
_IDENTIFIER = re.compile(r"(^|_)(id|ids|uuid|key|index|idx)$", re.IGNORECASE)
_ROLE_INFIX = ("_client", "_therapist", "_other")


def _series_of(column: str) -> tuple[str, str | None]:
    """(series, role) of a trajectory-style column ``<series>[_<role>]_<feature>``."""
    for suf in (*TRAJECTORY_SUFFIXES, *SNAPSHOT_SUFFIXES, "_n", "_first", "_last", "_auc", "_min",
                "_first_below", "_rlver_reward"):
        if column.endswith(suf):
            base = column[: -len(suf)]
            for r in _ROLE_INFIX:
                if base.endswith(r):
                    return base[: -len(r)], r[1:]
            return base, None
    return column, None


def is_identifier(column: str) -> bool:
    """True for identifier-like names (``conversation_id``, ``annotator_id``, ``<id>_mean``)."""
    return bool(_IDENTIFIER.search(column) or _IDENTIFIER.search(_series_of(column)[0]))


def declared_by_family(column: str) -> str | None:
    """The registered family that declares ``column`` as a conversation column, or None."""
    from .. import registry

    for name in registry.names():
        try:
            fam = registry.get(name)
        except Exception:  # a third-party family that fails to import declares nothing here
            continue
        if fam.declares(column, "conversation"):
            return name
    return None


def _relational_columns() -> set:
    from .. import registry
    from ..metrics.embedding_sync import LAG_COLUMNS

    out = set(LAG_COLUMNS)
    for name in RELATIONAL_FAMILIES:
        out.update(registry.get(name).conversation_columns)
    out.update(c for c in registry.get("alliance").conversation_columns
               if c.endswith(("_gap_mean", "_convergence", "_dispersion")))
    return out


def is_client_state(column: str) -> bool:
    """Client-state columns: the client's valence series and its trajectory (and the
    two-role valence series, which contains it)."""
    series, role = _series_of(column)
    return series == "valence" and role in (None, "client")


def join_conversation_table(convs, path, join_column: str):
    """Join a per-conversation CSV/Parquet table onto ``convs`` on ``conversation_id`` =
    ``join_column`` (:mod:`fastmetrics.io.conversation_table`). Returns (joined table, record
    of the join). A column ``convs`` already has is taken from the table (recorded)."""
    import pyarrow as pa

    from ..io.conversation_table import read_conversation_table

    ct = read_conversation_table(path, join_column)
    cols = ct.take(convs.column("conversation_id").cast(pa.string()).to_pylist())
    out, replaced = convs, []
    for name, col in cols.items():
        if name in out.column_names:
            replaced.append(name)
            out = out.set_column(out.column_names.index(name), name, col)
        else:
            out = out.append_column(name, col)
    rec = ct.record()
    rec["columns_replaced"] = replaced
    ct.warn()
    return out, rec


def encode_outcome(col, name: str, positive=None, outcome_type: str = "auto", levels=None):
    """Numeric outcome codes and the outcome kind.

    * ``positive``: categorical outcome; 1 where the value equals ``positive`` (as text), 0
      for any other value, NaN where missing; kind ``binary``.
    * ``outcome_type="ordinal"``: ordered levels; ``levels`` gives their order (text), else
      the sorted numeric values; codes 0..k-1; kind ``ordinal``.
    * otherwise numeric (two distinct values: binary, else continuous).
    """
    import pyarrow as pa

    if positive is not None:
        vals = col.cast(pa.string()).to_pylist()
        present = sorted({v for v in vals if v is not None})
        pos = str(positive)
        if pos not in present:
            raise InputError(f"--positive {pos!r} is not a value of the outcome {name!r}; values: "
                             f"{', '.join(present[:20])}")
        y = np.array([np.nan if v is None else float(v == pos) for v in vals])
        return y, "binary", {"positive": pos, "values": present}
    if outcome_type == "ordinal":
        if levels:
            order = [str(v) for v in levels]
            vals = col.cast(pa.string()).to_pylist()
            bad = sorted({v for v in vals if v is not None and v not in order})
            if bad:
                raise InputError(f"outcome {name!r} has values {bad[:10]} not in --levels "
                                 f"{','.join(order)}")
            y = np.array([np.nan if v is None else float(order.index(v)) for v in vals])
            return y, "ordinal", {"levels": order}
        y = _numeric(col)
        if y is None:
            raise InputError(f"ordinal outcome {name!r} is not numeric; give the order of its "
                             "levels with --levels LOW,...,HIGH")
        u = np.unique(y[np.isfinite(y)])
        codes = np.where(np.isfinite(y), np.searchsorted(u, y), np.nan)
        return codes.astype(np.float64), "ordinal", {"levels": [float(v) for v in u]}
    y = _numeric(col)
    if y is None:
        vals = sorted({v for v in col.cast(pa.string()).to_pylist() if v is not None})
        raise InputError(f"outcome column {name!r} is not numeric (values: {', '.join(vals[:6])}"
                         f"{', ...' if len(vals) > 6 else ''}); name the positive class with "
                         "--positive LABEL, or give --outcome-type ordinal --levels LOW,...,HIGH")
    if outcome_type == "binary" and len(np.unique(y[np.isfinite(y)])) != 2:
        raise InputError(f"outcome {name!r} is not binary; use --positive LABEL")
    return y, outcome_type, {}


def prepare(turns, convs, outcome: str, control=None, snapshot=None, trajectory=None, *,
            rating_column: str = "rating", strategy_column: str = "strategy",
            valence_column: str = "valence", group_column: str | None = None,
            feedback_rule: str = "since_last_rating", signals=None, primary=None,
            positive=None, outcome_type: str = "auto", levels=None,
            length_controls: bool = True, client_state: bool = False,
            relational=None):
    """Align turns and conversations and collect controls, features and signals (see the
    module docstring).

    Returns
    -------
    data : StudyInput
    extras : dict
        Per-turn series for the trajectory plot (``series``: name -> (values, role mask)),
        the aligned turns, and notes on what was derived and excluded.
    """
    import pyarrow as pa

    from ..metrics.behaviour import BEHAVIOURS, map_strategies
    from .analysis import Signal
    from .signals import attribute_feedback, supporter_signals, unattributed_ratings

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
    y, kind, outcome_info = encode_outcome(convs.column(outcome), outcome, positive,
                                           outcome_type, levels)
    T = _Turns(turns, conv_ids)
    notes: dict = {"turns_without_conversation_row": T.n_orphan_turns}
    excluded: list[dict] = []
    Zcols, Znames = [], []
    for c in controls:
        z = _numeric(convs.column(c))
        if z is None:
            raise InputError(f"control column {c!r} is not numeric")
        Zcols.append(z), Znames.append(c)
    if length_controls:
        counts = np.diff(T.conv_offsets).astype(np.float64)
        sup = np.bincount(T.conv_index[T.role == 1], minlength=T.n_conversations).astype(np.float64)
        for nm, v in (("n_turns", counts), ("n_supporter_turns", sup)):
            if nm in Znames:
                continue
            if np.ptp(v) == 0:
                excluded.append({"name": nm, "reason": "default control left out: constant"})
                continue
            Zcols.append(v), Znames.append(nm)
    Z = np.column_stack(Zcols) if Zcols else None
    groups = None
    if group_column:
        groups = np.array([str(v) for v in convs.column(group_column).to_pylist()])

    derived: dict[str, tuple[np.ndarray, str, str]] = {}  # name -> (values, kind, source)
    series: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    fb = None
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
        if not np.isfinite(fb).any():
            fb = None
    codes = None
    if T.has("behaviour"):  # the behaviour family's BOLT labels
        lut = {b: i for i, b in enumerate(BEHAVIOURS)}
        codes = np.array([lut.get(v, -1) if v is not None else -1 for v in
                          T.table.column("behaviour").cast(pa.string()).to_pylist()], dtype=np.int8)
    elif T.has(strategy_column):
        codes, n_unknown = map_strategies(T.table.column(strategy_column))
        notes["strategy_labels_unknown"] = n_unknown
    sigs = supporter_signals(T, feedback=fb, rating_column=rating_column, behaviour_codes=codes,
                             behaviours=BEHAVIOURS, valence_column=valence_column,
                             extra=list(signals or []))
    notes["signals"] = [{"name": s.name, "group": s.group, "source": s.source} for s in sigs]
    for s in sigs:
        derived[s.mean_name] = (s.mean, "snapshot", s.source)
        for k, v in s.trajectory.items():
            derived[k] = (v, "trajectory", s.source)
        series[s.name] = (s.series, s.mask)
    # client state: the client's valence and its trajectory, from turns
    if T.has(valence_column):
        v = T.numeric(valence_column)
        if v is not None and np.isfinite(v[T.role == 0]).any():
            for k, vv in _trajectory_of(v, T, f"{valence_column}_client", "client").items():
                derived[k] = (vv, "client_state", f"{valence_column} on client turns (fastmetrics.trajectory)")
            m = T.conv_mean(np.where(T.role == 0, v, np.nan))
            derived[f"{valence_column}_client_mean"] = (m, "client_state", f"{valence_column} on client turns")
            series[f"{valence_column} (client)"] = (v, (T.role == 0) & np.isfinite(v))
    exclude = {"conversation_id", outcome, *controls, *(Znames)}
    if group_column:
        exclude.add(group_column)
    available: dict[str, tuple[np.ndarray, str, str]] = dict(derived)
    rel_cols = _relational_columns() if relational is None else set(relational)
    for c in convs.column_names:
        if c in exclude or c in available:
            continue
        if is_identifier(c):
            excluded.append({"name": c, "reason": "identifier"})
            continue
        v = _numeric(convs.column(c))
        if v is None:
            continue
        fam = declared_by_family(c)
        if fam is None:
            continue  # carried columns are features only when named
        series_name, role = _series_of(c)
        if c in rel_cols:
            kind_c = "relational"
        elif is_client_state(c):
            kind_c = "client_state"
        elif series_name in STRUCTURAL_SERIES or series_name == rating_column and fb is not None:
            continue
        elif c.startswith("bolt_") and c.endswith("_rate") or c.endswith(SNAPSHOT_SUFFIXES):
            kind_c = "snapshot"
        elif c.endswith(TRAJECTORY_SUFFIXES):
            kind_c = "trajectory"
        else:
            continue
        available[c] = (v, kind_c, f"conversations.parquet ({fam} family)")
    for c in convs.column_names:  # named columns may be carried ones
        if c not in available and c not in exclude:
            v = _numeric(convs.column(c))
            if v is not None:
                available.setdefault(c, (v, "", "conversations.parquet (named)"))

    def pick(names, kind_p):
        out = []
        for nm in names:
            if nm in exclude:
                raise InputError(f"{nm!r} is the outcome or a control; it cannot also be a feature")
            if nm not in available:
                raise InputError(f"feature column {nm!r} not found; available: "
                                 f"{', '.join(sorted(available))}")
            v, k0, src = available[nm]
            out.append(Feature(nm, kind_p or k0 or "snapshot", v, src))
        return out

    if snapshot is None and trajectory is None:
        feats = [Feature(k, kd, v, src) for k, (v, kd, src) in available.items()
                 if kd in ("snapshot", "trajectory", "relational")
                 or (kd == "client_state")]
        if client_state:  # the client's state as ordinary predictors, when asked for
            feats = [Feature(f.name, "snapshot" if f.name.endswith("_mean") else "trajectory",
                             f.values, f.source) if f.kind == "client_state" else f for f in feats]
    else:
        feats = pick(snapshot or [], "snapshot") + pick(trajectory or [], "trajectory")
        sigs = [s for s in sigs if s.mean_name in {f.name for f in feats}]
    prim = list(primary or [])
    have = {f.name for f in feats}
    feats += pick([p for p in prim if p not in have], "")
    for f in feats:
        fin = f.values[np.isfinite(f.values)]
        if len(fin) >= 4 and np.ptp(fin) == 0:
            excluded.append({"name": f.name, "reason": "constant"})
    feats = [f for f in feats if np.isfinite(f.values).sum() >= 4]
    if not feats and not sigs:
        raise InputError("no feature columns found: the scored directory has no ratings, "
                         "strategies or metric columns a family declares; name features with "
                         "--snapshot/--trajectory or per-turn signals with --signal")
    notes["excluded_columns"] = excluded
    fnames = [f.name for f in feats]
    # per-turn series behind other features (trajectory-family columns, named ones), for the plot
    for name in turns.column_names:
        if name in ("conversation_id", "turn", "role", "speaker", "text", rating_column) or \
                name in STRUCTURAL_SERIES or name in series or is_identifier(name):
            continue
        v = None
        for role_name, code in (("client", 0), ("therapist", 1)):
            key = f"{name} ({role_name})"
            if key not in series and any(f.startswith(f"{name}_{role_name}_") for f in fnames):
                v = T.numeric(name) if v is None else v
                if v is not None:
                    series[key] = (v, (T.role == code) & np.isfinite(v))
        if v is None and any(f.startswith(f"{name}_") for f in fnames):
            v = T.numeric(name)
            if v is not None and np.isfinite(v).any():
                series[name] = (v, np.isfinite(v))

    def first_use(key):
        base = key.split(" (")[0]
        return min([i for i, f in enumerate(fnames) if f.startswith(base + "_")] or [len(fnames)])

    series = {k: v for k, v in series.items() if first_use(k) < len(fnames)}
    series = dict(sorted(series.items(), key=lambda kv: first_use(kv[0])))
    data = StudyInput(conversation_id=conv_ids, outcome_name=outcome, y=y,
                      control_names=Znames, Z=Z, features=feats, groups=groups,
                      signals=[Signal(s.name, s.mean, s.trajectory, s.source, s.group, s.mean_name)
                               for s in sigs],
                      primary=prim, outcome_type=kind)
    return data, {"series": series, "turns": T, "notes": notes, "outcome": outcome_info}


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


#: Per-turn measures whose split-half reliability ``study`` reports, where present.
RELIABILITY_COLUMNS = ("lsm_prev", "rlsm_turn", "rlsm_window", "emb_sim_prev", "emb_sim_window",
                       "alliance_full", "valence", "empathy_er", "empathy_ip", "empathy_ex",
                       "empathy", "empathy_proto")


def empathy_scorer(turns) -> str | None:
    """Which single-turn empathy scorer produced the scored folder's empathy columns
    (``epitome``: the trained model; ``prototype``: the unvalidated heuristic; ``onnx``: a
    user's graph), from the ``fastmetrics.empathy.model`` metadata; None without the family."""
    meta = turns.schema.metadata or {}
    v = meta.get(b"fastmetrics.empathy.model")
    return v.decode() if v else None


def synchrony_checks(turns, convs, alpha: float = 0.05) -> dict:
    """Synchrony above chance (from the ``--surrogates`` columns, :mod:`fastmetrics.study.chance`)
    and odd/even split-half reliability (:mod:`fastmetrics.study.reliability`) of the per-turn
    measures present; both empty when the columns are absent."""
    from .chance import chance_summary
    from .reliability import split_half

    cols = [c for c in RELIABILITY_COLUMNS if c in turns.column_names]
    return {"above_chance": chance_summary(convs, alpha=alpha),
            "split_half": split_half(turns, cols) if cols else {},
            "split_half_scheme": "odd vs even turns of each conversation, conversation means, "
                                 "Pearson r between halves, Spearman-Brown 2r/(1+r)"}


def run_study(scored_dir, report_dir, outcome: str, control=None, snapshot=None,
              trajectory=None, *, n_boot: int = 2000, n_splits: int = 5, n_repeats: int = 5,
              seed: int = 0, alpha: float = 0.05, group_column: str | None = None,
              rating_column: str = "rating", strategy_column: str = "strategy",
              valence_column: str = "valence", feedback_rule: str = "since_last_rating",
              report: bool = True, signals=None, primary=None, positive=None,
              outcome_type: str = "auto", levels=None, length_controls: bool = True,
              client_state: bool = False, conversation_table=None,
              join_column: str | None = None, better: str | None = None) -> dict:
    """Run the outcome study on a scored directory; write ``results.json`` and ``report.html``.

    Parameters
    ----------
    scored_dir : path
        Directory written by ``fastmetrics score`` (turns.parquet, conversations.parquet).
    report_dir : path
        Created if needed; receives ``results.json`` and ``report.html``.
    outcome : str
        Conversation column to predict (numeric: two distinct values = binary; or categorical
        with ``positive``; or ordinal with ``outcome_type="ordinal"``).
    control : str or list of str, optional
        Conversation columns to partial out (e.g. ``initial_emotion_intensity``); the number
        of turns and of supporter turns are added unless ``length_controls=False``.
    snapshot, trajectory : list of str, optional
        Feature columns by kind; automatic selection when both are None.
    signals : list of str, optional
        Further per-turn columns to compare signal by signal.
    primary : list of str, optional
        Pre-declared primary features, reported (and corrected) apart from the rest.
    positive : str, optional
        The positive class of a categorical outcome (ROC AUC).
    outcome_type : {"auto", "continuous", "binary", "ordinal"}
    levels : list of str, optional
        Order of an ordinal outcome's levels, lowest first.
    client_state : bool
        Use the client's valence and its trajectory as predictors (default: a group apart).
    conversation_table, join_column : path, str, optional
        A per-conversation CSV/Parquet table joined on ``conversation_id`` = ``join_column``.
    better : {"higher", "lower"}, optional
        Which direction of the outcome is the better one (labels the report's groups).
    n_boot, n_splits, n_repeats, seed, alpha
        Bootstrap resamples, CV folds, CV repeats, random seed, FDR level for "significant".

    Returns
    -------
    dict
        The content of ``results.json``.
    """
    from .._version import __version__

    if better not in (None, "higher", "lower"):
        raise InputError(f"better must be 'higher' or 'lower', got {better!r}")
    turns, convs = load_scored(scored_dir)
    join = None
    if conversation_table is not None:
        if not join_column:
            raise InputError("--conversation-table needs --join-column COLUMN (its column "
                             "holding the conversation id)")
        convs, join = join_conversation_table(convs, conversation_table, join_column)
    elif join_column:
        raise InputError("--join-column needs --conversation-table FILE")
    data, extras = prepare(turns, convs, outcome, control, snapshot, trajectory,
                           rating_column=rating_column, strategy_column=strategy_column,
                           valence_column=valence_column, group_column=group_column,
                           feedback_rule=feedback_rule, signals=signals, primary=primary,
                           positive=positive, outcome_type=outcome_type, levels=levels,
                           length_controls=length_controls, client_state=client_state)
    res = analyse(data, n_boot=n_boot, n_splits=n_splits, n_repeats=n_repeats, seed=seed,
                  alpha=alpha)
    controls = data.control_names
    kind = res["outcome_type"]
    model = ("median impute -> StandardScaler -> "
             + ("LogisticRegression(L2), C = 1/alpha" if kind == "binary" else "Ridge(alpha)")
             + f", alpha in logspace(-3, 3, 7) chosen by an inner {INNER_SPLITS}-fold grouped CV "
               "of each training fold (nested; scored by "
             + ("ROC AUC" if kind == "binary" else "mean squared error") + ")")
    dropped = {"missing_outcome": res["n_dropped_missing_outcome"],
               "missing_control": res["n_dropped_missing_control"],
               "turns_without_conversation_row": extras["notes"]["turns_without_conversation_row"]}
    if join:
        dropped["without_a_conversation_table_row"] = join["conversations_without_a_row"]
    results = {
        "outcome": outcome,
        "control": controls[0] if len(controls) == 1 else (controls or None),
        "controls": controls,
        "user_controls": [control] if isinstance(control, str) else list(control or []),
        "outcome_encoding": extras["outcome"],
        **res,
        "dropped": dropped,
        "conversation_table": join,
        "signals": extras["notes"],
        "settings": {"n_boot": n_boot, "n_splits": n_splits, "n_repeats": n_repeats,
                     "seed": seed, "alpha": alpha, "group_column": group_column,
                     "length_controls": length_controls, "better": better, "client_state_as_predictor": client_state,
                     "cv": "sklearn GroupKFold(shuffle=True, random_state=seed+repeat)",
                     "model": model,
                     "metric": {"binary": "ROC AUC", "continuous": "R^2",
                                "ordinal": "Spearman rho of prediction and outcome"}[kind],
                     "correlation": "partial Spearman (rank residuals)" if controls else "Spearman",
                     "ci": "percentile bootstrap over conversations",
                     "signal_ci": "paired percentile bootstrap over conversations of the fixed "
                                  "out-of-fold predictions (both models, same folds, same "
                                  "resamples), metric averaged over repeats; p two-sided from "
                                  "the bootstrap distribution of the difference",
                     "multiple_testing": "Benjamini-Hochberg over the exploratory features; "
                                         "apart over the primary features; apart over the "
                                         "signals of the per-signal comparison"},
        "scored_dir": str(scored_dir),
        "fastmetrics_version": __version__,
    }
    results["synchrony"] = synchrony_checks(turns, convs, alpha=alpha)
    results["empathy_scorer"] = empathy_scorer(turns)
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
