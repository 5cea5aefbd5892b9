"""Word tokenisation kernel: ``\\w+`` runs in lowercased UTF-8 text, hashed to vocabulary ids.

Algorithm: one pass over the Arrow string buffer. Each UTF-8 sequence is decoded to a code
point and classified with a table of word characters built from Python's own ``re`` (so the
runs are exactly those ``re.findall(r"\\w+", ...)`` finds). Each run is looked up in an
open-addressing hash table (FNV-1a over the bytes, linear probing, doubled at half load); new
words get the next id, so ids follow first appearance and the result is deterministic. The
tables have a fixed capacity (no reallocation inside the loop); the caller retries with a
larger one in the rare case the text has more distinct words.
Parallel strategy: none (the hash table is shared state; the pass is memory-bound, about
0.3 s per million ESConv-sized turns).
Memory: token ids (4 bytes per token, sized by an upper bound of half the text bytes), the
vocabulary's first-occurrence positions and the hash table.
Numerical caveats: none (integer only). Input must be valid UTF-8, as Arrow strings are.
"""
from __future__ import annotations

import re

import numba
import numpy as np

_WORD_TABLE: np.ndarray | None = None


def word_char_table() -> np.ndarray:
    """bool[0x110000]: True where Python's ``re`` counts the code point as ``\\w``."""
    global _WORD_TABLE
    if _WORD_TABLE is None:
        cps = np.arange(0x110000, dtype=np.uint32)
        cps[0xD800:0xE000] = 0x20  # surrogates cannot be encoded; they are not word characters
        text = cps.tobytes().decode("utf-32-le")
        marked = re.sub(r"\w", "\x01", text)
        table = np.frombuffer(marked.encode("utf-32-le"), dtype=np.uint32) == 1
        table[1] = re.match(r"\w", "\x01") is not None  # U+0001 itself was the marker
        _WORD_TABLE = np.ascontiguousarray(table)
    return _WORD_TABLE


@numba.njit(cache=True, nogil=True)
def _hash(data, a, b):
    h = np.uint64(14695981039346656037)
    for k in range(a, b):
        h ^= np.uint64(data[k])
        h *= np.uint64(1099511628211)
    return h


@numba.njit(cache=True, nogil=True)
def tokenize_kernel(data, str_offsets, is_word, vocab_capacity):
    """Tokenise every string of an Arrow string buffer.

    Parameters
    ----------
    data : uint8[n_bytes]      lowercased UTF-8 text of all turns, back to back
    str_offsets : int64[n_turns + 1]  byte offsets of each turn in ``data``
    is_word : bool[0x110000]   word-character table
    vocab_capacity : int       most distinct words; the hash table has twice as many slots
        (a power of two). When the text has more, ``n_vocab`` is returned as -1 and the caller
        retries with a larger capacity (fixed-size tables keep the loop free of reallocation).

    Returns
    -------
    token_ids : int32[n_tokens]
    token_offsets : int64[n_turns + 1]
    vocab_start : int64[n_vocab]   byte offset of each word's first occurrence in ``data``
    vocab_len : int64[n_vocab]     its length in bytes
    n_vocab : int                  -1 when ``vocab_capacity`` was too small
    """
    n_turns = str_offsets.shape[0] - 1
    n_bytes = str_offsets[n_turns] - str_offsets[0]
    token_ids = np.empty(n_bytes // 2 + n_turns + 1, dtype=np.int32)
    token_offsets = np.zeros(n_turns + 1, dtype=np.int64)
    cap = 2
    while cap < 2 * vocab_capacity:
        cap *= 2
    mask = np.uint64(cap - 1)
    slots = np.full(cap, -1, dtype=np.int64)
    v_start = np.empty(vocab_capacity, dtype=np.int64)
    v_len = np.empty(vocab_capacity, dtype=np.int64)
    v_hash = np.empty(vocab_capacity, dtype=np.uint64)
    n_vocab = 0
    n_tok = 0
    for t in range(n_turns):
        end = str_offsets[t + 1]
        start = -1
        for i in range(str_offsets[t], end + 1):
            word = False
            if i < end:
                b = data[i]
                if b < 0x80:
                    word = is_word[b]
                elif b < 0xC0:  # continuation byte: same class as its lead byte
                    continue
                else:  # lead byte of a multi-byte sequence (input is valid UTF-8)
                    if b < 0xE0:
                        cp = (np.int64(b & 0x1F) << 6) | np.int64(data[i + 1] & 0x3F)
                    elif b < 0xF0:
                        cp = ((np.int64(b & 0x0F) << 12) | (np.int64(data[i + 1] & 0x3F) << 6)
                              | np.int64(data[i + 2] & 0x3F))
                    else:
                        cp = ((np.int64(b & 0x07) << 18) | (np.int64(data[i + 1] & 0x3F) << 12)
                              | (np.int64(data[i + 2] & 0x3F) << 6) | np.int64(data[i + 3] & 0x3F))
                    word = cp < 0x110000 and is_word[cp]
            if word:
                if start < 0:
                    start = i
            elif start >= 0:
                h = _hash(data, start, i)
                ln = i - start
                s = np.int64(h & mask)
                v = slots[s]
                while v >= 0:
                    if v_hash[v] == h and v_len[v] == ln:
                        a = v_start[v]
                        same = True
                        for k in range(ln):
                            if data[a + k] != data[start + k]:
                                same = False
                                break
                        if same:
                            break
                    s = (s + 1) & (cap - 1)
                    v = slots[s]
                if v < 0:
                    if n_vocab == vocab_capacity:
                        return token_ids[:0], token_offsets, v_start[:0], v_len[:0], -1
                    v = n_vocab
                    v_start[v] = start
                    v_len[v] = ln
                    v_hash[v] = h
                    slots[s] = v
                    n_vocab += 1
                token_ids[n_tok] = v
                n_tok += 1
                start = -1
        token_offsets[t + 1] = n_tok
    return token_ids[:n_tok].copy(), token_offsets, v_start[:n_vocab].copy(), v_len[:n_vocab].copy(), n_vocab


@numba.njit(cache=True, nogil=True)
def gather_bytes(data, starts, lens):
    """Concatenate ``data[starts[i]:starts[i]+lens[i]]``; returns (bytes, int64 offsets)."""
    n = starts.shape[0]
    off = np.zeros(n + 1, dtype=np.int64)
    for i in range(n):
        off[i + 1] = off[i] + lens[i]
    out = np.empty(off[n], dtype=np.uint8)
    for i in range(n):
        out[off[i]:off[i + 1]] = data[starts[i]:starts[i] + lens[i]]
    return out, off
