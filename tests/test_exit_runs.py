"""Warm masks read a cache entry's exits in runs of one parent state and one byte
(docs/optimizations.md, "exits in runs of one byte"; `CompiledGrammar::sort_exits`,
`Matcher::compute_mask_exits`): whether the next lexeme can start with a run's byte is tested
once per run, and the walks below the exits of one byte follow each other. Checked on three
tokenizer families (byte-level BPE, SentencePiece with byte fallback, Tekken), every mask
against `is_allowed` (commit and roll back: the lexer and parser, not the mask's walks):

- first masks in new parse contexts of a JSON object (inside a string, a number, a literal,
  an array's element, a nested object's string), where the walks below the exits run and the
  continuations differ (`",`, `"}`, `]`, `}}`, ...);
- a grammar whose one lexer state has exits under parents accepting different lexemes, with
  the same bytes after them (`12;` and `1a;`: `;` follows a number, not a word), so that a run
  must not mix parents;
- the same masks again from a second matcher (the exit-walk memo's replays) and after a
  rollback, equal to the first.
"""

from __future__ import annotations

import pytest
from conftest import assert_mask_is_brute_force, vocab_of

from decoder import Grammar, Matcher

FAMILIES = ["llama3", "llama2", "mistral-tekken"]

OBJECT = {
    "type": "object",
    "properties": {
        "a": {"type": "string"},
        "n": {"type": "number"},
        "i": {"type": "integer"},
        "flag": {"type": "boolean"},
        "arr": {"type": "array", "items": {"type": "number"}},
        "o": {
            "type": "object",
            "properties": {"p": {"type": "string"}, "q": {"type": "integer"}},
            "additionalProperties": False,
        },
        "e": {"enum": ["red", "green", 3]},
    },
    "additionalProperties": False,
}

PREFIXES = [
    b'{"a": "xy',
    b'{"a": "x", "n": 12',
    b'{"a": "x", "n": 1.5',
    b'{"n": -3, "i": 40',
    b'{"flag": tru',
    b'{"flag": true',
    b'{"arr": [1, 2',
    b'{"arr": [1, 2.5e3',
    b'{"o": {"p": "q',
    b'{"o": {"q": 7',
    b'{"o": {"p": "q"}, "e": "gre',
    b'{"e": 3',
]


@pytest.mark.parametrize("family", FAMILIES)
def test_json_first_masks_in_new_contexts(family):
    vocab = vocab_of(family)
    g = Grammar.from_json_schema(OBJECT, whitespace="flexible")
    walked = 0
    for prefix in PREFIXES:
        m = Matcher(g, vocab)
        assert m.commit_bytes(prefix), prefix
        first = assert_mask_is_brute_force(m, vocab, f"{family} after {prefix!r}")
        walked += m.mask_stats[0] > 0
        # a second matcher: the grammar's exit-walk memo replays the same walks
        other = Matcher(g, vocab)
        assert other.commit_bytes(prefix)
        assert (
            assert_mask_is_brute_force(other, vocab, f"{family} again {prefix!r}") == first
        ).all()
        # one byte more and back
        if m.commit_bytes(b"0"):
            m.rollback(1)
            assert (
                assert_mask_is_brute_force(m, vocab, f"{family} rollback {prefix!r}") == first
            ).all()
    assert walked >= len(PREFIXES) // 2, "the walks below the exits did not run"


# DEC and WORD both match "12": one lexer state whose exits have parents accepting {DEC, WORD}
# (after digits) and {WORD} (after a letter), with the same bytes after them.
MIXED = r"""
start: item+
item: DEC ";" | WORD "," | WORD ":" DEC "."
DEC: /[0-9]+/
WORD: /[0-9a-z]+/
"""


@pytest.mark.parametrize("family", FAMILIES)
def test_runs_do_not_mix_parents(family):
    vocab = vocab_of(family)
    g = Grammar.from_lark(MIXED)
    for prefix in [b"1", b"12", b"1a", b"ab", b"12;3", b"ab,1", b"a:1", b"a:12"]:
        m = Matcher(g, vocab)
        assert m.commit_bytes(prefix), prefix
        mask = assert_mask_is_brute_force(m, vocab, f"{family} after {prefix!r}")
        assert mask.any()
    # both kinds of parent in one mask: after "1", a token "2;" ends a number and one "a," a word
    m = Matcher(g, vocab)
    assert m.commit_bytes(b"1")
    mask = assert_mask_is_brute_force(m, vocab, f"{family} after '1'")
    for text, ok in [
        (b"2;", True),
        (b"a,", True),
        (b";", True),
        (b",", True),
        (b"a;", False),
        (b"a:", True),
    ]:
        ids = [i for i in range(vocab.model_vocab_size) if vocab.token_bytes(i) == text]
        for i in ids:
            assert mask[i] == ok, (family, text)
