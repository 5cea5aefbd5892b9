"""The public Python API: ``load`` a corpus and ``score`` it with metric families.

``score`` mirrors ``fastmetrics score``: it reads the input in chunks of whole conversations,
runs the requested metric families on each chunk, writes ``turns.parquet`` and
``conversations.parquet`` (plus any extra tables) when ``out_dir`` is given, and returns the
tables as Arrow tables (zero-copy to pandas with ``.to_pandas()`` and to polars with
``polars.from_arrow``).
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pyarrow as pa

from . import registry
from ._threads import resolve_threads, threads
from ._version import __version__
from .corpus import CLIENT, ROLE_NAMES, THERAPIST, Corpus
from .errors import InputError
from .io import TableSpec, iter_corpus, load
from .io.problems import Problems

__all__ = ["load", "score", "ScoreResult", "DEFAULT_METRICS", "demo_path"]

#: Families computed when ``metrics`` is not given.
DEFAULT_METRICS = ("basic",)
#: Turns per chunk when reading a file in chunks.
DEFAULT_CHUNK_TURNS = 250_000


def demo_path() -> Path:
    """Path of the demo corpus shipped inside the package (counselling-style, written for it)."""
    return Path(__file__).resolve().parent / "data" / "demo" / "demo_corpus.jsonl"


@dataclass
class ScoreResult:
    """What :func:`score` returns: Arrow tables plus what was skipped and where files went."""

    turns: pa.Table
    conversations: pa.Table
    tables: dict[str, pa.Table] = field(default_factory=dict)
    skipped: list[dict] = field(default_factory=list)
    files: dict[str, Path] = field(default_factory=dict)
    metadata: dict[str, str] = field(default_factory=dict)


def _as_arrow(values: Any) -> pa.Array:
    if isinstance(values, pa.ChunkedArray):
        return values.combine_chunks()
    if isinstance(values, pa.Array):
        return values
    arr = np.asarray(values)
    if arr.dtype.kind == "f":
        return pa.array(arr, from_pandas=False)
    return pa.array(arr)


def _base_tables(corpus: Corpus, keep_text: bool) -> tuple[dict[str, pa.Array], dict[str, pa.Array]]:
    ci = corpus.conv_index
    role_dict = pa.DictionaryArray.from_arrays(pa.array(corpus.role, pa.int8()), pa.array(ROLE_NAMES))
    turns = {
        "conversation_id": corpus.conversation_id.take(pa.array(ci)),
        "turn": pa.array(corpus.position, pa.int32()),
        "role": role_dict.dictionary_decode(),
        "speaker": corpus.speaker,
    }
    if keep_text:
        turns["text"] = corpus.text
    lens = np.diff(corpus.conv_offsets)
    n_client = np.bincount(ci[corpus.role == CLIENT], minlength=corpus.n_conversations)
    n_ther = np.bincount(ci[corpus.role == THERAPIST], minlength=corpus.n_conversations)
    convs = {
        "conversation_id": corpus.conversation_id,
        "n_turns": pa.array(lens.astype(np.int32)),
        "n_client_turns": pa.array(n_client.astype(np.int32)),
        "n_therapist_turns": pa.array(n_ther.astype(np.int32)),
    }
    return turns, convs


def _check_options(families: list, options: dict[str, Any]) -> dict[str, Any]:
    known: dict[str, registry.Option] = {}
    for fam in families:
        for opt in fam.options:
            known.setdefault(opt.name, opt)
    all_known = registry.all_options()
    out = {}
    for name, value in options.items():
        if name not in all_known:
            raise InputError(f"unknown option {name!r}; options of the known metric families: "
                             f"{', '.join(sorted(all_known)) or 'none'}")
        opt = all_known[name]
        if opt.choices is not None and value is not None and value not in opt.choices:
            raise InputError(f"option {name}={value!r}: expected one of {opt.choices}")
        out[name] = value
    for name, opt in known.items():
        out.setdefault(name, opt.default)
    return out


def score_corpus(corpus: Corpus, families: list, ctx: registry.Context, keep_text: bool = True
                 ) -> tuple[pa.Table, pa.Table, dict[str, pa.Table], dict[str, str]]:
    """Score one chunk: base columns, carried columns, then every family in order."""
    turns, convs = _base_tables(corpus, keep_text)
    for name, col in corpus.turn_columns.items():
        turns.setdefault(name, col)
    for name, col in corpus.conv_columns.items():
        convs.setdefault(name, col)
    ctx.columns = dict(corpus.turn_columns)
    ctx.conv_columns = dict(corpus.conv_columns)
    extra: dict[str, pa.Table] = {}
    meta: dict[str, str] = {}
    for fam in families:
        res = fam.compute(corpus, ctx)
        for name, values in res.turns.items():
            arr = _as_arrow(registry.as_numpy_or_arrow(values, corpus.n_turns, f"{fam.name}.{name}"))
            turns[name] = arr
            ctx.columns[name] = values
        for name, values in res.conversations.items():
            arr = _as_arrow(registry.as_numpy_or_arrow(values, corpus.n_conversations, f"{fam.name}.{name}"))
            convs[name] = arr
            ctx.conv_columns[name] = values
        extra.update(res.tables)
        meta.update(res.metadata)
    return pa.table(turns), pa.table(convs), extra, meta


def score(data, *, metrics: Sequence[str] | None = None, out_dir: str | Path | None = None,
          format: str = "auto", on_error: str = "fail", n_threads: int | None = None,
          backend: str = "auto", chunk_turns: int | None = None, csv: bool = False,
          keep_text: bool = True, resume: bool = False, progress: bool = False,
          conversation: str | None = None, order: str | None = None, speaker: str | None = None,
          text: str | None = None, role_column: str | None = None, role_map=None,
          conversation_columns: Sequence[str] | None = None, **options) -> ScoreResult:
    """Score a corpus with metric families.

    Parameters
    ----------
    data : path, list of paths, Corpus, pyarrow.Table, pandas or polars DataFrame
        Input corpus (see :func:`fastmetrics.load` for formats and column options).
    metrics : sequence of str, optional
        Metric families (see ``fastmetrics info --metrics``); ``basic`` is always included.
    out_dir : path, optional
        Where to write ``turns.parquet``, ``conversations.parquet`` (and extra tables). Files
        appear atomically when the run finishes; finished chunks are kept in ``.partial/``
        until then (``resume=True`` reuses them after an interruption).
    format, on_error, conversation, order, speaker, text, role_column, role_map,
    conversation_columns
        As in :func:`fastmetrics.load`. With ``on_error="skip"`` the skipped rows are returned
        in ``result.skipped`` and written to ``OUT/skipped.csv``.
    n_threads : int, optional
        None respects the environment, -1 uses all cores.
    backend : {"auto", "numba", "c", "cuda"}
    chunk_turns : int, optional
        Turns per chunk (default 250,000 for files; memory is bounded by one chunk).
    csv : bool
        Also write CSV copies of the output tables.
    keep_text : bool
        Keep the turn text in ``turns.parquet``.
    **options
        Options of the metric families (e.g. ``window=8``, ``k=3``).

    Returns
    -------
    ScoreResult
        ``.turns`` and ``.conversations`` as pyarrow Tables, ``.skipped``, ``.files``.

    Examples
    --------
    >>> import fastmetrics as fm
    >>> res = fm.score(fm.api.demo_path())
    >>> res.conversations.num_rows > 10
    True
    """
    requested = list(dict.fromkeys(["basic", *(metrics or DEFAULT_METRICS)]))
    families = registry.resolve(requested)
    if backend not in ("auto", "numba", "c", "cuda"):
        raise InputError(f"backend must be auto, numba, c or cuda, got {backend!r}")
    opts = _check_options(families, options)
    n = resolve_threads(n_threads)
    ctx = registry.Context(options=opts, n_threads=n, backend=backend)
    problems = Problems(on_error)
    spec = TableSpec(conversation=conversation, order=order, speaker=speaker, text=text,
                     role_column=role_column, role_map=role_map,
                     conversation_columns=list(conversation_columns or []))
    if isinstance(data, Corpus):
        chunks = data.chunks(chunk_turns) if chunk_turns else iter([data])
        sources = [data.source]
    else:
        is_path = isinstance(data, (str, Path, list, tuple))
        ct = chunk_turns if chunk_turns is not None else (DEFAULT_CHUNK_TURNS if is_path else None)
        if ct is not None and ct <= 0:
            ct = None
        chunks = iter_corpus(data, format=format, spec=spec, problems=problems, chunk_turns=ct)
        sources = [str(p) for p in data] if isinstance(data, (list, tuple)) else \
            [str(data) if is_path else "<table>"]
    params = {"metrics": requested, "options": opts, "format": format, "on_error": on_error,
              "sources": sources, "spec": spec.__dict__, "keep_text": keep_text,
              "chunk_turns": chunk_turns, "backend": backend}
    writer = None
    if out_dir is not None:
        from .outputs import PartWriter

        writer = PartWriter(out_dir, params, resume=resume)
    turn_parts, conv_parts, extra_parts = [], [], {}
    run_meta: dict[str, str] = {}
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(unit=" turns", desc="scoring", dynamic_ncols=True)
    t0 = time.perf_counter()
    n_turns = n_conv = 0
    fmt_seen = None
    with threads(n):
        for i, chunk in enumerate(chunks):
            fmt_seen = fmt_seen or chunk.format
            if chunk.n_conversations == 0:
                continue
            if writer is not None and writer.done(i):
                n_turns += chunk.n_turns
                n_conv += chunk.n_conversations
                if bar:
                    bar.update(chunk.n_turns)
                continue
            t_tab, c_tab, extra, meta = score_corpus(chunk, families, ctx, keep_text)
            run_meta.update(meta)
            n_turns += chunk.n_turns
            n_conv += chunk.n_conversations
            if writer is not None:
                writer.write_chunk(i, {"turns": t_tab, "conversations": c_tab, **extra})
            else:
                turn_parts.append(t_tab)
                conv_parts.append(c_tab)
                for k, v in extra.items():
                    extra_parts.setdefault(k, []).append(v)
            if bar:
                bar.update(chunk.n_turns)
    if bar:
        bar.close()
    if n_conv == 0:
        where = f" ({problems.records[0]['source']})" if problems.records else ""
        raise InputError(f"no valid conversations to score{where}")
    metadata = {
        "fastmetrics.version": __version__,
        "fastmetrics.metrics": ",".join(f.name for f in families),
        "fastmetrics.params": json.dumps(params, sort_keys=True, default=str),
        "fastmetrics.format": str(fmt_seen),
        "fastmetrics.n_conversations": str(n_conv),
        "fastmetrics.n_turns": str(n_turns),
        "fastmetrics.n_skipped": str(len(problems.records)),
        "fastmetrics.seconds": f"{time.perf_counter() - t0:.3f}",
        **{(k if k.startswith("fastmetrics.") else f"fastmetrics.{k}"): v for k, v in run_meta.items()},
    }
    files: dict[str, Path] = {}
    if writer is not None:
        from .outputs import write_skip_report

        files = writer.finish(metadata, csv=csv)
        if on_error == "skip":
            files["skipped"] = Path(out_dir) / "skipped.csv"
            write_skip_report(problems.records, files["skipped"])
        import pyarrow.parquet as pq

        turns = pq.read_table(files["turns"])
        convs = pq.read_table(files["conversations"])
        tables = {k: pq.read_table(v) for k, v in files.items() if k not in ("turns", "conversations", "skipped")}
    else:
        def cat(parts):
            return pa.concat_tables(parts, promote_options="permissive")

        meta_b = {k.encode(): v.encode() for k, v in metadata.items()}
        turns = cat(turn_parts).replace_schema_metadata(meta_b)
        convs = cat(conv_parts).replace_schema_metadata(meta_b)
        tables = {k: cat(v) for k, v in extra_parts.items()}
    return ScoreResult(turns=turns, conversations=convs, tables=tables, skipped=list(problems.records),
                       files=files, metadata=metadata)
