"""The training stages, one table: each stage's recipe settings, TRL config and trainer, and rows.

The recipe, the data check and the runner look a stage up here rather than branching on its name,
so a stage such as KTO is one `Stage` entry with its settings class and row converter here, plus
its `Recipe`/`DataConfig` fields and a recipe. TRL classes are named, not imported: trl loads torch,
and a recipe check should not pay for that before it needs TRL.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields

from harness.errors import HarnessError
from harness.validate import FRACTION, NON_NEGATIVE, POSITIVE, Rule

# transformers' Trainer: max_steps > 0 overrides num_train_epochs, -1 (the default) leaves it
MAX_STEPS = Rule("-1 (train num_train_epochs) or > 0", lambda v: v == -1 or v > 0)
# TRL 1.16's DPOTrainer losses; it only rejects another name at the first training step
DPO_LOSSES = (
    "sigmoid hinge ipo exo_pair nca_pair robust bco_pair sppo_hard aot aot_unpaired apo_zero "
    "apo_down discopop sft sigmoid_norm"
).split()
LOSS_TYPES = Rule(
    f"(each one of {', '.join(DPO_LOSSES)})",
    lambda v: all(x in DPO_LOSSES for x in ([v] if isinstance(v, str) else v)),
)


@dataclass
class StageSettings:
    """The TRL settings all stages share; `trl` passes any other field of the stage's TRL config."""

    learning_rate: float = FRACTION.field(2e-5)  # above 1 is a typo (1e300)
    num_train_epochs: float = POSITIVE.field(1.0)
    max_steps: int = MAX_STEPS.field(-1)
    per_device_train_batch_size: int = POSITIVE.field(8)
    gradient_accumulation_steps: int = POSITIVE.field(1)
    # rows per optimizer step over all processes: set, it fixes the batch whatever the process
    # count (accelerate launch --num_processes N) and derives the two keys above per run
    global_batch_size: int | None = POSITIVE.field(None)
    max_length: int | None = POSITIVE.field(2048)
    lr_scheduler_type: str = "cosine"
    # < 1: a fraction of the total steps (transformers 5 dropped warmup_ratio)
    warmup_steps: float = NON_NEGATIVE.field(0.1)
    gradient_checkpointing: bool = True
    logging_steps: int = POSITIVE.field(10)
    save_steps: int = POSITIVE.field(500)  # checkpoints to resume from
    save_total_limit: int | None = POSITIVE.field(2)
    trl: dict = field(default_factory=dict)

    def trl_kwargs(self) -> dict:
        """Every field is named as in TRL's config class, except the runner's own ones, and
        gradient_checkpointing, which transformers 5.20 renamed (the old name warns there)."""
        own = {
            k: v
            for k, v in asdict(self).items()
            if k not in ("trl", "reference", "global_batch_size")
        }
        own[checkpointing_field()] = own.pop("gradient_checkpointing")
        return own | self.trl

    def batch_plan(self, processes: int) -> tuple[int, int]:
        """(per-device batch, gradient accumulation steps) for `processes` ranks.

        With global_batch_size, each rank takes global/processes rows per step in micro-batches of
        the largest size <= per_device_train_batch_size that divides them, so one process and N
        processes see the same rows per optimizer step (the same loss curve, up to rounding)."""
        if self.global_batch_size is None:
            return self.per_device_train_batch_size, self.gradient_accumulation_steps
        if self.gradient_accumulation_steps != 1:
            raise HarnessError(
                "global_batch_size derives gradient_accumulation_steps; remove one of the two"
            )
        per_rank, rest = divmod(self.global_batch_size, processes)
        if rest or not per_rank:
            raise HarnessError(
                f"global_batch_size {self.global_batch_size} does not split over {processes} "
                f"processes; use a multiple of {processes}"
            )
        micro = max(
            b
            for b in range(1, min(per_rank, self.per_device_train_batch_size) + 1)
            if per_rank % b == 0
        )
        return micro, per_rank // micro

    def reference_model(self) -> str | None:
        """A model to load as the frozen reference, when the stage takes one apart from itself."""
        return None


