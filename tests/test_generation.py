"""ECD generation against a real loopback OpenAI-compatible teacher: resume, verdicts, variants,
decontamination and input errors."""

from __future__ import annotations

import json
import os
import random
import re
import sqlite3
import subprocess
import sys
import time
import zlib
from pathlib import Path

import pytest
import yaml
from openai_server import OpenAIServer

from generation.cli import main
from generation.taxonomy import load_taxonomy
from harness.suites import suite_names

ROOT = Path(__file__).resolve().parents[1]
GIVEN = re.compile(r"Given instruction: (.*)\nRewritten instruction:", re.S)
WORDED = re.compile(r'worded as here: "(.*)"', re.S)


def teacher(body: dict) -> str:
    """Plays evolver and responder, deterministically: rewrites append the requested constraint;
    answers honour JSON and case requests (so some checks pass and some fail) and differ per
    instruction (so pairs are never identical)."""
    text = body["messages"][-1]["content"]
    given = GIVEN.search(text)
    if given:
        constraint = WORDED.search(text)
        extra = constraint.group(1) if constraint else "Explain the reasoning behind each point."
        return f"{given.group(1).strip()} {extra}"
    answer = f"Answer number {zlib.crc32(text.encode())}: Tea, Sea and Rain are nice. Done."
    if "JSON" in text:
        return json.dumps({"answer": answer})
    if "lowercase letters" in text:
        return answer.lower()
    if "capital letters" in text:
        return answer.upper()
    return answer


def write_seeds(path: Path, texts: list[str]) -> Path:
    with open(path, "w") as f:
        for i, t in enumerate(texts):
            f.write(json.dumps({"id": f"s{i}", "instruction": t}) + "\n")
    return path


SEEDS = [
    "Write a short poem about the sea.",
    "Explain what photosynthesis is.",
    "Give three tips for staying healthy.",
    "Describe how a bicycle works.",
    "Suggest a name for a new coffee shop.",
    "Explain why the sky is blue.",
]


def run_args(srv: OpenAIServer, tmp: Path, out: str, store: str = "s.sqlite", *extra: str) -> list:
    return [
        "run",
        "--teacher",
        "loopback-teacher",
        "--backend",
        "openai",
        "--base-url",
        srv.base_url,
        "--out",
        str(tmp / out),
        "--store",
        str(tmp / store),
        "--quiet",
        *extra,
    ]


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_password_in_the_base_url_is_never_written(tmp_path):
    """stats.json records every setting, and travels into the trained model's provenance: a
    teacher URL's password is masked there, as everywhere."""
    seeds = write_seeds(tmp_path / "seeds.jsonl", SEEDS[:2])
    with OpenAIServer(teacher) as srv:
        args = run_args(srv, tmp_path, "out", "s.sqlite", "--seeds", str(seeds), "--rounds", "1")
        args[args.index(srv.base_url)] = srv.base_url.replace(
            "http://", "http://alice:URLSECRET77@"
        )
        assert main(args) == 0
    stats = json.loads((tmp_path / "out" / "stats.json").read_text())
    assert stats["config"]["teacher"]["base_url"].startswith("http://alice:***@127.0.0.1:")
    for path in tmp_path.rglob("*"):
        assert not path.is_file() or b"URLSECRET77" not in path.read_bytes(), path


def test_the_registry_entrys_backend_options_hold_unless_given(tmp_path, monkeypatch):
    """A teacher setting left unset is the registry entry's `backend_options`, else the backend's
    default (it was always the teacher's own default, hiding the entry's); stats.json says what
    the teacher ran with."""
    seeds = write_seeds(tmp_path / "seeds.jsonl", SEEDS[:2])
    with OpenAIServer(teacher) as srv:
        registry = tmp_path / "registry.yaml"
        entry = {"source": "t", "backend": "openai", "base_url": srv.base_url}
        entry["backend_options"] = {"concurrency": 3, "max_retries": 1}
        registry.write_text(yaml.safe_dump({"models": {"served-teacher": entry}}))
        monkeypatch.setenv("ECD_HARNESS_REGISTRY", str(registry))
        common = ["run", "--teacher", "served-teacher", "--seeds", str(seeds), "--rounds", "1"]
        common += ["--store", str(tmp_path / "s.sqlite"), "--quiet"]
        assert main([*common, "--out", str(tmp_path / "a")]) == 0
        assert main([*common, "--out", str(tmp_path / "b"), "--concurrency", "5"]) == 0
    ran = [json.loads((tmp_path / d / "stats.json").read_text())["teacher_options"] for d in "ab"]
    assert [(o["concurrency"], o["max_retries"], o["timeout"]) for o in ran] == [
        (3, 1, 120.0),
        (5, 1, 120.0),
    ]


