"""The trained EPITOME empathy model: expected level (0-2) of three mechanisms per reply.

Sharma et al. (EMNLP 2020) rate a response to a seeker post for three communication mechanisms
of empathy -- emotional reactions (``er``), interpretations (``ip``), explorations (``ex``) --
at levels 0 (none), 1 (weak), 2 (strong). This model scores a supporter reply *given its
context* (the seeker post; in a conversation, the client turns since the previous supporter
turn), on the shipped sentence encoder (all-MiniLM-L6-v2) plus a linear head:

* features (feature version 1): the reply's embedding ``r``, the context's ``c``, their product
  ``c * r``, ``|c - r|``, cosine ``c . r``, lexical cues of the reply and of the context
  (:data:`fastmetrics.models.linear.LEXICAL`: questions, second-person words, reflections
  such as "sounds like" / "you feel", length, ...), standardised; the lexical columns weighted
  by ``LEXICAL_WEIGHT`` (10); plus word 1-2-gram TF-IDF of the reply (sublinear tf, L2 rows)
  times ``tfidf_weight``;
* head: one multinomial logistic regression per mechanism (scikit-learn, L2), its ``C``,
  ``class_weight`` and ``tfidf_weight`` chosen by grouped 5-fold cross-validation by seeker
  post (``sp_id``) on the user's EPITOME files, then refitted on all of them;
* output: class probabilities ``p_0, p_1, p_2`` and the expected level ``sum_k k * p_k``.

The model folder holds ``manifest.json`` (encoder model id, feature version, settings and the
cross-validated figures), ``weights.npz`` (arrays) and ``vocab.json`` (TF-IDF vocabulary); no
pickle. Inference is NumPy (+ a SciPy sparse product for the TF-IDF part).
"""
from __future__ import annotations

import csv
import json
import time
from pathlib import Path

import numpy as np

from ..errors import InputError
from .linear import LEXICAL, Tfidf, lexical_features, softmax_head

__all__ = ["MECHANISMS", "FILES", "FEATURE_VERSION", "EmpathyModel", "load_epitome", "features",
           "train_empathy", "embed_pairs", "default_empathy_dir", "find_empathy_model", "cross_validate"]

#: Mechanism short name -> full name.
MECHANISMS = {"er": "emotional_reactions", "ip": "interpretations", "ex": "explorations"}
#: EPITOME file of each mechanism.
FILES = {"er": "emotional-reactions-reddit.csv", "ip": "interpretations-reddit.csv",
         "ex": "explorations-reddit.csv"}
COLUMNS = ("sp_id", "rp_id", "seeker_post", "response_post", "level")
FEATURE_VERSION = 1
KIND = "fastmetrics.empathy"
#: Settings tried by the grouped cross-validation (every combination).
GRID = {"C": (0.001, 0.003), "class_weight": ("balanced",), "tfidf_weight": (0.0,)}
#: The standardised lexical columns are multiplied by this (less shrinkage than the embeddings).
LEXICAL_WEIGHT = 10.0


def default_empathy_dir() -> Path:
    """The user's empathy model folder: ``<models dir>/empathy``
    (:func:`fastmetrics.models.default_models_dir`)."""
    from . import default_models_dir

    return default_models_dir() / "empathy"


def find_empathy_model(path: str | Path | None = None) -> Path | None:
    """The model folder to use: ``path`` when given (must hold a model), else the default
    folder when it holds one, else None."""
    if path:
        p = Path(path)
        if not (p / "manifest.json").is_file():
            raise InputError(f"{p}: not an empathy model folder (no manifest.json); "
                             "train one with `fastmetrics train empathy EPITOME_DIR`")
        return p
    p = default_empathy_dir()
    return p if (p / "manifest.json").is_file() else None


