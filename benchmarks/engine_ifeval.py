"""The README's main job on each engine: `python -m harness run --suite ifeval` on the embedded
model, once per backend, each in its own process with a fresh store, as a user runs it.

    python benchmarks/engine_ifeval.py                          # hf, then vllm: all 541 prompts
    python benchmarks/engine_ifeval.py --limit 60 --engines vllm --env VLLM_CPU_OMP_THREADS_BIND=0-1
    python benchmarks/engine_ifeval.py --rounds 2               # hf vllm vllm hf

Prints one JSON line per run (wall time of the whole process; `generation_s` from the run's start
to its last stored completion, the engine's start included; completion tokens and tokens/s; the
four metrics; the 1-minute load average at start and end) and a summary: each engine's best wall
time, the speed-up over the first engine, and how many completions equal the first engine's.
`--env K=V` is set for every run (vLLM's CPU settings, OMP_NUM_THREADS, ...).
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
METRICS = (
    "prompt_level_strict_acc",
    "inst_level_strict_acc",
    "prompt_level_loose_acc",
    "inst_level_loose_acc",
)


def run(engine: str, args: argparse.Namespace, env: dict[str, str]) -> dict:
    work = Path(tempfile.mkdtemp(prefix=f"engine-{engine}-"))
    store, out = work / "s.sqlite", work / "out.json"
    cmd = [sys.executable, "-m", "harness", "run", "--suite", "ifeval", "--backend", engine,
           "--store", str(store), "--output", str(out), "--quiet"]  # fmt: skip
    if args.model:
        cmd += ["--model", args.model]
    if args.limit:
        cmd += ["--limit", str(args.limit)]
    if args.max_new_tokens:
        cmd += ["--max-new-tokens", str(args.max_new_tokens)]
    load_start, start = round(os.getloadavg()[0], 2), time.time()
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env={**os.environ, **env})
    wall = time.time() - start
    if done.returncode != 0:
        sys.exit(f"error: {engine} run failed ({done.returncode}): {done.stderr[-2000:]}")
    log = json.loads(out.read_text())
    with sqlite3.connect(store) as db:
        (started,) = db.execute("SELECT started_at FROM runs").fetchone()
        last, tokens = db.execute(
            "SELECT MAX(created_at), SUM(completion_tokens) FROM generations"
        ).fetchone()
    stats = {
        "engine": engine,
        "env": env,
        "prompts": len(log["records"]),
        "wall_s": round(wall, 1),
        "generation_s": round(last - started, 1),
        "completion_tokens": tokens,
        "tokens_per_s": round(tokens / (last - started), 1),
        "load_start_end": [load_start, round(os.getloadavg()[0], 2)],
        "metrics": {m: round(100 * log["metrics"][m], 2) for m in METRICS},
    }
    print(json.dumps(stats), flush=True)
    return {**stats, "responses": {r["id"]: r["response"] for r in log["records"]}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--engines", default="hf,vllm", help="backends, the first is the baseline")
    ap.add_argument("--model", help="registry name or folder (default: the embedded model)")
    ap.add_argument("--limit", type=int, help="the first N prompts (default: all 541)")
    ap.add_argument("--max-new-tokens", type=int, help="default: the registry's (512)")
    ap.add_argument("--rounds", type=int, default=1, help="A B, B A, ... so load hits both alike")
    ap.add_argument("--env", action="append", default=[], help="K=V for every run")
    args = ap.parse_args()
    env = dict(kv.split("=", 1) for kv in args.env)
    engines = args.engines.split(",")
    order = [e for r in range(args.rounds) for e in (engines if r % 2 == 0 else engines[::-1])]
    runs: dict[str, list[dict]] = {}
    for engine in order:
        runs.setdefault(engine, []).append(run(engine, args, env))
    best = {e: min(runs[e], key=lambda r: r["wall_s"]) for e in engines}
    base = best[engines[0]]
    summary = {
        "best_wall_s": {e: r["wall_s"] for e, r in best.items()},
        "best_generation_s": {e: r["generation_s"] for e, r in best.items()},
        "speedup_wall": {e: round(base["wall_s"] / r["wall_s"], 2) for e, r in best.items()},
        "equal_completions": {
            e: f"{sum(base['responses'][k] == v for k, v in r['responses'].items())}/"
            f"{len(r['responses'])}"
            for e, r in best.items()
        },
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
