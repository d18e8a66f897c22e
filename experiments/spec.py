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
from dataclasses import dataclass, field, fields, make_dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from experiments.estimate import Rate
from generation.config import ExportConfig, GenerationConfig
from harness.api import EvalOptions
from harness.config import set_path
from harness.data import parse_yaml, read_text
from harness.errors import HarnessError
from harness.suites import check_suites
from harness.validate import NAME, NON_NEGATIVE, POSITIVE, build, reused
from reports.spec import ReportSpec
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


# The EvalOptions every model of an experiment is evaluated with, so every compared run shares
# one comparability key: each key is that field, with its type, rule and default (no copy here).
EVAL_SETTINGS = (
    "limit",
    "max_new_tokens",  # None: each model's registry sampling
    "temperature",
    "data_dir",
    "judge",  # None: each suite's default judge
    "judge_base_url",
    "judge_model_tag",
    "judge_concurrency",
    "judge_parse_retries",
    "reference_answers",
    "df_gamed",
)
EvalSpec = make_dataclass(
    "EvalSpec",
    [
        ("suites", list[str], field(default_factory=lambda: ["ifeval"])),
        *reused(EvalOptions, EVAL_SETTINGS),
        ("options", dict[str, Any], field(default_factory=dict)),  # backend options, every model
    ],
    namespace={"__doc__": "The evaluation every model gets: suites, EVAL_SETTINGS, options."},
)


def eval_options(e: EvalSpec, **more: Any) -> EvalOptions:
    """The experiment's evaluation settings as the harness takes them (`more`: store, quiet)."""
    given = {name: getattr(e, name) for name in EVAL_SETTINGS}
    return EvalOptions(**given, backend_options=dict(e.options), **more)


# reports.spec.ReportSpec's keys besides those the experiment fills in, reused (no copy)
REPORT_FILLED = ("ecd", "baselines", "references", "suites", "runs")
ReportConfig = make_dataclass(
    "ReportConfig",
    reused(ReportSpec, [f.name for f in fields(ReportSpec) if f.name not in REPORT_FILLED]),
    namespace={"__doc__": "The report's settings: reports.spec.ReportSpec's, but the models."},
)


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
            bad = set_path(data, dotted, value)
            if bad:
                raise HarnessError(
                    f"{self.origin}: training.{name}.overrides: {dotted}: {bad} is not a "
                    "mapping in the recipe"
                )
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


def load_experiment(path: str | Path) -> ExperimentSpec:
    origin = f"experiment spec {path}"
    data = parse_yaml(read_text(path, "experiment spec", "; see experiments/"), origin)
    if not isinstance(data, dict):
        raise HarnessError(f"{origin}: expected a mapping with at least 'name' and 'training'")
    spec = build(ExperimentSpec, data, origin)
    spec.origin = origin
    spec.check()
    return spec
