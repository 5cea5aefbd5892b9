"""``fastmetrics bench``: the side-by-side benchmarks on this machine (a CLI plugin)."""
from __future__ import annotations

import json
from pathlib import Path


def register_cli(subparsers) -> None:
    p = subparsers.add_parser("bench", help="time fastmetrics against the installed peer tools",
                              description="Runs each workload against the installed peers (POT, gensim, "
                                          "vaderSentiment, pandas, sentence-transformers), checks the "
                                          "values first, then prints the median time ratios. Missing "
                                          "peers are named and skipped.")
    size = p.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="quick sizes (the default)")
    size.add_argument("--full", action="store_true", help="the published sizes (slower)")
    p.add_argument("--repeats", type=int, default=None, help="interleaved repeats (default 3 quick, 5 full)")
    p.add_argument("--threads", type=int, default=1, help="Numba threads (default 1)")
    p.add_argument("--peer", action="append", default=None, help="run only this peer (repeatable)")
    p.add_argument("--skip", action="append", default=[], help="treat this peer as not installed")
    p.add_argument("-o", "--output", help="write the results as JSON to this file")
    p.set_defaults(func=_run)


def _run(args) -> int:
    from ..errors import InputError
    from .peers import PEERS, format_table, run_bench

    for name in (args.peer or []) + list(args.skip):
        if name not in PEERS:
            raise InputError(f"bench: unknown peer {name!r}; peers are {', '.join(PEERS)}")
    if args.repeats is not None and args.repeats < 1:
        raise InputError(f"bench: --repeats must be >= 1, got {args.repeats}")
    report = run_bench(full=args.full, repeats=args.repeats, peers=args.peer, missing=tuple(args.skip),
                       threads=args.threads)
    print(format_table(report))
    if args.output:
        Path(args.output).write_text(json.dumps(report, indent=2) + "\n")
    return 1 if any(r["status"] == "mismatch" for r in report["results"]) else 0
