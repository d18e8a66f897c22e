"""The experiment spec: ECD data and its variants, the models trained on them, the models they are
compared with, the suites and the report, in one YAML file (safe-loaded, checked like every other
config in the project: one line per mistake, before any work).

    name: tiny-cpu
    generation: {seeds: {limit: 4}, rounds: 2}      # a generation config (see
                                                    # generation/data/example-config.yaml)
    variants:                                       # data variants: an export config each
      hard: {}
      random: {negatives: random}
    training:                                       # one ECD model per entry: recipe x variant
      ecd-tiny-hard: {recipe: tiny-cpu, data: hard}
      ecd-tiny-sft: {recipe: tiny-cpu, data: hard, overrides: {stage: sft}}
    models: {baselines: [smollm2-135m-instruct], references: []}
    evaluation: {suites: [ifeval], limit: 20, max_new_tokens: 128}
    report: {title: ECD on 2 CPU cores}
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from experiments.estimate import Rate
from generation.config import ExportConfig, GenerationConfig
from harness.data import parse_yaml, read_text
from harness.errors import HarnessError
from harness.suites import check_suites
from harness.validate import NAME, NON_NEGATIVE, POSITIVE, SEED, Rule, build
from leaderboards import stats
from training.recipe import Recipe, parse_recipe

EXECUTORS = ("local", "ray")
RATE_RULES = {"tokens_per_s": POSITIVE, "params_b": POSITIVE}
DEVICES = ("cpu", "gpu")
# generation keys the experiment owns: where data goes, which store, which variants
OWNED = ("out", "store", "variants")


@dataclass
class TrainSpec:
    """One ECD model: a recipe trained on one data variant. The entry's name is the model's."""

    recipe: str  # a shipped recipe's name (training/recipes/NAME.yaml) or a recipe file
    data: str  # a variant name, or "main" for the generation's own export
    overrides: dict[str, Any] = field(default_factory=dict)  # recipe keys, nested or dotted
    # GPUs the Ray executor reserves (on a GPU cluster), and the processes training runs on: over
    # 1, `accelerate launch --num_processes gpus` (DDP; on a CPU-only host, ranks over gloo)
    gpus: int = NON_NEGATIVE.field(1)


@dataclass
class ModelsSpec:
    """The models the ECD variants are compared with (registry names)."""

    baselines: list[str] = field(default_factory=list)
    references: list[str] = field(default_factory=list)


@dataclass
class EvalSpec:
    """One setting for every model, so every compared run shares one comparability key."""

    suites: list[str] = field(default_factory=lambda: ["ifeval"])
    limit: int | None = POSITIVE.field(None)
    max_new_tokens: int | None = POSITIVE.field(None)  # None: each model's registry sampling
    temperature: float | None = NON_NEGATIVE.field(None)
    judge: str | None = None  # None: each suite's default judge
    judge_base_url: str | None = None
    judge_concurrency: int | None = POSITIVE.field(None)  # None: the judge entry's, else 16
    data_dir: str | None = None
    df_gamed: str | None = None
    options: dict[str, Any] = field(default_factory=dict)  # backend options for every model


@dataclass
class ReportConfig:
    """reports.spec.ReportSpec's keys besides the model lists, which the experiment fills in."""

    title: str = "ECD evaluation report"
    ablation_base: str | None = None
    category_models: list[str] = field(default_factory=list)
    published: bool = True
    examples: int = NON_NEGATIVE.field(3)
    bootstrap: int = Rule("in 100..1000000", lambda v: 100 <= v <= 1_000_000).field(stats.N_BOOT)
    seed: int = SEED.field(stats.SEED)


@dataclass
class EstimateConfig:
    """Where the plan's time estimates are for: `device` and how many of them."""

    device: str = "cpu"
    # your own measured rates, by work ("generate", "train"): {tokens_per_s, params_b, source}
    rates: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass
class ExecutorConfig:
    kind: str = "local"
    address: str | None = None  # Ray: "auto" (a started cluster), ray://host:10001, None: local
    num_cpus: int | None = POSITIVE.field(None)  # Ray, local cluster only: CPUs it may use


