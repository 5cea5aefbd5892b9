"""The columnar, ragged corpus every loader produces and every metric consumes.

Turns are stored in flat arrays ordered by (conversation, position); ``conv_offsets`` is the
CSR row pointer over conversations (length ``n_conversations + 1``). Text is an Arrow string
array. Tokens are a second ragged level (``Tokens``), built on demand by :meth:`Corpus.tokens`.
No Python object is created per turn: kernels take the flat arrays plus offsets.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from .errors import InputError
from .tokens import Tokens

#: Normalised role codes (int8) and their names.
CLIENT, THERAPIST, OTHER = 0, 1, 2
ROLE_NAMES = ("client", "therapist", "other")
ROLE_CODES = {name: code for code, name in enumerate(ROLE_NAMES)}

#: Speaker labels the field uses, mapped to roles (lower-cased before lookup).
DEFAULT_ROLE_MAP: dict[str, str] = {
    # ESConv (both layouts)
    "usr": "client", "seeker": "client", "speaker": "client",
    "sys": "therapist", "supporter": "therapist", "listener": "therapist",
    # counselling corpora (AnnoMI, HOPE, MI transcripts, LLM simulations)
    "client": "client", "patient": "client", "user": "client", "help-seeker": "client",
    "helpseeker": "client", "seeker_": "client", "human": "client",
    "therapist": "therapist", "counselor": "therapist", "counsellor": "therapist",
    "assistant": "therapist", "helper": "therapist", "doctor": "therapist", "bot": "therapist",
    "system": "other",
}


def parse_role_map(spec: str | Mapping[str, str] | None) -> dict[str, str]:
    """The default role map updated with a user's ``label=role`` pairs.

    ``spec`` is a mapping or a string such as ``"usr=client,sys=therapist"``. Labels are
    matched case-insensitively; roles must be one of ``client``, ``therapist``, ``other``.
    """
    out = dict(DEFAULT_ROLE_MAP)
    if spec is None:
        return out
    if isinstance(spec, str):
        pairs = {}
        for item in filter(None, (s.strip() for s in spec.split(","))):
            if "=" not in item:
                raise InputError(f"--role-map: expected LABEL=ROLE pairs separated by commas, got {item!r}")
            k, v = item.split("=", 1)
            pairs[k.strip()] = v.strip()
        spec = pairs
    for label, role in spec.items():
        role = str(role).strip().lower()
        if role not in ROLE_CODES:
            raise InputError(f"role map: {label!r} maps to {role!r}; expected one of client, therapist, other")
        out[str(label).strip().lower()] = role
    return out


def map_roles(speaker: pa.Array, role_map: Mapping[str, str]) -> np.ndarray:
    """int8 role codes for an Arrow array of speaker labels (unknown labels -> ``other``)."""
    if isinstance(speaker, pa.ChunkedArray):
        speaker = speaker.combine_chunks()
    if pa.types.is_dictionary(speaker.type):  # already encoded: look the labels up as they are
        enc = speaker
    else:
        enc = (speaker if speaker.type == pa.string() else speaker.cast(pa.string())).dictionary_encode()
    return roles_from_codes(enc.dictionary.cast(pa.string()), enc.indices.to_numpy(zero_copy_only=False),
                            role_map)


def role_map_labels(spec) -> set[str]:
    """The labels a user's role map names (lower-cased), without the built-in ones."""
    if spec is None:
        return set()
    if isinstance(spec, str):
        return {item.split("=", 1)[0].strip().lower() for item in spec.split(",") if "=" in item}
    return {str(k).strip().lower() for k in spec}


def roles_from_codes(labels: pa.Array, codes: np.ndarray, role_map: Mapping[str, str]) -> np.ndarray:
    """int8 role codes from dictionary-encoded speaker labels (labels looked up once each)."""
    import pyarrow.compute as pc

    names = pc.utf8_lower(pc.utf8_trim_whitespace(labels)).to_pylist()
    lut = np.array([ROLE_CODES[role_map.get(lbl, "other")] for lbl in names] or [OTHER], dtype=np.int8)
    return lut[codes] if len(codes) else np.zeros(0, dtype=np.int8)


