"""Runs a recipe: data checks, SFT and/or DPO on TRL, provenance, registration, optional evaluation.

Output layout (`--output-dir`, default runs/<name>):
  run.json              recipe digest + data fingerprints; a rerun must match them
  sft/checkpoint-N/     Trainer checkpoints (resume points)
  sft/model/            the stage's final weights + tokenizer; stage.json marks it complete
  dpo/...               the same for DPO
The last stage's model/ also holds training.json (recipe, data fingerprints, package versions,
metrics) and recipe.yaml, and is what the registry entry points at.
"""

from __future__ import annotations

import gc
import json
import math
import os
import shutil
import signal
import sys
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import partial
from importlib import metadata
from pathlib import Path

from harness.errors import HarnessError
from harness.lock import holding
from harness.registry import (
    ModelSpec,
    load_registry,
    register,
    resolve_model,
    user_registry_path,
)
from harness.validate import check_writable
from training.chat_template import load_tokenizer
from training.data import StageData, load_stage_data
from training.recipe import Recipe, check_loggers, load_recipe
from training.stages import get_stage

DONE = "stage.json"
# written last into a checkpoint, by the main rank once every rank has saved its part
COMPLETE = "checkpoint-complete.json"
TRAINER_FILES = {
    "optimizer.pt",
    "scheduler.pt",
    "trainer_state.json",
    "training_args.bin",
    COMPLETE,
}
PROVENANCE = "training.json"
EXTRA_VERSIONS = ("peft", "accelerate", "deepspeed", "liger-kernel", "bitsandbytes")
DTYPES = {"bf16": "bfloat16", "fp16": "float32", "fp32": "float32"}  # fp16 trains with fp32 masters


@dataclass
class RunOptions:
    output_dir: Path | None = None
    name: str | None = None
    evals: list[str] = field(default_factory=list)
    eval_limit: int | None = None
    eval_max_new_tokens: int | None = None
    eval_args: list[str] = field(default_factory=list)  # `python -m harness run` flags
    store: Path | None = None
    quiet: bool = False
    report_to: list[str] | None = None  # overrides the recipe's report_to


def _is_main() -> bool:
    from accelerate import PartialState

    return PartialState().is_main_process


def _barrier() -> None:
    from accelerate import PartialState

    PartialState().wait_for_everyone()


def _processes() -> int:
    from accelerate import PartialState

    return PartialState().num_processes


def _die_with_launcher() -> None:
    """A rank started by torchrun (accelerate launch) is killed when its launcher dies.

    Otherwise a kill -9 of the launcher leaves the ranks orphaned: before the process group forms
    they wait forever for a rendezvous the dead launcher hosted; after, they train on unseen,
    holding the output folder, so the rerun is refused until they end."""
    if "TORCHELASTIC_RUN_ID" not in os.environ or not sys.platform.startswith("linux"):
        return
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
    if os.getppid() == 1:  # the launcher died before prctl took effect
        os.kill(os.getpid(), signal.SIGKILL)


def check(
    recipe_path: str | Path, report_to: list[str] | None = None
) -> tuple[Recipe, dict[str, StageData]]:
    """Everything that can be checked without loading a model: keys, values, data rows, and the
    loggers (`report_to`, the recipe's unless given) being installed."""
    recipe = load_recipe(recipe_path)
    if report_to is not None:
        recipe.report_to = report_to
    check_loggers(recipe.report_to, f"recipe {recipe_path}")
    data = {
        stage: load_stage_data(
            recipe.dataset.source(stage), stage, recipe.dataset.split, recipe.dataset.max_samples
        )
        for stage in recipe.stages
    }
    for stage in recipe.stages:  # TRL and transformers check their own values
        _trl_config(stage, recipe, Path("unused"), _processes())
        reference = recipe.settings(stage).reference_model()
        if reference:
            resolve_model(reference)
    if recipe.lora and recipe.lora.load_in_4bit:
        try:
            import bitsandbytes  # noqa: F401
        except ImportError:
            raise HarnessError(
                "lora.load_in_4bit (QLoRA) needs bitsandbytes on a CUDA machine: "
                "pip install bitsandbytes, or set load_in_4bit: false"
            ) from None
    return recipe, data


def _check_name(name: str) -> None:
    spec = load_registry().get(name)
    if spec is not None and spec.group != "ecd":
        raise HarnessError(
            f"name {name!r} is already the registry's {spec.group} model; pass another --name"
        )


