"""Entry points: ``load`` (one Corpus) and ``iter_corpus`` (chunks of whole conversations).

Tables are read with pyarrow's streaming readers (CSV, JSON lines, Parquet row groups); with
``chunk_turns`` set, rows are cut at conversation boundaries into chunks of about that many
turns, so memory is bounded by the chunk, not the corpus. Streaming needs the rows of each
conversation to be contiguous in the file; when they are not, the file is read whole.

When pyarrow rejects a file (a malformed row, bad UTF-8, inconsistent types), a line-by-line
reader finds the offending line: with ``on_error="fail"`` it raises an InputError naming file
and line; with ``on_error="skip"`` it drops the bad lines, records them, and goes on.
"""
from __future__ import annotations

import csv
import io
import json
import os
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from ..corpus import Corpus, role_map_labels
from ..errors import InputError
from .detect import FORMATS, detect_format
from .esconv import read_esconv
from .problems import Problems
from .tables import TableSpec, table_to_corpus

#: Rows per streamed block.
_BLOCK_ROWS = 1 << 16


class _NotContiguous(Exception):
    pass


# --------------------------------------------------------------------------- raw readers
def _csv_header(path: Path, delimiter: str) -> list[str]:
    with open(path, "rb") as fh:
        first = fh.readline()
    try:
        line = first.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"not valid UTF-8 ({exc.reason}); expected a UTF-8 header line",
                         source=str(path), line=1) from None
    if not line.strip():
        raise InputError("the file is empty or its first line is blank; expected a header row",
                         source=str(path), line=1)
    return next(csv.reader([line], delimiter=delimiter))


def _unclosed_quote(path: Path, problems: Problems, delimiter: bytes = b",") -> bytes | None:
    """An odd number of double quotes means a quote opened and never closed: every line after
    it would be read into one field. Fail names the line; skip lists every line lost and
    returns the file's bytes before that line (None when the quotes balance)."""
    n = 0
    with open(path, "rb") as fh:
        while block := fh.read(1 << 24):
            n += block.count(b'"')
    if n % 2 == 0:
        return None
    raw = path.read_bytes()
    lines = raw.split(b"\n")
    count, opened = 0, None
    for i, line in enumerate(lines):
        c = line.count(b'"')
        if count % 2 == 0 and (count + c) % 2 == 1:
            opened = i
        count += c
    opening = lines[opened]
    if not (opening.startswith(b'"') or delimiter + b'"' in opening):
        return None  # a quote inside an unquoted field is text, not a quote: nothing runs on
    last = len(lines) if lines[-1].strip() else len(lines) - 1
    reason = f"a quote opened on line {opened + 1} is never closed, so lines {opened + 1}-{last} run together"
    problems.report(reason, source=str(path), line=opened + 1)
    for i in range(opened + 1, last):
        if lines[i].strip():
            problems.report(f"inside the unclosed quote opened on line {opened + 1}", source=str(path), line=i + 1)
    return b"\n".join(lines[:opened]) + b"\n"


def _arrow_batches(path: Path, fmt: str, spec: TableSpec, whole: bool = False,
                   batch_rows: int = _BLOCK_ROWS, data: bytes | None = None) -> Iterator[pa.RecordBatch]:
    """Record batches from pyarrow's streaming readers (raises pyarrow errors as they come).

    ``whole=True`` (no chunking) reads Parquet with the multi-threaded whole-file reader.
    Otherwise Parquet is streamed page by page (a buffered, not pre-buffered, reader) in
    batches of at most ``batch_rows`` rows, so memory is bounded by the chunk even when the
    file holds one huge row group.
    """
    if fmt == "parquet":
        import pyarrow.parquet as pq

        if whole:  # the dataset reader decodes row groups in parallel (about 2x ParquetFile.read)
            yield from pq.read_table(path).to_batches()
            return
        pf = pq.ParquetFile(path, buffer_size=1 << 20, pre_buffer=False)
        yield from pf.iter_batches(batch_size=batch_rows)
        return
    if fmt in ("csv", "tsv"):
        import pyarrow.csv as pcsv

        delim = "," if fmt == "csv" else "\t"
        header = _csv_header(path, delim)
        cols = spec.resolve(header, str(path))
        types = {cols[k]: pa.string() for k in ("conversation", "speaker", "text") if cols[k]}
        reader = pcsv.open_csv(
            path if data is None else pa.BufferReader(data),
            read_options=pcsv.ReadOptions(block_size=1 << 24),
            parse_options=pcsv.ParseOptions(delimiter=delim, newlines_in_values=True),
            convert_options=pcsv.ConvertOptions(column_types=types, strings_can_be_null=True,
                                                quoted_strings_can_be_null=False))
        yield from reader
        return
    if fmt == "jsonl":
        import pyarrow.json as pjson

        reader = pjson.open_json(path, read_options=pjson.ReadOptions(block_size=1 << 24))
        yield from reader
        return
    raise InputError(f"internal: no arrow reader for {fmt}")


