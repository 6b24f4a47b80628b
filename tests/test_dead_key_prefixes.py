"""Repeated keys of a finite key language (decoder/grammar/json_schema/distinct_keys.py,
csrc/matcher_dead_keys.cc).

Keys of a language that can run out below a prefix (``propertyNames`` with ``maxLength``,
a pattern of many names, an enum of more than 64) are finite items: besides a token that
closes a used key, the mask refuses one that reaches a key prefix whose every completion
was used (with "ab" used and keys of at most two characters, the prefix "ab" itself), by
decoded value ("é" and "\\u00e9" are one key). Teacher-forced on two real tokenizers, the
mask against commit on every token, random walks that must use every name of the language
(minProperties) without a dead end, validated by jsonschema.
"""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
from conftest import (
    assert_mask_is_brute_force,
    assert_refused_at_byte,
    bits_of,
    vocab_of,
)
from differential import TOKENS, accepts, valid_without_duplicate_keys, vocab, walk_to_end

from decoder import Grammar, Matcher, Vocabulary
from decoder.errors import SchemaError
from decoder.grammar import ir

FINITE_ITEM = ir.DISTINCT_FINITE_ITEM
TWO = {
    "type": "object",
    "propertyNames": {"maxLength": 2},
    "additionalProperties": {"type": "integer"},
}
# 72 names of one or two letters a-h: the prefix "a" runs out once a, aa, ..., ah are used
AH = {"pattern": "^[a-h][a-h]?$"}
# 70 names: 68 of two ASCII letters, "é" and "ê" (the only names an escape can begin)
NAMES70 = [f"{x}{y}" for x in "pqrstuvwxyz" for y in "0123456"][:68] + ["é", "ê"]


def _roles(schema, **kw):
    return {r for _, r in Grammar.from_json_schema(schema, **kw).ir.distinct}


def test_finite_key_languages_become_finite_items_where_they_cannot_run_out():
    assert FINITE_ITEM in _roles(TWO)  # at least 2^32 names: no object runs out of them
    one = {**TWO, "propertyNames": {"maxLength": 1}}  # about 1.1 million names
    # an object may ask for a key after every name was used, and nothing counts them
    # within the object's state budget: refused, never left unchecked (limits.md)
    with pytest.raises(SchemaError, match="propertyNames at /: its keys cannot be kept distinct"):
        Grammar.from_json_schema(one)
    assert FINITE_ITEM in _roles({**one, "maxProperties": 5})  # never more keys than names
    ah = {"type": "object", "propertyNames": AH, "minProperties": 2}
    assert FINITE_ITEM in _roles(ah)  # the only keys: at most 72 of them (implied bound)
    with pytest.raises(SchemaError, match="minProperties"):  # more keys than names
        Grammar.from_json_schema({**ah, "minProperties": 73})


@pytest.mark.parametrize("family", ["llama3", "llama2"])
def test_a_repeat_is_refused_at_the_token_that_reaches_it(family):
    """`{"ab": 1, "ab": 2}` under keys of at most two characters: the token that writes the
    second key's "b" reaches a prefix whose only completion is "ab" (used)."""
    v = vocab_of(family)
    m = Matcher(Grammar.from_json_schema(TWO), v)
    for text in ('{"ab": 1, "ab": 2}', '{"ab":1,"ab":2}', '{"ab": 1, "ac": 2, "ab": 3}'):
        m.reset()
        # the byte that makes the repeated prefix "ab"
        assert_refused_at_byte(m, family, text, text.rindex('"ab"') + 2)
    assert accepts(m, b'{"ab": 1, "ba": 2, "a": 3, "": 4}')
    assert not accepts(m, b'{"ab": 1, "a\\u0062"')  # one key, two spellings


