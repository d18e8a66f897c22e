"""IFEval generation on the embedded model: the hf backend's continuous batching, optionally
against the old static-batch path or plain batch-size-1 greedy decoding on the same prompts.

    python benchmarks/embedded_ifeval.py                       # all 541 prompts, new path only
    python benchmarks/embedded_ifeval.py --prompts 60 --compare          # vs static batches of 16
    python benchmarks/embedded_ifeval.py --prompts 24 --compare single   # vs batch-size-1 greedy

Sampling is the registry's for the model (smollm2-135m-instruct: greedy, 512 new tokens) unless
`--max-new-tokens` is given. `--prompts N` below 541 takes every (541/N)-th prompt, a sample
spread over the file. Prints JSON: wall time, completion tokens, tokens/s and the wall time
scaled to 541 prompts; with `--compare`, the same for the reference path, the share of prompts
whose completions are equal, both runs' four IFEval metrics and their deltas, and the speed-up.
No store is used: every completion is generated.
"""

from __future__ import annotations

import argparse
import json
import time

from harness.backends import SamplingParams, make_backend
from harness.backends.hf import render_prompt
from harness.registry import resolve_model
from harness.runner import sampling_for
from harness.suites import get_suite

METRICS = (
    "prompt_level_strict_acc",
    "inst_level_strict_acc",
    "prompt_level_loose_acc",
    "inst_level_loose_acc",
)


def sample(items: list[dict], n: int) -> list[dict]:
    """n items spread evenly over the file (all of them when n >= len(items))."""
    if n >= len(items):
        return items
    return [items[k * len(items) // n] for k in range(n)]


def run(label: str, generate, conversations) -> tuple[dict, list]:
    start = time.perf_counter()
    out = generate(conversations)
    wall = time.perf_counter() - start
    tokens = sum(c.completion_tokens for c in out)
    stats = {
        "path": label,
        "wall_s": round(wall, 1),
        "completion_tokens": tokens,
        "tokens_per_s": round(tokens / wall, 1),
        "hit_length_limit": sum(c.finish_reason == "length" for c in out),
    }
    print(json.dumps(stats), flush=True)
    return stats, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--model", default="smollm2-135m-instruct")
    ap.add_argument("--prompts", type=int, default=541)
    ap.add_argument("--max-new-tokens", type=int, help="default: the registry's for the model")
    ap.add_argument("--batch-size", type=int, help="rows decoded together (default: the backend's)")
    ap.add_argument(
        "--compare",
        nargs="?",
        const="static",
        choices=("static", "single"),
        help="also run the old path: static length-sorted batches of --static-batch-size "
        "(default), or batch-size-1 model.generate (plain greedy, slow)",
    )
    ap.add_argument("--static-batch-size", type=int, default=16)
    ap.add_argument("--data-dir")
    ap.add_argument("--device")
    ap.add_argument("--save", help="write every completion of every path to this JSON file")
    args = ap.parse_args()

    spec = resolve_model(args.model)
    params = sampling_for(spec, max_new_tokens=args.max_new_tokens)
    suite = get_suite("ifeval")
    items = sample(suite.load(args.data_dir), args.prompts)
    conversations = [[{"role": "user", "content": it["prompt"]}] for it in items]
    options = {"device": args.device}
    if args.batch_size:
        options["batch_size"] = args.batch_size
    backend = make_backend(spec, "hf", **options)
    backend.generate(conversations[:2], SamplingParams(max_new_tokens=4))  # warm-up

    result = {
        "model": args.model,
        "device": backend.device,
        "prompts": len(items),
        "max_new_tokens": params.max_new_tokens,
        "batch_size": backend.batch_size,
    }
    new_stats, new = run("continuous", lambda c: backend.generate(c, params), conversations)
    result["continuous"] = new_stats
    result["continuous"]["wall_s_scaled_to_541"] = round(new_stats["wall_s"] * 541 / len(items))
    runs = {"continuous": new}

    if args.compare:

        def old(convs):
            prompts = [render_prompt(backend.tokenizer, spec, c) for c in convs]
            lengths = [
                len(backend.tokenizer(p, add_special_tokens=False).input_ids) for p in prompts
            ]
            order = sorted(range(len(prompts)), key=lambda i: -lengths[i])
            out = [None] * len(prompts)
            backend.batch_size = 1 if args.compare == "single" else args.static_batch_size

            def keep(i, c):
                out[i] = c

            backend._generate_static([prompts[i] for i in order], order, params, keep)
            return out

        label = "single" if args.compare == "single" else f"static{args.static_batch_size}"
        ref_stats, ref = run(label, old, conversations)
        ref_stats["wall_s_scaled_to_541"] = round(ref_stats["wall_s"] * 541 / len(items))
        result[label] = ref_stats
        runs[label] = ref
        scores = {
            name: suite.score(items, [c.text for c in out]).metrics for name, out in runs.items()
        }
        equal = sum(a.text == b.text for a, b in zip(new, ref, strict=True))
        result["equal_completions"] = f"{equal}/{len(items)}"
        result["equal_rate"] = round(equal / len(items), 4)
        result["metrics"] = {
            name: {m: round(100 * s[m], 2) for m in METRICS} for name, s in scores.items()
        }
        result["metric_deltas"] = {
            m: round(100 * (scores["continuous"][m] - scores[label][m]), 2) for m in METRICS
        }
        result["speedup"] = round(ref_stats["wall_s"] / new_stats["wall_s"], 2)
    else:
        metrics = suite.score(items, [c.text for c in new]).metrics
        result["metrics"] = {"continuous": {m: round(100 * metrics[m], 2) for m in METRICS}}
    if args.save:
        with open(args.save, "w") as f:
            json.dump(
                {
                    "ids": [it["id"] for it in items],
                    **{k: [c.__dict__ for c in v] for k, v in runs.items()},
                },
                f,
            )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
