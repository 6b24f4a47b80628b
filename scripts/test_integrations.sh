#!/usr/bin/env bash
# Contract tests of decoder inside vLLM and SGLang (tests/integrations/), each engine in its own
# virtual environment (vLLM and SGLang pin other transformers than ours), kept outside the checkout
# in ${XDG_CACHE_HOME:-$HOME/.cache}/decoder/integrations/ (DECODER_INTEGRATIONS_DIR=... for another
# place) and reused by every checkout and clone.
# Exit status: 1 when a contract test fails; 0 when they pass or when an engine could not be
# installed (no network, index down): that is reported as SKIPPED, not as a red build.
# Venvs are reused while their requirements file is unchanged; DECODER_INTEGRATIONS=vllm (or sglang)
# runs one engine only.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT="${DECODER_INTEGRATIONS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/decoder/integrations}"
PY=${PYTHON:-python}
ENGINES=${DECODER_INTEGRATIONS:-"vllm sglang"}
mkdir -p "$ROOT"
log() { echo "[integrations] $*"; }
log "venvs in $ROOT"

# decoder itself: one wheel of this checkout (builds the C++ engine once), installed into every
# venv; in a folder of its own, since the venvs are shared by checkouts
WHEEL=$(mktemp -d)
trap 'rm -rf "$WHEEL"' EXIT
build_wheel() {
  $PY -m pip wheel -q --no-deps --no-build-isolation -w "$WHEEL" . >"$WHEEL/wheel.log" 2>&1 \
    || { cp "$WHEEL/wheel.log" "$ROOT/wheel.log"; log "FAILED to build the decoder wheel (see $ROOT/wheel.log)"; return 1; }
}

make_venv() {  # engine, pip args for the engine itself (--no-deps)...
  local name=$1; shift
  local venv="$ROOT/$name" req="tests/integrations/requirements-$name.txt"
  local stamp
  stamp=$(cat "$req" <(echo "$@") | sha256sum | cut -c1-16)
  if [ -x "$venv/bin/python" ] && [ "$(cat "$venv/.stamp" 2>/dev/null)" = "$stamp" ]; then
    return 0
  fi
  rm -rf "$venv"
  $PY -m venv "$venv" || return 1
  local pip="$venv/bin/python -m pip install -q --disable-pip-version-check"
  {
    $pip "torch==2.13.0" &&
    $pip --no-deps "$@" &&
    $pip -c <(echo "torch==2.13.0") -r "$req"
  } >"$venv.log" 2>&1 || return 1
  echo "$stamp" >"$venv/.stamp"
}

fail=0
skipped=()
build_wheel || exit 1
for engine in $ENGINES; do
  case $engine in
    vllm)   pkgs=("vllm==0.32.0" "xgrammar==0.2.8" "apache-tvm-ffi==0.1.11") ;;
    sglang) pkgs=("sglang==0.5.23" "xgrammar==0.2.7" "apache-tvm-ffi==0.1.11") ;;
    *) log "unknown engine $engine"; exit 1 ;;
  esac
  t0=$(date +%s)
  if ! make_venv "$engine" "${pkgs[@]}"; then
    log "SKIPPED $engine: could not install it (see $ROOT/$engine.log; no network?)"
    skipped+=("$engine")
    continue
  fi
  # the entry points (vllm.logits_processors, sglang.srt.plugins) come with a real install
  "$ROOT/$engine/bin/python" -m pip install -q --disable-pip-version-check --force-reinstall --no-deps \
    "$WHEEL"/decoder_engine-*.whl >>"$ROOT/$engine.log" 2>&1 \
    && "$ROOT/$engine/bin/python" -m pip install -q --disable-pip-version-check "numpy>=1.24" "lark>=1.1.9" \
       >>"$ROOT/$engine.log" 2>&1 \
    || { log "SKIPPED $engine: could not install decoder into its venv"; skipped+=("$engine"); continue; }
  log "$engine: environment ready in $(( $(date +%s) - t0 )) s"
  # run from tests/ so that `import decoder` finds the installed wheel, not the source tree
  (cd tests && "$ROOT/$engine/bin/python" -m pytest -q -p no:cacheprovider -o addopts=-ra \
      --rootdir=. "integrations/test_${engine}_contract.py")
  rc=$?
  if [ "$rc" -ne 0 ]; then log "FAILED: $engine contract tests (pytest exit $rc)"; fail=1; fi
done
[ ${#skipped[@]} -gt 0 ] && log "SKIPPED (install failed, not a test failure): ${skipped[*]}"
exit "$fail"
