"""Compiled grammars shared between threads: fill_masks on several C++ threads over matchers
of the same grammars (cold caches, so lexer DFA states and mask cache entries are built
concurrently), Python threads calling compute_mask without the GIL at the same time, and a
mask-cache budget so small that entries are evicted while other threads use them. Every
mask must equal the one computed alone.

This is the file scripts/test_tsan.sh runs under ThreadSanitizer (DECODER_SANITIZE=thread);
it is quick enough for the normal suite too."""

from __future__ import annotations

import random
import threading

import numpy as np
from hostile.cases import TOKENS, mask_set, vocab

from decoder import Grammar, Matcher, compile_grammar, fill_masks, mask_cache_budget

WORDS = (len(TOKENS) + 31) // 32


def _grammars():
    # fresh grammar objects each time (no compile cache hit): cold lexers and caches
    return [
        Grammar.from_regex(r"a[b-z]{0,200}(,[0-9]{1,3}){0,40}"),
        Grammar.from_json_schema(
            {
                "type": "object",
                "properties": {
                    "k": {"type": "array", "items": {"type": "integer"}, "maxItems": 30},
                    "s": {"type": "string", "maxLength": 40},
                },
                "additionalProperties": False,
            }
        ),
        Grammar.from_lark('start: item+\nitem: "x" NUM | "(" start ")"\nNUM: /[0-9]{1,5}/\n'),
    ]


def _texts(n: int, seed: int) -> list[list[bytes]]:
    """Per grammar, n random valid texts (as single bytes)."""
    rng = random.Random(seed)
    out = [[], [], []]
    for _ in range(n):
        out[0].append(
            b"a"
            + bytes(rng.choice(b"bcdqz") for _ in range(rng.randint(0, 60)))
            + b"".join(b",%d" % rng.randint(0, 999) for _ in range(rng.randint(0, 10)))
        )
        out[1].append(
            (
                '{"k": ['
                + ", ".join(str(rng.randint(-50, 5000)) for _ in range(rng.randint(0, 8)))
                + '], "s": "'
                + "".join(rng.choice("abc é") for _ in range(rng.randint(0, 12)))
                + '"}'
            ).encode()
        )
        out[2].append(
            b"".join(
                rng.choice([b"x7", b"x12345", b"(x1x2)", b"((x0))"])
                for _ in range(rng.randint(1, 8))
            )
        )
    return out


def _reference(compiled, texts) -> dict:
    ref = {}
    for gi, (cg, ts) in enumerate(zip(compiled, texts)):
        for ti, t in enumerate(ts):
            m = Matcher(cg)
            for i, b in enumerate(t):
                ref[gi, ti, i] = mask_set(m)
                assert m.commit(b), (gi, t[: i + 1])
    return ref


def _bits(row) -> set:
    return set(
        np.nonzero(np.unpackbits(row.view(np.uint8), bitorder="little")[: len(TOKENS)])[0].tolist()
    )


def test_fill_masks_shares_grammars_between_threads():
    texts = _texts(6, seed=3)
    ref = _reference([compile_grammar(g, vocab()) for g in _grammars()], texts)
    compiled = [compile_grammar(g, vocab()) for g in _grammars()]  # cold again
    saved = mask_cache_budget()["limit"]
    mask_cache_budget(20_000)  # a few dozen entries: evictions while other threads read
    try:
        errors: list = []

        def python_thread(gi: int, ti: int):
            try:  # compute_mask releases the GIL: runs alongside fill_masks' C++ threads
                m = Matcher(compiled[gi])
                t = texts[gi][ti]
                out = np.zeros(WORDS, dtype=np.int32)
                for i, b in enumerate(t):
                    m.compute_mask(out)
                    assert _bits(out) == ref[gi, ti, i], (gi, ti, i)
                    assert m.commit(b)
            except BaseException as e:  # noqa: BLE001
                errors.append(e)

        side = [
            threading.Thread(target=python_thread, args=(gi, ti))
            for gi in range(3)
            for ti in (4, 5)
        ]
        for th in side:
            th.start()
        # every grammar's texts 0..3 as one batch of 12 matchers, on 3 C++ threads
        batch = [(gi, ti) for gi in range(3) for ti in range(4)]
        ms = [Matcher(compiled[gi]) for gi, _ in batch]
        pos = [0] * len(batch)
        out = np.zeros((len(batch), WORDS), dtype=np.int32)
        while any(pos[k] < len(texts[gi][ti]) for k, (gi, ti) in enumerate(batch)):
            live = [k for k, (gi, ti) in enumerate(batch) if pos[k] < len(texts[gi][ti])]
            fill_masks([ms[k] for k in live], out, threads=3)
            for row, k in enumerate(live):
                gi, ti = batch[k]
                assert _bits(out[row]) == ref[gi, ti, pos[k]], (gi, ti, pos[k])
                assert ms[k].commit(texts[gi][ti][pos[k]])
                pos[k] += 1
        for th in side:
            th.join()
        assert not errors, errors[0]
        assert mask_cache_budget()["evictions"] > 0
    finally:
        mask_cache_budget(saved)
