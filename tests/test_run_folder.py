"""An output folder belongs to one run; a run killed anywhere resumes into the same outputs; a
changed input or parameter is never resumed; outputs are replaced as one set."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import fastmetrics as fm
from fastmetrics.engine.outputs import check_output_set

#: Metadata that differs between two runs of the same work by nature.
RUN_SPECIFIC = {"fastmetrics.seconds", "fastmetrics.session_seconds", "fastmetrics.run_id",
                "fastmetrics.resumed_chunks"}

# A child process that scores INPUT into OUT and stops (pauses, writing MARKER first) at a
# point of the run: "chunk:K" (inside the family computation of chunk K), "merge" (while the
# parts are merged), "swap" (after the first output file was renamed into place).
CHILD = r"""
import sys, time
import numpy as np
import fastmetrics as fm
from fastmetrics import registry
from fastmetrics.engine import outputs
from fastmetrics.registry import MetricFamily, MetricResult

inp, out, point, marker = sys.argv[1:5]
calls = []

def pause():
    open(marker, "w").close()
    time.sleep(120)

def compute(corpus, ctx):
    calls.append(1)
    if point == f"chunk:{len(calls) - 1}":
        pause()
    return MetricResult(turns={"slow_x": np.full(corpus.n_turns, 1.5)})

registry.register(MetricFamily(name="slow", description="a family that can pause",
                               compute=compute, turn_columns=("slow_x",)))
if point == "merge":
    real = outputs.RunDir._merge
    def merge(self, *a, **k):
        pause()
        return real(self, *a, **k)
    outputs.RunDir._merge = merge
if point == "swap":
    import os
    real_replace = os.replace
    seen = []
    def replace(a, b):
        real_replace(a, b)
        if str(b).endswith(".parquet") and ".staging" in str(a):
            seen.append(b)
            if len(seen) == 1:
                pause()
    outputs.os.replace = replace
