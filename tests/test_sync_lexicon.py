"""The function-word lexicon: built-in lists, LIWC-format .dic parsing, vocabulary masks."""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from fastmetrics import InputError
from fastmetrics.lexicon import CATEGORIES, builtin_lexicon, load_lexicon, read_dic

HEADER = """%
1\tfunct
2\tppron
3\tipron
4\tarticle
5\tauxverb
6\tadverb
7\tpreps
8\tconj
9\tnegate
10\tquant
%
"""


def _write(tmp_path, body, header=HEADER):
    p = tmp_path / "test.dic"
    p.write_text(header + body, encoding="utf-8")
    return p


def _bits(mask):
    return {CATEGORIES[k] for k in range(9) if (int(mask) >> k) & 1}


def test_dic_wildcards_and_multiple_categories(tmp_path):
    p = _write(tmp_path, "the\t1 4\nso\t6 8\nnever*\t9\nsome*\t10\nhe\t2\nit\t3\nis\t5\nin\t7\n")
    lex = read_dic(p)
    vocab = pa.array(["the", "so", "never", "nevermore", "neve", "something", "some", "he", "x", "it", "is", "in"])
    m = lex.vocab_mask(vocab)
    assert _bits(m[0]) == {"article"}           # funct is not an LSM category
    assert _bits(m[1]) == {"adverb", "conj"}    # two categories
    assert _bits(m[2]) == {"negate"} and _bits(m[3]) == {"negate"}  # prefix wildcard
    assert _bits(m[4]) == set()                 # shorter than the prefix
    assert _bits(m[5]) == {"quant"} and _bits(m[6]) == {"quant"}
    assert _bits(m[7]) == {"ppron"} and m[8] == 0
    assert _bits(m[9]) == {"ipron"} and _bits(m[10]) == {"auxverb"} and _bits(m[11]) == {"prep"}


def test_dic_exact_and_wildcard_combine(tmp_path):
    lex = read_dic(_write(tmp_path, "so\t6\nso*\t8\n"))
    m = lex.vocab_mask(pa.array(["so", "soon"]))
    assert _bits(m[0]) == {"adverb", "conj"} and _bits(m[1]) == {"conj"}


def test_dic_space_separated_and_leading_zeros(tmp_path):
    lex = read_dic(_write(tmp_path, "the 04\nyou   02 01\n"))
    m = lex.vocab_mask(pa.array(["the", "you"]))
    assert _bits(m[0]) == {"article"} and _bits(m[1]) == {"ppron"}


def test_dic_skips_entries_our_tokens_cannot_match(tmp_path):
    lex = read_dic(_write(tmp_path, "don't\t5 9\nkind of\t6\nthe\t4\n"))
    assert "2 multi-word or punctuated entries skipped" in lex.source
    assert set(lex.exact) == {"the"}


@pytest.mark.parametrize("body,match", [
    ("the\t4 x\n", "not an integer"),
    ("the\t99\n", "not defined in the header"),
    ("the\n", "no category ids"),
    ("kind\t(02 134)125/464\n", "not defined in the header"),
    ("kind\t(02 134\n", "not an integer"),
    ("kind\t6/8\n", "not an integer"),
])
def test_dic_malformed_lines(tmp_path, body, match):
    with pytest.raises(InputError, match=match) as exc:
        read_dic(_write(tmp_path, body))
    assert exc.value.line is not None


def test_dic_liwc2007_conditional_fields_use_default_branch(tmp_path):
    lex = read_dic(_write(tmp_path, "like\t(02 03)6/8\t7\nkind\t(2)6\t10\n"))
    m = lex.vocab_mask(pa.array(["like", "kind"]))
    assert _bits(m[0]) == {"conj", "prep"}     # default branch 8 (conj) plus 7 (preps)
    assert _bits(m[1]) == {"quant"}            # no default branch: only 10
    assert "2 conditional categories read as their default branch" in lex.source


def test_dic_malformed_header(tmp_path):
    with pytest.raises(InputError, match="first non-empty line"):
        read_dic(_write(tmp_path, "the\t1\n", header="1\tfunct\n%\n"))
    with pytest.raises(InputError, match="not closed"):
        read_dic(_write(tmp_path, "", header="%\n1\tfunct\n"))
    with pytest.raises(InputError, match="malformed header"):
        read_dic(_write(tmp_path, "", header="%\nfunct 1\n%\n"))
    with pytest.raises(InputError, match="no category for negate"):
        read_dic(_write(tmp_path, "", header=HEADER.replace("negate", "swear")))
    with pytest.raises(InputError, match="not found"):
        read_dic(tmp_path / "missing.dic")


def test_builtin_lists_cover_every_category_and_contractions():
    lex = builtin_lexicon()
    assert lex.source == "builtin"
    m = lex.vocab_mask(pa.array(["i", "it", "the", "don", "t", "very", "of", "and", "all", "zebra"]))
    assert [sorted(_bits(x)) for x in m[:9]] == [
        ["ppron"], ["ipron"], ["article"], ["auxverb"], ["negate"], ["adverb"], ["prep"], ["conj"],
        ["quant"]]
    assert m[9] == 0
    assert load_lexicon(None).exact == lex.exact


def test_dictionary_replaces_builtin_in_synchrony(tmp_path):
    from fastmetrics import Corpus
    from fastmetrics.sync import synchrony

    c = Corpus(conversation_id=pa.array(["a"]), conv_offsets=np.array([0, 2]),
               role=np.array([0, 1], dtype=np.int8), speaker=pa.array(["u", "s"]),
               text=pa.array(["zebra zebra cat", "zebra dog dog"]))
    assert synchrony(c).lsm[0] == 1.0  # no function words at all: every category 0 vs 0
    p = _write(tmp_path, "zebra\t2\n")   # a dictionary where "zebra" is a personal pronoun
    res = synchrony(c, lexicon=str(p))
    expect = (8 + 1 - abs(200 / 3 - 100 / 3) / (100 + 0.0001)) / 9
    assert res.lsm[0] == pytest.approx(expect, abs=1e-15)
