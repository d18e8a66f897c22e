"""Training: SFT then DPO on a tiny random Llama, registered and scored by the harness by name."""

from __future__ import annotations

import importlib.util
import json
import math
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from harness.cli import main as harness_main
from harness.registry import load_registry
from harness.store import Store
from training.cli import main as training_main
from training.random_model import build_random_model
from training.recipe import LOGGERS

ROOT = Path(__file__).resolve().parents[1]
TINY_RECIPE = ROOT / "training" / "recipes" / "tiny-cpu.yaml"
TOPICS = ["the sea", "a city", "tea", "winter", "rain", "a garden", "music", "bread"]


def _texts(topic: str) -> tuple[str, str, str, str]:
    """I(0), R(0), I(1) (a format constraint added), R(1): one seed's evolution chain."""
    return (
        f"Write two sentences about {topic}.",
        f"Here is {topic}. It is calm today.",
        f"Write two sentences about {topic}. Answer in JSON with a key 'text'.",
        f'{{"text": "Here is {topic}. It is calm today."}}',
    )


def write_export(folder: Path, n: int = 4, negatives: str = "hard") -> Path:
    """A dataset written by generation's exporter from n one-round chains: 2n SFT rows, n pairs
    (chosen R(1), rejected R(0) for hard negatives, another seed's response for random ones)."""
    from generation.config import ExportConfig, GenerationConfig
    from generation.export import build, stats, write_dataset
    from generation.pipeline import Chain, Step
    from generation.taxonomy import load_taxonomy

    chains = []
    for i, topic in enumerate(TOPICS[:n]):
        i0, r0, i1, r1 = _texts(topic)
        steps = [Step(0, i0, response=r0), Step(1, i1, "format", evolved_by="evolver", response=r1)]
        chains.append(Chain(seed_id=f"s{i}", steps=steps))
    export = ExportConfig(negatives=negatives)
    sft, dpo, dropped = build(
        chains, load_taxonomy(), export, GenerationConfig(rounds=1), "test-teacher", {}
    )
    summary = {**stats(sft, dpo, dropped, export), "rounds": 1}  # as `generation run` writes it
    write_dataset(folder, sft, dpo, summary, export.sft_only)
    return folder


@pytest.fixture(scope="module")
def tiny_base(tmp_path_factory) -> Path:
    texts = [t for topic in TOPICS for t in _texts(topic)] + ["Answer in lowercase, no commas."]
    return build_random_model(tmp_path_factory.mktemp("tiny-base"), texts)


