"""FollowBench against YJiangcm/FollowBench's own code, whose answers on these tests' inputs are kept
as data (shared/benchmarks/followbench/reference_outputs): judge requests
(acquire_discriminative_eval_input's prompts, llm_eval.get_eval's request), reply parsing
(paring_discriminative_generation), rule verdicts (rule_based_evaluation), HSR/SSR/CSL (eval.py's
CSVs), and the CLI run with faults, resume and kill."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
import zlib
from pathlib import Path

import pytest
from golden import canon, golden, rows
from openai_server import OpenAIServer, served_run

from harness import cli
from harness.errors import HarnessError
from harness.judges import ParseError, make_judge
from harness.store import Store
from harness.suites import get_suite
from harness.suites.followbench import (
    CATEGORIES,
    LEVELS,
    FollowBench,
    parse_judgment,
    rule_verdict,
)

JUDGED = ("content", "situation", "style", "format", "mixed")


def reference(name: str, key) -> object:
    """One of FollowBench's golden files, looked up by its inputs."""
    return golden("followbench", f"{name}.jsonl", key)


@pytest.fixture(scope="module")
def suite(data_dir):
    s = FollowBench()
    s.items = s.load(data_dir)
    return s


# -- responses and judge replies made up for the tests ---------------------------------------------

FORMAT_22 = "1. " + " ".join(["word"] * 22) + " here"
CRAFTED = {  # passes for some levels of each rule type, and near misses
    "cnn_dailymail": [
        "Harry Potter star turns eighteen. The young actor stays modest. He has starred in films.",
        "Harry Potter star turns eighteen. The lavish actor stays modest. He made films.",
        "Daniel Radcliffe gains access to a reported fortune. He says he will not be wasting it.",
    ],
    "xsum": [
        "Officials are planning an operation near the coast.",
        "Officials planned an operation near Newton Stewart.",
        "Officials are planning. Again.",
    ],
    "samsum": [
        "Tom will bring the stuff tomorrow.",
        "Tom will stop procrastinating and bring the stuff tomorrow.",
        "Tom, will bring the stuff tomorrow.",
    ],
    "gigaword": [
        "police arrest eight men in city raid today",
        "police arrest eight men on city bus today",
        "Police arrest eight men in city raid today",
    ],
    "arxiv": [
        "We show that sparse activations improve model efficiency.",
        "We show that sparse activations improve transformer efficiency.",
        "Sparse activations improve model efficiency.",
    ],
    "format": [
        "\n\n".join([FORMAT_22] * 3),
        "\n\n".join([FORMAT_22.replace("1. ", "")] * 3),
        "\n\n".join([FORMAT_22] * 3 + ["Those are suggestions"]),
        "One.\n\nTwo. Three. Four.\n\nFive.",
        "\n".join(
            f"**{k}. Growth:** Companies expand their reach through careful and steady planning "
            "today."
            for k in range(1, 6)
        ),
        "\n".join(f"**{k}. Growth:** Expand." for k in range(1, 6)),
        "**1. Trade:** Exports rise quickly. **2. Jobs:** More work.",
        "No markers at all in this speech.",
    ],
}
GENERIC = ["", "Nothing here.", "The answer is (A) on 01/01/2000 for $5.", "line one\nline two"]


def candidates(item: dict) -> list[str]:
    """Responses to check an item with: its target (and variants), crafted ones, generic ones."""
    target = item["target"]
    if item["method"] == "template":
        text = target.replace("{instruction}\n", "").replace("{{", "{").replace("}}", "}")
        return [
            text.replace("{answer}", "Legal Anywhere.com"),
            text.replace("{answer}", "two\nlines"),
            text.replace("{answer}", "x") + "\n",
            "Legal Anywhere.com",
            *GENERIC,
        ]
    source = "format" if item["method"] == "format" else item["source"]
    own = [target, target + "\n", target + " extra", f"So the answer is {target}."]
    if source == "WIKIEVENTS":
        lines = target.split("\n")
        own += [lines[0], "\n".join(lines[:2]), lines[0] + "\nnot an event"]
    if source == "CONLL2003":
        own += [str(x) for x in json.loads(target.replace("'", '"'))[:2]]
    return own + CRAFTED.get(source, []) + GENERIC