@dataclass
class Corpus:
    """A corpus of conversations in columnar, ragged form.

    Attributes
    ----------
    conversation_id : pyarrow.Array of string, shape (n_conversations,)
    conv_offsets : numpy.ndarray of int64, shape (n_conversations + 1,)
    role : numpy.ndarray of int8, shape (n_turns,)
        0 client, 1 therapist, 2 other.
    speaker : pyarrow.Array of string, shape (n_turns,)
        The original speaker label.
    text : pyarrow.Array or ChunkedArray of string, shape (n_turns,)
        Kept in the chunks it was read in (never copied by the loaders).
    turn_columns : dict of name -> pyarrow.Array, each of length n_turns
        Carried per-turn columns (ratings, strategies, timestamps, ...).
    conv_columns : dict of name -> pyarrow.Array, each of length n_conversations
        Carried per-conversation columns (outcomes, metadata).
    source, format : str
        Where the corpus came from and which loader read it.
    """

    conversation_id: pa.Array
    conv_offsets: np.ndarray
    role: np.ndarray
    speaker: pa.Array
    text: pa.Array
    turn_columns: dict[str, pa.Array] = field(default_factory=dict)
    conv_columns: dict[str, pa.Array] = field(default_factory=dict)
    source: str = "<memory>"
    format: str = "table"
    skipped: list[dict[str, Any]] = field(default_factory=list)
    #: the input column chosen for each role (conversation, order, speaker, text), where known
    columns: dict[str, Any] = field(default_factory=dict)
    _tokens: Tokens | None = field(default=None, repr=False)

    # ------------------------------------------------------------------ shape
    @property
    def n_conversations(self) -> int:
        return len(self.conv_offsets) - 1

    @property
    def n_turns(self) -> int:
        return int(self.conv_offsets[-1])

    @property
    def conv_index(self) -> np.ndarray:
        """int64[n_turns]: the conversation index of every turn."""
        return np.repeat(np.arange(self.n_conversations, dtype=np.int64), np.diff(self.conv_offsets))

    @property
    def position(self) -> np.ndarray:
        """int32[n_turns]: 0-based position of every turn within its conversation."""
        idx = np.arange(self.n_turns, dtype=np.int64)
        return (idx - np.repeat(self.conv_offsets[:-1], np.diff(self.conv_offsets))).astype(np.int32)

    def __len__(self) -> int:
        return self.n_conversations

    def __repr__(self) -> str:
        return (f"Corpus({self.n_conversations} conversations, {self.n_turns} turns, "
                f"format={self.format!r}, source={self.source!r})")

    # ------------------------------------------------------------------ validation
    def validate(self) -> None:
        """Check internal consistency (lengths, offsets); raise InputError if broken."""
        n_conv, n_turns = self.n_conversations, self.n_turns
        off = self.conv_offsets
        if off.dtype != np.int64 or off.ndim != 1 or len(off) < 1 or off[0] != 0 or np.any(np.diff(off) < 0):
            raise InputError("conv_offsets must be a non-decreasing int64 array starting at 0")
        for name, arr in (("role", self.role), ("speaker", self.speaker), ("text", self.text)):
            if len(arr) != n_turns:
                raise InputError(f"{name} has {len(arr)} entries, expected {n_turns} (one per turn)")
        if len(self.conversation_id) != n_conv:
            raise InputError(f"conversation_id has {len(self.conversation_id)} entries, expected {n_conv}")
        for name, arr in self.turn_columns.items():
            if len(arr) != n_turns:
                raise InputError(f"turn column {name!r} has {len(arr)} entries, expected {n_turns}")
        for name, arr in self.conv_columns.items():
            if len(arr) != n_conv:
                raise InputError(f"conversation column {name!r} has {len(arr)} entries, expected {n_conv}")

    # ------------------------------------------------------------------ tokens
    def tokens(self) -> Tokens:
        """Word tokens of every turn (lowercase ``\\w+``), computed once and cached."""
        if self._tokens is None:
            from .tokens import tokenize

            self._tokens = tokenize(self.text)
        return self._tokens

    # ------------------------------------------------------------------ slicing
    def select(self, conv_idx: np.ndarray) -> Corpus:
        """A new corpus with the conversations ``conv_idx`` (in that order)."""
        conv_idx = np.asarray(conv_idx, dtype=np.int64)
        starts = self.conv_offsets[conv_idx]
        lens = self.conv_offsets[conv_idx + 1] - starts
        new_off = np.zeros(len(conv_idx) + 1, dtype=np.int64)
        np.cumsum(lens, out=new_off[1:])
        turn_idx = (np.repeat(starts - new_off[:-1], lens) + np.arange(new_off[-1], dtype=np.int64))
        take_t = pa.array(turn_idx, type=pa.int64())
        take_c = pa.array(conv_idx, type=pa.int64())
        return Corpus(
            conversation_id=self.conversation_id.take(take_c),
            conv_offsets=new_off,
            role=self.role[turn_idx],
            speaker=self.speaker.take(take_t),
            text=self.text.take(take_t),
            turn_columns={k: v.take(take_t) for k, v in self.turn_columns.items()},
            conv_columns={k: v.take(take_c) for k, v in self.conv_columns.items()},
            source=self.source,
            format=self.format,
            columns=self.columns,
        )

    def chunks(self, max_turns: int):
        """Yield sub-corpora of whole conversations with about ``max_turns`` turns each."""
        if self.n_turns <= max_turns:
            yield self
            return
        start = 0
        off = self.conv_offsets
        while start < self.n_conversations:
            stop = int(np.searchsorted(off, off[start] + max_turns, side="right")) - 1
            stop = max(stop, start + 1)
            stop = min(stop, self.n_conversations)
            yield self.select(np.arange(start, stop))
            start = stop

    @staticmethod
    def concat(parts: list[Corpus]) -> Corpus:
        """Concatenate corpora (same carried columns) into one."""
        if not parts:
            raise InputError("no conversations to concatenate")
        if len(parts) == 1:
            return parts[0]
        offs = [parts[0].conv_offsets]
        base = parts[0].conv_offsets[-1]
        for p in parts[1:]:
            offs.append(p.conv_offsets[1:] + base)
            base += p.conv_offsets[-1]

        def cat(arrs):
            arrs = [a.combine_chunks() if isinstance(a, pa.ChunkedArray) else a for a in arrs]
            return pa.concat_arrays(arrs)

        def cat_cols(dicts, lens):
            names = list(dict.fromkeys(k for d in dicts for k in d))
            out = {}
            for k in names:
                cols = [d.get(k) for d in dicts]
                typ = next(c.type for c in cols if c is not None)
                cols = [c if c is not None else pa.nulls(n, typ) for c, n in zip(cols, lens)]
                try:
                    out[k] = cat(cols)
                except (pa.ArrowInvalid, pa.ArrowTypeError):
                    out[k] = cat([c.cast(pa.string()) for c in cols])
            return out

        ids = [p.conversation_id for p in parts]
        if len({a.type for a in ids}) > 1:  # integer ids in one input, text in another
            ids = [a.cast(pa.string()) for a in ids]
        return Corpus(
            conversation_id=cat(ids),
            conv_offsets=np.concatenate(offs).astype(np.int64),
            role=np.concatenate([p.role for p in parts]),
            speaker=cat([p.speaker for p in parts]),
            text=cat([p.text for p in parts]),
            turn_columns=cat_cols([p.turn_columns for p in parts], [p.n_turns for p in parts]),
            conv_columns=cat_cols([p.conv_columns for p in parts], [p.n_conversations for p in parts]),
            source=parts[0].source,
            format=parts[0].format,
            skipped=[s for p in parts for s in p.skipped],
            columns=parts[0].columns,
        )