def tiny_recipe(tmp: Path, base: Path, export: Path, **changes) -> Path:
    """The shipped tiny CPU recipe with the tiny model and the test's export swapped in."""
    data = yaml.safe_load(TINY_RECIPE.read_text())
    data.update(base_model=str(base), dataset={**data["dataset"], "path": str(export)})
    data.update(changes)
    path = tmp / "recipe.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_sft_then_dpo_registered_and_scored(tmp_path, tiny_base, data_dir, capsys):
    export = write_export(tmp_path / "export")
    recipe = tiny_recipe(tmp_path, tiny_base, export)
    out, store = tmp_path / "run", tmp_path / "s.sqlite"
    name = "ecd-tiny-test"
    argv = ["run", str(recipe), "--output-dir", str(out), "--name", name]
    eval_args = ["--eval", "ifeval", "--eval-limit", "3", "--eval-max-new-tokens", "16"]
    assert training_main([*argv, *eval_args, "--store", str(store)]) == 0

    model = out / "dpo" / "model"
    assert (model / "model.safetensors").exists() and (model / "chat_template.jinja").exists()
    prov = json.loads((model / "training.json").read_text())
    assert prov["recipe"]["stage"] == "sft+dpo" and prov["recipe"]["lora"]["r"] == 8
    assert prov["data"]["sft"]["rows"] == 8 and prov["data"]["dpo"]["source"].endswith("dpo.jsonl")
    assert prov["data"]["dpo"]["export_stats"]["counts"] == {"sft": 8, "dpo": 4}
    assert {"trl", "transformers", "torch", "peft"} <= set(prov["versions"])
    for stage in ("sft", "dpo"):
        metrics = prov["stages"][stage]
        assert metrics["global_step"] == 2 and math.isfinite(metrics["train_loss"])
    assert "rewards/margins" in prov["stages"]["dpo"]["last_log"]
    assert (model / "recipe.yaml").read_text() == recipe.read_text()

    spec = load_registry()[name]
    assert spec.group == "ecd" and spec.source == str(model)
    assert spec.meta["data"]["dpo"]["sha256"] == prov["data"]["dpo"]["sha256"]
    assert spec.meta["stage"] == "sft+dpo" and 0 < spec.params_b < 0.001
    assert spec.meta["rounds"] == 1  # the report's rounds figure reads it from the registry

    # Scored by name from a fresh harness call; the in-process eval already stored the same run.
    assert (
        harness_main(
            ["run", "--suite", "ifeval", "--model", name, "--limit", "3", "--max-new-tokens", "16"]
            + ["--store", str(store), "--quiet"]
        )
        == 0
    )
    s = Store(store)
    runs = s.runs(suite="ifeval", model=name)
    assert len(runs) == 2 and runs[0].metrics["n"] == 3
    assert s.count("generations") == 3  # the second run reused the first one's generations
    records = s.scores(runs[-1].id)
    assert len(records) == 3 and all(isinstance(r["prompt_strict"], bool) for r in records)

    # Interrupted after the DPO checkpoints, before the final save: the rerun keeps SFT and
    # resumes DPO from its last checkpoint instead of training again.
    sft_done = (out / "sft" / "model" / "stage.json").stat().st_mtime_ns
    for f in sorted(model.iterdir()):
        f.unlink()
    model.rmdir()
    assert training_main(argv) == 0
    assert (out / "sft" / "model" / "stage.json").stat().st_mtime_ns == sft_done
    resumed = json.loads((model / "stage.json").read_text())
    assert resumed["resumed_from"] == "checkpoint-2" and resumed["global_step"] == 2

    # Killed while saving checkpoint-2 (transformers writes trainer_state.json last, in place):
    # the rerun drops the half-saved folder and trains step 2 again from checkpoint-1.
    shutil.rmtree(model)
    (out / "dpo" / "checkpoint-2" / "trainer_state.json").write_text('{"global_st')
    assert training_main(argv) == 0
    resumed = json.loads((model / "stage.json").read_text())
    assert resumed["resumed_from"] == "checkpoint-1" and resumed["global_step"] == 2
    assert json.loads((out / "dpo" / "checkpoint-2" / "trainer_state.json").read_text())

    # Another recipe into the same folder is refused instead of mixing two runs.
    other = tiny_recipe(tmp_path, tiny_base, export, seed=1)
    assert training_main(["run", str(other), "--output-dir", str(out)]) == 2
    assert "different recipe" in capsys.readouterr().err


def test_a_second_training_into_a_folder_in_use_is_refused(tmp_path, tiny_base, capsys):
    """Two trainings into one --output-dir at once would delete each other's model.partial and
    train twice: while the first runs, the second is refused in one line, and the first ends
    whole."""
    from training.runner import check

    recipe = tiny_recipe(tmp_path, tiny_base, write_export(tmp_path / "export"), stage="sft")
    out = tmp_path / "run"
    argv = ["run", str(recipe), "--output-dir", str(out), "--name", "ecd-tiny-once"]
    check(recipe)  # TRL imported here first: the second training reaches the folder at once
    first = subprocess.Popen(
        [sys.executable, "-m", "training", *argv], cwd=ROOT, stderr=subprocess.PIPE, text=True
    )
    deadline = time.time() + 120
    while not (out / "run.json").exists():  # the first holds the folder and is training
        assert first.poll() is None and time.time() < deadline, first.stderr.read()
        time.sleep(0.05)
    err = _error(argv, capsys)
    assert f"is being written by another process (pid {first.pid})" in err, err
    assert first.poll() is None, "the first training ended before the second started"
    assert first.wait(timeout=300) == 0, first.stderr.read()
    model = out / "sft" / "model"
    assert json.loads((model / "stage.json").read_text())["global_step"] == 2
    assert (model / "model.safetensors").is_file() and not (out / "sft" / "model.partial").exists()


def test_dpo_only_full_finetune_with_a_loaded_reference(tmp_path, tiny_base):
    """Random negatives, no SFT, no LoRA, and the reference model loaded by TRL from the policy's
    path (no precompute)."""
    export = write_export(tmp_path / "random", negatives="random")
    dpo = {**yaml.safe_load(TINY_RECIPE.read_text())["dpo"], "precompute_ref_log_probs": False}
    recipe = tiny_recipe(
        tmp_path, tiny_base, export, stage="dpo", lora=None, dpo=dpo, chat_template="zephyr"
    )
    out = tmp_path / "run"
    argv = ["run", str(recipe), "--output-dir", str(out), "--name", "ecd-tiny-dpo"]
    assert training_main(argv) == 0
    assert not (out / "sft").exists()
    model = out / "dpo" / "model"
    prov = json.loads((model / "training.json").read_text())
    assert prov["data"]["dpo"]["export_stats"]["export"]["negatives"] == "random"
    metrics = json.loads((model / "stage.json").read_text())
    assert math.isfinite(metrics["train_loss"]) and metrics["last_log"]["rewards/margins"] != 0
    assert "<|system|>" in (model / "chat_template.jinja").read_text()  # the recipe's template
    trained = (model / "model.safetensors").read_bytes()
    assert trained != (tiny_base / "model.safetensors").read_bytes()

    # Killed after the last checkpoint: the rerun saves that checkpoint's weights as they are.
    for f in sorted(model.iterdir()):
        f.unlink()
    model.rmdir()
    assert training_main(argv) == 0
    assert (model / "model.safetensors").read_bytes() == trained
    assert not (model / "optimizer.pt").exists()
    assert json.loads((model / "stage.json").read_text())["resumed_from"] == "checkpoint-2"


