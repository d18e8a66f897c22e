"""A config is one YAML mapping plus command-line flags, read by one parser.

Each flag names the config field it sets (a dotted path); its value is written into the file's
mapping before `validate.build` makes the dataclass, so a flag is checked exactly as the same key in
the file is, and flags win over the file. Anchor: TRL's `TrlParser` (dataclasses from YAML, then
flags over them).
"""

from __future__ import annotations

import argparse
import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from harness.validate import check_flag


@dataclass(frozen=True)
class ConfigFlag:
    """A flag that sets the config field at `path` (e.g. "respond.max_new_tokens")."""

    flag: str
    path: str
    help: str
    options: Mapping[str, Any] = field(default_factory=dict)  # more add_argument keywords

    def add_to(self, parser: argparse.ArgumentParser) -> None:
        """The flag's value lands under its path; None (not given) leaves the file's value."""
        kwargs = dict(self.options)
        if not {"action", "choices"} & kwargs.keys():  # keep the usage line's name
            kwargs["metavar"] = self.flag.removeprefix("--").replace("-", "_").upper()
        parser.add_argument(self.flag, dest=self.path, default=None, help=self.help, **kwargs)


def with_flags(cls: type, data: Any, args: argparse.Namespace, flags: Iterable[ConfigFlag]) -> Any:
    """The YAML mapping `data` for dataclass `cls`, with every flag given in `args` written at its
    path. Each value is checked first, so its error names the flag rather than the file."""
    if not isinstance(data, dict):
        return data  # not a mapping: `build` says so, naming the file
    data = copy.deepcopy(data)
    for f in flags:
        if getattr(args, f.path) is None:
            continue
        # a malformed section is left as it is: `build` reports the file's error
        set_path(data, f.path, check_flag(cls, f.path, f.flag, getattr(args, f.path)))
    return data


def set_path(data: dict, dotted: str, value: Any) -> str | None:
    """Write `value` at `dotted` ("sft.max_steps") in a YAML mapping, making absent or null
    sections; returns the section that is not a mapping (nothing written), else None."""
    *sections, name = dotted.split(".")
    for section in sections:
        if data.get(section) is None:  # absent or null: the section's defaults
            data[section] = {}
        data = data[section]
        if not isinstance(data, dict):
            return section
    data[name] = value
    return None
