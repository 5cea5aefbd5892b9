"""The registry of metric families, their options and the per-run context.

A metric family is a named group of columns computed together (``wmd``, ``lsm``,
``alliance``, ...). Each family declares what it needs (tokens, word vectors, embeddings,
columns of other families), the options it takes (:class:`~fastmetrics.options.Option`, with
a constraint; exposed as CLI flags and API keywords and validated once, by
:func:`validate_options`, for both), the compute operations it runs (names from
:data:`fastmetrics.backends.OPERATIONS`, so that the backend that actually ran is recorded),
and which columns it writes at which level. The engine resolves the requested families,
orders them by their ``after`` dependencies, and calls ``compute(corpus, ctx)`` once per chunk
of whole conversations.

Built-in families are listed in ``BUILTIN`` as ``"module:attribute"`` strings so that heavy
dependencies (onnxruntime, faiss, word vectors) are imported only when a family is used.
Family declaration modules import only numpy/pyarrow at module level.

Writing a family::

    def _compute(corpus, ctx):
        tok = corpus.tokens()
        return MetricResult(turns={"n_types": kernel(tok.token_offsets, tok.token_ids)})

    FAMILY = MetricFamily(name="types", description="distinct words per turn",
                          needs=frozenset({"tokens"}), turn_columns=("n_types",),
                          compute=_compute)
    register(FAMILY)
"""
from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from . import backends
from .errors import InputError
from .options import Option

__all__ = ["NEEDS", "Option", "OptionValues", "MetricResult", "Context", "MetricFamily", "BUILTIN", "register",
           "unregister", "names", "get", "resolve", "all_options", "option_owners",
           "validate_options", "parse_metrics", "check_length"]

#: What a family may declare in ``needs``.
NEEDS = frozenset({"tokens", "vectors", "embeddings", "columns"})


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


class OptionValues(dict):
    """Option values by name, with the declared default for an option not given.

    A :class:`Context` built by the engine holds exactly the options of its run's families,
    validated by :func:`validate_options`; one built by hand (a test, a notebook calling
    ``family.compute``) may name only some: the others then read as their declared defaults,
    the one place defaults live.
    """

    def __missing__(self, key: str) -> Any:
        opt = all_options().get(key)
        if opt is None:
            raise KeyError(key)
        return opt.default

    def get(self, key: str, default: Any = None) -> Any:
        return self[key] if key in self or key in all_options() else default


