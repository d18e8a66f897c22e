"""`python -m reports build SPEC --out DIR`: the ablation report from the store."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from harness.errors import HarnessError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m reports",
        description="Paper-ready reports from the run store: Markdown, a self-contained HTML "
        "page, LaTeX tables (booktabs) and figures (PDF + PNG).",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("build", help="build a report from a spec (YAML)")
    p.add_argument("spec", type=Path, help="report spec: baselines, ecd, references (YAML)")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument("--store", help="SQLite store (default: the harness store)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        from leaderboards.board import open_existing_store
        from reports.build import build_report
        from reports.spec import load_spec

        spec = load_spec(args.spec)
        report = build_report(spec, open_existing_store(args.store), args.out)
    except HarnessError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for note in report.notes:
        print(f"note: {note}")
    print(f"wrote {len(report.files)} files to {args.out} (open {args.out / 'report.html'})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
