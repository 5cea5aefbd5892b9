"""``fastmetrics bench`` smoke test: the table's structure and the value checks, not speed."""
from __future__ import annotations

import json

import pytest

from fastmetrics.cli import main


def test_bench_quick_prints_rows_and_names_missing_peers(tmp_path, capsys):
    pytest.importorskip("vaderSentiment")
    out = tmp_path / "bench.json"
    rc = main(["bench", "--quick", "--repeats", "1", "--peer", "vaderSentiment", "--peer", "pandas",
               "--skip", "pandas", "-o", str(out)])
    assert rc == 0
    text = capsys.readouterr().out
    lines = text.splitlines()
    assert lines[0].startswith("fastmetrics bench (quick sizes")
    assert "peer/ours" in lines[1]
    vader = next(line for line in lines if line.startswith("vaderSentiment"))
    assert "valence" in vader and "max_abs_diff=0" in vader and vader.split()[5].endswith("x")
    assert any(line.startswith("pandas") and "skipped: not installed" in line for line in lines)
    report = json.loads(out.read_text())
    res = {r["peer"]: r for r in report["results"]}
    assert res["vaderSentiment"]["status"] == "ok" and res["vaderSentiment"]["check"]["max_abs_diff"] <= 1e-9
    assert res["pandas"]["status"] == "skipped"
    assert set(res) == {"vaderSentiment", "pandas"}


def test_bench_unknown_peer_is_one_line_exit_2(capsys):
    assert main(["bench", "--peer", "nosuch"]) == 2
    err = capsys.readouterr().err.strip()
    assert "unknown peer 'nosuch'" in err and "\n" not in err
