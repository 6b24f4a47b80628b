#!/usr/bin/env bash
# Coverage-guided fuzzing (atheris/libFuzzer) of the schema, Lark and regex front ends and
# the engine behind them: each target in fuzz/ runs for SECONDS (default 20), seeded with
# the hostile corpus (tests/hostile/make_corpus.py; its known failures left out) and its
# own corpus under $DECODER_FUZZ_DIR (default /tmp/decoder-fuzz, kept between runs).
# A crash (anything but a DecoderError escaping, a C++ crash, > 10 s or > 3 GB on one input)
# stops the target, leaves the input in fuzz/crashes/ and fails this script: turn it into
# a case in tests/hostile/cases.py.
#
#   bash scripts/fuzz.sh 20          # what CI runs
#   bash scripts/fuzz.sh 3600        # by hand
set -uo pipefail
SECONDS_PER_TARGET="${1:-20}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DIR="${DECODER_FUZZ_DIR:-/tmp/decoder-fuzz}"
cd "$ROOT"
if ! python -c "import atheris" 2>/dev/null; then
  python -m pip install -q --disable-pip-version-check "atheris>=2.3" \
    || { echo "fuzz: atheris is not installable here; skipping (tests/test_fuzz_properties.py still runs)"; exit 0; }
fi
mkdir -p "$DIR/seeds" fuzz/crashes
python - "$DIR/seeds" <<'PY'
import json, shutil, sys
from pathlib import Path
sys.path.insert(0, "tests")
from hostile.make_corpus import write_corpus
out = Path(sys.argv[1])
index = write_corpus(out / "all", max_bytes=4096)
for target, ext in [("schema", ".json"), ("lark", ".lark"), ("regex", ".regex")]:
    d = out / target
    d.mkdir(exist_ok=True)
    for name, info in index.items():
        if name.endswith(ext) and not info["known_failure"]:
            shutil.copy(out / "all" / name, d / name)
PY
rc=0
for target in schema lark regex; do
  mkdir -p "$DIR/corpus-$target"
  echo "fuzz: $target for ${SECONDS_PER_TARGET} s"
  nice python "fuzz/fuzz_$target.py" -max_total_time="$SECONDS_PER_TARGET" -timeout=10 -rss_limit_mb=3000 \
      -max_len=4096 -print_final_stats=1 -artifact_prefix="fuzz/crashes/$target-" \
      "$DIR/corpus-$target" "$DIR/seeds/$target" >"$DIR/$target.log" 2>&1
  r=$?
  grep -E "^(#[0-9]+ +DONE|Done|stat::number_of_executed_units|==[0-9]+== ERROR|.*Traceback)" "$DIR/$target.log" | head -5
  if [ "$r" -ne 0 ]; then
    echo "fuzz: $target FOUND A CRASH (exit $r); input in fuzz/crashes/, log $DIR/$target.log:"
    tail -40 "$DIR/$target.log"
    rc=1
  fi
done
exit "$rc"
