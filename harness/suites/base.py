"""The suite seam: load items, build conversations, generate through the context, score."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from harness.runner import RunContext


@dataclass
class SuiteResult:
    metrics: dict[str, float]
    records: list[dict]  # one per item, each with an "id"
    breakdown: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


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
