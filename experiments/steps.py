"""What each node does, and when the store says it is done.

Every step goes through the project's own APIs (generation.run, training.runner.train,
harness.evaluate, leaderboards.board, reports.build), so each has the resume its stage already
has: cached model calls, checkpoints, staged outputs. A step is marked done in the store only
after its output is complete; a kill at any point leaves it not done, and the rerun redoes it,
reusing what its stage kept.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

from experiments.dag import Node
from experiments.spec import ExperimentSpec, eval_options
from harness.comparability import differences
from harness.errors import HarnessError
from harness.paths import default_store
from harness.store import DONE, Store

REPORT_FILE = "report.md"
SETTINGS_FILE = "experiment.yaml"  # the experiment's settings, beside the report they made


def store_location(spec: ExperimentSpec) -> str:
    return spec.store or str(default_store())


def done(spec: ExperimentSpec, node: Node, store: Store, retry_failed: bool = False) -> dict | None:
    """The node's record if its output is there; None if it must run."""
    record = store.get_node(node.key)
    if record is None or node.unknown:
        return None
    if node.kind == "generate":
        ok = (Path(record["out"]) / "stats.json").is_file()
    elif node.kind == "train":
        from harness.registry import load_registry

        entry = load_registry().get(node.model)
        ok = (Path(record["path"]) / "training.json").is_file() and (
            entry is not None and entry.source == record["path"]
        )
    elif node.kind == "evaluate":
        run = store.run(record["run_id"])
        ok = run is not None and run.status in DONE and not (retry_failed and run.n_failed)
    else:
        ok = Path(record["path"]).exists()
    return record if ok else None


def execute(spec: ExperimentSpec, node: Node, quiet: bool = False) -> dict:
    """Run one node; returns the record that marks it done."""
    if node.unknown:
        raise HarnessError(f"{node.id}: {node.unknown}")
    print(f"start {node.id}", file=sys.stderr, flush=True)
    return STEPS[node.kind](spec, node, quiet)


def _generate(spec: ExperimentSpec, node: Node, quiet: bool) -> dict:
    from generation.run import run

    summary = run(spec.generation_config(), progress=not quiet)
    return {"out": str(spec.data_dir), "counts": summary["counts"]}


def _train(spec: ExperimentSpec, node: Node, quiet: bool) -> dict:
    import yaml

    from training.runner import RunOptions, train

    recipe = spec.out_dir / "recipes" / f"{node.model}.yaml"
    recipe.parent.mkdir(parents=True, exist_ok=True)
    tmp = recipe.with_suffix(".tmp")
    tmp.write_text(yaml.safe_dump(spec.recipe_data(node.model), sort_keys=False))
    os.replace(tmp, recipe)
    # one folder per recipe and data: a changed setting trains anew beside the old checkpoint
    out = spec.out_dir / "models" / node.model / node.key[:12]
    if node.processes > 1:
        from harness.registry import load_registry

        _launch_training(node, recipe, out, quiet)
        model = load_registry()[node.model]
    else:
        model = train(recipe, RunOptions(output_dir=out, name=node.model, quiet=quiet))
    return {"path": model.source, "meta": model.meta}


def _launch_training(node: Node, recipe: Path, out: Path, quiet: bool) -> None:
    """`python -m training run` on node.processes ranks through accelerate launch (DDP), its
    output in <out>.launch.log; the recipe's global_batch_size keeps the 1-process batch."""
    import socket

    with socket.socket() as s:  # a free port for the ranks' rendezvous
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    root = str(Path(__file__).resolve().parents[1])  # where `training` imports from
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu"]
    cmd += ["--num_processes", str(node.processes), "--num_machines", "1"]
    cmd += ["--main_process_port", str(port), "--dynamo_backend", "no"]
    cmd += ["-m", "training", "run", str(recipe), "--output-dir", str(out), "--name", node.model]
    log = out.with_name(out.name + ".launch.log")
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as f:
        rc = subprocess.run(
            [*cmd, *(["--quiet"] if quiet else [])], env=env, stdout=f, stderr=subprocess.STDOUT
        ).returncode
    if rc:
        said = [line for line in log.read_text().splitlines() if "error: " in line]
        why = said[-1][said[-1].index("error: ") :] if said else f"accelerate launch exited {rc}"
        raise HarnessError(f"{node.id}: {why} (log: {log})")


