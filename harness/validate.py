"""Checks for the values users hand us in YAML files and flags, before any work starts.

`build` makes a dataclass from a YAML mapping and checks every value against the field's type and,
where the field has one, its `Rule`; the argparse `type=` functions below check flags with the same
rules; `check_writable` refuses an output that could not be written. Each failure is one
HarnessError line naming the file (or flag), the key and what the value must be, e.g.
`ecd.yaml: rounds: expected int in 1..100, got 'three'`.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import math
import operator
import os
import re
import tempfile
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import HarnessError


@dataclass(frozen=True)
class Rule:
    """A bound on a value of the right type; `text` follows the type in messages ("int > 0").
    `text` may be a function, for a bound known only at run time (registered backends)."""

    words: str | Callable[[], str]
    ok: Callable[[Any], bool]

    @property
    def text(self) -> str:
        return self.words if isinstance(self.words, str) else self.words()

    def field(self, default: Any = dataclasses.MISSING, **kwargs) -> Any:
        """A dataclass field whose values `build` checks against this rule."""
        return dataclasses.field(default=default, metadata={"rule": self}, **kwargs)


POSITIVE = Rule("> 0", lambda v: v > 0)
NON_NEGATIVE = Rule(">= 0", lambda v: v >= 0)
FRACTION = Rule("in (0, 1]", lambda v: 0 < v <= 1)
SEED = Rule(f"in 0..{2**32 - 1}", lambda v: 0 <= v < 2**32)  # numpy's seeds; TRL seeds numpy
NAME = Rule(
    "of letters, digits, '.', '_' and '-' that starts with a letter or digit (at most 100)",
    lambda v: re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}", v) is not None,
)


def between(low: int, high: int) -> Rule:
    return Rule(f"in {low}..{high}", lambda v: low <= v <= high)


GROUPS = ("model", "sampling", "judge", "data", "output")  # --help's sections, in this order


def setting(
    default: Any,
    help: str | Callable[[], str],
    group: str,
    *,
    rule: Rule | None = None,
    flag: bool = True,
    metavar: str | None = None,
    parse: Callable[[str], Any] | None = None,
) -> Any:
    """A config field declared once: its YAML key and type are the field's; `rule`, `default`
    and `help` serve `build` (YAML), the flag (`--the-name`, in `group` of --help; `flag=False`:
    none) and any spec that reuses the field. `help` may be a function, for text known only at
    run time (registered backends); `parse` reads a flag's text where the type alone can't."""
    if group not in GROUPS:
        raise ValueError(f"group {group!r} is not one of {GROUPS}")
    meta = {"rule": rule, "help": help, "group": group, "flag": flag}
    meta |= {"metavar": metavar, "parse": parse}
    return dataclasses.field(default=default, metadata=meta)


def is_number(value) -> bool:
    """A finite int or float (YAML's .nan and .inf, and true/false, are not numbers)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def reused(cls, names: Iterable[str]) -> list[tuple[str, Any, dataclasses.Field]]:
    """Fields of dataclass `cls` as `dataclasses.make_dataclass` takes them (type, default,
    rule and help kept): a config that reuses another's settings declares none of them again."""
    hints = _hints(cls)
    found = {f.name: f for f in dataclasses.fields(cls)}
    out = []
    for name in names:
        f = found[name]
        kept = {"metadata": f.metadata}
        if f.default_factory is not dataclasses.MISSING:
            kept["default_factory"] = f.default_factory
        else:
            kept["default"] = f.default
        out.append((name, hints[name], dataclasses.field(**kept)))
    return out


# ------------------------------------------------------------------------------ YAML -> dataclass


def build(cls, data, origin: str, key: str = "", rules: Mapping[str, Rule] | None = None):
    """An instance of dataclass `cls` from a YAML mapping: unknown or missing keys, wrong types
    and values breaking a rule (the field's, or `rules[name]`) are one-line errors naming `origin`
    (the file) and the key. A null nested section means its defaults."""
    where = f"{origin}: {key}" if key else origin
    if not isinstance(data, dict):
        raise HarnessError(f"{where}: expected a mapping, got {_type_of(data)}")
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(str(k) for k in data if k not in fields)
    if unknown:
        raise HarnessError(f"{where}: unknown keys {unknown}; known: {sorted(fields)}")
    missing = [
        name
        for name, f in fields.items()
        if f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING
        and name not in data
    ]
    if missing:
        raise HarnessError(f"{where}: missing keys {missing}")
    hints = _hints(cls)
    values = {}
    for name, value in data.items():
        rule = (rules or {}).get(name) or fields[name].metadata.get("rule")
        values[name] = _checked(hints[name], value, origin, f"{key}.{name}" if key else name, rule)
    return cls(**values)


def check_value(hint, value, origin: str, key: str, rule: Rule | None = None):
    """One value outside a dataclass (e.g. a backend option), checked as `build` checks a field of
    type `hint`: the value, or one line `origin: key: expected ..., got ...`."""
    return _checked(hint, value, origin, key, rule)


@functools.cache
def _hints(cls) -> dict:
    return typing.get_type_hints(cls)


class _Mismatch(Exception):
    """The value is not of the type tried."""


def _checked(
    hint, value, origin: str, key: str, rule: Rule | None, given: str | bool | None = None
):
    """`value` checked as `hint` and `rule`; the error shows `given` (a flag's) in its place."""
    options = _options(hint)
    if value is None and type(None) in options:
        return None
    nested = next((o for o in options if dataclasses.is_dataclass(o)), None)
    if value is None and nested is not None:
        return build(nested, {}, origin, key)
    for option in options:
        try:
            converted = _convert(option, value, origin, key)
        except _Mismatch:
            continue
        if rule is None or rule.ok(converted):
            return converted
    none = type(None)
    expected = " or ".join(_describe(o) for o in options if o is not none)
    expected += (f" {rule.text}" if rule else "") + (" or null" if none in options else "")
    shown = repr(value if given is None else given)
    shown = shown if len(shown) <= 80 else shown[:77] + "..."
    where = f"{origin}: {key}" if key else origin
    raise HarnessError(f"{where}: expected {expected}, got {shown}")


def _convert(hint, value, origin: str, key: str):
    """`value` as `hint`, or _Mismatch. A nested section's own errors are raised as they are."""
    kind = typing.get_origin(hint) or hint
    args = typing.get_args(hint)
    if dataclasses.is_dataclass(hint) and isinstance(value, dict):
        return build(hint, value, origin, key)
    if hint is float:
        if isinstance(value, str):  # YAML 1.1 reads 5e-7 (no dot) as a string
            try:
                value = float(value)
            except ValueError:
                raise _Mismatch from None
        if is_number(value):
            return value
    elif hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif hint in (bool, str):
        if type(value) is hint:
            return value
    elif hint is Path:
        if isinstance(value, str) and value:
            return Path(value)
    elif kind in (list, tuple) and isinstance(value, list):
        return [_element(args[0], v, origin, f"{key}[{i}]") for i, v in enumerate(value)]
    elif kind is dict and isinstance(value, dict):
        if not args:
            return value
        return {
            _element(args[0], k, origin, key): _element(args[1], v, origin, f"{key}.{k}")
            for k, v in value.items()
        }
    elif hint is Any:
        return value
    raise _Mismatch


def _element(hint, value, origin: str, key: str):
    if dataclasses.is_dataclass(hint):
        return _checked(hint, value, origin, key, None)
    return _convert(hint, value, origin, key)


def _options(hint) -> tuple:
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        none = type(None)
        return tuple(a for a in typing.get_args(hint) if a is not none) + (
            (none,) if none in typing.get_args(hint) else ()
        )
    return (hint,)


def _describe(hint) -> str:
    kind = typing.get_origin(hint) or hint
    args = typing.get_args(hint)
    if dataclasses.is_dataclass(hint) or kind is dict and not args:
        return "a mapping"
    if kind in (list, tuple):
        return f"a list of {_describe(args[0])}"
    if kind is dict:
        return f"a mapping of {_describe(args[0])} to {_describe(args[1])}"
    if hint is Path:
        return "a path"
    return getattr(hint, "__name__", str(hint))


def _type_of(value) -> str:
    return "nothing" if value is None else type(value).__name__


# ------------------------------------------------------------------------------ flags


def check_flag(cls, path: str, flag: str, given: str | bool):
    """A flag's value for the field at dotted `path` of dataclass `cls`, checked with that field's
    type and rule as YAML is: text is first read as an int where the field takes one (a flag is
    always text), and null is no option (a flag cannot say it). The error names the flag. A key
    of a mapping field (`teacher.backend_options.NAME`) is kept as given: such a flag's argparse
    `type` checked it."""
    *sections, name = path.split(".")
    for section in sections:
        nested = [o for o in _options(_hints(cls)[section]) if dataclasses.is_dataclass(o)]
        if not nested:
            return given
        cls = nested[0]
    rule = next(f for f in dataclasses.fields(cls) if f.name == name).metadata.get("rule")
    options = tuple(o for o in _options(_hints(cls)[name]) if o is not type(None))
    value = given
    if isinstance(given, str) and int in options:
        try:
            value = int(given)
        except ValueError:
            pass
    return _checked(
        functools.reduce(operator.or_, options), value, f"argument {flag}", "", rule, given
    )


def flag_type(rule: Rule, convert: Callable[[str], Any] = int) -> Callable[[str], Any]:
    """An argparse `type=`: the flag's text converted and checked against `rule`."""
    kind = "a name" if convert is str else convert.__name__

    def parse(text: str):
        try:
            value = convert(text)
        except ValueError:
            value = None
        if value is None or not rule.ok(value):
            raise argparse.ArgumentTypeError(f"expected {kind} {rule.text}, got {text!r}")
        return value

    return parse


positive_int = flag_type(POSITIVE)  # a count, size or length
safe_name = flag_type(NAME, str)  # also a folder name: no '/', no '..'


# ------------------------------------------------------------------------------ outputs


def check_writable(path: str | Path, what: str, folder: bool = True) -> None:
    """Refuse, before any work, an output `path` (a folder, else a file) that cannot be made:
    something of the other kind is there, a file sits where a parent folder must go, or the place
    cannot be written. The check leaves nothing behind."""
    path = Path(os.path.abspath(Path(path).expanduser()))
    if path.exists() and path.is_dir() != folder:
        kind = "file" if folder else "folder"
        raise HarnessError(
            f"{what} {path} is a {kind}; pass a new {'folder' if folder else 'file'}"
        )
    targets = {_existing_ancestor(path.parent, path, what)}
    if folder and path.is_dir():
        targets.add(path)
    for target in targets:
        try:
            os.rmdir(tempfile.mkdtemp(prefix=".write-check-", dir=target))
        except OSError as e:
            raise HarnessError(
                f"{what} {path}: cannot write in {target} ({e.strerror}); pass a writable place"
            ) from None


def _existing_ancestor(folder: Path, path: Path, what: str) -> Path:
    while not folder.exists():
        folder = folder.parent
    if not folder.is_dir():
        raise HarnessError(f"{what} {path}: {folder} is a file, so no folder can be made there")
    return folder
