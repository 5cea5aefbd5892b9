"""Working alliance (COMPASS) against a NumPy reference written from the published item keys;
anchor files; the ``alliance`` and ``embedding_sync`` families end to end."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

import fastmetrics
from fastmetrics import Corpus, InputError
from fastmetrics.alliance import (
    alliance_gaps,
    alliance_item_scores,
    alliance_scores,
    load_anchors,
    scale_keys,
    turn_index,
)
from fastmetrics.registry import Context, get

# WAI keys as published (Horvath & Greenberg; COMPASS code), 1-based, written out independently
TASK = ([2, 4, 13, 16, 18, 24, 35], [7, 11, 15, 31, 33])
BOND = ([5, 8, 17, 19, 21, 23, 26, 28, 36], [1, 20, 29])
GOAL = ([6, 14, 22, 25, 30, 32], [3, 9, 10, 12, 27, 34])
DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def ref_scores(emb, role, wc, wt, nc=None, nt=None):
    """Per-turn loop: cosines to each item (minus negated), signed sums per subscale."""
    out = np.full((len(role), 4), np.nan)
    for t in range(len(role)):
        if role[t] not in (0, 1):
            continue
        items, neg = (wc, nc) if role[t] == 0 else (wt, nt)
        e = emb[t].astype(np.float64)
        s = np.array([e @ w / np.linalg.norm(e) / np.linalg.norm(w) for w in items.astype(np.float64)])
        if neg is not None:
            s = s - np.array([e @ w / np.linalg.norm(e) / np.linalg.norm(w) for w in neg.astype(np.float64)])
        for j, (pos, negk) in enumerate((TASK, BOND, GOAL)):
            out[t, j] = sum(s[i - 1] for i in pos) - sum(s[i - 1] for i in negk)
        out[t, 3] = out[t, :3].sum()
    return out


def ref_gaps(scores, role, off, compat):
    """Pairs and statistics written out with Python lists and numpy.polyfit."""
    scores = np.asarray(scores, dtype=np.float64)
    n_conv = len(off) - 1
    res = {k: np.full((n_conv, 4), np.nan) for k in ("mean", "slope", "sd")}
    for c in range(n_conv):
        a, b = off[c], off[c + 1]
        T = b - a
        cl = [t for t in range(a, b) if role[t] == 0]
        th = [t for t in range(a, b) if role[t] == 1]
        if compat:
            pairs = list(zip(cl, th))
            xs = [k / (len(pairs) - 1) if len(pairs) > 1 else 0.0 for k in range(len(pairs))]
        else:
            pairs, xs = [], []
            for t in cl:
                nxt = [u for u in th if u > t]
                if nxt:
                    pairs.append((t, nxt[0]))
                    xs.append((t - a) / (T - 1) if T > 1 else 0.0)
        for s in range(4):
            g = np.array([abs(scores[p, s] - scores[q, s]) for p, q in pairs])
            if len(g) == 0:
                continue
            res["mean"][c, s] = g.mean()
            if len(g) >= 2:
                res["sd"][c, s] = g.std(ddof=1)
                if np.ptp(xs) > 0:
                    res["slope"][c, s] = np.polyfit(np.array(xs), g, 1)[0]
    return res


def random_case(seed=0, d=24):
    rng = np.random.default_rng(seed)
    lens = rng.integers(0, 25, 30)
    lens[:3] = [0, 1, 2]
    off = np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)
    n = int(off[-1])
    emb = rng.standard_normal((n, d)).astype(np.float32)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    role = rng.choice(np.array([0, 1, 2], np.int8), n, p=[0.45, 0.45, 0.1])
    items = [rng.standard_normal((36, d)).astype(np.float32) for _ in range(4)]
    return emb, role, off, items


def test_scale_keys_are_the_published_keys():
    k = scale_keys()
    for j, (pos, neg) in enumerate((TASK, BOND, GOAL)):
        assert sorted(np.nonzero(k[:, j] == 1)[0] + 1) == pos
        assert sorted(np.nonzero(k[:, j] == -1)[0] + 1) == neg
    assert (np.abs(k[:, :3]).sum(axis=1) == 1).all()  # every item in exactly one subscale
    np.testing.assert_array_equal(k[:, 3], k[:, :3].sum(axis=1))


def test_scores_against_reference():
    emb, role, off, (wc, wt, _, _) = random_case()
    got = alliance_scores(emb, role, wc, wt, block=17)  # several blocks
    np.testing.assert_allclose(got, ref_scores(emb, role, wc, wt), atol=2e-5, equal_nan=True)
    assert np.isnan(got[role == 2]).all() and np.isfinite(got[role != 2]).all()


def test_counter_scores_and_unnormalised_input():
    emb, role, off, (wc, wt, nc, nt) = random_case(1)
    scaled = emb * np.random.default_rng(2).uniform(0.5, 3, (len(emb), 1)).astype(np.float32)
    got = alliance_scores(scaled, role, wc, wt, client_negated=nc, therapist_negated=nt)
    np.testing.assert_allclose(got, ref_scores(emb, role, wc, wt, nc, nt), atol=3e-5, equal_nan=True)


def test_item_scores_against_reference():
    emb, role, off, (wc, wt, _, _) = random_case(3)
    items = alliance_item_scores(emb, role, wc, wt)
    for t in np.nonzero(role != 2)[0][:50]:
        w = wc if role[t] == 0 else wt
        ref = w.astype(np.float64) @ emb[t] / np.linalg.norm(w.astype(np.float64), axis=1)
        np.testing.assert_allclose(items[t], ref, atol=2e-6)
    # the subscales are the keyed sums of the item scores
    np.testing.assert_allclose(items[role != 2] @ scale_keys(), alliance_scores(emb, role, wc, wt)[role != 2],
                               atol=3e-5)


@pytest.mark.parametrize("compat", [False, True])
def test_gaps_against_reference(compat):
    emb, role, off, (wc, wt, _, _) = random_case(4)
    scores = alliance_scores(emb, role, wc, wt)
    got = alliance_gaps(scores, role, off, compass_compat=compat)
    ref = ref_gaps(scores, role, off, compat)
    for j, s in enumerate(("task", "bond", "goal", "full")):
        np.testing.assert_allclose(got[f"alliance_{s}_gap_mean"], ref["mean"][:, j], atol=1e-9, equal_nan=True)
        np.testing.assert_allclose(got[f"alliance_{s}_convergence"], ref["slope"][:, j], atol=1e-8, equal_nan=True)
        np.testing.assert_allclose(got[f"alliance_{s}_dispersion"], ref["sd"][:, j], atol=1e-9, equal_nan=True)
    assert np.isfinite(got["alliance_full_convergence"]).sum() > 15
    one = alliance_gaps(scores, role, off, compass_compat=compat, n_threads=1)
    two = alliance_gaps(scores, role, off, compass_compat=compat, n_threads=2)
    for k in one:
        np.testing.assert_array_equal(one[k], two[k])


def test_converging_dyad_has_negative_slope():
    # therapist score fixed at 0, client scores shrinking towards it: the gap converges
    role = np.tile(np.array([0, 1], np.int8), 5)
    scores = np.zeros((10, 4), np.float32)
    scores[role == 0] = np.array([5, 4, 3, 2, 1], np.float32)[:, None]
    got = alliance_gaps(scores, role, np.array([0, 10]))
    assert got["alliance_task_convergence"][0] < 0
    np.testing.assert_allclose(got["alliance_task_gap_mean"][0], 3.0)


def test_turn_index():
    role = np.array([0, 0, 1, 0, 1, 2, 1, 0], np.int8)
    off = np.array([0, 5, 8])
    assert turn_index(role, off).tolist() == [0, 1, 2, 3, 4, 0, 1, 2]
    assert turn_index(role, off, compass_compat=True).tolist() == [0, 1, 0, 2, 1, 0, 0, 0]


def test_builtin_anchors():
    a = load_anchors("builtin")
    assert a.builtin and len(a.client) == 36 and len(a.therapist) == 36 and not a.counter
    assert "not WAI" in a.label()
    assert len(set(a.client)) == 36 and len(set(a.therapist)) == 36


def test_user_anchor_files(tmp_path):
    items = {"client": [f"client item {i}" for i in range(1, 37)],
             "therapist": [f"therapist item {i}" for i in range(1, 37)]}
    p = tmp_path / "wai.json"
    p.write_text(json.dumps(items))
    a = load_anchors(p)
    assert not a.builtin and a.client[4] == "client item 5" and str(p) in a.label()
    rows = ["form,item,text,negated"]
    for form in ("therapist", "client"):
        for i in range(36, 0, -1):  # any order
            rows.append(f"{form},{i},{form} item {i},not {form} item {i}")
    csvp = tmp_path / "wai.csv"
    csvp.write_text("\n".join(rows) + "\n")
    b = load_anchors(csvp)
    assert b.counter and b.client[0] == "client item 1" and b.therapist_negated[35] == "not therapist item 36"


@pytest.mark.parametrize("content,suffix,match", [
    ({"client": ["x"] * 35, "therapist": ["y"] * 36}, ".json", "36"),
    ({"client": ["x"] * 36, "therapist": ["y"] * 36, "client_negated": ["z"] * 36}, ".json", "both"),
    ("form,item,text\nclient,37,x\n", ".csv", "1..36"),
    ("form,item,text\npatient,1,x\n", ".csv", "form"),
    ("form,item,text\nclient,1,x\n", ".csv", "lacks"),
    ("a,b\n1,2\n", ".csv", "header"),
])
def test_bad_anchor_files(tmp_path, content, suffix, match):
    p = tmp_path / f"bad{suffix}"
    p.write_text(json.dumps(content) if isinstance(content, dict) else content)
    with pytest.raises(InputError, match=match):
        load_anchors(p)
    with pytest.raises(InputError, match="not found"):
        load_anchors(tmp_path / "missing.json")


def small_corpus():
    texts = ["I lost my job and I feel worthless.", "That sounds really painful. What happened?",
             "They let me go without warning.", "I'm here for you. Let's think about next steps together.",
             "Thank you, that helps.", "Hi.", "Hello, how are you feeling today?", "Not great."]
    return Corpus(conversation_id=pa.array(["a", "b"]), conv_offsets=np.array([0, 5, 8]),
                  role=np.array([0, 1, 0, 1, 0, 0, 1, 0], dtype=np.int8),
                  speaker=pa.array(["usr", "sys", "usr", "sys", "usr", "usr", "sys", "usr"]),
                  text=pa.array(texts))


def test_families_end_to_end(tmp_path, monkeypatch):
    from fastmetrics.embed import api as embed_api
    from fastmetrics.embed.encoder import get_encoder

    calls = []
    real = embed_api.encode_corpus
    monkeypatch.setattr(embed_api, "encode_corpus", lambda *a, **k: calls.append(1) or real(*a, **k))
    corpus = small_corpus()
    ctx = Context(options={"cache_dir": str(tmp_path), "anchors": "builtin", "alliance_items": True,
                           "compass_compat": False, "window": 3, "model_dir": ""}, n_threads=1)
    ra = get("alliance").compute(corpus, ctx)
    rs = get("embedding_sync").compute(corpus, ctx)
    assert len(calls) == 1  # one encoding of the chunk serves both families
    enc = get_encoder(n_threads=1)
    emb = enc.encode(corpus.text)
    anchors = load_anchors("builtin")
    wc, wt = enc.encode(list(anchors.client)), enc.encode(list(anchors.therapist))
    ref = ref_scores(emb, corpus.role, wc, wt)
    for j, s in enumerate(("task", "bond", "goal", "full")):
        np.testing.assert_allclose(ra.turns[f"alliance_{s}"], ref[:, j], atol=1e-4)
    assert "builtin" in ra.metadata["alliance_anchors"] and "all-MiniLM-L6-v2" in ra.metadata["embedding_model"]
    items = ra.tables["alliance_items"]
    assert items.num_rows == 8 and items.column_names[:4] == ["conversation_id", "turn", "turn_index", "role"]
    sims = rs.turns["emb_sim_prev"]
    np.testing.assert_allclose(sims[1], float(emb[1] @ emb[0]), atol=1e-5)
    assert np.isnan(sims[0]) and np.isnan(sims[5])
    assert rs.metadata["embedding_sync_window"] == "3"
    for name in get("alliance").conversation_columns:
        assert len(ra.conversations[name]) == 2


def test_score_pipeline(tmp_path):
    res = fastmetrics.score(small_corpus(), metrics=["alliance", "embedding_sync"], n_threads=1,
                            cache_dir=str(tmp_path / "cache"), out_dir=tmp_path / "out")
    cols = res.turns.column_names
    for c in ("alliance_task", "alliance_bond", "alliance_goal", "alliance_full", "emb_sim_prev", "emb_sim_window"):
        assert c in cols
    assert "alliance_bond_convergence" in res.conversations.column_names
    assert "emb_sync_lag_p1" in res.conversations.column_names
    assert (tmp_path / "out" / "turns.parquet").exists()


@pytest.mark.realdata
def test_real_esconv_alliance(tmp_path):
    path = DATA / "esconv" / "FailedESConv-dev.json"
    if not path.exists():
        pytest.skip(f"real data not found at {path} (../shared/data is absent in a fresh clone)")
    corpus = fastmetrics.load(path).select(np.arange(4))
    res = fastmetrics.score(corpus, metrics=["alliance", "embedding_sync"], n_threads=2,
                            cache_dir=str(tmp_path))
    t = res.turns.to_pydict()
    role = corpus.role
    full = np.array(t["alliance_full"], dtype=float)
    assert np.isfinite(full[role != 2]).all()
    sims = np.array(t["emb_sim_prev"], dtype=float)
    assert np.nanmin(sims) > -1.0001 and np.nanmax(sims) < 1.0001
    assert np.isnan(sims[corpus.conv_offsets[:-1]]).all()


def test_scores_do_not_depend_on_chunking_or_blocks():
    emb, role, off, (wc, wt, _, _) = random_case(6)
    whole = alliance_scores(emb, role, wc, wt)
    cut = int(off[13])
    parts = np.concatenate([alliance_scores(emb[:cut], role[:cut], wc, wt, block=50),
                            alliance_scores(emb[cut:], role[cut:], wc, wt, block=7)])
    np.testing.assert_allclose(parts, whole, rtol=0, atol=1e-6, equal_nan=True)
    g_whole = alliance_gaps(whole, role, off)
    g_a = alliance_gaps(whole[:cut], role[:cut], off[:14])
    g_b = alliance_gaps(whole[cut:], role[cut:], off[13:] - cut)
    for k in g_whole:
        np.testing.assert_array_equal(np.concatenate([g_a[k], g_b[k]]), g_whole[k])
