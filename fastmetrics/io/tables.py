"""Long tables (one row per turn) into the columnar corpus.

A long table has a conversation id, a speaker and a text column, optionally a turn-order
column (turn number or timestamp) and any number of extra columns, which are carried through
as per-turn columns (or per-conversation columns when named in ``conversation_columns``).
Column names are configurable; when not given they are looked up among common names.

All checks are vectorised over Arrow/NumPy arrays; Python code runs only per bad row.
"""
from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..corpus import Corpus, map_roles, parse_role_map, roles_from_codes
from ..errors import InputError
from .problems import Problems

DUPLICATES = ("fail", "first")

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
        Carried columns that hold one value per conversation (first row's value is kept; a
        column whose value varies within a conversation is reported with a warning).
    duplicates : {"fail", "first"}
        Two rows of one conversation with the same turn order: a bad conversation
        (``"fail"``: an error, or skipped with ``on_error="skip"``), or keep the first row and
        drop the later ones (``"first"``, with a warning; listed as skipped in skip mode).

    ``conversation`` may name several columns separated by commas (``transcript_id,annotator_id``):
    a conversation is then one combination of their values (its id joins them with ``|``) and
    the key columns are carried as per-conversation columns.
    """

    conversation: str | None = None
    order: str | None = None
    speaker: str | None = None
    text: str | None = None
    role_column: str | None = None
    role_map: str | Mapping[str, str] | None = None
    conversation_columns: list[str] = field(default_factory=list)
    duplicates: str = "fail"

    def __post_init__(self):
        if self.duplicates not in DUPLICATES:
            raise InputError(f"duplicates must be one of {', '.join(DUPLICATES)}, got {self.duplicates!r}")

    @property
    def conversation_keys(self) -> list[str] | None:
        """The key columns of a composite conversation key (None for a single column)."""
        if self.conversation is None or "," not in self.conversation:
            return None
        return [c.strip() for c in self.conversation.split(",") if c.strip()]

    def resolve(self, names: list[str], source: str) -> dict[str, str | None]:
        """Concrete column names for this table; InputError naming what is missing."""
        lower = {n.lower(): n for n in names}
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise InputError(f"the table has more than one column named {', '.join(map(repr, dup))}; "
                             "every column needs a distinct name", source=source)
        out: dict[str, str | None] = {}
        keys = self.conversation_keys
        for k in keys or []:
            if k not in names:
                raise InputError(f"missing conversation key column {k!r}; the table has columns {names}",
                                 source=source)
        for key in ("conversation", "order", "speaker", "text"):
            given = getattr(self, key)
            if key == "conversation" and keys:
                out[key] = keys[0]
                continue
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


def _conversation_ids(col, source: str) -> pa.Array:
    """Conversation ids as they came in: integer ids stay integers (int64), text stays text;
    floats holding whole numbers become their integer text, anything else its text."""
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks()
    if pa.types.is_dictionary(col.type):
        col = col.dictionary_decode()
    if pa.types.is_integer(col.type):
        return col.cast(pa.int64())
    return _as_string(col)


def _nulls(arr) -> np.ndarray | None:
    return _to_np_bool(pc.is_null(arr)) if arr.null_count else None


def _blank(text) -> np.ndarray | None:
    """Rows whose text is empty or only white space (None when there are none)."""
    if len(text) == 0:
        return None
    space = pc.utf8_is_space(text)
    empty = pc.min(pc.binary_length(text)).as_py() == 0
    if not empty and not pc.any(space).as_py():
        return None
    return _to_np_bool(pc.fill_null(pc.or_(pc.equal(pc.binary_length(text), 0), space), False))


def _max_byte(text) -> int:
    """The largest byte of a string array's text (one pass over the data buffers)."""
    chunks = text.chunks if isinstance(text, pa.ChunkedArray) else [text]
    top = 0
    for c in chunks:
        if len(c) == 0 or c.buffers()[2] is None:
            continue
        off_type = np.int64 if pa.types.is_large_string(c.type) else np.int32
        off = np.frombuffer(c.buffers()[1], off_type)[c.offset:c.offset + len(c) + 1]
        if off[-1] > off[0]:
            top = max(top, int(np.frombuffer(c.buffers()[2], np.uint8)[off[0]:off[-1]].max()))
    return top


