"""The output folder of a run: one run at a time, resumable parts, outputs replaced as one set.

Layout of ``OUTDIR`` while and after a run::

    OUTDIR/.fastmetrics.lock       held (flock) for the whole run: pid, host, start time
    OUTDIR/.partial/run.json       the run's id, parameters and input fingerprint
    OUTDIR/.partial/<stem>.<chunk>.parquet   finished chunks, one file per output table
    OUTDIR/.partial/<chunk>.ok     a chunk's record (JSON, written last: it marks the chunk
                                   done): tables, content digest, metadata, seconds
    OUTDIR/.staging/               the merged outputs of the finished run, before the swap
    OUTDIR/turns.parquet, conversations.parquet, <extra>.parquet, skipped.csv, *.csv
    OUTDIR/manifest.json           written last: run id, files, row counts, sizes

Rules:

* **One run per folder.** The lock is an advisory ``flock`` on ``.fastmetrics.lock``; the
  operating system releases it when the process dies, so a lock left by a killed run is
  detected (the flock can be taken) and taken over. A second run while one holds the lock
  fails at once, naming the other run's pid and start time.
* **Resume only the same work.** ``run.json`` holds the parameters and, per input file, its
  size and modification time; every finished chunk records a content digest of the chunk as
  it was read (BLAKE2b over the Arrow IPC stream of its columns). ``resume=True`` refuses, with
  the reason, when the parameters, an input's size or mtime, or a finished chunk's digest
  differ. Without ``resume`` an interrupted run's parts are never discarded silently: the run
  refuses and says to pass ``resume`` or ``restart``.
* **One set of outputs.** Every file of a run carries the run id in its Parquet metadata. The
  files are merged into ``.staging/``, the old ``manifest.json`` is removed, the files are
  renamed into place (files of an older run that this run does not write are removed), and the
  new ``manifest.json`` is written last. A reader that trusts the manifest (``fastmetrics
  study`` does) never mixes two runs; a kill during the swap is completed by ``resume``.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import socket
import sys
import time
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from ..columns import conform
from ..errors import FastMetricsError, InputError

__all__ = ["RunDir", "OutputBusyError", "write_part", "LAYOUTS", "corpus_digest", "input_fingerprint", "read_manifest",
           "check_output_set", "write_csv", "write_skip_report", "MANIFEST", "PARTIAL", "LOCK",
           "RUN_ID_KEY"]

PARTIAL = ".partial"
#: Output layouts (see :class:`RunDir`).
LAYOUTS = ("files", "dataset")
STAGING = ".staging"
LOCK = ".fastmetrics.lock"
MANIFEST = "manifest.json"
#: Parquet metadata key holding the run id.
RUN_ID_KEY = "fastmetrics.run_id"


class OutputBusyError(InputError):
    """The output folder is being written by another run."""


# ------------------------------------------------------------------------------------------
# fingerprints
# ------------------------------------------------------------------------------------------
def _stat_files(path: Path) -> list[Path]:
    if path.is_dir():  # a ConvoKit corpus directory
        return sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
    return [path]


def input_fingerprint(sources: Iterable) -> list[dict]:
    """Size and modification time of every input file (a directory: of each file in it)."""
    out = []
    for s in sources:
        p = Path(s)
        if not p.exists():
            continue
        for f in _stat_files(p):
            st = f.stat()
            out.append({"path": str(f.resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns})
    return out


def corpus_digest(corpus) -> str:
    """Content digest of a chunk as read: ids, offsets, roles, speakers, text, carried columns."""
    h = hashlib.blake2b(digest_size=16)
    h.update(corpus.conv_offsets.tobytes())
    h.update(corpus.role.tobytes())
    cols = {"conversation_id": corpus.conversation_id}
    arrays = {"speaker": corpus.speaker, "text": corpus.text,
              **{f"turn:{k}": v for k, v in corpus.turn_columns.items()}}
    for name, arr in [*cols.items(), *arrays.items(),
                      *((f"conv:{k}", v) for k, v in corpus.conv_columns.items())]:
        table = pa.table({name: arr})
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, table.schema) as w:
            w.write_table(table)
        h.update(name.encode())
        h.update(sink.getvalue())
    return h.hexdigest()


# ------------------------------------------------------------------------------------------
# the lock
# ------------------------------------------------------------------------------------------
class _Lock:
    def __init__(self, folder: Path, argv: list[str] | None):
        import fcntl

        self.path = folder / LOCK
        self.fh = open(self.path, "a+")
        try:
            fcntl.flock(self.fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self.fh.seek(0)
            try:
                other = json.loads(self.fh.read() or "{}")
            except json.JSONDecodeError:
                other = {}
            self.fh.close()
            raise OutputBusyError(
                f"output folder {str(folder)!r} is in use by another fastmetrics run (pid "
                f"{other.get('pid', '?')} on {other.get('host', '?')}, started "
                f"{other.get('started', '?')}); wait for it to finish or choose another -o") from None
        self.fh.seek(0)
        self.fh.truncate()
        self.fh.write(json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                                  "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                                  "argv": list(sys.argv if argv is None else argv)}))
        self.fh.flush()

    def release(self) -> None:
        import fcntl

        if self.fh.closed:
            return
        with contextlib.suppress(OSError):
            self.path.unlink()
        fcntl.flock(self.fh.fileno(), fcntl.LOCK_UN)
        self.fh.close()


def _check_folder(out_dir: Path) -> None:
    """A clear error when ``out_dir`` cannot be an output folder."""
    for parent in [out_dir, *out_dir.parents]:
        if parent.exists() and not parent.is_dir():
            what = "is a file" if parent == out_dir else f"lies under a file ({parent})"
            raise InputError(f"output folder {str(out_dir)!r} {what}; -o must name a folder")
        if parent.exists():
            break
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create the output folder {str(out_dir)!r}: {exc.strerror}") from None
    if not os.access(out_dir, os.W_OK | os.X_OK):
        raise InputError(f"output folder {str(out_dir)!r} is not writable")


def _json_write(path: Path, obj: Any) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(obj, sort_keys=True, default=str))
    os.replace(tmp, path)


def read_manifest(out_dir) -> dict | None:
    """The manifest of the last finished run in ``out_dir`` (None if there is none)."""
    p = Path(out_dir) / MANIFEST
    if not p.is_file():
        return None
    try:
        return json.loads(p.read_text())
    except (OSError, json.JSONDecodeError):
        return None


# ------------------------------------------------------------------------------------------
# the run folder
# ------------------------------------------------------------------------------------------
class RunDir:
    """The output folder of one run (see the module docstring).

    Parameters
    ----------
    out_dir : path
    params : dict
        Everything that determines the outputs (recorded; compared on resume).
    inputs : list of dict
        :func:`input_fingerprint` of the input files (empty for in-memory tables).
    resume, restart : bool
        Reuse the finished chunks of an interrupted run with the same parameters and inputs;
        or discard them.
    argv : list of str, optional
        Recorded in the lock for the error message of a concurrent run.
    layout : {"files", "dataset"}
        ``files``: one ``<stem>.parquet`` per table, merged at the end; ``dataset``: the
        chunks' parts stay separate files, ``<stem>/part-<chunk>.parquet``, listed in the
        manifest, so that outputs larger than memory are never assembled in one process.
    """

    def __init__(self, out_dir, params: dict, inputs: list[dict], *, resume: bool = False,
                 restart: bool = False, argv: list[str] | None = None, layout: str = "files"):
        if layout not in LAYOUTS:
            raise InputError(f"layout must be one of {', '.join(LAYOUTS)}, got {layout!r}")
        self.layout = layout
        self.out_dir = Path(out_dir)
        _check_folder(self.out_dir)
        self.partial = self.out_dir / PARTIAL
        self.staging = self.out_dir / STAGING
        self._lock = _Lock(self.out_dir, argv)
        try:
            self._open(params, inputs, resume, restart)
        except BaseException:
            self._lock.release()
            raise

    # -------------------------------------------------------------- opening / resuming
    def _open(self, params: dict, inputs: list[dict], resume: bool, restart: bool) -> None:
        key = json.loads(json.dumps(params, sort_keys=True, default=str))
        run_json = self.partial / "run.json"
        self.resumed_chunks = 0
        if self.partial.exists() and not restart:
            old = None
            if run_json.is_file():
                with contextlib.suppress(OSError, json.JSONDecodeError):
                    old = json.loads(run_json.read_text())
            n_done = len(list(self.partial.glob("*.ok")))
            staged = (self.staging / MANIFEST).is_file()
            if old is None or (n_done == 0 and not staged):  # nothing finished: nothing to keep
                shutil.rmtree(self.partial)
            elif not resume:
                what = "a finished run whose outputs were being swapped in" if staged else \
                    f"{max(n_done, 0)} finished chunk(s) of an interrupted run"
                raise InputError(f"output folder {str(self.out_dir)!r} holds {what} (started "
                                 f"{old.get('started', '?')}); rerun with --resume to continue it, "
                                 "or --restart to discard it")
            else:
                self._check_same_work(old, key, inputs)
                self.run_id = old["run_id"]
                self.started = old.get("started")
                self.record = old
                return
        if self.partial.exists():
            shutil.rmtree(self.partial)
        if self.staging.exists():
            shutil.rmtree(self.staging)
        self.partial.mkdir()
        self.run_id = uuid.uuid4().hex
        self.started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        self.record = {"run_id": self.run_id, "started": self.started, "params": key,
                       "inputs": inputs}
        _json_write(run_json, self.record)

    def _check_same_work(self, old: dict, key: dict, inputs: list[dict]) -> None:
        if old.get("params") != key:
            a, b = old.get("params") or {}, key
            diff = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
            raise InputError(f"cannot resume in {str(self.out_dir)!r}: the parameters differ from the "
                             f"interrupted run's ({', '.join(diff)}); rerun without --resume and "
                             "with --restart to start over")
        before = {d["path"]: d for d in old.get("inputs") or []}
        now = {d["path"]: d for d in inputs}
        if set(before) != set(now):
            raise InputError(f"cannot resume in {str(self.out_dir)!r}: the input files differ from "
                             "the interrupted run's; use --restart to start over")
        for path, d in now.items():
            b = before[path]
            if (b["size"], b["mtime_ns"]) != (d["size"], d["mtime_ns"]):
                raise InputError(f"cannot resume: input {path!r} changed since the interrupted run "
                                 f"(size {b['size']} -> {d['size']} bytes, modified "
                                 f"{time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(d['mtime_ns'] / 1e9))}); "
                                 "use --restart to score it from the start")

    # -------------------------------------------------------------- chunks
    def _chunk_json(self, chunk: int) -> Path:
        return self.partial / f"{chunk:06d}.ok"

    def done(self, chunk: int, digest: str) -> dict | None:
        """The record of chunk ``chunk`` if an earlier run finished it (its content verified)."""
        p = self._chunk_json(chunk)
        if not p.is_file():
            return None
        rec = json.loads(p.read_text())
        if rec.get("digest") != digest:
            raise InputError(f"cannot resume in {str(self.out_dir)!r}: chunk {chunk} of the input "
                             "differs from what the interrupted run read (the input was edited); "
                             "use --restart to score it from the start")
        self.resumed_chunks += 1
        return rec

    def part_path(self, stem: str, chunk: int) -> Path:
        """Where chunk ``chunk`` of table ``stem`` is written while the run is going."""
        if self.layout == "dataset":
            return self.partial / stem / f"part-{chunk:06d}.parquet"
        return self.partial / f"{stem}.{chunk:06d}.parquet"

    def write_chunk(self, chunk: int, tables: dict[str, pa.Table], record: dict) -> None:
        """Write a finished chunk's tables, then its record (the record marks it done)."""
        for stem, table in tables.items():
            write_part(table, self.part_path(stem, chunk), self.run_id)
        self.record_chunk(chunk, {**record, "tables": sorted(tables)})

    def record_chunk(self, chunk: int, record: dict) -> None:
        """Mark chunk ``chunk`` done (its parts already written, e.g. by a worker)."""
        _json_write(self._chunk_json(chunk), record)

    def chunk_records(self) -> list[dict]:
        out = []
        for p in sorted(self.partial.glob("*.ok")):
            out.append(json.loads(p.read_text()))
        return out

    # -------------------------------------------------------------- finishing
    def finish(self, metadata: dict[str, str], *, csv: bool = False,
               skipped: list[dict] | None = None) -> dict[str, Path]:
        """Merge the parts into ``.staging/``, swap them into the folder, write the manifest.

        ``skipped`` (the records of ``on_error="skip"``; None when not skipping) becomes
        ``skipped.csv`` of the set. Returns stem -> final path.
        """
        meta = {**metadata, RUN_ID_KEY: self.run_id}
        if not (self.staging / MANIFEST).is_file():
            if self.staging.exists():
                shutil.rmtree(self.staging)
            self.staging.mkdir()
            files = self._merge(meta, csv)
            if skipped is not None:
                write_skip_report(skipped, self.staging / "skipped.csv")
                files["skipped.csv"] = {"stem": "skipped", "rows": len(skipped)}
            manifest = {"run_id": self.run_id, "started": self.started,
                        "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                        "files": {name: {**info, "bytes": (self.staging / name).stat().st_size}
                                  for name, info in files.items()},
                        "metadata": meta}
            _json_write(self.staging / MANIFEST, manifest)
        return self._swap()

    def _merge(self, meta: dict[str, str], csv: bool) -> dict[str, dict]:
        if self.layout == "dataset":
            return self._stage_dataset(csv)
        stems = sorted({p.name.split(".")[0] for p in self.partial.glob("*.parquet")})
        files: dict[str, dict] = {}
        for stem in stems:
            parts = sorted(self.partial.glob(f"{stem}.*.parquet"))
            schemas = [pq.read_schema(p) for p in parts]
            schema = pa.unify_schemas([s.remove_metadata() for s in schemas], promote_options="permissive")
            schema = schema.with_metadata({k.encode(): v.encode() for k, v in meta.items()})
            target = self.staging / f"{stem}.parquet"
            rows = 0
            with pq.ParquetWriter(target, schema) as writer:
                for p in parts:
                    pf = pq.ParquetFile(p)
                    for i in range(pf.num_row_groups):
                        rg = conform(pf.read_row_group(i), schema)
                        rows += rg.num_rows
                        writer.write_table(rg)
            files[target.name] = {"stem": stem, "rows": rows}
            if csv:
                write_csv(target, self.staging / f"{stem}.csv")
                files[f"{stem}.csv"] = {"stem": f"{stem}_csv", "rows": rows}
        return files

    def _stage_dataset(self, csv: bool) -> dict[str, dict]:
        """Dataset layout: the part folders move into ``.staging/`` as they are (no merge)."""
        files: dict[str, dict] = {}
        for folder in sorted(p for p in self.partial.iterdir() if p.is_dir()):
            os.replace(folder, self.staging / folder.name)
            for part in sorted((self.staging / folder.name).glob("part-*.parquet")):
                name = f"{folder.name}/{part.name}"
                files[name] = {"stem": folder.name, "rows": pq.read_metadata(part).num_rows}
                if csv:  # beside the Parquet folder, so that the folder stays one dataset
                    csv_dir = self.staging / f"{folder.name}_csv"
                    csv_dir.mkdir(exist_ok=True)
                    write_csv(part, csv_dir / f"{part.stem}.csv")
                    files[f"{folder.name}_csv/{part.stem}.csv"] = {"stem": f"{folder.name}_csv",
                                                                   "rows": files[name]["rows"]}
        return files

    def _swap(self) -> dict[str, Path]:
        manifest = json.loads((self.staging / MANIFEST).read_text())
        old = read_manifest(self.out_dir)
        new_top = list(dict.fromkeys(name.split("/")[0] for name in manifest["files"]))
        with contextlib.suppress(FileNotFoundError):
            (self.out_dir / MANIFEST).unlink()  # from here until the new manifest: in transition
        trash = self.out_dir / f".old-{manifest['run_id']}"
        for top in new_top:
            src, dst = self.staging / top, self.out_dir / top
            if not src.exists():  # moved already (a swap completed by resume)
                continue
            if dst.is_dir():  # an older run's part folder
                trash.mkdir(exist_ok=True)
                os.replace(dst, trash / top)
            os.replace(src, dst)
        stale = {name.split("/")[0] for name in (old or {}).get("files", {})} - set(new_top)
        for p in self.out_dir.glob("*.parquet"):
            if p.name not in new_top and _run_id_of(p) not in (None, manifest["run_id"]):
                stale.add(p.name)
        for name in stale:  # outputs of an older run that this run does not write
            target = self.out_dir / name
            if target.is_dir():
                shutil.rmtree(target, ignore_errors=True)
            else:
                with contextlib.suppress(FileNotFoundError):
                    target.unlink()
        os.replace(self.staging / MANIFEST, self.out_dir / MANIFEST)
        for leftover in (trash, self.staging, self.partial):
            shutil.rmtree(leftover, ignore_errors=True)
        out: dict[str, Path] = {}
        for name, info in manifest["files"].items():
            stem = info["stem"]
            out[stem] = self.out_dir / (name.split("/")[0] if "/" in name else name)
        return out

    def close(self) -> None:
        """Release the folder; an unfinished run that finished no chunk leaves nothing behind."""
        if self.partial.is_dir() and not any(self.partial.glob("*.ok")) \
                and not (self.staging / MANIFEST).is_file():
            shutil.rmtree(self.partial, ignore_errors=True)
        self._lock.release()

    def __enter__(self) -> RunDir:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def write_part(table: pa.Table, path: Path, run_id: str) -> None:
    """Write one part atomically, tagged with the run id in its Parquet metadata."""
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = dict(table.schema.metadata or {})
    meta[RUN_ID_KEY.encode()] = run_id.encode()
    tmp = path.with_name(f".{path.name}.tmp")
    pq.write_table(table.replace_schema_metadata(meta), tmp)
    os.replace(tmp, path)


