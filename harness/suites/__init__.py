"""Suite registry: name -> implementation, imported on demand."""

from __future__ import annotations

import importlib

from harness.errors import HarnessError
from harness.suites.base import RunContext, Suite, SuiteResult

__all__ = ["SUITES", "RunContext", "Suite", "SuiteResult", "get_suite"]

SUITES = {
    "ifeval": "harness.suites.ifeval:IFEval",
    "mt_bench": "harness.suites.mt_bench:MTBench",
    "alpaca_eval": "harness.suites.alpaca_eval:AlpacaEval",
}


def get_suite(name: str) -> Suite:
    if name not in SUITES:
        raise HarnessError(f"unknown suite {name!r}; choose from {', '.join(SUITES)}")
    module, _, cls = SUITES[name].partition(":")
    return getattr(importlib.import_module(module), cls)()
