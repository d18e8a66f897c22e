"""Training recipes: YAML (loaded with yaml.safe_load) into dataclasses, checked before any model loads."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import types
import typing
from dataclasses import asdict, dataclass, field
from pathlib import Path

from harness.data import parse_yaml
from harness.errors import HarnessError

STAGES = ("sft", "dpo", "sft+dpo")
PRECISIONS = ("bf16", "fp16", "fp32")


@dataclass
class DataConfig:
    """Where the rows come from. `path` serves every stage; `sft`/`dpo` override it per stage.

    Each source is a generation export folder (`sft.jsonl`/`dpo.jsonl` or `sft/`/`dpo/`), a JSONL
    file, a `datasets.save_to_disk` folder, or an HF hub dataset id. Relative paths resolve against
    the current directory.
    """

    path: str | None = None
    sft: str | None = None
    dpo: str | None = None
    split: str = "train"
    max_samples: int | None = None  # first N rows of each stage's data (smoke runs)

    def source(self, stage: str) -> str:
        src = getattr(self, stage) or self.path
        if not src:
            raise HarnessError(
                f"recipe: stage {stage!r} has no data; set dataset.path (a generation export) "
                f"or dataset.{stage}"
            )
        return src


@dataclass
class LoraConfig:
    """LoRA adapters (merged into full weights after each stage, so the checkpoint loads anywhere)."""

    r: int = 16
    alpha: int = 32
    dropout: float = 0.05
    target_modules: str | list[str] = "all-linear"
    load_in_4bit: bool = False  # QLoRA: needs bitsandbytes and a GPU


@dataclass
class StageSettings:
    """The TRL settings both stages share; `trl` passes any other SFTConfig/DPOConfig field."""

    learning_rate: float = 2e-5
    num_train_epochs: float = 1.0
    max_steps: int = -1  # > 0 overrides epochs
    per_device_train_batch_size: int = 8
    gradient_accumulation_steps: int = 1
    max_length: int | None = 2048
    lr_scheduler_type: str = "cosine"
    warmup_steps: float = (
        0.1  # < 1: a fraction of the total steps (transformers 5 dropped warmup_ratio)
    )
    gradient_checkpointing: bool = True
    logging_steps: int = 10
    save_steps: int = 500  # checkpoints to resume from
    save_total_limit: int | None = 2
    trl: dict = field(default_factory=dict)

    def trl_kwargs(self) -> dict:
        """Every field is named as in TRL's config class, except the runner's own ones."""
        own = {k: v for k, v in asdict(self).items() if k not in ("trl", "reference")}
        return own | self.trl


@dataclass
class SFTSettings(StageSettings):
    completion_only_loss: bool = True  # loss on the response R_k only, not the instruction
    packing: bool = False


@dataclass
class DPOSettings(StageSettings):
    learning_rate: float = 5e-7
    beta: float = 0.1
    loss_type: str | list[str] = "sigmoid"
    # "policy": the model entering DPO (the SFT result, or the base model); else a model name/path
    reference: str = "policy"
    precompute_ref_log_probs: bool = False  # one pass of the reference up front; frees its memory
    precompute_ref_batch_size: int | None = None


@dataclass
class RegisterConfig:
    """How the finished checkpoint is entered in the harness registry."""

    backend: str = "hf"
    chat_template: str = "auto"
    sampling: dict = field(default_factory=lambda: {"temperature": 0.0, "max_new_tokens": 2048})
    notes: str = ""


@dataclass
class Recipe:
    name: str
    base_model: str  # registry name, local checkpoint dir or HF id
    dataset: DataConfig
    stage: str = "sft+dpo"
    precision: str = "bf16"
    seed: int = 42
    # Jinja chat template to set (base models have none): a name in training/chat_templates.yaml,
    # a .jinja path, or the template itself
    chat_template: str | None = None
    lora: LoraConfig | None = None
    sft: SFTSettings = field(default_factory=SFTSettings)
    dpo: DPOSettings = field(default_factory=DPOSettings)
    register: RegisterConfig = field(default_factory=RegisterConfig)

    @property
    def stages(self) -> list[str]:
        return self.stage.split("+")

    def as_dict(self) -> dict:
        return asdict(self)

    def digest(self) -> str:
        """Identifies the training settings (not the name or registry entry): a rerun into the same
        output dir must use the same ones."""
        settings = {k: v for k, v in self.as_dict().items() if k not in ("name", "register")}
        text = json.dumps(settings, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def _build(cls, data, where: str):
    """A dataclass from a mapping: unknown keys and wrong shapes are one-line errors."""
    if not isinstance(data, dict):
        raise HarnessError(f"{where}: expected a mapping, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise HarnessError(f"{where}: unknown keys {unknown}; known: {sorted(fields)}")
    missing = [
        name
        for name, f in fields.items()
        if f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING
        and name not in data
    ]
    if missing:
        raise HarnessError(f"{where}: missing keys {missing}")
    hints = typing.get_type_hints(cls)
    values = {}
    for key, value in data.items():
        nested = _dataclass_in(hints[key])
        if nested is not None and value is not None:
            value = _build(nested, value, f"{where}.{key}")
        values[key] = _scalar(hints[key], value, f"{where}.{key}")
    try:
        return cls(**values)
    except TypeError as e:
        raise HarnessError(f"{where}: {e}") from None


def _scalar(hint, value, where: str):
    """Check a scalar against its annotation; '5e-7' is a float (YAML 1.1 reads it as a string)."""
    options = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    if (
        value is None
        and type(None) in options
        or not any(o in (int, float, bool, str) for o in options)
    ):
        return value
    if isinstance(value, bool):
        ok = bool in options
    elif isinstance(value, int):
        ok = int in options or float in options
    elif isinstance(value, float):
        ok = float in options
    elif isinstance(value, str):
        ok = str in options
        if not ok and float in options:
            try:
                return float(value)
            except ValueError:
                pass
    else:
        kinds = [typing.get_origin(o) or o for o in options]
        ok = any(isinstance(value, k) for k in kinds if isinstance(k, type))
    if not ok:
        expected = " or ".join(getattr(o, "__name__", str(o)) for o in options)
        raise HarnessError(f"{where}: expected {expected}, got {value!r}")
    return value


def _dataclass_in(hint):
    """The dataclass inside `X` or `X | None`, if any."""
    options = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    return next((o for o in options if dataclasses.is_dataclass(o)), None)


def _check_trl_keys(recipe: Recipe, origin: str) -> None:
    """Pass-through TRL keys must be real fields of the installed TRL's config class."""
    from trl import DPOConfig, SFTConfig

    for stage, config_cls in (("sft", SFTConfig), ("dpo", DPOConfig)):
        settings: StageSettings = getattr(recipe, stage)
        if not isinstance(settings.trl, dict):
            raise HarnessError(
                f"{origin}: {stage}.trl must be a mapping of {config_cls.__name__} fields"
            )
        valid = {f.name for f in dataclasses.fields(config_cls)}
        bad = sorted(set(settings.trl) - valid)
        if bad:
            raise HarnessError(
                f"{origin}: {stage}.trl has keys {bad} that TRL's {config_cls.__name__} does not know"
            )
        reserved = sorted(set(settings.trl) & (set(_MANAGED) | set(asdict(settings))))
        if reserved:
            raise HarnessError(
                f"{origin}: {stage}.trl sets {reserved}, which the recipe sets elsewhere "
                "(top-level keys or the stage's own keys)"
            )