def _python_rows(path: Path, fmt: str, problems: Problems,
                 spec: TableSpec | None = None, data: bytes | None = None) -> tuple[pa.Table, list[int]]:
    """Line-by-line reader: finds malformed lines, reports them, returns the good rows.

    Returns the table and, per row, its 1-based line in the file.
    """
    source = str(path)
    records: list[dict] = []
    lines: list[int] = []
    raw = path.read_bytes() if data is None else data
    if fmt in ("csv", "tsv"):
        delim = "," if fmt == "csv" else "\t"
        # decode line by line so that a bad byte names its line
        text_lines = []
        for i, b in enumerate(raw.split(b"\n"), start=1):
            try:
                text_lines.append(b.decode("utf-8-sig" if i == 1 else "utf-8"))
            except UnicodeDecodeError as exc:
                problems.report(f"not valid UTF-8 ({exc.reason} at byte {exc.start})", source=source, line=i)
                text_lines.append(None)
        good = "\n".join(t for t in text_lines if t is not None)
        line_map = [i for i, t in enumerate(text_lines, start=1) if t is not None]
        reader = csv.reader(io.StringIO(good, newline=""), delimiter=delim)
        try:
            header = next(reader)
        except StopIteration:
            raise InputError("the file is empty; expected a header row", source=source, line=1) from None
        while True:
            start = reader.line_num
            try:
                row = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                problems.report(f"malformed CSV ({exc})", source=source, line=line_map[min(start, len(line_map) - 1)])
                continue
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            line = line_map[min(start, len(line_map) - 1)]
            if len(row) != len(header):
                problems.report(f"expected {len(header)} fields ({', '.join(header)}), found {len(row)}",
                                source=source, line=line)
                continue
            records.append({h: (v if v != "" else None) for h, v in zip(header, row)})
            lines.append(line)
        names = header
    else:  # jsonl
        names = []
        for i, b in enumerate(raw.split(b"\n"), start=1):
            if not b.strip():
                continue
            try:
                obj = json.loads(b.decode("utf-8"))
            except UnicodeDecodeError as exc:
                problems.report(f"not valid UTF-8 ({exc.reason} at byte {exc.start})", source=source, line=i)
                continue
            except json.JSONDecodeError as exc:
                problems.report(f"malformed JSON ({exc.msg} at column {exc.colno}); expected one object per line",
                                source=source, line=i)
                continue
            if not isinstance(obj, dict):
                problems.report("expected a JSON object per line", source=source, line=i)
                continue
            for k in obj:
                if k not in names:
                    names.append(k)
            records.append(obj)
            lines.append(i)
        if spec is not None:
            records, lines = _check_records(records, lines, names, spec, source, problems, "line")
    if not records:
        if not names:
            raise InputError("no rows could be read; expected a long table", source=source)
        return pa.table({n: pa.array([], pa.string()) for n in names}), lines
    return _records_table(records, names), lines


