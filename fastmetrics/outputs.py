"""Output writing: chunked Parquet parts, merged atomically into the final files.

Each chunk of conversations is written as its own part under ``OUTDIR/.partial/`` as soon as it
is scored, so a long run never loses finished work (``resume=True`` reuses the parts of an
interrupted run with the same parameters). At the end, parts are merged row group by row group
(memory bounded by one part) into ``OUTDIR/<stem>.parquet.tmp`` and renamed into place with an
atomic ``os.replace``: a reader never sees a partial output file.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

PARTIAL = ".partial"


class PartWriter:
    """Writes per-chunk parts and merges them into final Parquet files."""

    def __init__(self, out_dir: str | os.PathLike, params: dict, resume: bool = False):
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.partial = self.out_dir / PARTIAL
        self.params = params
        key = json.dumps(params, sort_keys=True, default=str)
        stamp = self.partial / "params.json"
        if self.partial.exists():
            same = stamp.exists() and stamp.read_text() == key
            if not (resume and same):
                shutil.rmtree(self.partial)
        self.partial.mkdir(exist_ok=True)
        stamp.write_text(key)
        self.stems: set[str] = set()

    def done(self, chunk: int) -> bool:
        """True when chunk ``chunk`` was fully written by an earlier (interrupted) run."""
        return (self.partial / f"{chunk:06d}.ok").exists()

    def part_stems(self, chunk: int) -> list[str]:
        return json.loads((self.partial / f"{chunk:06d}.ok").read_text())

    def write_chunk(self, chunk: int, tables: dict[str, pa.Table]) -> None:
        for stem, table in tables.items():
            tmp = self.partial / f"{stem}.{chunk:06d}.parquet.tmp"
            pq.write_table(table, tmp)
            os.replace(tmp, self.partial / f"{stem}.{chunk:06d}.parquet")
        (self.partial / f"{chunk:06d}.ok").write_text(json.dumps(sorted(tables)))

    def finish(self, metadata: dict[str, str], csv: bool = False) -> dict[str, Path]:
        """Merge the parts of every stem into ``OUTDIR/<stem>.parquet`` atomically."""
        stems = sorted({p.name.split(".")[0] for p in self.partial.glob("*.parquet")})
        out: dict[str, Path] = {}
        for stem in stems:
            parts = sorted(self.partial.glob(f"{stem}.*.parquet"))
            schemas = [pq.read_schema(p) for p in parts]
            schema = pa.unify_schemas([s.remove_metadata() for s in schemas], promote_options="permissive")
            schema = schema.with_metadata({k.encode(): v.encode() for k, v in metadata.items()})
            final = self.out_dir / f"{stem}.parquet"
            tmp = self.out_dir / f".{stem}.parquet.tmp"
            with pq.ParquetWriter(tmp, schema) as writer:
                for p in parts:
                    pf = pq.ParquetFile(p)
                    for i in range(pf.num_row_groups):
                        writer.write_table(_conform(pf.read_row_group(i), schema))
            os.replace(tmp, final)
            out[stem] = final
            if csv:
                write_csv(final, self.out_dir / f"{stem}.csv")
        shutil.rmtree(self.partial, ignore_errors=True)
        return out


def _conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    cols = []
    for field in schema:
        if field.name in table.column_names:
            col = table.column(field.name)
            cols.append(col if col.type == field.type else col.cast(field.type))
        else:
            cols.append(pa.nulls(table.num_rows, field.type))
    return pa.Table.from_arrays(cols, schema=schema)


def write_csv(parquet_path: Path, csv_path: Path) -> None:
    """Stream a Parquet file into CSV, atomically."""
    import pyarrow.csv as pcsv

    tmp = csv_path.with_name(f".{csv_path.name}.tmp")
    pf = pq.ParquetFile(parquet_path)
    schema = pf.schema_arrow.remove_metadata()
    with pcsv.CSVWriter(tmp, schema) as w:
        for i in range(pf.num_row_groups):
            w.write_table(pf.read_row_group(i).replace_schema_metadata(None))
    os.replace(tmp, csv_path)


def write_skip_report(records: list[dict], path: Path) -> None:
    """The rows and conversations skipped under ``on_error="skip"``, as CSV (atomic)."""
    import pyarrow.csv as pcsv

    cols = ["source", "unit", "line", "conversation_id", "level", "reason"]
    table = pa.table({c: pa.array([r.get(c) for r in records],
                                  pa.int64() if c == "line" else pa.string()) for c in cols})
    tmp = path.with_name(f".{path.name}.tmp")
    pcsv.write_csv(table, tmp)
    os.replace(tmp, path)
