"""``fastmetrics compare``: bootstrap CI and length-adjusted difference against naive NumPy
references with the same seed, a planted difference, the CLI end to end on the demo corpus
split in two, and bad input."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from fastmetrics.study.compare import bootstrap_diff, compare, match_on_length, ols_group_effect

DEMO = Path(__file__).resolve().parents[1] / "fastmetrics" / "data" / "demo" / "demo_corpus.jsonl"


def test_bootstrap_ci_against_a_loop_with_the_same_seed():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=23), rng.normal(0.4, 1, size=31)
    a[3] = np.nan
    b[5] = np.inf  # missing, as NaN (nCLiD is +inf when a turn has no in-vocabulary word)
    est, lo, hi = bootstrap_diff(a, b, n_boot=500, seed=7)
    b[5] = np.nan
    r = np.random.default_rng(7)
    ia, ib = r.integers(0, 23, (500, 23)), r.integers(0, 31, (500, 31))
    d = [np.nanmean(b[ib[k]]) - np.nanmean(a[ia[k]]) for k in range(500)]
    assert est == pytest.approx(np.nanmean(b) - np.nanmean(a))
    assert (lo, hi) == pytest.approx(tuple(np.percentile(d, [2.5, 97.5])), rel=1e-12)


def test_adjusted_difference_against_lstsq():
    rng = np.random.default_rng(1)
    na, nb = rng.integers(4, 30, 40).astype(float), rng.integers(10, 60, 35).astype(float)
    a = 0.02 * na + rng.normal(size=40)
    b = 0.02 * nb + 0.5 + rng.normal(size=35)
    b[0] = np.nan
    est, lo, hi = ols_group_effect(a, b, na, nb, n_boot=300, seed=3)

    def fit(y, g, n):
        ok = np.isfinite(y)
        X = np.column_stack([np.ones(ok.sum()), g[ok], n[ok]])
        return np.linalg.lstsq(X, y[ok], rcond=None)[0][1]

    g = np.r_[np.zeros(40), np.ones(35)]
    assert est == pytest.approx(fit(np.r_[a, b], g, np.r_[na, nb]), rel=1e-9)
    r = np.random.default_rng(3)
    ia, ib = r.integers(0, 40, (300, 40)), r.integers(0, 35, (300, 35))
    coefs = [fit(np.r_[a[ia[k]], b[ib[k]]], g, np.r_[na[ia[k]], nb[ib[k]]]) for k in range(300)]
    assert (lo, hi) == pytest.approx(tuple(np.percentile(coefs, [2.5, 97.5])), rel=1e-8)


def test_matching_pairs_nearest_length():
    i, j = match_on_length([5, 20, 11], [10, 4, 21, 30])
    assert i.tolist() == [0, 1, 2] and j.tolist() == [1, 2, 0]


def _folder(path: Path, values, n_turns, conv_cols=None):
    path.mkdir(parents=True)
    ids = [f"{path.name}{k}" for k in range(len(values))]
    meta = {b"fastmetrics.metrics": b"basic,rlsm"}
    cols = {"conversation_id": ids, "n_turns": n_turns, "rlsm": values, **(conv_cols or {})}
    pq.write_table(pa.table(cols).replace_schema_metadata(meta), path / "conversations.parquet")
    pq.write_table(pa.table({"conversation_id": ids, "turn": [0] * len(ids), "rlsm_turn": values}),
                   path / "turns.parquet")


def test_planted_difference_has_the_right_sign_and_survives_length_adjustment(tmp_path):
    rng = np.random.default_rng(4)
    na, nb = rng.integers(5, 40, 60), rng.integers(5, 40, 60)
    _folder(tmp_path / "h", (0.5 + 0.002 * na + rng.normal(0, 0.05, 60)).tolist(), na.tolist())
    _folder(tmp_path / "m", (0.4 + 0.002 * nb + rng.normal(0, 0.05, 60)).tolist(), nb.tolist())
    res = compare(tmp_path / "h", tmp_path / "m", labels="human,model", match_length=True, n_boot=500)
    row = {r["metric"]: r for r in res["metrics"]}["rlsm"]
    assert row["diff"] < 0 and row["ci"][1] < 0 and row["ci_adj"][1] < 0 and row["ci_matched"][1] < 0
    assert row["diff_adj"] == pytest.approx(-0.1, abs=0.03)
    assert res["entrainment"] is None  # no nCLiD / rlsm_therapist / lsm_prev_mean column
    # longer model conversations hide the planted deficit; adjusting for length recovers it
    nb2 = rng.integers(60, 100, 60)
    _folder(tmp_path / "m2", (0.4 + 0.004 * nb2 + rng.normal(0, 0.05, 60)).tolist(), nb2.tolist())
    _folder(tmp_path / "h2", (0.5 + 0.004 * na + rng.normal(0, 0.05, 60)).tolist(), na.tolist())
    row = compare(tmp_path / "h2", tmp_path / "m2", n_boot=500)["metrics"][0]
    assert row["diff"] > 0 and row["ci"][0] > 0
    assert row["ci_adj"][1] < 0 and row["diff_adj"] == pytest.approx(-0.1, abs=0.05)


def test_group_column_form_and_bad_input(tmp_path):
    from fastmetrics.errors import InputError

    _folder(tmp_path / "s", [0.1, 0.2, 0.3, 0.4, 0.5], [3, 4, 5, 6, 7],
            {"arm": ["x", "y", "x", "y", "x"], "site": ["a", "b", "c", "a", "b"]})
    res = compare(tmp_path / "s", group_column="arm", n_boot=200)
    assert res["labels"] == ["x", "y"] and res["n_conversations"] == [3, 2]
    with pytest.raises(InputError, match="exactly 2 values"):
        compare(tmp_path / "s", group_column="site")
    with pytest.raises(InputError, match="not a conversation column"):
        compare(tmp_path / "s", group_column="nope")
    with pytest.raises(InputError, match="does not exist"):
        compare(tmp_path / "missing", tmp_path / "s")
    (tmp_path / "e").mkdir()
    with pytest.raises(InputError, match="neither conversations.parquet"):
        compare(tmp_path / "e", tmp_path / "s")


def _cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "fastmetrics", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd)


def test_cli_end_to_end_on_the_demo_corpus_split_in_two(tmp_path):
    lines = DEMO.read_text().splitlines()
    for name, part in (("a", lines[:18]), ("b", lines[18:])):
        (tmp_path / f"{name}.jsonl").write_text("\n".join(part) + "\n")
    for name, layout in (("a", "files"), ("b", "dataset")):
        r = _cli("score", tmp_path / f"{name}.jsonl", "-o", tmp_path / f"s{name}", "--metrics",
                 "lsm,rlsm,coordination,nclid", "--layout", layout, "-q")
        assert r.returncode == 0, r.stderr
    r = _cli("compare", tmp_path / "sa", tmp_path / "sb", "--labels", "human,model", "-o",
             tmp_path / "cmp", "--match-length", "--n-boot", "300")
    assert r.returncode == 0, r.stderr
    res = json.loads((tmp_path / "cmp" / "results.json").read_text())
    assert res["labels"] == ["human", "model"] and res["n_conversations"] == [18, 18]
    names = {m["metric"] for m in res["metrics"]}
    assert {"nclid", "rlsm", "coordination_therapist_to_client", "lsm_prev"} <= names
    assert res["entrainment"]["le_column"] == "nclid_therapist_to_client"
    assert (tmp_path / "cmp" / "compare.png").stat().st_size > 1000
    assert "entrainment gap" in (tmp_path / "cmp" / "index.html").read_text().lower()
    # bad input: one line, exit 2
    for args in (["compare", tmp_path / "nope", tmp_path / "sb", "-o", tmp_path / "x"],
                 ["compare", tmp_path / "sa", "-o", tmp_path / "x"],
                 ["compare", tmp_path / "sa", tmp_path / "sb", "--labels", "one", "-o", tmp_path / "x"],
                 ["compare", tmp_path / "sa", tmp_path / "sb", "--metrics", "nope", "-o", tmp_path / "x"]):
        r = _cli(*args)
        assert r.returncode == 2, (args, r.stderr)
        assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr, r.stderr
