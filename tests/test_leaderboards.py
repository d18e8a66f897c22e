"""Leaderboards from a store filled by real runs of the embedded model plus imported results.

`filled_store` is built once per test session (the other leaderboard/report test files import
it): real IFEval runs of the embedded model under two registry names with different system
prompts (two "checkpoints"), a third name sharing the second's generations, MT-Bench judgments
in the store's record format (imported, two failed judgments each), and AlpacaEval annotations
imported with `python -m harness score`. Runs not made by real commands are recorded by
`record_run` with the comparability key the harness would give them.
"""

from __future__ import annotations

import csv
import functools
import json
import random
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness import cli, comparability
from harness.errors import HarnessError
from harness.registry import ModelSpec, load_registry, register
from harness.store import Store
from harness.suites import get_suite

RUN = ["--suite", "ifeval", "--limit", "6", "--max-new-tokens", "32", "--quiet"]
FOLLOW = "Follow every instruction in the request exactly."
HOSTILE = (
    '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2"> & <b>bold</b>'
)


@dataclass
class Filled:
    path: Path
    runs: dict[tuple[str, str], str]  # (suite, model) -> run id


def _register(name: str, rounds: int, system_prompt: str) -> None:
    embedded = load_registry()["smollm2-135m-instruct"]
    register(
        ModelSpec(
            name=name,
            source=embedded.source,
            params_b=embedded.params_b,
            group="ecd",
            system_prompt=system_prompt,
            sampling=dict(embedded.sampling),
            meta={"rounds": rounds},
        )
    )


@functools.cache
def suite_data(suite: str, data: Path) -> list[dict]:
    return get_suite(suite).load(data)


def record_run(
    store: Store,
    data: Path,
    suite: str,
    model: str,
    metrics: dict,
    records: list[dict],
    *,
    sampling: dict | None = None,
    judge: dict | None = None,
    imported: str | None = None,
    total: int | None = None,
    failed: int = 0,
    options: dict | None = None,
    breakdown: dict | None = None,
) -> str:
    """A finished run with the comparability key `harness run` (sampling given) or
    `harness score` (imported) would record for these records, scored on their items."""
    items = suite_data(suite, data)
    ids = {str(r["id"]) for r in records}
    scored = [it for it in items if str(it["id"]) in ids]
    version = get_suite(suite).version
    key = comparability.key(suite, version, items, scored, sampling, judge, options)
    config = {"suite": suite, "model": model, "sampling": sampling}
    if imported:
        config["imported"] = imported
    run_id = store.start_run(suite, model, None, config, key)
    total = len(records) if total is None else total
    store.finish_run(run_id, metrics, records, total, failed, breakdown=breakdown)
    return run_id


def score_annotations(store_path: Path, data: Path, model: str) -> str:
    """Import real AlpacaEval annotations as a run, as a user would: `harness score`."""
    path = data / "alpaca_eval" / "examples" / model / "annotations.json"
    argv = ["score", "--suite", "alpaca_eval", "--annotations", str(path), "--model", model]
    assert cli.main([*argv, "--store", str(store_path), "--quiet"]) == 0
    store = Store(store_path)
    run_id = store.latest_run("alpaca_eval", model).id
    store.close()
    return run_id


# as `harness score --suite mt_bench --judgments` records FastChat judgments: two of 160 failed
MT_IMPORT = {
    "judge": {"imported": "gpt-4"},
    "imported": "gpt-4_single.jsonl",
    "total": 160,
    "failed": 2,
}


def _mt_bench_records(shift: float, seed: int) -> list[dict]:
    rng = random.Random(seed)
    records = []
    for q in range(81, 161):
        t1 = min(10.0, max(1.0, round(rng.gauss(5.0 + shift, 1.5))))
        t2 = min(10.0, max(1.0, round(rng.gauss(4.5 + shift, 1.5))))
        records.append({"id": str(q), "category": "writing", "turn1_score": t1, "turn2_score": t2})
    records[0]["turn2_score"], records[0]["turn2_error"] = None, "judge output unparsable"
    records[1]["turn1_score"] = -1.0  # FastChat's mark of a failed judgment, in imported files
    return records


def _mt_metrics(records: list[dict]) -> dict:
    t1 = [r["turn1_score"] for r in records if r["turn1_score"] not in (None, -1)]
    t2 = [r["turn2_score"] for r in records if r["turn2_score"] not in (None, -1)]
    return {
        "mt_bench_score": sum(t1 + t2) / len(t1 + t2),
        "turn1": sum(t1) / len(t1),
        "turn2": sum(t2) / len(t2),
        "n": len(records),
    }


_CACHE: dict[str, Filled] = {}


