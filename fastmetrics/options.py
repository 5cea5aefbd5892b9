"""Option constraints: every option of every metric family is validated and coerced here, once.

An :class:`~fastmetrics.registry.Option` declares a constraint (as scikit-learn's
``_param_validation`` does with ``Interval`` and ``StrOptions``). The CLI hands the raw
strings of its flags and the API hands Python values to the same :meth:`Constraint.coerce`,
so both doors accept the same values, coerce them the same way and reject bad ones with the
same one-line message. Families then read ``ctx.options[name]`` and nothing else.

Options shared by several families (the window W, the encoder settings) are declared once at
the bottom of this module.

Examples
--------
>>> Integer(low=1).coerce("8", "window")
8
>>> Integer(low=1).coerce(0, "window")
Traceback (most recent call last):
...
fastmetrics.errors.InputError: option window (--window): got 0; expected an integer >= 1
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .errors import InputError

__all__ = ["Constraint", "Integer", "Real", "Choice", "Boolean", "Text", "ExistingPath", "ListOf", "Option",
           "WINDOW", "MODEL_DIR", "CACHE_DIR", "SURROGATES", "SURROGATE_SEED", "ENCODER"]


def _fail(name: str, value: Any, expected: str) -> InputError:
    """The one message for a bad option value, the same for the CLI (strings) and the API."""
    shown = value if isinstance(value, str) and value.strip() else repr(value)
    return InputError(f"option {name} (--{name.replace('_', '-')}): got {shown}; expected {expected}")


class Constraint:
    """What values an option takes. Subclasses implement :meth:`coerce` and :meth:`describe`."""

    #: argparse ``action`` for the CLI flag (None: a flag with one string value).
    cli_action: str | None = None

    def coerce(self, value: Any, name: str) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def describe(self) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def invalid_examples(self) -> list:
        """Values of each invalid class (for the generated negative tests)."""
        return []


@dataclass(frozen=True)
class Integer(Constraint):
    """An integer in ``[low, high]`` (either bound optional). Booleans and fractions are refused."""

    low: int | None = None
    high: int | None = None

    def describe(self) -> str:
        if self.low is not None and self.high is not None:
            return f"an integer in [{self.low}, {self.high}]"
        if self.low is not None:
            return f"an integer >= {self.low}"
        if self.high is not None:
            return f"an integer <= {self.high}"
        return "an integer"

    def coerce(self, value: Any, name: str) -> int:
        v: Any = value
        if isinstance(v, bool):
            raise _fail(name, value, self.describe())
        if isinstance(v, str):
            try:
                v = int(v.strip())
            except ValueError:
                raise _fail(name, value, self.describe()) from None
        elif isinstance(v, float):
            if not v.is_integer():
                raise _fail(name, value, self.describe())
            v = int(v)
        elif hasattr(v, "__index__"):
            v = int(v.__index__())
        else:
            raise _fail(name, value, self.describe())
        if (self.low is not None and v < self.low) or (self.high is not None and v > self.high):
            raise _fail(name, value, self.describe())
        return v

    def invalid_examples(self) -> list:
        out: list = ["abc", 1.5, True, None]
        if self.low is not None:
            out.append(self.low - 1)
        if self.high is not None:
            out.append(self.high + 1)
        return out


@dataclass(frozen=True)
class Real(Constraint):
    """A finite real number in ``[low, high]`` (bounds optional; ``open_low`` excludes low).
    NaN and infinities are refused; ``optional`` admits None (and "" on the CLI)."""

    low: float | None = None
    high: float | None = None
    open_low: bool = False
    optional: bool = False

    def describe(self) -> str:
        lo = None if self.low is None else (f"> {self.low:g}" if self.open_low else f">= {self.low:g}")
        hi = None if self.high is None else f"<= {self.high:g}"
        rng = " and ".join(x for x in (lo, hi) if x)
        base = "a finite number" + (f" {rng}" if rng else "")
        return base + (" (or empty for none)" if self.optional else "")

    def coerce(self, value: Any, name: str) -> float | None:
        if self.optional and (value is None or (isinstance(value, str) and not value.strip())):
            return None
        if isinstance(value, bool) or value is None:
            raise _fail(name, value, self.describe())
        try:
            v = float(value.strip()) if isinstance(value, str) else float(value)
        except (TypeError, ValueError):
            raise _fail(name, value, self.describe()) from None
        if not math.isfinite(v):
            raise _fail(name, value, self.describe())
        if self.low is not None and (v < self.low or (self.open_low and v == self.low)):
            raise _fail(name, value, self.describe())
        if self.high is not None and v > self.high:
            raise _fail(name, value, self.describe())
        return v

    def invalid_examples(self) -> list:
        out: list = ["abc", float("nan"), float("inf"), True]
        if not self.optional:
            out.append(None)
        if self.low is not None:
            out.append(self.low - 1.0)
        if self.high is not None:
            out.append(self.high + 1.0)
        return out


@dataclass(frozen=True)
class Choice(Constraint):
    """One of a fixed set of strings (case-sensitive)."""

    choices: tuple[str, ...]

    def describe(self) -> str:
        return "one of " + ", ".join(self.choices)

    def coerce(self, value: Any, name: str) -> str:
        if not isinstance(value, str) or value not in self.choices:
            raise _fail(name, value, self.describe())
        return value

    def invalid_examples(self) -> list:
        return ["not-a-choice", 3, None]


@dataclass(frozen=True)
class Boolean(Constraint):
    """True/False (the CLI flag is ``--NAME`` / ``--no-NAME``; strings true/false/yes/no/1/0)."""

    cli_action = "boolean"

    def describe(self) -> str:
        return "true or false"

    def coerce(self, value: Any, name: str) -> bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        if isinstance(value, str):
            s = value.strip().lower()
            if s in ("1", "true", "yes", "on"):
                return True
            if s in ("0", "false", "no", "off"):
                return False
        raise _fail(name, value, self.describe())

    def invalid_examples(self) -> list:
        return ["maybe", 2, None]


@dataclass(frozen=True)
class Text(Constraint):
    """A string (a path, a name); "" means "not set" and is allowed when ``allow_empty``."""

    what: str = "a string"
    allow_empty: bool = True

    def describe(self) -> str:
        return self.what

    def coerce(self, value: Any, name: str) -> str:
        if value is None and self.allow_empty:
            return ""
        if hasattr(value, "__fspath__"):
            value = str(value)
        if not isinstance(value, str) or (not self.allow_empty and not value.strip()):
            raise _fail(name, value, self.describe())
        return value

    def invalid_examples(self) -> list:
        return [3, ["a"]] + ([] if self.allow_empty else [""])


@dataclass(frozen=True)
class ExistingPath(Constraint):
    """A path to an existing file (``kind="file"``) or folder (``"dir"``); "" means "not set";
    ``specials`` are names that are not paths (e.g. ``builtin``)."""

    kind: str = "file"
    specials: tuple[str, ...] = ()
    what: str = ""

    def describe(self) -> str:
        base = self.what or f"a path to an existing {'folder' if self.kind == 'dir' else 'file'}"
        return base + (f" or one of {', '.join(self.specials)}" if self.specials else "")

    def coerce(self, value: Any, name: str) -> str:
        if value is None:
            return ""
        if hasattr(value, "__fspath__"):
            value = str(value)
        if not isinstance(value, str):
            raise _fail(name, value, self.describe())
        if value == "" or value in self.specials:
            return value
        import os

        ok = os.path.isdir(value) if self.kind == "dir" else os.path.isfile(value)
        if not ok:
            why = "no such file or folder" if not os.path.exists(value) else \
                ("not a folder" if self.kind == "dir" else "not a file")
            raise _fail(name, f"{value} ({why})", self.describe())
        return value

    def invalid_examples(self) -> list:
        return [3, "/nonexistent/fastmetrics-missing-path"]


@dataclass(frozen=True)
class ListOf(Constraint):
    """A list of items (a repeatable CLI flag; the API takes a list or one item)."""

    item: Constraint

    cli_action = "append"

    def describe(self) -> str:
        return f"a list of {self.item.describe()} values"

    def coerce(self, value: Any, name: str) -> list:
        if value is None:
            return []
        if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
            value = [value]
        return [self.item.coerce(v, name) for v in value]

    def invalid_examples(self) -> list:
        return [[bad] for bad in self.item.invalid_examples() if bad is not None][:2]


@dataclass(frozen=True)
class Option:
    """One option of a metric family; becomes ``--NAME`` (dashes for underscores) in the CLI.

    ``default`` is the value used when the option is not given (the one place defaults live);
    ``constraint`` validates and coerces every given value (:meth:`validate`).
    """

    name: str
    default: Any
    help: str
    constraint: Constraint

    def validate(self, value: Any) -> Any:
        """The coerced value, or InputError naming the option, the value and what is allowed."""
        return self.constraint.coerce(value, self.name)

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")


# ------------------------------------------------------------------------------------------
# options shared by several families, declared once
# ------------------------------------------------------------------------------------------
WINDOW = Option("window", 8, "W, window length in turns (rolling-window rLSM: each speaker's "
                "last W own turns; embedding synchrony: the last W turns)", Integer(low=1))
MODEL_DIR = Option("model_dir", "", "sentence encoder directory with model.onnx + tokenizer.json "
                   "(empty: built-in all-MiniLM-L6-v2, int8 ONNX)",
                   ExistingPath("dir", what="a folder holding model.onnx and tokenizer.json"))
CACHE_DIR = Option("cache_dir", "", "embedding cache folder (empty: $FASTMETRICS_CACHE_DIR or "
                   "~/.cache/fastmetrics/embeddings; 'none': no cache)", Text("a folder, or 'none'"))
SURROGATES = Option("surrogates", 0, "N within-conversation surrogates per synchrony measure (the "
                    "therapist's turns shuffled among the therapist's positions); writes "
                    "<measure>_surrogate_mean, _surrogate_sd, _z and _p (0: off)",
                    Integer(low=0, high=10000))
SURROGATE_SEED = Option("surrogate_seed", 0, "seed of the surrogates (with each conversation's id: "
                        "results do not depend on chunks or threads)", Integer(low=0, high=2**63 - 1))
ENCODER = Option("encoder", "minilm", "sentence encoder tier: 'minilm' (the MiniLM model, or --model-dir) "
                 "or 'static' (a model2vec table distilled from MiniLM: far faster, lower "
                 "fidelity; docs/encoders.md)", Choice(("minilm", "static")))
