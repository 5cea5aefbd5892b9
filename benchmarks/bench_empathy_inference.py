"""Empathy-model inference speed with cached embeddings (turns/s), on EPITOME's pairs.

    python benchmarks/bench_empathy_inference.py MODEL_DIR ../shared/data/epitome [--repeat 20]
"""
from __future__ import annotations

import argparse
import time

from fastmetrics.models.empathy import EmpathyModel, embed_pairs, load_epitome


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("epitome")
    ap.add_argument("--repeat", type=int, default=20)
    a = ap.parse_args()
    m = EmpathyModel.load(a.model)
    d = load_epitome(a.epitome)
    ce, re_, _ = embed_pairs(d["seeker_post"], d["response_post"])  # from the cache
    ct, rt = d["seeker_post"], d["response_post"]
    m.expected_levels(ce, re_, ct, rt)
    t = time.perf_counter()
    for _ in range(a.repeat):
        m.expected_levels(ce, re_, ct, rt)
    dt = (time.perf_counter() - t) / a.repeat
    print(f"{len(rt)} turns in {dt * 1e3:.1f} ms: {len(rt) / dt:,.0f} turns/s (cached embeddings)")


if __name__ == "__main__":
    main()
