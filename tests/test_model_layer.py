"""The model layer: a backend is one file that declares its options (tests/toy_backend.py, loaded
through $ECD_HARNESS_PLUGINS); declared options become flags, registry entries carry them, flags
beat entries, unknown ones are one line, and options that do not change outputs leave a model's
identity (and so its cache) as it was."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import run_module

from generation.cli import build_parser, config_from_args
from generation.pipeline import backend_options
from harness.api import _backend_options  # what `harness run` gives the backend
from harness.backends import fingerprint_for, resolve_options
from harness.backends.vllm import engine_args
from harness.backends.weights import fingerprint
from harness.errors import HarnessError
from harness.flags import parse_run_flags
from harness.registry import ModelSpec, load_registry, resolve_model
from harness.store import Store

TESTS = Path(__file__).resolve().parent


def cli(module: str, *args: str) -> subprocess.CompletedProcess:
    return run_module(module, *args, plugins="toy_backend")


def toy_run(store: Path, data_dir: Path, *extra: str) -> subprocess.CompletedProcess:
    args = ["run", "--suite", "ifeval", "--model", "org/toy", "--backend", "toy", "--limit", "3"]
    return cli("harness", *args, "--data-dir", str(data_dir), "--store", str(store), *extra)


def test_a_backend_is_one_file(tmp_path, data_dir):
    store = tmp_path / "s.sqlite"
    helped = cli("harness", "run", "--help")
    assert "--toy-shout" in helped.stdout and "toy backend: answer in capitals" in helped.stdout
    assert "hf, openai, toy, vllm" in helped.stdout

    plain = toy_run(store, data_dir, "--quiet")
    assert plain.returncode == 0, plain.stderr
    shout = toy_run(store, data_dir, "--quiet", "--toy-shout")
    assert shout.returncode == 0, shout.stderr

    db = Store(store)
    first, second = db.runs(suite="ifeval", model="org/toy")
    replies = [[r["response"] for r in db.scores(run.id)] for run in (first, second)]
    assert len(replies[0]) == 3 and replies[1] == [r.upper() for r in replies[0]] != replies[0]
    assert first.model_fingerprint != second.model_fingerprint, "an output option is identity"
    stored = db.db.execute("SELECT model_fingerprint, request, text FROM generations").fetchall()
    assert len(stored) == 6, "shouted replies were generated, not taken from the cache"
    for fp, request, text in stored:
        reversed_prompt = json.loads(request)["conversation"][-1]["content"][::-1]
        shouted = fp == second.model_fingerprint
        assert text == (reversed_prompt.upper() if shouted else reversed_prompt)

    shown = cli(
        "leaderboards", "show", "--suite", "ifeval", "--store", str(store), "--format", "csv"
    )
    assert shown.returncode == 0, shown.stderr
    assert "org/toy" in shown.stdout


def test_an_option_the_backend_does_not_take_is_one_line(tmp_path, data_dir):
    store = tmp_path / "s.sqlite"
    done = toy_run(store, data_dir, "--backend", "hf", "--toy-shout")
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "error: backend options: the hf backend takes no option 'shout' (--toy-shout); "
        "its options: batch_size, device, dtype"
    ]
    assert not store.exists()
    bad = toy_run(store, data_dir, "--tensor-parallel-size", "0")
    assert bad.returncode == 2 and len(bad.stderr.splitlines()) == 1
    assert "argument --tensor-parallel-size: expected int > 0, got '0'" in bad.stderr


def registry(tmp_path, monkeypatch, entry: str) -> None:
    path = tmp_path / "registry.yaml"
    path.write_text(f"models:\n  big:\n    source: org/big\n    backend: vllm\n{entry}")
    monkeypatch.setenv("ECD_HARNESS_REGISTRY", str(path))


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ("    backend_options: {batch_size: 4}\n", "the vllm backend takes no option 'batch_size'"),
        (
            "    backend_options: {tensor_parallel_size: 0}\n",
            "model 'big': backend_options.tensor_parallel_size: expected int > 0, got 0",
        ),
        ("    backend_options: [4]\n", "model 'big': backend_options: expected a mapping"),
    ],
)
def test_registry_entry_options_are_checked(entry, expected, tmp_path, monkeypatch):
    registry(tmp_path, monkeypatch, entry)
    with pytest.raises(HarnessError) as e:
        load_registry()
    assert expected in str(e.value) and "\n" not in str(e.value)


def test_vllm_options_reach_the_engine(tmp_path, monkeypatch):
    """The registry entry's options, then the flags over them, are vllm.LLM's keywords."""
    registry(tmp_path, monkeypatch, "    backend_options: {tensor_parallel_size: 4}\n")
    spec = resolve_model("big")

    def engine(*flags: str) -> dict:
        _, _, options = parse_run_flags(["--suite", "ifeval", "--model", "big", *flags])
        return engine_args(spec, **resolve_options(spec, "vllm", _backend_options(options)))

    assert engine() == {
        "model": "org/big",
        "revision": None,
        "trust_remote_code": False,
        "tensor_parallel_size": 4,  # the entry's
        "data_parallel_size": 1,
        "max_model_len": None,
        "gpu_memory_utilization": 0.85,
        "dtype": "auto",
        "seed": 0,
    }
    sized = engine("--kv-cache-gib", "1.5", "--max-num-seqs", "32")
    assert (sized["kv_cache_memory_bytes"], sized["max_num_seqs"]) == (3 * 2**29, 32)
    flagged = engine("--tensor-parallel-size", "2", "--data-parallel-size", "3")
    assert (flagged["tensor_parallel_size"], flagged["data_parallel_size"]) == (2, 3)
    assert engine("--gpu-memory-utilization", "0.5")["gpu_memory_utilization"] == 0.5
    # another backend for the same model does not get the vllm entry's options
    assert resolve_options(spec, "hf", {}) == {"batch_size": 64, "device": None, "dtype": "auto"}


def test_the_70b_references_are_split_over_gpus():
    for name in ("llama-2-70b-chat", "tulu-2-dpo-70b", "llama-3-70b-instruct"):
        spec = resolve_model(name)
        assert spec.backend == "vllm" and spec.backend_options["tensor_parallel_size"] > 1


def test_generation_takes_backend_options_the_same_way(tmp_path, monkeypatch):
    registry(tmp_path, monkeypatch, "    backend_options: {tensor_parallel_size: 4}\n")
    spec = resolve_model("big")
    config = tmp_path / "ecd.yaml"
    config.write_text("teacher: {backend_options: {gpu_memory_utilization: 0.7}}\n")
    argv = ["run", "--config", str(config), "--teacher", "big", "--tensor-parallel-size", "8"]
    teacher = config_from_args(build_parser().parse_args(argv)).teacher
    assert teacher.backend_options == {"gpu_memory_utilization": 0.7, "tensor_parallel_size": 8}
    engine = engine_args(spec, **resolve_options(spec, "vllm", backend_options(teacher, "vllm")))
    assert (engine["tensor_parallel_size"], engine["gpu_memory_utilization"]) == (8, 0.7)
    served = config_from_args(build_parser().parse_args(["run", "--concurrency", "3"])).teacher
    given = backend_options(served, "openai")  # None: not given
    assert given == {"base_url": None, "concurrency": 3, "max_retries": None, "timeout": None}
    assert {k: v for k, v in resolve_options(spec, "openai", given).items() if k in given} == {
        "base_url": None,
        "concurrency": 3,
        "max_retries": 6,
        "timeout": 120.0,
    }


def test_options_that_do_not_change_outputs_keep_the_identity(tmp_path):
    """Batch size, parallelism and memory share are not identity: existing caches stay valid, and
    the identity is still exactly what it was: backend, weights, template, system prompt."""
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "model.safetensors").write_bytes(b"weights")
    spec = resolve_model(str(tmp_path))
    for backend, options in [
        ("hf", {"batch_size": 1}),
        ("vllm", {"tensor_parallel_size": 8, "data_parallel_size": 2}),
        ("vllm", {"gpu_memory_utilization": 0.5}),
    ]:
        expected = f"{backend}:{fingerprint(spec)}:auto:None"
        assert fingerprint_for(spec, backend) == expected
        assert fingerprint_for(spec, backend, **options) == expected
    entry = ModelSpec(
        name="m", source=str(tmp_path), backend="vllm", backend_options={"tensor_parallel_size": 4}
    )
    assert fingerprint_for(entry, "vllm") == f"vllm:{fingerprint(spec)}:auto:None"
    tagged = fingerprint_for(spec, "hf", model_tag="v2", batch_size=8)
    assert tagged == f"hf:{fingerprint(spec)}:auto:None:tag=v2"


def test_processes_registering_at_once_keep_every_entry(tmp_path):
    """An experiment's trainings finish in parallel and each registers its model: the user
    registry's read-modify-write is taken in turn, so no entry is lost."""
    code = (
        "import sys; from harness.registry import ModelSpec, register\n"
        "for i in range(20): register(ModelSpec(name=f'm{sys.argv[1]}-{i}', source='/x'))"
    )
    env = {k: v for k, v in os.environ.items() if k != "ECD_HARNESS_REGISTRY"}
    env["ECD_HARNESS_HOME"] = str(tmp_path)
    root = Path(__file__).resolve().parents[1]
    procs = [
        subprocess.Popen([sys.executable, "-c", code, str(p)], env=env, cwd=root) for p in range(4)
    ]
    assert all(p.wait(timeout=120) == 0 for p in procs)
    written = yaml.safe_load((tmp_path / "registry.yaml").read_text())["models"]
    assert set(written) == {f"m{p}-{i}" for p in range(4) for i in range(20)}
