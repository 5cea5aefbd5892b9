"""The study on real ESConv files, checked against an independent computation from the raw
JSON (naive parsing and attribution, scipy correlations, the scikit-learn nested-CV reference of
fastmetrics.testing.study)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "esconv"
FAILED = DATA / "FailedESConv-dev.json"

pytestmark = pytest.mark.realdata


def _raw_failed():
    """Per conversation (raw order): initial, final, mean attributed feedback (naive loop)."""
    rows = []
    for d in json.loads(FAILED.read_text()):
        s = d["survey_score"]["seeker"]
        ini = float(s["initial_emotion_intensity"]) if s.get("initial_emotion_intensity") else np.nan
        fin = float(s["final_emotion_intensity"]) if s.get("final_emotion_intensity") else np.nan
        credited, pending = [], 0
        for t in d["dialog"]:
            if t["speaker"] == "listener":
                pending += 1
            elif "feedback" in t.get("annotation", {}):
                credited += [float(t["annotation"]["feedback"])] * pending
                pending = 0
        rows.append((ini, fin, np.mean(credited) if credited else np.nan))
    return np.array(rows)


@pytest.fixture(scope="module")
def failed_study(tmp_path_factory):
    if not FAILED.exists():
        pytest.skip(f"real ESConv data not found at {FAILED} (a fresh clone has no ../shared/data)")
    import fastmetrics
    from fastmetrics.study import run_study

    d = tmp_path_factory.mktemp("failed")
    fastmetrics.score(FAILED, metrics=["basic"], out_dir=d / "scored")
    res = run_study(d / "scored", d / "report", "final_emotion_intensity",
                    control="initial_emotion_intensity", snapshot=["feedback_mean"],
                    trajectory=["feedback_slope"], n_boot=300, n_repeats=2, seed=0,
                    length_controls=False)
    return d, res


def test_counts_and_partial_correlation_match_the_raw_file(failed_study):
    _, res = failed_study
    raw = _raw_failed()
    ini, fin, fb = raw.T
    ok = np.isfinite(ini) & np.isfinite(fin)
    assert res["n_conversations"] == ok.sum() == 100
    f = {x["name"]: x for x in res["features"]}["feedback_mean"]
    m = ok & np.isfinite(fb)
    assert f["n"] == m.sum()
    x, y, z = fb[m], fin[m], ini[m]
    rxy, rxz, ryz = (stats.spearmanr(a, b).statistic for a, b in ((x, y), (x, z), (y, z)))
    ref = (rxy - rxz * ryz) / np.sqrt((1 - rxz ** 2) * (1 - ryz ** 2))
    assert f["rho"] == pytest.approx(ref, abs=1e-10)
    t = ref * np.sqrt((len(x) - 3) / (1 - ref ** 2))
    assert f["p"] == pytest.approx(2 * stats.t.sf(abs(t), len(x) - 3), rel=1e-8)
    assert f["ci_low"] < f["rho"] < f["ci_high"]


def test_model_comparison_matches_sklearn_on_the_raw_file(failed_study):
    from sklearn.metrics import r2_score

    from fastmetrics.testing.study import nested_oof_reference

    _, res = failed_study
    raw = _raw_failed()
    ini, fin, fb = raw.T
    ok = np.isfinite(ini) & np.isfinite(fin)
    X = np.column_stack([ini, fb])[ok]
    y = fin[ok]
    g = np.arange(len(y))
    ref = np.mean([r2_score(y, nested_oof_reference(X, y, g, r, False)) for r in range(2)])
    assert res["models"]["snapshot"]["mean"] == pytest.approx(ref, abs=1e-10)
    ref_c = np.mean([r2_score(y, nested_oof_reference(X[:, :1], y, g, r, False)) for r in range(2)])
    assert res["models"]["control_only"]["mean"] == pytest.approx(ref_c, abs=1e-10)


def test_report_written(failed_study):
    d, res = failed_study
    html = (d / "report" / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 4  # forest, scatter, trajectories, models
    assert "final_emotion_intensity" in html
    assert res["signals"]["ratings"] == 677  # 118 + 118 + 173 + 144 + 124 feedback labels in the file