# TRL config fields the runner sets from the recipe or the command line, never from `trl:`.
_MANAGED = ("output_dir", "seed", "bf16", "fp16", "model_init_kwargs", "resume_from_checkpoint")


def parse_recipe(data, origin: str) -> Recipe:
    recipe = _build(Recipe, data, origin)
    if not isinstance(recipe.name, str) or not recipe.name:
        raise HarnessError(f"{origin}: 'name' must be a non-empty string")
    if recipe.stage not in STAGES:
        raise HarnessError(
            f"{origin}: unknown stage {recipe.stage!r}; use one of {', '.join(STAGES)}"
        )
    if recipe.precision not in PRECISIONS:
        raise HarnessError(
            f"{origin}: unknown precision {recipe.precision!r}; use one of {', '.join(PRECISIONS)}"
        )
    for stage in recipe.stages:
        recipe.dataset.source(stage)  # each stage has data
    if recipe.chat_template:
        from training.chat_template import resolve_template

        try:
            resolve_template(recipe.chat_template)
        except HarnessError as e:
            raise HarnessError(f"{origin}: {e}") from None
    _check_trl_keys(recipe, origin)
    _check_register(recipe, origin)
    return recipe


def _check_register(recipe: Recipe, origin: str) -> None:
    """The registry entry made after training must be valid: find out now, not hours later."""
    from harness.backends.base import SamplingParams
    from harness.registry import ModelSpec

    reg = recipe.register
    try:
        SamplingParams(**reg.sampling)
    except TypeError as e:
        raise HarnessError(f"{origin}: register.sampling: {e}") from None
    try:
        ModelSpec(name=recipe.name, source=".", backend=reg.backend, group="ecd")
    except HarnessError as e:
        raise HarnessError(f"{origin}: register: {e}") from None


def load_recipe(path: str | Path) -> Recipe:
    path = Path(path)
    if not path.is_file():
        raise HarnessError(f"recipe {path} not found; see training/recipes/ for examples")
    data = parse_yaml(path.read_text(), f"recipe {path}")
    return parse_recipe(data, f"recipe {path}")