@dataclass
class Context:
    """Per-run state handed to ``compute``.

    Attributes
    ----------
    options : OptionValues
        Validated option values by name, defaults filled in (:func:`validate_options`); an
        option not given reads as its declared default.
    n_threads : int
        The resolved thread count.
    backend : str
        The requested backend ("auto", "numba", "c" or "cuda").
    columns, conv_columns : dict
        Per-turn / per-conversation columns available to this chunk so far (carried columns
        and the columns of families computed earlier).
    resources : dict
        Run-wide heavy objects (word vectors, encoders), built once by :meth:`resource`.
    cache : dict
        Chunk-scoped results shared by families of one chunk (the chunk's bags of words, its
        embeddings, the synchrony pass), built by :meth:`cached`; the engine clears it after
        every chunk (:meth:`clear_chunk`).
    ran : dict
        family -> operation -> backend that actually ran (recorded by :meth:`backend_for`).
    family : str
        The family being computed (set by the engine).
    on_progress : callable, optional
        Set by the engine: receives the fraction (0..1) of the current family's work done on
        this chunk; long families report through :meth:`report`.
    """

    options: dict[str, Any] = field(default_factory=dict)
    n_threads: int = 1
    backend: str = "auto"
    columns: dict[str, Any] = field(default_factory=dict)
    conv_columns: dict[str, Any] = field(default_factory=dict)
    resources: dict[str, Any] = field(default_factory=dict)
    cache: dict[Any, Any] = field(default_factory=dict)
    ran: dict[str, dict[str, str]] = field(default_factory=dict)
    family: str = ""
    on_progress: Callable[[float], None] | None = None

    def __post_init__(self):
        if not isinstance(self.options, OptionValues):
            self.options = OptionValues(self.options)

    def resource(self, key: str, factory: Callable[[], Any]) -> Any:
        """Build a heavy run-wide object once (word vectors, an encoder) and reuse it."""
        if key not in self.resources:
            self.resources[key] = factory()
        return self.resources[key]

    def cached(self, key: Any, factory: Callable[[], Any]) -> Any:
        """A result shared by the families of the current chunk, computed once per chunk."""
        if key not in self.cache:
            self.cache[key] = factory()
        return self.cache[key]

    def clear_chunk(self) -> None:
        """Forget every chunk-scoped result (the engine calls this after each chunk)."""
        self.cache.clear()

    def backend_for(self, operation: str) -> str:
        """The backend that runs ``operation`` for this run, recorded for the output metadata.

        A named backend that does not implement the operation falls back to the fastest
        available one (:func:`fastmetrics.backends.prefer`).
        """
        impl = backends.prefer(self.backend, operation)
        self.ran.setdefault(self.family or "?", {})[operation] = impl.backend
        return impl.backend

    def report(self, fraction: float) -> None:
        """Report progress inside the current family's work on this chunk (0..1)."""
        if self.on_progress is not None:
            self.on_progress(fraction)

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
    operations: tuple[str, ...] = ()
    after: tuple[str, ...] = ()  # families whose columns this one reads; ("*",) = after all
    reference: str = ""
    #: Regular expressions of conversation columns named at run time (trajectory features).
    column_patterns: tuple[str, ...] = ()
    #: Turn columns written instead of (some of) ``turn_columns`` under some options or models.
    optional_turn_columns: tuple[str, ...] = ()

    def declares(self, column: str, level: str) -> bool:
        """True when ``column`` at ``level`` ("turn" or "conversation") is one of this family's."""
        import re

        if level == "turn":
            return column in self.turn_columns or column in self.optional_turn_columns
        return column in self.conversation_columns or any(
            re.fullmatch(p, column) for p in self.column_patterns)

    def __post_init__(self):
        bad = set(self.needs) - NEEDS
        if bad:
            raise ValueError(f"family {self.name!r}: unknown needs {sorted(bad)}; allowed {sorted(NEEDS)}")
        unknown_ops = [op for op in self.operations if op not in backends.OPERATIONS]
        if unknown_ops:
            raise ValueError(f"family {self.name!r}: unknown operations {unknown_ops}")
        for opt in self.options:
            if not isinstance(opt, Option):
                raise ValueError(f"family {self.name!r}: options must be fastmetrics.options.Option")


#: Built-in families, imported lazily. Add one line per family.
BUILTIN: dict[str, str] = {
    "basic": "fastmetrics.metrics.basic.family:FAMILY",
    "wmd": "fastmetrics.metrics.ot.family:FAMILY_WMD",
    "nclid": "fastmetrics.metrics.ot.family:FAMILY_NCLID",
    "lsm": "fastmetrics.metrics.sync.family:LSM",
    "rlsm": "fastmetrics.metrics.sync.family:RLSM",
    "coordination": "fastmetrics.metrics.sync.family:COORDINATION",
    "emotion": "fastmetrics.metrics.emotion.family:FAMILY",
    "trajectory": "fastmetrics.metrics.trajectory.family:FAMILY",
    "behaviour": "fastmetrics.metrics.behaviour.family:FAMILY",
    "empathy": "fastmetrics.metrics.empathy.family:FAMILY",
    "alliance": "fastmetrics.metrics.alliance.family:FAMILY",
    "embedding_sync": "fastmetrics.metrics.embedding_sync.family:FAMILY",
}

_REGISTERED: dict[str, MetricFamily] = {}
_LOADED: dict[str, MetricFamily] = {}


def register(family: MetricFamily) -> MetricFamily:
    """Register a third-party family (overrides a built-in of the same name)."""
    for opt in family.options:  # one declaration per option name across all families
        for other in _known_families():
            if other.name == family.name:
                continue
            for o in other.options:
                if o.name == opt.name and o != opt:
                    raise ValueError(f"family {family.name!r}: option {opt.name!r} differs from the "
                                     f"one family {other.name!r} declares; share one Option object")
    _REGISTERED[family.name] = family
    return family


