"""The per-signal study design: planted and null effects, what may be a feature, the nested
penalty against an sklearn reference on the same folds, categorical outcomes, the
conversation table join.

Simulated corpora are written as scored directories (turns.parquet + conversations.parquet)
with the per-turn columns the empathy and emotion families declare, so they go through the
study's own input path. Expected values come from NumPy (np.polyfit) and scikit-learn.
"""
from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GroupKFold

from fastmetrics.study import run_study
from fastmetrics.study.analysis import oof_predictions
from fastmetrics.testing.study import nested_oof_reference

SIGNALS = ("empathy_proto_er", "empathy_proto_ip", "empathy_proto_ex")


def make_corpus(path, *, n_conv=100, effect="ip_slope", seed=0, extra_conv=None):
    """Conversations of 12..24 turns; supporter turns carry three empathy series
    e_k = a_k + b_k * (x - mean x) + noise and a valence series (both roles). The outcome
    ``final`` is b_ip (the OLS slope of empathy_proto_ip over position) plus noise when
    ``effect="ip_slope"``, pure noise when ``effect="null"``. Returns the truth."""
    rng = np.random.default_rng(seed)
    cols = {k: [] for k in ("conversation_id", "turn", "role", "text", *SIGNALS, "valence")}
    slope_ip = np.empty(n_conv)
    for c in range(n_conv):
        n = int(rng.integers(12, 25))
        x = np.arange(n) / (n - 1)
        sup = np.arange(n) % 2 == 1
        xs = x[sup]
        series = {}
        for k in SIGNALS:
            a, b = rng.normal(), rng.normal()
            series[k] = a + b * (xs - xs.mean()) * 2 + 0.2 * rng.normal(size=len(xs))
        slope_ip[c] = np.polyfit(xs, series["empathy_proto_ip"], 1)[0]
        val = rng.normal(size=n)
        it = {k: iter(v) for k, v in series.items()}
        for t in range(n):
            cols["conversation_id"].append(f"c{c:03d}")
            cols["turn"].append(t)
            cols["role"].append("therapist" if sup[t] else "client")
            cols["text"].append("hello there")
            for k in SIGNALS:
                cols[k].append(float(next(it[k])) if sup[t] else None)
            cols["valence"].append(float(val[t]))
    final = (slope_ip if effect == "ip_slope" else 0) + 0.7 * rng.normal(size=n_conv)
    path.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(cols), path / "turns.parquet")
    conv = {"conversation_id": [f"c{c:03d}" for c in range(n_conv)], "final": final}
    conv.update(extra_conv or {})
    pq.write_table(pa.table(conv), path / "conversations.parquet")
    return {"final": final, "slope_ip": slope_ip}


def _by_signal(res):
    return {r["signal"]: r for r in res["signal_comparison"]}


def test_planted_trajectory_of_one_signal_is_found_for_that_signal_only(tmp_path):
    make_corpus(tmp_path / "s", effect="ip_slope", seed=1)
    res = run_study(tmp_path / "s", tmp_path / "r", "final", n_boot=300, n_repeats=2,
                    report=False)
    sig = _by_signal(res)
    assert set(sig) == {*SIGNALS, "valence_therapist"}
    ip = sig["empathy_proto_ip"]
    assert ip["significant"] and ip["delta"]["ci_low"] > 0.1 and ip["q"] < 0.05
    assert set(ip["trajectory_features"]) == {"empathy_proto_ip_slope",
                                              "empathy_proto_ip_late_minus_early",
                                              "empathy_proto_ip_volatility"}
    for name in ("empathy_proto_er", "empathy_proto_ex", "valence_therapist"):
        assert not sig[name]["significant"], (name, sig[name]["delta"])
        assert sig[name]["delta"]["ci_low"] < 0.05
    assert "valence_therapist_convergence" in sig["valence_therapist"]["trajectory_features"]
    # the length controls are in, the client's own valence is not a predictor
    assert res["controls"] == ["n_turns", "n_supporter_turns"]
    assert res["groups"]["client_state"]["features"]
    client = [f for f in res["features"] if f["name"].startswith("valence_client")]
    assert client and all(f["kind"] == "client_state" for f in client)
    assert res["models"]["snapshot"]["n_features"] == sum(
        f["kind"] == "snapshot" for f in res["features"])
    assert all(s["mean_feature"] for s in res["signal_comparison"])


