"""Input format detection (``--format auto``)."""
from __future__ import annotations

import json
import os
from pathlib import Path

from ..errors import InputError

FORMATS = ("auto", "csv", "tsv", "jsonl", "json", "parquet", "convokit", "esconv-jsonl",
           "esconv-json")


def _first_json_value(path: Path) -> tuple[str, object]:
    """('list'|'object', first element or object) from the start of a JSON/JSONL file."""
    with open(path, "rb") as fh:
        head = fh.read(1 << 16)
    text = head.decode("utf-8", errors="replace").lstrip("\ufeff \t\r\n")
    if not text:
        raise InputError("the file is empty; expected a corpus", source=str(path))
    if text[0] == "[":
        dec = json.JSONDecoder()
        body = text[1:].lstrip()
        try:
            obj, _ = dec.raw_decode(body)
        except json.JSONDecodeError:
            obj = None
        return "list", obj
    first_line = text.split("\n", 1)[0]
    try:
        return "object", json.loads(first_line)
    except json.JSONDecodeError:
        return "object", None


def _is_esconv_dialog(obj) -> bool:
    return isinstance(obj, dict) and isinstance(obj.get("dialog"), list)


def detect_format(path: str | os.PathLike) -> str:
    """The format name of ``path`` (one of :data:`FORMATS` except ``auto``).

    Directories holding ``utterances.jsonl`` are ConvoKit corpora. ``.parquet`` is Parquet,
    ``.csv``/``.tsv``/``.tab`` are delimited tables. JSON files are ESConv when their first
    record has a ``dialog`` list (``esconv-json`` for the original JSON list, ``esconv-jsonl``
    one conversation per line); otherwise JSON lines / JSON records of a long table.
    """
    p = Path(path)
    if not p.exists():
        raise InputError("no such file or directory", source=str(p))
    if p.is_dir():
        if (p / "utterances.jsonl").exists():
            return "convokit"
        raise InputError("a directory was given but it holds no utterances.jsonl (ConvoKit corpus expected)",
                         source=str(p))
    suffix = "".join(p.suffixes[-1:]).lower()
    if suffix in (".parquet", ".pq"):
        return "parquet"
    if suffix == ".csv":
        return "csv"
    if suffix in (".tsv", ".tab"):
        return "tsv"
    if p.stat().st_size == 0:
        raise InputError("the file is empty; expected a corpus", source=str(p))
    with open(p, "rb") as fh:
        magic = fh.read(4)
    if magic == b"PAR1":
        return "parquet"
    if suffix in (".json", ".jsonl", ".ndjson", "") or magic[:1] in (b"{", b"["):
        kind, obj = _first_json_value(p)
        if kind == "list":
            return "esconv-json" if _is_esconv_dialog(obj) else "json"
        return "esconv-jsonl" if _is_esconv_dialog(obj) else "jsonl"
    raise InputError(f"cannot tell the format from the name {p.name!r}; pass --format "
                     f"({', '.join(FORMATS[1:])})", source=str(p))