def response(item: dict) -> str:
    """One deterministic response per item: rule items get one of their candidates."""
    h = zlib.crc32(item["id"].encode())
    if item["method"] != "judge":
        options = candidates(item)
        return options[h % len(options)]
    return f"Answer to {item['id']}: {{braces}} and ```code```\nsecond line {h % 97}"


VERDICT_WORDS = ("YES", "NO", "YES", "PARTIAL", "MAYBE", "N/A", "UNKNOWN", "YES")


def judge_reply(prompt: str) -> str:
    """A judge reply that FollowBench's parser reads, varied in form, deterministic per prompt."""
    n = int(re.search(r"with (\d) additional constraint", prompt).group(1))
    h = zlib.crc32(prompt.encode())
    words = [VERDICT_WORDS[(h >> (3 * k)) % 8] for k in range(n)]
    if n == 1:
        words = [("YES", "NO")[h % 2]]
    listed = "[" + ", ".join(f"'{w}'" for w in words) + "]"
    form = (h >> 20) % 4
    if form == 0 and n == 1:
        return f"The answer satisfies it or not.\n{words[0]}"
    if form == 1:
        return f"1) The constraints are...\n2) Checking each.\n```\n{listed}\n```"
    if form == 2:
        return f"Analysis of the answer.\n\n{listed}  \n"
    return f"Constraint check:\n{listed}"


def loop_responder(body: dict) -> str:
    prompt = body["messages"][-1]["content"]
    if body["model"] != "loop/back" and "#System#" in prompt:
        return judge_reply(prompt)
    return "Reply: " + prompt[:80]


# -- (1) judge requests, (3) aggregation: one scoring of all 820 items, and the reference's ------


@pytest.fixture(scope="module")
def scored(suite, tmp_path_factory):
    """Our score of all 820 items with made-up responses, judged over loopback HTTP by a judge
    named as upstream's (gpt-4o-mini), with the requests the server saw."""
    responses = [response(it) for it in suite.items]
    with OpenAIServer(lambda body: judge_reply(body["messages"][-1]["content"])) as server:
        store = Store(tmp_path_factory.mktemp("fb") / "s.sqlite")
        judge = make_judge("gpt-4o-mini", store, server.base_url, progress=False)
        result = suite.score(suite.items, responses, judge)
    return result, server.requests, responses


def by_item(row: dict) -> list:
    return [row["id"], row["response"]]


def by_prompt(row: dict) -> list:
    return [row["prompt"], row["max_tokens"]]


def by_reply(row: dict) -> list:
    return [row["reply"], row["level"]]


@pytest.fixture(scope="module")
def reference_run(suite):
    """FollowBench's pipeline on the same responses and judge replies, as recorded: model outputs
    as api_output, acquire_discriminative_eval_input's prompts, the judge outputs, then eval.main's
    CSVs (used only when its 820 inputs are exactly ours)."""
    judge_prompts = reference("judge_prompts", by_item)
    prompts: dict[str, list[str]] = {c: [] for c in JUDGED}
    inputs = []
    for it in suite.items:
        answer, reply = response(it), None
        if it["method"] == "judge":
            prompt = judge_prompts[[it["id"], answer]]["prompt"]
            prompts[it["category"]].append(prompt)
            reply = judge_reply(prompt)
        row = {"id": it["id"], "category": it["category"], "level": it["level"]}
        inputs.append({**row, "response": answer, "judge_reply": reply})
    digest = hashlib.sha256(canon(inputs).encode()).hexdigest()
    results = rows("followbench", "eval_py_results.jsonl")
    if any(r["inputs_sha256"] != digest for r in results):
        recorded = {r["id"]: r for r in rows("followbench", "eval_py_inputs.jsonl")}
        changed = next((r for r in inputs if recorded.get(r["id"]) != r), inputs[0])
        pytest.fail(
            f"not in reference_outputs/followbench/eval_py_results.jsonl: eval.main's inputs "
            f"differ at {changed['id']}: the input changed; the reference answer is unknown",
            pytrace=False,
        )

    def table(name):
        (csv_rows,) = [r["rows"] for r in results if r["file"] == f"{name}.csv"]
        return dict(zip(csv_rows[0][1:], csv_rows[1][1:]))

    hsr = {c: table(f"{c}_hsr") for c in JUDGED}
    ssr = {c: table(f"{c}_ssr") for c in JUDGED}
    hsr["example"] = ssr["example"] = table("example_rule_based")
    csl = {c: table(f"{c}_csl")["CSL"] for c in CATEGORIES}
    return prompts, hsr, ssr, csl


