"""ESConv (Liu et al., ACL 2021) in both published layouts.

- ``esconv-jsonl``: one conversation per line (the Hugging Face release):
  ``dialog: [{text, speaker: usr|sys, strategy}]``, ``survey_score.seeker.*`` as strings.
- ``esconv-json``: the original JSON list: ``dialog: [{speaker: seeker|supporter or
  speaker|listener, annotation: {strategy} | {feedback}, content}]``.

Per turn: ``strategy`` (supporter strategy label) and ``rating`` (the seeker's ``feedback``
1-5, on the seeker turn that carries it; it rates the supporter's preceding turns).
Per conversation: the seeker survey as numbers (``initial_emotion_intensity``,
``final_emotion_intensity``, ``empathy``, ``relevance``), supporter survey as
``supporter_survey_<key>``, and the descriptive fields (``experience_type``, ``emotion_type``,
``problem_type``, ``situation``, ...). Conversation ids are the record's ``conversation_id`` when it has one, else
``<file stem>:<index>`` (0-based).
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa

from ..corpus import Corpus, map_roles, parse_role_map
from .problems import Problems

SEEKER_SURVEY = ("initial_emotion_intensity", "final_emotion_intensity", "empathy", "relevance")


def _num(v):
    if v is None:
        return None
    try:
        return float(str(v).strip())
    except ValueError:
        return None


class _Builder:
    """Accumulates conversations as flat Python lists, then one Arrow conversion per chunk."""

    def __init__(self, source: str, fmt: str, role_map):
        self.source, self.fmt, self.role_map = source, fmt, role_map
        self.reset()

    def reset(self):
        self.conv_ids, self.lengths = [], []
        self.speaker, self.text, self.strategy, self.rating = [], [], [], []
        self.conv_meta: dict[str, list] = {}
        self.n_conv = 0

    def add(self, cid: str, turns: list[tuple[str, str, str | None, float | None]], meta: dict):
        for key in meta:
            if key not in self.conv_meta:
                self.conv_meta[key] = [None] * self.n_conv
        for key, col in self.conv_meta.items():
            col.append(meta.get(key))
        self.conv_ids.append(cid)
        self.lengths.append(len(turns))
        for spk, txt, strat, rate in turns:
            self.speaker.append(spk)
            self.text.append(txt)
            self.strategy.append(strat)
            self.rating.append(rate)
        self.n_conv += 1

    def build(self) -> Corpus:
        off = np.zeros(len(self.lengths) + 1, dtype=np.int64)
        np.cumsum(np.asarray(self.lengths, dtype=np.int64), out=off[1:])
        speaker = pa.array(self.speaker, pa.string())
        conv_cols = {}
        for key, vals in self.conv_meta.items():
            numeric = key in SEEKER_SURVEY or key.startswith("supporter_survey_")
            conv_cols[key] = pa.array(vals, pa.float64() if numeric else pa.string())
        for key in SEEKER_SURVEY:
            conv_cols.setdefault(key, pa.nulls(self.n_conv, pa.float64()))
        turn_cols = {"strategy": pa.array(self.strategy, pa.string())}
        if self.fmt == "esconv-json":
            turn_cols["rating"] = pa.array(self.rating, pa.float64())
        corpus = Corpus(conversation_id=pa.array(self.conv_ids, pa.string()), conv_offsets=off,
                        role=map_roles(speaker, self.role_map), speaker=speaker,
                        text=pa.array(self.text, pa.string()), turn_columns=turn_cols,
                        conv_columns=conv_cols, source=self.source, format=self.fmt)
        self.reset()
        return corpus


def _conversation(obj, idx: int, stem: str, fmt: str, source: str, line: int | None,
                  problems: Problems, unit: str):
    """Parse one ESConv record; returns (cid, turns, meta) or None if skipped."""
    cid = f"{stem}:{idx}"
    if isinstance(obj, dict) and isinstance(obj.get("conversation_id"), (str, int)):
        cid = str(obj["conversation_id"])
    where = dict(source=source, line=line, conversation=cid, unit=unit)
    if not isinstance(obj, dict) or not isinstance(obj.get("dialog"), list):
        problems.report("expected an ESConv conversation object with a 'dialog' list", level="conversation", **where)
        return None
    text_key = "text" if fmt == "esconv-jsonl" else "content"
    turns = []
    for j, t in enumerate(obj["dialog"]):
        if not isinstance(t, dict):
            problems.report(f"dialog[{j}] is not an object", **where)
            continue
        txt = t.get(text_key, t.get("text" if text_key == "content" else "content"))
        spk = t.get("speaker")
        if not isinstance(spk, str) or not spk.strip():
            problems.report(f"dialog[{j}] has no speaker", **where)
            continue
        if not isinstance(txt, str):
            problems.report(f"dialog[{j}] has no {text_key!r} string", **where)
            continue
        if not txt.strip():
            problems.report(f"dialog[{j}] has an empty text; every turn needs words", **where)
            continue
        ann = t.get("annotation") if isinstance(t.get("annotation"), dict) else {}
        strat = t.get("strategy", ann.get("strategy"))
        rating = _num(ann.get("feedback")) if "feedback" in ann else None
        if "feedback" in ann and rating is None and ann.get("feedback") is not None:
            # the skip report lists exactly what goes: with skip, this turn is dropped
            problems.report(f"dialog[{j}] feedback {ann.get('feedback')!r} is not a number; "
                            "expected a rating 1-5", **where)
            continue
        turns.append((spk, txt, strat if isinstance(strat, str) else None, rating))
    if len(turns) < 2:
        problems.report("has fewer than two turns; a conversation needs at least two", level="conversation", **where)
        return None
    if len({s for s, *_ in turns}) < 2:
        problems.report("has a single speaker; a conversation needs two", level="conversation", **where)
        return None
    meta = {}
    for key, val in obj.items():
        if key in ("dialog", "survey_score", "conversation_id"):
            continue
        if isinstance(val, (str, int, float, bool)) or val is None:
            meta[key] = None if val is None else str(val)
    survey = obj.get("survey_score") if isinstance(obj.get("survey_score"), dict) else {}
    seeker = survey.get("seeker") if isinstance(survey.get("seeker"), dict) else {}
    supporter = survey.get("supporter") if isinstance(survey.get("supporter"), dict) else {}
    for key in SEEKER_SURVEY:
        meta[key] = _num(seeker.get(key))
    for key, val in seeker.items():
        if key not in SEEKER_SURVEY:
            meta[f"seeker_survey_{key}"] = str(val)
    for key, val in supporter.items():
        meta[f"supporter_survey_{key}"] = _num(val)
    return cid, turns, meta


def read_esconv(path: Path, fmt: str, *, problems: Problems, role_map=None,
                chunk_conversations: int | None = None) -> Iterator[Corpus]:
    """Yield corpora of whole ESConv conversations (all at once, or ``chunk_conversations`` each)."""
    source = str(path)
    rmap = parse_role_map(role_map)
    b = _Builder(source, fmt, rmap)
    stem = path.name.split(".")[0]
    if fmt == "esconv-jsonl":
        with open(path, "rb") as fh:
            idx = 0
            for lineno, raw in enumerate(fh, start=1):
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    problems.report(f"not valid UTF-8 ({exc.reason} at byte {exc.start})", source=source, line=lineno)
                    idx += 1
                    continue
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as exc:
                    problems.report(f"malformed JSON ({exc.msg} at column {exc.colno})", source=source, line=lineno)
                    idx += 1
                    continue
                rec = _conversation(obj, idx, stem, fmt, source, lineno, problems, "line")
                idx += 1
                if rec is not None:
                    b.add(*rec)
                if chunk_conversations and b.n_conv >= chunk_conversations:
                    yield b.build()
    else:
        try:
            raw = path.read_bytes().decode("utf-8")
        except UnicodeDecodeError as exc:
            line = path.read_bytes()[:exc.start].count(b"\n") + 1
            problems.report(f"not valid UTF-8 ({exc.reason})", source=source, line=line, level="file")
            return
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as exc:
            problems.report(f"malformed JSON ({exc.msg}, column {exc.colno})", source=source, line=exc.lineno,
                            level="file")
            return
        if not isinstance(data, list):
            problems.report("expected a JSON list of ESConv conversations", source=source, line=1, level="file")
            return
        for idx, obj in enumerate(data):
            rec = _conversation(obj, idx, stem, fmt, source, idx + 1, problems, "conversation")
            if rec is not None:
                b.add(*rec)
            if chunk_conversations and b.n_conv >= chunk_conversations:
                yield b.build()
    if b.n_conv:
        yield b.build()
