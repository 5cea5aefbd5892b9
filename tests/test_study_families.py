"""The ``behaviour`` and ``empathy`` metric families (pipeline-facing) against references."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from fastmetrics.corpus import Corpus
from fastmetrics.registry import Context, get

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "esconv"

TEXTS = ["I lost my job and I feel so alone.",                   # client
         "I'm so sorry, that sounds really painful.",             # supporter: emotional reaction
         "Yes, it is hard.",                                      # client
         "You should update your resume and apply to new jobs.",  # supporter: advice
         "I am scared I will never find anything.",               # client
         "How long have you been looking for work?",              # supporter: question
         "ok"]


def corpus(strategy=None):
    role = np.array([0, 1, 0, 1, 0, 1, 0], dtype=np.int8)
    cols = {} if strategy is None else {"strategy": pa.array(strategy, pa.string())}
    return Corpus(conversation_id=pa.array(["a", "b"]), conv_offsets=np.array([0, 4, 7]),
                  role=role, speaker=pa.array(["usr" if r == 0 else "sys" for r in role]),
                  text=pa.array(TEXTS), turn_columns=cols)


def _encoder_or_skip():
    try:
        from fastmetrics.embed import encode

        encode(["probe"])
    except Exception as exc:  # ImportError, BackendUnavailableError (model package missing)
        pytest.skip(f"the sentence encoder (fastmetrics.encode) is unavailable: {exc}")
    return encode


def test_behaviour_family_from_strategies():
    strat = [None, "Reflection of feelings", None, "Providing Suggestions", None, "Question", None]
    c = corpus(strat)
    ctx = Context(options={"behaviour_source": "auto"}, columns=dict(c.turn_columns))
    ctx.columns["valence"] = np.array([-0.6, 0.0, 0.1, 0.0, -0.5, 0.0, 0.0])
    res = get("behaviour").compute(c, ctx)
    assert res.turns["behaviour"].to_pylist() == [None, "reflection_emotions", None,
                                                  "problem_solving", None, "question", None]
    conv = res.conversations
    np.testing.assert_allclose(conv["bolt_reflection_emotions_rate"], [0.5, 0.0])
    np.testing.assert_allclose(conv["bolt_problem_solving_rate"], [0.5, 0.0])
    np.testing.assert_allclose(conv["bolt_question_rate"], [0.0, 1.0])
    # turn 1 follows a negative client turn (-0.6), turn 3 a neutral one (0.1); turn 5 follows -0.5
    np.testing.assert_allclose(conv["bolt_reflection_emotions_given_neg_rate"], [1.0, 0.0])
    np.testing.assert_allclose(conv["bolt_problem_solving_given_neg_rate"], [0.0, 0.0])
    np.testing.assert_allclose(conv["bolt_question_given_neg_rate"], [0.0, 1.0])
    assert "strategy" in res.metadata["fastmetrics.behaviour.source"]


def test_behaviour_family_strategy_source_without_column_is_an_error():
    from fastmetrics.errors import InputError

    with pytest.raises(InputError, match="strategy"):
        get("behaviour").compute(corpus(), Context(options={"behaviour_source": "strategy"}))


@pytest.mark.realdata
def test_behaviour_family_in_the_pipeline_feeds_the_study(tmp_path):
    import fastmetrics
    from fastmetrics.study import run_study

    path = DATA / "ESConv-valid.jsonl"
    if not path.exists():
        pytest.skip(f"real ESConv data not found at {path}")
    fastmetrics.score(path, metrics=["behaviour"], out_dir=tmp_path / "scored")
    import pyarrow.parquet as pq

    conv = pq.read_table(tmp_path / "scored" / "conversations.parquet")
    # reference: count strategies straight from the raw file, mapped by the documented table
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    from fastmetrics.metrics.behaviour import STRATEGY_TO_BOLT

    vader = SentimentIntensityAnalyzer()
    lines = path.read_text().splitlines()[:60]
    ref, ref_neg = [], []
    for line in lines:
        dialog = json.loads(line)["dialog"]
        s = [STRATEGY_TO_BOLT[t["strategy"].lower()] for t in dialog
             if t["speaker"] == "sys" and t.get("strategy")]
        ref.append(s.count("question") / len(s) if s else np.nan)
        # P(problem_solving | the latest seeker turn before it is negative), VADER directly
        neg, last = [], None
        for t in dialog:
            if t["speaker"] == "usr":
                last = vader.polarity_scores(t["text"])["compound"]
            elif t.get("strategy") and last is not None and last <= -0.05:
                neg.append(STRATEGY_TO_BOLT[t["strategy"].lower()])
        ref_neg.append(neg.count("problem_solving") / len(neg) if neg else np.nan)
    n = len(lines)
    np.testing.assert_allclose(conv.column("bolt_question_rate").to_numpy()[:n], ref)
    np.testing.assert_allclose(conv.column("bolt_problem_solving_given_neg_rate").to_numpy()[:n],
                               ref_neg, atol=1e-12)
    res = run_study(tmp_path / "scored", tmp_path / "report", "final_emotion_intensity",
                    control="initial_emotion_intensity", n_boot=50, n_repeats=1, report=False)
    srcs = {f["name"]: f["source"] for f in res["features"]}
    # the rate is the mean of the behaviour signal built from the family's per-turn labels (the
    # same value as the family's bolt_question_rate); its conditional rates come from the family
    assert srcs["bolt_question_rate"].startswith("BOLT behaviour indicator")
    assert "bolt_question" in {r["signal"] for r in res["signal_comparison"]}
    assert srcs["bolt_question_given_neg_rate"] == "conversations.parquet (behaviour family)"


def test_behaviour_family_prototype_classifier():
    _encoder_or_skip()
    c = corpus()
    res = get("behaviour").compute(c, Context(options={"behaviour_source": "prototype"}))
    lab = res.turns["behaviour"].to_pylist()
    assert lab[0] is None and lab[2] is None  # client turns carry no behaviour
    assert lab[5] == "question"
    assert lab[1] in ("reflection_emotions", "normalizing")
    assert "prototype" in res.metadata["fastmetrics.behaviour.source"]


def test_empathy_family_matches_an_independent_cosine_computation():
    encode = _encoder_or_skip()
    from fastmetrics.embed.prototypes import load_anchors

    c = corpus()
    res = get("empathy").compute(c, Context(options={}))
    t = res.turns
    assert np.isnan(t["empathy_proto"][[0, 2, 4, 6]]).all()
    anchors = load_anchors("empathy")
    sup = [1, 3, 5]
    e = encode([TEXTS[i] for i in sup]).astype(np.float64)
    ref = {}
    for key, short in (("emotional_reactions", "er"), ("interpretations", "ip"),
                       ("explorations", "ex"), ("advice", "advice")):
        m = encode(anchors[key]).astype(np.float64).mean(axis=0)
        ref[short] = e @ (m / np.linalg.norm(m))
        np.testing.assert_allclose(t[f"empathy_proto_{short}"][sup], ref[short], atol=1e-5)
    np.testing.assert_allclose(t["empathy_proto"][sup],
                               (ref["er"] + ref["ip"] + ref["ex"]) / 3 - ref["advice"], atol=1e-5)
    # direction: the sympathetic reply scores above the advice
    assert t["empathy_proto"][1] > t["empathy_proto"][3]
    assert t["empathy_proto_advice"][3] > t["empathy_proto_advice"][1]


def test_empathy_family_onnx_hook(tmp_path):
    _encoder_or_skip()
    onnx = pytest.importorskip("onnx", reason="building a test ONNX model needs the onnx package")
    from onnx import TensorProto, helper, numpy_helper

    w = np.zeros((384, 1), dtype=np.float32)
    w[0, 0] = 2.0  # score = 2 * first embedding coordinate
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])], "lin",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 384])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 1])],
        [numpy_helper.from_array(w, "w")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    path = tmp_path / "clf.onnx"
    onnx.save(model, str(path))
    from fastmetrics.embed import encode

    c = corpus()
    res = get("empathy").compute(c, Context(options={"empathy_onnx": str(path)}))
    got = res.turns["empathy_onnx"]
    ref = 2 * encode([TEXTS[i] for i in (1, 3, 5)])[:, 0]
    np.testing.assert_allclose(got[[1, 3, 5]], ref, atol=1e-5)
    assert np.isnan(got[[0, 2, 4, 6]]).all()
    assert "ONNX" in res.metadata["fastmetrics.empathy.source"]
