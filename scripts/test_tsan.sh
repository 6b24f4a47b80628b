#!/usr/bin/env bash
# The engine's thread safety under ThreadSanitizer: compiled grammars shared between threads
# (fill_masks on several C++ threads, Python threads calling compute_mask without the GIL,
# mask-cache eviction while other threads read).
#
# Builds decoder._engine with DECODER_SANITIZE=thread (setup.py) in a copy of the working tree
# under $DECODER_TSAN_DIR (default /tmp/decoder-tsan; rebuilt when the engine sources change),
# then runs tests/test_threads.py and the fill_masks tests of tests/test_engine.py against it
# with libtsan preloaded into the (uninstrumented) Python interpreter. Any data race report
# fails the step (halt_on_error). A stage of scripts/test.sh (CI), after the ASan/UBSan one
# (DECODER_SKIP_TSAN=1 leaves it out there); it skips, saying so, only where the compiler has
# no libtsan. The build is the slow part (minutes on 2 cores) and is done once per engine
# source hash; the tests take about a minute.
#
#   bash scripts/test_tsan.sh
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DIR="${DECODER_TSAN_DIR:-/tmp/decoder-tsan}"
SRC="$DIR/src"
TSAN_LIB="$("${CXX:-g++}" -print-file-name=libtsan.so)"
if [ ! -e "$TSAN_LIB" ]; then
  echo "tsan: SKIPPED: libtsan not found for ${CXX:-g++} (install its ThreadSanitizer runtime," \
       "e.g. Debian's libtsan2 or gcc's libtsan, to run this stage)"; exit 0
fi
t0=$(date +%s)
PY="$(python -c 'import sys; print(sys.executable)')"
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
  echo "tsan: building decoder._engine with -fsanitize=thread in $SRC"
  (cd "$SRC" && rm -rf build && find decoder -name '*.so' -delete &&
   for f in $PYX; do rm -f "${f%.pyx}.cpp" "${f%.pyx}.c"; done &&
   DECODER_SANITIZE=thread nice python setup.py -q build_ext --inplace -j 2 >"$DIR/build.log" 2>&1) \
    || { tail -40 "$DIR/build.log"; exit 1; }
  echo "$HASH" >"$DIR/built"
fi
t1=$(date +%s)
cd "$SRC"
export DECODER_SHARED="${DECODER_SHARED:-$ROOT/../shared}"
export PYTHONPATH="$SRC${PYTHONPATH:+:$PYTHONPATH}"
export DECODER_SANITIZED=1
# report_signal_unsafe=0: CPython's signal handlers; ignore_noninstrumented_modules: races
# inside the uninstrumented interpreter itself are not ours to report
export TSAN_OPTIONS="halt_on_error=1:abort_on_error=1:report_signal_unsafe=0:ignore_noninstrumented_modules=1:second_deadlock_stack=1:log_path=$DIR/tsan:${TSAN_OPTIONS:-}"
rm -f "$DIR"/tsan.*
LD_PRELOAD="$TSAN_LIB" "$PY" - <<'PY'
import decoder._engine as e, os
assert e.__file__.startswith(os.environ["PYTHONPATH"].split(":")[0]), e.__file__
PY
set +e
LD_PRELOAD="$TSAN_LIB" "$PY" -m pytest -q -p no:cacheprovider tests/test_threads.py \
  tests/test_engine.py -k "thread or fill_masks" 2>&1 | tail -15
rc=${PIPESTATUS[0]}
set -e
t2=$(date +%s)
if ls "$DIR"/tsan.* >/dev/null 2>&1; then
  echo "tsan: reports:"; head -80 "$DIR"/tsan.*; rc=1
fi
echo "tsan: build $((t1 - t0)) s, tests $((t2 - t1)) s, exit $rc"
exit "$rc"