def test_killed_run_resumes_without_repeating_calls(tmp_path):
    seeds = write_seeds(
        tmp_path / "seeds.jsonl", SEEDS + [f"Describe the colour number {i}." for i in range(6)]
    )
    common = ["--seeds", str(seeds), "--rounds", "2", "--concurrency", "2", "--no-decontaminate"]
    with OpenAIServer(teacher) as srv:  # the uninterrupted reference run
        assert main(run_args(srv, tmp_path, "ref", "ref.sqlite", *common)) == 0
        total = srv.calls
    assert total == 12 + 12 + 36  # every seed evolves twice; every instruction is answered

    env = {**os.environ, "PYTHONPATH": str(ROOT)}

    def cmd(srv):
        return [
            sys.executable,
            "-m",
            "generation",
            *run_args(srv, tmp_path, "out", "s.sqlite", *common),
        ]

    with OpenAIServer(teacher, latency=0.05) as srv:
        port = srv.httpd.server_address[1]
        proc = subprocess.Popen(cmd(srv), env=env, cwd=tmp_path, stderr=subprocess.DEVNULL)
        deadline = time.time() + 60
        while srv.calls < 20 and time.time() < deadline and proc.poll() is None:
            time.sleep(0.02)
        proc.kill()  # SIGKILL: no cleanup runs
        proc.wait()
    with sqlite3.connect(tmp_path / "s.sqlite") as db:
        stored = {
            json.dumps(json.loads(r[0])["conversation"])
            for r in db.execute("SELECT request FROM generations")
        }
    assert 12 <= len(stored) < total, "the kill should land mid-run"
    assert not (tmp_path / "out").exists(), "a killed run must not leave a dataset"

    with OpenAIServer(teacher, port=port) as srv:  # the same endpoint, the same command again
        assert main(run_args(srv, tmp_path, "out", "s.sqlite", *common)) == 0
        asked = [json.dumps(b["messages"]) for b in srv.requests]
    assert len(asked) == total - len(stored), "only the missing calls are made"
    assert not set(asked) & stored, "no stored call is made again"

    for name in ("sft.jsonl", "dpo.jsonl", "chains.jsonl"):
        assert (tmp_path / "out" / name).read_bytes() == (tmp_path / "ref" / name).read_bytes()
    a, b = (json.loads((tmp_path / d / "stats.json").read_text()) for d in ("out", "ref"))
    for s in (a, b):  # the settings name the endpoint, whose port differs
        s.pop("config"), s.pop("teacher_options"), s["usage"].pop("this_run")
    assert a == b
    assert [p.name for p in tmp_path.glob(".out.*")] == [".out.lock"], "no staging folder is left"


