"""Judge prompts: FastChat's MT-Bench single-answer prompts and alpaca_eval's annotator configs.

Both are read from their sources (FastChat's judge_prompts.jsonl, the installed alpaca_eval
package's evaluators_configs) and filled exactly as the reference code fills them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from harness import data
from harness.backends import Conversation
from harness.errors import HarnessError

# FastChat gen_judgment.make_judge_single: prompt names by (reference-guided, multi-turn).
SINGLE_PROMPTS = {
    (False, False): "single-v1",
    (True, False): "single-math-v1",
    (False, True): "single-v1-multi-turn",
    (True, True): "single-math-v1-multi-turn",
}


def fastchat_single(
    prompt: dict,
    questions: list[str],
    answers: list[str],
    reference: list[str] | None,
    multi_turn: bool,
) -> tuple[Conversation, str]:
    """FastChat's create_conv for single grading: the messages and the user prompt."""
    refs = {}
    if reference is not None:
        refs["ref_answer_1"] = reference[0]
        if multi_turn:
            refs["ref_answer_2"] = reference[1]
    if multi_turn:
        user = prompt["prompt_template"].format(
            question_1=questions[0],
            question_2=questions[1],
            answer_1=answers[0],
            answer_2=answers[1],
            **refs,
        )
    else:
        user = prompt["prompt_template"].format(question=questions[0], answer=answers[0], **refs)
    messages = [
        {"role": "system", "content": prompt["system_prompt"]},
        {"role": "user", "content": user},
    ]
    return messages, user


# alpaca_eval decoders/openai.py `_openai_completion_helper`: the chat request is the config's
# completions_kwargs (model_name as model) plus max_tokens, temperature and top_p, whose default
# 1.0 is sent when the config sets none.
HELPER_TOP_P = 1.0
REPRODUCED_COMPLETIONS = {
    "model_name",
    "max_tokens",
    "temperature",
    "top_p",
    "logprobs",
    "top_logprobs",
}
REPRODUCED_PARSING = {"numerator_token", "denominator_tokens", "is_binarize"}


@dataclass(frozen=True)
class AnnotatorConfig:
    """One alpaca_eval pairwise annotator, as its configs.yaml describes it."""

    name: str
    template: str
    model: str
    max_tokens: int
    temperature: float
    top_p: float
    top_logprobs: int
    numerator_token: str
    denominator_tokens: tuple[str, ...]
    is_binarize: bool
    seed: int = 0  # alpaca_eval's PairwiseAnnotator seed, passed to each single annotator


def alpaca_annotator(name: str = "weighted_alpaca_eval_gpt4_turbo") -> AnnotatorConfig:
    """Read a logprob-parsed annotator's config from the installed alpaca_eval package."""
    root = data.package_file("alpaca-eval", "alpaca_eval/evaluators_configs")
    if root is None or not (root / name / "configs.yaml").is_file():
        raise HarnessError(
            f"alpaca_eval annotator {name!r} not found: `pip install alpaca-eval==0.6.6`"
        )
    config = yaml.safe_load((root / name / "configs.yaml").read_text())[name]
    if config.get("fn_completion_parser") != "logprob_parser":
        raise HarnessError(f"annotator {name!r} is not logprob-parsed; use a weighted_* annotator")
    kw, parse = config["completions_kwargs"], config["completion_parser_kwargs"]
    _check_reproducible(name, kw, parse)
    return AnnotatorConfig(
        name=name,
        template=Path(root / config["prompt_template"]).read_text(),
        model=kw["model_name"],
        max_tokens=int(kw["max_tokens"]),
        temperature=float(kw["temperature"]),
        top_p=float(kw.get("top_p", HELPER_TOP_P)),
        top_logprobs=int(kw["top_logprobs"]),
        numerator_token=parse["numerator_token"],
        denominator_tokens=tuple(parse["denominator_tokens"]),
        is_binarize=bool(parse.get("is_binarize", True)),
    )


def _check_reproducible(name: str, completions: dict, parser: dict) -> None:
    """Refuse an annotator whose request or parsing has settings the harness does not send or
    apply (logit_bias, the legacy completions API, a later token's log-probabilities...): its
    verdicts would not be alpaca_eval's. `requires_chatml: true` is the chat request we send."""
    chat = {"requires_chatml"} if completions.get("requires_chatml") is True else set()
    unsent = set(completions) - REPRODUCED_COMPLETIONS - chat
    extra = sorted(unsent) + sorted(set(parser) - REPRODUCED_PARSING)
    if extra:
        raise HarnessError(
            f"alpaca_eval annotator {name!r} uses {', '.join(extra)}, which the harness does not "
            "reproduce; use weighted_alpaca_eval_gpt4_turbo or another first-token annotator"
        )


def alpaca_messages(template: str, rows: list[dict]) -> list[Conversation]:
    """alpaca_eval's make_prompts (first-occurrence replacement) and prompt_to_chatml."""
    import pandas as pd
    from alpaca_eval.utils import make_prompts, prompt_to_chatml

    if not rows:
        return []
    prompts, _ = make_prompts(pd.DataFrame(rows), template)
    return [prompt_to_chatml(p) for p in prompts]
