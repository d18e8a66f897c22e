"""Training recipes: YAML (loaded with yaml.safe_load) into dataclasses, checked before any model loads."""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from harness.data import parse_yaml, read_text
from harness.errors import HarnessError
from harness.validate import NAME, POSITIVE, SEED, Rule, build
from training.stages import STAGES, DPOSettings, SFTSettings, StageSettings

DROPOUT = Rule("in [0, 1)", lambda v: 0 <= v < 1)

# a recipe trains one stage, or SFT then DPO on its result
PIPELINES = (*STAGES, "sft+dpo")
PRECISIONS = ("bf16", "fp16", "fp32")
# report_to names -> the package transformers' callback for it imports
LOGGERS = {"tensorboard": "tensorboard", "wandb": "wandb", "mlflow": "mlflow"}


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
    max_samples: int | None = POSITIVE.field(None)  # first N rows of each stage's data (smoke runs)

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

    r: int = POSITIVE.field(16)
    alpha: int = POSITIVE.field(32)
    dropout: float = DROPOUT.field(0.05)
    target_modules: str | list[str] = "all-linear"
    load_in_4bit: bool = False  # QLoRA: needs bitsandbytes and a GPU


@dataclass
class RegisterConfig:
    """How the finished checkpoint is entered in the harness registry."""

    backend: str = "hf"
    chat_template: str = "auto"
    sampling: dict = field(default_factory=lambda: {"temperature": 0.0, "max_new_tokens": 2048})
    notes: str = ""


@dataclass
class Recipe:
    name: str = NAME.field()  # also the folder under runs/ and the registry name
    base_model: str  # registry name, local checkpoint dir or HF id
    dataset: DataConfig
    stage: str = "sft+dpo"
    precision: str = "bf16"
    seed: int = SEED.field(42)
    # Jinja chat template to set (base models have none): a name in training/chat_templates.yaml,
    # a .jinja path, or the template itself
    chat_template: str | None = None
    lora: LoraConfig | None = None
    sft: SFTSettings = field(default_factory=SFTSettings)
    dpo: DPOSettings = field(default_factory=DPOSettings)
    register: RegisterConfig = field(default_factory=RegisterConfig)
    # where the trainer logs loss, learning rate and DPO reward margins: any of LOGGERS (one name
    # or a list), or none; parse_recipe makes it a list
    report_to: str | list[str] = "none"

    @property
    def stages(self) -> list[str]:
        return self.stage.split("+")

    def settings(self, stage: str) -> StageSettings:
        """The recipe's section for `stage` (each entry of STAGES has one)."""
        return getattr(self, stage)

    def as_dict(self) -> dict:
        return asdict(self)

    def digest(self) -> str:
        """Identifies the training settings (not the name or registry entry): a rerun into the same
        output dir must use the same ones."""
        settings = {
            k: v for k, v in self.as_dict().items() if k not in ("name", "register", "report_to")
        }
        text = json.dumps(settings, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def _check_trl_keys(recipe: Recipe, origin: str) -> None:
    """Pass-through TRL keys must be real fields of the installed TRL's config class."""
    for stage, kind in STAGES.items():
        settings = recipe.settings(stage)
        config_cls = kind.config_class()
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
_MANAGED = (
    "output_dir",
    "seed",
    "bf16",
    "fp16",
    "model_init_kwargs",
    "resume_from_checkpoint",
    "activation_checkpointing",  # the stage's gradient_checkpointing (its name from 5.20)
)


def parse_report_to(value: str | list[str], origin: str) -> list[str]:
    """`report_to` (a recipe's or --report-to's) as a list of LOGGERS names; none is []."""
    names = [value] if isinstance(value, str) else list(value)
    names = [n for n in names if n != "none"]
    unknown = sorted(set(names) - set(LOGGERS))
    if unknown:
        raise HarnessError(
            f"{origin}: report_to: unknown logger {unknown[0]!r}; use any of "
            f"{', '.join(LOGGERS)}, or none"
        )
    return names


def check_loggers(names: list[str], origin: str) -> None:
    """Each logger's package is installed: transformers would only fail when training starts."""
    for name in names:
        if importlib.util.find_spec(LOGGERS[name]) is None:
            raise HarnessError(
                f"{origin}: report_to {name} needs the {LOGGERS[name]} package: "
                f"pip install {LOGGERS[name]}, or report_to: none"
            )


def parse_recipe(data, origin: str) -> Recipe:
    recipe = build(Recipe, data, origin)
    recipe.report_to = parse_report_to(recipe.report_to, origin)
    if recipe.stage not in PIPELINES:
        raise HarnessError(
            f"{origin}: unknown stage {recipe.stage!r}; use one of {', '.join(PIPELINES)}"
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
    from harness.registry import ModelSpec, check_sampling

    reg = recipe.register
    check_sampling(reg.sampling, origin, "register.sampling")
    try:
        ModelSpec(name=recipe.name, source=".", backend=reg.backend, group="ecd")
    except HarnessError as e:
        raise HarnessError(f"{origin}: register: {e}") from None


def load_recipe(path: str | Path) -> Recipe:
    text = read_text(path, "recipe", "; see training/recipes/ for examples")
    return parse_recipe(parse_yaml(text, f"recipe {path}"), f"recipe {path}")
