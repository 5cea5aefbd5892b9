"""The ``fastmetrics`` command line.

Subcommands: ``score`` (metrics for a corpus), ``info`` (a corpus summary, the configuration,
the metric families). Other modules add subcommands through ``PLUGINS``: each exposes
``register_cli(subparsers)`` that adds its parser(s) with ``set_defaults(func=...)``.
Exit status 0 on success; on failure a one-line reason on stderr and a non-zero status
(2 for bad input or an unavailable backend, 1 for other errors).
"""
from __future__ import annotations

import argparse
import importlib
import sys

from .errors import BackendUnavailableError, FastMetricsError, InputError

#: Modules that add subcommands (``register_cli(subparsers)``).
PLUGINS: list[str] = ["fastmetrics.study.cli", "fastmetrics.embed.cli", "fastmetrics.study.compare_cli",
                     "fastmetrics.bench.cli", "fastmetrics.models.cli"]

EXAMPLES = """\
examples:
  fastmetrics score --demo -o out/
  fastmetrics score ESConv-valid.jsonl -o out/ --metrics basic
  fastmetrics score chats.csv -o out/ --conversation-column dialog_id \\
      --speaker-column who --text-column utterance --role-map usr=client,sys=therapist
  fastmetrics score big.parquet -o out/ --on-error skip --threads 2 --csv
  fastmetrics info FailedESConv-dev.json
  fastmetrics info --config
  fastmetrics info --backends
"""


def _add_input_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("input")
    g.add_argument("--format", default="auto",
                   help="auto (default), csv, tsv, jsonl, json, parquet, convokit, esconv-jsonl, esconv-json")
    g.add_argument("--conversation-column", help="column with the conversation id (default: found by name); "
                                                 "several comma-separated columns form one key, e.g. "
                                                 "transcript_id,annotator_id")
    g.add_argument("--order-column", help="column with the turn number or timestamp (default: file order)")
    g.add_argument("--speaker-column", help="column with the speaker label")
    g.add_argument("--text-column", help="column with the turn text")
    g.add_argument("--role-column", help="column whose labels map to roles (when speakers are person ids)")
    g.add_argument("--role-map", help="extra LABEL=ROLE pairs, e.g. usr=client,sys=therapist "
                                      "(roles: client, therapist, other)")
    g.add_argument("--conversation-columns", help="comma-separated carried columns holding one value "
                                                  "per conversation (outcomes, metadata)")
    g.add_argument("--duplicates", choices=("fail", "first"), default="fail",
                   help="two rows of a conversation with the same turn order: a bad conversation "
                        "(fail, default) or keep the first row (first)")
    g.add_argument("--on-error", choices=("fail", "skip"), default="fail",
                   help="fail at the first bad row (default) or skip bad rows/conversations and "
                        "list them in OUTDIR/skipped.csv")


def _spec_kwargs(args) -> dict:
    return dict(conversation=args.conversation_column, order=args.order_column,
                speaker=args.speaker_column, text=args.text_column, role_column=args.role_column,
                role_map=args.role_map, duplicates=args.duplicates,
                conversation_columns=[c.strip() for c in (args.conversation_columns or "").split(",") if c.strip()])


def _add_family_options(p: argparse.ArgumentParser) -> None:
    """One flag per option of every family; values stay raw strings here and are validated,
    with the API's rules and messages, by :func:`fastmetrics.registry.validate_options`."""
    from . import registry

    g = p.add_argument_group("metric options")
    owners = registry.option_owners()
    for opt in registry.all_options().values():
        used_by = ", ".join(owners.get(opt.name, []))
        kwargs: dict = dict(dest=f"opt_{opt.name}", default=None,
                            help=f"{opt.help} [{used_by}; {opt.constraint.describe()}; "
                                 f"default: {opt.default!r}]")
        action = opt.constraint.cli_action
        if action == "boolean":
            kwargs["action"] = argparse.BooleanOptionalAction
        elif action == "append":
            kwargs["action"] = "append"
        else:
            kwargs["metavar"] = opt.name.upper()
        g.add_argument(opt.flag, **kwargs)


