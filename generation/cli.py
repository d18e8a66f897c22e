"""`python -m generation run`: make ECD SFT data and DPO pairs from seed instructions."""

from __future__ import annotations

import argparse

from generation.config import ROUNDS
from harness.errors import ArgumentParser, run_cli
from harness.validate import flag_type, positive_int, seed_int

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
    p.add_argument(
        "--seeds", help="JSONL file, saved HF dataset folder or hub id (default: shipped sample)"
    )
    p.add_argument("--seed-field", help="field holding the instruction (default: instruction)")
    p.add_argument(
        "--seed-id-field", help="field holding a unique id (default: id, else row number)"
    )
    p.add_argument("--limit", type=positive_int, help="only the first N seeds")
    p.add_argument(
        "--teacher",
        help="registry name, checkpoint, hub id or served model name "
        "(default: the embedded smollm2-135m-instruct)",
    )
    p.add_argument(
        "--backend", choices=("hf", "vllm", "openai"), help="default: the registry entry's"
    )
    p.add_argument("--base-url", help="OpenAI-compatible endpoint for --backend openai")
    p.add_argument(
        "--concurrency", type=positive_int, help="parallel requests, openai backend (default 16)"
    )
    p.add_argument("--batch-size", type=positive_int, help="hf backend batch size (default 16)")
    p.add_argument(
        "--rounds", type=flag_type(ROUNDS), help="evolution rounds K per seed (default 3)"
    )
    p.add_argument("--seed", type=seed_int, help="random seed for operation sampling (default 0)")
    p.add_argument("--taxonomy", help="YAML taxonomy of evolution operations (default: shipped)")
    p.add_argument(
        "--max-new-tokens", type=positive_int, help="response length limit (default 512)"
    )
    p.add_argument(
        "--evolve-max-new-tokens", type=positive_int, help="rewrite length limit (default 256)"
    )
    p.add_argument(
        "--negatives", choices=("hard", "random"), help="rejected: R(k-1) or another seed's"
    )
    p.add_argument("--sft-only", action="store_true", default=None, help="write SFT data only")
    p.add_argument(
        "--judge",
        action="store_true",
        default=None,
        help="LLM-judge the operations no rule can check",
    )
    p.add_argument(
        "--drop-failed",
        action=argparse.BooleanOptionalAction,
        help="drop rows whose verification failed (default: keep, verdicts stored)",
    )
    p.add_argument("--no-decontaminate", action="store_true", help="skip benchmark decontamination")
    p.add_argument(
        "--data-dir", help="benchmark data for decontamination (default: $ECD_HARNESS_DATA)"
    )
    p.add_argument("--out", help="output folder (default: ecd-data)")
    p.add_argument("--store", help="SQLite store (default: $ECD_HARNESS_STORE or the harness home)")
    p.add_argument("--quiet", action="store_true", help="no progress bars or summary")
    return parser


def config_from_args(args):
    from generation.config import load_config

    cfg = load_config(args.config)
    overrides = [
        (cfg.seeds, "path", args.seeds),
        (cfg.seeds, "field", args.seed_field),
        (cfg.seeds, "id_field", args.seed_id_field),
        (cfg.seeds, "limit", args.limit),
        (cfg.teacher, "model", args.teacher),
        (cfg.teacher, "backend", args.backend),
        (cfg.teacher, "base_url", args.base_url),
        (cfg.teacher, "concurrency", args.concurrency),
        (cfg.teacher, "batch_size", args.batch_size),
        (cfg, "rounds", args.rounds),
        (cfg, "seed", args.seed),
        (cfg, "taxonomy", args.taxonomy),
        (cfg.respond, "max_new_tokens", args.max_new_tokens),
        (cfg.evolve, "max_new_tokens", args.evolve_max_new_tokens),
        (cfg.export, "negatives", args.negatives),
        (cfg.export, "sft_only", args.sft_only),
        (cfg.verify, "judge", args.judge),
        (cfg.verify, "drop_failed", args.drop_failed),
        (cfg.decontaminate, "data_dir", args.data_dir),
        (cfg, "out", args.out),
        (cfg, "store", args.store),
    ]
    for obj, name, value in overrides:
        if value is not None:
            setattr(obj, name, value)
    if args.no_decontaminate:
        cfg.decontaminate.enabled = False
    return cfg


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    def command() -> int:
        from generation.run import run

        run(config_from_args(args), progress=not args.quiet)
        return 0

    return run_cli(
        command, "interrupted: rerun the same command to resume; finished calls are saved"
    )
