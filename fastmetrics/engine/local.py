"""The local engine: chunks of whole conversations scored one after another in this process.

Each chunk runs every family with the run's threads (Numba ``prange`` / the C kernels'
OpenMP); with an output folder, each finished chunk is written at once as a resumable part
(:class:`~fastmetrics.engine.outputs.RunDir`), so memory is bounded by one chunk and an
interrupted run keeps its finished work.
"""
from __future__ import annotations

import functools
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import pyarrow as pa

from .._threads import threads
from ..corpus import Corpus
from ..progress import Progress
from .outputs import RunDir, corpus_digest
from .plan import Plan, score_chunk
from .position import InputPosition

__all__ = ["LocalRun", "run_local"]


@dataclass
class LocalRun:
    """What the local engine gathered: in-memory tables (no output folder) and run facts."""

    parts: dict[str, list[pa.Table]] = field(default_factory=dict)
    metadata: dict[str, str] = field(default_factory=dict)
    ran: dict[str, dict[str, str]] = field(default_factory=dict)
    renamed: dict[str, str] = field(default_factory=dict)
    n_turns: int = 0
    n_conversations: int = 0
    n_chunks: int = 0
    resumed_chunks: int = 0
    compute_seconds: float = 0.0
    session_seconds: float = 0.0
    format: str | None = None
    digests: list[str] = field(default_factory=list)


def _merge_ran(into: dict, ran: dict) -> None:
    for fam, ops in ran.items():
        into.setdefault(fam, {}).update(ops)


def run_local(plan: Plan, chunks: Iterable[Corpus], *, run_dir: RunDir | None = None,
              progress: Progress | None = None, position: InputPosition | None = None) -> LocalRun:
    """Score every chunk; write parts to ``run_dir`` (or keep the tables when it is None).

    ``progress`` counts turns, or bytes of the inputs when ``position`` is given.
    """
    t0 = time.perf_counter()
    out = LocalRun()
    progress = progress or Progress(enabled=False)
    ctx = plan.context()
    index = 0
    read = 0.0
    with threads(plan.n_threads):
        for chunk in _nonempty(chunks, out):
            i = index
            index += 1
            units = chunk.n_turns
            if position is not None:
                now = position.current(chunk.source)
                if now is not None:
                    units, read = now - read, now
            digest = corpus_digest(chunk) if run_dir is not None else ""
            out.digests.append(digest)
            out.n_turns += chunk.n_turns
            out.n_conversations += chunk.n_conversations
            if run_dir is not None:
                rec = run_dir.done(i, digest)
                if rec is not None:
                    out.metadata.update(rec.get("metadata", {}))
                    _merge_ran(out.ran, rec.get("ran", {}))
                    out.renamed.update(rec.get("renamed", {}))
                    out.compute_seconds += float(rec.get("seconds", 0.0))
                    out.resumed_chunks += 1
                    progress.skip(units)
                    continue
            res = score_chunk(chunk, plan, ctx, progress, units=units)
            out.metadata.update(res.metadata)
            _merge_ran(out.ran, res.ran)
            out.renamed.update(res.renamed)
            out.compute_seconds += res.seconds
            if run_dir is not None:
                run_dir.write_chunk(i, res.tables, {"digest": digest, "metadata": res.metadata,
                                                    "ran": res.ran, "renamed": res.renamed,
                                                    "seconds": res.seconds,
                                                    "n_turns": chunk.n_turns,
                                                    "n_conversations": chunk.n_conversations})
                del res
                _release_memory()
            else:
                for stem, table in res.tables.items():
                    out.parts.setdefault(stem, []).append(table)
    out.n_chunks = index
    out.session_seconds = time.perf_counter() - t0
    return out


def _release_memory() -> None:
    """Give the memory freed by a finished chunk back to the operating system.

    Arrow's allocator and glibc's heap keep freed memory for reuse; over many chunks the
    resident size then creeps up with the number of chunks although the live data stays one
    chunk. Releasing after each chunk keeps the peak bounded by the chunk size.
    """
    pa.default_memory_pool().release_unused()
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@functools.lru_cache(maxsize=1)
def _malloc_trim():
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):  # not glibc
        return None


def _nonempty(chunks: Iterable[Corpus], out: LocalRun) -> Iterator[Corpus]:
    for chunk in chunks:
        out.format = out.format or chunk.format
        if chunk.n_conversations:
            yield chunk