def _check_records(records: list[dict], lines: list[int], names: list[str], spec: TableSpec,
                   source: str, problems: Problems, unit: str) -> tuple[list[dict], list[int]]:
    """Row objects whose text is not a string, or whose conversation id is neither a string
    nor an integer, are bad rows (never coerced); ids that mix numbers and strings (``2`` and
    ``"2"``) are an error, since they would otherwise be merged or told apart by type alone."""
    try:
        cols = spec.resolve(names, source)
    except InputError:  # reported with the table's own checks
        cols = {"text": spec.text, "conversation": spec.conversation}
    text_col = cols["text"]
    id_cols = spec.conversation_keys or [cols["conversation"]]
    kinds: dict[str, tuple[int, object]] = {}
    good_r, good_l = [], []
    for rec, line in zip(records, lines):
        txt = rec.get(text_col)
        if txt is not None and not isinstance(txt, str):
            problems.report(f"text (key {text_col!r}) is not a string but {_json_kind(txt)} "
                            f"({json.dumps(txt)[:40]}); expected the turn's words", source=source, line=line, unit=unit)
            continue
        bad = None
        for c in id_cols:
            cid = rec.get(c)
            if cid is None:
                continue
            if isinstance(cid, bool) or not isinstance(cid, (str, int)):
                bad = f"conversation id (key {c!r}) is {_json_kind(cid)} ({json.dumps(cid)[:40]}); " \
                      "expected a string or an integer"
                break
            kinds.setdefault("number" if isinstance(cid, int) else "string", (line, cid))
        if bad:
            problems.report(bad, source=source, line=line, unit=unit)
            continue
        good_r.append(rec)
        good_l.append(line)
    if len(kinds) > 1:
        (ln, nv), (ls, sv) = kinds["number"], kinds["string"]
        raise InputError(f"conversation ids mix numbers ({nv!r} at {unit} {ln}) and strings ({sv!r} at "
                         f"{unit} {ls}); write every id the same way", source=source,
                         line=max(ln, ls), unit=unit)
    return good_r, good_l


def _json_kind(v) -> str:
    return {bool: "a boolean", int: "a number", float: "a number", dict: "an object",
            list: "a list", str: "a string"}.get(type(v), f"a {type(v).__name__}")


def _records_table(records: list[dict], names: list[str]) -> pa.Table:
    cols = {}
    for n in names:
        vals = [r.get(n) for r in records]
        try:
            cols[n] = pa.array(vals)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            cols[n] = pa.array([None if v is None else (v if isinstance(v, str) else json.dumps(v))
                                for v in vals], pa.string())
    return pa.table(cols)


def _stream_tables(batches: Iterable[pa.RecordBatch], conv_col: str, chunk_turns: int | None
                   ) -> Iterator[tuple[pa.Table, int]]:
    """Group record batches into tables of whole conversations; yields (table, first_row)."""
    if chunk_turns is None:
        batches = list(batches)
        if not batches:
            return
        yield pa.Table.from_batches(batches), 0
        return
    pending: list[pa.RecordBatch] = []
    n_pending = 0
    row0 = 0
    done: set = set()
    def pieces():  # blocks no larger than a chunk, so that chunks stay near chunk_turns
        for batch in batches:
            for start in range(0, batch.num_rows, chunk_turns):
                yield batch.slice(start, chunk_turns)

    for batch in pieces():
        pending.append(batch)
        n_pending += batch.num_rows
        if n_pending < chunk_turns:
            continue
        table = pa.Table.from_batches(pending)
        ids = table.column(conv_col).cast(pa.string()).combine_chunks()
        last = ids[len(ids) - 1]
        # cut before the trailing run of the last conversation (it may continue in the next batch)
        import pyarrow.compute as pc

        neq = np.asarray(pc.not_equal(ids, last).to_numpy(zero_copy_only=False), dtype=bool)
        cut = int(np.flatnonzero(neq)[-1]) + 1 if neq.any() else 0
        if cut == 0:
            continue
        head = table.slice(0, cut)
        head_ids = set(pc.unique(ids.slice(0, cut)).to_pylist())
        if head_ids & done:
            raise _NotContiguous()
        done |= head_ids
        yield head, row0
        row0 += cut
        rest = table.slice(cut)
        pending = rest.to_batches()
        n_pending = rest.num_rows
    if n_pending:
        table = pa.Table.from_batches(pending)
        import pyarrow.compute as pc

        ids = set(pc.unique(table.column(conv_col).cast(pa.string())).to_pylist())
        if ids & done:
            raise _NotContiguous()
        yield table, row0


