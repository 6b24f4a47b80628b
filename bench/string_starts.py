"""The first mask inside a fresh schema's string, by kind of string (docs/optimizations.md
section 61).

In serving nearly every request brings a schema never seen, so the first mask in each lexer
state is what users pay. For each kind of string (free, `maxLength`, `minLength`, a pattern, a
fixed-length hex id) a fresh 2-property object schema is compiled per round (the key name
changes, so no cache entry or shared entry is reused), fed `{"k<round>": "` with a mask before
each token, and the first mask inside the string is timed in thread CPU. One line per kind:
every round's time and their median.

    DECODER_WALK_THREADS=1 PYTHONPATH=. python bench/string_starts.py --rounds 7
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import time

from decoder.bench import engines as E

KINDS = {
    "free": {"type": "string"},
    "maxLength 128": {"type": "string", "maxLength": 128},
    "maxLength 40": {"type": "string", "maxLength": 40},
    "minLength 30": {"type": "string", "minLength": 30},
    "maxLength 20": {"type": "string", "maxLength": 20},
    "hex id (12, [0-9a-fA-F]+)": {
        "type": "string",
        "minLength": 12,
        "maxLength": 12,
        "pattern": "[0-9a-fA-F]+",
    },
    "pattern ^[A-Z_]+$": {"type": "string", "pattern": "^[A-Z_]+$"},
    "min 1, max 60": {"type": "string", "minLength": 1, "maxLength": 60},
    "min 5, max 60": {"type": "string", "minLength": 5, "maxLength": 60},
    "min 30, max 60": {"type": "string", "minLength": 30, "maxLength": 60},
    "min 1, max 2000": {"type": "string", "minLength": 1, "maxLength": 2000},
    "min 5, max 2000": {"type": "string", "minLength": 5, "maxLength": 2000},
    "min 36, max 36": {"type": "string", "minLength": 36, "maxLength": 36},
    "min 3, max 3": {"type": "string", "minLength": 3, "maxLength": 3},
    "minLength 1500": {"type": "string", "minLength": 1500},
    "maxLength 2000": {"type": "string", "maxLength": 2000},
    "min 1, max 4096": {"type": "string", "minLength": 1, "maxLength": 4096},
    "maxLength 10000": {"type": "string", "maxLength": 10000},
}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--rounds", type=int, default=7, help="fresh schemas per kind")
    ap.add_argument("--tokenizer", default=E.DEFAULT_TOKENIZER)
    ap.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="KIND",
        help="run only this kind, its whole name as listed (repeat for several): "
        "names contain commas, e.g. --only 'min 1, max 60' --only free",
    )
    args = ap.parse_args(argv)
    unknown = [o for o in args.only if o not in KINDS]
    if unknown:
        ap.error(f"unknown --only kind(s) {unknown}; kinds: {list(KINDS)}")

    ctx = E.TokenizerContext(args.tokenizer)
    ad = E.DecoderAdapter(ctx)
    ad.setup()
    row = ad.new_row()
    for i, (name, sub) in enumerate(KINDS.items()):
        if args.only and name not in args.only:
            continue
        times = []
        for r in range(args.rounds):
            key = f"k{i}_{r}"
            schema = {
                "type": "object",
                "properties": {key: sub, "other": {"type": "integer"}},
                "additionalProperties": False,
            }
            m = ad.matcher(ad.compile(schema))
            for t in ctx.encode(json.dumps({key: ""}, ensure_ascii=False)[:-2]):
                m.compute_mask(row)
                m.commit(t)
            gc.disable()  # no collector pass inside the timed mask (as maskbench's teacher_force)
            c0 = time.thread_time_ns()
            m.compute_mask(row)
            times.append((time.thread_time_ns() - c0) / 1e3)
            gc.enable()
        print(
            f"{name:28s} median {statistics.median(times):7.0f} µs   "
            + " ".join(f"{x:.0f}" for x in times),
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
