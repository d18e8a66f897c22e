"""Every number trustworthy: model identity, failed calls, run status, secrets, bad input.

Each test reproduces one way the harness used to return a wrong number, or none, without a word:
real checkpoints on disk, a real OpenAI-compatible server on loopback, the real CLI.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from openai_server import OpenAIServer

from harness.backends import fingerprint_for
from harness.backends.openai_compat import _listed_models
from harness.backends.weights import dir_identity, file_sha256
from harness.cli import main
from harness.registry import ModelSpec
from harness.store import Store

SECRET = "sk-test-TOPSECRET-0123456789"


def run(args: list[str], capsys) -> tuple[int, str, str]:
    code = main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err.strip()


def store_rows(path: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(path) as db:
        return db.execute(sql).fetchall()


# -- 1. model identity --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    """A tiny Llama whose first 2 MiB (lm_head, embeddings) come before the attention weights in
    model.safetensors, saved as .../model like every trained stage."""
    from transformers import AutoModelForCausalLM

    from training.random_model import build_random_model

    out = tmp_path_factory.mktemp("ckpt-a") / "model"
    build_random_model(out, ["hello world, the quick brown fox"] * 20)
    model = AutoModelForCausalLM.from_pretrained(out)
    model.resize_token_embeddings(8192)
    model.save_pretrained(out)
    return out


def with_changed_tensor(src: Path, dest: Path, name: str) -> Path:
    from safetensors.torch import load_file, save_file

    shutil.copytree(src, dest)
    tensors = load_file(dest / "model.safetensors")
    tensors[name] = tensors[name] + 1.0
    save_file(tensors, dest / "model.safetensors", metadata={"format": "pt"})
    return dest


def test_one_tensor_past_the_first_mib_changes_the_identity(checkpoint, tmp_path):
    name = "model.layers.0.self_attn.q_proj.weight"
    other = with_changed_tensor(checkpoint, tmp_path / "b" / "model", name)
    head = lambda p: (p / "model.safetensors").read_bytes()[: 1 << 20]  # noqa: E731
    assert head(checkpoint) == head(other), "the change must lie past the first MiB"
    assert dir_identity(checkpoint) != dir_identity(other)
    copy = shutil.copytree(checkpoint, tmp_path / "elsewhere" / "renamed")
    assert dir_identity(copy) == dir_identity(checkpoint), "same bytes, same identity"


def test_file_hashes_are_cached_and_rechecked(checkpoint, tmp_path):
    f = shutil.copy(checkpoint / "model.safetensors", tmp_path / "w.safetensors")
    f = Path(f)
    cache: dict = {}
    real = file_sha256(f, cache)
    assert real == hashlib.sha256(f.read_bytes()).hexdigest()
    cache[str(f.resolve())]["sha256"] = "stale"  # reused while path, size, mtime, inode hold
    assert file_sha256(f, cache) == "stale"
    os.utime(f, ns=(time.time_ns(), time.time_ns() + 10**9))
    assert file_sha256(f, cache) == real, "a touched file is hashed again"


def test_checkpoints_differing_in_one_tensor_do_not_share_generations(
    checkpoint, tmp_path, capsys, data_dir
):
    other = with_changed_tensor(
        checkpoint, tmp_path / "b" / "model", "model.layers.0.mlp.down_proj.weight"
    )
    store = tmp_path / "s.sqlite"
    common = ["run", "--suite", "ifeval", "--limit", "2", "--max-new-tokens", "3"]
    for ckpt in (checkpoint, other):
        code, _, err = run([*common, "--model", str(ckpt), "--store", str(store)], capsys)
        assert code == 0, err
    assert store_rows(store, "SELECT COUNT(*) FROM generations") == [(4,)]
    fps = store_rows(store, "SELECT DISTINCT model_fingerprint FROM runs")
    assert len(fps) == 2


def test_hub_id_not_available_offline_is_one_line(tmp_path, capsys):
    code, _, err = run(
        [
            "run",
            "--suite",
            "ifeval",
            "--model",
            "nobody/not-a-model",
            "--store",
            str(tmp_path / "s"),
        ],
        capsys,
    )
    assert code == 2 and err.startswith("error: ") and "\n" not in err
    assert "not in the local HF cache" in err


# -- 2. endpoint identity -----------------------------------------------------------------------
def card(root: str, created: int = 0) -> dict:
    return {"id": "served", "object": "model", "created": created, "owned_by": "vllm", "root": root}


def test_endpoint_identity_is_url_card_and_tag():
    spec = ModelSpec(name="served", source="served", backend="openai")
    with OpenAIServer(models=[card("/ckpt/a", created=1)]) as a:
        fp_a = fingerprint_for(spec, "openai", base_url=a.base_url)
        a.models = [card("/ckpt/a", created=2)]  # vLLM's `created` is the time of the request
        _listed_models.cache_clear()  # identity is asked once per process and endpoint
        assert fingerprint_for(spec, "openai", base_url=a.base_url) == fp_a
        a.models = [card("/ckpt/b")]  # re-served from other weights under the same name
        _listed_models.cache_clear()
        assert fingerprint_for(spec, "openai", base_url=a.base_url) != fp_a
        tagged = fingerprint_for(spec, "openai", base_url=a.base_url, model_tag="retrained")
        assert tagged != fingerprint_for(spec, "openai", base_url=a.base_url)
        with OpenAIServer(models=[card("/ckpt/b")]) as b:
            assert fingerprint_for(spec, "openai", base_url=b.base_url) != tagged


def test_two_endpoints_serving_one_name_do_not_share_generations(tmp_path, capsys):
    store = tmp_path / "s.sqlite"
    texts = []
    for reply in ("first server", "second server"):
        with OpenAIServer(lambda body, r=reply: r) as server:
            out = tmp_path / f"{server.httpd.server_address[1]}.json"
            args = ["run", "--suite", "ifeval", "--limit", "3", "--backend", "openai"]
            args += ["--model", "org/served", "--base-url", server.base_url]
            code, _, err = run([*args, "--store", str(store), "--output", str(out)], capsys)
            assert code == 0, err
            assert server.calls == 3
            texts.append({r["response"] for r in json.loads(out.read_text())["records"]})
    assert texts == [{"first server"}, {"second server"}]


def test_refresh_regenerates_and_replaces_the_cached_entries(tmp_path, capsys):
    store, out = tmp_path / "s.sqlite", tmp_path / "r.json"
    reply = {"text": "old weights"}
    with OpenAIServer(lambda body: reply["text"]) as server:
        assert main(ifeval_args(server, store, "--limit", "3")) == 0
        reply["text"] = "new weights"  # re-served without anything that tells them apart
        assert main(ifeval_args(server, store, "--limit", "3", "--output", str(out))) == 0
        assert server.calls == 3, "without --refresh the cache answers"
        assert (
            main(ifeval_args(server, store, "--limit", "3", "--refresh", "--output", str(out))) == 0
        )
        assert server.calls == 6
    assert {r["response"] for r in json.loads(out.read_text())["records"]} == {"new weights"}
    assert store_rows(store, "SELECT DISTINCT text FROM generations") == [("new weights",)]


def test_a_model_the_endpoint_does_not_list_is_still_identified_by_url_and_name():
    """Servers answer to aliases they don't list (Ollama's `llama3` for `llama3:latest`)."""
    _listed_models.cache_clear()
    with OpenAIServer(models=[card("/x")]) as server:
        listed = fingerprint_for(
            ModelSpec(name="served", source="served", backend="openai"),
            "openai",
            base_url=server.base_url,
        )
        alias = fingerprint_for(
            ModelSpec(name="alias", source="alias", backend="openai"),
            "openai",
            base_url=server.base_url,
        )
    assert '"listed":false' in alias and '"model":"alias"' in alias
    assert '"root":"/x"' in listed


# -- 3/4. failed calls are failures; run status and exit codes ----------------------------------
def ifeval_args(server, store: Path, *more: str) -> list[str]:
    return [
        "run",
        "--suite",
        "ifeval",
        "--backend",
        "openai",
        "--model",
        "org/served",
        "--base-url",
        server.base_url,
        "--store",
        str(store),
        "--quiet",
        *more,
    ]


def test_empty_replies_are_retried_never_scored(tmp_path, capsys):
    outs = []
    for faults in ({}, {"empty": 0.3}):
        with OpenAIServer(faults=faults, seed=5) as server:
            out = tmp_path / f"{len(faults)}.json"
            code, _, err = run(
                ifeval_args(
                    server,
                    tmp_path / f"{len(faults)}.sqlite",
                    "--limit",
                    "30",
                    "--output",
                    str(out),
                ),
                capsys,
            )
            assert code == 0, err
            if faults:
                assert server.outcomes["empty"] > 0
        outs.append(json.loads(out.read_text()))
        texts = store_rows(tmp_path / f"{len(faults)}.sqlite", "SELECT text FROM generations")
        assert all(t for (t,) in texts), "an empty reply was stored as an answer"
    assert outs[0]["metrics"] == outs[1]["metrics"]


def test_every_call_failing_is_a_failed_run_exit_1(tmp_path, capsys):
    store = tmp_path / "s.sqlite"
    with OpenAIServer(faults={"401": 1.0}) as server:
        code, out, err = run(ifeval_args(server, store, "--limit", "4"), capsys)
    assert code == 1
    assert "status: failed" in out and "nothing could be scored" in out and "401" in out
    (status,) = store_rows(store, "SELECT status FROM runs")[0]
    assert status.startswith("failed: nothing scored")
    assert store_rows(store, "SELECT COUNT(*) FROM generations") == [(0,)]


def test_some_calls_failing_is_exit_3_with_the_count_and_a_rerun_completes(tmp_path, capsys):
    store = tmp_path / "s.sqlite"
    with OpenAIServer(faults={"401": 0.4}, seed=2) as server:
        code, out, _ = run(ifeval_args(server, store, "--limit", "10"), capsys)
        failed = server.outcomes["401"]
        assert code == 3 and 0 < failed < 10
        assert f"{10 - failed} of 10 items" in out
        assert f"{failed} of 10 items failed" in out and "status: finished_with_failures" in out
        server.faults = {}
        calls = server.calls
        code, out, _ = run(ifeval_args(server, store, "--limit", "10"), capsys)
        assert code == 0 and server.calls - calls == failed, "a rerun retries only the failures"
    statuses = [s for (s,) in store_rows(store, "SELECT status FROM runs ORDER BY rowid")]
    assert statuses == ["finished_with_failures", "finished"]
    metrics = json.loads(store_rows(store, "SELECT metrics FROM runs ORDER BY rowid")[0][0])
    assert (
        metrics["n"] == 10 and metrics["n_failed"] == failed and metrics["n_scored"] == 10 - failed
    )


def test_a_killed_run_is_interrupted_not_running(tmp_path):
    store = tmp_path / "s.sqlite"
    with OpenAIServer(latency=30) as server:
        proc = subprocess.Popen(
            [sys.executable, "-m", "harness", *ifeval_args(server, store, "--limit", "2")],
            env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])},
        )
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                if store_rows(store, "SELECT status FROM runs WHERE status='running'"):
                    break
            except sqlite3.OperationalError:  # not created yet, or the schema is being written
                pass
            time.sleep(0.2)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert Store(store).runs(finished_only=False)[0].status == "interrupted"


# -- 8. bad input: one line, exit 2, nothing done -----------------------------------------------
@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--limit", "0"], "--limit: expected int > 0"),
        (["--limit", "-1"], "--limit: expected int > 0"),
        (["--concurrency", "0"], "--concurrency: expected int > 0"),
        (["--batch-size", "0"], "--batch-size: expected int > 0"),
        (["--max-new-tokens", "-1"], "--max-new-tokens: expected int in 1..1048576"),
        (["--temperature", "nan"], "--temperature: expected float finite and >= 0"),
        (["--temperature", "-0.5"], "--temperature: expected float finite"),
        (["--judge-concurrency", "0"], "--judge-concurrency: expected int > 0"),
        (["--backend", "openai", "--base-url", "not a url"], "is not an http(s) URL"),
        (["--output", "/etc/hostname/x.json"], "is a file, so no folder can be made there"),
    ],
)
def test_bad_run_arguments(extra, message, tmp_path, capsys):
    store = tmp_path / "s.sqlite"
    code, _, err = run(["run", "--suite", "ifeval", "--store", str(store), *extra], capsys)
    assert code == 2 and err.startswith("error: ") and message in err and "\n" not in err
    assert not store.exists()


def test_outputs_that_are_directories_are_refused_before_work(tmp_path, capsys):
    code, _, err = run(["run", "--suite", "ifeval", "--output", str(tmp_path)], capsys)
    assert code == 2 and "--output" in err and "is a folder" in err
    code, _, err = run(["run", "--suite", "ifeval", "--store", str(tmp_path)], capsys)
    assert code == 2 and "--store" in err and "is a folder" in err


def test_foreign_sqlite_file_is_not_a_store(tmp_path, capsys):
    foreign = tmp_path / "app.db"
    with sqlite3.connect(foreign) as db:
        db.execute("CREATE TABLE users (name TEXT)")
    before = foreign.read_bytes()
    code, _, err = run(["run", "--suite", "ifeval", "--store", str(foreign)], capsys)
    assert code == 2 and "not a harness store" in err
    assert foreign.read_bytes() == before


def test_an_older_store_is_upgraded_and_marked(tmp_path):
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as db:  # the first release's runs table, no marker
        db.execute(
            "CREATE TABLE runs (id TEXT PRIMARY KEY, suite TEXT NOT NULL, model TEXT NOT NULL, "
            "model_fingerprint TEXT, config TEXT NOT NULL, status TEXT NOT NULL, metrics TEXT, "
            "started_at REAL NOT NULL, finished_at REAL)"
        )
        db.execute(
            "INSERT INTO runs VALUES ('r', 'ifeval', 'm', 'f', '{}', 'finished', '{}', 1, 2)"
        )
    store = Store(path)
    assert store.db.execute("PRAGMA application_id").fetchone()[0] != 0
    (old,) = store.runs()
    assert old.id == "r" and old.comparability is None and not old.complete


def test_non_utf8_responses_file(tmp_path, capsys):
    bad = tmp_path / "responses.jsonl"
    bad.write_bytes(b'{"prompt": "caf\xe9", "response": "x"}\n')
    code, _, err = run(
        ["score", "--suite", "ifeval", "--responses", str(bad), "--store", str(tmp_path / "s")],
        capsys,
    )
    assert code == 2 and "UTF-8" in err and "\n" not in err


# -- 9. secrets ---------------------------------------------------------------------------------
def test_an_echoed_key_never_reaches_results_or_store(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    store, out = tmp_path / "s.sqlite", tmp_path / "r.json"
    with OpenAIServer(faults={"401": 0.5}, seed=1) as server:
        code, printed, err = run(
            ifeval_args(server, store, "--limit", "6", "--output", str(out)), capsys
        )
    assert code == 3
    assert "invalid credentials" in out.read_text(), "the echoed error is kept, redacted"
    for text in (printed, err, out.read_text(), store.read_bytes().decode("latin-1")):
        assert SECRET not in text


def test_a_rejected_key_stops_the_run_before_work_without_printing_it(
    tmp_path, capsys, monkeypatch
):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    store = tmp_path / "s.sqlite"
    with OpenAIServer(key="the-right-key") as server:
        code, _, err = run(ifeval_args(server, store, "--limit", "2"), capsys)
        assert server.calls == 0
    assert code == 2 and "rejected the API key (401)" in err and SECRET not in err


def test_a_key_inside_the_base_url_is_never_stored(tmp_path, capsys):
    store, out = tmp_path / "s.sqlite", tmp_path / "r.json"
    with OpenAIServer() as server:
        url = server.base_url.replace("http://", "http://user:URLSECRET99@")
        args = ["run", "--suite", "ifeval", "--backend", "openai", "--model", "org/served"]
        code, _, err = run(
            [*args, "--base-url", url, "--limit", "2", "--store", str(store), "--output", str(out)],
            capsys,
        )
    assert code == 0, err
    assert "URLSECRET99" not in out.read_text()
    assert b"URLSECRET99" not in store.read_bytes()


# -- 10. newcomers ------------------------------------------------------------------------------
def test_missing_judge_key_names_the_judge_flag(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    code, _, err = run(["run", "--suite", "mt_bench", "--store", str(tmp_path / "s")], capsys)
    assert code == 2 and "--judge-base-url" in err


def test_a_dead_judge_endpoint_stops_the_run_before_generation(tmp_path, capsys):
    store = tmp_path / "s.sqlite"
    with OpenAIServer() as server:
        dead = "http://127.0.0.1:9/v1"  # discard port: nothing listens
        args = ["run", "--suite", "alpaca_eval", "--backend", "openai", "--model", "org/served"]
        code, _, err = run(
            [*args, "--base-url", server.base_url, "--judge-base-url", dead, "--store", str(store)],
            capsys,
        )
        assert server.calls == 0, "no generation before the judge is known to answer"
    assert code == 2 and "cannot reach" in err and "--judge-base-url" in err
