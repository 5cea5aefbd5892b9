"""The registry of metric families.

A metric family is a named group of columns computed together (``wmd``, ``lsm``,
``alliance``, ...). Each family declares what it needs (tokens, word vectors, embeddings,
columns of other families), the options it takes (exposed as CLI flags and API keywords), and
which columns it writes at which level. The pipeline (:mod:`fastmetrics.api`) resolves the
requested families, orders them by their ``after`` dependencies, and calls ``compute`` once
per chunk of whole conversations.

Built-in families are listed in ``BUILTIN`` as ``"module:attribute"`` strings so that heavy
dependencies (onnxruntime, faiss, word vectors) are imported only when a family is used.
Family modules must import only numpy/pyarrow at module level; anything heavy goes inside
``compute`` or a resource factory.

Writing a family::

    def _compute(corpus, ctx):
        tok = corpus.tokens()
        return MetricResult(turns={"n_types": kernel(tok.token_offsets, tok.token_ids)})

    FAMILY = MetricFamily(name="types", description="distinct words per turn",
                          needs=frozenset({"tokens"}), turn_columns=("n_types",),
                          compute=_compute)
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import pyarrow as pa

from .errors import InputError

#: What a family may declare in ``needs``.
NEEDS = frozenset({"tokens", "vectors", "embeddings", "columns"})


@dataclass(frozen=True)
class Option:
    """One option of a family; becomes ``--NAME`` (dashes for underscores) in the CLI."""

    name: str
    type: Callable[[str], Any]
    default: Any
    help: str
    choices: tuple | None = None


@dataclass
class MetricResult:
    """What a family returns for one chunk.

    ``turns``: column name -> array of length n_turns; ``conversations``: column name ->
    array of length n_conversations (NumPy or Arrow; NaN or null where undefined);
    ``tables``: extra output tables by file stem (e.g. ``alliance_items``), appended chunk by
    chunk; ``metadata``: key -> str recorded in the Parquet metadata (model ids, vectors...).
    """

    turns: dict[str, Any] = field(default_factory=dict)
    conversations: dict[str, Any] = field(default_factory=dict)
    tables: dict[str, pa.Table] = field(default_factory=dict)
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass
class Context:
    """Per-run state handed to ``compute``.

    ``options``: option values by name (defaults filled in); ``n_threads``: resolved count;
    ``backend``: "auto", "numba", "c" or "cuda"; ``columns``: per-turn columns available to
    this chunk so far (carried columns and the turn columns of families computed earlier);
    ``conv_columns`` likewise per conversation; ``resources``: a run-wide cache for heavy
    objects (vectors, encoders) built once via :meth:`resource`.
    """

    options: dict[str, Any] = field(default_factory=dict)
    n_threads: int = 1
    backend: str = "auto"
    columns: dict[str, Any] = field(default_factory=dict)
    conv_columns: dict[str, Any] = field(default_factory=dict)
    resources: dict[str, Any] = field(default_factory=dict)

    def resource(self, key: str, factory: Callable[[], Any]) -> Any:
        """Build a heavy object once per run (word vectors, an encoder) and reuse it."""
        if key not in self.resources:
            self.resources[key] = factory()
        return self.resources[key]

    def option(self, name: str) -> Any:
        return self.options[name]


@dataclass(frozen=True)
class MetricFamily:
    """A named family of metric columns (see the module docstring)."""

    name: str
    description: str
    compute: Callable[[Any, Context], MetricResult]
    needs: frozenset = frozenset()
    turn_columns: tuple[str, ...] = ()
    conversation_columns: tuple[str, ...] = ()
    options: tuple[Option, ...] = ()
    after: tuple[str, ...] = ()  # families whose columns this one reads; ("*",) = after all
    reference: str = ""

    def __post_init__(self):
        bad = set(self.needs) - NEEDS
        if bad:
            raise ValueError(f"family {self.name!r}: unknown needs {sorted(bad)}; allowed {sorted(NEEDS)}")


#: Built-in families, imported lazily. Add one line per family.
BUILTIN: dict[str, str] = {
    "basic": "fastmetrics.metrics.basic:FAMILY",
    "wmd": "fastmetrics.metrics.ot:FAMILY_WMD",
    "nclid": "fastmetrics.metrics.ot:FAMILY_NCLID",
    "lsm": "fastmetrics.metrics.sync:LSM",
    "rlsm": "fastmetrics.metrics.sync:RLSM",
    "coordination": "fastmetrics.metrics.sync:COORDINATION",
    "emotion": "fastmetrics.metrics.emotion:FAMILY",
    "trajectory": "fastmetrics.metrics.trajectory:FAMILY",
    "behaviour": "fastmetrics.metrics.behaviour:FAMILY",
    "empathy": "fastmetrics.metrics.empathy:FAMILY",
    "alliance": "fastmetrics.metrics.alliance:FAMILY",
    "embedding_sync": "fastmetrics.metrics.embedding_sync:FAMILY",
}

_REGISTERED: dict[str, MetricFamily] = {}


def register(family: MetricFamily) -> MetricFamily:
    """Register a third-party family (overrides a built-in of the same name)."""
    _REGISTERED[family.name] = family
    return family


def names() -> list[str]:
    """Names of all known families."""
    return list(dict.fromkeys([*BUILTIN, *_REGISTERED]))


def get(name: str) -> MetricFamily:
    """The family called ``name``; InputError listing the known names otherwise."""
    if name in _REGISTERED:
        return _REGISTERED[name]
    if name not in BUILTIN:
        raise InputError(f"unknown metric family {name!r}; available: {', '.join(names())}")
    module, attr = BUILTIN[name].split(":")
    fam = getattr(importlib.import_module(module), attr)
    _REGISTERED[name] = fam
    return fam


def resolve(requested: list[str]) -> list[MetricFamily]:
    """Families for ``requested`` plus their ``after`` dependencies, in dependency order."""
    order: list[MetricFamily] = []
    seen: set[str] = set()
    visiting: set[str] = set()

    def visit(name: str):
        if name in seen:
            return
        if name in visiting:
            raise InputError(f"metric family dependency cycle at {name!r}")
        visiting.add(name)
        fam = get(name)
        for dep in fam.after:
            if dep != "*":
                visit(dep)
        visiting.discard(name)
        seen.add(name)
        order.append(fam)

    for name in requested:
        visit(name)
    # families with after=("*",) (e.g. trajectory features over other families' columns) go last
    return [f for f in order if "*" not in f.after] + [f for f in order if "*" in f.after]


def all_options() -> dict[str, Option]:
    """Every option of every known family, by name (one entry per shared name)."""
    out: dict[str, Option] = {}
    for name in names():
        for opt in get(name).options:
            out.setdefault(opt.name, opt)
    return out


def as_numpy_or_arrow(values: Any, n: int, where: str):
    """Check a result column's length; return it unchanged (internal helper)."""
    if len(values) != n:
        raise RuntimeError(f"internal: {where} has length {len(values)}, expected {n}")
    if isinstance(values, (pa.Array, pa.ChunkedArray, np.ndarray)):
        return values
    return np.asarray(values)
