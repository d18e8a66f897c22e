"""The library API: `harness.evaluate` is what `python -m harness run` does, minus the printing."""

from __future__ import annotations

import json
import subprocess
import sys

from openai_server import OpenAIServer

import harness
from harness.cli import main
from harness.store import Store


def test_import_harness_loads_no_runner():
    """`import harness` stays cheap: the API is loaded on first use."""
    code = "import harness, sys; print(sorted(m for m in sys.modules if m.startswith('harness')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "['harness']"


def test_evaluate_returns_the_stored_runs_as_the_cli_makes_them(tmp_path, capsys):
    store, out = tmp_path / "s.sqlite", tmp_path / "cli.json"
    with OpenAIServer(lambda body: "a reply") as server:
        options = harness.EvalOptions(
            backend="openai", base_url=server.base_url, limit=3, store=store, quiet=True
        )
        seen = []
        runs = harness.evaluate("org/served", "ifeval", options, on_result=seen.append)
        argv = ["run", "--suite", "ifeval", "--model", "org/served", "--backend", "openai"]
        argv += ["--base-url", server.base_url, "--limit", "3", "--store", str(store)]
        assert main([*argv, "--quiet", "--output", str(out)]) == 0
        assert server.calls == 3, "the CLI's run found the API's generations in the store"
    assert capsys.readouterr().out == "", "the API prints nothing"
    [run] = runs
    assert seen == runs
    assert (run.suite.name, run.model, run.status) == ("ifeval", "org/served", "finished")
    stored = Store(store).run(run.run_id)
    assert stored.status == "finished" and stored.metrics["n"] == 3
    assert run.metrics == json.loads(out.read_text())["metrics"]
