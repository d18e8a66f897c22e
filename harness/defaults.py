"""A run's generation settings: the suite's (its reference tool's) unless a flag says otherwise.

Every model runs a suite with the settings the suite declares (`Suite.generation`: lm-eval's
IFEval task is greedy with 1280 new tokens, FastChat's MT-Bench 1024 with its per-category
temperatures, ...), so two checkpoints run with default flags are comparable. A model's registry
`sampling` applies only where the suite leaves a setting to the model: its stop strings, part of its
chat format like its template. A flag (`--max-new-tokens`, `--temperature`) or an experiment's
`evaluation` overrides the suite; such a run records what differs (`non_default`), and leaderboards
choose runs at the suite's defaults unless told otherwise.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.backends.base import SamplingParams
from harness.comparability import MODEL_SPECIFIC, shared_sampling
from harness.registry import ModelSpec
from harness.suites import Suite

if TYPE_CHECKING:
    from harness.store import Run

# what a suite leaves to the model, in words (`run --help`)
MODEL_OWNED = ", ".join(MODEL_SPECIFIC) + " (and the chat template)"


def sampling_for(
    suite: Suite,
    spec: ModelSpec,
    max_new_tokens: int | None = None,
    temperature: float | None = None,
) -> SamplingParams:
    """The suite's settings, the model's own stop strings, then the flags given (None: not given)."""
    owned = {k: v for k, v in spec.sampling.items() if k in MODEL_SPECIFIC}
    given = {"max_new_tokens": max_new_tokens, "temperature": temperature}
    given = {k: v for k, v in given.items() if v is not None}
    return SamplingParams(**{**suite.generation.sampling(), **owned, **given})


def default_sampling(suite: Suite) -> dict:
    """The settings every run of `suite` at its defaults shares (the model's own left out)."""
    return shared_sampling(SamplingParams(**suite.generation.sampling()).as_dict()) or {}


def non_default(suite: Suite, sampling: dict | None) -> dict | None:
    """What a run's sampling sets otherwise than the suite's defaults: {} at the defaults, None
    when unknown (responses imported with `score`)."""
    shared = shared_sampling(sampling)
    if shared is None:
        return None
    defaults = default_sampling(suite)
    keys = sorted(set(shared) | set(defaults))
    return {k: shared.get(k) for k in keys if shared.get(k) != defaults.get(k)}


def run_sampling(run: Run) -> dict | None:
    """The sampling a stored run used: its comparability key's (None for imported responses),
    else, for a run recorded without one, its config's."""
    key = run.comparability or {}
    return key["sampling"] if "sampling" in key else run.config.get("sampling")


def describe(changed: dict | None) -> str:
    """`non_default` in words: "max_new_tokens=32", "defaults", or "unknown (imported)"."""
    if changed is None:
        return "unknown (imported)"
    return ", ".join(f"{k}={v}" for k, v in changed.items()) or "defaults"
