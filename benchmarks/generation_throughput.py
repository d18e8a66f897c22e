"""ECD generation throughput: ~10,000 evolve+respond calls against a loopback OpenAI-compatible
endpoint with a fixed latency per call. The endpoint runs in its own process (`loopback.served`), so
the generating process holds only the harness.

Reports wall time over the ideal (every round's calls spread perfectly over the concurrency
limit, each taking exactly the latency), calls/s, and the generating process's peak RSS; then
reruns the same command to show that a finished run makes no call twice.

    python benchmarks/generation_throughput.py [--calls 10000] [--latency 0.05] [--concurrency 64]
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "benchmarks")]

from loopback import load, served  # noqa: E402


def teacher(body: dict) -> str:
    """Evolver and responder at once: rewrites add a requirement, answers are short."""
    text = body["messages"][-1]["content"]
    if "Rewritten instruction:" in text:
        given = (
            text.split("Given instruction:", 1)[1].rsplit("Rewritten instruction:", 1)[0].strip()
        )
        quoted = text.split('worded as here: "', 1)
        extra = quoted[1].split('"\n', 1)[0] if len(quoted) > 1 else "Explain each step."
        return f"{given} {extra}"
    return f"A short answer to an instruction of {len(text.split())} words."


def run_once(args, seeds: Path, work: Path, latency: float, port: int = 0) -> dict:
    from generation.config import GenerationConfig
    from generation.run import run

    with served(teacher, latency, port) as server:
        cfg = GenerationConfig()
        cfg.seeds.path = str(seeds)
        cfg.teacher.model, cfg.teacher.backend = "loopback", "openai"
        cfg.teacher.base_url = server.base_url
        cfg.teacher.concurrency = args.concurrency
        cfg.rounds = args.rounds
        cfg.decontaminate.enabled = False
        cfg.out, cfg.store = str(work / "out"), str(work / "store.sqlite")
        start, cpu = time.perf_counter(), time.process_time()
        stats = run(cfg, progress=args.progress)
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    return {
        "port": int(server.base_url.rsplit(":", 1)[1].split("/")[0]),
        "wall_s": wall,
        "cpu_s": cpu,
        "calls": server.calls,
        "server_cpu_s": server.cpu_s,
        "stats": stats,
    }


def backend_alone(args, n: int, latency: float) -> float:
    """Calls/s of the bare OpenAI backend on one batch of `n` short calls: the client's ceiling."""
    from harness.backends import SamplingParams, make_backend
    from harness.registry import ModelSpec

    with served(teacher, latency) as server:
        spec = ModelSpec(name="loopback", source="loopback", backend="openai")
        backend = make_backend(spec, base_url=server.base_url, concurrency=args.concurrency)
        conversations = [[{"role": "user", "content": f"Describe item {i}."}] for i in range(n)]
        start = time.perf_counter()
        backend.generate(conversations, SamplingParams(max_new_tokens=64))
        wall = time.perf_counter() - start
    return n / wall


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--calls", type=int, default=10_000)
    p.add_argument("--latency", type=float, default=0.05, help="seconds per call at the endpoint")
    p.add_argument("--concurrency", type=int, default=64)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--progress", action="store_true")
    args = p.parse_args()

    # imported before timing: a run's first seconds are imports, not calls
    import datasets  # noqa: F401
    import openai  # noqa: F401

    import harness.suites.ifeval_rules  # noqa: F401

    per_seed = 2 * args.rounds + 1  # K rewrites and K+1 answers
    n = math.ceil(args.calls / per_seed)
    c, lat = args.concurrency, args.latency
    ideal = (args.rounds * math.ceil(n / c) + math.ceil((args.rounds + 1) * n / c)) * lat
    load_before = load()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        seeds = work / "seeds.jsonl"
        seeds.write_text(
            "".join(
                json.dumps({"id": f"b{i}", "instruction": f"Describe item number {i} in detail."})
                + "\n"
                for i in range(n)
            )
        )
        first = run_once(args, seeds, work, lat)
        load_after = load()
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        again = run_once(args, seeds, work, lat, first["port"])  # the same endpoint again
    ceiling = backend_alone(args, min(args.calls, 2000), lat)
    s = first["stats"]
    report = {
        "seeds": n,
        "rounds": args.rounds,
        "calls": first["calls"],
        "latency_s": lat,
        "concurrency": c,
        "wall_s": round(first["wall_s"], 2),
        "ideal_s": round(ideal, 2),
        "wall_over_ideal": round(first["wall_s"] / ideal, 2),
        "calls_per_s": round(first["calls"] / first["wall_s"], 1),
        "client_cpu_ms_per_call": round(first["cpu_s"] / first["calls"] * 1000, 3),
        "server_cpu_ms_per_call": round(first["server_cpu_s"] / first["calls"] * 1000, 3),
        "ideal_calls_per_s": round(c / lat, 1),
        "backend_alone_calls_per_s": round(ceiling, 1),
        "peak_rss_mb": round(peak_mb, 1),
        "sft_rows": s["counts"]["sft"],
        "dpo_rows": s["counts"]["dpo"],
        "rerun_calls": again["calls"],
        "rerun_wall_s": round(again["wall_s"], 2),
        "server": "own process",
        "load_average_before": load_before,
        "load_average_after": load_after,
    }
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
