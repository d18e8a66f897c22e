"""AlpacaEval 2.0: the leaderboard's numbers from its annotations, the annotator's judging rules,
length control through alpaca_eval's own GLM, and a faulty judge end to end."""

from __future__ import annotations

import ast
import csv
import json
import math

import pytest
from df_gamed import write_df_gamed
from openai_server import OpenAIServer, judge_or_echo, run_judged_suite

from harness import cli
from harness.backends import Completion
from harness.judges.parsers import logprob_preference
from harness.store import Store
from harness.suites.alpaca_eval import AlpacaEval

MODELS = ("alpaca-7b", "claude-2.1", "gemma-7b-it")


@pytest.fixture(scope="module")
def suite(data_dir):
    s = AlpacaEval()
    s.items = s.load(data_dir)
    return s


@pytest.fixture(scope="module")
def leaderboard(data_dir):
    with open(data_dir / "alpaca_eval" / "weighted_alpaca_eval_gpt4_turbo_leaderboard.csv") as f:
        return {row[""]: row for row in csv.DictReader(f)}


def test_loads_the_805_instructions_with_gpt4_turbo_references(suite):
    assert len(suite.items) == 805
    assert {it["baseline"] for it in suite.items} == {"gpt4_1106_preview"}
    assert suite.default_judge == "gpt-4-1106-preview"


@pytest.mark.parametrize("model", MODELS)
def test_score_annotations_gives_the_leaderboard(model, suite, leaderboard, data_dir):
    path = data_dir / "alpaca_eval" / "examples" / model / "annotations.json"
    result = suite.score_verdicts(path, suite.items, None)
    row = leaderboard[model]
    for key in ("win_rate", "standard_error", "discrete_win_rate"):
        assert result.metrics[key] == pytest.approx(float(row[key]), abs=0.1), key
    assert result.metrics["avg_length"] == int(row["avg_length"])
    assert result.metrics["length_controlled_winrate"] is None  # df_gamed is not reachable here
    assert any("df_gamed.csv" in note and "--df-gamed" in note for note in result.notes)


def test_score_cli_writes_results(suite, data_dir, tmp_path, capsys):
    path = data_dir / "alpaca_eval" / "examples" / "claude-2.1" / "annotations.json"
    out = tmp_path / "results.json"
    argv = ["score", "--suite", "alpaca_eval", "--annotations", str(path), "--output", str(out)]
    assert cli.main(argv) == 0
    assert "win_rate                      15.73" in capsys.readouterr().out
    assert json.loads(out.read_text())["metrics"]["discrete_win_rate"] == pytest.approx(
        14.41, abs=0.01
    )


def test_output_order_and_logprob_parsing_reproduce_the_published_preferences(suite, data_dir):
    """For every leaderboard annotation, our order draw and parser give its preference exactly."""
    from alpaca_eval.utils import random_seeded_choice

    from harness.judges.templates import alpaca_annotator

    cfg = alpaca_annotator()
    checked = 0
    for model in MODELS:
        for row in json.loads(
            (data_dir / "alpaca_eval/examples" / model / "annotations.json").read_text()
        ):
            raw = row.get("raw_completion")
            try:
                raw = ast.literal_eval(raw) if isinstance(raw, str) else raw
                top = {
                    t["token"]: t["logprob"] for t in raw["logprobs"]["content"][0]["top_logprobs"]
                }
            except (ValueError, SyntaxError, TypeError, KeyError):
                continue  # a few published rows keep no completion
            v = logprob_preference(
                Completion("", top_logprobs=[top]),
                cfg.numerator_token,
                cfg.denominator_tokens,
                cfg.is_binarize,
            )["value"]
            switched = random_seeded_choice(
                seed="is_switched_outputs" + row["instruction"] + str(cfg.seed),
                choices=[False, True],
            )
            assert (3 - v if switched else v) == pytest.approx(row["preference"], abs=1e-6)
            checked += 1
    assert checked > 2400


def test_length_controlled_winrate_is_alpaca_evals_own(suite, data_dir, tmp_path, monkeypatch):
    from alpaca_eval.metrics import glm_winrate

    table = write_df_gamed(tmp_path / "df_gamed.csv")
    path = data_dir / "alpaca_eval" / "examples" / "claude-2.1" / "annotations.json"
    monkeypatch.setenv("ECD_HARNESS_DF_GAMED", str(table))
    ours = suite.score_verdicts(path, suite.items, None).metrics["length_controlled_winrate"]
    monkeypatch.setattr(glm_winrate, "hf_hub_download", lambda **_: str(table))
    expected = glm_winrate.get_length_controlled_winrate(
        json.loads(path.read_text()), save_weights_dir=None
    )["length_controlled_winrate"]
    assert ours == pytest.approx(expected, abs=1e-9)
    assert 0 < ours < 100 and ours != pytest.approx(15.7335, abs=0.5)


def make_responder(items):
    tie, refused = items[3], items[5]

    def respond(body):
        last = body["messages"][-1]["content"]
        if body["model"] == "loop-model" and last == tie["instruction"]:
            return tie["reference"]  # identical to the reference: a tie without a judge call
        if body.get("logprobs") and refused["instruction"] in last:
            return {"content": "Both", "top_logprobs": [{"Both": -0.1, "The": -2.5}]}
        return judge_or_echo(body)

    return respond


