"""uniqueItems over objects and arrays (decoder/grammar/json_schema/unique_items.py, the
value lists of csrc/distinct.h): an item is compared, when its closing bracket arrives, by
its JSON value as jsonschema decides equality (key order, 1 == 1.0, -0 == 0, true != 1).

Exact masks at the closing step on real tokenizers, the mask against commit on every token
of the vocabulary, teacher-forced instances against jsonschema, random walks of the mask
(fixed seeds) that are valid and never reach a dead end, and the refusals of what would
make the closer the only way on.
"""

from __future__ import annotations

import json
import random

import jsonschema
import numpy as np
import pytest
from conftest import bits_of, vocab_of
from differential import TOKENS

from decoder import Grammar, Matcher, Vocabulary
from decoder.errors import SchemaError
from decoder.grammar.json_schema import compile_json_schema

OBJECTS = {"type": "array", "items": {"type": "object"}, "uniqueItems": True}
NUMBER_LISTS = {
    "type": "array",
    "items": {"type": "array", "items": {"type": "number"}},
    "uniqueItems": True,
}
# the items are lists of objects: a list inside each item, unique at both levels
NESTED = {"type": "array", "items": OBJECTS, "uniqueItems": True}
# a list of strings or a list of objects: both brackets open the list, one scope holds both
EITHER = {"anyOf": [{"type": "array", "items": {"type": "string"}, "uniqueItems": True}, OBJECTS]}


def _ids(v):
    return {v.token_bytes(i): i for i in range(v.size)}


@pytest.mark.parametrize("family", ["llama3", "gpt2"])
@pytest.mark.parametrize(
    "schema, prefix, token, allowed",
    [
        (OBJECTS, b'[{"a":1},{"a":1', b"}", False),  # closes {"a":1} again
        (OBJECTS, b'[{"a":1},{"a":1', b"},", False),  # runs past the closer
        (OBJECTS, b'[{"a":1},{"a":1', b"}]", False),
        (OBJECTS, b'[{"a":1},{"a":1', b",", True),  # one more key instead
        (OBJECTS, b'[{"a":1},{"a":1', b"0", True),  # {"a":10} is new
        (OBJECTS, b'[{"a":1},{"a":1 ', b"}", False),  # whitespace changes nothing
        (OBJECTS, b'[{"a":1,"b":2},{"b":2,"a":1.0', b"}", False),  # key order, 1 == 1.0
        (OBJECTS, b'[{"a":1,"b":2},{"b":2,"a":1.5', b"}", True),
        (OBJECTS, b'[{"a":10},{"a":1e1', b"}", False),
        (OBJECTS, b'[{"a":0},{"a":-0', b"}", False),
        (OBJECTS, b'[{"a":true},{"a":1', b"}", True),  # true != 1
        (OBJECTS, '[{"a":"\u00e9"},{"a":"\\u00e9"'.encode(), b"}", False),  # decoded value
        (OBJECTS, b'[{"a":{"b":1}},{"a":{"b":1', b"}", True),  # closes the inner object
        (OBJECTS, b'[{"a":{"b":1}},{"a":{"b":1', b"}}", False),  # ... then the item
        (OBJECTS, b'[{"a":1},{"a":2},{"a":1', b"}", False),  # equal to the first
        (OBJECTS, b"[{},", b"{}", False),  # an item inside one token
        (OBJECTS, b'[{"a":1},', b"{}", True),
        (NUMBER_LISTS, b"[[1],[1", b"]", False),
        (NUMBER_LISTS, b"[[1],[1.0", b"]", False),
        (NUMBER_LISTS, b"[[1],[1", b"],", False),
        (NUMBER_LISTS, b"[[1],[1", b",", True),  # [1, x] is new
        (NUMBER_LISTS, b"[[1,2],[2,1", b"]", True),  # order matters in a list
        (NUMBER_LISTS, b"[[],[", b"]", False),
        (NUMBER_LISTS, b"[[],", b"[]", False),
        (NESTED, b'[[{"a":1}],[{"a":1', b"}", True),  # another inner list
        (NESTED, b'[[{"a":1}],[{"a":1}', b"]", False),  # but the outer repeats
        (NESTED, b'[[{"a":1},{"a":1', b"}", False),  # the inner list repeats
    ],
)
def test_exact_mask_at_the_closing_bracket(family, schema, prefix, token, allowed):
    v = vocab_of(family)
    ids = _ids(v)
    if token not in ids:
        pytest.skip(f"{family} has no token {token!r}")
    m = Matcher(Grammar.from_json_schema(schema), v)
    assert m.commit_bytes(prefix), prefix
    assert bool(bits_of(m, m.compiled.mask_words)[ids[token]]) is allowed
    assert m.is_allowed(ids[token]) is allowed


