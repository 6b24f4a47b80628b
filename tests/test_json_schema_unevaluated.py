"""``unevaluatedProperties``, ``unevaluatedItems`` and ``$dynamicRef`` (decoder/grammar/
json_schema/unevaluated.py): every verdict equals ``jsonschema``'s, teacher-forced through the
mask on a byte vocabulary and on Llama-3's (where ../shared has it), compact and with
``json.dumps``' spaces; random walks of the mask are valid; what cannot be done exactly is a
SchemaError naming the keyword."""

from __future__ import annotations

import json
import random
import warnings

import differential
import jsonschema
import pytest
from test_json_schema_soundness import _teacher_force, _vocab, check_verdicts

from decoder import Grammar, Matcher
from decoder.errors import SchemaError

S = "https://json-schema.org/draft/2020-12/schema"

CASES = [
    # else evaluates a property; if (multipleOf) is negated by the remainder automaton
    (
        {
            "if": {"type": "number", "multipleOf": 0.5},
            "else": {"properties": {"x": {}}},
            "unevaluatedProperties": False,
        },
        [1.5, 1.2, 3, {"x": 1}, {"y": 1}, {}, "s"],
    ),
    # adjacent properties; U as a schema
    (
        {
            "type": "object",
            "properties": {"a": {"type": "integer"}},
            "unevaluatedProperties": False,
        },
        [{"a": 1}, {"a": 1, "b": 2}, {}, {"b": 1}, {"a": "x"}, 3, []],
    ),
    (
        {"properties": {"a": {}}, "unevaluatedProperties": {"type": "string", "maxLength": 2}},
        [{"a": 1, "b": "xy"}, {"a": 1, "b": "xyz"}, {"b": 3}, {"c": "", "a": []}],
    ),
    # adjacent and nested patternProperties (the patterns move into one part)
    (
        {"patternProperties": {"^x": {"type": "integer"}}, "unevaluatedProperties": False},
        [{"x1": 1}, {"x1": "s"}, {"y": 1}, {}, {"x": 1, "xy": 2}],
    ),
    (
        {
            "properties": {"a": {}},
            "allOf": [{"patternProperties": {"^x": True}}],
            "unevaluatedProperties": False,
        },
        [{"a": 1, "x2": 2}, {"b": 1}, {"a": 1, "y": 1}],
    ),
    # allOf and anyOf: every subset of the branches that hold
    (
        {
            "allOf": [{"properties": {"a": {}}}],
            "anyOf": [
                {"properties": {"b": {"type": "integer"}}, "required": ["b"]},
                {"properties": {"c": {"type": "string"}}, "required": ["c"]},
            ],
            "unevaluatedProperties": False,
        },
        [
            {"a": 1, "b": 1},
            {"b": 1, "c": "x"},
            {"b": "x", "c": "x"},
            {"a": 1},
            {"c": "s", "d": 1},
            {"b": 1, "c": 2},
            {"c": "s"},
        ],
    ),
    # oneOf with disjoint branches (a const discriminator) and with overlapping ones
    (
        {
            "oneOf": [
                {"properties": {"k": {"const": "a"}, "x": {}}, "required": ["k"]},
                {"properties": {"k": {"const": "b"}, "y": {}}, "required": ["k"]},
            ],
            "unevaluatedProperties": False,
        },
        [
            {"k": "a", "x": 1},
            {"k": "a", "y": 1},
            {"k": "b", "y": 1},
            {"k": "c"},
            {"k": "b", "x": 1},
        ],
    ),
    (
        {
            "oneOf": [
                {"properties": {"x": {}}, "required": ["x"]},
                {"properties": {"y": {}}, "required": ["y"]},
            ],
            "unevaluatedProperties": False,
        },
        [{"x": 1}, {"y": 1}, {"x": 1, "y": 1}, {"x": 1, "z": 1}, {}],
    ),
    # overlapping branches, one of which evaluates nothing: the others negated
    (
        {
            "oneOf": [
                {"properties": {"x": {}}, "required": ["x"]},
                {"properties": {"y": {}}, "required": ["y"]},
                {"required": ["z"]},
            ],
            "unevaluatedProperties": False,
        },
        [{"x": 1}, {"y": 1}, {"x": 1, "y": 1}, {"x": 1, "z": 1}, {"z": 1}, {"q": 1}, {}],
    ),
    (
        {
            "oneOf": [
                {"properties": {"x": {}}, "required": ["x"]},
                {"properties": {"y": {"type": "string"}}},
            ],
            "unevaluatedProperties": {"type": "integer"},
        },
        [{"x": 1}, {"y": "s"}, {"x": 1, "y": 1}, {"y": 1}, {"x": "a", "y": 2}, {"z": 2}, {}],
    ),
    # if/then/else, else evaluating something: the compiler's negation of if
    (
        {
            "if": {"properties": {"t": {"const": "n"}}, "required": ["t"]},
            "then": {"properties": {"n": {"type": "integer"}}},
            "else": {"properties": {"s": {"type": "string"}}},
            "unevaluatedProperties": False,
        },
        [
            {"t": "n", "n": 1},
            {"t": "n", "s": "x"},
            {"t": "m", "s": "x"},
            {"t": "m", "n": 1},
            {"s": "x"},
            {"n": 1},
        ],
    ),
    # if without then and else still evaluates when it holds
    (
        {"if": {"properties": {"f": {"type": "string"}}}, "unevaluatedProperties": False},
        [{"f": "x"}, {"f": 1}, {}, {"g": 1}],
    ),
    # dependentSchemas
    (
        {
            "properties": {"a": {}},
            "dependentSchemas": {"a": {"properties": {"b": {"type": "integer"}}}},
            "unevaluatedProperties": False,
        },
        [{"a": 1, "b": 1}, {"b": 1}, {"a": 1}, {"a": 1, "b": "x"}, {"a": 1, "c": 1}],
    ),
    # nested: an inner unevaluatedProperties sees only its own subtree
    (
        {
            "properties": {"a": {}},
            "allOf": [{"properties": {"b": {}}, "unevaluatedProperties": True}],
            "unevaluatedProperties": False,
        },
        [{"a": 1, "b": 1, "c": 1}, {"c": 1}],
    ),
    (
        {
            "properties": {"a": {}},
            "allOf": [{"properties": {"b": {}}, "unevaluatedProperties": False}],
            "unevaluatedProperties": True,
        },
        [{"b": 1}, {"a": 1, "b": 1}, {"c": 1}, {}],
    ),
    # recursion through $ref, and $ref beside the keyword
    (
        {
            "$defs": {"base": {"properties": {"id": {"type": "integer"}}}},
            "$ref": "#/$defs/base",
            "properties": {"kids": {"type": "array", "items": {"$ref": "#"}}},
            "unevaluatedProperties": False,
        },
        [  # declared properties come in the schema's order: this part's, then the $ref's
            {"kids": [{"id": 2}, {"kids": [], "id": 3}], "id": 1},
            {"kids": [{"id": 2, "x": 1}], "id": 1},
            {"name": "x"},
        ],
    ),
    # unevaluatedItems: prefixItems, items, allOf, contains, if without else
    (
        {"prefixItems": [{"type": "integer"}], "unevaluatedItems": False},
        [[1], [], [1, 2], ["x"], {"a": 1}],
    ),
    (
        {
            "prefixItems": [True],
            "allOf": [{"prefixItems": [True, {"type": "string"}]}],
            "unevaluatedItems": {"type": "boolean"},
        },
        [[1, "a"], [1, "a", True], [1, "a", 2], [1, 2], [1]],
    ),
    (
        {"prefixItems": [True], "contains": {"type": "string"}, "unevaluatedItems": False},
        [[1], [1, "a"], [1, "a", 2], ["a", "b"], [1, 2, "a"]],
    ),
    (
        {
            "anyOf": [{"prefixItems": [{"const": 1}]}, {"prefixItems": [True, {"const": 2}]}],
            "unevaluatedItems": False,
        },
        [[1], [1, 2], [3, 2], [1, 3], [1, 2, 3], [3]],
    ),
    (
        {
            "if": {"prefixItems": [{"const": "a"}]},
            "then": {"prefixItems": [True, {"type": "integer"}]},
            "unevaluatedItems": False,
        },
        [["a", 1], ["a"], ["b"], ["a", 1, 2], ["b", 1], ["a", "x"]],
    ),
    # $dynamicRef: the extensible recursive schema, fixed from the root
    (
        {
            "$schema": S,
            "$id": "https://example.com/strict-tree",
            "$dynamicAnchor": "node",
            "$ref": "tree",
            "unevaluatedProperties": False,
            "$defs": {
                "tree": {
                    "$id": "tree",
                    "$dynamicAnchor": "node",
                    "type": "object",
                    "properties": {
                        "data": True,
                        "children": {"type": "array", "items": {"$dynamicRef": "#node"}},
                    },
                }
            },
        },
        [
            {"children": [{"data": 1}]},
            {"children": [{"daat": 1}]},
            {"data": 1, "children": [{"children": [{"data": 2, "x": 1}]}]},
            {"x": 1},
        ],
    ),
    (
        {
            "$id": "https://example.com/root",
            "$ref": "list",
            "$defs": {
                "foo": {"$dynamicAnchor": "items", "type": "string"},
                "list": {
                    "$id": "list",
                    "type": "array",
                    "items": {"$dynamicRef": "#items"},
                    "$defs": {"items": {"$dynamicAnchor": "items"}},
                },
            },
        },
        [["a", "b"], ["a", 1], [], [None]],
    ),
]


