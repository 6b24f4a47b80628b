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


def test_literal_lexemes_stay_out_of_the_hash_memo():
    """A regex without nested tuples (a key or keyword literal) is hashed directly: it is no
    dearer than the lookup, and the key literals, one entry per name, used to fill _HASHES
    and clear it every few dozen compiles, taking the nested regexes' hashes with them."""
    b = GrammarBuilder()
    leaf = lit('"some key"')
    nested = strings.star_minus_lexeme(strings.ANY_STRING, {"some key", "other"})
    assert not any(type(e) is tuple for e in leaf) and any(type(e) is tuple for e in nested)
    b.lexeme("K", leaf)
    b.lexeme("KEY", nested)
    assert id(leaf) not in _wire._HASHES
    assert _wire._HASHES[id(nested)][0] is nested
    assert _wire._HASHES[id(nested)][1] == hash(nested)
    # a leaf still merges by value, role and laziness
    twin = tuple(list(leaf))
    assert twin is not leaf and b.lexeme("K2", twin) == b.lexeme("K", leaf)
    assert b.lexeme("K", twin, role=DISTINCT_ITEM) == b.lexeme("K", leaf, role=DISTINCT_ITEM)
    assert b.lexeme("K", twin, role=DISTINCT_ITEM) != b.lexeme("K", leaf)


def test_recurring_nested_regex_keeps_its_hash_across_many_key_literals():
    """Thousands of distinct key names (each a literal lexeme) later, the excluded-keys regex
    that recurs with its schema still finds its hash (on int16, 2,048 entries of any regex
    cleared the memo)."""
    nested = strings.star_minus_lexeme(strings.ANY_STRING, {"alpha", "beta", "gamma"})
    GrammarBuilder().lexeme("KEY", nested)
    for i in range(3000):
        GrammarBuilder().lexeme(f'"k{i}"', lit(f'"name{i}"'))
    got = _wire._HASHES.get(id(nested))
    assert got is not None and got[0] is nested
    # and a schema's compile, twice, leaves the regex of its extra keys in the memo
    schema = {"type": "object", "properties": {"p": {"type": "integer"}}}
    compile_json_schema(schema)
    for i in range(3000):
        GrammarBuilder().lexeme(f'"j{i}"', lit(f'"other{i}"'))
    g = compile_json_schema(schema)
    keys = [lx.regex for lx in g.lexemes if lx.name == "KEY" and lx.regex[0] != "bytes"]
    assert keys and all(_wire._HASHES.get(id(r), (None,))[0] is r for r in keys)


def test_excluded_keys_memo_is_bounded_by_key_characters(monkeypatch):
    """The memo's results grow with their key sets (~600 bytes of regex per key character), so
    it is bounded by the key characters it holds, not only by its entry count; a set above an
    eighth of the budget is built (the same lexeme) but not kept."""
    monkeypatch.setattr(strings, "_STAR_MINUS_MEMO", {})
    monkeypatch.setattr(strings, "_star_minus_chars", 0)
    monkeypatch.setattr(strings, "_STAR_MINUS_MEMO_CHARS", 2000)

    def held() -> int:
        return sum(sum(map(len, ks)) + len(ks) for (_, ks) in strings._STAR_MINUS_MEMO)

    sets = [{f"key{i}_{j:03d}" for j in range(20)} for i in range(12)]  # ~220 characters each
    for ks in sets:
        lx = strings.star_minus_lexeme(strings.ANY_STRING, ks)
        assert strings.star_minus_lexeme(strings.ANY_STRING, ks) is lx  # kept while it fits
        assert held() <= 2000
        assert held() == strings._star_minus_chars
    big = {f"a_long_property_name_{j:04d}" for j in range(20)}  # 520 characters > 2000 / 8
    lx = strings.star_minus_lexeme(strings.ANY_STRING, big)
    assert all(ks != big for (_, ks) in strings._STAR_MINUS_MEMO)
    assert lx == strings._star_minus_lexeme(strings.ANY_STRING, frozenset(big))
    assert strings.star_minus_lexeme(strings.ANY_STRING, big) == lx
