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

from harness.backends import PRICES, Backend, Completion, Conversation, SamplingParams, Usage
from harness.cache import CachedBackend
from harness.store import Store, cache_key


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


@dataclass
class Judge:
    """A judge model behind any backend and the store's `judgments` table (`CachedBackend`); the
    backend is built only when a verdict is missing."""

    model: str  # the judge's model name (for prices and exported files)
    fingerprint: str
    make_backend: Callable[[], Backend]
    store: Store | None  # set before the first verdict is asked for
    progress: bool = True
    parse_retries: int = 0  # re-ask an unparseable reply this often (the references: never)
    refresh: bool = False  # ask again even where a verdict is cached, and replace it
    cache: CachedBackend[Verdict] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.cache = CachedBackend(self.make_backend, self.progress, self.refresh)

    @property
    def usage(self) -> Usage:
        """Judge calls in this run, reuses from the store, tokens."""
        return self.cache.usage

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
        return self.cache.fetch(
            keys,
            prompts,
            lambda found: {k: _from_row(r) for k, r in self.store.get_judgments(found).items()},
            lambda pending, done: self._ask(pending, rubric, done),
            desc,
            "judgment",
        )

    def _ask(self, pending: list[tuple[str, Conversation]], rubric: Rubric, done) -> None:
        """Ask, parse, and ask again what did not parse; store each verdict as it is final."""
        unparsed: dict[str, Verdict] = {}

        def final(rows: list[dict], verdicts: list[tuple[str, Verdict]]) -> None:
            if rows:
                self.store.put_judgments(rows)
            for key, v in verdicts:
                done(key, v)

        def commit(arrivals: list) -> None:
            rows, verdicts = [], []
            for key, messages, c in arrivals:
                if not c.ok:  # transport failure or empty reply after the backend's retries
                    verdicts.append((key, Verdict(None, error=c.error)))  # not kept: asked again
                    continue
                try:
                    parsed = rubric.parse(c)
                except ParseError as e:
                    unparsed[key] = Verdict(None, c.text, f"unparseable judge reply: {e}")
                    continue
                v = Verdict(parsed["value"], c.text, detail=parsed)
                rows.append(self._row(key, messages, rubric, v, c))
                verdicts.append((key, v))
            final(rows, verdicts)

        for _ in range(self.parse_retries + 1):
            unparsed.clear()
            self.cache.ask(pending, rubric.sampling, commit)
            pending = [(k, m) for k, m in pending if k in unparsed]
            if not pending:
                break
        if self.parse_retries:
            for key, _ in pending:
                unparsed[key].error += f" (after {self.parse_retries + 1} attempts)"
        self.usage.failed += len(pending)
        final(
            [self._row(k, m, rubric, unparsed[k], None) for k, m in pending],
            [(k, unparsed[k]) for k, _ in pending],
        )

    def _row(self, key: str, messages, rubric: Rubric, v: Verdict, c: Completion | None) -> dict:
        return {
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

    def metrics(self) -> dict:
        """What judging this run cost, with dollars where the judge's price is known (`PRICES`)."""
        u = self.usage
        return {
            "judge_calls": u.calls,
            "judge_cached": u.cached,
            "judge_failed": u.failed,
            "judge_prompt_tokens": u.prompt_tokens,
            "judge_completion_tokens": u.completion_tokens,
            "judge_cost_usd": u.cost(PRICES.get(self.model)),
        }

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
        self.cache.close()


def _from_row(row: dict) -> Verdict:
    return Verdict(row["parsed"]["value"], row["output"] or "", detail=row["parsed"], cached=True)


def make_judge(
    name: str,
    store: Store | None,
    base_url: str | None = None,
    concurrency: int | None = None,  # None: the registry entry's backend_options, else 16
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
    from harness.backends import fingerprint_for, get_backend, make_backend
    from harness.registry import ModelSpec, load_registry

    spec = load_registry().get(name) or ModelSpec(
        name=name, source=name, group="judge", backend="openai"
    )
    backend = "openai" if base_url else spec.backend
    judge_flags = {"base_url": base_url, "concurrency": concurrency, "flag": "--judge-base-url"}
    kind = get_backend(backend)  # the judge flags set the options its backend has
    options = {k: v for k, v in judge_flags.items() if kind.takes(k)} | backend_options
    fingerprint = fingerprint_for(spec, backend, model_tag=model_tag, **options)
    build = lambda: make_backend(spec, backend, **options)  # noqa: E731
    return Judge(spec.source, fingerprint, build, store, progress, parse_retries, refresh)
