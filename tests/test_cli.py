"""The command line without a model: help text and defaults, exit statuses, and that
constraint errors come before the model loads (torch is never imported for them).
The runs with a model are in tests/test_hf.py (stories260k from ../shared)."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from decoder.cli import EXIT_STATUS, build_parser, main

ROOT = Path(__file__).resolve().parent.parent


def _options(parser, path=()):
    for a in parser._actions:
        if isinstance(a, argparse._SubParsersAction):
            for name, sub in a.choices.items():
                yield from _options(sub, path + (name,))
        elif a.option_strings and a.dest != "help":
            yield path, a


def test_every_option_has_help_and_shows_its_default():
    parser = build_parser()
    seen = 0
    for path, a in _options(parser):
        seen += 1
        assert a.help, f"decoder {' '.join(path)} {a.option_strings[0]} has no help text"
        if a.default not in (None, False, [], argparse.SUPPRESS):
            text = (
                parser._subparsers._group_actions[0].choices[path[0]].format_help() if path else ""
            )
            assert "default" in a.help or f"(default: {a.default})" in " ".join(text.split()), (
                path,
                a.option_strings,
            )
    assert seen > 30


def test_help_lists_the_exit_statuses():
    out = build_parser().format_help()
    for code, meaning in EXIT_STATUS.items():
        assert f"  {code}  {meaning}" in out
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for code in EXIT_STATUS:
        assert f"`{code}`" in readme, f"README does not document exit status {code}"


def _run(code: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=str(ROOT),
        env=env,
    )


def test_constraint_errors_before_the_model_loads(tmp_path):
    """Each bad input exits 3 (2 for a usage error) with a one-line message and no traceback,
    and neither torch nor transformers was imported: the model was never loaded."""
    schema = tmp_path / "s.json"
    schema.write_text(
        json.dumps(
            {  # refused: more anyOf branches that evaluate properties than are split
                "type": "object",
                "unevaluatedProperties": {"type": "string"},
                "anyOf": [{"properties": {f"p{i}": {}}} for i in range(7)],
            }
        )
    )
    # too many key sets for property_order="any" (2**14 subsets of a closed object's keys)
    wide = json.dumps(
        {"properties": {f"p{i}": {} for i in range(14)}, "additionalProperties": False}
    )
    cases = [
        (["--regex", "(a"], 3, "unterminated"),
        (["--regex", "(a)\\1"], 3, "backreference"),
        (["--schema", str(schema)], 3, "unevaluatedProperties"),
        (["--schema", str(tmp_path / "missing.json")], 3, "not found"),
        (["--schema", "{bad"], 3, "not valid JSON"),
        (["--grammar", "jsn"], 3, "arithmetic, csv, json, sql_select"),
        (["--grammar", "x.lark"], 3, "not found"),
        (["--grammar", str(ROOT / "README.md")], 3, ""),
        (["--regex", "a", "--max-new-tokens", "-3"], 2, "must be >= 1"),
        (["--regex", "a", "--max-new-tokens", "0"], 2, "must be >= 1"),
        (["--regex", "a", "--top-p", "0"], 2, "(0, 1]"),
        (["--regex", "a", "--temperature", "-1"], 2, ">= 0"),
        (["--regex", "a", "--whatever"], 2, "unrecognized"),
        (["--whitespace", "compact"], 3, "--schema only"),
        (["--property-order", "any"], 3, "--schema only"),
        (["--schema", wide, "--property-order", "any"], 3, "property_order='any' at /"),
        (["--schema", wide, "--property-order", "sorted"], 2, "invalid choice"),
        (["--regex", "a", "--num-samples", "0"], 3, "--num-samples"),
        (["--regex", "a", "--deal-beams", "2"], 3, "--deal-reward"),
    ]
    code = f"""
import contextlib, io, json, sys
from decoder.cli import main
out = []
for args, _, _ in {cases!r}:
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        try:
            rc = main(["generate", "--prompt", "hi", *args])
        except SystemExit as e:
            rc = e.code
    out.append((rc, err.getvalue()))
heavy = [m for m in ("torch", "transformers") if m in sys.modules]
print(json.dumps({{"results": out, "heavy": heavy}}))
"""
    p = _run(code)
    assert p.returncode == 0, p.stderr
    got = json.loads(p.stdout.strip().splitlines()[-1])
    assert got["heavy"] == [], f"imported before the constraint was checked: {got['heavy']}"
    for (args, want_rc, want_msg), (rc, err) in zip(cases, got["results"]):
        assert rc == want_rc, (args, rc, err)
        assert want_msg in err, (args, err)
        assert "Traceback" not in err and "loading" not in err, (args, err)
        if want_rc == 3:
            assert err.startswith("decoder: error: "), (args, err)


def test_help_is_light():
    """`decoder --help` imports neither numpy nor torch (it must answer in well under 0.5 s)."""
    p = _run(
        "import sys\nfrom decoder.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in ('numpy', 'torch', 'transformers', 'decoder._engine') if m in sys.modules))"
    )
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip().splitlines()[-1] == "[]"


def test_missing_package_is_one_line(monkeypatch, capsys):
    """A missing optional package: exit 5, one line naming the install command."""
    import importlib.util

    from decoder.bench import jsonschemabench

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "jsonschema" else real(name, *a),
    )
    monkeypatch.setattr(jsonschemabench, "resolve", lambda args: {"progress": False})
    rc = main(["bench", "jsonschemabench", "--quick"])
    err = capsys.readouterr().err
    assert rc == 5 and "jsonschema" in err and "pip install" in err
    assert len(err.strip().splitlines()) == 1


def test_cut_off_output_exits_4(monkeypatch, capsys):
    """A fake Decoder whose output stops at the token limit: a one-line note on stderr and
    exit status 4; finish_reason is "length" on the result."""
    from decoder import generate
    from decoder.generate import Generation

    class FakeDecoder:
        def __init__(self, *a, **kw):
            self.tokenizer = None
            self.last_result = None

        def stream(self, prompt, max_new_tokens, **kw):
            yield "ab"
            self.last_result = Generation(b"ab", [1, 2], "length", False)

    monkeypatch.setattr(generate, "Decoder", FakeDecoder)
    rc = main(
        [
            "generate",
            "--regex",
            "(ab)+c",
            "--prompt",
            "x",
            "--max-new-tokens",
            "2",
            "--model",
            "fake",
        ]
    )
    out = capsys.readouterr()
    assert rc == 4 and out.out == "ab\n"
    assert (
        out.err.count("\n") == 1
        and "finish_reason=length" in out.err
        and "--max-new-tokens" in out.err
    )


@pytest.mark.parametrize(
    "argv", [["--help"], ["generate", "--help"], ["bench", "jsonschemabench", "--help"]]
)
def test_help_exits_0(argv, capsys):
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 0 and "exit status" in capsys.readouterr().out


def test_install_hints_name_the_command_for_this_installation(monkeypatch):
    from decoder import _install

    assert _install.checkout_root() == ROOT  # tests run from a checkout: an editable install
    cmd = _install.install_command("lexical")
    assert cmd.endswith(f"-m pip install --no-build-isolation -e '{ROOT}[lexical]'"), cmd
    monkeypatch.setattr(_install, "checkout_root", lambda: None)  # as from a wheel
    assert _install.install_command("lexical").endswith("-m pip install 'decoder-engine[lexical]'")
    assert _install.install_command(packages="--no-deps x==1").endswith(
        "-m pip install --no-deps x==1"
    )
