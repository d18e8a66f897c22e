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

from harness.errors import HarnessError

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


Contribution = tuple[float, float] | None  # an item's (numerator, denominator); None: unscored


@dataclass(frozen=True)
class Metric:
    """One metric a suite stores, and how a person reads it."""

    key: str  # the name in the run's metrics
    label: str  # a column title
    scale: float = 1.0  # stored value x scale = the displayed value (IFEval fractions -> percent)
    unit: str = ""  # of the displayed value
    digits: int = 1  # decimals a table shows
    higher_is_better: bool = True
    in_tables: bool = True  # a leaderboard column (a standard error is not: it is in the CI)

    def display(self, value: float | None) -> float | None:
        return None if value is None else self.scale * float(value)


@dataclass(frozen=True)
class Generation:
    """How the suite's reference tool generates: every model runs the suite with these unless a
    flag or an experiment says otherwise, so two checkpoints run with default flags are
    comparable. What a suite leaves to the model (stop strings, the chat template) comes from the
    model's registry entry."""

    max_new_tokens: int | None
    temperature: float = 0.0  # 0: greedy
    source: str = ""  # where the reference fixes them, in words (shown by `runs` and --help)

    def sampling(self) -> dict:
        """The settings as SamplingParams fields."""
        return {"max_new_tokens": self.max_new_tokens, "temperature": self.temperature}


@dataclass(frozen=True)
class Scoring:
    """Options that change how a suite scores (not what the model generated). Each is an explicit
    choice recorded in the run; suites that don't take one ignore it."""

    judge_parse_retries: int = 0
    reference_answers: str | None = None
    allow_partial: bool = False
    df_gamed: Path | None = None


class Suite(ABC):
    """A benchmark: its items, how a model is asked, how answers are scored, and what its numbers
    mean. Leaderboards, compare and reports ask the suite; they keep no table of their own.

    Declared facts: `metrics` (the headline first, then the columns a table adds), `item_scale`
    with `contribution` (how one item adds to the headline, for paired statistics and the
    bootstrap), `paired_test`, `unit` (what `total`/`failed` count). A judged suite sets
    `default_judge`; one that imports a reference tool's verdict file sets `verdicts_flag`.
    """

    name: str
    version: str
    source: str = ""  # where `load` found the data (set by load)
    metrics: tuple[Metric, ...]
    item_scale: float = 100.0  # an item's numerator / denominator x item_scale = display units
    paired_test: str = "bootstrap"  # "mcnemar" for per-item pass/fail headlines
    unit: str = "items"
    default_judge: str | None = None  # judged suites: the reference tool's judge
    verdicts_flag: str | None = None  # `score --judgments`/`--annotations`: the verdict file
    scoring: Scoring = Scoring()
    # the reference tool's generation settings; a suite that declares none gets lm-eval's usual
    # greedy 1024-token default, said so wherever the settings are shown
    generation: Generation = Generation(1024, 0.0, "no reference setting: greedy, 1024 new tokens")

    @abstractmethod
    def load(self, data_dir: str | Path | None = None) -> list[dict]:
        """The suite's items (each with an "id")."""

    @abstractmethod
    def run(self, items: list[dict], ctx: RunContext) -> SuiteResult:
        """Generate what the items need through `ctx` and score it."""

    @abstractmethod
    def score(
        self,
        items: list[dict],
        responses: list,
        judge: Judge | None = None,
        errors: list[str | None] | None = None,
    ) -> SuiteResult:
        """Score one response per item (MT-Bench: the list of turns); an item whose `errors`
        entry is set failed before scoring and is recorded with that reason."""

    @abstractmethod
    def contribution(self, record: dict) -> Contribution:
        """How one stored record adds to the headline (None: the item has no score, and is left
        out of every per-item statistic, never counted as a zero)."""

    @abstractmethod
    def prompts(self, item: dict) -> list[str]:
        """The user-side texts of an item (what decontamination checks generated data against)."""

    # -- derived facts --------------------------------------------------------------------------
    @property
    def headline(self) -> Metric:
        return self.metrics[0]

    @property
    def judged(self) -> bool:
        return self.default_judge is not None

    @property
    def columns(self) -> tuple[Metric, ...]:
        """What a leaderboard shows beside the headline."""
        return tuple(m for m in self.metrics[1:] if m.in_tables)

    def metric(self, key: str) -> Metric | None:
        return next((m for m in self.metrics if m.key == key), None)

    def display(self, key: str, value: float | None) -> float | None:
        """A stored metric in display units (a metric the suite doesn't declare: as stored)."""
        m = self.metric(key)
        return m.display(value) if m else (None if value is None else float(value))

    def per_item(self, records: list[dict]) -> dict[str, tuple[float, float]]:
        """Scored items by id; failed ones are left out (they are unpaired in a comparison)."""
        scored = ((str(r["id"]), self.contribution(r)) for r in records)
        return {i: v for i, v in scored if v is not None}

    # -- hooks with defaults ---------------------------------------------------------------------
    def configure(self, scoring: Scoring) -> dict:
        """Take the scoring options; returns those that change this suite's scores (recorded in
        the run and part of its comparability key)."""
        self.scoring = scoring
        return {"judge_parse_retries": scoring.judge_parse_retries} if self.judged else {}

    def check_judge(self, judge_model: str) -> None:  # noqa: B027 - optional hook
        """Fail before any generation when this judge can't grade the loaded data."""

    def read_responses(self, path: Path, items: list[dict]) -> tuple[list[dict], list]:
        """A responses file made elsewhere: the items it answers and their responses."""
        raise HarnessError(f"suite {self.name!r} does not score a responses file")

    def score_verdicts(self, path: Path, items: list[dict], model: str | None) -> SuiteResult:
        """A reference tool's verdict file, scored without a judge."""
        raise HarnessError(f"suite {self.name!r} takes --responses")

    def export(
        self, folder: Path, items: list[dict], result: SuiteResult, model: str, judge: str
    ) -> list[Path]:
        """The reference tool's own files for this run (`--export`); none by default."""
        return []
