"""Every family with CUDA kernels, scored through the pipeline with --backend cuda, equals the
CPU backends (run in numba-cuda's simulator where no GPU is present; on a GPU, on the device)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("numba_cuda")

CODE = textwrap.dedent(r"""
    import json, sys
    import numpy as np, pyarrow as pa
    import fastmetrics as fm
    from fastmetrics import backends
    assert backends.available("cuda"), backends.why_not("cuda")
    rng = np.random.default_rng(5)
    words = "i feel so sad you are not alone that sounds hard what happened we can try".split()
    rows = [{"conversation_id": f"c{c}", "turn": t, "speaker": ["usr", "sys"][t % 2],
             "text": " ".join(rng.choice(words, int(rng.integers(1, 7)))) if (c, t) != (1, 2) else "??",
             "score": float(rng.normal())}
            for c in range(5) for t in range(int(rng.integers(2, 8)))]
    table = pa.Table.from_pylist(rows)
    # the simulator runs each CUDA thread as a Python thread: Sinkhorn's thousands of
    # synchronised iterations get one four-turn conversation there (its kernel has its own
    # tests in test_cuda_kernels.py); on a GPU the whole table
    tiny = pa.Table.from_pylist([{"conversation_id": "s", "turn": t, "speaker": ["usr", "sys"][t % 2],
                                  "text": x, "score": 0.0}
                                 for t, x in enumerate(["i feel sad", "that sounds hard", "we can try",
                                                        "you are not alone"])])
    sink_table = tiny if sys.argv[2] == "sim" else table
    out = {}
    for fam, opts in (("wmd", {}), ("nclid", {}), ("nclid", {"nclid_mode": "sinkhorn"}),
                      ("trajectory", {"trajectory": ["score", "score:client"]}),
                      ("embedding_sync", {"cache_dir": sys.argv[1]}),
                      ("alliance", {"cache_dir": sys.argv[1]})):
        tab = sink_table if opts.get("nclid_mode") == "sinkhorn" else table
        ref = fm.score(tab, metrics=[fam], backend="numba", **opts)
        got = fm.score(tab, metrics=[fam], backend="cuda", **opts)
        ran = json.loads(got.metadata["fastmetrics.backends"])[fam]
        diffs = {}
        for level in ("turns", "conversations"):
            a, b = getattr(ref, level), getattr(got, level)
            assert a.column_names == b.column_names
            for name in a.column_names:
                x, y = a.column(name), b.column(name)
                if pa.types.is_floating(x.type):
                    xa, ya = x.to_numpy(zero_copy_only=False), y.to_numpy(zero_copy_only=False)
                    same = (np.isnan(xa) == np.isnan(ya)).all()
                    fin = np.isfinite(xa) & np.isfinite(ya)
                    rel = (float(np.max(np.abs(xa[fin] - ya[fin]) / np.maximum(np.abs(xa[fin]), 1e-300)))
                           if fin.any() else 0.0)
                    diffs[name] = rel if same and (np.isinf(xa) == np.isinf(ya)).all() else float("inf")
                else:
                    assert x.to_pylist() == y.to_pylist(), name
        out[f"{fam}{opts.get('nclid_mode', '')}"] = {"ran": ran, "max_rel": max(diffs.values(), default=0.0)}
    print(json.dumps(out))
""")


def test_cuda_backend_through_the_pipeline(tmp_path):
    from fastmetrics._cuda_support import cuda_status

    env = dict(os.environ)
    ok, _ = cuda_status()
    sim = not ok or "simulator" in _
    if sim:
        env["NUMBA_ENABLE_CUDASIM"] = "1"
    r = subprocess.run([sys.executable, "-c", CODE, str(tmp_path / "cache"), "sim" if sim else "gpu"], env=env,
                       capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads(r.stdout.strip().splitlines()[-1])
    for fam, info in res.items():
        assert "cuda" in info["ran"].values(), (fam, info["ran"])
        # exact kernels are bit for bit; float32 embedding cosines to float32 round-off
        tol = 1e-6 if fam in ("embedding_sync", "alliance") else 0.0
        if fam == "nclidsinkhorn":
            tol = 1e-12
        assert info["max_rel"] <= tol, (fam, info)
