"""An annotated MI corpus (AnnoMI-style: each transcript repeated once per annotator, clip
timestamps as turn order) loads with flags alone and keeps every conversation."""
import csv

import pyarrow.parquet as pq

import fastmetrics as fm
from fastmetrics.cli import main


def _write(path, n_transcripts=3, annotators=(1, 2)):
    rows = []
    for t in range(n_transcripts):
        for a in annotators:
            for u in range(4):
                rows.append({"transcript_id": t, "mi_quality": "high" if t % 2 else "low", "annotator_id": a,
                             "utterance_id": u, "interlocutor": "therapist" if u % 2 == 0 else "client",
                             "timestamp": f"00:{u // 2:02d}:{(u * 17) % 60:02d}",
                             "utterance_text": f"transcript {t} utterance {u} said by annotator {a}"})
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return len(rows)


def test_composite_key_keeps_every_conversation(tmp_path, capsys):
    p = tmp_path / "annomi.csv"
    n = _write(p)
    c = fm.load(p, conversation="transcript_id,annotator_id", order="timestamp",
                conversation_columns=["mi_quality"])
    assert c.n_conversations == 6 and c.n_turns == n
    assert c.conversation_id.to_pylist() == [f"{t}|{a}" for t in range(3) for a in (1, 2)]
    assert c.conv_columns["annotator_id"].to_pylist() == [1, 2] * 3
    rc = main(["score", str(p), "-o", str(tmp_path / "out"), "-q", "--conversation-column",
               "transcript_id,annotator_id", "--order-column", "timestamp", "--conversation-columns", "mi_quality"])
    assert rc == 0, capsys.readouterr().err
    assert pq.read_metadata(tmp_path / "out" / "turns.parquet").num_rows == n
    assert pq.read_table(tmp_path / "out" / "conversations.parquet").num_rows == 6


def test_single_key_needs_a_policy(tmp_path):
    p = tmp_path / "annomi.csv"
    n = _write(p)
    # transcript_id alone: turn times repeat per annotator -> bad conversations unless duplicates=first
    c = fm.load(p, conversation="transcript_id", order="timestamp", duplicates="first")
    assert c.n_conversations == 3 and c.n_turns == n // 2


def test_clip_timestamps_order_turns():
    import pyarrow as pa

    t = pa.table({"conversation_id": ["a"] * 4, "timestamp": ["01:00:00.5", "59:59", "00:00:01", "1:00:00"],
                  "speaker": ["client", "therapist", "client", "therapist"], "text": ["w", "x", "y", "z"]})
    c = fm.load(t)
    # seconds: 3600.5, 3599, 1, 3600
    assert c.text.to_pylist() == ["y", "x", "z", "w"]


def test_info_prints_chosen_columns(tmp_path, capsys):
    p = tmp_path / "annomi.csv"
    _write(p)
    assert main(["info", str(p), "--conversation-column", "transcript_id,annotator_id"]) == 0
    out = capsys.readouterr().out
    assert "conversation transcript_id,annotator_id" in out and "order utterance_id" in out
    assert "speaker interlocutor" in out and "text utterance_text" in out