# ------------------------------------------------------------------------------------------
# data
# ------------------------------------------------------------------------------------------
def load_epitome(folder) -> dict:
    """The three EPITOME files joined on (sp_id, rp_id).

    Returns
    -------
    dict with ``sp_id``, ``rp_id`` (lists of str), ``seeker_post``, ``response_post`` (lists of
    str) and ``level`` (dict mechanism -> int64 array of 0..2), rows in the order of the
    emotional-reactions file.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{folder}: not a folder (expected the EPITOME folder with {', '.join(FILES.values())})")
    rows: dict[str, dict] = {}
    for m, name in FILES.items():
        path = folder / name
        if not path.is_file():
            raise InputError(f"{path}: missing (an EPITOME folder holds {', '.join(FILES.values())})")
        with open(path, newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                raise InputError(f"{path}: missing column(s) {', '.join(missing)} (need {', '.join(COLUMNS)})")
            rows[m] = {}
            for i, r in enumerate(reader, start=2):
                try:
                    lvl = int(float(r["level"]))
                except ValueError:
                    raise InputError(f"{path}, line {i}: level {r['level']!r} is not 0, 1 or 2") from None
                if lvl not in (0, 1, 2):
                    raise InputError(f"{path}, line {i}: level {lvl} is not 0, 1 or 2")
                rows[m][(r["sp_id"], r["rp_id"])] = (r["seeker_post"], r["response_post"], lvl)
    keys = [k for k in rows["er"] if all(k in rows[m] for m in FILES)]
    if len(keys) < 10:
        raise InputError(f"{folder}: only {len(keys)} (sp_id, rp_id) pairs common to the three files")
    return {"sp_id": [k[0] for k in keys], "rp_id": [k[1] for k in keys],
            "seeker_post": [rows["er"][k][0] for k in keys],
            "response_post": [rows["er"][k][1] for k in keys],
            "level": {m: np.array([rows[m][k][2] for k in keys], dtype=np.int64) for m in FILES}}


# ------------------------------------------------------------------------------------------
# features
# ------------------------------------------------------------------------------------------
def features(ctx_emb: np.ndarray, resp_emb: np.ndarray, ctx_texts: list[str],
             resp_texts: list[str]) -> np.ndarray:
    """Dense features (float64, (n, 4*d + 1 + 2*len(LEXICAL))) of feature version 1."""
    c = np.asarray(ctx_emb, dtype=np.float64)
    r = np.asarray(resp_emb, dtype=np.float64)
    cos = np.sum(c * r, axis=1, keepdims=True)
    return np.hstack([r, c, c * r, np.abs(c - r), cos, lexical_features(resp_texts),
                      lexical_features(ctx_texts)])


class EmpathyModel:
    """A loaded empathy model (see the module docstring)."""

    def __init__(self, manifest: dict, arrays: dict, vocab: list[str]):
        self.manifest = manifest
        self.mean = arrays["mean"]
        self.scale = arrays["scale"]
        self.tfidf = Tfidf(vocab, arrays["idf"], manifest["tfidf"]["ngram"], manifest["tfidf"]["sublinear"])
        self.heads = {m: (arrays[f"{m}_w_dense"], arrays[f"{m}_w_sparse"], arrays[f"{m}_b"])
                      for m in MECHANISMS}
        self.path = None

    @property
    def encoder_model_id(self) -> str:
        return self.manifest["encoder_model_id"]

    def describe(self) -> str:
        cv = self.manifest.get("cv", {})
        rho = ", ".join(f"{m} {cv[m]['spearman']:.2f}" for m in MECHANISMS if m in cv)
        return (f"trained EPITOME empathy model (feature v{self.manifest['feature_version']}, "
                f"encoder {self.encoder_model_id}; grouped-CV Spearman {rho})"
                + (f" at {self.path}" if self.path else ""))

    @classmethod
    def load(cls, path) -> EmpathyModel:
        path = Path(path)
        try:
            manifest = json.loads((path / "manifest.json").read_text(encoding="utf-8"))
            with np.load(path / "weights.npz", allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
            vocab = json.loads((path / "vocab.json").read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise InputError(f"{path}: cannot read the empathy model ({exc})") from None
        if manifest.get("kind") != KIND:
            raise InputError(f"{path}: not an empathy model (kind {manifest.get('kind')!r})")
        if manifest.get("feature_version") != FEATURE_VERSION:
            raise InputError(f"{path}: empathy model of feature version {manifest.get('feature_version')}, "
                             f"this fastmetrics reads version {FEATURE_VERSION}; retrain it with "
                             "`fastmetrics train empathy EPITOME_DIR`")
        m = cls(manifest, arrays, vocab)
        m.path = path
        return m

    def save(self, path) -> Path:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        arrays = {"mean": self.mean, "scale": self.scale, "idf": self.tfidf.idf}
        for m, (wd, ws, b) in self.heads.items():
            arrays.update({f"{m}_w_dense": wd, f"{m}_w_sparse": ws, f"{m}_b": b})
        tmp = path / "weights.tmp.npz"
        np.savez(tmp, **arrays)
        tmp.replace(path / "weights.npz")
        (path / "vocab.json").write_text(json.dumps(self.tfidf.vocab), encoding="utf-8")
        (path / "manifest.json").write_text(json.dumps(self.manifest, indent=1, sort_keys=True),
                                            encoding="utf-8")
        self.path = path
        return path

    def predict_proba(self, ctx_emb, resp_emb, ctx_texts, resp_texts,
                      batch: int = 4096) -> dict[str, np.ndarray]:
        """Class probabilities per mechanism: dict short name -> float64 (n, 3)."""
        n = len(resp_texts)
        out = {m: np.zeros((n, 3)) for m in MECHANISMS}
        for s in range(0, n, batch):
            e = min(n, s + batch)
            x = features(ctx_emb[s:e], resp_emb[s:e], ctx_texts[s:e], resp_texts[s:e])
            xs = self.tfidf.transform(resp_texts[s:e]) if any(
                h[1].shape[1] for h in self.heads.values()) else None
            for m, (wd, ws, b) in self.heads.items():
                out[m][s:e] = softmax_head(x, self.mean, self.scale, wd, b, xs, ws)
        return out

    def expected_levels(self, ctx_emb, resp_emb, ctx_texts, resp_texts) -> dict[str, np.ndarray]:
        """Expected level ``sum_k k * p_k`` (0..2) per mechanism: dict short name -> (n,)."""
        return {m: p @ np.arange(3.0) for m, p in
                self.predict_proba(ctx_emb, resp_emb, ctx_texts, resp_texts).items()}


# ------------------------------------------------------------------------------------------
# training
# ------------------------------------------------------------------------------------------
def _standardise(x: np.ndarray, lexical_weight: float = LEXICAL_WEIGHT) -> tuple[np.ndarray, np.ndarray]:
    """Column means and scales; the lexical columns' scales divided by ``lexical_weight``."""
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale < 1e-12] = 1.0
    nlex = 2 * len(LEXICAL)
    scale[x.shape[1] - nlex:] /= lexical_weight
    return mean, scale