def test_loads_the_820_items_and_scores_them_as_followbench_does(suite):
    items = suite.items
    assert len(items) == 820
    count = {c: sum(it["category"] == c for it in items) for c in CATEGORIES}
    assert count == {
        "content": 125,
        "situation": 110,
        "style": 150,
        "format": 150,
        "example": 200,
        "mixed": 85,
    }
    methods = {}
    for it in items:
        methods[it["method"]] = methods.get(it["method"], 0) + 1
    assert methods == {"judge": 470, "rule": 140, "format": 10, "template": 200}
    assert items[0]["id"] == "content:1:1" and items[-1]["id"] == "mixed:17:5"
    assert get_suite("followbench").headline.label == "FollowBench HSR"


def test_judge_requests_equal_followbenchs(suite, scored, reference_run):
    """Every judged item's prompt is acquire_discriminative_eval_input's, byte for byte, and the
    request body is the one llm_eval.get_eval sends (sent here to the loopback server)."""
    prompts = reference_run[0]
    _, requests, _ = scored
    expected = sorted(p for c in JUDGED for p in prompts[c])
    got = sorted(b["messages"][0]["content"] for b in requests)
    assert len(got) == len(expected) == 470
    assert got == expected
    assert all(len(b["messages"]) == 1 and b["messages"][0]["role"] == "user" for b in requests)
    ours = {b["messages"][0]["content"]: b for b in requests}
    sample = [prompts[c][k] for c in JUDGED for k in range(5)]  # levels 1-5 of each category
    get_eval = reference("get_eval_requests", by_prompt)
    for p in sample:
        sent = get_eval[[p, 1024]]  # get_eval(p, 1024, key) against a server replying judge_reply
        assert sent["returned"] == judge_reply(p)
        assert ours[p] == sent["body"]


def test_metrics_equal_followbench_eval_py(suite, scored, reference_run):
    """Per category and level HSR/SSR as eval.py's CSVs ("%.2f"), CSL as its round(x, 1), and
    the paper's aggregate (mean over the six categories per level, then over levels)."""
    result, _, _ = scored
    _, hsr, ssr, csl = reference_run
    assert (result.total, result.failed) == (820, 0)
    for c in CATEGORIES:
        for L in LEVELS:
            assert f"{100 * result.breakdown['hsr'][c][f'L{L}']:.2f}" == hsr[c][f"level {L}"]
            assert f"{100 * result.breakdown['ssr'][c][f'L{L}']:.2f}" == ssr[c][f"level {L}"]
        assert round(result.breakdown["csl"][c], 1) == float(csl[c])
    m = result.metrics
    for L in LEVELS:
        paper = sum(float(hsr[c][f"level {L}"]) for c in CATEGORIES) / 6
        assert 100 * m[f"hsr_l{L}"] == pytest.approx(paper, abs=0.006)
        paper = sum(float(ssr[c][f"level {L}"]) for c in CATEGORIES) / 6
        assert 100 * m[f"ssr_l{L}"] == pytest.approx(paper, abs=0.006)
    assert m["hsr_avg"] == pytest.approx(sum(m[f"hsr_l{L}"] for L in LEVELS) / 5)
    assert m["hsr_hard"] == pytest.approx((m["hsr_l4"] + m["hsr_l5"]) / 2)
    assert m["csl"] == pytest.approx(sum(result.breakdown["csl"].values()) / 6)
    assert 0 < m["hsr_avg"] < m["ssr_avg"] < 1  # the made-up verdicts pass and fail at each level
    # per-item contributions add up to the headline exactly (the bootstrap resamples this ratio)
    per_item = list(suite.per_item(result.records).values())
    assert len(per_item) == 820
    assert sum(n for n, _ in per_item) / sum(d for _, d in per_item) == pytest.approx(
        m["hsr_avg"], abs=1e-12
    )


# -- (2) rule verdicts ---------------------------------------------------------------------------


