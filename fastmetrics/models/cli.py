"""Subcommands ``fastmetrics train empathy`` and ``fastmetrics pairs``."""
from __future__ import annotations

import argparse


def _cmd_train(args) -> int:
    from .empathy import train_empathy

    path = train_empathy(args.epitome_dir, args.output or None, model_dir=args.model_dir or None,
                         cache_dir=args.cache_dir if args.cache_dir is not None else "",
                         n_threads=args.threads, on_log=print)
    import json

    cv = json.loads((path / "manifest.json").read_text())["cv"]
    for m, s in cv.items():
        print(f"  {m}: grouped 5-fold CV Spearman {s['spearman']:.3f}, accuracy {s['accuracy']:.3f}, "
              f"macro-F1 {s['macro_f1']:.3f}")
    print(f"empathy model written to {path}")
    return 0


def _cmd_pairs(args) -> int:
    from .pairs import compare_pairs_file

    labels = [s.strip() for s in args.labels.split(",")]
    compare_pairs_file(args.input, args.output, context_column=args.context_column,
                       a_column=args.a_column, b_column=args.b_column, labels=labels,
                       empathy_model=args.empathy_model or None, n_boot=args.n_boot,
                       seed=args.seed, cache_dir=args.cache_dir if args.cache_dir is not None else "",
                       n_threads=args.threads, echo=print)
    return 0


def register_cli(sub) -> None:
    from . import default_models_dir

    p = sub.add_parser("train", help="train a single-turn model from the user's data")
    tsub = p.add_subparsers(dest="what", metavar="MODEL")
    t = tsub.add_parser("empathy", help="the EPITOME empathy model (Sharma et al., EMNLP 2020)",
                        description="Train the EPITOME empathy model (three mechanisms, levels 0-2) "
                                    "on the sentence encoder with a linear head chosen by grouped "
                                    "5-fold cross-validation by seeker post.")
    t.add_argument("epitome_dir", metavar="EPITOME_DIR",
                   help="folder with emotional-reactions-reddit.csv, interpretations-reddit.csv, "
                        "explorations-reddit.csv")
    t.add_argument("-o", "--output", default="",
                   help=f"model folder (default {default_models_dir() / 'empathy'}; "
                        "$FASTMETRICS_MODELS overrides the models folder)")
    t.add_argument("--model-dir", default="", help="sentence encoder folder (default: the built-in one)")
    t.add_argument("--cache-dir", default=None, help="embedding cache folder ('none': no cache)")
    t.add_argument("--threads", type=int, default=None, help="encoder threads")
    t.set_defaults(func=_cmd_train)
    p.set_defaults(func=lambda a: (p.print_help(), 2)[1])

    q = sub.add_parser("pairs", help="compare two replies to the same contexts (empathy, behaviours)",
                       description="Score reply A and reply B of every row with the empathy model and "
                                   "the behaviour classifier; paired Wilcoxon tests and bootstrap CIs.")
    q.add_argument("input", metavar="FILE", help="JSON list, JSONL, CSV or Parquet")
    q.add_argument("--context-column", required=True)
    q.add_argument("--a-column", required=True)
    q.add_argument("--b-column", required=True)
    q.add_argument("--labels", default="a,b", help="names of A and B (default a,b)")
    q.add_argument("-o", "--output", required=True, help="output folder (pairs.parquet, summary.json)")
    q.add_argument("--empathy-model", default="", help="empathy model folder (default: the user's)")
    q.add_argument("--n-boot", type=int, default=10000)
    q.add_argument("--seed", type=int, default=0)
    q.add_argument("--cache-dir", default=None)
    q.add_argument("--threads", type=int, default=None)
    q.set_defaults(func=_cmd_pairs)
