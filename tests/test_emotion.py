"""The compiled VADER scorer against the ``vadersentiment`` package itself: the package's own
example sentences, a seeded fuzz over every rule's trigger words, and real ESConv turns."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from fastmetrics import Corpus, InputError
from fastmetrics.emotion import valence

vs = pytest.importorskip("vaderSentiment.vaderSentiment")
DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="module")
def sia():
    return vs.SentimentIntensityAnalyzer()


def _ref(sia, texts):
    return np.array([sia.polarity_scores(t)["compound"] for t in texts])


EXAMPLES = [
    # the package's demo sentences (vaderSentiment.py __main__)
    "VADER is smart, handsome, and funny.", "VADER is smart, handsome, and funny!",
    "VADER is very smart, handsome, and funny.", "VADER is VERY SMART, handsome, and FUNNY.",
    "VADER is VERY SMART, handsome, and FUNNY!!!",
    "VADER is VERY SMART, uber handsome, and FRIGGIN FUNNY!!!",
    "VADER is not smart, handsome, nor funny.", "The book was good.",
    "At least it isn't a horrible book.", "The book was only kind of good.",
    "The plot was good, but the characters are uncompelling and the dialog is not great.",
    "Today SUX!", "Today only kinda sux! But I'll get by, lol", "Make sure you :) or :D today!",
    "Catch utf-8 emoji such as 💘 and 💋 and 😁", "Not bad at all",
    "Sentiment analysis has never been good.", "Sentiment analysis has never been this good!",
    "Most automated sentiment analysis tools are shit.", "With VADER, sentiment analysis is the shit!",
    "Other sentiment analysis tools can be quite bad.", "On the other hand, VADER is quite bad ass",
    "VADER is such a badass!", "Without a doubt, excellent idea.",
    "Roger Dodger is one of the most compelling variations on this theme.",
    "Roger Dodger is at least compelling as a variation on the theme.",
    "Roger Dodger is one of the least compelling variations on this theme.",
    "Not such a badass after all.", "Without a doubt, an excellent idea.",
    # edge cases
    "", "   ", "!!!", "?? ??", "no", "no good", "no no no good", "good good but good good",
    "it is kind of nice", "kiss of death, yeah right", "least good", "the least good",
    "I am not very happy", "This is NOT good at ALL", "can't stand it", "I don't like it at all",
    "it was never so good", "GOOD", "good GOOD", "good\x1cbad\x1dnice", "hi\u00a0there good",
    "İ love it", "Straße is great", "“good” isn’t bad", "so sad 😢😢 but ok 👍",
    # non-ASCII characters that stay on the compiled path (uncased, not spaces, not emoji)
    "I don’t feel good — really…", "你好 good", "“GOOD” morning", "’’ ok", ":’D", "(’)", "don’t",
    "I’m SO HAPPY", "NO – good", "«great»", "a’b’c good!!", "GOOD。BAD", "’ok’ ’kind of’ good",
    "SO HAPPY 你好", "ÉTÉ good", "CAFé GOOD", "good bad", "good　great",
]


def test_package_examples_and_edge_cases(sia):
    got = valence(EXAMPLES)
    np.testing.assert_array_equal(got, _ref(sia, EXAMPLES))


def _fuzz_texts(rng, n):
    lex = list(vs.SentimentIntensityAnalyzer().lexicon)
    pool = (["no", "not", "never", "without", "doubt", "so", "this", "least", "at", "very",
             "kind", "of", "sort", "just", "enough", "but", "BUT", "or", "nor", "the", "shit",
             "bomb", "bad", "ass", "yeah", "right", "kiss", "death", "to", "die", "for",
             "beating", "heart", "bus", "stop", "isn't", "DON'T", "wouldn't", "kinda", "uh-uh",
             "extremely", "barely", "FRIGGIN", "i", "it", "was", "is", "a", "day", ":)", ":D",
             "<3", ":(", "😁", "💔", "😢", "“nice”", "naïve", "'", "!", "?", "’", "—", "…",
             "你好", "“", "”", "don’t", "I’m", "É", "\u00a0", "☺", "♥"]
            + list(vs.BOOSTER_DICT) + list(vs.NEGATE))
    wrap = ["", "", "", "!", "?", "...", ",", "\"", "(", ")", "!!", "?!", "'"]
    lex, pool, wrap = np.array(lex, dtype=object), np.array(pool, dtype=object), np.array(wrap, dtype=object)
    out = []
    for _ in range(n):
        k = int(rng.integers(0, 14))
        words = []
        for _ in range(k):
            w = str(rng.choice(lex)) if rng.random() < 0.45 else str(rng.choice(pool))
            u = rng.random()
            if u < 0.12:
                w = w.upper()
            elif u < 0.18:
                w = w.capitalize()
            words.append(str(rng.choice(wrap)) + w + str(rng.choice(wrap)))
        sep = " " if rng.random() < 0.9 else str(rng.choice(["  ", "\t", "\n", " , "]))
        out.append(sep.join(words))
    return out


def test_fuzz_every_rule(sia):
    rng = np.random.default_rng(20240501)
    texts = _fuzz_texts(rng, 20000)
    got = valence(pa.array(texts))
    ref = _ref(sia, texts)
    bad = np.nonzero(got != ref)[0]
    assert len(bad) == 0, [(texts[i], got[i], ref[i]) for i in bad[:5]]
    assert (ref != 0).mean() > 0.5  # the fuzz exercises scored texts, not only zeros


def test_compiled_path_selection():
    """Non-ASCII turns go through Python only when a character can change a rule."""
    import pyarrow.compute as pc

    from fastmetrics.emotion import vader_tables

    texts = ["don’t — 你好 …", "“quoted”", "café", "ÉTÉ", "😁", "a\u00a0b", "a\u2003b", "☺", "𝐀"]
    got = pc.match_substring_regex(pa.array(texts), vader_tables().unsafe_regex).to_pylist()
    assert got == [False, False, True, True, True, True, True, True, True]


def test_rounding_matches_python_round_near_ties():
    from fastmetrics.metrics.emotion._numba import _round4

    rng = np.random.default_rng(3)
    xs = np.concatenate([(np.arange(-10000, 10000) + 0.5) / 10000.0, rng.uniform(-1, 1, 20000)])
    for x in xs:
        r, tie = _round4(float(x))
        if not tie:
            assert r == round(float(x), 4), x
    # exact ties are flagged (the caller then uses Python's round)
    assert _round4(0.00005)[1] and _round4(-0.12345)[1]


def test_nulls_threads_and_arrow_slices(sia):
    texts = ["good", None, "bad :(", "😁 fine", "not bad"]
    got = valence(pa.array(texts))
    assert np.isnan(got[1])
    ref = _ref(sia, [t for t in texts if t is not None])
    np.testing.assert_array_equal(got[[0, 2, 3, 4]], ref)
    sliced = pa.array(texts).slice(2, 3)
    np.testing.assert_array_equal(valence(sliced), got[2:])
    np.testing.assert_array_equal(valence(pa.array(texts, pa.large_string())), got)
    np.testing.assert_array_equal(valence(pa.array(texts), n_threads=1), got)
    assert len(valence(pa.array([], pa.string()))) == 0
    with pytest.raises(InputError, match="strings"):
        valence(pa.array([1, 2]))


@pytest.mark.realdata
def test_real_esconv_turns_equal_package(sia):
    path = DATA / "esconv" / "ESConv-train.jsonl"
    if not path.exists():
        pytest.skip(f"real data not available at {path}")
    texts = []
    with open(path) as f:
        for line in f:
            texts += [u["text"] for u in json.loads(line)["dialog"]]
    rng = np.random.default_rng(0)
    # a large sample, plus every non-ASCII turn (the Python-tokenised path)
    idx = np.union1d(rng.choice(len(texts), 8000, replace=False),
                     [i for i, t in enumerate(texts) if not t.isascii()])
    sample = [texts[i] for i in idx]
    got = valence(pa.array(sample))
    ref = _ref(sia, sample)
    assert np.abs(got - ref).max() <= 1e-9
    assert (ref != 0).mean() > 0.5


def test_family_vader_and_user_column(sia):
    from fastmetrics.registry import Context, get

    c = Corpus(conversation_id=pa.array(["a"]), conv_offsets=np.array([0, 2]),
               role=np.array([0, 1], dtype=np.int8), speaker=pa.array(["u", "s"]),
               text=pa.array(["I feel awful", "That sounds really hard"]),
               turn_columns={"points": pa.array([30, 45])})
    fam = get("emotion")
    res = fam.compute(c, Context(options={"emotion_column": None}))
    np.testing.assert_array_equal(res.turns["valence"], _ref(sia, c.text.to_pylist()))
    assert res.metadata["emotion_source"].startswith("vader")
    res = fam.compute(c, Context(options={"emotion_column": "points"}, columns=dict(c.turn_columns)))
    assert res.turns["valence"].tolist() == [30.0, 45.0]
    with pytest.raises(InputError, match="not a per-turn column"):
        fam.compute(c, Context(options={"emotion_column": "nope"}, columns={}))