def _fit_head(xd, xs, y, C, class_weight, tfidf_weight):
    """Fit one mechanism's head; returns (w_dense, w_sparse, b) on unscaled tf-idf columns."""
    import warnings

    import scipy.sparse as sp
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    use_sparse = tfidf_weight > 0 and xs is not None
    X = sp.hstack([sp.csr_matrix(xd), xs * tfidf_weight], format="csr") if use_sparse else xd
    clf = LogisticRegression(C=C, class_weight=class_weight, max_iter=500)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
    coef = np.zeros((3, X.shape[1]))
    b = np.zeros(3)
    # classes absent from a training fold get -inf-like intercepts (probability ~0)
    for j, k in enumerate(clf.classes_):
        coef[k] = clf.coef_[j] if len(clf.classes_) > 2 else (clf.coef_[0] if j else -clf.coef_[0]) / 2
        b[k] = clf.intercept_[j] if len(clf.classes_) > 2 else (clf.intercept_[0] if j else -clf.intercept_[0]) / 2
    for k in set(range(3)) - {int(c) for c in clf.classes_}:
        b[k] = -30.0
    d = xd.shape[1]
    ws = coef[:, d:] * tfidf_weight if use_sparse else np.zeros((3, 0))
    return coef[:, :d], ws, b


def _scores(y, p):
    from scipy.stats import spearmanr
    from sklearn.metrics import accuracy_score, f1_score

    ev = p @ np.arange(3.0)
    pred = p.argmax(axis=1)
    return {"spearman": float(spearmanr(ev, y).statistic), "accuracy": float(accuracy_score(y, pred)),
            "macro_f1": float(f1_score(y, pred, average="macro", labels=[0, 1, 2], zero_division=0))}


def cross_validate(data: dict, ctx_emb, resp_emb, *, grid: dict | None = None, n_splits: int = 5,
                   on_log=None) -> dict:
    """Grouped (by ``sp_id``) k-fold CV of every setting in ``grid`` for each mechanism.

    Returns dict mechanism -> {"best": settings, "scores": {spearman, accuracy, macro_f1} of the
    best, "all": [(settings, scores), ...], "oof": out-of-fold probabilities (n, 3) of the best}.
    The best setting maximises mean(Spearman, macro-F1).
    """
    import itertools

    from sklearn.model_selection import GroupKFold

    grid = grid or GRID
    combos = [dict(zip(grid, v)) for v in itertools.product(*grid.values())]
    ct, rt = data["seeker_post"], data["response_post"]
    X = features(ctx_emb, resp_emb, ct, rt)
    groups = np.asarray(data["sp_id"])
    folds = list(GroupKFold(n_splits=n_splits).split(X, groups=groups))
    pre = []
    for tr, te in folds:
        mean, scale = _standardise(X[tr])
        tf = Tfidf.fit([rt[i] for i in tr])
        pre.append(((X[tr] - mean) / scale, (X[te] - mean) / scale, tf.transform([rt[i] for i in tr]),
                    tf.transform([rt[i] for i in te])))
    out = {}
    for m in MECHANISMS:
        y = data["level"][m]
        results = []
        for s in combos:
            oof = np.zeros((len(y), 3))
            for (tr, te), (xtr, xte, str_, ste) in zip(folds, pre):
                wd, ws, b = _fit_head(xtr, str_, y[tr], s["C"], s["class_weight"], s["tfidf_weight"])
                oof[te] = softmax_head(xte, 0.0, 1.0, wd, b, ste, ws)
            sc = _scores(y, oof)
            results.append((s, sc, oof))
            if on_log:
                on_log(f"  {m} {s}: rho {sc['spearman']:.3f} acc {sc['accuracy']:.3f} "
                       f"F1 {sc['macro_f1']:.3f}")
        best = max(results, key=lambda t: t[1]["spearman"] + t[1]["macro_f1"])
        out[m] = {"best": best[0], "scores": best[1], "oof": best[2],
                  "all": [(s, sc) for s, sc, _ in results]}
    return out


