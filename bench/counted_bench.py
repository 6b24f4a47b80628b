#!/usr/bin/env python3
"""Length-bounded strings: compile time and per-token mask cost (docs/optimizations.md,
"Counted repetition").

1. Compile (front end + first Matcher, thread CPU and wall ms) of the jsonschemabench schemas
   that the baseline refused for "maxLength ... too large to compile exactly".
2. Teacher-forced strings with long bounds, Llama-3 tokenizer, mask+commit per token (wall and
   thread CPU µs, cold = the first mask in a lexer state): `maxLength` 5,000 / 65,535 plain,
   1,200..1,500 with a pattern, and the instances of the formerly refused schemas.

Uses only public APIs, so the same script measures an older build:
    DECODER_WALK_THREADS=1 PYTHONPATH=. python bench/counted_bench.py
    DECODER_WALK_THREADS=1 PYTHONPATH=../main python bench/counted_bench.py   # before
"""

from __future__ import annotations

import json
import pathlib
import statistics
import sys
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"


def refused_records():
    base = json.loads((ROOT / "tests" / "baselines" / "jsonschemabench_compile.json").read_text())
    keys = {k for k, v in base.items() if "maxLength" in v or "minLength" in v}
    out = []
    for sub in sorted({k.split("/")[0] for k in keys}):
        for line in open(SHARED / "jsonschemabench" / f"{sub}.jsonl", encoding="utf-8"):
            r = json.loads(line)
            if f"{sub}/{r['id']}" in keys:
                out.append((f"{sub}/{r['id']}", r))
    return out


def pct(xs, q):
    return float(np.percentile(xs, q)) if xs else float("nan")


def main():
    from decoder import Grammar, Matcher, Vocabulary

    vocab = Vocabulary.from_path(SHARED / "tokenizers" / "llama3")
    tok = None
    try:
        import transformers

        tok = transformers.AutoTokenizer.from_pretrained(str(SHARED / "tokenizers" / "llama3"))
    except Exception as e:  # noqa: BLE001
        sys.exit(f"tokenizer: {e}")
    recs = refused_records()
    compiled, wall, cpu = [], [], []
    for key, r in recs:
        t0, c0 = time.perf_counter(), time.thread_time()
        try:
            Matcher(Grammar.from_json_schema(r["schema"]), vocab)
        except Exception as e:  # noqa: BLE001
            print(f"  refused {key}: {str(e)[:90]}")
            continue
        wall.append((time.perf_counter() - t0) * 1e3)
        cpu.append((time.thread_time() - c0) * 1e3)
        compiled.append((key, r))
    print(f"compile: {len(compiled)} of {len(recs)} formerly refused schemas compile")
    if wall:
        print(
            f"  wall ms p50 {pct(wall, 50):.1f} p90 {pct(wall, 90):.1f} max {max(wall):.1f}; "
            f"cpu ms p50 {pct(cpu, 50):.1f} p90 {pct(cpu, 90):.1f} max {max(cpu):.1f}"
        )
    cases = [
        ({"type": "string", "maxLength": 5000}, "w" * 2000),
        ({"type": "string", "maxLength": 65535}, "word " * 400),
        (
            {"type": "string", "minLength": 1200, "maxLength": 1500, "pattern": "^[^@]*$"},
            "ab c" * 320,
        ),
    ]
    rows = []
    for schema, text in cases:
        rows.append((json.dumps(schema)[:50], schema, [json.dumps(text)]))
    for key, r in compiled:
        rows.append(
            (key, r["schema"], [json.dumps(t["data"]) for t in r.get("tests", []) if t["valid"]])
        )
    allw, allc, cold_w, warm_w = [], [], [], []
    for name, schema, docs in rows:
        t0 = time.perf_counter()
        try:
            g = Grammar.from_json_schema(schema, whitespace="flexible")
            m = Matcher(g, vocab)
        except Exception as e:  # noqa: BLE001
            print(f"  {name}: refused ({str(e)[:70]})")
            continue
        ct = (time.perf_counter() - t0) * 1e3
        words = m.compiled.mask_words
        out = np.zeros(words, dtype=np.int32)
        ws, cs, ncold = [], [], 0
        for doc in docs:
            m.reset()
            ids = tok.encode(doc, add_special_tokens=False)
            for t in ids:
                a, b = time.perf_counter_ns(), time.thread_time_ns()
                m.compute_mask(out)
                ok = m.commit(t)
                w, c = (time.perf_counter_ns() - a) / 1e3, (time.thread_time_ns() - b) / 1e3
                if not ok:
                    break
                ws.append(w)
                cs.append(c)
                (cold_w if m.last_mask_cold else warm_w).append(w)
                ncold += m.last_mask_cold
        allw += ws
        allc += cs
        if ws:
            print(
                f"  {name:50s} compile {ct:6.1f} ms  tokens {len(ws):5d} (cold {ncold:4d})  "
                f"mask+commit wall p50 {pct(ws, 50):6.1f} p99 {pct(ws, 99):7.1f} max {max(ws):7.1f}"
                f" | cpu p50 {pct(cs, 50):6.1f} p99 {pct(cs, 99):7.1f} max {max(cs):7.1f} mean "
                f"{statistics.fmean(cs):6.1f} µs"
            )
    print(
        f"all steps: {len(allw)}  wall p50 {pct(allw, 50):.1f} p90 {pct(allw, 90):.1f} p99 "
        f"{pct(allw, 99):.1f} max {max(allw):.1f} mean {statistics.fmean(allw):.1f} µs; cpu p50 "
        f"{pct(allc, 50):.1f} p90 {pct(allc, 90):.1f} p99 {pct(allc, 99):.1f} max {max(allc):.1f} "
        f"mean {statistics.fmean(allc):.1f} µs"
    )
    print(
        f"cold steps {len(cold_w)} (wall p50 {pct(cold_w, 50):.1f}, max "
        f"{max(cold_w) if cold_w else float('nan'):.1f} µs); warm steps {len(warm_w)} (wall p50 "
        f"{pct(warm_w, 50):.1f} p99 {pct(warm_w, 99):.1f} µs)"
    )


if __name__ == "__main__":
    main()
