"""`python -m harness runs`: the run log, browsed: list, show one, export one.

Reads the store only. A run's settings are shown as what differs from its suite's defaults
(`harness.defaults.non_default`), so a smoke run with `--max-new-tokens 32` stands out from runs
a leaderboard would choose. `export` writes the run's per-item records as JSONL, its record
without them as JSON, and the suite's reference-tool files (`Suite.export`: IFEval's
input_response_data and lm-eval samples, FastChat's model_answer/model_judgment, alpaca_eval's
model_outputs/annotations, InFoBench's evaluation.py files).
"""

from __future__ import annotations

import datetime
import json
from pathlib import Path

from harness.data import write_json_atomic, write_jsonl_atomic
from harness.defaults import describe, non_default, run_sampling
from harness.errors import HarnessError
from harness.naming import display_names, run_name
from harness.store import Run, Store
from harness.suites import SuiteResult, get_suite, suite_names

COLUMNS = ("id", "model", "suite", "status", "items", "settings", "date")


def settings_of(run: Run) -> str:
    """The run's settings that differ from its suite's defaults, in words."""
    if run.suite not in suite_names():
        return "unknown suite"
    return describe(non_default(get_suite(run.suite), run_sampling(run)))


def rows(store: Store, model: str | None = None, suite: str | None = None) -> list[list[str]]:
    """One row per run, oldest first (every status: running, failed and interrupted too)."""
    runs = store.runs(suite=suite, model=run_name(model) if model else None, finished_only=False)
    shown = display_names(r.model for r in store.runs(finished_only=False))  # one name each
    out = []
    for r in runs:
        key = r.comparability or {}
        total = r.n_total if r.n_total is not None else key.get("n_items")
        items = "-" if total is None else f"{total - (r.n_failed or 0)}/{total}"
        if key.get("n_data") is not None and key.get("n_items") != key.get("n_data"):
            items += f" of {key['n_data']}"
        date = datetime.datetime.fromtimestamp(r.started_at).strftime("%Y-%m-%d %H:%M")
        out.append([r.id, shown[r.model], r.suite, r.status, items, settings_of(r), date])
    return out


def table(lines: list[list[str]]) -> str:
    """Plain columns, as `models` prints."""
    grid = [list(COLUMNS), *lines]
    widths = [max(len(row[i]) for row in grid) for i in range(len(COLUMNS))]
    return "".join(
        "  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() + "\n" for row in grid
    )


def record(store: Store, run_id: str) -> dict:
    """The run's stored record without its per-item records (those: `export`), plus the
    settings that differ from the suite's defaults."""
    log = store.log(run_id)
    run = store.run(run_id)
    n = len(log.pop("records", []))
    return {**log, "settings": settings_of(run), "records": f"{n} (runs export {run_id})"}


def export(store: Store, run_id: str, out: Path, data_dir: str | None = None) -> list[Path]:
    """Write `records.jsonl`, `run.json` and the suite's reference-tool files under `out`."""
    run = store.run(run_id)
    if run is None:
        raise HarnessError(f"run {run_id!r} is not in {store.path}; list runs with `runs`")
    records = store.scores(run_id)
    paths = [out / "records.jsonl", out / "run.json"]
    if run.suite in suite_names() and records:
        suite = get_suite(run.suite)
        ids = {r["id"] for r in records}
        items = [it for it in suite.load(data_dir) if it["id"] in ids]
        result = SuiteResult(run.metrics or {}, records, run.breakdown, run.notes)
        judge = str(run.config.get("judge") or "")
        paths += suite.export(out, items, result, run.model, judge)
    write_jsonl_atomic(paths[0], records)
    write_json_atomic(paths[1], record(store, run_id))
    return paths


def dumps(payload: dict) -> str:
    return json.dumps(payload, indent=1, ensure_ascii=False)
