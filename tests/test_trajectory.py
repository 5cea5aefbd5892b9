"""Trajectory features against per-conversation NumPy loops written from METRICS.md 6 and 8."""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from fastmetrics import Corpus, InputError
from fastmetrics.trajectory import FEATURES, parse_series_spec, trajectory_features

NAN = np.nan


def _ref_conv(v, role, role_filter, threshold):
    """Reference features of one conversation with NumPy (v: float array, role: int array)."""
    T = len(v)
    pos = np.arange(T)
    x_all = pos / (T - 1) if T > 1 else np.zeros(T)
    keep = ~np.isnan(v)
    if role_filter is not None:
        keep &= role == role_filter
    y, x, p = v[keep], x_all[keep], pos[keep]
    n = len(y)
    f = dict.fromkeys(FEATURES, NAN)
    f["n"] = n
    f["rlver_reward"] = max(min(y[-1], 100) / 100, 0) if n else 0.3
    if role_filter is None and T > 1:
        gi = [t for t in range(T - 1) if role[t] == 0 and role[t + 1] == 1
              and not np.isnan(v[t]) and not np.isnan(v[t + 1])]
        if len(gi) >= 2 and np.ptp(x_all[gi]) > 0:
            g = np.abs(v[gi] - v[np.array(gi) + 1])
            f["convergence"] = np.polyfit(x_all[gi], g, 1)[0]
    if n == 0:
        return f
    f.update(mean=y.mean(), first=y[0], last=y[-1], change=y[-1] - y[0], min=y.min())
    if n >= 2 and np.ptp(x) > 0:
        f["slope"] = np.polyfit(x, y, 1)[0]
    k = n // 3
    if k:
        f["late_minus_early"] = y[-k:].mean() - y[:k].mean()
    f["auc"] = np.trapezoid(y, x=np.linspace(0.0, 1.0, n)) if n >= 2 else y[0]
    if n >= 3:
        f["volatility"] = np.std(np.diff(y), ddof=1)
    f["max_drawdown"] = max(y[i] - y[j] for i in range(n) for j in range(i, n))
    if threshold is not None:
        below = np.nonzero(y < threshold)[0]
        f["first_below"] = p[below[0]] if len(below) else NAN
    return f


def _random(rng, n_conv, max_len=15):
    lens = rng.integers(0, max_len + 1, n_conv)
    lens[:4] = [0, 1, 2, 3]  # always include the short cases
    off = np.zeros(n_conv + 1, dtype=np.int64)
    off[1:] = np.cumsum(lens)
    n = int(off[-1])
    v = rng.normal(50, 20, n)
    v[rng.random(n) < 0.15] = NAN
    role = rng.integers(0, 3, n).astype(np.int8)
    return off, v, role


@pytest.fixture
def rng():
    return np.random.default_rng(7)


@pytest.mark.parametrize("role_filter", [None, 0, 1])
@pytest.mark.parametrize("threshold", [None, 40.0])
def test_against_numpy_loops(rng, role_filter, threshold):
    off, v, role = _random(rng, 120)
    got = trajectory_features(off, v, role, role_filter=role_filter, threshold=threshold)
    for c in range(len(off) - 1):
        a, b = off[c], off[c + 1]
        exp = _ref_conv(v[a:b], role[a:b], role_filter, threshold)
        for f in FEATURES:
            if f == "convergence" and role_filter is not None:
                assert np.isnan(got[f][c])
                continue
            np.testing.assert_allclose(got[f][c], exp[f], rtol=1e-9, atol=1e-9, err_msg=f"{f} conv {c}")


