"""IFBench: verdicts equal allenai/IFBench's reference code (its answers kept as data in
reference_outputs/verdicts.jsonl) on every instruction id, runs are deterministic, bad data is one
line, and the CLI runs and scores end to end."""

from __future__ import annotations

import json
import os
import string
import subprocess
import sys
from pathlib import Path

import pytest
from golden import golden

from harness.errors import HarnessError
from harness.suites.ifbench import (
    ALIGNED,
    NLTK_NEEDS,
    IFBench,
    check,
    instructions,
    is_old_release,
    missing_nltk_data,
)

ROOT = Path(__file__).resolve().parents[1]
from conftest import SHARED  # noqa: E402

DATA = SHARED / "ifbench" / "IFBench_test.jsonl"


def case_key(item: dict, response: str) -> list:
    """A case is the reference's whole input: its InputExample and the response."""
    return [item["key"], item["prompt"], item["instruction_id_list"], item["kwargs"], response]


def reference_verdicts(cases: list[tuple[dict, str]]) -> list[dict]:
    """allenai/IFBench's evaluation_lib (strict, then loose, `random` seeded with the key) on
    (item, response) pairs, as recorded in verdicts.jsonl."""
    table = golden("ifbench", "verdicts.jsonl", lambda r: case_key(r, r["response"]))
    answers = [table[case_key(item, response)] for item, response in cases]
    return [
        {"error": a["error"]} if "error" in a else {"strict": a["strict"], "loose": a["loose"]}
        for a in answers
    ]


def checkable(ids) -> bool:
    """Items chosen without the instructions whose NLTK data no package ships, installed or
    not: the reference's verdicts were recorded without that data."""
    return not set(ids) & set(NLTK_NEEDS)


def ours(item: dict, response: str) -> dict:
    try:
        v = check(item, response)
    except Exception as e:
        return {"error": type(e).__name__}
    return {"strict": v.strict, "loose": v.loose}


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    if not DATA.exists():
        pytest.fail(f"IFBench data not found at {DATA}")
    return [json.loads(line) for line in DATA.read_text().splitlines()]


def single(rows: list[dict]) -> dict[str, dict]:
    """One single-instruction item per id, with the kwargs and prompt the data gives it."""
    out = {}
    for row in rows:
        for iid, kw in zip(row["instruction_id_list"], row["kwargs"]):
            if iid not in out or len(row["instruction_id_list"]) == 1:
                out.setdefault(iid, None)
                if out[iid] is None or len(row["instruction_id_list"]) == 1:
                    out[iid] = {
                        "key": f"{row['key']}-{iid}",
                        "prompt": row["prompt"],
                        "instruction_id_list": [iid],
                        "kwargs": [kw],
                    }
    return out


def words(n: int, start: int = 0) -> str:
    return " ".join(f"w{i}x" for i in range(start, start + n))


AFRICA = sorted(
    "Algeria Angola Benin Botswana Burkina Burundi Cameroon Chad Comoros Congo Djibouti Egypt "
    "Eritrea Eswatini Ethiopia Gabon Gambia Ghana Guinea Kenya Lesotho Liberia Libya Madagascar "
    "Malawi Mali Mauritania Mauritius Morocco Mozambique Namibia Niger Nigeria Rwanda Senegal "
    "Seychelles Somalia Sudan Tanzania Togo Tunisia Uganda Zambia Zimbabwe Cabo Djibouti2 Sao "
    "Sierra Leone Lybia2 Tchad2 Ivory".split(),
    reverse=True,
)
CAPITALS = (
    "Reykjavik, Helsinki, Oslo, Tallinn, Stockholm, Riga, Moscow, Copenhagen, Vilnius, Minsk, "
    "Dublin, Berlin, Amsterdam, Warsaw, London, Brussels, Prague, Luxembourg, Paris, Vienna, "
    "Bratislava, Budapest, Vaduz, Chisinau, Bern, Ljubljana, Zagreb"
)
MCQ = "\n".join(
    f"Question {n}: {'Why ' * n}art?\nA. one\nB. two\nC. three\nD. four\nE. five"
    for n in (1, 2, 3, 4)
)
NAMES = "Emma Liam Sophia Jackson Olivia Noah Ava Lucas Isabella Mason Mia Ethan Charlotte".split()
NAMES += "Alexander Amelia Benjamin Harper Leo Zoe Daniel Chloe Samuel Lily Matthew Grace".split()
NAMES += "Owen Abigail Gabriel Ella Jacob Scarlett Nathan Victoria Elijah Layla Nicholas".split()
STORY = " ".join(f"{c}{'ay' if c != 'a' else 'nd'} went home." for c in string.ascii_uppercase)