# --------------------------------------------------------------------------- per format
def _iter_table_file(path: Path, fmt: str, spec: TableSpec, problems: Problems,
                     chunk_turns: int | None) -> Iterator[Corpus]:
    source = str(path)
    unit = "row" if fmt == "parquet" else "line"
    header_lines = 1 if fmt in ("csv", "tsv") else 0
    if fmt == "json":  # a JSON list of row objects
        try:
            data = json.loads(path.read_bytes().decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise InputError(f"not valid UTF-8 ({exc.reason})", source=source) from None
        except json.JSONDecodeError as exc:
            raise InputError(f"malformed JSON ({exc.msg}, column {exc.colno})", source=source,
                             line=exc.lineno) from None
        if not isinstance(data, list):
            raise InputError("expected a JSON list of row objects (one per turn)", source=source, line=1)
        yield _records_corpus(data, spec, source, problems, fmt)
        return
    if fmt == "parquet":
        import pyarrow.parquet as pq

        try:
            names = pq.read_schema(path).names
        except (pa.ArrowInvalid, OSError) as exc:
            raise InputError(f"cannot read Parquet ({exc})", source=source) from None
    elif fmt in ("csv", "tsv"):
        names = _csv_header(path, "," if fmt == "csv" else "\t")
    else:
        names = None
    data = _unclosed_quote(path, problems, b"," if fmt == "csv" else b"\t") if fmt in ("csv", "tsv") else None
    yielded = 0
    try:
        if names is None:
            first = next(_arrow_batches(path, fmt, spec), None)
            if first is None:
                raise InputError("the file holds no rows; expected a long table", source=source)
            names = first.schema.names
        conv_col = spec.resolve(names, source)["conversation"]
        batches = _arrow_batches(path, fmt, spec, whole=chunk_turns is None,
                                 batch_rows=min(_BLOCK_ROWS, chunk_turns or _BLOCK_ROWS), data=data)
        for table, row0 in _stream_tables(batches,
                                          conv_col, chunk_turns):
            if table.num_rows == 0:
                continue
            if fmt == "jsonl":  # the JSON reader passes invalid UTF-8 through: check it here
                table.validate(full=True)
            corpus = table_to_corpus(table, spec, source=source, problems=problems, fmt=fmt,
                                     row_base=row0, header_lines=header_lines, unit=unit)
            yielded += 1
            yield corpus
    except _NotContiguous:
        raise InputError(f"the rows of some conversation are not contiguous (column {conv_col!r}); "
                         "reading in chunks needs rows grouped by conversation: sort the file, or "
                         "read it whole (no chunking)", source=source) from None
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, UnicodeDecodeError) as exc:
        if fmt == "parquet" or yielded:
            raise InputError(f"cannot read as {fmt} ({exc})", source=source) from None
        table, lines = _python_rows(path, fmt, problems, spec, data)  # raises in fail mode at the bad line
        # nothing malformed line by line (e.g. numbers and strings mixed in one column): the rows
        # are checked as any table (a bad turn order is named by its line and value)
        yield table_to_corpus(table, spec, source=source, problems=_LineMapped(problems, lines),
                              fmt=fmt, unit="line", header_lines=-1)
        return
    if not yielded:
        raise InputError("the file holds no rows; expected a long table", source=source)


