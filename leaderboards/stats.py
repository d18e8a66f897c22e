"""Paired statistics for comparing two checkpoints on the same items, seeded and deterministic.

Every suite's headline score is a ratio of sums over items (IFEval: prompts passed / prompts;
MT-Bench: turn scores / judged turns; AlpacaEval: preference wins / judged items), so one
bootstrap over item indices serves all three and resamples exactly what the headline averages.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from harness.validate import between

N_BOOT = 2000
BOOTSTRAP = between(100, 1_000_000)  # resamples; fewer: unstable intervals; more: hours and GB
SEED = 0
ALPHA = 0.05
EXACT_MAX = 25  # discordant pairs up to which McNemar uses the exact binomial test


def _ratio(num: np.ndarray, den: np.ndarray, idx: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return num[idx].sum(axis=-1) / den[idx].sum(axis=-1)


def ratio(num, den) -> float:
    """The headline score: sum of numerators over sum of denominators (nan when nothing counts)."""
    d = float(np.sum(den))
    return float(np.sum(num)) / d if d else float("nan")


@dataclass
class Interval:
    value: float
    low: float
    high: float


def bootstrap_ci(
    num, den, n_boot: int = N_BOOT, seed: int = SEED, alpha: float = ALPHA
) -> Interval:
    """Percentile bootstrap CI of one model's ratio score, resampling items."""
    num, den = np.asarray(num, float), np.asarray(den, float)
    value = ratio(num, den)
    if len(num) == 0:
        return Interval(value, float("nan"), float("nan"))
    idx = np.random.default_rng(seed).integers(0, len(num), size=(n_boot, len(num)))
    boots = _ratio(num, den, idx)
    low, high = np.nanpercentile(boots, [100 * alpha / 2, 100 * (1 - alpha / 2)])
    return Interval(value, float(low), float(high))


@dataclass
class PairedResult:
    """B minus A on the items both have; `p_value` from the named test."""

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

    @property
    def significant(self) -> bool:
        return bool(self.p_value < self.alpha)


def paired_bootstrap(
    num_a, den_a, num_b, den_b, n_boot: int = N_BOOT, seed: int = SEED, alpha: float = ALPHA
) -> PairedResult:
    """Paired bootstrap of delta = score(B) - score(A): both models get the same resampled items.

    p-value: the share of resampled deltas, centred on the observed one, at least as far from it
    as the observed delta is from 0 (two-sided; Berg-Kirkpatrick et al. 2012), with the +1
    correction so it is never exactly 0.
    """
    num_a, den_a, num_b, den_b = (np.asarray(x, float) for x in (num_a, den_a, num_b, den_b))
    n = len(num_a)
    a, b = ratio(num_a, den_a), ratio(num_b, den_b)
    delta = b - a
    idx = np.random.default_rng(seed).integers(0, n, size=(n_boot, n))
    boots = _ratio(num_b, den_b, idx) - _ratio(num_a, den_a, idx)
    boots = boots[~np.isnan(boots)]
    low, high = np.percentile(boots, [100 * alpha / 2, 100 * (1 - alpha / 2)])
    extreme = np.abs(boots - delta) >= abs(delta) - 1e-12
    p = (1 + int(extreme.sum())) / (1 + len(boots))
    return PairedResult(
        n,
        a,
        b,
        delta,
        float(low),
        float(high),
        min(1.0, p),
        "paired bootstrap",
        alpha,
        {"n_boot": n_boot, "seed": seed},
    )


def mcnemar(a_correct, b_correct) -> tuple[float, str, int, int]:
    """McNemar's test on paired pass/fail: (p, method, b = A only, c = B only).

    Exact two-sided binomial on the discordant pairs when there are at most EXACT_MAX of them,
    else the chi-square statistic with continuity correction.
    """
    from scipy import stats  # imported here: `python -m harness` parses without scipy loaded

    a_correct, b_correct = np.asarray(a_correct, bool), np.asarray(b_correct, bool)
    b = int(np.sum(a_correct & ~b_correct))
    c = int(np.sum(~a_correct & b_correct))
    n = b + c
    if n == 0:
        return 1.0, "exact", b, c
    if n <= EXACT_MAX:
        return min(1.0, 2 * float(stats.binom.cdf(min(b, c), n, 0.5))), "exact", b, c
    chi2 = (abs(b - c) - 1) ** 2 / n
    return float(stats.chi2.sf(chi2, 1)), "chi-square (continuity corrected)", b, c


def paired_binary(
    a_correct, b_correct, n_boot: int = N_BOOT, seed: int = SEED, alpha: float = ALPHA
) -> PairedResult:
    """Accuracy difference with a paired bootstrap CI and McNemar's p-value."""
    a_correct, b_correct = np.asarray(a_correct, float), np.asarray(b_correct, float)
    ones = np.ones_like(a_correct)
    boot = paired_bootstrap(a_correct, ones, b_correct, ones, n_boot, seed, alpha)
    p, method, b, c = mcnemar(a_correct, b_correct)
    boot.p_value, boot.test = p, f"McNemar {method}"
    boot.details.update({"a_only": b, "b_only": c})
    return boot