def _check_output_dir(out: Path, identity: dict) -> bool:
    """A rerun resumes only the same recipe on the same data; anything else needs a fresh dir.
    True when `out` already holds this run."""
    marker = out / "run.json"
    try:
        before = json.loads(marker.read_text()) if marker.is_file() else None
    except (ValueError, UnicodeDecodeError):  # JSONDecodeError is a ValueError
        raise HarnessError(
            f"{marker} is not a run record; pass a new --output-dir or delete that folder"
        ) from None
    if before is not None and before != identity:
        raise HarnessError(
            f"{out} holds a run of a different recipe or data ({before} vs {identity}); "
            "pass a new --output-dir or delete that folder"
        )
    if before is None and out.exists() and any(out.iterdir()):
        raise HarnessError(f"{out} is not empty and holds no training run; pass a new --output-dir")
    return before is not None


def _start_output_dir(out: Path, identity: dict, resumed: bool) -> None:
    """Record the run in `out`, once every rank has checked it."""
    _barrier()  # every rank has looked before the main one writes
    if not resumed and _is_main():
        out.mkdir(parents=True, exist_ok=True)
        (out / "run.json").write_text(json.dumps(identity, indent=1))
    _barrier()


def _trl_config(stage: str, recipe: Recipe, stage_dir: Path, processes: int):
    """TRL's config for `stage` run on `processes` ranks (the batch split depends on it)."""
    import torch

    settings = recipe.settings(stage)
    try:
        per_device, accumulation = settings.batch_plan(processes)
    except HarnessError as e:
        raise HarnessError(f"recipe {stage}: {e}") from None
    kwargs = {
        "save_strategy": "steps",
        "use_cpu": not torch.accelerator.is_available(),  # else bf16 is refused on CPU-only hosts
        **settings.trl_kwargs(),
        "per_device_train_batch_size": per_device,
        "gradient_accumulation_steps": accumulation,
        # TensorBoard writes under <stage dir>/runs/<date>_<host>/
        "report_to": recipe.report_to or "none",
        "run_name": f"{recipe.name}-{stage}",
        "output_dir": str(stage_dir),
        "seed": recipe.seed,
        "bf16": recipe.precision == "bf16",
        "fp16": recipe.precision == "fp16",
        "model_init_kwargs": {"dtype": DTYPES[recipe.precision]},
    }
    if recipe.lora and recipe.lora.load_in_4bit:
        kwargs["model_init_kwargs"]["dtype"] = "bfloat16"
    try:
        return get_stage(stage).config_class()(**kwargs)
    except (ValueError, TypeError) as e:  # TRL/transformers reject a setting
        raise HarnessError(f"recipe {stage}: {str(e).splitlines()[0]}") from None


def _adapter_options(recipe: Recipe) -> dict:
    if recipe.lora is None:
        return {}
    from peft import LoraConfig

    lora = recipe.lora
    options = {
        "peft_config": LoraConfig(
            r=lora.r,
            lora_alpha=lora.alpha,
            lora_dropout=lora.dropout,
            target_modules=lora.target_modules,
            task_type="CAUSAL_LM",
        )
    }
    if lora.load_in_4bit:
        import torch
        from transformers import BitsAndBytesConfig

        options["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=torch.bfloat16,
        )
    return options


