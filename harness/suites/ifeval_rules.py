"""IFEval verdicts from lm-eval's copy of Google's instruction checkers, made deterministic.

The reference checkers draw random values in two places: a checker whose argument is missing or
invalid (e.g. `keywords:letter_frequency` with letter "#") picks one with the `random` module, and
`language:response_language` calls `langdetect`, whose detector is randomised. We seed both per
prompt: `random.seed("ifeval:<key>")` before each prompt's checks and `DetectorFactory.seed = 0`.
Every verdict is still one the reference can produce, and it is the same on every run and under
every PYTHONHASHSEED.

The checkers count sentences, words and capitalised words with NLTK. The reference scores were made
with nltk 3.8/3.9; nltk 3.10 counts differently on ordinary model output (curly quotes, em dashes,
emoji, a leading apostrophe), so we give the checkers the 3.8/3.9 counting whatever nltk is installed.

Part of the base layer's public surface (ARCHITECTURE.md): ECD generation verifies and describes
constraints with these very checkers, so a stored verdict is what IFEval would say. Public:
`check`, `Verdict`, `INSTRUCTIONS`, `CONFLICTS` and `reference` (lm-eval's module).
"""

from __future__ import annotations

import random
import re
import types

from nltk.tokenize.destructive import NLTKWordTokenizer

from harness.suites.punkt_offline import as_re, install_punkt, sentence_tokenizer
from harness.suites.verifiable import Verdict

install_punkt()

import langdetect  # noqa: E402
from lm_eval.tasks.ifeval import instructions_util  # noqa: E402
from lm_eval.tasks.ifeval import utils as reference  # noqa: E402

langdetect.DetectorFactory.seed = 0

INSTRUCTIONS = reference.instructions_registry.INSTRUCTION_DICT  # instruction id -> checker class
CONFLICTS = reference.instructions_registry.INSTRUCTION_CONFLICTS  # id -> ids it can't go with


def _treebank_rules(rules: list) -> list:
    """nltk 3.10's Treebank rules as nltk 3.8/3.9 had them (`re` engine, old apostrophe rule).

    nltk 3.10 added en/em dash splitting ("NOT—EVER" became two capitalised words, not one) and
    splits a leading apostrophe from any word ("'TIS" no longer yields the token "'T").
    """
    kept = []
    for pattern, repl in rules:
        if pattern.pattern == r"[\u2012-\u2015]":
            continue
        if pattern.pattern.startswith(r"(?i)(?<!\w)(\')"):
            kept.append((re.compile(r"(?i)(\')(?!re|ve|ll|m|t|s|d|n)(\w)\b", re.U), r"\1 \2"))
            continue
        kept.append((as_re(pattern), repl))
    return kept


class _ReferenceTreebank(NLTKWordTokenizer):
    STARTING_QUOTES = _treebank_rules(NLTKWordTokenizer.STARTING_QUOTES)
    ENDING_QUOTES = _treebank_rules(NLTKWordTokenizer.ENDING_QUOTES)
    PUNCTUATION = _treebank_rules(NLTKWordTokenizer.PUNCTUATION)
    PARENS_BRACKETS = _treebank_rules([NLTKWordTokenizer.PARENS_BRACKETS])[0]
    DOUBLE_DASHES = _treebank_rules([NLTKWordTokenizer.DOUBLE_DASHES])[0]


_treebank = _ReferenceTreebank()


def word_tokenize(text: str) -> list[str]:
    """`nltk.word_tokenize` as nltk 3.8/3.9 tokenized (capital_word_frequency counts these)."""
    return [t for s in sentence_tokenizer().tokenize(text) for t in _treebank.tokenize(s)]


def count_words(text: str) -> int:
    """`instructions_util.count_words` with `re`'s \\w (nltk 3.10's `regex` \\w skips "¾" and
    counts emoji joiners)."""
    return len(re.findall(r"\w+", text))


# The checkers reach NLTK only through these names of instructions_util.
instructions_util._get_sentence_tokenizer = sentence_tokenizer
instructions_util.count_words = count_words
instructions_util.nltk = types.SimpleNamespace(word_tokenize=word_tokenize)


def check(item: dict, response: str) -> Verdict:
    """Strict and loose verdicts for one prompt, one per instruction."""
    inp = reference.InputExample(
        key=item["key"],
        instruction_id_list=item["instruction_id_list"],
        prompt=item["prompt"],
        kwargs=item["kwargs"],
    )
    state = random.getstate()
    try:
        random.seed(f"ifeval:{item['key']}")
        strict = reference.test_instruction_following_strict(inp, response)
        random.seed(f"ifeval:{item['key']}")
        loose = reference.test_instruction_following_loose(inp, response)
    finally:
        random.setstate(state)
    return Verdict(str(item["key"]), strict.follow_instruction_list, loose.follow_instruction_list)
