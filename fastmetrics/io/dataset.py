"""Partitioned datasets: any input rewritten as Parquet partitions of whole conversations.

``fastmetrics partition INPUT... -o DATASET/ --partition-turns N`` writes::

    DATASET/part-00000.parquet ...     whole conversations, at most N turns each (a longer
                                       conversation gets a part of its own)
    DATASET/_fastmetrics_dataset.json  the manifest: parts, rows, conversations, column spec

``fastmetrics score DATASET/`` (and the Dask engine) then read one chunk per part.

How the grouping is done (Arrow, not hand-written sorting):

* long tables (CSV, TSV, JSON lines, JSON, Parquet) -- whose conversations may be spread
  anywhere in a file or over several files -- are streamed with ``pyarrow.dataset``; every
  row gets a bucket from a hash of its conversation key and a global row number, and Arrow's
  dataset writer groups the rows by bucket on disk. Each bucket (about N turns) is then sorted
  by (conversation, row number) with Arrow's ``sort_by`` and cut at conversation boundaries.
  The rows keep their own columns; the column names and role mapping given to ``partition``
  are stored in the manifest and used when the dataset is scored, where every row is checked
  as in any other load;
* ESConv and ConvoKit inputs (whose conversations are contiguous by construction) are read
  with the loaders and written in the normalised layout (``conversation_id``, ``turn``,
  ``speaker``, ``role``, ``text``, carried columns).
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..columns import conform
from ..corpus import ROLE_NAMES, Corpus
from ..errors import InputError

__all__ = ["MANIFEST", "is_dataset", "read_manifest", "iter_dataset", "partition",
           "DEFAULT_PARTITION_TURNS"]

MANIFEST = "_fastmetrics_dataset.json"
DEFAULT_PARTITION_TURNS = 250_000
_TABLE_FORMATS = ("csv", "tsv", "jsonl", "json", "parquet")
_ROW = "__fastmetrics_row"
_BUCKET = "__fastmetrics_bucket"


def is_dataset(path) -> bool:
    """True when ``path`` is a folder written by :func:`partition`."""
    p = Path(path)
    return p.is_dir() and (p / MANIFEST).is_file()


def read_manifest(path) -> dict:
    p = Path(path) / MANIFEST
    try:
        m = json.loads(p.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(f"cannot read the dataset manifest ({exc})", source=str(p)) from None
    if m.get("format") != "fastmetrics-dataset":
        raise InputError("not a fastmetrics dataset manifest", source=str(p))
    for part in m.get("parts", []):
        if not (Path(path) / part["file"]).is_file():
            raise InputError(f"dataset part {part['file']!r} listed in the manifest is missing",
                             source=str(p))
    return m


def iter_dataset(path, *, problems=None, spec_overrides: dict | None = None) -> Iterator[Corpus]:
    """One Corpus per part of a dataset, read with the column spec stored in its manifest."""
    from .load import iter_corpus
    from .tables import TableSpec

    m = read_manifest(path)
    spec = TableSpec(**{**m["spec"], **(spec_overrides or {})})
    for part in m["parts"]:
        yield from iter_corpus(str(Path(path) / part["file"]), format="parquet", spec=spec,
                               problems=problems, chunk_turns=None)


def dataset_turns(path) -> int:
    return sum(int(p["rows"]) for p in read_manifest(path)["parts"])


# ------------------------------------------------------------------------------------------
# writing
# ------------------------------------------------------------------------------------------
def _bucket_of(keys: pa.Array, n_buckets: int) -> pa.Array:
    """A stable bucket per row from a hash of its key (Python work once per distinct key)."""
    enc = keys.dictionary_encode()
    uniq = enc.dictionary.to_pylist()
    lut = np.fromiter((int.from_bytes(hashlib.blake2b(str(u).encode(), digest_size=8).digest(), "little")
                       % n_buckets for u in uniq), dtype=np.int32, count=len(uniq))
    idx = enc.indices.to_numpy(zero_copy_only=False)
    return pa.array(lut[idx] if len(idx) else np.zeros(0, np.int32))


def _key(batch: pa.RecordBatch | pa.Table, cols: list[str]) -> pa.Array:
    arrays = [batch.column(c).cast(pa.string()) for c in cols]
    arrays = [a.combine_chunks() if isinstance(a, pa.ChunkedArray) else a for a in arrays]
    if len(arrays) == 1:
        return arrays[0]
    return pc.binary_join_element_wise(*arrays, "\x1f")


def _raw_batches(path: Path, fmt: str) -> tuple[Iterator[pa.RecordBatch], pa.Schema, int]:
    import pyarrow.dataset as ds

    if fmt == "json":
        try:
            rows = json.loads(path.read_bytes().decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InputError(f"cannot read as a JSON list of rows ({exc})", source=str(path)) from None
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise InputError("expected a JSON list of row objects", source=str(path))
        table = pa.Table.from_pylist(rows)
        return iter(table.to_batches()), table.schema, table.num_rows
    if fmt == "parquet":
        fmt_obj = ds.ParquetFileFormat()
    elif fmt in ("csv", "tsv"):
        import pyarrow.csv as pcsv

        fmt_obj = ds.CsvFileFormat(parse_options=pcsv.ParseOptions(
            delimiter="," if fmt == "csv" else "\t", newlines_in_values=True))
    else:
        fmt_obj = ds.JsonFileFormat()
    try:
        d = ds.dataset(str(path), format=fmt_obj)
        rows = pq.read_metadata(path).num_rows if fmt == "parquet" else -1
        return d.to_batches(batch_size=1 << 16), d.schema, rows
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputError(f"cannot read as {fmt} ({exc})", source=str(path)) from None


def _normalised(chunk: Corpus) -> pa.Table:
    cols = {"conversation_id": chunk.conversation_id.take(pa.array(chunk.conv_index)),
            "turn": pa.array(chunk.position, pa.int32()), "speaker": chunk.speaker,
            "role": pa.array(np.array(ROLE_NAMES, dtype=object)[chunk.role].tolist(), pa.string()),
            "text": chunk.text}
    for k, v in chunk.turn_columns.items():
        cols.setdefault(k, v)
    for k, v in chunk.conv_columns.items():
        cols.setdefault(k, v.take(pa.array(chunk.conv_index)))
    return pa.table(cols)


def partition(inputs, out_dir, *, partition_turns: int = DEFAULT_PARTITION_TURNS, format: str = "auto",
              spec=None, on_error: str = "fail", overwrite: bool = False) -> dict:
    """Rewrite ``inputs`` into a dataset of Parquet partitions of whole conversations.

    Parameters
    ----------
    inputs : path or list of paths
    out_dir : path
        A new (or empty) folder; ``overwrite`` replaces an existing dataset.
    partition_turns : int
        Most turns per partition (a conversation longer than that is a partition of its own).
    format : str
        As in :func:`fastmetrics.load` (detected per input with ``"auto"``).
    spec : TableSpec, optional
        Column names and role mapping of long tables (stored in the manifest).

    Returns
    -------
    dict
        The manifest written to ``out_dir/_fastmetrics_dataset.json``.
    """
    from .detect import detect_format
    from .problems import Problems
    from .tables import TableSpec

    if isinstance(partition_turns, bool) or not isinstance(partition_turns, (int, np.integer)) \
            or partition_turns < 1:
        raise InputError(f"partition_turns must be a positive integer, got {partition_turns!r}")
    spec = spec or TableSpec()
    paths = [Path(inputs)] if isinstance(inputs, (str, os.PathLike)) else [Path(p) for p in inputs]
    if not paths:
        raise InputError("no input given")
    for p in paths:
        if not p.exists():
            raise InputError("no such file or directory", source=str(p))
    fmts = [detect_format(p) if format == "auto" else format for p in paths]
    kinds = {"table" if f in _TABLE_FORMATS else "corpus" for f in fmts}
    if len(kinds) > 1:
        raise InputError("partition long tables and ESConv/ConvoKit corpora separately "
                         f"(got formats {', '.join(sorted(set(fmts)))})")
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()) and not (overwrite and is_dataset(out)):
        raise InputError(f"output folder {str(out)!r} is not empty"
                         + ("; pass --overwrite to replace the dataset" if is_dataset(out) else ""))
    out.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=".partition-", dir=out))
    try:
        if kinds == {"corpus"}:
            problems = Problems(on_error)
            parts = _write_corpus_parts(paths, fmts, spec, problems, partition_turns, stage)
            stored = {"conversation": "conversation_id", "order": "turn", "speaker": "speaker",
                      "text": "text", "role_column": "role", "role_map": None,
                      "conversation_columns": parts.pop("conv_columns")}
        else:
            parts = _write_table_parts(paths, fmts, spec, partition_turns, stage)
            stored = {k: (v if not isinstance(v, tuple) else list(v)) for k, v in spec.__dict__.items()}
        for p in out.glob("part-*.parquet"):  # an older dataset being overwritten
            p.unlink()
        for part in parts["parts"]:
            os.replace(stage / part["file"], out / part["file"])
        manifest = {"format": "fastmetrics-dataset", "version": 1, "spec": stored,
                    "sources": [str(p) for p in paths], "source_formats": fmts,
                    "partition_turns": int(partition_turns), "parts": parts["parts"],
                    "n_turns": sum(p["rows"] for p in parts["parts"]),
                    "n_conversations": sum(p["conversations"] for p in parts["parts"])}
        tmp = out / f".{MANIFEST}.tmp"
        tmp.write_text(json.dumps(manifest, indent=1, default=str))
        os.replace(tmp, out / MANIFEST)
        return manifest
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def _emit(tables: list[pa.Table], stage: Path, parts: list[dict], conv_col: list[str]) -> None:
    table = pa.concat_tables(tables, promote_options="permissive") if len(tables) > 1 else tables[0]
    name = f"part-{len(parts):05d}.parquet"
    pq.write_table(table, stage / name)
    n_conv = len(pc.unique(_key(table, conv_col))) if table.num_rows else 0
    parts.append({"file": name, "rows": table.num_rows, "conversations": n_conv})


def _cut(table: pa.Table, keys: pa.Array, limit: int) -> Iterator[pa.Table]:
    """Slices of ``table`` (sorted by key) of at most ``limit`` rows, cut between keys."""
    n = table.num_rows
    if n == 0:
        return
    change = np.flatnonzero(pc.not_equal(keys.slice(1), keys.slice(0, n - 1)).to_numpy(
        zero_copy_only=False)) + 1
    starts = np.concatenate([[0], change, [n]])
    lo = 0
    while lo < n:
        # the last conversation start at or before lo + limit (at least one conversation)
        j = int(np.searchsorted(starts, lo + limit, side="right")) - 1
        hi = int(starts[j]) if starts[j] > lo else int(starts[np.searchsorted(starts, lo, side="right")])
        yield table.slice(lo, hi - lo)
        lo = hi


def _write_table_parts(paths, fmts, spec, limit: int, stage: Path) -> dict:
    import pyarrow.dataset as ds

    sources = []
    total_rows = 0
    schema = None
    for path, fmt in zip(paths, fmts):
        batches, sch, rows = _raw_batches(path, fmt)
        sources.append((path, batches, sch))
        total_rows += rows if rows >= 0 else max(1, path.stat().st_size // 80)
        schema = sch if schema is None else pa.unify_schemas([schema, sch], promote_options="permissive")
    names = schema.names
    resolved = spec.resolve(names, str(paths[0]))["conversation"]
    conv_col = resolved if isinstance(resolved, list) else [c.strip() for c in str(resolved).split(",")]
    n_buckets = max(1, math.ceil(total_rows / limit))
    bucket_dir = stage / "buckets"
    row0 = [0]
    wide = schema.append(pa.field(_ROW, pa.int64())).append(pa.field(_BUCKET, pa.int32()))

    def tagged():
        for path, batches, _ in sources:
            try:
                for b in batches:
                    b = conform(pa.Table.from_batches([b]), schema)
                    rows = pa.array(np.arange(row0[0], row0[0] + b.num_rows, dtype=np.int64))
                    row0[0] += b.num_rows
                    b = b.append_column(_ROW, rows).append_column(_BUCKET, _bucket_of(_key(b, conv_col), n_buckets))
                    yield from b.to_batches()
            except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
                raise InputError(f"cannot read as a long table ({exc})", source=str(path)) from None

    ds.write_dataset(tagged(), bucket_dir, schema=wide, format="parquet",
                     partitioning=ds.partitioning(pa.schema([(_BUCKET, pa.int32())]), flavor="hive"),
                     existing_data_behavior="overwrite_or_ignore")
    parts: list[dict] = []
    for b in range(n_buckets):
        folder = bucket_dir / f"{_BUCKET}={b}"
        if not folder.is_dir():
            continue
        table = ds.dataset(folder, format="parquet", schema=schema.append(pa.field(_ROW, pa.int64()))).to_table()
        sort_keys = [(c, "ascending") for c in conv_col] + [(_ROW, "ascending")]
        table = table.sort_by(sort_keys)
        keys = _key(table, conv_col)
        table = table.drop_columns([_ROW])
        for piece in _cut(table, keys, limit):
            _emit([piece], stage, parts, conv_col)
        shutil.rmtree(folder)
    return {"parts": parts}


def _write_corpus_parts(paths, fmts, spec, problems, limit: int, stage: Path) -> dict:
    from .load import iter_corpus

    parts: list[dict] = []
    pending: list[pa.Table] = []
    n_pending = 0
    conv_columns: list[str] = []
    for path, fmt in zip(paths, fmts):
        for chunk in iter_corpus(str(path), format=fmt, spec=spec, problems=problems,
                                 chunk_turns=limit):
            if chunk.n_conversations == 0:
                continue
            conv_columns = list(dict.fromkeys([*conv_columns, *chunk.conv_columns]))
            t = _normalised(chunk)
            for piece in _cut(t, _key(t, ["conversation_id"]), limit):
                if n_pending + piece.num_rows > limit and pending:
                    _emit(pending, stage, parts, ["conversation_id"])
                    pending, n_pending = [], 0
                pending.append(piece)
                n_pending += piece.num_rows
    if pending:
        _emit(pending, stage, parts, ["conversation_id"])
    return {"parts": parts, "conv_columns": conv_columns}