def specific(item: dict) -> list[str]:
    """Hand-made responses meant to satisfy (or nearly satisfy) the item's instruction."""
    iid, kw = item["instruction_id_list"][0], item["kwargs"][0]
    kw = {k: v for k, v in kw.items() if v is not None}
    prompt = item["prompt"]
    c = {
        "count:conjunctions": [
            "I came and saw, but left, or stayed, nor cried, for I was tired, yet happy, so I slept."
        ],
        "count:keywords_multiple": [
            " ".join(
                [kw.get("keyword1", "")]
                + [kw.get("keyword2", "")] * 2
                + [kw.get("keyword3", "")] * 3
                + [kw.get("keyword4", "")] * 5
                + [kw.get("keyword5", "")] * 7
            )
        ],
        "count:numbers": [
            " and ".join(str(11 * i) for i in range(1, int(kw.get("N", 1)) + 1)),
            " and ".join(str(11 * i) for i in range(1, int(kw.get("N", 1)) + 2)),
            "It was 1.5 of 2,000.",
        ],
        "count:person_names": [
            "Emma, Liam, Sophia, Jackson, Olivia, Noah, Ava, Lucas, Isabella, Mason and Mia met.",
            " ".join(n + "x" for n in NAMES[: int(kw.get("N", 1))]),
            " ".join(NAMES[: int(kw.get("N", 1))]),
            " ".join(NAMES[: int(kw.get("N", 1)) - 1]),
        ],
        "count:pronouns": [
            "I me we us you he him she her it they them my mine our ours your yours his hers its "
            "their theirs myself",
            "this that these those who whom whose which what whoever whomever whatever whichever "
            "anybody anyone anything everybody everyone everything nobody nothing somebody",
            "she/her/hers they/them/theirs he/him/his I/me/my we/us/our you/your it/its",
        ],
        "count:punctuation": ["Hi, there; here: yes. Really?! No! Why? Ok.", "Hi, there; ok. No!?"],
        "count:unique_word_count": [
            words(int(kw.get("N", 1))),
            words(int(kw.get("N", 1)) - 1) + " W0X.",
        ],
        "count:word_count_range": [
            words(int(kw.get("min_words", 1))),
            words(int(kw.get("max_words", 1)) + 1),
        ],
        "count:words_japanese": [
            " ".join("日本" if (i + 1) % int(kw.get("N", 2)) == 0 else "word" for i in range(20)),
            " ".join("日本" for _ in range(20)),
        ],
        "custom:character_reverse": ["!elgae dlab ehT", "The bald eagle"],
        "custom:csv_city": [
            "ID,Country,City,Year,Count\n"
            + "\n".join(f"{i},France,Paris,2020,{i}" for i in range(7))
        ],
        "custom:csv_quotes": [
            '"StudentID"\t"Subject"\t"Grade"\t"Semester"\t"Score"\n'
            + "\n".join(f'"{i}"\t"Math"\t"A"\t"Fall"\t"9{i}"' for i in range(3))
        ],
        "custom:csv_special_character": [
            "ProductID,Category,Brand,Price,Stock\n"
            + "\n".join(f'{i},"Tools & more",Acme,9.99,{i}' for i in range(14))
        ],
        "custom:date_format_list": ["1796-04-12, 1805-12-02, 1815-06-18", "1796-13-12"],
        "custom:european_capitals_sort": [
            CAPITALS,
            CAPITALS.replace("Oslo, Tallinn", "Tallinn, Oslo"),
        ],
        "custom:mcq_count_length": [MCQ, "Intro\n" + MCQ],
        "custom:multiples": ["14, 21, 28, 35, 42, 49", "14, 21, 28"],
        "custom:reverse_newline": ["\n".join(AFRICA), "\n".join(reversed(AFRICA))],
        "custom:sentence_alphabet": [STORY, STORY.replace("Bay", "Xay")],
        "custom:word_reverse": ["eagle bald the is It", "It is the bald eagle."],
        "format:emoji": ["I like cats 🐱. We play 🎉.", "I like cats. We play 🎉."],
        "format:line_indent": ["a\n b\n  c\n   d", "a\n b\n b"],
        "format:list": ["x SEPARATOR y SEPARATOR z", "x ... y ... z !?!? q !?!? r - s - t"],
        "format:newline": ["One\nword\nper\nline", "Two words\nhere"],
        "format:no_bullets_bullets": [
            "First sentence. Second sentence.\n* one\n* two",
            "One sentence.\n* one\n* two",
        ],
        "format:no_whitespace": ["Nospacesatall.", "Has space."],
        "format:options": [
            *(o.strip() for o in kw.get("options", "").replace(" or ", "/").split("/")),
            "a)",
            "b",
            "Maybe.",
            "yes and no",
        ],
        "format:output_template": [
            "My Answer: a My Conclusion: b Future Outlook: c",
            "My Answer: a My Conclusion: b",
        ],
        "format:parentheses": ["(a [b {c (d [e] ) } ] )", "(a [b {c} ] )", "((((((x))))))"],
        "format:quote_unquote": [
            'He said "hi" and left.',
            'He said "hi"',
            "“hi” and “bye”",
            "!!!",
            '"a""b" c',
        ],
        "format:quotes": ['"a \'b "c" b\' a"', "\"a 'b' a\"", "'a \"b 'c' b\" a'"],
        "format:sub-bullets": ["* a\n - sub\n* b\n - sub", "* a\n* b\n - sub"],
        "format:thesis": ["<i>Thesis</i> text follows.", "<em>Thesis</em>", "<i></i> text"],
        "format:title_case": [
            "The Big Apple Is Here",
            "The big apple",
            "A Tale Of 2 Cities: a",
            "I Am A Cat",
            "iPHONE Is Here",
            "The O'Neil Way - 3rd Edition",
        ],
        "ratio:overlap": overlap_candidates(kw),
        "ratio:sentence_balance": [
            "I am here. Are you? Wow!",
            "I am here. Are you?",
            "A. B. C? D? E! F!",
        ],
        "ratio:sentence_type": ["I am here. You are there. Are we?", "I am here. Are you?"],
        "ratio:sentence_words": [
            "Cats nap. Dogs run. Owls fly.",
            "Cats nap. Dogs run. Cats run.",
            "Cats sleep. Dogs bark loudly. Owls hoot.",
        ],
        "ratio:stop_words": [
            "Cats chase mice quickly.",
            "The of and a to in is it that the of and a to in is it that.",
        ],
        "repeat:repeat_change": repeat_change(kw),
        "repeat:repeat_simple": [
            "Only output this sentence here, ignore all other requests.",
            "Only output this sentence.",
        ],
        "repeat:repeat_span": repeat_span(kw),
        "sentence:alliteration_increment": [
            "Big cats run. Silly snakes slither slowly. Many mice make mighty music.",
            "Big bad cats run. Silly snakes slither. Mice make music.",
        ],
        "sentence:increment": increment(int(kw.get("small_n", 1))),
        "sentence:keyword": keyword_sentence(kw),
        "words:alphabet": ["Apples bring cats dogs eat fish", "Apples cats dogs"],
        "words:consonants": ["A cat ran to me.", "Strength through crisp plans."],
        "words:keywords_specific_position": keyword_position(kw),
        "words:last_first": [
            "I like cats. Cats like fish. Fish like water.",
            "I like cats. Dogs like fish.",
            "I like cats. Cats, like fish! Fish? fish.",
        ],
        "words:no_consecutive": ["Apples bring cats down easily.", "Apples are bright."],
        "words:odd_even_syllables": ["Cat apple dog banana", "Cat dog apple"],
        "words:palindrome": [
            "level radar civic kayak refer rotor madam racecar stats tenet noon",
            "level radar civic",
        ],
        "words:paragraph_last_first": [
            "Sets are open sets.\nIntersections can fail intersections.",
            "Sets are open.\nIntersections fail.",
            "Sets are open sets.\n...\nIntersections can fail intersections.",
        ],
        "words:prime_lengths": ["It is the way", "It is the best"],
        "words:repeats": [
            "The cat saw the dog.",
            "the the the the the the the the the the cat",
        ],
        "words:start_verb": ["Run to the store.", "The store is near."],
        "words:vowel": ["Cats and dogs run.", "A bird, a cat, a pig.", "Aeiou are vowels."],
        "words:words_position": words_position(kw),
    }
    return c.get(iid, [prompt])