@dataclass
class ExperimentSpec:
    name: str = NAME.field()
    generation: dict[str, Any] = field(default_factory=dict)
    variants: dict[str, ExportConfig] = field(default_factory=dict)
    training: dict[str, TrainSpec] = field(default_factory=dict)
    models: ModelsSpec = field(default_factory=ModelsSpec)
    evaluation: EvalSpec = field(default_factory=EvalSpec)
    report: ReportConfig = field(default_factory=ReportConfig)
    estimate: EstimateConfig = field(default_factory=EstimateConfig)
    executor: ExecutorConfig = field(default_factory=ExecutorConfig)
    out: str | None = None  # default: runs/experiments/<name>
    store: str | None = None  # a SQLite file or postgresql:// URL; default: the harness store
    origin: str = field(default="experiment spec", init=False, repr=False)

    @property
    def out_dir(self) -> Path:
        return Path(self.out or Path("runs") / "experiments" / self.name).resolve()

    @property
    def data_dir(self) -> Path:
        return self.out_dir / "data"

    def variant_dir(self, variant: str) -> Path:
        return self.data_dir if variant == "main" else self.data_dir / "variants" / variant

    @property
    def ecd(self) -> list[str]:
        return list(self.training)

    @property
    def compared(self) -> list[str]:
        return [*self.models.baselines, *self.ecd, *self.models.references]

    def generation_config(self) -> GenerationConfig:
        """The generation run: the spec's settings, writing every variant under out/data."""
        data = {
            **self.generation,
            "out": str(self.data_dir),
            "store": self.store,
            "variants": {k: vars(v) for k, v in self.variants.items()},
        }
        cfg = build(GenerationConfig, data, f"{self.origin}: generation")
        try:
            cfg.validate()
        except HarnessError as e:
            raise HarnessError(f"{self.origin}: generation: {e}") from None
        return cfg

    def recipe_data(self, name: str) -> dict:
        """The recipe mapping model `name` is trained with: the recipe file, its overrides, the
        entry's name and its variant's data."""
        t = self.training[name]
        data = parse_yaml(read_text(recipe_path(t.recipe), "recipe"), f"recipe {t.recipe}")
        if not isinstance(data, dict):
            raise HarnessError(f"recipe {t.recipe}: expected a mapping")
        data = copy.deepcopy(data)
        for dotted, value in _flatten(t.overrides):
            _set(data, dotted, value, f"{self.origin}: training.{name}.overrides")
        data["name"] = name
        dataset = data.setdefault("dataset", {})
        if not isinstance(dataset, dict):
            raise HarnessError(f"recipe {t.recipe}: dataset: expected a mapping")
        dataset.update(path=str(self.variant_dir(t.data)), sft=None, dpo=None)
        return data

    def recipe(self, name: str) -> Recipe:
        return parse_recipe(self.recipe_data(name), f"{self.origin}: training.{name}")

    def check(self) -> None:
        """What no single key says: known choices, names used once, variants that exist."""
        o = self.origin
        if self.executor.kind not in EXECUTORS:
            raise HarnessError(f"{o}: executor.kind must be one of {EXECUTORS}")
        if self.estimate.device not in DEVICES:
            raise HarnessError(f"{o}: estimate.device must be one of {DEVICES}")
        for work, rate in self.estimate.rates.items():
            if work not in ("generate", "train"):
                raise HarnessError(f"{o}: estimate.rates.{work}: expected generate or train")
            build(Rate, rate, o, f"estimate.rates.{work}", RATE_RULES)
        owned = sorted(set(self.generation) & set(OWNED))
        if owned:
            raise HarnessError(
                f"{o}: generation.{owned[0]} is set by the experiment (out: 'out', store: "
                "'store', variants: 'variants' at the top level); remove it"
            )
        for name in [*self.variants, *self.training]:
            if not NAME.ok(name):
                raise HarnessError(f"{o}: {name!r}: expected a name {NAME.text}")
        if not self.training:
            raise HarnessError(f"{o}: training must name at least one ECD model")
        for name, t in self.training.items():
            if t.data != "main" and t.data not in self.variants:
                known = ", ".join(["main", *self.variants])
                raise HarnessError(
                    f"{o}: training.{name}.data is {t.data!r}, not a variant ({known})"
                )
        twice = [m for m in dict.fromkeys(self.compared) if self.compared.count(m) > 1]
        if twice:
            raise HarnessError(
                f"{o}: {twice[0]!r} is named twice among baselines, training and references"
            )
        try:
            check_suites(self.evaluation.suites)
        except HarnessError as e:
            raise HarnessError(f"{o}: evaluation.suites: {e}") from None
        self.generation_config()
        for name in self.training:
            self.recipe(name)


def recipe_path(recipe: str) -> Path:
    """A shipped recipe by name (`tiny-cpu`), else a file."""
    if "/" not in recipe and not recipe.endswith((".yaml", ".yml")):
        shipped = resources.files("training").joinpath("recipes", f"{recipe}.yaml")
        if shipped.is_file():
            return Path(str(shipped))
    return Path(recipe).expanduser().resolve()


def _flatten(mapping: dict, prefix: str = "") -> list[tuple[str, Any]]:
    """{"sft": {"max_steps": 2}, "dpo.beta": 0.1} -> [("sft.max_steps", 2), ("dpo.beta", 0.1)]"""
    items = []
    for k, v in mapping.items():
        path = f"{prefix}{k}"
        items += _flatten(v, f"{path}.") if isinstance(v, dict) and v else [(path, v)]
    return items


def _set(data: dict, dotted: str, value: Any, where: str) -> None:
    *parents, last = dotted.split(".")
    for part in parents:
        data = data.setdefault(part, {})
        if not isinstance(data, dict):
            raise HarnessError(f"{where}: {dotted}: {part} is not a mapping in the recipe")
    data[last] = value


def load_experiment(path: str | Path) -> ExperimentSpec:
    origin = f"experiment spec {path}"
    data = parse_yaml(read_text(path, "experiment spec", "; see experiments/"), origin)
    if not isinstance(data, dict):
        raise HarnessError(f"{origin}: expected a mapping with at least 'name' and 'training'")
    spec = build(ExperimentSpec, data, origin)
    spec.origin = origin
    spec.check()
    return spec
