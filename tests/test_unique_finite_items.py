"""uniqueItems over string items of a language that is finite from some state
(decoder/grammar/json_schema/unique_items.py, ``_finite_string_item``; the matcher's dead
prefixes, csrc/matcher_dead_keys.cc).

``maxLength``, a bounded pattern, a format like ``date``, or an enum of strings too large
for the grammar's subset construction: the items become finite items, so the mask refuses,
beside a token that closes a used string, one that reaches a prefix whose every completion
was used (by decoded value: "é" and "\\u00e9" are one item), and the array never asks for an
item once every string was used (its maxItems is the number of strings, which no valid
array exceeds). Teacher-forced on two real tokenizers, the mask against commit on every
token, random walks that use up every value without a dead end, validated by jsonschema.
"""

from __future__ import annotations

import json
import random

import jsonschema
import numpy as np
import pytest
from conftest import (
    assert_mask_is_brute_force,
    assert_refused_at_byte,
    bits_of,
    vocab_of,
)
from differential import TOKENS, accepts, vocab, walk_to_end

from decoder import Grammar, Matcher
from decoder.errors import SchemaError, UnsatisfiableSchemaError
from decoder.grammar import ir
from decoder.grammar.json_schema import compile_json_schema

FINITE_ITEM = ir.DISTINCT_FINITE_ITEM
ENUM20 = [f"v{i:02d}" for i in range(20)]
# 20 values: 2^20 subsets, past the grammar's subset construction (4,096 states)
E20 = {"type": "array", "items": {"enum": ENUM20}, "uniqueItems": True}
AB2 = {"type": "array", "items": {"type": "string", "pattern": "^[ab]{2}$"}, "uniqueItems": True}
TWO = {"type": "array", "items": {"type": "string", "maxLength": 2}, "uniqueItems": True}
# 18 values, two of which only an escape (or a multi-byte character) can begin
ACCENTS = {
    "type": "array",
    "items": {"enum": ["é", "ê", *(f"{x}{y}" for x in "pqrs" for y in "0123")]},
    "uniqueItems": True,
}


# 10 values: 1,024 subsets, past the subset construction's bound for strings (512 states),
# within its bound for other values (4,096)
ENUM10 = ["read", "write", "admin", "view", "edit", "share", "delete", "publish", "list", "tag"]
E10 = {"type": "array", "items": {"type": "string", "enum": ENUM10}, "uniqueItems": True}


def _roles(schema):
    return {r for _, r in Grammar.from_json_schema(schema).ir.distinct}


def _commits(m, text: bytes) -> bool:
    m.reset()
    return m.commit_bytes(text)


def test_finite_string_items_become_finite_items_and_small_enums_stay_a_grammar():
    assert FINITE_ITEM in _roles(AB2)
    assert FINITE_ITEM in _roles(TWO)  # at least 2^32 strings: no maxItems needed
    assert FINITE_ITEM in _roles(E20)
    assert FINITE_ITEM in _roles(ACCENTS)
    # three values: the grammar remembers the used ones (exact, no matcher check)
    assert FINITE_ITEM not in _roles({**E20, "items": {"enum": ["a", "b", "c"]}})
    # infinite from every state: a plain item (no prefix can run out)
    assert FINITE_ITEM not in _roles({**AB2, "items": {"type": "string", "pattern": "^[ab]+$"}})


def test_no_array_is_longer_than_the_language():
    m = Matcher(Grammar.from_json_schema(AB2), vocab())
    assert accepts(m, b'["aa", "ab", "ba", "bb"]')
    assert not _commits(m, b'["aa", "ab", "ba", "bb",')  # a fifth item cannot be distinct
    assert not _commits(m, b'["aa", "ab", "ba", "bb" ,')
    assert not _commits(m, b'["ab", "a\\u0062"')  # one value, two spellings
    m = Matcher(Grammar.from_json_schema({**E20, "maxItems": 100}), vocab())
    assert accepts(m, json.dumps(ENUM20).encode())
    assert not _commits(m, json.dumps(ENUM20).encode()[:-1] + b",")
    with pytest.raises(UnsatisfiableSchemaError):  # more items than strings: no array at all
        compile_json_schema({**AB2, "minItems": 5})
    with pytest.raises(UnsatisfiableSchemaError):
        compile_json_schema({**E20, "minItems": 21})
    # another type keeps the schema satisfiable: only the arrays are gone
    m = Matcher(
        Grammar.from_json_schema({**AB2, "type": ["array", "null"], "minItems": 5}), vocab()
    )
    assert accepts(m, b"null") and not _commits(m, b"[")