def _records_corpus(data: list, spec: TableSpec, source: str, problems: Problems, fmt: str) -> Corpus:
    """A list of row objects (a JSON list, or dicts given to the API); rows named 1-based."""
    records, lines, names = [], [], []
    for i, rec in enumerate(data, start=1):
        if not isinstance(rec, dict):
            problems.report(f"element {i} is {_json_kind(rec)}, not a row object; expected one object "
                            "per turn", source=source, line=i, unit="row")
            continue
        for k in rec:
            if k not in names:
                names.append(k)
        records.append(rec)
        lines.append(i)
    if not records:
        raise InputError("the list holds no row objects; expected one object per turn", source=source)
    records, lines = _check_records(records, lines, names, spec, source, problems, "row")
    if not records:
        raise InputError("no valid rows remain after skipping bad input", source=source)
    return table_to_corpus(_records_table(records, names), spec, source=source,
                           problems=_LineMapped(problems, lines, unit="row"), fmt=fmt, unit="line",
                           header_lines=-1)


class _LineMapped(Problems):
    """Problems whose ``line`` is a row index into a list of real file lines."""

    def __init__(self, inner: Problems, lines: list[int], unit: str | None = None):
        self.inner, self.lines, self.unit = inner, lines, unit
        self.on_error, self.records = inner.on_error, inner.records
        self.seen_labels = inner.seen_labels

    def report(self, reason, *, source, line=None, conversation=None, level="row", unit="line"):
        if line is not None and 0 <= line < len(self.lines):
            line = self.lines[line]
        self.inner.report(reason, source=source, line=line, conversation=conversation, level=level,
                          unit=self.unit or unit)