@pytest.mark.parametrize("family", ["llama3", "gpt2"])
def test_mask_equals_commit_on_every_token(family):
    # the four places an item can close (commit, the cached inside bits, an exit's parent,
    # inside a token below an exit) against commit_token, for every id
    cases = [
        (OBJECTS, b'[{"a":1},{"a":1'),
        (OBJECTS, b'[{"a":1},{"a":1 '),
        (OBJECTS, b'[{"a":1},{"a":"x"},{"a":"x"'),
        (OBJECTS, b'[{"a":1},{"a":"x'),
        (OBJECTS, b"[{},"),
        (OBJECTS, b"[{}, "),
        (OBJECTS, b'[{"a":1,"b":2},{"b":2,"a":1.0'),
        (OBJECTS, b'[{"a":{}},{"a":{'),
        (OBJECTS, b'[{"a":{"b":1}},{"a":{"b":1'),
        (NUMBER_LISTS, b"[[1],[1"),
        (NUMBER_LISTS, b"[[],"),
        (NUMBER_LISTS, b"[[],["),
        (NESTED, b'[[{"a":1}],[{"a":1}'),
        (EITHER, b'["a","a'),
        (EITHER, b"[{},"),
        (EITHER, b'[{"a":1},{"a":1'),
    ]
    v = vocab_of(family)
    ids = np.arange(v.model_vocab_size)
    for schema, prefix in cases:
        m = Matcher(Grammar.from_json_schema(schema), v)
        assert m.commit_bytes(prefix), prefix
        bits = bits_of(m, m.compiled.mask_words)
        brute = np.zeros_like(bits)
        brute[ids] = [m.is_allowed(int(t)) for t in ids]
        diff = np.flatnonzero(bits != brute)
        assert not len(diff), (prefix, [(int(t), v.token_bytes(int(t))) for t in diff[:8]])


# pairs whose equality jsonschema decides on Python's json.loads (1 == 1.0, an int against
# the double a non-integer literal rounds to, inf, -0, key order, escapes, true != 1)
PAIRS = [
    ("1", "1.0"),
    ("1", "1e0"),
    ("1", "10E-1"),
    ("1", "0.1e1"),
    ("0", "-0"),
    ("0", "-0.0e5"),
    ("1e400", "2e400"),
    ("-1e400", "1e400"),
    ("9007199254740993", "9007199254740993.0"),  # the double is 9007199254740992
    ("9007199254740992", "9007199254740993.0"),
    ("10000000000000000000000", "1e22"),
    ("10000000000000000000001", "1e22"),
    ("0.1", "0.10000000000000001"),
    ("0.1", "0.2"),
    ("true", "1"),
    ("false", "0"),
    ("null", "false"),
    ('"a"', '"\\u0061"'),
    ('"\\ud83d\\ude00"', '"\U0001f600"'),
    ("[1,2]", "[2,1]"),
    ("[]", "{}"),
    ('{"a":[]}', '{"a":{}}'),
    ('{"a":1,"b":[1,{"c":2}]}', '{"b":[1.0,{"c":2e0}],"a":1}'),
    ('{"a":1}', '{"a":1,"b":1}'),
]


@pytest.mark.parametrize("one, two", PAIRS)
def test_equality_is_jsonschemas(one, two):
    v = Vocabulary.from_bytes(TOKENS, eos_ids=[len(TOKENS) - 1])
    schema = {"type": "array", "items": {"type": "object"}, "uniqueItems": True}
    m = Matcher(Grammar.from_json_schema(schema), v)
    for sep in ("", " "):
        text = f'[{{"k":{one}}},{sep}{{"k" :{two} }}]'
        want = jsonschema.Draft202012Validator(schema).is_valid(json.loads(text))
        m.reset()
        assert (m.commit_bytes(text.encode()) and m.is_accepting()) is want, text
    lists = {"type": "array", "items": {"type": "array"}, "uniqueItems": True}
    m = Matcher(Grammar.from_json_schema(lists), v)
    text = f"[[{one}],[{two}]]"
    want = jsonschema.Draft202012Validator(lists).is_valid(json.loads(text))
    assert (m.commit_bytes(text.encode()) and m.is_accepting()) is want, text


