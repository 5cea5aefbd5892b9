"""A generated corpus of bad inputs, every format, through the CLI.

Each case is a small corpus of good conversations with one bad conversation ``x`` put in the
middle or at the end. Fail mode: exit 2, one line naming the file and the line/row of the bad
row, no traceback, nothing at the output paths. Skip mode: the output holds exactly the input
rows minus the rows lost, known from how the case was built (not from the code under test).
"""
import json
import subprocess
import sys

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from fastmetrics.cli import main

GOOD = [("a", ["usr", "sys"], ["I feel low today.", "I'm sorry to hear that."]),
        ("b", ["usr", "sys"], ["Exams are coming.", "How are you preparing?"]),
        ("c", ["usr", "sys"], ["I could not sleep.", "What kept you awake?"])]
X_SPK = ["usr", "sys", "usr", "sys"]
X_TXT = ["My sister called.", "How did that go?", "Not well at all.", "Tell me more."]

# kind: (formats, rows lost in skip mode, index of the reported row within x)
ROW_KINDS = {
    "missing_text": 1, "empty_text": 1, "bad_order": 1, "inf_order": 1, "missing_speaker": 1,
    "missing_conversation": 1, "single_turn": 1, "single_speaker": 2, "duplicate_turn": 4,
    "malformed": 1, "non_utf8": 1, "unclosed_quote": None, "non_string_text": 1, "non_object": 1,
}
FORMAT_KINDS = {
    "csv": ["missing_text", "empty_text", "bad_order", "inf_order", "missing_speaker", "missing_conversation",
            "single_turn", "single_speaker", "duplicate_turn", "malformed", "non_utf8", "unclosed_quote"],
    "jsonl": ["missing_text", "empty_text", "bad_order", "inf_order", "missing_speaker", "missing_conversation",
              "single_turn", "single_speaker", "duplicate_turn", "malformed", "non_utf8", "non_string_text",
              "non_object"],
    "json": ["missing_text", "empty_text", "bad_order", "inf_order", "missing_speaker", "missing_conversation",
             "single_turn", "single_speaker", "duplicate_turn", "non_string_text", "non_object"],
    "parquet": ["missing_text", "empty_text", "bad_order", "inf_order", "missing_speaker", "missing_conversation",
                "single_turn", "single_speaker", "duplicate_turn"],
    "convokit": ["missing_text", "single_turn", "single_speaker", "non_string_text", "malformed"],
    "esconv-jsonl": ["malformed", "not_dialog", "empty_text", "single_speaker", "missing_speaker"],
    "esconv-json": ["not_dialog", "empty_text", "single_speaker", "bad_feedback"],
}
FORMAT_KINDS["tsv"] = FORMAT_KINDS["csv"]
CASES = [(fmt, kind, pos) for fmt, kinds in FORMAT_KINDS.items() for kind in kinds for pos in ("middle", "end")]


def _rows(kind):
    """The rows of the bad conversation x as dicts (None = missing), the index of the bad row,
    and the number of rows the skip mode loses (None: computed by the caller)."""
    rows = [dict(conversation_id="x", turn=i + 1, speaker=s, text=t) for i, (s, t) in enumerate(zip(X_SPK, X_TXT))]
    bad, lost = 2, ROW_KINDS.get(kind, 1)
    if kind == "missing_text":
        rows[2]["text"] = None
    elif kind == "empty_text":
        rows[2]["text"] = "   "
    elif kind == "bad_order":
        rows[2]["turn"] = "soon"
    elif kind == "inf_order":
        rows[2]["turn"] = float("inf")
    elif kind == "missing_speaker":
        rows[2]["speaker"] = None
    elif kind == "missing_conversation":
        rows[2]["conversation_id"] = None
    elif kind == "single_turn":
        rows, bad = rows[:1], 0
    elif kind == "single_speaker":
        rows, bad = [rows[0], dict(rows[2], turn=2)], 0
    elif kind == "duplicate_turn":
        rows[2]["turn"] = 2  # the repeated row is the one named
    elif kind == "non_string_text":
        rows[2]["text"] = 42
    return rows, bad, lost