def build_filled_store(root: Path, data: Path) -> Filled:
    """Once per session: real runs take most of this module's time on CPU."""
    if "store" in _CACHE:
        return _CACHE["store"]
    path = root / "runs.sqlite"
    _register("ecd-r1", 1, FOLLOW)
    _register("ecd-r2", 2, FOLLOW)  # same fingerprint as ecd-r1: a real run from cached generations
    _register("ecd-r3", 3, FOLLOW)
    for model in ("smollm2-135m-instruct", "ecd-r1", "ecd-r2"):
        assert cli.main(["run", "--model", model, "--store", str(path), *RUN]) == 0
    store = Store(path)
    runs = {(r.suite, r.model): r.id for r in store.runs()}
    # ecd-r3: ecd-r2's responses behind hostile markup (model outputs are untrusted), imported
    # the way a user imports responses made elsewhere
    responses = root / "ecd-r3.responses.jsonl"
    responses.write_text(
        "".join(
            json.dumps({"prompt": r["prompt"], "response": HOSTILE + r["response"]}) + "\n"
            for r in store.scores(runs[("ifeval", "ecd-r2")])
        )
    )
    store.close()
    argv = ["score", "--suite", "ifeval", "--responses", str(responses), "--model", "ecd-r3"]
    assert (
        cli.main([*argv, "--data-dir", str(data / "ifeval"), "--store", str(path), "--quiet"]) == 0
    )
    store = Store(path)
    runs[("ifeval", "ecd-r3")] = store.latest_run("ifeval", "ecd-r3").id
    for model, shift, seed in (
        ("smollm2-135m-instruct", 0.0, 1),
        ("ecd-r1", 1.0, 2),
        ("ecd-r2", 1.0, 2),
    ):
        records = _mt_bench_records(shift, seed)
        runs[("mt_bench", model)] = record_run(
            store,
            data,
            "mt_bench",
            model,
            _mt_metrics(records),
            records,
            **MT_IMPORT,
        )
    store.close()
    for model in ("claude-2.1", "gemma-7b-it"):
        runs[("alpaca_eval", model)] = score_annotations(path, data, model)
    _CACHE["store"] = Filled(path, runs)
    return _CACHE["store"]


@pytest.fixture(scope="module")
def filled(tmp_path_factory, data_dir) -> Filled:
    return build_filled_store(tmp_path_factory.getbasetemp(), data_dir)


def show(capsys, *args: str) -> str:
    from leaderboards.__main__ import main

    capsys.readouterr()
    assert main(["show", *args]) == 0
    return capsys.readouterr().out


def test_suite_table_measured_beside_published(filled, capsys):
    store = Store(filled.path)
    out = show(capsys, "--suite", "ifeval", "--format", "csv", "--store", str(filled.path))
    rows = {r["model"]: r for r in csv.DictReader(out.splitlines())}
    for model in ("smollm2-135m-instruct", "ecd-r1", "ecd-r2"):
        run = store.latest_run("ifeval", model)
        assert rows[model]["kind"] == "measured" and rows[model]["source"] == run.id
        assert rows[model]["n"] == "6"
        shown = float(rows[model]["prompt_level_strict_acc [95% CI]"].split()[0])
        assert shown == pytest.approx(100 * run.metrics["prompt_level_strict_acc"], abs=0.05)
        assert float(rows[model]["inst_level_loose_acc"]) == pytest.approx(
            100 * run.metrics["inst_level_loose_acc"], abs=0.05
        )
    assert rows["smollm2-135m-instruct"]["group"] == "embedded"
    assert rows["smollm2-135m-instruct"]["params"] == "0.135B"
    assert rows["ecd-r1"]["group"] == "ecd"


def test_alpaca_table_reproduces_leaderboard_and_marks_published(filled, capsys, data_dir):
    out = show(capsys, "--suite", "alpaca_eval", "--format", "csv", "--store", str(filled.path))
    rows = list(csv.DictReader(out.splitlines()))
    measured = {r["model"]: r for r in rows if r["kind"] == "measured"}
    published = {r["model"]: r for r in rows if r["kind"] == "published"}
    with open(data_dir / "alpaca_eval" / "weighted_alpaca_eval_gpt4_turbo_leaderboard.csv") as f:
        board = {r[""]: r for r in csv.DictReader(f)}
    claude = measured["claude-2.1"]["win_rate [95% CI]"]
    assert claude.endswith("¶")  # imported with `harness score`
    value, low, high = (float(x.strip("[],¶")) for x in claude.split())
    assert value == pytest.approx(float(board["claude-2.1"]["win_rate"]), abs=0.05)
    se = float(board["claude-2.1"]["standard_error"])
    assert low < value < high and abs((high - low) / 2 - 1.96 * se) < 0.6  # bootstrap ~ SE
    # published rows are the package's CSV (the same file as the shared copy), marked †
    zephyr = published["zephyr-7b-beta"]["win_rate [95% CI]"]
    assert zephyr.endswith("†") and zephyr.startswith(
        f"{float(board['zephyr-7b-beta']['win_rate']):.1f}"
    )
    assert "AlpacaEval 2.0 leaderboard" in published["zephyr-7b-beta"]["source"]
    assert published["llama-2-70b-chat"]["group"] == "reference"


