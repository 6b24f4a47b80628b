#!/usr/bin/env bash
# Coverage-guided fuzzing (atheris/libFuzzer) of the schema, Lark and regex front ends and
# the engine behind them, one target per file in fuzz/.
#
#   bash scripts/fuzz.sh --ci        # what CI runs: deterministic, about a minute
#   bash scripts/fuzz.sh 3600        # open-ended, by hand: each target for SECONDS
#
# --ci: each target first replays the committed corpus fuzz/corpus/<target>/ (a small seed
# set from the hostile corpus plus every input the fuzzers have ever found, finding-*), then
# runs a fixed number of mutated inputs ($DECODER_FUZZ_RUNS, default 20000, counting the
# replay) from a fixed seed ($DECODER_FUZZ_SEED, default 1), with PYTHONHASHSEED fixed and a
# fresh output corpus, so the same commit gives the same inputs and the same result on every
# run. No wall-clock limit takes part in the result (-timeout is per input, a hang).
#
# SECONDS: open-ended, seeded with fuzz/corpus/<target>/ and the hostile corpus
# (tests/hostile/make_corpus.py; its known failures left out), with a corpus of its own under
# $DECODER_FUZZ_DIR (default /tmp/decoder-fuzz, kept between runs).
#
# A finding (anything but a DecoderError escaping, a C++ crash, > 10 s or > 3 GB on one input)
# stops the target, leaves the input in fuzz/crashes/ and fails this script. Fix it, then
# commit the input as fuzz/corpus/<target>/finding-<what>.<ext> (so --ci replays it forever)
# and add a case for it to tests/hostile/cases.py.
set -uo pipefail
MODE="${1:-20}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
if ! python -c "import atheris" 2>/dev/null; then
  python -m pip install -q --disable-pip-version-check "atheris>=2.3" \
    || { echo "fuzz: atheris is not installable here; skipping (tests/test_fuzz_properties.py still runs)"; exit 0; }
fi
mkdir -p fuzz/crashes
COMMON=(-timeout=10 -rss_limit_mb=3000 -max_len=4096 -print_final_stats=1)

if [ "$MODE" = "--ci" ]; then
  RUNS="${DECODER_FUZZ_RUNS:-20000}"
  SEED="${DECODER_FUZZ_SEED:-1}"
  DIR="$(mktemp -d /tmp/decoder-fuzz-ci.XXXXXX)"
  trap 'rm -rf "$DIR"' EXIT
  export PYTHONHASHSEED=0
  ARGS() { echo -seed="$SEED" -runs="$RUNS"; }
  describe="replay of fuzz/corpus/\$t ($(find fuzz/corpus -type f | wc -l) files in all), then up to $RUNS runs from seed $SEED"
else
  DIR="${DECODER_FUZZ_DIR:-/tmp/decoder-fuzz}"
  mkdir -p "$DIR/seeds"
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
  ARGS() { echo -max_total_time="$MODE"; }
  describe="$MODE s"
fi

rc=0
for t in schema lark regex; do
  mkdir -p "$DIR/corpus-$t"
  seeds=("fuzz/corpus/$t")
  [ -d "$DIR/seeds/$t" ] && seeds+=("$DIR/seeds/$t")
  echo "fuzz: $t: ${describe//\$t/$t}"
  # the first directory receives new inputs: never the committed corpus
  nice python "fuzz/fuzz_$t.py" $(ARGS) "${COMMON[@]}" -artifact_prefix="fuzz/crashes/$t-" \
      "$DIR/corpus-$t" "${seeds[@]}" >"$DIR/$t.log" 2>&1
  r=$?
  grep -E "^(#[0-9]+[[:space:]]+DONE|Done|stat::number_of_executed_units|==[0-9]+== ERROR|.*Traceback)" "$DIR/$t.log" | head -5
  if [ "$r" -ne 0 ]; then
    echo "fuzz: $t FOUND A CRASH (exit $r); input in fuzz/crashes/, log:"
    tail -40 "$DIR/$t.log"
    rc=1
  fi
done
exit "$rc"
