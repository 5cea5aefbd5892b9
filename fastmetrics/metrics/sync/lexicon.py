"""Function-word categories for style synchrony (LSM, rLSM, coordination).

The nine LSM categories (Ireland & Pennebaker 2010) are personal pronouns, impersonal
pronouns, articles, auxiliary verbs, high-frequency adverbs, prepositions, conjunctions,
negations and quantifiers. The LIWC dictionaries that define them are proprietary, so this
module ships **open word lists written for this project** (:data:`BUILTIN_CATEGORIES`). They
are *not* LIWC and scores computed with them are not LIWC-exact. Users holding a LIWC licence
can pass a LIWC-format ``.dic`` file (:func:`read_dic`, ``--dictionary FILE``), which then
replaces the built-in lists everywhere.

The built-in lists are written for the library's tokeniser (lowercase ``\\w+`` runs), so
contractions appear split: "don't" -> "don" + "t". The stem ("don", "isn", "can") counts as an
auxiliary verb and the "t" piece as a negation, as LIWC counts "don't" in both categories;
"m", "re", "ve", "ll", "d" (from "I'm", "we're", ...) count as auxiliary verbs.

Matching a dictionary to a corpus vocabulary is done once per vocabulary
(:meth:`Lexicon.vocab_mask`): every vocabulary entry gets a bitmask of its categories, exact
entries first, then ``word*`` prefix wildcards. The per-turn counting is a compiled kernel
(:func:`fastmetrics.sync.category_counts`).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa

from ...errors import InputError

__all__ = ["CATEGORIES", "COORDINATION_MARKERS", "CATEGORY_ALIASES", "BUILTIN_CATEGORIES", "Lexicon",
           "builtin_lexicon", "read_dic", "load_lexicon"]

#: The nine LSM categories, in output order.
CATEGORIES: tuple[str, ...] = ("ppron", "ipron", "article", "auxverb", "adverb", "prep",
                               "conj", "negate", "quant")

#: The eight coordination markers of Danescu-Niculescu-Mizil et al. (ConvoKit
#: ``CoordinationWordCategories``): the LSM categories without negations.
COORDINATION_MARKERS: tuple[str, ...] = ("article", "auxverb", "conj", "adverb", "ppron",
                                         "ipron", "prep", "quant")

#: Category names accepted in a ``.dic`` header for each LSM category (case-insensitive).
#: Covers the names used by LIWC2001/2007/2015/22 dictionaries.
CATEGORY_ALIASES: dict[str, tuple[str, ...]] = {
    "ppron": ("ppron", "personal pronouns", "personal_pronouns", "personalpronouns"),
    "ipron": ("ipron", "impersonal pronouns", "impersonal_pronouns", "impersonalpronouns"),
    "article": ("article", "articles"),
    "auxverb": ("auxverb", "auxverbs", "auxiliary verbs", "auxiliary_verbs"),
    "adverb": ("adverb", "adverbs", "adverbial", "adverbials"),
    "prep": ("prep", "preps", "preposition", "prepositions"),
    "conj": ("conj", "conjunction", "conjunctions", "conjunct"),
    "negate": ("negate", "negation", "negations", "negative"),
    "quant": ("quant", "quantity", "quantifier", "quantifiers", "quantities"),
}

# --------------------------------------------------------------------------------------------
# Built-in open word lists (written for fastmetrics; not LIWC). Entries ending in "*" are
# prefix wildcards. Words are in tokenised form (lowercase \w+ pieces).
# --------------------------------------------------------------------------------------------
_PPRON = """
i me my mine myself we us our ours ourselves you your yours yourself yourselves ya yall
he him his himself she her hers herself they them their theirs themselves themself
thee thou thy u ur
"""
_IPRON = """
it its itself this that these those anything anybody anyone something somebody someone
everything everybody everyone nothing nobody noone whatever whoever whomever whichever
what which who whom whose another other others such thing things stuff somewhere anywhere
everywhere nowhere
"""
_ARTICLE = "a an the"
_AUXVERB = """
am is are was were be been being have has had having do does did doing done
will would shall should can could may might must ought
m re ve ll d
isn aren wasn weren haven hasn hadn don doesn didn won wouldn shan shouldn can cannot
couldn mightn mustn needn ain gonna gotta wanna
"""
_ADVERB = """
very really so too quite rather just also only even still already always never often
sometimes usually again almost nearly quickly slowly well actually probably maybe perhaps
certainly definitely totally completely absolutely simply basically literally seriously
pretty fairly somewhat kinda sorta now then here there soon later today yet else ever
anyway anyways however instead indeed especially mostly mainly nearly hardly barely
exactly truly honestly clearly obviously apparently generally usually finally recently
"""
_PREP = """
about above across after against along amid among around as at before behind below beneath
beside besides between beyond by despite down during except for from in inside into like
near of off on onto out outside over past per since through throughout till to toward
towards under underneath unlike until unto up upon via with within without
"""
_CONJ = """
and but or nor so yet because although though while whereas if unless whether since until
once than whenever wherever also plus either neither however therefore thus hence
"""
_NEGATE = """
no not never none nothing nobody nowhere neither nor nope nah cannot without t
isnt arent wasnt werent havent hasnt hadnt dont doesnt didnt wont wouldnt shouldnt cant
couldnt mightnt mustnt neednt aint
"""
_QUANT = """
all any each every few many much more most less least several some both half lot lots
plenty enough little bit bunch couple number numerous whole entire various none
one two three four five six seven eight nine ten hundred thousand million once twice
first second third single double many multiple majority minority extra
"""


def _words(block: str) -> list[str]:
    return block.split()


BUILTIN_CATEGORIES: dict[str, tuple[str, ...]] = {
    "ppron": tuple(_words(_PPRON)),
    "ipron": tuple(_words(_IPRON)),
    "article": tuple(_words(_ARTICLE)),
    "auxverb": tuple(_words(_AUXVERB)),
    "adverb": tuple(_words(_ADVERB)),
    "prep": tuple(_words(_PREP)),
    "conj": tuple(_words(_CONJ)),
    "negate": tuple(_words(_NEGATE)),
    "quant": tuple(_words(_QUANT)),
}


@dataclass
class Lexicon:
    """Word lists for the nine LSM categories, exact words and ``word*`` prefix wildcards.

    Attributes
    ----------
    exact : dict of str -> int
        Lowercase word -> category bitmask (bit k = ``CATEGORIES[k]``).
    prefixes : dict of str -> int
        Wildcard prefix (without ``*``) -> category bitmask.
    source : str
        ``"builtin"`` or the path of the ``.dic`` file, recorded in output metadata.
    """

    exact: dict[str, int] = field(default_factory=dict)
    prefixes: dict[str, int] = field(default_factory=dict)
    source: str = "builtin"

    def add(self, word: str, category: int) -> None:
        word = word.strip().lower()
        bit = 1 << category
        if word.endswith("*"):
            stem = word[:-1]
            self.prefixes[stem] = self.prefixes.get(stem, 0) | bit
        else:
            self.exact[word] = self.exact.get(word, 0) | bit

    def mask_of(self, word: str) -> int:
        """Category bitmask of one (lowercase) token: exact entry, or-ed with every matching
        wildcard prefix."""
        m = self.exact.get(word, 0)
        for n in self._prefix_lengths():
            if n <= len(word):
                m |= self.prefixes.get(word[:n], 0)
        return m

    def _prefix_lengths(self) -> list[int]:
        return sorted({len(p) for p in self.prefixes})

    def vocab_mask(self, vocab: pa.Array) -> np.ndarray:
        """Category bitmask of every vocabulary entry.

        Parameters
        ----------
        vocab : pyarrow.Array of string, shape (vocab_size,)

        Returns
        -------
        numpy.ndarray of uint32, shape (vocab_size,)
        """
        if isinstance(vocab, pa.ChunkedArray):
            vocab = vocab.combine_chunks()
        words = vocab.to_pylist()
        lengths = self._prefix_lengths()
        exact, prefixes = self.exact, self.prefixes
        out = np.zeros(len(words), dtype=np.uint32)
        for i, w in enumerate(words):
            if w is None:
                continue
            m = exact.get(w, 0)
            for n in lengths:
                if n > len(w):
                    break
                m |= prefixes.get(w[:n], 0)
            out[i] = m
        return out


def builtin_lexicon() -> Lexicon:
    """The project's open word lists (not LIWC) as a :class:`Lexicon`."""
    lex = Lexicon(source="builtin")
    for k, cat in enumerate(CATEGORIES):
        for w in BUILTIN_CATEGORIES[cat]:
            lex.add(w, k)
    return lex


