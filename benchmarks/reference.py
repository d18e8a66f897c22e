"""Where a benchmark finds a suite's official code: the user's own clone of the upstream
repository (third-party code is never kept in this repository or in ../shared)."""

from __future__ import annotations

import sys
from pathlib import Path

# suite -> (upstream repository, commit the harness was checked against, a file in its code folder)
UPSTREAM = {
    "ifbench": ("allenai/IFBench", "db69a6f056", "evaluation_lib.py"),
    "followbench": ("YJiangcm/FollowBench", "6278f4c137", "rule_based_evaluation.py"),
}


def reference_dir(suite: str, given: str | None) -> Path:
    """The folder holding the reference code (a clone's root or its code/ folder), or exit 2
    with one line saying how to get it."""
    repo, commit, marker = UPSTREAM[suite]
    how = f"clone github.com/{repo}, check out {commit} (see ../shared/benchmarks/SOURCES.md)"
    if given:
        for folder in (Path(given), Path(given) / "code"):
            if (folder / marker).is_file():
                return folder.resolve()
    what = (
        f"--reference {given}: no {marker} there or in its code/"
        if given
        else "--reference DIR is needed"
    )
    print(f"error: {what}: {how}", file=sys.stderr)
    sys.exit(2)
