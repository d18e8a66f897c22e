"""IFEval generation on the embedded model: the hf backend's continuous batching, optionally
against another path on the same prompts and weights.

    python benchmarks/embedded_ifeval.py                       # all 541 prompts, new path only
    python benchmarks/embedded_ifeval.py --prompts 60 --compare          # vs static batches of 16
    python benchmarks/embedded_ifeval.py --prompts 24 --compare single   # vs batch-size-1 greedy
    python benchmarks/embedded_ifeval.py --compare git:4bc7859 --decode-tokens 20000 --rounds 2

`--compare git:REV` runs the continuous path of `harness/backends/hf.py` as it was at commit REV
(on the same loaded model), for A/B tests of the decode path. `--rounds 2` interleaves the runs
A B B A (more rounds continue the pattern) so that a change in machine load hits both alike; each
run prints the 1-minute load average at its start and end. `--decode-tokens T` stops each run
after T decoded tokens: a window of the full schedule (prompts joining as rows end) at a fraction
of its cost; such runs are timed but not scored.

Sampling is the README's main job's: IFEval's greedy setting with 512 new tokens (the suite's
own default is lm-eval's 1280) unless `--max-new-tokens` is given. `--prompts N` below 541 takes every (541/N)-th prompt, a sample
spread over the file. Prints JSON: wall time, completion tokens, tokens/s and the wall time
scaled to 541 prompts; with `--compare`, the same for the reference path, the share of prompts
whose completions are equal, both runs' four IFEval metrics and their deltas, and the speed-up.
No store is used: every completion is generated.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import time
import types
from pathlib import Path

from harness.backends import SamplingParams, make_backend
from harness.backends.hf import render_prompt
from harness.defaults import sampling_for
from harness.registry import resolve_model
from harness.suites import get_suite

METRICS = (
    "prompt_level_strict_acc",
    "inst_level_strict_acc",
    "prompt_level_loose_acc",
    "inst_level_loose_acc",
)


class Window(Exception):
    """Raised inside the model's forward once the run has decoded its `--decode-tokens`."""


