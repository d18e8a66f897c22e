"""`python -m generation run`: make ECD SFT data and DPO pairs from seed instructions."""

from __future__ import annotations

import argparse
from dataclasses import fields

from generation.config import GenerationConfig, TeacherConfig, load_config
from harness.backends import backend_names, flagged_options
from harness.config import ConfigFlag, with_flags
from harness.errors import ArgumentParser, run_cli
from harness.plugins import plugins_loaded

EPILOG = """examples:
  python -m generation run                                  # shipped seeds, embedded model, offline
  python -m generation run --limit 5 --rounds 2 --max-new-tokens 64   # a quick look
  python -m generation run --seeds seeds.jsonl --seed-field prompt --out data/ecd
  python -m generation run --teacher gpt-4o-mini --backend openai --concurrency 64
  python -m generation run --teacher Qwen/Qwen2-72B-Instruct --backend openai \\
      --base-url http://localhost:8000/v1                   # a `vllm serve` endpoint
  python -m generation run --config ecd.yaml                # every setting, incl. ablation variants

The output folder holds sft.jsonl / dpo.jsonl (and HF datasets sft/ and dpo/), stats.json and
chains.jsonl (every evolution step); variants from the config go under variants/NAME/. Every model
call is cached in the store: rerun a killed command and only the missing calls are made; rerun
with other export settings and none are. Flags override the config file."""


# Each flag sets one field of GenerationConfig; its value is checked as that key in the file is.
# The teacher's --backend and backend options come from the backend table (`flags()`).
FLAGS = (
    ConfigFlag(
        "--seeds",
        "seeds.path",
        "JSONL file, saved HF dataset folder or hub id (default: shipped sample)",
    ),
    ConfigFlag(
        "--seed-field", "seeds.field", "field holding the instruction (default: instruction)"
    ),
    ConfigFlag(
        "--seed-id-field",
        "seeds.id_field",
        "field holding a unique id (default: id, else row number)",
    ),
    ConfigFlag("--limit", "seeds.limit", "only the first N seeds"),
    ConfigFlag(
        "--teacher",
        "teacher.model",
        "registry name, checkpoint, hub id or served model name "
        "(default: the embedded smollm2-135m-instruct)",
    ),
    ConfigFlag("--rounds", "rounds", "evolution rounds K per seed (default 3)"),
    ConfigFlag("--seed", "seed", "random seed for operation sampling (default 0)"),
    ConfigFlag(
        "--taxonomy", "taxonomy", "YAML taxonomy of evolution operations (default: shipped)"
    ),
    ConfigFlag("--max-new-tokens", "respond.max_new_tokens", "response length limit (default 512)"),
    ConfigFlag(
        "--evolve-max-new-tokens", "evolve.max_new_tokens", "rewrite length limit (default 256)"
    ),
    ConfigFlag(
        "--negatives",
        "export.negatives",
        "rejected: R(k-1) or another seed's",
        {"choices": ("hard", "random")},
    ),
    ConfigFlag("--sft-only", "export.sft_only", "write SFT data only", {"action": "store_true"}),
    ConfigFlag(
        "--judge",
        "verify.judge",
        "LLM-judge the operations no rule can check",
        {"action": "store_true"},
    ),
    ConfigFlag(
        "--drop-failed",
        "verify.drop_failed",
        "drop rows whose verification failed (default: keep, verdicts stored)",
        {"action": argparse.BooleanOptionalAction},
    ),
    ConfigFlag(
        "--no-decontaminate",
        "decontaminate.enabled",
        "skip benchmark decontamination",
        {"action": "store_false"},
    ),
    ConfigFlag(
        "--data-dir",
        "decontaminate.data_dir",
        "benchmark data for decontamination (default: $ECD_HARNESS_DATA)",
    ),
    ConfigFlag("--out", "out", "output folder (default: ecd-data)"),
    ConfigFlag(
        "--store",
        "store",
        "SQLite file or postgresql:// URL (default: $ECD_HARNESS_STORE or the harness home)",
    ),
)


def backend_flags() -> list[ConfigFlag]:
    """--backend, and a flag per declared backend option: it sets the TeacherConfig field of its
    name (checked as that field), else `teacher.backend_options.NAME` (checked by the option)."""
    teacher = {f.name for f in fields(TeacherConfig)}
    backend = ConfigFlag(
        "--backend",
        "teacher.backend",
        "default: the registry entry's",
        {"choices": backend_names()},
    )
    return [
        backend,
        *(
            ConfigFlag(o.flag, f"teacher.{o.name}", o.flag_help)
            if o.name in teacher
            else ConfigFlag(
                o.flag, f"teacher.backend_options.{o.name}", o.flag_help, o.flag_kwargs()
            )
            for o in flagged_options()
        ),
    ]


def flags() -> tuple[ConfigFlag, ...]:
    return (*FLAGS, *backend_flags())


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(
        prog="python -m generation",
        description="Evolutionary Contrastive Distillation data: evolve seed instructions, answer "
        "every version with a teacher, pair R(k) against the hard negative R(k-1), verify, "
        "decontaminate and export for TRL.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser(
        "run",
        help="generate SFT data and DPO pairs",
        description="Seeds -> K rounds of evolution -> teacher responses -> pairs -> export.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--config", help="YAML config; generation/data/example-config.yaml documents every field"
    )
    for flag in flags():
        flag.add_to(p)
    p.add_argument("--quiet", action="store_true", help="no progress bars or summary")
    return parser


def config_from_args(args) -> GenerationConfig:
    """The config file (or the defaults) with the flags given written over it, checked once."""
    return load_config(args.config, lambda data: with_flags(GenerationConfig, data, args, flags()))


def main(argv: list[str] | None = None) -> int:
    if run_cli(plugins_loaded):  # the parser lists the backends, plugins' too
        return 2
    args = build_parser().parse_args(argv)

    def command() -> int:
        from generation.run import run

        run(config_from_args(args), progress=not args.quiet)
        return 0

    return run_cli(
        command, "interrupted: rerun the same command to resume; finished calls are saved"
    )