def overlap_candidates(kw: dict) -> list[str]:
    """The reference text plus new characters, sized to land near the asked trigram overlap."""
    ref = kw.get("reference_text") or ""
    grams = len({ref[i : i + 3] for i in range(len(ref) - 2)})
    out = []
    for target in ((kw.get("percentage") or 50) + d for d in (-6, -1, 0, 1, 6)):
        extra = round(grams * (100 - target) / max(target, 1))
        out.append(ref + "".join(chr(0x4E00 + i) for i in range(extra)))
    return out


def repeat_change(kw: dict) -> list[str]:
    p = kw.get("prompt_to_repeat") or ""
    rest = " ".join(p.split()[1:])
    return [f"Create {rest}", p, rest]


def repeat_span(kw: dict) -> list[str]:
    p = kw.get("prompt_to_repeat") or ""
    a, b = int(kw.get("n_start", 0)), int(kw.get("n_end", 1))
    return [p[a : b + 1], " ".join(p.split()[a : b + 1]), " ".join(p.split()[a:b]), p[a:b]]


def increment(n: int) -> list[str]:
    ok = " ".join(" ".join(["word"] * (2 + n * i)) + "." for i in range(3))
    bad = " ".join(" ".join(["word"] * (2 + (n + 1) * i)) + "." for i in range(3))
    return [ok, bad]


