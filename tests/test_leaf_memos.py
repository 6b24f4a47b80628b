"""Leaf lexemes that recur across compiles are one object (strings._LEXEME_MEMO), their hash
is remembered by the builder (ir._HASHES) and their wire words by the serialiser
(_wire._WORDS). None of it may change a grammar: the words with the caches warm equal the words
written from scratch, and the builder still merges lexemes by value, not by identity."""

from __future__ import annotations

from decoder.grammar import _wire
from decoder.grammar.ir import DISTINCT_ITEM, GrammarBuilder, cps, lit, plus
from decoder.grammar.json_schema import compile_json_schema, strings
from decoder.grammar.serialize import serialize

SCHEMAS = [
    {"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "integer"}}},
    {"type": "object", "properties": {"a": {"type": "string"}, "c": {"type": "number"}}},
    {"type": "array", "items": {"type": "string", "format": "date-time"}, "uniqueItems": True},
    {"type": "object", "properties": {"a": {"type": "string", "pattern": "^[a-z]+$"}}},
    {"type": "object", "additionalProperties": {"type": "string", "maxLength": 5}},
    {},
]


def test_words_from_the_cache_equal_words_written_from_scratch():
    irs = [compile_json_schema(s) for s in SCHEMAS + SCHEMAS]  # the second half shares leaves
    cold = []
    for g in irs:
        _wire._forget_words()
        cold.append(serialize(g).tobytes())
    _wire._forget_words()
    warm = [serialize(g).tobytes() for g in irs]
    assert _wire._words_cached() > 0  # the large leaves (number, string, key lexemes) are held
    assert warm == cold
    again = [serialize(g).tobytes() for g in irs]  # every lexeme from the cache now
    assert again == cold


def test_recurring_leaves_are_one_object():
    a = strings.string_lexeme_regex(strings.ANY_STRING)
    assert strings.string_lexeme_regex(strings.ANY_STRING) is a
    k = strings.star_minus_lexeme(strings.ANY_STRING, {"x", "yz"})
    assert strings.star_minus_lexeme(strings.ANY_STRING, ["yz", "x"]) is k
    assert strings.star_minus_lexeme(strings.ANY_STRING, {"x"}) != k
    g1, g2 = compile_json_schema(SCHEMAS[0]), compile_json_schema(SCHEMAS[0])
    shared = {id(lx.regex) for lx in g1.lexemes} & {id(lx.regex) for lx in g2.lexemes}
    assert any(lx.name == "KEY" and id(lx.regex) in shared for lx in g2.lexemes)


def test_builder_merges_lexemes_by_value_role_and_laziness():
    rx = plus(cps([(48, 57)]))
    twin = tuple(list(rx))  # an equal regex, another object
    assert twin is not rx and twin == rx
    b = GrammarBuilder()
    n = b.lexeme("N", rx)
    assert b.lexeme("M", twin) == n  # equal regex, another object: the same lexeme
    assert b.lexeme("N", rx, lazy=True) != n
    assert b.lexeme("N", twin, lazy=True) == b.lexeme("N", rx, lazy=True)
    item = b.lexeme("N", rx, role=DISTINCT_ITEM)
    assert (
        item not in (n, b.lexeme("N", rx, lazy=True))
        and b.lexeme("N", twin, role=DISTINCT_ITEM) == item
    )
    assert b.lexeme("X", lit("x")) not in (n, item)
    assert len(b.build(b.nonterminal("s")).lexemes) == 4
