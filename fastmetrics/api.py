"""The public Python API: ``load`` a corpus and ``score`` it with metric families.

``score`` mirrors ``fastmetrics score``: both validate their arguments here, once (families,
options, backend, threads, chunking), then hand the run to an engine
(:mod:`fastmetrics.engine`). With ``out_dir`` the outputs are written as one set
(``turns.parquet``, ``conversations.parquet``, extra tables, ``manifest.json``); the returned
tables are then read from those files when first accessed, so a large run is never held in
memory. Without ``out_dir`` the tables are returned as Arrow tables (zero-copy to pandas with
``.to_pandas()`` and to polars with ``polars.from_arrow``).
"""
from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from . import backends, registry
from ._threads import resolve_threads
from ._version import __version__
from .corpus import Corpus
from .engine.local import LocalRun, run_local
from .engine.plan import Plan, warn_renamed
from .errors import InputError
from .io import TableSpec, iter_corpus, load
from .io.problems import Problems
from .options import Boolean, Choice, Integer
from .progress import Progress

__all__ = ["load", "score", "ScoreResult", "DEFAULT_METRICS", "DEFAULT_CHUNK_TURNS", "demo_path"]

#: Families computed when ``metrics`` is not given (``basic`` is always included).
DEFAULT_METRICS = ("basic",)
#: Turns per chunk when reading a file in chunks.
DEFAULT_CHUNK_TURNS = 250_000
#: Engines that map the per-chunk scoring (see :mod:`fastmetrics.engine`).
ENGINES = ("local", "dask")


def demo_path() -> Path:
    """Path of the demo corpus shipped inside the package (counselling-style, written for it)."""
    from .config import DATA_DIR

    return DATA_DIR / "demo" / "demo_corpus.jsonl"


class ScoreResult:
    """What :func:`score` returns.

    Attributes
    ----------
    turns, conversations : pyarrow.Table
        With an output folder, read from the written files on first access (never held in
        memory otherwise).
    tables : dict of str -> pyarrow.Table
        Extra tables (e.g. ``alliance_items``), likewise.
    skipped : list of dict
        Rows and conversations dropped under ``on_error="skip"``.
    files : dict of str -> Path
        Where the outputs went (empty without an output folder).
    metadata : dict of str -> str
        The run's metadata (also in every output file).
    """

    def __init__(self, *, metadata: dict[str, str], skipped: list[dict], files: dict[str, Path],
                 tables: dict[str, pa.Table] | None = None):
        self.metadata = metadata
        self.skipped = skipped
        self.files = files
        self._tables = dict(tables or {})

    def _table(self, stem: str) -> pa.Table:
        if stem not in self._tables:
            import pyarrow.parquet as pq

            self._tables[stem] = pq.read_table(self.files[stem])
        return self._tables[stem]

    @property
    def turns(self) -> pa.Table:
        return self._table("turns")

    @property
    def conversations(self) -> pa.Table:
        return self._table("conversations")

    @property
    def tables(self) -> dict[str, pa.Table]:
        stems = [s for s in self.files if s not in ("turns", "conversations", "skipped")
                 and str(self.files[s]).endswith(".parquet")]
        stems += [s for s in self._tables if s not in ("turns", "conversations") and s not in stems]
        return {s: self._table(s) for s in stems}

    def __repr__(self) -> str:
        return (f"ScoreResult({self.metadata.get('fastmetrics.n_conversations')} conversations, "
                f"{self.metadata.get('fastmetrics.n_turns')} turns, files={sorted(self.files)})")


@dataclass
class _Source:
    """The input of a run: chunks to score, what to record about it, what is known of its size."""

    chunks: Any
    names: list[str]
    files: list[str] = field(default_factory=list)
    total_turns: int | None = None


