"""Verdicts on responses: IFEval's rule checkers for checkable constraints, an LLM judge otherwise.

The rule checks go through harness.suites.ifeval_rules, the same offline, deterministic checkers
the IFEval suite scores with, so a stored verdict is exactly what IFEval would say.
"""

from __future__ import annotations

import json
import re

from generation.taxonomy import Constraint

JUDGE_PROMPT = """Decide whether the response follows every requirement of the instruction.
Reply with one word: YES or NO.

[Instruction]
{instruction}

[Response]
{response}

Does the response follow every requirement of the instruction (YES or NO)?"""

_VERDICT = re.compile(r"\b(YES|NO)\b", re.I)


def follows(key: str, instruction: str, response: str, constraints: list[Constraint]) -> list[bool]:
    """Strict IFEval verdict per constraint."""
    if not constraints:
        return []
    from harness.suites.ifeval_rules import check

    item = {
        "key": key,
        "prompt": instruction,
        "instruction_id_list": [c.instruction_id for c in constraints],
        "kwargs": [c.kwargs for c in constraints],
    }
    return check(item, response).strict


def judge_conversation(instruction: str, response: str) -> list[dict]:
    return [
        {"role": "user", "content": JUDGE_PROMPT.format(instruction=instruction, response=response)}
    ]


def parse_judge(text: str) -> bool | None:
    """YES -> True, NO -> False, anything else -> None (unparsed, counts as unverified)."""
    m = _VERDICT.search(text)
    return None if m is None else m.group(1).upper() == "YES"


def check_record(constraint: Constraint, round_: int, chosen: bool, rejected: bool | None) -> dict:
    """One check in a row's `verification.checks` (kwargs as JSON text: one Arrow type for all)."""
    return {
        "instruction_id": constraint.instruction_id,
        "kwargs": json.dumps(constraint.kwargs, sort_keys=True),
        "round": round_,
        "chosen": chosen,
        "rejected": rejected,
    }
