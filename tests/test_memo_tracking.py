"""What a compile leaves in the front end's cross-compile memos must not stay tracked by CPython's
collector: tracked, its tuples are promoted to the oldest generation and, a few hundred compiles
later, set off a full collection (150-800 ms on one compile; docs/optimizations.md, the compile
tail, session 19). The serialiser untracks the regexes it writes; these tests check that the
memos hold nothing it did not write: a lexeme regex equal to one the builder already has (a
fresh tuple, dropped by the builder) is not kept in ``_wire._HASHES``, and a compile that fails
drops the entries it added that no grammar wrote."""

from __future__ import annotations

import gc

import pytest

from decoder.errors import SchemaError
from decoder.grammar import Grammar, _wire
from decoder.grammar.ir import GrammarBuilder, cat, cps, lit, plus
from decoder.grammar.json_schema import strings

ENUM = ["ENABLED", "DISABLED", "UNKNOWN"]
# the same enum in six places: six equal lexeme regexes, six fresh tuples, one lexeme
REPEATED_ENUM = {
    "type": "object",
    "properties": {f"p{i}": {"type": "string", "enum": ENUM} for i in range(6)},
    "additionalProperties": {"type": "string", "pattern": "^[a-z]{2,}[0-9]$"},
}


def _tracked_roots(lexeme_memo: bool = True) -> list:
    out = [r for r, _ in _wire._HASHES.values() if gc.is_tracked(r)]
    if lexeme_memo:
        out += [r for _, r in strings._LEXEME_MEMO.values() if gc.is_tracked(r)]
    out += [r for _, r in strings._STAR_MINUS_MEMO.values() if gc.is_tracked(r)]
    return out


@pytest.fixture
def no_collector():
    """The collector off: it would untrack some tuples itself (one nesting level per pass);
    the memos emptied (another test's builder may have left a regex it never wrote)."""
    _wire._HASHES.clear()
    strings._LEXEME_MEMO.clear()
    strings._STAR_MINUS_MEMO.clear()
    strings._star_minus_chars = 0
    was = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _nested(s: str):
    # a fresh nested regex tuple each call (equal by value, another object)
    return cat(lit('"'), plus(cps([(ord(c), ord(c)) for c in s])), lit('"'))


def test_equal_regex_dropped_by_the_builder_is_not_kept(no_collector):
    b = GrammarBuilder()
    first, twin = _nested("abc"), _nested("abc")
    assert first == twin and first is not twin
    j = b.lexeme("A", first)
    assert b.lexeme("A2", twin) == j  # merged by value, as before
    assert _wire._HASHES[id(first)][0] is first
    got = _wire._HASHES.get(id(twin))
    assert got is None or got[0] is not twin


def test_a_compile_leaves_no_tracked_regex_in_the_memos(no_collector):
    g = Grammar.from_json_schema(REPEATED_ENUM)
    assert g.serialized()
    # (strings._LEXEME_MEMO still keeps the lexeme of each enum's fresh decoded-string node,
    # written or not: a few tuples per compile, left for later)
    assert _tracked_roots(lexeme_memo=False) == []


def test_a_failed_compile_drops_what_no_grammar_wrote(no_collector):
    # an object with extra keys (an excluded-keys lexeme) and a pattern, refused by max_rules
    # after its lexemes are built
    schema = dict(REPEATED_ENUM, properties={f"q{i}": {"type": "integer"} for i in range(40)})
    with pytest.raises(SchemaError):
        Grammar.from_json_schema(schema, max_rules=20)
    assert _tracked_roots() == []
    held = sum(sum(map(len, k[1])) + len(k[1]) for k in strings._STAR_MINUS_MEMO)
    assert strings._star_minus_chars == held
    # and the memos still serve the compile that succeeds
    ok = Grammar.from_json_schema(schema)
    assert ok.serialized() and _tracked_roots(lexeme_memo=False) == []