@pytest.mark.parametrize("family", ["llama3", "llama2"])
@pytest.mark.parametrize(
    "schema, text, repeat",
    [
        (TWO, '["ab", "ab"]', '"ab"'),
        (TWO, '["ab","c","ab"]', '"ab"'),
        (E20, '["v01", "v07", "v01"]', '"v01"'),
        (AB2, '["ba", "ab", "ba"]', '"ba"'),
    ],
)
def test_a_repeat_is_refused_at_the_token_that_reaches_it(family, schema, text, repeat):
    """The token holding the last character of the repeated item reaches a prefix whose only
    completion was used; every token before it is allowed and commits."""
    v = vocab_of(family)
    m = Matcher(Grammar.from_json_schema(schema), v)
    assert_refused_at_byte(m, family, text, text.rindex(repeat) + len(repeat) - 2)


@pytest.mark.parametrize("family", ["llama3", "llama2"])
def test_mask_equals_commit_once_items_are_used(family):
    v = vocab_of(family)
    used19 = json.dumps(ENUM20[:19]).encode()[:-1]
    cases = [
        (
            AB2,
            [b'["aa", "ab", "', b'["aa", "ba", "a', b'["aa", "ab", "ba", "b', b'["aa","ab","ba"'],
        ),
        (TWO, [b'["ab", "', b'["ab", "a', b'["a", "ab", "b', b'["ab"']),
        (E20, [used19 + b', "', used19 + b', "v1', used19 + b', "v', used19]),
        (
            ACCENTS,
            [b'["\\u00e9", "', '["\\u00e9", "ê", "'.encode(), '["é", "\\u00'.encode()],
        ),
    ]
    for schema, states in cases:
        m = Matcher(Grammar.from_json_schema(schema), v)
        for prefix in states:
            m.reset()
            assert m.commit_bytes(prefix), prefix
            assert_mask_is_brute_force(m, v, f"{family} {prefix!r}")


def test_prefixes_that_ran_out_are_refused_by_commit():
    m = Matcher(Grammar.from_json_schema(AB2), vocab())
    assert _commits(m, b'["aa", "a')  # "ab" is still free
    assert not _commits(m, b'["aa", "ab", "a')  # every value beginning with "a" is used
    assert _commits(m, b'["aa", "ab", "b')
    m = Matcher(Grammar.from_json_schema(E20), vocab())
    used = json.dumps([x for x in ENUM20 if x.startswith("v1")]).encode()[:-1]
    assert _commits(m, used + b', "v0')
    assert not _commits(m, used + b', "v1')  # v10..v19 are used
    e = Matcher(Grammar.from_json_schema(ACCENTS), vocab())
    assert _commits(e, b'["\\u00e9", "\\u00')  # "ê" is still free
    for p in ('"\\u00', '"\\u00e', '"\\u', '"\\', '"\xc3'):  # "é" and "ê" used
        assert not _commits(e, ('["\\u00e9", "ê", ' + p).encode("latin-1")), p
    assert accepts(e, '["\\u00e9", "ê", "p0"]'.encode())
    assert not _commits(e, '["é", "\\u00e9"'.encode())


def test_a_mid_sized_string_enum_is_a_finite_item_not_one_nonterminal_per_subset():
    """Past 512 subsets an enum of strings is a finite item checked by the matcher (a few
    rules), not the subset construction (one nonterminal per subset of used values: 1,024
    nonterminals and ~6,000 rules for 10 values; gradle-enterprise-config's 11 permissions
    were 2,048 subsets and ~190 ms of front end)."""
    g = Grammar.from_json_schema(E10)
    assert FINITE_ITEM in {r for _, r in g.ir.distinct}
    assert len(g.ir.rules) < 60, len(g.ir.rules)
    # 9 values, 512 subsets: still the grammar's subsets (no matcher check needed)
    assert FINITE_ITEM not in _roles({**E10, "items": {"enum": ENUM10[:9]}})
    # maxItems 3 of 10 values: 176 subsets, the grammar's
    assert FINITE_ITEM not in _roles({**E10, "maxItems": 3})
    # a value the finite item would refuse (over 256 characters) keeps the subsets: compiles
    long10 = {**E10, "items": {"enum": [*ENUM10[:9], "x" * 300]}}
    assert FINITE_ITEM not in _roles(long10)
    m = Matcher(Grammar.from_json_schema(long10), vocab())
    assert accepts(m, json.dumps(["x" * 300, "read"]).encode())
    assert not accepts(m, json.dumps(["read", "read"]).encode())