def test_a_second_run_into_an_out_folder_in_use_is_refused(tmp_path, capsys):
    """Two runs into one --out at once: the second's commit would delete the first's staged
    files. While the first generates, the second is refused in one line; the first ends whole."""
    seeds = write_seeds(tmp_path / "seeds.jsonl", SEEDS)
    common = ["--seeds", str(seeds), "--rounds", "1", "--no-decontaminate"]
    with OpenAIServer(teacher, latency=0.2) as srv:
        first = subprocess.Popen(
            [sys.executable, "-m", "generation", *run_args(srv, tmp_path, "out", "a.sqlite", *common)],
            cwd=ROOT, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        deadline = time.time() + 60
        while srv.calls < 1:  # the first holds the folder and is generating
            assert first.poll() is None and time.time() < deadline, first.stderr.read()
            time.sleep(0.02)
        rc = main(run_args(srv, tmp_path, "out", "b.sqlite", *common))
        err = capsys.readouterr().err.strip()
        assert rc == 2 and f"is being written by another process (pid {first.pid})" in err, err
        assert first.poll() is None, "the first run ended before the second started"
        assert first.wait(timeout=120) == 0, first.stderr.read()
    assert len(read_jsonl(tmp_path / "out" / "chains.jsonl")) == len(SEEDS)
    assert not (tmp_path / "b.sqlite").exists(), "the refused run opened no store"


def _ifeval_verdict(instruction_id: str, kwargs: dict, prompt: str, response: str) -> bool:
    """lm-eval's checker, called directly (not through generation.verify)."""
    from harness.suites.ifeval_rules import reference

    checker = reference.instructions_registry.INSTRUCTION_DICT[instruction_id](instruction_id)
    checker.build_description(**kwargs)
    if "prompt" in (checker.get_instruction_args_keys() or ()):
        checker.build_description(prompt=prompt)
    return bool(response.strip()) and checker.check_following(response)


def test_stored_verdicts_agree_with_ifeval_checkers(tmp_path):
    cfg = tmp_path / "cfg.yaml"
    only_checkable = {
        "content": 0,
        "reasoning": 0,
        "breadth": 0,
        "style/persona": 0,
        "style/audience": 0,
    }
    cfg.write_text(yaml.safe_dump({"weights": only_checkable}))
    seeds = write_seeds(tmp_path / "seeds.jsonl", SEEDS)
    with OpenAIServer(teacher) as srv:
        args = run_args(
            srv, tmp_path, "out", "s.sqlite", "--config", str(cfg), "--seeds", str(seeds)
        )
        assert main(args) == 0
    taxonomy = load_taxonomy()
    rows = read_jsonl(tmp_path / "out" / "dpo.jsonl")
    assert rows and all(r["verification"]["method"] == "ifeval" for r in rows)
    outcomes = []
    for r in rows:
        prompt = r["prompt"][0]["content"]
        op = taxonomy.operations[r["operation"]]
        checks = r["verification"]["checks"]
        assert [c["round"] for c in checks] == sorted(c["round"] for c in checks)
        new = checks[-1]
        assert new["round"] == r["round"] and new["instruction_id"] == op.check["instruction_id"]
        for c in checks:
            kwargs = json.loads(c["kwargs"])
            for side in ("chosen", "rejected"):
                expect = _ifeval_verdict(c["instruction_id"], kwargs, prompt, r[side][0]["content"])
                assert c[side] == expect, (r["seed_id"], r["round"], c, side)
                outcomes.append(expect)
        assert r["verification"]["passed"] == (
            all(c["chosen"] for c in checks) and not new["rejected"]
        )
    assert True in outcomes and False in outcomes, (
        "the teacher should pass some checks and fail others"
    )
    stats = json.loads((tmp_path / "out" / "stats.json").read_text())
    assert stats["verification"]["dpo"]["checked"] == len(rows)
    assert sum(v["n"] for v in stats["verification"]["per_instruction"].values()) == len(rows)


def test_variants_decontamination_and_seed_mapping(tmp_path, data_dir):
    import datasets

    ifeval_prompt = json.loads(
        (data_dir / "ifeval" / "input_data.jsonl").read_text().splitlines()[3]
    )["prompt"]
    mt_question = json.loads(
        (data_dir / "mt_bench" / "question.jsonl").read_text().splitlines()[0]
    )["turns"][0]
    texts = [*SEEDS[:4], ifeval_prompt, mt_question]
    datasets.Dataset.from_list(
        [{"key": f"k{i}", "prompt": t} for i, t in enumerate(texts)]
    ).save_to_disk(str(tmp_path / "seed-ds"))
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(
        yaml.safe_dump(
            {
                "seeds": {"path": str(tmp_path / "seed-ds"), "field": "prompt", "id_field": "key"},
                "rounds": 2,
                "variants": {
                    "random": {"negatives": "random"},
                    "sft_only": {"sft_only": True},
                    "round1": {"max_round": 1},
                    "format_ops": {"operations": ["format", "style/lowercase"]},
                },
            }
        )
    )
    with OpenAIServer(teacher) as srv:
        assert main(run_args(srv, tmp_path, "out", "s.sqlite", "--config", str(cfg))) == 0
        calls = srv.calls
        # other export settings later: everything comes from the store, no call is made
        assert (
            main(
                run_args(
                    srv, tmp_path, "out2", "s.sqlite", "--config", str(cfg), "--negatives", "random"
                )
            )
            == 0
        )
        assert srv.calls == calls
    rerun = json.loads((tmp_path / "out2" / "stats.json").read_text())["usage"]
    assert rerun["this_run"]["calls"] == 0 and rerun["this_run"]["from_store"] == calls
    assert rerun["calls"] == calls and rerun["completion_tokens"] > 0  # what the data cost
    out = tmp_path / "out"
    stats = json.loads((out / "stats.json").read_text())
    dropped = stats["decontamination"]["dropped"]
    assert {(d["seed_id"], d["benchmark"]) for d in dropped} == {
        ("k4", "ifeval"),
        ("k5", "mt_bench"),
    }
    gone = {(d["seed_id"], d["round"]) for d in dropped}
    assert {("k4", 0), ("k5", 0), ("k4", 1)} <= gone
    assert stats["decontamination"]["benchmark_prompts"]["ifeval"] == 541
    later = sum(k > 0 for _, k in gone)  # these also take their DPO pair
    contaminated = {k: v for k, v in stats["dropped"].items() if k.startswith("contaminated")}
    assert sum(contaminated.values()) == len(gone)
    sft, dpo = read_jsonl(out / "sft.jsonl"), read_jsonl(out / "dpo.jsonl")
    assert not {(r["seed_id"], r["round"]) for r in sft + dpo} & gone
    assert len(sft) == 18 - len(gone) and len(dpo) == 12 - later
    assert stats["counts"] == {"sft": len(sft), "dpo": len(dpo)}
    assert sft[0]["messages"][0] == {"role": "user", "content": SEEDS[0]}
    chains = {c["seed_id"]: c["steps"] for c in read_jsonl(out / "chains.jsonl")}
    for r in dpo:  # hard negative: the previous round's answer to the same seed
        steps = chains[r["seed_id"]]
        assert r["chosen"][0]["content"] == steps[r["round"]]["response"]
        assert r["rejected"][0]["content"] == steps[r["round"] - 1]["response"]
    assert (out / "dpo" / "dataset_info.json").exists()
    assert datasets.load_from_disk(str(out / "dpo")).to_list() == dpo

    v = out / "variants"
    responses = {s["response"]: sid for sid, steps in chains.items() for s in steps}
    random_rows = read_jsonl(v / "random" / "dpo.jsonl")
    assert len(random_rows) == len(dpo)
    assert all(responses[r["rejected"][0]["content"]] != r["seed_id"] for r in random_rows)
    assert not (v / "sft_only" / "dpo.jsonl").exists() and (v / "sft_only" / "sft.jsonl").exists()
    assert {r["round"] for r in read_jsonl(v / "round1" / "dpo.jsonl")} == {1}
    fmt = read_jsonl(v / "format_ops" / "dpo.jsonl")
    assert all(
        r["operation"].startswith("format/") or r["operation"] == "style/lowercase" for r in fmt
    )
    assert len(fmt) < len(dpo)


@pytest.mark.parametrize(
    "setup, expected",
    [
        (lambda t: {"seeds": {"path": str(t / "bad.jsonl")}}, "bad.jsonl:2: not valid JSON"),
        (lambda t: {"seeds": {"path": str(t / "bad.jsonl"), "field": "text"}}, "bad.jsonl:2"),
        (
            lambda t: {"seeds": {"path": str(t / "seeds.jsonl"), "field": "text"}},
            "no text in field 'text'",
        ),
        (lambda t: {"weights": {"format/yaml": 2}}, "unknown operation 'format/yaml'"),
        (lambda t: {"variants": {"x": {"operations": ["poetry"]}}}, "unknown operation 'poetry'"),
        (lambda t: {"taxonomy": str(t / "broken.yaml")}, "broken.yaml: not valid YAML"),
        (
            lambda t: {"taxonomy": str(t / "badcheck.yaml")},
            "unknown IFEval instruction id 'format:toml'",
        ),
        (lambda t: {"rounds": 2, "evolv": {}}, "unknown keys ['evolv']"),
        (
            lambda t: {"decontaminate": {"benchmarks": ["ifevl"]}},
            "decontaminate.benchmarks: unknown suite 'ifevl'; choose from ifeval, ",
        ),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, capsys, setup, expected):
    write_seeds(tmp_path / "seeds.jsonl", SEEDS[:2])
    (tmp_path / "bad.jsonl").write_text('{"id": 1, "instruction": "ok"}\n{"id": 2, "instr\n')
    (tmp_path / "broken.yaml").write_text("template: [unclosed\n")
    (tmp_path / "badcheck.yaml").write_text(
        yaml.safe_dump(
            {
                "template": "{operation} {instruction}",
                "operations": {
                    "format": {
                        "subtypes": {
                            "toml": {
                                "prompt": "add {constraint}",
                                "check": {"instruction_id": "format:toml", "kwargs": {}},
                            }
                        }
                    }
                },
            }
        )
    )
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(
        yaml.safe_dump({"seeds": {"path": str(tmp_path / "seeds.jsonl")}, **setup(tmp_path)})
    )
    with OpenAIServer(teacher) as srv:
        rc = main(run_args(srv, tmp_path, "out", "s.sqlite", "--config", str(cfg)))
        assert srv.calls == 0
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err.startswith("error: ") and "\n" not in err and expected in err, err
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".out*"))


