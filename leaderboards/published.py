"""Published reference numbers: the shipped YAML (with sources) and the AlpacaEval leaderboard CSV."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from harness.data import parse_yaml
from harness.errors import HarnessError
from harness.suites import suite_names

ALPACA_CSV = "weighted_alpaca_eval_gpt4_turbo_leaderboard.csv"
ALPACA_SOURCE = "AlpacaEval 2.0 leaderboard (alpaca_eval package, weighted_alpaca_eval_gpt4_turbo)"
ALPACA_COLUMNS = ("win_rate", "standard_error", "discrete_win_rate", "length_controlled_winrate")


@dataclass
class Published:
    model: str
    suite: str
    metrics: dict[str, float]  # display units
    source: str


def alpaca_leaderboard_csv() -> Path:
    """The leaderboard CSV inside the installed alpaca_eval package (located, never imported)."""
    from importlib import metadata

    try:
        dist = metadata.distribution("alpaca_eval")
    except metadata.PackageNotFoundError:
        raise HarnessError(
            "alpaca_eval is not installed; `pip install alpaca-eval==0.6.6`"
        ) from None
    path = Path(dist.locate_file(f"alpaca_eval/leaderboards/data_AlpacaEval_2/{ALPACA_CSV}"))
    if not path.is_file():
        raise HarnessError(f"{path} not found; reinstall alpaca-eval==0.6.6")
    return path


def _read_yaml(path: Path | None) -> dict:
    text = (
        path.read_text()
        if path
        else resources.files("leaderboards").joinpath("published.yaml").read_text()
    )
    data = parse_yaml(text, "published numbers") or {}
    if not isinstance(data, dict):
        raise HarnessError("published numbers: expected a mapping with 'scores'")
    return data


def _alpaca_rows(csv_path: Path, names: dict[str, str]) -> list[Published]:
    with open(csv_path, newline="", encoding="utf-8") as f:
        rows = {r[""]: r for r in csv.DictReader(f)}  # the first column names the model
    found = []
    for model, csv_name in names.items():
        row = rows.get(csv_name)
        if row is None:
            continue
        metrics = {k: float(row[k]) for k in ALPACA_COLUMNS if row.get(k) not in (None, "")}
        found.append(Published(model, "alpaca_eval", metrics, f"{ALPACA_SOURCE}: {csv_name}"))
    return found


@dataclass
class PublishedModel:
    """A model known only by its published numbers: its size for the plots, its source's name."""

    params_b: float | None
    name: str


def published_models(yaml_path: Path | None = None) -> dict[str, PublishedModel]:
    found = {}
    for key, entry in (_read_yaml(yaml_path).get("published_models") or {}).items():
        size = entry.get("params_b") if isinstance(entry, dict) else None
        if (
            not isinstance(entry, dict)
            or not isinstance(entry.get("name"), str)
            or not (size is None or isinstance(size, (int, float)))
        ):
            raise HarnessError(
                f"published_models: {key}: expected {{params_b: number or null, name: text}}"
            )
        found[str(key)] = PublishedModel(size, entry["name"])
    return found


def load_published(
    yaml_path: Path | None = None, alpaca_csv: Path | None = None
) -> list[Published]:
    """All published numbers, one entry per (model, suite)."""
    data = _read_yaml(yaml_path)
    merged: dict[tuple[str, str], Published] = {}
    for n, entry in enumerate(data.get("scores") or [], 1):
        missing = [k for k in ("model", "suite", "metric", "value", "source") if k not in entry]
        if missing:
            raise HarnessError(f"published score #{n} lacks {', '.join(missing)}; add it")
        if entry["suite"] not in suite_names():
            raise HarnessError(
                f"published score #{n}: unknown suite {entry['suite']!r}; "
                f"use one of {', '.join(suite_names())}"
            )
        key = (entry["model"], entry["suite"])
        pub = merged.setdefault(key, Published(entry["model"], entry["suite"], {}, entry["source"]))
        pub.metrics[entry["metric"]] = float(entry["value"])
    names = data.get("alpaca_eval_names") or {}
    if names:
        for pub in _alpaca_rows(alpaca_csv or alpaca_leaderboard_csv(), names):
            merged.setdefault((pub.model, pub.suite), pub)
    return list(merged.values())
