"""`python -m training`: check or run a recipe; the checkpoint is registered for the harness."""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path

from harness.errors import ArgumentParser, HarnessError, run_cli
from harness.store import store_location
from harness.validate import positive_int, safe_name
from training.recipe import LOGGERS, parse_report_to

EPILOG = """examples:
  python -m training check training/recipes/tiny-cpu.yaml --launch training/launch/zero3.yaml
  python -m training run training/recipes/tiny-cpu.yaml --eval ifeval --eval-limit 20
  accelerate launch --config_file training/launch/zero3.yaml --num_processes 8 \\
      -m training run training/recipes/ecd-sft-dpo.yaml --name ecd-sft-dpo
  python -m harness run --suite ifeval --model ecd-sft-dpo     # score it later by name

Rerun the same command after an interruption: a finished stage is skipped and the unfinished one
resumes from its last checkpoint in --output-dir."""


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(
        prog="python -m training",
        description="SFT and DPO on TRL from a YAML recipe, one GPU to many (accelerate launch).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("check", help="validate a recipe and its data without loading a model")
    check.add_argument("recipe", type=Path, help="YAML recipe (see training/recipes/)")
    check.add_argument(
        "--launch",
        action="append",
        default=[],
        type=Path,
        metavar="CONFIG",
        help="also check this accelerate launch config (training/launch/*.yaml) against the "
        "installed accelerate (repeatable)",
    )
    run = sub.add_parser(
        "run",
        help="train, save with provenance, register, optionally evaluate",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument("recipe", type=Path, help="YAML recipe (see training/recipes/)")
    run.add_argument("--output-dir", type=Path, help="default: runs/<name>")
    run.add_argument(
        "--name",
        type=safe_name,
        help="registry name of the checkpoint (default: the recipe's name)",
    )
    run.add_argument(
        "--eval",
        action="append",
        default=[],
        metavar="SUITE",
        help="score the checkpoint with this harness suite after training (repeatable)",
    )
    run.add_argument("--eval-limit", type=positive_int, help="only the first N items of each suite")
    run.add_argument(
        "--eval-max-new-tokens", type=positive_int, help="default: the recipe's sampling"
    )
    run.add_argument(
        "--eval-args",
        default="",
        help="more `python -m harness run` options for --eval, one string "
        '(e.g. "--judge gpt-4 --batch-size 32")',
    )
    run.add_argument(
        "--store", type=store_location, help="harness store for --eval (default as the harness)"
    )
    run.add_argument("--quiet", action="store_true", help="no evaluation table")
    run.add_argument(
        "--report-to",
        metavar="LOGGERS",
        help=f"log training to these, comma-separated ({', '.join(LOGGERS)}, or none); "
        "default: the recipe's report_to",
    )
    return parser


def cmd_check(args) -> int:
    from training.launch_check import check_launch_config
    from training.runner import check

    recipe, data = check(args.recipe)
    print(f"recipe {recipe.name}: {recipe.stage} on {recipe.base_model}")
    for stage, d in data.items():
        print(f"  {stage}: {len(d.rows)} rows from {d.source} (sha256 {d.fingerprint})")
    for config in args.launch:
        print(check_launch_config(config).line(config))
    return 0


def cmd_run(args) -> int:
    from training.runner import RunOptions, evaluate, train

    try:
        eval_args = shlex.split(args.eval_args)
    except ValueError as e:  # an unclosed quote: say which flag, before any training
        raise HarnessError(f"--eval-args {args.eval_args!r}: {e}; close the quote") from None
    if args.eval:
        from harness.flags import parse_run_flags
        from harness.suites import get_suite

        for suite in args.eval:  # a wrong suite or option fails now, not after hours of training
            get_suite(suite)
            parse_run_flags(["--suite", suite, *eval_args])
    options = RunOptions(
        output_dir=args.output_dir,
        name=args.name,
        evals=args.eval,
        eval_limit=args.eval_limit,
        eval_max_new_tokens=args.eval_max_new_tokens,
        eval_args=eval_args,
        store=args.store,
        quiet=args.quiet,
        report_to=None
        if args.report_to is None
        else parse_report_to(args.report_to.split(","), "--report-to"),
    )
    spec = train(args.recipe, options)
    return evaluate(spec.name, options)


COMMANDS = {"check": cmd_check, "run": cmd_run}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_cli(
        lambda: COMMANDS[args.command](args),
        "interrupted: rerun the same command to resume from the last checkpoint",
    )
