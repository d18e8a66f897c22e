"""IFEval generation: the harness's hf backend against lm-eval's hf backend, the tool researchers
would otherwise run, on the same model, prompts, chat template and token limit, each tool in its
own process with nothing cached.
    python benchmarks/lmeval_ifeval.py --limit 64                                  # embedded, CPU
    python benchmarks/lmeval_ifeval.py --model random-0.5b --device cuda --limit 256  # GPU check
Prints one JSON line per tool (wall time of the whole process, the four metrics) and a summary:
lm-eval's wall time over the harness's, and how many completions are equal. lm-eval reads IFEval
from ../shared/benchmarks through a task that includes lm-eval's own ifeval.yaml and changes only
where the data comes from; both take the first N prompts. `random-<shape>` builds a randomly
initialised Llama (training/random_model.py) for throughput without weights at hand: its metrics
mean nothing, its time does.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import lm_eval
from dpo_throughput import model_path  # registry name, local dir or random-<shape>
from engine_ifeval import METRICS, ROOT


def _task_dir(data_dir: Path, work: Path) -> Path:
    """lm-eval's IFEval task with the dataset read from the local file, nothing else changed."""
    task = work / "tasks"
    task.mkdir()
    official = Path(lm_eval.__file__).parent / "tasks" / "ifeval" / "ifeval.yaml"
    (task / "ifeval_local.yaml").write_text(
        f"include: {official}\ntask: ifeval_local\ndataset_path: json\n"
        f"dataset_kwargs:\n  data_files:\n    train: {data_dir / 'ifeval' / 'input_data.jsonl'}\n"
    )
    return task


def _timed(cmd: list[str]) -> float:
    start = time.time()
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        sys.exit(f"error: {cmd[2]} failed ({done.returncode}): {done.stderr[-2000:]}")
    return time.time() - start


def lm_eval_run(model: str, args: argparse.Namespace, work: Path) -> dict:
    out = work / "lm-eval"
    model_args = f"pretrained={model},dtype={args.dtype}"
    wall = _timed(
        [
            sys.executable,
            "-m",
            "lm_eval",
            "--model",
            "hf",
            "--model_args",
            model_args,
            "--device",
            args.device,
            "--include_path",
            str(_task_dir(args.data_dir, work)),
            "--tasks",
            "ifeval_local",
            "--batch_size",
            str(args.batch_size),
            "--apply_chat_template",
            "--gen_kwargs",
            f"max_gen_toks={args.max_new_tokens}",
            "--limit",
            str(args.limit),
            "--output_path",
            str(out),
            "--log_samples",
        ]  # fmt: skip
    )
    results = json.loads(next(out.rglob("results_*.json")).read_text())["results"]["ifeval_local"]
    samples = [json.loads(line) for f in out.rglob("samples_*.jsonl") for line in open(f)]
    return {
        "tool": "lm-eval",
        "wall_s": round(wall, 1),
        "metrics": {m: round(100 * results[f"{m},none"], 2) for m in METRICS},
        "responses": {str(s["doc"]["key"]): s["resps"][0][0] for s in samples},
    }


def harness_run(model: str, args: argparse.Namespace, work: Path) -> dict:
    out = work / "harness.json"
    wall = _timed(
        [
            sys.executable,
            "-m",
            "harness",
            "run",
            "--suite",
            "ifeval",
            "--model",
            model,
            "--backend",
            "hf",  # its defaults: cuda if there is one, bf16 there, fp32 on cpu
            "--batch-size",
            str(args.batch_size),
            "--max-new-tokens",
            str(args.max_new_tokens),
            "--limit",
            str(args.limit),
            "--data-dir",
            str(args.data_dir),
            "--store",
            str(work / "store.sqlite"),
            "--output",
            str(out),
            "--quiet",
        ]  # fmt: skip
    )
    log = json.loads(out.read_text())
    return {
        "tool": "harness",
        "wall_s": round(wall, 1),
        "metrics": {m: round(100 * log["metrics"][m], 2) for m in METRICS},
        "responses": {str(r["id"]): r["response"] for r in log["records"]},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--model", default="smollm2-135m-instruct", help="name, dir or random-SHAPE")
    ap.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    ap.add_argument("--dtype", help="default: bfloat16 on cuda, float32 on cpu")
    ap.add_argument("--limit", type=int, default=64, help="the first N prompts")
    ap.add_argument("--max-new-tokens", type=int, default=512)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "benchmarks")
    args = ap.parse_args()
    args.dtype = args.dtype or ("bfloat16" if args.device == "cuda" else "float32")
    work = Path(tempfile.mkdtemp(prefix="lmeval-ifeval-"))
    model = model_path(args.model, work, args.device)
    load = round(os.getloadavg()[0], 2)
    runs = [harness_run(model, args, work), lm_eval_run(model, args, work)]
    for r in runs:
        print(json.dumps({k: v for k, v in r.items() if k != "responses"}), flush=True)
    ours, theirs = runs[0]["responses"], runs[1]["responses"]
    same = sum(ours[k] == theirs.get(k) for k in ours)
    print(
        json.dumps(
            {
                "model": args.model,
                "device": args.device,
                "prompts": len(ours),
                "speedup_vs_lm_eval": round(runs[1]["wall_s"] / runs[0]["wall_s"], 2),
                "identical_completions": same,
                "load_start_end": [load, round(os.getloadavg()[0], 2)],
            }
        )
    )


if __name__ == "__main__":
    main()
