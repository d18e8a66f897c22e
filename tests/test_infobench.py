"""InFoBench against qinyiwei/InfoBench's own evaluation.py, whose answers on these tests' inputs are
kept as data (shared/benchmarks/infobench/reference_outputs): the judge requests it sends (its
run_evaluation, over a loopback HTTP server), how it reads the replies, bool_ratio's DRFR; then
the CLI end to end with faults, a rerun and a kill -9.

The data is only on the HF hub, so these tests use a small file in its format (InfoBench.json,
JSON Lines: id, input, category, instruction, decomposed_questions, subset, question_label)."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import zlib
from pathlib import Path

import pytest
from golden import golden, rows
from openai_server import OpenAIServer, echo, served_run

from harness import cli
from harness.judges import make_judge
from harness.store import Store
from harness.suites import Scoring, get_suite
from harness.suites.infobench import SYS_MSG, InFoBench

ROOT = Path(__file__).resolve().parents[1]

ROWS = [
    ("t0", "", "Easy_set", ["Is it a list?", "Does it name five items?", "Is each item short?"]),
    (
        "t1",
        'Dear "team",\nthe meeting moved to 3pm.',
        "Hard_set",
        ["Is it a summary?", "Is it one sentence?", "Does it keep the time?", "Is it polite?"],
    ),
    ("t2", "", "Hard_set", ["Is it a poem?", "[unclear] Does it rhyme?", "Has it a title?"]),
    ("t3", "2, 3, 5, 7", "Easy_set", ["Is the sum given?", "Is it correct?"]),
    (
        "t4",
        "",
        "Hard_set",
        ["Q1 formal?", "Q2 under 50 words?", "Q3 no jargon?", "Q4 ends with a question?", "Q5?"],
    ),
    ("t5", "", "Easy_set", ["Is it in French?"]),
]
LABELS = ["Format", "Content", "Number", "Style", "Linguistic"]
# replies the reference reads in each of its ways; "[unclear]" questions get a reply with both
# "YES" and "NO" (in "NOTE"), which it reads as None and stops
REPLIES = ["Yes", "No", "yes, it does.", "NO.", "The answer is YES.", "Answer: NO", "Nope"]
UNCLEAR = "I'd say YES, though NOTE the tone."


def write_data(folder: Path, rows=ROWS) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    lines = [
        {
            "id": key,
            "input": inp,
            "category": "Test: Category",
            "instruction": f"Instruction {key}: write something.",
            "decomposed_questions": qs,
            "subset": subset,
            "question_label": [[LABELS[i % 5]] for i in range(len(qs))],
        }
        for key, inp, subset, qs in rows
    ]
    (folder / "InfoBench.json").write_text("".join(json.dumps(r) + "\n" for r in lines))
    return folder


def judge_or_echo(body: dict) -> str:
    """The judge (messages start with InFoBench's SYS_MSG): a reply chosen by the conversation,
    unclear for "[unclear]" questions; anything else: the model under test, an echo."""
    messages = body["messages"]
    if not messages[0]["content"].startswith(SYS_MSG[:40]):
        return echo(body)
    if "[unclear]" in messages[-1]["content"]:
        return UNCLEAR
    return REPLIES[zlib.crc32(json.dumps(messages).encode()) % len(REPLIES)]


class Answered:
    """A responder that remembers every request it answered (a fault is not an answer)."""

    def __init__(self):
        self.bodies: list[str] = []

    def __call__(self, body: dict) -> str:
        self.bodies.append(json.dumps(body, sort_keys=True))
        return judge_or_echo(body)


@pytest.fixture
def items(tmp_path):
    return InFoBench().load(write_data(tmp_path / "data"))


def responses_for(items):
    return [f'Answer to {it["id"]}: a "quoted" word,\nand a second line.' for it in items]


def sort_key(body: dict) -> str:
    return json.dumps(body["messages"], sort_keys=True)


def by_run(row: dict) -> list:
    return [row["input_row"], row["eval_model"], row["temperature"]]


def by_rows(row: dict) -> list:
    return row["rows"]


def reference_run(input_rows: list[dict]) -> list[dict]:
    """evaluation.run_evaluation(client, in_path, out_dir) with its defaults, one recorded row
    per input line: the requests it sent (each with the reply it got) and the line it wrote."""
    runs = golden("infobench", "run_evaluation.jsonl", by_run)
    recorded = [runs[[row, "gpt-4-0314", 0]] for row in input_rows]
    for run in recorded:  # the replies were this test's judge's: a changed judge is caught here
        assert [r["reply"] for r in run["requests"]] == [
            judge_or_echo(r["body"]) for r in run["requests"]
        ]
    return recorded


def bool_ratio(lines: list[dict]) -> float:
    """The reference's printed 'Percentage of True' on a file of these lines."""
    return golden("infobench", "bool_ratio.jsonl", by_rows)[lines]["percentage_of_true"]


# -- (1) + (2): requests, verdicts and DRFR equal the reference's --------------------------------
def test_judge_requests_verdicts_and_drfr_equal_evaluation_py(items, tmp_path):
    (constant,) = rows("infobench", "constants.jsonl")
    assert constant["name"] == "SYS_MSG" and SYS_MSG == constant["value"]
    responses = responses_for(items)
    suite = InFoBench()
    with OpenAIServer(judge_or_echo) as server:  # ours, with the official default judge name
        store = Store(tmp_path / "s.sqlite")
        judge = make_judge(suite.default_judge, store, server.base_url, progress=False)
        result = suite.score(items, responses, judge)
        ours = server.requests
    data = [json.loads(line) for line in (tmp_path / "data" / "InfoBench.json").open()]
    runs = reference_run([{**r, "output": o} for r, o in zip(data, responses)])
    theirs = [r["body"] for run in runs for r in run["requests"]]
    out = [run["output_row"] for run in runs]

    # (1) the same requests, field by field (ours go out in parallel per question: order aside)
    assert len(ours) == len(theirs) == 3 + 4 + 2 + 2 + 5 + 1  # t2 stops at its unclear question
    for got, expected in zip(sorted(ours, key=sort_key), sorted(theirs, key=sort_key)):
        assert got == expected  # model, messages, temperature (0 == 0.0) and nothing else
    assert {json.dumps(sorted(b)) for b in theirs} == {'["messages", "model", "temperature"]'}
    assert theirs[0]["model"] == "gpt-4-0314" and theirs[0]["temperature"] == 0

    # the same verdicts: evaluation.py's `eval` lists, None and early stop included
    reference = {str(r["id"]): r["eval"] for r in out}
    records = {r["id"]: r for r in result.records}
    assert {k: r["eval"] for k, r in records.items()} == reference
    assert reference["t2"] == [reference["t2"][0], None] and records["t2"]["stopped_unclear"]
    assert {a for v in reference.values() for a in v} == {True, False, None}

    # (2) DRFR is bool_ratio's Percentage of True, overall and on each subset's rows
    assert result.metrics["drfr"] == bool_ratio(out)
    for subset, key in (("Easy_set", "drfr_easy"), ("Hard_set", "drfr_hard")):
        assert result.metrics[key] == bool_ratio([r for r in out if r["subset"] == subset])
    # the per-item contributions add up to the headline (what the bootstrap resamples)
    num, den = map(sum, zip(*(suite.contribution(r) for r in result.records)))
    assert num / den == result.metrics["drfr"] and result.failed == 0
    assert result.breakdown["questions"] == 18 and result.breakdown["answers"] == 17
    assert set(result.breakdown["labels"]) == set(LABELS)


def test_parse_retries_reask_an_unclear_reply_instead_of_stopping(items, tmp_path):
    """An explicit option (recorded, not compared with default runs): an unclear reply is asked
    again; still unclear, its instruction fails instead of evaluation.py's early stop."""
    suite = InFoBench()
    assert suite.configure(Scoring(judge_parse_retries=1)) == {"judge_parse_retries": 1}
    with OpenAIServer(judge_or_echo) as server:
        store = Store(tmp_path / "s.sqlite")
        judge = make_judge("j", store, server.base_url, progress=False, parse_retries=1)
        result = suite.score(items, responses_for(items), judge)
        unclear = [b for b in server.requests if "[unclear]" in b["messages"][-1]["content"]]
    assert len(unclear) == 2 and result.failed == 1
    (failed,) = [r for r in result.records if r.get("error")]
    assert failed["id"] == "t2" and "after 2 attempts" in failed["error"]


def test_suite_declaration():
    suite = get_suite("infobench")
    assert isinstance(suite, InFoBench) and suite.headline.key == "drfr"
    assert (suite.headline.label, suite.headline.scale, suite.headline.unit) == (
        "InFoBench DRFR",
        100.0,
        "%",
    )
    assert (suite.unit, suite.paired_test, suite.default_judge) == (
        "items",
        "bootstrap",
        "gpt-4-0314",
    )
    assert suite.contribution({"id": "a", "eval": [True, None, False, True]}) == (2.0, 4.0)
    assert suite.contribution({"id": "a", "error": "judge failed"}) is None
    item = {"instruction": "Do it.", "input": "text"}
    assert suite.prompts(item) == ["Do it.\ntext"] and suite.prompts({**item, "input": ""}) == [
        "Do it."
    ]


# -- (3) the CLI end to end: faults, rerun, kill -9 ----------------------------------------------
def run_args(server, data, store, *extra):
    return served_run(server, "infobench", store, "--data-dir", str(data), *extra)


def evals(path: Path) -> dict:
    return {r["id"]: r.get("eval") for r in json.loads(path.read_text())["records"]}


def count(store: Path, table: str) -> int:
    with sqlite3.connect(store) as db:
        return db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]


