#!/usr/bin/env bash
# What only a GPU shows, in under 8 minutes on one H100; run it whenever a GPU machine is lent.
#  1. IFEval generation, the harness's hf backend against lm-eval's hf backend (goal: >= 3x),
#     256 prompts x 512 new tokens, batch 64, bf16, on a random Llama with Qwen2.5-0.5B's shapes
#     (no weights can be fetched there; throughput does not depend on them).
#  2. DPO end to end at the same shapes in bf16: the recipes' tuned settings against TRL's
#     defaults (goal: >= 1.3x).
#  3. vLLM against the hf backend on the same prompts, where vllm imports. The lent machine's
#     image has no vLLM and its CUDA wheel (vllm 0.33.0, 321 MiB) is far over the device tool's
#     64 MiB carry, so there this step says so instead of measuring.
# Prepare here (PyPI reachable): bash benchmarks/gpu_wheels.sh   (39 MB of wheels into .whl/)
# Then through the device tool: command "bash benchmarks/gpu_check.sh", carry [".whl"].
# Each step prints JSON lines; all of them land in $OUT/gpu_check.jsonl (./gpu_check.jsonl
# without $OUT), each step's stderr beside it. Copy the numbers into benchmarks/README.md.
# A dry run of the plumbing on a CPU, in a minute or two:
#   PY=.venv/bin/python SKIP_WHEELS=1 DEVICE=cpu SHAPE=small LIMIT=4 TOKENS=16 bash benchmarks/gpu_check.sh
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-python3} DEVICE=${DEVICE:-cuda} SHAPE=${SHAPE:-0.5b} LIMIT=${LIMIT:-256} TOKENS=${TOKENS:-512}
DEST=${OUT:-.}
WORK=$(mktemp -d /tmp/gpu-check.XXXX)
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 PYTHONPATH=$PWD
if [ -d .whl ] && [ -z "${SKIP_WHEELS:-}" ]; then
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target "$WORK/site" .whl/*.whl || exit 1
  export PYTHONPATH=$WORK/site:$PWD
fi
LOG=$DEST/gpu_check.jsonl
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1 | tee "$DEST/gpu.txt"

step() {  # step NAME SECONDS COMMAND...: one JSON line of its own besides the command's
  local name=$1 limit=$2 start=$SECONDS
  shift 2
  timeout "$limit" "$@" 2>"$DEST/$name.err" | tee -a "$LOG"
  echo "{\"step\": \"$name\", \"rc\": ${PIPESTATUS[0]}, \"seconds\": $((SECONDS - start))}" | tee -a "$LOG"
}

MODEL=$($PY -c "import sys; sys.path.insert(0, 'benchmarks'); from pathlib import Path
from dpo_throughput import model_path; print(model_path('random-$SHAPE', Path('$WORK'), '$DEVICE'))" | tail -1) || exit 1
step ifeval 240 $PY benchmarks/lmeval_ifeval.py --model "$MODEL" --device "$DEVICE" \
  --limit "$LIMIT" --max-new-tokens "$TOKENS" --batch-size 64
step dpo 150 $PY benchmarks/dpo_throughput.py --model "random-$SHAPE" --device "$DEVICE"
if $PY -c "import vllm" 2>/dev/null; then
  step vllm 150 $PY benchmarks/engine_ifeval.py --engines hf,vllm --model "$MODEL" --limit "$LIMIT" \
    --max-new-tokens "$TOKENS"
else
  echo '{"step": "vllm", "measured": false, "why": "vllm does not import here"}' | tee -a "$LOG"
fi
