"""Experiments: one spec from ECD data to the report; plan, run, resume after kill -9, a second run
that does nothing, Ray and PostgreSQL giving the local run's results."""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, run_module
from safetensors.torch import load_file

from harness.registry import ModelSpec, register
from harness.store import open_store
from training.random_model import build_random_model

PAPER = ROOT / "experiments" / "ecd-paper.yaml"
TINY = ROOT / "experiments" / "tiny-cpu.yaml"
TEXTS = [
    "Write two sentences about the sea.",
    "Here is the sea. It is calm today.",
    "Answer in JSON with a key 'text'.",
    "Write a short poem about rain, in lowercase, without commas.",
]


@pytest.fixture(scope="module")
def tiny_teacher(tmp_path_factory) -> Path:
    """A tiny random Llama: teacher, base model and baseline of the test experiments."""
    return build_random_model(tmp_path_factory.mktemp("tiny-teacher"), TEXTS * 4)


@pytest.fixture(scope="module")
def registry(tmp_path_factory, tiny_teacher) -> Path:
    """A registry of these tests' own (child processes see it too), with the tiny model in it."""
    path = tmp_path_factory.mktemp("registry") / "registry.yaml"
    with pytest.MonkeyPatch.context() as env:
        env.setenv("ECD_HARNESS_REGISTRY", str(path))
        register(
            ModelSpec(
                name="tiny-base",
                source=str(tiny_teacher),
                params_b=0.0001,
                group="baseline",
                sampling={"temperature": 0.0, "max_new_tokens": 8},
            )
        )
        yield path


