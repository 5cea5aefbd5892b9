"""Every bad-input case: a clear error naming file and line, or (skip) a listed skip."""
import csv
import json
import os

import pyarrow.parquet as pq
import pytest

import fastmetrics as fm
from fastmetrics.cli import main
from fastmetrics.errors import InputError

HEADER = "conversation_id,turn,speaker,text\n"
GOOD = ["a,1,usr,I feel low today.\n", "a,2,sys,I'm sorry to hear that.\n",
        "b,1,usr,Exams are coming.\n", "b,2,sys,How are you preparing?\n"]


def write(tmp_path, name, body: bytes | str):
    p = tmp_path / name
    p.write_bytes(body if isinstance(body, bytes) else body.encode("utf-8"))
    return p


CASES = {
    # name: (file name, content, expected line, expected words in the message, skipped count)
    "malformed_row": ("m.csv", HEADER + GOOD[0] + GOOD[1] + "b,1,usr,too,many,fields\n" + GOOD[2] + GOOD[3],
                      4, "expected 4 fields"),
    "non_utf8": ("u.csv", (HEADER + GOOD[0] + GOOD[1]).encode() + b"b,1,usr,caf\xe9\n" + (GOOD[2] + GOOD[3]).encode(),
                 4, "UTF-8"),
    "single_turn": ("s.csv", HEADER + GOOD[0] + GOOD[1] + "c,1,usr,Only me here.\n", 4, "single turn"),
    "single_speaker": ("p.csv", HEADER + GOOD[0] + GOOD[1] + "c,1,usr,Hello?\n" + "c,2,usr,Anyone?\n", 4,
                       "single speaker"),
    "duplicate_turn": ("d.csv", HEADER + GOOD[0] + GOOD[1] + GOOD[2] + "b,1,sys,Same number.\n" + GOOD[3], 5,
                       "duplicate turn"),
    "empty_text": ("e.csv", HEADER + GOOD[0] + 'a,2,sys,"  "\n' + GOOD[2] + GOOD[3], 3, "empty text"),
    "missing_text": ("n.csv", HEADER + GOOD[0] + "a,2,sys,\n" + GOOD[2] + GOOD[3], 3, "missing text"),
    "jsonl_malformed": ("j.jsonl", '{"conversation_id":"a","speaker":"usr","text":"hi there"}\n'
                                   '{"conversation_id":"a","speaker":"sys","text":"hello"}\n'
                                   '{"conversation_id":"b","speaker":"usr",\n'
                                   '{"conversation_id":"b","speaker":"usr","text":"one"}\n'
                                   '{"conversation_id":"b","speaker":"sys","text":"two"}\n', 3, "malformed JSON"),
    "jsonl_non_utf8": ("k.jsonl", b'{"conversation_id":"a","speaker":"usr","text":"hi there"}\n'
                                  b'{"conversation_id":"a","speaker":"sys","text":"hel\xfflo"}\n'
                                  b'{"conversation_id":"b","speaker":"usr","text":"one"}\n'
                                  b'{"conversation_id":"b","speaker":"sys","text":"two"}\n', 2, "UTF-8"),
    "esconv_malformed": ("x.jsonl", json.dumps({"dialog": [{"text": "a b", "speaker": "usr"},
                                                           {"text": "c", "speaker": "sys"}]}) + "\n{broken\n", 2,
                         "malformed JSON"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_fail_names_file_and_line(tmp_path, case, capsys):
    name, body, line, words = CASES[case]
    p = write(tmp_path, name, body)
    with pytest.raises(InputError) as ei:
        fm.load(p)
    msg = str(ei.value)
    assert str(p) in msg and f"line {line}" in msg and words in msg, msg
    out = tmp_path / "out"
    rc = main(["score", str(p), "-o", str(out), "-q"])
    err = capsys.readouterr().err
    assert rc == 2
    assert err.count("\n") == 1 and str(p) in err and f"line {line}" in err and "Traceback" not in err
    assert not (out / "turns.parquet").exists() and not (out / "conversations.parquet").exists()


@pytest.mark.parametrize("case", sorted(CASES))
def test_skip_writes_outputs_and_report(tmp_path, case):
    name, body, line, words = CASES[case]
    p = write(tmp_path, name, body)
    out = tmp_path / "out"
    rc = main(["score", str(p), "-o", str(out), "-q", "--on-error", "skip"])
    assert rc == 0
    turns = pq.read_table(out / "turns.parquet")
    assert turns.num_rows >= 2
    with open(out / "skipped.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) >= 1
    assert any(int(r["line"]) == line and words in r["reason"] and r["source"] == str(p) for r in rows), rows
    assert not [f for f in os.listdir(out) if f.startswith(".")]  # no temporary files left


def test_missing_column(tmp_path):
    p = write(tmp_path, "c.csv", "conversation_id,speaker,body\na,usr,hi\na,sys,hello\n")
    with pytest.raises(InputError, match=r"c\.csv.*no text column"):
        fm.load(p)
    with pytest.raises(InputError, match=r"missing text column 'message'"):
        fm.load(p, text="message")


@pytest.mark.parametrize("name", ["e.csv", "e.jsonl", "e.json", "e.parquet"])
def test_empty_file(tmp_path, name, capsys):
    p = write(tmp_path, name, b"")
    with pytest.raises(InputError, match="empty"):
        fm.load(p)
    assert main(["score", str(p), "-o", str(tmp_path / "o"), "-q"]) == 2
    assert "empty" in capsys.readouterr().err


def test_header_only_csv(tmp_path):
    p = write(tmp_path, "h.csv", HEADER)
    with pytest.raises(InputError, match="no rows"):
        fm.load(p)


def test_missing_path_and_unknown_format(tmp_path, capsys):
    assert main(["score", str(tmp_path / "nope.csv"), "-o", str(tmp_path / "o"), "-q"]) == 2
    assert "no such file" in capsys.readouterr().err
    p = write(tmp_path, "a.csv", HEADER + "".join(GOOD))
    assert main(["score", str(p), "-o", str(tmp_path / "o"), "--format", "xml", "-q"]) == 2
    assert "unknown format" in capsys.readouterr().err


def test_bad_role_map(tmp_path, capsys):
    p = write(tmp_path, "a.csv", HEADER + "".join(GOOD))
    assert main(["score", str(p), "-o", str(tmp_path / "o"), "--role-map", "usr=patient", "-q"]) == 2
    assert "expected one of client, therapist, other" in capsys.readouterr().err


def test_everything_skipped_is_an_error(tmp_path):
    p = write(tmp_path, "s.csv", HEADER + "c,1,usr,Only me.\n")
    with pytest.raises(InputError, match="no valid conversations"):
        fm.score(p, on_error="skip")
