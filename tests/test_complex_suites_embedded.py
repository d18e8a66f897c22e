"""FollowBench and InFoBench end to end on the embedded model, judged by a loopback server that
rejects most requests (401 is never retried): the failures are counted (exit 3, or 1 when nothing
could be scored), a rerun judges only those and generates nothing again (exit 0), and the run
lands on the leaderboard."""

from __future__ import annotations

import pytest
from openai_server import OpenAIServer
from test_followbench import judge_reply
from test_infobench import judge_or_echo, write_data

from harness import cli
from harness.store import Store
from harness.suites import get_suite

JUDGE = ["--judge", "judge/x", "--quiet", "--max-new-tokens", "8"]


def judge(body: dict) -> str:
    prompt = body["messages"][-1]["content"]
    return judge_reply(prompt) if "#System#" in prompt else judge_or_echo(body)


@pytest.mark.parametrize("suite", ["followbench", "infobench"])
def test_embedded_model_judged_with_faults_then_resumed(
    suite, tmp_path, monkeypatch, embedded_model_dir, capsys
):
    monkeypatch.setenv("OPENAI_API_KEY", "dummy-key")
    store = tmp_path / "s.sqlite"
    data = ["--data-dir", str(write_data(tmp_path / "ib"))] if suite == "infobench" else []
    # 512 new tokens, not the suites' 2048: the embedded model's answers these tests were written
    # with (the registry's setting before suites declared theirs), at a quarter of the time
    argv = ["run", "--suite", suite, "--limit", "3", "--max-new-tokens", "512", "--store"]
    argv += [str(store), *data, *JUDGE]
    with OpenAIServer(judge, faults={"401": 0.9}) as server:
        assert server.calls == 0
        assert cli.main([*argv, "--judge-base-url", server.base_url]) in (1, 3)
        assert server.calls > 0
    first = Store(store).runs(suite=suite, finished_only=False)[-1]
    assert first.status != "finished" and first.n_failed  # counted, never a silent zero
    generations = Store(store).count("generations")
    with OpenAIServer(judge) as server:
        assert cli.main([*argv, "--judge-base-url", server.base_url]) == 0, capsys.readouterr().err
    run = Store(store).latest_run(suite, "smollm2-135m-instruct")
    assert run.status == "finished" and run.n_failed == 0 and run.n_total == 3
    assert Store(store).count("generations") == generations  # the rerun generated nothing
    assert 0 <= run.metrics[get_suite(suite).headline.key] <= 1
    from leaderboards.__main__ import main as boards

    capsys.readouterr()
    assert boards(["show", "--suite", suite, "--store", str(store), "--no-published"]) == 0
    assert "smollm2-135m-instruct" in capsys.readouterr().out
