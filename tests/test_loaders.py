"""Loaders on generated inputs of every format, and on the real ESConv files."""
import json

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import fastmetrics as fm
from fastmetrics.corpus import CLIENT, OTHER, THERAPIST
from fastmetrics.io import detect_format, iter_corpus

ROWS = [
    # conversation, turn, speaker, text, rating
    ("c1", 2, "usr", "I can't sleep at night.", 2.0),
    ("c1", 1, "sys", "Hello, how are you feeling?", None),
    ("c1", 3, "sys", "That sounds exhausting.", None),
    ("c2", 1, "usr", "My exams are next week", 4.0),
    ("c2", 2, "sys", "What worries you most?", None),
    ("c2", 3, "usr", "Failing, I guess.", 3.0),
]


def long_table(names=("conversation_id", "turn", "speaker", "text", "rating")):
    cols = list(zip(*ROWS))
    return pa.table({n: pa.array(c) for n, c in zip(names, cols)})


def check_corpus(c):
    assert c.n_conversations == 2 and c.n_turns == 6
    assert c.conversation_id.to_pylist() == ["c1", "c2"]
    np.testing.assert_array_equal(c.conv_offsets, [0, 3, 6])
    # sorted by turn within conversation
    assert c.text.to_pylist()[:3] == ["Hello, how are you feeling?", "I can't sleep at night.",
                                      "That sounds exhausting."]
    np.testing.assert_array_equal(c.role, [THERAPIST, CLIENT, THERAPIST, CLIENT, THERAPIST, CLIENT])
    assert c.speaker.to_pylist()[:2] == ["sys", "usr"]
    rating = c.turn_columns["rating"].to_pylist()
    assert rating[1] == 2.0 and rating[0] is None


def write_all(tmp_path):
    t = long_table()
    paths = {}
    pq.write_table(t, tmp_path / "c.parquet")
    paths["parquet"] = tmp_path / "c.parquet"
    df = t.to_pandas()
    df.to_csv(tmp_path / "c.csv", index=False)
    paths["csv"] = tmp_path / "c.csv"
    df.to_csv(tmp_path / "c.tsv", index=False, sep="\t")
    paths["tsv"] = tmp_path / "c.tsv"
    df.to_json(tmp_path / "c.jsonl", orient="records", lines=True)
    paths["jsonl"] = tmp_path / "c.jsonl"
    (tmp_path / "c.json").write_text(json.dumps(t.to_pylist()))
    paths["json"] = tmp_path / "c.json"
    return paths


@pytest.mark.parametrize("fmt", ["parquet", "csv", "tsv", "jsonl", "json"])
def test_long_table_formats(tmp_path, fmt):
    path = write_all(tmp_path)[fmt]
    assert detect_format(path) == fmt
    check_corpus(fm.load(path))
    check_corpus(fm.load(path, format=fmt))


@pytest.mark.parametrize("kind", ["arrow", "pandas", "polars"])
def test_dataframes(kind):
    t = long_table()
    data = {"arrow": t, "pandas": t.to_pandas(), "polars": pl.from_arrow(t)}[kind]
    check_corpus(fm.load(data))


def test_custom_columns_and_role_map(tmp_path):
    t = long_table(("dialog", "idx", "who", "utterance", "score"))
    t = t.set_column(2, "who", pa.array(["A", "B", "B", "A", "B", "A"]))
    p = tmp_path / "other.csv"
    t.to_pandas().to_csv(p, index=False)
    c = fm.load(p, conversation="dialog", order="idx", speaker="who", text="utterance",
                role_map="A=client,B=therapist")
    np.testing.assert_array_equal(c.role, [THERAPIST, CLIENT, THERAPIST, CLIENT, THERAPIST, CLIENT])
    assert "score" in c.turn_columns
    # without the map the labels are unknown -> other
    c2 = fm.load(p, conversation="dialog", order="idx", speaker="who", text="utterance")
    assert set(c2.role.tolist()) == {OTHER}