@pytest.mark.parametrize("kind", ["bytes", "llama3"])
@pytest.mark.parametrize("case", range(len(CASES)))
def test_verdicts_equal_jsonschema(case, kind):
    check_verdicts(*CASES[case], kind)


@pytest.mark.parametrize("case", range(len(CASES)))
def test_random_walks_are_valid(case):
    """Random walks of the mask (and mutations of their outputs) checked by jsonschema."""
    rep = differential.Report()
    schema = CASES[case][0]
    differential.check_schema(schema, random.Random(case), rep, walks=12, instances=12)
    assert rep.counts["compiled"] == 1, dict(rep.counts)
    assert rep.counts["walks"] >= 6, dict(rep.counts)
    assert not rep.failures, "\n".join(rep.failures)


REFUSED = [
    # the dynamic scope depends on the path: two roots of the same list
    (
        {
            "$id": "https://example.com/multi",
            "properties": {
                "a": {"$ref": "a"},
                "b": {"$ref": "b"},
            },
            "$defs": {
                "list": {
                    "$id": "list",
                    "type": "array",
                    "items": {"$dynamicRef": "#item"},
                    "$defs": {"item": {"$dynamicAnchor": "item"}},
                },
                "a": {
                    "$id": "a",
                    "$ref": "list",
                    "$defs": {"i": {"$dynamicAnchor": "item", "type": "string"}},
                },
                "b": {
                    "$id": "b",
                    "$ref": "list",
                    "$defs": {"i": {"$dynamicAnchor": "item", "type": "integer"}},
                },
            },
        },
        "$dynamicRef",
    ),
    # more anyOf branches that evaluate properties than the subsets are tried for
    (
        {
            "anyOf": [{"properties": {f"p{i}": {}}} for i in range(7)],
            "unevaluatedProperties": False,
        },
        "anyOf",
    ),
    # else evaluates something and if has no negation (uniqueItems; a pattern and
    # multipleOf have one now)
    (
        {
            "if": {"type": "array", "uniqueItems": True},
            "else": {"properties": {"x": {}}},
            "unevaluatedProperties": False,
        },
        "if",
    ),
]


