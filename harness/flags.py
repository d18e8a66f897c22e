"""The flags of `python -m harness run` and the EvalOptions they parse into.

The harness CLI builds its `run` command from here, and training checks and runs its `--eval-args`
through the same parser, so a flag means one thing wherever it is given.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import fields
from pathlib import Path

from harness.api import EvalOptions
from harness.backends.table import backend_names, flagged_options
from harness.defaults import MODEL_OWNED
from harness.errors import ArgumentParser
from harness.store import store_location
from harness.suites import get_suite, suite_names
from harness.validate import NON_NEGATIVE, Rule, flag_type, positive_int

PROG = "python -m harness"
DEFAULT_MODEL = "smollm2-135m-instruct"  # the embedded model: runs offline on a CPU
DEFAULTS = EvalOptions()  # the flags' defaults are the API's

nonnegative_int = flag_type(NON_NEGATIVE)

temperature = flag_type(
    Rule("finite and >= 0", lambda v: math.isfinite(v) and v >= 0), float
)  # NaN would sample garbage, silently


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


def add_run_parser(sub) -> None:
    """The `run` subcommand: the model, the suites and every EvalOptions field as a flag."""
    p = sub.add_parser(
        "run",
        help="generate and score a suite for one model",
        description="Generate responses for a suite with a model and score them. Results go to "
        "the store and, with --output, to a JSON file.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--suite",
        required=True,
        help=f"one of: {', '.join(suite_names())}; several, comma-separated "
        "(ifeval,mt_bench); or all (each of them in turn)",
    )
    p.add_argument(
        "--model",
        default=DEFAULT_MODEL,
        help="registry name (see `models`), local checkpoint dir, HF id, or with --backend openai "
        "the name the endpoint serves (default: the embedded smollm2-135m-instruct); `compare`, "
        "`runs`, leaderboards and report specs take the same names",
    )
    p.add_argument(
        "--backend",
        help=f"{', '.join(backend_names())} (default: the registry entry's, else hf)",
    )
    p.add_argument(
        "--model-tag",
        help="a name for the weights behind --model, part of its cache identity: use it when an "
        "endpoint serves different weights under one name and reports nothing that tells them "
        "apart (GET /models gives no root)",
    )
    p.add_argument("--limit", type=positive_int, help="only the first N items (quick checks)")
    for option in flagged_options():  # each backend's declared options; flags beat the entry's
        option.add_flag(p)
    p.add_argument(
        "--max-new-tokens",
        type=positive_int,
        help="default: the suite's, its reference tool's ("
        + ", ".join(f"{n} {get_suite(n).generation.max_new_tokens}" for n in suite_names())
        + "); a run with another value records it, and leaderboards prefer runs at the defaults",
    )
    p.add_argument(
        "--temperature",
        type=temperature,
        help="default: the suite's (0 = greedy; mt_bench: FastChat's per-category temperatures). "
        f"A model's registry sampling sets only what suites leave to the model: {MODEL_OWNED}",
    )
    p.add_argument(
        "--refresh",
        action="store_true",
        help="generate and judge again even what the store has, replacing the cached entries",
    )
    p.add_argument(
        "--data-dir",
        help="local benchmark data (default: $ECD_HARNESS_DATA, then the "
        "HF hub, then the installed data wheel)",
    )
    p.add_argument(
        "--output",
        type=Path,
        help="write a results JSON (config, versions, metrics, per-item records); with "
        "--suite all, one file per suite (NAME.SUITE.json)",
    )
    p.add_argument(
        "--export",
        type=Path,
        help="also write the judged suites' native files here (FastChat model_answer and "
        "model_judgment JSONL; alpaca_eval model_outputs.json and annotations.json)",
    )
    add_judge_flags(p)
    _add_store_flags(p)


def add_judge_flags(p) -> None:
    """The judge's flags, which `score` takes too."""
    p.add_argument(
        "--judge",
        help="judge model for judged suites: a registry name or any OpenAI-compatible model "
        "(default: each suite's reference judge: gpt-4 for mt_bench and followbench, "
        "gpt-4-1106-preview for alpaca_eval, gpt-4-0314 for infobench)",
    )
    p.add_argument("--judge-base-url", help="OpenAI-compatible judge endpoint (e.g. vllm serve)")
    p.add_argument("--judge-model-tag", help="as --model-tag, for the judge's weights")
    p.add_argument(
        "--judge-concurrency",
        type=positive_int,
        default=DEFAULTS.judge_concurrency,
        help="parallel judge requests (default: the judge's registry entry, else 16)",
    )
    p.add_argument(
        "--judge-parse-retries",
        type=nonnegative_int,
        default=DEFAULTS.judge_parse_retries,
        help="re-ask a judge whose reply has no verdict this many times (default "
        f"{DEFAULTS.judge_parse_retries}: one call "
        "per judgment, as FastChat and alpaca_eval; a failed judgment scores -1 / no "
        "preference). Recorded in the run; runs with other values are not compared",
    )
    p.add_argument(
        "--reference-answers",
        metavar="JUDGE",
        help="mt_bench: grade math/reasoning/coding against this judge's reference answers "
        "(reference_answer/JUDGE.jsonl) instead of the judge's own, which FastChat requires; "
        "recorded in the run",
    )
    p.add_argument(
        "--df-gamed",
        type=Path,
        help="local copy of alpaca_eval's df_gamed.csv for the length-controlled win rate "
        "(default: $ECD_HARNESS_DF_GAMED, the data dir, then the HF hub)",
    )


def _add_store_flags(p) -> None:
    p.add_argument(
        "--store",
        type=store_location,
        default=None,
        help="SQLite store file, or a postgresql://user:pass@host:port/db URL for a store shared "
        "across machines (default: $ECD_HARNESS_STORE or $ECD_HARNESS_HOME/store.sqlite)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bars or table")


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
