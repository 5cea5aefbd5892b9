"""Portable linear heads: lexical features, a TF-IDF vectoriser and a softmax head in NumPy.

Everything a fitted model needs at inference is arrays and strings, stored in ``.npz`` and
JSON; :func:`softmax_head` evaluates ``softmax(((x - mean) / scale) @ W.T + b)``, which is
scikit-learn's multinomial ``LogisticRegression.predict_proba`` on standardised features.
"""
from __future__ import annotations

import re

import numpy as np

__all__ = ["LEXICAL", "lexical_features", "TOKEN_RE", "Tfidf", "softmax_head", "encoder_base", "same_encoder"]

#: Default token pattern of scikit-learn's vectorisers (words of two or more characters).
TOKEN_RE = re.compile(r"(?u)\b\w\w+\b")

_WORD = re.compile(r"(?u)\b[\w']+\b")
_SECOND = {"you", "your", "you're", "youre", "yours", "yourself", "u", "ur", "you've", "you'll",
           "you'd"}
_FIRST = {"i", "me", "my", "mine", "myself", "i'm", "im", "i've", "i'd", "i'll"}
_REFLECT = re.compile(r"(?i)\b(you feel|you're feeling|you are feeling|sounds like|it seems|"
                      r"seems like|you seem|must be|must feel|i understand|i can see|i hear|"
                      r"i get (it|that|how|what)|you mean)\b")
_EMOTION = re.compile(r"(?i)\b(sorry|hugs?|feel for you|hope|glad|proud|sad|hard|tough|awful|"
                      r"terrible|rough|love|care|here for you|heart|wish)\b")
_QWORD = re.compile(r"(?i)\b(what|how|why|when|where|have you|do you|did you|are you|would you|"
                    r"can you|could you|is there|is it)\b")
_ADVICE = re.compile(r"(?i)\b(should|try|recommend|suggest|need to|have to|talk to|therapist|"
                     r"counsel\w*|doctor|help)\b")
_SELF = re.compile(r"(?i)\b(i (was|had|have been|went|used to)|me too|same here|my (own|experience))\b")

#: Names of the lexical features, in column order.
LEXICAL = ("n_words_log", "n_chars_log", "n_questions", "has_question", "question_last",
           "share_second_person", "share_first_person", "n_reflections", "n_emotion_words",
           "n_question_words", "n_advice_words", "n_self_disclosure", "n_exclamations",
           "n_sentences_log")


def lexical_features(texts: list[str]) -> np.ndarray:
    """float64 (n, len(LEXICAL)) of simple lexical cues of each text (see ``LEXICAL``)."""
    out = np.zeros((len(texts), len(LEXICAL)))
    for i, t in enumerate(texts):
        t = t or ""
        words = [w.lower() for w in _WORD.findall(t)]
        nw = max(len(words), 1)
        s = t.rstrip()
        nq = t.count("?")
        out[i] = (np.log1p(len(words)), np.log1p(len(t)), nq, float(nq > 0),
                  float(s.endswith("?")), sum(w in _SECOND for w in words) / nw,
                  sum(w in _FIRST for w in words) / nw, len(_REFLECT.findall(t)),
                  len(_EMOTION.findall(t)), len(_QWORD.findall(t)), len(_ADVICE.findall(t)),
                  len(_SELF.findall(t)), t.count("!"),
                  np.log1p(len(re.findall(r"[.!?]+", t)) or 1))
    return out


class Tfidf:
    """A fitted word n-gram TF-IDF transform (``vocab``, ``idf``), equal to scikit-learn's
    ``TfidfVectorizer(lowercase=True, ngram_range=(1, ngram), sublinear_tf=sublinear,
    norm="l2")`` with the same vocabulary and idf."""

    def __init__(self, vocab: list[str], idf: np.ndarray, ngram: int = 2, sublinear: bool = True):
        self.vocab = list(vocab)
        self.index = {w: j for j, w in enumerate(self.vocab)}
        self.idf = np.asarray(idf, dtype=np.float64)
        self.ngram = int(ngram)
        self.sublinear = bool(sublinear)

    @classmethod
    def fit(cls, texts: list[str], ngram: int = 2, min_df: int = 2, max_features: int = 20000,
            sublinear: bool = True) -> Tfidf:
        from sklearn.feature_extraction.text import TfidfVectorizer

        v = TfidfVectorizer(ngram_range=(1, ngram), min_df=min_df, max_features=max_features,
                            sublinear_tf=sublinear).fit(texts)
        vocab = [None] * len(v.vocabulary_)
        for w, j in v.vocabulary_.items():
            vocab[j] = w
        return cls(vocab, v.idf_, ngram, sublinear)

    def grams(self, text: str) -> list[str]:
        tok = TOKEN_RE.findall((text or "").lower())
        out = list(tok)
        for n in range(2, self.ngram + 1):
            out += [" ".join(tok[i:i + n]) for i in range(len(tok) - n + 1)]
        return out

    def transform(self, texts: list[str]):
        """scipy.sparse CSR (n, len(vocab)), rows L2-normalised."""
        import scipy.sparse as sp

        indptr, indices, data = [0], [], []
        for t in texts:
            counts: dict[int, int] = {}
            for g in self.grams(t):
                j = self.index.get(g)
                if j is not None:
                    counts[j] = counts.get(j, 0) + 1
            js = np.fromiter(sorted(counts), dtype=np.int64, count=len(counts))
            tf = np.array([counts[j] for j in js], dtype=np.float64)
            if self.sublinear:
                tf = 1.0 + np.log(tf)
            w = tf * self.idf[js]
            nrm = np.sqrt(np.sum(w * w))
            if nrm > 0:
                w = w / nrm
            indices.append(js)
            data.append(w)
            indptr.append(indptr[-1] + len(js))
        ind = np.concatenate(indices) if indices else np.zeros(0, np.int64)
        dat = np.concatenate(data) if data else np.zeros(0)
        return sp.csr_matrix((dat, ind, np.asarray(indptr)), shape=(len(texts), len(self.vocab)))


def softmax_head(x_dense: np.ndarray, mean: np.ndarray, scale: np.ndarray, w_dense: np.ndarray,
                 b: np.ndarray, x_sparse=None, w_sparse: np.ndarray | None = None) -> np.ndarray:
    """Class probabilities (n, k) of a multinomial logistic head.

    ``z = ((x_dense - mean) / scale) @ w_dense.T + x_sparse @ w_sparse.T + b``; softmax over k.
    """
    z = ((np.asarray(x_dense, dtype=np.float64) - mean) / scale) @ w_dense.T + b
    if x_sparse is not None and w_sparse is not None and w_sparse.shape[1]:
        z = z + np.asarray(x_sparse @ w_sparse.T)
    z -= z.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=1, keepdims=True)
    return z


def encoder_base(model_id: str) -> str:
    """The encoder a model id names, without its runtime (``onnx int8``, ``torch float16
    cuda``) and file hashes: ``"sentence-transformers/all-MiniLM-L6-v2"``, or the static tier's
    name followed by ``|tier=static``."""
    head, _, rest = model_id.partition("|")
    name = head.split(" (", 1)[0].strip()
    return f"{name}|tier=static" if rest.startswith("tier=static") else name


def same_encoder(trained_id: str, run_id: str) -> bool:
    """Whether a head trained on embeddings of ``trained_id`` may read those of ``run_id``: the
    same encoder weights (the CPU int8 ONNX and the GPU float16 runtimes of MiniLM agree to
    about 1e-2 cosine), never another tier or model."""
    return encoder_base(trained_id) == encoder_base(run_id)
