"""What a step will cost before it runs: model and judge calls, tokens, dollars at the harness's
price table, and device-hours from throughput measured in benchmarks/README.md, scaled by the
model's parameter count (decode and training are bound by reading, and computing with, every
weight once per token). The rates are this project's measurements, not vendor numbers; each
estimate says which one it used."""

from __future__ import annotations

import math
from dataclasses import dataclass

from harness.backends import PRICES

CHARS_PER_TOKEN = 4  # English prose, for prompt-token estimates before any tokenizer is loaded


@dataclass(frozen=True)
class Rate:
    tokens_per_s: float
    params_b: float
    source: str

    def seconds(self, tokens: float, params_b: float | None) -> float | None:
        """None when the model's size is unknown: no number rather than a wrong one."""
        if params_b is None:
            return None
        return tokens / self.tokens_per_s * params_b / self.params_b


# (device, work) -> measured rate; a spec's `estimate.rates` replaces them (your own measurement)
RATES = {
    ("cpu", "generate"): Rate(
        170.0, 0.135, "hf backend, continuous batching, SmolLM2-135M on 2 CPU cores"
    ),
    ("gpu", "generate"): Rate(
        465.8, 0.494, "hf backend, batch 32, Qwen2.5-0.5B shapes on one H100 (vLLM is faster)"
    ),
    ("cpu", "train"): Rate(
        23.0, 0.135, "tiny-cpu experiment's LoRA steps, fp32, 2 CPU cores at load ~4.5"
    ),
    ("gpu", "train"): Rate(
        30946.0, 0.494, "DPO end to end, tuned recipe, Qwen2.5-0.5B shapes on one H100"
    ),
}


@dataclass
class Estimate:
    model_calls: int = 0
    judge_calls: int = 0
    prompt_tokens: int = 0  # model and judge prompts
    completion_tokens: int = 0  # at most: max new tokens per call
    train_tokens: int = 0
    cost_usd: float = 0.0
    device_s: float = 0.0
    basis: str = ""  # which rate, and what is unknown

    def __add__(self, o: Estimate) -> Estimate:
        return Estimate(
            self.model_calls + o.model_calls,
            self.judge_calls + o.judge_calls,
            self.prompt_tokens + o.prompt_tokens,
            self.completion_tokens + o.completion_tokens,
            self.train_tokens + o.train_tokens,
            self.cost_usd + o.cost_usd,
            self.device_s + o.device_s,
        )


def tokens(text: str) -> int:
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def price(model: str | None, prompt: int, completion: int) -> float:
    p_in, p_out = PRICES.get(model or "", (0.0, 0.0))
    return (prompt * p_in + completion * p_out) / 1e6


def rates(device: str, given: dict[str, dict]) -> dict[str, Rate]:
    """The rates for `device`: measured here, or the spec's own (`{generate: {tokens_per_s,
    params_b, source}}`)."""
    found = {work: rate for (dev, work), rate in RATES.items() if dev == device}
    found.update({work: Rate(**r) for work, r in given.items()})
    return found


def _timed(rate: Rate, tokens_: int, params_b: float | None) -> tuple[float, str]:
    seconds = rate.seconds(tokens_, params_b)
    if seconds is None:
        return 0.0, "model size unknown (set params_b in its registry entry): no time estimate"
    return seconds, rate.source


def calls(
    rate: Rate,
    model: str,
    params_b: float | None,
    n: int,
    prompt_tokens: int,
    max_new_tokens: int,
    local: bool,
) -> Estimate:
    """`n` generation calls of a model: priced if it is a priced API model, timed if it runs here
    (every call taken to its max new tokens: an upper bound)."""
    completion = n * max_new_tokens
    seconds, basis = _timed(rate, completion, params_b) if local else (0.0, "endpoint")
    return Estimate(
        model_calls=n,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion,
        cost_usd=price(model, prompt_tokens, completion),
        device_s=seconds,
        basis=basis,
    )


def training(rate: Rate, params_b: float | None, tokens_seen: int) -> Estimate:
    seconds, basis = _timed(rate, tokens_seen, params_b)
    return Estimate(train_tokens=tokens_seen, device_s=seconds, basis=basis)
