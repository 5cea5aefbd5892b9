"""The wmd/nclid families through the pipeline, and nCLiD on real ESConv against the published
code's algorithm (gensim ``wmdistance`` loops)."""
from __future__ import annotations

import json
import logging
import math
import re

import numpy as np
import pytest
from conftest import BACKENDS

from fastmetrics.testing.reference_ot import published_direction

gensim = pytest.importorskip("gensim", reason="gensim is the reference for wmdistance")


def published_nclid(contents, speakers, kv, anchor, coord, k=3):
    """The published algorithm on raw utterances (tokenised as the public code does)."""
    prep = [re.findall(r"\w+", c.lower()) for c in contents]
    return published_direction(prep, speakers, kv, anchor, coord, k=k)


@pytest.mark.realdata
@pytest.mark.parametrize("backend", BACKENDS)
def test_nclid_on_esconv_matches_the_published_algorithm(esconv_dir, backend):
    from gensim.models import KeyedVectors

    import fastmetrics
    from fastmetrics import ot as fo
    from fastmetrics.vectors import load_vectors

    logging.getLogger("gensim").setLevel(logging.ERROR)
    wv = load_vectors()
    kv = KeyedVectors(wv.dim)
    kv.add_vectors(wv.words.to_pylist(), np.asarray(wv.matrix))
    lines = (esconv_dir / "ESConv-valid.jsonl").read_text(encoding="utf-8").splitlines()[:2]
    corpus = fastmetrics.load(esconv_dir / "ESConv-valid.jsonl").select(np.arange(2))
    res = fo.nclid(corpus, wv, backend=backend)
    for c, line in enumerate(lines):
        dialog = json.loads(line)["dialog"]
        contents = [t["text"] for t in dialog]
        speakers = [t["speaker"] for t in dialog]
        assert corpus.conv_offsets[c + 1] - corpus.conv_offsets[c] == len(dialog)
        for anchor, coord, name in (("usr", "sys", "therapist_to_client"), ("sys", "usr", "client_to_therapist")):
            u, n = published_nclid(contents, speakers, kv, anchor, coord)
            assert res[f"uclid_{name}"][c] == pytest.approx(u, rel=1e-6)
            assert res[f"nclid_{name}"][c] == pytest.approx(n, rel=1e-6)


def test_score_writes_wmd_and_nclid_columns(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    import fastmetrics
    from fastmetrics.vectors import load_vectors

    try:
        load_vectors()
    except Exception as exc:  # noqa: BLE001 - the default table is a runtime dependency
        pytest.skip(f"default vectors unavailable: {exc}")
    table = pa.table({
        "conversation_id": ["a", "a", "a", "a", "b", "b", "b"],
        "speaker": ["client", "therapist", "client", "therapist", "client", "therapist", "client"],
        "text": ["I feel sad and tired", "I am sorry you feel sad", "work has been hard",
                 "what happened at work?", "zzqx", "hello there", "hello"],
    })
    out = tmp_path / "out"
    fastmetrics.score(table, metrics=["wmd", "nclid"], out_dir=out, nclid_k=2)
    turns = pq.read_table(out / "turns.parquet")
    convs = pq.read_table(out / "conversations.parquet")
    w = turns.column("wmd_prev").to_pylist()
    assert w[0] is None and w[4] is None
    assert all(v is not None and 0 < v < math.inf for v in w[1:4])
    assert w[5] == math.inf  # previous turn has no in-vocabulary token
    for col in ("uclid_therapist_to_client", "nclid_therapist_to_client", "uclid_client_to_therapist",
                "nclid_client_to_therapist", "nclid"):
        assert col in convs.column_names
    meta = pq.read_metadata(out / "turns.parquet").metadata or {}
    meta.update(pq.read_metadata(out / "conversations.parquet").metadata or {})
    assert any(b"glove-6b-50d" in v for v in meta.values())


def test_cli_options_reach_the_families(tmp_path):
    import pyarrow.parquet as pq

    from fastmetrics.cli import main
    from fastmetrics.vectors import load_vectors

    try:
        load_vectors()
    except Exception as exc:  # noqa: BLE001
        pytest.skip(f"default vectors unavailable: {exc}")
    src = tmp_path / "chats.csv"
    src.write_text("conversation_id,speaker,text\n"
                   "a,client,I feel sad and tired\n"
                   "a,therapist,I am sorry you feel sad\n"
                   "a,client,work has been hard\n"
                   "a,therapist,what happened at work?\n", encoding="utf-8")
    outs = {}
    for name, extra in (("default", []), ("raw", ["--no-normalize-vectors", "--nclid-k", "1",
                                                  "--nclid-denominator", "mean"])):
        out = tmp_path / name
        assert main(["score", str(src), "-o", str(out), "--metrics", "wmd,nclid", "-q", *extra]) == 0
        outs[name] = (pq.read_table(out / "turns.parquet"), pq.read_table(out / "conversations.parquet"))
    d_def = outs["default"][0].column("wmd_prev").to_pylist()
    d_raw = outs["raw"][0].column("wmd_prev").to_pylist()
    assert d_def[0] is None and d_raw[0] is None
    assert all(x < y for x, y in zip(d_def[1:], d_raw[1:]))  # raw GloVe vectors are longer than unit
    assert outs["default"][1].column("nclid")[0].as_py() != outs["raw"][1].column("nclid")[0].as_py()