def test_combined_table_formats(filled, capsys):
    text = show(capsys, "--store", str(filled.path))
    assert "Leaderboard" in text and "ecd-r1" in text and "6.86†" in text  # MT-Bench, Zephyr paper
    md = show(capsys, "--format", "md", "--store", str(filled.path))
    header = next(line for line in md.splitlines() if line.startswith("| model"))
    assert header.count("|") == 7  # model, group, params, three suites
    latex = show(capsys, "--format", "latex", "--store", str(filled.path))
    assert "\\toprule" in latex and "\\midrule" in latex and "\\bottomrule" in latex
    assert "ecd-r1" in latex and "\\dag" not in latex  # the dagger is a literal character
    body = [line for line in latex.splitlines() if line.endswith("\\\\")]
    assert all(line.count(" & ") == 5 for line in body)
    html = show(capsys, "--format", "html", "--no-published", "--store", str(filled.path))
    assert "<table>" in html and "†" not in html.split("<tbody>")[1].split("</tbody>")[0]


def test_chosen_run_replaces_latest(filled, capsys, data_dir):
    # The later run is complete (no failed judgments), so it is the row's run; the fixture's runs
    # have two failed judgments each. (It used to be a key-less run, shown only for being latest.)
    store = Store(filled.path)
    records = [
        dict(r, turn1_score=10.0, turn2_score=10.0)
        for r in store.scores(filled.runs[("mt_bench", "ecd-r1")])
    ]
    metrics = {"mt_bench_score": 10.0, "turn1": 10.0, "turn2": 10.0, "n": 80}
    extra = record_run(
        store, data_dir, "mt_bench", "ecd-r1", metrics, records, **dict(MT_IMPORT, failed=0)
    )
    try:
        latest = show(
            capsys,
            "--suite",
            "mt_bench",
            "--format",
            "csv",
            "--model",
            "ecd-r1",
            "--store",
            str(filled.path),
        )
        chosen = show(
            capsys,
            "--suite",
            "mt_bench",
            "--format",
            "csv",
            "--model",
            "ecd-r1",
            "--run",
            filled.runs[("mt_bench", "ecd-r1")],
            "--store",
            str(filled.path),
        )
    finally:  # keep the shared store as the other tests expect it
        with store.transaction() as db:
            db.execute("DELETE FROM scores WHERE run_id=?", (extra,))
            db.execute("DELETE FROM runs WHERE id=?", (extra,))
    assert next(csv.DictReader(latest.splitlines()))["source"] == extra
    row = next(csv.DictReader(chosen.splitlines()))
    assert row["source"] == filled.runs[("mt_bench", "ecd-r1")] and not row[
        "mt_bench_score [95% CI]"
    ].startswith("10.00")


def test_show_errors_are_one_line(tmp_path, capsys):
    from leaderboards.__main__ import main

    assert main(["show", "--store", str(tmp_path / "missing.sqlite")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: store") and "--store" in err and err.count("\n") == 1
    store = Store(tmp_path / "s.sqlite")
    store.close()
    assert main(["show", "--run", "no-such-run", "--store", str(tmp_path / "s.sqlite")]) == 2
    assert "no-such-run" in capsys.readouterr().err


def test_published_data_carries_sources(tmp_path, data_dir):
    from leaderboards.published import load_published, published_models

    csv_path = data_dir / "alpaca_eval" / "weighted_alpaca_eval_gpt4_turbo_leaderboard.csv"
    entries = load_published(alpaca_csv=csv_path)
    assert entries and all(e.source for e in entries)
    names = set(load_registry()) | set(published_models())
    assert all(e.model in names for e in entries)  # every row maps to a registry or listed model
    by_cell = {(e.model, e.suite): e.metrics for e in entries}
    # Conifer's IFEval column is prompt-level loose: it never fills the strict headline
    assert by_cell[("conifer-7b-dpo", "ifeval")] == {"prompt_level_loose_acc": 52.3}
    assert by_cell[("llama-2-70b-chat", "followbench")]["hsr_avg"] == 47.5
    assert by_cell[("o3", "ifbench")] == {"prompt_level_loose_acc": 70.4}
    mt = {e.model: e.metrics["mt_bench_score"] for e in entries if e.suite == "mt_bench"}
    assert {m: mt[m] for m in ("zephyr-7b-beta", "llama-2-70b-chat", "tulu-2-dpo-70b")} == {
        "zephyr-7b-beta": 7.34,
        "llama-2-70b-chat": 6.86,
        "tulu-2-dpo-70b": 7.89,
    }
    assert mt["conifer-7b-dpo"] == 7.25  # Conifer's table
    bad = tmp_path / "bad.yaml"
    bad.write_text("scores:\n  - {model: x, suite: ifeval, metric: m, value: 1}\n")
    with pytest.raises(HarnessError, match="lacks source"):
        load_published(bad, csv_path)