@functools.cache
def checkpointing_field() -> str:
    """TrainingArguments' name for gradient checkpointing in the installed transformers:
    `activation_checkpointing` from 5.20, `gradient_checkpointing` before (vLLM pins < 5.21)."""
    from transformers import TrainingArguments

    names = {f.name for f in fields(TrainingArguments)}
    return (
        "activation_checkpointing"
        if "activation_checkpointing" in names
        else "gradient_checkpointing"
    )


@dataclass
class SFTSettings(StageSettings):
    completion_only_loss: bool = True  # loss on the response R_k only, not the instruction
    packing: bool = False


@dataclass
class DPOSettings(StageSettings):
    learning_rate: float = FRACTION.field(5e-7)  # above 1 is a typo (1e300)
    beta: float = POSITIVE.field(0.1)
    loss_type: str | list[str] = LOSS_TYPES.field("sigmoid")
    # "policy": the model entering DPO (the SFT result, or the base model); else a model name/path
    reference: str = "policy"
    precompute_ref_log_probs: bool = False  # one pass of the reference up front; frees its memory
    precompute_ref_batch_size: int | None = POSITIVE.field(None)

    def reference_model(self) -> str | None:
        return None if self.reference == "policy" else self.reference


def _is_messages(value) -> bool:
    return (
        isinstance(value, list)
        and len(value) > 0
        and all(
            isinstance(m, dict)
            and isinstance(m.get("role"), str)
            and isinstance(m.get("content"), str)
            for m in value
        )
    )


def sft_row(row: dict) -> dict | str:
    """A TRL row, or why this row is wrong. Messages become prompt/completion for completion loss."""
    if "messages" in row:
        msgs = row["messages"]
        if not _is_messages(msgs):
            return "'messages' must be a list of {'role', 'content'} strings"
        if msgs[-1]["role"] != "assistant" or len(msgs) < 2:
            return "'messages' must end with an assistant turn after at least one other turn"
        return {"prompt": msgs[:-1], "completion": msgs[-1:]}
    if "prompt" in row and "completion" in row:
        p, c = row["prompt"], row["completion"]
        if isinstance(p, str) and isinstance(c, str) or _is_messages(p) and _is_messages(c):
            return {"prompt": p, "completion": c}
        return "'prompt' and 'completion' must both be strings or both message lists"
    if "text" in row:
        return {"text": row["text"]} if isinstance(row["text"], str) else "'text' must be a string"
    return f"missing fields: has {sorted(row)}"


def dpo_row(row: dict) -> dict | str:
    """A TRL preference row, or why this row is wrong."""
    missing = [k for k in ("prompt", "chosen", "rejected") if k not in row]
    if missing:
        return f"missing fields {missing} (has {sorted(row)})"
    values = [row["prompt"], row["chosen"], row["rejected"]]
    if all(isinstance(v, str) for v in values) or all(_is_messages(v) for v in values):
        return {"prompt": row["prompt"], "chosen": row["chosen"], "rejected": row["rejected"]}
    return "'prompt', 'chosen' and 'rejected' must all be message lists or all strings"


@dataclass(frozen=True)
class Stage:
    """One stage: TRL's config and trainer, and its rows. Its settings are the `Recipe` field of
    the same name (a `StageSettings`), so YAML checks them with the rest of the recipe."""

    config: str  # a TRL class name
    trainer: str  # a TRL class name
    rows: Callable[[dict], dict | str]  # a raw row -> a TRL row, or why it is wrong
    format: str  # the rows `rows` accepts, for errors

    def config_class(self) -> type:
        import trl

        return getattr(trl, self.config)

    def trainer_class(self) -> type:
        import trl

        return getattr(trl, self.trainer)


STAGES = {
    "sft": Stage(
        "SFTConfig",
        "SFTTrainer",
        sft_row,
        "{'messages': [{'role': 'user', ...}, {'role': 'assistant', ...}]} "
        "or {'prompt', 'completion'} or {'text'}",
    ),
    "dpo": Stage(
        "DPOConfig",
        "DPOTrainer",
        dpo_row,
        "{'prompt', 'chosen', 'rejected'} (all message lists, or all strings)",
    ),
}


def get_stage(name: str) -> Stage:
    try:
        return STAGES[name]
    except KeyError:
        raise HarnessError(f"unknown training stage {name!r}; known: {', '.join(STAGES)}") from None
