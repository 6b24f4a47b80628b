"""Mask cost of keys of a finite key language (csrc/matcher_dead_keys.cc: a key prefix whose
every completion was used is masked) on the Llama-3 tokenizer, beside open keys (infinite
from every state: only the repeat check).

    DECODER_WALK_THREADS=1 python bench/dead_keys.py [--keys 10,50,200] [--repeat 3]

For each N: an object of N distinct keys of one or two letters (json.dumps, ", " and ": "
separators, integer values), tokenized once, teacher-forced through a matcher of each schema;
every compute_mask is timed after one untimed pass (warm per-state caches). Run it on a
build without the check (keys of a finite language then keep a plain lexeme, unchecked) for
the before column.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from decoder.bench.common import teacher_forced_mask_times  # noqa: E402

LETTERS = "abcdefghijklmnopqrstuvwxyz"
NAMES = [*LETTERS] + [x + y for x in LETTERS for y in LETTERS]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokenizer", default=str(ROOT.parent / "shared" / "tokenizers" / "llama3"))
    ap.add_argument("--keys", default="10,50,200")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    from transformers import AutoTokenizer

    from decoder import Grammar, Matcher, Vocabulary

    vocab = Vocabulary.from_path(args.tokenizer)
    tok = AutoTokenizer.from_pretrained(args.tokenizer)
    ints = {"type": "integer"}
    schemas = {
        "open": {"type": "object", "additionalProperties": ints},
        "maxLength 2": {
            "type": "object",
            "propertyNames": {"maxLength": 2},
            "additionalProperties": ints,
        },
        "enum 702": {
            "type": "object",
            "propertyNames": {"enum": NAMES},
            "additionalProperties": ints,
        },
    }
    print(f"DECODER_WALK_THREADS={os.environ.get('DECODER_WALK_THREADS', '(default)')}")
    print(f"{'keys':>6} {'schema':>12} {'masks':>6} {'p50 µs':>8} {'p99 µs':>8} {'max µs':>8}")
    for n in (int(x) for x in args.keys.split(",")):
        text = json.dumps({k: i for i, k in enumerate(NAMES[::-1][:n])})
        ids = tok.encode(text, add_special_tokens=False)
        for name, schema in schemas.items():
            m = Matcher(Grammar.from_json_schema(schema), vocab)
            words = m.compiled.mask_words
            teacher_forced_mask_times(m, ids, words)  # warm the per-state caches
            ts = sorted(
                x for _ in range(args.repeat) for x in teacher_forced_mask_times(m, ids, words)
            )
            p99 = ts[min(len(ts) - 1, int(0.99 * len(ts)))]
            print(
                f"{n:>6} {name:>12} {len(ts):>6} {statistics.median(ts):>8.1f} {p99:>8.1f} {ts[-1]:>8.1f}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
