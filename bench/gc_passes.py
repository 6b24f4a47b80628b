"""CPython's full (generation-2) collections during compiles, as a server with a tokenizer loaded
sees them: compile_bench's sample (30 per JSONSchemaBench subset, seed 0), front end and
Matcher, ROUNDS times over (odd rounds in reverse order), each full pass reported with the
index of the compile it landed on and its wall time.

    PYTHONPATH=. python bench/gc_passes.py --rounds 3

A full pass scans every tracked object of the process (the tokenizer's and its imports',
~330,000 here), so it costs 150-800 ms on this machine and lands on one compile; CPython runs one
when the objects promoted to the oldest generation since the last one exceed a quarter of that
generation. The first pass after the imports is owed by them (their objects were promoted
since the last full pass); the later ones are paid for by what compiles leave behind
(docs/optimizations.md section 67: the front end's cross-compile memos, measured).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import time

os.environ.setdefault("DECODER_WALK_THREADS", "1")
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from compile_bench import DATA, load_sample  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--per-subset", type=int, default=30)
    args = ap.parse_args()

    import decoder
    from decoder.bench import engines as E

    ctx = E.TokenizerContext(E.DEFAULT_TOKENIZER)
    vocab = E.DecoderAdapter(ctx).vocab
    decoder.Matcher(
        decoder.Grammar.from_json_schema({"type": "object", "properties": {"a": {}}}), vocab
    )
    sample = load_sample(DATA, args.per_subset, 0)
    seq: list = []
    for r in range(args.rounds):
        seq += sample if r % 2 == 0 else sample[::-1]
    at = [0]
    t_start = [0.0]
    full: list = []

    def cb(phase: str, info: dict) -> None:
        if info["generation"] != 2:
            return
        if phase == "start":
            t_start[0] = time.perf_counter()
        else:
            full.append((at[0], seq[at[0]][0], round((time.perf_counter() - t_start[0]) * 1e3, 1)))

    gc.callbacks.append(cb)
    try:
        c0 = time.thread_time()
        for i, (_, text) in enumerate(seq):
            at[0] = i
            try:
                g = decoder.Grammar.from_json_schema(json.loads(text), whitespace="flexible")
                decoder.Matcher(g, vocab)
            except Exception:  # noqa: BLE001 - a refusal is not counted
                continue
        cpu = time.thread_time() - c0
    finally:
        gc.callbacks.remove(cb)
    print(f"{decoder.__file__}: {len(seq)} compiles, {cpu:.1f} s CPU")
    print(f"full collections: {len(full)} (compile index, schema, ms): {full}")
    print(f"tracked objects at the end: {len(gc.get_objects())}")


if __name__ == "__main__":
    main()
