"""A JSON Schema compile leaves no reference cycles behind (docs/optimizations.md sections 19
and 34): cyclic garbage waits for a collector pass, which in a server process (a model, a
tokenizer in the heap) scans everything, and a cycle that reaches the Compiler keeps its
whole memo and IR alive until then. The enum filter's jsonschema validator used to be such a
cycle (a class per compile closing over the compile's bound method)."""

from __future__ import annotations

import gc

import pytest
from test_json_schema_soundness import _teacher_force, _vocab

from decoder import Grammar, Matcher
from decoder.errors import SchemaError
from decoder.grammar.json_schema import compile_json_schema, compiler

# each needs the jsonschema validator: enum values filtered by other keywords
SCHEMAS = [
    {"type": "string", "enum": ["ab", "ax", "b", 3], "pattern": "^a"},
    {"enum": [0.9, 1, 2.5, "x"], "multipleOf": 0.3},
    {
        "type": "object",
        "properties": {"k": {"enum": [{"a": 1}, {"a": "s"}, {"b": 2}], "required": ["a"]}},
    },
    {"enum": [{"ab": 1}, {"b": 1}], "patternProperties": {"^a": {"type": "string"}}},
]


@pytest.mark.parametrize("schema", SCHEMAS)
def test_a_compile_leaves_no_cyclic_garbage(schema):
    Grammar.from_json_schema(schema)  # one-time imports and tables
    gc.collect()
    gc.disable()
    try:
        Grammar.from_json_schema(schema)
        assert gc.collect() == 0
    finally:
        gc.enable()


def test_a_refused_compile_leaves_no_cyclic_garbage():
    # the enum filter runs (and builds its memo) before the unsupported keyword is met
    schema = {
        "type": "object",
        "properties": {
            "a": {"type": "string", "enum": ["ab", "x"], "pattern": "^a"},
            "b": {"type": "array", "contains": {"type": "string"}, "uniqueItems": True},
        },
    }
    with pytest.raises(SchemaError):
        Grammar.from_json_schema(schema)
    gc.collect()
    gc.disable()
    try:
        with pytest.raises(SchemaError):
            Grammar.from_json_schema(schema)
        assert gc.collect() == 0
    finally:
        gc.enable()


def _accepts(schema, text: str) -> bool:
    g = Grammar.from_json_schema(schema, whitespace="compact")
    vocab = _vocab("bytes")[0]
    return _teacher_force(Matcher(g, vocab), vocab, list(text.encode()))


@pytest.mark.parametrize(
    "schema, yes, no",
    [
        (
            {"type": "string", "enum": ["ab", "ax", "b", "cb"], "pattern": "^a|b$"},
            ['"ab"', '"ax"', '"b"', '"cb"'],
            [],
        ),
        (
            {"type": "string", "enum": ["ab", "ax", "b", "cb"], "pattern": "^a"},
            ['"ab"', '"ax"'],
            ['"b"', '"cb"'],
        ),
        ({"enum": [0.9, 1, 0.6, "x"], "multipleOf": 0.3}, ["0.9", "0.6", '"x"'], ["1"]),
        (
            {
                "enum": [{"ab": 1}, {"ab": "s"}, {"b": 1}],
                "patternProperties": {"^a": {"type": "string"}},
            },
            ['{"ab":"s"}', '{"b":1}'],
            ['{"ab":1}'],
        ),
        # a backtracking pattern (minutes under re.search) decided by the compile's automaton
        ({"enum": ["a" * 40 + "!", "aa"], "pattern": "^(a+)+$"}, ['"aa"'], ['"' + "a" * 40 + '!"']),
    ],
)
def test_the_enum_filter_keeps_exactly_the_values_the_keywords_allow(schema, yes, no):
    """The validator class is built once per process and reads the running compile's
    linear pattern search (``compiler._SEARCH``)."""
    for text in yes:
        assert _accepts(schema, text), text
    for text in no:
        assert not _accepts(schema, text), text
    assert compiler._linear_pattern_validator.cache_info().currsize >= 1


def test_the_validator_outside_a_compile_is_an_error():
    with pytest.raises(RuntimeError, match="outside"):
        compiler._search("a", "a")


def _tracked_tuples(node, seen) -> int:
    if type(node) is not tuple or id(node) in seen:
        return 0
    seen.add(id(node))
    return int(gc.is_tracked(node)) + sum(_tracked_tuples(x, seen) for x in node)


def test_serialising_untracks_the_regex_tuples():
    """The collector untracks a tuple of untracked items one nesting level per pass; the
    serialiser (decoder/grammar/_wire.pyx) does it bottom-up as it writes the words, so a
    grammar kept alive costs later collections nothing for its regexes."""
    schema = {
        "type": "object",
        "properties": {
            "id": {"type": "string", "pattern": "^[a-f0-9]{8}$"},
            "n": {"type": "number"},
            "tags": {"type": "array", "items": {"enum": ["a", "b"]}},
        },
    }
    gc.disable()
    try:
        ir = compile_json_schema(schema)  # the front end alone: tuples still tracked
        regexes = [lx.regex for lx in ir.lexemes]
        assert sum(_tracked_tuples(r, set()) for r in regexes) > 0
        assert sum(_tracked_tuples(r, set()) for r in ir.rules) > 0
        Grammar(ir).serialized()
        assert sum(_tracked_tuples(r, set()) for r in regexes) == 0
        assert sum(_tracked_tuples(r, set()) for r in ir.rules) == 0
        # from_json_schema serialises before the front end's collector setting is restored,
        # so the pass that follows does not scan the grammar (docs/optimizations.md, 40)
        g = Grammar.from_json_schema(schema)
        assert sum(_tracked_tuples(lx.regex, set()) for lx in g.ir.lexemes) == 0
        assert sum(_tracked_tuples(r, set()) for r in g.ir.rules) == 0
    finally:
        gc.enable()
    # a tuple holding a collectable object stays tracked (it could be in a cycle)
    holder: list = []
    t = ("cat", (("bytes", b"a"), ("bytes", b"b")))
    bad = ("unit", holder)
    holder.append(bad)
    from decoder.grammar.serialize import serialize_words

    serialize_words([], [t], [])
    assert not gc.is_tracked(t)
    with pytest.raises((ValueError, TypeError)):
        serialize_words([], [("rep", bad, 0, None)], [])
    assert gc.is_tracked(bad)
