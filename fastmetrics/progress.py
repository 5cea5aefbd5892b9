"""Progress display for long commands: a tqdm bar on a terminal, nothing anywhere else.

The bar is drawn only when enabled (the CLI enables it when stderr is a terminal and ``-q`` is
not given), has a total and an ETA wherever the total is knowable, and advances within a chunk
of work (per metric family, and per batch inside the long families: the encoder, nCLiD).
Nothing here decides anything by the truth value of a bar object: a disabled progress is a
:class:`Progress` whose methods do nothing.

Examples
--------
>>> p = Progress(enabled=False, total=10, unit="turns")
>>> p.start_chunk(10, weights=[1.0, 3.0])
>>> p.step_done()
>>> p.fraction(0.5)
>>> p.close()
"""
from __future__ import annotations

import sys
from collections.abc import Sequence

__all__ = ["Progress", "bar_enabled"]


def bar_enabled(quiet: bool = False, stream=None) -> bool:
    """True when a bar should be drawn: not quiet, and the stream (stderr) is a terminal."""
    stream = sys.stderr if stream is None else stream
    try:
        return (not quiet) and bool(stream.isatty())
    except (AttributeError, ValueError):  # closed or replaced streams
        return False


def _terminal_columns() -> int:
    import os

    try:
        return os.get_terminal_size(sys.stderr.fileno()).columns
    except (OSError, ValueError, AttributeError):
        return 0


class Progress:
    """Progress over ``total`` units (turns, bytes, steps), advanced in weighted steps.

    A chunk of ``n`` units is split into steps (one per metric family) with relative
    ``weights``; :meth:`fraction` reports progress inside the current step (an encoder batch),
    :meth:`step_done` ends a step. ``total`` may be None (unknown): the bar then shows counts
    and rates without an ETA; :meth:`set_total` updates it when it becomes known.
    """

    def __init__(self, *, enabled: bool, total: float | None = None, unit: str = "turns",
                 desc: str = "scoring"):
        self.enabled = bool(enabled)
        self._bar = None
        self._spec = (total, unit, desc)
        self._done = 0.0        # units finished, as a float
        self._shown = 0         # units handed to the bar (an int)
        self._chunk = 0.0
        self._weights: list[float] = [1.0]
        self._step = 0
        self._in_step = 0.0

    def _open(self) -> None:
        """Draw the bar when the first work arrives (an input error before it draws nothing)."""
        if self.enabled and self._bar is None:
            total, unit, desc = self._spec
            from tqdm.auto import tqdm

            # a terminal that reports no size (some pseudo-terminals) gets a fixed width
            sized = _terminal_columns() > 0
            kw = dict(unit="B", unit_scale=True, unit_divisor=1024) if unit == "bytes" else \
                dict(unit=f" {unit}")
            if not sized:  # tqdm hides its bar on a terminal of 0 x 0: give it a size
                kw.update(ncols=80, nrows=24)
            self._bar = tqdm(total=total, desc=desc, dynamic_ncols=sized, file=sys.stderr,
                             leave=True, smoothing=0.1, **kw)

    # -------------------------------------------------------------- internals
    def _position(self) -> float:
        total_w = sum(self._weights) or 1.0
        before = sum(self._weights[:self._step])
        w = self._weights[self._step] if self._step < len(self._weights) else 0.0
        return self._done + self._chunk * (before + w * self._in_step) / total_w

    def _refresh(self) -> None:
        if self._bar is None:
            return
        target = int(self._position())
        if target > self._shown:
            self._bar.update(target - self._shown)
            self._shown = target

    # -------------------------------------------------------------- API
    def set_total(self, total: float | None) -> None:
        self._spec = (total, *self._spec[1:])
        if self._bar is not None and total is not None:
            self._bar.total = total
            self._bar.refresh()

    def start_chunk(self, n_units: float, weights: Sequence[float] = (1.0,)) -> None:
        """Begin a chunk of ``n_units`` made of ``len(weights)`` steps."""
        self._open()
        self._chunk = float(n_units)
        self._weights = [float(w) for w in weights] or [1.0]
        self._step = 0
        self._in_step = 0.0

    def fraction(self, f: float) -> None:
        """Progress inside the current step, ``0 <= f <= 1``."""
        self._in_step = min(max(float(f), 0.0), 1.0)
        self._refresh()

    def step_done(self) -> None:
        self._step += 1
        self._in_step = 0.0
        self._refresh()

    def end_chunk(self) -> None:
        self._done += self._chunk
        self._chunk = 0.0
        self._step = 0
        self._in_step = 0.0
        self._refresh()

    def skip(self, n_units: float) -> None:
        """Count units done earlier (a resumed chunk)."""
        self._open()
        self._done += float(n_units)
        self._refresh()

    def note(self, text: str) -> None:
        """A short status next to the bar (e.g. the current family)."""
        if self._bar is not None:
            self._bar.set_postfix_str(text, refresh=False)

    def close(self, *, clear: bool = False) -> None:
        """End the bar; ``clear`` erases it (a run that failed leaves only its error message)."""
        if self._bar is not None:
            if clear:
                self._bar.leave = False
            self._bar.close()
            self._bar = None
