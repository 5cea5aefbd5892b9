"""Subcommands ``fastmetrics cache info|clear`` and ``fastmetrics neighbors``."""
from __future__ import annotations

import argparse

from ..errors import InputError


def _cmd_cache(args) -> int:
    from .cache import cache_info, clear_cache, resolve_cache_dir

    root = resolve_cache_dir(args.cache_dir if args.cache_dir is not None else "")
    if root is None:
        raise InputError("--cache-dir none: no cache to show or clear")
    if args.cache_action == "info":
        rows = cache_info(root)
        print(f"cache: {root}")
        if not rows:
            print("  (empty)")
        total = 0
        for r in rows:
            total += r["bytes"]
            print(f"  {r['entries']:>10,d} embeddings  {r['shards']:>5d} shards  "
                  f"{r['bytes'] / 2**20:>9.1f} MiB  {r['model_id']}")
        print(f"total {total / 2**20:.1f} MiB")
        return 0
    if args.cache_action == "compact":
        from pathlib import Path

        import numpy as np

        from .cache import EmbeddingCache

        for r in cache_info(root):
            vecs = sorted(Path(r["folder"]).glob("*.vec.npy"))
            if not vecs:
                continue
            dim = int(np.load(vecs[0], mmap_mode="r").shape[1])
            n = EmbeddingCache(root, r["model_id"], dim).compact()
            print(f"  {n:,d} embeddings in one shard: {r['model_id']}")
        return 0
    n = clear_cache(root)
    print(f"removed {n} model folder(s) from {root}")
    return 0


def _cmd_neighbors(args) -> int:
    import numpy as np
    import pyarrow as pa

    from ..api import load
    from ..corpus import ROLE_NAMES
    from .api import encode_corpus
    from .encoder import get_encoder
    from .search import TurnIndex

    corpus = load(args.input, format=args.format)
    enc = get_encoder(args.model_dir or None, n_threads=args.threads)
    emb = encode_corpus(corpus, encoder=enc, cache_dir=args.cache_dir if args.cache_dir is not None else "")
    index = TurnIndex(emb, role=corpus.role, restrict_role=args.role)
    conv = corpus.conv_index
    pos = corpus.position
    if args.query:
        q = enc.encode(args.query)
        qrows = None
        idx, sc = index.search(q, args.k, n_threads=args.threads)
        qlabels = list(args.query)
    else:
        qrows = np.arange(corpus.n_turns, dtype=np.int64)
        if args.query_role:
            code = ROLE_NAMES.index(args.query_role)
            qrows = qrows[corpus.role == code]
        idx, sc = index.search(emb[qrows], args.k, exclude=qrows, n_threads=args.threads)
        qlabels = None
    m, k = idx.shape
    flat = idx.ravel()
    ok = flat >= 0
    safe = np.where(ok, flat, 0)
    texts = corpus.text.take(pa.array(safe)).to_pylist()
    cids = corpus.conversation_id.take(pa.array(conv[safe])).to_pylist()
    cols = {
        "query": (np.repeat(np.arange(m), k)),
        "rank": np.tile(np.arange(1, k + 1), m),
        "conversation_id": [c if o else None for c, o in zip(cids, ok)],
        "turn": np.where(ok, pos[safe], -1),
        "role": [ROLE_NAMES[corpus.role[i]] if o else None for i, o in zip(safe, ok)],
        "score": sc.ravel(),
        "text": [t if o else None for t, o in zip(texts, ok)],
    }
    if qlabels is not None:
        cols["query_text"] = [qlabels[i] for i in cols["query"]]
    else:
        qc = corpus.conversation_id.take(pa.array(conv[qrows])).to_pylist()
        cols["query_conversation_id"] = [qc[i] for i in cols["query"]]
        cols["query_turn"] = pos[qrows][cols["query"]]
    if args.replies:
        from .search import next_turn_of_role

        rep = next_turn_of_role(corpus.role, corpus.conv_offsets, np.where(ok, flat, -1), args.replies)
        rok = rep >= 0
        rtext = corpus.text.take(pa.array(np.where(rok, rep, 0))).to_pylist()
        cols["reply_turn"] = np.where(rok, pos[np.where(rok, rep, 0)], -1)
        cols["reply_text"] = [t if o else None for t, o in zip(rtext, rok)]
    table = pa.table(cols)
    if args.output:
        out = str(args.output)
        if out.endswith(".csv"):
            import pyarrow.csv as pcsv

            pcsv.write_csv(table, out)
        else:
            import pyarrow.parquet as pq

            pq.write_table(table, out)
        print(f"wrote {table.num_rows} rows to {out}")
        return 0
    if qlabels is None and m > 20:
        raise InputError("neighbours of every turn: give -o FILE.parquet (or .csv), or --query TEXT")
    for qi in range(m):
        head = (qlabels[qi] if qlabels is not None
                else f"{cols['query_conversation_id'][qi * k]} turn {cols['query_turn'][qi * k]}")
        print(f"query: {head}")
        for j in range(k):
            r = qi * k + j
            if cols["conversation_id"][r] is None:
                continue
            print(f"  {cols['score'][r]:.3f}  {cols['conversation_id'][r]}#{cols['turn'][r]} "
                  f"[{cols['role'][r]}] {cols['text'][r]}")
            if args.replies and cols["reply_text"][r] is not None:
                print(f"         -> #{cols['reply_turn'][r]} [{args.replies}] {cols['reply_text'][r]}")
    return 0


