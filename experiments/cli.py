"""`python -m experiments plan SPEC` and `python -m experiments run SPEC`."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from experiments.dag import Node, Plan, build_plan
from experiments.estimate import Estimate, rates
from experiments.executors import EXECUTORS
from experiments.spec import ExperimentSpec, load_experiment
from experiments.steps import done, store_location
from harness.errors import ArgumentParser, HarnessError, run_cli
from harness.lock import holding
from harness.plugins import plugins_loaded
from harness.redact import redact_url
from harness.store import Store, open_store

PROG = "python -m experiments"
EPILOG = """\
An experiment is one YAML file: ECD data (teacher, seeds, rounds) and its variants, the models
trained on them, the baselines and 70B references they are compared with, the suites and the
report. Every step is addressed by its inputs, so `run` does only what is missing, resumes after
a kill at any point, and a second run does nothing. Examples: experiments/tiny-cpu.yaml (the
whole loop on 2 CPU cores), experiments/ecd-paper.yaml (the paper's comparison).

  python -m experiments plan experiments/ecd-paper.yaml
  python -m experiments run experiments/tiny-cpu.yaml
  python -m experiments run spec.yaml --executor ray --ray-address auto --store postgresql://...
"""


def build_parser() -> ArgumentParser:
    p = ArgumentParser(
        prog=PROG,
        description=__doc__,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="command", required=True)
    plan = sub.add_parser("plan", help="print the steps, what is done, and what the rest costs")
    run = sub.add_parser("run", help="run the steps that are not done")
    for s in (plan, run):
        s.add_argument("spec", help="experiment spec (YAML)")
        s.add_argument("--store", help="SQLite file or postgresql:// URL (default: the spec's)")
        s.add_argument("--out", help="folder for data, models and report (default: the spec's)")
    run.add_argument("--executor", choices=sorted(EXECUTORS), help="default: the spec's (local)")
    run.add_argument("--ray-address", help="Ray cluster: 'auto' or ray://host:10001; none: local")
    run.add_argument("--ray-cpus", type=int, help="CPUs of a local Ray cluster")
    run.add_argument(
        "--retry-failed", action="store_true", help="rerun evaluations that had failed items"
    )
    run.add_argument("--quiet", action="store_true", help="no progress bars")
    return p


def _load(args) -> ExperimentSpec:
    spec = load_experiment(args.spec)
    if args.store:
        spec.store = args.store
    if args.out:
        spec.out = args.out
    if spec.store and "://" not in spec.store:
        spec.store = str(Path(spec.store).expanduser().resolve())
    return spec


def _existing_store(spec: ExperimentSpec) -> Store | None:
    """The store if there is one; `plan` never creates it."""
    where = store_location(spec)
    if "://" not in where and not Path(where).exists():
        return None
    return open_store(where)


def _status(spec: ExperimentSpec, plan: Plan, store: Store | None, retry: bool = False) -> dict:
    return {
        n.id: (done(spec, n, store, retry) if store is not None else None) for n in plan.order()
    }


def _cell(e: Estimate, node: Node, device: str) -> list[str]:
    unit = "GPU-h" if device == "gpu" else "CPU-h"
    return [
        f"{e.model_calls:,}" if e.model_calls else "-",
        f"{e.judge_calls:,}" if e.judge_calls else "-",
        f"{e.prompt_tokens + e.completion_tokens + e.train_tokens:,}"
        if e.device_s or e.model_calls
        else "-",
        f"${e.cost_usd:,.2f}" if e.cost_usd else "-",
        _duration(e.device_s, unit) if e.device_s else "-",
    ]


def _duration(seconds: float, unit: str) -> str:
    """GPU-hours (or CPU-hours) of device time; minutes when under one."""
    return f"{seconds / 3600:,.1f} {unit}" if seconds >= 3600 else f"{seconds / 60:.1f} min"


def cmd_plan(args) -> int:
    spec = _load(args)
    plan = build_plan(spec)
    store = _existing_store(spec)
    status = _status(spec, plan, store)
    device = spec.estimate.device
    rows = [["step", "needs", "status", "model calls", "judge calls", "tokens", "cost", "time"]]
    total = Estimate()
    for n in plan.order():
        state = "done" if status[n.id] else ("unknown" if n.unknown else "to run")
        if not status[n.id]:
            total = total + n.estimate
        needs = ", ".join(n.deps) if len(n.deps) <= 2 else f"{len(n.deps)} evaluations"
        rows.append([n.id, needs or "-", state, *_cell(n.estimate, n, device)])
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    todo = sum(1 for n in plan.order() if not status[n.id])
    print(
        f"experiment {spec.name}: {len(plan.nodes)} steps, {len(plan.nodes) - todo} done, "
        f"{todo} to run (store: {redact_url(store_location(spec))})"
    )
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    print(
        f"to run: {total.model_calls:,} model calls, {total.judge_calls:,} judge calls, "
        f"{total.prompt_tokens:,} prompt + {total.completion_tokens:,} completion tokens at most, "
        f"{total.train_tokens:,} training tokens, ${total.cost_usd:,.2f} at the harness's "
        f"prices, ~{_duration(total.device_s, 'GPU-h' if device == 'gpu' else 'CPU-h')} of "
        "device time"
    )
    print("time estimated from throughput measured in benchmarks/README.md, scaled by size:")
    for work, rate in rates(device, spec.estimate.rates).items():
        print(f"  {work}: {rate.tokens_per_s:,.0f} tok/s at {rate.params_b}B ({rate.source})")
    for label, why_of in (
        ("no time", lambda n: n.estimate.untimed),
        ("unknown until run", lambda n: n.unknown),
    ):
        reasons: dict[str, list[str]] = {}
        for n in plan.order():
            if why_of(n) and not status[n.id]:
                reasons.setdefault(why_of(n), []).append(n.id)
        for why, ids in reasons.items():  # one line per cause, not per step
            steps = ids[0] if len(ids) == 1 else f"{ids[0]} and {len(ids) - 1} more steps"
            print(f"{label}: {steps}: {why}")
    return 0


def cmd_run(args) -> int:
    """One run at a time per output folder: a second one is refused (two would generate, train
    and report into the same folders at once); the store is shared by any number."""
    spec = _load(args)
    if args.executor:
        spec.executor.kind = args.executor
    if args.ray_address:
        spec.executor.address = args.ray_address
    if args.ray_cpus:
        spec.executor.num_cpus = args.ray_cpus
    plan = build_plan(spec)
    with holding(spec.out_dir, "pass another --out"):
        return _run(spec, plan, args.retry_failed, args.quiet)


def _run(spec: ExperimentSpec, plan: Plan, retry_failed: bool, quiet: bool) -> int:
    store = open_store(store_location(spec))
    status = _status(spec, plan, store, retry_failed)
    todo = [n for n in plan.order() if not status[n.id]]
    unknown = [n for n in todo if n.unknown]
    if unknown:
        raise HarnessError(f"{unknown[0].id}: {unknown[0].unknown}")
    print(
        f"experiment {spec.name}: {len(plan.nodes) - len(todo)} of {len(plan.nodes)} steps done, "
        f"{len(todo)} to run ({spec.executor.kind})",
        file=sys.stderr,
    )
    started, count = time.time(), [0]

    def finished(node: Node, record: dict) -> None:
        store.put_node(node.key, node.kind, record)
        count[0] += 1
        print(
            f"[{count[0]}/{len(todo)}] {node.id} done ({time.time() - started:.0f}s)",
            file=sys.stderr,
        )

    EXECUTORS[spec.executor.kind](spec, todo, finished, quiet)
    failed = []
    for n in plan.evals():
        record = store.get_node(n.key)
        if record and record.get("failed"):
            failed.append(f"{n.id} ({record['failed']} failed)")
    report = store.get_node(plan.nodes["report"].key)
    print(f"report: {Path(report['path']).parent}", file=sys.stderr)
    if failed:
        print(
            f"{len(failed)} evaluations had failed items: {', '.join(failed)}; their numbers are "
            "over the scored ones (marked in the report); --retry-failed reruns them",
            file=sys.stderr,
        )
        return 3
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    plugins_loaded()
    return run_cli(lambda: {"plan": cmd_plan, "run": cmd_run}[args.command](args))
