"""Honest comparisons: `compare` refuses runs made under different settings, leaderboards and
reports show the latest complete run and mark partial, imported and incomparable ones, and failed
items never count as zeros.

Stores hold IFEval runs with the comparability keys `harness run` records (`record_run`: keys from
`harness.comparability.key` over the real suite data and sampling) and real `harness score`
imports of AlpacaEval annotations.
"""

from __future__ import annotations

import csv
import json
import random
from dataclasses import dataclass
from pathlib import Path

import pytest
from test_leaderboards import record_run, score_annotations, suite_data

from harness import cli
from harness.defaults import sampling_for
from harness.registry import load_registry
from harness.store import Store
from harness.suites import get_suite
from leaderboards.compare import compare_runs

FAILED = "generation failed: endpoint timed out"


def sampling(max_new_tokens: int | None = None, suite: str = "ifeval") -> dict:
    """The sampling `harness run [--max-new-tokens N]` records for the embedded model."""
    spec = load_registry()["smollm2-135m-instruct"]
    return sampling_for(get_suite(suite), spec, max_new_tokens).as_dict()


def passes(seed: int, item_id: str) -> bool:
    """A fixed verdict per (model seed, item): two runs with one seed agree item by item."""
    return random.Random(f"{seed}:{item_id}").random() < 0.4


def ifeval_run(
    store: Store,
    data: Path,
    model: str,
    *,
    seed: int = 0,
    limit: int | None = None,
    max_new_tokens: int | None = None,
    failed: frozenset[str] = frozenset(),
) -> str:
    """An IFEval run as `harness run` stores it; items in `failed` have an error and no verdict."""
    items = suite_data("ifeval", data)[:limit]
    records = []
    for it in items:
        record = {
            "id": it["id"],
            "prompt": it["prompt"],
            "response": None,
            "instruction_id_list": it["instruction_id_list"],
        }
        if it["id"] in failed:
            record["error"] = FAILED
        else:
            ok = passes(seed, it["id"])
            n = len(it["instruction_id_list"])
            record.update(response="ok" if ok else "no", strict=[ok] * n, loose=[ok] * n)
            record.update(prompt_strict=ok, prompt_loose=ok)
        records.append(record)
    scored = [r for r in records if "error" not in r]
    acc = sum(r["prompt_strict"] for r in scored) / len(scored)
    metrics = {
        **dict.fromkeys(
            (
                "prompt_level_strict_acc",
                "inst_level_strict_acc",
                "prompt_level_loose_acc",
                "inst_level_loose_acc",
            ),
            acc,
        ),
        "n": len(records),
        "n_scored": len(scored),
        "n_failed": len(failed),
    }
    return record_run(
        store,
        data,
        "ifeval",
        model,
        metrics,
        records,
        sampling=sampling(max_new_tokens),
        failed=len(failed),
    )


@dataclass
class Ifeval:
    path: Path
    runs: dict[str, str]  # name -> run id
    failed: frozenset[str]  # the items the flaky run failed on (all passed by "base")


@pytest.fixture(scope="module")
def ifeval(tmp_path_factory, data_dir) -> Ifeval:
    """base: complete, then a later --limit 5 run; better: another checkpoint, complete; short:
    complete at 256 max new tokens (the others at IFEval's default, 1280); solo: only a --limit 5 run; flaky: base's
    verdicts, but three of base's passes failed to generate."""
    path = tmp_path_factory.mktemp("comparability") / "runs.sqlite"
    store = Store(path)
    ids = [it["id"] for it in suite_data("ifeval", data_dir)]
    failed = frozenset([i for i in ids if passes(0, i)][:3])
    runs = {
        "base": ifeval_run(store, data_dir, "base"),
        "base --limit 5": ifeval_run(store, data_dir, "base", limit=5),
        "better": ifeval_run(store, data_dir, "better", seed=1),
        "better smoke": ifeval_run(store, data_dir, "better", seed=2, max_new_tokens=32),
        "short": ifeval_run(store, data_dir, "short", seed=1, max_new_tokens=256),
        "solo": ifeval_run(store, data_dir, "solo", limit=5),
        "flaky": ifeval_run(store, data_dir, "flaky", failed=failed),
    }
    store.close()
    return Ifeval(path, runs, failed)


def board(capsys, path: Path, *args: str, fmt: str = "csv") -> str:
    from leaderboards.__main__ import main

    capsys.readouterr()
    assert main(["show", *args, "--format", fmt, "--no-published", "--store", str(path)]) == 0
    return capsys.readouterr().out


def rows(out: str) -> dict[str, dict]:
    return {r["model"]: r for r in csv.DictReader(out.splitlines())}


