"""Bad input: a one-line error naming the problem, exit status 2, and the store left unchanged."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys

import pytest

from harness.cli import main
from harness.store import Store


@pytest.fixture
def store(tmp_path):
    """A store with one finished run in it, to show that failed commands leave it byte-identical."""
    path = tmp_path / "store.sqlite"
    s = Store(path)
    s.finish_run(s.start_run("ifeval", "m", "fp", {}), {"acc": 1.0}, [{"id": "1"}])
    s.close()
    return path


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None


def run_cli(args, capsys):
    code = main(args)
    err = capsys.readouterr().err.strip()
    return code, err


def ifeval_dir(tmp_path, lines):
    folder = tmp_path / "bench" / "ifeval"
    folder.mkdir(parents=True)
    (folder / "input_data.jsonl").write_text("\n".join(lines) + "\n")
    return folder.parent


GOOD = json.dumps(
    {"key": 1, "prompt": "Say hi.", "instruction_id_list": ["punctuation:no_comma"], "kwargs": [{}]}
)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "--suite", "nope"], "unknown suite 'nope'"),
        (["run", "--suite", "ifeval", "--model", "no-such-model"], "unknown model 'no-such-model'"),
        (["run", "--suite", "ifeval", "--backend", "tgi"], "unknown backend 'tgi'"),
        (["run", "--suite", "ifeval", "--data-dir", "/nonexistent/dir"], "does not exist"),
        (["score", "--suite", "ifeval", "--responses", "/nonexistent.jsonl"], "not found"),
        (
            ["run", "--suite", "ifeval", "--max-new-tokens", str(10**18)],
            "--max-new-tokens: expected int in 1..1048576, got '1000000000000000000'",
        ),
        (
            ["compare", "m", "m", "--bootstrap", str(10**12)],
            "--bootstrap: expected int in 100..1000000, got '1000000000000'",
        ),
    ],
)
def test_bad_arguments(args, message, store, capsys):
    before = digest(store)
    code, err = run_cli([*args, "--store", str(store)], capsys)
    assert code == 2
    assert err.startswith("error: ") and message in err and "\n" not in err
    assert digest(store) == before


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ([], "holds no records"),
        ([GOOD, "{not json"], "input_data.jsonl:2: not valid JSON"),
        ([json.dumps({"key": 1, "prompt": "x"})], "missing field(s) instruction_id_list, kwargs"),
        (
            [GOOD.replace("punctuation:no_comma", "punctuation:no_semicolons")],
            "unknown instruction 'punctuation:no_semicolons'",
        ),
    ],
)
def test_bad_data_file(lines, message, tmp_path, store, capsys):
    before = digest(store)
    bench = ifeval_dir(tmp_path, lines)
    if not lines:
        (bench / "ifeval" / "input_data.jsonl").write_text("")
    code, err = run_cli(
        ["run", "--suite", "ifeval", "--data-dir", str(bench), "--store", str(store)], capsys
    )
    assert code == 2 and message in err and "\n" not in err
    assert digest(store) == before


def test_missing_data_file(tmp_path, store, capsys):
    (tmp_path / "empty").mkdir()
    code, err = run_cli(
        ["run", "--suite", "ifeval", "--data-dir", str(tmp_path / "empty"), "--store", str(store)],
        capsys,
    )
    assert code == 2 and "input_data.jsonl not found" in err


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"prompt": "Say hi."}', 'expected {"prompt", "response"}'),
        ('{"prompt": "not an ifeval prompt", "response": "x"}', "not an IFEval prompt"),
        ('{"prompt": "Say hi.", "response": 3}', "response is not a string"),
        ("[1, 2]", "expected a JSON object"),
    ],
)
def test_malformed_responses_file(content, message, tmp_path, store, capsys):
    """Read before the store is opened: the rejected file leaves the store byte-identical."""
    before = digest(store)
    bench = ifeval_dir(tmp_path, [GOOD])
    responses = tmp_path / "responses.jsonl"
    responses.write_text(content + "\n")
    out = tmp_path / "out.json"
    code, err = run_cli(
        [
            "score",
            "--suite",
            "ifeval",
            "--responses",
            str(responses),
            "--data-dir",
            str(bench),
            "--output",
            str(out),
            "--store",
            str(store),
        ],
        capsys,
    )
    assert code == 2 and message in err and "\n" not in err
    assert not out.exists()
    assert digest(store) == before


@pytest.mark.parametrize(
    ("suite", "flag", "content"),
    [("mt_bench", "--judgments", "{not json"), ("ifeval", "--responses", "[1, 2]")],
)
@pytest.mark.parametrize("existing", [True, False])
def test_a_rejected_input_file_leaves_the_store_as_it_was(
    suite, flag, content, existing, tmp_path, store, capsys
):
    """`score` reads its file before opening the store: an existing store stays byte-identical,
    and none is created where there was none."""
    where = store if existing else tmp_path / "new" / "store.sqlite"
    given = tmp_path / "given.jsonl"
    given.write_text(content + "\n")
    before = digest(where)
    code, err = run_cli(
        ["score", "--suite", suite, flag, str(given), "--store", str(where)], capsys
    )
    assert code == 2 and err.startswith("error: ") and "\n" not in err
    assert digest(where) == before and where.parent.exists() == existing


def test_malformed_report_spec_leaves_the_store_as_it_was(tmp_path, store, capsys):
    from reports.__main__ import main as reports_main

    spec = tmp_path / "report.yaml"
    spec.write_text("ecd: [a]\nbootstrap: 10\n")
    before = digest(store)
    argv = ["build", str(spec), "--out", str(tmp_path / "out"), "--store", str(store)]
    assert reports_main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "bootstrap: expected int in 100..1000000" in err
    assert digest(store) == before and not (tmp_path / "out").exists()


def test_unreadable_store(tmp_path, capsys):
    bogus = tmp_path / "store.sqlite"
    bogus.write_bytes(b"garbage that is not sqlite" * 10)
    before = digest(bogus)
    code, err = run_cli(["run", "--suite", "ifeval", "--limit", "1", "--store", str(bogus)], capsys)
    assert code == 2 and "not a SQLite database" in err
    assert digest(bogus) == before


def test_error_exit_from_a_real_process(tmp_path):
    """The module entry point itself: one line on stderr, status 2, no traceback."""
    proc = subprocess.run(
        [sys.executable, "-m", "harness", "run", "--suite", "nope"], capture_output=True, text=True
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "error: unknown suite 'nope'; choose from " + proc.stderr.split("choose from ")[1].strip()
    ]


def test_help_explains(capsys):
    assert main(["run", "--help"]) == 0
    out = capsys.readouterr().out
    for flag in (
        "--model",
        "--backend",
        "--limit",
        "--batch-size",
        "--max-new-tokens",
        "--data-dir",
        "--output",
        "resumable",
    ):
        assert flag in out
    sections = [line for line in out.splitlines() if line.endswith(":") and " " not in line]
    assert sections == [
        "options:",
        "model:",
        "sampling:",
        "judge:",
        "data:",
        "output:",
        "examples:",
    ]


def test_every_declared_setting_is_a_flag_with_its_rule(capsys):
    """The flags are made from EvalOptions' declarations: each field that has a flag parses into
    that field, and its rule checks the flag's text."""
    from dataclasses import fields

    from harness.api import EvalOptions
    from harness.flags import parse_run_flags

    flagged = [f for f in fields(EvalOptions) if f.metadata.get("flag")]
    assert main(["run", "--help"]) == 0
    shown = capsys.readouterr().out
    assert {f.name for f in flagged if f"--{f.name.replace('_', '-')} " not in shown} == set()
    assert "--backend-options" not in shown and "--base-url" in shown  # the backend's flag
    _, _, options = parse_run_flags(["--suite", "ifeval", "--judge-parse-retries", "2"])
    assert options == EvalOptions(judge_parse_retries=2)
    for f in flagged:
        rule = f.metadata["rule"]
        if rule is not None:
            with pytest.raises(SystemExit):
                parse_run_flags(["--suite", "ifeval", "--" + f.name.replace("_", "-"), "-1"])
