"""DPO training throughput: TRL's defaults vs the tuned settings the recipes use, as a ratio.

Each configuration runs in its own process (clean peak-memory numbers) on the same rows, and the
script prints one JSON line: tokens/s (steady state, and end to end from trainer construction,
which includes loading the reference model or precomputing its log-probs), MFU and peak memory.

  python benchmarks/dpo_throughput.py --model /models/Qwen2.5-0.5B-Instruct --device cuda
  python benchmarks/dpo_throughput.py --model random-0.5b --device cuda  # no weights at hand
  python benchmarks/dpo_throughput.py --model random-small --device cpu  # no GPU

--model takes a local checkpoint dir, a harness registry name, an HF id (needs the hub), or
random-<shape> (tiny, small, 0.5b, 1.5b: a randomly initialised Llama built on the spot, with the
layer shapes and vocabulary size of Qwen2.5-0.5B/1.5B for the last two; throughput does not depend
on the weights).
Rows are synthetic (seeded random words of the requested lengths) unless --data names a
generation export folder or a dpo.jsonl. No network is needed with a local model.

Model FLOPs per trained token are counted as 8N (6N policy forward+backward, 2N reference
forward; attention ignored), the same for both configurations, so the MFU ratio equals the
throughput ratio; MFU is null on CPU unless --peak-tflops is given.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PEAK_BF16_TFLOPS = {"H100": 989.0, "H200": 989.0, "A100": 312.0, "L40S": 362.0, "A10G": 125.0}
WORDS = (
    "the a model answer instruction json list write three short words format each line sentence "
    "keep include exactly title poem city river summary bullet points lowercase comma end with "
    "question respond first second final paragraph table markdown number letter story reason"
).split()


def tuned_settings(batch_size: int) -> dict:
    """What the recipes set for speed on small models (padding_free is unavailable in TRL 1.16 DPO)."""
    settings = {
        "precompute_ref_log_probs": True,
        "precompute_ref_batch_size": 4 * batch_size,
        "gradient_checkpointing": False,
    }
    if importlib.util.find_spec("liger_kernel") is not None:
        settings["use_liger_kernel"] = True
    return settings


def synthetic_rows(n: int, prompt_words: int, response_words: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)

    def text(k: int) -> str:
        return " ".join(rng.choice(WORDS) for _ in range(k))

    return [
        {
            "prompt": [{"role": "user", "content": text(prompt_words)}],
            "chosen": [{"role": "assistant", "content": text(response_words)}],
            "rejected": [{"role": "assistant", "content": text(response_words)}],
        }
        for _ in range(n)
    ]


def model_path(name: str, workdir: Path, device: str) -> str:
    if name.startswith("random-"):
        from training.random_model import SHAPES, build_random_model

        shape = name.removeprefix("random-")
        if shape not in SHAPES:
            sys.exit(f"unknown shape {shape!r}; use random-{{{','.join(SHAPES)}}}")
        texts = [" ".join(WORDS[i:] + WORDS[:i]) for i in range(len(WORDS))]
        dtype = "bfloat16" if device == "cuda" else "float32"
        return str(
            build_random_model(workdir / name, texts, shape, tokenizer_vocab=400, dtype=dtype)
        )
    from harness.backends.weights import local_path
    from harness.registry import resolve_model

    return local_path(resolve_model(name))


def worker(args) -> dict:
    """One configuration in this process: build the trainer, train, measure."""
    import pyarrow as pa
    import torch
    from transformers import AutoTokenizer, TrainerCallback
    from trl import DPOConfig, DPOTrainer

    from training.data import load_stage_data

    rows_needed = args.steps * args.batch_size
    if args.data:
        rows = load_stage_data(args.data, "dpo").rows
        rows = (rows * (rows_needed // len(rows) + 1))[:rows_needed]
    else:
        rows = synthetic_rows(rows_needed, args.prompt_words, args.response_words)
    cuda = args.device == "cuda"
    settings = tuned_settings(args.batch_size) if args.config == "tuned" else {}
    config = DPOConfig(
        output_dir=args.workdir,
        max_steps=args.steps,
        per_device_train_batch_size=args.batch_size,
        max_length=args.max_length,
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        bf16=cuda,
        use_cpu=not cuda,
        model_init_kwargs={"dtype": "bfloat16" if cuda else "float32"},
        seed=0,
        **settings,
    )
    from datasets import Dataset

    marks: list[tuple[int, float, float]] = []

    class Clock(TrainerCallback):
        def on_log(self, _args, state, _control, logs=None, **_):
            if logs and "num_tokens" in logs:
                if cuda:
                    torch.cuda.synchronize()
                marks.append((state.global_step, time.perf_counter(), float(logs["num_tokens"])))

    if cuda:
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    trainer = DPOTrainer(
        model=args.model_path,
        args=config,
        # A fixed fingerprint: datasets' dill hashing of a fresh table fails on Python 3.12 with
        # the GPU image's pyarrow (PicklingError on MonthDayNano).
        train_dataset=Dataset(pa.Table.from_pylist(rows), fingerprint=f"dpo-bench-{len(rows)}"),
        processing_class=AutoTokenizer.from_pretrained(args.model_path),
        callbacks=[Clock()],
    )
    built = time.perf_counter()
    trainer.train()
    end = time.perf_counter()
    steady = [m for m in marks if m[0] > args.warmup]
    (s0, t0, n0), (_, t1, n1) = steady[0], steady[-1]
    params = sum(p.numel() for p in trainer.model.parameters())
    if cuda:
        peak = torch.cuda.max_memory_allocated() / 2**30
    else:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB -> GiB
    return {
        "config": args.config,
        "settings": settings,
        "tokens": n1,
        "steady_tokens_per_s": (n1 - n0) / (t1 - t0) if t1 > t0 else None,
        "steady_steps": steady[-1][0] - s0,
        "e2e_tokens_per_s": n1 / (end - start),
        "build_s": round(built - start, 2),
        "train_s": round(end - built, 2),
        "params": params,
        "peak_memory_gib": round(peak, 3),
        "peak_memory_kind": "cuda max_memory_allocated" if cuda else "process max RSS",
        "gpu": torch.cuda.get_device_name() if cuda else None,
    }


def peak_flops(gpu: str | None, given: float | None) -> float | None:
    """Dense bf16 peak of known GPUs (or --peak-tflops); None where unknown."""
    if given:
        return given * 1e12
    return next((t * 1e12 for key, t in PEAK_BF16_TFLOPS.items() if gpu and key in gpu), None)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument(
        "--model", default="random-small", help="local dir, registry name, HF id, or random-SHAPE"
    )
    p.add_argument("--device", choices=("auto", "cuda", "cpu"), default="auto")
    p.add_argument("--data", help="generation export folder or dpo.jsonl (default: synthetic)")
    p.add_argument("--steps", type=int, help="optimizer steps per config (default 30 GPU, 10 CPU)")
    p.add_argument("--warmup", type=int, help="steps left out of steady state (default 5 / 3)")
    p.add_argument("--batch-size", type=int, help="per-device batch (default 8 GPU, 2 CPU)")
    p.add_argument("--prompt-words", type=int, help="synthetic prompt length (default 200 / 24)")
    p.add_argument(
        "--response-words", type=int, help="synthetic response length (default 300 / 24)"
    )
    p.add_argument("--max-length", type=int, default=1024)
    p.add_argument("--peak-tflops", type=float, help="device peak for MFU (default: known GPUs)")
    p.add_argument("--config", choices=("defaults", "tuned"), help=argparse.SUPPRESS)
    p.add_argument("--model-path", help=argparse.SUPPRESS)
    p.add_argument("--workdir", help=argparse.SUPPRESS)
    args = p.parse_args()
    sys.path.insert(0, str(ROOT))
    if args.config:  # a worker process
        print(json.dumps(worker(args)))
        return

    import torch

    device = (
        args.device if args.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    )
    gpu = device == "cuda"
    defaults = {
        "steps": 30 if gpu else 10,
        "warmup": 5 if gpu else 3,
        "batch_size": 8 if gpu else 2,
        "prompt_words": 200 if gpu else 24,
        "response_words": 300 if gpu else 24,
    }
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    with tempfile.TemporaryDirectory(prefix="dpo-bench-") as tmp:
        path = model_path(args.model, Path(tmp), device)
        results = {}
        for config in ("defaults", "tuned"):
            cmd = [sys.executable, __file__, "--config", config, "--model-path", path]
            cmd += ["--workdir", str(Path(tmp) / config), "--device", device]
            for key in (
                "steps",
                "warmup",
                "batch_size",
                "prompt_words",
                "response_words",
                "max_length",
            ):
                cmd += [f"--{key.replace('_', '-')}", str(getattr(args, key))]
            if args.data:
                cmd += ["--data", args.data]
            pythonpath = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
            env = {**os.environ, "PYTHONPATH": pythonpath, "TQDM_DISABLE": "1"}
            done = subprocess.run(cmd, capture_output=True, text=True, env=env)
            if done.returncode:
                sys.exit(f"{config} run failed:\n{done.stderr[-3000:]}")
            results[config] = json.loads(done.stdout.strip().splitlines()[-1])
    gpu_name = results["defaults"]["gpu"]
    peak = peak_flops(gpu_name, args.peak_tflops)
    for r in results.values():
        for kind in ("steady", "e2e"):
            rate = r[f"{kind}_tokens_per_s"]
            r[f"{kind}_mfu"] = 8 * r["params"] * rate / peak if peak and rate else None
    base, tuned = results["defaults"], results["tuned"]
    print(
        json.dumps(
            {
                "benchmark": "dpo_throughput",
                "model": args.model,
                "device": device,
                "gpu": gpu_name,
                "params": base["params"],
                "data": args.data or "synthetic",
                "steps": args.steps,
                "warmup": args.warmup,
                "batch_size": args.batch_size,
                "max_length": args.max_length,
                "speedup_e2e": tuned["e2e_tokens_per_s"] / base["e2e_tokens_per_s"],
                "speedup_steady": tuned["steady_tokens_per_s"] / base["steady_tokens_per_s"]
                if base["steady_tokens_per_s"] and tuned["steady_tokens_per_s"]
                else None,
                "memory_ratio": tuned["peak_memory_gib"] / base["peak_memory_gib"],
                "defaults": base,
                "tuned": tuned,
                "versions": {m: importlib.import_module(m).__version__ for m in ("torch", "trl")},
            }
        )
    )


if __name__ == "__main__":
    main()