@pytest.mark.parametrize("case", range(len(REFUSED)))
def test_refusals_name_the_keyword(case):
    schema, kw = REFUSED[case]
    with pytest.raises(SchemaError) as ei:
        Grammar.from_json_schema(schema)
    assert ei.value.keyword == kw, str(ei.value)
    assert kw in str(ei.value)


def test_approximate_drops_what_it_cannot_enforce():
    schema, kw = REFUSED[0]
    with pytest.warns(UserWarning, match=r"\$dynamicRef"):
        Grammar.from_json_schema(schema, approximate=True)


def test_draft7_ignores_the_keywords():
    """Before 2019-09 they are not keywords: validators ignore them, and so do we."""
    schema = {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "properties": {"a": {}},
        "unevaluatedProperties": False,
        "items": {"$dynamicRef": "#x"},
    }
    vocab, _ = _vocab("bytes")
    m = Matcher(Grammar.from_json_schema(schema), vocab)
    v = jsonschema.Draft7Validator(schema)
    for x in [{"a": 1, "b": 2}, {"b": 1}, [1, "x"]]:
        text = json.dumps(x)
        assert _teacher_force(m, vocab, list(text.encode())) == v.is_valid(x), text


# --------------------------------------------------------------------------- random schemas

KEYS = ["a", "b", "c", "x1", "y"]


