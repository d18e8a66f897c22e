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


# (device, work, engine) -> measured rate; engine: the backend that generates (hf, vllm), trl for
# training. A spec's `estimate.rates` replaces them by work (your own measurement). A pair that is
# missing has not been measured: its steps get no time rather than another engine's rate.
RATES = {
    ("cpu", "generate", "hf"): Rate(
        157.9,
        0.135,
        "hf backend, continuous batching, SmolLM2-135M, 541 IFEval prompts, 2 CPU cores",
    ),
    ("cpu", "generate", "vllm"): Rate(
        261.7, 0.135, "vLLM's CPU build 0.32, SmolLM2-135M, 541 IFEval prompts, 2 CPU cores"
    ),
    ("gpu", "generate", "hf"): Rate(
        465.8, 0.494, "hf backend, batch 32, Qwen2.5-0.5B shapes on one H100"
    ),
    ("cpu", "train", "trl"): Rate(
        91.2, 0.135, "tiny-cpu experiment's four LoRA trainings, fp32, 2 idle CPU cores"
    ),
    ("gpu", "train", "trl"): Rate(
        30946.0, 0.494, "DPO end to end, tuned recipe, Qwen2.5-0.5B shapes on one H100"
    ),
}
TRAINER = "trl"


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
    untimed: str = ""  # why a step that runs on a device has no time: no rate, no size

    def __add__(self, o: Estimate) -> Estimate:
        return Estimate(
            self.model_calls + o.model_calls,
            self.judge_calls + o.judge_calls,
            self.prompt_tokens + o.prompt_tokens,
            self.completion_tokens + o.completion_tokens,
            self.train_tokens + o.train_tokens,
            self.cost_usd + o.cost_usd,
            self.device_s + o.device_s,
            untimed=self.untimed or o.untimed,
        )


def tokens(text: str) -> int:
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def price(model: str | None, prompt: int, completion: int) -> float:
    p_in, p_out = PRICES.get(model or "", (0.0, 0.0))
    return (prompt * p_in + completion * p_out) / 1e6


def rate(device: str, work: str, engine: str, given: dict[str, dict]) -> Rate | str:
    """The rate for `work` on `engine` and `device`: the spec's own (`{generate: {tokens_per_s,
    params_b, source}}`), else measured here; else why there is none."""
    if work in given:
        return Rate(**given[work])
    return RATES.get((device, work, engine)) or (
        f"{engine} {work} not measured on {device} yet (benchmarks/gpu_check.sh measures it, or "
        f"set estimate.rates.{work}): no time estimate"
    )


def rates(device: str, given: dict[str, dict]) -> dict[str, Rate]:
    """Every rate a plan on `device` may use, by "work (engine)", for the plan's footnote."""
    found = {f"{w} ({e})": r for (d, w, e), r in RATES.items() if d == device and w not in given}
    found.update({work: Rate(**r) for work, r in given.items()})
    return found


def _timed(rate: Rate | str, tokens_: int, params_b: float | None) -> Estimate:
    """The device time of `tokens_`, or why there is none (`untimed`)."""
    if isinstance(rate, str):
        return Estimate(basis=rate, untimed=rate)
    seconds = rate.seconds(tokens_, params_b)
    if seconds is None:
        why = "model size unknown (set params_b in its registry entry): no time estimate"
        return Estimate(basis=why, untimed=why)
    return Estimate(device_s=seconds, basis=rate.source)


def calls(
    rate: Rate | str,
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
    est = _timed(rate, completion, params_b) if local else Estimate(basis="endpoint")
    est.model_calls, est.prompt_tokens, est.completion_tokens = n, prompt_tokens, completion
    est.cost_usd = price(model, prompt_tokens, completion)
    return est


def training(rate: Rate | str, params_b: float | None, tokens_seen: int) -> Estimate:
    est = _timed(rate, tokens_seen, params_b)
    est.train_tokens = tokens_seen
    return est
