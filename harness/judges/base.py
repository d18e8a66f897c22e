"""The judge seam: a backend plus a rubric (sampling settings and a reply parser).

Every verdict is cached in the store's `judgments` table under judge fingerprint + prompt + rubric,
so a repeated or interrupted run asks the judge only for what is missing. As FastChat and
alpaca_eval do, each judgment is one verdict call (the backend retries transport errors only); a
reply that does not parse is a failed judgment with its reason. Re-asking unparseable replies is
an explicit option (`parse_retries`), recorded in the run. Failed judgments are kept in the store
for inspection but never reused: a rerun asks again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from tqdm import tqdm

from harness.backends import Backend, Completion, Conversation, SamplingParams, Usage
from harness.store import Store, cache_key

# USD per million tokens (prompt, completion): OpenAI list prices; unknown models have no cost.
PRICES = {
    "gpt-4": (30.0, 60.0),
    "gpt-4-0613": (30.0, 60.0),
    "gpt-4-1106-preview": (10.0, 30.0),
    "gpt-4-0125-preview": (10.0, 30.0),
    "gpt-4-turbo": (10.0, 30.0),
    "gpt-4o": (2.5, 10.0),
    "gpt-4o-mini": (0.15, 0.6),
}


class ParseError(ValueError):
    """A judge reply that carries no verdict; the message says why."""


@dataclass(frozen=True)
class Rubric:
    """How a suite asks a judge. `name` names the prompt family and parser (part of the cache key);
    `parse` turns a completion into {"value": float, ...} or raises ParseError."""

    name: str
    sampling: SamplingParams
    parse: Callable[[Completion], dict]


@dataclass
class Verdict:
    value: float | None
    output: str = ""
    error: str | None = None
    detail: dict = field(default_factory=dict)
    cached: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None


class JudgeUsage(Usage):
    """Judge calls in this run, with their dollar cost where the judge's price is known."""

    def metrics(self, model: str) -> dict:
        price = PRICES.get(model)
        cost = (
            round((self.prompt_tokens * price[0] + self.completion_tokens * price[1]) / 1e6, 4)
            if price
            else None
        )
        return {
            "judge_calls": self.calls,
            "judge_cached": self.cached,
            "judge_failed": self.failed,
            "judge_prompt_tokens": self.prompt_tokens,
            "judge_completion_tokens": self.completion_tokens,
            "judge_cost_usd": cost,
        }