def test_rule_verdicts_equal_rule_based_evaluation(suite):
    """Every rule-checked item (350) on a bank of responses: its target and variants, crafted
    passes and near misses per source, generic text. Each rule type passes and fails somewhere."""
    verdicts = reference("rule_verdicts", by_item)  # rule_based_evaluation's, as recorded
    outcomes: dict[str, set[bool]] = {}
    checked = 0
    for it in suite.items:
        if it["method"] == "judge":
            continue
        kind = {"rule": it["source"], "format": f"format-{it['example_id']}"}.get(
            it["method"], it["method"]
        )
        for g in candidates(it):
            expected = verdicts[[it["id"], g]]["result"]
            assert rule_verdict(it, g) == expected, (it["id"], g)
            outcomes.setdefault(f"{kind}@L{it['level']}", set()).add(expected)
            outcomes.setdefault(kind, set()).add(expected)
            checked += 1
    assert checked > 3000
    kinds = {k for k in outcomes if "@" not in k}
    assert len(kinds) == 16  # 13 sources, format 22/30, the example templates
    assert all(outcomes[k] == {True, False} for k in kinds), outcomes
    for source in ("cnn_dailymail", "xsum", "samsum", "gigaword", "arxiv"):  # level ladders
        assert outcomes[f"{source}@L5"] == {True, False}, source


# -- judge replies -------------------------------------------------------------------------------

REPLIES = [
    ("YES", 1),
    ("The answer is fine.\n['NO']", 1),
    ("UNKNOWN", 1),  # 'NO' is inside 'UNKNOWN'
    ("['MAYBE']", 1),
    ("```\n['YES', 'NO']\n```", 2),
    ("['YES', 'YES', 'YES']  ", 3),
    ("Result: ['YES', 'PARTIAL', 'N/A', 'UNKNOWN', 'MAYBE']", 5),
    ('["YES", "YES", "NO", "YES"]', 4),
    ("['YES', 'NO']", 3),
    ("['YES', 'SOMEWHAT']", 2),
    ("['YES', 'NO']\nThat is all.", 2),
    ("[YES, NO]", 2),
    ("no list here", 2),
    ("['YES', 'NO'] and ['YES']", 2),
    ("", 1),
    ("```['YES', 'YES']```", 2),
    ("[['YES'], 'YES']", 2),
    ("['YES', 'NO'", 2),
]


@pytest.mark.parametrize(("reply", "level"), REPLIES)
def test_judge_replies_are_read_as_followbench_reads_them(reply, level):
    """paring_discriminative_generation's (hard, soft); its -1 is a failed judgment here."""
    expected = tuple(reference("parse_judgments", by_reply)[[reply, level]]["result"])
    if expected == (-1, -1):
        with pytest.raises(ParseError):
            parse_judgment(reply, level)
    else:
        hard, soft, _ = parse_judgment(reply, level)
        assert (hard, soft) == expected


def test_a_list_expression_is_not_executed():
    """Upstream eval()s the judge's list; we don't, so an expression is a failed judgment."""
    reply = "['YE' + 'S', 'YES']"
    assert reference("parse_judgments", by_reply)[[reply, 2]]["result"] == [1, 1]
    with pytest.raises(ParseError, match="not a Python list of literals"):
        parse_judgment(reply, 2)


# -- responses files -----------------------------------------------------------------------------


def test_reads_followbench_api_output_rows(suite, tmp_path):
    items = [it for it in suite.items if it["category"] == "style"][:7]
    rows = [
        {"prompt": it["instruction"], "choices": [{"message": {"content": f"r{k}"}}]}
        for k, it in enumerate(items)
    ]
    rows.append({"id": suite.items[0]["id"], "response": "by id"})
    path = tmp_path / "style_constraint.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    chosen, responses = suite.read_responses(path, suite.items)
    assert [it["id"] for it in chosen] == [it["id"] for it in items] + ["content:1:1"]
    assert responses == [f"r{k}" for k in range(7)] + ["by id"]
    path.write_text(json.dumps({"prompt": "not in FollowBench", "response": "x"}) + "\n")
    with pytest.raises(HarnessError, match=r"style_constraint.jsonl:1: not a FollowBench"):
        suite.read_responses(path, suite.items)


