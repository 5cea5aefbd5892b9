"""Seeded generator of large ESConv-like corpora for corpus-scale benchmarks.

The distributions come from the real ESConv files in ``../shared/data/esconv/`` (read at run
time, never copied into the repository): conversation lengths (turns), turn lengths (word
tokens), the speaker-run structure (probability that the next turn changes speaker), and the
word unigram frequencies. Turns are bags of words drawn from those frequencies, joined by
spaces, with sentence punctuation. Deterministic for a given ``seed`` and data.

Append-only: benchmarks quote figures measured on ``generate(n, seed=0)``; change nothing
that alters its output. Add a new generator version instead.

Usage::

    python benchmarks/generate_corpus.py 1000000 --out /tmp/corpus1m   # writes .parquet + .jsonl
"""
from __future__ import annotations

import argparse
import json
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "esconv"
_WORD = re.compile(r"\w+")


def esconv_stats(data_dir: Path = DATA) -> dict:
    """Empirical distributions of ESConv (train + valid)."""
    files = [data_dir / "ESConv-train.jsonl", data_dir / "ESConv-valid.jsonl"]
    missing = [str(f) for f in files if not f.exists()]
    if missing:
        raise FileNotFoundError(f"ESConv files needed for the generator are missing: {missing}")
    conv_lens, turn_lens, changes, words = [], [], [], Counter()
    for f in files:
        for line in f.read_text(encoding="utf-8").splitlines():
            d = json.loads(line)
            dialog = d["dialog"]
            conv_lens.append(len(dialog))
            prev = None
            for t in dialog:
                toks = _WORD.findall(t["text"].lower())
                turn_lens.append(max(1, len(toks)))
                words.update(toks)
                if prev is not None:
                    changes.append(t["speaker"] != prev)
                prev = t["speaker"]
    vocab = sorted(words, key=lambda w: (-words[w], w))
    freq = np.array([words[w] for w in vocab], dtype=np.float64)
    return {"conv_lens": np.array(conv_lens), "turn_lens": np.array(turn_lens),
            "p_change": float(np.mean(changes)), "vocab": vocab, "p_word": freq / freq.sum()}


def generate(n_turns: int, seed: int = 0, stats: dict | None = None) -> pa.Table:
    """A long-format table of about ``n_turns`` turns (whole conversations).

    Columns: ``conversation_id`` (string), ``turn`` (int32, 0-based), ``speaker`` ("usr"/"sys"),
    ``text`` (string).
    """
    stats = stats or esconv_stats()
    rng = np.random.default_rng(seed)
    lens = []
    total = 0
    while total < n_turns:
        n = int(rng.choice(stats["conv_lens"]))
        n = min(n, n_turns - total) if n_turns - total >= 2 else n
        n = max(n, 2)
        lens.append(n)
        total += n
    lens = np.array(lens, dtype=np.int64)
    n_conv = len(lens)
    conv_idx = np.repeat(np.arange(n_conv), lens)
    starts = np.concatenate([[0], np.cumsum(lens)[:-1]])
    turn = (np.arange(total) - np.repeat(starts, lens)).astype(np.int32)
    # speakers: first turn random, then change with the empirical probability; force both to appear
    change = rng.random(total) < stats["p_change"]
    change[starts] = False
    first = rng.integers(0, 2, n_conv)
    flips = np.cumsum(change)
    flips_at_start = np.repeat(flips[starts], lens)
    spk = (np.repeat(first, lens) + flips - flips_at_start) % 2
    spk[starts + 1] = 1 - spk[starts]
    speaker = np.where(spk == 0, "usr", "sys")
    tl = rng.choice(stats["turn_lens"], size=total)
    word_ids = rng.choice(len(stats["vocab"]), size=int(tl.sum()), p=stats["p_word"])
    vocab = pa.array(stats["vocab"])
    words = vocab.take(pa.array(word_ids))
    offsets = np.concatenate([[0], np.cumsum(tl)]).astype(np.int32)
    lists = pa.ListArray.from_arrays(pa.array(offsets), words)
    text = pc.binary_join(lists, " ")
    punct = pa.array(np.array([".", "?", "!", ""])[rng.choice(4, size=total, p=[0.6, 0.25, 0.05, 0.1])])
    text = pc.binary_join_element_wise(text, punct, "")
    # capitalise the first letter, as people write
    text = pc.utf8_capitalize(text)
    conv_ids = pa.array([f"g{seed}-{i:07d}" for i in range(n_conv)]).take(pa.array(conv_idx))
    return pa.table({"conversation_id": conv_ids, "turn": turn, "speaker": pa.array(speaker), "text": text})


def write(table: pa.Table, stem: Path) -> dict[str, Path]:
    """Write ``stem.parquet`` and ``stem.jsonl``."""
    import pyarrow.parquet as pq

    stem.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, stem.with_suffix(".parquet"), row_group_size=100_000)
    with open(stem.with_suffix(".jsonl"), "w", encoding="utf-8") as fh:
        for batch in table.to_batches(max_chunksize=100_000):
            cols = batch.to_pydict()
            for c, t, s, x in zip(cols["conversation_id"], cols["turn"], cols["speaker"], cols["text"]):
                fh.write(json.dumps({"conversation_id": c, "turn": t, "speaker": s, "text": x}) + "\n")
    return {"parquet": stem.with_suffix(".parquet"), "jsonl": stem.with_suffix(".jsonl")}


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("n_turns", type=int)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, required=True, help="output stem (writes .parquet and .jsonl)")
    a = ap.parse_args()
    t = generate(a.n_turns, a.seed)
    print(write(t, a.out))
