"""`python -m harness`: run suites, score existing responses, list models.

Argument parsing, printing and exit status over `harness.api`; `compare` is leaderboards' command,
handed its command line by module name (see `main`).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from functools import partial
from pathlib import Path

from harness.api import evaluate, score
from harness.errors import ArgumentParser, HarnessError, run_cli
from harness.flags import (
    EPILOG,
    PROG,
    HelpFormatter,
    add_run_parser,
    add_score_settings,
    help_groups,
    options_from,
)
from harness.paths import default_store
from harness.plugins import plugins_loaded
from harness.store import store_location
from harness.suites import suite_names
from harness.summary import exit_status, show
from harness.validate import check_writable

# Commands of a layer above harness, by the module whose `main(argv, prog)` runs them: loaded by
# name only when asked for, so harness never imports them (ARCHITECTURE.md, "Layers").
HANDED_OFF = {"compare": "leaderboards.cli"}


def _add_score(sub) -> None:
    p = sub.add_parser(
        "score",
        help="score responses made elsewhere",
        description="Score existing responses without generating. IFEval takes the official "
        "{prompt, response} JSONL or lm-eval's samples_ifeval_*.jsonl; MT-Bench a FastChat "
        "model_answer JSONL (judged) or model_judgment JSONL (--judgments); AlpacaEval a "
        "model_outputs.json (judged) or annotations.json (--annotations).",
        epilog=EPILOG,
        formatter_class=HelpFormatter,
    )
    groups = help_groups(p)
    groups["data"].add_argument(
        "--suite", required=True, help=f"one of: {', '.join(suite_names())}"
    )
    given = groups["data"].add_mutually_exclusive_group(required=True)
    given.add_argument(
        "--responses",
        type=Path,
        help="responses to score (mt_bench: FastChat model_answer JSONL, alpaca_eval: "
        "model_outputs.json; both are judged)",
    )
    given.add_argument(
        "--judgments", type=Path, help="mt_bench: FastChat model_judgment JSONL (no judge calls)"
    )
    given.add_argument(
        "--annotations", type=Path, help="alpaca_eval: annotations.json (no judge calls)"
    )
    groups["model"].add_argument(
        "--model",
        help="the model to score when a file holds several; also the run's model name in the "
        "store and on leaderboards (default: the file's model, else its name)",
    )
    groups["data"].add_argument(
        "--allow-partial",
        action="store_true",
        help="mt_bench --responses: score an answer file that lacks questions (FastChat's "
        "check_data refuses it); the metrics are then over the answered ones only",
    )
    add_score_settings(groups)


def _add_runs(sub) -> None:
    where = argparse.ArgumentParser(add_help=False)  # --store before or after show/export
    where.add_argument(
        "--store", type=store_location, default=argparse.SUPPRESS, help="as for `run`"
    )
    p = sub.add_parser(
        "runs",
        parents=[where],
        help="list the runs in the store; show or export one",
        description="The run log: every run (id, model, suite, status, items scored, the "
        "settings that differ from the suite's defaults, date); `show ID` its record; `export ID "
        "--out DIR` its per-item records (records.jsonl), its record (run.json) and the "
        "reference tools' files (IFEval/IFBench: input_response_data.jsonl and lm-eval's "
        "samples_*.jsonl; MT-Bench: FastChat model_answer/model_judgment; AlpacaEval: "
        "model_outputs.json/annotations.json; InFoBench: evaluation.py's files).",
    )
    p.add_argument("--model", help="only this model's runs, named as `run --model` takes it")
    p.add_argument("--suite", choices=suite_names(), help="only this suite's runs")
    what = p.add_subparsers(dest="runs_command")
    show = what.add_parser(
        "show", parents=[where], help="one run's record (settings, versions, metrics, notes)"
    )
    show.add_argument("run_id")
    out = what.add_parser(
        "export", parents=[where], help="one run's records and the reference tools' files"
    )
    out.add_argument("run_id")
    out.add_argument("--out", type=Path, required=True, help="folder to write")
    out.add_argument("--data-dir", help="local benchmark data (as for `run`)")


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(
        prog=PROG,
        description="Evaluate chat models on instruction-following suites, reproducibly and "
        "resumably.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    add_run_parser(sub)
    _add_score(sub)
    sub.add_parser("models", help="list the registry (baselines, 70B references, your checkpoints)")
    _add_runs(sub)
    sub.add_parser("compare", help="compare two checkpoints per suite with paired statistics")
    return parser


def cmd_models(args) -> int:
    from harness.registry import load_registry

    print(f"{'name':28} {'group':9} {'params':>7} {'backend':7} source")
    for spec in load_registry().values():
        size = f"{spec.params_b:g}B" if spec.params_b else "-"
        print(f"{spec.name:28} {spec.group:9} {size:>7} {spec.backend:7} {spec.source}")
    return 0


def cmd_run(args) -> int:
    options = options_from(args)
    outcomes = evaluate(args.model, args.suite, options, partial(show, quiet=options.quiet))
    return exit_status(outcomes)


def cmd_score(args) -> int:
    """Score a file made elsewhere; the result becomes a run in the store, marked as imported."""
    from harness.suites import get_suite

    verdicts = args.judgments or args.annotations
    if verdicts:
        takes = get_suite(args.suite).verdicts_flag
        if takes is None or getattr(args, takes) is None:
            raise HarnessError(f"suite {args.suite!r} takes --{takes or 'responses'}")
    outcome = score(
        args.suite,
        verdicts or args.responses,
        options_from(args),
        verdicts=bool(verdicts),
        model=args.model,
        allow_partial=args.allow_partial,
    )
    show(outcome, args.quiet, imported=True)
    return exit_status([outcome])


def cmd_runs(args) -> int:
    """List, show or export runs; reads the store, never creates it."""
    from harness import runs
    from harness.store import is_url, open_store

    location = getattr(args, "store", None) or default_store()
    if not is_url(location) and not Path(location).is_file():
        raise HarnessError(f"store {location} not found; pass --store with the store runs wrote to")
    if args.runs_command == "export":
        check_writable(args.out, "--out")
    store = open_store(location)
    if args.runs_command == "show":
        print(runs.dumps(runs.record(store, args.run_id)))
    elif args.runs_command == "export":
        for path in runs.export(store, args.run_id, args.out, args.data_dir):
            print(path)
    else:
        print(runs.table(runs.rows(store, args.model, args.suite)), end="")
    return 0


COMMANDS = {"run": cmd_run, "score": cmd_score, "models": cmd_models, "runs": cmd_runs}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] and argv[0] in HANDED_OFF:  # same command line, same usage lines (`prog`)
        return importlib.import_module(HANDED_OFF[argv[0]]).main(argv, prog=PROG)
    if run_cli(plugins_loaded):  # the parser lists the suites, plugins' too
        return 2
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as e:  # usage errors (one line) and --help
        return int(e.code or 0)
    return run_cli(
        lambda: COMMANDS[args.command](args),
        "interrupted: rerun the same command to resume; finished generations are saved",
    )