@pytest.mark.parametrize("family", ["llama3", "llama2"])
def test_mask_equals_commit_once_keys_are_used(family):
    v = vocab_of(family)
    cases = [
        (
            TWO,
            [
                b'{"ab": 1, "',
                b'{"ab": 1, "a',
                b'{"ab": 1, "ac": 2, "a',
                b'{"ab": 1',
                b'{"a": 1, "b": 2, "',
            ],
        ),
        (
            {"type": "object", "propertyNames": AH, "additionalProperties": {"type": "integer"}},
            [
                b'{"a": 1, "aa": 1, "ab": 1, "ac": 1, "ad": 1, "ae": 1, "af": 1, "ag": 1, "',
                b'{"a": 1, "aa": 1, "ab": 1, "ac": 1, "ad": 1, "ae": 1, "af": 1, "ag": 1, "ah": 1, "',
                b'{"a": 1, "aa": 1, "ab": 1, "ac": 1, "ad": 1, "ae": 1, "af": 1, "ag": 1, "ah": 1',
                b'{"a": 1, "aa": 1, "ab": 1, "ac": 1, "ad": 1, "ae": 1, "af": 1, "ag": 1, "ah": 1, "b',
            ],
        ),
        (
            {"type": "object", "propertyNames": {"enum": NAMES70}, "maxProperties": 70},
            [b'{"\\u00e9": 1, "', '{"\\u00e9": 1, "ê": 2, "'.encode(), '{"é": 1, "\\u00'.encode()],
        ),
    ]
    for schema, states in cases:
        m = Matcher(Grammar.from_json_schema(schema), v)
        for prefix in states:
            m.reset()
            assert m.commit_bytes(prefix), prefix
            assert_mask_is_brute_force(m, v, f"{family} {prefix!r}")


def _commits(m, text: bytes) -> bool:
    m.reset()
    return m.commit_bytes(text)


def test_prefixes_that_run_out_are_refused_by_commit():
    m = Matcher(Grammar.from_json_schema(TWO), vocab())
    assert accepts(m, b'{"ab": 1, "a": 2}')
    assert not _commits(m, b'{"ab": 1, "ab')  # its only completion is used
    used = b'{"a": 1, "aa": 1, "ab": 1, "ac": 1, "ad": 1, "ae": 1, "af": 1, "ag": 1, '
    ah = Matcher(Grammar.from_json_schema({"type": "object", "propertyNames": AH}), vocab())
    assert _commits(ah, used + b'"a')  # "ah" is still free
    assert not _commits(ah, used + b'"ah": 1, "a')  # every name beginning with "a" is used
    assert accepts(ah, used + b'"ah": 1, "b": 1}')
    e = Matcher(
        Grammar.from_json_schema({"type": "object", "propertyNames": {"enum": NAMES70}}), vocab()
    )
    assert _commits(e, b'{"\\u00e9": 1, "\\u00')  # "ê" is still free
    for p in ('"\\u00', '"\\u00e', '"\\u', '"\\'):  # "é" and "ê" used: no escape begins a name
        assert not _commits(e, ('{"\\u00e9": 1, "ê": 2, ' + p).encode()), p
    assert accepts(e, '{"\\u00e9": 1, "ê": 2, "p0": 3}'.encode())


