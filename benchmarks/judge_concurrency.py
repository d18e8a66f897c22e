"""Judging throughput against the loopback OpenAI-compatible server with a fixed per-request latency.

The server runs in its own process (`loopback.served`), so the client's process holds only the
harness. Reports, per concurrency limit, our Judge's wall time against the ideal (every request
taking exactly the latency, `concurrency` at a time: ceil(requests / concurrency) x latency) and
its speed-up over a sequential loop like FastChat's gen_judgment (--parallel 1: one blocking
chat.completions call after another). Every run judges fresh prompts into a fresh store; the
settings and the load average are printed with the numbers.

    python benchmarks/judge_concurrency.py --requests 160 --latency 0.2 --concurrency 1 8 32 64
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "benchmarks")]

from loopback import load, served  # noqa: E402
from openai_server import judge_or_echo  # noqa: E402

from harness.backends import Completion  # noqa: E402
from harness.judges import make_judge  # noqa: E402
from harness.store import Store  # noqa: E402
from harness.suites.mt_bench import RUBRIC  # noqa: E402


def prompts(n: int, tag: str) -> list[list[dict]]:
    system = {"role": "system", "content": 'Rate the answer; reply "[[rating]]".'}
    return [[system, {"role": "user", "content": f"{tag} question {i}"}] for i in range(n)]


def sequential(base_url: str, batch: list[list[dict]]) -> float:
    """FastChat's pattern: a blocking call per judgment, parsed before the next one starts."""
    import openai

    client = openai.OpenAI(api_key="EMPTY", base_url=base_url)
    start = time.perf_counter()
    for messages in batch:
        resp = client.chat.completions.create(
            model="judge", messages=messages, temperature=0, max_tokens=2048
        )
        RUBRIC.parse(Completion(resp.choices[0].message.content))
    return time.perf_counter() - start


def ours(
    base_url: str, batch: list[list[dict]], concurrency: int, folder: Path
) -> tuple[float, float]:
    """Wall seconds and the client's CPU seconds for judging `batch` into a fresh store."""
    store = Store(folder / f"c{concurrency}.sqlite")
    judge = make_judge("judge", store, base_url=base_url, concurrency=concurrency, progress=False)
    start, cpu = time.perf_counter(), time.process_time()
    verdicts = judge.judge(batch, RUBRIC)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    assert all(v.ok for v in verdicts) and judge.usage.calls == len(batch)
    judge.close()
    store.close()
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=160)
    parser.add_argument("--latency", type=float, default=0.2, help="seconds per request")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32, 64])
    parser.add_argument(
        "--no-sequential", action="store_true", help="skip the FastChat-style sequential loop"
    )
    parser.add_argument("--repeat", type=int, default=1, help="runs per limit; the best is shown")
    args = parser.parse_args()
    n, latency = args.requests, args.latency
    print(
        f"settings: {n} judgments, {latency:.3f} s per request, server in its own process, "
        f"repeat {args.repeat}; load average {load()}"
    )
    with served(judge_or_echo, latency) as server, tempfile.TemporaryDirectory() as tmp:
        base = None
        if not args.no_sequential:
            base = sequential(server.base_url, prompts(n, "sequential"))
            print(f"sequential loop (FastChat-style): {base:7.2f} s (ideal {n * latency:.2f} s)")
        print(
            f"{'concurrency':>11} {'wall s':>8} {'ideal s':>8} {'wall/ideal':>10} {'speed-up':>9}"
            f" {'client CPU ms/call':>18}  load average"
        )
        for j, c in enumerate(args.concurrency):
            wall, cpu = min(
                ours(server.base_url, prompts(n, f"{j}c{c}r{r}"), c, Path(tmp) / f"{j}-{r}")
                for r in range(args.repeat)
            )
            ideal = math.ceil(n / c) * latency
            up = f"{base / wall:8.1f}x" if base else f"{'-':>9}"
            print(
                f"{c:>11} {wall:8.2f} {ideal:8.2f} {wall / ideal:10.2f} {up} "
                f"{cpu / n * 1000:18.2f}  {load()}"
            )


if __name__ == "__main__":
    main()
