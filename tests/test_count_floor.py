"""Cold masks of counted strings whose walks step count floors (docs/optimizations.md section
34, `Lexer::count_floor`), against brute force on three tokenizer families: byte-level BPE
(llama3), SentencePiece with byte fallback (llama2) and Tekken (mistral-tekken).

A walk replaces a state whose counts are at `minLength` or past it by the same NFA states at
count `minLength` when every path below the trie node stays `most_min` units inside
`maxLength`; nearer the bound the state keeps its own count. Each state here is the first mask
of a fresh grammar (cold), compared with `is_allowed` on every token: counts where the floor
reaches exactly a subtree's depth, one unit more or less, tokens one code point past the
bound, multi-byte characters (a count is a code point, a path's length is bytes), states below
`minLength` whose paths reach it inside the walk, word-count patterns (a counted repetition
that also counts words), and the short text slice taken near a bound (count_reach >= 16).
"""

from __future__ import annotations

import pytest
from cold_states import string_beside_null
from conftest import (
    assert_cold_mask_is_brute_force,
    assert_mask_is_brute_force,
    vocab_of,
)

from decoder import Matcher

FAMILIES = ["llama3", "llama2", "mistral-tekken"]
WORDS = "^(?:\\S+\\s+){0,9}\\S+$"
E = "\u00e9"  # two bytes
CJK = "\u65e5"  # three bytes

HI = 1100  # over 1,000: a counter, not copies
# (string keywords, texts committed after the opening quote)
CASES = [
    # plain bounded strings: k code points left, around the short slice's 16 and token depths
    ({"maxLength": HI}, ["x" * (HI - k) for k in (1, 15, 16, 17, 40, 100, 127, 128, 129, 200)]),
    # multi-byte characters before the state and in the tokens
    ({"maxLength": HI}, [E * (HI - 17), CJK * (HI - 16), E * (HI - 60) + "ab", CJK * (HI - 130)]),
    # below minLength: the gate opens inside the walk, the floors start below it
    (
        {"minLength": 1050, "maxLength": HI},
        ["a" * 1049, "a" * 1040, "a" * 1050, E * 1045 + "a" * 4, "a" * (HI - 16)],
    ),
    # word counts and characters both counted (most_min 3)
    ({"maxLength": 64, "pattern": WORDS}, ["", "ab", "ab cd", "ab ", "ab " * 8, "a" * 40, E * 44]),
    ({"maxLength": 200, "pattern": WORDS}, ["Sc", "Scalable infra", "a b c d e f g", "x" * 150]),
]


@pytest.mark.parametrize("family", FAMILIES)
def test_fresh_counted_states_equal_brute_force(family):
    vocab = vocab_of(family)
    n = 0
    for keywords, texts in CASES:
        for text in texts:
            n += 1
            g = string_beside_null(3000 + n, **keywords)
            m = Matcher(g, vocab)
            assert m.commit_bytes(b'{"s": "' + text.encode()), text
            what = f"{family} {keywords} {text[:12]!r}... ({len(text)} code points)"
            assert_cold_mask_is_brute_force(m, vocab, what)


@pytest.mark.parametrize("family", ["llama3", "mistral-tekken"])
def test_later_states_walked_after_floors_equal_brute_force(family):
    # One grammar: the floors (and their DFA rows) built by the first walks are stepped by the
    # later ones, at other counts of the same strings.
    vocab = vocab_of(family)
    g = string_beside_null(3999, maxLength=HI)
    for k in (300, 129, 128, 64, 17, 16, 2):
        m = Matcher(g, vocab)
        assert m.commit_bytes(b'{"s": "' + ("y" * (HI - k)).encode())
        assert_mask_is_brute_force(m, vocab, f"{family}: {k} code points left")
    g = string_beside_null(3998, maxLength=200, pattern=WORDS)
    for text in ["Easy", "Easy to", "Easy to use and", "Easy to use and manage", "w " * 9 + "w"]:
        m = Matcher(g, vocab)
        assert m.commit_bytes(b'{"s": "' + text.encode())
        assert_mask_is_brute_force(m, vocab, f"{family}: words {text!r}")


@pytest.mark.parametrize("fresh", [True, False])
def test_every_count_near_the_bound_equals_brute_force(fresh):
    # Every count from 1 to 80 code points before maxLength of a word-count pattern (no chain
    # walk: a space is not a letter), on llama3, each state's first walk on a fresh grammar or
    # all on one (later states then find floors, and count twins, built by earlier walks): the
    # floors' reach is exact there (a walk that takes a floor one subtree too deep allows a
    # token too long).
    vocab = vocab_of("llama3")
    hi = 100
    g = string_beside_null(3997, maxLength=hi, pattern=WORDS)
    for k in range(80, 0, -1):
        if fresh:
            g = string_beside_null(4000 + k, maxLength=hi, pattern=WORDS)
        m = Matcher(g, vocab)
        assert m.commit_bytes(b'{"s": "' + ("q" * (hi - k)).encode())
        assert_mask_is_brute_force(m, vocab, f"llama3: {k} code points left")
