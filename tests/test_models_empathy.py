"""The trained empathy model (fastmetrics.models.empathy) and the ``empathy`` family with it."""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from fastmetrics.errors import InputError
from fastmetrics.models import empathy as E
from fastmetrics.models.linear import Tfidf

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "epitome"

REPLIES = ["That sounds really hard, how are you feeling now?", "I am so sorry, sending hugs.",
           "You should talk to a doctor.", "It seems like you feel alone. What happened?",
           "lol same", "Have you tried sleeping more?", "I understand, it must be exhausting.",
           "Go for a walk.", "What do you think would help?", "I hear you, that is awful."]
POSTS = ["I can't sleep and feel awful", "My dog died today", "I have headaches every day",
         "Nobody talks to me at school", "I failed my exam", "I am tired all the time",
         "Work is exhausting me", "I feel stuck at home", "I don't know what to do",
         "My friend betrayed me"]


def _write_epitome(folder: Path, n: int = 60, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    rows = [(f"s{i // 2}", f"r{i}", POSTS[i % 10], REPLIES[rng.integers(10)]) for i in range(n)]
    for m, name in E.FILES.items():
        with open(folder / name, "w", encoding="utf-8") as fh:
            fh.write("sp_id,rp_id,seeker_post,response_post,level,rationales\n")
            for sp, rp, post, resp in rows:
                lvl = {"ex": int("?" in resp) * 2,
                       "er": int(any(w in resp for w in ("sorry", "hugs", "awful", "hard"))) * 2,
                       "ip": int(any(w in resp for w in ("understand", "seems", "hear"))) + int("feel" in resp)}[m]
                fh.write(f'{sp},{rp},"{post}","{resp}",{min(lvl, 2)},\n')


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    root = tmp_path_factory.mktemp("emp")
    _write_epitome(root / "epitome")
    path = E.train_empathy(root / "epitome", root / "model", cache_dir=str(root / "cache"),
                           grid={"C": (0.1,), "class_weight": (None,), "tfidf_weight": (1.0,)})
    return root, path


def test_save_load_round_trip_and_manifest(tiny_model, tmp_path):
    _, path = tiny_model
    m = E.EmpathyModel.load(path)
    man = json.loads((path / "manifest.json").read_text())
    assert man["feature_version"] == E.FEATURE_VERSION and "MiniLM" in man["encoder_model_id"]
    assert set(man["cv"]) == {"er", "ip", "ex"}
    assert not list(path.glob("*.pkl"))
    m.save(tmp_path / "copy")
    m2 = E.EmpathyModel.load(tmp_path / "copy")
    for k in m.heads:
        for a, b in zip(m.heads[k], m2.heads[k]):
            np.testing.assert_array_equal(a, b)
    assert m2.tfidf.vocab == m.tfidf.vocab


def test_tfidf_equals_sklearn():
    from sklearn.feature_extraction.text import TfidfVectorizer

    tf = Tfidf.fit(REPLIES + POSTS, min_df=1)
    ref = TfidfVectorizer(ngram_range=(1, 2), min_df=1, sublinear_tf=True).fit(REPLIES + POSTS)
    order = [ref.vocabulary_[w] for w in tf.vocab]
    new = ["That sounds hard hard hard", "nothing known here", ""]
    np.testing.assert_allclose(tf.transform(new).toarray(), ref.transform(new).toarray()[:, order],
                               atol=1e-12)


def test_inference_equals_sklearn_predict_proba_and_levels_in_range():
    import scipy.sparse as sp
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(3)
    n, d = 80, 16
    ce = rng.normal(size=(n, d)).astype(np.float32)
    re_ = rng.normal(size=(n, d)).astype(np.float32)
    ct = [POSTS[i % 10] for i in range(n)]
    rt = [REPLIES[(i * 7) % 10] for i in range(n)]
    y = rng.integers(0, 3, n)
    X = E.features(ce, re_, ct, rt)
    mean, scale = E._standardise(X)
    tf = Tfidf.fit(rt, min_df=1)
    xs = tf.transform(rt)
    wd, ws, b = E._fit_head((X - mean) / scale, xs, y, 0.5, None, 2.0)
    arrays = {"mean": mean, "scale": scale, "idf": tf.idf}
    for m in E.MECHANISMS:
        arrays.update({f"{m}_w_dense": wd, f"{m}_w_sparse": ws, f"{m}_b": b})
    man = {"kind": E.KIND, "feature_version": 1, "encoder_model_id": "x",
           "tfidf": {"ngram": 2, "sublinear": True}}
    model = E.EmpathyModel(man, arrays, tf.vocab)
    got = model.predict_proba(ce, re_, ct, rt, batch=7)["er"]
    # independent reference: scikit-learn fitted on the same design matrix, row by row
    Xref = sp.hstack([sp.csr_matrix((X - mean) / scale), xs * 2.0], format="csr")
    clf = LogisticRegression(C=0.5, max_iter=500).fit(Xref, y)
    for i in range(0, n, 9):
        np.testing.assert_allclose(got[i], clf.predict_proba(Xref[i])[0], atol=1e-6)
    lv = model.expected_levels(ce, re_, ct, rt)
    assert all(((v >= 0) & (v <= 2)).all() for v in lv.values())


def test_bad_folder_and_missing_columns(tmp_path):
    with pytest.raises(InputError, match="not a folder"):
        E.load_epitome(tmp_path / "nope")
    _write_epitome(tmp_path / "e", n=20)
    p = tmp_path / "e" / E.FILES["ip"]
    p.write_text("sp_id,rp_id,seeker_post\n1,2,x\n")
    with pytest.raises(InputError, match="missing column"):
        E.load_epitome(tmp_path / "e")


def test_train_cli_bad_folder_one_line(tmp_path, capsys):
    from fastmetrics.cli import main

    assert main(["train", "empathy", str(tmp_path / "nope"), "-o", str(tmp_path / "m")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "not a folder" in err


def _conv_corpus():
    import pyarrow as pa

    from fastmetrics.corpus import Corpus

    texts = ["I can't sleep and feel awful", "it has been weeks",
             "That sounds really hard, how are you feeling now?", "bad", "You should talk to a doctor.",
             "hi", "Sorry to hear that."]
    role = np.array([0, 0, 1, 0, 1, 0, 1], dtype=np.int8)
    return Corpus(conversation_id=pa.array(["a", "b"]), conv_offsets=np.array([0, 5, 7]), role=role,
                  speaker=pa.array(["usr" if r == 0 else "sys" for r in role]), text=pa.array(texts))


def test_family_with_model_columns_metadata_and_context(tiny_model):
    from fastmetrics.metrics.empathy.family import client_context
    from fastmetrics.registry import Context, get

    root, path = tiny_model
    c = _conv_corpus()
    ctx = Context(options={"empathy_model": str(path), "cache_dir": str(root / "cache")})
    res = get("empathy").compute(c, ctx)
    t = res.turns
    assert res.metadata["fastmetrics.empathy.model"] == "epitome"
    sup = np.flatnonzero(c.role == 1)
    for k in ("empathy_er", "empathy_ip", "empathy_ex", "empathy_mean"):
        assert np.isnan(np.delete(t[k], sup)).all() and ((t[k][sup] >= 0) & (t[k][sup] <= 2)).all()
    np.testing.assert_allclose(t["empathy_mean"], (t["empathy_er"] + t["empathy_ip"] + t["empathy_ex"]) / 3)
    assert not any(k.startswith("empathy_proto") for k in t)
    text = c.text.to_pylist()
    cx = client_context(np.asarray(c.conv_index), np.asarray(c.role), text)
    assert cx[2] == text[0] + "\n" + text[1] and cx[4] == text[3]
    # same as the model applied directly to (context, reply)
    m = E.EmpathyModel.load(path)
    ce, re_, _ = E.embed_pairs([cx[i] for i in sup], [text[i] for i in sup], cache_dir=str(root / "cache"))
    ref = m.expected_levels(ce, re_, [cx[i] for i in sup], [text[i] for i in sup])
    np.testing.assert_allclose(t["empathy_ex"][sup], ref["ex"], atol=1e-5)


def test_family_without_model_warns_once_and_keeps_heuristic(tmp_path, monkeypatch):
    from fastmetrics.registry import Context, get

    monkeypatch.setenv("FASTMETRICS_MODELS", str(tmp_path / "none"))
    c = _conv_corpus()
    ctx = Context(options={"cache_dir": str(tmp_path / "cache")})
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        r1 = get("empathy").compute(c, ctx)
        get("empathy").compute(c, ctx)
    msgs = [str(x.message) for x in w if "unvalidated baseline" in str(x.message)]
    assert len(msgs) == 1 and "\n" not in msgs[0]
    assert r1.metadata["fastmetrics.empathy.model"] == "prototype"
    assert "empathy_proto" in r1.turns and "empathy_er" not in r1.turns


def test_family_finds_model_in_user_folder(tiny_model, monkeypatch, tmp_path):
    import shutil

    from fastmetrics.registry import Context, get

    root, path = tiny_model
    shutil.copytree(path, tmp_path / "models" / "empathy")
    monkeypatch.setenv("FASTMETRICS_MODELS", str(tmp_path / "models"))
    res = get("empathy").compute(_conv_corpus(), Context(options={"cache_dir": str(root / "cache")}))
    assert res.metadata["fastmetrics.empathy.model"] == "epitome"


@pytest.mark.realdata
def test_real_epitome_held_out_fold_beats_question_mark_and_length_baselines():
    if not DATA.is_dir():
        pytest.skip(f"EPITOME not found at {DATA} (only in the development checkout)")
    from scipy.stats import spearmanr
    from sklearn.model_selection import GroupKFold

    d = E.load_epitome(DATA)
    ce, re_, _ = E.embed_pairs(d["seeker_post"], d["response_post"])
    tr, te = next(GroupKFold(5).split(ce, groups=d["sp_id"]))
    X = E.features(ce, re_, d["seeker_post"], d["response_post"])
    mean, scale = E._standardise(X[tr])
    from fastmetrics.models.linear import softmax_head

    q = np.array(["?" in d["response_post"][i] for i in te], dtype=float)
    n = np.array([len(d["response_post"][i]) for i in te], dtype=float)
    # explorations is left out: there the question-mark baseline is not beaten (docs/validation.md)
    for m in ("er", "ip"):
        y = d["level"][m]
        wd, ws, b = E._fit_head((X[tr] - mean) / scale, None, y[tr], 0.001, "balanced", 0.0)
        ev = softmax_head(X[te], mean, scale, wd, b) @ np.arange(3.0)
        rho = spearmanr(ev, y[te]).statistic
        assert rho > spearmanr(q, y[te]).statistic and rho > spearmanr(n, y[te]).statistic, m
