"""results.json schema, the study CLI, and the HTML report rendered in headless Chromium."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time

import numpy as np
import pytest

try:  # the synthetic generator lives with the statistics tests
    from test_study_analysis import make_scored_dir
except ImportError:  # tests/ imported as a package
    from tests.test_study_analysis import make_scored_dir

from fastmetrics.errors import InputError
from fastmetrics.study import run_study


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    d = tmp_path_factory.mktemp("study")
    make_scored_dir(d / "scored", n_conv=60, effect="trajectory", seed=11, with_ratings=True,
                    with_strategy=True)
    res = run_study(d / "scored", d / "report", "final", control="initial", n_boot=200,
                    n_repeats=1, seed=0)
    return d, res


def test_results_json_schema(study):
    d, res = study
    on_disk = json.loads((d / "report" / "results.json").read_text())
    assert on_disk == res
    assert on_disk["outcome"] == "final" and on_disk["control"] == "initial"
    assert on_disk["n_conversations"] == 60
    kinds = {}
    for f in on_disk["features"]:
        assert set(f) >= {"name", "kind", "rho", "ci_low", "ci_high", "p", "q"}
        assert f["kind"] in ("snapshot", "trajectory")
        assert -1 <= f["rho"] <= 1 and 0 <= f["p"] <= 1 and f["p"] <= f["q"] <= 1
        assert f["ci_low"] <= f["ci_high"]
        kinds[f["name"]] = f["kind"]
    # derived from turns.parquet: attributed feedback, BOLT rates; read from conversations.parquet
    assert kinds["feedback_mean"] == "snapshot"
    assert kinds["bolt_question_rate"] == "snapshot"
    assert kinds["quality_slope"] == "trajectory"
    assert "feedback_slope" in kinds  # via fastmetrics.trajectory
    # a behaviour no supporter turn shows is not a signal (planning is not among the labels)
    assert "bolt_planning_rate" not in kinds
    sig = {r["signal"]: r for r in on_disk["signal_comparison"]}
    assert {"feedback", "bolt_question"} <= set(sig)
    for r in sig.values():
        assert set(r["delta"]) >= {"mean", "ci_low", "ci_high", "p"} and r["q"] is not None
        assert r["delta"]["ci_low"] <= r["delta"]["ci_high"]
    m = on_disk["models"]
    for name in ("snapshot", "trajectory", "both"):
        assert set(m[name]) >= {"metric", "mean", "ci_low", "ci_high"}
        assert m[name]["metric"] == "r2"
    assert set(m["delta_both_minus_snapshot"]) >= {"mean", "ci_low", "ci_high"}
    n_kind = {k: sum(f["kind"] == k for f in on_disk["features"]) for k in ("snapshot", "trajectory")}
    assert m["snapshot"]["n_features"] == n_kind["snapshot"]
    assert m["trajectory"]["n_features"] == n_kind["trajectory"]
    assert m["both"]["n_features"] == len(on_disk["features"])
    assert m["snapshot"]["n_controls"] == m["control_only"]["n_controls"] == 1
    assert on_disk["signals"]["feedback_rule"] == "since_last_rating"


def test_study_runs_with_only_ratings_strategies_and_outcomes(tmp_path):
    import pyarrow.parquet as pq

    make_scored_dir(tmp_path / "s", n_conv=40, seed=2, with_ratings=True, with_strategy=True)
    t = pq.read_table(tmp_path / "s" / "turns.parquet").drop_columns(["quality"])
    c = pq.read_table(tmp_path / "s" / "conversations.parquet").drop_columns(
        ["quality_mean", "quality_slope"])
    pq.write_table(t, tmp_path / "s" / "turns.parquet")
    pq.write_table(c, tmp_path / "s" / "conversations.parquet")
    res = run_study(tmp_path / "s", tmp_path / "r", "final", n_boot=50, n_repeats=1)
    assert res["control"] is None
    assert "feedback_mean" in {f["name"] for f in res["features"]}
    assert (tmp_path / "r" / "report.html").stat().st_size > 1000


def test_explicit_feature_lists_and_errors(tmp_path):
    make_scored_dir(tmp_path / "s", n_conv=30, seed=3)
    res = run_study(tmp_path / "s", tmp_path / "r", "final", control="initial",
                    snapshot=["quality_mean"], trajectory=[], n_boot=50, n_repeats=1, report=False)
    assert [f["name"] for f in res["features"]] == ["quality_mean"]
    assert res["models"]["trajectory"]["mean"] is None
    assert res["models"]["delta_both_minus_snapshot"]["mean"] is None
    with pytest.raises(InputError, match="not found"):
        run_study(tmp_path / "s", tmp_path / "r", "final", snapshot=["nope"], n_boot=10)
    with pytest.raises(InputError, match="not in conversations.parquet"):
        run_study(tmp_path / "s", tmp_path / "r", "missing_outcome", n_boot=10)
    with pytest.raises(InputError, match="outcome or a control"):
        run_study(tmp_path / "s", tmp_path / "r", "final", control="initial",
                  snapshot=["initial"], n_boot=10)
    with pytest.raises(InputError, match="does not exist"):
        run_study(tmp_path / "nothing", tmp_path / "r", "final")


def test_binary_outcome_uses_auc(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    truth = make_scored_dir(tmp_path / "s", n_conv=60, effect="snapshot", seed=4)
    c = pq.read_table(tmp_path / "s" / "conversations.parquet")
    c = c.append_column("improved", pa.array((truth["a"] > 0).astype(np.int64)))
    pq.write_table(c, tmp_path / "s" / "conversations.parquet")
    res = run_study(tmp_path / "s", tmp_path / "r", "improved", n_boot=100, n_repeats=1)
    assert res["outcome_type"] == "binary"
    html = (tmp_path / "r" / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 3
    assert res["models"]["snapshot"]["metric"] == "auc"
    assert res["models"]["snapshot"]["ci_low"] > 0.7


def test_cli_study(tmp_path, capsys):
    from fastmetrics.cli import main

    make_scored_dir(tmp_path / "s", n_conv=30, seed=5)
    rc = main(["study", str(tmp_path / "s"), "-o", str(tmp_path / "r"), "--outcome", "final",
               "--control", "initial", "--snapshot", "quality_mean", "--trajectory",
               "quality_slope", "--n-boot", "50", "--repeats", "1"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "results.json" in out and "conversations" in out
    res = json.loads((tmp_path / "r" / "results.json").read_text())
    assert [f["name"] for f in res["features"]] == ["quality_mean", "quality_slope"]
    rc = main(["study", str(tmp_path / "s"), "-o", str(tmp_path / "r"), "--outcome", "nope"])
    assert rc == 2
    assert "nope" in capsys.readouterr().err


# ----------------------------------------------------------------------------- browser
def _chromium():
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        p = shutil.which(name)
        if p:
            return p
    return None


class _CDP:
    """Minimal Chrome DevTools Protocol client over --remote-debugging-pipe (fd 3 in, fd 4 out;
    NUL-terminated JSON messages)."""

    def __init__(self, binary, user_data_dir):
        r_in, self._w = os.pipe()    # browser reads commands on fd 3
        self._r, w_out = os.pipe()   # browser writes replies on fd 4

        def setup():  # in the child, before exec: move the pipe ends to fds 3 and 4
            import fcntl

            a = fcntl.fcntl(r_in, fcntl.F_DUPFD, 10)
            b = fcntl.fcntl(w_out, fcntl.F_DUPFD, 10)
            os.dup2(a, 3)
            os.dup2(b, 4)

        self.proc = subprocess.Popen(
            [binary, "--headless", "--no-sandbox", "--disable-gpu",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--no-first-run", "--disable-dev-shm-usage", f"--user-data-dir={user_data_dir}",
             "--remote-debugging-pipe", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            preexec_fn=setup, pass_fds=(3, 4, r_in, w_out))
        os.close(r_in)
        os.close(w_out)
        self._buf = b""
        self._id = 0
        self.events = []

    def _read(self, deadline):
        import select

        while b"\0" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no reply from chromium")
            ready, _, _ = select.select([self._r], [], [], left)
            if ready:
                chunk = os.read(self._r, 1 << 20)
                if not chunk:
                    raise RuntimeError("chromium closed the debugging pipe")
                self._buf += chunk
        msg, self._buf = self._buf.split(b"\0", 1)
        return json.loads(msg)

    def send(self, method, params=None, session=None, timeout=30):
        self._id += 1
        msg = {"id": self._id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._w, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            m = self._read(deadline)
            if m.get("id") == self._id:
                if "error" in m:
                    raise RuntimeError(f"{method}: {m['error']}")
                return m.get("result", {})
            self.events.append(m)

    def wait_event(self, method, timeout=30):
        deadline = time.monotonic() + timeout
        for m in self.events:
            if m.get("method") == method:
                return m
        while True:
            m = self._read(deadline)
            self.events.append(m)
            if m.get("method") == method:
                return m

    def close(self):
        try:
            self.send("Browser.close", timeout=5)
        except Exception:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._w)
        os.close(self._r)


def render(html_path, expressions=()):
    """Load a page in headless Chromium; return (images, console/log errors, title), plus the
    values of ``expressions`` (JavaScript, evaluated in order after loading) when given."""
    binary = _chromium()
    with tempfile.TemporaryDirectory() as ud:
        cdp = _CDP(binary, ud)
        try:
            target = cdp.send("Target.createTarget", {"url": "about:blank"})["targetId"]
            sid = cdp.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
            for dom in ("Page", "Runtime", "Log"):
                cdp.send(f"{dom}.enable", session=sid)
            cdp.send("Page.navigate", {"url": html_path.resolve().as_uri()}, session=sid)
            cdp.wait_event("Page.loadEventFired", timeout=60)
            res = cdp.send("Runtime.evaluate", {"expression": (
                "JSON.stringify(Array.from(document.images).map(i => "
                "({complete: i.complete, w: i.naturalWidth, h: i.naturalHeight, alt: i.alt})))"),
                "returnByValue": True}, session=sid)
            images = json.loads(res["result"]["value"])
            title = cdp.send("Runtime.evaluate", {"expression": "document.title",
                                                  "returnByValue": True}, session=sid)
            values = [cdp.send("Runtime.evaluate", {"expression": x, "returnByValue": True},
                               session=sid)["result"].get("value") for x in expressions]
            errors = [m for m in cdp.events
                      if (m.get("method") == "Runtime.consoleAPICalled"
                          and m["params"]["type"] in ("error", "assert"))
                      or m.get("method") == "Runtime.exceptionThrown"
                      or (m.get("method") == "Log.entryAdded"
                          and m["params"]["entry"]["level"] == "error")]
            if expressions:
                return images, errors, title["result"]["value"], values
            return images, errors, title["result"]["value"]
        finally:
            cdp.close()


def test_report_is_self_contained(study):
    d, res = study
    html = (d / "report" / "report.html").read_text()
    # no external resources; the one inline script sorts the tables
    assert "http://" not in html and "https://" not in html and "<script src" not in html
    assert html.count("<script>") == 1 and "function sortTable" in html
    assert html.count("data:image/png;base64,") == 4  # forest, scatter, trajectories, models
    for s in res["summary"]:
        assert s.split(";")[0][:40].replace("'", "&#x27;") in html


@pytest.mark.skipif(_chromium() is None, reason="no chromium binary on PATH "
                    "(Debian: apt-get install chromium); the browser check cannot run")
def test_report_renders_in_headless_chromium(study):
    d, _ = study
    col = "Array.from(document.getElementById('features').rows).slice(1).map(r => r.cells[3].textContent)"
    images, errors, title, (before, _, after, links, heads) = render(
        d / "report" / "report.html",
        [col, "sortTable('features', 3)", col,
         "Array.from(document.querySelectorAll('#features a')).map(a => a.getAttribute('href'))",
         "Array.from(document.getElementById('signals').rows[0].cells).map(c => c.textContent)"])
    assert "fastmetrics study" in title
    assert len(images) == 4, images
    assert "forest plot" in images[0]["alt"]  # the headline figure comes first
    for im in images:
        assert im["complete"] and im["w"] > 100 and im["h"] > 100, im
    assert errors == [], errors
    # the feature table sorts by a clicked column (rho, ascending) and links each definition
    nums = [float(v) for v in after]
    assert sorted(before, key=float) == after and nums == sorted(nums)
    assert links and all(h.startswith("METRICS.md#") for h in links)
    assert "full - base [95% CI]" in heads and "adds" in heads


@pytest.mark.skipif(_chromium() is None, reason="no chromium binary on PATH")
def test_browser_check_detects_a_broken_image(tmp_path):
    """The check itself can fail: a page with a broken image and a console error."""
    p = tmp_path / "bad.html"
    p.write_text('<!DOCTYPE html><html><head><title>bad</title></head><body>'
                 '<img src="data:image/png;base64,AAAA"><script>console.error("boom")</script>'
                 '</body></html>')
    images, errors, _ = render(p)
    assert images and images[0]["w"] == 0
    assert any(m.get("method") == "Runtime.consoleAPICalled" for m in errors)


def test_bad_roles_and_orphan_turns(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    make_scored_dir(tmp_path / "s", n_conv=20, seed=6)
    t = pq.read_table(tmp_path / "s" / "turns.parquet")
    extra = t.slice(0, 3).set_column(0, "conversation_id", pa.array(["ghost"] * 3))
    pq.write_table(pa.concat_tables([t, extra]), tmp_path / "s" / "turns.parquet")
    res = run_study(tmp_path / "s", tmp_path / "r", "final", n_boot=20, n_repeats=1, report=False)
    assert res["signals"]["turns_without_conversation_row"] == 3
    roles = t.column("role").to_pylist()
    roles[0] = "robot"
    pq.write_table(t.set_column(t.schema.get_field_index("role"), "role", pa.array(roles)),
                   tmp_path / "s" / "turns.parquet")
    with pytest.raises(InputError, match="robot"):
        run_study(tmp_path / "s", tmp_path / "r", "final", n_boot=20)


def test_group_column_keeps_groups_within_folds(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq
    from sklearn.metrics import r2_score

    from fastmetrics.testing.study import nested_oof_reference

    truth = make_scored_dir(tmp_path / "s", n_conv=50, effect="snapshot", seed=8)
    sup = np.array([f"s{i % 10}" for i in range(50)])
    c = pq.read_table(tmp_path / "s" / "conversations.parquet").append_column("supporter", pa.array(sup))
    pq.write_table(c, tmp_path / "s" / "conversations.parquet")
    res = run_study(tmp_path / "s", tmp_path / "r", "final", control="initial",
                    snapshot=["quality_mean"], group_column="supporter", n_boot=20, n_repeats=1,
                    report=False)
    X = np.column_stack([truth["initial"], truth["quality_mean"]])
    pred = nested_oof_reference(X, truth["final"], sup, 0, False)  # inner folds grouped too
    assert res["models"]["snapshot"]["mean"] == pytest.approx(r2_score(truth["final"], pred), abs=1e-10)
    assert res["settings"]["group_column"] == "supporter"


def test_ratings_on_supporter_turns_are_used_directly(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    make_scored_dir(tmp_path / "s", n_conv=30, seed=9)
    t = pq.read_table(tmp_path / "s" / "turns.parquet")
    q = np.array(t.column("quality").to_pylist(), dtype=float)  # NaN on client turns
    t = t.append_column("rating", pa.array(np.round(q * 2), pa.float64()))
    pq.write_table(t, tmp_path / "s" / "turns.parquet")
    res = run_study(tmp_path / "s", tmp_path / "r", "final", snapshot=["feedback_mean"],
                    n_boot=20, n_repeats=1, report=False)
    assert res["signals"]["ratings_on_supporter_turns_used_directly"] == np.isfinite(q).sum()
    conv = np.array(t.column("conversation_id").to_pylist())
    ref = np.array([np.nanmean(np.round(q * 2)[conv == c]) for c in dict.fromkeys(conv)])
    y = pq.read_table(tmp_path / "s" / "conversations.parquet").column("final").to_numpy()
    from scipy import stats

    f = res["features"][0]
    assert f["rho"] == pytest.approx(stats.spearmanr(ref, y).statistic, abs=1e-12)