# -- (5) bad data --------------------------------------------------------------------------------


def _corrupt_content(rows):
    rows[7]["level"] = 3


@pytest.mark.parametrize(
    ("category", "corrupt", "message"),
    [
        (
            "format",
            lambda rows: rows[9].pop("target"),
            r"format_constraints.json: item format:2:3 ",
        ),
        ("content", _corrupt_content, r"content_constraints.json: item content:2:3 .*level 3 wher"),
        (
            "content",
            lambda rows: rows.__setitem__(
                next(i for i, r in enumerate(rows) if r["source"] == "CONLL2003" and r["level"]),
                {
                    **next(r for r in rows if r["source"] == "CONLL2003" and r["level"]),
                    "target": "[",
                },
            ),
            r"content_constraints.json: item content:\d+:1 .*not a Python literal list",
        ),
        ("example", lambda rows: rows[3].update(instruction=" "), r"item example:1:4 .*empty"),
        ("mixed", None, r"mixed_constraints.json: not valid JSON"),
    ],
    ids=["missing-field", "level-order", "conll-target", "empty-instruction", "not-json"],
)
def test_bad_data_is_one_line_naming_file_and_item(data_dir, tmp_path, category, corrupt, message):
    folder = tmp_path / "followbench"
    folder.mkdir()
    for c in CATEGORIES:
        text = (data_dir / "followbench" / f"{c}_constraints.json").read_text()
        if c == category:
            if corrupt is None:
                text = text[:-10]
            else:
                rows = json.loads(text)
                corrupt(rows)
                text = json.dumps(rows)
        (folder / f"{c}_constraints.json").write_text(text)
    with pytest.raises(HarnessError, match=message) as e:
        FollowBench().load(tmp_path)
    assert "\n" not in str(e.value) and str(folder) in str(e.value)


