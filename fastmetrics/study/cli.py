"""``fastmetrics study SCORED_DIR -o REPORT_DIR --outcome COL [--control COL] ...``."""
from __future__ import annotations

import argparse

EXAMPLES = """\
examples:
  fastmetrics score FailedESConv-dev.json -o scored/ --metrics basic
  fastmetrics study scored/ -o report/ --outcome final_emotion_intensity \\
      --control initial_emotion_intensity
  fastmetrics study scored/ -o report/ --outcome empathy --snapshot feedback_mean \\
      --trajectory valence_slope valence_late_minus_early
  fastmetrics study scored/ -o report/ --conversation-table outcomes.csv \\
      --join-column participant --outcome quality --positive high
"""


def cmd_study(args) -> int:
    from .run import run_study

    res = run_study(args.scored_dir, args.output, args.outcome, control=args.control or None,
                    snapshot=args.snapshot, trajectory=args.trajectory, n_boot=args.n_boot,
                    n_splits=args.folds, n_repeats=args.repeats, seed=args.seed, alpha=args.alpha,
                    group_column=args.group_column, rating_column=args.rating_column,
                    strategy_column=args.strategy_column, valence_column=args.valence_column,
                    feedback_rule=args.feedback_rule, report=not args.no_report,
                    signals=args.signal, primary=args.primary, positive=args.positive,
                    outcome_type=args.outcome_type,
                    levels=args.levels.split(",") if args.levels else None,
                    length_controls=not args.no_length_controls,
                    client_state=args.client_state_as_predictor,
                    conversation_table=args.conversation_table, join_column=args.join_column,
                    better=args.better)
    if not args.quiet:
        for line in res["summary"]:
            print(line)
        print(f"wrote {args.output}/results.json" + ("" if args.no_report else f" and {args.output}/report.html"))
    return 0


def register_cli(subparsers) -> None:
    """Add the ``study`` subcommand to the ``fastmetrics`` command line."""
    p = subparsers.add_parser(
        "study", help="does single-turn quality predict the outcome? statistics and an HTML report",
        description="Rank correlations (partial, with controls) with bootstrap CIs and BH q-values, "
                    "and grouped cross-validated models (snapshot vs trajectory vs both) on a "
                    "directory written by `fastmetrics score`. Writes REPORT_DIR/results.json and "
                    "REPORT_DIR/report.html.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("scored_dir", metavar="SCORED_DIR", help="output directory of `fastmetrics score`")
    p.add_argument("-o", "--output", required=True, metavar="REPORT_DIR", help="report directory")
    p.add_argument("--outcome", required=True, metavar="COL", help="conversation column to predict")
    p.add_argument("--control", action="append", metavar="COL",
                   help="conversation column to partial out (repeatable)")
    p.add_argument("--snapshot", nargs="+", metavar="COL", help="snapshot feature columns "
                   "(default: the supporter signals' means and the family-declared *_mean, "
                   "bolt_*_rate columns)")
    p.add_argument("--trajectory", nargs="+", metavar="COL", help="trajectory feature columns "
                   "(default: the supporter signals' slope, late-early, volatility, convergence "
                   "and the family-declared trajectory columns)")
    p.add_argument("--signal", action="append", metavar="COL",
                   help="further per-turn column to compare signal by signal (repeatable)")
    p.add_argument("--primary", nargs="+", metavar="FEATURE",
                   help="pre-declared primary features, reported and corrected apart")
    p.add_argument("--positive", metavar="LABEL",
                   help="positive class of a categorical outcome (scored by ROC AUC)")
    p.add_argument("--outcome-type", default="auto",
                   choices=("auto", "continuous", "binary", "ordinal"),
                   help="outcome kind (default auto: two values binary, else continuous)")
    p.add_argument("--better", choices=("higher", "lower"),
                   help="which direction of the outcome is better (labels the report's groups)")
    p.add_argument("--levels", metavar="LOW,...,HIGH", help="order of an ordinal outcome's levels")
    p.add_argument("--no-length-controls", action="store_true",
                   help="do not add the number of turns and of supporter turns as controls")
    p.add_argument("--client-state-as-predictor", action="store_true",
                   help="use the client's valence and its trajectory as predictors "
                        "(default: reported as a group apart)")
    p.add_argument("--conversation-table", metavar="FILE",
                   help="per-conversation CSV/Parquet (outcomes, questionnaires) to join")
    p.add_argument("--join-column", metavar="COLUMN",
                   help="column of --conversation-table holding the conversation id")
    p.add_argument("--group-column", metavar="COL",
                   help="conversation column whose groups never straddle CV folds (default: none)")
    p.add_argument("--rating-column", default="rating", help="per-turn seeker rating column (default: rating)")
    p.add_argument("--strategy-column", default="strategy", help="per-turn strategy column (default: strategy)")
    p.add_argument("--valence-column", default="valence", help="per-turn valence column (default: valence)")
    p.add_argument("--feedback-rule", default="since_last_rating",
                   choices=("since_last_rating", "next_client"),
                   help="which supporter turns a seeker rating rates (default: since_last_rating)")
    p.add_argument("--n-boot", type=int, default=2000, help="bootstrap resamples (default 2000)")
    p.add_argument("--folds", type=int, default=5, help="cross-validation folds (default 5)")
    p.add_argument("--repeats", type=int, default=5, help="cross-validation repeats (default 5)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--alpha", type=float, default=0.05, help="FDR level (default 0.05)")
    p.add_argument("--no-report", action="store_true", help="write results.json only")
    p.add_argument("-q", "--quiet", action="store_true")
    p.set_defaults(func=cmd_study)
