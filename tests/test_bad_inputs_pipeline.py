"""Bad input to `python -m generation run`, `python -m training check|run`, `python -m reports build`
and the model registry: one `error:` line naming the file, key or flag, exit status 2, nothing
written (no output folder, store unchanged), and all of it before any model is loaded or called."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from openai_server import OpenAIServer

from generation.cli import main as generation_main
from harness.errors import HarnessError
from harness.registry import load_registry
from harness.store import Store
from reports.__main__ import main as reports_main
from training.cli import main as training_main

ROOT = Path(__file__).resolve().parents[1]
NOT_UTF8 = b"name: caf\xe9\n"  # Latin-1, as a Windows editor might save it


def error_line(main, argv: list[str], capsys) -> str:
    """The one stderr line of a CLI that refused its input with status 2."""
    try:
        code = main(argv)
    except SystemExit as e:  # argparse refusals
        code = e.code
    err = capsys.readouterr().err
    assert code == 2, err
    assert len(err.splitlines()) == 1 and err.startswith("error: "), err
    return err.strip()


def digest(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None


# ------------------------------------------------------------------------------ generation


def generation_args(tmp: Path, base_url: str, seeds: Path, *extra: str) -> list[str]:
    return [
        "run",
        "--teacher",
        "loopback-teacher",
        "--backend",
        "openai",
        "--base-url",
        base_url,
        "--seeds",
        str(seeds),
        "--no-decontaminate",
        "--out",
        str(tmp / "out"),
        "--store",
        str(tmp / "s.sqlite"),
        "--quiet",
        *extra,
    ]


def assert_nothing_written(tmp: Path) -> None:
    assert not (tmp / "out").exists() and not list(tmp.glob(".out*"))
    assert not (tmp / "s.sqlite").exists()


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ("rounds: three", "rounds: expected int in 1..100, got 'three'"),
        ("rounds: 0", "rounds: expected int in 1..100, got 0"),
        ("rounds: 100000", "rounds: expected int in 1..100, got 100000"),
        ("rounds: true", "rounds: expected int in 1..100, got True"),
        ("seed: -1", "seed: expected int in 0..4294967295, got -1"),
        ("teacher: {concurrency: 0}", "teacher.concurrency: expected int > 0 or null, got 0"),
        ("teacher: {timeout: 0}", "teacher.timeout: expected float > 0 or null, got 0"),
        ("teacher: {batch_size: '16'}", "teacher.batch_size: expected int > 0 or null, got '16'"),
        ("teacher: {max_retries: -1}", "teacher.max_retries: expected int >= 0 or null, got -1"),
        ("teacher: {backend: tgi}", "teacher.backend: expected str (one of hf, openai, vllm)"),
        ("seeds: [a, b]", "seeds: expected a mapping, got ['a', 'b']"),
        ("seeds: {limit: 0}", "seeds.limit: expected int > 0 or null, got 0"),
        ("seeds: {path: 5}", "seeds.path: expected str or null, got 5"),
        ("respond: {temperature: .nan}", "respond.temperature: expected float >= 0, got nan"),
        ("respond: {top_p: 0}", "respond.top_p: expected float in (0, 1], got 0"),
        ("evolve: {max_new_tokens: -1}", "evolve.max_new_tokens: expected int > 0, got -1"),
        ("weights: [format]", "weights: expected a mapping of str to float"),
        ("weights: {format: .inf}", "weights: expected a mapping of str to float"),
        ("decontaminate: {benchmarks: ifeval}", "decontaminate.benchmarks: expected a list of str"),
        ("decontaminate: {ngram: 0}", "decontaminate.ngram: expected int > 0, got 0"),
        ("variants: {a: 3}", "variants.a: expected a mapping, got 3"),
        ("export: {operations: format}", "export.operations: expected a list of str or null"),
        ("export: {max_round: -1}", "export.max_round: expected int >= 0 or null, got -1"),
        ("evolve_fallback: 'yes'", "evolve_fallback: expected bool or null, got 'yes'"),
        ("verify: {judge: 1}", "verify.judge: expected bool, got 1"),
        ("out: null", "out: expected str, got None"),
        ("- rounds\n- 3", "expected a mapping, got list"),
        ("three", "expected a mapping, got str"),
        ("false", "expected a mapping, got bool"),
        ("teacher: {model: 5}", "teacher.model: expected str, got 5"),
        ("1: x", "unknown keys ['1']"),
    ],
)
def test_generation_config_values(config, expected, tmp_path, capsys):
    """Checked before the seeds are read: these seeds do not exist, so only the check can fail."""
    cfg = tmp_path / "ecd.yaml"
    cfg.write_text(config + "\n")
    argv = generation_args(tmp_path, "http://127.0.0.1:9/v1", tmp_path / "no-seeds.jsonl")
    err = error_line(generation_main, [*argv, "--config", str(cfg)], capsys)
    assert err.startswith(f"error: {cfg}: ") and expected in err
    assert_nothing_written(tmp_path)


@pytest.mark.parametrize(
    ("flag", "value", "expected"),
    [
        ("--limit", "0", "expected int > 0, got '0'"),
        ("--limit", "-1", "expected int > 0, got '-1'"),
        ("--concurrency", "0", "expected int > 0, got '0'"),  # hung: a zero-slot semaphore
        ("--batch-size", "0", "expected int > 0, got '0'"),
        ("--rounds", "0", "expected int in 1..100, got '0'"),
        ("--rounds", "-1", "expected int in 1..100, got '-1'"),
        ("--max-new-tokens", "-1", "expected int > 0, got '-1'"),
        ("--evolve-max-new-tokens", "0", "expected int > 0, got '0'"),
        ("--seed", "-1", "expected int in 0..4294967295, got '-1'"),
        ("--limit", "ten", "expected int > 0, got 'ten'"),
    ],
)
def test_generation_flags(flag, value, expected, tmp_path, capsys):
    argv = generation_args(tmp_path, "http://127.0.0.1:9/v1", tmp_path / "no-seeds.jsonl")
    err = error_line(generation_main, [*argv, flag, value], capsys)
    assert f"argument {flag}: {expected}" in err
    assert_nothing_written(tmp_path)


@pytest.mark.parametrize(
    ("flag", "key", "value"),
    [
        ("--rounds", "rounds", "0"),
        ("--rounds", "rounds", "three"),
        ("--seed", "seed", "-1"),
        ("--limit", "seeds.limit", "0"),
        ("--max-new-tokens", "respond.max_new_tokens", "-1"),
        ("--concurrency", "teacher.concurrency", "0"),
    ],
)
def test_a_flag_is_checked_as_its_key_in_the_file(flag, key, value, tmp_path, capsys):
    """One parser for both: the same value gives the same message, naming the flag instead of the
    file and key (and showing the flag's text; null is no option for a flag)."""
    argv = generation_args(tmp_path, "http://127.0.0.1:9/v1", tmp_path / "no-seeds.jsonl")
    section, _, name = key.rpartition(".")
    cfg = tmp_path / "ecd.yaml"
    mapping = {name: yaml.safe_load(value)}
    cfg.write_text(yaml.safe_dump({section: mapping} if section else mapping))
    in_file = error_line(generation_main, [*argv, "--config", str(cfg)], capsys)
    as_flag = error_line(generation_main, [*argv, flag, value], capsys)
    expected, _, got = in_file.removeprefix(f"error: {cfg}: {key}: ").partition(", got ")
    assert got == repr(yaml.safe_load(value))
    assert as_flag == f"error: argument {flag}: {expected.removesuffix(' or null')}, got {value!r}"
    assert_nothing_written(tmp_path)


@pytest.fixture
def seeds(tmp_path) -> Path:
    path = tmp_path / "seeds.jsonl"
    rows = [{"id": "a", "instruction": "Write a poem."}, {"id": "b", "instruction": "Say hi."}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


TAXONOMY_NAN = """template: '{operation} {instruction}'
operations:
  g: {weight: .nan, subtypes: {s: {prompt: Make it longer.}}}
"""
REGISTRY = "models:\n  m: {source: org/m, params_b: big}\n"


@pytest.mark.parametrize(
    ("setup", "expected"),
    [
        (lambda t: ["--config", _write(t / "c.yaml", NOT_UTF8)], "c.yaml is not UTF-8 text"),
        (lambda t: ["--config", _mkdir(t / "cdir")], "config file {t}/cdir is a folder"),
        (lambda t: ["--seeds", _write(t / "s.jsonl", NOT_UTF8)], "s.jsonl is not UTF-8 text"),
        (lambda t: ["--taxonomy", _write(t / "t.yaml", NOT_UTF8)], "t.yaml is not UTF-8 text"),
        (lambda t: ["--taxonomy", _mkdir(t / "tdir")], "taxonomy file {t}/tdir is a folder"),
        (
            lambda t: ["--taxonomy", _write(t / "t.yaml", TAXONOMY_NAN)],
            "t.yaml: group 'g' weight must be a number >= 0",
        ),
        (
            lambda t: ["--out", _write(t / "f", "mine") + "/sub"],
            "--out {t}/f/sub: {t}/f is a file, so no folder can be made there",
        ),
        (lambda t: ["--out", _write(t / "f", "mine")], "output {t}/f exists and is not an ECD"),
    ],
)
def test_generation_files(setup, expected, tmp_path, seeds, capsys):
    with OpenAIServer() as srv:
        argv = generation_args(tmp_path, srv.base_url, seeds, *setup(tmp_path))
        err = error_line(generation_main, argv, capsys)
        assert srv.calls == 0
    assert expected.format(t=tmp_path) in err
    assert_nothing_written(tmp_path)
    assert not (tmp_path / "f").exists() or (tmp_path / "f").read_text() == "mine"


def test_generation_reports_a_broken_registry_for_a_served_teacher(
    tmp_path, seeds, capsys, monkeypatch
):
    """The registry's errors were swallowed when the teacher was a served model name."""
    registry = tmp_path / "registry.yaml"
    registry.write_text(REGISTRY)
    monkeypatch.setenv("ECD_HARNESS_REGISTRY", str(registry))
    with OpenAIServer() as srv:
        err = error_line(generation_main, generation_args(tmp_path, srv.base_url, seeds), capsys)
        assert srv.calls == 0
    assert f"{registry}: model 'm': params_b: expected float >= 0 or null, got 'big'" in err
    assert_nothing_written(tmp_path)


def test_generation_refuses_before_writing_the_store(tmp_path, seeds, capsys):
    """An unknown teacher, or a --data-dir that is not there (decontamination used to be skipped
    with a warning): refused before the store file is created."""
    with OpenAIServer() as srv:
        argv = generation_args(tmp_path, srv.base_url, seeds)
        unknown = [a if a != "loopback-teacher" else "no-such-model" for a in argv]
        unknown.remove("--backend")
        unknown.remove("openai")
        err = error_line(generation_main, unknown, capsys)
        assert "unknown model 'no-such-model'" in err
        assert_nothing_written(tmp_path)
        argv = [a for a in argv if a != "--no-decontaminate"]
        err = error_line(generation_main, [*argv, "--data-dir", str(tmp_path / "nope")], capsys)
        assert f"decontaminate.data_dir {tmp_path}/nope is not a folder" in err
        assert_nothing_written(tmp_path)
        assert srv.calls == 0


def _write(path: Path, content: str | bytes) -> str:
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return str(path)


def _mkdir(path: Path) -> str:
    path.mkdir()
    return str(path)


# ------------------------------------------------------------------------------ training

USER, ASSISTANT = {"role": "user", "content": "Say hi."}, {"role": "assistant", "content": "Hi."}


def export(folder: Path) -> Path:
    """A generation export in miniature: two SFT rows and two DPO pairs."""
    folder.mkdir()
    sft = {"messages": [USER, ASSISTANT]}
    dpo = {"prompt": [USER], "chosen": [ASSISTANT], "rejected": [{**ASSISTANT, "content": "No."}]}
    (folder / "sft.jsonl").write_text(json.dumps(sft) + "\n" + json.dumps(sft) + "\n")
    (folder / "dpo.jsonl").write_text(json.dumps(dpo) + "\n" + json.dumps(dpo) + "\n")
    (folder / "stats.json").write_text("{}")
    return folder


def recipe(tmp: Path, spoil: dict[str, str | bytes] | None = None, **changes) -> Path:
    """The shipped tiny recipe on a miniature export (with `spoil`'s files overwritten); the base
    model does not exist, so an error about anything else shows that it was checked first."""
    data = yaml.safe_load((ROOT / "training" / "recipes" / "tiny-cpu.yaml").read_text())
    data.update(base_model=str(tmp / "no-model"))
    data["dataset"]["path"] = str(export(tmp / "export"))
    for name, content in (spoil or {}).items():
        _write(tmp / "export" / name, content)
    for key, value in changes.items():
        merge = isinstance(value, dict) and isinstance(data.get(key), dict)
        data[key] = {**data[key], **value} if merge else value
    path = tmp / "recipe.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"sft": {"max_steps": -5}}, "sft.max_steps: expected int -1 (train num_train_epochs)"),
        ({"dpo": {"max_steps": 0}}, "dpo.max_steps: expected int -1 (train num_train_epochs)"),
        ({"sft": {"learning_rate": 0}}, "sft.learning_rate: expected float in (0, 1], got 0"),
        (
            {"dpo": {"learning_rate": -1e-5}},
            "dpo.learning_rate: expected float in (0, 1], got -1e-05",
        ),
        ({"sft": {"num_train_epochs": 0}}, "sft.num_train_epochs: expected float > 0, got 0"),
        (
            {"sft": {"per_device_train_batch_size": 0}},
            "sft.per_device_train_batch_size: expected int > 0, got 0",
        ),
        ({"sft": {"save_steps": 0}}, "sft.save_steps: expected int > 0, got 0"),
        ({"dpo": {"beta": 0}}, "dpo.beta: expected float > 0, got 0"),
        ({"lora": {"dropout": 1.5}}, "lora.dropout: expected float in [0, 1), got 1.5"),
        ({"lora": 3}, "lora: expected a mapping or null, got 3"),
        ({"seed": -1}, "seed: expected int in 0..4294967295, got -1"),
        ({"name": "../../x"}, "name: expected str of letters, digits"),
        ({"name": "a/b"}, "name: expected str of letters, digits"),
        ({"name": ""}, "name: expected str of letters, digits"),
        ({"dataset": {"max_samples": 0}}, "dataset.max_samples: expected int > 0 or null, got 0"),
        ({"sft": {"trl": ["a"]}}, "sft.trl: expected a mapping, got ['a']"),
        ({"register": {"sampling": 3}}, "register.sampling: expected a mapping, got 3"),
        (
            {"register": {"sampling": {"max_new_tokens": -1}}},
            "register.sampling.max_new_tokens: expected int > 0 or null, got -1",
        ),
        (
            {"register": {"sampling": {"temperature": float("nan")}}},
            "register.sampling.temperature: expected float >= 0, got nan",
        ),
        ({"register": {"sampling": {"stop": "abc"}}}, "register.sampling.stop: expected a list"),
        ({"dpo": {"loss_type": "sigmod"}}, "dpo.loss_type: expected str or a list of str (each"),
    ],
)
def test_recipe_values(changes, expected, tmp_path, capsys):
    path = recipe(tmp_path, **changes)
    err = error_line(training_main, ["check", str(path)], capsys)
    assert err.startswith(f"error: recipe {path}: ") and expected in err


