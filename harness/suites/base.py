"""The suite seam: load items, build conversations, generate through the context, score.

The runner drives suites through these types; nothing here knows the runner, so the dependency
runs one way (runner -> suites).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # types only: `python -m harness --help` lists suites without loading backends
    from harness.backends import Completion, Conversation, SamplingParams
    from harness.judges import Judge

    # conversations, sampling, progress label -> one completion each (the runner's cached generator)
    Generate = Callable[[Sequence[Conversation], SamplingParams, str], list[Completion]]


@dataclass
class RunContext:
    """What a suite sees: generation for the model under test and, for judged suites, a judge."""

    generator: Generate
    params: SamplingParams
    judge: Judge | None = None
    progress: bool = True

    def generate(
        self,
        conversations: Sequence[Conversation],
        params: SamplingParams | None = None,
        desc: str = "generating",
    ) -> list[Completion]:
        return self.generator(conversations, params or self.params, desc)


@dataclass
class SuiteResult:
    """Metrics say what they are over: `failed` of `total` units (items, or judgments where a
    suite scores per judgment) had no score and are left out of them, with a note saying so."""

    metrics: dict[str, float]
    records: list[dict]  # one per item, each with an "id" (and an "error" when it failed)
    breakdown: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    total: int = 0
    failed: int = 0
    unit: str = "items"

    @property
    def scored(self) -> int:
        return self.total - self.failed

    def failure_line(self, rerun: bool = True) -> str | None:
        """'k of N items failed ...', or None when every unit was scored. `rerun`: whether
        running the same command again retries them (not for results read from a file)."""
        if not self.failed:
            return None
        line = (
            f"{self.failed} of {self.total} {self.unit} failed (see their errors); metrics are "
            f"over the {self.scored} scored"
        )
        return line + ("; rerun the same command to retry the failed ones" if rerun else "")


class Suite(ABC):
    name: str
    version: str
    metrics: tuple[str, ...]  # the headline metrics, in display order

    @abstractmethod
    def load(self, data_dir: str | Path | None = None) -> list[dict]:
        """The suite's items (each with an "id")."""

    @abstractmethod
    def run(self, items: list[dict], ctx: RunContext) -> SuiteResult:
        """Generate what the items need through `ctx` and score it."""