def test_role_column_and_conversation_columns():
    t = pa.table({"conversation_id": ["a", "a", "b", "b"], "speaker": ["p1", "p2", "p3", "p4"],
                  "role": ["patient", "counselor", "patient", "counselor"],
                  "text": ["x y", "z", "w", "v"], "outcome": [1.0, 1.0, 0.0, 0.0]})
    c = fm.load(t, role_column="role", conversation_columns=["outcome"])
    np.testing.assert_array_equal(c.role, [CLIENT, THERAPIST, CLIENT, THERAPIST])
    assert c.conv_columns["outcome"].to_pylist() == [1.0, 0.0]
    assert "outcome" not in c.turn_columns


def test_timestamp_order():
    t = pa.table({"conversation_id": ["a"] * 3, "timestamp": ["2024-01-01T10:00:05", "2024-01-01T10:00:01",
                                                           "2024-01-01T10:00:09"],
                  "speaker": ["usr", "sys", "usr"], "text": ["second", "first", "third"]})
    c = fm.load(t)
    assert c.text.to_pylist() == ["first", "second", "third"]


def test_file_order_when_no_order_column():
    t = pa.table({"conversation_id": ["b", "a", "b", "a"], "speaker": ["usr", "usr", "sys", "sys"],
                  "text": ["b1", "a1", "b2", "a2"]})
    c = fm.load(t)
    assert c.conversation_id.to_pylist() == ["b", "a"]
    assert c.text.to_pylist() == ["b1", "b2", "a1", "a2"]


def test_convokit_directory(tmp_path):
    d = tmp_path / "corpus"
    d.mkdir()
    utts = [
        {"id": "u1", "conversation_id": "u1", "reply_to": None, "speaker": "client_7", "text": "I feel stuck.",
         "timestamp": 1, "meta": {"role": "client", "label": "change"}},
        {"id": "u2", "conversation_id": "u1", "reply_to": "u1", "speaker": "th_1", "text": "Stuck how?",
         "timestamp": 2, "meta": {"role": "therapist", "label": "question"}},
        {"id": "u3", "conversation_id": "u3", "reply_to": None, "speaker": "client_8", "text": "Hello.",
         "timestamp": 3, "meta": {"role": "client", "label": None}},
        {"id": "u4", "conversation_id": "u3", "reply_to": "u3", "speaker": "th_1", "text": "Hi there.",
         "timestamp": 4, "meta": {"role": "therapist", "label": "greeting"}},
    ]
    (d / "utterances.jsonl").write_text("".join(json.dumps(u) + "\n" for u in utts))
    (d / "conversations.json").write_text(json.dumps({"u1": {"meta": {"quality": "high"}, "vectors": []},
                                                      "u3": {"meta": {"quality": "low"}, "vectors": []}}))
    assert detect_format(d) == "convokit"
    c = fm.load(d, role_column="meta.role")
    assert c.n_conversations == 2 and c.n_turns == 4
    np.testing.assert_array_equal(c.role, [CLIENT, THERAPIST, CLIENT, THERAPIST])
    assert c.conv_columns["quality"].to_pylist() == ["high", "low"]
    assert c.turn_columns["meta.label"].to_pylist()[1] == "question"


def test_esconv_layouts_generated(tmp_path):
    jl = {"emotion_type": "anxiety", "survey_score": {"seeker": {"initial_emotion_intensity": "4",
                                                                "final_emotion_intensity": "2",
                                                                "empathy": "5", "relevance": "4"}},
          "dialog": [{"text": "Hi", "speaker": "usr"},
                     {"text": "Hello, what's up?", "speaker": "sys", "strategy": "Question"}]}
    p1 = tmp_path / "a.jsonl"
    p1.write_text(json.dumps(jl) + "\n" + json.dumps(jl) + "\n")
    assert detect_format(p1) == "esconv-jsonl"
    c = fm.load(p1)
    assert c.n_conversations == 2
    assert c.conv_columns["final_emotion_intensity"].to_pylist() == [2.0, 2.0]
    assert c.turn_columns["strategy"].to_pylist()[:2] == [None, "Question"]
    orig = [{"survey_score": {"seeker": {"initial_emotion_intensity": "5"}},
             "dialog": [{"speaker": "supporter", "annotation": {"strategy": "Question"}, "content": "Hi?"},
                        {"speaker": "seeker", "annotation": {"feedback": "4"}, "content": "Bad day."},
                        {"speaker": "listener", "annotation": {}, "content": "Sorry."},
                        {"speaker": "speaker", "annotation": {}, "content": "Yes."}]}]
    p2 = tmp_path / "b.json"
    p2.write_text(json.dumps(orig))
    assert detect_format(p2) == "esconv-json"
    c2 = fm.load(p2)
    np.testing.assert_array_equal(c2.role, [THERAPIST, CLIENT, THERAPIST, CLIENT])
    assert c2.turn_columns["rating"].to_pylist() == [None, 4.0, None, None]
    assert c2.conv_columns["final_emotion_intensity"].to_pylist() == [None]