def _leaf(rng):
    return rng.choice([{}, True, {"type": "integer"}, {"type": "string"}, {"const": 1}, False])


def _applicators(rng, s, depth, gen):
    r = rng.random()
    if r < 0.2:
        s["allOf"] = [gen(rng, depth + 1) for _ in range(rng.randint(1, 2))]
    elif r < 0.4:
        s["anyOf"] = [gen(rng, depth + 1) for _ in range(rng.randint(1, 3))]
    elif r < 0.55:
        s["oneOf"] = [gen(rng, depth + 1) for _ in range(rng.randint(1, 3))]
    elif r < 0.7:
        s["if"] = gen(rng, depth + 1)
        if rng.random() < 0.7:
            s["then"] = gen(rng, depth + 1)
        if rng.random() < 0.5:
            s["else"] = gen(rng, depth + 1)
    elif r < 0.8:
        s["dependentSchemas"] = {rng.choice(KEYS): gen(rng, depth + 1)}
    elif r < 0.85:
        s["not"] = gen(rng, depth + 1)


def _object_schema(rng, depth=0):
    s: dict = {}
    if rng.random() < 0.6:
        s["properties"] = {k: _leaf(rng) for k in rng.sample(KEYS, rng.randint(1, 2))}
    if rng.random() < 0.15:
        s["patternProperties"] = {"^x": _leaf(rng)}
    if rng.random() < 0.1:
        s["additionalProperties"] = _leaf(rng)
    if rng.random() < 0.3:
        s["required"] = rng.sample(KEYS, 1)
    if depth < 2:
        _applicators(rng, s, depth, _object_schema)
    if depth == 0 or rng.random() < 0.2:
        s["unevaluatedProperties"] = rng.choice([False, False, True, {"type": "integer"}])
    return s


def _array_schema(rng, depth=0):
    s: dict = {}
    if rng.random() < 0.5:
        s["prefixItems"] = [_leaf(rng) for _ in range(rng.randint(1, 2))]
    if rng.random() < 0.15:
        s["items"] = _leaf(rng)
    if rng.random() < 0.25:
        s["contains"] = rng.choice([{"type": "string"}, {"const": 1}])
        if rng.random() < 0.3:
            s["minContains"] = 0
    if depth < 2:
        _applicators(rng, s, depth, _array_schema)
        s.pop("dependentSchemas", None)
    if depth == 0 or rng.random() < 0.2:
        s["unevaluatedItems"] = rng.choice([False, False, True, {"type": "integer"}])
    return s


