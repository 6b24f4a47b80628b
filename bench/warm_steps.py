#!/usr/bin/env python3
"""Where decoder's per-token time goes on MaskBench's records: steps by kind, first pass and
warm replays (issue 23, docs/optimizations.md "What a warm step is made of").

Loads the first --limit records of every JSONSchemaBench subset (valid instances, MaskBench
serialization, Llama-3 by default), compiles each schema once and teacher-forces every instance
(compute_mask + commit per token, timed with perf_counter_ns like maskbench, GC off):

1. the first pass, as maskbench sees it, with each step sorted by what its mask did: cold (the
   first mask in its lexer state), warm without exits (a copy of the cached row), warm with
   exits whose walks came from the exit-walk memo or found nothing to walk ("no walk"), and
   warm with exits walked (the first mask in this parse context: Earley scans below the
   lexeme's end and trie walks);
2. --reps more passes over the same instances (fresh matchers: every mask is then a cache and
   memo hit), the per-step minimum over them: the fixed cost of a step.

    DECODER_WALK_THREADS=1 PYTHONPATH=. python bench/warm_steps.py --limit 3 --reps 5
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("DECODER_WALK_THREADS", "1")

from maskbench import DATA_DIR, load_records  # noqa: E402

from decoder.bench import engines as E  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--limit", type=int, default=3, help="records per subset")
    ap.add_argument("--reps", type=int, default=5, help="warm passes after the first")
    ap.add_argument("--subsets", default="", help="comma-separated (default: all)")
    ap.add_argument("--tokenizer", default=E.DEFAULT_TOKENIZER)
    args = ap.parse_args(argv)

    subsets = [s for s in args.subsets.split(",") if s] or None
    records = load_records(DATA_DIR, subsets, args.limit, False)
    ctx = E.TokenizerContext(args.tokenizer)
    ad = E.ADAPTERS["decoder"](ctx)
    row = ad.new_row()
    pc = time.perf_counter_ns
    jobs, first = [], []
    gc.disable()
    for r in records:
        tests = [t for t in r.get("tests") or [] if t.get("valid")]
        if not tests:
            continue
        try:
            g = ad.compile(r["schema"])
            if g is E._NOTHING_VALID:
                continue
        except Exception:  # noqa: BLE001 - a schema decoder refuses: not a step
            continue
        keep = []
        for t in tests:
            ids = ctx.encode(E.serialize(t["data"], "maskbench"))
            m = ad.matcher(g)
            steps = []
            for tok in ids:
                t0 = pc()
                m.compute_mask(row)
                t1 = pc()
                cold = m.last_mask_cold
                walked, exits = m.mask_stats
                t2 = pc()
                ok = m.commit(tok)
                t3 = pc()
                if not ok:
                    break
                steps.append(((t1 - t0) / 1e3, (t3 - t2) / 1e3, int(cold), walked, exits))
            else:
                keep.append(ids)
                first.extend(steps)
        if keep:
            jobs.append((g, keep))
        gc.collect()
    F = np.asarray(first, dtype=np.float64)
    tot = F[:, 0] + F[:, 1]
    import decoder

    print(f"decoder: {os.path.dirname(decoder.__file__)}")
    print(f"{len(jobs)} schemas, {sum(len(k) for _, k in jobs)} instances, {len(F)} steps")
    print(
        f"first pass: p50 {np.median(tot):.2f} µs (mask {np.median(F[:, 0]):.2f}, commit {np.median(F[:, 1]):.2f})"
    )
    warm = F[:, 2] == 0
    kinds = {
        "cold": F[:, 2] == 1,
        "warm, no exits": warm & (F[:, 4] == 0),
        "warm, exits, no walk": warm & (F[:, 4] > 0) & (F[:, 3] == 0),
        "warm, exits walked": warm & (F[:, 4] > 0) & (F[:, 3] > 0),
    }
    near = (tot > np.median(tot) * 0.7) & (tot < np.median(tot) * 1.4)
    for k, sel in kinds.items():
        if not sel.any():
            continue
        print(
            f"  {k:22s} {int(sel.sum()):6d} steps ({100 * sel.mean():4.1f}%, {int((sel & near).sum()):5d} "
            f"within 0.7-1.4x the p50)  p50 {np.median(tot[sel]):7.2f}  mask {np.median(F[sel, 0]):7.2f}  "
            f"commit {np.median(F[sel, 1]):5.2f}  nodes walked p50 {np.median(F[sel, 3]):.0f}"
        )
    best = None
    for _ in range(args.reps):
        out = []
        for g, ks in jobs:
            for ids in ks:
                m = ad.matcher(g)
                for tok in ids:
                    t0 = pc()
                    m.compute_mask(row)
                    t1 = pc()
                    m.commit(tok)
                    out.append(t1 - t0 + pc() - t1)
        v = np.asarray(out, dtype=np.float64) / 1e3
        best = v if best is None else np.minimum(best, v)
    if best is not None:
        p50, p90, p99 = np.percentile(best, [50, 90, 99])
        print(
            f"warm replays, per-step min of {args.reps}: p50 {p50:.2f} p90 {p90:.2f} p99 {p99:.1f} mean {best.mean():.2f} µs"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
