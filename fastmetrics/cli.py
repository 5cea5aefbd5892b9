"""The ``fastmetrics`` command line.

Subcommands: ``score`` (metrics for a corpus), ``info`` (a corpus summary, the configuration,
the metric families). Other modules add subcommands through ``PLUGINS``: each exposes
``register_cli(subparsers)`` that adds its parser(s) with ``set_defaults(func=...)``.
Exit status 0 on success; on failure a one-line reason on stderr and a non-zero status
(2 for bad input, 1 for other errors).
"""
from __future__ import annotations

import argparse
import importlib
import sys

from .errors import FastMetricsError, InputError

#: Modules that add subcommands (``register_cli(subparsers)``).
PLUGINS: list[str] = ["fastmetrics.study.cli", "fastmetrics.embed.cli"]

EXAMPLES = """\
examples:
  fastmetrics score --demo -o out/
  fastmetrics score ESConv-valid.jsonl -o out/ --metrics basic
  fastmetrics score chats.csv -o out/ --conversation-column dialog_id \\
      --speaker-column who --text-column utterance --role-map usr=client,sys=therapist
  fastmetrics score big.parquet -o out/ --on-error skip --threads 2 --csv
  fastmetrics info FailedESConv-dev.json
  fastmetrics info --config
"""


def _add_input_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("input")
    g.add_argument("--format", default="auto",
                   help="auto (default), csv, tsv, jsonl, json, parquet, convokit, esconv-jsonl, esconv-json")
    g.add_argument("--conversation-column", help="column with the conversation id (default: found by name)")
    g.add_argument("--order-column", help="column with the turn number or timestamp (default: file order)")
    g.add_argument("--speaker-column", help="column with the speaker label")
    g.add_argument("--text-column", help="column with the turn text")
    g.add_argument("--role-column", help="column whose labels map to roles (when speakers are person ids)")
    g.add_argument("--role-map", help="extra LABEL=ROLE pairs, e.g. usr=client,sys=therapist "
                                      "(roles: client, therapist, other)")
    g.add_argument("--conversation-columns", help="comma-separated carried columns holding one value "
                                                  "per conversation (outcomes, metadata)")
    g.add_argument("--on-error", choices=("fail", "skip"), default="fail",
                   help="fail at the first bad row (default) or skip bad rows/conversations and "
                        "list them in OUTDIR/skipped.csv")


def _spec_kwargs(args) -> dict:
    return dict(conversation=args.conversation_column, order=args.order_column,
                speaker=args.speaker_column, text=args.text_column, role_column=args.role_column,
                role_map=args.role_map,
                conversation_columns=[c.strip() for c in (args.conversation_columns or "").split(",") if c.strip()])


def _add_family_options(p: argparse.ArgumentParser) -> None:
    from . import registry

    g = p.add_argument_group("metric options")
    for opt in registry.all_options().values():
        flag = "--" + opt.name.replace("_", "-")
        kwargs = dict(dest=f"opt_{opt.name}", default=None, help=f"{opt.help} (default: {opt.default})")
        if opt.type is bool:
            kwargs["action"] = argparse.BooleanOptionalAction
        elif opt.type is list:
            kwargs["action"] = "append"
        else:
            kwargs["type"] = opt.type
            if opt.choices:
                kwargs["choices"] = opt.choices
        g.add_argument(flag, **kwargs)


def _family_options(args) -> dict:
    return {k[4:]: v for k, v in vars(args).items() if k.startswith("opt_") and v is not None}


def cmd_score(args) -> int:
    from .api import demo_path, score

    inputs = list(args.inputs)
    if args.demo:
        inputs.append(str(demo_path()))
    if not inputs:
        raise InputError("no input given: name one or more files, or use --demo")
    metrics = [m.strip() for m in (args.metrics or "basic").split(",") if m.strip()]
    res = score(inputs if len(inputs) > 1 else inputs[0], metrics=metrics, out_dir=args.output,
                format=args.format, on_error=args.on_error, n_threads=args.threads,
                backend=args.backend, chunk_turns=args.chunk_turns, csv=args.csv,
                keep_text=not args.no_text, resume=args.resume,
                progress=not args.quiet and sys.stderr.isatty(), **_spec_kwargs(args),
                **_family_options(args))
    if not args.quiet:
        n_conv = res.metadata["fastmetrics.n_conversations"]
        n_turns = res.metadata["fastmetrics.n_turns"]
        print(f"read {res.metadata['fastmetrics.format']}; scored {n_conv} conversations, {n_turns} turns "
              f"in {res.metadata['fastmetrics.seconds']} s")
        for stem, path in res.files.items():
            print(f"  wrote {path}")
        if res.skipped:
            print(f"  skipped {len(res.skipped)} rows/conversations: see {res.files.get('skipped')}")
    return 0


