"""Bad-input handling shared by every loader: fail at the first problem, or skip and record.

Every problem names the source file, the 1-based line (or row) where known, the conversation
where known, and what was expected. With ``on_error="skip"`` the problem is recorded and the
row or conversation dropped; the pipeline writes the records to ``OUTDIR/skipped.csv``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import InputError

ON_ERROR = ("fail", "skip")


@dataclass
class Problems:
    on_error: str = "fail"
    records: list[dict] = field(default_factory=list)
    #: speaker (or role-column) labels seen, lower-cased, to report unused --role-map labels
    seen_labels: set = field(default_factory=set)

    def __post_init__(self):
        if self.on_error not in ON_ERROR:
            raise InputError(f"on_error must be one of {ON_ERROR}, got {self.on_error!r}")

    def report(self, reason: str, *, source: str, line: int | None = None,
               conversation: str | None = None, level: str = "row", unit: str = "line") -> None:
        """Raise InputError (fail) or record the problem (skip). ``level``: row|conversation."""
        msg = reason if conversation is None else f"conversation {conversation!r}: {reason}"
        if self.on_error == "fail":
            raise InputError(msg, source=source, line=line, unit=unit)
        self.records.append({"source": source, "unit": unit, "line": line,
                             "conversation_id": conversation, "level": level, "reason": reason})
