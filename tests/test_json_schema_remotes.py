"""``$ref`` to other documents, given with ``remotes=`` (nothing is ever fetched): verdicts
teacher-forced through the mask equal ``jsonschema``'s with the same documents registered;
a reference to a document not given is a SchemaError naming ``$ref``."""

from __future__ import annotations

import pytest
from referencing import Registry
from referencing.jsonschema import DRAFT202012
from test_json_schema_soundness import _teacher_force, _vocab

from decoder import Grammar, Matcher
from decoder.errors import SchemaError

ADDRESS = {
    "$id": "https://example.com/address.json",
    "type": "object",
    "properties": {"city": {"type": "string"}, "zip": {"$ref": "#/$defs/zip"}},
    "required": ["city"],
    "additionalProperties": False,
    "$defs": {"zip": {"type": "string", "pattern": "^[0-9]{5}$"}},
}
# a document that extends another through $dynamicRef: the outermost dynamic anchor (the
# root's) wins, not the remote's own
EXTENDIBLE = {
    "$id": "https://example.com/extendible.json",
    "type": "object",
    "properties": {"elements": {"type": "array", "items": {"$dynamicRef": "#elements"}}},
    "required": ["elements"],
    "additionalProperties": False,
    "$defs": {"elements": {"$dynamicAnchor": "elements"}},
}
REMOTES = {ADDRESS["$id"]: ADDRESS, EXTENDIBLE["$id"]: EXTENDIBLE}

CASES = [
    (
        {
            "type": "object",
            "properties": {"home": {"$ref": "https://example.com/address.json"}},
        },
        [
            {"home": {"city": "Paris"}},
            {"home": {"city": "Paris", "zip": "75001"}},
            {"home": {"city": "Paris", "zip": "7500"}},
            {"home": {"zip": "75001"}},
            {"home": {"city": 1}},
            {},
        ],
    ),
    # a URN base (no hierarchical part: urljoin dropped it, so "#/$defs/bar" missed)
    (
        {
            "$id": "urn:example:foo-bar-baz-qux?+CCResolve:cc=uk",
            "properties": {"foo": {"$ref": "#/$defs/bar"}},
            "$defs": {"bar": {"type": "string"}},
        },
        [{"foo": "x"}, {"foo": 12}],
    ),
    # a fragment inside the remote, by absolute URI
    (
        {"$ref": "https://example.com/address.json#/$defs/zip"},
        ["12345", "1234", 12345],
    ),
    (
        {
            "$id": "https://example.com/strict.json",
            "$ref": "extendible.json",
            "$defs": {
                "elements": {
                    "$dynamicAnchor": "elements",
                    "properties": {"a": True},
                    "required": ["a"],
                    "additionalProperties": False,
                }
            },
        },
        [{"elements": [{"a": 1}]}, {"elements": [{"b": 1}]}, {"elements": []}, {"a": True}],
    ),
]


@pytest.mark.parametrize("kind", ["bytes", "llama3"])
@pytest.mark.parametrize("case", range(len(CASES)))
def test_verdicts_equal_jsonschema_with_the_same_documents(case, kind):
    import json

    import jsonschema

    schema, instances = CASES[case]
    vocab, tok = _vocab(kind)
    m = Matcher(Grammar.from_json_schema(schema, remotes=REMOTES), vocab)
    registry = Registry().with_resources(
        (url, DRAFT202012.create_resource(d)) for url, d in REMOTES.items()
    )
    v = jsonschema.Draft202012Validator(schema, registry=registry)
    for x in instances:
        text = json.dumps(x, ensure_ascii=False)
        ids = list(text.encode()) if tok is None else tok.encode(text, add_special_tokens=False)
        assert _teacher_force(m, vocab, ids) == v.is_valid(x), (case, x)


def test_a_document_not_given_is_an_error_naming_ref():
    with pytest.raises(SchemaError) as e:
        Grammar.from_json_schema({"$ref": "https://example.com/other.json"}, remotes=REMOTES)
    assert e.value.keyword == "$ref" and "remotes=" in str(e.value)


def test_a_remote_needs_an_absolute_uri():
    with pytest.raises(SchemaError) as e:
        Grammar.from_json_schema({"type": "string"}, remotes={"address.json": ADDRESS})
    assert "absolute URI" in str(e.value)
