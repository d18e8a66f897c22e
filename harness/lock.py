"""One process at a time writes an output folder (an experiment's, a training run's, generated
data) or a shared file (the user's registry)."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from harness.errors import HarnessError


@contextmanager
def holding(folder: str | Path, fix: str) -> Iterator[None]:
    """Hold `folder` for this process while the block runs; a second process is refused in one
    line that ends with `fix`. Two runs in one folder would delete each other's staged files
    (`model.partial`) and do the work twice. The lock is a flock on `.NAME.lock` beside the
    folder, which is there before the folder is and outlives its replacement; it dies with its
    process, so a killed run (even by kill -9) never blocks the next."""
    folder = Path(os.path.abspath(folder))
    folder.parent.mkdir(parents=True, exist_ok=True)
    with open(folder.with_name(f".{folder.name}.lock"), "a+", encoding="utf-8") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            holder = f.read().strip() or "?"
            raise HarnessError(
                f"{folder} is being written by another process (pid {holder}); wait for it to "
                f"end, or {fix}"
            ) from None
        f.truncate(0)
        f.write(f"{os.getpid()}\n")
        f.flush()
        yield


@contextmanager
def waiting_for(path: Path) -> Iterator[None]:
    """Hold `path` while the block runs, waiting for whoever holds it: for short updates that two
    processes finishing at once (an experiment's parallel trainings registering) take in turn."""
    with open(path.with_name(f".{path.name}.lock"), "a+", encoding="utf-8") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        yield