def _table_rows(kind, pos):
    good = [dict(conversation_id=c, turn=i + 1, speaker=s, text=t)
            for c, spk, txt in GOOD for i, (s, t) in enumerate(zip(spk, txt))]
    x, bad, lost = _rows(kind)
    at = 2 if pos == "middle" else len(good)
    rows = good[:at] + x + good[at:]
    return rows, at + bad, lost, len(good) - at


def _write_table(tmp_path, fmt, kind, pos):
    rows, bad_i, lost, after = _table_rows(kind, pos)
    n = len(rows)
    if fmt in ("csv", "tsv"):
        d = "," if fmt == "csv" else "\t"
        lines = [d.join(["conversation_id", "turn", "speaker", "text"]).encode()]
        for i, r in enumerate(rows):
            t = r["turn"]
            t = "inf" if t == float("inf") else t
            fields = [r["conversation_id"] or "", str(t), r["speaker"] or "", r["text"] or ""]
            if i == bad_i and kind == "malformed":
                fields.append("extra")
            line = d.join(fields).encode()
            if i == bad_i and kind == "non_utf8":
                line = line.replace(b"Not", b"N\xe9t")
            if i == bad_i and kind == "unclosed_quote":
                line = d.join(fields[:3]).encode() + d.encode() + b'"' + fields[3].encode()
            lines.append(line)
        if kind == "unclosed_quote":  # every row from the quote to the end is lost
            lost = n - bad_i
        p = tmp_path / f"in.{fmt}"
        p.write_bytes(b"\n".join(lines) + b"\n")
        return p, f"line {bad_i + 2}", n, lost
    if fmt == "jsonl":
        out = []
        for i, r in enumerate(rows):
            if i == bad_i and kind == "malformed":
                out.append(json.dumps(r)[:-5].encode())
            elif i == bad_i and kind == "non_object":
                out.append(b"[1, 2]")
            elif i == bad_i and kind == "non_utf8":
                out.append(json.dumps(r, ensure_ascii=False).replace("Not", "N\udce9t")
                           .encode("utf-8", "surrogateescape"))
            else:
                out.append(json.dumps({k: v for k, v in r.items() if v is not None}).encode())
        p = tmp_path / "in.jsonl"
        p.write_bytes(b"\n".join(out) + b"\n")
        return p, f"line {bad_i + 1}", n, lost
    if fmt == "json":
        data = [5 if (i == bad_i and kind == "non_object") else r for i, r in enumerate(rows)]
        p = tmp_path / "in.json"
        p.write_text(json.dumps(data))
        return p, f"row {bad_i + 1}", n, lost
    if fmt == "parquet":
        turns = [r["turn"] for r in rows]
        if kind == "bad_order":
            turn = pa.array([str(t) for t in turns])
        else:
            turn = pa.array([float(t) for t in turns])
        t = pa.table({"conversation_id": [r["conversation_id"] for r in rows], "turn": turn,
                      "speaker": [r["speaker"] for r in rows], "text": [r["text"] for r in rows]})
        p = tmp_path / "in.parquet"
        pq.write_table(t, p)
        return p, f"row {bad_i + 1}", n, lost
    if fmt == "convokit":
        d = tmp_path / "corpus"
        d.mkdir()
        out = []
        for i, r in enumerate(rows):
            u = {"id": f"u{i}", "conversation_id": r["conversation_id"], "speaker": r["speaker"],
                 "text": r["text"], "timestamp": r["turn"]}
            out.append(json.dumps(u)[:-3] if (i == bad_i and kind == "malformed") else json.dumps(u))
        (d / "utterances.jsonl").write_text("\n".join(out) + "\n")
        return d, f"line {bad_i + 1}", n, lost
    raise AssertionError(fmt)


