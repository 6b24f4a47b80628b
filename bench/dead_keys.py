"""Mask cost of keys of a finite key language (csrc/matcher_dead_keys.cc: a key prefix whose
every completion was used is masked) on the Llama-3 tokenizer, beside open keys (infinite
from every state: only the repeat check).

    DECODER_WALK_THREADS=1 python bench/dead_keys.py [--keys 10,50,200] [--repeat 3]

For each N: an object of N distinct keys of one or two letters (json.dumps, ", " and ": "
separators, integer values), tokenized once, teacher-forced through a matcher of each schema;
every compute_mask is timed after one untimed pass (warm per-state caches). Run it on a
build without the check (keys of a finite language then keep a plain lexeme, unchecked) for
the before column.

    python bench/dead_keys.py --unchecked [--bench ../shared/jsonschemabench]

compiles every jsonschemabench schema instead and lists those compiled with extra keys left
unchecked (keys that may repeat), with the reason, and the compile counts.
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
    ap.add_argument("--unchecked", action="store_true")
    ap.add_argument("--bench", default=str(ROOT.parent / "shared" / "jsonschemabench"))
    args = ap.parse_args(argv)
    if args.unchecked:
        return unchecked(Path(args.bench))
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


def unchecked(bench: Path) -> int:
    import warnings
    from collections import Counter

    from decoder.errors import SchemaError, UnsatisfiableSchemaError
    from decoder.grammar.json_schema import compile_json_schema, distinct_keys

    status: Counter = Counter()
    found = {}
    refused = {}
    for f in sorted(bench.glob("*.jsonl")):
        for line in f.open():
            rec = json.loads(line)
            key = f"{f.stem}/{rec['id']}"
            distinct_keys.UNCHECKED = []
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    compile_json_schema(rec["schema"])
                status["ok"] += 1
            except UnsatisfiableSchemaError:
                status["ok"] += 1
            except SchemaError as e:
                status["refused"] += 1
                if "cannot be kept distinct" in str(e):
                    refused[key] = str(e)
                continue
            except Exception:  # noqa: BLE001 - counted; the ratchet test names it
                status["error"] += 1
                continue
            if distinct_keys.UNCHECKED:
                found[key] = sorted(set(distinct_keys.UNCHECKED))
    distinct_keys.UNCHECKED = None
    for key, why in sorted(found.items()):
        for path, reason in why:
            print(f"{key}  {path}: {reason}")
    for key, why in sorted(refused.items()):
        print(f"{key}  refused: {why}")
    print(f"refused because keys could not be kept distinct: {len(refused)}")
    print(f"compiled {status['ok']}, refused {status['refused']}, errors {status['error']}")
    print(f"compiled with keys left unchecked: {len(found)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