@dataclass
class Judge:
    """A judge model behind any backend; the backend is built only when a verdict is missing."""

    model: str  # the judge's model name (for prices and exported files)
    fingerprint: str
    make_backend: Callable[[], Backend]
    store: Store | None  # set before the first verdict is asked for
    progress: bool = True
    parse_retries: int = 0  # re-ask an unparseable reply this often (the references: never)
    refresh: bool = False  # ask again even where a verdict is cached, and replace it
    usage: JudgeUsage = field(default_factory=JudgeUsage)
    _backend: Backend | None = field(default=None, repr=False)

    def judge(
        self, prompts: Sequence[Conversation], rubric: Rubric, desc: str = "judging"
    ) -> list[Verdict]:
        """A verdict per prompt, in order; identical prompts share one call."""
        keys = [
            cache_key(
                judge=self.fingerprint,
                messages=p,
                sampling=rubric.sampling.as_dict(),
                rubric=rubric.name,
            )
            for p in prompts
        ]
        found = {} if self.refresh else self.store.get_judgments(keys)
        verdicts = {k: _from_row(row) for k, row in found.items()}
        self.usage.cached += sum(k in found for k in keys)
        todo = list(dict.fromkeys(k for k in keys if k not in found))
        if todo:
            conv = {k: p for k, p in zip(keys, prompts)}
            bar = tqdm(total=len(todo), desc=desc, unit="judgment", disable=not self.progress)
            verdicts.update(self._ask([(k, conv[k]) for k in todo], rubric, bar))
            bar.close()
        return [verdicts[k] for k in keys]

    def _ask(self, pending: list[tuple[str, Conversation]], rubric: Rubric, bar) -> dict:
        """Ask, parse, and ask again what did not parse; store each verdict as it is final."""
        self._backend = self._backend or self.make_backend()
        done: dict[str, Verdict] = {}
        for _ in range(self.parse_retries + 1):
            unparsed: dict[str, Verdict] = {}

            def on_result(j: int, c: Completion, pending=pending, unparsed=unparsed) -> None:
                key, messages = pending[j]
                self.usage.add(c)
                if not c.ok:  # transport failure or empty reply after the backend's retries
                    done[key] = Verdict(None, error=c.error)
                    bar.update(1)
                    return
                try:
                    parsed = rubric.parse(c)
                except ParseError as e:
                    unparsed[key] = Verdict(None, c.text, f"unparseable judge reply: {e}")
                    return
                done[key] = Verdict(parsed["value"], c.text, detail=parsed)
                self._put(key, messages, rubric, done[key], c)
                bar.update(1)

            self._backend.generate([m for _, m in pending], rubric.sampling, on_result)
            pending = [(k, m) for k, m in pending if k in unparsed]
            if not pending:
                break
        tries = self.parse_retries + 1
        for key, messages in pending:
            v = unparsed[key]
            if tries > 1:
                v.error = f"{v.error} (after {tries} attempts)"
            done[key] = v
            self.usage.failed += 1
            self._put(key, messages, rubric, v, None)
            bar.update(1)
        return done

    def _put(self, key: str, messages, rubric: Rubric, v: Verdict, c: Completion | None) -> None:
        self.store.put_judgments(
            [
                {
                    "key": key,
                    "judge_fingerprint": self.fingerprint,
                    "request": {
                        "messages": messages,
                        "sampling": rubric.sampling.as_dict(),
                        "rubric": rubric.name,
                    },
                    "status": "ok" if v.ok else "failed",
                    "output": v.output,
                    "parsed": v.detail if v.ok else None,
                    "error": v.error,
                    "prompt_tokens": c.prompt_tokens if c else None,
                    "completion_tokens": c.completion_tokens if c else None,
                }
            ]
        )

    def metrics(self) -> dict:
        return self.usage.metrics(self.model)

    def summary(self) -> str:
        """One line for the results table: what judging this run cost."""
        m = self.metrics()
        cost = "" if m["judge_cost_usd"] is None else f", ${m['judge_cost_usd']:.2f}"
        return (
            f"judge {self.model}: {m['judge_calls']} calls, {m['judge_cached']} cached, "
            f"{m['judge_failed']} failed; {m['judge_prompt_tokens']} prompt + "
            f"{m['judge_completion_tokens']} completion tokens{cost}"
        )

    def close(self) -> None:
        if self._backend is not None:
            self._backend.close()


def _from_row(row: dict) -> Verdict:
    return Verdict(row["parsed"]["value"], row["output"] or "", detail=row["parsed"], cached=True)


def make_judge(
    name: str,
    store: Store | None,
    base_url: str | None = None,
    concurrency: int = 16,
    progress: bool = True,
    model_tag: str | None = None,
    parse_retries: int = 0,
    refresh: bool = False,
    **backend_options,
) -> Judge:
    """A judge by registry name (group `judge`) or any OpenAI-compatible model name.

    An `openai` judge is identified by its endpoint now (URL, served model card, `model_tag`), so
    a missing key, a rejected key or a dead endpoint is reported before any generation is spent.
    """
    from harness.backends import fingerprint_for, make_backend
    from harness.registry import ModelSpec, load_registry

    spec = load_registry().get(name) or ModelSpec(
        name=name, source=name, group="judge", backend="openai"
    )
    backend = "openai" if base_url else spec.backend
    options = (
        {
            "base_url": base_url,
            "concurrency": concurrency,
            "flag": "--judge-base-url",
            **backend_options,
        }
        if backend == "openai"
        else backend_options
    )
    fingerprint = fingerprint_for(spec, backend, model_tag=model_tag, **options)
    build = lambda: make_backend(spec, backend, **options)  # noqa: E731
    return Judge(spec.source, fingerprint, build, store, progress, parse_retries, refresh)