def sample(items: list[dict], n: int) -> list[dict]:
    """n items spread evenly over the file (all of them when n >= len(items))."""
    if n >= len(items):
        return items
    return [items[k * len(items) // n] for k in range(n)]


def load() -> float:
    return round(os.getloadavg()[0], 2)


def previous_backend(backend, rev: str):
    """The hf backend class of commit `rev`, sharing `backend`'s model and tokenizer."""
    root = Path(__file__).resolve().parents[1]
    source = subprocess.run(
        ["git", "show", f"{rev}:harness/backends/hf.py"],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    source = source[: source.rindex("\nregister(")]  # the class, not a second registration
    module = types.ModuleType(f"hf_at_{rev}")
    exec(compile(source, f"harness/backends/hf.py@{rev}", "exec"), module.__dict__)
    old = object.__new__(module.HFBackend)
    old.__dict__.update(backend.__dict__)
    return old


def count_decode(model, limit: int | None) -> dict:
    """Count the tokens `model` decodes (forward calls with one new token per row); raise
    `Window` past `limit`."""
    counts = {"decoded": 0, "prefilled": 0}
    forward = model.forward

    def counting(*args, **kwargs):
        ids = kwargs["input_ids"]
        if ids.shape[1] == 1:
            counts["decoded"] += ids.shape[0]
            if limit is not None and counts["decoded"] > limit:
                raise Window
        else:
            counts["prefilled"] += ids.numel()
        return forward(*args, **kwargs)

    model.forward = counting
    return counts


def run(label: str, generate, conversations, counts: dict) -> tuple[dict, list | None]:
    counts.update(decoded=0, prefilled=0)
    finished = [0]
    start_load, start = load(), time.perf_counter()
    try:
        out = generate(conversations, finished)
    except Window:
        out = None
    wall = time.perf_counter() - start
    stats = {"path": label, "wall_s": round(wall, 1), "load_start_end": [start_load, load()]}
    if out is None:
        stats.update(
            decoded_tokens=counts["decoded"] - 1,
            prefilled_tokens_with_padding=counts["prefilled"],
            finished=finished[0],
            tokens_per_s=round((counts["decoded"] - 1) / wall, 1),
        )
    else:
        tokens = sum(c.completion_tokens for c in out)
        stats.update(
            completion_tokens=tokens,
            tokens_per_s=round(tokens / wall, 1),
            hit_length_limit=sum(c.finish_reason == "length" for c in out),
            wall_s_scaled_to_541=round(wall * 541 / len(conversations)),
        )
    print(json.dumps(stats), flush=True)
    return stats, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--model", default="smollm2-135m-instruct")
    ap.add_argument("--prompts", type=int, default=541)
    ap.add_argument(
        "--max-new-tokens", type=int, default=512, help="default 512, as the README's main job"
    )
    ap.add_argument("--batch-size", type=int, help="rows decoded together (default: the backend's)")
    ap.add_argument(
        "--compare",
        nargs="?",
        const="static",
        help="also run another path: 'static' (default) length-sorted batches of "
        "--static-batch-size through model.generate, 'single' batch-size-1 model.generate "
        "(plain greedy, slow), or 'git:REV' the continuous path of commit REV",
    )
    ap.add_argument("--static-batch-size", type=int, default=16)
    ap.add_argument("--rounds", type=int, default=1, help="with --compare: A B, B A, ... rounds")
    ap.add_argument("--decode-tokens", type=int, help="stop each run after this many tokens")
    ap.add_argument("--threads", type=int, help="torch.set_num_threads (default: torch's)")
    ap.add_argument("--data-dir")
    ap.add_argument("--device")
    ap.add_argument("--save", help="write every completion of every path to this JSON file")
    args = ap.parse_args()
    if args.compare and args.compare not in ("static", "single") and ":" not in args.compare:
        ap.error("--compare takes static, single or git:REV")

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    spec = resolve_model(args.model)
    suite = get_suite("ifeval")
    params = sampling_for(suite, spec, args.max_new_tokens)
    items = sample(suite.load(args.data_dir), args.prompts)
    conversations = [[{"role": "user", "content": it["prompt"]}] for it in items]
    options = {"device": args.device}
    if args.batch_size:
        options["batch_size"] = args.batch_size
    backend = make_backend(spec, "hf", **options)
    backend.generate(conversations[:2], SamplingParams(max_new_tokens=4))  # warm-up
    backend._continuous_ok()  # decided before the forward is wrapped
    counts = count_decode(backend.model, args.decode_tokens)

    def continuous(convs, finished):
        return backend.generate(
            convs, params, lambda i, c: finished.__setitem__(0, finished[0] + 1)
        )

    paths = {"continuous": continuous}
    if args.compare and args.compare.startswith("git:"):
        old = previous_backend(backend, args.compare[4:])

        def previous(convs, finished):
            return old.generate(
                convs, params, lambda i, c: finished.__setitem__(0, finished[0] + 1)
            )

        paths[args.compare] = previous
    elif args.compare:
        static_size = 1 if args.compare == "single" else args.static_batch_size

        def static(convs, finished):
            prompts = [render_prompt(backend.tokenizer, spec, c) for c in convs]
            lengths = [
                len(backend.tokenizer(p, add_special_tokens=False).input_ids) for p in prompts
            ]
            order = sorted(range(len(prompts)), key=lambda i: -lengths[i])
            out = [None] * len(prompts)

            def keep(i, c):
                out[i] = c
                finished[0] += 1

            backend.batch_size, size = static_size, backend.batch_size
            try:
                with torch.inference_mode():
                    backend._generate_static([prompts[i] for i in order], order, params, keep)
            finally:
                backend.batch_size = size
            return out

        paths["single" if args.compare == "single" else f"static{static_size}"] = static

    result = {
        "model": args.model,
        "device": backend.device,
        "threads": torch.get_num_threads(),
        "prompts": len(items),
        "max_new_tokens": params.max_new_tokens,
        "batch_size": backend.batch_size,
        "decode_tokens": args.decode_tokens,
    }
    labels = list(paths)
    order = [
        label
        for r in range(args.rounds if len(labels) > 1 else 1)
        for label in (labels if r % 2 == 0 else labels[::-1])
    ]
    walls: dict[str, float] = {label: 0.0 for label in labels}
    runs: dict[str, list] = {}
    for label in order:
        stats, out = run(label, paths[label], conversations, counts)
        walls[label] += stats["wall_s"]
        result.setdefault("runs", []).append(stats)
        if out is not None:
            runs[label] = out
    result["wall_s_total"] = {label: round(w, 1) for label, w in walls.items()}
    if len(labels) > 1:
        result["speedup"] = round(walls[labels[1]] / walls[labels[0]], 2)
    if runs:
        scores = {
            name: suite.score(items, [c.text for c in out]).metrics for name, out in runs.items()
        }
        result["metrics"] = {
            name: {m: round(100 * s[m], 2) for m in METRICS} for name, s in scores.items()
        }
    if len(runs) > 1:
        new, ref = runs[labels[0]], runs[labels[1]]
        equal = sum(a.text == b.text for a, b in zip(new, ref, strict=True))
        result["equal_completions"] = f"{equal}/{len(items)}"
        result["equal_rate"] = round(equal / len(items), 4)
        result["metric_deltas"] = {
            m: round(100 * (scores[labels[0]][m] - scores[labels[1]][m]), 2) for m in METRICS
        }
    if args.save and runs:
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
