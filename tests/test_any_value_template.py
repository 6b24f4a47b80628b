"""The rules of any JSON value (``value([])``: what an open object's extra keys take) are
emitted once per process and setting, then replayed into later compiles
(compiler._AnyTemplate). A replayed grammar must be the grammar the compile emits by itself:
the same lexemes, nonterminals (names included), rules, roles, in the same order, whatever
the compile built before it needed any value."""

from __future__ import annotations

import pytest

from decoder.errors import SchemaError
from decoder.grammar.json_schema import compile_json_schema
from decoder.grammar.json_schema import compiler as C

OPEN = {"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "integer"}}}
SCHEMAS = [
    OPEN,
    {},
    {"type": "object"},
    {"type": "array"},
    {"type": "array", "items": {"type": "object", "properties": {"x": {"type": "number"}}}},
    # the any-key lexeme made before any value is needed (an object without names whose
    # extra keys take strings), then any value
    {
        "type": "object",
        "properties": {
            "m": {"type": "object", "additionalProperties": {"type": "string"}},
            "n": {"type": "object"},
        },
    },
    {"type": "object", "propertyNames": {"maxLength": 3}, "properties": {"q": {}}},
    {
        "type": "object",
        "properties": {"u": {"type": "array", "items": {"type": "string"}, "uniqueItems": True}},
    },
    {"type": "object", "patternProperties": {"^x": {"type": "integer"}}},
    {"type": "object", "properties": {"k": {}}, "required": ["k"], "minProperties": 2},
    {"$schema": "http://json-schema.org/draft-04/schema#", "properties": {"z": {}}},
    {"anyOf": [OPEN, {"type": "object", "properties": {"c": {"const": 1}}}]},
]
SETTINGS = [
    {"whitespace": "pretty"},
    {"whitespace": "flexible"},
    {"whitespace": "compact", "strict_objects": True},
    {"whitespace": "separators", "property_order": "any"},
]


def _ir(schema, opts):
    try:
        g = compile_json_schema(schema, **opts)
    except SchemaError as e:  # a refusal is a result too (strict objects: minProperties 2)
        return (type(e).__name__, str(e))
    return (g.lexemes, g.nonterminals, g.rules, g.start, g.ignore, g.distinct, g.lazy)


@pytest.mark.parametrize("opts", SETTINGS, ids=lambda o: "-".join(map(str, o.values())))
def test_replayed_any_value_is_what_the_compile_emits(opts):
    saved = dict(C._ANY_TEMPLATES)
    try:
        fresh = []
        for s in SCHEMAS:  # each compiled with no template: emitted by itself
            C._ANY_TEMPLATES.clear()
            fresh.append(_ir(s, opts))
        C._ANY_TEMPLATES.clear()
        for order in (SCHEMAS, SCHEMAS[::-1]):  # a template from one schema, then another
            for s, want in zip(order, fresh if order is SCHEMAS else fresh[::-1]):
                assert _ir(s, opts) == want, s
        if opts["whitespace"] == "pretty":
            assert C._ANY_TEMPLATES, "the setting's any value was never recorded"
    finally:
        C._ANY_TEMPLATES.clear()
        C._ANY_TEMPLATES.update(saved)


def test_a_template_is_replayed_not_emitted(monkeypatch):
    C._ANY_TEMPLATES.clear()
    want = _ir(OPEN, {"whitespace": "pretty"})
    assert len(C._ANY_TEMPLATES) == 1
    calls = []
    real = C.Compiler._compile_conj
    monkeypatch.setattr(
        C.Compiler,
        "_compile_conj",
        lambda self, parts, sym: calls.append(parts) or real(self, parts, sym),
    )
    assert _ir(OPEN, {"whitespace": "pretty"}) == want
    assert [] not in calls  # value([]) came from the template


def test_no_replay_where_the_any_key_lexeme_came_first(monkeypatch):
    """An object whose extra keys take strings made the any-key lexeme (and its cache
    entries) before any value was needed: the template does not apply, the emission runs."""
    schema = SCHEMAS[5]
    C._ANY_TEMPLATES.clear()
    want = _ir(schema, {"whitespace": "pretty"})
    _ir(OPEN, {"whitespace": "pretty"})  # the setting's template
    assert len(C._ANY_TEMPLATES) == 1
    calls = []
    real = C.Compiler._compile_conj

    def spy(self, parts, sym):
        calls.append(parts)
        return real(self, parts, sym)

    monkeypatch.setattr(C.Compiler, "_compile_conj", spy)
    assert _ir(schema, {"whitespace": "pretty"}) == want
    assert [] in calls
