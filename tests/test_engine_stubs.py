"""The extension modules and their type stubs (decoder/_engine.pyi, decoder/grammar/_wire.pyi)
declare the same public names: a method added to the binding without a stub, or a stub left
behind by a removed one, fails here (mypy would otherwise type-check against a fiction)."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _stub_names(path: Path) -> dict[str, set[str] | None]:
    """Top-level public names of a .pyi; for a class, the set of its public members."""
    out: dict[str, set[str] | None] = {}
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.ClassDef):
            members: set[str] = set()
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    members.add(item.name)
                elif isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                    members.add(item.target.id)
            out[node.name] = {m for m in members if not m.startswith("_")}
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            out[node.name] = None
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            out[node.target.id] = None
    return {k: v for k, v in out.items() if not k.startswith("_")}


def _module_names(mod) -> dict[str, set[str] | None]:
    out: dict[str, set[str] | None] = {}
    for name, obj in vars(mod).items():
        if name.startswith("_"):
            continue
        if isinstance(obj, type) and obj.__module__ == mod.__name__:
            out[name] = {m for m in dir(obj) if not m.startswith("_")}
        elif callable(obj) and getattr(obj, "__module__", None) == mod.__name__:
            out[name] = None
        elif name.isupper():  # module constants
            out[name] = None
    return out


@pytest.mark.parametrize(
    "module,stub",
    [
        ("decoder._engine", "decoder/_engine.pyi"),
        ("decoder.grammar._wire", "decoder/grammar/_wire.pyi"),
        ("decoder.grammar.json_schema._automata", "decoder/grammar/json_schema/_automata.pyi"),
    ],
)
def test_stub_declares_exactly_the_public_api(module, stub):
    got = _module_names(importlib.import_module(module))
    want = _stub_names(ROOT / stub)
    assert set(got) == set(want), (
        f"in the module only: {sorted(set(got) - set(want))}; "
        f"in the stub only: {sorted(set(want) - set(got))}"
    )
    for name, members in got.items():
        if members is not None:
            assert members == want[name], (
                f"{name}: in the module only {sorted(members - (want[name] or set()))}, "
                f"in the stub only {sorted((want[name] or set()) - members)}"
            )
