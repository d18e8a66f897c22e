"""What each suite's headline score is, in display units, and how one item contributes to it.

Record formats are the store's (see harness suites): IFEval `prompt_strict`, MT-Bench
`turn1_score`/`turn2_score` (None when a judgment failed), AlpacaEval `preference` in [1, 2].
A failed item (its record has an "error" and no verdict) has no score: it is left out of every
per-item statistic, as the run's metrics leave it out, never counted as a fail or a zero.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

Item = tuple[float, float] | None  # (numerator, denominator), None: the item has no score


def _ifeval_item(r: dict) -> Item:
    # a failed generation has no verdict: counting it as a fail would move McNemar and the CI
    strict = r.get("prompt_strict")
    return None if strict is None else (float(bool(strict)), 1.0)


def _mt_bench_item(r: dict) -> Item:
    # FastChat's overall score averages all judged turns, so a question adds its scores and count;
    # a failed judgment is None here, or FastChat's -1 in imported judgments: both are left out.
    turns = (r.get("turn1_score"), r.get("turn2_score"))
    scores = [s for s in turns if s is not None and s != -1]
    return (float(sum(scores)), float(len(scores))) if scores else None


def _alpaca_item(r: dict) -> Item:
    # alpaca_eval's win rate: mean of (preference - 1) over judged items, draws (1.5) count half.
    p = r.get("preference")
    return None if p is None else (float(p) - 1.0, 1.0)


@dataclass(frozen=True)
class SuiteMetric:
    suite: str
    label: str  # short column title
    metric: str  # key in the run's stored metrics
    item_scale: float  # the per-item ratio x item_scale = the displayed value
    unit: str
    item: Callable[[dict], Item]  # record -> (numerator, denominator), None when unscored
    columns: tuple[str, ...]  # further stored metrics shown in the suite's table
    binary: bool = False  # per-item pass/fail: McNemar applies
    counted: str = "items"  # what a run's n_total and n_failed count

    def per_item(self, records: list[dict]) -> dict[str, tuple[float, float]]:
        """Scored items by id; failed ones are left out (they are unpaired in a comparison)."""
        scored = ((str(r["id"]), self.item(r)) for r in records)
        return {i: v for i, v in scored if v is not None}


SUITE_METRICS: dict[str, SuiteMetric] = {
    "ifeval": SuiteMetric(
        "ifeval",
        "IFEval prompt-strict",
        "prompt_level_strict_acc",
        100.0,
        "%",
        _ifeval_item,
        ("inst_level_strict_acc", "prompt_level_loose_acc", "inst_level_loose_acc"),
        binary=True,
    ),
    "mt_bench": SuiteMetric(
        "mt_bench",
        "MT-Bench",
        "mt_bench_score",
        1.0,
        "/10",
        _mt_bench_item,
        ("turn1", "turn2"),
        counted="judgments",
    ),
    "alpaca_eval": SuiteMetric(
        "alpaca_eval",
        "AlpacaEval 2.0 win rate",
        "win_rate",
        100.0,
        "%",
        _alpaca_item,
        ("length_controlled_winrate", "discrete_win_rate", "avg_length"),
    ),
}
# IFEval accuracies are stored as fractions; the other suites' extra columns are already in
# display units (AlpacaEval percent, MT-Bench points).
FRACTION_METRICS = {
    "prompt_level_strict_acc",
    "inst_level_strict_acc",
    "prompt_level_loose_acc",
    "inst_level_loose_acc",
}


def display(metric: str, value: float | None) -> float | None:
    if value is None:
        return None
    return 100.0 * value if metric in FRACTION_METRICS else float(value)
