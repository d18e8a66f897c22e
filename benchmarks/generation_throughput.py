"""ECD generation throughput: ~10,000 evolve+respond calls against a loopback OpenAI-compatible
endpoint with a fixed latency per call. The endpoint runs in its own process (`loopback.served`), so
the generating process holds only the harness.

Reports wall time over the ideal (every round's calls spread perfectly over the concurrency
limit, each taking exactly the latency), calls/s, and the generating process's peak RSS; then
reruns the same command to show that a finished run makes no call twice.

`--store postgres` keeps the results in a PostgreSQL database (pgserver's, on this machine) instead
of a SQLite file; `--store-delay-ms D` puts a loopback TCP relay in front of it that holds every
packet D ms each way, as a server across a network does.

    python benchmarks/generation_throughput.py [--calls 10000] [--latency 0.05] [--concurrency 64]
        [--store sqlite|postgres] [--store-delay-ms 0]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import multiprocessing as mp
import resource
import sys
import tempfile
import time
from contextlib import ExitStack, contextmanager
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


@contextmanager
def postgres(work: Path, delay_ms: float):
    """A new database on a local PostgreSQL server, as a store URL; with `delay_ms`, reached
    through a relay that holds each packet that long each way."""
    import warnings

    import psycopg

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgserver

        server = pgserver.get_server(work / "pg", "stop")
    with psycopg.connect(server.get_uri(), autocommit=True) as db:
        db.execute("CREATE DATABASE bench")
    try:
        if not delay_ms:
            yield server.get_uri("bench")
            return
        with relay(str(work / "pg"), delay_ms / 1000) as port:
            yield f"postgresql://postgres@127.0.0.1:{port}/bench"
    finally:
        server.cleanup()


def _relay(socket_dir: str, delay: float, conn) -> None:
    async def pipe(reader, writer):
        while data := await reader.read(65536):
            await asyncio.sleep(delay)
            writer.write(data)
        writer.close()

    async def accept(reader, writer):
        up_reader, up_writer = await asyncio.open_unix_connection(f"{socket_dir}/.s.PGSQL.5432")
        asyncio.create_task(pipe(reader, up_writer))
        asyncio.create_task(pipe(up_reader, writer))

    async def main():
        server = await asyncio.start_server(accept, "127.0.0.1", 0)
        conn.send(server.sockets[0].getsockname()[1])
        await asyncio.get_running_loop().run_in_executor(None, conn.recv)  # "stop"

    asyncio.run(main())


@contextmanager
def relay(socket_dir: str, delay: float):
    """127.0.0.1:PORT forwarded to PostgreSQL's Unix socket, each chunk held `delay` seconds; in
    its own process, as the loopback endpoint is, so its CPU is not the client's."""
    parent, child = mp.Pipe()
    proc = mp.Process(target=_relay, args=(socket_dir, delay, child), daemon=True)
    proc.start()
    try:
        yield parent.recv()
    finally:
        parent.send("stop")
        proc.join()


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
        cfg.out, cfg.store = str(work / "out"), args.store_url
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
    p.add_argument("--store", choices=["sqlite", "postgres"], default="sqlite")
    p.add_argument("--store-delay-ms", type=float, default=0.0, help="each way, postgres only")
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
    with ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        args.store_url = str(work / "store.sqlite")
        if args.store == "postgres":
            args.store_url = stack.enter_context(postgres(work, args.store_delay_ms))
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
        "store": args.store,
        "store_delay_ms_each_way": args.store_delay_ms,
        "load_average_before": load_before,
        "load_average_after": load_after,
    }
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
