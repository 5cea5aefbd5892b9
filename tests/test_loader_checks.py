"""Loader checks from the trust issue: types kept, nothing coerced, options that do nothing reported."""
import json
import warnings

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import fastmetrics as fm
from fastmetrics.errors import InputError


def _table(**extra):
    base = {"conversation_id": ["a", "a", "b", "b"], "speaker": ["usr", "sys", "usr", "sys"],
            "text": ["I feel low.", "That is hard.", "Exams soon.", "How are you?"]}
    base.update(extra)
    return pa.table(base)


def test_integer_ids_stay_int64(tmp_path):
    p = tmp_path / "i.parquet"
    pq.write_table(_table(conversation_id=pa.array([7, 7, 8, 8], pa.int64())), p)
    c = fm.load(p)
    assert c.conversation_id.type == pa.int64() and c.conversation_id.to_pylist() == [7, 8]


def test_number_and_string_ids_are_an_error(tmp_path):
    p = tmp_path / "ids.jsonl"
    rows = [{"conversation_id": 2, "speaker": "usr", "text": "a b"},
            {"conversation_id": 2, "speaker": "sys", "text": "c"},
            {"conversation_id": "2", "speaker": "usr", "text": "d"},
            {"conversation_id": "2", "speaker": "sys", "text": "e"}]
    p.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    for mode in ("fail", "skip"):
        with pytest.raises(InputError, match=r"line 3: conversation ids mix numbers"):
            fm.load(p, on_error=mode)


def test_nfc_at_load():
    c = fm.load(_table(text=["cafe\u0301 time", "caf\u00e9 time", "x y", "z w"]))
    assert c.text[0].as_py() == c.text[1].as_py() == "caf\u00e9 time"


def test_unused_role_map_label_warns():
    with pytest.warns(UserWarning, match=r"--role-map label 'helper_bot' never occurs"):
        fm.load(_table(), role_map="helper_bot=therapist")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fm.load(_table(), role_map="usr=client")


def test_varying_conversation_column_warns():
    with pytest.warns(UserWarning, match=r"'outcome' varies within 1 conversation \(first 'b'\)"):
        c = fm.load(_table(outcome=[1, 1, 2, 3]), conversation_columns=["outcome"])
    assert c.conv_columns["outcome"].to_pylist() == [1, 2]


@pytest.mark.parametrize("value", ["inf", "-inf", "nan"])
def test_non_finite_orders_rejected(value):
    t = _table(turn=["1", "2", "1", value])
    with pytest.raises(InputError, match=r"row 4: .*turn order"):
        fm.load(t)
    c = fm.load(t, on_error="skip")  # only the bad row goes; b is then a single turn and goes too
    assert c.n_conversations == 1 and [r["line"] for r in c.skipped] == [4, 3]


def test_records_and_object_columns():
    rows = [dict(conversation_id="a", speaker="usr", text="I feel low."),
            dict(conversation_id="a", speaker="sys", text="That is hard.")]
    assert fm.load(rows).n_turns == 2
    with pytest.raises(InputError, match="row 3"):
        fm.load(rows + [dict(conversation_id="a", speaker="usr", text=3.5)])
    df = pd.DataFrame({"conversation_id": ["a", "a"], "speaker": ["usr", "sys"],
                       "text": pd.Series(["hi there", 1.5], dtype=object)})
    with pytest.raises(InputError, match=r"column 'text' mixes str and float values \(row 2"):
        fm.load(df)


def test_esconv_bad_feedback_listed_is_dropped(tmp_path):
    conv = {"dialog": [{"speaker": "seeker", "content": "I feel low."},
                       {"speaker": "supporter", "content": "That is hard."},
                       {"speaker": "seeker", "content": "Thanks.", "annotation": {"feedback": "great"}},
                       {"speaker": "supporter", "content": "Any time."}]}
    p = tmp_path / "e.json"
    p.write_text(json.dumps([conv]))
    c = fm.load(p, format="esconv-json", on_error="skip")
    assert c.n_turns == 3 and len(c.skipped) == 1 and "'great'" in c.skipped[0]["reason"]


def test_unclosed_quote_lists_every_line(tmp_path):
    p = tmp_path / "q.csv"
    lines = ["conversation_id,turn,speaker,text", "a,1,usr,hi there", "a,2,sys,hello", "b,1,usr,one",
             'b,2,sys,"never closed', "c,1,usr,lost", "c,2,sys,lost too"]
    p.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError, match=r"line 5: a quote opened on line 5 is never closed"):
        fm.load(p)
    c = fm.load(p, on_error="skip")
    # the quote's line and every line it swallows, then b (left with one turn) at its first line
    assert sorted(r["line"] for r in c.skipped) == [4, 5, 6, 7]
    assert c.n_turns == 2
