"""The judge seam: parsing as FastChat does, caching, retries, failures kept with reasons, usage."""

from __future__ import annotations

import pytest
from openai_server import FAST, OpenAIServer, judge_or_echo

from harness.backends import Completion, SamplingParams
from harness.errors import HarnessError
from harness.judges import ParseError, Rubric, make_judge
from harness.judges.parsers import fastchat_rating
from harness.store import Store

RUBRIC = Rubric("test-[[rating]]", SamplingParams(max_new_tokens=64), fastchat_rating)


def ask(text: str) -> list[dict]:
    return [
        {"role": "system", "content": "Rate it as [[rating]]."},
        {"role": "user", "content": text},
    ]


@pytest.mark.parametrize(
    "reply, value",
    [
        ("Good answer. Rating: [[8]]", 8.0),
        ("[[7.5]]", 7.5),
        ("I give it [6] overall", 6.0),  # FastChat's fallback pattern
        ("first [3], final verdict [[9]]", 9.0),  # [[x]] wins over an earlier [x]
        ("[[10]] and later [[2]]", 10.0),  # the first match, as re.search finds it
    ],
)
def test_fastchat_rating_follows_fastchat_patterns(reply, value):
    assert fastchat_rating(Completion(reply)) == {"value": value}


@pytest.mark.parametrize("reply", ["", "Rating: 8/10", "[[eight]]", "[[-1]]"])
def test_fastchat_rating_rejects_what_fastchat_scores_minus_one(reply):
    with pytest.raises(ParseError):
        fastchat_rating(Completion(reply))


@pytest.mark.parametrize("reply", ["[[11]]", "[[0]]", "[[99999999999999999999]]", "[10.5]"])
def test_a_rating_off_the_1_to_10_scale_is_a_failed_judgment(reply):
    """FastChat averages these (a recorded difference: README, MT-Bench); the scale's ends
    themselves are ratings."""
    with pytest.raises(ParseError, match="outside the rubric's 1-10 scale"):
        fastchat_rating(Completion(f"Rating: {reply}"))
    assert [fastchat_rating(Completion(r))["value"] for r in ("[[1]]", "[[10.0]]")] == [1.0, 10.0]


def unparseable_for_bad(body: dict) -> str | dict:
    if "BAD" in body["messages"][-1]["content"]:
        return "I refuse to give a number."
    return judge_or_echo(body)


def test_judge_under_faults_scores_or_records_every_item_and_caches(tmp_path):
    store = Store(tmp_path / "s.sqlite")
    prompts = [ask(f"question {i}" + (" BAD" if i % 7 == 0 else "")) for i in range(28)]
    faults = {"429": 0.1, "500": 0.1, "timeout": 0.04, "malformed": 0.05, "empty": 0.08}
    with OpenAIServer(unparseable_for_bad, faults=faults, hang=1.0, seed=3) as server:
        judge = make_judge("gpt-4", store, base_url=server.base_url, progress=False, **FAST)
        verdicts = judge.judge(prompts, RUBRIC)
        assert {"empty", "500"} <= set(server.outcomes), "the fault injection must have fired"
        bad = [v for p, v in zip(prompts, verdicts) if "BAD" in p[-1]["content"]]
        good = [v for p, v in zip(prompts, verdicts) if "BAD" not in p[-1]["content"]]
        # empty replies are transport faults: retried by the backend, never a verdict
        assert all(v.ok and 1 <= v.value <= 10 for v in good)
        # one verdict call per judgment, as FastChat: an unparseable reply fails at once
        assert all(not v.ok and v.error.startswith("unparseable") for v in bad)
        assert all("attempts" not in v.error for v in bad)
        assert all(v.output == "I refuse to give a number." for v in bad)
        usage = judge.metrics()
        assert usage["judge_failed"] == len(bad) and usage["judge_cached"] == 0
        ok_calls = server.outcomes["ok"]
        assert ok_calls == len(prompts), "each prompt answered once: no re-asking"
        assert usage["judge_prompt_tokens"] > 0 and usage["judge_cost_usd"] > 0  # gpt-4 prices

        statuses = store.db.execute("SELECT status, COUNT(*) FROM judgments GROUP BY status")
        assert dict(statuses.fetchall()) == {"ok": len(good), "failed": len(bad)}
        server.faults, calls = {}, server.calls  # the same endpoint, healthy now
        again = make_judge("gpt-4", store, base_url=server.base_url, progress=False, **FAST)
        repeat = again.judge(prompts, RUBRIC)
        assert server.calls - calls == len(bad), "a rerun asks only what failed"
        assert [v.value for v in repeat] == [v.value for v in verdicts]
        assert again.metrics()["judge_cached"] == len(good)