def test_null_corpus_finds_nothing_beyond_the_nominal_rate(tmp_path):
    hits = 0
    for seed in range(3):
        make_corpus(tmp_path / f"s{seed}", effect="null", seed=100 + seed, n_conv=70)
        res = run_study(tmp_path / f"s{seed}", tmp_path / f"r{seed}", "final", n_boot=200,
                        n_repeats=1, seed=seed, report=False)
        hits += sum(r["significant"] for r in res["signal_comparison"])
    # 12 tests at FDR 0.05: expected < 1; P(Binomial(12, 0.05) >= 3) < 0.02
    assert hits <= 2


def test_identifier_constant_and_undeclared_columns_never_become_features(tmp_path):
    n = 40
    rng = np.random.default_rng(3)
    make_corpus(tmp_path / "s", effect="null", seed=3, n_conv=n, extra_conv={
        "annotator_id": np.arange(n, dtype=float),           # identifier
        "annotator_id_mean": rng.normal(size=n),             # trajectory-style identifier
        "lsm": np.full(n, 0.8),                              # declared, constant
        "coordination_therapist_to_client": rng.normal(size=n),  # declared: relational
        "questionnaire_score": rng.normal(size=n),           # carried: only when named
    })
    res = run_study(tmp_path / "s", tmp_path / "r", "final", n_boot=50, n_repeats=1,
                    report=False)
    names = {f["name"]: f["kind"] for f in res["features"]}
    assert not {"annotator_id", "annotator_id_mean", "questionnaire_score", "lsm"} & set(names)
    assert names["coordination_therapist_to_client"] == "relational"
    ex = {e["name"]: e["reason"] for e in res["signals"]["excluded_columns"]}
    assert ex["annotator_id"] == ex["annotator_id_mean"] == "identifier"
    assert res["groups"]["relational"]["features"] == ["coordination_therapist_to_client"]
    assert "beyond_snapshot" in res["groups"]["relational"]
    res = run_study(tmp_path / "s", tmp_path / "r", "final", n_boot=50, n_repeats=1,
                    report=False, primary=["questionnaire_score"])
    assert [f["name"] for f in res["primary"]["features"]] == ["questionnaire_score"]
    assert "questionnaire_score" not in {f["name"] for f in res["features"]}


def test_nested_penalty_matches_sklearn_reference_and_does_not_leak():
    rng = np.random.default_rng(9)
    n = 90
    X = rng.normal(size=(n, 4))
    X[rng.random(size=X.shape) < 0.05] = np.nan
    y = np.nan_to_num(X[:, 0]) + rng.normal(size=n)
    groups = np.repeat(np.arange(45), 2)
    got = oof_predictions(X, y, groups, False, 5, 4)
    assert np.allclose(got, nested_oof_reference(X, y, groups, 4, False), atol=1e-10)
    yb = (y > 0).astype(float)
    got = oof_predictions(X, yb, groups, True, 5, 2)
    assert np.allclose(got, nested_oof_reference(X, yb, groups, 2, True), atol=1e-10)
    # no leakage: changing the outcome of one held-out fold leaves its predictions unchanged
    tr, te = next(GroupKFold(5, shuffle=True, random_state=4).split(X, y, groups))
    y2 = y.copy()
    y2[te] = rng.normal(size=len(te)) * 100
    base = oof_predictions(X, y, groups, False, 5, 4)
    assert np.allclose(oof_predictions(X, y2, groups, False, 5, 4)[te], base[te], atol=1e-10)
    assert not np.allclose(oof_predictions(X, y2, groups, False, 5, 4), base)


