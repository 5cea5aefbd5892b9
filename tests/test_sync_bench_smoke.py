"""The synchrony/emotion/trajectory benchmark runs once on tiny sizes so that it does not rot
(values are checked against the peers inside the script; no timing is asserted)."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_sync_benchmark_smoke(tmp_path, esconv_dir):
    out = tmp_path / "sync.json"
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_sync.py"), "--quick",
                        "--threads", "1", "--out", str(out)], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads(out.read_text())
    assert res["emotion"]["max_abs_diff"] <= 1e-9
    assert res["sync"]["turns"] > 0
    runs = res["corpus"]["runs"]["1"]
    assert runs["4000"]["turns"] >= 4000 and runs["4000"]["conversation_columns"] > 50
