"""Mask cost of uniqueItems over strings or objects (the matcher's distinct-item check, and
its value lists: csrc/distinct.h) against the same array without it, on the Llama-3
tokenizer.

    DECODER_WALK_THREADS=1 python bench/unique_items.py [--items 10,50,200] [--repeat 3]
    DECODER_WALK_THREADS=1 python bench/unique_items.py --kind objects

For each array length N: an instance of N distinct words (json.dumps, ", " separators), or
with ``--kind objects`` of N objects ``{"name": word, "n": i}``,
tokenized once, teacher-forced through a matcher of each schema; every compute_mask is
timed (after one untimed pass, so the per-state mask caches are warm, as in a served
sequence after its first request). Prints p50/p99/max per schema and N.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


from decoder.bench.common import teacher_forced_mask_times  # noqa: E402


def _words(n: int, rng: random.Random) -> list[str]:
    out: set[str] = set()
    while len(out) < n:
        out.add("".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(3, 9))))
    return sorted(out, key=lambda _: rng.random())


_times = teacher_forced_mask_times


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokenizer", default=str(ROOT.parent / "shared" / "tokenizers" / "llama3"))
    ap.add_argument("--items", default="10,50,200")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--kind", choices=("strings", "objects"), default="strings")
    args = ap.parse_args(argv)
    from transformers import AutoTokenizer

    from decoder import Grammar, Matcher, Vocabulary

    vocab = Vocabulary.from_path(args.tokenizer)
    tok = AutoTokenizer.from_pretrained(args.tokenizer)
    item = {"type": "string"}
    if args.kind == "objects":
        item = {
            "type": "object",
            "properties": {"name": {"type": "string"}, "n": {"type": "integer"}},
            "required": ["name", "n"],
        }
    plain = {"type": "array", "items": item}
    schemas = {"plain": plain, "uniqueItems": {**plain, "uniqueItems": True}}
    rng = random.Random(0)
    print(f"DECODER_WALK_THREADS={os.environ.get('DECODER_WALK_THREADS', '(default)')}")
    print(f"{'items':>6} {'schema':>12} {'masks':>6} {'p50 µs':>8} {'p99 µs':>8} {'max µs':>8}")
    for n in (int(x) for x in args.items.split(",")):
        ws = _words(n, rng)
        text = json.dumps(
            ws if args.kind == "strings" else [{"name": w, "n": i} for i, w in enumerate(ws)]
        )
        ids = tok.encode(text, add_special_tokens=False)
        for name, schema in schemas.items():
            m = Matcher(Grammar.from_json_schema(schema), vocab)
            words = m.compiled.mask_words
            _times(m, ids, words)  # warm the per-state caches
            ts = [x for _ in range(args.repeat) for x in _times(m, ids, words)]
            ts.sort()
            p99 = ts[min(len(ts) - 1, int(0.99 * len(ts)))]
            print(
                f"{n:>6} {name:>12} {len(ts):>6} {statistics.median(ts):>8.1f} {p99:>8.1f} {ts[-1]:>8.1f}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
