"""Exception hierarchy shared by every fastmetrics module."""
from __future__ import annotations


class FastMetricsError(Exception):
    """Base class of every error raised by fastmetrics."""


class InputError(FastMetricsError, ValueError):
    """Bad input: a file, row, column, array or parameter that is not what was expected.

    ``source`` names the file (or table), ``line`` the 1-based line/row where known.
    """

    def __init__(self, message: str, *, source: str | None = None, line: int | None = None,
                 unit: str = "line"):
        self.source = source
        self.line = line
        self.reason = message
        where = ""
        if source is not None:
            where = f"{source}"
            if line is not None:
                where += f", {unit} {line}"
            where += ": "
        super().__init__(where + message)


class BackendUnavailableError(FastMetricsError, RuntimeError):
    """A requested backend (C, CUDA, a model) is not available in this installation."""


class KernelError(FastMetricsError, RuntimeError):
    """A compiled kernel returned an error status."""


class ConvergenceWarning(UserWarning):
    """An iterative solver stopped at its iteration limit before converging."""
