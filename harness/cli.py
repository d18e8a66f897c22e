"""`python -m harness`: run suites, score existing responses, list models."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from harness.errors import ArgumentParser, HarnessError, run_cli
from harness.paths import default_store
from harness.redact import redact_url
from harness.suites import SUITES
from harness.validate import NON_NEGATIVE, Rule, check_writable, flag_type, positive_int

nonnegative_int = flag_type(NON_NEGATIVE)

EXIT_FAILED = 1  # nothing could be scored
EXIT_WITH_FAILURES = 3  # metrics stand, over fewer units than asked for


temperature = flag_type(
    Rule("finite and >= 0", lambda v: math.isfinite(v) and v >= 0), float
)  # NaN would sample garbage, silently


EPILOG = """examples:
  python -m harness run --suite ifeval                     # embedded SmolLM2-135M on CPU
  python -m harness run --suite ifeval --model qwen2-7b-instruct --backend vllm
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


def _add_run(sub) -> None:
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
        help=f"one of: {', '.join(SUITES)}, or all (ifeval, mt_bench, alpaca_eval in turn)",
    )
    p.add_argument(
        "--model",
        default="smollm2-135m-instruct",
        help="registry name (see `models`), local checkpoint dir or HF id "
        "(default: the embedded smollm2-135m-instruct)",
    )
    p.add_argument("--backend", help="hf, vllm or openai (default: the registry entry's, else hf)")
    p.add_argument("--base-url", help="OpenAI-compatible endpoint for --backend openai")
    p.add_argument(
        "--model-tag",
        help="a name for the weights behind --model, part of its cache identity: use it when an "
        "endpoint serves different weights under one name and reports nothing that tells them "
        "apart (GET /models gives no root)",
    )
    p.add_argument("--limit", type=positive_int, help="only the first N items (quick checks)")
    p.add_argument(
        "--batch-size", type=positive_int, default=16, help="hf backend batch size (default 16)"
    )
    p.add_argument(
        "--concurrency",
        type=positive_int,
        default=16,
        help="parallel requests for the openai backend (default 16)",
    )
    p.add_argument(
        "--max-new-tokens", type=positive_int, help="default: the registry entry's sampling"
    )
    p.add_argument("--temperature", type=temperature, help="default: the entry's (0 = greedy)")
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
    _add_judge(p)
    _add_common(p)