def test_positive_label_auc_matches_sklearn(tmp_path):
    truth = make_corpus(tmp_path / "s", effect="ip_slope", seed=5, n_conv=60)
    label = np.where(truth["final"] > np.median(truth["final"]), "high", "low")
    x = truth["final"] + np.random.default_rng(0).normal(size=60)
    t = pq.read_table(tmp_path / "s" / "conversations.parquet")
    t = t.append_column("quality", pa.array(label)).append_column("score_x", pa.array(x))
    pq.write_table(t, tmp_path / "s" / "conversations.parquet")
    res = run_study(tmp_path / "s", tmp_path / "r", "quality", positive="high", n_boot=50,
                    n_repeats=1, primary=["score_x"], length_controls=False, report=False)
    assert res["outcome_type"] == "binary" and res["outcome_encoding"]["positive"] == "high"
    yb = (label == "high").astype(float)
    ref = roc_auc_score(yb, nested_oof_reference(x[:, None], yb, np.arange(60), 3, True))
    assert res["primary"]["model"]["mean"] == pytest.approx(ref, abs=1e-12)
    assert res["primary"]["model"]["metric"] == "auc" and ref > 0.7
    from fastmetrics.errors import InputError

    with pytest.raises(InputError, match="--positive"):
        run_study(tmp_path / "s", tmp_path / "r", "quality", n_boot=10, report=False)
    with pytest.raises(InputError, match="not a value"):
        run_study(tmp_path / "s", tmp_path / "r", "quality", positive="mid", report=False)


def test_ordinal_outcome_uses_rank_metric(tmp_path):
    truth = make_corpus(tmp_path / "s", effect="ip_slope", seed=6, n_conv=60)
    lv = np.array(["low", "mid", "high"])[np.digitize(truth["final"], np.quantile(truth["final"], [1 / 3, 2 / 3]))]
    t = pq.read_table(tmp_path / "s" / "conversations.parquet").append_column("q", pa.array(lv))
    pq.write_table(t, tmp_path / "s" / "conversations.parquet")
    res = run_study(tmp_path / "s", tmp_path / "r", "q", outcome_type="ordinal",
                    levels=["low", "mid", "high"], n_boot=50, n_repeats=1, report=False)
    assert res["outcome_type"] == "ordinal" and res["outcome_levels"] == [0.0, 1.0, 2.0]
    assert _by_signal(res)["empathy_proto_ip"]["metric"] == "spearman"


