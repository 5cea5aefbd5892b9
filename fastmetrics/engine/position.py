"""How far the readers have got through their input files, for the progress display.

Streaming readers (pyarrow's CSV and JSON readers, the line readers) keep their input file
open; on Linux the operating system reports each open file's read offset in
``/proc/self/fdinfo``. :class:`InputPosition` adds the sizes of the inputs already finished to
the offset of the one being read, so the progress bar of a JSON-lines or CSV input has a total
(the bytes of the inputs) and an ETA without any reader reporting anything. Elsewhere, or
when the offset cannot be read, the position is None and the bar shows counts only.
"""
from __future__ import annotations

import os
from pathlib import Path

__all__ = ["InputPosition"]


class InputPosition:
    """Bytes read so far across an ordered list of input files."""

    def __init__(self, paths: list[str]):
        self.files: list[tuple[str, int]] = []
        for p in paths:
            path = Path(p)
            files = sorted(f for f in path.rglob("*") if f.is_file()) if path.is_dir() else [path]
            for f in files:
                try:
                    self.files.append((os.path.realpath(f), f.stat().st_size))
                except OSError:
                    pass
        self.total = sum(size for _, size in self.files) or None
        self._done = 0.0

    def _offsets(self) -> dict[str, int]:
        out: dict[str, int] = {}
        try:
            fds = os.listdir("/proc/self/fd")
        except OSError:
            return out
        for fd in fds:
            try:
                target = os.readlink(f"/proc/self/fd/{fd}")
                with open(f"/proc/self/fdinfo/{fd}") as fh:
                    pos = int(fh.readline().split()[1])
            except (OSError, ValueError, IndexError):
                continue
            out[target] = max(out.get(target, 0), pos)
        return out

    def current(self, source: str | None) -> float | None:
        """Bytes read so far, ``source`` being the input the latest chunk came from."""
        if self.total is None:
            return None
        src = os.path.realpath(source) if source else None
        offsets = self._offsets()
        done = 0.0
        for path, size in self.files:
            if path in offsets:  # being read now
                done += min(offsets[path], size)
                break
            done += size  # finished, or the chunk's own file (read whole and closed)
            if path == src:
                break
        self._done = max(self._done, min(done, self.total))
        return self._done