@pytest.mark.parametrize(
    "schema",
    [
        {
            "type": "object",
            "propertyNames": AH,
            "minProperties": 72,
            "additionalProperties": {"type": "null"},
        },
        {"type": "object", "propertyNames": AH, "minProperties": 60, "maxProperties": 72},
        {
            "type": "object",
            "propertyNames": {"enum": NAMES70},
            "minProperties": 70,
            "additionalProperties": {"const": 0},
        },
        {
            "type": "object",
            "propertyNames": {"maxLength": 2, "pattern": "^[a-c0-9]*$"},
            "minProperties": 20,
        },
    ],
)
def test_random_walks_run_out_of_names_without_a_dead_end(schema):
    """Objects that must use (nearly) every name of their key language: random walks of the
    mask never get stuck, never repeat a key, and end in instances jsonschema accepts."""
    g = Grammar.from_json_schema(schema)
    assert FINITE_ITEM in {r for _, r in g.ir.distinct}
    m = Matcher(g, vocab())
    buf = np.zeros((len(TOKENS) + 31) // 32, dtype=np.int32)
    rng = random.Random(len(json.dumps(schema)))
    for _ in range(6):
        text = walk_to_end(m, rng, buf, b'"}', 0.3, 4000).decode()
        assert valid_without_duplicate_keys(schema, text), text
        assert len(json.loads(text)) >= schema["minProperties"]


def test_a_token_that_closes_a_key_and_begins_one_that_ran_out():
    """With no key used yet the mask is the plain one, and the tokens with two quotes or
    more are checked by commit: `":1,"ab` after `{"ab` closes "ab" and reaches "ab" again."""
    extra = [b'":1,"ab', b'":1,"a', b'":1,"ab":', b'":{"ab":1},"ab']
    v = Vocabulary.from_bytes(TOKENS[:-1] + extra + [b""], eos_ids=[len(TOKENS) - 1 + len(extra)])
    ids = {b: v.size - 1 - len(extra) + k for k, b in enumerate(extra)}
    m = Matcher(Grammar.from_json_schema({"type": "object", "propertyNames": {"maxLength": 2}}), v)
    for prefix, want in [
        (b'{"ab', {b'":1,"ab': False, b'":1,"a': True, b'":1,"ab":': False}),
        (b'{"x', {b'":{"ab":1},"ab': True}),  # the inner object's "ab" is another scope's
        (b'{"ab', {b'":{"ab":1},"ab': False}),
        (b'{"ab":1,"x', {b'":{"ab":1},"ab': False}),
    ]:
        m.reset()
        assert m.commit_bytes(prefix)
        bits = bits_of(m, m.compiled.mask_words)
        for tok, ok in want.items():
            assert bool(bits[ids[tok]]) is ok and m.is_allowed(ids[tok]) is ok, (prefix, tok)


# a key kind of two names (a pattern's region) beside open extra keys, which never run out
BESIDE_OPEN = {
    "type": "object",
    "patternProperties": {"^x[ab]$": {"type": "integer"}},
    "minProperties": 3,
}


def test_a_small_key_kind_beside_keys_that_never_run_out():
    """A kind of extra key with few names (a pattern's region of two) beside open keys: its
    names are declared keys, written at most once (as a small propertyNames)."""
    g = Grammar.from_json_schema(BESIDE_OPEN)
    assert FINITE_ITEM not in {r for _, r in g.ir.distinct}
    m = Matcher(g, vocab())
    assert not accepts(m, b'{"xa": 1, "xa": 2, "y": 3}')
    assert accepts(m, b'{"xa": 1, "xb": 2, "xa0": "s"}')  # "xa0" is an open key
    assert _commits(m, b'{"xa": 1, "xb": 2, "xa')  # it may still become "xa0"
    assert not accepts(m, b'{"xa": 1, "xb": 2, "xa": 3}')
    v = vocab_of("llama3")
    mv = Matcher(g, v)
    for prefix in (b'{"xa": 1, "xb": 2, "', b'{"xa": 1, "xb": 2, "x', b'{"xa": 1, "xb": 2, "xa'):
        mv.reset()
        assert mv.commit_bytes(prefix)
        assert_mask_is_brute_force(mv, v, repr(prefix))
    buf = np.zeros((len(TOKENS) + 31) // 32, dtype=np.int32)
    rng = random.Random(3)
    for _ in range(10):
        text = walk_to_end(m, rng, buf, b'"}', 0.4, 2000).decode()
        assert valid_without_duplicate_keys(BESIDE_OPEN, text), text


@pytest.mark.parametrize("order", ["schema", "any"])
def test_declared_keys_and_counts_beside_finite_keys(order):
    """Declared properties beside keys of at most two characters, minProperties and
    maxProperties counting both (extra keys count: they never repeat), in the schema's order
    and in any order: walks are valid, distinct and never stuck; a declared name is never an
    extra key ("id" is excluded from the key language), and a repeat is refused."""
    schema = {
        "type": "object",
        "properties": {"id": {"type": "integer"}, "ok": {"type": "boolean"}},
        "required": ["id"],
        "propertyNames": {"maxLength": 2},
        "additionalProperties": {"type": "integer"},
        "minProperties": 4,
        "maxProperties": 6,
    }
    g = Grammar.from_json_schema(schema, property_order=order)
    assert FINITE_ITEM in {r for _, r in g.ir.distinct}
    m = Matcher(g, vocab())
    assert accepts(m, b'{"id": 1, "a": 2, "b": 3, "ab": 4}')
    assert not _commits(m, b'{"id": 1, "a": 2, "b": 3, "a"')
    assert not _commits(m, b'{"id": 1, "id')  # its only completion is the declared "id"
    assert not accepts(m, b'{"id": 1, "a": 2, "b": 3}')  # minProperties
    assert not _commits(m, b'{"id": 1, "a": 2, "b": 3, "c": 4, "d": 5, "e": 6, "')  # maxProperties
    if order == "any":
        assert accepts(m, b'{"a": 2, "id": 1, "ok": true, "b": 3}')
    buf = np.zeros((len(TOKENS) + 31) // 32, dtype=np.int32)
    rng = random.Random(11)
    for _ in range(12):
        text = walk_to_end(m, rng, buf, b'"}', 0.4, 2000).decode()
        assert valid_without_duplicate_keys(schema, text), text
