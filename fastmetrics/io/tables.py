"""Long tables (one row per turn) into the columnar corpus.

A long table has a conversation id, a speaker and a text column, optionally a turn-order
column (turn number or timestamp) and any number of extra columns, which are carried through
as per-turn columns (or per-conversation columns when named in ``conversation_columns``).
Column names are configurable; when not given they are looked up among common names.

All checks are vectorised over Arrow/NumPy arrays; Python code runs only per bad row.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..corpus import Corpus, map_roles, parse_role_map, roles_from_codes
from ..errors import InputError
from .problems import Problems

CANDIDATES = {
    "conversation": ("conversation_id", "conv_id", "dialog_id", "dialogue_id", "session_id",
                     "transcript_id", "conversation", "dialog", "dialogue", "session"),
    "order": ("turn", "turn_id", "turn_index", "utterance_id", "utterance_index", "position",
              "timestamp", "time", "index"),
    "speaker": ("speaker", "role", "interlocutor", "author", "speaker_role", "from"),
    "text": ("text", "utterance", "content", "message", "utterance_text", "value"),
}


@dataclass
class TableSpec:
    """Which columns of a long table hold what, and how speaker labels map to roles.

    Parameters
    ----------
    conversation, order, speaker, text : str or None
        Column names; None looks for a common name (``conversation_id``, ``turn``, ``speaker``,
        ``text``, ...). ``order`` may be absent: rows then keep file order.
    role_column : str or None
        A column whose values map to roles instead of the speaker label (e.g. ``meta.role``).
    role_map : str or mapping or None
        ``"usr=client,sys=therapist"`` or a dict; added to the built-in map.
    conversation_columns : list of str
        Carried columns that hold one value per conversation (first row's value is kept).
    """

    conversation: str | None = None
    order: str | None = None
    speaker: str | None = None
    text: str | None = None
    role_column: str | None = None
    role_map: str | Mapping[str, str] | None = None
    conversation_columns: list[str] = field(default_factory=list)

    def resolve(self, names: list[str], source: str) -> dict[str, str | None]:
        """Concrete column names for this table; InputError naming what is missing."""
        lower = {n.lower(): n for n in names}
        out: dict[str, str | None] = {}
        for key in ("conversation", "order", "speaker", "text"):
            given = getattr(self, key)
            if given is not None:
                if given not in names:
                    raise InputError(f"missing {key} column {given!r}; the table has columns {names}",
                                     source=source)
                out[key] = given
                continue
            found = next((lower[c] for c in CANDIDATES[key] if c in lower), None)
            if found is None and key != "order":
                raise InputError(
                    f"no {key} column found (looked for {', '.join(CANDIDATES[key][:6])}, ...); "
                    f"name it with --{key if key != 'conversation' else 'conversation'}-column; "
                    f"the table has columns {names}", source=source)
            out[key] = found
        for extra in [self.role_column, *self.conversation_columns]:
            if extra is not None and extra not in names:
                raise InputError(f"missing column {extra!r}; the table has columns {names}", source=source)
        return out


def _to_np_bool(arr) -> np.ndarray:
    return np.asarray(arr.to_numpy(zero_copy_only=False) if isinstance(arr, pa.Array)
                      else arr.to_numpy(), dtype=bool)


def _as_string(col: pa.Array, keep_chunks: bool = False) -> pa.Array:
    """``col`` as an Arrow string array (chunks kept for ``keep_chunks``: no copy of the text)."""
    if isinstance(col, pa.ChunkedArray):
        if keep_chunks and (pa.types.is_string(col.type) or pa.types.is_large_string(col.type)):
            return col if pa.types.is_string(col.type) else col.cast(pa.string())
        col = col.combine_chunks()
    if pa.types.is_dictionary(col.type):
        col = col.dictionary_decode()
    if pa.types.is_string(col.type):
        return col
    if pa.types.is_large_string(col.type):
        return col.cast(pa.string())
    if pa.types.is_floating(col.type):
        # 3.0 -> "3" so that ids written as floats by some tools match their integer form
        as_int = pc.cast(col, pa.int64(), safe=False)
        same = pc.equal(pc.cast(as_int, col.type), col)
        return pc.if_else(same, pc.cast(as_int, pa.string()), pc.cast(col, pa.string()))
    return col.cast(pa.string())


def _conversation_codes(conv: pa.Array) -> tuple[np.ndarray, pa.Array]:
    """int64 code per row (conversations in first-appearance order) and the id per code.

    Rows grouped by conversation (the usual layout) are found from run boundaries, which is
    cheaper than hashing every row; otherwise the ids are dictionary-encoded.
    """
    n = len(conv)
    if n > 1:
        change = _to_np_bool(pc.not_equal(conv.slice(1), conv.slice(0, n - 1)))
        starts = np.concatenate([[0], np.flatnonzero(change) + 1])
        run_ids = conv.take(pa.array(starts))
        if len(pc.unique(run_ids)) == len(run_ids):
            lens = np.diff(np.append(starts, n))
            return np.repeat(np.arange(len(starts), dtype=np.int64), lens), run_ids
    enc = conv.dictionary_encode()
    return enc.indices.to_numpy(zero_copy_only=False).astype(np.int64), enc.dictionary


def _order_values(col: pa.Array, source: str, line_of, unit: str) -> np.ndarray:
    """float64 sort keys from a turn-number or timestamp column."""
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks()
    t = col.type
    if pa.types.is_integer(t) or pa.types.is_floating(t):
        return col.cast(pa.float64()).to_numpy(zero_copy_only=False)
    if pa.types.is_timestamp(t) or pa.types.is_date(t):
        return col.cast(pa.int64()).cast(pa.float64()).to_numpy(zero_copy_only=False)
    s = _as_string(col)
    try:
        return s.cast(pa.float64()).to_numpy(zero_copy_only=False)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    try:
        return pc.strptime(s, format="%Y-%m-%dT%H:%M:%S", unit="us", error_is_null=False) \
            .cast(pa.int64()).cast(pa.float64()).to_numpy(zero_copy_only=False)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    try:
        return s.cast(pa.timestamp("us")).cast(pa.int64()).cast(pa.float64()).to_numpy(zero_copy_only=False)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        vals = s.to_pylist()
        for i, v in enumerate(vals):
            try:
                float(v)
            except (TypeError, ValueError):
                raise InputError(f"turn order value {v!r} is neither a number nor an ISO timestamp",
                                 source=source, line=line_of(i), unit=unit) from None
        raise


def table_to_corpus(table: pa.Table, spec: TableSpec, *, source: str, problems: Problems,
                    fmt: str = "table", row_base: int = 0, header_lines: int = 1,
                    unit: str = "line") -> Corpus:
    """Build a :class:`Corpus` from a long Arrow table.

    ``row_base`` is the 0-based index of the table's first row in the file, and
    ``header_lines`` the lines before the first data row, so that problems name the file line
    (``unit="line"``) or the 1-based data row (``unit="row"``).
    """
    names = table.column_names
    cols = spec.resolve(names, source)
    n = table.num_rows

    def line_of(i: int) -> int:
        return int(row_base + i + (header_lines + 1 if unit == "line" else 1))

    if n == 0:
        return _empty_corpus(table, cols, spec, source, fmt)

    conv = _as_string(table.column(cols["conversation"]))
    speaker = _as_string(table.column(cols["speaker"]))
    text = _as_string(table.column(cols["text"]), keep_chunks=True)  # the text is never copied
    order = (_order_values(table.column(cols["order"]), source, line_of, unit)
             if cols["order"] else None)

    # ---- row-level problems (vectorised; Python only per bad row)
    keep = np.ones(n, dtype=bool)
    checks = [
        (_to_np_bool(pc.is_null(conv)), f"missing conversation id (column {cols['conversation']!r})"),
        (_to_np_bool(pc.is_null(speaker)), f"missing speaker (column {cols['speaker']!r})"),
        (_to_np_bool(pc.is_null(text)), f"missing text (column {cols['text']!r})"),
        (_to_np_bool(pc.or_(pc.equal(pc.binary_length(text), 0), pc.utf8_is_space(text))),
         f"empty text (column {cols['text']!r}); every turn needs words"),
    ]
    if order is not None:
        checks.append((np.isnan(order), f"missing turn order (column {cols['order']!r})"))
    for bad, reason in checks:
        bad &= keep
        if bad.any():
            conv_py = conv.take(pa.array(np.flatnonzero(bad)[:100_000])).to_pylist()
            for i, cid in zip(np.flatnonzero(bad), conv_py):
                problems.report(reason, source=source, line=line_of(i), conversation=cid, unit=unit)
            keep &= ~bad
    rows = np.flatnonzero(keep) if not keep.all() else None
    if rows is not None:
        take = pa.array(rows)
        conv, speaker, text = conv.take(take), speaker.take(take), text.take(take)
        order = order[rows] if order is not None else None
        table = table.take(take)
    else:
        rows = np.arange(n)

    # ---- group by conversation (first-appearance order), sort turns within conversations
    codes, conv_names = _conversation_codes(conv)
    step = codes[1:] - codes[:-1]
    if order is not None:
        in_order = bool(np.all((step > 0) | ((step == 0) & (order[1:] > order[:-1]))))
    else:
        in_order = bool(np.all(step >= 0))
    if in_order:  # the common case: rows already grouped and ordered; no reordering needed
        perm = np.arange(len(codes))
    else:
        perm = np.lexsort((order, codes)) if order is not None else np.argsort(codes, kind="stable")
    identity = in_order
    codes_s = codes[perm]
    n_conv = len(conv_names)
    counts = np.bincount(codes_s, minlength=n_conv)
    offsets = np.zeros(n_conv + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])

    # ---- conversation-level problems
    bad_conv: dict[int, tuple[int, str]] = {}
    if order is not None:
        o = order[perm]
        dup = np.flatnonzero((codes_s[1:] == codes_s[:-1]) & (o[1:] == o[:-1])) + 1
        for j in dup:
            c = int(codes_s[j])
            if c not in bad_conv:
                bad_conv[c] = (int(perm[j]), f"duplicate turn order value {o[j]:g} "
                                             f"(column {cols['order']!r})")
    spk_enc = speaker.dictionary_encode()
    spk_all = spk_enc.indices.to_numpy(zero_copy_only=False)
    spk_codes = spk_all.astype(np.int64)[perm]
    starts = offsets[:-1]
    nonempty = counts > 0
    smin = np.minimum.reduceat(spk_codes, starts[nonempty]) if len(spk_codes) else np.zeros(0, np.int64)
    smax = np.maximum.reduceat(spk_codes, starts[nonempty]) if len(spk_codes) else np.zeros(0, np.int64)
    conv_nonempty = np.flatnonzero(nonempty)
    for c in conv_nonempty[counts[nonempty] < 2]:
        bad_conv.setdefault(int(c), (int(perm[starts[c]]), "has a single turn; a conversation needs at least two"))
    for c in conv_nonempty[(smin == smax) & (counts[nonempty] >= 2)]:
        bad_conv.setdefault(int(c), (int(perm[starts[c]]), "has a single speaker; a conversation needs two"))
    if bad_conv:
        for c, (row, reason) in sorted(bad_conv.items(), key=lambda kv: kv[1][0]):
            problems.report(reason, source=source, line=line_of(int(rows[row])),
                            conversation=conv_names[c].as_py(), level="conversation", unit=unit)
        drop = np.zeros(n_conv, dtype=bool)
        drop[list(bad_conv)] = True
        keep_turn = ~drop[codes_s]
        perm = perm[keep_turn]
        identity = False
        codes_s = codes_s[keep_turn]
        remap = np.cumsum(~drop) - 1
        codes_s = remap[codes_s]
        conv_names = conv_names.filter(pa.array(~drop))
        n_conv = len(conv_names)
        counts = np.bincount(codes_s, minlength=n_conv)
        offsets = np.zeros(n_conv + 1, dtype=np.int64)
        np.cumsum(counts, out=offsets[1:])

    take = pa.array(perm)

    def taken(col, keep_chunks=False):
        if isinstance(col, pa.ChunkedArray) and not keep_chunks:
            col = col.combine_chunks()
        return col if identity else col.take(take)

    speaker_s = taken(speaker)
    if spec.role_column is None:
        role = roles_from_codes(spk_enc.dictionary, spk_all if identity else spk_all[perm],
                                parse_role_map(spec.role_map))
    else:
        role = map_roles(_as_string(taken(table.column(spec.role_column))), parse_role_map(spec.role_map))
    used = {c for c in cols.values() if c is not None}
    conv_first = pa.array(offsets[:-1])
    turn_columns: dict[str, pa.Array] = {}
    conv_columns: dict[str, pa.Array] = {}
    for name in names:
        if name in used:
            continue
        col = taken(table.column(name))
        if name in spec.conversation_columns:
            conv_columns[name] = col.take(conv_first) if n_conv else col.slice(0, 0)
        else:
            turn_columns[name] = col
    if cols["order"] is not None:
        turn_columns.setdefault("source_order", taken(table.column(cols["order"])))
    return Corpus(conversation_id=conv_names, conv_offsets=offsets, role=role, speaker=speaker_s,
                  text=taken(text, keep_chunks=True), turn_columns=turn_columns, conv_columns=conv_columns,
                  source=source, format=fmt)


def _empty_corpus(table, cols, spec, source, fmt) -> Corpus:
    return Corpus(conversation_id=pa.array([], pa.string()), conv_offsets=np.zeros(1, np.int64),
                  role=np.zeros(0, np.int8), speaker=pa.array([], pa.string()),
                  text=pa.array([], pa.string()), source=source, format=fmt)
