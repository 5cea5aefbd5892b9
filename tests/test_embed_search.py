"""faiss neighbour search against a brute-force NumPy reference; the ``neighbors`` command."""
from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
import pytest

from fastmetrics import InputError
from fastmetrics.embed.search import TurnIndex, nearest_turns, next_turn_of_role


def unit(x):
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def brute_force(emb, queries, k, candidates, exclude=None):
    """Reference: full cosine matrix, self excluded, sorted descending."""
    e = emb.astype(np.float64) / np.linalg.norm(emb, axis=1, keepdims=True)
    q = queries.astype(np.float64) / np.linalg.norm(queries, axis=1, keepdims=True)
    sims = q @ e.T
    mask = np.ones_like(sims, dtype=bool)
    mask[:, candidates] = False
    sims[mask] = -np.inf
    if exclude is not None:
        sims[np.arange(len(q)), exclude] = -np.inf
    idx = np.argsort(-sims, axis=1, kind="stable")[:, :k]
    sc = np.take_along_axis(sims, idx, axis=1)
    idx = np.where(np.isfinite(sc), idx, -1)
    return idx, np.where(np.isfinite(sc), sc, np.nan)


@pytest.fixture
def data():
    rng = np.random.default_rng(7)
    emb = rng.standard_normal((300, 32)).astype(np.float32) * rng.uniform(0.5, 2, (300, 1)).astype(np.float32)
    role = rng.integers(0, 3, 300).astype(np.int8)
    return emb, role


def test_all_turns_match_brute_force(data):
    emb, role = data
    idx, sc = nearest_turns(emb, k=5)
    ref_i, ref_s = brute_force(emb, emb, 5, np.arange(300), exclude=np.arange(300))
    np.testing.assert_array_equal(idx, ref_i)
    np.testing.assert_allclose(sc, ref_s, atol=1e-5)
    assert not (idx == np.arange(300)[:, None]).any()


def test_restricted_role_and_query_rows(data):
    emb, role = data
    rows = np.nonzero(role == 0)[0]
    idx, sc = nearest_turns(emb, k=4, role=role, restrict_role="therapist", query_rows=rows)
    ref_i, ref_s = brute_force(emb, emb[rows], 4, np.nonzero(role == 1)[0])
    np.testing.assert_array_equal(idx, ref_i)
    np.testing.assert_allclose(sc, ref_s, atol=1e-5)
    assert (role[idx] == 1).all()


def test_external_queries_and_short_candidate_lists(data):
    emb, role = data
    q = np.random.default_rng(1).standard_normal((3, 32)).astype(np.float32)
    idx, sc = nearest_turns(emb, k=3, queries=q, role=role, restrict_role=["client", 2])
    ref_i, ref_s = brute_force(emb, q, 3, np.nonzero(role != 1)[0])
    np.testing.assert_array_equal(idx, ref_i)
    np.testing.assert_allclose(sc, ref_s, atol=1e-5)
    few = TurnIndex(emb[:2])
    i2, s2 = few.search(emb[:1], k=4, exclude=np.array([0]))
    assert i2.tolist() == [[1, -1, -1, -1]] and np.isnan(s2[0, 1:]).all()


def test_thread_count_invariance(data):
    emb, _ = data
    a = nearest_turns(emb, k=5, n_threads=1)
    b = nearest_turns(emb, k=5, n_threads=2)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_allclose(a[1], b[1], atol=1e-6)


def test_bad_input(data):
    emb, role = data
    with pytest.raises(InputError):
        nearest_turns(emb, k=0)
    with pytest.raises(InputError):
        nearest_turns(emb, restrict_role="client")  # role array missing
    with pytest.raises(InputError):
        nearest_turns(emb, role=role, restrict_role="patient")
    with pytest.raises(InputError):
        nearest_turns(emb, queries=np.zeros((1, 5), np.float32))


def test_neighbors_cli(tmp_path, capsys):
    from fastmetrics.cli import main

    csv = tmp_path / "chats.csv"
    rows = [("c1", "client", "I lost my job and feel worthless."),
            ("c1", "therapist", "Losing a job can shake how you see yourself."),
            ("c2", "client", "My partner left me last month."),
            ("c2", "therapist", "A breakup like that hurts a lot."),
            ("c3", "client", "I got fired yesterday and I'm scared about money."),
            ("c3", "therapist", "Money worries after being let go are really stressful.")]
    csv.write_text("conversation_id,speaker,text\n" + "".join(f'{a},{b},"{c}"\n' for a, b, c in rows))
    cache = str(tmp_path / "cache")
    assert main(["neighbors", str(csv), "--query", "I was laid off from work", "--role", "client",
                 "-k", "2", "--cache-dir", cache, "--threads", "1"]) == 0
    out = capsys.readouterr().out
    lines = [ln for ln in out.splitlines() if ln.startswith("  ")]
    assert len(lines) == 2 and all("[client]" in ln for ln in lines)
    assert any("job" in ln or "fired" in ln for ln in lines)
    target = tmp_path / "nn.parquet"
    assert main(["neighbors", str(csv), "--query-role", "client", "--role", "therapist", "-k", "1",
                 "-o", str(target), "--cache-dir", cache, "--threads", "1"]) == 0
    t = pq.read_table(target).to_pydict()
    assert len(t["rank"]) == 3 and set(t["role"]) == {"therapist"}
    # the closest therapist turn to the "fired" disclosure is one about losing a job / money
    i = t["query_conversation_id"].index("c3")
    assert t["conversation_id"][i] in ("c1", "c3")


def test_next_turn_of_role():
    role = np.array([0, 0, 1, 0, 2, 1, 0, 0, 1, 0], np.int8)
    off = np.array([0, 6, 9, 10])
    turns = np.array([0, 1, 2, 3, 5, 6, 7, 8, 9, -1])
    ref = []
    for t in turns:  # plain loop reference
        if t < 0:
            ref.append(-1)
            continue
        end = off[np.searchsorted(off, t, side="right")]
        later = [u for u in range(t + 1, end) if role[u] == 1]
        ref.append(later[0] if later else -1)
    assert next_turn_of_role(role, off, turns, "therapist").tolist() == ref
    assert ref == [2, 2, 5, 5, -1, 8, 8, -1, -1, -1]


def test_neighbors_cli_replies(tmp_path, capsys):
    from fastmetrics.cli import main

    csv = tmp_path / "chats.csv"
    rows = [("c1", "client", "I lost my job and feel worthless."),
            ("c1", "therapist", "Losing a job can shake how you see yourself."),
            ("c2", "client", "My partner left me last month."),
            ("c2", "therapist", "A breakup like that hurts a lot.")]
    csv.write_text("conversation_id,speaker,text\n" + "".join(f'{a},{b},"{c}"\n' for a, b, c in rows))
    target = tmp_path / "nn.csv"
    assert main(["neighbors", str(csv), "--query", "I got fired", "--role", "client", "-k", "2",
                 "--replies", "therapist", "-o", str(target), "--cache-dir", "none", "--threads", "1"]) == 0
    import pyarrow.csv as pcsv

    t = pcsv.read_csv(target).to_pydict()
    by_conv = dict(zip(t["conversation_id"], t["reply_text"]))
    assert by_conv == {"c1": rows[1][2], "c2": rows[3][2]}
    assert t["conversation_id"][0] == "c1"  # the job-loss disclosure ranks first
