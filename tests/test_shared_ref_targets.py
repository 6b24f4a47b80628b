"""A ``$ref`` target is compiled once, however many use sites refer to it
(``Compiler.expanded_memo``, docs/optimizations.md section "one symbol per expanded
conjunction"): every use site is its own schema node, so ``value()``'s memo (keyed by the parts
as written) missed and each site compiled the target's rules again (vega-lite's
``GuideEncodingEntry``: 44 properties, each ``{"$ref": "#/definitions/ValueDef"}``; from draft
2019-09 on the use site also stays in the conjunction with only annotations left). The shared
symbol must keep the language exact: the verdicts are checked against jsonschema."""

from __future__ import annotations

import itertools
import json

import jsonschema
import pytest
from json_schema_util import accepts

from decoder.grammar.json_schema import compile_json_schema

DRAFTS = {
    "2020": "https://json-schema.org/draft/2020-12/schema",
    "7": "http://json-schema.org/draft-07/schema#",
    "4": "http://json-schema.org/draft-04/schema#",
}

ITEM = {
    "type": "object",
    "properties": {"p0": {"type": "string"}, "p1": {"type": "integer"}, "p2": {"enum": [1, "x"]}},
    "required": ["p0"],
    "additionalProperties": False,
}


def _schema(draft: str, sites: int) -> dict:
    ref = "#/definitions/item"
    return {
        "$schema": DRAFTS[draft],
        "type": "object",
        "definitions": {"item": ITEM, "list": {"type": "array", "items": {"$ref": ref}}},
        "properties": {
            **{f"a{i}": {"$ref": ref, "description": f"site {i}"} for i in range(sites)},
            "l": {"$ref": "#/definitions/list"},
            "m": {"anyOf": [{"$ref": ref}, {"type": "null"}]},
        },
        "additionalProperties": False,
    }


def _objects(g) -> int:
    """How many object symbols the grammar has (one per object schema compiled)."""
    return sum(1 for n in g.nonterminals if n.startswith("object@"))


def _check(schema: dict, instances) -> None:
    """Verdicts equal jsonschema's (members in any order: the declared-order default
    refuses some valid instances by design)."""
    g = compile_json_schema(json.dumps(schema), property_order="any")
    v = jsonschema.validators.validator_for(schema)(schema)
    for x in instances:
        text = json.dumps(x, separators=(",", ":"))
        assert accepts(g, text) == v.is_valid(x), (text, v.is_valid(x))


@pytest.mark.parametrize("draft", sorted(DRAFTS))
def test_ref_target_compiled_once(draft):
    """Eight properties referring to one definition (with a description beside each $ref)
    compile its object once: before, 10 copies of it and ~2.2x the rules."""
    g8 = compile_json_schema(json.dumps(_schema(draft, 8)))
    g1 = compile_json_schema(json.dumps(_schema(draft, 1)))
    assert _objects(g8) == 2  # the root and the item (before: 11)
    # seven more properties cost their own key-value rules, not a copy of the item
    # (here 97 - 48 rules; before, 214 - 74)
    assert len(g8.rules) - len(g1.rules) <= 7 * 8, (len(g8.rules), len(g1.rules))


ITEMS = [
    {"p0": "a"},
    {"p0": "a", "p1": 3, "p2": "x"},
    {"p0": "a", "p2": 2},
    {"p1": 3},
    {"p0": 1},
    {"p0": "a", "q": 1},
    {},
    None,
    [],
]


@pytest.mark.parametrize("draft", sorted(DRAFTS))
def test_shared_ref_target_verdicts(draft):
    schema = _schema(draft, 3)
    instances = [{}]
    for x, y in itertools.product(ITEMS, repeat=2):
        instances += [{"a0": x, "a2": y}, {"l": [x, y]}, {"a1": y, "m": x}, {"a1": x}]
    _check(schema, instances)


def test_ref_with_asserting_siblings_is_not_shared():
    """From draft 2019-09 on, keywords beside a $ref apply too: a site with ``required``
    beside its $ref is another conjunction, and keeps its own symbol."""
    ref = "#/$defs/item"
    schema = {
        "$schema": DRAFTS["2020"],
        "$defs": {"item": ITEM},
        "type": "object",
        "properties": {
            "a": {"$ref": ref},
            "b": {"$ref": ref, "required": ["p1"]},
            "c": {"$ref": ref, "title": "only an annotation"},
        },
    }
    instances = [{k: x} for k in "abc" for x in ITEMS]
    _check(schema, instances)


def test_recursive_target_shared_while_in_progress():
    """A recursive definition referred to from several sites inside itself: later sites
    refer to the symbol still being compiled."""
    ref = "#/$defs/node"
    node = {
        "type": "object",
        "properties": {
            "v": {"type": "integer"},
            "left": {"$ref": ref},
            "right": {"$ref": ref, "description": "the other one"},
            "kids": {"type": "array", "items": {"$ref": ref}, "maxItems": 2},
        },
        "required": ["v"],
        "additionalProperties": False,
    }
    schema = {"$schema": DRAFTS["2020"], "$defs": {"node": node}, "$ref": ref}
    g = compile_json_schema(json.dumps(schema))
    assert _objects(g) == 1
    leaves = [{"v": 1}, {"v": "x"}, {}, {"v": 1, "w": 2}]
    instances = list(leaves)
    for a, b in itertools.product(leaves, repeat=2):
        instances += [
            {"v": 0, "left": a, "right": b},
            {"v": 0, "kids": [a, b]},
            {"v": 0, "left": {"v": 2, "kids": [a]}, "right": b},
            {"left": a},
        ]
    _check(schema, instances)
