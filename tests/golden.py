"""The reference tools' answers, kept as data: `<data>/<suite>/reference_outputs/*.jsonl`.

Each file holds what a suite's official code answered on the inputs these tests give it (the
folder's README says which code, at which commit, and how each file is keyed). Third-party code is
not kept beside the data, so a test looks its input up instead of running that code. An input that
is not in the file means the test, the suite's data or a model's output changed: the reference's
answer is then unknown, and the test fails naming the input (never a skip, never a pass).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from functools import cache
from pathlib import Path

import pytest
from conftest import SHARED


def canon(obj: object) -> str:
    """One string per input, whatever the key order of its mappings."""
    return json.dumps(obj, ensure_ascii=True, sort_keys=True, separators=(",", ":"))


class Golden:
    """One golden file, looked up by a key made from each row's inputs."""

    def __init__(self, file: str, rows: Iterable[dict], key: Callable[[dict], object]):
        self.file = file
        self.rows = {canon(key(r)): r for r in rows}

    def __getitem__(self, key: object) -> dict:
        row = self.rows.get(canon(key))
        if row is None:
            shown = canon(key)
            shown = shown if len(shown) <= 160 else shown[:157] + "..."
            pytest.fail(
                f"not in reference_outputs/{self.file}: {shown}: the input changed; the "
                "reference answer is unknown",
                pytrace=False,
            )
        return row


def rows(suite: str, name: str) -> list[dict]:
    path = reference_outputs(suite) / name
    if not path.is_file():
        pytest.fail(f"{path} is missing: clone with ../shared beside the repository", pytrace=False)
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line]


@cache
def golden(suite: str, name: str, key: Callable[[dict], object]) -> Golden:
    return Golden(f"{suite}/{name}", rows(suite, name), key)


def reference_outputs(suite: str) -> Path:
    return SHARED / suite / "reference_outputs"
