"""Paired statistics for comparing two checkpoints on the same items, seeded and deterministic.

Every suite's headline score is a ratio of sums over items (IFEval: prompts passed / prompts;
MT-Bench: turn scores / judged turns; AlpacaEval: preference wins / judged items), so one
bootstrap over item indices serves all of them and resamples exactly what the headline averages.

One procedure gives both the interval and the p-value, so they cannot disagree: the interval
excludes 0 exactly when p < alpha.
- pass/fail headlines (IFEval prompt-level accuracy): the exact McNemar test (a binomial test on
  the discordant pairs, `scipy.stats.binomtest`) and the interval that inverts the same test:
  Clopper-Pearson on the share of discordant pairs that B wins, scaled to a difference in accuracy
  (conditional on the number of discordant pairs, as the exact test is).
- scores: a seeded paired bootstrap (`scipy.stats.bootstrap(paired=True)`, percentile interval);
  the p-value is read off the same resamples: the smallest level at which that percentile interval
  excludes 0 (about twice the share of resampled differences on the far side of 0).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from harness.validate import between

N_BOOT = 10000  # one resample count for compare, leaderboards, reports and experiments
BOOTSTRAP = between(100, 1_000_000)  # resamples; fewer: unstable intervals; more: hours and GB
SEED = 0
ALPHA = 0.05


def _ratio(num: np.ndarray, den: np.ndarray, axis: int = -1) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return num.sum(axis=axis) / den.sum(axis=axis)


def ratio(num, den) -> float:
    """The headline score: sum of numerators over sum of denominators (nan when nothing counts)."""
    d = float(np.sum(den))
    return float(np.sum(num)) / d if d else float("nan")


def resample(
    statistic: Callable[..., np.ndarray], samples: list, n_boot: int, seed: int
) -> np.ndarray:
    """The statistic on `n_boot` resamples of the items, every sample resampled with the same
    indices (paired); resamples where it is undefined (nothing counts) are dropped."""
    from scipy import stats  # imported here: `python -m harness` parses without scipy loaded

    samples = [np.asarray(s, float) for s in samples]
    if len(samples[0]) < 2:  # scipy wants two items; every resample of one item is that item
        return np.full(n_boot, float(statistic(*samples, axis=-1)))
    with np.errstate(invalid="ignore", divide="ignore"):
        res = stats.bootstrap(
            samples,
            statistic,
            n_resamples=n_boot,
            paired=True,
            vectorized=True,
            method="percentile",
            rng=np.random.default_rng(seed),
        )
    boots = res.bootstrap_distribution
    return boots[~np.isnan(boots)]


def percentile_interval(boots: np.ndarray, alpha: float) -> tuple[float, float]:
    """The percentile interval of a bootstrap distribution (scipy's 'percentile' method)."""
    low, high = np.percentile(boots, [100 * alpha / 2, 100 * (1 - alpha / 2)])
    return float(low), float(high)


def percentile_p_value(boots: np.ndarray) -> float:
    """The smallest alpha at which `percentile_interval(boots, alpha)` excludes 0.

    The interval's ends are linearly interpolated order statistics at levels alpha/2 and
    1 - alpha/2; this inverts that interpolation at 0 on either side, so `p < alpha` holds exactly
    when the interval excludes 0.
    """
    x = np.sort(np.asarray(boots, float))
    last = len(x) - 1
    if last < 1:
        return 1.0 if not len(x) or x[0] == 0 else 0.0

    def level(k: int) -> float:  # interpolated position of 0 between x[k-1] < 0 <= x[k]
        return ((k - 1) + (0 - x[k - 1]) / (x[k] - x[k - 1])) / last

    at_most = int(np.sum(x <= 0))  # the lower end exceeds 0 for levels above `up_to`
    up_to = 0.0 if at_most == 0 else 1.0 if at_most == len(x) else level(at_most)
    below = int(np.sum(x < 0))  # the upper end is below 0 for levels under `from_`
    from_ = 0.0 if below == 0 else 1.0 if below == len(x) else level(below)
    return float(min(1.0, 2 * min(up_to, 1 - from_)))


def p_text(p: float, resamples: int | None, digits: int = 3) -> str:
    """A p-value as tables print it: below the resolution of `resamples` it is a bound."""
    return f"<{1 / resamples:.0e}" if resamples and p == 0 else f"{p:.{digits}g}"


@dataclass
class Interval:
    value: float
    low: float
    high: float


def bootstrap_ci(
    num, den, n_boot: int = N_BOOT, seed: int = SEED, alpha: float = ALPHA
) -> Interval:
    """Percentile bootstrap CI of one model's ratio score, resampling items."""
    value = ratio(num, den)
    if len(num) == 0:
        return Interval(value, float("nan"), float("nan"))
    return Interval(value, *percentile_interval(resample(_ratio, [num, den], n_boot, seed), alpha))


@dataclass
class PairedResult:
    """B minus A on the items both have; the interval and `p_value` from one procedure (`test`,
    `interval` say which; `details` has its counts and resamples)."""

    n: int
    a: float
    b: float
    delta: float
    ci_low: float
    ci_high: float
    p_value: float
    test: str
    alpha: float
    details: dict
    interval: str = ""

    @property
    def significant(self) -> bool:
        return bool(self.p_value < self.alpha)


def _delta(num_a, den_a, num_b, den_b, axis: int = -1) -> np.ndarray:
    return _ratio(num_b, den_b, axis) - _ratio(num_a, den_a, axis)


def paired_bootstrap(
    num_a, den_a, num_b, den_b, n_boot: int = N_BOOT, seed: int = SEED, alpha: float = ALPHA
) -> PairedResult:
    """Paired bootstrap of delta = score(B) - score(A): both models get the same resampled
    items; the percentile interval and the p-value that inverts it, from the same resamples."""
    n = len(num_a)
    a, b = ratio(num_a, den_a), ratio(num_b, den_b)
    boots = resample(_delta, [num_a, den_a, num_b, den_b], n_boot, seed)
    low, high = percentile_interval(boots, alpha)
    return PairedResult(
        n,
        a,
        b,
        b - a,
        low,
        high,
        percentile_p_value(boots),
        "paired bootstrap",
        alpha,
        {"resamples": n_boot, "seed": seed},
        f"percentile interval over {n_boot} paired resamples, seed {seed}",
    )


def mcnemar(a_correct, b_correct, alpha: float = ALPHA) -> tuple[float, float, float, int, int]:
    """Exact McNemar on paired pass/fail: (p, low, high, b = A only, c = B only), where [low,
    high] is the interval for B's share of the discordant pairs that inverts the same test
    (Clopper-Pearson), so it excludes 1/2 exactly when p < alpha."""
    from scipy import stats  # imported here: `python -m harness` parses without scipy loaded

    a_correct, b_correct = np.asarray(a_correct, bool), np.asarray(b_correct, bool)
    b = int(np.sum(a_correct & ~b_correct))
    c = int(np.sum(~a_correct & b_correct))
    if b + c == 0:  # no discordant pair: the difference is exactly 0 on these items
        return 1.0, 0.5, 0.5, b, c
    test = stats.binomtest(c, b + c, 0.5)
    ci = test.proportion_ci(1 - alpha, method="exact")
    return float(test.pvalue), float(ci.low), float(ci.high), b, c


def paired_binary(a_correct, b_correct, alpha: float = ALPHA) -> PairedResult:
    """Accuracy difference B - A with the exact McNemar test and its matching interval: the
    difference is (c - b) / n = (2 * share - 1) * (b + c) / n for B's share of the discordant
    pairs, so the share's exact interval maps onto the difference's."""
    a_correct, b_correct = np.asarray(a_correct, float), np.asarray(b_correct, float)
    n = len(a_correct)
    p, low, high, b, c = mcnemar(a_correct, b_correct, alpha)
    scale = (b + c) / n if n else 0.0
    a, bb = ratio(a_correct, np.ones(n)), ratio(b_correct, np.ones(n))
    return PairedResult(
        n,
        a,
        bb,
        (c - b) / n if n else 0.0,  # = bb - a, without its rounding (the interval's ends are exact)
        (2 * low - 1) * scale,
        (2 * high - 1) * scale,
        p,
        "McNemar exact",
        alpha,
        {"a_only": b, "b_only": c},
        "exact interval (Clopper-Pearson on the discordant pairs)",
    )
