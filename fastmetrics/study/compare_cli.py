"""``fastmetrics compare SCORED_A SCORED_B --labels human,model -o OUT`` (or ``SCORED --group-column COL``)."""
from __future__ import annotations

import argparse

EXAMPLES = """\
examples:
  fastmetrics compare human/ model/ --labels human,model -o cmp/
  fastmetrics compare scored/ --group-column quality -o cmp/ --match-length
"""


def cmd_compare(args) -> int:
    from ..errors import InputError
    from .compare import compare

    if len(args.scored) > 2:
        raise InputError(f"compare takes one or two scored folders, got {len(args.scored)}")
    res = compare(args.scored[0], args.scored[1] if len(args.scored) > 1 else None, labels=args.labels,
                  group_column=args.group_column, out_dir=args.output, n_boot=args.n_boot,
                  seed=args.seed, alpha=args.alpha, match_length=args.match_length,
                  metrics=[m for m in (args.metrics or "").split(",") if m] or None,
                  report=not args.no_report)
    if not args.quiet:
        a, b = res["labels"]
        print(f"{b} minus {a}: {len(res['metrics'])} metrics, {res['n_conversations'][0]} and "
              f"{res['n_conversations'][1]} conversations")
        ent = res["entrainment"]
        if ent:
            print(f"entrainment gap on {ent['le_column']}: {ent['gap']:.4g} "
                  f"[{ent['ci'][0]:.4g}, {ent['ci'][1]:.4g}]; more entrained: {ent['more_entrained']}")
        print(f"wrote {args.output}/results.json" + ("" if args.no_report else
                                                      f", {args.output}/compare.png and {args.output}/index.html"))
    return 0


def register_cli(subparsers) -> None:
    """Add the ``compare`` subcommand."""
    p = subparsers.add_parser(
        "compare", help="two groups (e.g. human vs model) metric by metric, with bootstrap CIs",
        description="Group differences of every metric of two scored folders (or of the two values "
                    "of a conversation column), conversation-level bootstrap CIs, length-adjusted "
                    "and optionally length-matched; the entrainment gap and the single-turn empathy "
                    "gap next to the relational gaps. Writes OUT/results.json, compare.png, index.html.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("scored", nargs="+", metavar="SCORED", help="one or two folders written by `fastmetrics score`")
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="output folder")
    p.add_argument("--labels", metavar="A,B", help="names of the two groups (default: A,B, or the "
                   "group column's values in sorted order)")
    p.add_argument("--group-column", metavar="COL", help="conversation column with exactly two values")
    p.add_argument("--match-length", action="store_true", help="also the nearest-neighbour length-matched difference")
    p.add_argument("--metrics", metavar="COLS", help="comma-separated metrics (default: every shared one)")
    p.add_argument("--n-boot", type=int, default=2000, help="bootstrap resamples (default 2000)")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    p.add_argument("--alpha", type=float, default=0.05, help="1 - CI level (default 0.05)")
    p.add_argument("--no-report", action="store_true", help="results.json only")
    p.add_argument("-q", "--quiet", action="store_true")
    p.set_defaults(func=cmd_compare)
