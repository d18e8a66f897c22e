"""`python -m leaderboards show`: the leaderboard tables from the store."""

from __future__ import annotations

import argparse

from harness.errors import ArgumentParser, run_cli
from leaderboards.metrics import SUITE_METRICS
from leaderboards.render import FORMATS


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(
        prog="python -m leaderboards",
        description="Leaderboards from the run store: the latest complete run per model and "
        "suite, else the latest run marked partial (‡), or chosen runs; rows not comparable with "
        "the rest of their table are marked §, imported ones ¶; bootstrap CIs; published numbers "
        "beside them (marked †).",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("show", help="print a suite's table, or the combined one")
    p.add_argument(
        "--suite", choices=list(SUITE_METRICS), help="one suite's table (default: combined)"
    )
    p.add_argument("--format", choices=FORMATS, default="table")
    p.add_argument("--model", action="append", help="only these models (repeatable)")
    p.add_argument("--run", action="append", help="use this run id for its model (repeatable)")
    p.add_argument("--no-published", action="store_true", help="measured numbers only")
    p.add_argument("--store", help="SQLite store (default: the harness store)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    def command() -> int:
        from leaderboards.board import collect, combined_table, open_existing_store, suite_table

        store = open_existing_store(args.store)
        suites = [args.suite] if args.suite else None
        entries = collect(store, suites, args.model, args.run, not args.no_published)
        table = suite_table(entries, args.suite) if args.suite else combined_table(entries)
        print(table.render(args.format), end="")
        return 0

    return run_cli(command)


if __name__ == "__main__":
    raise SystemExit(main())