@pytest.mark.parametrize(
    "schema, instances",
    [
        (
            OBJECTS,
            [
                [{"a": 1}, {"a": 2}],
                [{"a": 1}, {"a": 1}],
                [{"a": 1, "b": 2}, {"b": 2, "a": 1.0}],
                [{}, {"a": {}}, {"a": []}],
                [{"a": [1, {"b": None}]}, {"a": [1, {"b": False}]}, {"a": [1, {"b": None}]}],
                [{"x": "é"}, {"x": "e"}, {"x": "é"}],
            ],
        ),
        (
            NUMBER_LISTS,
            [[[1], [2], [1, 2]], [[1, 2], [1, 2.0]], [[], [0], [-0.0]], [[0.5], [0.25]]],
        ),
        (
            NESTED,
            [
                [[{"a": 1}], [{"a": 1}, {"a": 2}]],
                [[{"a": 1}], [{"a": 1}]],
                [[{"a": 1}, {"a": 1}]],
                [[], [{}], [{}, {"a": 1.0}], [{"a": 1}, {}]],
                [[{"a": 1}, {}], [{}, {"a": 1.0}]],
            ],
        ),
        (EITHER, [["a", "a"], ["a", "b"], [{}, {}], [{}, {"a": 1}], ["x", {}]]),
        (
            {"type": "array", "items": {"$ref": "#"}, "uniqueItems": True},
            [
                [[], [[]], []],
                [[[]], [[], [[]]]],
                [[[], []]],
                [[[[]]], [[[]]]],
                [[[[]]], [[], [[]]]],
            ],
        ),
    ],
)
def test_teacher_forced_against_jsonschema(schema, instances):
    v = Vocabulary.from_bytes(TOKENS, eos_ids=[len(TOKENS) - 1])
    m = Matcher(Grammar.from_json_schema(schema), v)
    val = jsonschema.Draft202012Validator(schema)
    verdicts = set()
    for x in instances:
        for kw in ({}, {"separators": (",", ":")}, {"ensure_ascii": True}):
            text = json.dumps(x, **kw).encode()
            m.reset()
            got = m.commit_bytes(text) and m.is_accepting()
            assert got == val.is_valid(x), text
            verdicts.add(got)
    assert verdicts == {True, False}


# a vocabulary with tokens that open and close whole items, to walk through every path
WALK_TOKENS = TOKENS[:-1] + [
    b"},{",
    b"}]",
    b"{}",
    b"[]",
    b"],[",
    b"}}",
    b"},",
    b'{"a":1}',
    b'{"a":1},{"a":1}',
    b"1}",
    b"0]",
    b"[1]",
    b"[0],[0]",
    b'":1}',
    b"",
]
WALK_EOS = len(WALK_TOKENS) - 1


def _walk(m, rng, buf, steps=3000) -> bytes:
    """A random walk of the mask to the end: EOS exactly when accepting, never a state with
    nothing allowed (a dead end), every drawn token commits. Half the time it draws among
    the tokens that close a string or a bracket, so that walks finish."""
    m.reset()
    out: list[bytes] = []
    for _ in range(steps):
        m.compute_mask(buf)
        bits = np.unpackbits(buf.view(np.uint8), bitorder="little")[: len(WALK_TOKENS)]
        allowed = np.flatnonzero(bits).tolist()
        acc = m.is_accepting()
        assert (WALK_EOS in allowed) == acc
        cands = [t for t in allowed if t != WALK_EOS]
        if acc and (not cands or rng.random() < 0.3):
            return b"".join(out)
        assert cands, f"dead end after {b''.join(out)!r}"
        closing = [t for t in cands if any(c in WALK_TOKENS[t] for c in b'"]}')]
        t = rng.choice(closing if closing and rng.random() < 0.5 else cands)
        assert m.commit(t), WALK_TOKENS[t]
        out.append(WALK_TOKENS[t])
    raise AssertionError(f"no end after {steps} tokens: {b''.join(out)[:200]!r}")


