"""Where the harness keeps its state: one home folder, overridable by environment."""

from __future__ import annotations

import os
from pathlib import Path


def home() -> Path:
    """The harness home (store, converted models, user registry): $ECD_HARNESS_HOME."""
    root = os.environ.get("ECD_HARNESS_HOME") or Path.home() / ".cache" / "ecd-harness"
    return Path(root)


def default_store() -> Path | str:
    """$ECD_HARNESS_STORE (a file, or a `postgresql://` URL), else the home's store.sqlite."""
    from harness.store import store_location

    value = os.environ.get("ECD_HARNESS_STORE")
    return store_location(value) if value else home() / "store.sqlite"
