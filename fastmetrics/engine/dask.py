"""The Dask engine: the per-chunk scoring function mapped over a Dask cluster.

The driver reads the input in chunks of whole conversations exactly as the local engine does
(or, for a partitioned dataset written by ``fastmetrics partition``, one chunk per partition
file, read on the worker), submits one task per chunk, and writes each finished chunk as a
resumable part of the run folder -- in chunk order, so that the outputs are identical to the
local engine's: same rows, same order, same values, same metadata apart from timings.

* **Resources once per worker**: word vectors, the sentence encoder and anchor embeddings
  live in a :class:`~fastmetrics.registry.Context` kept per worker process and per plan
  (:func:`_worker_context`), built by the first task that needs them.
* **The embedding cache** is the on-disk cache every worker opens by path; its writes are
  atomic, so workers on one machine (or on a shared filesystem) share it.
* **Failures**: a task that raises, or whose worker dies, is retried by Dask (``retries``); a
  chunk that still fails stops the run with an error naming the chunk (its index and first
  conversation); the chunks finished before stay in the run folder for ``--resume``.
* **Dataset layout**: with ``layout="dataset"`` the workers write their parts into the run
  folder themselves (a filesystem the workers share with the driver) and return only their
  record, so no output table ever passes through the driver.
* **Memory**: at most ``max_in_flight`` chunks are submitted but not yet written.
"""
from __future__ import annotations

import hashlib
import json
import os
import threading
import time
import uuid
from collections.abc import Iterable
from typing import Any

from ..corpus import Corpus
from ..errors import BackendUnavailableError, FastMetricsError
from ..progress import Progress
from .local import LocalRun, _merge_ran, _nonempty
from .outputs import RunDir, corpus_digest, write_part
from .plan import Plan, score_chunk

__all__ = ["run_dask", "DEFAULT_RETRIES"]

#: Attempts after the first for a failed task.
DEFAULT_RETRIES = 2

_CONTEXTS: dict[str, Any] = {}
_LOCK = threading.Lock()


