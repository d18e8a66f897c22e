"""`python -m generation run` on the embedded default (SmolLM2-135M on CPU, offline) writes SFT and
DPO data in the shared export format, and TRL's DPOTrainer trains on the DPO set as written."""

from __future__ import annotations

import json

import pytest
import yaml
from transformers import AutoModelForCausalLM, AutoTokenizer

from generation.cli import main
from training.random_model import build_random_model

PROVENANCE = {"seed_id", "round", "operation", "teacher", "verification"}


def test_help_names_the_main_flags(capsys):
    with pytest.raises(SystemExit) as e:
        main(["run", "--help"])
    text = capsys.readouterr().out
    assert e.value.code == 0
    for flag in (
        "--config",
        "--seeds",
        "--teacher",
        "--backend",
        "--base-url",
        "--rounds",
        "--out",
    ):
        assert flag in text


def test_embedded_default_run_feeds_trl_dpo(tmp_path, embedded_model_dir):
    import datasets
    from trl import DPOConfig, DPOTrainer

    # the default teacher and shipped seeds, kept small for CPU: 2 seeds, 1 round, format operations
    # only, and rewrites cut at 4 tokens, so each fails as "degenerate_length" and the embedded
    # model's fallback appends the constraint: always one pair per seed
    cfg = tmp_path / "small.yaml"
    cfg.write_text(
        yaml.safe_dump(
            {
                "seeds": {"limit": 2},
                "rounds": 1,
                "weights": {"content": 0, "style": 0, "reasoning": 0, "breadth": 0},
                "evolve": {"max_new_tokens": 4},
                "respond": {"max_new_tokens": 8},
            }
        )
    )
    out = tmp_path / "ecd"
    args = ["run", "--config", str(cfg), "--out", str(out), "--store", str(tmp_path / "s.sqlite")]
    assert main([*args, "--quiet"]) == 0

    sft = [json.loads(x) for x in (out / "sft.jsonl").read_text().splitlines()]
    dpo = [json.loads(x) for x in (out / "dpo.jsonl").read_text().splitlines()]
    stats = json.loads((out / "stats.json").read_text())
    # a pair whose two answers came out the same (8 greedy tokens) is dropped as no contrast
    assert len(sft) == 4 and len(dpo) + stats["dropped"].get("identical_responses", 0) == 2
    assert dpo, "at least one pair"
    assert stats["counts"] == {"sft": 4, "dpo": len(dpo)}
    assert stats["teacher"] == "smollm2-135m-instruct"
    assert stats["seeds"]["source"] == "generation/data/seeds.jsonl"
    assert stats["evolution"]["by_template"] == 2
    assert stats["evolution"]["failed"] == {"degenerate_length->template": 2}
    for r in sft:
        assert set(r) == {"messages", *PROVENANCE}
        assert [m["role"] for m in r["messages"]] == ["user", "assistant"]
        assert r["teacher"] == "smollm2-135m-instruct"
        assert (r["operation"] is None) == (r["round"] == 0)
    for r in dpo:
        assert set(r) == {"prompt", "chosen", "rejected", *PROVENANCE}
        assert r["round"] == 1 and r["operation"].startswith("format/")
        assert r["verification"]["method"] == "ifeval" and len(r["verification"]["checks"]) == 1
        seed_row, evolved_row = (s for s in sft if s["seed_id"] == r["seed_id"])
        assert r["prompt"] == evolved_row["messages"][:1]
        assert r["chosen"] == evolved_row["messages"][1:]
        assert r["rejected"] == seed_row["messages"][1:]  # the hard negative R(0)
    ds = datasets.load_from_disk(str(out / "dpo"))
    assert ds.to_list() == dpo
    assert datasets.load_from_disk(str(out / "sft")).to_list() == sft

    texts = [m["content"] for r in dpo for k in ("prompt", "chosen", "rejected") for m in r[k]]
    model_dir = build_random_model(tmp_path / "tiny", texts, "tiny", tokenizer_vocab=300)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    ref = AutoModelForCausalLM.from_pretrained(model_dir)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    dpo_args = DPOConfig(
        output_dir=str(tmp_path / "dpo-run"),
        max_steps=1,
        per_device_train_batch_size=2,
        max_length=256,
        report_to=[],
        save_strategy="no",
        use_cpu=True,
        disable_tqdm=True,
    )
    trainer = DPOTrainer(
        model=model, ref_model=ref, args=dpo_args, train_dataset=ds, processing_class=tokenizer
    )
    result = trainer.train()
    assert result.global_step == 1 and result.training_loss > 0