def _add_judge(p) -> None:
    p.add_argument(
        "--judge",
        help="judge model for mt_bench / alpaca_eval: a registry name or any OpenAI-compatible "
        "model (default: gpt-4 for mt_bench, gpt-4-1106-preview for alpaca_eval)",
    )
    p.add_argument("--judge-base-url", help="OpenAI-compatible judge endpoint (e.g. vllm serve)")
    p.add_argument("--judge-model-tag", help="as --model-tag, for the judge's weights")
    p.add_argument(
        "--judge-concurrency",
        type=positive_int,
        default=16,
        help="parallel judge requests (default 16)",
    )
    p.add_argument(
        "--judge-parse-retries",
        type=nonnegative_int,
        default=0,
        help="re-ask a judge whose reply has no verdict this many times (default 0: one call "
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


def _add_score(sub) -> None:
    p = sub.add_parser(
        "score",
        help="score responses made elsewhere",
        description="Score existing responses without generating. IFEval takes the official "
        "{prompt, response} JSONL or lm-eval's samples_ifeval_*.jsonl; MT-Bench a FastChat "
        "model_answer JSONL (judged) or model_judgment JSONL (--judgments); AlpacaEval a "
        "model_outputs.json (judged) or annotations.json (--annotations).",
    )
    p.add_argument("--suite", required=True, help=f"one of: {', '.join(SUITES)}")
    given = p.add_mutually_exclusive_group(required=True)
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
    p.add_argument(
        "--model",
        help="the model to score when a file holds several; also the run's model name in the "
        "store and on leaderboards (default: the file's model, else its name)",
    )
    p.add_argument("--data-dir", help="local benchmark data (as for `run`)")
    p.add_argument(
        "--allow-partial",
        action="store_true",
        help="mt_bench --responses: score an answer file that lacks questions (FastChat's "
        "check_data refuses it); the metrics are then over the answered ones only",
    )
    p.add_argument("--output", type=Path, help="write a results JSON")
    p.add_argument(
        "--store",
        type=Path,
        help="store for judgments and the run this creates (as for `run`); imported results "
        "appear on leaderboards, marked as imported",
    )
    _add_judge(p)
    p.add_argument("--quiet", action="store_true", help="no table")


def _add_common(p) -> None:
    p.add_argument(
        "--store",
        type=Path,
        default=None,
        help="SQLite store (default: $ECD_HARNESS_STORE or $ECD_HARNESS_HOME/store.sqlite)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bars or table")


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(
        prog="python -m harness",
        description="Evaluate chat models on instruction-following suites, reproducibly and "
        "resumably.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    _add_run(sub)
    _add_score(sub)
    sub.add_parser("models", help="list the registry (baselines, 70B references, your checkpoints)")
    from leaderboards import compare

    compare.add_parser(sub)
    return parser


def cmd_models(args) -> int:
    from harness.registry import load_registry

    print(f"{'name':28} {'group':9} {'params':>7} {'backend':7} source")
    for spec in load_registry().values():
        size = f"{spec.params_b:g}B" if spec.params_b else "-"
        print(f"{spec.name:28} {spec.group:9} {size:>7} {spec.backend:7} {spec.source}")
    return 0


def _check_outputs(args) -> None:
    """Fail before any work when an output can't be written (not after an hour of generation)."""
    if args.output:
        check_writable(args.output, "--output", folder=False)
    if getattr(args, "export", None):
        check_writable(args.export, "--export")
    if args.store:
        check_writable(args.store, "--store", folder=False)


def _backend_options(args, backend: str) -> dict:
    return {
        "hf": {"batch_size": args.batch_size},
        "openai": {"base_url": args.base_url, "concurrency": args.concurrency},
    }.get(backend, {})


def _exit_status(statuses: list[str]) -> int:
    if "failed" in statuses:
        return EXIT_FAILED
    return EXIT_WITH_FAILURES if "finished_with_failures" in statuses else 0


def cmd_run(args) -> int:
    from harness.backends import fingerprint_for, make_backend
    from harness.registry import BACKENDS, resolve_model
    from harness.runner import RunConfig, execute, results_payload, sampling_for, write_json_atomic
    from harness.store import open_store
    from harness.suites import get_suite

    _check_outputs(args)
    spec = resolve_model(args.model)
    backend = args.backend or spec.backend
    if backend not in BACKENDS:
        raise HarnessError(f"unknown backend {backend!r}; use one of {', '.join(BACKENDS)}")
    options = _backend_options(args, backend)
    params = sampling_for(spec, max_new_tokens=args.max_new_tokens, temperature=args.temperature)
    suites = [get_suite(n) for n in (ALL_SUITES if args.suite == "all" else (args.suite,))]
    loaded = [(suite, suite.load(args.data_dir)) for suite in suites]
    # Identities before anything is written: a hub id offline, a dead endpoint or a rejected key
    # stop the run here, with the store untouched.
    fingerprint = fingerprint_for(spec, backend, model_tag=args.model_tag, **options)
    judges = {suite.name: _judge(suite, args, None) for suite in suites}
    store_path = args.store or default_store()
    store = open_store(store_path)
    for judge in filter(None, judges.values()):
        judge.store = store
    statuses = []
    for suite, data in loaded:
        items = data[: args.limit or None]
        judge = judges[suite.name]
        config = RunConfig(
            suite=suite.name,
            model=spec.name,
            backend=backend,
            sampling=params.as_dict(),
            limit=args.limit,
            data_source=suite.source,
            store=str(store_path),
            backend_options={**options, "base_url": redact_url(options.get("base_url"))}
            if "base_url" in options
            else options,
            judge=judge.model if judge else None,
            options=_scoring_options(suite, args),
            refresh=args.refresh,
        )
        try:
            outcome = execute(
                suite,
                data,
                items,
                fingerprint,
                params,
                store,
                config,
                lambda: make_backend(spec, backend, **options),
                judge=judge,
                progress=not args.quiet,
            )
        finally:
            if judge:
                judge.close()
        statuses.append(outcome.status)
        if args.output:
            out = args.output
            if len(suites) > 1:
                out = out.with_name(f"{out.stem}.{suite.name}{out.suffix or '.json'}")
            write_json_atomic(
                out, results_payload(outcome.run_id, config, outcome.result, outcome.status)
            )
        if args.export and judge:
            suite.export(args.export / suite.name, items, outcome.result, spec.name, judge.model)
        if not args.quiet or outcome.status != "finished":
            print_table(spec.name, suite, outcome.result, outcome.run_id, outcome.status)
    return _exit_status(statuses)


ALL_SUITES = ("ifeval", "mt_bench", "alpaca_eval")


def _scoring_options(suite, args) -> dict:
    """Options that change a judged suite's scores: recorded, and part of comparability."""
    if not hasattr(suite, "default_judge"):
        return {}
    options = {"judge_parse_retries": args.judge_parse_retries}
    if hasattr(suite, "check_judge"):
        options["reference_answers"] = args.reference_answers
        options["allow_partial"] = getattr(args, "allow_partial", False)
    return options


def _judge(suite, args, store):
    """The judge a judged suite needs, built now so a missing key or a dead endpoint stops the
    run before any generation."""
    if not hasattr(suite, "default_judge"):
        return None
    from harness.judges import make_judge

    suite.df_gamed = args.df_gamed
    if hasattr(suite, "check_judge"):
        suite.reference_answers = args.reference_answers
        suite.allow_partial = getattr(args, "allow_partial", False)
    judge = make_judge(
        args.judge or suite.default_judge,
        store,
        base_url=args.judge_base_url,
        concurrency=args.judge_concurrency,
        progress=not args.quiet,
        model_tag=args.judge_model_tag,
        parse_retries=args.judge_parse_retries,
        refresh=getattr(args, "refresh", False),
    )
    if hasattr(suite, "check_judge"):  # FastChat's check_data: the judge's references exist
        suite.check_judge(judge.model)
    return judge


def cmd_score(args) -> int:
    """Score a file made elsewhere; the result becomes a run in the store, marked as imported."""
    from harness import comparability
    from harness.runner import judge_key, record_outcome, results_payload, write_json_atomic
    from harness.store import open_store
    from harness.suites import get_suite

    suite = get_suite(args.suite)
    _check_outputs(args)
    verdicts = args.judgments or args.annotations
    data = suite.load(args.data_dir)
    store = open_store(args.store or default_store())
    judge = None
    if verdicts:
        takes = {"mt_bench": "judgments", "alpaca_eval": "annotations"}.get(suite.name)
        if takes is None or getattr(args, takes) is None:
            raise HarnessError(f"suite {suite.name!r} takes --{takes or 'responses'}")
        suite.df_gamed = args.df_gamed
        result = suite.score_verdicts(verdicts, data, args.model)
    else:
        if not hasattr(suite, "read_responses"):
            raise HarnessError(f"suite {suite.name!r} does not score a responses file")
        if not args.responses.is_file():
            raise HarnessError(f"responses file {args.responses} not found")
        judge = _judge(suite, args, store)  # sets the suite's scoring options too
        items, responses = suite.read_responses(args.responses, data)
        result = suite.score(items, responses, judge) if judge else suite.score(items, responses)
    source = verdicts or args.responses
    model = args.model or result.breakdown.get("model") or source.stem
    by_id = {it["id"]: it for it in data}
    scored_items = [by_id[r["id"]] for r in result.records if r["id"] in by_id]
    key = comparability.key(
        suite.name,
        suite.version,
        data,
        scored_items,
        None,  # the sampling that made these responses is unknown
        judge_key(judge)
        or ({"imported": str(result.breakdown.get("judge"))} if verdicts else None),
        _scoring_options(suite, args) if judge else {},
    )
    config = {
        "suite": suite.name,
        "model": model,
        "imported": str(source),
        "data_source": suite.source,
        "judge": judge.model if judge else None,
    }
    run_id = store.start_run(suite.name, model, None, config, key)
    status = record_outcome(store, run_id, result, len(result.records))
    if args.output:
        write_json_atomic(
            args.output, results_payload(run_id, config, result, status, imported=True)
        )
    if not args.quiet or status != "finished":
        print_table(model, suite, result, run_id, status, imported=True)
    return _exit_status([status])


def print_table(
    model: str,
    suite,
    result,
    run_id: str | None,
    status: str = "finished",
    imported: bool = False,
) -> None:
    """The run's metrics, what they are over, its status, and its notes."""
    over = f"{result.scored} of {result.total} {result.unit}" if result.total else "0 items"
    print(f"\n{suite.name} | {model} | {over}" + (f" | run {run_id}" if run_id else ""))
    if status != "finished":
        print(f"  status: {status}")
    if status == "failed":
        from harness.runner import first_error

        print(f"  error: nothing could be scored; the first failure: {first_error(result)}")
    for name in suite.metrics:
        if name in result.metrics:
            value = result.metrics[name]
            scale = getattr(suite, "display_scale", 100)  # ifeval: fractions shown as percent
            shown = f"{scale * value:6.2f}" if isinstance(value, float) else str(value)
            shown = "     -" if value is None else shown
            print(f"  {name:28} {shown}")
    for note in [result.failure_line(rerun=not imported), *result.notes]:
        if note:
            print(f"  note: {note}")


def cmd_compare(args) -> int:
    from leaderboards.compare import cmd_compare

    return cmd_compare(args)


COMMANDS = {"run": cmd_run, "score": cmd_score, "models": cmd_models, "compare": cmd_compare}


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as e:  # usage errors (one line) and --help
        return int(e.code or 0)
    return run_cli(
        lambda: COMMANDS[args.command](args),
        "interrupted: rerun the same command to resume; finished generations are saved",
    )