def _spawn(spec: Path, threads: str | None = "1") -> subprocess.Popen:
    """`experiments run SPEC --quiet` as `_run` starts it (or with torch's own thread count), its
    stderr read line by line."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "tests")}
    if threads:
        env["OMP_NUM_THREADS"] = threads
    return subprocess.Popen(
        [sys.executable, "-m", "experiments", "run", str(spec), "--quiet"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def _timed_run(spec: Path, threads: str | None = "1") -> dict[str, float]:
    """Run SPEC to the end: each step's seconds (from its start line to the next step's, or to
    the end)."""
    p = _spawn(spec, threads)
    lines, starts = [], []
    for line in p.stderr:
        lines.append(line)
        if line.startswith("start "):
            starts.append((line.split()[1], time.monotonic()))
    assert p.wait() == 0, "".join(lines)[-3000:]
    ends = [t for _, t in starts[1:]] + [time.monotonic()]
    return {name: end - t for (name, t), end in zip(starts, ends, strict=True)}


def _kill_in_steps(
    spec: Path, targets: list[str], steps: dict[str, float], threads: str | None = "1"
) -> None:
    """One run of SPEC per target step, killed with -9 at a random point in the step's first half
    (by the uninterrupted run's time of it, `steps`), so that the kill lands inside the step on a
    fast machine as on a slow one."""
    rng = random.Random(0)
    for target in targets:
        p, said = _spawn(spec, threads), []
        for line in p.stderr:
            said.append(line)
            if line.startswith(f"start {target}"):
                time.sleep(rng.uniform(0.0, 0.5) * steps[target])
                p.send_signal(signal.SIGKILL)
                break
        p.wait()
        assert p.returncode == -signal.SIGKILL, f"ended before {target!r}: {''.join(said)[-3000:]}"


@pytest.fixture(scope="module")
def reference(tmp_path_factory, registry) -> tuple[Path, dict, dict]:
    """One uninterrupted local run with a SQLite store: its folder, its metrics, its step times."""
    ref = tmp_path_factory.mktemp("reference")
    steps = _timed_run(tiny_spec(ref, ref / "store.sqlite"))
    return ref, metrics(ref / "store.sqlite"), steps


def tiny_spec(folder: Path, store: str | Path, **changes) -> Path:
    """The tiny-cpu experiment's shape on the tiny random model: 3 seeds, 1 round, two variants,
    two ECD models of one SFT + one DPO step, 3 IFEval prompts."""
    train = {"base_model": "tiny-base", "sft": {"max_steps": 1}, "dpo": {"max_steps": 1}}
    spec = {
        "name": "t",
        "generation": {
            "seeds": {"limit": 3},
            "rounds": 1,
            "teacher": {"model": "tiny-base"},
            "evolve_fallback": True,  # a random model can't rewrite: append the constraint
            "evolve": {"max_new_tokens": 8},
            "respond": {"max_new_tokens": 8},
            "decontaminate": {"enabled": False},
        },
        "variants": {"hard": {}, "random": {"negatives": "random"}},
        "training": {
            "ecd-a": {"recipe": "tiny-cpu", "data": "hard", "overrides": train},
            "ecd-b": {"recipe": "tiny-cpu", "data": "random", "overrides": train},
        },
        "models": {"baselines": ["tiny-base"]},
        "evaluation": {"suites": ["ifeval"], "limit": 3, "max_new_tokens": 8, "temperature": 0.0},
        "report": {"examples": 0, "bootstrap": 100},
        "out": str(folder / "out"),
        "store": str(store),
        **changes,
    }
    path = folder / "spec.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def metrics(store: str | Path) -> dict:
    """Each model's finished IFEval metrics in the store."""
    s = open_store(store)
    try:
        return {(r.model, r.suite): r.metrics for r in s.runs()}
    finally:
        s.close()


def _bad(tmp_path: Path, **changes) -> str:
    """The one-line error a broken spec gets from `plan` (in this process: the CLI's path)."""
    from experiments.dag import build_plan
    from experiments.spec import load_experiment
    from harness.errors import HarnessError

    with pytest.raises(HarnessError) as e:
        build_plan(load_experiment(tiny_spec(tmp_path, tmp_path / "s.sqlite", **changes)))
    assert "\n" not in str(e.value)
    return str(e.value)


def test_spec_mistakes_are_one_line_before_any_work(tmp_path, registry):
    assert "training.ecd-a.data is 'nope'" in _bad(
        tmp_path, training={"ecd-a": {"recipe": "tiny-cpu", "data": "nope"}}
    )
    assert "named twice" in _bad(tmp_path, models={"baselines": ["tiny-base", "tiny-base"]})
    assert "generation.out is set by the experiment" in _bad(tmp_path, generation={"out": "x"})
    assert "evaluation.suites" in _bad(tmp_path, evaluation={"suites": ["nosuch"]})
    assert "unknown keys ['color']" in _bad(tmp_path, color="red")
    # registry entries that sample differently (8 vs the recipe's 256 new tokens) no longer
    # matter: every model runs the suite at its own settings, one comparability key per suite
    from experiments.dag import build_plan
    from experiments.spec import load_experiment

    plan = build_plan(
        load_experiment(
            tiny_spec(
                tmp_path, tmp_path / "s.sqlite", evaluation={"suites": ["ifeval"], "limit": 3}
            )
        )
    )
    samplings = [n.inputs["run"]["sampling"] for n in plan.evals()]
    assert len(samplings) > 1 and all(s == samplings[0] for s in samplings)
    assert samplings[0]["max_new_tokens"] == 1280, samplings[0]
    # the command line: exit 2, one error line, nothing written
    spec = tiny_spec(tmp_path, tmp_path / "s.sqlite", color="red")
    r = run_module("experiments", "run", str(spec))
    assert r.returncode == 2 and r.stderr.count("error:") == 1, r.stderr
    assert not (tmp_path / "s.sqlite").exists() and not (tmp_path / "out").exists()


def test_a_second_run_of_an_experiment_in_progress_is_refused(tmp_path, registry, capsys):
    """Two `experiments run` with one output folder at once would generate, train and report
    into the same folders: while the first runs, the second is refused in one line."""
    from experiments.cli import main

    spec = tiny_spec(tmp_path, tmp_path / "store.sqlite")
    first = _spawn(spec)
    try:
        said = [first.stderr.readline()]
        while said[-1] and not said[-1].startswith("start "):  # the first is at work
            said.append(first.stderr.readline())
        assert first.poll() is None, "".join(said)
        assert main(["run", str(spec), "--quiet"]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and err.count("\n") == 1, err
        assert f"is being written by another process (pid {first.pid})" in err
        assert first.poll() is None, "the first run ended before the second started"
    finally:
        first.kill()
        first.wait()


def test_the_report_settings_mask_every_url_password(tmp_path):
    """The report's settings file lists every setting: the teacher's, a judge's and the store's
    URLs are written with their passwords masked."""
    from experiments.spec import load_experiment
    from experiments.steps import _settings

    spec = yaml.safe_load(PAPER.read_text())
    spec["generation"]["teacher"]["base_url"] = "http://alice:TEACHERPW1@teacher:8000/v1"
    spec["evaluation"]["judge_base_url"] = "https://bob:JUDGEPW22@judge.example/v1"
    spec["store"] = "postgresql://carol:STOREPW333@db:5432/runs"
    path = tmp_path / "paper.yaml"
    path.write_text(yaml.safe_dump(spec))
    text = _settings(load_experiment(path))
    assert "http://alice:***@teacher:8000/v1" in text and "https://bob:***@judge.example" in text
    assert "carol:***@db" in text
    assert not re.search("TEACHERPW1|JUDGEPW22|STOREPW333", text)


def test_plan_of_the_paper_prints_the_whole_dag_with_costs():
    r = run_module("experiments", "plan", str(PAPER))
    assert r.returncode == 0, r.stderr
    out = r.stdout
    spec = yaml.safe_load(PAPER.read_text())
    models = spec["models"]["baselines"] + list(spec["training"]) + spec["models"]["references"]
    suites = spec["evaluation"]["suites"]
    steps = 1 + len(spec["training"]) + len(models) * len(suites) + 2
    assert f"experiment ecd-paper: {steps} steps, 0 done, {steps} to run" in out
    rows = {ln.split()[0]: ln for ln in out.splitlines()[2 : 2 + steps]}
    assert list(rows)[0] == "generate" and list(rows)[-2:] == ["leaderboard", "report"]
    for name in spec["training"]:
        assert f"train:{name}" in rows and "GPU-h" in rows[f"train:{name}"]
    for m in models:
        for s in suites:
            assert f"evaluate:{m}:{s}" in rows
    # an ECD model's evaluation waits for its training; a baseline's for nothing
    assert "train:ecd-mistral-7b-sft-dpo" in rows["evaluate:ecd-mistral-7b-sft-dpo:ifeval"]
    # judged suites cost judge calls priced at the harness's table; MT-Bench is 80 x 2 turns
    mt = rows["evaluate:zephyr-7b-beta:mt_bench"].split()
    assert mt[3:5] == ["160", "160"] and mt[6].startswith("$")
    assert "541" in rows["evaluate:zephyr-7b-beta:ifeval"].split()
    # the generation: 10,000 seeds x (3 evolutions + 4 answers) calls of the API teacher, priced
    assert rows["generate"].split()[3] == "70,000" and "$" in rows["generate"]
    total = re.search(
        r"to run: ([\d,]+) model calls, ([\d,]+) judge calls.*\$([\d,.]+).*GPU-h", out
    )
    assert total and float(total.group(3).replace(",", "")) > 0
    assert "Qwen2.5-0.5B shapes on one H100" in out  # which measurement the hours come from
    # the baselines are served by vLLM, not measured on a GPU yet: no hours borrowed from hf
    assert rows["evaluate:zephyr-7b-beta:ifeval"].split()[-1] == "-"
    assert re.search(
        r"no time: evaluate:\S+ and \d+ more steps: vllm generate not measured on gpu", out
    )
    # offline, identities that need the hub or an API key are said once per cause, not guessed
    assert "unknown until run: generate: OPENAI_API_KEY is not set" in out


def _run(spec: Path, *extra: str) -> subprocess.CompletedProcess:
    """One thread for every run, local or Ray (whose tasks get their CPU count otherwise): CPU
    matmuls sum in thread-dependent order, and these tests compare results exactly."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("OMP_NUM_THREADS", "1")
        return run_module("experiments", "run", str(spec), "--quiet", *extra, timeout=900)


def test_tiny_experiment_runs_resumes_after_kills_and_a_second_run_does_nothing(
    tmp_path, reference
):
    ref, expected, steps = reference
    assert (ref / "out" / "report" / "report.md").is_file()
    board = (ref / "out" / "leaderboard.csv").read_text()
    assert all(m in board for m in ("tiny-base", "ecd-a", "ecd-b"))
    assert len(expected) == 3
    spec = tiny_spec(ref, ref / "store.sqlite")

    # a second run: every step done, no model call, nothing trained
    store = open_store(ref / "store.sqlite")
    calls, runs = store.count("generations"), store.count("runs")
    weights = sorted((ref / "out" / "models").rglob("*.safetensors"))
    stamps = [w.stat().st_mtime_ns for w in weights]
    again = _run(spec)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "8 of 8 steps done, 0 to run" in again.stderr
    assert (store.count("generations"), store.count("runs")) == (calls, runs)
    assert [w.stat().st_mtime_ns for w in weights] == stamps

    # killed with -9 in generation, training and evaluation, then rerun to the end
    work = tmp_path / "killed"
    work.mkdir()
    spec = tiny_spec(work, work / "store.sqlite")
    targets = [  # the local executor's order: baselines are evaluated before the ECD models
        "generate",
        "train:ecd-a",
        "train:ecd-b",
        "evaluate:tiny-base:ifeval",
        "evaluate:ecd-a:ifeval",
    ]
    _kill_in_steps(spec, targets, steps)
    final = _run(spec)
    assert final.returncode == 0, final.stderr[-3000:]
    assert metrics(work / "store.sqlite") == expected
    # the same leaderboard, intervals included (seeded bootstrap), as the uninterrupted run's
    board = (work / "out" / "leaderboard.csv").read_text()
    assert board == (ref / "out" / "leaderboard.csv").read_text()
    killed = open_store(work / "store.sqlite")
    # nothing done twice: the same model calls as the uninterrupted run, one finished run per
    # model, one record per step
    assert killed.count("generations") == calls
    finished = [r for r in killed.runs() if r.status == "finished"]
    assert len(finished) == len({(r.model, r.suite) for r in finished}) == 3
    assert killed.count("nodes") == 8
    assert (work / "out" / "report" / "report.md").is_file()


def test_the_plans_evaluation_keys_are_the_runs_comparability_keys(reference):
    """The planner addresses an evaluation by the harness's own prepared run
    (`harness.api.prepare`): each evaluate node the experiment marked done holds the very
    comparability key its run stored, baselines and trained ECD models alike."""
    from experiments.dag import build_plan
    from experiments.spec import load_experiment

    ref, _, _ = reference
    plan = build_plan(load_experiment(tiny_spec(ref, ref / "store.sqlite")))
    store = open_store(ref / "store.sqlite")
    try:
        evals = plan.evals()
        assert {n.model for n in evals} == {"tiny-base", "ecd-a", "ecd-b"}
        for node in evals:
            record = store.get_node(node.key)
            assert record is not None, f"{node.id}: the plan's key is not the one run"
            stored = store.run(record["run_id"]).comparability
            assert stored == json.loads(json.dumps(node.inputs["run"]))
    finally:
        store.close()


@pytest.mark.slow  # 80 s for both executors: `pytest -m slow tests/test_experiments.py -k gpus_2`
@pytest.mark.parametrize("executor", ["local", "ray"])
def test_training_steps_at_gpus_2_run_two_processes_with_the_local_results(
    tmp_path, reference, executor
):
    """`gpus: 2` launches each training step on 2 ranks (accelerate launch; gloo on CPU), from
    this process or a Ray task: the same global batch, so the same trained models and the same
    scores as one process."""
    spec = yaml.safe_load(tiny_spec(tmp_path, tmp_path / "store.sqlite").read_text())
    for entry in spec["training"].values():
        entry["gpus"] = 2
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    r = _run(path, "--executor", executor, *(["--ray-cpus", "2"] if executor == "ray" else []))
    assert r.returncode == 0, r.stderr[-3000:]
    (log,) = (tmp_path / "out" / "models" / "ecd-a").glob("*.launch.log")
    assert log.read_text().count("sft: global batch 2 = 2 processes x 1 per device") == 1
    assert metrics(tmp_path / "store.sqlite") == reference[1]
    ref_models = sorted((reference[0] / "out" / "models").rglob("dpo/model/model.safetensors"))
    models = sorted((tmp_path / "out" / "models").rglob("dpo/model/model.safetensors"))
    # the same weights up to float32 summation order (gradients summed over ranks vs accumulated)
    assert len(models) == len(ref_models) == 2
    for mine, ref in zip(models, ref_models):
        a, b = load_file(mine), load_file(ref)
        assert a.keys() == b.keys()
        assert max((a[k] - b[k]).abs().max().item() for k in a) < 1e-6


def test_ray_cluster_and_postgres_store_give_the_local_results(tmp_path, reference, postgres_url):
    distributed = tmp_path / "ray"
    distributed.mkdir()
    spec = tiny_spec(distributed, postgres_url)
    r = _run(spec, "--executor", "ray", "--ray-cpus", "2")
    assert r.returncode == 0, r.stderr[-3000:]
    assert "(ray)" in r.stderr
    assert metrics(postgres_url) == reference[1]
    assert (distributed / "out" / "report" / "report.md").is_file()
    assert _run(spec, "--executor", "ray", "--ray-cpus", "2").stderr.count("0 to run") == 1


@pytest.mark.slow
def test_tiny_cpu_as_shipped_killed_at_random_points_ends_as_the_uninterrupted_run(
    tmp_path, monkeypatch
):
    """experiments/tiny-cpu.yaml itself, on the embedded model (about 12 minutes a run on 2 cores):
    killed with -9 in generation, training and evaluation and rerun, it ends with the
    uninterrupted run's metrics and leaderboard, no model call made twice; a second run does
    nothing. torch's own thread count, as a user runs it."""
    monkeypatch.setenv("ECD_HARNESS_REGISTRY", str(tmp_path / "registry.yaml"))

    def shipped(folder: Path) -> Path:
        spec = yaml.safe_load(TINY.read_text())
        spec.update(out=str(folder / "out"), store=str(folder / "store.sqlite"))
        folder.mkdir()
        (folder / "tiny-cpu.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
        return folder / "tiny-cpu.yaml"

    ref, work = tmp_path / "ref", tmp_path / "killed"
    steps = _timed_run(shipped(ref), threads=None)
    targets = [
        "generate",
        "train:ecd-tiny-hard",
        "train:ecd-tiny-sft",
        "evaluate:smollm2-135m-instruct:ifeval",
        "evaluate:ecd-tiny-random:ifeval",
    ]
    _kill_in_steps(shipped(work), targets, steps, threads=None)
    _timed_run(work / "tiny-cpu.yaml", threads=None)
    assert metrics(work / "store.sqlite") == metrics(ref / "store.sqlite")
    board = (work / "out" / "leaderboard.csv").read_text()
    assert board == (ref / "out" / "leaderboard.csv").read_text()
    killed, uninterrupted = open_store(work / "store.sqlite"), open_store(ref / "store.sqlite")
    assert killed.count("generations") == uninterrupted.count("generations")
    finished = [r for r in killed.runs() if r.status == "finished"]
    assert len(finished) == len({(r.model, r.suite) for r in finished}) == 5
    again = _spawn(work / "tiny-cpu.yaml", threads=None)
    said = again.stderr.read()
    assert again.wait() == 0 and "12 of 12 steps done, 0 to run" in said
    assert killed.count("generations") == uninterrupted.count("generations")