def test_bad_data_dir_through_the_cli(tmp_path, capsys):
    (tmp_path / "followbench").mkdir()
    argv = ["run", "--suite", "followbench", "--data-dir", str(tmp_path), "--model", "loop/back"]
    argv += ["--backend", "openai", "--base-url", "http://127.0.0.1:9/v1", "--quiet"]
    assert cli.main([*argv, "--store", str(tmp_path / "s.sqlite")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "lacks content_constraints.json" in err[0], err


# -- (4) the CLI end to end: faults, failed judgments, resume, kill -9 ---------------------------


def harness_cmd(server, store, output, limit, *extra):
    args = ("--limit", str(limit), "--output", str(output), *extra)
    return [sys.executable, "-m", "harness", *served_run(server, "followbench", store, *args)]


def cli_env():
    return {**os.environ, "OPENAI_API_KEY": "dummy-key"}


def count(store, table, where=""):
    with sqlite3.connect(store) as db:
        return db.execute(f"SELECT COUNT(*) FROM {table} {where}").fetchone()[0]


def test_cli_counts_failed_judgments_and_a_rerun_fills_them(suite, tmp_path, monkeypatch):
    """10 items (content examples 1-2): level-3 judgments come back without a verdict the first
    time (exit 3, counted, left out); transport faults are retried. The rerun generates nothing,
    asks the judge only the failed ones and finishes with every item scored."""
    broken = {"on": True}

    def respond(body):
        prompt = body["messages"][-1]["content"]
        if broken["on"] and "with 3 additional constraints" in prompt:
            return "I cannot tell."
        return loop_responder(body)

    store, out = tmp_path / "s.sqlite", tmp_path / "out.json"
    faults = {"429": 0.1, "500": 0.05, "malformed": 0.05}
    with OpenAIServer(respond, faults=faults, seed=3) as server:
        cmd = harness_cmd(server, store, out, 10)
        first = subprocess.run(cmd, env=cli_env(), capture_output=True, text=True, timeout=120)
        assert first.returncode == 3, first.stderr
        log = json.loads(out.read_text())
        assert log["status"] == "finished_with_failures"
        assert (log["metrics"]["n_scored"], log["metrics"]["n_failed"]) == (8, 2)
        failed = [r for r in log["records"] if r.get("error")]
        assert sorted(r["id"] for r in failed) == ["content:1:3", "content:2:3"]
        assert all("judgment failed: unparseable" in r["error"] for r in failed)
        assert "hsr_l3" not in log["metrics"] and "hsr_l2" in log["metrics"]
        assert set(server.outcomes) - {"ok"}  # faults were injected, and retried
        asked = len(server.requests)

        broken["on"] = False
        second = subprocess.run(cmd, env=cli_env(), capture_output=True, text=True, timeout=120)
        assert second.returncode == 0, second.stderr
        again = server.requests[asked:]
        log = json.loads(out.read_text())
        judge = make_judge("judge/x", Store(store), server.base_url, progress=False)
        rescored = suite.score(suite.items[:10], [r["response"] for r in log["records"]], judge)
        # `score --responses` on the same answers: every verdict comes from the store
        answers = tmp_path / "answers.jsonl"
        rows = [{"id": r["id"], "response": r["response"]} for r in log["records"]]
        answers.write_text("".join(json.dumps(r) + "\n" for r in rows))
        argv = ["score", "--suite", "followbench", "--responses", str(answers), "--quiet"]
        argv += ["--judge", "judge/x", "--judge-base-url", server.base_url, "--store", str(store)]
        monkeypatch.setenv("OPENAI_API_KEY", "dummy-key")
        assert cli.main([*argv, "--output", str(tmp_path / "scored.json")]) == 0
        imported = json.loads((tmp_path / "scored.json").read_text())["metrics"]
        assert imported["hsr_avg"] == log["metrics"]["hsr_avg"] and imported["judge_calls"] == 0
    prompts = {b["messages"][0]["content"] for b in again}
    assert {b["model"] for b in again} == {"judge/x"} and len(prompts) == 2
    assert all("with 3 additional constraints" in p for p in prompts)
    assert log["status"] == "finished" and log["metrics"]["n_scored"] == 10
    assert log["metrics"]["judge_cached"] == 8 and log["metrics"]["judge_calls"] == 2
    assert (
        count(store, "generations") == 10 and count(store, "judgments", "WHERE status='ok'") == 10
    )
    # the stored run equals scoring its responses again (every verdict from the store)
    assert rescored.metrics["judge_calls"] == 0 and rescored.failed == 0
    for key in ("hsr_avg", "ssr_avg", "csl", "hsr_l1", "hsr_hard"):
        assert rescored.metrics[key] == log["metrics"][key], key
    per_item = list(suite.per_item(log["records"]).values())
    assert sum(n for n, _ in per_item) / sum(d for _, d in per_item) == pytest.approx(
        log["metrics"]["hsr_avg"], abs=1e-12
    )


def test_cli_killed_mid_run_resumes_without_duplicates(tmp_path):
    store, out = tmp_path / "s.sqlite", tmp_path / "out.json"
    with OpenAIServer(loop_responder, latency=0.15) as server:
        cmd = harness_cmd(server, store, out, 10, "--concurrency", "1")
        proc = subprocess.Popen(cmd, env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.time() + 60
        while time.time() < deadline:
            with contextlib.suppress(sqlite3.OperationalError):
                if store.exists() and count(store, "generations") >= 2:
                    break
            assert proc.poll() is None, proc.communicate()[1]
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        saved = count(store, "generations")
        assert 2 <= saved < 10 and count(store, "scores") == 0 and not out.exists()
        done = subprocess.run(cmd, env=cli_env(), capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        model_calls = [b for b in server.requests if b["model"] == "loop/back"]
    prompts = [b["messages"][0]["content"] for b in model_calls]
    assert len(set(prompts)) == 10 and len(prompts) <= 10 + 1  # at most the one in flight twice
    assert count(store, "generations") == 10 and count(store, "judgments") == 10
    with sqlite3.connect(store) as db:
        statuses = sorted(s for (s,) in db.execute("SELECT status FROM runs"))
        (finished,) = db.execute("SELECT id FROM runs WHERE status='finished'").fetchone()
        assert db.execute("SELECT COUNT(*) FROM scores WHERE run_id=?", (finished,)).fetchone()[0]
    assert statuses == ["finished", "interrupted"]
    log = json.loads(out.read_text())
    assert log["metrics"]["n_scored"] == 10 and len({r["id"] for r in log["records"]}) == 10
    assert Path(out).is_file()
