"""`python -m leaderboards`: the leaderboard tables (`show`) and paired comparisons (`compare`).

`python -m harness compare` is this CLI's `compare`, handed the command line with the harness's
`prog`, so its usage lines and errors read as they always have.
"""

from __future__ import annotations

import argparse

from harness.errors import ArgumentParser, run_cli
from harness.plugins import plugins_loaded
from harness.suites import suite_names
from leaderboards import compare
from leaderboards.board import collect, combined_table, open_existing_store, suite_table
from leaderboards.render import FORMATS

PROG = "python -m leaderboards"


def build_parser(prog: str = PROG) -> argparse.ArgumentParser:
    parser = ArgumentParser(
        prog=prog,
        description="Leaderboards from the run store: per model and suite the latest complete "
        "run at the suite's default settings, else the latest run marked partial (‡) or at other "
        "settings (°), or chosen runs; rows not comparable with "
        "the rest of their table are marked §, imported ones ¶; bootstrap CIs; published numbers "
        "beside them (marked †). `compare` tests whether one checkpoint beats another.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("show", help="print a suite's table, or the combined one")
    p.add_argument("--suite", choices=suite_names(), help="one suite's table (default: combined)")
    p.add_argument("--format", choices=FORMATS, default="table")
    p.add_argument("--model", action="append", help="only these models (repeatable)")
    p.add_argument("--run", action="append", help="use this run id for its model (repeatable)")
    p.add_argument(
        "--all",
        action="store_true",
        help="also a row (marked °) for each other setting a model ran a suite with "
        "(e.g. a --max-new-tokens 32 smoke run)",
    )
    p.add_argument("--no-published", action="store_true", help="measured numbers only")
    p.add_argument("--store", help="SQLite file or postgresql:// URL (default: the harness store)")
    compare.add_parser(sub)
    return parser


def cmd_show(args) -> int:
    store = open_existing_store(args.store)
    suites = [args.suite] if args.suite else None
    entries = collect(
        store, suites, args.model, args.run, not args.no_published, every_setting=args.all
    )
    table = suite_table(entries, args.suite) if args.suite else combined_table(entries)
    print(table.render(args.format), end="")
    return 0


COMMANDS = {"show": cmd_show, "compare": compare.cmd_compare}


def main(argv: list[str] | None = None, prog: str = PROG) -> int:
    """Run one command; `prog` is how usage lines name the program (`python -m harness` when the
    harness CLI hands `compare` over)."""
    if run_cli(plugins_loaded):  # the parser lists the suites, plugins' too
        return 2
    try:
        args = build_parser(prog).parse_args(argv)
    except SystemExit as e:  # usage errors (one line) and --help
        return int(e.code or 0)
    return run_cli(lambda: COMMANDS[args.command](args))
