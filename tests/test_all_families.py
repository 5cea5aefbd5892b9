"""Every metric family together through the CLI, then the study on its output (integration)."""
import json

import numpy as np
import pyarrow.parquet as pq

from fastmetrics import registry
from fastmetrics.cli import main

ALL = [n for n in registry.names() if n != "basic"]


def test_every_family_together_then_the_study(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["score", "--demo", "-o", str(out), "-q", "--metrics", ",".join(ALL)]) == 0, \
        capsys.readouterr().err
    turns = pq.read_table(out / "turns.parquet")
    convs = pq.read_table(out / "conversations.parquet")
    meta = pq.read_schema(out / "turns.parquet").metadata
    assert set(meta[b"fastmetrics.metrics"].decode().split(",")) == {"basic", *ALL}
    assert not [k for k in meta if k.startswith(b"fastmetrics.fastmetrics.")]
    for name in ALL:  # every family wrote the columns it declares
        fam = registry.get(name)
        missing_t = [c for c in fam.turn_columns if c not in turns.column_names and "<" not in c]
        missing_c = [c for c in fam.conversation_columns if c not in convs.column_names and "<" not in c]
        assert not missing_t and not missing_c, (name, missing_t, missing_c)
    assert convs.num_rows == 36 and turns.num_rows == 324
    # trajectory features were computed for metric series too (wmd_prev holds +inf values)
    assert "wmd_prev_mean" in convs.column_names and "valence_mean" in convs.column_names
    assert np.isfinite(np.array(convs.column("wmd_prev_mean").to_pylist(), dtype=float)).all()
    rep = tmp_path / "report"
    assert main(["study", str(out), "-o", str(rep), "--outcome", "final_emotion_intensity",
                 "--control", "initial_emotion_intensity", "--n-boot", "200", "--repeats", "1"]) == 0, \
        capsys.readouterr().err
    res = json.loads((rep / "results.json").read_text())
    assert res["n_conversations"] == 36 and res["features"]
    # every family's supporter signal is compared signal by signal
    assert {r["group"] for r in res["signal_comparison"]} >= {
        "empathy", "valence", "alliance", "embedding_sync", "style_sync"}
    assert (rep / "report.html").stat().st_size > 0