def unregister(name: str) -> None:
    """Remove a family added with :func:`register` (built-ins come back)."""
    _REGISTERED.pop(name, None)


def names() -> list[str]:
    """Names of all known families."""
    return list(dict.fromkeys([*BUILTIN, *_REGISTERED]))


def get(name: str) -> MetricFamily:
    """The family called ``name``; InputError listing the known names otherwise."""
    if name in _REGISTERED:
        return _REGISTERED[name]
    if name not in BUILTIN:
        raise InputError(f"unknown metric family {name!r}; available: {', '.join(names())}")
    if name not in _LOADED:
        module, attr = BUILTIN[name].split(":")
        _LOADED[name] = getattr(importlib.import_module(module), attr)
    return _LOADED[name]


def _known_families() -> list[MetricFamily]:
    return [get(n) for n in names()]


def parse_metrics(metrics) -> list[str]:
    """Family names from ``"lsm"``, ``"lsm,rlsm"``, ``["lsm", "rlsm"]`` or ``"all"``.

    ``basic`` is always included first.
    """
    if metrics is None:
        items: list[str] = []
    elif isinstance(metrics, str):
        items = [m.strip() for m in metrics.split(",")]
    else:
        try:
            items = [m.strip() if isinstance(m, str) else m for m in metrics]
        except TypeError:
            raise InputError(f"metrics must be a family name, a comma-separated string or a list "
                             f"of names, got {metrics!r}") from None
    out: list[str] = ["basic"]
    for m in items:
        if not isinstance(m, str):
            raise InputError(f"metric family names must be strings, got {m!r}")
        if not m:
            continue
        if m == "all":
            out.extend(names())
        else:
            get(m)  # unknown names fail here, listing the known ones
            out.append(m)
    return list(dict.fromkeys(out))


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
    """Every option of every known family, by name (one declaration per name)."""
    out: dict[str, Option] = {}
    for fam in _known_families():
        for opt in fam.options:
            out.setdefault(opt.name, opt)
    return out


def option_owners() -> dict[str, list[str]]:
    """Option name -> the families that declare it."""
    out: dict[str, list[str]] = {}
    for fam in _known_families():
        for opt in fam.options:
            out.setdefault(opt.name, []).append(fam.name)
    return out


def validate_options(families: list[MetricFamily], options: Mapping[str, Any]) -> dict[str, Any]:
    """Validate and coerce option values for a run of ``families``; fill in the defaults.

    The one place options are checked, for the CLI and the API alike. An unknown option, an
    option of a family that is not in the run, and a value outside its constraint are each an
    InputError that names the option and what it expects.
    """
    known = all_options()
    owners = option_owners()
    in_run = {opt.name: opt for fam in families for opt in fam.options}
    out: dict[str, Any] = {}
    for name, value in options.items():
        if name not in known:
            raise InputError(f"unknown option {name!r}; options of the known metric families: "
                             f"{', '.join(sorted(known)) or 'none'}")
        if name not in in_run:
            fams = owners.get(name, [])
            raise InputError(f"option {name} ({known[name].flag}) is used by the "
                             f"{' and '.join(fams)} famil{'y' if len(fams) == 1 else 'ies'}, which "
                             f"{'is' if len(fams) == 1 else 'are'} not requested; add "
                             f"{fams[0] if fams else 'it'} to the metrics or drop the option")
        out[name] = in_run[name].validate(value)
    for name, opt in in_run.items():
        out.setdefault(name, opt.default)
    return out


def check_length(values: Any, n: int, where: str):
    """Check a result column's length; return it as an Arrow or NumPy array."""
    if len(values) != n:
        raise RuntimeError(f"internal: {where} has length {len(values)}, expected {n}")
    if isinstance(values, (pa.Array, pa.ChunkedArray, np.ndarray)):
        return values
    return np.asarray(values)