def _plan_key(plan: Plan) -> str:
    spec = {"families": [f.name for f in plan.families], "options": plan.options,
            "n_threads": plan.n_threads, "backend": plan.backend, "keep_text": plan.keep_text}
    return hashlib.sha1(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()


def _worker_context(plan: Plan):
    """A context for one task whose run-wide resources (vectors, encoder, anchors) are kept per
    worker process and plan, so they are built once per worker; the per-chunk state is the
    task's own (tasks of a multi-threaded worker never share it)."""
    key = _plan_key(plan)
    with _LOCK:
        resources = _CONTEXTS.setdefault(key, {})
    ctx = plan.context()
    ctx.resources = resources
    return ctx


def _score_task(plan: Plan, index: int, chunk: Corpus, digest: str, part_dir: str | None,
                run_id: str | None) -> dict:
    """Score one chunk on a worker; returns its tables (or, with a part folder, writes them)."""
    from .._threads import threads

    ctx = _worker_context(plan)
    with threads(plan.n_threads):
        res = score_chunk(chunk, plan, ctx)
    record = {"digest": digest, "metadata": res.metadata, "ran": res.ran, "renamed": res.renamed,
              "seconds": res.seconds, "n_turns": chunk.n_turns,
              "n_conversations": chunk.n_conversations, "tables": sorted(res.tables),
              "worker_pid": os.getpid()}
    if part_dir is not None:
        from pathlib import Path

        for stem, table in res.tables.items():
            write_part(table, Path(part_dir) / stem / f"part-{index:06d}.parquet", run_id)
        return {"record": record, "tables": None}
    return {"record": record, "tables": res.tables}


def _client(client, scheduler: str | None, workers: int | None, n_threads: int):
    try:
        import distributed
    except ImportError as exc:
        raise BackendUnavailableError("engine='dask' needs dask.distributed "
                                      "(pip install 'fastmetrics[dask]')") from exc
    if client is not None:
        return client, None
    if scheduler is not None:
        try:
            return distributed.Client(scheduler, timeout="20s"), "client"
        except (OSError, TimeoutError) as exc:
            raise FastMetricsError(f"cannot reach the Dask scheduler at {scheduler!r}: {exc}") from None
    from .._threads import available_cpus

    n = workers or max(1, available_cpus() // max(1, n_threads))
    cluster = distributed.LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                       dashboard_address=None, silence_logs=40)
    return distributed.Client(cluster), "cluster"


def _describe(chunk: Corpus, index: int) -> str:
    first = chunk.conversation_id[0].as_py() if chunk.n_conversations else "?"
    return f"chunk {index} ({chunk.n_conversations} conversations from {first!r}, {chunk.source})"


def run_dask(plan: Plan, chunks: Iterable[Corpus], *, run_dir: RunDir | None = None,
             progress: Progress | None = None, position=None, client=None,
             scheduler: str | None = None, workers: int | None = None,
             retries: int = DEFAULT_RETRIES, max_in_flight: int | None = None) -> LocalRun:
    """Score every chunk on a Dask cluster (see the module docstring); same result as
    :func:`fastmetrics.engine.local.run_local`."""
    from distributed import as_completed

    t0 = time.perf_counter()
    out = LocalRun()
    progress = progress or Progress(enabled=False)
    dclient, owned = _client(client, scheduler, workers, plan.n_threads)
    try:
        n_workers = max(1, len(dclient.scheduler_info().get("workers", {})) or 1)
        limit = max_in_flight or 2 * n_workers
        dataset = run_dir is not None and run_dir.layout == "dataset"
        part_dir = str(run_dir.partial) if dataset else None
        run_id = run_dir.run_id if run_dir is not None else None
        plan_future = dclient.scatter(plan, broadcast=True, hash=False)
        session = uuid.uuid4().hex  # task keys unique to this submission (a resume resubmits)
        pending: dict = {}
        results: dict[int, dict] = {}
        next_write = 0
        index = 0
        read = 0.0
        seq = as_completed()

        def collect(block: bool) -> None:
            nonlocal next_write
            while pending and (block or len(pending) >= limit):
                fut = next(seq)
                i, chunk_desc, units = pending.pop(fut)
                try:
                    results[i] = fut.result() | {"units": units}
                except Exception as exc:  # noqa: BLE001 - reported by chunk, with its reason
                    raise FastMetricsError(f"{chunk_desc} failed after {retries + 1} attempts on "
                                           f"the Dask cluster: {type(exc).__name__}: {exc}") from exc
                while next_write in results:  # write in chunk order
                    _absorb(out, next_write, results.pop(next_write), run_dir, progress)
                    next_write += 1
                if not block:
                    break

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
            rec = run_dir.done(i, digest) if run_dir is not None else None
            if rec is not None:
                results[i] = {"record": rec, "tables": None, "resumed": True, "units": units}
            else:
                fut = dclient.submit(_score_task, plan_future, i, chunk, digest, part_dir, run_id,
                                     retries=retries, pure=False, key=f"fastmetrics-chunk-{i}-{session}")
                pending[fut] = (i, _describe(chunk, i), units)
                seq.add(fut)
            while next_write in results:
                _absorb(out, next_write, results.pop(next_write), run_dir, progress)
                next_write += 1
            if len(pending) >= limit:
                collect(block=False)
        collect(block=True)
        while next_write in results:
            _absorb(out, next_write, results.pop(next_write), run_dir, progress)
            next_write += 1
    finally:
        if owned == "cluster":
            cluster = dclient.cluster
            dclient.close()
            cluster.close()
        elif owned == "client":
            dclient.close()
    out.n_chunks = index
    out.session_seconds = time.perf_counter() - t0
    return out


def _absorb(out: LocalRun, i: int, res: dict, run_dir: RunDir | None, progress: Progress) -> None:
    rec = res["record"]
    out.metadata.update(rec.get("metadata", {}))
    _merge_ran(out.ran, rec.get("ran", {}))
    out.renamed.update(rec.get("renamed", {}))
    out.compute_seconds += float(rec.get("seconds", 0.0))
    if res.get("resumed"):
        out.resumed_chunks += 1
        progress.skip(res["units"])
        return
    if run_dir is not None:
        clean = {k: v for k, v in rec.items() if k != "worker_pid"}
        if res["tables"] is not None:
            run_dir.write_chunk(i, res["tables"], clean)
        else:
            run_dir.record_chunk(i, clean)
    else:
        for stem, table in res["tables"].items():
            out.parts.setdefault(stem, []).append(table)
    progress.skip(res["units"])
