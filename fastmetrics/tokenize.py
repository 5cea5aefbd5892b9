"""Word tokenisation: lowercase, ``\\w+`` runs (letters, digits, underscore; Unicode-aware).

Arrow lowercases the text; one compiled pass (:mod:`fastmetrics._numba.tokenize`) finds the
word runs and hashes them into a vocabulary (ids in first-appearance order) and int32 ids.
No Python object per turn. The result equals ``re.findall(r"\\w+", text.lower())`` (word
characters are exactly those of Python's ``re``: Unicode letters, digits and ``_``), with two
documented differences, both from Arrow's context-free simple case mapping: U+0130 "İ" lowers
to "i" (Python: "i" + a combining dot), and a word-final capital sigma lowers to "σ" (Python:
"ς"). Otherwise identical.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ._numba.tokenize import gather_bytes, tokenize_kernel, word_char_table
from .corpus import Tokens


def tokenize(text: pa.Array | pa.ChunkedArray) -> Tokens:
    """Tokenise an Arrow string array of turns into a :class:`~fastmetrics.corpus.Tokens`.

    Parameters
    ----------
    text : pyarrow.Array of string, shape (n_turns,)
        Nulls tokenise to zero tokens.

    Returns
    -------
    Tokens
        ``vocab`` (pyarrow string array), ``token_ids`` int32[n_tokens],
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
    lowered = pc.utf8_lower(pc.fill_null(text, ""))
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
