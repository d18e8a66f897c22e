"""Judging throughput against the loopback OpenAI-compatible server with a fixed per-request latency.

Reports, per concurrency limit, our Judge's wall time against the ideal (requests x latency /
concurrency) and its speed-up over a sequential loop like FastChat's gen_judgment (--parallel 1:
one blocking chat.completions call after another). Every run judges fresh prompts into a fresh store.

    python benchmarks/judge_concurrency.py --requests 160 --latency 0.2 --concurrency 1 8 32 64
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]  # the harness and the loopback server

from openai_server import OpenAIServer, judge_or_echo  # noqa: E402

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


def ours(base_url: str, batch: list[list[dict]], concurrency: int, folder: Path) -> float:
    store = Store(folder / f"c{concurrency}.sqlite")
    judge = make_judge("judge", store, base_url=base_url, concurrency=concurrency, progress=False)
    start = time.perf_counter()
    verdicts = judge.judge(batch, RUBRIC)
    wall = time.perf_counter() - start
    assert all(v.ok for v in verdicts) and judge.usage.calls == len(batch)
    return wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=160)
    parser.add_argument("--latency", type=float, default=0.2, help="seconds per request")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32, 64])
    args = parser.parse_args()
    n, latency = args.requests, args.latency
    with (
        OpenAIServer(judge_or_echo, latency=latency) as server,
        tempfile.TemporaryDirectory() as tmp,
    ):
        base = sequential(server.base_url, prompts(n, "sequential"))
        print(f"{n} judgments, {latency:.3f} s per request")
        print(f"sequential loop (FastChat-style): {base:7.2f} s (ideal {n * latency:.2f} s)")
        print(
            f"{'concurrency':>11} {'wall s':>8} {'ideal s':>8} {'wall/ideal':>10} {'speed-up':>9}"
        )
        for c in args.concurrency:
            wall = ours(server.base_url, prompts(n, f"c{c}"), c, Path(tmp))
            ideal = n * latency / c
            print(f"{c:>11} {wall:8.2f} {ideal:8.2f} {wall / ideal:10.2f} {base / wall:8.1f}x")


if __name__ == "__main__":
    main()
