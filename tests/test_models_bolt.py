"""The shipped BOLT behaviour classifier and the behaviour family's classifier source."""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from fastmetrics.models.bolt import TO_BEHAVIOUR, load_shipped, shipped_path

BOLT = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "bolt"


def test_shipped_with_notice_and_labels_map_to_behaviours():
    from fastmetrics.metrics.behaviour import BEHAVIOURS

    assert "BSD" in (shipped_path() / "LICENSE-BSD-3-Clause.txt").read_text()
    clf = load_shipped()
    assert len(clf.labels("therapist")) == 13 and len(clf.labels("client")) == 6
    assert set(clf.labels("therapist")) == set(TO_BEHAVIOUR)
    assert set(TO_BEHAVIOUR.values()) <= set(BEHAVIOURS)


def test_inference_equals_naive_softmax():
    clf = load_shipped()
    rng = np.random.default_rng(1)
    emb = rng.normal(size=(5, 384))
    texts = ["How do you feel?", "You could try a plan.", "", "ok", "That is normal."]
    p = clf.predict_proba(emb, texts)
    from fastmetrics.models.linear import lexical_features

    a = clf.arrays
    for i in range(5):
        x = np.concatenate([emb[i], lexical_features([texts[i]])[0]])
        z = ((x - a["therapist_mean"]) / a["therapist_scale"]) @ a["therapist_w"].T + a["therapist_b"]
        ref = np.exp(z - z.max()) / np.exp(z - z.max()).sum()
        np.testing.assert_allclose(p[i], ref, atol=1e-10)


def test_behaviour_family_classifier_source():
    import pyarrow as pa

    from fastmetrics.corpus import Corpus
    from fastmetrics.registry import Context, get

    role = np.array([0, 1, 0, 1], dtype=np.int8)
    c = Corpus(conversation_id=pa.array(["a"]), conv_offsets=np.array([0, 4]), role=role,
               speaker=pa.array(["usr", "sys", "usr", "sys"]),
               text=pa.array(["I am sad", "How long have you felt this way?", "weeks", "Let's make a plan."]))
    res = get("behaviour").compute(c, Context(options={}))
    lab = res.turns["behaviour"].to_pylist()
    assert lab[0] is None and lab[2] is None and lab[1] is not None
    assert "BOLT classifier" in res.metadata["fastmetrics.behaviour.source"]


@pytest.mark.realdata
def test_valid_macro_f1_as_documented():
    if not BOLT.is_dir():
        pytest.skip(f"BOLT not found at {BOLT} (only in the development checkout)")
    from sklearn.metrics import f1_score

    import fastmetrics

    with open(BOLT / "finetune_therapist_combined_valid.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    x, y = [r["prompt"] for r in rows], [r["completion"].strip() for r in rows]
    clf = load_shipped()
    pred = clf.predict(fastmetrics.encode(x, cache_dir=""), x)
    f1 = f1_score(y, pred, average="macro", labels=clf.labels(), zero_division=0)
    majority = f1_score(y, ["Questions on Experiences"] * len(y), average="macro",
                        labels=clf.labels(), zero_division=0)
    # the 0.5 target is not reached (docs/validation.md); guard the shipped figure and the baseline
    assert f1 > majority + 0.1
    assert abs(f1 - clf.manifest["heads"]["therapist"]["valid_macro_f1"]) < 0.02


def _two_turn_corpus():
    import pyarrow as pa

    from fastmetrics.corpus import Corpus

    return Corpus(conversation_id=pa.array(["a"]), conv_offsets=np.array([0, 2]),
                  role=np.array([0, 1], dtype=np.int8), speaker=pa.array(["usr", "sys"]),
                  text=pa.array(["I am sad", "How long have you felt this way?"]))


def test_classifier_refuses_another_encoders_embeddings():
    """The classifier's weights read MiniLM embeddings (398 = 384 + lexical features): under the
    static tier (256-d) auto falls back to the prototype labels with a warning, and an explicit
    --behaviour-source classifier is a clear error, not a broadcasting traceback."""
    from fastmetrics.errors import InputError
    from fastmetrics.registry import Context, get

    opts = {"encoder": "static", "cache_dir": "none"}
    with pytest.warns(UserWarning, match="not those of --encoder static"):
        res = get("behaviour").compute(_two_turn_corpus(), Context(options=opts))
    assert "prototype" in res.metadata["fastmetrics.behaviour.source"]
    assert res.turns["behaviour"].to_pylist()[1] is not None
    with pytest.raises(InputError, match="--behaviour-source classifier.*--encoder static"):
        get("behaviour").compute(_two_turn_corpus(),
                                 Context(options={**opts, "behaviour_source": "classifier"}))


def test_same_encoder_ignores_runtime_not_model():
    from fastmetrics.models.linear import same_encoder

    cpu = "sentence-transformers/all-MiniLM-L6-v2 (onnx int8, pkg 1.0)|onnx=ab|tok=cd|max_length=256"
    gpu = "sentence-transformers/all-MiniLM-L6-v2 (torch float16 cuda, w)|onnx=ef|tok=cd|max_length=256"
    static = "static-minilm (model2vec of sentence-transformers/all-MiniLM-L6-v2, d=256)|tier=static|table=1"
    assert same_encoder(cpu, gpu) and same_encoder(gpu, cpu)
    assert not same_encoder(cpu, static) and not same_encoder(static, cpu)
    assert not same_encoder(cpu, "sentence-transformers/all-mpnet-base-v2 (onnx)|onnx=1")