def test_failed_items_are_left_out_not_counted_as_zero():
    ifeval = get_suite("ifeval").per_item(
        [
            {"id": "1", "prompt_strict": True},
            {"id": "2", "prompt_strict": False},
            {"id": "3", "response": None, "error": FAILED},
        ]
    )
    assert ifeval == {"1": (1.0, 1.0), "2": (0.0, 1.0)}
    mt = get_suite("mt_bench").per_item(
        [
            {"id": "81", "turn1_score": 8.0, "turn2_score": None, "turn2_error": "unparsable"},
            {"id": "82", "turn1_score": None, "turn2_score": None, "turn1_error": FAILED},
            {"id": "83", "turn1_score": -1.0, "turn2_score": 6.0},  # FastChat's failed mark
        ]
    )
    assert mt == {"81": (8.0, 1.0), "83": (6.0, 1.0)}
    alpaca = get_suite("alpaca_eval").per_item(
        [
            {"id": "0", "preference": 2.0},
            {"id": "1", "preference": None, "error": "judge reply has no preference"},
            {"id": "2", "preference": 1.5},
        ]
    )
    assert alpaca == {"0": (1.0, 1.0), "2": (0.5, 1.0)}


def test_failed_ifeval_items_are_unpaired_not_fails_in_mcnemar(ifeval):
    """flaky agrees with base on every item it scored: no difference, not three losses."""
    store = Store(ifeval.path)
    base, flaky = store.run(ifeval.runs["base"]), store.run(ifeval.runs["flaky"])
    c = compare_runs(store, base, flaky)
    assert (c.result.n, c.only_a, c.only_b) == (541 - 3, 3, 0)
    assert c.result.details["a_only"] == 0 and c.result.delta == 0 and c.result.p_value == 1.0
    assert c.incomparable == []  # the same items were run: failures make it partial, not unlike


def test_compare_refuses_runs_sampled_differently(ifeval, capsys):
    argv = ["compare", "better", "short", "--suite", "ifeval", "--store", str(ifeval.path)]
    capsys.readouterr()
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ifeval: runs ")
    assert "not comparable: sampling max_new_tokens 1280 vs 256" in err
    assert "--allow-incomparable" in err

    assert cli.main([*argv, "--allow-incomparable", "--format", "json"]) == 0
    [c] = json.loads(capsys.readouterr().out)
    assert c["incomparable"] == ["sampling max_new_tokens 1280 vs 256"] and c["n"] == 541
    assert cli.main([*argv, "--allow-incomparable"]) == 0
    table = capsys.readouterr().out
    assert "ifeval§" in table
    assert "§ ifeval: NOT COMPARABLE, compared anyway (--allow-incomparable): sampling " in table


def test_compare_accepts_comparable_runs_and_says_nothing(ifeval, capsys):
    argv = ["compare", "base", "better", "--suite", "ifeval", "--format", "json"]
    capsys.readouterr()
    assert cli.main([*argv, "--store", str(ifeval.path)]) == 0
    [c] = json.loads(capsys.readouterr().out)
    # base's latest run is the --limit 5 one; its complete run is the one compared
    assert (c["run_a"], c["n"], c["incomparable"]) == (ifeval.runs["base"], 541, [])


def test_compare_refuses_a_limited_run_against_a_complete_one(ifeval, capsys):
    capsys.readouterr()
    argv = ["compare", "base", "solo", "--suite", "ifeval", "--store", str(ifeval.path)]
    assert cli.main(argv) == 2
    assert "different items scored (541 vs 5; --limit?)" in capsys.readouterr().err
    assert cli.main([*argv, "--allow-incomparable", "--format", "json"]) == 0
    [c] = json.loads(capsys.readouterr().out)
    assert c["n"] == 5 and c["unpaired_items"] == {"only_a": 536, "only_b": 0}


def test_leaderboard_uses_complete_runs_and_marks_the_rest(ifeval, capsys):
    table = rows(board(capsys, ifeval.path, "--suite", "ifeval"))
    # a later --limit 5 run never replaces the complete one
    assert table["base"]["source"] == ifeval.runs["base"] and table["base"]["n"] == "541"
    assert table["base"]["notes"] == "" and table["better"]["notes"] == ""
    # the only run: shown, marked partial, and unlike the complete runs' item set
    solo = table["solo"]
    assert solo["prompt_level_strict_acc [95% CI]"].endswith("‡§")
    assert solo["notes"] == (
        "‡ partial: 5 of 541 items; § not comparable: different items scored (5 vs 541; --limit?)"
    )
    # failed items: marked, and left out of n and the CI
    assert table["flaky"]["notes"] == "‡ partial: 3 of 541 items failed"
    assert table["flaky"]["n"] == "538"
    # most complete runs sampled IFEval's 1280 tokens: the 256-token run is marked with the
    # difference, and as a run at other settings than the suite's
    assert table["short"]["notes"] == (
        "§ not comparable: sampling max_new_tokens 256 vs 1280; "
        "° settings: max_new_tokens=256 (default 1280)"
    )