def _source(data, *, format: str, spec: TableSpec, problems: Problems,
            chunk_turns: int | None) -> _Source:
    if isinstance(data, Corpus):
        chunks = data.chunks(chunk_turns) if chunk_turns else iter([data])
        return _Source(chunks, [data.source], total_turns=data.n_turns)
    is_path = isinstance(data, (str, os.PathLike)) or (
        isinstance(data, (list, tuple)) and data and all(isinstance(d, (str, os.PathLike)) for d in data))
    if is_path and isinstance(data, (str, os.PathLike)):
        from .io.dataset import dataset_turns, is_dataset, iter_dataset

        if is_dataset(data):  # one chunk per partition of a `fastmetrics partition` dataset
            given = {k: v for k, v in spec.__dict__.items() if v not in (None, [], ())}
            return _Source(iter_dataset(data, problems=problems, spec_overrides=given), [str(data)],
                           files=[str(data)], total_turns=dataset_turns(data))
    ct = chunk_turns if chunk_turns is not None else (DEFAULT_CHUNK_TURNS if is_path else None)
    if ct is not None and ct <= 0:
        ct = None
    chunks = iter_corpus(data, format=format, spec=spec, problems=problems, chunk_turns=ct)
    if not is_path:
        n = getattr(data, "num_rows", None)
        if n is None:
            try:
                n = len(data)
            except TypeError:
                n = None
        return _Source(chunks, ["<table>"], total_turns=n)
    paths = [data] if isinstance(data, (str, os.PathLike)) else list(data)
    names = [str(p) for p in paths]
    return _Source(chunks, names, files=names, total_turns=_parquet_rows(paths, format))


def _parquet_rows(paths, format: str) -> int | None:
    """Total rows when every input is a Parquet file (from the footers; nothing else is read)."""
    import pyarrow.parquet as pq

    total = 0
    for p in paths:
        p = Path(p)
        if not (format == "parquet" or (format == "auto" and p.suffix.lower() in (".parquet", ".pq"))):
            return None
        try:
            total += pq.read_metadata(p).num_rows
        except (OSError, pa.ArrowInvalid):
            return None
    return total


def _check_flags(out_dir, **flags) -> None:
    for name, value in flags.items():
        Boolean().coerce(value, name)
    if out_dir is None:
        for name in ("resume", "restart", "csv"):
            if flags.get(name):
                raise InputError(f"{name}=True needs an output folder (out_dir / -o)")
    if flags.get("resume") and flags.get("restart"):
        raise InputError("resume and restart exclude each other")


