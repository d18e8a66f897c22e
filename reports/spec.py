"""The report spec: which models are baselines, ECD variants and 70B references (YAML, safe-loaded).

Example:
    title: ECD ablation
    baselines: [mistral-7b-instruct-v0.2, zephyr-7b-beta]
    ecd: [ecd-sft, ecd-sft-dpo]            # the ECD variants, in ablation order
    references: [llama-2-70b-chat, tulu-2-dpo-70b]
    ablation_base: mistral-7b-instruct-v0.2 # deltas are ECD variant minus this (default: 1st baseline)
    suites: [ifeval, mt_bench]        # default: every suite a listed model was measured on
    category_models: [mistral-7b-instruct-v0.2, ecd-sft-dpo]  # IFEval per-category figure
    rounds: {ecd-r1: 1, ecd-r2: 2}          # default: each ECD model's registry meta.rounds
    runs: [20260101-120000-abcd1234]        # chosen run ids (default: latest per model and suite)
    published: true                         # show published numbers beside measured ones
    examples: 3                             # model outputs shown in the HTML/Markdown report
    bootstrap: 10000                        # resamples (the default, as compare and leaderboards)
    seed: 0
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from harness.data import parse_yaml, read_text
from harness.errors import HarnessError
from harness.naming import run_name
from harness.suites import check_suites
from harness.validate import NON_NEGATIVE, SEED, build
from leaderboards import stats


@dataclass
class ReportSpec:
    ecd: list[str]
    baselines: list[str] = field(default_factory=list)
    references: list[str] = field(default_factory=list)
    title: str = "ECD evaluation report"
    ablation_base: str | None = None
    suites: list[str] | None = None  # None: the suites something was measured on
    category_models: list[str] = field(default_factory=list)
    rounds: dict[str, float] = field(default_factory=dict)
    runs: list[str] = field(default_factory=list)
    published: bool = True
    examples: int = NON_NEGATIVE.field(3)
    bootstrap: int = stats.BOOTSTRAP.field(stats.N_BOOT)
    seed: int = SEED.field(stats.SEED)

    def __post_init__(self) -> None:
        self.ablation_base = self.ablation_base or (self.baselines[0] if self.baselines else None)
        self.category_models = (
            self.category_models or ([self.ablation_base] if self.ablation_base else []) + self.ecd
        )

    def check(self, origin: str) -> None:
        """What no single key says: at least one ECD model, known suites, names the spec lists."""
        if not self.ecd:
            raise HarnessError(f"{origin}: 'ecd' must name at least one ECD model")
        try:
            check_suites(self.suites or [])
        except HarnessError as e:
            raise HarnessError(f"{origin}: {e}") from None
        listed = self.baselines + self.ecd + self.references
        twice = [m for m in dict.fromkeys(listed) if listed.count(m) > 1]
        if twice:
            raise HarnessError(
                f"{origin}: {twice[0]!r} is listed twice in baselines, ecd and references; "
                "give each model one role"
            )
        named = set(listed)
        stray = [m for m in [self.ablation_base, *self.category_models] if m and m not in named]
        if stray:
            raise HarnessError(
                f"{origin}: {stray[0]!r} (ablation_base or category_models) is not in "
                "baselines, ecd or references; add it there or fix the name"
            )
        stray = [m for m in self.rounds if m not in self.ecd]
        if stray:
            raise HarnessError(f"{origin}: rounds names {stray[0]!r}, which is not in ecd")

    @property
    def models(self) -> list[str]:
        return list(dict.fromkeys(self.baselines + self.ecd + self.references))


def load_spec(path: str | Path) -> ReportSpec:
    text = read_text(path, "report spec", "; write one (see reports/spec.py)")
    origin = f"report spec {path}"
    data = parse_yaml(text, origin)
    if not isinstance(data, dict):
        raise HarnessError(f"{origin}: expected a mapping with at least 'ecd'")
    spec = build(ReportSpec, data, origin)
    spec.check(origin)
    # models named as `harness run --model` takes them: a folder's runs are under its full path
    for role in ("baselines", "ecd", "references", "category_models"):
        setattr(spec, role, [run_name(m) for m in getattr(spec, role)])
    spec.ablation_base = spec.ablation_base and run_name(spec.ablation_base)
    spec.rounds = {run_name(m): r for m, r in spec.rounds.items()}
    return spec
