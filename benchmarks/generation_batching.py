"""Embedded-model generation: batched (length-sorted, left-padded) vs one prompt at a time.

    python benchmarks/generation_batching.py --prompts 32 --max-new-tokens 64 --batch-size 16

Prints tokens/s for both and the ratio. Uses the real IFEval prompts and the hf backend;
`--model` takes a registry name or a local checkpoint directory, `--device cuda` for a GPU.
"""

from __future__ import annotations

import argparse
import json
import time

from harness import data
from harness.backends import SamplingParams, make_backend
from harness.registry import resolve_model
from harness.suites import get_suite


def prompts(data_dir: str | None, n: int) -> list[str]:
    """IFEval prompts; read straight from a data dir when given (no checker imports needed)."""
    folder = data.local_dir(data_dir, "ifeval")
    rows = (
        data.read_jsonl(folder / "input_data.jsonl") if folder else get_suite("ifeval").load(None)
    )
    return [r["prompt"] for r in rows[:n]]


def timed(backend, conversations, params) -> tuple[float, int]:
    start = time.perf_counter()
    out = backend.generate(conversations, params)
    return time.perf_counter() - start, sum(c.completion_tokens for c in out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--model", default="smollm2-135m-instruct")
    ap.add_argument("--prompts", type=int, default=32)
    ap.add_argument("--max-new-tokens", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--data-dir")
    ap.add_argument("--device")
    args = ap.parse_args()

    conversations = [[{"role": "user", "content": p}] for p in prompts(args.data_dir, args.prompts)]
    params = SamplingParams(max_new_tokens=args.max_new_tokens)
    backend = make_backend(
        resolve_model(args.model), "hf", batch_size=args.batch_size, device=args.device
    )
    timed(backend, conversations[:2], SamplingParams(max_new_tokens=4))  # warm-up
    batched_s, batched_tok = timed(backend, conversations, params)
    backend.batch_size = 1
    single_s, single_tok = timed(backend, conversations, params)
    result = {
        "model": args.model,
        "device": backend.device,
        "prompts": len(conversations),
        "max_new_tokens": args.max_new_tokens,
        "batch_size": args.batch_size,
        "batched_tokens_per_s": round(batched_tok / batched_s, 1),
        "single_tokens_per_s": round(single_tok / single_s, 1),
        "speedup": round((batched_tok / batched_s) / (single_tok / single_s), 2),
        "batched_s": round(batched_s, 1),
        "single_s": round(single_s, 1),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