def _merge_adapter(base_path: str, adapter_dir: Path, out: Path, tokenizer, dtype: str) -> None:
    """Fold LoRA weights into a full-precision copy of the stage's input model (main rank only).

    Under ZeRO-3 transformers would load that copy partitioned, a collective the other ranks
    never join (measured: a hang after training): the trainer's ZeRO-3 setting is dropped first."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM
    from transformers.integrations.deepspeed import unset_hf_deepspeed_config

    unset_hf_deepspeed_config()

    base = AutoModelForCausalLM.from_pretrained(base_path, dtype=getattr(torch, dtype))
    merged = PeftModel.from_pretrained(base, str(adapter_dir)).merge_and_unload()
    merged.save_pretrained(out)
    tokenizer.save_pretrained(out)
    del base, merged


def _metrics(log_history: list[dict], summary: dict, global_step: int, resumed: str | None) -> dict:
    logged = [e for e in log_history if "loss" in e]
    last = {k: v for k, v in (logged[-1] if logged else {}).items() if isinstance(v, int | float)}
    return {
        **{k: v for k, v in summary.items() if isinstance(v, int | float)},
        "global_step": global_step,
        "last_log": last,
        "resumed_from": resumed,
    }


def _last_checkpoint(stage_dir: Path) -> str | None:
    """The newest checkpoint saved whole. transformers writes a checkpoint's files in place, each
    rank its own (optimizer shards, RNG state), with no marker of its own that all ranks are done:
    `_mark_complete` adds one. A kill while saving leaves a folder without it: the main rank
    removes such folders (their steps are trained and saved again) before any rank resumes."""
    from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR, get_last_checkpoint

    if not stage_dir.is_dir():
        return None
    if _is_main():
        for folder in stage_dir.glob(f"{PREFIX_CHECKPOINT_DIR}-*"):
            whole = (folder / COMPLETE).is_file() and _trainer_state(folder) is not None
            if folder.is_dir() and not whole:
                shutil.rmtree(folder)
    _barrier()
    return get_last_checkpoint(str(stage_dir))


def _mark_complete():
    """A callback marking each checkpoint complete (COMPLETE), once every rank has saved."""
    from transformers import TrainerCallback
    from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

    class MarkComplete(TrainerCallback):
        def on_save(self, args, state, control, **kwargs):
            _barrier()  # every rank's files are written
            if state.is_world_process_zero:
                folder = Path(args.output_dir) / f"{PREFIX_CHECKPOINT_DIR}-{state.global_step}"
                record = {"global_step": state.global_step, "processes": args.world_size}
                (folder / COMPLETE).write_text(json.dumps(record))

    return MarkComplete()


def _trainer_state(checkpoint: Path) -> dict | None:
    try:
        return json.loads((checkpoint / "trainer_state.json").read_text())
    except (OSError, ValueError):
        return None


def _finished_checkpoint(last: str | None) -> dict | None:
    """The state of a checkpoint taken at max_steps, if `last` is one.

    Resuming from it, transformers 5.24 trains one step past max_steps (its loop does not check
    global_step first), so such a checkpoint is saved as the stage's result instead.
    """
    if last is None:
        return None
    state = _trainer_state(Path(last))
    done = state.get("max_steps", 0) > 0 and state["global_step"] >= state["max_steps"]
    return state if done else None


def _copy_weights(checkpoint: Path, out: Path) -> None:
    """A checkpoint's model and tokenizer files, without optimizer and trainer state."""
    out.mkdir(parents=True)
    for f in checkpoint.iterdir():
        if f.is_file() and f.name not in TRAINER_FILES and not f.name.startswith("rng_state"):
            shutil.copy2(f, out / f.name)


