"""One evolution step: the rewriting prompt, cleaning the evolver's reply, spotting failures.

A failed evolution stops its chain. Reasons: call_error, degenerate_length (truncated, tiny or
huge), refused, copied (the instruction unchanged), echoed_prompt (the rewriting prompt parroted),
answered (the task answered, not rewritten), constraint_missing (a checkable operation's constraint
is absent, which would make its verdicts meaningless).
"""

from __future__ import annotations

import difflib
import re

from generation.taxonomy import Constraint, Operation, Taxonomy
from harness.backends import Completion

ECHO_NGRAM = 6  # this many words in a row from the rewriting prompt's own text is an echo

_LABEL = re.compile(
    r"^\s*(?:#+\s*)?(?:\*\*)?(?:here is |here's )?(?:the |a |my )?"
    r"(?:rewritten|new|evolved|revised|harder)(?: and more demanding)? instruction(?: is)?"
    r"(?:\*\*)?\s*#*\s*[:\-]?\s*",
    re.I,
)
_REFUSAL = re.compile(
    r"^\W*(?:i'?m sorry|i am sorry|sorry,|i cannot|i can'?t|i can not|as an ai|i am unable|"
    r"i'?m unable|i won'?t|i will not)",
    re.I,
)
_WORD = re.compile(r"[a-z0-9]+")


def evolve_prompt(
    taxonomy: Taxonomy, op: Operation, constraint: Constraint | None, text: str
) -> str:
    operation = op.prompt.format(constraint=constraint.description) if constraint else op.prompt
    return taxonomy.template.format(operation=operation, instruction=text)


def scaffold(taxonomy: Taxonomy, op: Operation) -> str:
    """The rewriting prompt's own words: neither the instruction nor the constraint."""
    operation = op.prompt.format(constraint="") if op.check else op.prompt
    return taxonomy.template.format(operation=operation, instruction="")


def clean(text: str) -> str:
    """Strip labels, fences and wrapping quotes that evolvers add around the instruction."""
    text = text.strip().strip("`").strip()
    text = _LABEL.sub("", text, count=1).strip()
    if len(text) > 1 and text[0] == text[-1] and text[0] in "\"'":
        text = text[1:-1].strip()
    return text


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def _ngrams(words: list[str], n: int) -> set[tuple[str, ...]]:
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


def _similar(a: str, b: str, threshold: float) -> bool:
    """difflib's ratio() >= threshold; its cheap upper bounds decide first where they can (the
    same answer: real_quick_ratio() >= quick_ratio() >= ratio())."""
    m = difflib.SequenceMatcher(None, a, b)
    return (
        m.real_quick_ratio() >= threshold
        and m.quick_ratio() >= threshold
        and m.ratio() >= threshold
    )


def failure(
    original: str,
    c: Completion,
    rewrite: str,
    op: Operation,
    constraint: Constraint | None,
    prompt_words: str = "",
) -> str | None:
    """Why this evolution failed, or None when the rewrite is usable.

    `prompt_words` is the rewriting prompt's scaffold; small evolvers often parrot it back.
    """
    if not c.ok:
        return "call_error"
    words, before = _words(rewrite), _words(original)
    if c.finish_reason == "length" or len(words) < 3 or len(words) > 8 * len(before) + 200:
        return "degenerate_length"
    if _REFUSAL.match(rewrite):
        return "refused"
    if words == before or _similar(original, rewrite, 0.97):
        return "copied"
    if _ngrams(words, ECHO_NGRAM) & _ngrams(_words(prompt_words), ECHO_NGRAM):
        return "echoed_prompt"
    if op.keeps_task:  # an answer shares few of the task's content words
        content = {w for w in before if len(w) >= 4}
        if content and len(content & set(words)) / len(content) < 0.5:
            return "answered"
    lowered = rewrite.lower()
    for alternatives in op.required_mentions(constraint):
        if not any(a in lowered for a in alternatives):
            return "constraint_missing"
    return None