def score(data, *, metrics: str | Sequence[str] | None = None, out_dir: str | Path | None = None,
          format: str = "auto", on_error: str = "fail", n_threads: int | None = None,
          backend: str = "auto", chunk_turns: int | None = None, csv: bool = False,
          keep_text: bool = True, resume: bool = False, restart: bool = False,
          progress: bool = False, conversation: str | None = None, order: str | None = None,
          speaker: str | None = None, text: str | None = None, role_column: str | None = None,
          role_map=None, conversation_columns: Sequence[str] | None = None, duplicates: str = "fail",
          layout: str = "files", engine: str = "local", client=None, scheduler: str | None = None,
          workers: int | None = None, conversation_table: str | Path | None = None,
          join_column: str | None = None, **options) -> ScoreResult:
    """Score a corpus with metric families.

    Parameters
    ----------
    data : path, list of paths, Corpus, pyarrow.Table, pandas or polars DataFrame
        Input corpus (see :func:`fastmetrics.load` for formats and column options).
    metrics : str or sequence of str, optional
        Metric families (``"lsm"``, ``"lsm,rlsm"``, ``["lsm", "rlsm"]`` or ``"all"``; see
        ``fastmetrics info --metrics``); ``basic`` is always included.
    out_dir : path, optional
        Where to write ``turns.parquet``, ``conversations.parquet`` (and extra tables), as one
        set with ``manifest.json`` written last. Finished chunks are kept in ``.partial/``
        until then; ``resume=True`` reuses them after an interruption (only when the
        parameters and the inputs are the same), ``restart=True`` discards them. One run at a
        time per folder.
    conversation_table, join_column : path, str, optional
        A per-conversation CSV/Parquet table (outcomes, questionnaires) whose ``join_column``
        holds the conversation id; its other columns are added to ``conversations.parquet``
        (nulls where a conversation has no row; counts in the metadata key
        ``fastmetrics.conversation_table`` and a warning).
    format, on_error, conversation, order, speaker, text, role_column, role_map,
    conversation_columns, duplicates
        As in :func:`fastmetrics.load`. With ``on_error="skip"`` the skipped rows are returned
        in ``result.skipped`` and written to ``OUT/skipped.csv``.
    n_threads : int, optional
        None respects the environment, -1 uses all cores.
    backend : {"auto", "numba", "c", "cuda"}
        ``auto``: the fastest available backend per operation. A named backend must be
        available (else BackendUnavailableError with the reason); operations it does not
        implement run on the fastest available one. The metadata records what ran.
    chunk_turns : int, optional
        Turns per chunk (default 250,000 for files; 0: no chunking; memory is bounded by one chunk).
    csv : bool
        Also write CSV copies of the output tables.
    keep_text : bool
        Keep the turn text in ``turns.parquet``.
    progress : bool
        Draw a progress bar on stderr.
    layout : {"files", "dataset"}
        ``files``: ``OUT/turns.parquet`` ...; ``dataset``: ``OUT/turns/part-*.parquet`` ...
        (one part per chunk, never merged: outputs larger than memory), listed in
        ``OUT/manifest.json``.
    engine : {"local", "dask"}
        ``dask`` maps the same per-chunk scoring over a Dask cluster: ``client`` (a
        ``distributed.Client``), or ``scheduler`` (an address), or a local cluster of
        ``workers`` single-threaded processes. Results are identical to the local engine.
    **options
        Options of the metric families (e.g. ``window=8``, ``nclid_k=3``), validated as the
        CLI validates its flags.

    Returns
    -------
    ScoreResult

    Examples
    --------
    >>> import fastmetrics as fm
    >>> res = fm.score(fm.api.demo_path())
    >>> res.conversations.num_rows > 10
    True
    """
    requested = registry.parse_metrics(DEFAULT_METRICS if metrics is None else metrics)
    families = registry.resolve(requested)
    backends.check_requested(backend)
    opts = registry.validate_options(families, options)
    n = resolve_threads(n_threads)
    if chunk_turns is not None:
        chunk_turns = Integer(low=0).coerce(chunk_turns, "chunk_turns")
    _check_flags(out_dir, csv=csv, keep_text=keep_text, resume=resume, restart=restart,
                 progress=progress)
    from .engine.outputs import LAYOUTS

    Choice(LAYOUTS).coerce(layout, "layout")
    Choice(ENGINES).coerce(engine, "engine")
    if layout == "dataset" and out_dir is None:
        raise InputError("layout='dataset' needs an output folder (out_dir / -o)")
    if engine != "dask" and (client is not None or scheduler is not None or workers is not None):
        raise InputError("client, scheduler and workers are options of engine='dask'")
    if workers is not None:
        workers = Integer(low=1).coerce(workers, "workers")
    problems = Problems(on_error)
    spec = TableSpec(conversation=conversation, order=order, speaker=speaker, text=text,
                     role_column=role_column, role_map=role_map,
                     conversation_columns=list(conversation_columns or []), duplicates=duplicates)
    src = _source(data, format=format, spec=spec, problems=problems, chunk_turns=chunk_turns)
    table = _conversation_table(src, conversation_table, join_column)
    params = {"metrics": requested, "options": opts, "format": format, "on_error": on_error,
              "sources": src.names, "spec": spec.__dict__, "keep_text": keep_text,
              "chunk_turns": chunk_turns, "backend": backend, "version": __version__,
              "layout": layout}
    if table is not None:
        params["conversation_table"] = [table.path, table.join_column]
    plan = Plan(families=families, options=opts, n_threads=n, backend=backend, keep_text=keep_text)
    position = None
    if progress and src.total_turns is None and src.files:  # text inputs: progress in bytes read
        from .engine.position import InputPosition

        position = InputPosition(src.files)
    bar = Progress(enabled=progress, total=src.total_turns if position is None else position.total,
                   unit="turns" if position is None else "bytes")
    run_dir = None
    failed = True
    try:
        if out_dir is not None:
            from .engine.outputs import RunDir, input_fingerprint

            run_dir = RunDir(out_dir, params, input_fingerprint(
                list(src.files) + ([table.path] if table is not None else [])), resume=resume,
                             restart=restart, layout=layout)
        if engine == "dask":
            from .engine.dask import run_dask

            run = run_dask(plan, src.chunks, run_dir=run_dir, progress=bar, position=position,
                           client=client, scheduler=scheduler, workers=workers)
        else:
            run = run_local(plan, src.chunks, run_dir=run_dir, progress=bar, position=position)
        if run.n_conversations == 0:
            where = f" ({problems.records[0]['source']})" if problems.records else ""
            raise InputError(f"no valid conversations to score{where}")
        warn_renamed(run.renamed)
        metadata = _metadata(run, families, params, problems)
        if table is not None:
            metadata["fastmetrics.conversation_table"] = json.dumps(table.record(), sort_keys=True)
            table.warn()
        if run_dir is None:
            result = ScoreResult(metadata=metadata, skipped=list(problems.records), files={},
                                 tables=_concat(run, metadata))
        else:
            files = run_dir.finish(metadata, csv=csv,
                                   skipped=list(problems.records) if on_error == "skip" else None)
            result = ScoreResult(metadata=metadata, skipped=list(problems.records), files=files)
        failed = False
        return result
    finally:
        bar.close(clear=failed)
        if run_dir is not None:
            run_dir.close()


