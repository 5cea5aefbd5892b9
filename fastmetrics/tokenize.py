"""Word tokenisation: lowercase, ``\\w+`` runs (letters, digits, underscore; Unicode-aware).

Runs entirely in Arrow compute (RE2 in C++): lowercase, split on runs of non-word characters,
drop empty pieces, dictionary-encode into a vocabulary and int32 ids. No Python object per turn.
The result equals ``re.findall(r"\\w+", text.lower())`` for letters and digits in any script
(word characters are Unicode letters, numbers and ``_``), with one documented difference:
lowercasing uses the simple Unicode case mapping, so the few characters whose full lowercase
form is several code points (U+0130 "İ" -> "i̇" in Python) lower to one character ("i").
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .corpus import Tokens

#: RE2 pattern for one run of non-word characters (complement of Python's ``\w``).
_NON_WORD = r"[^\p{L}\p{N}_]+"


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
    text = pc.fill_null(text, "")
    lowered = pc.utf8_lower(text)
    pieces = pc.split_pattern_regex(lowered, _NON_WORD)
    if isinstance(pieces, pa.ChunkedArray):
        pieces = pieces.combine_chunks()
    flat = pieces.flatten()
    keep = pc.not_equal(pc.utf8_length(flat), 0)
    if isinstance(keep, pa.ChunkedArray):
        keep = keep.combine_chunks()
    keep_np = keep.to_numpy(zero_copy_only=False)
    # per-turn counts of the kept pieces: cumulative sum of keep at the list offsets
    list_off = pieces.offsets.to_numpy().astype(np.int64)
    list_off = list_off - list_off[0]
    csum = np.zeros(len(keep_np) + 1, dtype=np.int64)
    np.cumsum(keep_np, out=csum[1:])
    token_offsets = csum[list_off]
    kept = flat.filter(keep)
    enc = kept.dictionary_encode()
    ids = enc.indices.to_numpy(zero_copy_only=False).astype(np.int32, copy=False)
    return Tokens(vocab=enc.dictionary, token_ids=np.ascontiguousarray(ids),
                  token_offsets=np.ascontiguousarray(token_offsets))