def test_short_conversations_by_hand():
    # conversations of length 0, 1, 2
    off = np.array([0, 0, 1, 3])
    v = np.array([5.0, 1.0, 3.0])
    f = trajectory_features(off, v)
    assert f["n"].tolist() == [0, 1, 2]
    assert np.isnan(f["mean"][0]) and f["mean"][1] == 5.0 and f["mean"][2] == 2.0
    assert np.isnan(f["slope"][1]) and f["slope"][2] == 2.0            # x = 0, 1
    assert np.isnan(f["late_minus_early"][2])                          # n // 3 == 0
    assert f["auc"][1] == 5.0 and f["auc"][2] == 2.0                   # one point; (1 + 3) / 2 over [0, 1]
    assert np.isnan(f["volatility"][2])
    assert f["max_drawdown"][1] == 0.0 and f["max_drawdown"][2] == 0.0
    assert f["rlver_reward"][0] == 0.3                                 # starts at 30


def test_rlver_reward_clipping():
    off = np.array([0, 2, 4, 6])
    v = np.array([30.0, 120.0, 30.0, -10.0, 50.0, 64.0])
    f = trajectory_features(off, v)
    assert f["rlver_reward"].tolist() == [1.0, 0.0, 0.64]


def test_convergence_by_hand():
    # C T C T C T, gaps 4, 2, 0 at client positions 0, 2, 4 of T=6 -> x = 0, .4, .8
    v = np.array([0.0, 4.0, 1.0, 3.0, 2.0, 2.0])
    role = np.array([0, 1, 0, 1, 0, 1], dtype=np.int8)
    f = trajectory_features(np.array([0, 6]), v, role)
    assert f["convergence"][0] == pytest.approx(-5.0)




def test_bad_input():
    with pytest.raises(InputError, match="inf"):
        trajectory_features(np.array([0, 1]), np.array([np.inf]))
    with pytest.raises(InputError, match="one entry per turn"):
        trajectory_features(np.array([0, 2]), np.array([1.0]))
    with pytest.raises(InputError, match="role must be one of"):
        parse_series_spec("valence:boss")
    assert parse_series_spec("valence:client") == ("valence", "client")
    assert parse_series_spec("rating") == ("rating", None)


def _corpus():
    return Corpus(conversation_id=pa.array(["a", "b"]), conv_offsets=np.array([0, 4, 5]),
                  role=np.array([0, 1, 0, 1, 0], dtype=np.int8), speaker=pa.array(["u", "s"] * 2 + ["u"]),
                  text=pa.array(["x"] * 5), turn_columns={"rating": pa.array(["1", None, "3", "5", "2"])})


def test_family_names_and_string_ratings():
    from fastmetrics.registry import Context, get

    fam = get("trajectory")
    assert fam.after == ("*",)
    c = _corpus()
    ctx = Context(options={"trajectory": ["rating", "rating:client", "valence:therapist"],
                           "trajectory_threshold": 2.5, "rlver": ["valence"]},
                  columns={"rating": c.turn_columns["rating"], "valence": np.arange(5, dtype=float) * 10})
    res = fam.compute(c, ctx)
    conv = res.conversations
    assert conv["rating_mean"].tolist() == [3.0, 2.0]
    assert conv["rating_client_mean"].tolist() == [2.0, 2.0]
    assert conv["rating_first_below"].tolist() == [0.0, 0.0]
    assert conv["valence_therapist_last"][0] == 30.0
    assert conv["valence_therapist_rlver_reward"][0] == pytest.approx(0.3)
    assert "rating_convergence" in conv and "rating_client_convergence" not in conv
    with pytest.raises(InputError, match="not a per-turn column"):
        fam.compute(c, Context(options={"trajectory": ["nope"]}, columns={}))
    with pytest.raises(InputError, match="not numeric"):
        fam.compute(c, Context(options={"trajectory": ["s"]}, columns={"s": pa.array(["a"] * 5)}))