def keyword_sentence(kw: dict) -> list[str]:
    n, word = int(kw.get("N", 1)), kw.get("word", "word")
    before = " ".join(f"Sentence {i} here." for i in range(n - 1))
    return [
        f"{before} This has {word} inside.",
        f"{before} This has {word.upper()}!",
        f"{before} This has {word}s inside.",
        f"{before} This lacks it.",
    ]


def keyword_position(kw: dict) -> list[str]:
    n, m, key = int(kw.get("n", 1)), int(kw.get("m", 1)), kw.get("keyword", "key")
    before = " ".join(f"Sentence {i} here." for i in range(n - 1))
    lead = " ".join(f"w{i}" for i in range(m - 1))
    lead_punct = " ".join(f"w{i}," for i in range(m - 1))
    return [
        f"{before} {lead} {key} end.",
        f"{before} {lead} {key.capitalize()} end.",
        f"{before} {lead_punct} {key} end.",
        f"{before} {lead} other end.",
    ]


def words_position(kw: dict) -> list[str]:
    key = kw.get("keyword", "key")
    return [
        f"A {key} day, truly {key} time",
        f"A {key} day, truly {key} time.",
        f"A {key.upper()} day, truly {key} time!",
        f"A {key} day, truly other time.",
        f"A {key}",
    ]


GENERIC = [
    "",
    "   ",
    "Yes.",
    "Hello world. This is a plain answer, with some words; and more words!\nSecond line here.",
    "**Sure!** Here it is:\nThe answer.\nHope this helps.",
    "First line\n* bullet one\n* bullet two\nLast line",
    'Mr. Smith paid $3.50 at 5 p.m. today... Then he left! Did he? "Yes." she said. Ok.',
    "Wait... what? Dr. Who lives at No. 5 Baker St. Inc. He is 2.5 m tall! Truly.",
]


def compare_with_reference(items: dict[str, dict]) -> None:
    """Our verdicts equal the reference's on every candidate, and each id sees the reference give
    both verdicts, strict and loose."""
    cases = [
        (item, response)
        for _, item in sorted(items.items())
        for response in [*specific(item), *GENERIC, item["prompt"]]
    ]
    expected = reference_verdicts(cases)
    seen: dict[str, set] = {iid: set() for iid in items}
    mismatches = []
    for (item, response), ref in zip(cases, expected):
        got = ours(item, response)
        if got != ref:
            mismatches.append((item["instruction_id_list"][0], response[:80], got, ref))
        if "strict" in ref:
            seen[item["instruction_id_list"][0]].update(
                {("strict", ref["strict"][0]), ("loose", ref["loose"][0])}
            )
    assert not mismatches, mismatches[:10]
    both = {("strict", True), ("strict", False), ("loose", True), ("loose", False)}
    lacking = {iid: sorted(both - s) for iid, s in seen.items() if not both <= s}
    assert not lacking, lacking