def _family_options(args) -> dict:
    return {k[4:]: v for k, v in vars(args).items() if k.startswith("opt_") and v is not None}


def cmd_score(args) -> int:
    from .api import demo_path, score
    from .progress import bar_enabled

    inputs = list(args.inputs)
    if args.demo:
        inputs.append(str(demo_path()))
    if not inputs:
        raise InputError("no input given: name one or more files, or use --demo")
    res = score(inputs if len(inputs) > 1 else inputs[0], metrics=args.metrics or "basic",
                out_dir=args.output, format=args.format, on_error=args.on_error,
                n_threads=args.threads, backend=args.backend, chunk_turns=args.chunk_turns,
                csv=args.csv, keep_text=not args.no_text, resume=args.resume,
                restart=args.restart, progress=bar_enabled(args.quiet), layout=args.layout,
                engine=args.engine, scheduler=args.scheduler, workers=args.workers,
                conversation_table=args.conversation_table, join_column=args.join_column,
                **_spec_kwargs(args), **_family_options(args))
    if not args.quiet:
        m = res.metadata
        resumed = int(m.get("fastmetrics.resumed_chunks", "0"))
        timing = f"in {m['fastmetrics.seconds']} s"
        if resumed:
            timing = (f"in {m['fastmetrics.seconds']} s of compute ({resumed} of "
                      f"{m['fastmetrics.n_chunks']} chunks resumed; this session "
                      f"{m['fastmetrics.session_seconds']} s)")
        print(f"read {m['fastmetrics.format']}; scored {m['fastmetrics.n_conversations']} "
              f"conversations, {m['fastmetrics.n_turns']} turns {timing}")
        for path in res.files.values():
            print(f"  wrote {path}")
        if res.skipped:
            print(f"  skipped {len(res.skipped)} rows/conversations: see {res.files.get('skipped')}")
    return 0


def cmd_partition(args) -> int:
    from .io.dataset import partition
    from .io.tables import TableSpec

    spec = TableSpec(**_spec_kwargs(args))
    m = partition(args.inputs, args.output, partition_turns=args.partition_turns, format=args.format,
                  spec=spec, on_error=args.on_error, overwrite=args.overwrite)
    if not args.quiet:
        print(f"wrote {len(m['parts'])} partitions of whole conversations ({m['n_conversations']} "
              f"conversations, {m['n_turns']} turns) to {args.output}")
    return 0


def _print_backends() -> None:
    from . import backends

    for b in backends.BACKENDS:
        why = backends.why_not(b)
        sim = " (CUDA simulator)" if b == "cuda" and why is None and backends.is_simulator() else ""
        print(f"{b:6s}: " + ("available" + sim if why is None else f"unavailable: {why}"))
    print()
    rows = backends.table()
    width = max(len(r["operation"]) for r in rows)
    print(f"{'operation':{width}s}  " + "  ".join(f"{b:6s}" for b in backends.BACKENDS) + "  auto")
    for r in rows:
        cells = [f"{('no' if r[b].startswith('no: ') else r[b]):6s}" for b in backends.BACKENDS]
        print(f"{r['operation']:{width}s}  " + "  ".join(cells) + f"  {r['auto']}")
    print("(yes: implemented and available here; no: implemented, unavailable here; "
          "-: not implemented)")