def _nfc(text):
    """Text in Unicode NFC (``cafe\u0301`` -> ``café``); ASCII-only text is returned as is."""
    # every code point below U+0300 (UTF-8 lead bytes < 0xCC) is already NFC and never composes
    # with its neighbours, so text whose bytes stay below 0xCC needs no work
    if len(text) == 0 or _max_byte(text) < 0xCC:
        return text
    return pc.utf8_normalize(text, "NFC")


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


_NUMBER = r"^\s*[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?\s*$|^\s*[-+]?(?:inf|infinity|nan)\s*$"
#: clip times: HH:MM:SS or MM:SS, seconds with an optional fraction (also H:MM:SS,fff)
_CLIP = r"^\s*(?:(?P<h>\d+):)?(?P<m>\d{1,2}):(?P<s>\d{1,2}(?:[.,]\d*)?)\s*$"
ORDER_VALUES = "a finite number, an ISO timestamp or a clip time (HH:MM:SS, MM:SS, with fractions)"


def _order_values(col: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """float64 sort keys from a turn-number, timestamp or clip-time column, and a mask of the
    values that are none of those (nulls give NaN and are not in the mask).

    Strings are parsed with Arrow compute, all rows at once: numbers, then clip times (as
    seconds), then ISO timestamps (as microseconds) for whatever is left.
    """
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks()
    t = col.type
    n = len(col)
    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_null(t):
        return col.cast(pa.float64()).to_numpy(zero_copy_only=False), np.zeros(n, bool)
    if pa.types.is_timestamp(t) or pa.types.is_date(t):
        return col.cast(pa.int64()).cast(pa.float64()).to_numpy(zero_copy_only=False), np.zeros(n, bool)
    s = _as_string(col)
    if pa.types.is_null(s.type):
        return np.full(n, np.nan), np.zeros(n, bool)
    out = np.full(n, np.nan)
    left = ~_to_np_bool(pc.is_null(s))
    is_num = _to_np_bool(pc.fill_null(pc.match_substring_regex(s, _NUMBER, ignore_case=True), False))
    if is_num.any():
        vals = pc.if_else(pa.array(is_num), pc.utf8_trim_whitespace(s), pa.scalar(None, pa.string()))
        out[is_num] = vals.cast(pa.float64()).to_numpy(zero_copy_only=False)[is_num]
        left &= ~is_num
    if left.any():
        is_clip = _to_np_bool(pc.fill_null(pc.match_substring_regex(s, _CLIP), False)) & left
        if is_clip.any():
            parts = pc.extract_regex(pc.if_else(pa.array(is_clip), s, pa.scalar("0:0", pa.string())), _CLIP)
            def num(field):
                v = pc.replace_substring(pc.struct_field(parts, field), ",", ".")
                v = pc.if_else(pc.equal(v, ""), pa.scalar("0", pa.string()), v)
                return v.cast(pa.float64()).to_numpy(zero_copy_only=False)
            secs = num("h") * 3600.0 + num("m") * 60.0 + num("s")
            out[is_clip] = secs[is_clip]
            left &= ~is_clip
    if left.any():
        idx = np.flatnonzero(left)
        rest = s.take(pa.array(idx))
        try:
            ts = rest.cast(pa.timestamp("us"))
            out[idx] = ts.cast(pa.int64()).cast(pa.float64()).to_numpy(zero_copy_only=False)
            left[:] = False
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            ts = pc.strptime(rest, format="%Y-%m-%dT%H:%M:%S", unit="us", error_is_null=True)
            ok = ~_to_np_bool(pc.is_null(ts))
            out[idx[ok]] = ts.filter(pa.array(ok)).cast(pa.int64()).cast(pa.float64()) \
                .to_numpy(zero_copy_only=False)
            left[idx[ok]] = False
            if left.any():  # the rest, one at a time (only rows that are already suspect)
                for i in np.flatnonzero(left):
                    try:
                        out[i] = pa.scalar(s[i].as_py()).cast(pa.timestamp("us")).cast(pa.int64()).as_py()
                        left[i] = False
                    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                        pass
    return out, left


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

    keys = spec.conversation_keys
    if keys:  # composite key: one conversation per combination of the key columns' values
        conv = pc.binary_join_element_wise(*[_as_string(table.column(k)) for k in keys], "|")
    else:
        conv = _conversation_ids(table.column(cols["conversation"]), source)
    speaker = _as_string(table.column(cols["speaker"]))
    text_col = table.column(cols["text"])
    text_type = text_col.type.value_type if pa.types.is_dictionary(text_col.type) else text_col.type
    not_text = None
    if not (pa.types.is_string(text_type) or pa.types.is_large_string(text_type)
            or pa.types.is_null(text_type)):  # numbers or objects are not text: never coerced
        not_text = ~_to_np_bool(pc.is_null(text_col))
        text = pa.nulls(n, pa.string())
    else:
        text = _as_string(text_col, keep_chunks=True)  # the text is never copied
        text = _nfc(text)
    if cols["order"]:
        order, order_bad = _order_values(table.column(cols["order"]))
    else:
        order = order_bad = None

    # ---- row-level problems (vectorised; Python only per bad row)
    keep = np.ones(n, dtype=bool)
    # each check gives a mask, or None when Arrow's counts already show nothing is wrong
    checks = [
        (lambda: not_text, f"text (column {cols['text']!r}) is a {text_type}, not a string; "
                           "expected the turn's words"),
        (lambda: _nulls(conv), f"missing conversation id (column {cols['conversation']!r})"),
        (lambda: _nulls(speaker), f"missing speaker (column {cols['speaker']!r})"),
        (lambda: _nulls(text), f"missing text (column {cols['text']!r})"),
        (lambda: _blank(text), f"empty text (column {cols['text']!r}); every turn needs words"),
    ]
    if order is not None:
        raw = table.column(cols["order"])
        order_nan = np.isnan(order)
        finite = not order_nan.any() and np.isfinite(order.sum())
        checks.append((lambda: order_bad if order_bad.any() else None,
                       lambda i: f"turn order value {raw[int(i)].as_py()!r} (column "
                                 f"{cols['order']!r}) is not {ORDER_VALUES}"))
        checks.append((lambda: None if finite else np.isinf(order),
                       lambda i: f"turn order value {raw[int(i)].as_py()!r} (column "
                                 f"{cols['order']!r}) is out of range; expected {ORDER_VALUES}"))
        checks.append((lambda: (order_nan & ~order_bad) if order_nan.any() else None,
                       f"missing turn order (column {cols['order']!r}: empty or NaN); expected {ORDER_VALUES}"))
    for mask, reason in checks:
        bad = mask()
        if bad is None:
            continue
        bad = bad & keep
        if bad.any():
            conv_py = conv.take(pa.array(np.flatnonzero(bad)[:100_000])).to_pylist()
            for i, cid in zip(np.flatnonzero(bad), conv_py):
                problems.report(reason(i) if callable(reason) else reason, source=source,
                                line=line_of(i), conversation=cid, unit=unit)
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
    codes_s = codes if identity else codes[perm]
    n_conv = len(conv_names)
    counts = np.bincount(codes_s, minlength=n_conv)
    offsets = np.zeros(n_conv + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])

    # ---- conversation-level problems
    bad_conv: dict[int, tuple[int, str]] = {}
    if order is not None and not in_order:  # strictly increasing within conversations: no repeats
        o = order[perm]
        dup = np.flatnonzero((codes_s[1:] == codes_s[:-1]) & (o[1:] == o[:-1])) + 1
        if len(dup) and spec.duplicates == "first":  # keep the first row of each repeated key
            _drop_duplicates(dup, perm, rows, conv_names, codes_s, o, cols, source, problems,
                             line_of, unit)
            keep_row = np.ones(len(perm), dtype=bool)
            keep_row[dup] = False
            perm, codes_s = perm[keep_row], codes_s[keep_row]
            identity = False
            counts = np.bincount(codes_s, minlength=n_conv)
            offsets = np.zeros(n_conv + 1, dtype=np.int64)
            np.cumsum(counts, out=offsets[1:])
            dup = dup[:0]
        for j in dup:
            c = int(codes_s[j])
            if c not in bad_conv:
                bad_conv[c] = (int(perm[j]), f"duplicate turn order value {o[j]:g} "
                                             f"(column {cols['order']!r})")
    spk_enc = speaker.dictionary_encode()
    spk_all = spk_enc.indices.to_numpy(zero_copy_only=False)
    spk_codes = spk_all if identity else spk_all[perm]
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
        labels = spk_enc.dictionary
    else:
        role_labels = _as_string(taken(table.column(spec.role_column)))
        role = map_roles(role_labels, parse_role_map(spec.role_map))
        labels = pc.unique(role_labels)
    if spec.role_map:  # remembered so that a --role-map label that never occurs can be reported
        problems.seen_labels.update(pc.utf8_lower(pc.utf8_trim_whitespace(labels.cast(pa.string())))
                                    .to_pylist())
    used = {c for c in cols.values() if c is not None}
    conv_first = pa.array(offsets[:-1])
    turn_columns: dict[str, pa.Array] = {}
    conv_columns: dict[str, pa.Array] = {}
    per_conv = [*(keys or []), *spec.conversation_columns]
    for name in names:
        if name in used and name not in (keys or []):
            continue
        col = taken(table.column(name))
        if name in per_conv:
            if name in spec.conversation_columns:
                _check_constant(col, offsets, name, conv_names, source)
            conv_columns[name] = col.take(conv_first) if n_conv else col.slice(0, 0)
        else:
            turn_columns[name] = col
    if cols["order"] is not None:
        turn_columns.setdefault("source_order", taken(table.column(cols["order"])))
    chosen = dict(cols, conversation=",".join(keys) if keys else cols["conversation"])
    return Corpus(conversation_id=conv_names, conv_offsets=offsets, role=role, speaker=speaker_s,
                  text=taken(text, keep_chunks=True), turn_columns=turn_columns, conv_columns=conv_columns,
                  source=source, format=fmt, columns=chosen)


