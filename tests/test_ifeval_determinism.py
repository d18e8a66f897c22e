"""IFEval scoring is the same on every run; the reference it follows is not.

Google's checkers (lm-eval's copy) draw a random letter for `keywords:letter_frequency` when the
data's letter is not a-z (key 1122 asks for "#", key 1129 for "!"), so the reference verdict for
those depends on the process's random state. We seed per prompt; these tests show the reference's
spread, that our verdict lies inside it, and that two CLI runs under different PYTHONHASHSEEDs
(fresh homes, sockets and nltk.download refused) write identical results.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from harness.errors import HarnessError
from harness.suites.ifeval import IFEval
from harness.suites.ifeval_rules import check, reference

ROOT = Path(__file__).resolve().parents[1]
HALF_ALPHABET = "abcdefghijklm" * 4  # 13 of the 26 letters appear 4 times, the rest never
GUARD = """
import runpy, socket, nltk
def refuse(*a, **k):
    raise RuntimeError("network or download attempted")
socket.socket.connect = refuse
nltk.download = refuse
runpy.run_module("harness", run_name="__main__", alter_sys=True)
"""


@pytest.fixture(scope="module")
def items(data_dir) -> list[dict]:
    return IFEval().load(data_dir)


def _responses(items: list[dict]) -> list[str]:
    """Each prompt answered with its own text, except the two random-letter prompts, whose
    responses make the verdict depend on the letter drawn."""
    out = []
    for it in items:
        if it["id"] == "1122":  # lowercase tweet, at least 4 of the letter
            out.append(HALF_ALPHABET)
        elif it["id"] == "1129":  # repeat the request, then at least 6 of the letter
            out.append(it["kwargs"][1]["prompt_to_repeat"] + " " + "nopqrstuvwxyz" * 6)
        else:
            out.append(it["prompt"])
    return out


def _reference_verdicts(item: dict, response: str, seeds: range) -> tuple[set, set]:
    """The verdicts lm-eval's reference code gives, called directly, under each random seed."""
    inp = reference.InputExample(
        key=item["key"],
        instruction_id_list=item["instruction_id_list"],
        prompt=item["prompt"],
        kwargs=item["kwargs"],
    )
    modes = (
        reference.test_instruction_following_strict,
        reference.test_instruction_following_loose,
    )
    seen: tuple[set, set] = (set(), set())
    state = random.getstate()
    try:
        for seed in seeds:
            random.seed(seed)
            for mode, verdicts in zip(modes, seen):
                verdicts.add(tuple(mode(inp, response).follow_instruction_list))
    finally:
        random.setstate(state)
    return seen


@pytest.mark.parametrize("key", ["1122", "1129"])
def test_reference_is_random_and_ours_is_one_of_its_verdicts(items, key):
    index = next(i for i, it in enumerate(items) if it["id"] == key)
    item, response = items[index], _responses(items)[index]
    assert item["instruction_id_list"][{"1122": 1, "1129": 0}[key]] == "keywords:letter_frequency"
    strict, loose = _reference_verdicts(item, response, range(20))
    assert len(strict) == 2 and len(loose) == 2  # the reference gives both verdicts
    ours = check(item, response)
    assert tuple(ours.strict) in strict and tuple(ours.loose) in loose
    assert check(item, response) == ours  # and ours is the same every call
    random.seed(12345)  # whatever the caller's random state
    assert check(item, response) == ours


def test_all_other_prompts_have_one_reference_verdict_and_it_is_ours(items):
    responses = _responses(items)
    for it, r in zip(items, responses):
        if it["id"] in ("1122", "1129"):
            continue
        strict, loose = _reference_verdicts(it, r, range(1))
        ours = check(it, r)
        assert strict == {tuple(ours.strict)} and loose == {tuple(ours.loose)}, it["id"]


def _write_official(path: Path, items: list[dict], responses: list[str]) -> None:
    with path.open("w", encoding="utf-8") as f:
        for it, r in zip(items, responses):
            f.write(json.dumps({"prompt": it["prompt"], "response": r}) + "\n")