fm.score(inp, metrics=["lsm", "emotion", "slow"], out_dir=out, chunk_turns=200)
print("finished")
"""


def _corpus_file(path: Path, n_conv: int = 60, seed: int = 3) -> Path:
    rng = np.random.default_rng(seed)
    words = ["i", "feel", "so", "sad", "you", "are", "not", "alone", "that", "sounds", "hard", "what", "happened",
             "today", "we", "can", "try"]
    rows = []
    for c in range(n_conv):
        for t in range(int(rng.integers(4, 16))):
            rows.append({"conversation_id": f"c{c:03d}", "turn": t, "speaker": ["usr", "sys"][t % 2],
                         "text": " ".join(rng.choice(words, int(rng.integers(2, 10))))})
    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


def _child(tmp_path: Path, inp: Path, out: Path, point: str) -> subprocess.Popen:
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    marker = tmp_path / f"marker-{point.replace(':', '-')}"
    if marker.exists():
        marker.unlink()
    proc = subprocess.Popen([sys.executable, str(script), str(inp), str(out), point, str(marker)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not marker.exists():
        if proc.poll() is not None:
            raise AssertionError(f"child ended early: {proc.stderr.read().decode()[-2000:]}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError("child never reached its pause point")
        time.sleep(0.05)
    return proc


def _kill(proc: subprocess.Popen) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)


def _reference(tmp_path: Path, inp: Path):
    """The uninterrupted run (in this process, the same family)."""
    from fastmetrics import registry
    from fastmetrics.registry import MetricFamily, MetricResult

    registry.register(MetricFamily(name="slow", description="a family that can pause",
                                   compute=lambda c, ctx: MetricResult(turns={"slow_x": np.full(c.n_turns, 1.5)}),
                                   turn_columns=("slow_x",)))
    try:
        out = tmp_path / "reference"
        fm.score(inp, metrics=["lsm", "emotion", "slow"], out_dir=out, chunk_turns=200)
        return out
    finally:
        registry.unregister("slow")


def _resume(inp: Path, out: Path) -> subprocess.CompletedProcess:
    code = ("import sys, numpy as np, fastmetrics as fm\n"
            "from fastmetrics import registry\n"
            "from fastmetrics.registry import MetricFamily, MetricResult\n"
            "registry.register(MetricFamily(name='slow', description='a family that can pause', "
            "compute=lambda c, ctx: MetricResult(turns={'slow_x': np.full(c.n_turns, 1.5)}), "
            "turn_columns=('slow_x',)))\n"
            "from fastmetrics.cli import main\n"
            "sys.exit(main(['score', sys.argv[1], '-o', sys.argv[2], '--metrics', 'lsm,emotion,slow', "
            "'--chunk-turns', '200', '--resume', '-q']))\n")
    return subprocess.run([sys.executable, "-c", code, str(inp), str(out)], capture_output=True, text=True)


def _same_outputs(a: Path, b: Path) -> None:
    ma, mb = check_output_set(a), check_output_set(b)
    assert sorted(ma["files"]) == sorted(mb["files"])
    for name in ma["files"]:
        if not name.endswith(".parquet"):
            continue
        ta, tb = pq.read_table(a / name), pq.read_table(b / name)
        assert ta.schema.remove_metadata() == tb.schema.remove_metadata(), name
        for col in ta.column_names:  # NaN-aware, value by value
            x, y = ta.column(col), tb.column(col)
            if pa.types.is_floating(x.type):
                np.testing.assert_array_equal(x.to_numpy(), y.to_numpy(), err_msg=f"{name}:{col}")
            else:
                assert x.to_pylist() == y.to_pylist(), f"{name}:{col}"
        meta_a = {k.decode(): v.decode() for k, v in ta.schema.metadata.items()}
        meta_b = {k.decode(): v.decode() for k, v in tb.schema.metadata.items()}
        assert set(meta_a) == set(meta_b), (set(meta_a) ^ set(meta_b))
        for k in meta_a:
            if k not in RUN_SPECIFIC:
                assert meta_a[k] == meta_b[k], k
        assert meta_a["fastmetrics.run_id"] == ma["run_id"]


@pytest.fixture(scope="module")
def corpus_file(tmp_path_factory):
    return _corpus_file(tmp_path_factory.mktemp("input") / "corpus.parquet")


@pytest.mark.parametrize("point", ["chunk:0", "chunk:2", "merge", "swap"])
def test_kill_anywhere_then_resume_gives_the_uninterrupted_outputs(point, corpus_file, tmp_path):
    ref = _reference(tmp_path, corpus_file)
    out = tmp_path / "out"
    _kill(_child(tmp_path, corpus_file, out, point))
    if point != "swap":
        assert not (out / "turns.parquet").exists() and not (out / "manifest.json").exists()
    else:  # killed between two renames: the folder is not a finished set, and readers say so
        with pytest.raises(fm.FastMetricsError, match="manifest"):
            check_output_set(out)
    r = _resume(corpus_file, out)
    assert r.returncode == 0, r.stderr
    _same_outputs(ref, out)
    assert not (out / ".partial").exists() and not (out / ".staging").exists()


def test_a_second_run_into_a_busy_folder_fails_at_once(corpus_file, tmp_path):
    out = tmp_path / "busy"
    first = _child(tmp_path, corpus_file, out, "chunk:1")
    try:
        t = time.monotonic()
        r = subprocess.run([sys.executable, "-m", "fastmetrics", "score", str(corpus_file), "-o", str(out)],
                           capture_output=True, text=True, timeout=120)
        assert time.monotonic() - t < 30
        assert r.returncode == 2 and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
        assert f"pid {first.pid}" in r.stderr and "in use by another fastmetrics run" in r.stderr
    finally:
        _kill(first)
    # the killed run left a stale lock: the next run takes it over and finishes
    r = _resume(corpus_file, out)
    assert r.returncode == 0, r.stderr
    assert pq.read_metadata(out / "turns.parquet").num_rows == pq.read_metadata(corpus_file).num_rows


def test_resume_refuses_an_edited_input_and_changed_parameters(tmp_path):
    inp = _corpus_file(tmp_path / "c.parquet")
    out = tmp_path / "o"
    _kill(_child(tmp_path, inp, out, "chunk:2"))
    # changed parameters
    code = ("import sys, fastmetrics as fm\nfrom fastmetrics.cli import main\n"
            "sys.exit(main(['score', sys.argv[1], '-o', sys.argv[2], '--metrics', 'lsm', "
            "'--chunk-turns', '200', '--resume', '-q']))\n")
    r = subprocess.run([sys.executable, "-c", code, str(inp), str(out)], capture_output=True, text=True)
    assert r.returncode == 2 and "parameters differ" in r.stderr and "metrics" in r.stderr
    # an input edited after the kill (same size, new text, new modification time)
    t = pq.read_table(inp)
    text = t.column("text").to_pylist()
    text[0] = text[0][::-1]
    pq.write_table(t.set_column(t.column_names.index("text"), "text", pa.array(text)), inp)
    r = _resume(inp, out)
    assert r.returncode == 2 and "changed since the interrupted run" in r.stderr, r.stderr
    assert not (out / "turns.parquet").exists()
    # without --resume the interrupted run's parts are not silently thrown away ...
    r = subprocess.run([sys.executable, "-m", "fastmetrics", "score", str(inp), "-o", str(out), "-q"],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "--resume" in r.stderr and "--restart" in r.stderr
    # ... and --restart starts over
    r = subprocess.run([sys.executable, "-m", "fastmetrics", "score", str(inp), "-o", str(out), "-q",
                        "--restart"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert pq.read_table(out / "turns.parquet").column("text").to_pylist()[0] == text[0]


def test_same_size_same_mtime_edit_is_caught_by_the_content_digest(tmp_path):
    inp = _corpus_file(tmp_path / "c.parquet")
    out = tmp_path / "o"
    _kill(_child(tmp_path, inp, out, "chunk:2"))
    st = inp.stat()
    t = pq.read_table(inp)
    text = t.column("text").to_pylist()
    text[1] = text[1].upper()
    pq.write_table(t.set_column(t.column_names.index("text"), "text", pa.array(text)), inp)
    if inp.stat().st_size != st.st_size:
        pytest.skip("the edit changed the file size; the size check covers it")
    os.utime(inp, ns=(st.st_atime_ns, st.st_mtime_ns))
    r = _resume(inp, out)
    assert r.returncode == 2 and "edited" in r.stderr, r.stderr


def test_a_new_run_replaces_the_whole_set(tmp_path):
    out = tmp_path / "o"
    fm.score(fm.api.demo_path(), metrics=["alliance"], alliance_items=True, out_dir=out,
             cache_dir=str(tmp_path / "cache"))
    assert (out / "alliance_items.parquet").exists()
    first = check_output_set(out)["run_id"]
    fm.score(fm.api.demo_path(), out_dir=out, csv=True)
    m = check_output_set(out)
    assert m["run_id"] != first
    assert not (out / "alliance_items.parquet").exists()  # an older run's table is not left behind
    for name in ("turns.parquet", "conversations.parquet"):
        meta = pq.read_schema(out / name).metadata
        assert meta[b"fastmetrics.run_id"].decode() == m["run_id"]
    assert json.loads((out / "manifest.json").read_text())["files"]["turns.csv"]["rows"] == 324


@pytest.mark.parametrize("target", ["file", "under_file", "unwritable"])
def test_output_folder_that_cannot_be_one_is_a_clear_error(target, tmp_path):
    f = tmp_path / "afile"
    f.write_text("x")
    if target == "file":
        out = f
    elif target == "under_file":
        out = f / "sub"
    else:
        if os.geteuid() == 0:
            pytest.skip("root can write anywhere")
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o500)
        out = ro / "o"
    r = subprocess.run([sys.executable, "-m", "fastmetrics", "score", "--demo", "-o", str(out)],
                       capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
    assert "output folder" in r.stderr


@pytest.mark.parametrize("row_group", [None, 5000], ids=["one_row_group", "small_row_groups"])
def test_peak_memory_does_not_grow_with_the_corpus(row_group, tmp_path):
    """At a fixed chunk size, scoring 50k and 300k turns peaks at about the same RSS (the
    lowest of three runs each, as the allocator's high-water mark moves by a few percent)."""
    code = r"""
import sys
import fastmetrics as fm
fm.score(sys.argv[1], metrics=["lsm", "emotion"], out_dir=sys.argv[2], chunk_turns=5000, n_threads=1)
for line in open("/proc/self/status"):
    if line.startswith("VmHWM:"):
        print(int(line.split()[1]))
"""
    peaks = {}
    for n in (50_000, 300_000):
        path = _big_corpus(tmp_path / f"c{n}.parquet", n, row_group)
        runs = []
        for k in range(3):
            out = tmp_path / f"o{n}-{k}"
            r = subprocess.run([sys.executable, "-c", code, str(path), str(out)], capture_output=True,
                               text=True, env=dict(os.environ, NUMBA_NUM_THREADS="1"))
            assert r.returncode == 0, r.stderr
            runs.append(int(r.stdout.split()[-1]))
            assert pq.read_metadata(out / "turns.parquet").num_rows == n
        peaks[n] = min(runs)
    assert peaks[300_000] <= 1.05 * peaks[50_000], peaks


def _big_corpus(path: Path, n_turns: int, row_group: int | None = None) -> Path:
    rng = np.random.default_rng(1)
    vocab = np.array(["i", "feel", "so", "sad", "you", "are", "not", "alone", "that", "sounds", "hard", "what",
                      "happened", "today", "we", "can", "try", "a", "plan", "for", "the", "week", "and", "talk",
                      "again", "about", "how", "it", "goes"])
    lens = rng.integers(3, 20, n_turns)
    words = vocab[rng.integers(0, len(vocab), int(lens.sum()))]
    cuts = np.concatenate([[0], np.cumsum(lens)])
    text = [" ".join(words[cuts[i]:cuts[i + 1]]) for i in range(n_turns)]
    conv = np.repeat(np.arange(n_turns // 25 + 1), 25)[:n_turns]
    turn = np.tile(np.arange(25), n_turns // 25 + 1)[:n_turns]
    pq.write_table(pa.table({"conversation_id": pa.array([f"c{c:07d}" for c in conv]),
                             "turn": turn, "speaker": np.where(turn % 2 == 0, "usr", "sys"),
                             "text": text}), path, row_group_size=row_group)
    return path
