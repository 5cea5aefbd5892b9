"""The command line run the way a person runs it: on a terminal (a pseudo-terminal), where the
progress bar is drawn, and with redirected output, where it is not."""
from __future__ import annotations

import fcntl
import os
import pty
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

FM = [sys.executable, "-m", "fastmetrics"]


def run_on_terminal(args: list[str], timeout: float = 300.0, cwd=None,
                    size: tuple[int, int] | None = (40, 100)) -> tuple[int, str]:
    """Run ``fastmetrics ARGS`` with stdin, stdout and stderr on a pseudo-terminal
    (``size=None``: a terminal that reports no size)."""
    master, slave = pty.openpty()
    if size is not None:  # rows, columns, as a terminal emulator sets them
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", size[0], size[1], 0, 0))
    env = dict(os.environ, TERM="xterm")
    env.pop("COLUMNS", None)
    env.pop("LINES", None)
    proc = subprocess.Popen(FM + args, stdin=slave, stdout=slave, stderr=slave, env=env, cwd=cwd,
                            close_fds=True)
    os.close(slave)
    chunks = []
    deadline = time.monotonic() + timeout
    try:
        while True:
            if time.monotonic() > deadline:
                proc.kill()
                raise AssertionError(f"fastmetrics {' '.join(args)} did not finish in {timeout} s")
            r, _, _ = select.select([master], [], [], 0.2)
            if r:
                try:
                    data = os.read(master, 65536)
                except OSError:  # the child closed the terminal
                    data = b""
                if not data:
                    break
                chunks.append(data)
            elif proc.poll() is not None:
                # drain what is left
                while select.select([master], [], [], 0.1)[0]:
                    try:
                        data = os.read(master, 65536)
                    except OSError:
                        data = b""
                    if not data:
                        break
                    chunks.append(data)
                break
    finally:
        os.close(master)
    rc = proc.wait(timeout=30)
    return rc, b"".join(chunks).decode("utf-8", "replace")


def screen_lines(text: str) -> list[str]:
    """The non-blank lines a terminal shows: a carriage return overwrites the line."""
    out = []
    for line in text.replace("\r\n", "\n").split("\n"):
        shown = line.rsplit("\r", 1)[-1].strip()
        if shown:
            out.append(shown)
    return out


def _ok(rc: int, out: str, what: str) -> None:
    assert rc == 0, f"{what}: exit {rc}\n{out[-3000:]}"
    assert "Traceback" not in out, f"{what} printed a traceback\n{out[-3000:]}"


def test_score_demo_on_a_terminal_draws_a_bar_and_finishes(tmp_path):
    out = tmp_path / "out"
    rc, text = run_on_terminal(["score", "--demo", "-o", str(out)])
    _ok(rc, text, "score --demo")
    assert (out / "turns.parquet").is_file() and (out / "conversations.parquet").is_file()
    assert (out / "manifest.json").is_file() and not (out / ".partial").exists()
    assert "scoring" in text and "100%" in text and "ETA" not in text  # the bar, with its total
    assert "scored 36 conversations" in text
    # a terminal that reports no size still gets a bar, and the run still finishes
    rc, text = run_on_terminal(["score", "--demo", "-o", str(out)], size=None)
    _ok(rc, text, "score --demo on a terminal without a size")
    assert "scoring" in text


def test_score_quiet_and_redirected_draw_no_bar(tmp_path):
    rc, text = run_on_terminal(["score", "--demo", "-o", str(tmp_path / "q"), "-q"])
    _ok(rc, text, "score -q")
    assert text.strip() == ""
    r = subprocess.run(FM + ["score", "--demo", "-o", str(tmp_path / "r")], capture_output=True, text=True)
    assert r.returncode == 0 and r.stderr == "" and "scored 36 conversations" in r.stdout


@pytest.fixture(scope="module")
def scored(tmp_path_factory):
    out = tmp_path_factory.mktemp("scored")
    rc, text = run_on_terminal(["score", "--demo", "-o", str(out), "--metrics",
                                "wmd,nclid,lsm,rlsm,coordination,emotion,trajectory"])
    _ok(rc, text, "score with several families")
    return out, text


def test_score_several_families_on_a_terminal(scored):
    out, text = scored
    convs = pq.read_table(out / "conversations.parquet")
    for col in ("nclid", "lsm", "rlsm", "coordination_therapist_to_client", "valence_mean"):
        assert col in convs.column_names
    assert convs.num_rows == 36


def test_study_on_a_terminal(scored, tmp_path):
    out, _ = scored
    rep = tmp_path / "report"
    rc, text = run_on_terminal(["study", str(out), "-o", str(rep), "--outcome", "final_emotion_intensity",
                                "--control", "initial_emotion_intensity", "--n-boot", "200",
                                "--repeats", "2"])
    _ok(rc, text, "study")
    assert (rep / "results.json").is_file() and (rep / "report.html").is_file()


def test_info_and_cache_on_a_terminal(tmp_path):
    from fastmetrics.api import demo_path

    for args in (["info", str(demo_path())], ["info", "--config"], ["info", "--backends"],
                 ["info", "--metrics"], ["cache", "info", "--cache-dir", str(tmp_path / "c")]):
        rc, text = run_on_terminal(args, timeout=120)
        _ok(rc, text, " ".join(args))
        assert text.strip()


def test_a_users_mistake_on_a_terminal_is_one_line(tmp_path):
    rc, text = run_on_terminal(["score", str(tmp_path / "missing.csv"), "-o", str(tmp_path / "o")])
    assert rc == 2 and "Traceback" not in text
    lines = screen_lines(text)
    assert len(lines) == 1 and "missing.csv" in lines[0] and "scoring" not in text


def test_progress_api_flag_works_without_a_terminal(tmp_path):
    import fastmetrics as fm

    res = fm.score(fm.api.demo_path(), out_dir=tmp_path / "p", progress=True)
    assert Path(res.files["turns"]).is_file()
