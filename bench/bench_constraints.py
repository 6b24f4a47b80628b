"""Per-step mask cost of each lexical filter and budget on the Llama-3 tokenizer.

    python bench/bench_constraints.py --out docs/results/constraints_masks.json

For each filter: build (compile) time, the first mask (cold) and the median of masks in
states already seen (warm), after committing the tokens of a short text.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokenizer", default=str(ROOT.parent / "shared" / "tokenizers" / "llama3"))
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    from decoder import Vocabulary
    from decoder.constraints import (
        Anagram,
        BanWords,
        Chars,
        EditDistance,
        Isogram,
        Lexicon,
        MaxTokens,
        NoLetters,
        NoStrings,
        Palindrome,
        RequireStrings,
        Rhymes,
        Stress,
        Syllables,
        WordLength,
        Words,
        WordsStartWith,
    )

    v = Vocabulary.from_path(args.tokenizer)
    text = "So many small dogs ran to a pond at noon"
    ids = []
    for piece in text.replace(" ", " \0").split("\0"):
        ids.append(v.tokens.index(piece.encode()) if piece.encode() in v.tokens else None)
    ids = [i for i in ids if i is not None]
    cases = {
        "NoLetters('e') (static)": lambda: NoLetters("e"),
        "NoStrings('the','and')": lambda: NoStrings("the", "and", ignore_case=True),
        "RequireStrings('moon')": lambda: RequireStrings("moon"),
        "BanWords(3 words)": lambda: BanWords(["the", "a", "is"]),
        "Lexicon(1,000 words)": lambda: Lexicon([w for w in _words(1000)]),
        "WordsStartWith('s')": lambda: WordsStartWith("s"),
        "WordLength(max=5)": lambda: WordLength(max=5),
        "Syllables(1) (CMU)": lambda: Syllables(1),
        "Stress('10') (CMU)": lambda: Stress("10"),
        "Rhymes('night')": lambda: Rhymes("night"),
        "Isogram()": lambda: Isogram(),
        "Anagram(partial)": lambda: Anagram("a small dog ran to the moon at noon", partial=True),
        "Palindrome()": lambda: Palindrome(),
        "EditDistance('dog', 2)": lambda: EditDistance("dog", 2),
        "Words(max=100)": lambda: Words(max=100),
        "Words(max=12), near the end": lambda: Words(max=12),
        "Chars(max=200)": lambda: Chars(max=200),
        "MaxTokens(50)": lambda: MaxTokens(50),
        "NoLetters('z') & Words(max=100) & MaxTokens(200)": lambda: NoLetters("z")
        & Words(max=100)
        & MaxTokens(200),
    }
    row = np.zeros((v.model_vocab_size + 31) // 32, dtype=np.int32)
    results = {}
    for name, make in cases.items():
        t0 = time.perf_counter()
        c = make()
        m = c.matcher(v)
        t1 = time.perf_counter()
        m.compute_mask(row)
        cold = [time.perf_counter() - t1]
        for tok in ids:
            if not m.commit(tok):
                break
            t = time.perf_counter()
            m.compute_mask(row)
            cold.append(time.perf_counter() - t)
        k = m.num_steps() if callable(getattr(m, "num_steps", None)) else m.num_steps
        m.rollback(k)
        warm = []
        for tok in ids[:k]:
            m.commit(tok)
            t = time.perf_counter()
            m.compute_mask(row)
            warm.append(time.perf_counter() - t)
        results[name] = {
            "build_ms": round((t1 - t0) * 1e3, 1),
            "first_mask_ms": round(cold[0] * 1e3, 2),
            "new_state_p50_ms": round(statistics.median(cold) * 1e3, 3),
            "warm_p50_ms": round(statistics.median(warm) * 1e3, 3) if warm else None,
            "steps": k,
        }
        print(
            f"{name:52} build {results[name]['build_ms']:8.1f} ms  first {results[name]['first_mask_ms']:8.2f} ms  "
            f"new-state p50 {results[name]['new_state_p50_ms']:8.3f} ms  warm p50 {results[name]['warm_p50_ms']} ms",
            flush=True,
        )
    if args.out:
        Path(args.out).write_text(
            json.dumps({"tokenizer": "llama3", "text": text, "results": results}, indent=1)
        )
    return 0


def _words(n):
    from decoder.constraints.phonetics import _dictionary

    return sorted(_dictionary())[:: max(1, len(_dictionary()) // n)][:n]


if __name__ == "__main__":
    sys.exit(main())