def test_report_to_tensorboard_logs_loss_margins_and_learning_rate(tmp_path, tiny_base):
    """`--report-to tensorboard` over the recipe's none: event files under the stage's folder,
    read back with TensorBoard's own reader."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    recipe = tiny_recipe(tmp_path, tiny_base, write_export(tmp_path / "export"), stage="dpo")
    out = tmp_path / "run"
    argv = ["run", str(recipe), "--output-dir", str(out), "--name", "ecd-tiny-tb"]
    assert training_main([*argv, "--report-to", "tensorboard"]) == 0
    (events,) = (out / "dpo" / "runs").glob("*/events.out.tfevents.*")
    scalars = EventAccumulator(str(events)).Reload().Scalars
    margins = [e.value for e in scalars("train/rewards/margins")]
    assert [e.step for e in scalars("train/loss")] == [1, 2] and len(margins) == 2
    assert margins[1] != 0 and [e.value for e in scalars("train/learning_rate")] == pytest.approx(
        [5e-5, 2.5e-5]
    )


def _missing_logger() -> str:
    for name in LOGGERS:
        if importlib.util.find_spec(name) is None:
            return name
    pytest.skip("every report_to logger is installed here")


def test_a_logger_not_installed_is_one_line_before_training(tmp_path, tiny_base, capsys):
    logger = _missing_logger()
    export = write_export(tmp_path / "export", n=2)
    recipe = tiny_recipe(tmp_path, tiny_base, export, report_to=logger)
    expected = f"report_to {logger} needs the {logger} package: pip install {logger}"
    assert expected in _error(["check", str(recipe)], capsys)
    out = tmp_path / "run"
    recipe = tiny_recipe(tmp_path, tiny_base, export)
    argv = ["run", str(recipe), "--output-dir", str(out), "--report-to", f"none,{logger}"]
    assert expected in _error(argv, capsys)
    assert "unknown logger 'comet'" in _error([*argv[:-1], "comet"], capsys)
    assert not out.exists()


def test_global_batch_size_splits_over_processes():
    """The same rows per optimizer step on 1, 2 or 3 processes; a split that is not whole, or
    gradient_accumulation_steps set beside it, is refused."""
    from harness.errors import HarnessError
    from training.stages import SFTSettings

    settings = SFTSettings(global_batch_size=12, per_device_train_batch_size=4)
    assert [settings.batch_plan(n) for n in (1, 2, 3, 12)] == [(4, 3), (3, 2), (4, 1), (1, 1)]
    with pytest.raises(HarnessError, match="does not split over 5 processes"):
        settings.batch_plan(5)
    settings.gradient_accumulation_steps = 2
    with pytest.raises(HarnessError, match="remove one of the two"):
        settings.batch_plan(1)
    assert SFTSettings(per_device_train_batch_size=4).batch_plan(8) == (4, 1)


def test_launch_configs_are_checked_against_accelerate(tmp_path, capsys):
    """The shipped launch configs pass `training check --launch`; a key accelerate would drop in
    silence (a typo, or a name from another accelerate version) is one line."""
    recipe = tiny_recipe(tmp_path, tmp_path / "no-model-here", write_export(tmp_path / "e", n=2))
    configs = sorted((ROOT / "training" / "launch").glob("*.yaml"))
    argv = ["check", str(recipe)] + [a for c in configs for a in ("--launch", str(c))]
    assert training_main(argv) == 0
    out = capsys.readouterr().out
    assert "zero3.yaml: DEEPSPEED, 8 processes (accelerate 1.15" in out
    assert "fsdp.yaml: FSDP, 8 processes" in out

    config = yaml.safe_load((ROOT / "training" / "launch" / "zero3.yaml").read_text())
    config["deepspeed_config"]["zero_stge"] = config["deepspeed_config"].pop("zero_stage")
    bad = tmp_path / "zero3.yaml"
    bad.write_text(yaml.safe_dump(config))
    err = _error(["check", str(recipe), "--launch", str(bad)], capsys)
    assert "deepspeed_config has keys ['zero_stge'] that accelerate" in err
    bad.write_text(yaml.safe_dump({**config, "num_gpus": 8}))
    assert "keys ['num_gpus'] that accelerate 1.15" in _error(
        ["check", str(recipe), "--launch", str(bad)], capsys
    )


def _error(argv: list[str], capsys) -> str:
    assert training_main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1
    return err


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"sft": {"learning_rate": 1e-4, "lr": 3}}, "unknown keys ['lr']"),
        ({"stage": "rlhf"}, "unknown stage 'rlhf'"),
        ({"dpo": {"trl": {"betta": 0.1}}}, "does not know"),
        ({"dpo": {"beta": "high"}}, "expected float"),
        (
            {"sft": {"learning_rate": 1e300}},
            "sft.learning_rate: expected float in (0, 1], got 1e+300",
        ),
        ({"chat_template": "zephir"}, "not a template, a .jinja file or a shipped name (zephyr)"),
    ],
)
def test_recipe_mistakes_are_one_line(tmp_path, capsys, change, expected):
    export = write_export(tmp_path / "export", n=2)
    recipe = tiny_recipe(tmp_path, tmp_path / "no-model-here", export, **change)
    assert expected in _error(["check", str(recipe)], capsys)


def test_an_unclosed_quote_in_eval_args_is_one_line_before_training(tmp_path, capsys):
    recipe = tiny_recipe(tmp_path, tmp_path / "no-model-here", write_export(tmp_path / "e", n=2))
    argv = ["run", str(recipe), "--eval", "ifeval", "--eval-args", "--judge 'x"]
    assert '--eval-args "--judge \'x": No closing quotation; close the quote' in _error(
        argv, capsys
    )
    assert not (tmp_path / "runs").exists()


def test_a_key_given_twice_is_refused(tmp_path, capsys):
    """PyYAML would keep the second `beta` silently; the recipe is refused, naming the line."""
    recipe = tiny_recipe(tmp_path, tmp_path / "no-model-here", write_export(tmp_path / "e", n=2))
    text = recipe.read_text().replace("dpo:\n", "dpo:\n  beta: 0.5\n", 1)
    assert text.count("beta:") == 2
    recipe.write_text(text)
    line = text[: text.index("beta:", text.index("beta: 0.5") + 1)].count("\n") + 1
    err = _error(["check", str(recipe)], capsys)
    assert f"recipe.yaml: line {line}: key 'beta' given twice in one mapping" in err


def test_stages_dispatch_through_one_table():
    """Every stage a recipe names resolves through STAGES to TRL's config and trainer, and has a
    settings section and a data source in the recipe whose keys that TRL config knows."""
    import dataclasses

    from transformers import Trainer

    from harness.errors import HarnessError
    from training.recipe import PIPELINES, DataConfig, Recipe
    from training.stages import STAGES, StageSettings, get_stage

    assert {name for p in PIPELINES for name in p.split("+")} == set(STAGES)
    for name, stage in STAGES.items():
        assert get_stage(name) is stage
        config = stage.config_class()
        assert issubclass(stage.trainer_class(), Trainer)
        settings = Recipe.__dataclass_fields__[name].default_factory()
        assert isinstance(settings, StageSettings)
        assert set(settings.trl_kwargs()) <= {f.name for f in dataclasses.fields(config)}
        assert name in DataConfig.__dataclass_fields__
    with pytest.raises(HarnessError) as e:
        get_stage("kto")
    assert str(e.value) == "unknown training stage 'kto'; known: sft, dpo"


def test_bad_data_reported_before_any_model_loads(tmp_path, capsys):
    """The base model dir is not a checkpoint: the data error must come first."""
    base = tmp_path / "not-a-checkpoint"
    base.mkdir()
    export = write_export(tmp_path / "export", n=3)
    rows = [json.loads(line) for line in (export / "dpo.jsonl").read_text().splitlines()]
    del rows[1]["rejected"]
    (export / "dpo.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = ["--output-dir", str(tmp_path / "out")]
    err = _error(["run", str(tiny_recipe(tmp_path, base, export)), *out], capsys)
    assert "dpo.jsonl row 1" in err and "missing fields ['rejected']" in err

    # SFT rows where DPO rows belong (the wrong file of an export)
    wrong = tmp_path / "wrong"
    wrong.mkdir()
    (wrong / "dpo.jsonl").write_text((export / "sft.jsonl").read_text())
    recipe = tiny_recipe(tmp_path, base, export, dataset={"path": str(export), "dpo": str(wrong)})
    assert "not a DPO row" in _error(["run", str(recipe), *out], capsys)
    assert not (tmp_path / "out").exists()