@pytest.mark.parametrize(
    ("setup", "expected"),
    [
        (lambda t: _write(t / "r.yaml", NOT_UTF8), "recipe {t}/r.yaml is not UTF-8 text"),
        (lambda t: _mkdir(t / "rdir"), "recipe {t}/rdir is a folder"),
        (lambda t: _write(t / "r.yaml", ""), "recipe {t}/r.yaml: expected a mapping, got nothing"),
        (
            lambda t: str(recipe(t, spoil={"sft.jsonl": NOT_UTF8})),
            "{t}/export/sft.jsonl is not UTF-8 text",
        ),
        (
            lambda t: str(recipe(t, spoil={"stats.json": "{oops"})),
            "{t}/export/stats.json: not valid JSON",
        ),
    ],
)
def test_recipe_files(setup, expected, tmp_path, capsys):
    err = error_line(training_main, ["check", setup(tmp_path)], capsys)
    assert expected.format(t=tmp_path) in err


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (["--name", "../x"], "argument --name: expected a name of letters, digits"),
        (["--name", ""], "argument --name: expected a name of letters, digits"),
        (["--eval", "ifeval", "--eval-limit", "0"], "argument --eval-limit: expected int > 0"),
        (["--eval", "ifeval", "--eval-limit", "-1"], "argument --eval-limit: expected int > 0"),
        (["--eval-max-new-tokens", "0"], "argument --eval-max-new-tokens: expected int > 0"),
    ],
)
def test_training_run_flags(extra, expected, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    err = error_line(training_main, ["run", str(recipe(tmp_path)), *extra], capsys)
    assert expected in err
    assert not (tmp_path / "runs").exists() and not (tmp_path.parent / "x").exists()


def test_recipe_name_cannot_leave_runs(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    err = error_line(training_main, ["run", str(recipe(tmp_path, name="../../x"))], capsys)
    assert "name: expected str of letters, digits" in err
    assert not (tmp_path / "runs").exists() and not (tmp_path.parent.parent / "x").exists()


@pytest.mark.parametrize(
    ("setup", "expected"),
    [
        (lambda t: _write(t / "f", "mine"), "--output-dir {t}/f is a file; pass a new folder"),
        (
            lambda t: _write(t / "f", "mine") + "/sub",
            "--output-dir {t}/f/sub: {t}/f is a file, so no folder can be made there",
        ),
        (lambda t: _run_dir(t, "{oops"), "{t}/out/run.json is not a run record"),
    ],
)
def test_training_output_dir_checked_before_the_model(setup, expected, tmp_path, capsys):
    """The base model does not exist: the output folder's error must come first."""
    out = setup(tmp_path)
    err = error_line(training_main, ["run", str(recipe(tmp_path)), "--output-dir", out], capsys)
    assert expected.format(t=tmp_path) in err
    assert not (tmp_path / "f").exists() or (tmp_path / "f").read_text() == "mine"


def _run_dir(tmp: Path, record: str) -> str:
    """An output folder whose run record is `record`."""
    _mkdir(tmp / "out")
    _write(tmp / "out" / "run.json", record)
    return str(tmp / "out")


def test_unwritable_registry_checked_before_training(tmp_path, capsys, monkeypatch):
    (tmp_path / "f").write_text("mine")
    monkeypatch.setenv("ECD_HARNESS_REGISTRY", str(tmp_path / "f" / "registry.yaml"))
    out = tmp_path / "out"
    err = error_line(
        training_main, ["run", str(recipe(tmp_path)), "--output-dir", str(out)], capsys
    )
    assert f"registry {tmp_path}/f/registry.yaml: {tmp_path}/f is a file" in err
    assert not out.exists()


# ------------------------------------------------------------------------------ reports


@pytest.fixture
def store(tmp_path) -> Path:
    """One finished IFEval run of the ECD model `ecd-a`."""
    path = tmp_path / "store.sqlite"
    s = Store(path)
    run = s.start_run("ifeval", "ecd-a", "fp", {})
    s.finish_run(run, {"prompt_level_strict_acc": 0.5}, [{"id": "1", "prompt_strict": True}])
    s.close()
    return path


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("bootstrap: 1e12", "bootstrap: expected int in 100..1000000, got '1e12'"),
        ("bootstrap: 1000000000000", "bootstrap: expected int in 100..1000000, got 1000000000000"),
        ("bootstrap: 50", "bootstrap: expected int in 100..1000000, got 50"),
        ("bootstrap: many", "bootstrap: expected int in 100..1000000, got 'many'"),
        ("seed: -1", "seed: expected int in 0..4294967295, got -1"),
        ("examples: -3", "examples: expected int >= 0, got -3"),
        ("examples: x", "examples: expected int >= 0, got 'x'"),
        ("published: 'yes'", "published: expected bool, got 'yes'"),
        ("rounds: {ecd-a: x}", "rounds: expected a mapping of str to float"),
        ("title: [a]", "title: expected str, got ['a']"),
        ("ablation_base: 5", "ablation_base: expected str or null, got 5"),
        ("ablation_base: nope", "'nope' (ablation_base or category_models) is not in baselines"),
        ("category_models: [nope]", "'nope' (ablation_base or category_models) is not in"),
        ("rounds: {nope: 1}", "rounds names 'nope', which is not in ecd"),
        ("suites: [ifevl]", "unknown suite 'ifevl'"),
        ("baselines: [ecd-a]", "'ecd-a' is listed twice in baselines, ecd and references"),
    ],
)
def test_report_spec_values(spec, expected, tmp_path, store, capsys):
    path = tmp_path / "spec.yaml"
    suites = "" if spec.startswith("suites") else "suites: [ifeval]\n"
    path.write_text(f"ecd: [ecd-a]\n{suites}{spec}\n")
    before = digest(store)
    argv = ["build", str(path), "--out", str(tmp_path / "rep"), "--store", str(store)]
    err = error_line(reports_main, argv, capsys)
    assert err.startswith(f"error: report spec {path}: ") and expected in err
    assert not (tmp_path / "rep").exists() and digest(store) == before


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("baselines: [zephyr-7b-beat]", "baselines names 'zephyr-7b-beat', which has no finished"),
        ("references: [nope-70b]", "references names 'nope-70b', which has no finished run"),
    ],
)
def test_report_names_without_data(spec, expected, tmp_path, store, capsys):
    """A typo'd model name used to drop silently out of every table."""
    path = tmp_path / "spec.yaml"
    path.write_text(f"ecd: [ecd-a]\nsuites: [ifeval]\n{spec}\n")
    argv = ["build", str(path), "--out", str(tmp_path / "rep"), "--store", str(store)]
    assert expected in error_line(reports_main, argv, capsys)
    assert not (tmp_path / "rep").exists()


