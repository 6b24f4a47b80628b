"""Packaging: ``python -m build`` makes an sdist and a wheel (the wheel built from the sdist,
so the sdist is complete: C++ sources and headers, the .pyx), and the wheel installed into a
fresh venv has what a user needs: every bundled grammar, the engine, ``decoder generate
--help``. Nothing is downloaded: the build runs without isolation (setuptools, Cython and
numpy from this environment) and the wheel is installed with ``--no-deps --no-index`` into a
venv that sees this environment's packages (numpy, lark). Skips, saying why, without the
``build`` package (``pip install build``; ``scripts/test.sh`` installs it with the test extra).
Takes a minute or two: the engine is compiled once more."""

from __future__ import annotations

import importlib.util
import os
import site
import subprocess
import sys
import tarfile
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DIST = "decoder-engine"

pytestmark = pytest.mark.skipif(
    os.environ.get("DECODER_SKIP_PACKAGING") == "1", reason="DECODER_SKIP_PACKAGING=1"
)


def _need(module: str, why: str) -> None:
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:  # (origin None: a namespace package, e.g. ./build/)
        pytest.skip(f"the `{module}` package is not installed ({why}); pip install {module}")


@pytest.fixture(scope="module")
def dists(tmp_path_factory) -> Path:
    _need("build", "python -m build makes the sdist and the wheel")
    for m in ("setuptools", "Cython", "numpy", "wheel"):
        _need(m, "a build without isolation uses this environment's build requirements")
    out = tmp_path_factory.mktemp("dist")
    r = subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=1800,
        cwd=out,
    )
    # (cwd: a checkout's build/ folder, left by `setup.py build_ext`, would shadow the package)
    assert r.returncode == 0, f"python -m build failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return out


def test_sdist_has_the_engine_sources(dists):
    sdists = list(dists.glob("decoder_engine-*.tar.gz")) + list(
        dists.glob("decoder-engine-*.tar.gz")
    )
    assert len(sdists) == 1, list(dists.iterdir())
    with tarfile.open(sdists[0]) as t:
        names = {n.split("/", 1)[1] for n in t.getnames() if "/" in n}
    wanted = {"setup.py", "pyproject.toml", "decoder/_engine.pyx", "csrc/support/chunked_array.h"}
    wanted |= {"decoder/grammar/_wire.pyx", "decoder/grammar/json_schema/_automata.pyx"}
    wanted |= {str(p.relative_to(ROOT)) for p in (ROOT / "csrc").glob("*.[hc]*")}
    wanted |= {f"decoder/grammars/{p.name}" for p in (ROOT / "decoder" / "grammars").glob("*.lark")}
    assert wanted <= names, sorted(wanted - names)


@pytest.fixture(scope="module")
def installed(dists, tmp_path_factory) -> Path:
    wheels = list(dists.glob("decoder_engine-*.whl"))
    assert len(wheels) == 1, list(dists.iterdir())
    env = tmp_path_factory.mktemp("venv") / "v"
    venv.create(env, system_site_packages=True, with_pip=True)
    py = env / "bin" / "python"
    r = subprocess.run(
        [
            str(py),
            "-m",
            "pip",
            "install",
            "-q",
            "--disable-pip-version-check",
            "--no-deps",
            "--no-index",
            str(wheels[0]),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        # outside the checkout and without PYTHONPATH: pip must not take the checkout's
        # egg-info for an installed decoder-engine ("already installed", nothing done)
        cwd=env,
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
    )
    assert r.returncode == 0, r.stdout + r.stderr
    # the wheel's run-time requirements (numpy, lark) from this interpreter's site-packages,
    # added after the install (pip would otherwise see this checkout's decoder-engine there):
    # the base interpreter's site-packages need not hold them on a fresh machine
    site_dir = next((env / "lib").glob("python3*/site-packages"))
    (site_dir / "_test_requirements.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    return env


def _run(env: Path, *args: str, **kw) -> subprocess.CompletedProcess:
    # from a folder outside the checkout, so that `import decoder` finds the wheel
    clean = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run(
        list(args), capture_output=True, text=True, timeout=600, cwd=env, env=clean, **kw
    )


def test_wheel_runs_every_bundled_grammar(installed):
    code = r"""
import os, sys
import numpy as np
import decoder
from decoder import Grammar, Matcher, Vocabulary
from decoder.grammar.lark import bundled_names
assert decoder.__file__.startswith(sys.prefix), decoder.__file__
names = bundled_names()
assert {"json", "arithmetic", "sql_select", "csv"} <= set(names), names
tokens = [bytes([i]) for i in range(256)] + [b""]
vocab = Vocabulary.from_bytes(tokens, eos_ids=[256], special_ids=[256])
for name in names:
    m = Matcher(Grammar.builtin(name), vocab)
    bits = np.zeros((len(tokens) + 31) // 32, dtype=np.int32)
    m.compute_mask(bits)
    assert bits.any(), name
# the regex algebra's compiled core (decoder/grammar/json_schema/_automata)
pat = Grammar.from_json_schema({"type": "string", "allOf": [{"pattern": "^a"}, {"pattern": "b$"}]})
Matcher(pat, vocab)
try:
    Grammar.builtin("nope")
except decoder.GrammarError as e:
    assert "json" in str(e), e
else:
    raise AssertionError("an unknown bundled grammar was accepted")
print("ok", " ".join(names))
"""
    r = _run(installed, str(installed / "bin" / "python"), "-c", code)
    assert r.returncode == 0 and r.stdout.startswith("ok"), r.stdout + r.stderr


def test_wheel_has_the_command(installed):
    r = _run(installed, str(installed / "bin" / "decoder"), "generate", "--help")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "--max-new-tokens" in r.stdout and "Traceback" not in r.stderr
    r = _run(installed, str(installed / "bin" / "python"), "-m", "pip", "show", DIST)
    assert r.returncode == 0 and f"Name: {DIST}" in r.stdout, r.stdout + r.stderr
