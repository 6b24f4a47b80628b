#!/usr/bin/env python3
"""Which mask steps of decoder are slow, and where: one line per step over a threshold.

MaskBench's tables (bench/maskbench.py) count the steps over 2 ms but do not say which schema,
instance and position they were. This walks the same records the same way (decoder only, one
process, MaskBench serialization, mask + commit per token, the valid instances decoder accepts)
and prints, for every step whose thread-CPU time is over --threshold µs: subset, record id,
instance, step index, whether the mask was the first in its lexer state (cold), the time, and the
last characters of the text before it. Thread CPU, not wall: the count does not move with the
machine's load (wall steps over 2 ms are mostly preemption on a busy machine).

    DECODER_WALK_THREADS=1 python bench/cold_steps.py --limit 5
    DECODER_WALK_THREADS=1 python bench/cold_steps.py --subsets Github_ultra --ids o21135 --threshold 1000

DECODER_WALK_THREADS=1: cold walks on one thread, as MaskBench runs every engine (a second walk
thread would put part of a step's CPU time on another thread).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from maskbench import DATA_DIR, load_records  # noqa: E402

from decoder.bench import engines as E  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--data", default=DATA_DIR, help="folder of <subset>.jsonl files")
    ap.add_argument("--subsets", default="", help="comma-separated subset names (default: all)")
    ap.add_argument("--ids", default="", help="comma-separated record ids (default: all)")
    ap.add_argument("--limit", type=int, default=5, help="first N records per subset (0 = all)")
    ap.add_argument("--threshold", type=float, default=2000.0, help="µs of thread CPU per step")
    ap.add_argument("--tokenizer", default=E.DEFAULT_TOKENIZER)
    ap.add_argument("--out", default="", help="JSON list of the slow steps")
    args = ap.parse_args(argv)

    ctx = E.TokenizerContext(args.tokenizer)
    ad = E.DecoderAdapter(ctx)
    ad.setup()
    subsets = [s for s in args.subsets.split(",") if s] or None
    only = {x for x in args.ids.split(",") if x}
    cpu_all: list[float] = []
    cold_all: list[int] = []
    slow = []
    for r in load_records(args.data, subsets, args.limit or None, False):
        if only and r.get("id") not in only:
            continue
        try:
            g = ad.compile(r["schema"])
        except Exception:  # (refused schemas are MaskBench's compile errors, not steps)
            continue
        for ti, t in enumerate(r["tests"]):
            if not t["valid"]:
                continue
            ids = ctx.encode(E.serialize(t["data"], "maskbench"))
            times: list[float] = []
            cpu: list[float] = []
            cold: list[int] = []
            try:
                res = E.teacher_force(ad, g, ids, ad.new_row(), times, cpu, cold)
            except Exception:
                continue
            if not res["accepted"]:
                continue
            cpu_all += cpu
            cold_all += cold
            for i, c in enumerate(cpu):
                if c > args.threshold:
                    before = ctx.tok.decode(ids[:i])[-40:]
                    slow.append(
                        {
                            "subset": r["_subset"],
                            "id": r.get("id"),
                            "instance": ti,
                            "step": i,
                            "cold": cold[i],
                            "cpu_us": round(c),
                            "before": before,
                        }
                    )
                    print(
                        f"{r['_subset']:16s} {r.get('id')!s:20s} i{ti} step {i:5d} "
                        f"cold={cold[i]} {c:7.0f} µs  …{before!r}",
                        flush=True,
                    )
    x = np.asarray(cpu_all)
    if x.size:
        print(
            f"{x.size} steps; over {args.threshold:.0f} µs: {int((x > args.threshold).sum())}; "
            f"CPU p50 {np.percentile(x, 50):.1f} p90 {np.percentile(x, 90):.1f} "
            f"p99 {np.percentile(x, 99):.1f} max {x.max():.0f} µs"
        )
        k = np.asarray(cold_all, dtype=bool)
        if k.any() and (~k).any():
            print(
                f"cold {int(k.sum())}: p50 {np.percentile(x[k], 50):.1f} p99 {np.percentile(x[k], 99):.1f}; "
                f"warm {int((~k).sum())}: p50 {np.percentile(x[~k], 50):.1f} p99 {np.percentile(x[~k], 99):.1f} µs"
            )
    if args.out:
        with open(args.out, "w") as f:
            json.dump(slow, f, indent=1, ensure_ascii=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
