"""Training on 1 vs N processes (accelerate launch, DDP; gloo ranks on a CPU-only host).

Runs the tiny recipe's SFT stage (LoRA, at global batch 4) on the same synthetic rows once as one
process and once as N ranks, and prints one JSON line per run: trained tokens per second (TRL's
num_tokens over train_runtime), wall time of the whole command, and each process's peak RSS
(polled every 50 ms; the launcher apart from the ranks). Both runs get all the cores: the
one process as OMP threads, the N ranks cores/N threads each.

  python benchmarks/multiprocess_training.py --model smollm2-135m-instruct --processes 2
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import yaml

ROOT = Path(__file__).resolve().parents[1]
WORDS = "the a model answer instruction json list write three short words format each line".split()


def rows(n: int, words: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    text = lambda k: " ".join(rng.choice(WORDS) for _ in range(k))  # noqa: E731
    return [{"prompt": text(words), "completion": text(words)} for _ in range(n)]


def recipe(folder: Path, model: str, steps: int, words: int) -> Path:
    data = folder / "sft.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows(4 * steps, words)))
    spec = yaml.safe_load((ROOT / "training" / "recipes" / "tiny-cpu.yaml").read_text())
    spec.update(base_model=model, stage="sft", dataset={"sft": str(data)})
    spec["sft"].update(max_steps=steps, save_steps=steps, global_batch_size=4)
    path = folder / "recipe.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def measure(cmd: list[str], out: Path, threads: int) -> dict:
    """Run `cmd`; its wall time, the stage's metrics and every rank's peak RSS in GiB."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": str(threads)}
    env["ECD_HARNESS_REGISTRY"] = str(out.parent / "registry.yaml")  # not the user's registry
    start = time.monotonic()
    log = out.with_suffix(".log")
    with log.open("w") as f:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=f, stderr=f)
    peak: dict[int, tuple[str, int]] = {}
    root = psutil.Process(proc.pid)
    launched = "accelerate.commands.launch" in cmd
    while proc.poll() is None:
        try:
            for p in [root, *root.children(recursive=True)]:
                rank = p.environ().get("RANK")
                if launched and p is root:
                    role = "launcher"
                elif p is root or rank is not None:
                    role = f"rank {rank or 0}"
                else:
                    continue  # a helper process
                peak[p.pid] = (role, max(peak.get(p.pid, ("", 0))[1], p.memory_info().rss))
        except psutil.Error:
            pass  # a process ended between listing and reading it
        time.sleep(0.05)
    wall = time.monotonic() - start
    if proc.returncode:
        raise SystemExit(f"error: {' '.join(cmd)} exited {proc.returncode}; see {log}")
    metrics = json.loads((out / "sft" / "model" / "stage.json").read_text())
    return {
        "tok_per_s": round(metrics["last_log"]["num_tokens"] / metrics["train_runtime"], 1),
        "train_runtime_s": round(metrics["train_runtime"], 2),
        "wall_s": round(wall, 1),
        "peak_rss_gib": dict(sorted((role, round(rss / 2**30, 2)) for role, rss in peak.values())),
        "final_loss": metrics["last_log"]["loss"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--words", type=int, default=60, help="words per prompt and completion")
    parser.add_argument(
        "--one-process-threads",
        type=int,
        help="OMP threads of the 1-process run (default: every core)",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        path = recipe(folder, args.model, args.steps, args.words)
        train = ["-m", "training", "run", str(path), "--name", "bench-mp", "--output-dir"]
        cores = os.cpu_count() or 1  # the same cores for both: threads per process split them
        threads = args.one_process_threads or cores
        one = measure([sys.executable, *train, str(folder / "one")], folder / "one", threads)
        print(json.dumps({"processes": 1, "threads": threads, **one}), flush=True)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = str(s.getsockname()[1])
        launch = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu"]
        launch += ["--num_processes", str(args.processes), "--num_machines", "1"]
        launch += ["--mixed_precision", "no", "--dynamo_backend", "no"]
        launch += ["--main_process_port", port]
        threads = max(cores // args.processes, 1)
        many = measure([*launch, *train, str(folder / "many")], folder / "many", threads)
        print(json.dumps({"processes": args.processes, "threads": threads, **many}))


if __name__ == "__main__":
    main()
