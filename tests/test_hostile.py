"""The hostile-input corpus (tests/hostile/cases.py): deeply nested and self-referencing
schemas, huge enums, exponential anyOf/oneOf/allOf, pathological and unsupported regexes,
invalid UTF-8, left-recursive, huge and empty Lark grammars, engine limits.

Each case runs in a child process with a wall-clock timeout and an address-space cap
(tests/hostile/isolate.py), so a hang, a memory blow-up or a segfault fails its test and
nothing else. It must end in one of the clean errors the case allows (a subclass of
``decoder.errors.DecoderError`` whose message names the problem) or, where the case allows
it, in a matcher whose masks equal brute force, never allow invalid UTF-8, and accept and
reject the case's strings; and it must do so within the case's time. Cases that do not
behave yet are strict xfails whose reason is the reproducer (``KNOWN_FAILURES``).

Cases run two at a time (a pool started by the first test) to keep the file's wall time
down on a two-core machine.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest
from conftest import ROOT
from hostile import cases, isolate

WALL_TIMEOUT_S = (
    120  # last resort (a child that blocks without using CPU); CPU time is the real cap
)


@pytest.fixture(scope="module")
def outcomes(request):
    """Futures of every selected case's outcome, two children at a time."""
    ids = [
        item.callspec.params["case_id"]
        for item in request.session.items
        if getattr(item, "originalname", "") == "test_hostile_case"
    ]
    with ThreadPoolExecutor(max_workers=2) as pool:
        futs = {
            cid: pool.submit(
                isolate.run,
                cases.run_case,
                cid,
                timeout=WALL_TIMEOUT_S,
                cpu_limit=cases.CASES[cid].seconds + 1,
            )
            for cid in ids
        }
        yield futs
        for f in futs.values():
            f.cancel()


def _param(c: cases.Case):
    marks = [pytest.mark.xfail(strict=True, reason=c.xfail)] if c.xfail else []
    if isolate.SANITIZED and (c.xfail or c.seconds > 3):
        # under ASan the engine is what is tested: known failures and the cases whose time
        # goes to the Python front ends (multi-second schemas) run in the normal job only
        marks = [
            pytest.mark.skip(reason="runs without the sanitizers (scripts/test_sanitizers.sh)")
        ]
    return pytest.param(c.id, id=c.id, marks=marks)


@pytest.mark.parametrize("case_id", [_param(c) for c in cases.CASES.values()])
def test_hostile_case(case_id, outcomes):
    c = cases.CASES[case_id]
    out = outcomes[case_id].result()
    assert out.status in ("ok", "error"), f"{case_id}: {out}"
    if out.status == "error":
        clean = out.is_error("DecoderError") or (
            out.error == "TypeError" and "TypeError" in c.errors
        )
        assert clean, f"{case_id}: not a DecoderError: {out}"
        assert out.error in c.errors or any(
            e in out.classes for e in c.errors
        ), f"{case_id}: expected one of {c.errors}, got {out}"
        assert re.search(
            c.match, out.message, re.S
        ), f"{case_id}: message should match {c.match!r}: {out}"
        assert out.message.strip(), f"{case_id}: an error without a message"
    else:
        assert c.ok, f"{case_id}: compiled, but the case expects one of {c.errors}: {out}"
    budget = c.seconds * isolate.TIME_SCALE  # CPU time: other jobs on the machine do not count
    assert (
        out.cpu_seconds <= budget
    ), f"{case_id}: took {out.cpu_seconds:.1f} s of CPU, budget {budget:.1f} s"


def test_children_start_warm():
    """The fork server imported its preloads, warm-up included, so a case's CPU budget is
    its own work: on Python 3.11 the server dropped the tests folder from its path, and
    every child paid seconds of imports inside its budget (cases failed by chance)."""
    out = isolate.run(isolate.preloaded, timeout=60)
    assert out.status == "ok", out
    assert out.value == isolate.PRELOAD


def test_the_corpus_covers_what_the_issue_names():
    """The kinds of hostile input the reliability issue lists all have cases."""
    ids = " ".join(cases.CASES)
    for needle in [
        "deep_array_1000",
        "deep_object_1000",
        "huge_enum_strings_100k",
        "star_star",
        "plus_plus_alt",
        "counted_1m",
        "counted_nested_1000x1000",
        "nested_bounded_lists",
        "oneof",
        "anyof",
        "ref_self_productive",
        "ref_self_unproductive",
        "ref_mutual",
        "ref_chain_10k",
        "multi_mb",
        "surrogate",
        "invalid_utf8",
        "left_recursion",
        "huge_alternation",
        "empty_language",
        "backreference",
        "lookahead",
    ]:
        assert needle in ids, needle
    assert len(json.dumps(cases.big_object_schema(20_000, 150))) > 3_000_000  # "several MB"


def test_every_fuzz_finding_is_a_case():
    """Each input the fuzzers found (fuzz/corpus/<target>/finding-<case id>.<ext>, replayed by
    `scripts/fuzz.sh --ci`) is the source of the hostile case of that id."""
    from hostile.make_corpus import source_bytes

    findings = sorted((ROOT / "fuzz" / "corpus").glob("*/finding-*"))
    assert findings
    for f in findings:
        cid = f.stem[len("finding-") :]
        assert cid in cases.CASES, f"{f}: no case {cid!r} in tests/hostile/cases.py"
        c = cases.CASES[cid]
        assert source_bytes(c.kind, c.make()) == f.read_bytes(), f"{f} and case {cid} differ"
        assert f.parent.name == {"regex": "regex", "lark": "lark"}.get(c.kind, "schema"), f


def test_dfa_limit_at_mask_time_leaves_the_matcher_usable():
    """A lazily built lexer DFA that hits max_dfa_states mid-sequence raises LimitError
    from compute_mask/commit; the matcher keeps its state (no half step) and works again
    after rollback() and reset() (cases.dfa_limit_scenario)."""
    out = isolate.run(cases.dfa_limit_scenario, timeout=30)
    assert out.status == "ok" and out.value > 10, str(out)


def test_work_budget_overrun_names_the_limit():
    """max_compile_work and max_step_work (counted work, not time) raise a LimitError whose
    .limit and message name them; the step that ran out leaves the matcher as it was
    (cases.work_budget_scenario)."""
    out = isolate.run(cases.work_budget_scenario, timeout=60, cpu_limit=20)
    assert out.status == "ok", str(out)
    assert out.value["step"] > 50, out.value


def test_make_corpus_writes_every_case(tmp_path):
    """make_corpus.py writes the corpus as files (seeds for the fuzzers, inputs for other
    engines); every file it writes reads back as its case's source."""
    r = subprocess.run(
        [
            sys.executable,
            str(ROOT / "tests" / "hostile" / "make_corpus.py"),
            str(tmp_path),
            "--max-bytes",
            "100000",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    files = sorted(p.name for p in tmp_path.iterdir())
    assert "schema_ref_self_productive.json" in files and "regex_star_star.regex" in files
    assert "lark_left_recursion.lark" in files
    index = json.loads((tmp_path / "index.json").read_text())
    assert set(index) == set(files) - {"index.json"}
    assert (
        json.loads((tmp_path / "schema_ref_self_productive.json").read_text())["$ref"]
        == "#/$defs/t"
    )
    assert index["regex_backreference.regex"]["errors"] == ["GrammarError"]
