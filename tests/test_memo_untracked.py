"""The front end's cross-compile memos hold no tuple the cyclic collector tracks
(docs/optimizations.md, "The front end's memos untracked"): their entries outlive the compile,
so every tracked tuple in them was promoted to the collector's oldest generation, and the
promotions (~2,000 tuples per compile of a new schema) triggered CPython's full collections
(150-800 ms in a process holding a tokenizer) every few hundred compiles, landing on one
compile each. ``_wire.untrack_tree`` untracks an entry's tuples bottom-up when it is made."""

from __future__ import annotations

import gc

import pytest

from decoder.grammar import Grammar, _wire
from decoder.grammar.json_schema import strings


def _tracked(node, seen: set) -> int:
    """Tracked tuples reachable through tuples from ``node`` (iterative: deep trees)."""
    n = 0
    stack = [node]
    while stack:
        x = stack.pop()
        if type(x) is not tuple or id(x) in seen:
            continue
        seen.add(id(x))
        n += gc.is_tracked(x)
        stack.extend(x)
    return n


def _memo_tracked() -> int:
    seen: set = set()
    return sum(
        _tracked(v, seen)
        for memo in (strings._STAR_MINUS_MEMO, strings._ENC_MEMO, strings._LEXEME_MEMO)
        for v in memo.values()
    )


SCHEMAS = [
    # BFCL_parallel_0's shape: an object of strings and an enum (the base left 15 tracked)
    {
        "type": "object",
        "properties": {
            "location": {"type": "string", "description": "city"},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
        },
        "required": ["location"],
    },
    # extra keys allowed: the complement of the declared names (star_minus_lexeme)
    {"type": "object", "properties": {"alpha": {"type": "integer"}, "beta": {"type": "string"}}},
    # a pattern and a format: encode_chars of parsed nodes
    {
        "type": "object",
        "properties": {
            "id": {"type": "string", "pattern": "^[a-f0-9]{8}-é+$"},
            "when": {"type": "string", "format": "date-time"},
            "name": {"type": "string", "minLength": 2, "maxLength": 40},
        },
        "additionalProperties": {"type": "string", "pattern": "^x[^\\\\]*$"},
    },
]


@pytest.mark.parametrize("schema", SCHEMAS)
def test_a_compile_leaves_no_tracked_tuple_in_the_memos(schema, monkeypatch):
    monkeypatch.setattr(strings, "_STAR_MINUS_MEMO", {})
    monkeypatch.setattr(strings, "_star_minus_chars", 0)
    monkeypatch.setattr(strings, "_ENC_MEMO", {})
    monkeypatch.setattr(strings, "_LEXEME_MEMO", {})
    gc.disable()  # no collector pass untracks anything meanwhile
    try:
        Grammar.from_json_schema(schema)
        held = len(strings._ENC_MEMO) + len(strings._LEXEME_MEMO) + len(strings._STAR_MINUS_MEMO)
        assert held > 0
        assert _memo_tracked() == 0
    finally:
        gc.enable()


def test_memo_results_built_outside_a_serialised_grammar_are_untracked(monkeypatch):
    """A result the serialiser never walks (called directly here, or used by another
    construction in a compile) is untracked too."""
    monkeypatch.setattr(strings, "_STAR_MINUS_MEMO", {})
    monkeypatch.setattr(strings, "_star_minus_chars", 0)
    monkeypatch.setattr(strings, "_ENC_MEMO", {})
    monkeypatch.setattr(strings, "_LEXEME_MEMO", {})
    gc.disable()
    try:
        k = strings.star_minus_lexeme(strings.ANY_STRING, {"key_one", "key_two", "ké"})
        assert _tracked(k, set()) == 0
        node = (
            "alt",
            (("cps", ((0x61, 0x7A),)), ("bytes", b"\\q"), ("rep", ("cps", ((0x22, 0x22),)), 1, 3)),
        )
        e = strings.encode_chars(node)
        assert _tracked(e, set()) == 0 and _tracked(node, set()) == 0
        assert strings.encode_chars(node) is e  # still memoised
        assert _memo_tracked() == 0
        # the same regexes as before: equal to a fresh build
        assert k == strings._star_minus_lexeme(
            strings.ANY_STRING, frozenset({"key_one", "key_two", "ké"})
        )
    finally:
        gc.enable()


def test_untrack_tree_bottom_up_shared_deep_and_collectable():
    gc.disable()
    try:
        leaf = tuple([("bytes", b"ab")])  # built at run time: tracked
        shared = ("cat", (leaf, ("cps", ((1, 2),))))
        root = ("alt", (shared, ("rep", shared, 0, None), shared))
        assert gc.is_tracked(root) and gc.is_tracked(shared)
        n = _wire.untrack_tree(root)
        assert n >= 3  # root, its children tuple, shared (once), ...
        assert _tracked(root, set()) == 0
        assert _wire.untrack_tree(root) == 0  # idempotent
        # a tuple holding a collectable object stays tracked, and so do the tuples above it
        holder: list = []
        low = ("unit", holder)
        top = ("cat", (low, ("bytes", b"x")))
        _wire.untrack_tree(top)
        assert gc.is_tracked(low) and gc.is_tracked(top) and not gc.is_tracked(top[1][1])
        # deep nesting: no recursion
        deep: tuple = ("bytes", b"z")
        for _ in range(100_000):
            deep = ("rep", deep, 0, 1)
        assert _wire.untrack_tree(deep) >= 100_000
        assert not gc.is_tracked(deep)
        # not a tuple, or already untracked: nothing
        assert _wire.untrack_tree([1, 2]) == 0 and _wire.untrack_tree(root) == 0
    finally:
        gc.enable()
