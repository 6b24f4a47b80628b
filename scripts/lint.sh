#!/usr/bin/env bash
# The lint stage of CI (scripts/test.sh runs it first; alone: bash scripts/lint.sh): fails on
# any finding of
#   ruff check       pyflakes, pycodestyle, import order, bugbear, pyupgrade (pyproject.toml)
#   ruff format      the Python formatter, whole tree
#   clang-format     csrc/ (.clang-format)
#   mypy             decoder/ (pyproject.toml: strict for the public API modules)
# To fix what can be fixed mechanically:
#   ruff check --fix . && ruff format . && clang-format -i csrc/*.cc csrc/*.h csrc/support/*.h
# The tools' versions are pinned in pyproject.toml's `lint` extra (a formatter's output changes
# between versions, and CI must not turn red on its own).
set -uo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python}"
rc=0
step() { echo "lint: $*" >&2; }
step "ruff check";  "$PY" -m ruff check --no-cache . || rc=1
step "ruff format"; "$PY" -m ruff format --no-cache --check . || rc=1
step "clang-format"
CF="$(dirname "$(command -v "$PY")")/clang-format"   # the lint extra's, beside the venv's python
[ -x "$CF" ] || CF="$(command -v clang-format || true)"
if [ -z "$CF" ]; then
  echo "clang-format is not installed (pip install the lint extra)" >&2; rc=1
else
  "$CF" --dry-run -Werror csrc/*.cc csrc/*.h csrc/support/*.h || rc=1
fi
step "mypy";        "$PY" -m mypy decoder || rc=1
[ "$rc" -eq 0 ] && step "clean" || step "FAILED (see above)"
exit "$rc"