def _run_id_of(path: Path) -> str | None:
    try:
        meta = pq.read_schema(path).metadata or {}
    except (pa.ArrowInvalid, OSError):
        return None
    v = meta.get(RUN_ID_KEY.encode())
    return v.decode() if v else None


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
    table = pa.table({c: pa.array([None if r.get(c) is None else (r.get(c) if c == "line" else str(r.get(c)))
                                   for r in records], pa.int64() if c == "line" else pa.string())
                      for c in cols})
    tmp = path.with_name(f".{path.name}.tmp")
    pcsv.write_csv(table, tmp)
    os.replace(tmp, path)


def check_output_set(out_dir) -> dict:
    """The manifest of ``out_dir`` after checking that its files form one run's set.

    Raises
    ------
    FastMetricsError
        No manifest (an unfinished or interrupted swap), or a listed file is missing or
        belongs to another run.
    """
    out_dir = Path(out_dir)
    manifest = read_manifest(out_dir)
    if manifest is None:
        raise FastMetricsError(f"{str(out_dir)!r} holds no finished run (manifest.json missing: the run "
                               "was interrupted while writing its outputs; rerun it with --resume)")
    for name in manifest["files"]:
        p = out_dir / name
        if not p.is_file():
            raise FastMetricsError(f"{str(p)!r} listed in the manifest is missing")
        if name.endswith(".parquet") and _run_id_of(p) != manifest["run_id"]:
            raise FastMetricsError(f"{str(p)!r} belongs to another run than the manifest's")
    return manifest