def cmd_info(args) -> int:
    if args.config:
        from .config import show_config

        show_config()
    if args.backends:
        _print_backends()
    if args.metrics_list:
        from . import registry

        for name in registry.names():
            fam = registry.get(name)
            cols = ", ".join([*fam.turn_columns, *fam.conversation_columns])
            print(f"{name:16s} {fam.description}  [{cols}]")
    if not args.inputs and not args.config and not args.metrics_list and not args.backends:
        raise InputError("nothing to show: name a corpus, or use --config, --backends or --metrics")
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
            if c.columns:
                print("  columns         : " + ", ".join(f"{k} {v if v else '(file order)'}"
                                                         for k, v in c.columns.items()))
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
    from . import backends
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
    ps.add_argument("--metrics", help="comma-separated metric families, or 'all' (see `fastmetrics "
                                      "info --metrics`); default: basic")
    ps.add_argument("--threads", type=int, default=None, help="threads (default: all available; -1 = all)")
    ps.add_argument("--backend", choices=backends.CHOICES, default="auto",
                    help="auto (default: the fastest available per operation), numba, c or cuda; "
                         "see `fastmetrics info --backends`")
    ps.add_argument("--chunk-turns", type=int, default=None,
                    help="turns per chunk of whole conversations (default 250000; 0 = no chunking)")
    ps.add_argument("--csv", action="store_true", help="also write CSV copies of the outputs")
    ps.add_argument("--no-text", action="store_true", help="leave the turn text out of turns.parquet")
    ps.add_argument("--resume", action="store_true",
                    help="reuse the finished chunks of an interrupted run into OUTDIR (refused when "
                         "the inputs or the parameters changed)")
    ps.add_argument("--restart", action="store_true",
                    help="discard the finished chunks of an interrupted run into OUTDIR")
    ps.add_argument("--layout", choices=("files", "dataset"), default="files",
                    help="files (default: OUTDIR/turns.parquet ...) or dataset (OUTDIR/turns/part-*.parquet "
                         "..., one part per chunk, never merged: for outputs larger than memory)")
    ps.add_argument("--engine", choices=("local", "dask"), default="local",
                    help="local (default: this process) or dask (a Dask cluster; the same results)")
    ps.add_argument("--scheduler", metavar="ADDRESS",
                    help="with --engine dask: the address of a running Dask scheduler")
    ps.add_argument("--workers", type=int, metavar="N",
                    help="with --engine dask and no --scheduler: a local cluster of N worker processes")
    ps.add_argument("--conversation-table", metavar="FILE",
                    help="per-conversation CSV/Parquet (outcomes, questionnaires) joined on the "
                         "conversation id; its columns go to conversations.parquet")
    ps.add_argument("--join-column", metavar="COLUMN",
                    help="column of --conversation-table holding the conversation id")
    ps.add_argument("-q", "--quiet", action="store_true", help="no progress bar or summary")
    _add_input_options(ps)
    _add_family_options(ps)
    ps.set_defaults(func=cmd_score)

    pp = sub.add_parser("partition", help="rewrite inputs as Parquet partitions of whole conversations",
                        description="Rewrite any supported input (conversations may be spread over "
                                    "files or not contiguous) into DATASET/part-*.parquet, whole "
                                    "conversations per partition, for `fastmetrics score DATASET/` "
                                    "and the Dask engine.")
    pp.add_argument("inputs", nargs="+", metavar="INPUT")
    pp.add_argument("-o", "--output", required=True, metavar="DATASET", help="output folder")
    pp.add_argument("--partition-turns", type=int, default=250_000, metavar="N",
                    help="most turns per partition (default 250000)")
    pp.add_argument("--overwrite", action="store_true", help="replace an existing dataset in DATASET")
    pp.add_argument("-q", "--quiet", action="store_true")
    _add_input_options(pp)
    pp.set_defaults(func=cmd_partition)

    pi = sub.add_parser("info", help="summarise a corpus, or show the configuration",
                        description="Summarise corpora (format, conversations, turns, roles, tokens), "
                                    "show the configuration (--config) or the metric families (--metrics).")
    pi.add_argument("inputs", nargs="*", metavar="INPUT")
    pi.add_argument("--config", action="store_true", help="versions, backends and thread counts")
    pi.add_argument("--metrics", dest="metrics_list", action="store_true", help="list metric families")
    pi.add_argument("--backends", action="store_true",
                    help="the operations of each backend (numba, c, cuda) and why any is unavailable")
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


def _one_line_warnings() -> None:
    """Show warnings as one line each, ``fastmetrics: warning: ...`` (no source lines)."""
    import warnings

    def show(message, category, filename, lineno, file=None, line=None):
        print(f"fastmetrics: warning: {message}", file=file or sys.stderr)

    warnings.showwarning = show


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    _one_line_warnings()
    try:
        return int(args.func(args) or 0)
    except (InputError, BackendUnavailableError) as exc:
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
