"""``decoder bench jsonschemabench``: a quick run on the tiny model validates, the results file has
the documented fields, and an interrupted run resumes without recomputing its rows."""

from __future__ import annotations

import json

import pytest
from conftest import shared_path

pytest.importorskip("transformers")
pytest.importorskip("jsonschema")
jsb = pytest.importorskip("decoder.bench.jsonschemabench")

ENGINES = ["decoder", "decoder-noff", "none"]


@pytest.fixture(scope="module")
def worker():
    model = str(shared_path("models", "stories260k"))
    w = jsb.Worker(
        model,
        ENGINES,
        threads=None,
        prompt_style="short",
        compile_timeout=10,
        gen_timeout=60,
        isolate=False,
    )  # in this process: no second torch import
    w.start()
    yield w
    w.close()


@pytest.fixture(scope="module")
def data():
    return shared_path("jsonschemabench")


def _run(worker, data, out, limit, subsets=("Github_trivial", "Glaiveai2K")):
    return jsb.run_benchmark(
        model=worker.args[0],
        data=data,
        subsets=list(subsets),
        limit=limit,
        engines=ENGINES,
        max_new_tokens=24,
        out=out,
        prompt_style="short",
        progress=False,
        worker=worker,
        log=lambda m: None,
    )


def test_quick_run_outputs_validate_and_fields_are_documented(worker, data, tmp_path):
    out = tmp_path / "r.json"
    doc = _run(worker, data, out, limit=2)
    rows = doc["rows"]
    assert len(rows) == 2 * 2 * len(ENGINES)
    for r in rows:
        assert set(r) == set(jsb.ROW_FIELDS), set(r) ^ set(jsb.ROW_FIELDS)
        assert r["status"] in ("ok", "compile_error", "prompt_too_long"), r["error"]
        if r["engine"].startswith("decoder") and r["compiled"] and r["finish"] == "stop":
            assert r["valid"], (r["id"], r["output"], r["validation_error"])
            schema = next(
                x["schema"] for x in jsb.load_subset(data, r["subset"], 2) if x["id"] == r["id"]
            )
            assert jsb.validate(schema, r["output"]) == (True, None)
        if r["finish"]:
            assert r["output_tokens"] <= 24 and r["cut_off"] == (r["finish"] == "length")
    assert any(
        r["engine"] == "decoder" and r["valid"] for r in rows
    )  # the run produced real outputs
    assert all(r["compiled"] and r["gct_ms"] is None for r in rows if r["engine"] == "none")
    on_disk = json.loads(out.read_text())
    assert on_disk["rows"] == rows and on_disk["meta"]["row_fields"] == jsb.ROW_FIELDS
    for s in on_disk["summary"]:
        assert set(jsb.SUMMARY_FIELDS) <= set(s)
    dec = next(s for s in on_disk["summary"] if s["engine"] == "decoder" and s["subset"] == "all")
    assert dec["invalid_complete"] == 0 and dec["n"] == 4
    assert "| decoder | all | 4 |" in jsb.format_table(on_disk["summary"])


def test_interrupted_run_resumes(worker, data, tmp_path, monkeypatch):
    out = tmp_path / "r.json"
    first = _run(worker, data, out, limit=1, subsets=("Github_trivial",))["rows"]
    calls = []
    real = worker.run
    monkeypatch.setattr(worker, "run", lambda e, schema, n: calls.append(e) or real(e, schema, n))
    second = _run(worker, data, out, limit=2, subsets=("Github_trivial",))["rows"]
    assert len(calls) == len(ENGINES)  # only the new schema ran
    assert second[: len(first)] == first  # earlier rows kept as they were (timings included)
    with pytest.raises(jsb.BenchError, match="max_new_tokens"):
        jsb.run_benchmark(
            model=worker.args[0],
            data=data,
            subsets=["Github_trivial"],
            limit=1,
            engines=ENGINES,
            max_new_tokens=99,
            out=out,
            prompt_style="short",
            progress=False,
            worker=worker,
            log=lambda m: None,
        )
    # the JSON whitespace policy is in the meta, and a file of another policy is not resumed
    from decoder._json_whitespace import DEFAULT_WHITESPACE

    assert json.loads(out.read_text())["meta"]["whitespace"] == f"default ({DEFAULT_WHITESPACE})"
    with pytest.raises(jsb.BenchError, match="whitespace"):
        jsb.run_benchmark(
            model=worker.args[0],
            data=data,
            subsets=["Github_trivial"],
            limit=1,
            engines=ENGINES,
            max_new_tokens=24,
            out=out,
            prompt_style="short",
            progress=False,
            worker=worker,
            whitespace="pretty",
            log=lambda m: None,
        )
    with pytest.raises(jsb.BenchError, match="unknown whitespace policy"):
        jsb.run_benchmark(
            model=worker.args[0],
            data=data,
            subsets=["Github_trivial"],
            limit=1,
            engines=ENGINES,
            max_new_tokens=24,
            out=tmp_path / "w.json",
            prompt_style="short",
            progress=False,
            worker=worker,
            whitespace="indented",
            log=lambda m: None,
        )


def test_validate_uses_the_declared_draft_and_formats():
    s7 = {"$schema": "http://json-schema.org/draft-07/schema#", "type": "string", "format": "ipv4"}
    assert jsb.validate(s7, '"1.2.3.4"') == (True, None)
    ok, why = jsb.validate(s7, '"1.2.3"')
    assert not ok and "ipv4" in why
    assert jsb.validate({"type": "object"}, "{")[0] is False
    # 2020-12 by default: prefixItems is understood
    assert jsb.validate({"prefixItems": [{"type": "integer"}]}, '["a"]')[0] is False


def test_command_line_resolves_quick_mode():
    from decoder.cli import build_parser

    shared_path("models", "stories260k")  # --quick runs the tiny model from ../shared

    args = build_parser().parse_args(["bench", "jsonschemabench", "--quick", "--out", "x.json"])
    kw = jsb.resolve(args)
    assert kw["subsets"] == jsb.QUICK_SUBSETS and kw["limit"] == jsb.QUICK_LIMIT
    assert kw["prompt_style"] == "short" and kw["max_new_tokens"] == jsb.QUICK_MAX_NEW_TOKENS
    assert kw["model"].endswith("stories260k") and kw["engines"][0] == "decoder"
    with pytest.raises(jsb.BenchError, match="subset 'Nope' not found"):
        jsb.load_subset(kw["data"], "Nope", 1)


def test_prompt_follows_jsonschemabench():
    msgs = jsb.build_messages({"type": "integer"})
    assert [m["role"] for m in msgs] == ["system", "user", "assistant", "user", "assistant", "user"]
    assert msgs[-1]["content"].endswith('{"type": "integer"}')
    for (schema, example), answer in zip(jsb.FEW_SHOT, msgs[2:5:2]):
        assert json.loads(answer["content"]) == example
        assert jsb.validate(schema, answer["content"]) == (True, None)
