"""``fastmetrics pairs`` (fastmetrics.models.pairs): context parser, paired statistics, outputs, CLI."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from fastmetrics.errors import InputError
from fastmetrics.models import pairs as P

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"

ESC = ("supporter\n- Strategy: Others\n- Utterance: Hi, how can I help?\n"
       "seeker\n- Utterance: I lost my job.\n"
       "supporter\n- Strategy: Question\n- Utterance: I'm sorry. When did it happen?\n"
       "seeker\n- Utterance: Last week. \n"
       "seeker\n- Utterance: I feel terrible and scared\n")

ROWS = [
    {"sample_id": "s1", "context": ESC, "gold": "That sounds scary.", "pred": "You should update your CV."},
    {"sample_id": "s2", "context": "I am so sad and lonely", "gold": "Try to go out more.",
     "pred": "I'm so sorry you feel lonely. What has been happening?"},
    {"sample_id": "s3", "context": ESC.replace("terrible and scared", "much better today"),
     "gold": "Great to hear!", "pred": "I am glad. What changed?"},
    {"sample_id": "s4", "context": None, "gold": "How are you?", "pred": ""},
    {"sample_id": "s5", "context": "My exam went badly\nand I failed it", "gold": "You could study with a friend.",
     "pred": "That must be really disappointing."},
    {"sample_id": "s6", "context": "Nobody listens to me.", "gold": "I hear you.", "pred": "I hear you."},
]


# ------------------------------------------------------------------------------------------
# context parser
# ------------------------------------------------------------------------------------------
def test_parse_context_esconv_blocks():
    assert P.parse_context(ESC) == [("supporter", "Hi, how can I help?"), ("seeker", "I lost my job."),
                                    ("supporter", "I'm sorry. When did it happen?"),
                                    ("seeker", "Last week."), ("seeker", "I feel terrible and scared")]
    # continuation lines, 'Role:' headers, other fields, text before the first block
    txt = "preamble\nSeeker:\n- Utterance: first line\n  goes on\n- Emotion: sad\nTherapist\n- Utterance: ok"
    assert P.parse_context(txt) == [("seeker", "first line goes on"), ("supporter", "ok")]


def test_client_context_esconv_plain_auto():
    ctx, last, fmt = P.client_context_of(ESC)
    assert (ctx, last, fmt) == ("Last week.\nI feel terrible and scared", "I feel terrible and scared", "esconv")
    # ends with a supporter utterance: no client turn since
    ctx, last, fmt = P.client_context_of(ESC + "supporter\n- Utterance: I see.\n", "esconv")
    assert (ctx, last, fmt) == ("", "", "esconv")
    ctx, last, fmt = P.client_context_of("I failed\n\nmy exam \n")
    assert (ctx, last, fmt) == ("I failed\n\nmy exam", "my exam", "plain")
    # an explicit plain keeps the block text as it is
    ctx, _, fmt = P.client_context_of(ESC, "plain")
    assert fmt == "plain" and ctx == ESC.strip()
    assert P.client_context_of(None) == ("", "", "plain")
    assert not P.looks_esconv("supporter said hi")  # a role word in prose is not the format
    with pytest.raises(InputError, match="context_format"):
        P.client_context_of("x", "xml")


# ------------------------------------------------------------------------------------------
# statistics against independent computations
# ------------------------------------------------------------------------------------------
def test_paired_stats_equal_scipy_and_a_naive_bootstrap():
    from scipy.stats import wilcoxon

    rng = np.random.default_rng(5)
    a = rng.uniform(0, 2, 57)
    b = np.clip(a + rng.normal(0.2, 0.4, 57), 0, 2)
    r = P.paired_stats(a, b, n_boot=500, seed=11, alpha=0.1)
    w = wilcoxon(b, a)
    assert r["n"] == 57 and r["wilcoxon_statistic"] == pytest.approx(w.statistic)
    assert r["wilcoxon_p"] == pytest.approx(w.pvalue)
    assert r["diff"] == pytest.approx(np.mean(b) - np.mean(a))
    assert r["mean_a"] == pytest.approx(a.mean()) and r["mean_b"] == pytest.approx(b.mean())
    # naive loop: one resample of the pairs at a time from the same seeded generator
    g = np.random.default_rng(11)
    boots = []
    for _ in range(500):
        i = g.integers(0, 57, 57)
        boots.append(np.mean(b[i] - a[i]))
    lo, hi = np.quantile(boots, [0.05, 0.95])
    assert r["ci"] == pytest.approx([lo, hi])
    assert r["ci"][0] <= r["diff"] <= r["ci"][1]


def test_paired_stats_edge_cases():
    r = P.paired_stats([1.0, 2.0, np.nan], [1.0, 2.0, 5.0])
    assert r["n"] == 2 and r["diff"] == 0 and np.isnan(r["wilcoxon_p"])  # all differences zero
    r = P.paired_stats([], [])
    assert r["n"] == 0 and np.isnan(r["diff"])


def test_binary_stats_mcnemar_and_bootstrap():
    from scipy.stats import binomtest

    rng = np.random.default_rng(2)
    a = rng.random(80) < 0.5
    b = rng.random(80) < 0.3
    r = P.binary_stats(a, b, n_boot=300, seed=4)
    only_a, only_b = int(np.sum(a & ~b)), int(np.sum(b & ~a))
    assert (r["n_only_a"], r["n_only_b"]) == (only_a, only_b)
    assert r["mcnemar_p"] == pytest.approx(binomtest(only_b, only_a + only_b).pvalue)
    assert r["diff"] == pytest.approx(b.mean() - a.mean())
    idx = np.random.default_rng(4).integers(0, 80, (300, 80))
    boots = (b[idx].astype(float) - a[idx].astype(float)).mean(axis=1)
    assert r["ci"] == pytest.approx(list(np.quantile(boots, [0.025, 0.975])))
    assert P.binary_stats([True], [True])["mcnemar_p"] == 1.0


# ------------------------------------------------------------------------------------------
# a small empathy model with known weights
# ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    from fastmetrics.embed.encoder import get_encoder
    from fastmetrics.models import empathy as E
    from fastmetrics.models.linear import LEXICAL

    root = tmp_path_factory.mktemp("pairs-model")
    d = 4 * 384 + 1 + 2 * len(LEXICAL)
    rng = np.random.default_rng(0)
    arrays = {"mean": np.zeros(d), "scale": np.ones(d), "idf": np.zeros(0)}
    for m in E.MECHANISMS:
        arrays[f"{m}_w_dense"] = rng.normal(0, 0.3, (3, d))
        arrays[f"{m}_w_sparse"] = np.zeros((3, 0))
        arrays[f"{m}_b"] = np.zeros(3)
    manifest = {"kind": E.KIND, "feature_version": E.FEATURE_VERSION, "encoder_model_id": get_encoder().model_id,
                "tfidf": {"ngram": 2, "sublinear": True},
                "cv": {m: {"spearman": 0.0, "accuracy": 0.0, "macro_f1": 0.0} for m in E.MECHANISMS}}
    return E.EmpathyModel(manifest, arrays, []).save(root / "model")


def test_compare_pairs_api_outputs_and_wiring(model_dir, tmp_path):
    import fastmetrics
    from fastmetrics.emotion import valence
    from fastmetrics.models.bolt import TO_BEHAVIOUR, load_shipped
    from fastmetrics.models.empathy import EmpathyModel

    cache = str(tmp_path / "cache")
    res = P.compare_pairs(ROWS, "context", "gold", "pred", ("human", "llm"), empathy_model=model_dir,
                          n_boot=200, seed=1, cache_dir=cache, out_dir=tmp_path / "out")
    assert res["n_rows"] == 6 and res["n_pairs"] == 5
    assert res["excluded"] == {"total": 1, "human": 0, "llm": 1, "both": 0}
    assert res["context_format"]["esconv"] == 2 and res["context_format"]["plain"] == 4
    t = pq.read_table(tmp_path / "out" / "pairs.parquet").to_pylist()
    assert [r["id"] for r in t] == [r["sample_id"] for r in ROWS]
    assert t[3]["excluded"] == "llm" and t[3]["empathy_er_human"] is None and t[3]["behaviour_llm"] is None
    assert t[0]["client_context"] == "Last week.\nI feel terrible and scared"
    # the scores are the model's on the client context (recomputed here independently)
    keep = [r for r in t if r["excluded"] is None]
    m = EmpathyModel.load(model_dir)
    ctx = [r["client_context"] for r in keep]
    for side, col in (("human", "gold"), ("llm", "pred")):
        txt = [ROWS[r["row"]][col] for r in keep]
        lv = m.expected_levels(fastmetrics.encode(ctx), fastmetrics.encode(txt), ctx, txt)
        for k in ("er", "ip", "ex"):
            np.testing.assert_allclose([r[f"empathy_{k}_{side}"] for r in keep], lv[k], atol=1e-5)
        lab = load_shipped().predict(fastmetrics.encode(txt), txt, "therapist")
        assert [r[f"bolt_label_{side}"] for r in keep] == lab
        assert [r[f"behaviour_{side}"] for r in keep] == [TO_BEHAVIOUR[x] for x in lab]
    # negative disclosure from the last client turn's valence
    last = [r["last_client_turn"] for r in t]
    v = valence(last)
    assert [r["negative"] for r in t] == [bool(x <= -0.05) if s else False for x, s in zip(v, last)]
    assert t[0]["negative"] and not t[2]["negative"]
    s = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert s["empathy"]["empathy_mean"]["n"] == 5 and s["labels"] == ["human", "llm"]
    assert s["negative_disclosure"]["n"] == sum(r["negative"] for r in keep)
    rates = [s["behaviour"][b]["rate_a"] for b in s["behaviour"] if b != "solutions"]
    assert sum(rates) == pytest.approx(1.0)
    md = (tmp_path / "out" / "summary.md").read_text()
    assert "| empathy_er |" in md and "problem_solving | negative" in md
    # the pair with identical replies has a zero difference
    same = next(r for r in t if r["id"] == "s6")
    assert same["empathy_mean_human"] == pytest.approx(same["empathy_mean_llm"])


def test_strategy_columns_profile(model_dir, tmp_path):
    rows = [dict(r, sg=sg, sp=sp) for r, sg, sp in zip(
        ROWS, ["Question", "Providing Suggestions", "Others", "Question", "Information", None],
        ["Providing Suggestions", "Reflection of feelings", "Question", "x", "Providing Suggestions", "Question"])]
    res = P.compare_pairs(rows, "context", "gold", "pred", "h,m", empathy_model=model_dir, n_boot=50,
                          cache_dir=str(tmp_path / "c"), strategy_columns="sg,sp")
    st = res["strategy"]
    # scored pairs: rows 0, 1, 2, 4, 5 (row 3 has an empty reply)
    ps = st["behaviour"]["problem_solving"]
    assert (ps["rate_a"], ps["rate_b"]) == (pytest.approx(1 / 5), pytest.approx(2 / 5))
    assert st["behaviour"]["question"]["rate_a"] == pytest.approx(1 / 5)  # a missing label counts as not coded
    t = res["pairs"].to_pylist()
    assert [r["strategy_behaviour_h"] for r in t] == ["question", "problem_solving", "other", "question",
                                                      "psychoeducation", None]
    neg = [r["negative"] for r in t if r["excluded"] is None]
    assert st["negative_disclosure"]["n"] == sum(neg)
    assert 0 <= st["agreement_with_classifier"]["m"] <= 1
    with pytest.raises(InputError, match="no column 'nope'"):
        P.compare_pairs(rows, "context", "gold", "pred", empathy_model=model_dir, strategy_columns="sg,nope")


def test_compare_pairs_errors(model_dir, tmp_path):
    with pytest.raises(InputError, match=r"no column 'res_gold'; columns: sample_id, context, gold, pred"):
        P.compare_pairs(ROWS, "context", "res_gold", "pred", empathy_model=model_dir)
    with pytest.raises(InputError, match="row 4: empty or missing reply"):
        P.compare_pairs(ROWS, "context", "gold", "pred", empathy_model=model_dir, on_empty="fail",
                        cache_dir="none")
    with pytest.raises(InputError, match="labels"):
        P.compare_pairs(ROWS, "context", "gold", "pred", labels="x,x", empathy_model=model_dir)
    with pytest.raises(InputError, match="fastmetrics train empathy"):
        P.compare_pairs(ROWS, "context", "gold", "pred", cache_dir="none")  # conftest: no user models


def test_readers_agree(tmp_path):
    import csv

    import pyarrow as pa

    rows = [{"context": "hi", "a": "x", "b": None}, {"context": "yo", "a": "", "b": "z"}]
    (tmp_path / "r.json").write_text(json.dumps(rows))
    (tmp_path / "r.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    with open(tmp_path / "r.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, ["context", "a", "b"])
        w.writeheader()
        w.writerows(rows)
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "r.parquet")
    want = {"context": ["hi", "yo"], "a": ["x", ""], "b": [None, "z"]}
    for name in ("r.json", "r.jsonl", "r.parquet"):
        assert P.read_pairs_table(tmp_path / name)[0] == want, name
    assert P.read_pairs_table(tmp_path / "r.csv")[0] == {"context": ["hi", "yo"], "a": ["x", None], "b": [None, "z"]}
    (tmp_path / "bad.jsonl").write_text('{"a": 1}\n{oops\n')
    with pytest.raises(InputError, match="bad.jsonl, line 2: malformed JSON"):
        P.read_pairs_table(tmp_path / "bad.jsonl")


# ------------------------------------------------------------------------------------------
# CLI
# ------------------------------------------------------------------------------------------
def _cli(args, env_models: str, tmp_path):
    env = {**os.environ, "FASTMETRICS_MODELS": env_models, "FASTMETRICS_CACHE_DIR": str(tmp_path / "cache")}
    return subprocess.run([sys.executable, "-m", "fastmetrics", "pairs", *args], capture_output=True,
                          text=True, env=env, timeout=600)


def test_cli_errors_and_run(model_dir, tmp_path):
    path = tmp_path / "pairs.json"
    path.write_text(json.dumps(ROWS))
    base = [str(path), "-o", str(tmp_path / "out"), "--a-column", "gold", "--b-column", "pred"]
    # missing column: names the file and the available columns
    r = _cli([str(path), "-o", str(tmp_path / "o"), "--a-column", "res_gold", "--b-column", "pred",
              "--empathy-model", str(model_dir)], str(tmp_path / "none"), tmp_path)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "pairs.json: no column 'res_gold'; columns: sample_id, context, gold, pred" in r.stderr
    # no model: tells how to make one
    r = _cli(base, str(tmp_path / "none"), tmp_path)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "fastmetrics train empathy" in r.stderr and "--empathy-model" in r.stderr
    r = _cli(base + ["--empathy-model", str(tmp_path)], str(tmp_path / "none"), tmp_path)
    assert r.returncode == 2 and "not an empathy model folder" in r.stderr and "Traceback" not in r.stderr
    # the model found in $FASTMETRICS_MODELS/empathy
    models = tmp_path / "models"
    models.mkdir()
    (models / "empathy").symlink_to(model_dir)
    r = _cli(base + ["--labels", "human,llm", "--n-boot", "100"], str(models), tmp_path)
    assert r.returncode == 0, r.stderr
    assert "empathy_mean" in r.stdout and "problem_solving | negative" in r.stdout
    assert (tmp_path / "out" / "summary.md").is_file()
    assert "behaviour_llm" in pq.read_schema(tmp_path / "out" / "pairs.parquet").names


# ------------------------------------------------------------------------------------------
# real data
# ------------------------------------------------------------------------------------------
@pytest.mark.realdata
def test_esc_llm_contexts_parse(model_dir, tmp_path):
    path = DATA / "esc-llm" / "results.json"
    if not path.is_file():
        pytest.skip(f"real esc-llm data not found at {path} (only in the development checkout)")
    items = json.loads(path.read_text())
    parsed = [P.client_context_of(x["context"]) for x in items]
    assert all(f == "esconv" for _, _, f in parsed)
    assert all(c for c, _, _ in parsed)  # every context ends with seeker turns
    assert not any("- Utterance" in c or "Strategy:" in c for c, _, _ in parsed)
    res = P.compare_pairs(items[:30], "context", "res_gold", "res_pred", ("human", "llm"),
                          empathy_model=model_dir, n_boot=100, cache_dir=str(tmp_path / "cache"))
    assert res["n_pairs"] == 30 and res["context_format"]["esconv"] == 30