def _iter_convokit(path: Path, spec: TableSpec, problems: Problems, chunk_turns) -> Iterator[Corpus]:
    """A ConvoKit corpus directory: utterances.jsonl (+ conversations.json metadata)."""
    utt = path / "utterances.jsonl"
    source = str(utt)
    table, lines = _python_rows(utt, "jsonl", problems,
                                TableSpec(conversation=spec.conversation or "conversation_id",
                                          text=spec.text or "text", speaker=spec.speaker))
    if "meta" in table.column_names and pa.types.is_struct(table.column("meta").type):
        table = table.flatten()
    names = table.column_names
    if "speaker" not in names and "user" in names:
        table = table.rename_columns(["speaker" if n == "user" else n for n in names])
    order = spec.order
    if order is None and "timestamp" in table.column_names:
        ts = table.column("timestamp")
        order = "timestamp" if ts.null_count == 0 else None
    if order is None:  # file order
        table = table.append_column("_file_order", pa.array(np.arange(table.num_rows)))
        order = "_file_order"
    cspec = TableSpec(conversation=spec.conversation or "conversation_id", order=order,
                      speaker=spec.speaker or "speaker", text=spec.text or "text",
                      role_column=spec.role_column, role_map=spec.role_map,
                      conversation_columns=spec.conversation_columns, duplicates=spec.duplicates)
    corpus = table_to_corpus(table, cspec, source=source, problems=_LineMapped(problems, lines),
                             fmt="convokit", unit="line", header_lines=-1)
    corpus.turn_columns.pop("source_order", None) if order == "_file_order" else None
    convs = path / "conversations.json"
    if convs.exists():
        try:
            meta = json.loads(convs.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InputError(f"cannot read conversation metadata ({exc})", source=str(convs)) from None
        if not isinstance(meta, dict):
            raise InputError("expected an object keyed by conversation id", source=str(convs))
        ids = corpus.conversation_id.to_pylist()
        keys: list[str] = []
        for m in meta.values():
            for k, v in ((m or {}).get("meta") or {}).items():
                if k not in keys and (v is None or isinstance(v, (str, int, float, bool))):
                    keys.append(k)
        for k in keys:
            vals = [((meta.get(c) or {}).get("meta") or {}).get(k) for c in ids]
            try:
                corpus.conv_columns[k] = pa.array(vals)
            except (pa.ArrowInvalid, pa.ArrowTypeError):
                corpus.conv_columns[k] = pa.array([None if v is None else str(v) for v in vals], pa.string())
    if chunk_turns:
        yield from corpus.chunks(chunk_turns)
    else:
        yield corpus


def _from_pandas(df) -> pa.Table:
    try:
        return pa.Table.from_pandas(df, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        for name in df.columns:  # name the column and the first value of another type
            col = df[name]
            if col.dtype != object:
                continue
            kinds = [type(v) for v in col if v is not None and v == v]
            if len(set(kinds)) > 1:
                first = kinds[0]
                row = next(i for i, v in enumerate(col, start=1)
                           if v is not None and v == v and type(v) is not first)
                raise InputError(f"column {name!r} mixes {first.__name__} and {type(col.iloc[row - 1]).__name__} "
                                 f"values (row {row}: {col.iloc[row - 1]!r}); expected one type per column",
                                 source="<table>", line=row, unit="row") from None
        raise InputError(f"cannot convert the DataFrame ({exc})", source="<table>") from None


def _iter_arrow_like(data: Any, spec: TableSpec, problems: Problems, chunk_turns) -> Iterator[Corpus]:
    mod = type(data).__module__
    if isinstance(data, pa.Table):
        table = data
    elif isinstance(data, pa.RecordBatch):
        table = pa.Table.from_batches([data])
    elif isinstance(data, list) and data and all(isinstance(r, dict) for r in data):
        corpus = _records_corpus(data, spec, "<records>", problems, "table")
        yield from corpus.chunks(chunk_turns) if chunk_turns else [corpus]
        return
    elif mod.startswith("pandas"):
        table = _from_pandas(data)
    elif mod.startswith("polars"):
        table = data.to_arrow()
    else:
        raise InputError(f"cannot load a {type(data).__name__}; pass a path, a pyarrow Table, "
                         "a pandas or a polars DataFrame in long format")
    if table.num_rows == 0:
        raise InputError("the table has no rows; expected one row per turn", source="<table>")
    corpus = table_to_corpus(table, spec, source="<table>", problems=problems, fmt="table",
                             unit="row", header_lines=0)
    if chunk_turns:
        yield from corpus.chunks(chunk_turns)
    else:
        yield corpus


# --------------------------------------------------------------------------- public
def iter_corpus(data, *, format: str = "auto", spec: TableSpec | None = None,
                problems: Problems | None = None, chunk_turns: int | None = None,
                on_error: str = "fail") -> Iterator[Corpus]:
    """Yield chunks of whole conversations from a path (or a list of paths) or a table.

    Parameters
    ----------
    data : str, os.PathLike, list of those, pyarrow.Table, pandas or polars DataFrame
    format : str
        One of :data:`~fastmetrics.io.FORMATS`; ``"auto"`` detects it per path.
    spec : TableSpec, optional
        Column names and role mapping for long tables (and the role map for ESConv).
    problems : Problems, optional
        Collects skipped rows; created from ``on_error`` when not given.
    chunk_turns : int, optional
        Approximate turns per chunk; None yields one corpus per input.
    """
    spec = spec or TableSpec()
    problems = problems or Problems(on_error)
    if format not in FORMATS:
        raise InputError(f"unknown format {format!r}; expected one of {', '.join(FORMATS)}")
    records = isinstance(data, list) and bool(data) and any(isinstance(r, dict) for r in data)
    if records or not isinstance(data, (str, os.PathLike, list, tuple)):
        if records and not all(isinstance(r, dict) for r in data):
            i = next(i for i, r in enumerate(data, start=1) if not isinstance(r, dict))
            raise InputError(f"a list of rows holds a {type(data[i - 1]).__name__} at element {i}; "
                             "expected a dict per turn (or a list of paths)", source="<records>")
        yield from _iter_arrow_like(data, spec, problems, chunk_turns)
        _warn_unused_labels(spec, problems)
        return
    paths = [data] if isinstance(data, (str, os.PathLike)) else list(data)
    if not paths:
        raise InputError("no input given")
    for p in paths:
        if not isinstance(p, (str, os.PathLike)):
            raise InputError(f"expected paths, got a {type(p).__name__} ({p!r:.40}); pass paths, a list of "
                             "row dicts, a pyarrow Table or a DataFrame")
    seen: dict[str, str] = {}  # conversation id -> file, to catch ids shared by two inputs
    for p in paths:
        path = Path(p)
        if not path.exists():
            raise InputError("no such file or directory", source=str(path))
        fmt = detect_format(path) if format == "auto" else format
        if path.is_file() and path.stat().st_size == 0:
            raise InputError("the file is empty; expected a corpus", source=str(path))
        if fmt in ("esconv-jsonl", "esconv-json"):
            chunk_conv = max(1, chunk_turns // 30) if chunk_turns else None
            parts = read_esconv(path, fmt, problems=problems, role_map=spec.role_map,
                                chunk_conversations=chunk_conv)
        elif fmt == "convokit":
            parts = _iter_convokit(path, spec, problems, chunk_turns)
        else:
            parts = _iter_table_file(path, fmt, spec, problems, chunk_turns)
        for part in parts:
            if len(paths) > 1:
                for cid in part.conversation_id.to_pylist():
                    other = seen.setdefault(cid, str(path))
                    if other != str(path):
                        raise InputError(f"conversation id {cid!r} also appears in {other}; ids must be "
                                         "unique across the inputs", source=str(path))
            yield part
    _warn_unused_labels(spec, problems)


def _warn_unused_labels(spec: TableSpec, problems: Problems) -> None:
    """A --role-map label that never occurred in the speaker (or role) column is reported."""
    unused = sorted(role_map_labels(spec.role_map) - problems.seen_labels) if problems.seen_labels else []
    if unused:
        warnings.warn(f"--role-map label{'s' if len(unused) > 1 else ''} {', '.join(map(repr, unused))} "
                      f"never occur{'' if len(unused) > 1 else 's'} in the speaker labels "
                      f"({', '.join(sorted(problems.seen_labels)[:10])})", UserWarning, stacklevel=3)


def load(data, *, format: str = "auto", on_error: str = "fail", problems: Problems | None = None,
         conversation: str | None = None, order: str | None = None, speaker: str | None = None,
         text: str | None = None, role_column: str | None = None, role_map=None,
         conversation_columns: list[str] | None = None, duplicates: str = "fail") -> Corpus:
    """Load a corpus from a path, a list of paths, or a long-format table.

    Parameters
    ----------
    data : str, os.PathLike, list, pyarrow.Table, pandas.DataFrame or polars.DataFrame
    format : str
        ``"auto"`` (default), ``csv``, ``tsv``, ``jsonl``, ``json``, ``parquet``, ``convokit``,
        ``esconv-jsonl``, ``esconv-json``.
    on_error : {"fail", "skip"}
        Raise at the first bad row, or drop bad rows/conversations and list them in
        ``corpus.skipped``.
    conversation, order, speaker, text : str, optional
        Column names of a long table (common names are found automatically).
    role_column : str, optional
        Column holding role labels, when the speaker column holds person ids.
    role_map : str or dict, optional
        Extra ``label=role`` pairs, e.g. ``"usr=client,sys=therapist"``.
    conversation_columns : list of str, optional
        Carried columns with one value per conversation (outcomes, metadata).
    duplicates : {"fail", "first"}
        Rows of one conversation sharing a turn order: a bad conversation, or keep the first.

    Returns
    -------
    Corpus

    Examples
    --------
    >>> import pyarrow as pa
    >>> t = pa.table({"conversation_id": ["a", "a"], "speaker": ["client", "therapist"],
    ...               "text": ["I feel low.", "That sounds hard."]})
    >>> load(t).n_turns
    2
    """
    spec = TableSpec(conversation=conversation, order=order, speaker=speaker, text=text,
                     role_column=role_column, role_map=role_map,
                     conversation_columns=list(conversation_columns or []), duplicates=duplicates)
    problems = problems or Problems(on_error)
    parts = list(iter_corpus(data, format=format, spec=spec, problems=problems))
    parts = [p for p in parts if p.n_conversations > 0] or parts[:1]
    if not parts:
        raise InputError("no conversations could be read")
    corpus = Corpus.concat(parts)
    corpus.skipped = list(problems.records)
    if corpus.n_conversations == 0:
        raise InputError("no valid conversations remain after skipping bad input",
                         source=parts[0].source)
    return corpus
