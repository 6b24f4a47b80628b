"""The first mask in free-text states (docs/optimizations.md sections 20 and 26).

For each state, a fresh grammar (so the state's mask cache entry is cold) is driven to it by
`commit_bytes`, then `compute_mask` is timed in thread CPU; each figure is the median over
--reps fresh grammars. States: a hermes tool-call grammar (`agents.tool_calls(..., style=
"hermes")`) at the start, in text, after a multi-byte character, after newlines, after partial
triggers; a structural tag `any_text(excludes=["forbidden", "ünter"])` then a constant.
Also a teacher-forced stream (text, a call, text) with every mask timed, cold and warm.

    DECODER_WALK_THREADS=1 PYTHONPATH=. python bench/freetext_cold.py --families llama3,llama2
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tests"))

from cold_states import hermes, tagged  # noqa: E402

from decoder import Matcher, Vocabulary  # noqa: E402

SHARED = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared")
STATES = [
    ("hermes, start", hermes, b""),
    ("hermes, after `Some text`", hermes, b"Some text"),
    ("hermes, after `Caf\u00e9 `", hermes, "Caf\u00e9 ".encode()),
    ("hermes, after `Hi\\n\\n`", hermes, b"Hi\n\n"),
    ("hermes, after `Checking <`", hermes, b"Checking <"),
    ("hermes, after `Checking <tool`", hermes, b"Checking <tool"),
    ("tag, after `Some text`", tagged, b"Some text"),
    ("tag, after `Checking <`", tagged, b"Checking <"),
]


def first_mask_us(vocab, make, prefix: bytes, n: int) -> float:
    m = Matcher(make(n), vocab)
    assert m.commit_bytes(prefix), prefix
    out = np.zeros(m.compiled.mask_words, dtype=np.int32)
    t0 = time.thread_time_ns()
    m.compute_mask(out)
    dt = (time.thread_time_ns() - t0) / 1e3
    assert m.last_mask_cold
    return dt


def stream_us(vocab, tok, n: int) -> tuple[list[float], list[float]]:
    """Every mask of a teacher-forced hermes output (fresh grammar): (free-text masks, all)."""
    text = (
        "Sure, let me check the weather in Z\u00fcrich for you. <tool_call>\n"
        f'{{"name": "get_weather{n}", "arguments": {{"location": "Z\u00fcrich"}}}}\n</tool_call>'
    )
    m = Matcher(hermes(n), vocab)
    out = np.zeros(m.compiled.mask_words, dtype=np.int32)
    ids = tok.encode(text, add_special_tokens=False)
    free_end = len(tok.encode(text[: text.index("<tool_call>")], add_special_tokens=False))
    free, every = [], []
    for k, t in enumerate(ids):
        t0 = time.thread_time_ns()
        m.compute_mask(out)
        dt = (time.thread_time_ns() - t0) / 1e3
        every.append(dt)
        if k < free_end:
            free.append(dt)
        if not m.commit(int(t)):
            break
    return free, every


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--families", default="llama3,llama2,qwen2,mistral-tekken")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--base", type=int, default=0, help="grammar numbering offset (fresh names)")
    args = ap.parse_args()
    fams = args.families.split(",")
    vocabs = {f: Vocabulary.from_path(os.path.join(SHARED, "tokenizers", f)) for f in fams}
    # the class slices are built once per process and class, their suffix tries at a class's
    # fourth walk that asks for them (TokenTrie::kSuffixAfter): pay them before timing
    for f in fams:
        for rnd in range(4):
            for k, (_, make, prefix) in enumerate(STATES):
                first_mask_us(vocabs[f], make, prefix, args.base + 900 + 20 * rnd + k)
    print("| state | " + " | ".join(fams) + " |")
    print("|---|" + "---:|" * len(fams))
    n = args.base + 1000
    for name, make, prefix in STATES:
        row = []
        for f in fams:
            xs = []
            for _ in range(args.reps):
                n += 1
                xs.append(first_mask_us(vocabs[f], make, prefix, n))
            row.append(f"{statistics.median(xs):,.0f}")
        print(f"| {name} | " + " | ".join(row) + " |")
    print()
    print(
        "stream (teacher-forced text, call; fresh grammars, pooled over reps): free-text masks "
        "p50 / p99 / max, all masks p50 / p99"
    )
    from transformers import AutoTokenizer

    for f in fams:
        tok = AutoTokenizer.from_pretrained(os.path.join(SHARED, "tokenizers", f))
        free, every = [], []
        for _ in range(args.reps):
            n += 1
            a, b = stream_us(vocabs[f], tok, n)
            free += a
            every += b
        print(
            f"  {f}: free {np.percentile(free, 50):.1f} / {np.percentile(free, 99):.0f} / "
            f"{max(free):.0f} µs ({len(free)} masks); all {np.percentile(every, 50):.1f} / "
            f"{np.percentile(every, 99):.0f} µs ({len(every)})"
        )


if __name__ == "__main__":
    main()
