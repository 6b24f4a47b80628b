"""Coverage ratchet: what compiled and what was answered right stays so.

Two baselines are committed in tests/baselines/:

* ``jsts.json``: per test of the official JSON Schema Test Suite (draft 2020-12 and
  draft7 top-level files), whether the engine answered it right (the schema compiled, or
  was refused as one no value satisfies, and the instance, serialised compactly, was
  accepted exactly when it is valid);
* ``jsonschemabench_compile.json``: per schema of every ../shared/jsonschemabench subset,
  whether it compiled.

The tests fail when a test answered right is no longer, when a schema that compiled is
refused, and on any invalid instance accepted (never allowed, baseline or not). New
passes are reported, not required: after an improvement, record it with

    python tests/test_ratchet.py --update

and commit the baselines beside the change (the diff shows what was gained)."""

from __future__ import annotations

import json
import sys
import warnings
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from conftest import SHARED  # noqa: E402

BASELINES = HERE / "baselines"
SUITE = SHARED / "json-schema-test-suite"
BENCH = SHARED / "jsonschemabench"
DRAFT7 = "http://json-schema.org/draft-07/schema#"
DRAFTS = ("draft2020-12", "draft7")


# ------------------------------------------------------------------ the Test Suite
def suite_remotes() -> dict:
    """The suite's remote documents by the URI its tests use for them (``remotes/x.json``
    is ``http://localhost:1234/x.json``), given to the compiler as ``remotes=``."""
    root = SUITE / "remotes"
    return {
        "http://localhost:1234/" + f.relative_to(root).as_posix(): json.loads(f.read_text())
        for f in sorted(root.rglob("*.json"))
    }


def suite_verdicts() -> tuple[dict[str, bool], list[str]]:
    """``{"draft/file.json#group/test": answered right}`` and the invalid instances
    accepted (through the engine, on a byte-level vocabulary)."""
    import differential

    from decoder import Grammar, Matcher
    from decoder.errors import SchemaError, UnsatisfiableSchemaError

    vocab = differential.vocab()
    remotes = suite_remotes()
    out: dict[str, bool] = {}
    unsound: list[str] = []
    for draft in DRAFTS:
        for f in sorted((SUITE / draft).glob("*.json")):
            for gi, group in enumerate(json.loads(f.read_text())):
                schema = group["schema"]
                if draft == "draft7" and isinstance(schema, dict) and "$schema" not in schema:
                    schema = dict(schema, **{"$schema": DRAFT7})
                m = None
                nothing_valid = False
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        g = Grammar.from_json_schema(schema, whitespace="flexible", remotes=remotes)
                        m = Matcher(g, vocab)
                except UnsatisfiableSchemaError:
                    nothing_valid = True
                except SchemaError:
                    pass
                for ti, t in enumerate(group["tests"]):
                    key = f"{draft}/{f.name}#{gi}/{ti}"
                    if m is None:
                        out[key] = nothing_valid and not t["valid"]
                        continue
                    text = json.dumps(t["data"], separators=(",", ":"), ensure_ascii=False)
                    got = differential.accepts(m, text.encode())
                    out[key] = got == t["valid"]
                    if got and not t["valid"]:
                        unsound.append(f"{key} ({t['description']}): {text[:200]}")
    return out, unsound


# ------------------------------------------------------------------ jsonschemabench
def _compile_status(path: str) -> dict[str, str]:
    """``{"subset/id": "ok" | "refused: <keyword>" | "error: <type>"}`` for one subset."""
    from decoder.errors import SchemaError, UnsatisfiableSchemaError
    from decoder.grammar.json_schema import compile_json_schema

    out = {}
    subset = Path(path).stem
    with open(path) as f:
        for line in f:
            rec = json.loads(line)
            key = f"{subset}/{rec['id']}"
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    compile_json_schema(rec["schema"])
                out[key] = "ok"
            except UnsatisfiableSchemaError:
                out[key] = "ok"  # refused because nothing is valid: a correct answer
            except SchemaError as e:
                out[key] = f"refused: {e.keyword}"
            except Exception as e:  # noqa: BLE001 - recorded, and fails the test below
                out[key] = f"error: {type(e).__name__}: {str(e)[:120]}"
    return out


def bench_status() -> dict[str, str]:
    files = [str(p) for p in sorted(BENCH.glob("*.jsonl"))]
    out: dict[str, str] = {}
    with ProcessPoolExecutor(max_workers=2) as ex:  # the sweep is ~80 s of CPU
        for part in ex.map(_compile_status, files):
            out.update(part)
    return out


# ------------------------------------------------------------------ tests
def _baseline(name: str) -> dict:
    p = BASELINES / name
    if not p.exists():
        pytest.fail(f"{p} is missing: run python tests/test_ratchet.py --update")
    return json.loads(p.read_text())


@pytest.mark.skipif(not SUITE.exists(), reason="../shared/json-schema-test-suite is absent")
def test_suite_ratchet():
    base = _baseline("jsts.json")
    now, unsound = suite_verdicts()
    assert not unsound, "invalid instances accepted:\n" + "\n".join(unsound)
    lost = sorted(k for k, ok in base.items() if ok and not now.get(k, False))
    gained = sorted(k for k, ok in now.items() if ok and not base.get(k, False))
    if gained:
        print(f"\nratchet: {len(gained)} Test Suite tests newly right (record with --update)")
    assert not lost, f"{len(lost)} Test Suite tests answered right before are not now: {lost[:30]}"


@pytest.mark.skipif(not BENCH.exists(), reason="../shared/jsonschemabench is absent")
def test_jsonschemabench_compile_ratchet():
    base = _baseline("jsonschemabench_compile.json")
    now = bench_status()
    errors = {k: v for k, v in now.items() if v.startswith("error")}
    assert not errors, f"compiles that failed other than by SchemaError: {errors}"
    lost = {k: now.get(k, "absent") for k, v in base.items() if v == "ok" and now.get(k) != "ok"}
    gained = [k for k, v in now.items() if v == "ok" and base.get(k) != "ok"]
    if gained:
        print(f"\nratchet: {len(gained)} schemas newly compile (record with --update)")
    assert (
        not lost
    ), f"{len(lost)} schemas that compiled are refused now: {dict(list(lost.items())[:30])}"


def main(argv: list[str]) -> int:
    if argv != ["--update"]:
        print(__doc__)
        return 2
    BASELINES.mkdir(exist_ok=True)
    verdicts, unsound = suite_verdicts()
    if unsound:
        print("refusing to record a baseline with invalid instances accepted:", *unsound, sep="\n")
        return 1
    status = bench_status()
    (BASELINES / "jsts.json").write_text(json.dumps(verdicts, indent=0, sort_keys=True) + "\n")
    (BASELINES / "jsonschemabench_compile.json").write_text(
        json.dumps(status, indent=0, sort_keys=True) + "\n"
    )
    right = sum(verdicts.values())
    ok = sum(v == "ok" for v in status.values())
    refused = Counter(v for v in status.values() if v != "ok")
    print(f"Test Suite: {right} / {len(verdicts)} right")
    print(f"jsonschemabench: {ok} / {len(status)} compile; refused: {dict(refused.most_common())}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