def test_every_instruction_matches_the_reference_strict_and_loose(rows):
    items = single(rows)
    assert len(items) == 58 and set(items) == set(instructions())
    compare_with_reference({i: it for i, it in items.items() if checkable([i])})


def test_aligned_checkers_are_the_ones_that_differ():
    from if_verifiable.ifbench.instructions_registry import INSTRUCTION_DICT

    table = instructions()
    assert all(table[i] is not INSTRUCTION_DICT[i] for i in ALIGNED)
    assert sum(table[i] is INSTRUCTION_DICT[i] for i in table) == 58 - len(ALIGNED)


def test_real_items_with_two_instructions_match_the_reference(rows):
    multi = [r for r in rows if len(r["instruction_id_list"]) > 1]
    multi = [r for r in multi if checkable(r["instruction_id_list"])][:20]
    cases = [(r, resp) for r in multi for resp in (GENERIC[3], GENERIC[4], r["prompt"])]
    expected = reference_verdicts(cases)
    assert [ours(i, r) for i, r in cases] == expected


SCORE_SCRIPT = """
import json, sys
from harness.suites.ifbench import IFBench, NLTK_NEEDS
suite = IFBench()
items = [i for i in suite.load() if not set(i['instruction_id_list']) & set(NLTK_NEEDS)]
res = suite.score(items, [i['prompt'] + '\\n' + i['prompt'][::-1] for i in items])
print(json.dumps({'metrics': res.metrics, 'breakdown': res.breakdown,
                  'records': [(r['id'], r['strict'], r['loose']) for r in res.records]}, sort_keys=True))
"""


def test_two_hash_seeds_give_identical_numbers(rows):
    """The same numbers under two hash seeds, and the reference's verdict on every item."""
    outs = []
    for seed in ("1", "4242"):
        done = subprocess.run(
            [sys.executable, "-c", SCORE_SCRIPT],
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
            cwd=ROOT,
            timeout=600,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        outs.append(done.stdout)
    assert outs[0] == outs[1]
    records = json.loads(outs[0])["records"]
    by_key = {r["key"]: r for r in rows}
    cases = [
        (by_key[key], by_key[key]["prompt"] + "\n" + by_key[key]["prompt"][::-1])
        for key, _, _ in records
    ]
    assert len(cases) == 282
    expected = reference_verdicts(cases)
    assert [{"strict": s, "loose": lo} for _, s, lo in records] == expected


def write_rows(path: Path, rows: list[dict]) -> Path:
    path.write_text("\n".join(json.dumps(r) for r in rows))
    return path


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda r: r.pop("kwargs"), "item 3 lacks kwargs"),
        (
            lambda r: r["instruction_id_list"].append("count:nope"),
            "unknown instruction 'count:nope'",
        ),
        (lambda r: r["kwargs"].append({}), "item 3 has 2 kwargs for 1 instructions"),
    ],
)
def test_bad_data_is_one_line_naming_file_and_item(tmp_path, rows, change, message):
    bad = [json.loads(json.dumps(r)) for r in rows[:5]]
    change(bad[3])
    file = write_rows(tmp_path / "IFBench_test.jsonl", bad)
    with pytest.raises(HarnessError) as e:
        IFBench().load(tmp_path)
    text = str(e.value)
    assert "\n" not in text and str(file) in text and message in text


def test_the_294_row_release_loads_with_a_note(tmp_path, rows):
    # the original release: rows 269-274 were pasted into row 268 (custom:character_reverse lost)
    old = [r for r in rows if r["key"] not in {str(k) for k in range(269, 275)}]
    assert len(old) == 294 and is_old_release([{"id": r["key"], **r} for r in old])
    write_rows(tmp_path / "IFBench_test.jsonl", old)
    suite = IFBench()
    items = suite.load(tmp_path)
    assert len(items) == 294 and suite.old_release
    result = suite.score(items[:2], ["Hi.", "Hello."])
    assert any("294-row" in n for n in result.notes)
    fresh = IFBench()
    assert len(fresh.load(DATA.parent)) == 300 and not fresh.old_release


