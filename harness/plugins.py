"""Suites and backends defined outside this package: modules named in $ECD_HARNESS_PLUGINS
(comma-separated) are imported once, before a registry is first read, and register themselves."""

from __future__ import annotations

import functools
import importlib
import os

from harness.errors import HarnessError

ENV = "ECD_HARNESS_PLUGINS"


@functools.cache
def load_plugins() -> tuple[str, ...]:
    names = tuple(n.strip() for n in os.environ.get(ENV, "").split(",") if n.strip())
    for name in names:
        try:
            importlib.import_module(name)
        except ImportError as e:
            raise HarnessError(f"${ENV}: can't import plugin {name!r} ({e}); fix ${ENV}") from None
    return names


def plugins_loaded() -> int:
    """For a CLI's start, under `run_cli`: a plugin that fails to import is one error line."""
    load_plugins()
    return 0
