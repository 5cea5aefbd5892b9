"""Subcommand ``fastmetrics train empathy``."""
from __future__ import annotations


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