@pytest.fixture
def clean(tmp_path, monkeypatch):
    """A fault-free run of the first 5 items: its results and its number of calls."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    data = write_data(tmp_path / "data")
    out = tmp_path / "clean.json"
    with OpenAIServer(judge_or_echo) as server:
        argv = run_args(
            server, data, tmp_path / "clean.sqlite", "--limit", "5", "--output", str(out)
        )
        assert cli.main(argv) == 0
        calls = server.calls
    assert calls == 5 + 3 + 4 + 2 + 2 + 5  # generations, then judge calls
    return data, json.loads(out.read_text()), calls


def test_cli_counts_failures_and_a_rerun_asks_only_for_them(clean, tmp_path, capsys):
    data, reference, _ = clean
    store, out = tmp_path / "s.sqlite", tmp_path / "r.json"
    answered = Answered()
    with OpenAIServer(answered, faults={"401": 0.25}, seed=4) as server:  # 401: never retried
        argv = run_args(server, data, store, "--limit", "5", "--output", str(out))
        assert cli.main(argv) == 3
        first = json.loads(out.read_text())
        assert first["status"] == "finished_with_failures"
        failed = [r for r in first["records"] if r.get("error")]
        assert 0 < len(failed) < 5 and first["over"]["failed"] == len(failed)
        assert "items failed" in capsys.readouterr().out
        asked_before = set(answered.bodies)
        server.faults = {}
        n = server.calls
        assert cli.main(argv) == 0
        again = [json.dumps(b, sort_keys=True) for b in server.requests[n:]]
        assert again and not asked_before & set(again)  # nothing answered is asked again
        # the rerun exports evaluation.py's files, which `score --responses` reads back
        assert cli.main([*argv, "--export", str(tmp_path / "x")]) == 0
        assert server.calls == n + len(again)
        exported = tmp_path / "x" / "infobench" / "loop--back_output.json"
        score = ["score", "--suite", "infobench", "--data-dir", str(data)]
        score += ["--responses", str(exported), "--judge", "judge/x"]
        score += ["--judge-base-url", server.base_url, "--store", str(store), "--quiet"]
        assert cli.main([*score, "--output", str(tmp_path / "scored.json")]) == 0
        assert server.calls == n + len(again)  # every verdict from the store
    assert evals(out) == {r["id"]: r["eval"] for r in reference["records"]}
    assert json.loads(out.read_text())["metrics"]["drfr"] == reference["metrics"]["drfr"]
    assert evals(tmp_path / "scored.json") == evals(out)
    assert (tmp_path / "x" / "infobench" / "judge--x" / "loop--back_DecomposeEval.json").is_file()


def test_killed_run_resumes_without_duplicates(clean, tmp_path):
    data, reference, calls = clean
    store, out = tmp_path / "s.sqlite", tmp_path / "r.json"
    with OpenAIServer(judge_or_echo, latency=0.15) as server:
        argv = run_args(server, data, store, "--limit", "5", "--output", str(out))
        argv += ["--concurrency", "1", "--judge-concurrency", "1"]
        cmd = [sys.executable, "-m", "harness", *argv]
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                if store.exists() and count(store, "judgments") >= 4:
                    break
            except sqlite3.OperationalError:  # the schema is being created
                pass
            assert proc.poll() is None, proc.communicate()[1]
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        time.sleep(0.5)  # a request in flight at the kill is answered (and counted) by now
        saved = count(store, "generations") + count(store, "judgments")
        assert 5 + 4 <= saved < calls, "the kill should land mid-judging"
        assert not out.exists()
        n = server.calls
        done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert server.calls - n == calls - saved  # only what the killed run had not stored
    assert count(store, "generations") + count(store, "judgments") == calls
    assert evals(out) == {r["id"]: r["eval"] for r in reference["records"]}
    with sqlite3.connect(store) as db:
        statuses = sorted(s for (s,) in db.execute("SELECT status FROM runs"))
        finished = db.execute("SELECT id FROM runs WHERE status='finished'").fetchone()[0]
        rows = db.execute("SELECT COUNT(*) FROM scores WHERE run_id=?", (finished,)).fetchone()[0]
    assert statuses == ["finished", "interrupted"] and rows == 5


# -- (4) bad data, (5) no data offline: one line each --------------------------------------------
@pytest.mark.parametrize(
    "line, says",
    [
        ('{"id": "a", "input": "", "instruction": "x", "subset": "Easy_set"}', "missing field"),
        (
            '{"id": "a", "input": "", "instruction": "x", "subset": "Easy_set", '
            '"decomposed_questions": []}',
            "non-empty list",
        ),
        ("{not json", "not valid JSON"),
    ],
)
def test_bad_data_is_one_line(tmp_path, capsys, line, says):
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "InfoBench.json").write_text(line + "\n")
    argv = ["run", "--suite", "infobench", "--data-dir", str(folder), "--model", "loop/back"]
    argv += ["--backend", "openai", "--base-url", "http://127.0.0.1:9/v1", "--quiet"]
    assert cli.main([*argv, "--store", str(tmp_path / "s.sqlite")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and says in err[0], err
    assert "InfoBench.json" in err[0]


def test_offline_without_data_is_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    argv = ["run", "--suite", "infobench", "--model", "loop/back", "--backend", "openai"]
    argv += ["--base-url", "http://127.0.0.1:9/v1", "--store", str(tmp_path / "s.sqlite")]
    for env in (None, str(tmp_path / "empty")):  # no data root; a root without InfoBench
        if env is None:
            monkeypatch.delenv("ECD_HARNESS_DATA", raising=False)
        else:
            Path(env, "infobench").mkdir(parents=True)
            monkeypatch.setenv("ECD_HARNESS_DATA", env)
        assert cli.main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "kqsong/InFoBench" in err[0] and "--data-dir" in err[0], err
    assert not (tmp_path / "s.sqlite").exists()