def cmd_info(args) -> int:
    if args.config:
        from .config import show_config

        show_config()
    if args.metrics_list:
        from . import registry

        for name in registry.names():
            fam = registry.get(name)
            cols = ", ".join([*fam.turn_columns, *fam.conversation_columns])
            print(f"{name:16s} {fam.description}  [{cols}]")
    if not args.inputs and not args.config and not args.metrics_list:
        raise InputError("nothing to show: name a corpus, or use --config or --metrics")
    if args.inputs:
        import numpy as np

        from .corpus import ROLE_NAMES
        from .io import detect_format
        from .io.load import load

        for path in args.inputs:
            fmt = detect_format(path) if args.format == "auto" else args.format
            c = load(path, format=fmt, on_error=args.on_error, **_spec_kwargs(args))
            tok = c.tokens()
            roles = np.bincount(c.role, minlength=3)
            lens = np.diff(c.conv_offsets)
            print(f"{path}")
            print(f"  format          : {fmt}" + (" (detected)" if args.format == "auto" else ""))
            print(f"  conversations   : {c.n_conversations}")
            print(f"  turns           : {c.n_turns} (per conversation: median {np.median(lens):g}, "
                  f"min {lens.min()}, max {lens.max()})")
            print("  roles           : " + ", ".join(f"{ROLE_NAMES[i]} {roles[i]}" for i in range(3)))
            print(f"  tokens          : {len(tok.token_ids)} ({len(tok.token_ids) / max(c.n_turns, 1):.1f} per turn), "
                  f"vocabulary {len(tok.vocab)}")
            print(f"  turn columns    : {', '.join(c.turn_columns) or '-'}")
            print(f"  conv. columns   : {', '.join(c.conv_columns) or '-'}")
            if c.skipped:
                print(f"  skipped         : {len(c.skipped)}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from ._version import __version__

    parser = argparse.ArgumentParser(
        prog="fastmetrics",
        description="Fast multi-turn metrics for therapeutic and emotional-support conversations.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"fastmetrics {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    ps = sub.add_parser("score", help="compute metrics for a corpus and write Parquet outputs",
                        description="Compute metrics for a corpus; writes OUTDIR/turns.parquet and "
                                    "OUTDIR/conversations.parquet.",
                        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    ps.add_argument("inputs", nargs="*", metavar="INPUT", help="corpus files or ConvoKit directories")
    ps.add_argument("-o", "--output", required=True, metavar="OUTDIR", help="output directory")
    ps.add_argument("--demo", action="store_true", help="score the demo corpus shipped with fastmetrics")
    ps.add_argument("--metrics", help="comma-separated metric families (see `fastmetrics info --metrics`); "
                                      "default: basic")
    ps.add_argument("--threads", type=int, default=None, help="threads (default: all available; -1 = all)")
    ps.add_argument("--backend", choices=("auto", "numba", "c", "cuda"), default="auto")
    ps.add_argument("--chunk-turns", type=int, default=None,
                    help="turns per chunk of whole conversations (default 250000; 0 = no chunking)")
    ps.add_argument("--csv", action="store_true", help="also write CSV copies of the outputs")
    ps.add_argument("--no-text", action="store_true", help="leave the turn text out of turns.parquet")
    ps.add_argument("--resume", action="store_true", help="reuse finished chunks of an interrupted run")
    ps.add_argument("-q", "--quiet", action="store_true", help="no progress bar or summary")
    _add_input_options(ps)
    _add_family_options(ps)
    ps.set_defaults(func=cmd_score)

    pi = sub.add_parser("info", help="summarise a corpus, or show the configuration",
                        description="Summarise corpora (format, conversations, turns, roles, tokens), "
                                    "show the configuration (--config) or the metric families (--metrics).")
    pi.add_argument("inputs", nargs="*", metavar="INPUT")
    pi.add_argument("--config", action="store_true", help="versions, backends and thread counts")
    pi.add_argument("--metrics", dest="metrics_list", action="store_true", help="list metric families")
    _add_input_options(pi)
    pi.set_defaults(func=cmd_info)

    for mod in PLUGINS:
        try:
            plugin = importlib.import_module(mod)
        except ModuleNotFoundError as exc:
            if exc.name == mod:
                continue
            raise
        plugin.register_cli(sub)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except InputError as exc:
        print(f"fastmetrics: error: {exc}", file=sys.stderr)
        return 2
    except FastMetricsError as exc:
        print(f"fastmetrics: error: {exc}", file=sys.stderr)
        return 1
    except MemoryError:
        print("fastmetrics: error: out of memory; use a smaller --chunk-turns", file=sys.stderr)
        return 1
    except BrokenPipeError:  # output piped into a program that stopped reading (e.g. head)
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        print("fastmetrics: interrupted; finished chunks are kept, rerun with --resume", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