def _evaluate(spec: ExperimentSpec, node: Node, quiet: bool) -> dict:
    from harness.api import evaluate

    options = eval_options(spec.evaluation, store=spec.store, quiet=quiet)
    (outcome,) = evaluate(node.model, [node.suite], options)
    if outcome.status not in DONE:
        raise HarnessError(f"{node.id}: run {outcome.run_id} {outcome.status}")
    return {
        "run_id": outcome.run_id,
        "status": outcome.status,
        "failed": outcome.result.failed,
        "model": node.model,
        "suite": node.suite,
    }


def run_ids(node: Node, store: Store) -> list[str]:
    """The evaluation runs a leaderboard or report node reads (its `evals` inputs), checked to
    share one comparability key per suite."""
    ids, keys = [], {}
    for key in node.inputs["evals"]:
        record = store.get_node(key)
        if record is None:
            raise HarnessError(f"{node.id}: an evaluation has not run; run the experiment first")
        run = store.run(record["run_id"])
        model, suite = record["model"], record["suite"]
        first = keys.setdefault(suite, (model, run.comparability))
        why = differences(first[1], run.comparability)
        if why:
            raise HarnessError(
                f"{suite}: runs of {first[0]} and {model} are not comparable: {'; '.join(why)}"
            )
        ids.append(run.id)
    return ids


def _leaderboard(spec: ExperimentSpec, node: Node, quiet: bool) -> dict:
    from leaderboards.board import collect, combined_table

    store = _store(spec)
    ids = run_ids(node, store)
    suites = spec.evaluation.suites
    entries = collect(store, suites, spec.compared, ids, spec.report.published)
    table = combined_table(entries, suites)
    out = spec.out_dir / "leaderboard"
    for fmt in ("md", "csv", "tex"):
        _write_atomic(out.with_suffix(f".{fmt}"), table.render({"tex": "latex"}.get(fmt, fmt)))
    if not quiet:
        print(table.render("md"), file=sys.stderr)
    return {"path": str(out.with_suffix(".md")), "runs": ids}


def _report(spec: ExperimentSpec, node: Node, quiet: bool) -> dict:
    from reports.build import build_report
    from reports.spec import ReportSpec

    store = _store(spec)
    report_spec = ReportSpec(
        ecd=spec.ecd,
        baselines=spec.models.baselines,
        references=spec.models.references,
        suites=spec.evaluation.suites,
        runs=run_ids(node, store),
        **asdict(spec.report),
    )
    report_spec.check(spec.origin)
    final = spec.out_dir / "report"
    staged = spec.out_dir / f".report.{os.getpid()}"
    shutil.rmtree(staged, ignore_errors=True)
    build_report(report_spec, store, staged)
    _write_atomic(staged / SETTINGS_FILE, _settings(spec))
    old = spec.out_dir / f".report.old.{os.getpid()}"
    if final.exists():
        os.replace(final, old)
    os.replace(staged, final)
    shutil.rmtree(old, ignore_errors=True)
    if not quiet:
        print(f"report: {final}", file=sys.stderr)
    return {"path": str(final / REPORT_FILE)}


def _settings(spec: ExperimentSpec) -> str:
    """Every setting of the experiment (the spec as checked, each model's recipe as trained)."""
    import yaml

    from harness.redact import redact_tree

    settings = {k: v for k, v in asdict(spec).items() if k != "origin"}
    generation = asdict(spec.generation_config())  # every field, defaults included
    generation.pop("store")  # said once below
    settings["generation"] = generation
    settings["store"] = store_location(spec)
    settings["recipes"] = {name: spec.recipe_data(name) for name in spec.training}
    # base URLs' passwords (the store's, the teacher's, a judge's, a model's) masked
    return yaml.safe_dump(redact_tree(settings), sort_keys=False, allow_unicode=True)


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


_STORES: dict[str, Store] = {}


def _store(spec: ExperimentSpec) -> Store:
    """One open store per location and process (Ray workers open their own)."""
    from harness.store import open_store

    where = store_location(spec)
    if where not in _STORES:
        _STORES[where] = open_store(where)
    return _STORES[where]


STEPS = {
    "generate": _generate,
    "train": _train,
    "evaluate": _evaluate,
    "leaderboard": _leaderboard,
    "report": _report,
}
