"""compile_json_schema skips the compiler's walk for an embedded draft-04 "$schema" when the
loading saw there is none (schema.load_schema_hinted: JSON text without "draft-0" and \\u
escapes, a dict whose size walk found none): the grammar must be the one the walk gives, for
texts and values with the draft written plainly, through \\u escapes, or not at all."""

from __future__ import annotations

import json

import pytest
from json_schema_util import accepts

from decoder.grammar.json_schema import compile_json_schema
from decoder.grammar.json_schema.schema import load_schema_hinted
from decoder.grammar.serialize import serialize

OLD = "http://json-schema.org/draft-04/schema#"
TEXTS = [
    # no old draft anywhere: "1.0" is an integer (draft-06 on)
    json.dumps({"type": "object", "properties": {"n": {"type": "integer"}}}),
    # a draft-04 resource inside a 2020-12 document: "1.0" is not an integer anywhere
    json.dumps(
        {"type": "object", "properties": {"n": {"$schema": OLD, "type": "integer"}}},
    ),
    # the same with the draft's name escaped (no "draft-0" in the text)
    '{"type": "object", "properties": {"n": {"$schema": '
    '"http://json-schema.org/draft\\u002d04/schema#", "type": "integer"}}}',
    # the keyword's name escaped
    '{"type": "object", "properties": {"n": {"\\u0024schema": "' + OLD + '", '
    '"type": "integer"}}}',
    # draft-03 in an annotation's value only: counted as the walk counts it
    json.dumps({"type": "integer", "examples": [{"$schema": "draft-03"}]}),
]


@pytest.mark.parametrize("text", TEXTS)
def test_text_and_value_give_the_same_grammar(text):
    from_text = compile_json_schema(text, whitespace="compact")
    from_value = compile_json_schema(json.loads(text), whitespace="compact")
    # no size walk (max_text_bytes=0): no hint, the compiler's own walk decides
    walked = compile_json_schema(json.loads(text), whitespace="compact", max_text_bytes=0)
    assert bytes(serialize(from_text)) == bytes(serialize(walked))
    assert bytes(serialize(from_value)) == bytes(serialize(walked))


def test_the_hint_decides_what_it_should():
    assert not load_schema_hinted(TEXTS[0])[1]
    assert all(load_schema_hinted(t)[1] for t in TEXTS[1:])
    assert not load_schema_hinted(json.loads(TEXTS[0]))[1]  # a value: its size walk
    assert all(load_schema_hinted(json.loads(t))[1] for t in TEXTS[1:])
    assert load_schema_hinted(json.loads(TEXTS[1]), 0)[1]  # no size walk: not known
    nested = {"type": "array", "items": [({"$schema": OLD},)]}  # a tuple: walked too
    assert load_schema_hinted(nested)[1]


def test_an_embedded_old_draft_still_changes_the_grammar():
    """The case the hint must not lose: "1.0" is an integer only without a draft-04 part."""
    plain = compile_json_schema(TEXTS[0], whitespace="compact")
    old = compile_json_schema(TEXTS[2], whitespace="compact")
    assert accepts(plain, '{"n":1.0}')
    assert not accepts(old, '{"n":1.0}')
    assert accepts(old, '{"n":1}')
