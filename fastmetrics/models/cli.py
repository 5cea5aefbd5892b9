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


PAIRS_EXAMPLES = """\
examples:
  fastmetrics pairs results.json -o pairs/ --context-column context --a-column res_gold \\
      --b-column res_pred --labels human,llm
  fastmetrics pairs replies.csv -o pairs/ --context-format plain --empathy-model ~/models/empathy
"""


def _cmd_pairs(args) -> int:
    from .pairs import compare_pairs, format_table

    res = compare_pairs(args.input, args.context_column, args.a_column, args.b_column, args.labels,
                        empathy_model=args.empathy_model or None, context_format=args.context_format,
                        id_column=args.id_column, strategy_columns=args.strategy_columns,
                        n_boot=args.n_boot, seed=args.seed, alpha=args.alpha,
                        neg_threshold=args.neg_valence_threshold, on_empty=args.on_empty,
                        model_dir=args.model_dir or None,
                        cache_dir=args.cache_dir if args.cache_dir is not None else "",
                        n_threads=args.threads, out_dir=args.output)
    if not args.quiet:
        la, lb = res["labels"]
        print(f"{res['n_pairs']} pairs scored ({res['excluded']['total']} left out for an empty reply); "
              f"{lb} minus {la}")
        print(format_table(res))
        print(f"wrote {args.output}/pairs.parquet, summary.json, summary.md")
    return 0


def register_cli(sub) -> None:
    from . import default_models_dir
    from .pairs import CONTEXT_FORMATS

    pp = sub.add_parser("pairs", help="two replies (e.g. human vs model) to the same contexts, pair by pair",
                        description="Score two replies to every context (columns A and B) with the trained "
                                    "EPITOME empathy model and the BOLT behaviour classifier and compare them "
                                    "pair by pair: paired bootstrap CIs, Wilcoxon signed-rank and McNemar tests, "
                                    "problem-solving after a negative client turn. Writes OUT/pairs.parquet, "
                                    "summary.json, summary.md.",
                        epilog=PAIRS_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    pp.add_argument("input", metavar="INPUT", help="JSON list, JSON lines, CSV/TSV or Parquet; one row per context")
    pp.add_argument("-o", "--output", required=True, metavar="OUT", help="output folder")
    pp.add_argument("--context-column", default="context", help="column with the context (default: context)")
    pp.add_argument("--a-column", required=True, help="column with reply A (e.g. the human's)")
    pp.add_argument("--b-column", required=True, help="column with reply B (e.g. the model's)")
    pp.add_argument("--labels", default="a,b", metavar="A,B", help="names of the two sides (default: a,b)")
    pp.add_argument("--id-column", default=None, help="column carried as the pair id (default: sample_id or id "
                                                      "when present)")
    pp.add_argument("--strategy-columns", default=None, metavar="A_COL,B_COL",
                    help="columns with ESConv strategy labels of reply A and B (e.g. strg_gold,strg_pred): "
                         "also the behaviour profile of those labels mapped to BOLT categories")
    pp.add_argument("--context-format", choices=CONTEXT_FORMATS, default="auto",
                    help="esconv: supporter/seeker blocks with '- Utterance:' lines, the client context is "
                         "the seeker utterances after the last supporter block; plain: the text as it is; "
                         "auto (default): esconv where a context looks like it, else plain")
    pp.add_argument("--empathy-model", default="", metavar="DIR",
                    help="trained empathy model folder (default: the user's model folder; "
                         "`fastmetrics train empathy EPITOME_DIR` makes one)")
    pp.add_argument("--neg-valence-threshold", type=float, default=None,
                    help="the last client turn is negative when its VADER valence is <= this (default -0.05)")
    pp.add_argument("--on-empty", choices=("skip", "fail"), default="skip",
                    help="a missing or blank reply: leave the pair out (skip, default; counted) or fail")
    pp.add_argument("--n-boot", type=int, default=2000, help="bootstrap resamples (default 2000)")
    pp.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    pp.add_argument("--alpha", type=float, default=0.05, help="1 - CI level (default 0.05)")
    pp.add_argument("--model-dir", default="", help="sentence encoder folder (default: the built-in one)")
    pp.add_argument("--cache-dir", default=None, help="embedding cache folder ('none': no cache)")
    pp.add_argument("--threads", type=int, default=None, help="encoder threads")
    pp.add_argument("-q", "--quiet", action="store_true", help="no table on stdout")
    pp.set_defaults(func=_cmd_pairs)

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
