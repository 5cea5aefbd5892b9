"""Word tokens: the :class:`Tokens` ragged array and :func:`tokenize`.

Tokenisation: Unicode NFC normalisation (so that ``cafe\\u0301`` and ``café`` are one word),
lowercase, ``\\w+`` runs (letters, digits, underscore; Unicode-aware).

Arrow normalises and lowercases the text; one compiled pass (:mod:`fastmetrics._tokens_numba`) finds the
word runs and hashes them into a vocabulary (ids in first-appearance order) and int32 ids.
No Python object per turn. The result equals
``re.findall(r"\\w+", unicodedata.normalize("NFC", text).lower())`` (word
characters are exactly those of Python's ``re``: Unicode letters, digits and ``_``), with two
documented differences, both from Arrow's context-free simple case mapping: U+0130 "İ" lowers
to "i" (Python: "i" + a combining dot), and a word-final capital sigma lowers to "σ" (Python:
"ς"). Otherwise identical.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ._tokens_numba import gather_bytes, tokenize_kernel, word_char_table

__all__ = ["Tokens", "tokenize"]


@dataclass
class Tokens:
    """Ragged word tokens: ``token_ids[token_offsets[t]:token_offsets[t+1]]`` are turn t's tokens.

    ``vocab`` is an Arrow string array; ids index into it (see :func:`tokenize`).
    """

    vocab: pa.Array
    token_ids: np.ndarray  # int32[n_tokens]
    token_offsets: np.ndarray  # int64[n_turns + 1]

    @property
    def n_tokens(self) -> np.ndarray:
        return np.diff(self.token_offsets).astype(np.int32)

    def turn(self, t: int) -> list[str]:
        """The tokens of turn ``t`` as strings (for inspection and tests; not a hot path)."""
        ids = self.token_ids[self.token_offsets[t]:self.token_offsets[t + 1]]
        return self.vocab.take(pa.array(ids)).to_pylist()


def nfc(text: pa.Array) -> pa.Array:
    """``text`` in Unicode NFC; returned as it is when every string is ASCII (the common case)."""
    if len(text) == 0 or pc.all(pc.string_is_ascii(text)).as_py() is not False:
        return text
    return pc.utf8_normalize(text, form="NFC")


def tokenize(text: pa.Array | pa.ChunkedArray) -> Tokens:
    """Tokenise an Arrow string array of turns into a :class:`Tokens`.

    Parameters
    ----------
    text : pyarrow.Array of string, shape (n_turns,)
        Nulls tokenise to zero tokens.

    Returns
    -------
    Tokens
        ``vocab`` (pyarrow string array, NFC), ``token_ids`` int32[n_tokens],
        ``token_offsets`` int64[n_turns + 1].

    Examples
    --------
    >>> import pyarrow as pa
    >>> tokenize(pa.array(["Hi, I'm fine."])).turn(0)
    ['hi', 'i', 'm', 'fine']
    """
    if isinstance(text, pa.ChunkedArray):
        text = text.combine_chunks()
    if text.type == pa.large_string():
        text = text.cast(pa.string())
    lowered = pc.utf8_lower(nfc(pc.fill_null(text, "")))
    if isinstance(lowered, pa.ChunkedArray):
        lowered = lowered.combine_chunks()
    n = len(lowered)
    bufs = lowered.buffers()
    offsets = np.frombuffer(bufs[1], dtype=np.int32, count=n + 1, offset=lowered.offset * 4).astype(np.int64)
    data = np.frombuffer(bufs[2], dtype=np.uint8) if bufs[2] is not None and bufs[2].size else np.zeros(1, np.uint8)
    table = word_char_table()
    capacity = max(1 << 16, int(offsets[-1] - offsets[0]) // 64)
    while True:
        ids, token_offsets, v_start, v_len, n_vocab = tokenize_kernel(data, offsets, table, capacity)
        if n_vocab >= 0:
            break
        capacity *= 4
    vbytes, voff = gather_bytes(data, v_start, v_len)
    vocab = pa.StringArray.from_buffers(len(v_start), pa.py_buffer(voff.astype(np.int32)), pa.py_buffer(vbytes))
    return Tokens(vocab=vocab, token_ids=ids, token_offsets=token_offsets)