@pytest.mark.parametrize(
    ("spec", "out", "expected"),
    [
        (NOT_UTF8, "rep", "report spec {t}/spec.yaml is not UTF-8 text"),
        (None, "rep", "report spec {t}/spec.yaml is a folder"),
        ("ecd: [ecd-a]\n", "f/sub", "--out {t}/f/sub: {t}/f is a file, so no folder"),
        ("ecd: [ecd-a]\n", "f", "--out {t}/f is a file"),
    ],
)
def test_report_files(spec, out, expected, tmp_path, store, capsys):
    path = tmp_path / "spec.yaml"
    _mkdir(path) if spec is None else _write(path, spec)
    (tmp_path / "f").write_text("mine")
    before = digest(store)
    argv = ["build", str(path), "--out", str(tmp_path / out), "--store", str(store)]
    assert expected.format(t=tmp_path) in error_line(reports_main, argv, capsys)
    assert (tmp_path / "f").read_text() == "mine" and not (tmp_path / "rep").exists()
    assert digest(store) == before


# ------------------------------------------------------------------------------ registry

M = "models:\n  m:\n    source: org/m\n"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (M + "    params_b: big\n", "model 'm': params_b: expected float >= 0 or null, got 'big'"),
        (M + "    sampling: 3\n", "model 'm': sampling: expected a mapping, got 3"),
        (
            M + "    sampling: {max_new_tokens: -1}\n",
            "model 'm': sampling.max_new_tokens: expected int > 0 or null, got -1",
        ),
        (
            M + "    sampling: {temperature: .nan}\n",
            "model 'm': sampling.temperature: expected float >= 0, got nan",
        ),
        (
            M + "    sampling: {tempreature: 0}\n",
            "model 'm': sampling: unknown keys ['tempreature']",
        ),
        (M + "    sampling: {stop: abc}\n", "model 'm': sampling.stop: expected a list of str"),
        (M + "    trust_remote_code: 'yes'\n", "model 'm': trust_remote_code: expected bool"),
        (M + "    backend: tgi\n", "model 'm': unknown backend 'tgi'"),
        ("models:\n  m: {source: 5}\n", "model 'm': source: expected str"),
        ("models:\n  m:\n", "model 'm': expected a mapping, got nothing"),
        ("models:\n  123: {source: org/m}\n", "model 123: name: expected str, got 123"),
        ("- m\n", "expected one key, 'models', mapping names to entries"),
        ("modles:\n  m: {source: org/m}\n", "expected one key, 'models'"),
        ("models: [m]\n", "'models' must be a mapping {name: entry}, got list"),
    ],
)
def test_registry_entries(text, expected, tmp_path, monkeypatch):
    registry = tmp_path / "registry.yaml"
    registry.write_text(text)
    monkeypatch.setenv("ECD_HARNESS_REGISTRY", str(registry))
    with pytest.raises(HarnessError) as e:
        load_registry()
    assert str(e.value).startswith(f"{registry}: ") and expected in str(e.value)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize(
    ("content", "expected"),
    [(NOT_UTF8, "registry {t}/registry.yaml is not UTF-8 text"), (None, "is a folder")],
)
def test_registry_files(content, expected, tmp_path, monkeypatch):
    registry = tmp_path / "registry.yaml"
    _mkdir(registry) if content is None else _write(registry, content)
    monkeypatch.setenv("ECD_HARNESS_REGISTRY", str(registry))
    with pytest.raises(HarnessError, match="registry") as e:
        load_registry()
    assert expected.format(t=tmp_path) in str(e.value)


# ------------------------------------------------------------------------------ processes


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["generation", "run", "--concurrency", "0"], "argument --concurrency: expected int > 0"),
        (["training", "run", "r.yaml", "--eval-limit", "0"], "argument --eval-limit: expected int"),
        (
            ["reports", "build", "spec.yaml", "--out", "r"],
            "bootstrap: expected int in 100..1000000",
        ),
    ],
)
def test_one_line_from_a_real_process(argv, expected, tmp_path):
    (tmp_path / "spec.yaml").write_text("ecd: [a]\nbootstrap: 1e12\n")
    proc = subprocess.run(
        [sys.executable, "-m", *argv], capture_output=True, text=True, cwd=tmp_path, timeout=120
    )
    assert proc.returncode == 2
    assert len(proc.stderr.splitlines()) == 1 and proc.stderr.startswith("error: ")
    assert expected in proc.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["spec.yaml"]
