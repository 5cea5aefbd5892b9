"""Per-turn emotion: VADER compound valence, compiled and equal to the package.

:func:`valence` returns, for every turn, the value of
``vaderSentiment.vaderSentiment.SentimentIntensityAnalyzer().polarity_scores(text)["compound"]``
(Hutto & Gilbert, ICWSM 2014), computed by a Numba port of the package's rules
(:mod:`fastmetrics.metrics.emotion._numba`). The lexicon, emoji descriptions, booster words, negations,
idioms and constants are read from the installed ``vadersentiment`` package (MIT), so the
scores follow the package's data; the rules are those of vaderSentiment 3.3.2 (pinned in the
dependencies).

VADER tokenises raw text its own way (whitespace split, punctuation stripped at word ends,
emoticons kept), not with the library's ``\\w+`` tokens. Turns are tokenised inside the
compiled kernel straight from the Arrow buffer when they are ASCII or when their non-ASCII
characters cannot change a rule (not Unicode whitespace, not an emoji, uncased: curly quotes,
dashes, CJK, ...); the other turns (emoji, accented capitals, other cased scripts, Unicode
spaces) are tokenised in Python with the package's exact Unicode string semantics and then
scored by the same compiled rules.
"""
from __future__ import annotations

import string
import sys
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from ... import backends
from ..._threads import resolve_threads
from ...errors import InputError

__all__ = ["VaderTables", "vader_tables", "valence"]

#: Words the rules compare against, in the slot order of fastmetrics.metrics.emotion._numba.
_SPECIAL_WORDS = ("no", "kind", "of", "least", "at", "very", "never", "so", "this", "without",
                  "doubt", "or", "nor", "but")


@dataclass
class VaderTables:
    """Everything the compiled scorer needs, built once from the installed package."""

    index: dict          # lowercase word -> id
    slots: np.ndarray    # int64 hash table (open addressing), -1 = empty
    key_blob: np.ndarray  # uint8, the UTF-8 bytes of every word
    key_off: np.ndarray  # int64[n_words + 1]
    val: np.ndarray      # float64[n_words], lexicon valence or NaN
    boost: np.ndarray    # float64[n_words], booster scalar (0 if none)
    isboost: np.ndarray  # bool[n_words]
    isneg: np.ndarray    # bool[n_words], in NEGATE
    sp: np.ndarray       # int64[14], ids of _SPECIAL_WORDS
    sc2: np.ndarray      # int64[k, 2] special-case bigrams, sc2v float64[k]
    sc2v: np.ndarray
    sc3: np.ndarray      # int64[k, 3] special-case trigrams
    sc3v: np.ndarray
    bb2: np.ndarray      # int64[k, 2] booster bigrams ("kind of", ...)
    bb2v: np.ndarray
    consts: np.ndarray   # float64[2]: N_SCALAR, C_INCR
    emojis: dict         # emoji character -> description
    unsafe_regex: str    # RE2 class of non-ASCII characters that need the Python tokeniser
    version: str