def _check_constant(col, offsets, name, conv_names, source) -> None:
    """Warn when a --conversation-columns column varies within a conversation."""
    counts = np.diff(offsets)
    if len(col) == 0:
        return
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks()
    first = col.take(pa.array(np.repeat(offsets[:-1], counts)))
    differ = _to_np_bool(pc.fill_null(pc.not_equal(col, first), False))
    differ |= _to_np_bool(pc.is_null(col)) != _to_np_bool(pc.is_null(first))
    if differ.any():
        conv_of = np.repeat(np.arange(len(counts)), counts)
        bad = np.unique(conv_of[differ])
        warnings.warn(f"{source}: conversation column {name!r} varies within {len(bad)} "
                      f"conversation{'s' if len(bad) > 1 else ''} (first {conv_names[int(bad[0])].as_py()!r}); "
                      "the value of each conversation's first turn is kept", UserWarning, stacklevel=2)


def _drop_duplicates(dup, perm, rows, conv_names, codes_s, o, cols, source, problems, line_of, unit):
    """``--duplicates first``: the later rows of a repeated (conversation, order) key go; they
    are listed as skipped in skip mode, and counted in one warning otherwise."""
    if problems.on_error == "skip":
        for j in dup:
            problems.records.append({
                "source": source, "unit": unit, "line": line_of(int(rows[perm[j]])),
                "conversation_id": conv_names[int(codes_s[j])].as_py(), "level": "row",
                "reason": f"duplicate turn order value {o[j]:g} (column {cols['order']!r}); "
                          "the first row was kept (duplicates=first)"})
    else:
        first = int(rows[perm[dup[0]]])
        warnings.warn(f"{source}: {len(dup)} rows repeat the turn order of an earlier row of their "
                      f"conversation (first at {unit} {line_of(first)}); kept the first of each "
                      "(duplicates=first)", UserWarning, stacklevel=2)


def _empty_corpus(table, cols, spec, source, fmt) -> Corpus:
    return Corpus(conversation_id=pa.array([], pa.string()), conv_offsets=np.zeros(1, np.int64),
                  role=np.zeros(0, np.int8), speaker=pa.array([], pa.string()),
                  text=pa.array([], pa.string()), source=source, format=fmt)