def _write_esconv(tmp_path, fmt, kind, pos):
    text_key = "text" if fmt == "esconv-jsonl" else "content"
    usr, sys_ = ("usr", "sys") if fmt == "esconv-jsonl" else ("seeker", "supporter")

    def conv(cid, spk, txt):
        return {"conversation_id": cid, "dialog": [{"speaker": usr if s == "usr" else sys_, text_key: t}
                                                   for s, t in zip(spk, txt)]}
    good = [conv(c, s, t) for c, s, t in GOOD]
    x = conv("x", X_SPK, X_TXT)
    lost = 1
    if kind == "not_dialog":
        x, lost = {"conversation_id": "x", "dialog": "none"}, 4
    elif kind == "empty_text":
        x["dialog"][2][text_key] = " "
    elif kind == "missing_speaker":
        del x["dialog"][2]["speaker"]
    elif kind == "single_speaker":
        x["dialog"] = [x["dialog"][0], x["dialog"][2]]
        lost = 2
    elif kind == "bad_feedback":
        x["dialog"][2]["annotation"] = {"feedback": "great"}
    at = 1 if pos == "middle" else 3
    convs = good[:at] + [x] + good[at:]
    n = 6 + (len(x["dialog"]) if isinstance(x["dialog"], list) else 4)
    if fmt == "esconv-jsonl":
        lines = [json.dumps(c) for c in convs]
        if kind == "malformed":
            lines[at], lost = lines[at][:-7], 4
        p = tmp_path / "in.jsonl"
        p.write_text("\n".join(lines) + "\n")
        return p, f"line {at + 1}", n, lost
    p = tmp_path / "in.json"
    p.write_text(json.dumps(convs))
    return p, f"conversation {at + 1}", n, lost


def _write(tmp_path, fmt, kind, pos):
    if fmt.startswith("esconv"):
        return _write_esconv(tmp_path, fmt, kind, pos)
    return _write_table(tmp_path, fmt, kind, pos)


def test_enough_cases():
    assert len(CASES) >= 120


@pytest.mark.parametrize("fmt,kind,pos", CASES, ids=[f"{f}-{k}-{p}" for f, k, p in CASES])
def test_bad_input_case(tmp_path, capsys, fmt, kind, pos):
    path, where, n_rows, lost = _write(tmp_path, fmt, kind, pos)
    fmt_arg = ["--format", fmt] if fmt.startswith("esconv") else []
    out = tmp_path / "out"
    rc = main(["score", str(path), "-o", str(out), "-q", *fmt_arg])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert "Traceback" not in err and err.strip().count("\n") == 0, err
    assert str(path) in err or str(path / "utterances.jsonl") in err, err
    assert where in err, (where, err)
    assert not (out / "turns.parquet").exists() and not (out / "conversations.parquet").exists()

    out2 = tmp_path / "out2"
    rc = main(["score", str(path), "-o", str(out2), "-q", "--on-error", "skip", *fmt_arg])
    err = capsys.readouterr().err
    assert rc == 0, err
    assert "Traceback" not in err
    assert pq.read_metadata(out2 / "turns.parquet").num_rows == n_rows - lost
    assert (out2 / "skipped.csv").exists()


@pytest.mark.parametrize("fmt,kind,pos", [("csv", "missing_text", "end"), ("jsonl", "non_string_text", "middle"),
                                          ("parquet", "bad_order", "end"), ("esconv-json", "bad_feedback", "end")])
def test_bad_input_subprocess(tmp_path, fmt, kind, pos):
    """The same through a real process: exit 2, one line on stderr, no traceback."""
    path, where, _, _ = _write(tmp_path, fmt, kind, pos)
    fmt_arg = ["--format", fmt] if fmt.startswith("esconv") else []
    r = subprocess.run([sys.executable, "-m", "fastmetrics", "score", str(path), "-o", str(tmp_path / "o"), "-q",
                        *fmt_arg], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "Traceback" not in r.stderr and where in r.stderr, r.stderr
    assert not (tmp_path / "o" / "turns.parquet").exists()


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_duplicate_column_names(tmp_path, capsys, fmt):
    if fmt == "csv":
        p = tmp_path / "d.csv"
        p.write_text("conversation_id,speaker,text,text\na,usr,hi there,x\na,sys,hello,y\n")
    else:
        p = tmp_path / "d.parquet"
        pq.write_table(pa.Table.from_arrays([pa.array(["a", "a"]), pa.array(["usr", "sys"]), pa.array(["x", "y"]),
                                             pa.array(["x", "y"])],
                                            names=["conversation_id", "speaker", "text", "text"]), p)
    for mode in ("fail", "skip"):
        assert main(["score", str(p), "-o", str(tmp_path / mode), "-q", "--on-error", mode]) == 2
        err = capsys.readouterr().err
        assert "more than one column named 'text'" in err and str(p) in err