def _instances(rng, kind):
    vals = [1, "s", True, None, [1], {"a": 1}]
    if kind == "o":
        return [
            {k: rng.choice(vals) for k in rng.sample(KEYS, rng.randint(0, 3))} for _ in range(30)
        ]
    return [
        [rng.choice([1, "s", True, None, 2]) for _ in range(rng.randint(0, 4))] for _ in range(30)
    ]


def test_random_schemas_never_accept_an_invalid_instance():
    """Random nestings of properties / patternProperties / prefixItems / contains under
    allOf, anyOf, oneOf, if/then/else, dependentSchemas and not, with unevaluated* at the
    top and inside: random instances (compact and spaced) and random walks of the mask are
    checked by jsonschema. Valid instances may be rejected only for their key order (the
    schema's order is the one generated), never invalid ones accepted."""
    import time

    import numpy as np

    from decoder.errors import DecoderError

    rng = random.Random(20261206)
    rep = differential.Report()
    vocab = differential.vocab()
    buf = np.zeros((len(differential.TOKENS) + 31) // 32, dtype=np.int32)
    compiled = checked = 0
    t0 = time.monotonic()
    for _ in range(400):
        kind = rng.choice("oa")
        schema = _object_schema(rng) if kind == "o" else _array_schema(rng)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                m = Matcher(Grammar.from_json_schema(schema, timeout=5), vocab)
        except DecoderError:  # a SchemaError, or an empty language
            continue
        compiled += 1
        v = jsonschema.Draft202012Validator(schema)
        what = json.dumps(schema)
        for x in _instances(rng, kind):
            for sep in ((",", ":"), (", ", ": ")):
                text = json.dumps(x, separators=sep)
                checked += 1
                if differential.accepts(m, text.encode()) and not v.is_valid(x):
                    rep.fail(f"{what}: accepts the invalid {text}")
        differential.walk_and_validate(m, v, rng, (4, 12, 30), 4, what, rep, buf)
        if time.monotonic() - t0 > 60:
            break
    assert compiled >= 100, f"only {compiled} random schemas compiled"
    assert rep.counts["walks"] >= 2 * compiled, dict(rep.counts)
    assert not rep.failures, "\n".join(rep.failures)


READING_GAP_CASES = [
    # (schema, key the two pattern readings disagree on, a key both readings agree on)
    ({"patternProperties": {"^a$": {"type": "integer"}}}, "a\n", "a"),  # '$' before a final \n
    # '.' (the keys of ^a.$ are 1.1 million names: an object of them needs a maxProperties of
    # at most their number to keep them distinct without a dead end, docs/limits.md)
    (
        {"allOf": [{"patternProperties": {"^a.$": {"type": "integer"}}}], "maxProperties": 4},
        "a\r",
        "ab",
    ),
    ({"patternProperties": {"^\\d$": {"type": "integer"}}}, "\u0663", "3"),  # Unicode \d
]


@pytest.mark.parametrize("case", range(len(READING_GAP_CASES)))
@pytest.mark.parametrize("unevaluated", [False, {"type": "string"}])
def test_unevaluated_keys_the_pattern_readings_disagree_on(case, unevaluated):
    """A key that ECMA-262 leaves unevaluated and Python's re evaluates (or the reverse) is
    refused whatever its value: one of the two validators rejects it either way. A key both
    readings match takes the pattern's schema."""
    base, gap, agreed = READING_GAP_CASES[case]
    schema = dict(base, unevaluatedProperties=unevaluated)
    vocab, _ = _vocab("bytes")
    m = Matcher(Grammar.from_json_schema(schema), vocab)
    v = jsonschema.Draft202012Validator(schema)

    def forced(x):
        return _teacher_force(m, vocab, list(json.dumps(x, ensure_ascii=False).encode()))

    for value in (1, "x"):
        assert not forced({gap: value}), (gap, value)
        assert forced({agreed: value}) == v.is_valid({agreed: value}), (agreed, value)
    assert forced({agreed: 1})
