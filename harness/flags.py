"""The flags of `python -m harness run` and `score`, made from EvalOptions' declarations.

Each flag is an EvalOptions field (`harness.validate.setting`): its name, type, rule, default and
help are declared there once, so `run`, `score`, training's `--eval-args` (checked through the
same parser) and experiment specs agree. Anchor: TRL's `TrlParser` / `HfArgumentParser`, which
build flags from config dataclasses.
"""

from __future__ import annotations

import argparse
import copy
import typing
from collections.abc import Iterable
from dataclasses import Field, fields
from pathlib import Path

from harness.api import EvalOptions
from harness.backends.table import flagged_options
from harness.errors import ArgumentParser
from harness.suites import suite_names
from harness.validate import GROUPS, flag_type

PROG = "python -m harness"
DEFAULT_MODEL = "smollm2-135m-instruct"  # the embedded model: runs offline on a CPU

EPILOG = """examples:
  python -m harness run --suite ifeval                     # embedded SmolLM2-135M on CPU
  python -m harness run --suite ifeval --model qwen2-7b-instruct --backend vllm
  python -m harness run --suite ifeval --model llama-3-70b-instruct --tensor-parallel-size 8
  python -m harness run --suite ifeval --model ./checkpoints/ecd-sft-dpo --limit 50
  python -m harness score --suite ifeval --responses responses.jsonl
  python -m harness run --suite all --model zephyr-7b-beta   # judges gpt-4, gpt-4-1106-preview
  python -m harness run --suite mt_bench --judge Qwen/Qwen2-72B-Instruct --judge-base-url URL
  python -m harness score --suite alpaca_eval --annotations annotations.json
  python -m harness models

Runs are resumable: generations are cached in the store (default $ECD_HARNESS_HOME/store.sqlite)
under model identity + conversation + sampling + suite version; rerun a killed command and only
the missing generations are made. A model's identity is a hash of its weight, tokenizer and
template files (hub ids: the commit), or for an endpoint its URL, what GET /models reports and
--model-tag.

exit status: 0 every item scored; 3 finished with failed items (metrics are over the rest, the
table says how many); 1 nothing could be scored; 2 bad input (one line on stderr, nothing done);
130 interrupted (rerun to resume)."""

# What `score` takes of the settings: no model is run, so no model, sampling or limit flags.
SCORE_SETTINGS = ("data_dir", "output", "store", "quiet")


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """A setting's help given as a function (`validate.setting`) is made only when --help is
    printed: some read every suite (1.5 s), which no parsed command line needs."""

    def _format_action(self, action: argparse.Action) -> str:
        if callable(action.help):
            action = copy.copy(action)
            action.help = action.help()
        return super()._format_action(action)


def help_groups(parser: argparse.ArgumentParser) -> dict[str, argparse._ArgumentGroup]:
    """--help's sections (model, sampling, judge, data, output), in that order."""
    return {name: parser.add_argument_group(name) for name in GROUPS}


def add_settings(
    groups: dict[str, argparse._ArgumentGroup], names: Iterable[str] | None = None
) -> None:
    """A flag per EvalOptions field that has one (`names`: only those, else all), each in its
    help group, read and checked as the field's type and rule."""
    hints = typing.get_type_hints(EvalOptions)
    for f in fields(EvalOptions):
        if not f.metadata.get("flag") or (names is not None and f.name not in names):
            continue
        meta = f.metadata
        groups[meta["group"]].add_argument(
            "--" + f.name.replace("_", "-"),
            dest=f.name,
            default=f.default,
            help=meta["help"],  # a function: called by HelpFormatter, for --help only
            **({"metavar": meta["metavar"]} if meta["metavar"] else {}),
            **_reader(f, hints[f.name]),
        )


def _reader(f: Field, hint) -> dict:
    """argparse keywords that read the flag's text as the field's type and check its rule."""
    if f.metadata["parse"]:
        return {"type": f.metadata["parse"]}
    kinds = [k for k in typing.get_args(hint) or (hint,) if k is not type(None)]
    kind = kinds[0]
    if kind is bool:
        return {"action": "store_true"}
    if kind in (int, float):
        rule = f.metadata["rule"]
        return {"type": flag_type(rule, kind) if rule else kind}
    return {"type": Path} if kind is Path else {}


def add_run_parser(sub) -> None:
    """The `run` subcommand: the model, the suites and every EvalOptions field as a flag."""
    p = sub.add_parser(
        "run",
        help="generate and score a suite for one model",
        description="Generate responses for a suite with a model and score them. Results go to "
        "the store and, with --output, to a JSON file.",
        epilog=EPILOG,
        formatter_class=HelpFormatter,
    )
    groups = help_groups(p)
    groups["data"].add_argument(
        "--suite",
        required=True,
        help=f"one of: {', '.join(suite_names())}; several, comma-separated "
        "(ifeval,mt_bench); or all (each of them in turn)",
    )
    groups["model"].add_argument(
        "--model",
        default=DEFAULT_MODEL,
        help="registry name (see `models`), local checkpoint dir, HF id, or with --backend openai "
        "the name the endpoint serves (default: the embedded smollm2-135m-instruct); `compare`, "
        "`runs`, leaderboards and report specs take the same names",
    )
    for option in flagged_options():  # each backend's declared options; flags beat the entry's
        option.add_flag(groups["model"])
    add_settings(groups)


def add_score_settings(groups: dict[str, argparse._ArgumentGroup]) -> None:
    """`score`'s settings: the judge's (responses are judged) and where data and results go."""
    judge = [f.name for f in fields(EvalOptions) if f.metadata.get("group") == "judge"]
    add_settings(groups, [*judge, *SCORE_SETTINGS])


def options_from(args: argparse.Namespace) -> EvalOptions:
    """The EvalOptions a parsed command line holds (`score` has some of the flags: the rest keep
    their defaults). A backend option's flag sets the field of its name, else `backend_options`."""
    given = vars(args)
    named = {f.name for f in fields(EvalOptions)}
    backend_options = {
        o.name: given[o.name]
        for o in flagged_options()
        if o.name not in named and given.get(o.name) is not None
    }
    return EvalOptions(
        **{name: given[name] for name in named if name in given}, backend_options=backend_options
    )


def parse_run_flags(argv: list[str]) -> tuple[str, str, EvalOptions]:
    """`python -m harness run ARGV` parsed: (model, suite, options). A bad flag is the same
    one-line usage error (exit 2) as on the command line."""
    parser = ArgumentParser(prog=PROG)
    add_run_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["run", *argv])
    return args.model, args.suite, options_from(args)
