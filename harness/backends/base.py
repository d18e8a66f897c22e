"""The backend seam: a batch of chat conversations plus sampling settings -> completions."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

Message = dict[str, str]
Conversation = list[Message]
OnResult = Callable[[int, "Completion"], None]


@dataclass(frozen=True)
class SamplingParams:
    """What determines a completion besides the model and the prompt (part of the cache key).

    A field set to None is not sent to an API endpoint at all, so a judge's request body can equal
    the reference tool's field by field (FastChat sends no top_p or seed; alpaca_eval no seed).
    """

    max_new_tokens: int | None = 1024  # None: as long as the model allows
    temperature: float = 0.0
    top_p: float | None = 1.0
    stop: tuple[str, ...] = ()
    seed: int | None = 0
    top_logprobs: int = 0  # >0: return the first token's top log-probabilities (judges)
    n: int | None = None  # sent as given (FastChat's judge sends n=1)

    def __post_init__(self) -> None:
        object.__setattr__(self, "stop", tuple(self.stop))

    def as_dict(self) -> dict:
        """The settings as cache-key parts; unset (None) fields are left out."""
        return {k: v for k, v in asdict(self).items() if v is not None}


@dataclass
class Completion:
    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    finish_reason: str = "stop"
    top_logprobs: list[dict[str, float]] | None = None  # per generated token, first few
    error: str | None = None  # set when the call failed after retries; never cached

    @property
    def ok(self) -> bool:
        return self.error is None


# USD per million tokens (prompt, completion): OpenAI list prices; unknown models have no cost.
PRICES = {
    "gpt-4": (30.0, 60.0),
    "gpt-4-0314": (30.0, 60.0),
    "gpt-4-0613": (30.0, 60.0),
    "gpt-4-1106-preview": (10.0, 30.0),
    "gpt-4-0125-preview": (10.0, 30.0),
    "gpt-4-turbo": (10.0, 30.0),
    "gpt-4o": (2.5, 10.0),
    "gpt-4o-mini": (0.15, 0.6),
}


@dataclass
class Usage:
    """What model calls cost: calls made (retries included), reuses from the store, tokens. The one
    account of suites' generation, judges and ECD generation."""

    calls: int = 0
    cached: int = 0
    failed: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def add(self, c: Completion) -> None:
        self.calls += 1
        self.prompt_tokens += c.prompt_tokens
        self.completion_tokens += c.completion_tokens
        self.failed += 0 if c.ok else 1

    def cost(self, price: tuple[float, float] | None) -> float | None:
        """USD for the tokens counted at `price` (per million prompt, completion tokens); None
        without a price."""
        if price is None:
            return None
        return round((self.prompt_tokens * price[0] + self.completion_tokens * price[1]) / 1e6, 6)


class Backend(ABC):
    """Generates completions. Its identity (for the cache) is `fingerprint_for`'s, computed without
    building the backend, so a fully cached run loads nothing."""

    name: str

    @abstractmethod
    def generate(
        self,
        conversations: Sequence[Conversation],
        params: SamplingParams,
        on_result: OnResult | None = None,
    ) -> list[Completion]:
        """Complete every conversation; call `on_result(i, completion)` as each one is done."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release engines, sessions or GPU memory."""
