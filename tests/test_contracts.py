"""The suite contract: a suite written in one file outside the package (tests/toy_suite.py) runs
through the real CLI on the embedded model and appears on the leaderboard and in compare, with
its own declared metric, and nothing else in the code base knowing its name."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from conftest import run_module

from harness.store import Store
from harness.suites import get_suite, suite_names

TESTS = Path(__file__).resolve().parent
RUN = ["--max-new-tokens", "8", "--quiet"]


def cli(module: str, *args: str) -> subprocess.CompletedProcess:
    return run_module(module, *args, plugins="toy_suite")


@pytest.fixture(scope="module")
def toy_store(tmp_path_factory, embedded_model_dir) -> Path:
    store = tmp_path_factory.mktemp("toy") / "s.sqlite"
    out = store.parent / "toy.json"
    done = cli(
        "harness", "run", "--suite", "toy_words", "--store", str(store), "--output", str(out), *RUN
    )
    assert done.returncode == 0, done.stderr
    return store


def test_a_suite_is_one_file(toy_store):
    run = Store(toy_store).latest_run("toy_words", "smollm2-135m-instruct")
    assert run.status == "finished" and run.n_total == 4 and run.unit == "items"
    records = Store(toy_store).scores(run.id)
    assert [r["id"] for r in records] == ["0", "1", "2", "3"]
    passed = [r["said"] for r in records]
    assert run.metrics["said_word_acc"] == sum(passed) / 4  # the declared metric, computed here
    # --output is the stored log, dumped
    dumped = json.loads((toy_store.parent / "toy.json").read_text())
    assert dumped == json.loads(json.dumps(Store(toy_store).log(run.id)))
    assert dumped["versions"]["python"] and dumped["over"] == {
        "total": 4,
        "failed": 0,
        "unit": "items",
    }


def test_it_reaches_help_leaderboard_and_compare(toy_store):
    helped = cli("harness", "run", "--help")
    assert "toy_words" in helped.stdout
    shown = cli(
        "leaderboards", "show", "--suite", "toy_words", "--store", str(toy_store), "--format", "csv"
    )
    assert shown.returncode == 0, shown.stderr
    header, row = shown.stdout.splitlines()[:2]
    assert "said_word_acc [95% CI]" in header  # the headline is the suite's declared metric
    run = Store(toy_store).latest_run("toy_words", "smollm2-135m-instruct")
    assert (
        row.startswith("smollm2-135m-instruct,")
        and f"{100 * run.metrics['said_word_acc']:.1f}" in row
    )
    # compare asks the suite for its paired test (McNemar for pass/fail items)
    compared = cli(
        "leaderboards", "compare", run.id, run.id, "--suite", "toy_words", "--store", str(toy_store)
    )
    assert compared.returncode == 0, compared.stderr
    assert "mcnemar" in compared.stdout.lower() and "toy_words" in compared.stdout


def test_without_the_plugin_the_name_is_unknown(toy_store):
    done = run_module("leaderboards", "show", "--suite", "toy_words", "--store", str(toy_store))
    assert done.returncode == 2 and "toy_words" in done.stderr


def test_declared_metrics_drive_tables():
    """What leaderboards used to keep in their own table now comes from each suite."""
    assert suite_names()[:3] == ["ifeval", "mt_bench", "alpaca_eval"]
    ifeval, mt, alpaca = (get_suite(n) for n in ("ifeval", "mt_bench", "alpaca_eval"))
    assert ifeval.headline.key == "prompt_level_strict_acc" and ifeval.paired_test == "mcnemar"
    assert ifeval.display("inst_level_loose_acc", 0.5) == 50.0  # fractions shown as percent
    assert mt.headline.digits == 2 and mt.unit == "judgments" and mt.item_scale == 1.0
    assert mt.contribution({"turn1_score": 8.0, "turn2_score": -1}) == (8.0, 1.0)  # FastChat's -1
    assert alpaca.contribution({"preference": 1.5}) == (0.5, 1.0)  # a draw counts half
    assert [m.key for m in alpaca.columns] == [
        "length_controlled_winrate",
        "discrete_win_rate",
        "avg_length",
    ]
    assert ifeval.judged is False and mt.verdicts_flag == "judgments"


def test_plugin_that_does_not_import_is_one_line():
    done = run_module("harness", "run", "--suite", "ifeval", plugins="no_such_plugin_module")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "error: $ECD_HARNESS_PLUGINS: can't import plugin 'no_such_plugin_module' (No module named "
        "'no_such_plugin_module'); fix $ECD_HARNESS_PLUGINS"
    ]
