#!/usr/bin/env bash
# The engine tests under AddressSanitizer + UndefinedBehaviorSanitizer (+ LeakSanitizer).
#
# Builds decoder._engine with DECODER_SANITIZE=address,undefined (setup.py) in a copy of the
# working tree under $DECODER_ASAN_DIR (default /tmp/decoder-asan), so the normal editable
# install is untouched, and runs a subset of the engine tests against that build with the
# sanitizer runtimes preloaded into the (uninstrumented) Python interpreter:
#   tests/test_engine.py, tests/test_hostile.py, tests/test_cython_boundary.py (in full) and
#   tests/test_grammar_tokenizers.py -k "$DECODER_ASAN_K" (default: one family of the
#   brute-force, fork/rollback and fill_masks tests).
# Any ASan/UBSan report aborts the process and fails the step. Leaks: LeakSanitizer runs at
# exit with PYTHONMALLOC=malloc; CPython never frees everything at exit, so the report is
# filtered (scripts/lsan_engine_leaks.py): a leak fails the step only when a frame of its
# allocation stack is in the engine's own code (csrc/ or the Cython binding's methods).
#
#   bash scripts/test_sanitizers.sh             # build (cached by source hash) and test
#   DECODER_ASAN_K="" bash scripts/test_sanitizers.sh   # every test of the tokenizer file
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DIR="${DECODER_ASAN_DIR:-/tmp/decoder-asan}"
SRC="$DIR/src"
K="${DECODER_ASAN_K-(llama3 and (brute_force or fork_and_rollback)) or (fill_masks and qwen2)}"
CXX_LIB() { "${CXX:-g++}" -print-file-name="$1"; }
ASAN_LIB="$(CXX_LIB libasan.so)"
UBSAN_LIB="$(CXX_LIB libubsan.so)"
if [ ! -e "$ASAN_LIB" ] || [ ! -e "$UBSAN_LIB" ]; then
  echo "sanitizers: libasan/libubsan not found for ${CXX:-g++}; skipping"; exit 0
fi
t0=$(date +%s)
PY="$(python -c 'import sys; print(sys.executable)')"  # the interpreter itself, not a shim script

# 1. a copy of the tracked and untracked (not ignored) files; rebuilt only when the engine
#    sources change
cd "$ROOT"
mkdir -p "$SRC"
git ls-files -co --exclude-standard -z | rsync -a --from0 --files-from=- ./ "$SRC/" 2>/dev/null \
  || git ls-files -co --exclude-standard -z | xargs -0 cp --parents -t "$SRC/"
# every extension's sources (the engine and the Cython front-end modules): a copy built for
# older .pyx files would import the new Python against the old extension
PYX="$(git ls-files 'decoder/*.pyx' 'decoder/*.pxd')"
# shellcheck disable=SC2086
HASH="$(cat setup.py $PYX csrc/*.h csrc/*.cc csrc/support/*.h | sha1sum | cut -c1-16)"
if [ "$(cat "$DIR/built" 2>/dev/null)" != "$HASH" ] || ! ls "$SRC"/decoder/_engine*.so >/dev/null 2>&1; then
  echo "sanitizers: building decoder._engine with -fsanitize=address,undefined in $SRC"
  (cd "$SRC" && rm -rf build && find decoder -name '*.so' -delete &&
   for f in $PYX; do rm -f "${f%.pyx}.cpp" "${f%.pyx}.c"; done &&
   DECODER_SANITIZE=address,undefined nice python setup.py -q build_ext --inplace -j 2 >"$DIR/build.log" 2>&1) \
    || { tail -40 "$DIR/build.log"; exit 1; }
  echo "$HASH" >"$DIR/built"
fi
t1=$(date +%s)

# 2. the tests, from the copy, against the sanitized build
cd "$SRC"
SUPP="$SRC/scripts/sanitizers.supp"
export DECODER_SHARED="${DECODER_SHARED:-$ROOT/../shared}"
export PYTHONPATH="$SRC${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONMALLOC=malloc
export ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:abort_on_error=1:detect_stack_use_after_return=0:log_path=$DIR/asan:${ASAN_OPTIONS:-}"
export LSAN_OPTIONS="exitcode=0:print_suppressions=0:suppressions=$SUPP"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:log_path=$DIR/ubsan:suppressions=$SUPP"
export DECODER_SANITIZED=1  # tests that spawn subprocesses lower their memory caps (ASan shadow)
rm -f "$DIR"/asan.* "$DIR"/ubsan.*
LD_PRELOAD="$ASAN_LIB $UBSAN_LIB" ASAN_OPTIONS=detect_leaks=0 "$PY" - <<'EOF'
import decoder._engine as e, os, sys
assert e.__file__.startswith(os.environ["PYTHONPATH"].split(":")[0]), e.__file__
EOF
set +e
LD_PRELOAD="$ASAN_LIB $UBSAN_LIB" "$PY" -m pytest -q -p no:cacheprovider \
  tests/test_engine.py tests/test_hostile.py tests/test_cython_boundary.py 2>&1 | tail -15
rc=${PIPESTATUS[0]}
LD_PRELOAD="$ASAN_LIB $UBSAN_LIB" "$PY" -m pytest -q -p no:cacheprovider \
  tests/test_grammar_tokenizers.py -k "${K:-not nothing}" 2>&1 | tail -5
rc2=${PIPESTATUS[0]}
[ "$rc" -eq 0 ] && rc=$rc2
set -e
t2=$(date +%s)
reports=$(ls "$DIR"/asan.* "$DIR"/ubsan.* 2>/dev/null || true)
if [ -n "$reports" ]; then
  "$PY" "$ROOT/scripts/lsan_engine_leaks.py" $reports || rc=1
fi
echo "sanitizers: build $((t1 - t0)) s, tests $((t2 - t1)) s, exit $rc"
exit "$rc"
