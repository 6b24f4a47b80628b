"""property_order="any" against the schema's order: compile time, grammar size and mask cost
on the Llama-3 tokenizer.

    DECODER_WALK_THREADS=1 python bench/property_order.py [--props 4,8,12] [--repeat 3]

For N declared integer properties (half of them required), a closed object
(``additionalProperties: false``: the any-order grammar tracks the set of keys written) and
an open one (optional keys are distinct items, only the required ones are sets): the
compile (Grammar.from_json_schema, ms, median of 3), the grammar's rules, and the mask
per step while an instance (json.dumps, keys in the schema's order, so both modes take it)
is teacher-forced, after one untimed pass so that the per-state caches are warm.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


from decoder.bench.common import teacher_forced_mask_times  # noqa: E402

_times = teacher_forced_mask_times


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokenizer", default=str(ROOT.parent / "shared" / "tokenizers" / "llama3"))
    ap.add_argument("--props", default="4,8,12")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    from transformers import AutoTokenizer

    from decoder import Grammar, Matcher, Vocabulary

    vocab = Vocabulary.from_path(args.tokenizer)
    tok = AutoTokenizer.from_pretrained(args.tokenizer)
    print(f"DECODER_WALK_THREADS={os.environ.get('DECODER_WALK_THREADS', '(default)')}")
    print(
        f"{'props':>5} {'object':>6} {'order':>6} {'compile ms':>10} {'rules':>6} "
        f"{'p50 µs':>7} {'p99 µs':>7}"
    )
    for n in (int(x) for x in args.props.split(",")):
        props = {f"field_{i}": {"type": "integer"} for i in range(n)}
        closed = {
            "type": "object",
            "properties": props,
            "required": list(props)[: n // 2],
            "additionalProperties": False,
        }
        opened = {k: v for k, v in closed.items() if k != "additionalProperties"}
        text = json.dumps({k: i for i, k in enumerate(props)})
        ids = tok.encode(text, add_special_tokens=False)
        for kind, schema in (("closed", closed), ("open", opened)):
            for order in ("schema", "any"):
                cts = []
                for _ in range(3):
                    t0 = time.perf_counter()
                    g = Grammar.from_json_schema(schema, property_order=order)
                    cts.append((time.perf_counter() - t0) * 1e3)
                m = Matcher(g, vocab)
                words = m.compiled.mask_words
                _times(m, ids, words)  # warm the per-state caches
                ts = sorted(x for _ in range(args.repeat) for x in _times(m, ids, words))
                p99 = ts[min(len(ts) - 1, int(0.99 * len(ts)))]
                print(
                    f"{n:>5} {kind:>6} {order:>6} {statistics.median(cts):>10.1f} "
                    f"{len(g.ir.rules):>6} {statistics.median(ts):>7.1f} {p99:>7.1f}"
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