def test_a_smoke_run_leaves_the_board_and_shows_only_with_all(ifeval, capsys):
    """better's later --max-new-tokens 32 run (complete, newest) is not its row; --all adds it as
    a row of its own, marked; the rule is printed under the table."""
    text = board(capsys, ifeval.path, "--suite", "ifeval", fmt="table")
    assert "latest complete run at the suite's default settings" in text
    table = rows(board(capsys, ifeval.path, "--suite", "ifeval"))
    assert table["better"]["source"] == ifeval.runs["better"]
    assert not any("max_new_tokens=32" in name for name in table)
    every = rows(board(capsys, ifeval.path, "--suite", "ifeval", "--all"))
    assert every["better"]["source"] == ifeval.runs["better"]
    smoke = every["better (max_new_tokens=32)"]
    assert smoke["source"] == ifeval.runs["better smoke"]
    assert smoke["notes"].endswith("° settings: max_new_tokens=32 (default 1280)")
    assert smoke["prompt_level_strict_acc [95% CI]"].endswith("§°")
    # compare takes the same run the board shows
    capsys.readouterr()
    argv = ["compare", "base", "better", "--suite", "ifeval", "--format", "json"]
    assert cli.main([*argv, "--store", str(ifeval.path)]) == 0
    assert json.loads(capsys.readouterr().out)[0]["run_b"] == ifeval.runs["better"]


def test_chosen_run_is_marked_too(ifeval, capsys):
    limited = ifeval.runs["base --limit 5"]
    table = rows(board(capsys, ifeval.path, "--suite", "ifeval", "--run", limited))
    assert table["base"]["source"] == limited
    assert table["base"]["notes"].startswith("‡ partial: 5 of 541 items; § not comparable")


def test_every_format_carries_the_marks(ifeval, capsys):
    text = board(capsys, ifeval.path, "--suite", "ifeval", fmt="table")
    assert "  ‡ partial: scored on fewer items" in text and "  § not comparable with" in text
    md = board(capsys, ifeval.path, "--suite", "ifeval", fmt="md")
    assert "| ‡ partial: 3 of 541 items failed |" in md
    latex = board(capsys, ifeval.path, "--suite", "ifeval", fmt="latex")
    assert "\n‡ partial" in latex and "§ not comparable: sampling" in latex  # notes under the table
    html = board(capsys, ifeval.path, "--suite", "ifeval", fmt="html")
    assert "<td>§ not comparable: sampling max_new_tokens 256 vs 1280; ° settings" in html
    combined = board(capsys, ifeval.path, fmt="table")
    assert "  solo, IFEval prompt-strict: ‡ partial: 5 of 541 items; § not comparable" in combined


def test_imported_annotations_reach_the_leaderboard_marked(tmp_path, data_dir, capsys):
    """`harness score --annotations` creates a run; a measured run beside two imported ones is
    the one marked unlike (the reference key is the one most complete runs share)."""
    path = tmp_path / "runs.sqlite"
    claude = score_annotations(path, data_dir, "claude-2.1")
    score_annotations(path, data_dir, "gemma-7b-it")
    store = Store(path)
    assert store.run(claude).config["imported"].endswith("claude-2.1/annotations.json")
    records = [
        {"id": it["id"], "instruction": it["instruction"], "output": "x", "preference": 1.0}
        for it in suite_data("alpaca_eval", data_dir)
    ]
    judge = {"model": "gpt-4-1106-preview", "fingerprint": "api:gpt-4-1106-preview"}
    record_run(
        store,
        data_dir,
        "alpaca_eval",
        "measured-7b",
        {"win_rate": 0.0, "n": len(records)},
        records,
        sampling=sampling(suite="alpaca_eval"),
        judge={**judge, "parse_retries": 0},
        options={"judge_parse_retries": 0},
    )
    table = rows(board(capsys, path, "--suite", "alpaca_eval"))
    assert table["claude-2.1"]["notes"] == "¶ imported from annotations.json"
    assert table["claude-2.1"]["n"] == "805"
    assert table["claude-2.1"]["win_rate [95% CI]"].endswith("¶")
    assert table["measured-7b"]["notes"].startswith(
        "§ not comparable: sampling settings unknown for imported responses; judge "
    )
    capsys.readouterr()
    argv = ["compare", "gemma-7b-it", "claude-2.1", "--suite", "alpaca_eval", "--store", str(path)]
    assert cli.main(argv) == 0  # two imports of one annotator's verdicts: comparable
