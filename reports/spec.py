"""The report spec: which models are baselines, ECD variants and 70B references (YAML, safe-loaded).

Example:
    title: ECD ablation
    baselines: [mistral-7b-instruct-v0.2, zephyr-7b-beta]
    ecd: [ecd-sft, ecd-sft-dpo]            # the ECD variants, in ablation order
    references: [llama-2-70b-chat, tulu-2-dpo-70b]
    ablation_base: mistral-7b-instruct-v0.2 # deltas are ECD variant minus this (default: 1st baseline)
    suites: [ifeval, mt_bench, alpaca_eval] # default: all three
    category_models: [mistral-7b-instruct-v0.2, ecd-sft-dpo]  # IFEval per-category figure
    rounds: {ecd-r1: 1, ecd-r2: 2}          # default: each ECD model's registry meta.rounds
    runs: [20260101-120000-abcd1234]        # chosen run ids (default: latest per model and suite)
    published: true                         # show published numbers beside measured ones
    examples: 3                             # model outputs shown in the HTML/Markdown report
    bootstrap: 2000
    seed: 0
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path

from harness.data import parse_yaml
from harness.errors import HarnessError
from leaderboards import stats
from leaderboards.metrics import SUITE_METRICS


@dataclass
class ReportSpec:
    ecd: list[str]
    baselines: list[str] = field(default_factory=list)
    references: list[str] = field(default_factory=list)
    title: str = "ECD evaluation report"
    ablation_base: str | None = None
    suites: list[str] = field(default_factory=lambda: list(SUITE_METRICS))
    category_models: list[str] = field(default_factory=list)
    rounds: dict[str, float] = field(default_factory=dict)
    runs: list[str] = field(default_factory=list)
    published: bool = True
    examples: int = 3
    bootstrap: int = stats.N_BOOT
    seed: int = stats.SEED

    def __post_init__(self) -> None:
        for name in ("ecd", "baselines", "references", "suites", "category_models", "runs"):
            value = getattr(self, name)
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise HarnessError(f"report spec: '{name}' must be a list of names")
        if not self.ecd:
            raise HarnessError("report spec: 'ecd' must name at least one ECD model")
        unknown = [s for s in self.suites if s not in SUITE_METRICS]
        if unknown:
            raise HarnessError(
                f"report spec: unknown suite {unknown[0]!r}; use {', '.join(SUITE_METRICS)}"
            )
        if not isinstance(self.rounds, dict):
            raise HarnessError("report spec: 'rounds' must map model names to round counts")
        self.ablation_base = self.ablation_base or (self.baselines[0] if self.baselines else None)
        self.category_models = (
            self.category_models or ([self.ablation_base] if self.ablation_base else []) + self.ecd
        )
        if self.bootstrap < 100:
            raise HarnessError("report spec: 'bootstrap' must be at least 100")

    @property
    def models(self) -> list[str]:
        return list(dict.fromkeys(self.baselines + self.ecd + self.references))


def load_spec(path: str | Path) -> ReportSpec:
    path = Path(path)
    if not path.is_file():
        raise HarnessError(f"report spec {path} not found; write one (see reports/spec.py)")
    data = parse_yaml(path.read_text(), f"report spec {path}")
    if not isinstance(data, dict):
        raise HarnessError(f"report spec {path}: expected a mapping with at least 'ecd'")
    known = {f.name for f in fields(ReportSpec)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise HarnessError(f"report spec {path}: unknown keys {unknown}; known: {sorted(known)}")
    if "ecd" not in data:
        raise HarnessError(f"report spec {path}: 'ecd' (the ECD variant models) is required")
    return ReportSpec(**data)
