"""Benchmarks run once on tiny sizes so that they do not rot (no timing is asserted)."""
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_ingest_benchmark_smoke(tmp_path, esconv_dir):
    out = tmp_path / "ingest.json"
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_ingest.py"), "--turns", "3000",
                        "--repeats", "1", "--threads", "1", "--out", str(out)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    res = json.loads(out.read_text())["cold_start"]
    assert res["parquet"]["turns"] >= 3000 and res["jsonl"]["turns"] == res["parquet"]["turns"]


def test_generator_is_seeded(esconv_dir):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from generate_corpus import esconv_stats, generate

    stats = esconv_stats()
    a, b = generate(2000, seed=1, stats=stats), generate(2000, seed=1, stats=stats)
    assert a.equals(b)
    assert not a.equals(generate(2000, seed=2, stats=stats))
    import fastmetrics as fm

    c = fm.load(a)
    assert c.n_turns == a.num_rows and set(c.role.tolist()) == {0, 1}


def _run_script(name: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "benchmarks" / name), *args],
                          capture_output=True, text=True, timeout=900)


def test_ot_benchmark_smoke(esconv_dir):
    r = _run_script("bench_ot.py", "--smoke")
    assert r.returncode == 0, r.stderr[-2000:]
    assert "max_rel_diff" in r.stdout  # the value check ran before any timing was reported


def test_alliance_benchmark_smoke(esconv_dir):  # conversation shapes come from ESConv
    r = _run_script("bench_embed_alliance.py", "--smoke")
    assert r.returncode == 0, r.stderr[-2000:]
    assert '"values_match_numpy": true' in r.stdout