def test_end_to_end_with_faults_is_complete_faithful_and_resumable(suite, tmp_path):
    items = suite.items[:10]
    store = Store(tmp_path / "s.sqlite")
    faults = {"429": 0.1, "500": 0.05, "timeout": 0.03, "malformed": 0.05, "empty": 0.05}
    with OpenAIServer(make_responder(items), faults=faults, hang=1.0, seed=2) as server:
        _, result = run_judged_suite(suite, items, store, server)
        assert set(server.outcomes) - {"ok"}
        judge_calls = [b for b in server.requests if b["model"] == "judge/x"]
        asked = len(server.requests)
        _, rerun = run_judged_suite(suite, items, store, server)
        again = server.requests[asked:]
    records = {r["id"]: r for r in result.records}
    assert records[items[3]["id"]]["preference"] == 1.5
    refused = records[items[5]["id"]]
    assert refused["preference"] is None and "unparseable" in refused["error"]
    assert "'m'" in refused["error"]
    # a rerun generates nothing and asks the judge again only the failed judgment
    assert again and all(
        b["model"] == "judge/x" and items[5]["instruction"] in b["messages"][-1]["content"]
        for b in again
    )
    assert all(
        b["max_tokens"] == 1 and b["temperature"] == 1 and b["top_logprobs"] == 5
        for b in judge_calls
    )
    assert not any(items[3]["instruction"] in b["messages"][-1]["content"] for b in judge_calls)
    switches = set()
    for item in items[:3] + items[6:]:
        rec = records[item["id"]]
        body = next(
            b for b in judge_calls if f'"""{item["instruction"]}"""' in b["messages"][-1]["content"]
        )
        prompt = body["messages"][-1]["content"]
        model_first = prompt.index(rec["output"]) < prompt.index(rec["reference"])
        assert model_first == rec["switched"]
        switches.add(rec["switched"])
        top = judge_or_echo(body)["top_logprobs"][0]
        p_m = math.exp(top["m"]) / (math.exp(top["m"]) + math.exp(top["M"]))
        assert rec["preference"] == pytest.approx(1 + p_m if rec["switched"] else 2 - p_m)
    assert switches == {True, False}
    assert result.metrics["n_judged"] == 9
    assert rerun.metrics["win_rate"] == result.metrics["win_rate"]
    assert rerun.metrics["judge_cached"] == 8
    assert (result.total, result.failed) == (rerun.total, rerun.failed) == (10, 1)

    # alpaca_eval's files: export, then import gives the same numbers and outputs
    outputs, annotations = suite.export(tmp_path / "ae", items, result, "loop-model", "judge/x")
    reread = suite.score_verdicts(annotations, suite.items, None)
    for key in ("win_rate", "standard_error", "discrete_win_rate", "avg_length"):
        assert reread.metrics[key] == result.metrics[key]
    chosen, texts = suite.read_responses(outputs, suite.items)
    assert texts == [records[it["id"]]["output"] for it in chosen] and len(chosen) == 10


def test_cli_runs_all_suites_resumably_and_checks_the_judge_key_first(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with OpenAIServer(judge_or_echo) as server:
        base = [
            "run",
            "--model",
            "loop/back",
            "--backend",
            "openai",
            "--base-url",
            server.base_url,
            "--limit",
            "2",
            "--store",
            str(tmp_path / "s.sqlite"),
            "--quiet",
        ]
        assert cli.main([*base, "--suite", "mt_bench", "--judge", "gpt-4"]) == 2
        assert "OPENAI_API_KEY" in capsys.readouterr().err and server.calls == 0

        judged = [
            *base,
            "--suite",
            "ifeval,mt_bench,alpaca_eval",
            "--judge",
            "judge/x",
            "--judge-base-url",
            server.base_url,
            "--reference-answers",  # judge/x has no reference answers of its own
            "gpt-4",
        ]
        out = tmp_path / "r.json"
        assert cli.main([*judged, "--output", str(out), "--export", str(tmp_path / "x")]) == 0
        calls = server.calls
        assert calls == 2 + 4 + 4 + 2 + 2  # ifeval, mt_bench turns + judgments, alpaca + judgments
        assert cli.main(judged) == 0
        assert server.calls == calls
        # the exported native files score again through `score --responses`, from the cache
        judge = ["--judge", "judge/x", "--judge-base-url", server.base_url, "--quiet"]
        judge += ["--reference-answers", "gpt-4", "--allow-partial"]  # 2 of 80 questions
        store = ["--store", str(tmp_path / "s.sqlite")]
        for suite, file in (
            ("mt_bench", "x/mt_bench/model_answer/loop--back.jsonl"),
            ("alpaca_eval", "x/alpaca_eval/model_outputs.json"),
        ):
            out = tmp_path / f"score.{suite}.json"
            argv = ["score", "--suite", suite, "--responses", str(tmp_path / file)]
            assert cli.main([*argv, *judge, *store, "--output", str(out)]) == 0, (
                capsys.readouterr().err
            )
            rescored = json.loads(out.read_text())["metrics"]
            run = json.loads((tmp_path / f"r.{suite}.json").read_text())["metrics"]
            headline = "mt_bench_score" if suite == "mt_bench" else "win_rate"
            assert rescored[headline] == run[headline] and rescored["judge_calls"] == 0
        assert server.calls == calls
    results = {
        s: json.loads((tmp_path / f"r.{s}.json").read_text())
        for s in ("ifeval", "mt_bench", "alpaca_eval")
    }
    assert results["mt_bench"]["config"]["judge"] == "judge/x"
    assert 1 <= results["mt_bench"]["metrics"]["mt_bench_score"] <= 10
    assert 0 <= results["alpaca_eval"]["metrics"]["win_rate"] <= 100
    assert (tmp_path / "x/mt_bench/model_judgment/judge--x_single.jsonl").is_file()
    assert (tmp_path / "x/alpaca_eval/weighted_alpaca_eval_gpt4_turbo/annotations.json").is_file()
