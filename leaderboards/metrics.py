"""What each suite's headline score is, in display units, and how one item contributes to it.

Record formats are the store's (see harness suites): IFEval `prompt_strict`, MT-Bench
`turn1_score`/`turn2_score` (None when a judgment failed), AlpacaEval `preference` in [1, 2].
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


def _ifeval_item(r: dict) -> tuple[float, float]:
    return float(bool(r.get("prompt_strict"))), 1.0


def _mt_bench_item(r: dict) -> tuple[float, float]:
    # FastChat's overall score averages all judged turns, so a question adds its scores and count;
    # a failed judgment is None here, or FastChat's -1 in imported judgments: both are left out.
    turns = (r.get("turn1_score"), r.get("turn2_score"))
    scores = [s for s in turns if s is not None and s != -1]
    return float(sum(scores)), float(len(scores))


def _alpaca_item(r: dict) -> tuple[float, float]:
    # alpaca_eval's win rate: mean of (preference - 1) over judged items, draws (1.5) count half.
    p = r.get("preference")
    return (float(p) - 1.0, 1.0) if p is not None else (0.0, 0.0)


@dataclass(frozen=True)
class SuiteMetric:
    suite: str
    label: str  # short column title
    metric: str  # key in the run's stored metrics
    item_scale: float  # the per-item ratio x item_scale = the displayed value
    unit: str
    item: Callable[[dict], tuple[float, float]]  # record -> (numerator, denominator)
    columns: tuple[str, ...]  # further stored metrics shown in the suite's table
    binary: bool = False  # per-item pass/fail: McNemar applies

    def per_item(self, records: list[dict]) -> dict[str, tuple[float, float]]:
        return {str(r["id"]): self.item(r) for r in records}


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
        "mt_bench", "MT-Bench", "mt_bench_score", 1.0, "/10", _mt_bench_item, ("turn1", "turn2")
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