_WORD_RE = re.compile(r"^\w+\*?$")
#: One category field: an id, or a LIWC2007 conditional "(ids)A/B" (spaces inside the parens).
_FIELD_RE = re.compile(r"\([^)]*\)\S*|\S+")
_COND_RE = re.compile(r"^\((?:\s*\d+)+\s*\)(\d+)(?:/(\d+))?$")


def read_dic(path: str | Path) -> Lexicon:
    """Read a LIWC-format ``.dic`` file and keep the nine LSM categories.

    The format is a header between two lines holding ``%``, each header line
    ``<id><whitespace><category name>``, then one entry per line:
    ``<word>[*]<TAB><id> <id> ...`` (ids separated by tabs or spaces; ``*`` marks a prefix
    wildcard). A word may belong to several categories. Category names are matched to the LSM
    categories through :data:`CATEGORY_ALIASES` (case-insensitive).

    Entries that are not a single ``\\w+`` run (e.g. "don't", "kind of") can never match the
    library's tokens; they are skipped and counted in ``Lexicon.source``. LIWC2007 conditional
    fields ``(ids)A/B`` (category A when the previous word is in one of ids, else B) depend on
    context a per-word mask cannot express: the default branch B is used (nothing when there
    is no B), and the count is recorded in ``Lexicon.source``.

    Parameters
    ----------
    path : str or pathlib.Path

    Returns
    -------
    Lexicon

    Raises
    ------
    InputError
        Missing or malformed header, a malformed entry line, an undefined category id, or a
        dictionary lacking one of the nine categories. The message names the line.
    """
    path = Path(path)
    try:
        raw = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InputError(f"dictionary file not found: {path}") from None
    except UnicodeDecodeError:
        raw = path.read_text(encoding="latin-1")
    lines = raw.splitlines()
    src = str(path)
    # header
    i = 0
    while i < len(lines) and not lines[i].strip():
        i += 1
    if i >= len(lines) or lines[i].strip() != "%":
        raise InputError("not a LIWC .dic file: the first non-empty line must be '%'",
                         source=src, line=i + 1 if i < len(lines) else None)
    i += 1
    id_to_name: dict[str, str] = {}
    while True:
        if i >= len(lines):
            raise InputError("the category header is not closed by a second '%' line", source=src)
        line = lines[i].strip()
        i += 1
        if not line:
            continue
        if line == "%":
            break
        parts = line.split(None, 1)
        if len(parts) != 2 or not parts[0].isdigit():
            raise InputError(f"malformed header line {line!r}: expected '<id> <category name>'",
                             source=src, line=i)
        id_to_name[parts[0].lstrip("0") or "0"] = parts[1].strip()
    # which header ids feed which LSM category
    alias_to_cat = {a: k for k, cat in enumerate(CATEGORIES) for a in CATEGORY_ALIASES[cat]}
    id_to_cat: dict[str, int] = {}
    for cid, name in id_to_name.items():
        k = alias_to_cat.get(name.lower())
        if k is not None:
            id_to_cat[cid] = k
    missing = [c for k, c in enumerate(CATEGORIES) if k not in id_to_cat.values()]
    if missing:
        raise InputError(f"the dictionary has no category for {', '.join(missing)} "
                         f"(header names: {', '.join(sorted(id_to_name.values()))}); accepted names: "
                         + "; ".join(f"{c}: {'/'.join(CATEGORY_ALIASES[c])}" for c in missing),
                         source=src)
    lex = Lexicon(source=src)
    skipped = 0
    conditional = 0
    for j in range(i, len(lines)):
        line = lines[j].strip()
        if not line:
            continue
        if "\t" in line:
            word, rest = line.split("\t", 1)
        else:
            parts = line.split(None, 1)
            word, rest = parts[0], parts[1] if len(parts) > 1 else ""
        word = word.strip()
        fields = _FIELD_RE.findall(rest)
        if not fields:
            raise InputError(f"entry {line!r} has no category ids", source=src, line=j + 1)
        ids = []
        for fld in fields:
            if fld.isdigit():
                ids.append(fld)
                continue
            m = _COND_RE.match(fld)
            if m is None:
                raise InputError(f"entry {line!r}: category id {fld!r} is not an integer "
                                 "(nor a LIWC2007 conditional '(ids)A/B')", source=src, line=j + 1)
            conditional += 1
            if m.group(2) is not None:  # context-free default branch B
                ids.append(m.group(2))
        for cid in ids:
            if (cid.lstrip("0") or "0") not in id_to_name:
                raise InputError(f"entry {line!r}: category id {cid} is not defined in the header",
                                 source=src, line=j + 1)
        if not _WORD_RE.match(word.lower()):
            skipped += 1
            continue
        for cid in ids:
            k = id_to_cat.get(cid.lstrip("0") or "0")
            if k is not None:
                lex.add(word, k)
    notes = []
    if skipped:
        notes.append(f"{skipped} multi-word or punctuated entries skipped")
    if conditional:
        notes.append(f"{conditional} conditional categories read as their default branch")
    if notes:
        lex.source = f"{src} ({'; '.join(notes)})"
    return lex


def load_lexicon(dictionary: str | Path | None) -> Lexicon:
    """The ``.dic`` file when a path is given, else the built-in lists."""
    if dictionary in (None, ""):
        return builtin_lexicon()
    return read_dic(dictionary)