def embed_pairs(ctx_texts, resp_texts, *, model_dir=None, cache_dir="", n_threads=None):
    """Embeddings of contexts and replies with the shipped encoder (through the cache);
    returns (ctx_emb, resp_emb, encoder model id)."""
    from ..embed.api import cached_encode
    from ..embed.cache import EmbeddingCache, resolve_cache_dir
    from ..embed.encoder import get_encoder

    enc = get_encoder(model_dir or None, n_threads=n_threads)
    root = resolve_cache_dir(cache_dir)
    cache = None if root is None else EmbeddingCache(root, enc.model_id, enc.dim)
    n = len(ctx_texts)
    emb = cached_encode(enc, list(ctx_texts) + list(resp_texts), cache)
    return emb[:n], emb[n:], enc.model_id


def train_empathy(epitome_dir, out_dir=None, *, model_dir=None, cache_dir="", n_threads=None,
                  grid: dict | None = None, on_log=None) -> Path:
    """Train the empathy model from an EPITOME folder and save it (default: the user's folder).

    Returns the model folder.
    """
    import scipy.sparse as sp  # noqa: F401  (fail early when SciPy is missing)

    t0 = time.perf_counter()
    log = on_log or (lambda s: None)
    data = load_epitome(epitome_dir)
    log(f"EPITOME: {len(data['sp_id'])} pairs, {len(set(data['sp_id']))} seeker posts")
    ce, re_, model_id = embed_pairs(data["seeker_post"], data["response_post"], model_dir=model_dir,
                                    cache_dir=cache_dir, n_threads=n_threads)
    log(f"encoded in {time.perf_counter() - t0:.0f} s; grouped 5-fold CV by sp_id")
    cv = cross_validate(data, ce, re_, grid=grid, on_log=log)
    X = features(ce, re_, data["seeker_post"], data["response_post"])
    mean, scale = _standardise(X)
    tf = Tfidf.fit(data["response_post"])
    xs = tf.transform(data["response_post"])
    arrays = {"mean": mean, "scale": scale, "idf": tf.idf}
    heads = {}
    for m in MECHANISMS:
        s = cv[m]["best"]
        wd, ws, b = _fit_head((X - mean) / scale, xs, data["level"][m], s["C"], s["class_weight"],
                              s["tfidf_weight"])
        heads[m] = (wd, ws, b)
        arrays.update({f"{m}_w_dense": wd, f"{m}_w_sparse": ws, f"{m}_b": b})
    manifest = {
        "kind": KIND, "feature_version": FEATURE_VERSION, "encoder_model_id": model_id,
        "mechanisms": MECHANISMS, "levels": [0, 1, 2], "lexical": list(LEXICAL),
        "lexical_weight": LEXICAL_WEIGHT,
        "tfidf": {"ngram": tf.ngram, "sublinear": tf.sublinear, "min_df": 2, "max_features": 20000},
        "settings": {m: cv[m]["best"] for m in MECHANISMS},
        "cv": {m: {**cv[m]["scores"], "n": int(len(data["sp_id"])), "folds": 5,
                   "grouped_by": "sp_id"} for m in MECHANISMS},
        "trained_on": {"n_pairs": int(len(data["sp_id"])), "n_seeker_posts": int(len(set(data["sp_id"])))},
        "training_seconds": round(time.perf_counter() - t0, 1),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    model = EmpathyModel(manifest, arrays, tf.vocab)
    path = model.save(Path(out_dir) if out_dir else default_empathy_dir())
    log(f"saved {path} ({manifest['training_seconds']:.0f} s)")
    return path
