"""Cold masks from the vocabulary's UTF-8 text class (issue 23, docs/optimizations.md section 15)
against brute force, on three tokenizer families: byte-level BPE (llama3), SentencePiece with
byte fallback (llama2) and Tekken (mistral-tekken).

Every state is reached fresh (a new grammar per state, so its first mask is the cold walk:
`last_mask_cold` is checked), and the whole vocabulary is checked with `is_allowed` (commit and
roll back, byte by byte through the lexer: independent of the cached walks). The states are the
ones the class walk serves — inside a key after `{"` and `, "`, inside a declared key name and
just after one, inside string values after `": "` — and its corners: a key state whose object
allows no extra keys (not class-alive: the ordinary walk), a key name with a multi-byte
character and a key with `"` and `\\` in it (tokens that differ from the class by one byte, a
class boundary inside a UTF-8 character), states inside a character, strings with a format (not class-alive) or
a bounded length (the short slice, and the ordinary walks near the bound), and whitespace-prefixed twins.
"""

from __future__ import annotations

import json

import pytest
from conftest import (
    assert_cold_mask_is_brute_force,
    assert_mask_is_brute_force,
    vocab_of,
)

from decoder import Grammar, Matcher

FAMILIES = ["llama3", "llama2", "mistral-tekken"]

OPEN = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "naïve": {"type": "integer"},
        'q"uo\\te': {"type": "boolean"},
        "n": {"type": "string"},
    },
}
CLOSED = dict(OPEN, additionalProperties=False)
FORMAT = {
    "type": "object",
    "properties": {
        "d": {"type": "string", "format": "date"},
        "s": {"type": "string", "maxLength": 5},
        "e": {"enum": ["red", "grün"]},
    },
}
BOUNDED = {
    "type": "object",
    "properties": {
        "m": {"type": "string", "maxLength": 40},
        "k": {"type": "string", "minLength": 2, "maxLength": 255},
    },
}
NESTED = {
    "type": "object",
    "properties": {
        "a": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"x": {"type": "string"}, "y": {"type": "number"}},
            },
        }
    },
}

STATES = [
    (OPEN, '{"'),  # key start: declared keys plus extra keys
    (OPEN, '{"na'),  # inside a declared key name
    (OPEN, '{"name'),  # a declared key complete (and extra keys going on)
    (OPEN, '{"na\u00ef'),  # after a multi-byte character in a key
    (OPEN, b'{"na\xc3'),  # inside a multi-byte character: not at a class boundary
    (OPEN, '{"q\\"uo'),  # after an escaped quote in a key
    (OPEN, '{"zz'),  # an extra key only
    (OPEN, '{"name": "'),  # string value after ': "'
    (OPEN, '{"name": "x\u00e9 '),  # inside a string value, after a multi-byte character
    (OPEN, '{"name": "x", "'),  # the second key position, after ', "'
    (OPEN, '{"name": "x", "n": "ab\\'),  # inside an escape
    (OPEN, '{ "'),  # whitespace-prefixed twin of the key start
    (CLOSED, '{"'),  # declared keys only: not class-alive
    (CLOSED, '{"na'),
    (FORMAT, '{"d": "'),  # a format: not class-alive
    (FORMAT, '{"s": "ab'),  # bounded length: the chain walk
    (FORMAT, '{"e": "gr'),  # an enum
    # bounded strings: the short slice (tokens of at most 16 bytes) while 16 or more characters
    # remain, from the canonical state of the repetition (its shifted twins ask it), and the
    # ordinary walks near the bound
    (BOUNDED, '{"m": "'),
    (BOUNDED, '{"m": "abcdefghij'),
    (BOUNDED, '{"m": "abcdefghijéééééklmn'),  # 19 characters, 24 bytes
    (BOUNDED, '{"m": "' + "x" * 30),
    (BOUNDED, '{"k": "a'),
    (BOUNDED, '{"k": "' + "y" * 200),
    (NESTED, '{"a": [{"'),  # a nested object's key start
    (NESTED, '{"a": [{"x": "1"}, {"x": "'),
]


@pytest.mark.parametrize("family", FAMILIES)
def test_fresh_string_and_key_states_equal_brute_force(family):
    vocab = vocab_of(family)
    for n, (schema, prefix) in enumerate(STATES):
        data = prefix if isinstance(prefix, bytes) else prefix.encode()
        # a fresh grammar (an extra property defeats the compile cache): its first mask is cold
        fresh = json.loads(json.dumps(schema))
        fresh["properties"][f"zz{n}"] = {"type": "null"}
        g = Grammar.from_json_schema(fresh, whitespace="flexible")  # the whitespace twins
        m = Matcher(g, vocab)
        assert m.commit_bytes(data), (schema, data)
        # cold, brute force; the same state again is warm and gives the same mask
        assert_cold_mask_is_brute_force(m, vocab, f"{family} {data!r}")


# Key tries wide enough that one explored set has more than 64 edge targets (the successor
# signatures of part_alive span several words), keys that share prefixes and non-ASCII keys;
# bounded strings whose full-class check fails at the bound, so that the short slice is
# answered from what that exploration reached (part_alive's memo); a pattern with a length.
WIDE_KEYS = [
    c + c.lower() + "key" for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
]
WIDE_KEYS += [
    "été",
    "über",
    "日本語",
    "naïve",
    "na",
    "nam",
    "name",
    "named",
    "names_x",
    "_u",
    "-d",
    "$ref",
]
WIDE = {"type": "object", "properties": {k: {"type": "integer"} for k in WIDE_KEYS}}
WIDE["properties"]["s"] = {"type": "string", "maxLength": 128}
WIDE["properties"]["h"] = {
    "type": "string",
    "minLength": 12,
    "maxLength": 12,
    "pattern": "[0-9a-f]+",
}
WIDE["properties"]["t"] = {"type": "string", "maxLength": 20}

WIDE_STATES = [
    (WIDE, '{"'),  # the first key position of a wide key trie
    (WIDE, '{"na'),  # inside keys sharing a prefix
    (WIDE, '{"\u00e9t'),  # inside a non-ASCII key
    (WIDE, '{"Aakey": 1, "'),  # a later key position (the same extra-key part)
    (WIDE, '{"s": "'),  # maxLength 128: the full check fails at the bound
    (WIDE, '{"s": "' + "ab" * 10),  # ... and a shifted position of it
    (WIDE, '{"t": "abc'),  # maxLength 20, 17 characters left
    (WIDE, '{"h": "'),  # 12 characters, one of them hex: not class-alive
    (WIDE, '{"h": "zzzzzzzzzz'),
]


@pytest.mark.parametrize("family", FAMILIES)
def test_fresh_wide_key_tries_and_bounded_strings_equal_brute_force(family):
    vocab = vocab_of(family)
    for n, (schema, prefix) in enumerate(WIDE_STATES):
        fresh = json.loads(json.dumps(schema))
        fresh["properties"][f"zz{n}"] = {"type": "null"}
        m = Matcher(Grammar.from_json_schema(fresh), vocab)
        assert m.commit_bytes(prefix.encode()), prefix
        bits = assert_mask_is_brute_force(m, vocab, f"{family} {prefix!r}")
        assert m.last_mask_cold, f"{prefix!r}: the first mask in this state was not cold"
        assert bits.any()
