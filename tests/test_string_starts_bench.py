"""bench/string_starts.py's `--only`: kind names contain commas ("min 1, max 60"), so a kind is
picked by its whole name (repeat the option for several), never by pieces of it, and an unknown
name is an error that lists the kinds."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
from conftest import shared_path

pytest.importorskip("transformers")

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def string_starts():
    spec = importlib.util.spec_from_file_location(
        "bench_string_starts", ROOT / "bench" / "string_starts.py"
    )
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["bench_string_starts"] = mod
    spec.loader.exec_module(mod)
    return mod


def test_unknown_kind_is_an_error_listing_the_kinds(string_starts, capsys):
    with pytest.raises(SystemExit) as ex:
        string_starts.main(["--only", "min 1"])
    assert ex.value.code == 2
    err = capsys.readouterr().err
    assert "unknown --only kind(s) ['min 1']" in err and "'min 1, max 60'" in err


def test_only_runs_the_kinds_named_whole(string_starts, capsys):
    tok = str(shared_path("tokenizers", "llama3"))
    names = ["min 1, max 60", "free"]
    argv = ["--rounds", "1", "--tokenizer", tok]
    for n in names:
        argv += ["--only", n]
    assert string_starts.main(argv) == 0
    lines = [ln for ln in capsys.readouterr().out.splitlines() if " median " in ln]
    # in the table's order, each exactly once: not "min 1, max 2000" or "min 5, max 60" too
    assert [ln.split(" median ")[0].strip() for ln in lines] == ["free", "min 1, max 60"]