def test_conversation_table_join_through_the_cli(tmp_path, capsys):
    from fastmetrics.cli import main

    truth = make_corpus(tmp_path / "s", effect="ip_slope", seed=7, n_conv=40)
    pq.write_table(pq.read_table(tmp_path / "s" / "conversations.parquet").drop(["final"]),
                   tmp_path / "s" / "conversations.parquet")
    rows = ["participant,outcome"] + [f"c{c:03d},{truth['final'][c]}" for c in range(1, 40)]
    rows.append("zz999,1.0")  # a row for no conversation
    (tmp_path / "o.csv").write_text("\n".join(rows) + "\n")
    rc = main(["study", str(tmp_path / "s"), "-o", str(tmp_path / "r"), "--outcome", "outcome",
               "--conversation-table", str(tmp_path / "o.csv"), "--join-column",
               "participant", "--n-boot", "30", "--repeats", "1", "--no-report", "-q"])
    assert rc == 0
    assert "1 conversation(s) without a row, 1 row(s) without a conversation" in capsys.readouterr().err
    res = json.loads((tmp_path / "r" / "results.json").read_text())
    ct = res["conversation_table"]
    assert ct["conversations_without_a_row"] == 1 and ct["rows_without_a_conversation"] == 1
    assert ct["examples_conversations_without_a_row"] == ["c000"]
    assert res["n_conversations"] == 39 and res["dropped"]["missing_outcome"] == 1
    # bad input: exit 2 with one line
    capsys.readouterr()
    rc = main(["study", str(tmp_path / "s"), "-o", str(tmp_path / "r"), "--outcome", "outcome",
               "--conversation-table", str(tmp_path / "o.csv"), "--join-column", "pid"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "no join column 'pid'" in err and len(err.splitlines()) == 1
    (tmp_path / "d.csv").write_text("participant,outcome\nc001,1\nc001,2\n")
    rc = main(["study", str(tmp_path / "s"), "-o", str(tmp_path / "r"), "--outcome", "outcome",
               "--conversation-table", str(tmp_path / "d.csv"), "--join-column", "participant"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "duplicate 'participant' value 'c001'" in err and len(err.splitlines()) == 1
    rc = main(["study", str(tmp_path / "s"), "-o", str(tmp_path / "r"), "--outcome", "outcome",
               "--conversation-table", str(tmp_path / "nope.csv"), "--join-column", "participant"])
    assert rc == 2 and "does not exist" in capsys.readouterr().err


def test_score_joins_a_conversation_table(tmp_path, capsys):
    from fastmetrics.api import demo_path, score
    from fastmetrics.cli import main

    demo = str(demo_path())
    ids = score(demo).conversations.column("conversation_id").to_pylist()
    rows = ["pid,outcome,quality"] + [f"{c},{i},{'high' if i % 2 else 'low'}"
                                      for i, c in enumerate(ids) if i > 0] + ["ghost,9,low"]
    (tmp_path / "o.csv").write_text("\n".join(rows) + "\n")
    rc = main(["score", demo, "-o", str(tmp_path / "out"), "-q", "--conversation-table",
               str(tmp_path / "o.csv"), "--join-column", "pid"])
    assert rc == 0
    assert "1 conversation(s) without a row, 1 row(s) without a conversation" in capsys.readouterr().err
    t = pq.read_table(tmp_path / "out" / "conversations.parquet")
    got = dict(zip(t.column("conversation_id").to_pylist(), t.column("outcome").to_pylist()))
    assert got[ids[0]] is None and [got[c] for c in ids[1:]] == list(range(1, len(ids)))
    rec = json.loads(t.schema.metadata[b"fastmetrics.conversation_table"])
    assert rec["conversations_without_a_row"] == 1 and rec["rows_without_a_conversation"] == 1
    assert rec["examples_rows_without_a_conversation"] == ["ghost"]
    # the joined outcome feeds the study, a categorical one with --positive
    res = run_study(tmp_path / "out", tmp_path / "r", "quality", positive="high", n_boot=20,
                    n_repeats=1, report=False, signals=["n_tokens"])
    assert res["n_conversations"] == len(ids) - 1 and res["dropped"]["missing_outcome"] == 1
    # bad tables: exit 2, one line naming the file and the line
    (tmp_path / "d.csv").write_text("pid,outcome\nx,1\nx,2\n")
    rc = main(["score", demo, "-o", str(tmp_path / "o2"), "-q", "--conversation-table",
               str(tmp_path / "d.csv"), "--join-column", "pid"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1
    assert "d.csv" in err and "line 3" in err and "duplicate 'pid' value 'x'" in err
    rc = main(["score", demo, "-o", str(tmp_path / "o3"), "-q", "--join-column", "pid"])
    assert rc == 2 and "--conversation-table" in capsys.readouterr().err


def test_study_reports_chance_reliability_and_the_empathy_scorer(tmp_path):
    """The study carries the surrogate summary, the split-half reliabilities and which empathy
    scorer ran into results.json and the page."""
    import warnings

    from fastmetrics.api import demo_path, score
    from fastmetrics.study.chance import chance_summary
    from fastmetrics.study.run import run_study

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = score(demo_path(), metrics=["lsm", "rlsm", "empathy"], surrogates=20, out_dir=tmp_path / "s")
    out = run_study(tmp_path / "s", tmp_path / "r", "final_emotion_intensity", n_boot=50, n_repeats=1)
    assert out["empathy_scorer"] == "prototype"
    chance = out["synchrony"]["above_chance"]
    assert set(chance) == set(chance_summary(res.conversations))
    assert {"lsm_prev_mean", "rlsm"} <= set(chance)
    half = out["synchrony"]["split_half"]
    assert {"lsm_prev", "rlsm_turn", "empathy_proto"} <= set(half)
    html = (tmp_path / "r" / "report.html").read_text()
    assert "Synchrony above chance" in html and "Split-half reliability" in html
    assert "unvalidated baseline" in html
