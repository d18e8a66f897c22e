"""The parity tests can fail: each is run on a copy of the data whose golden file has one row's
answer changed (it must then fail on the mismatch), or one row removed (it must then fail naming the
input that is not in the file)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import SHARED

ROOT = Path(__file__).resolve().parents[1]


def edited_data(tmp: Path, suite: str, name: str, edit: Callable[[list[dict]], None]) -> Path:
    """A data folder of links to SHARED, except `suite/reference_outputs/name`, written edited."""
    data = tmp / "data"
    data.mkdir()
    for entry in SHARED.iterdir():
        if entry.name != suite:
            (data / entry.name).symlink_to(entry)
    for entry in (SHARED / suite).iterdir():
        if entry.name != "reference_outputs":
            (data / suite / entry.name).parent.mkdir(exist_ok=True)
            (data / suite / entry.name).symlink_to(entry)
    outputs = data / suite / "reference_outputs"
    outputs.mkdir()
    for entry in (SHARED / suite / "reference_outputs").iterdir():
        if entry.name != name:
            (outputs / entry.name).symlink_to(entry)
    rows = [json.loads(line) for line in (SHARED / suite / "reference_outputs" / name).open()]
    edit(rows)
    (outputs / name).write_text("".join(json.dumps(r) + "\n" for r in rows), "utf-8")
    return data


def flip_first(used_by: str, field: str) -> Callable[[list[dict]], None]:
    def edit(rows: list[dict]) -> None:
        row = next(r for r in rows if used_by in r["used_by"])
        row[field] = [not v for v in row[field]]

    return edit


def drop_first(used_by: str) -> Callable[[list[dict]], None]:
    def edit(rows: list[dict]) -> None:
        rows.remove(next(r for r in rows if used_by in r["used_by"]))

    return edit


def flip_rule(rows: list[dict]) -> None:
    rows[0]["result"] = not rows[0]["result"]


def flip_eval(rows: list[dict]) -> None:
    rows[0]["output_row"]["eval"][0] = not rows[0]["output_row"]["eval"][0]


def change_csv_cell(rows: list[dict]) -> None:
    row = next(r for r in rows if r["file"] == "content_hsr.csv")
    row["rows"][1][1] = "99.00"


TWO = "test_real_items_with_two_instructions_match_the_reference"
CASES = {
    "ifbench-verdict": ("ifbench", "verdicts.jsonl", flip_first(TWO, "strict"), "test_ifbench.py", TWO, "assert"),
    "ifbench-missing": ("ifbench", "verdicts.jsonl", drop_first(TWO), "test_ifbench.py", TWO, "not in reference_outputs/ifbench/verdicts.jsonl"),
    "followbench-rule": ("followbench", "rule_verdicts.jsonl", flip_rule, "test_followbench.py", "test_rule_verdicts_equal_rule_based_evaluation", "assert"),
    "followbench-eval-py": ("followbench", "eval_py_results.jsonl", change_csv_cell, "test_followbench.py", "test_metrics_equal_followbench_eval_py", "99.00"),
    "infobench-verdict": ("infobench", "run_evaluation.jsonl", flip_eval, "test_infobench.py", "test_judge_requests_verdicts_and_drfr_equal_evaluation_py", "assert"),
}  # fmt: skip


@pytest.mark.parametrize("case", CASES)
def test_a_changed_golden_row_fails_its_parity_test(tmp_path, case):
    suite, name, edit, module, test, says = CASES[case]
    data = edited_data(tmp_path, suite, name, edit)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"tests/{module}::{test}"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "ECD_HARNESS_DATA": str(data)},
        timeout=600,
    )
    assert done.returncode == 1, done.stdout[-3000:]
    assert "1 failed" in done.stdout and says in done.stdout, done.stdout[-3000:]
