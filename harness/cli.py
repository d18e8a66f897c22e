"""`python -m harness`: run suites, score existing responses, list models."""

from __future__ import annotations

import argparse
from pathlib import Path

from harness.errors import HarnessError, run_cli
from harness.paths import default_store
from harness.suites import SUITES

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
under model fingerprint + conversation + sampling + suite version; rerun a killed command and only
the missing generations are made."""


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
    p.add_argument("--limit", type=int, help="only the first N items (quick checks)")
    p.add_argument("--batch-size", type=int, default=16, help="hf backend batch size (default 16)")
    p.add_argument(
        "--concurrency",
        type=int,
        default=16,
        help="parallel requests for the openai backend (default 16)",
    )
    p.add_argument("--max-new-tokens", type=int, help="default: the registry entry's sampling")
    p.add_argument("--temperature", type=float, help="default: the entry's (0 = greedy)")
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
    p.add_argument(
        "--judge-concurrency", type=int, default=16, help="parallel judge requests (default 16)"
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
    p.add_argument("--model", help="the model to score when a file holds several")
    p.add_argument("--data-dir", help="local benchmark data (as for `run`)")
    p.add_argument("--output", type=Path, help="write a results JSON")
    p.add_argument("--store", type=Path, help="SQLite store for judgments (as for `run`)")
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
    parser = argparse.ArgumentParser(
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


def cmd_run(args) -> int:
    from harness.backends import make_backend
    from harness.registry import BACKENDS, resolve_model
    from harness.runner import RunConfig, execute, results_payload, sampling_for, write_json_atomic
    from harness.store import open_store
    from harness.suites import get_suite

    spec = resolve_model(args.model)
    backend = args.backend or spec.backend
    if backend not in BACKENDS:
        raise HarnessError(f"unknown backend {backend!r}; use one of {', '.join(BACKENDS)}")
    options = {
        "hf": {"batch_size": args.batch_size},
        "openai": {"base_url": args.base_url, "concurrency": args.concurrency},
    }.get(backend, {})
    if backend == "openai":  # fail on a missing key before any work
        make_backend(spec, backend, **options)
    params = sampling_for(spec, max_new_tokens=args.max_new_tokens, temperature=args.temperature)
    suites = [get_suite(n) for n in (ALL_SUITES if args.suite == "all" else (args.suite,))]
    loaded = [(suite, suite.load(args.data_dir)[: args.limit or None]) for suite in suites]
    store_path = args.store or default_store()
    store = open_store(store_path)
    judges = {suite.name: _judge(suite, args, store) for suite in suites}  # key checks first
    for suite, items in loaded:
        judge = judges[suite.name]
        config = RunConfig(
            suite=suite.name,
            model=spec.name,
            backend=backend,
            sampling=params.as_dict(),
            limit=args.limit,
            data_source=suite.source,
            store=str(store_path),
            backend_options=options,
            judge=judge.model if judge else None,
        )
        try:
            run_id, result = execute(
                suite,
                items,
                spec,
                backend,
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
        if args.output:
            out = args.output
            if len(suites) > 1:
                out = out.with_name(f"{out.stem}.{suite.name}{out.suffix or '.json'}")
            write_json_atomic(out, results_payload(run_id, config, result))
        if args.export and judge:
            suite.export(args.export / suite.name, items, result, spec.name, judge.model)
        if not args.quiet:
            print_table(spec.name, suite, result, run_id)
    return 0


ALL_SUITES = ("ifeval", "mt_bench", "alpaca_eval")


def _judge(suite, args, store):
    """The judge a judged suite needs, built now so a missing API key stops the run early."""
    if not hasattr(suite, "default_judge"):
        return None
    from harness.judges import make_judge

    suite.df_gamed = args.df_gamed
    return make_judge(
        args.judge or suite.default_judge,
        store,
        base_url=args.judge_base_url,
        concurrency=args.judge_concurrency,
        progress=not args.quiet,
    )


def cmd_score(args) -> int:
    from harness.runner import results_payload, write_json_atomic
    from harness.store import open_store
    from harness.suites import get_suite

    suite = get_suite(args.suite)
    verdicts = args.judgments or args.annotations
    if verdicts:
        takes = {"mt_bench": "judgments", "alpaca_eval": "annotations"}.get(suite.name)
        if takes is None or getattr(args, takes) is None:
            raise HarnessError(f"suite {suite.name!r} takes --{takes or 'responses'}")
        suite.df_gamed = args.df_gamed
        result = suite.score_verdicts(verdicts, suite.load(args.data_dir), args.model)
    else:
        if not hasattr(suite, "read_responses"):
            raise HarnessError(f"suite {suite.name!r} does not score a responses file")
        if not args.responses.is_file():
            raise HarnessError(f"responses file {args.responses} not found")
        items, responses = suite.read_responses(args.responses, suite.load(args.data_dir))
        judge = _judge(suite, args, open_store(args.store or default_store()))
        result = suite.score(items, responses, judge) if judge else suite.score(items, responses)
    source = verdicts or args.responses
    if args.output:
        config = {
            "suite": suite.name,
            "responses": str(source),
            "data_source": suite.source,
        }
        write_json_atomic(args.output, results_payload(None, config, result))
    if not args.quiet:
        print_table(args.model or source.name, suite, result, None)
    return 0


def print_table(model: str, suite, result, run_id: str | None) -> None:
    n = len(result.records)
    print(f"\n{suite.name} | {model} | {n} items" + (f" | run {run_id}" if run_id else ""))
    for name in suite.metrics:
        if name in result.metrics:
            value = result.metrics[name]
            scale = getattr(suite, "display_scale", 100)  # ifeval: fractions shown as percent
            shown = f"{scale * value:6.2f}" if isinstance(value, float) else str(value)
            print(f"  {name:28} {shown}")
    for note in result.notes:
        print(f"  note: {note}")


def cmd_compare(args) -> int:
    from leaderboards.compare import cmd_compare

    return cmd_compare(args)


COMMANDS = {"run": cmd_run, "score": cmd_score, "models": cmd_models, "compare": cmd_compare}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_cli(
        lambda: COMMANDS[args.command](args),
        "interrupted: rerun the same command to resume; finished generations are saved",
    )