def _file_backed(data: StageData, folder: Path):
    """The rows as an Arrow dataset in the output dir, which every rank sees.

    TRL caches precomputed reference log-probs beside the dataset's files; an in-memory dataset's
    cache lives in a per-process temp dir, so other ranks would not find rank 0's file.
    """
    from datasets import load_from_disk

    if _is_main() and not folder.exists():
        partial = folder.with_name(folder.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        data.dataset().save_to_disk(str(partial))
        os.replace(partial, folder)
    _barrier()
    return load_from_disk(str(folder))


def _train(stage, recipe, data, model_path, tokenizer, args, last, partial) -> dict:
    """Build the TRL trainer, train (resuming from `last`) and save to `partial`/adapter."""
    options = _adapter_options(recipe)
    reference = recipe.settings(stage).reference_model()
    if reference:
        from transformers import AutoModelForCausalLM

        from harness.backends.weights import local_path

        ref = local_path(resolve_model(reference))
        options["ref_model"] = AutoModelForCausalLM.from_pretrained(
            ref, dtype=args.model_init_kwargs["dtype"]
        )
    trainer = get_stage(stage).trainer_class()(
        model=model_path,
        args=args,
        train_dataset=_file_backed(data, partial.parent / "data"),
        processing_class=tokenizer,
        callbacks=[_mark_complete()],
        **options,
    )
    result = trainer.train(resume_from_checkpoint=last)
    metrics = _metrics(
        trainer.state.log_history,
        result.metrics,
        trainer.state.global_step,
        Path(last).name if last else None,
    )
    _check_loss(stage, metrics, args.output_dir)
    # collective under DeepSpeed/FSDP: every rank calls it
    trainer.save_model(str(partial.parent / "adapter" if recipe.lora else partial))
    del trainer
    gc.collect()
    return metrics


def _check_loss(stage: str, metrics: dict, stage_dir: str) -> None:
    loss = metrics.get("train_loss", metrics["last_log"].get("loss"))
    if loss is None or not math.isfinite(loss):
        raise HarnessError(
            f"{stage}: training loss is {loss}; lower learning_rate or use precision bf16/fp32 "
            f"(checkpoints kept in {stage_dir})"
        )


def run_stage(
    stage: str, recipe: Recipe, data: StageData, model_path: str, stage_dir: Path
) -> dict:
    """Train one stage from `model_path`, resuming from its last checkpoint; skip it if done."""
    final = stage_dir / "model"
    if (final / DONE).exists():
        return json.loads((final / DONE).read_text())
    tokenizer = load_tokenizer(model_path, recipe.chat_template)
    processes = _processes()
    args = _trl_config(stage, recipe, stage_dir, processes)
    if _is_main():
        per_device, accumulation = (
            args.per_device_train_batch_size,
            args.gradient_accumulation_steps,
        )
        print(
            f"{stage}: global batch {processes * per_device * accumulation} = {processes} "
            f"processes x {per_device} per device x {accumulation} accumulation steps",
            flush=True,
        )
    last = _last_checkpoint(stage_dir)
    partial = stage_dir / "model.partial"
    if _is_main():
        shutil.rmtree(partial, ignore_errors=True)
    _barrier()
    finished = _finished_checkpoint(last)
    if finished is None:
        metrics = _train(stage, recipe, data, model_path, tokenizer, args, last, partial)
        adapter = stage_dir / "adapter"
    else:
        metrics = _metrics(finished["log_history"], {}, finished["global_step"], Path(last).name)
        _check_loss(stage, metrics, args.output_dir)
        adapter = Path(last)
    if _is_main():
        dtype = args.model_init_kwargs["dtype"]
        if recipe.lora:
            _merge_adapter(model_path, adapter, partial, tokenizer, dtype)
        elif finished is not None:
            _copy_weights(Path(last), partial)
        (partial / DONE).write_text(json.dumps(metrics, indent=1))
        shutil.rmtree(final, ignore_errors=True)
        os.replace(partial, final)
    _barrier()
    return metrics


def _check_fsdp(recipe: Recipe) -> None:
    """Under `accelerate launch` with an FSDP config, refuse what would train silently wrong.

    accelerate (1.15) turns FSDP on only for GPU-class devices: on a CPU-only host the ranks run
    plain DDP, so an FSDP check there would check nothing. And FSDP's cpu_ram_efficient_loading
    loads the weights on rank 0 only, copied to the others when the model is first wrapped, but
    DPO's precompute_ref_log_probs runs before that: the other ranks score the reference on
    unloaded weights (measured here: step-1 DPO loss 0.6884, not log 2 = 0.6931)."""
    from accelerate import PartialState
    from accelerate.utils import DistributedType, str_to_bool

    if not str_to_bool(os.environ.get("ACCELERATE_USE_FSDP", "false")):
        return
    efficient = str_to_bool(os.environ.get("FSDP_CPU_RAM_EFFICIENT_LOADING", "false"))
    for stage in recipe.stages:
        if efficient and getattr(recipe.settings(stage), "precompute_ref_log_probs", False):
            raise HarnessError(
                f"{stage}.precompute_ref_log_probs with FSDP's cpu_ram_efficient_loading "
                "computes the reference on unloaded weights on every rank but 0; set "
                "fsdp_cpu_ram_efficient_loading: false in the launch config (as "
                f"training/launch/fsdp.yaml does) or {stage}.precompute_ref_log_probs: false"
            )
    if PartialState().distributed_type in (DistributedType.MULTI_CPU, DistributedType.NO):
        raise HarnessError(
            f"the launch config asks for FSDP, which accelerate {metadata.version('accelerate')} "
            "runs on GPUs only: here it would be plain DDP; launch without it (accelerate "
            "launch --multi_gpu --num_processes N runs DDP over gloo on CPUs)"
        )


def _versions() -> dict:
    from harness.runner import package_versions

    found = package_versions()
    for name in EXTRA_VERSIONS:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found


def _params_b(model_dir: Path) -> float:
    """Parameter count in billions, read from the safetensors headers (no weights loaded)."""
    from safetensors import safe_open

    n = 0
    for f in model_dir.glob("*.safetensors"):
        with safe_open(str(f), "pt") as st:
            n += sum(math.prod(st.get_slice(k).get_shape()) for k in st.keys())
    return float(f"{n / 1e9:.3g}")


def train(recipe_path: str | Path, options: RunOptions) -> ModelSpec:
    """The whole recipe; returns the registry entry of the finished checkpoint. One training at
    a time in an output folder: another one there is refused, not run beside it."""
    _die_with_launcher()
    recipe, data = check(recipe_path, options.report_to)
    _check_fsdp(recipe)
    name = options.name or recipe.name
    _check_name(name)
    check_writable(user_registry_path(), "registry", folder=False)  # written after training
    out = Path(options.output_dir or Path("runs") / name).resolve()
    check_writable(out, "--output-dir")  # before the lock file is made beside it
    # the main rank holds the folder for every rank of this run
    with holding(out, "pass another --output-dir") if _is_main() else nullcontext():
        return _train_into(out, recipe_path, recipe, data, name)


def _train_into(
    out: Path, recipe_path: str | Path, recipe: Recipe, data: dict[str, StageData], name: str
) -> ModelSpec:
    from harness.backends.weights import fingerprint, local_path

    identity = {
        "recipe_digest": recipe.digest(),
        "data": {stage: d.fingerprint for stage, d in data.items()},
    }
    resumed = _check_output_dir(out, identity)  # before any model is converted or loaded
    base_spec = resolve_model(recipe.base_model)
    base_path = local_path(base_spec)  # converts the embedded GGUF once
    load_tokenizer(base_path, recipe.chat_template)  # no template: fail before training
    _start_output_dir(out, identity, resumed)

    model_path, stages = base_path, {}
    for stage in recipe.stages:
        stages[stage] = run_stage(stage, recipe, data[stage], model_path, out / stage)
        model_path = str(out / stage / "model")
    final = Path(model_path)
    spec = ModelSpec(
        name=name,
        source=str(final),
        params_b=_params_b(final),
        group="ecd",
        backend=recipe.register.backend,
        chat_template=recipe.register.chat_template,
        sampling=dict(recipe.register.sampling),
        notes=recipe.register.notes
        or f"{recipe.stage} on {recipe.base_model} (recipe {recipe.name})",
        meta={
            "recipe": recipe.name,
            "recipe_digest": identity["recipe_digest"],
            "stage": recipe.stage,
            "base_model": recipe.base_model,
            "data": {s: {"source": d.source, "sha256": d.fingerprint} for s, d in data.items()},
            "train_loss": {s: m.get("train_loss") for s, m in stages.items()},
            "output_dir": str(out),
            "provenance": str(final / PROVENANCE),
            **_evolution_rounds(data),
        },
    )
    if _is_main():
        provenance = {
            "name": name,
            "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "recipe_file": str(Path(recipe_path).resolve()),
            "recipe": recipe.as_dict(),
            "recipe_digest": identity["recipe_digest"],
            "base_model": {
                "name": base_spec.name,
                "source": base_spec.source,
                "fingerprint": fingerprint(base_spec),
            },
            "data": {stage: d.provenance() for stage, d in data.items()},
            "stages": stages,
            "versions": _versions(),
        }
        (final / PROVENANCE).write_text(json.dumps(provenance, indent=1, default=str))
        shutil.copyfile(recipe_path, final / "recipe.yaml")
        register(spec)
        print(f"registered {spec.name} -> {spec.source}")
    _barrier()
    return spec


def _evolution_rounds(data: dict) -> dict:
    """{"rounds": k} when the training data is an ECD export: the evolution rounds it keeps
    (the export's max_round, else the generation's rounds), which the report's rounds figure
    plots. Data from elsewhere has no rounds."""
    for d in data.values():
        stats = d.export_stats or {}
        rounds = (stats.get("export") or {}).get("max_round")
        rounds = stats.get("rounds") if rounds is None else rounds
        if isinstance(rounds, int):
            return {"rounds": rounds}
    return {}


def evaluate(name: str, options: RunOptions) -> int:
    """Score the registered checkpoint with the harness, in this process (main rank only): each
    suite as `python -m harness run` would, stopping at the first that does not exit 0."""
    if not options.evals or not _is_main():
        return 0
    import torch

    from harness.api import evaluate as harness_evaluate
    from harness.flags import parse_run_flags
    from harness.summary import exit_status, show

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    for suite in options.evals:
        argv = ["--suite", suite, "--model", name]
        if options.eval_limit:
            argv += ["--limit", str(options.eval_limit)]
        if options.eval_max_new_tokens:
            argv += ["--max-new-tokens", str(options.eval_max_new_tokens)]
        if options.store:
            argv += ["--store", str(options.store)]
        if options.quiet:
            argv.append("--quiet")
        model, suites, eval_options = parse_run_flags([*argv, *options.eval_args])
        show_table = partial(show, quiet=eval_options.quiet)
        rc = exit_status(harness_evaluate(model, suites, eval_options, show_table))
        if rc:
            return rc
    return 0
