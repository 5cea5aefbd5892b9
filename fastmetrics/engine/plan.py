"""What a run computes (:class:`Plan`) and the per-chunk scoring function every engine maps.

:func:`score_chunk` is a function of a chunk of whole conversations and the plan only: the
local engine calls it chunk after chunk, the Dask engine on workers over partitions, and both
write the same tables. It builds the base columns, carries the input's own columns (renaming
any whose name an output column takes, see :data:`INPUT_PREFIX`), runs every family in order,
and returns the chunk's tables plus what ran and what the families recorded.
"""
from __future__ import annotations

import json
import time
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from ..corpus import CLIENT, ROLE_NAMES, THERAPIST, Corpus
from ..registry import Context, MetricFamily, check_length

__all__ = ["Plan", "ChunkOutput", "score_chunk", "BASE_TURN_COLUMNS", "BASE_CONV_COLUMNS",
           "INPUT_PREFIX"]

#: Columns every ``turns`` table starts with (``text`` unless ``keep_text=False``).
BASE_TURN_COLUMNS = ("conversation_id", "turn", "role", "speaker", "text")
#: Columns every ``conversations`` table starts with.
BASE_CONV_COLUMNS = ("conversation_id", "n_turns", "n_client_turns", "n_therapist_turns")
#: Prefix given to a carried input column whose name an output column takes.
INPUT_PREFIX = "input_"


@dataclass
class Plan:
    """A run's families (in dependency order), validated options and settings."""

    families: list[MetricFamily]
    options: dict[str, Any]
    n_threads: int
    backend: str = "auto"
    keep_text: bool = True

    def context(self) -> Context:
        return Context(options=dict(self.options), n_threads=self.n_threads, backend=self.backend)

    @property
    def weights(self) -> list[float]:
        """Relative cost of each family on a chunk (for the progress display only)."""
        return [20.0 if "embeddings" in f.needs else 5.0 if "vectors" in f.needs else 1.0
                for f in self.families]

    def reserved(self) -> tuple[set[str], set[str]]:
        """Output column names (turn level, conversation level) that input columns must not take."""
        t = set(BASE_TURN_COLUMNS)
        c = set(BASE_CONV_COLUMNS)
        for f in self.families:
            t.update(f.turn_columns)
            t.update(f.optional_turn_columns)
            c.update(f.conversation_columns)
        return t, c


@dataclass
class ChunkOutput:
    """What :func:`score_chunk` returns for one chunk."""

    tables: dict[str, pa.Table]
    metadata: dict[str, str] = field(default_factory=dict)
    ran: dict[str, dict[str, str]] = field(default_factory=dict)
    renamed: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0


def _as_arrow(values: Any) -> pa.Array:
    if isinstance(values, pa.ChunkedArray):
        return values.combine_chunks()
    if isinstance(values, pa.Array):
        return values
    arr = np.asarray(values)
    if arr.dtype.kind == "f":
        return pa.array(arr, from_pandas=False)
    return pa.array(arr)