def _fnv_np(b: bytes) -> int:
    h = 14695981039346656037
    for c in b:
        if 65 <= c <= 90:
            c += 32
        h = ((h ^ c) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return h


_TABLES: VaderTables | None = None


def vader_tables() -> VaderTables:
    """Build (once per process) the scorer tables from the installed ``vadersentiment``."""
    global _TABLES
    if _TABLES is not None:
        return _TABLES
    try:
        from vaderSentiment import vaderSentiment as vs
    except ImportError as exc:  # pragma: no cover - it is a runtime dependency
        from ...errors import BackendUnavailableError

        raise BackendUnavailableError("the emotion family needs the 'vadersentiment' package "
                                      "(pip install vadersentiment)") from exc
    sia = vs.SentimentIntensityAnalyzer()
    lexicon, emojis = sia.lexicon, sia.emojis
    words: dict[str, int] = {}

    def wid(w: str) -> int:
        if w not in words:
            words[w] = len(words)
        return words[w]

    for w in lexicon:
        wid(w)
    for w in vs.BOOSTER_DICT:
        if " " not in w:
            wid(w)
    for w in vs.NEGATE:
        wid(w)
    for w in _SPECIAL_WORDS:
        wid(w)
    multi = [k for k in vs.SPECIAL_CASES if " " in k] + [k for k in vs.BOOSTER_DICT if " " in k]
    for k in multi:
        for w in k.split(" "):
            wid(w)
    n = len(words)
    val = np.full(n, np.nan)
    boost = np.zeros(n)
    isboost = np.zeros(n, dtype=bool)
    isneg = np.zeros(n, dtype=bool)
    for w, i in words.items():
        if w in lexicon:
            val[i] = lexicon[w]
        if w in vs.BOOSTER_DICT:
            boost[i] = vs.BOOSTER_DICT[w]
            isboost[i] = True
        if w in vs.NEGATE:
            isneg[i] = True

    def grams(d, k):
        keys = [key for key in d if len(key.split(" ")) == k]
        ids = np.array([[words[w] for w in key.split(" ")] for key in keys], dtype=np.int64).reshape(-1, k)
        return ids, np.array([float(d[key]) for key in keys], dtype=np.float64)

    sc2, sc2v = grams(vs.SPECIAL_CASES, 2)
    sc3, sc3v = grams(vs.SPECIAL_CASES, 3)
    bb2, bb2v = grams(vs.BOOSTER_DICT, 2)
    if any(len(k.split(" ")) > 2 for k in vs.BOOSTER_DICT) or any(len(k.split(" ")) > 3 for k in vs.SPECIAL_CASES):
        raise RuntimeError("vadersentiment has booster trigrams or longer idioms: this port "
                           "supports vaderSentiment 3.3.2's rules only")
    # hash table over the UTF-8 bytes of the words
    enc = [w.encode("utf-8") for w in words]
    key_off = np.zeros(n + 1, dtype=np.int64)
    key_off[1:] = np.cumsum([len(b) for b in enc])
    key_blob = np.frombuffer(b"".join(enc), dtype=np.uint8).copy()
    size = 1
    while size < 4 * n:
        size *= 2
    slots = np.full(size, -1, dtype=np.int64)
    for i, b in enumerate(enc):
        if b != b.lower() and b.isascii():
            continue  # an ASCII key with capitals can never equal a lowercased token
        p = _fnv_np(b) & (size - 1)
        while slots[p] >= 0:
            p = (p + 1) & (size - 1)
        slots[p] = i
    from importlib.metadata import version

    # non-ASCII characters the compiled tokeniser may not treat as opaque bytes: Unicode
    # whitespace, emoji keys and cased characters of the Basic Multilingual Plane (computed
    # with this Python's own str methods), and every supplementary-plane character
    bad = []
    for cp in range(0x80, 0x10000):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        c = chr(cp)
        if c.isspace() or c in emojis or c.lower() != c or c.upper() != c or c.isupper() or c.islower():
            bad.append(cp)
    ranges = []
    for cp in bad:
        if ranges and cp == ranges[-1][1] + 1:
            ranges[-1][1] = cp
        else:
            ranges.append([cp, cp])
    unsafe = "[" + "".join(f"\\x{{{a:x}}}-\\x{{{b:x}}}" for a, b in ranges) + "\\x{10000}-\\x{10ffff}]"

    _TABLES = VaderTables(
        index=words, slots=slots, key_blob=key_blob, key_off=key_off, val=val, boost=boost,
        isboost=isboost, isneg=isneg, sp=np.array([words[w] for w in _SPECIAL_WORDS], dtype=np.int64),
        sc2=sc2, sc2v=sc2v, sc3=sc3, sc3v=sc3v, bb2=bb2, bb2v=bb2v,
        consts=np.array([vs.N_SCALAR, vs.C_INCR], dtype=np.float64), emojis=emojis,
        unsafe_regex=unsafe, version=version("vadersentiment"))
    return _TABLES


def _arrow_utf8(text: pa.Array):
    """(data uint8, offsets int64[n + 1], valid bool[n]) of an Arrow string array, zero-copy."""
    if isinstance(text, pa.ChunkedArray):
        text = text.combine_chunks()
    if not isinstance(text, pa.Array):
        text = pa.array(text, type=pa.string())
    if text.type not in (pa.string(), pa.large_string()):
        if pa.types.is_null(text.type):
            text = text.cast(pa.string())
        else:
            raise InputError(f"text must be an array of strings, got {text.type}")
    n = len(text)
    bufs = text.buffers()
    odt = np.int32 if text.type == pa.string() else np.int64
    offsets = np.frombuffer(bufs[1], dtype=odt, count=text.offset + n + 1)[text.offset:].astype(np.int64)
    data = np.frombuffer(bufs[2], dtype=np.uint8) if bufs[2] is not None and bufs[2].size else np.zeros(1, np.uint8)
    valid = text.is_valid().to_numpy(zero_copy_only=False) if text.null_count else np.ones(n, dtype=bool)
    return data, offsets, valid, text


_PUNCT = string.punctuation


def _py_words(text: str, emojis: dict):
    """VADER's own tokens of one text (emoji replacement, strip, split, edge punctuation)."""
    out = []
    prev_space = True
    for ch in text:
        if ch in emojis:
            if not prev_space:
                out.append(" ")
            out.append(emojis[ch])
            prev_space = False
        else:
            out.append(ch)
            prev_space = ch == " "
    text = "".join(out).strip()
    words = []
    for w in text.split():
        s = w.strip(_PUNCT)
        words.append(w if len(s) <= 2 else s)
    return words, text.count("!"), text.count("?")


def valence(text, *, n_threads: int | None = None, backend: str = "auto") -> np.ndarray:
    """VADER compound valence of every turn.

    Parameters
    ----------
    text : pyarrow.Array of string, list of str, shape (n_turns,)
        Null turns get NaN.
    n_threads : int or None
    backend : {"auto", "numba", "c", "cuda"}
        See :mod:`fastmetrics.backends`.

    Returns
    -------
    numpy.ndarray of float64, shape (n_turns,)
        Equal to ``SentimentIntensityAnalyzer().polarity_scores(t)["compound"]`` (rounded to
        4 decimals, as the package does).

    Notes
    -----
    Hutto, C.J. & Gilbert, E.E. (2014). VADER: A Parsimonious Rule-based Model for Sentiment
    Analysis of Social Media Text. ICWSM-14.

    Examples
    --------
    >>> valence(["The book was good.", "Not bad at all", ""]).tolist()
    [0.4404, 0.431, 0.0]
    """
    ascii_op = backends.resolve(backend, "vader_ascii")
    tokens_op = backends.resolve(backend, "vader_tokens")
    nt = resolve_threads(n_threads)
    tb = vader_tables()
    data, offsets, valid, arr = _arrow_utf8(text)
    n = len(offsets) - 1
    out = np.full(n, np.nan)
    raw = np.full(n, np.nan)
    tie = np.zeros(n, dtype=bool)
    if n == 0:
        return out
    import pyarrow.compute as pc

    ascii_ = pc.string_is_ascii(arr).fill_null(False).to_numpy(zero_copy_only=False)
    todo = np.ascontiguousarray(ascii_ & valid)
    rest = np.nonzero(valid & ~ascii_)[0]
    if len(rest):
        # non-ASCII turns whose extra characters are opaque to the rules stay compiled
        needs_py = pc.match_substring_regex(arr.take(pa.array(rest)), tb.unsafe_regex)
        needs_py = needs_py.fill_null(True).to_numpy(zero_copy_only=False)
        todo[rest[~needs_py]] = True
        rest = rest[needs_py]
    neumaier = sys.version_info >= (3, 12)
    max_len = int(np.diff(offsets).max())
    args = (tb.val, tb.boost, tb.isboost, tb.isneg, tb.sp, tb.sc2, tb.sc2v, tb.sc3, tb.sc3v,
            tb.bb2, tb.bb2v, tb.consts, neumaier)
    ascii_op(data, offsets, todo, max_len, tb.slots, tb.key_blob, tb.key_off, args, out, raw, tie, nt)
    if len(rest):
        index, emojis = tb.index, tb.emojis
        texts = arr.take(pa.array(rest)).to_pylist()
        wid, up, ntf, tok_off, ep, qm = [], [], [], [0], [], []
        for s in texts:
            words, e, q = _py_words(s, emojis)
            for w in words:
                lw = w.lower()
                wid.append(index.get(lw, -1))
                up.append(w.isupper())
                ntf.append("n't" in lw)
            tok_off.append(len(wid))
            ep.append(e)
            qm.append(q)
        r_out = np.empty(len(rest))
        r_raw = np.empty(len(rest))
        r_tie = np.zeros(len(rest), dtype=bool)
        tokens_op(np.array(tok_off, dtype=np.int64), np.array(wid, dtype=np.int64),
                  np.array(up, dtype=np.bool_), np.array(ntf, dtype=np.bool_),
                  np.array(ep, dtype=np.int64), np.array(qm, dtype=np.int64), args,
                  r_out, r_raw, r_tie, nt)
        out[rest] = r_out
        raw[rest] = r_raw
        tie[rest] = r_tie
    # near-ties of the 4-decimal rounding: Python's exactly rounded round()
    for i in np.nonzero(tie)[0]:
        out[i] = round(float(raw[i]), 4)
    return out
