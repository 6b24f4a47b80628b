"""bench/serving.py's server loop, in this process, on a tiny batch: rows come out with every
step timed, no violations on instances the engine accepts, the arrival schedule the parent
plans with (`schedule`) is the one the loop follows, and a token outside the mask is counted."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
from conftest import shared_path

pytest.importorskip("transformers")

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def serving():
    spec = importlib.util.spec_from_file_location("bench_serving", ROOT / "bench" / "serving.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["bench_serving"] = mod
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def ctx(serving):
    return serving.E.TokenizerContext(str(shared_path("tokenizers", "llama3")))


@pytest.fixture(scope="module")
def requests(serving, ctx):
    """Short Github_trivial requests that decoder compiles and accepts, teacher-forced once
    (the benchmark's screening, for one engine)."""
    E = serving.E
    ad = E.ADAPTERS["decoder"](ctx)
    cands = serving.load_candidates(str(shared_path("jsonschemabench")), 0, ["Github_trivial"])
    out = []
    for c in cands:
        ids = ctx.encode(E.serialize(c["data"]))
        if not 0 < len(ids) <= 40:
            continue
        try:
            g = ad.compile(c["schema"])
        except Exception:  # noqa: BLE001 - a refused schema is left out, as screening does
            continue
        if E.teacher_force(ad, g, ids, ad.new_row(), [])["accepted"]:
            out.append((c["schema"], ids))
        if len(out) == 20:
            break
    assert len(out) >= 16
    return out


def test_serve_rows_no_violations(serving, ctx, requests):
    engine = "decoder"  # the peers' adapters run in the benchmark itself (slow to set up)
    eng = serving.BATCH_ENGINES[engine](ctx, 2)
    batch, steps, ramp = 3, 30, 8
    lens = [len(ids) for _, ids in requests]
    planned = serving.schedule(lens, batch, ramp + steps, ramp)
    assert planned <= len(requests)
    res = serving.serve(eng, requests, batch, steps, ramp, ctx.eos)
    row = serving.summarize(batch, res)
    assert not row["exhausted"]
    assert row["steps"] == steps and res["step_us"].shape == (steps,)
    assert row["violations"] == 0 and row["refusals"] == 0
    assert row["arrivals"] == planned  # the loop follows the planned arrivals
    assert row["finished"] >= 1 and row["compiles"] >= 1
    assert row["step_us_p50"] > 0 and row["throughput"] > 0
    assert row["step_cpu_us_p50"] is not None and row["compile_cpu_ms_p50"] is not None
    assert (res["step_us"] >= res["compile_us"]).all()
    table = serving.markdown_table([{"engine": engine, "threads": 2, "batch": batch, **row}])
    assert f"| {batch} | 2 | {engine} | {steps} |" in table


def test_serve_counts_a_token_outside_the_mask(serving, ctx, requests):
    eng = serving.BATCH_ENGINES["decoder"](ctx, 1)
    schema, ids = requests[0]
    bad = ctx.encode("]")  # no JSON value starts with "]"
    reqs = [(schema, bad + ids)] + requests[1:]
    res = serving.serve(eng, reqs, 1, 5, 0, ctx.eos)
    assert res["violations"] >= 1 and res["refusals"] == 1


def test_target_line_compares_decoder_with_every_peer(serving):
    rows = [
        {"engine": "decoder", "threads": 1, "batch": 32, "step_us_p99": 90.0},
        {"engine": "llguidance", "threads": 1, "batch": 32, "step_us_p99": 100.0},
        {"engine": "xgrammar", "threads": 1, "batch": 32, "step_us_p99": 80.0},
    ]
    (line,) = serving.target_lines(rows)
    assert "NOT met" in line
    rows[2]["step_us_p99"] = 95.0
    assert (
        serving.target_lines(rows)[0].endswith("met") and "NOT" not in serving.target_lines(rows)[0]
    )
