"""Where the harness keeps its state: one home folder, overridable by environment."""

from __future__ import annotations

import os
from pathlib import Path


def home() -> Path:
    """The harness home (store, converted models, user registry): $ECD_HARNESS_HOME."""
    root = os.environ.get("ECD_HARNESS_HOME") or Path.home() / ".cache" / "ecd-harness"
    return Path(root)


def default_store() -> Path:
    return Path(os.environ.get("ECD_HARNESS_STORE") or home() / "store.sqlite")