@pytest.mark.parametrize(
    "items, extra",
    [
        ({"type": "object"}, {"minItems": 3}),
        # few values per key: items collide often, and must take another key to differ
        (
            {
                "type": "object",
                "properties": {"a": {"enum": [1, 2]}},
                "required": ["a"],
                "additionalProperties": {"type": "boolean"},
            },
            {"minItems": 4},
        ),
        (
            {"type": "object", "properties": {"a": {"type": "null"}}, "minProperties": 1},
            {"minItems": 3},
        ),
        ({"type": "array", "items": {"type": "integer"}}, {"minItems": 3}),
        ({"type": "array", "items": {"type": "boolean"}}, {"minItems": 4, "maxItems": 6}),
        ({"type": ["array", "object"]}, {"minItems": 2}),
        ({"type": "array", "items": {"type": "object"}}, {"minItems": 2}),
        (OBJECTS, {"minItems": 2}),  # unique at both levels
        ({"$ref": "#"}, {}),  # lists of lists of lists ..., unique at every level
        # operands that ignore an added key: the item can still take one more
        (
            {
                "type": "object",
                "additionalProperties": {"type": "integer"},
                "anyOf": [{"required": ["a"]}, {"required": ["b"]}],
            },
            {"minItems": 3},
        ),
        (
            {
                "type": "object",
                "additionalProperties": {"type": "boolean"},
                "properties": {"a": {"enum": [1, 2]}},
                "required": ["a"],
                "oneOf": [
                    {"properties": {"a": {"const": 1}}, "required": ["b"]},
                    {"properties": {"a": {"const": 2}}},
                ],
            },
            {"minItems": 3},
        ),
        (
            {
                "type": "object",
                "additionalProperties": {"type": "boolean"},
                "if": {"properties": {"t": {"const": True}}, "required": ["t"]},
                "then": {"required": ["x"]},
                "else": {"not": {"required": ["x"]}},
            },
            {"minItems": 3},
        ),
    ],
)
def test_random_walks_are_valid_and_never_stuck(items, extra):
    schema = {"type": "array", "items": items, "uniqueItems": True, **extra}
    m = Matcher(
        Grammar.from_json_schema(schema), Vocabulary.from_bytes(WALK_TOKENS, eos_ids=[WALK_EOS])
    )
    val = jsonschema.Draft202012Validator(schema)
    buf = np.zeros((len(WALK_TOKENS) + 31) // 32, dtype=np.int32)
    rng = random.Random(len(json.dumps(schema)))
    got = []
    for _ in range(40):
        data = _walk(m, rng, buf)
        x = json.loads(data.decode())
        assert val.is_valid(x), data
        got.append(x)
    assert any(len(x) >= 2 for x in got)


@pytest.mark.parametrize(
    "items, why",
    [
        ({"type": "object", "additionalProperties": False}, "(additionalProperties) leaves no"),
        ({"type": "object", "maxProperties": 3}, "has maxProperties"),
        ({"type": "object", "propertyNames": {"maxLength": 2}}, "has propertyNames"),
        ({"type": "object", "patternProperties": {"^x": {}}}, "has patternProperties"),
        (
            {"type": "object", "additionalProperties": {"type": "string", "maxLength": 0}},
            "(additionalProperties) leaves no",
        ),
        (
            {"type": "object", "anyOf": [{"required": ["a"]}, {"additionalProperties": False}]},
            "has anyOf",
        ),
        ({"type": "object", "oneOf": [{"minProperties": 2}, {"required": ["a"]}]}, "has oneOf"),
        ({"type": "object", "not": {"maxProperties": 3}}, "has not"),
        ({"type": "object", "maxProperties": 0}, "has maxProperties"),
        ({"type": "array", "maxItems": 0}, "has maxItems"),
        (
            {
                "type": "object",
                "allOf": [
                    {"additionalProperties": {"type": "string"}},
                    {"additionalProperties": {"type": "integer"}},
                ],
            },
            "leaves no value for an extra key",
        ),
        ({"type": "array", "maxItems": 2}, "has maxItems"),
        ({"type": "array", "prefixItems": [{"type": "integer"}]}, "has prefixItems"),
        ({"type": "array", "items": {"type": "string", "minLength": 3}}, "has items"),
        ({"type": "array", "items": {"type": "integer"}, "uniqueItems": True}, "has uniqueItems"),
        (
            {"type": "array", "items": {"type": "object", "maxProperties": 1}, "uniqueItems": True},
            "has uniqueItems",
        ),
        ({"type": "number"}, "over number items"),
        ({"type": ["object", "string"]}, "not supported"),
    ],
)
def test_what_is_refused_names_uniqueItems_and_why(items, why):
    with pytest.raises(SchemaError) as e:
        compile_json_schema({"type": "array", "items": items, "uniqueItems": True})
    assert e.value.keyword == "uniqueItems" and why in str(e.value), str(e.value)
    assert e.value.path == "" or e.value.path == "/"


def test_strict_objects_are_refused():
    with pytest.raises(SchemaError) as e:
        compile_json_schema(OBJECTS, strict_objects=True)
    assert e.value.keyword == "uniqueItems" and "strict" in str(e.value)


def test_rollback_and_fork_keep_the_items():
    v = vocab_of("llama3")
    close = _ids(v)[b"}"]
    m = Matcher(Grammar.from_json_schema(OBJECTS), v)
    assert m.commit_bytes(b'[{"a":1}')
    assert m.commit_bytes(b',{"a":1') and not m.is_allowed(close)
    m.rollback(1)  # back to '[{"a":1}'
    assert m.commit_bytes(b',{"a":2') and m.is_allowed(close)
    m.rollback(2)  # the start: no item any more
    assert m.commit_bytes(b'[{"a":1') and m.is_allowed(close)
    assert m.commit(close) and m.commit_bytes(b',{"a":1.0') and not m.is_allowed(close)
    f = m.fork()
    m.rollback(1)
    assert m.commit_bytes(b',{"a":1.5') and m.is_allowed(close)
    assert not f.is_allowed(close)  # the fork kept its own items
    assert f.commit_bytes(b',"b":1}]') and f.is_accepting()
    assert m.commit_bytes(b"},{}]") and m.is_accepting()


def test_random_walks_with_keys_in_any_order():
    item = {
        "type": "object",
        "properties": {"a": {"enum": [1, 2]}, "b": {"type": "boolean"}},
        "required": ["a"],
        "additionalProperties": {"type": "boolean"},
    }
    schema = {"type": "array", "items": item, "uniqueItems": True, "minItems": 4}
    g = Grammar.from_json_schema(schema, property_order="any")
    m = Matcher(g, Vocabulary.from_bytes(WALK_TOKENS, eos_ids=[WALK_EOS]))
    val = jsonschema.Draft202012Validator(schema)
    buf = np.zeros((len(WALK_TOKENS) + 31) // 32, dtype=np.int32)
    rng = random.Random(5)
    for _ in range(30):
        data = _walk(m, rng, buf)
        assert val.is_valid(json.loads(data.decode())), data


@pytest.mark.parametrize(
    "schema, prefix, token, allowed",
    [
        # no item is live yet: the plain mask, the tokens with two closing brackets by commit
        (OBJECTS, b"[", b'{"a":1},{"a":1}', False),
        (OBJECTS, b'[{"a":2},', b'{"a":1},{"a":1}', False),
        (OBJECTS, b'[{"a', b'":1}', True),
        (OBJECTS, b"[", b"{}", True),
        (NUMBER_LISTS, b"[", b"[0],[0]", False),
        (NUMBER_LISTS, b"[[1],", b"[0],[0]", False),
        (NUMBER_LISTS, b"[", b"[1]", True),
    ],
)
def test_a_token_that_closes_two_equal_items(schema, prefix, token, allowed):
    v = Vocabulary.from_bytes(WALK_TOKENS, eos_ids=[WALK_EOS])
    m = Matcher(Grammar.from_json_schema(schema), v)
    assert m.commit_bytes(prefix)
    t = WALK_TOKENS.index(token)
    assert bool(bits_of(m, m.compiled.mask_words)[t]) is allowed
    assert m.is_allowed(t) is allowed


def test_small_integer_ranges_are_a_finite_domain():
    item = {"type": "integer", "minimum": 1, "exclusiveMaximum": 5, "not": {"const": 3}}
    schema = {"type": "array", "items": item, "uniqueItems": True, "minItems": 3}
    v = Vocabulary.from_bytes(WALK_TOKENS, eos_ids=[WALK_EOS])
    m = Matcher(Grammar.from_json_schema(schema), v)
    val = jsonschema.Draft202012Validator(schema)
    for x in ([1, 2, 4], [4, 2, 1], [1, 1.0, 2], [1, 2, 3], [1, 2, 5], [2, 4], [1, 2, 4, 1]):
        m.reset()
        assert (m.commit_bytes(json.dumps(x).encode()) and m.is_accepting()) == val.is_valid(x), x
    # every walk takes all three values, never stuck after using some
    buf = np.zeros((len(WALK_TOKENS) + 31) // 32, dtype=np.int32)
    rng = random.Random(7)
    for _ in range(20):
        x = json.loads(_walk(m, rng, buf).decode())
        assert val.is_valid(x) and sorted(x) == [1, 2, 4], x
    with pytest.raises(SchemaError) as e:  # too many integers to list: refused
        compile_json_schema(
            {
                "type": "array",
                "items": {"type": "integer", "minimum": 0, "maximum": 99},
                "uniqueItems": True,
            }
        )
    assert e.value.keyword == "uniqueItems" and "over number items" in str(e.value)
