"""IFEval end to end on real responses of the embedded model, through the CLI."""

from __future__ import annotations

import json

from harness.cli import main
from harness.store import Store
from harness.suites.ifeval_rules import reference


def test_run_scores_real_responses_like_the_reference(
    tmp_path, data_dir, embedded_model_dir, capsys
):
    out, store = tmp_path / "results.json", tmp_path / "store.sqlite"
    code = main(
        [
            "run",
            "--suite",
            "ifeval",
            "--limit",
            "8",
            "--max-new-tokens",
            "48",
            "--data-dir",
            str(data_dir),
            "--store",
            str(store),
            "--output",
            str(out),
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    for metric in (
        "prompt_level_strict_acc",
        "inst_level_strict_acc",
        "prompt_level_loose_acc",
        "inst_level_loose_acc",
    ):
        assert metric in printed

    results = json.loads(out.read_text())
    assert results["config"]["model"] == "smollm2-135m-instruct"
    assert results["config"]["sampling"]["max_new_tokens"] == 48
    assert {"torch", "transformers", "lm_eval", "nltk"} <= set(results["versions"])
    records = results["records"]
    assert len(records) == 8 and all(r["response"].strip() for r in records)

    items = {
        json.loads(line)["key"]: json.loads(line)
        for line in (data_dir / "ifeval" / "input_data.jsonl").read_text().splitlines()
    }
    strict_hits = total = 0
    for r in records:
        item = items[int(r["id"])]
        inp = reference.InputExample(
            item["key"], item["instruction_id_list"], item["prompt"], item["kwargs"]
        )
        assert (
            r["strict"]
            == reference.test_instruction_following_strict(
                inp, r["response"]
            ).follow_instruction_list
        )
        assert (
            r["loose"]
            == reference.test_instruction_following_loose(
                inp, r["response"]
            ).follow_instruction_list
        )
        strict_hits += sum(r["strict"])
        total += len(r["strict"])
    assert results["metrics"]["inst_level_strict_acc"] == strict_hits / total
    assert results["breakdown"]["per_category"]

    run = Store(store).latest_run("ifeval", "smollm2-135m-instruct")
    assert run.metrics["n"] == 8
    assert run.metrics["prompt_level_loose_acc"] == results["metrics"]["prompt_level_loose_acc"]