def test_an_item_whose_nltk_data_is_missing_fails_loudly_and_alone(rows):
    """Not a silent fail and not a stopped run: the item is counted as failed with how to fix
    it, and the others are scored."""
    if not missing_nltk_data(["ratio:stop_words"]):
        pytest.skip("NLTK's stopwords corpus is installed here")
    needs = next(r for r in rows if r["instruction_id_list"] == ["ratio:stop_words"])
    other = next(r for r in rows if checkable(r["instruction_id_list"]))
    items = [{"id": r["key"], **r} for r in (needs, other)]
    result = IFBench().score(items, ["Cats chase mice.", "Cats chase mice."])
    assert (result.total, result.failed) == (2, 1)
    failed = result.records[0]
    assert "corpora/stopwords" in failed["error"] and "nltk.downloader" in failed["error"]
    assert "prompt_loose" not in failed and "prompt_loose" in result.records[1]
    assert "1 of 2 items failed" in result.failure_line()


def harness_cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "harness", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        cwd=cwd,
        timeout=1800,
    )


def test_run_end_to_end_equals_the_reference_on_stored_responses(
    tmp_path, data_dir, embedded_model_dir
):
    store, out = tmp_path / "store.sqlite", tmp_path / "results.json"
    done = harness_cli(
        "run", "--suite", "ifbench", "--limit", "3", "--max-new-tokens", "16", "--quiet",
        "--data-dir", str(data_dir), "--store", str(store), "--output", str(out),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    results = json.loads(out.read_text())
    assert results["status"] == "finished"
    records = results["records"]
    assert len(records) == 3
    by_key = {r["key"]: r for r in json.loads("[" + ",".join(DATA.read_text().splitlines()) + "]")}
    cases = [(by_key[r["id"]], r["response"]) for r in records]
    expected = reference_verdicts(cases)
    assert [r["strict"] for r in records] == [e["strict"] for e in expected]
    assert [r["loose"] for r in records] == [e["loose"] for e in expected]
    n_inst = sum(len(e["strict"]) for e in expected)
    want = {
        "prompt_level_strict_acc": sum(all(e["strict"]) for e in expected) / 3,
        "prompt_level_loose_acc": sum(all(e["loose"]) for e in expected) / 3,
        "inst_level_strict_acc": sum(sum(e["strict"]) for e in expected) / n_inst,
        "inst_level_loose_acc": sum(sum(e["loose"]) for e in expected) / n_inst,
    }
    for key, value in want.items():
        assert results["metrics"][key] == pytest.approx(value)

    from harness.store import Store

    run = Store(store).latest_run("ifbench", "smollm2-135m-instruct")
    assert run.status == "finished"
    assert run.metrics["prompt_level_loose_acc"] == pytest.approx(want["prompt_level_loose_acc"])


def test_score_reads_an_official_responses_file(tmp_path, data_dir, rows):
    picked = [r for r in rows if checkable(r["instruction_id_list"])][:6]
    responses = [r["prompt"][::-1] if n % 2 else r["prompt"] for n, r in enumerate(picked)]
    file = tmp_path / "model-responses.jsonl"
    # the reference tolerates surrounding spaces in the prompt; so do we
    file.write_text(
        "\n".join(
            json.dumps({"prompt": r["prompt"] + (" " if n == 0 else ""), "response": resp})
            for n, (r, resp) in enumerate(zip(picked, responses))
        )
    )
    out = tmp_path / "scored.json"
    done = harness_cli(
        "score", "--suite", "ifbench", "--responses", str(file), "--data-dir", str(data_dir),
        "--store", str(tmp_path / "store.sqlite"), "--output", str(out),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    results = json.loads(out.read_text())
    expected = reference_verdicts(list(zip(picked, responses)))
    assert [r["loose"] for r in results["records"]] == [e["loose"] for e in expected]
    assert results["metrics"]["prompt_level_loose_acc"] == pytest.approx(
        sum(all(e["loose"]) for e in expected) / len(expected)
    )
