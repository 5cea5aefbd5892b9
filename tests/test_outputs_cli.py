"""Outputs (Parquet at two levels, metadata, CSV, atomic writes, resume) and the CLI."""
import json
import subprocess
import sys

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import fastmetrics as fm
from fastmetrics import registry
from fastmetrics.api import demo_path
from fastmetrics.cli import main
from fastmetrics.options import Real
from fastmetrics.registry import MetricFamily, MetricResult, Option


def test_demo_end_to_end(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["score", "--demo", "-o", str(out)]) == 0
    assert "scored 36 conversations" in capsys.readouterr().out
    turns = pq.read_table(out / "turns.parquet")
    convs = pq.read_table(out / "conversations.parquet")
    for col in ("conversation_id", "turn", "role", "speaker", "n_tokens", "strategy"):
        assert col in turns.column_names
    for col in ("conversation_id", "n_turns", "n_client_turns", "n_therapist_turns",
                "initial_emotion_intensity", "final_emotion_intensity"):
        assert col in convs.column_names
    assert convs.num_rows == 36
    # two levels agree
    c = convs.to_pandas().set_index("conversation_id")
    t = turns.to_pandas()
    np.testing.assert_array_equal(t.groupby("conversation_id").size().loc[c.index].to_numpy(), c["n_turns"])
    n_cli = t[t.role == "client"].groupby("conversation_id").size()
    np.testing.assert_array_equal(n_cli.loc[c.index].to_numpy(), c["n_client_turns"])
    # turn is the 0-based position
    assert t.groupby("conversation_id")["turn"].apply(lambda s: list(s) == list(range(len(s)))).all()
    # readable by pandas and polars
    assert len(pd.read_parquet(out / "turns.parquet")) == turns.num_rows
    assert pl.read_parquet(out / "conversations.parquet").height == 36
    meta = pq.read_schema(out / "turns.parquet").metadata
    assert meta[b"fastmetrics.version"] == fm.__version__.encode()
    params = json.loads(meta[b"fastmetrics.params"])
    assert params["metrics"] == ["basic"]


def test_n_tokens_matches_reference(tmp_path):
    from fastmetrics.testing.reference import tokenize_ref

    res = fm.score(demo_path())
    texts = res.turns.column("text").to_pylist()
    assert res.turns.column("n_tokens").to_pylist() == [len(t) for t in tokenize_ref(texts)]
    assert res.turns.column("n_types").to_pylist() == [len(set(t)) for t in tokenize_ref(texts)]


def test_csv_and_no_text(tmp_path):
    out = tmp_path / "o"
    assert main(["score", "--demo", "-o", str(out), "--csv", "--no-text", "-q"]) == 0
    t = pd.read_csv(out / "turns.csv")
    assert "text" not in t.columns and len(t) == pq.read_metadata(out / "turns.parquet").num_rows
    assert len(pd.read_csv(out / "conversations.csv")) == 36




def test_api_accepts_tables_and_corpus():
    t = pa.table({"conversation_id": ["a", "a", "b", "b"], "speaker": ["usr", "sys", "usr", "sys"],
                  "text": ["I feel sad", "I hear you", "ok then", "tell me more"]})
    r1 = fm.score(t)
    r2 = fm.score(t.to_pandas())
    r3 = fm.score(pl.from_arrow(t))
    r4 = fm.score(fm.load(t))
    for r in (r2, r3, r4):
        assert r.turns.select(["conversation_id", "turn", "n_tokens"]).equals(
            r1.turns.select(["conversation_id", "turn", "n_tokens"]))
    assert r1.turns.column("n_tokens").to_pylist() == [3, 3, 2, 3]
    assert r1.turns.to_pandas().shape[0] == 4


def test_unknown_metric_and_option():
    with pytest.raises(fm.InputError, match="unknown metric family 'nope'"):
        fm.score(demo_path(), metrics=["nope"])
    with pytest.raises(fm.InputError, match="unknown option 'bogus'"):
        fm.score(demo_path(), bogus=3)


def _crashing_compute(corpus, ctx):
    if "demo-20" in corpus.conversation_id.to_pylist():
        raise RuntimeError("simulated crash")
    return MetricResult(turns={"x": np.ones(corpus.n_turns)})


def test_registry_family_options_and_resume(tmp_path):
    calls = []

    def compute(corpus, ctx):
        calls.append(corpus.n_conversations)
        return MetricResult(turns={"len_x": np.full(corpus.n_turns, ctx.options["scale"], float)},
                            conversations={"conv_x": np.arange(corpus.n_conversations, dtype=float)},
                            tables={"extra": pa.table({"v": [1, 2]})}, metadata={"vectors": "none"})

    registry.register(MetricFamily(name="test_family", description="test", compute=compute,
                                         options=(Option("scale", 2.0, "a scale", Real()),),
                                         turn_columns=("len_x",), conversation_columns=("conv_x",)))
    try:
        res = fm.score(demo_path(), metrics=["test_family"], out_dir=tmp_path / "o", scale=3.0)
        assert set(res.turns.column("len_x").to_pylist()) == {3.0}
        assert (tmp_path / "o" / "extra.parquet").exists()
        assert res.metadata["fastmetrics.vectors"] == "none"
        # a crash in the middle keeps finished chunks; resume reuses them
        registry.register(MetricFamily(name="crashy", description="", compute=_crashing_compute))
        out = tmp_path / "r"
        with pytest.raises(RuntimeError):
            fm.score(demo_path(), metrics=["crashy"], out_dir=out, chunk_turns=60)
        assert not (out / "turns.parquet").exists()
        done = sorted(p.name for p in (out / ".partial").glob("*.ok"))
        assert len(done) >= 1
        registry.register(MetricFamily(name="crashy", description="",
                                       compute=lambda c, ctx: MetricResult(turns={"x": np.ones(c.n_turns)})))
        res = fm.score(demo_path(), metrics=["crashy"], out_dir=out, chunk_turns=60, resume=True)
        assert res.conversations.num_rows == 36
        assert not (out / ".partial").exists()
    finally:
        registry.unregister("test_family")
        registry.unregister("crashy")


def test_cli_info_and_help(tmp_path, capsys):
    assert main(["info", str(demo_path())]) == 0
    out = capsys.readouterr().out
    assert "esconv-jsonl (detected)" in out and "conversations   : 36" in out
    assert main(["info", "--config"]) == 0
    out = capsys.readouterr().out
    assert "backends:" in out and "numba" in out
    assert main(["info", "--metrics"]) == 0
    assert "basic" in capsys.readouterr().out
    r = subprocess.run([sys.executable, "-m", "fastmetrics", "score", "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "examples:" in r.stdout
    r = subprocess.run([sys.executable, "-m", "fastmetrics", "score", "-o", str(tmp_path)],
                       capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.strip().count("\n") == 0 and "no input given" in r.stderr


def test_show_config_lists_backends(capsys):
    fm.show_config()
    out = capsys.readouterr().out
    assert "c     :" in out and "threads:" in out and "numba_num_threads" in out


def test_fallback_without_c_extension():
    # the library imports and runs on Numba when the C extension is missing
    code = ("import sys; sys.modules['fastmetrics._c._fastmetrics_c'] = None\n"
            "import fastmetrics as fm, fastmetrics._c as c\n"
            "assert not c.available\n"
            "r = fm.score(fm.api.demo_path())\n"
            "print(sum(r.turns.column('n_tokens').to_pylist()))\n"
            "fm.show_config()\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    ref = sum(fm.score(demo_path()).turns.column("n_tokens").to_pylist())
    assert r.stdout.splitlines()[0] == str(ref)
    assert "using numba" in r.stdout
