"""Repeated keys are impossible for every key language the JSON Schema front end compiles
(issue 19): a key language of at most 64 names (a pattern's region in a closed object, a small
propertyNames) becomes declared keys, written at most once; a larger finite language where
the object could ask for a key after every name was used is counted by the object's rules
(a ',' before an extra key only while some name is fresh); what cannot be counted is refused
with a SchemaError naming the keyword. Nothing compiles with keys that may repeat
(distinct_keys.UNCHECKED stays empty).

Walks here avoid '}' while anything else is allowed, so they end only once the object can
take no more keys: they must use every name, never meet a dead end, never repeat a key, and
validate."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
from conftest import (
    assert_mask_is_brute_force,
    assert_refused_at_byte,
    vocab_of,
)
from differential import EOS, TOKENS, _mask, accepts, valid_without_duplicate_keys, vocab

from decoder import Grammar, Matcher
from decoder.errors import SchemaError
from decoder.grammar import ir
from decoder.grammar.json_schema import compile_json_schema, distinct_keys

NUL = {"type": "null"}
AH = [*"abcdefgh"] + [x + y for x in "abcdefgh" for y in "abcdefgh"]  # ^[a-h][a-h]?$: 72
IQ = [x + y for x in "ijklmnopq" for y in "ijklmnopq"]  # ^[i-q][i-q]$: 81

# a closed object with a pattern region of two names beside a declared property
SMALL_REGION = {
    "type": "object",
    "properties": {"id": NUL},
    "patternProperties": {"^(foo|bar)$": NUL},
    "additionalProperties": False,
}
# propertyNames of two names
AB = {"type": "object", "propertyNames": {"maxLength": 1, "pattern": "^[ab]$"}}
# a closed object whose only keys are a region of three names
THREE = {"type": "object", "patternProperties": {"^x[abc]$": NUL}, "additionalProperties": False}
# a region of 72 names beside a declared property: counted (no maxProperties)
COUNTED = {
    "type": "object",
    "properties": {"id": NUL},
    "patternProperties": {"^[a-h][a-h]?$": NUL},
    "additionalProperties": False,
}
# two regions, 72 and 81 names, beside two declared properties
TWO_KINDS = {
    "type": "object",
    "properties": {"id": NUL, "zz": NUL},
    "patternProperties": {"^[a-h][a-h]?$": NUL, "^[i-q][i-q]$": {"enum": [0, 1]}},
    "additionalProperties": False,
}
# some key is "0" (a __some_key__ requirement): its kind is covered by the open keys
SOME_ZERO = {"type": "object", "not": {"propertyNames": {"not": {"const": "0"}}}}


def _unchecked(schema) -> list:
    distinct_keys.UNCHECKED = []
    try:
        compile_json_schema(schema)
        return distinct_keys.UNCHECKED
    finally:
        distinct_keys.UNCHECKED = None


@pytest.mark.parametrize("schema", [SMALL_REGION, AB, THREE, COUNTED, TWO_KINDS, SOME_ZERO])
def test_no_key_language_is_left_unchecked(schema):
    assert _unchecked(schema) == []


def test_small_regions_become_declared_keys_and_large_ones_are_counted():
    roles = {r for _, r in Grammar.from_json_schema(SMALL_REGION).ir.distinct}
    assert ir.DISTINCT_FINITE_ITEM not in roles  # "bar", "foo": declared keys
    roles = {r for _, r in Grammar.from_json_schema(COUNTED).ir.distinct}
    assert ir.DISTINCT_FINITE_ITEM in roles  # 72 names, counted by the object's rules


@pytest.mark.parametrize(
    "schema, keyword",
    [
        ({"type": "object", "propertyNames": {"maxLength": 1}}, "propertyNames"),
        (
            {
                "type": "object",
                "properties": {"id": NUL},
                "patternProperties": {"^[a-z]{1,4}$": NUL},  # 475,254 names
                "additionalProperties": False,
            },
            "patternProperties",
        ),
    ],
)
def test_what_cannot_be_counted_is_refused_naming_the_keyword(schema, keyword):
    with pytest.raises(SchemaError, match="cannot be kept distinct") as e:
        Grammar.from_json_schema(schema)
    assert e.value.keyword == keyword
    # with a maxProperties the object never asks for more keys than it has names: checked
    assert _unchecked({**schema, "maxProperties": 3}) == []


@pytest.mark.parametrize("family", ["llama3", "llama2"])
@pytest.mark.parametrize(
    "schema, text, at, good",
    [
        # after "bar" only "foo" may follow (declared keys, the names' order)
        (
            SMALL_REGION,
            '{"id": null, "bar": null, "bar": null}',
            ('"bar"', 1),
            '{"bar": null, "foo": null}',
        ),
        (AB, '{"a": 1, "a": 2}', ('"a"', 1), '{"a": 1, "b": [2]}'),
        (THREE, '{"xb": null, "xb": null}', ('"xb"', 2), '{"xa": null, "xb": null, "xc": null}'),
        # a finite item: the prefix "ab" has no fresh completion
        (
            COUNTED,
            '{"id": null, "ab": null, "ab": null}',
            ('"ab"', 2),
            '{"id": null, "ab": null, "a": null}',
        ),
    ],
)
def test_a_repeat_is_refused_at_its_byte(family, schema, text, at, good):
    v = vocab_of(family)
    m = Matcher(Grammar.from_json_schema(schema), v)
    assert_refused_at_byte(m, family, text, text.rindex(at[0]) + at[1])
    m.reset()
    assert m.commit_bytes(good.encode()) and m.is_accepting(), good


def _walk_using_every_name(m, rng, buf, steps=30000) -> bytes:
    """A random walk of the mask that takes '}' only when nothing else is allowed."""
    m.reset()
    out: list[bytes] = []
    for _ in range(steps):
        allowed = _mask(m, buf)
        acc = m.is_accepting()
        assert (EOS in allowed) == acc
        cands = [int(t) for t in allowed if t != EOS]
        if acc and not cands:
            return b"".join(out)
        assert cands, f"dead end after {b''.join(out)[-200:]!r}"
        keep = [t for t in cands if b"}" not in TOKENS[t]]
        t = rng.choice(keep or cands)
        assert m.commit(t), TOKENS[t]
        out.append(TOKENS[t])
    raise AssertionError(f"no end after {steps} tokens: {b''.join(out)[-200:]!r}")


@pytest.mark.parametrize(
    "schema, names",
    [
        # declared keys in the names' order: a walk may skip one (never write it later)
        (SMALL_REGION, []),
        ({**AB, "additionalProperties": NUL}, []),  # (any value: '}' of inner objects)
        (THREE, []),
        (COUNTED, AH),
        (TWO_KINDS, AH + IQ),
        ({**COUNTED, "patternProperties": {"^[a-h][a-h]?$": {"enum": [0, "é"]}}}, AH),
    ],
)
def test_walks_use_every_name_without_a_dead_end(schema, names):
    m = Matcher(Grammar.from_json_schema(schema), vocab())
    buf = np.zeros((len(TOKENS) + 31) // 32, dtype=np.int32)
    rng = random.Random(len(names) + len(json.dumps(schema)))
    for _ in range(3):
        text = _walk_using_every_name(m, rng, buf).decode()
        assert valid_without_duplicate_keys(schema, text), text
        assert set(names) <= set(json.loads(text)), text  # the ',' closed only once all used
        assert accepts(m, text.encode())


@pytest.mark.parametrize("family", ["llama3", "llama2"])
def test_the_comma_closes_once_every_name_is_used(family):
    """COUNTED with all 72 names written: ',' is masked and '}' allowed; with 71, a ',' is
    allowed and after it only the last name's spelling. The mask equals commit-and-roll-back
    on every token in both states (the count is the grammar's, the prefix the matcher's)."""
    v = vocab_of(family)
    m = Matcher(Grammar.from_json_schema(COUNTED), v)
    whole = json.dumps({"id": None, **{k: None for k in AH}})[:-1].encode()
    m.reset()
    assert m.commit_bytes(whole)
    allowed = assert_mask_is_brute_force(m, v, "every name used")
    assert not any(allowed[t] for t in range(v.model_vocab_size) if v.token_bytes(t)[:1] == b",")
    assert m.commit_bytes(b"}") and m.is_accepting()
    last = AH[-1]
    most = json.dumps({"id": None, **{k: None for k in AH[:-1]}})[:-1].encode()
    m.reset()
    assert m.commit_bytes(most + b', "')
    allowed = assert_mask_is_brute_force(m, v, "one name left")
    assert all(
        last.encode().startswith(v.token_bytes(t)) or last.encode() + b'"' == v.token_bytes(t)
        for t in range(v.model_vocab_size)
        if allowed[t] and v.token_bytes(t)
    )
    assert m.commit_bytes(f'{last}": null}}'.encode()) and m.is_accepting()
