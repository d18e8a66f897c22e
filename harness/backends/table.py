"""The backend table: each backend module declares itself, and nothing else names a backend.

A declaration (`BackendSpec`) says how the backend is built, how its outputs are identified
without building it, and which options it takes. Those options become the `run` flags of
`python -m harness` and `python -m generation`, the keys of a registry entry's `backend_options`,
and `EvalOptions.backend_options`. The table is filled on first use from this package's modules
(whose top level imports no engine) and the plugins named in $ECD_HARNESS_PLUGINS
(`harness.plugins`), so a new backend is one file. This module imports no registry: the registry checks entries against it.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.plugins import load_plugins
from harness.validate import Rule, check_value, flag_type


@dataclass(frozen=True)
class Option:
    """A keyword the backend is built with. `default` is the value when nobody sets it; `flag`,
    where given, is its command-line flag; `rule` bounds its value (e.g. POSITIVE)."""

    name: str
    type: type  # int, float, str or bool
    default: Any
    help: str
    flag: str | None = None
    rule: Rule | None = None

    def check(self, value: Any, origin: str, key: str) -> Any:
        """The value if it has the option's type and keeps its rule; one line otherwise."""
        hint = self.type if self.default is not None else self.type | None
        return check_value(hint, value, origin, key, self.rule)

    @property
    def flag_help(self) -> str:
        shown = self.default is not None and self.type is not bool
        return f"{self.help} (default {self.default})" if shown else self.help

    def flag_kwargs(self) -> dict:
        """argparse keywords that read and check the flag's text as the option's type."""
        if self.type is bool:
            return {"action": "store_true"}
        return {"type": flag_type(self.rule, self.type) if self.rule else self.type}

    def add_flag(self, parser: argparse.ArgumentParser) -> None:
        """The flag, stored under the option's name; None when not given (the entry's value or
        the default then applies)."""
        parser.add_argument(
            self.flag, dest=self.name, default=None, help=self.flag_help, **self.flag_kwargs()
        )


@dataclass(frozen=True)
class BackendSpec:
    """A backend: `build(spec, **options)` makes it (engines imported there, not at module
    level); `identify(spec, model_tag, options)` names its outputs without loading anything
    (a weights hash, or an endpoint). Options that do not change outputs (batch size,
    parallelism, memory share) must not enter the identity, so caches stay valid across them."""

    name: str
    build: Callable[..., Any]
    identify: Callable[..., str]
    options: tuple[Option, ...] = ()

    def takes(self, name: str) -> bool:
        return any(o.name == name for o in self.options)

    def defaults(self) -> dict:
        return {o.name: o.default for o in self.options}

    def check(self, options: Mapping[str, Any], origin: str, key: str = "") -> dict:
        """`options` checked against the declarations: an option this backend does not take, or a
        value of the wrong type, is one line naming `origin` (and the mapping's `key`)."""
        declared = {o.name: o for o in self.options}
        for name in options:
            if name not in declared:
                where = f"{origin}: {key}" if key else origin
                flags = {o.name: o.flag for o in flagged_options()}
                shown = f"{name!r} ({flags[name]})" if name in flags else repr(name)
                raise HarnessError(
                    f"{where}: the {self.name} backend takes no option {shown}; its options: "
                    f"{', '.join(declared) or 'none'}"
                )
        path = f"{key}." if key else ""
        return {k: declared[k].check(v, origin, path + k) for k, v in options.items()}


_TABLE: dict[str, BackendSpec] = {}
_discovered = False


def register(kind: BackendSpec) -> BackendSpec:
    """Add a backend to the table (a backend module calls this when imported)."""
    old = _TABLE.get(kind.name)
    if old is not None and old.build.__module__ != kind.build.__module__:
        raise HarnessError(
            f"backend {kind.name!r} is declared twice: {old.build.__module__} and "
            f"{kind.build.__module__}"
        )
    _TABLE[kind.name] = kind
    return kind


def _table() -> dict[str, BackendSpec]:
    """The table, filled on first use: this package's modules, then the plugins."""
    global _discovered
    if not _discovered:
        _discovered = True
        package = __name__.rpartition(".")[0]
        for module in pkgutil.iter_modules([str(Path(__file__).parent)]):
            importlib.import_module(f"{package}.{module.name}")
        load_plugins()
    return _TABLE


def backend_names() -> list[str]:
    return sorted(_table())


def get_backend(name: str) -> BackendSpec:
    table = _table()
    if name not in table:
        raise HarnessError(f"unknown backend {name!r}; use one of {', '.join(backend_names())}")
    return table[name]


def flagged_options() -> list[Option]:
    """Every option with a flag, once per name (backends that share a name share its flag)."""
    found: dict[str, Option] = {}
    for name in backend_names():
        for option in _TABLE[name].options:
            if option.flag:
                found.setdefault(option.name, option)
    return list(found.values())
