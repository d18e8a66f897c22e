"""The packages form layers (ARCHITECTURE.md): harness is the base; generation, training and
leaderboards stand on it; reports above them, and experiments (which drives them all) on top.
Nothing imports a layer above its own (nor names one for importlib, bar the declared hand-off),
layers above use only harness's public modules, and inside a package no module depends on itself
round a loop of imports.

The import graph is read from the source with `ast`, nothing is imported. Every import statement
counts, wherever it is: one inside a function runs just the same, only later, and one under
TYPE_CHECKING is still a dependency back (the runner/suites knot was one).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# package -> the packages it may import besides itself
MAY_IMPORT = {
    "harness": set(),
    "generation": {"harness"},
    "training": {"harness"},
    "leaderboards": {"harness"},
    "reports": {"harness", "leaderboards"},
    "experiments": {"harness", "generation", "training", "leaderboards", "reports"},
}
ENTRY_POINTS = ("cli", "__main__")  # a package's command line: called, never imported, from outside
# What the layers above may use of harness.suites: the registry, the suite types and the
# instruction checkers that ECD verification shares with IFEval. Suite modules stay private.
PUBLIC_SUITE_MODULES = {"harness.suites", "harness.suites.base", "harness.suites.ifeval_rules"}
# What the layers above may use of harness besides the suites: its API, its configuration and
# the store. Its machinery (the runner, the cache, weights, engines) is private.
PUBLIC_HARNESS_MODULES = {
    "harness.api",
    "harness.backends",
    "harness.comparability",
    "harness.config",
    "harness.data",
    "harness.defaults",  # a suite's generation settings: leaderboards pick runs at them
    "harness.errors",
    "harness.flags",
    "harness.lock",
    "harness.naming",  # a model's stored name, as `run` takes it: compare, boards, report specs
    "harness.paths",
    "harness.plugins",
    "harness.redact",
    "harness.registry",
    "harness.store",
    "harness.summary",
    "harness.validate",
    *PUBLIC_SUITE_MODULES,
}
# Private modules used from above today, each to be given a public seam in a later round; the
# test fails on any other, and on one of these once it is gone (so the list only shrinks).
KNOWN_PRIVATE = {
    ("generation.pipeline", "harness.runner"),  # CachedGenerator: the teacher's cached calls
    ("training.runner", "harness.runner"),  # package_versions, recorded with a checkpoint
    ("training.runner", "harness.backends.weights"),  # local_path, fingerprint of the base
}
# Modules loaded by name (importlib), not by an import statement: only these cross upwards.
HANDED_OFF = {("harness.cli", "leaderboards.cli")}  # `python -m harness compare`


@dataclass(frozen=True)
class Import:
    source: str  # the importing module
    target: str  # the project module imported
    line: int

    def __str__(self) -> str:
        return f"{self.source}:{self.line} imports {self.target}"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for layer in MAY_IMPORT for p in sorted((ROOT / layer).rglob("*.py"))}


def package(module: str) -> str:
    return module.split(".")[0]


def _targets(node: ast.Import | ast.ImportFrom, source: str) -> list[str]:
    """The project modules an import statement names: `from a import b` is a.b when a.b is a
    module, else a; relative imports are resolved against `source`'s package."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    base = node.module or ""
    if node.level:
        here = source if MODULES[source].name == "__init__.py" else source.rpartition(".")[0]
        here = here.rsplit(".", node.level - 1)[0] if node.level > 1 else here
        base = f"{here}.{base}" if base else here
    named = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]
    return list(dict.fromkeys(named))


def imports_of(source: str) -> list[Import]:
    tree = ast.parse(MODULES[source].read_text(encoding="utf-8"))
    return [
        Import(source, target, node.lineno)
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for target in _targets(node, source)
        if package(target) in MAY_IMPORT
    ]


IMPORTS = [i for source in MODULES for i in imports_of(source)]


def names_of(source: str) -> list[Import]:
    """Project modules a module names in a string ("leaderboards.cli", "harness.suites.x:Cls"):
    what it may load with importlib, which no import statement shows."""
    tree = ast.parse(MODULES[source].read_text(encoding="utf-8"))
    return [
        Import(source, node.value.partition(":")[0], node.lineno)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and node.value.partition(":")[0] in MODULES
        and "." in node.value
    ]


NAMED = [i for source in MODULES for i in names_of(source)]


def test_the_graph_is_read():
    """The parser sees what is there: a guard against a test that passes by finding nothing."""
    assert {"harness.cli", "harness.runner", "leaderboards.board", "reports.build"} <= set(MODULES)
    assert any(i.source == "reports.build" and i.target == "leaderboards.board" for i in IMPORTS)


def test_no_package_imports_a_layer_above_it():
    up = [
        str(i)
        for i in IMPORTS
        if package(i.target) != package(i.source)
        and package(i.target) not in MAY_IMPORT[package(i.source)]
    ]
    assert not up, "imports of a layer above:\n" + "\n".join(up)


def test_command_lines_are_not_imported_from_other_packages():
    """Another layer uses harness through its API (harness.api, harness.flags), not its CLI."""
    into_cli = [
        str(i)
        for i in IMPORTS
        if package(i.target) != package(i.source) and i.target.split(".")[-1] in ENTRY_POINTS
    ]
    assert not into_cli, "\n".join(into_cli)


def test_layers_above_use_only_the_public_suite_modules():
    private = [
        str(i)
        for i in IMPORTS
        if package(i.source) != "harness"
        and i.target.startswith("harness.suites")
        and i.target not in PUBLIC_SUITE_MODULES
    ]
    assert not private, "\n".join(private)


def test_layers_above_use_only_the_public_harness_modules():
    used = {
        (i.source, i.target)
        for i in IMPORTS
        if package(i.source) != "harness"
        and package(i.target) == "harness"
        and i.target not in PUBLIC_HARNESS_MODULES
    }
    assert used == KNOWN_PRIVATE, f"new: {used - KNOWN_PRIVATE}; gone: {KNOWN_PRIVATE - used}"


def test_modules_loaded_by_name_cross_upwards_only_as_declared_hand_offs():
    """A module name in a string is an import that runs later (importlib): it counts too."""
    assert any(i.target == "harness.suites.ifeval" for i in NAMED), "the reader finds nothing"
    up = {
        (i.source, i.target)
        for i in NAMED
        if package(i.target) != package(i.source)
        and package(i.target) not in MAY_IMPORT[package(i.source)]
    }
    assert up == HANDED_OFF


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of `graph` as a path that ends where it starts, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: finished
    path: list[str] = []

    def walk(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state and (found := walk(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := walk(node)):
            return found
    return None


@pytest.mark.parametrize("layer", list(MAY_IMPORT))
def test_no_import_cycles_inside_a_package(layer):
    """Within a package too, dependencies run one way (e.g. harness.runner -> harness.suites)."""
    graph: dict[str, set[str]] = {}
    for i in IMPORTS:
        if package(i.source) == layer and package(i.target) == layer:
            graph.setdefault(i.source, set()).add(i.target)
    cycle = _cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_the_cycle_finder_finds_cycles():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None
