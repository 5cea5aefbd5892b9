"""A per-conversation table (CSV or Parquet) kept apart from the transcripts.

Outcome questionnaires usually live in their own file keyed by a participant or session id.
``score`` and ``study`` take it with ``--conversation-table FILE --join-column COLUMN``: the
value of ``COLUMN`` is matched to the conversation id. Every other column of the table becomes
a conversation column. Conversations without a row get nulls; rows without a conversation are
ignored; both are counted (:class:`JoinCounts`) and reported.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from ..errors import InputError

__all__ = ["ConversationTable", "read_conversation_table"]


@dataclass
class ConversationTable:
    """A validated per-conversation table: ``keys`` (str, unique) and the other ``columns``."""

    path: str
    join_column: str
    keys: list
    columns: dict  # name -> pyarrow.Array
    index: dict = field(default_factory=dict)  # key -> row
    matched: set = field(default_factory=set)
    n_conversations: int = 0
    unmatched_conversations: list = field(default_factory=list)
    n_unmatched_conversations: int = 0

    def take(self, conversation_ids) -> dict:
        """The table's columns for these conversation ids (null where no row); counts them."""
        ids = [str(c) for c in conversation_ids]
        rows = [self.index.get(c) for c in ids]
        self.n_conversations += len(ids)
        for c, r in zip(ids, rows):
            if r is None:
                self.n_unmatched_conversations += 1
                if len(self.unmatched_conversations) < 5:
                    self.unmatched_conversations.append(c)
            else:
                self.matched.add(c)
        take = pa.array(rows, type=pa.int64())
        return {name: col.take(take) for name, col in self.columns.items()}

    def record(self) -> dict:
        """What the join did (for results.json and the output metadata)."""
        without_conv = [k for k in self.keys if k not in self.matched]
        return {"file": self.path, "join_column": self.join_column, "rows": len(self.keys),
                "conversations_matched": len(self.matched),
                "conversations_without_a_row": self.n_unmatched_conversations,
                "rows_without_a_conversation": len(without_conv),
                "examples_conversations_without_a_row": list(self.unmatched_conversations),
                "examples_rows_without_a_conversation": without_conv[:5],
                "columns": list(self.columns)}

    def warn(self) -> None:
        """One warning when some conversations or rows found no partner."""
        r = self.record()
        if r["conversations_without_a_row"] or r["rows_without_a_conversation"]:
            warnings.warn(f"conversation table {Path(self.path).name}: "
                          f"{r['conversations_without_a_row']} conversation(s) without a row, "
                          f"{r['rows_without_a_conversation']} row(s) without a conversation",
                          stacklevel=3)


def read_conversation_table(path, join_column: str) -> ConversationTable:
    """Read and check a per-conversation CSV (``.csv``, any other suffix but Parquet) or Parquet
    (``.parquet``, ``.pq``) table. Errors name the file and the row: a missing file or join
    column, an empty or duplicate key."""
    p = Path(path)
    if not join_column:
        raise InputError("a conversation table needs a join column (--join-column COLUMN)")
    if not p.is_file():
        raise InputError(f"conversation table {str(p)!r} does not exist")
    parquet = p.suffix.lower() in (".parquet", ".pq")
    try:
        if parquet:
            import pyarrow.parquet as pq

            tab = pq.read_table(p)
        else:
            from pyarrow import csv

            head = csv.read_csv(p, read_options=csv.ReadOptions(block_size=1 << 16))
            types = {join_column: pa.string()} if join_column in head.column_names else {}
            tab = csv.read_csv(p, convert_options=csv.ConvertOptions(column_types=types))
    except (pa.ArrowInvalid, OSError) as e:
        raise InputError(f"conversation table {str(p)!r}: cannot read it "
                         f"({str(e).splitlines()[0]})") from None
    if join_column not in tab.column_names:
        raise InputError(f"conversation table {str(p)!r} has no join column {join_column!r}; "
                         f"columns: {', '.join(tab.column_names)}")
    keys = tab.column(join_column).cast(pa.string()).to_pylist()
    line = (lambda i: f"line {i + 2}") if not parquet else (lambda i: f"row {i + 1}")
    index: dict = {}
    for i, k in enumerate(keys):
        if k is None or k == "":
            raise InputError(f"conversation table {str(p)!r}, {line(i)}: no {join_column!r} value")
        if k in index:
            raise InputError(f"conversation table {str(p)!r}, {line(i)}: duplicate {join_column!r} "
                             f"value {k!r} (first at {line(index[k])})")
        index[k] = i
    cols = {n: tab.column(n).combine_chunks() for n in tab.column_names
            if n not in (join_column, "conversation_id")}
    return ConversationTable(str(p), join_column, keys, cols, index)