def _conversation_table(src: _Source, path, join_column):
    """Join ``--conversation-table`` onto every chunk's conversation columns as it is read
    (:mod:`fastmetrics.io.conversation_table`); None without a table."""
    if path is None:
        if join_column:
            raise InputError("--join-column needs --conversation-table FILE")
        return None
    from .io.conversation_table import read_conversation_table

    table = read_conversation_table(path, join_column)
    chunks = src.chunks

    def joined():
        for chunk in chunks:
            for name, col in table.take(chunk.conversation_id.to_pylist()).items():
                if name in chunk.conv_columns:
                    raise InputError(f"conversation table {table.path!r}: column {name!r} is also "
                                     "a conversation column of the input")
                chunk.conv_columns[name] = col
            yield chunk

    src.chunks = joined()
    return table


def _metadata(run: LocalRun, families, params: dict, problems: Problems) -> dict[str, str]:
    meta = {
        "fastmetrics.version": __version__,
        "fastmetrics.metrics": ",".join(f.name for f in families),
        "fastmetrics.params": json.dumps(params, sort_keys=True, default=str),
        "fastmetrics.format": str(run.format),
        "fastmetrics.n_conversations": str(run.n_conversations),
        "fastmetrics.n_turns": str(run.n_turns),
        "fastmetrics.n_skipped": str(len(problems.records)),
        "fastmetrics.n_chunks": str(run.n_chunks),
        "fastmetrics.resumed_chunks": str(run.resumed_chunks),
        "fastmetrics.seconds": f"{run.compute_seconds:.3f}",
        "fastmetrics.session_seconds": f"{run.session_seconds:.3f}",
        "fastmetrics.backends": json.dumps(run.ran, sort_keys=True),
    }
    for fam, ops in run.ran.items():
        meta[f"fastmetrics.{fam}.backend"] = ",".join(sorted(set(ops.values())))
    meta.update(run.metadata)
    return meta


def _concat(run: LocalRun, metadata: dict[str, str]) -> dict[str, pa.Table]:
    meta_b = {k.encode(): v.encode() for k, v in metadata.items()}
    out = {}
    for stem, parts in run.parts.items():
        t = pa.concat_tables(parts, promote_options="permissive")
        out[stem] = t.replace_schema_metadata(meta_b) if stem in ("turns", "conversations") else t
    return out
