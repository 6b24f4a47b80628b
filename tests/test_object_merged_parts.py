"""``Compiler._object`` over many merged parts (issue 23, docs/optimizations.md "names x parts"):
each declared name visits only the parts that declare it and the parts with patterns or
additionalProperties, and a part's additionalProperties ``Part`` is built once, not once per
name it covers. The work is counted (``Part.sub`` calls for additionalProperties), and the
languages are checked with the recogniser: the conjunction per name is the one the loop over
every part built (patterns, additionalProperties, strict objects, required names)."""

from __future__ import annotations

import pytest
from json_schema_util import accepts

from decoder.errors import UnsatisfiableSchemaError
from decoder.grammar.json_schema import compile_json_schema
from decoder.grammar.json_schema.compiler import Part

N_OWN, N_PARTS = 30, 6


def _merged() -> dict:
    """An object whose 30 own names meet 6 allOf parts, each declaring one name and allowing
    other keys of three types (names x parts = 216 pairs)."""
    return {
        "type": "object",
        "properties": {f"a{i}": {"type": "integer"} for i in range(N_OWN)},
        "allOf": [
            {
                "properties": {f"b{j}": {"type": "string"}},
                "additionalProperties": {"type": ["integer", "string", "boolean"]},
            }
            for j in range(N_PARTS)
        ],
    }


def test_additional_properties_part_built_once_per_part(monkeypatch):
    calls = []
    orig = Part.sub

    def sub(self, node, suffix):
        if suffix == "additionalProperties":
            calls.append(self.path)
        return orig(self, node, suffix)

    monkeypatch.setattr(Part, "sub", sub)
    compile_json_schema(_merged())
    # the loop over every part built one per (name, part not declaring it): 36 * 6 - 6 = 210
    assert len(calls) <= 2 * N_PARTS, len(calls)


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ('{"a0": 1, "b0": "x"}', True),
        ('{"a29": -4, "b3": "y", "zz": true}', True),
        ('{"b0": 1}', False),  # b0 is a string (part 0) and int|string|bool (the others)
        ('{"a0": "x"}', False),  # a0: integer, not a string
        ('{"zz": null}', False),  # an extra key: int|string|bool in every part
        ('{"zz": 2.5}', False),
        ('{"b5": "s", "zz": 3}', True),
    ],
)
def test_merged_language(text, ok):
    assert accepts(compile_json_schema(_merged()), text) is ok


def test_patterns_meet_declaring_parts():
    """A name both declared and matched by another part's pattern takes both (the visit
    list merges the declaring parts with the pattern parts, in part order)."""
    s = {
        "type": "object",
        "properties": {f"a{i}": {"type": "integer"} for i in range(12)},
        "allOf": [
            {"patternProperties": {"^a1": {"minimum": 0}}},
            {"properties": {"a2": {"maximum": 5}}, "additionalProperties": {"type": "integer"}},
        ],
    }
    g = compile_json_schema(s)
    assert accepts(g, '{"a1": 0, "a2": 5, "a10": 3}')
    assert not accepts(g, '{"a1": -1}')  # ^a1 matches: minimum 0
    assert not accepts(g, '{"a11": -1}')
    assert accepts(g, '{"a3": -1}')
    assert not accepts(g, '{"a2": 6}')  # declared in part 2: maximum 5
    assert not accepts(g, '{"x": "s"}')  # part 2's additionalProperties: integer
    assert accepts(g, '{"x": 7}')


def test_strict_required_names():
    """Strict objects: a required name no part declares leaves no instance; declared in
    another part, it takes that part's schema."""
    undeclared = {"type": "object", "required": ["r"], "properties": {"a": {}}}
    with pytest.raises(UnsatisfiableSchemaError):
        compile_json_schema(undeclared, strict_objects=True)
    other = {
        "type": "object",
        "allOf": [{"required": ["r"]}, {"properties": {"r": {"type": "integer"}}}],
    }
    g = compile_json_schema(other, strict_objects=True)
    assert accepts(g, '{"r": 1}')
    assert not accepts(g, '{"r": "x"}')
    assert not accepts(g, "{}")
