"""One name per model, wherever it is given: `run`, `compare`, `runs`, leaderboards, report specs.

A run is stored under `run_name(what --model was)`: a registry name as it is; a checkpoint folder
by its absolute path (or the registry name whose source it is), so `harness compare NAME
/path/ckpt-b` finds the run `harness run --model /path/ckpt-b` made and two folders called `model`
are two models; a hub id or an endpoint's served name as given. Tables show folders by the
shortest trailing part of their path that tells them apart (`display_names`).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from harness.registry import folder_of, load_registry, registered_as


def run_name(name: str) -> str:
    """The name runs of the model `name` (as `run --model` takes it) are stored under."""
    specs = load_registry()
    if name in specs:
        return name
    folder = folder_of(name)
    if folder is None:
        return name  # a hub id or a served name
    return registered_as(folder, specs) or str(folder)


def display_names(names: Iterable[str]) -> dict[str, str]:
    """Each stored name as a table shows it: folders by the shortest trailing part of their path
    that no other name shown has (`a/model` and `b/model`, not `model` twice); others as stored."""
    names = list(dict.fromkeys(names))
    paths = [n for n in names if os.path.isabs(n)]
    taken = {n for n in names if n not in paths}
    shown = {n: n for n in names if n not in paths}
    for name in paths:
        parts = Path(name).parts
        others = [Path(p).parts for p in paths if p != name]
        for k in range(1, len(parts) + 1):
            tail = parts[-k:]
            label = str(Path(*tail))
            if label not in taken and all(o[-k:] != tail for o in others):
                break
        shown[name] = label
    return shown