@pytest.mark.parametrize("family", ["llama3", "llama2"])
def test_mid_sized_enum_masks_equal_brute_force(family):
    v = vocab_of(family)
    m = Matcher(Grammar.from_json_schema({**E10, "minItems": 3}), v)
    used9 = json.dumps(ENUM10[:9]).encode()[:-1]
    for prefix in (
        b'["',
        b'["read", "',
        b'["read", "write", "',
        b'["read", "write", "e',
        used9 + b', "',
        used9 + b', "t',
        used9,
        json.dumps(ENUM10).encode()[:-1],
    ):
        m.reset()
        assert m.commit_bytes(prefix), prefix
        assert_mask_is_brute_force(m, v, f"{family} {prefix!r}")
    m.reset()
    assert not m.commit_bytes(b'["read", "write", "r')  # only "read" begins with r: used
    assert accepts(m, json.dumps(ENUM10).encode())
    # an eleventh item cannot be distinct
    assert not _commits(m, json.dumps(ENUM10).encode()[:-1] + b",")
    assert not accepts(m, b'["read", "write"]')  # minItems 3


@pytest.mark.parametrize(
    "schema, n",
    [
        ({**E10, "minItems": 10}, 10),
        ({**E10, "minItems": 5, "maxItems": 7}, 5),
        ({**E20, "minItems": 20, "maxItems": 20}, 20),
        ({**AB2, "minItems": 4}, 4),
        ({**AB2, "minItems": 2}, 2),
        ({**ACCENTS, "minItems": 18}, 18),
        (
            {
                "type": "array",
                "items": {"type": "string", "maxLength": 1, "pattern": "^[a-e]*$"},
                "uniqueItems": True,
                "minItems": 6,
            },
            6,
        ),
    ],
)
def test_random_walks_use_up_the_values_without_a_dead_end(schema, n):
    """Arrays that must use (nearly) every value: random walks of the mask never get stuck
    (walk_to_end asserts a non-empty mask before the end), and end in instances jsonschema
    accepts."""
    g = Grammar.from_json_schema(schema)
    assert FINITE_ITEM in {r for _, r in g.ir.distinct}
    m = Matcher(g, vocab())
    buf = np.zeros((len(TOKENS) + 31) // 32, dtype=np.int32)
    rng = random.Random(len(json.dumps(schema)))
    for _ in range(6):
        text = walk_to_end(m, rng, buf, b'"]', 0.3, 4000).decode()
        got = json.loads(text)
        jsonschema.validate(got, schema)
        assert len(got) >= n


@pytest.mark.parametrize(
    "items, why",
    [
        ({"type": "string", "maxLength": 3, "pattern": "^[a-z]*$"}, "maxItems of at most 18279"),
        ({"type": "string", "format": "date"}, "maxItems of at most"),
        ({"enum": [f"v{i}" for i in range(3000)]}, "maxItems of at most 3000"),
        ({"type": "string", "pattern": "^[a-z]{300}$"}, "at most 256 states"),
        ({"enum": ["x" * 300, *ENUM20]}, "longer than 256"),
        ({"enum": list(range(20))}, "grammar states"),
    ],
)
def test_what_is_refused_names_uniqueItems_and_why(items, why):
    with pytest.raises(SchemaError) as e:
        compile_json_schema({"type": "array", "items": items, "uniqueItems": True})
    assert e.value.keyword == "uniqueItems" and why in str(e.value), str(e.value)


def test_a_max_items_within_the_language_compiles():
    compile_json_schema({**E20, "items": {"enum": [f"v{i}" for i in range(3000)]}, "maxItems": 5})
    compile_json_schema(
        {
            "type": "array",
            "items": {"type": "string", "format": "date"},
            "uniqueItems": True,
            "maxItems": 10,
        }
    )


@pytest.mark.parametrize("family", ["llama3", "llama2"])
@pytest.mark.parametrize("schema", [{**AB2, "minItems": 4}, {**ACCENTS, "minItems": 18}])
def test_real_tokenizer_walks_use_up_the_values(family, schema):
    """Random walks on a real vocabulary (tokens that end an item and begin the next, or
    reach a used prefix mid-token): the mask is never empty before the end, every token
    drawn commits, and the output uses every value once."""
    v = vocab_of(family)
    m = Matcher(Grammar.from_json_schema(schema), v)
    rng = random.Random(7)
    for _ in range(3):
        m.reset()
        out = b""
        for _ in range(600):
            bits = bits_of(m, m.compiled.mask_words)[: v.size]
            allowed = [int(t) for t in np.flatnonzero(bits) if int(t) not in v.eos_ids]
            if m.is_accepting() and not allowed:
                break
            assert allowed, f"dead end after {out!r}"
            ends = [t for t in allowed if b'"' in v.token_bytes(t) or b"]" in v.token_bytes(t)]
            t = rng.choice(ends if ends and rng.random() < 0.5 else allowed)
            assert m.commit(t), (out, v.token_bytes(t))
            out += v.token_bytes(t)
            if m.is_accepting() and out.rstrip().endswith(b"]"):
                break
        got = json.loads(out)
        jsonschema.validate(got, schema)
        assert len(got) == schema["minItems"]