def _base(corpus: Corpus, keep_text: bool) -> tuple[dict[str, Any], dict[str, Any]]:
    ci = corpus.conv_index
    role_dict = pa.DictionaryArray.from_arrays(pa.array(corpus.role, pa.int8()), pa.array(ROLE_NAMES))
    turns: dict[str, Any] = {
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
    convs: dict[str, Any] = {
        "conversation_id": corpus.conversation_id,
        "n_turns": pa.array(lens.astype(np.int32)),
        "n_client_turns": pa.array(n_client.astype(np.int32)),
        "n_therapist_turns": pa.array(n_ther.astype(np.int32)),
    }
    return turns, convs


def _free_name(name: str, taken) -> str:
    new = INPUT_PREFIX + name
    while new in taken:
        new = INPUT_PREFIX + new
    return new


def _carry(out: dict, carried: dict, reserved: set[str], renamed: dict[str, str]) -> dict[str, Any]:
    """Add carried input columns to ``out``; a reserved name is renamed (recorded in ``renamed``)."""
    names = {}
    for name, col in carried.items():
        new = name
        if name in reserved or name in out:
            new = _free_name(name, set(out) | set(carried) | reserved)
            renamed[name] = new
        out[new] = col
        names[new] = col
    return names


def score_chunk(corpus: Corpus, plan: Plan, ctx: Context | None = None, progress=None,
                units: float | None = None) -> ChunkOutput:
    """Score one chunk of whole conversations with every family of the plan.

    Parameters
    ----------
    corpus : Corpus
    plan : Plan
    ctx : Context, optional
        The run's context (its run-wide resources are reused across chunks); a new one from
        the plan otherwise. Its chunk cache is cleared before returning.
    progress : fastmetrics.progress.Progress, optional
    units : float, optional
        The chunk's size in the progress bar's unit (default: its number of turns).

    Returns
    -------
    ChunkOutput
    """
    t0 = time.perf_counter()
    ctx = ctx if ctx is not None else plan.context()
    reserved_t, reserved_c = plan.reserved()
    renamed: dict[str, str] = {}
    turns, convs = _base(corpus, plan.keep_text)
    carried_t = _carry(turns, corpus.turn_columns, reserved_t, renamed)
    carried_c = _carry(convs, corpus.conv_columns, reserved_c, renamed)
    ctx.columns = dict(carried_t)
    ctx.conv_columns = dict(carried_c)
    ctx.ran = {}
    extra: dict[str, list[pa.Table]] = {}
    meta: dict[str, str] = {}
    if progress is not None:
        progress.start_chunk(corpus.n_turns if units is None else units, plan.weights)
        ctx.on_progress = progress.fraction
    try:
        for fam in plan.families:
            ctx.family = fam.name
            if progress is not None:
                progress.note(fam.name)
            res = fam.compute(corpus, ctx)
            for level, values_by_name, out, carried, n in (
                    ("turn", res.turns, turns, carried_t, corpus.n_turns),
                    ("conversation", res.conversations, convs, carried_c, corpus.n_conversations)):
                for name, values in values_by_name.items():
                    arr = _as_arrow(check_length(values, n, f"{fam.name}.{name}"))
                    if name in carried:  # a dynamic output name (e.g. trajectory) met an input column
                        new = _free_name(name, set(out) | set(carried))
                        renamed[name] = new
                        out[new] = out.pop(name)
                        col = carried.pop(name)
                        carried[new] = col
                        (ctx.columns if level == "turn" else ctx.conv_columns)[new] = col
                    elif name in out and name not in BASE_TURN_COLUMNS + BASE_CONV_COLUMNS:
                        raise RuntimeError(f"internal: family {fam.name!r} writes {level} column "
                                           f"{name!r}, which another family already wrote")
                    out[name] = arr
                    (ctx.columns if level == "turn" else ctx.conv_columns)[name] = values
            for stem, table in res.tables.items():
                extra.setdefault(stem, []).append(table)
            for k, v in res.metadata.items():
                meta[k if k.startswith("fastmetrics.") else f"fastmetrics.{k}"] = v
            if progress is not None:
                progress.step_done()
    finally:
        ctx.on_progress = None
        ctx.clear_chunk()
    if progress is not None:
        progress.end_chunk()
    tables = {"turns": pa.table(turns), "conversations": pa.table(convs)}
    for stem, parts in extra.items():
        tables[stem] = pa.concat_tables(parts, promote_options="permissive")
    if renamed:
        meta["fastmetrics.renamed_input_columns"] = json.dumps(renamed, sort_keys=True)
    return ChunkOutput(tables=tables, metadata=meta, ran={k: dict(v) for k, v in ctx.ran.items()},
                       renamed=renamed, seconds=time.perf_counter() - t0)


def warn_renamed(renamed: dict[str, str]) -> None:
    """One warning listing the input columns renamed because an output column took the name."""
    if renamed:
        pairs = ", ".join(f"{a} -> {b}" for a, b in sorted(renamed.items()))
        warnings.warn(f"input columns renamed because output columns take their names: {pairs}",
                      UserWarning, stacklevel=3)
