"""Split-half reliability and the above-chance summary against hand-written NumPy/scipy references."""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from scipy import stats

from fastmetrics.study.chance import chance_summary
from fastmetrics.study.reliability import spearman_brown, split_half


def _turns(rng, n_conv=40, signal=1.0):
    rows = []
    for c in range(n_conv):
        level = rng.normal() * signal
        for t in range(int(rng.integers(4, 15))):
            rows.append({"conversation_id": f"c{c}", "turn": t, "role": ["client", "therapist"][t % 2],
                         "x": level + rng.normal() if rng.random() > 0.1 else None})
    rng.shuffle(rows)
    return pa.Table.from_pylist(rows)


def test_split_half_against_a_loop_reference():
    rng = np.random.default_rng(0)
    t = _turns(rng)
    got = split_half(t, ["x"])["x"]
    rows = sorted(t.to_pylist(), key=lambda r: (r["conversation_id"], r["turn"]))
    halves = {}
    for r in rows:
        k = r["conversation_id"]
        halves.setdefault(k, ([], []))
        pos = sum(1 for q in rows if q["conversation_id"] == k and q["turn"] < r["turn"])
        if r["x"] is not None:
            halves[k][pos % 2].append(r["x"])
    a = [(np.mean(e), np.mean(o)) for e, o in halves.values() if e and o]
    r = stats.pearsonr([x for x, _ in a], [y for _, y in a])[0]
    assert got["n"] == len(a)
    assert got["r_half"] == pytest.approx(r, rel=1e-12)
    assert got["reliability"] == pytest.approx(2 * r / (1 + r), rel=1e-12)


def test_split_half_by_role_and_signal_levels():
    rng = np.random.default_rng(1)
    strong = split_half(_turns(rng, 200, signal=2.0), ["x"], role="therapist")["x"]["reliability"]
    none = split_half(_turns(rng, 200, signal=0.0), ["x"])["x"]["reliability"]
    assert strong > 0.8 and abs(none) < 0.3
    assert spearman_brown(0.5) == pytest.approx(2 / 3)


def test_chance_summary_against_numpy():
    rng = np.random.default_rng(2)
    p = rng.uniform(size=50)
    p[3] = np.nan
    z = rng.normal(size=50)
    obs, sm = rng.normal(size=50), rng.normal(size=50)
    s = chance_summary(pa.table({"rlsm": obs, "rlsm_surrogate_mean": sm, "rlsm_surrogate_sd": np.ones(50),
                                 "rlsm_z": z, "rlsm_p": p, "other_p": p}))
    assert list(s) == ["rlsm"]
    ok = np.isfinite(p)
    assert s["rlsm"]["n"] == 49
    assert s["rlsm"]["share_above_chance"] == pytest.approx(np.mean(p[ok] <= 0.05))
    assert s["rlsm"]["mean_z"] == pytest.approx(z[ok].mean())
    assert s["rlsm"]["mean_excess"] == pytest.approx((obs - sm)[ok].mean())