def test_family_default_uses_declared_numeric_series():
    from fastmetrics.registry import Context, get

    c = _corpus()
    ctx = Context(options={}, columns={"valence": np.ones(5), "label": pa.array(["a"] * 5),
                                       "source_order": np.arange(5), "score": np.ones(5),
                                       "annotator_id": np.arange(5.0)})
    res = get("trajectory").compute(c, ctx)
    assert "valence_mean" in res.conversations
    # carried input columns (an identifier, an unnamed score) are series only when named
    assert not any(k.startswith(("label", "source_order", "score", "annotator_id"))
                   for k in res.conversations)
    res = get("trajectory").compute(c, Context(options={"trajectory": ["score"]}, columns=ctx.columns))
    assert "score_mean" in res.conversations


def test_pipeline_end_to_end_matches_direct_calls():
    """fastmetrics.score with every family of this issue equals the direct API calls."""
    import fastmetrics as fm
    from fastmetrics.emotion import valence
    from fastmetrics.sync import synchrony

    rng = np.random.default_rng(5)
    words = ["i", "feel", "so", "sad", "you", "are", "not", "alone", "the", "good", "but", "very"]
    rows = []
    for c in range(12):
        for t in range(int(rng.integers(1, 9))):
            rows.append({"conversation_id": f"c{c:02d}", "turn": t, "speaker": ["usr", "sys"][t % 2],
                         "text": " ".join(rng.choice(words, int(rng.integers(1, 8)))) + "!"})
    table = pa.Table.from_pylist(rows)
    res = fm.score(table, metrics=["lsm", "rlsm", "coordination", "emotion", "trajectory"],
                   trajectory=["valence:client", "rlsm_window"], window=4)
    corpus = fm.load(table)
    direct = synchrony(corpus, window=4)
    conv = res.conversations
    np.testing.assert_array_equal(conv.column("lsm").to_numpy(), direct.lsm)
    np.testing.assert_array_equal(res.turns.column("rlsm_window").to_numpy(), direct.rlsm_window)
    val = valence(corpus.text)
    np.testing.assert_array_equal(res.turns.column("valence").to_numpy(), val)
    exp = trajectory_features(corpus.conv_offsets, val, corpus.role, role_filter="client")
    np.testing.assert_array_equal(conv.column("valence_client_slope").to_numpy(), exp["slope"])
    assert "rlsm_window_convergence" in conv.column_names




def test_family_treats_infinite_metric_values_as_missing():
    # wmd_prev is +inf for a turn without in-vocabulary words: undefined, not a magnitude
    import numpy as np
    import pyarrow as pa

    import fastmetrics as fm
    from fastmetrics.registry import MetricFamily, MetricResult, register, unregister

    vals = np.array([np.nan, 1.0, np.inf, 3.0, np.nan, 2.0])
    register(MetricFamily(name="inf_series", description="", compute=lambda c, ctx: MetricResult(
        turns={"x": vals[:c.n_turns]})))
    try:
        t = pa.table({"conversation_id": ["a"] * 3 + ["b"] * 3, "speaker": ["usr", "sys"] * 3,
                      "text": ["w"] * 6})
        res = fm.score(t, metrics=["inf_series", "trajectory"], trajectory=["x"])
        means = res.conversations.column("x_mean").to_pylist()
        assert means == [1.0, 2.5]
    finally:
        unregister("inf_series")


def test_auc_is_position_normalised():
    """A constant series c has AUC c whatever its length (METRICS.md §6)."""
    for T in (1, 2, 3, 30):
        f = trajectory_features(np.array([0, T]), np.full(T, 1.0))
        assert f["auc"][0] == pytest.approx(1.0, abs=1e-12)
    f = trajectory_features(np.array([0, 3, 33]), np.concatenate([np.full(3, 2.5), np.full(30, 2.5)]))
    assert f["auc"].tolist() == pytest.approx([2.5, 2.5])
    # a ramp 0..1 has area 1/2 at every length
    for T in (2, 5, 40):
        f = trajectory_features(np.array([0, T]), np.linspace(0.0, 1.0, T))
        assert f["auc"][0] == pytest.approx(0.5)