def test_another_endpoint_is_another_judge(tmp_path):
    """Two servers answering under one model name never share cached verdicts."""
    store = Store(tmp_path / "s.sqlite")
    values = []
    for rating in ("[[1]]", "[[9]]"):
        with OpenAIServer(lambda body, r=rating: f"Rating: {r}") as server:
            judge = make_judge("gpt-4", store, base_url=server.base_url, progress=False, **FAST)
            (v,) = judge.judge([ask("same prompt")], RUBRIC)
            values.append((v.value, server.calls))
    assert values == [(1.0, 1), (9.0, 1)]


def loopback_judge(server, tmp_path, **options):
    store = Store(tmp_path / "s.sqlite")
    return make_judge("judge/x", store, base_url=server.base_url, progress=False, **FAST, **options)


def test_reasking_unparseable_replies_is_opt_in(tmp_path):
    with OpenAIServer(unparseable_for_bad) as server:
        (v,) = loopback_judge(server, tmp_path, parse_retries=2).judge([ask("BAD")], RUBRIC)
        assert not v.ok and "after 3 attempts" in v.error and server.calls == 3


def test_reply_that_parses_on_a_second_ask_is_kept(tmp_path):
    seen: dict[str, int] = {}

    def flaky(body):
        text = body["messages"][-1]["content"]
        seen[text] = seen.get(text, 0) + 1
        return "no score yet" if seen[text] == 1 else "Rating: [[4]]"

    with OpenAIServer(flaky) as server:
        judge = loopback_judge(server, tmp_path, parse_retries=1)
        (v,) = judge.judge([ask("once")], RUBRIC)
        assert v.ok and v.value == 4.0 and server.calls == 2
        assert judge.metrics()["judge_cost_usd"] is None  # unknown model: no price


def test_transport_failure_is_reported_not_cached(tmp_path):
    store = Store(tmp_path / "s.sqlite")
    with OpenAIServer(judge_or_echo, faults={"500": 1.0}) as server:
        judge = make_judge(
            "judge/x",
            store,
            base_url=server.base_url,
            progress=False,
            backoff=0.001,
            timeout=0.5,
            max_retries=1,
        )
        (v,) = judge.judge([ask("q")], RUBRIC)
        assert not v.ok and "gave up after 2 attempts" in v.error
    assert store.count("judgments") == 0  # a rerun asks again


def test_missing_api_key_is_reported_before_any_call(tmp_path, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with pytest.raises(HarnessError, match="OPENAI_API_KEY is not set"):
        make_judge("gpt-4", Store(tmp_path / "s.sqlite"))


def test_a_judge_entrys_concurrency_holds_unless_given(tmp_path, monkeypatch):
    """`--judge-concurrency` unset is the judge registry entry's `backend_options`, else the
    backend's default (it was always 16, hiding the entry's)."""
    import yaml

    with OpenAIServer(judge_or_echo) as server:
        entry = {"source": "m", "backend": "openai", "group": "judge", "base_url": server.base_url}
        entry["backend_options"] = {"concurrency": 40}
        registry = tmp_path / "registry.yaml"
        registry.write_text(yaml.safe_dump({"models": {"judge-x": entry}}))
        monkeypatch.setenv("ECD_HARNESS_REGISTRY", str(registry))
        built = [
            make_judge(name, None, progress=False, **given).make_backend().concurrency
            for name, given in [
                ("judge-x", {}),
                ("judge-x", {"concurrency": 5}),
                ("m", {"base_url": server.base_url}),
            ]
        ]
    assert built == [40, 5, 16]