def test_refuses_to_replace_a_foreign_folder(tmp_path, capsys):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "notes.txt").write_text("mine")
    with OpenAIServer(teacher) as srv:
        assert main(run_args(srv, tmp_path, "out", "s.sqlite", "--limit", "1")) == 2
    assert "is not an ECD export" in capsys.readouterr().err
    assert (tmp_path / "out" / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize(
    "reply, op_id, reason",
    [
        # replies the embedded SmolLM2 gave to rewriting prompts: answers, not instructions
        (
            "1. Stay hydrated\n2. Eat a balanced diet\n3. Get enough sleep",
            "content/deepen",
            "answered",
        ),
        (
            "Photosynthesis is a process that plants use to convert light energy.",
            "reasoning/justify",
            "answered",
        ),
        ("Give three tips for staying healthy.", "content/deepen", "copied"),
        ("I'm sorry, but I can't help with rewriting that.", "style/persona", "refused"),
        ("Tips.", "content/deepen", "degenerate_length"),
        (
            "The bicycle is a vehicle that uses a bicycle wheel to turn.",
            "reasoning/justify",
            "answered",
        ),
        # ... and replies that parrot the rewriting prompt
        (
            "must make sense on its own and be something a capable assistant can answer.",
            "breadth/new_task",
            "echoed_prompt",
        ),
        (
            "Rewrite the given instruction into a more demanding version: tips",
            "content/deepen",
            "echoed_prompt",
        ),
        (
            "Give three tips for staying healthy, as a pirate would.",
            "format/json",
            "constraint_missing",
        ),
        (
            "Rewritten instruction: Give three tips for staying healthy, in JSON.",
            "format/json",
            None,
        ),
        (
            "Give three tips for staying healthy, each justified by a study.",
            "reasoning/justify",
            None,
        ),
        ("Invent a board game for two players that teaches fractions.", "breadth/new_task", None),
    ],
)
def test_failed_evolutions_are_detected(reply, op_id, reason):
    from generation.evolve import clean, failure, scaffold
    from harness.backends import Completion

    taxonomy = load_taxonomy()
    op = taxonomy.operations[op_id]
    constraint = op.sample_constraint(random.Random(0))
    original = (
        "Describe how a bicycle works."
        if "bicycle" in reply
        else "Give three tips for staying healthy."
    )
    got = failure(original, Completion(reply), clean(reply), op, constraint, scaffold(taxonomy, op))
    assert got == reason


def test_operation_sampling_is_seeded_and_avoids_conflicts():
    taxonomy = load_taxonomy()
    draws = [taxonomy.sample(random.Random("0:s1:1")).id for _ in range(3)]
    assert len(set(draws)) == 1
    excluded = {"change_case:english_lowercase", "change_case:english_capital"}
    ids = {taxonomy.sample(random.Random(i), excluded).id for i in range(300)}
    assert not ids & {"style/lowercase", "style/uppercase"} and "format/json" in ids
    only = taxonomy.reweighted({"content": 0, "style": 0, "reasoning": 0, "breadth": 0})
    assert {only.sample(random.Random(i)).group for i in range(50)} == {"format"}


def test_judge_verdicts_for_operations_no_rule_checks(tmp_path):
    def judging_teacher(body: dict) -> str:
        text = body["messages"][-1]["content"]
        if text.startswith("Decide whether the response follows"):
            response = text.split("[Response]\n", 1)[1]
            return "YES" if zlib.crc32(response.encode()) % 3 else "NO, it misses a requirement."
        return teacher(body)

    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(
        yaml.safe_dump({"weights": {"content": 0, "style": 0, "format": 0, "breadth": 0}})
    )
    seeds = write_seeds(tmp_path / "seeds.jsonl", SEEDS)
    with OpenAIServer(judging_teacher) as srv:
        extra = ("--config", str(cfg), "--seeds", str(seeds), "--judge", "--rounds", "2")
        assert main(run_args(srv, tmp_path, "out", "s.sqlite", *extra)) == 0
        judge_calls = sum("[Response]" in b["messages"][-1]["content"] for b in srv.requests)
    rows = read_jsonl(tmp_path / "out" / "dpo.jsonl")
    assert len(rows) == 12 and judge_calls == 2 * 12  # R(k) and R(k-1) for each I(k)
    verdicts = set()
    for r in rows:
        v = r["verification"]
        assert r["operation"].startswith("reasoning/") and v["method"] == "judge"
        assert v["passed"] == (v["judge"]["chosen"] and not v["judge"]["rejected"])
        verdicts.add(v["passed"])
    assert verdicts == {True, False}


def test_shipped_example_config_is_complete_and_loads():
    from dataclasses import asdict

    from generation.config import GenerationConfig, load_config

    cfg = load_config(ROOT / "generation" / "data" / "example-config.yaml")
    cfg.validate()
    defaults = asdict(GenerationConfig())
    example = asdict(cfg)
    assert set(example["variants"]) == {"random_negatives", "sft_only", "rounds_1", "format_only"}
    example["variants"] = {}
    assert example == defaults, "the example documents the defaults"


def test_flags_override_the_config_file(tmp_path):
    """Flags are written into the file's mapping before it is checked: they win key by key, and
    the file's other keys (and a null section's defaults) stand."""
    from generation.cli import build_parser, config_from_args

    cfg = tmp_path / "ecd.yaml"
    cfg.write_text(
        "rounds: 2\nrespond: {max_new_tokens: 9, temperature: 0.5}\n"
        "teacher: {model: file-model, concurrency: 3}\nverify: null\n"
    )
    flags = ["--rounds", "5", "--max-new-tokens", "7", "--teacher", "x", "--judge"]
    args = build_parser().parse_args(["run", "--config", str(cfg), *flags, "--no-decontaminate"])
    config = config_from_args(args)
    assert (config.rounds, config.respond.max_new_tokens, config.teacher.model) == (5, 7, "x")
    assert (config.respond.temperature, config.teacher.concurrency) == (0.5, 3)
    assert config.verify.judge and not config.decontaminate.enabled
    plain = config_from_args(build_parser().parse_args(["run", "--config", str(cfg)]))
    assert (plain.rounds, plain.respond.max_new_tokens, plain.teacher.model) == (2, 9, "file-model")
    assert not plain.verify.judge and plain.decontaminate.enabled


def test_decontamination_degrades_when_a_benchmark_is_missing(tmp_path, data_dir, capsys):
    bench = tmp_path / "bench"
    bench.mkdir()
    (bench / "ifeval").symlink_to(data_dir / "ifeval")  # IFEval only
    seeds = write_seeds(tmp_path / "seeds.jsonl", SEEDS[:2])
    with OpenAIServer(teacher) as srv:
        extra = ("--seeds", str(seeds), "--rounds", "1", "--data-dir", str(bench))
        assert main(run_args(srv, tmp_path, "out", "s.sqlite", *extra)) == 0
    decon = json.loads((tmp_path / "out" / "stats.json").read_text())["decontamination"]
    assert decon["benchmark_prompts"] == {"ifeval": 541}
    assert set(decon["skipped"]) == set(suite_names()) - {"ifeval"}  # every other registered suite
    err = capsys.readouterr().err
    assert "decontamination against mt_bench skipped" in err
