"""Suite registry: name -> implementation, imported on demand.

A suite is one module with a `Suite` subclass plus one line here (or, outside this package, one
`register_suite` call in a module named by $ECD_HARNESS_PLUGINS). `--suite all`, leaderboards,
compare, reports and decontamination all read this table.
"""

from __future__ import annotations

import importlib

from harness.errors import HarnessError
from harness.plugins import load_plugins
from harness.suites.base import (
    Contribution,
    Generation,
    Metric,
    RunContext,
    Scoring,
    Suite,
    SuiteResult,
)

__all__ = [
    "Contribution",
    "Metric",
    "RunContext",
    "Generation",
    "Scoring",
    "Suite",
    "SuiteResult",
    "check_suites",
    "get_suite",
    "register_suite",
    "suite_names",
]

SUITES: dict[str, str | type[Suite]] = {  # in the order `--suite all` runs them
    "ifeval": "harness.suites.ifeval:IFEval",
    "mt_bench": "harness.suites.mt_bench:MTBench",
    "alpaca_eval": "harness.suites.alpaca_eval:AlpacaEval",
    "followbench": "harness.suites.followbench:FollowBench",
    "infobench": "harness.suites.infobench:InFoBench",
    "ifbench": "harness.suites.ifbench:IFBench",
}


def register_suite(cls: type[Suite]) -> type[Suite]:
    """Add a suite class under its `name` (usable as a class decorator)."""
    SUITES[cls.name] = cls
    return cls


def suite_names() -> list[str]:
    load_plugins()
    return list(SUITES)


def get_suite(name: str) -> Suite:
    if name not in suite_names():
        raise HarnessError(f"unknown suite {name!r}; choose from {', '.join(SUITES)}")
    target = SUITES[name]
    if isinstance(target, str):
        module, _, attr = target.partition(":")
        target = getattr(importlib.import_module(module), attr)
    return target()


def check_suites(names: list[str] | None) -> list[str]:
    """The named suites, or all of them; an unknown name is one error line."""
    known = suite_names()
    unknown = [s for s in names or [] if s not in known]
    if unknown:
        raise HarnessError(f"unknown suite {unknown[0]!r}; choose from {', '.join(known)}")
    return list(names or known)