def _score_cli(tmp_path: Path, responses: Path, hashseeds: list[str]) -> list[dict]:
    """`python -m harness score` once per hash seed, side by side, each with a fresh home."""
    procs = []
    for seed in hashseeds:
        home, out = tmp_path / f"home-{seed}", tmp_path / f"out-{seed}.json"
        env = {**os.environ, "ECD_HARNESS_HOME": str(home), "PYTHONHASHSEED": seed}
        env.pop("NLTK_DATA", None)
        args = ["score", "--suite", "ifeval", "--responses", str(responses), "--output", str(out)]
        cmd = [sys.executable, "-c", GUARD, *args, "--quiet"]
        procs.append((home, out, subprocess.Popen(cmd, cwd=ROOT, env=env, stderr=subprocess.PIPE)))
    results = []
    for home, out, proc in procs:
        _, stderr = proc.communicate(timeout=300)
        assert proc.returncode == 0, stderr.decode()[-3000:]
        assert (home / "nltk_data" / "tokenizers" / "punkt_tab" / "english").is_dir()
        results.append(json.loads(out.read_text()))
    return results


def test_two_cli_runs_with_different_hash_seeds_agree(tmp_path, items):
    responses = _responses(items)
    path = tmp_path / "responses.jsonl"
    _write_official(path, items, responses)
    first, second = _score_cli(tmp_path, path, ["1", "2"])
    assert len(first["records"]) == 541
    assert first["metrics"] == second["metrics"]
    assert first["records"] == second["records"]
    assert first["breakdown"] == second["breakdown"]
    # The runs agree with scoring in this process (another hash seed, another random state).
    here = IFEval().score(items, responses)
    assert {k: first["metrics"][k] for k in here.metrics} == here.metrics  # plus what it is over
    assert (first["metrics"]["n"], first["metrics"]["n_failed"]) == (541, 0)
    assert [r["strict"] for r in first["records"]] == [r["strict"] for r in here.records]
    assert [r["loose"] for r in first["records"]] == [r["loose"] for r in here.records]


def test_lm_eval_samples_score_like_the_official_format(tmp_path, items):
    responses = _responses(items)
    official = tmp_path / "responses.jsonl"
    _write_official(official, items, responses)
    samples = tmp_path / "samples_ifeval.jsonl"
    with samples.open("w", encoding="utf-8") as f:
        # lm-eval writes the HF row as "doc" (kwargs padded with None), one response per sample.
        for n, (it, r) in enumerate(reversed(list(zip(items, responses)))):
            doc = {
                "key": it["key"],
                "prompt": it["prompt"],
                "instruction_id_list": it["instruction_id_list"],
                "kwargs": [{**{"num_words": None}, **kw} for kw in it["kwargs"]],
            }
            f.write(
                json.dumps({"doc_id": n, "doc": doc, "resps": [[r]], "filtered_resps": [r]}) + "\n"
            )
    suite = IFEval()
    a_items, a_resp = suite.read_responses(official, items)
    b_items, b_resp = suite.read_responses(samples, items)
    assert len(b_items) == 541
    a, b = suite.score(a_items, a_resp), suite.score(b_items, b_resp)
    assert a.metrics == b.metrics
    by_id = {r["id"]: r for r in b.records}
    assert all(by_id[r["id"]] == r for r in a.records)


def test_key_2785_is_found_under_either_wording(tmp_path, items):
    """Google reworded key 2785 in 2024 ("at least one placeholder" -> "at least 3
    placeholders"); 2023 response files and the HF dataset carry the old wording."""
    (item,) = [it for it in items if it["id"] == "2785"]
    old = item["prompt"].replace("at least 3 placeholders", "at least one placeholder")
    assert old != item["prompt"]
    path = tmp_path / "responses.jsonl"
    response = "*a* *b* *c* [x] [y] [z]"
    _write_official(path, [{"prompt": old}, {"prompt": "Not an IFEval prompt."}], [response] * 2)
    with pytest.raises(HarnessError, match=r"responses\.jsonl:2: prompt is not an IFEval prompt"):
        IFEval().read_responses(path, items)
    _write_official(path, [{"prompt": old}], [response])
    chosen, responses = IFEval().read_responses(path, items)
    assert [it["id"] for it in chosen] == ["2785"] and responses == [response]
    assert IFEval().score(chosen, responses).records[0]["strict"] == [True, True]
