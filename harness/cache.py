"""The store in front of any backend: the one caching loop of suites, judges and ECD generation.

What the store has is reused; identical requests share one call; the backend is built only when
something is missing, so a fully cached run loads nothing; results are committed as they arrive,
on a writer thread of their own (`_Writer`), so a kill loses at most the calls in flight and the
few results waiting for the commit under way, and a rerun makes only what is missing; and one
`Usage` counts the calls made, the reuses and the tokens. Anchor: lm-eval's CachingLM. Each
user keeps its own table, key and result type: the generator (`harness.runner.CachedGenerator`)
stores completions, the judge (`harness.judges.Judge`) parsed verdicts.
"""

from __future__ import annotations

import queue
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from tqdm import tqdm

from harness.backends import Backend, Completion, Conversation, SamplingParams, Usage

R = TypeVar("R")  # what a request's result is for its user: a completion, a verdict
Pending = list[tuple[str, Conversation]]  # requests missing from the store, by key
Done = Callable[[str, R], None]  # a request's final result, to return (and count on the bar)
Arrival = tuple[str, Conversation, Completion]  # a pending request's key, request and completion


@dataclass
class CachedBackend(Generic[R]):
    """A backend built on first need, behind its user's part of the store."""

    make_backend: Callable[[], Backend]
    progress: bool = True
    refresh: bool = False  # ask again even what the store has (the user replaces it)
    usage: Usage = field(default_factory=Usage)
    _backend: Backend | None = field(default=None, repr=False)

    def fetch(
        self,
        keys: Sequence[str],
        requests: Sequence[Conversation],
        lookup: Callable[[list[str]], dict[str, R]],
        answer: Callable[[Pending, Done], None],
        desc: str,
        unit: str,
    ) -> list[R]:
        """A result per key, in order: `lookup(keys)` gives what the store has, `answer(pending,
        done)` makes the rest (each distinct key once) and calls `done(key, result)` for each as
        it becomes final, after committing it where it should be kept."""
        keys = list(keys)
        found = {} if self.refresh else lookup(keys)
        reused = sum(k in found for k in keys)
        self.usage.cached += reused
        pending = list({k: r for k, r in zip(keys, requests) if k not in found}.items())
        if self.progress:
            print(
                f"{desc}: {reused} of {len(keys)} found in the store, {len(pending)} to generate",
                file=sys.stderr,
            )
        if pending:
            bar = tqdm(
                total=len(keys),
                initial=len(keys) - len(pending),
                desc=desc,
                unit=unit,
                disable=not self.progress,
                dynamic_ncols=True,
            )

            def done(key: str, result: R) -> None:
                found[key] = result
                bar.update(1)

            answer(pending, done)
            bar.close()
        return [found[k] for k in keys]

    def ask(
        self,
        pending: Pending,
        params: SamplingParams,
        commit: Callable[[list[Arrival]], None],
    ) -> None:
        """Call the backend (built now if it is not yet) for every pending request, counting each
        call; `commit(arrivals)` stores results and reports them done, on the writer thread."""
        self._backend = self._backend or self.make_backend()
        with _Writer(commit) as writer:

            def arrived(j: int, completion: Completion) -> None:
                self.usage.add(completion)
                writer.put((*pending[j], completion))

            self._backend.generate([request for _, request in pending], params, arrived)

    def close(self) -> None:
        if self._backend is not None:
            self._backend.close()


class _Writer:
    """Commits results on its own thread, each group being everything that arrived while the last
    commit ran, so the calls never wait on the store. Committed from the calls' own loop, each
    result held all the calls for a transaction's round trips: through a PostgreSQL server 1 ms
    away, 10,000 calls took 7x longer (benchmarks/README.md). A failed commit stops the calls: the
    next result's `put` raises it, and nothing after the failure is committed."""

    _END = None

    def __init__(self, commit: Callable[[list[Arrival]], None]):
        self._commit = commit
        self._queue: queue.SimpleQueue[Arrival | None] = queue.SimpleQueue()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="store-writer", daemon=True)

    def __enter__(self) -> _Writer:
        self._thread.start()
        return self

    def put(self, arrival: Arrival) -> None:
        if self._error is not None:
            raise self._error
        self._queue.put(arrival)

    def _run(self) -> None:
        while True:
            group = [self._queue.get()]
            while group[-1] is not self._END and not self._queue.empty():
                group.append(self._queue.get())
            end = group[-1] is self._END  # put last, by __exit__
            arrivals = group[:-1] if end else group
            if arrivals and self._error is None:
                try:
                    self._commit(arrivals)
                except BaseException as e:  # noqa: BLE001 - raised in the caller's thread
                    self._error = e
            if end:
                return

    def __exit__(self, kind, *_) -> None:
        """What arrived is committed before the caller goes on, also when the calls failed or
        were interrupted."""
        self._queue.put(self._END)
        self._thread.join()
        if kind is None and self._error is not None:
            raise self._error