def test_chunks_are_whole_conversations(tmp_path):
    rng = np.random.default_rng(3)
    lens = rng.integers(2, 9, size=300)
    conv = np.repeat(np.arange(300), lens)
    turn = np.concatenate([np.arange(n) for n in lens])
    t = pa.table({"conversation_id": pa.array([f"c{i}" for i in conv]), "turn": turn,
                  "speaker": np.where(turn % 2 == 0, "usr", "sys"), "text": [f"w{i}" for i in range(len(conv))]})
    p = tmp_path / "t.parquet"
    pq.write_table(t, p, row_group_size=97)
    whole = fm.load(p)
    for fmt_path in (p,):
        chunks = list(iter_corpus(fmt_path, chunk_turns=150))
        assert len(chunks) > 3
        assert sum(c.n_turns for c in chunks) == whole.n_turns
        ids = [i for c in chunks for i in c.conversation_id.to_pylist()]
        assert ids == whole.conversation_id.to_pylist()  # each conversation exactly once, whole
        joined = [x for c in chunks for x in c.text.to_pylist()]
        assert joined == whole.text.to_pylist()
    jl = tmp_path / "t.jsonl"
    t.to_pandas().to_json(jl, orient="records", lines=True)
    chunks = list(iter_corpus(jl, chunk_turns=150))
    assert [x for c in chunks for x in c.text.to_pylist()] == whole.text.to_pylist()


# ---------------------------------------------------------------- real data (exact counts)
def test_esconv_valid_real(esconv_dir):
    c = fm.load(esconv_dir / "ESConv-valid.jsonl")
    assert c.format == "esconv-jsonl"
    assert c.n_conversations == 195
    assert c.n_turns == 5678
    for col in ("initial_emotion_intensity", "final_emotion_intensity", "empathy", "relevance"):
        assert c.conv_columns[col].type == pa.float64()
    assert set(c.role.tolist()) == {CLIENT, THERAPIST}


def test_esconv_train_real(esconv_dir):
    c = fm.load(esconv_dir / "ESConv-train.jsonl")
    assert (c.n_conversations, c.n_turns) == (910, 26648)


def test_failed_esconv_real(esconv_dir):
    raw = json.loads((esconv_dir / "FailedESConv-dev.json").read_text())
    c = fm.load(esconv_dir / "FailedESConv-dev.json")
    assert c.format == "esconv-json"
    assert c.n_conversations == 139 == len(raw)
    assert c.n_turns == 3670 == sum(len(d["dialog"]) for d in raw)
    rating = np.array(c.turn_columns["rating"].to_numpy(zero_copy_only=False), dtype=float)
    n_feedback = sum(1 for d in raw for t in d["dialog"] if "feedback" in t.get("annotation", {}))
    assert np.isfinite(rating).sum() == n_feedback == 677
    # ratings sit on seeker (client) turns only
    assert np.all(c.role[np.isfinite(rating)] == CLIENT)
    assert np.bincount(c.role).tolist() == [2015, 1655]


def test_several_inputs(tmp_path):
    paths = write_all(tmp_path)
    t2 = long_table()
    t2 = t2.set_column(0, "conversation_id", pa.array(["x"] * 3 + ["y"] * 3))
    pq.write_table(t2, tmp_path / "other.parquet")
    c = fm.load([paths["csv"], tmp_path / "other.parquet"])
    assert c.conversation_id.to_pylist() == ["c1", "c2", "x", "y"]
    with pytest.raises(fm.InputError, match="also appears in"):
        fm.load([paths["csv"], paths["parquet"]])
