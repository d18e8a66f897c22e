"""Reply parsers: FastChat's `[[rating]]` and alpaca_eval's first-token log-probability preference."""

from __future__ import annotations

import ast
import math
import re

from harness.backends import Completion
from harness.judges.base import ParseError

# FastChat llm_judge/common.py: one_score_pattern, then its backup.
RATING = re.compile(r"\[\[(\d+\.?\d*)\]\]")
RATING_BACKUP = re.compile(r"\[(\d+\.?\d*)\]")
SCALE = (1.0, 10.0)  # the rubric's: "rate the response on a scale of 1 to 10"
OFF_SCALE = "outside the rubric's 1-10 scale"


def on_scale(value: float) -> bool:
    return SCALE[0] <= value <= SCALE[1]


def fastchat_rating(c: Completion) -> dict:
    """FastChat's single-answer rule: the first `[[x]]`, else the first `[x]`, read with
    `ast.literal_eval`; no match is a failure (FastChat records it as score -1). One difference,
    on purpose: a rating off the 1-10 scale (`[[11]]`, `[[0]]`) is a failed judgment too, where
    FastChat averages it (one `[[99999999999999999999]]` would swamp a model's mean)."""
    match = RATING.search(c.text) or RATING_BACKUP.search(c.text)
    if not match:
        snippet = c.text[-80:].replace("\n", " ") if c.text else "empty reply"
        raise ParseError(f"no [[rating]] in reply ({snippet!r})")
    value = _literal_rating(match.group(0), match.group(1))
    if not on_scale(value):
        raise ParseError(f"rating {match.group(0)[:40]!r} is {OFF_SCALE}")
    return {"value": value}


def _literal_rating(found: str, digits: str) -> float:
    """`ast.literal_eval` as FastChat reads a rating, but what it cannot read (`08`: leading zero;
    over 4300 digits) or reads as infinite is a failed judgment, not an exception: FastChat's
    judge thread would crash on the first, and no mean survives the second."""
    try:
        value = float(ast.literal_eval(digits))
    except (SyntaxError, ValueError) as e:
        raise ParseError(f"rating {found[:40]!r} is not a number: {str(e)[:80]}") from None
    if not math.isfinite(value):
        raise ParseError(f"rating {found[:40]!r} is not a finite number")
    return value


def logprob_preference(
    c: Completion, numerator_token: str, denominator_tokens: tuple[str, ...], is_binarize: bool
) -> dict:
    """alpaca_eval's `logprob_parser` on the first generated token's top log-probabilities:
    2 - P(numerator) when not binarized, in [1, 2]."""
    from alpaca_eval.completion_parsers import logprob_parser

    if not c.top_logprobs:
        raise ParseError("reply has no top_logprobs (does the endpoint support logprobs?)")
    top = c.top_logprobs[0]
    content = [{"top_logprobs": [{"token": t, "logprob": lp} for t, lp in top.items()]}]
    (value,) = logprob_parser(
        {"logprobs": {"content": content}},
        numerator_token=numerator_token,
        denominator_tokens=list(denominator_tokens),
        is_binarize=is_binarize,
        log_prob_index=0,
    )
    if value is None or math.isnan(value):
        raise ParseError(
            f"none of {list(dict.fromkeys([numerator_token, *denominator_tokens]))} in the first "
            f"token's top log-probabilities {sorted(top)}"
        )
    return {"value": float(value), "top_logprobs": top}
