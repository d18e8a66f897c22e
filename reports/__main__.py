"""`python -m reports build SPEC --out DIR`: the ablation report from the store."""

from __future__ import annotations

import argparse
from pathlib import Path

from harness.errors import ArgumentParser, run_cli


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(
        prog="python -m reports",
        description="Paper-ready reports from the run store: Markdown, a self-contained HTML "
        "page, LaTeX tables (booktabs) and figures (PDF + PNG).",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("build", help="build a report from a spec (YAML)")
    p.add_argument("spec", type=Path, help="report spec: baselines, ecd, references (YAML)")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument("--store", help="SQLite file or postgresql:// URL (default: the harness store)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    def command() -> int:
        from leaderboards.board import open_existing_store
        from reports.build import build_report
        from reports.spec import load_spec

        report = build_report(load_spec(args.spec), open_existing_store(args.store), args.out)
        for note in report.notes:
            print(f"note: {note}")
        print(f"wrote {len(report.files)} files to {args.out} (open {args.out / 'report.html'})")
        return 0

    return run_cli(command)


if __name__ == "__main__":
    raise SystemExit(main())
