"""A model is named one way everywhere, runs can be browsed, and suites fix the settings.

Runs go through the real CLI against the loopback OpenAI-compatible server (no model is loaded):
the README's endpoint example with an unregistered served name, two checkpoint folders that share
a basename, and a smoke run at other settings; then `compare`, `runs` and the leaderboard are
asked about them by every name `run` took.
"""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import pytest
from openai_server import OpenAIServer

from harness import cli
from harness.naming import display_names, run_name
from harness.registry import ModelSpec, register
from harness.store import Store
from leaderboards.__main__ import main as boards
from reports.spec import load_spec


def varied(body: dict) -> str:
    """Per model and prompt, some replies pass IFEval's checks and some do not."""
    text = body["messages"][-1]["content"]
    h = zlib.crc32((body["model"] + text).encode())
    return "ok" if h % 3 else "A reply, in English, with several words. " + text[:80]


def main(argv: list[str], capsys) -> tuple[int, str, str]:
    capsys.readouterr()
    code = cli.main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def folder(path: Path) -> Path:
    """A checkpoint folder as `run` accepts it (served here by the loopback endpoint)."""
    path.mkdir(parents=True)
    (path / "config.json").write_text("{}")
    return path


@pytest.fixture
def served(tmp_path, data_dir, monkeypatch, capsys):
    """Three models run on IFEval's first 6 items with default flags: a served name, folders
    a/model and b/model; then b/model's smoke run at 32 new tokens."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    store = tmp_path / "s.sqlite"
    a, b = folder(tmp_path / "a" / "model"), folder(tmp_path / "b" / "model")
    common = ["--suite", "ifeval", "--limit", "6", "--data-dir", str(data_dir), "--quiet"]
    with OpenAIServer(varied) as server:
        common += ["--backend", "openai", "--base-url", server.base_url, "--store", str(store)]
        for model in ("my-model", "a/model", str(b)):
            assert main(["run", "--model", model, *common], capsys)[0] == 0
        assert (
            main(["run", "--model", "./b/model", *common, "--max-new-tokens", "32"], capsys)[0] == 0
        )
    runs = {(r.model, r.config["sampling"]["max_new_tokens"]): r.id for r in Store(store).runs()}
    return store, a, b, runs


def test_the_readme_endpoint_example_takes_an_unregistered_served_name(served, capsys):
    store, _, _, runs = served
    assert ("my-model", 1280) in runs  # stored under the served name, at IFEval's settings
    code, _, err = main(["run", "--suite", "ifeval", "--model", "my-model"], capsys)
    assert code == 2 and err.count("\n") == 1
    assert "unknown model 'my-model'" in err and "needs --backend openai" in err


def test_a_folder_is_one_model_by_every_spelling(served, capsys):
    store, a, b, runs = served
    assert (str(a), 1280) in runs and (str(b), 1280) in runs and (str(b), 32) in runs
    assert run_name("./a/model") == run_name(str(a)) == str(a)
    # compare takes the folders as run took them, at default flags: accepted, no override
    argv = ["compare", "my-model", "b/model", "--suite", "ifeval", "--format", "json"]
    code, out, err = main([*argv, "--store", str(store)], capsys)
    assert code == 0, err
    [c] = json.loads(out)
    assert (c["run_a"], c["run_b"], c["incomparable"]) == (
        runs[("my-model", 1280)],
        runs[(str(b), 1280)],
        [],
    )
    code, out, _ = main(["compare", str(a), "./b/model", "--suite", "ifeval", "--format", "json",
                         "--store", str(store)], capsys)  # fmt: skip
    assert code == 0 and json.loads(out)[0]["run_a"] == runs[(str(a), 1280)]
    # the leaderboard: two rows, told apart by the shortest distinguishing path
    capsys.readouterr()
    assert boards(["show", "--suite", "ifeval", "--format", "csv", "--no-published",
                   "--store", str(store)]) == 0  # fmt: skip
    lines = capsys.readouterr().out.splitlines()
    names = [line.split(",")[0] for line in lines[1:] if line and not line.startswith(('"', "†"))]
    assert {"a/model", "b/model", "my-model"} <= set(names)
    # b/model's smoke run did not replace its row
    assert any(runs[(str(b), 1280)] in line for line in lines)
    assert not any(runs[(str(b), 32)] in line for line in lines)
    # runs --model by another spelling of the folder
    code, out, _ = main(["runs", "--model", "./b/model", "--store", str(store)], capsys)
    assert code == 0
    listed = out.splitlines()
    assert listed[0].split() == ["id", "model", "suite", "status", "items", "settings", "date"]
    assert [line.split()[0] for line in listed[1:]] == [runs[(str(b), 1280)], runs[(str(b), 32)]]
    assert "defaults" in listed[1] and "max_new_tokens=32" in listed[2]
    assert all(" b/model " in line for line in listed[1:])


def test_runs_show_and_export_round_trip_through_score(served, data_dir, tmp_path, capsys):
    store, a, _, runs = served
    rid = runs[(str(a), 1280)]
    code, out, err = main(["runs", "show", rid, "--store", str(store)], capsys)
    assert code == 0, err
    shown = json.loads(out)
    assert code == 0 and shown["run_id"] == rid and shown["settings"] == "defaults"
    assert shown["config"]["non_default"] == {} and shown["records"].startswith("6 ")
    out_dir = tmp_path / "export"
    argv = ["runs", "export", rid, "--out", str(out_dir), "--data-dir", str(data_dir)]
    assert main([*argv, "--store", str(store)], capsys)[0] == 0
    records = [json.loads(line) for line in (out_dir / "records.jsonl").read_text().splitlines()]
    assert [r["id"] for r in records] == [r["id"] for r in Store(store).scores(rid)]
    metrics = Store(store).run(rid).metrics
    # the reference formats score to the same numbers through `score --responses`
    for name in ("input_response_data.jsonl", "samples_ifeval.jsonl"):
        rescored = tmp_path / f"{name}.json"
        argv = ["score", "--suite", "ifeval", "--responses", str(out_dir / name), "--quiet"]
        argv += ["--data-dir", str(data_dir), "--store", str(tmp_path / "other.sqlite")]
        assert main([*argv, "--output", str(rescored)], capsys)[0] == 0
        got = json.loads(rescored.read_text())["metrics"]
        assert {k: got[k] for k in metrics if k.endswith("_acc")} == {
            k: v for k, v in metrics.items() if k.endswith("_acc")
        }
    code, _, err = main(["runs", "show", "nope", "--store", str(store)], capsys)
    assert code == 2 and err.startswith("error: run 'nope' is not in ")
    code, _, err = main(["runs", "--store", str(tmp_path / "missing.sqlite")], capsys)
    assert code == 2 and "not found" in err and not (tmp_path / "missing.sqlite").exists()


def test_a_registered_folder_is_its_registry_name(tmp_path, monkeypatch):
    monkeypatch.setenv("ECD_HARNESS_REGISTRY", str(tmp_path / "registry.yaml"))
    ckpt = folder(tmp_path / "checkpoints" / "ecd-x")
    register(ModelSpec(name="ecd-trained", source=str(ckpt)))
    monkeypatch.chdir(tmp_path)
    assert run_name("./checkpoints/ecd-x") == run_name(str(ckpt)) == "ecd-trained"
    assert run_name("org/hub-model") == "org/hub-model"  # a hub id or served name as given
    # a report spec names models as `run` does
    (tmp_path / "spec.yaml").write_text(
        "ecd: [./checkpoints/ecd-x, ./other/ckpt]\nbaselines: [org/hub-model]\n"
        "rounds: {./other/ckpt: 2}\n"
    )
    spec = load_spec(tmp_path / "spec.yaml")
    other = str(tmp_path / "other" / "ckpt")
    assert (spec.ecd, spec.baselines, spec.rounds) == (
        ["ecd-trained", other],
        ["org/hub-model"],
        {other: 2},
    )
    assert spec.category_models == ["org/hub-model", "ecd-trained", other]


def test_display_names_tell_folders_apart():
    names = ["/x/a/model", "/x/b/model", "/y/b/ckpt", "zephyr-7b-beta", "/z/model/zephyr-7b-beta"]
    assert display_names(names) == {
        "/x/a/model": "a/model",
        "/x/b/model": "b/model",
        "/y/b/ckpt": "ckpt",
        "zephyr-7b-beta": "zephyr-7b-beta",
        "/z/model/zephyr-7b-beta": "model/zephyr-7b-beta",  # never the registry name it shadows
    }