def register_cli(subparsers) -> None:
    """Add ``cache`` and ``neighbors`` to the ``fastmetrics`` command line."""
    pc = subparsers.add_parser("cache", help="inspect or clear the embedding cache",
                               description="The content-addressed embedding cache (one folder per "
                                           "model). Default location: $FASTMETRICS_CACHE_DIR or "
                                           "~/.cache/fastmetrics/embeddings.")
    pc.add_argument("cache_action", choices=("info", "clear", "compact"),
                    help="info: entries and size per model; clear: delete; compact: merge shards")
    pc.add_argument("--cache-dir", default=None, help="cache folder (default: the default location)")
    pc.set_defaults(func=_cmd_cache)

    pn = subparsers.add_parser(
        "neighbors", help="most similar turns of a corpus (faiss, sentence embeddings)",
        description="For query texts (--query) or for every turn, the k most similar turns of the "
                    "corpus by cosine of sentence embeddings, optionally only turns of one role "
                    "(e.g. how other supporters answered similar disclosures).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n"
               "  fastmetrics neighbors ESConv.json --query \"I lost my job\" --role client --replies therapist\n"
               "  fastmetrics neighbors chats.csv --query-role client --role client -k 3 -o nn.parquet")
    pn.add_argument("input", help="corpus file (any format fastmetrics loads)")
    pn.add_argument("--format", default="auto")
    pn.add_argument("--query", action="append", help="query text (repeatable); default: every turn")
    pn.add_argument("-k", type=int, default=5, help="neighbours per query (default 5)")
    pn.add_argument("--role", choices=("client", "therapist", "other"),
                    help="only return turns of this role")
    pn.add_argument("--query-role", choices=("client", "therapist", "other"),
                    help="without --query: only turns of this role are queries")
    pn.add_argument("--replies", choices=("client", "therapist", "other"),
                    help="also show the next turn of this role after each neighbour (e.g. how "
                         "supporters answered similar client disclosures)")
    pn.add_argument("-o", "--output", help="write a Parquet (or .csv) table instead of printing")
    pn.add_argument("--model-dir", default="", help="encoder directory (model.onnx + tokenizer.json)")
    pn.add_argument("--cache-dir", default=None, help="embedding cache folder ('none': no cache)")
    pn.add_argument("--threads", type=int, default=None, help="encoder and search threads")
    pn.set_defaults(func=_cmd_neighbors)
