"""Cost of the synchrony surrogates relative to the metric itself.

Workload: seeded ESConv-like conversations (``--conversations``, lengths 8..40 turns, speakers
alternating with occasional double turns, 3..25 words per turn from a function-word-rich
vocabulary). Timed, after one warm-up call of each (Numba kernels loaded):

* ``metric``: what the three families compute per chunk — ``category_counts`` +
  ``sync_from_counts`` (LSM, rLSM, windowed rLSM, coordination);
* ``surrogates N``: ``category_counts`` + ``sync_surrogates`` with N surrogates (lsm_prev mean,
  rLSM and coordination both ways, observed and N shuffles, one kernel call) plus the
  per-conversation seeds (BLAKE2b of the ids) and ``summarise``.

The multiple is median(surrogates N) / median(metric); "per surrogate" divides the extra time by
N. Tokenisation is excluded on both sides (shared with the metric). Timings are medians of
``--repeats`` runs.

nCLiD (``nclid`` in the output; the first ``--nclid-conversations`` conversations, 0 skips it):
the exact WMD of every client/therapist turn pair (``nclid_distances``, default GloVe vectors)
is timed once, then, as medians, ``metric`` = the nCLiD reduction of both directions from those
distances and ``surrogates N`` = ``nclid_surrogates`` (N shuffles re-read the same matrix, no new
WMD) plus the seeds and ``summarise``. Multiples are given against the reduction and against
the whole family (distances + reduction).

Usage: python benchmarks/bench_surrogates.py [--conversations 20000] [--n 20,100] [--repeats 5]
       [--threads 1] [--nclid-conversations 2000] [--out benchmarks/results/surrogates.json]
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import cpu_model, loadavg  # noqa: E402

HERE = Path(__file__).resolve().parent
WORDS = ["i", "you", "it", "we", "the", "a", "an", "is", "was", "are", "be", "have", "do", "not", "very", "so",
         "just", "really", "in", "on", "at", "with", "to", "of", "and", "but", "or", "if", "because", "all",
         "some", "many", "much", "more", "feel", "sad", "work", "day", "family", "friend", "help", "talk",
         "think", "know", "hard", "sorry", "good", "time", "what", "how", "when"]


def corpus(n_conv: int, seed: int = 0):
    import fastmetrics as fm

    rng = np.random.default_rng(seed)
    lengths = rng.integers(8, 41, n_conv)
    off = np.zeros(n_conv + 1, dtype=np.int64)
    off[1:] = np.cumsum(lengths)
    role = np.concatenate([(np.arange(n) + (rng.random(n) < 0.1)) % 2 for n in lengths]).astype(np.int8)
    text = [" ".join(rng.choice(WORDS, int(k))) for k in rng.integers(3, 26, int(off[-1]))]
    return fm.Corpus(conversation_id=pa.array([f"conv-{i}" for i in range(n_conv)]), conv_offsets=off,
                     role=role, speaker=pa.array(["x"] * len(text)), text=pa.array(text))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--conversations", type=int, default=20000)
    ap.add_argument("--n", default="20,100")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--nclid-conversations", type=int, default=2000,
                    help="conversations of the nCLiD part (0: skip it)")
    ap.add_argument("--out", default=str(HERE / "results" / "surrogates.json"))
    args = ap.parse_args(argv)

    from fastmetrics.lexicon import builtin_lexicon
    from fastmetrics.metrics.sync import SURROGATE_MEASURES, category_counts, sync_from_counts, sync_surrogates
    from fastmetrics.surrogates import conversation_seeds, summarise

    c = corpus(args.conversations)
    tok = c.tokens()
    mask = builtin_lexicon().vocab_mask(tok.vocab)
    n_words = np.diff(tok.token_offsets)
    ids = c.conversation_id.to_pylist()
    nt = args.threads

    def metric():
        counts = category_counts(tok.token_offsets, tok.token_ids, mask, n_threads=nt)
        sync_from_counts(c.conv_offsets, c.role, counts, n_words, n_threads=nt)

    def surrogates(n):
        counts = category_counts(tok.token_offsets, tok.token_ids, mask, n_threads=nt)
        obs, sur = sync_surrogates(c.conv_offsets, c.role, counts, n_words, conversation_seeds(ids, 0), n,
                                   n_threads=nt)
        for i, name in enumerate(SURROGATE_MEASURES):
            summarise(name, obs[:, i], sur[:, i])

    def timed(fn):
        fn()  # warm-up
        out = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            fn()
            out.append(time.perf_counter() - t0)
        return statistics.median(out), out

    base, base_all = timed(metric)
    res = {"conversations": args.conversations, "turns": int(c.n_turns), "threads": nt,
           "repeats": args.repeats, "cpu": cpu_model(), "loadavg_before": loadavg(),
           "metric_s": base, "metric_runs_s": base_all, "surrogates": {}}
    for n in [int(x) for x in args.n.split(",") if x]:
        med, runs = timed(lambda: surrogates(n))
        res["surrogates"][str(n)] = {"seconds": med, "runs_s": runs, "multiple": med / base,
                                     "extra_per_surrogate_multiple": (med - base) / base / n}
    if args.nclid_conversations > 0:
        res["nclid"] = nclid_part(c.select(np.arange(min(args.nclid_conversations, c.n_conversations))),
                                  [int(x) for x in args.n.split(",") if x], nt, timed)
    res["loadavg_after"] = loadavg()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(res, indent=1))
    print(f"metric: {base:.3f} s on {res['turns']} turns ({nt} thread(s))")
    for n, r in res["surrogates"].items():
        print(f"N={n}: {r['seconds']:.3f} s = {r['multiple']:.1f}x the metric "
              f"({r['extra_per_surrogate_multiple']:.3f}x per surrogate)")
    if "nclid" in res:
        r = res["nclid"]
        print(f"nclid: distances {r['distances_s']:.3f} s, reduction {r['metric_s']:.4f} s on "
              f"{r['conversations']} conversations")
        for n, q in r["surrogates"].items():
            print(f"  N={n}: {q['seconds']:.4f} s = {q['multiple']:.1f}x the reduction, "
                  f"{q['multiple_of_family']:.3f}x distances + reduction")
    return 0


def nclid_part(c, ns, nt, timed) -> dict:
    """nCLiD: distances once (timed once), then the reduction and N surrogates from them."""
    from fastmetrics.ot import NCLID_SURROGATE_MEASURES, nclid, nclid_distances, nclid_surrogates
    from fastmetrics.surrogates import conversation_seeds, summarise

    t0 = time.perf_counter()
    dist = nclid_distances(c, n_threads=nt)
    d_s = time.perf_counter() - t0
    ids = c.conversation_id.to_pylist()
    obs = nclid(c, distances=dist, n_threads=nt)

    def surrogates(n):
        sur = nclid_surrogates(dist, conversation_seeds(ids, 0), n, n_threads=nt)
        for i, name in enumerate(NCLID_SURROGATE_MEASURES):
            summarise(name, obs[name], sur[:, i])

    base, base_all = timed(lambda: nclid(c, distances=dist, n_threads=nt))
    out = {"conversations": int(c.n_conversations), "turns": int(c.n_turns), "distances_s": d_s,
           "metric_s": base, "metric_runs_s": base_all, "surrogates": {}}
    for n in ns:
        med, runs = timed(lambda n=n: surrogates(n))
        out["surrogates"][str(n)] = {"seconds": med, "runs_s": runs, "multiple": med / base,
                                     "multiple_of_family": med / (d_s + base),
                                     "per_surrogate_multiple": med / base / n}
    return out


if __name__ == "__main__":
    raise SystemExit(main())
