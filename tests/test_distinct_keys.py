"""Distinct object keys (decoder/grammar/json_schema/distinct_keys.py, csrc/distinct.h).

Extra keys (additionalProperties, patternProperties, unconstrained objects) are item lexemes
of their object's scope: a token that would close a key equal to an earlier one of the same
object (by decoded value) is masked, an inner object's or a sibling object's keys never
clash, the mask equals commit on every token of two real tokenizers (Llama-3, SentencePiece
Llama-2), rollback and fork keep the scopes, and random walks of the mask end in instances
that jsonschema accepts, with no repeated key and no dead end on the way.
"""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
from conftest import bits_of, vocab_of
from differential import (
    TOKENS,
    accepts,
    valid_without_duplicate_keys,
    vocab,
    walk_to_end,
)

from decoder import Grammar, Matcher, Vocabulary
from decoder.errors import SchemaError

OPEN = {"type": "object"}  # any keys, any values
AB = {"type": "object", "patternProperties": {"^[ab]+$": {"type": "integer"}}}
AB_ONLY = {**AB, "additionalProperties": False}
NESTED = {
    "type": "object",
    "properties": {"id": {"type": "integer"}},
    "additionalProperties": {
        "type": "array",
        "items": {"type": "object", "propertyNames": {"pattern": "^[ab]+$"}},
    },
}


_valid = valid_without_duplicate_keys  # the oracle


def _tokens(v):
    return {v.token_bytes(i): i for i in range(v.size)}


@pytest.mark.parametrize(
    "schema, text",
    [
        (OPEN, '{"x": 1, "x": 2}'),
        (OPEN, '{"x": 1, "y": 2}'),
        (OPEN, '{"a": 1, "\\u0061": 2}'),  # one key, two spellings
        (OPEN, '{"\\u00e9": 1, "\u00e9": 2}'),
        (OPEN, '{"\\ud83d\\ude00": 1, "\U0001f600": 2}'),  # a surrogate pair escape
        (OPEN, '{"a\\/": 1, "a/": 2}'),
        (OPEN, '{"x": {"x": 1}, "y": {"x": 2, "y": 3}}'),  # scopes nest
        (OPEN, '{"x": {"x": 1, "x": 2}}'),
        (OPEN, '{"x": {"y": 1}, "x": 2}'),  # the outer key repeats after an inner object
        (OPEN, '{"a": [{"a": 1}, {"a": 2}], "b": 2}'),  # each object its own scope
        (OPEN, '{"a": [{"a": 1}, {"a": 2}], "b": 2, "a": 3}'),
        (OPEN, '{"a": [{"a": 1, "b": [], "a": 2}]}'),
        (OPEN, '{"": 1, "": 2}'),
        (OPEN, '{"": 1, "a": 2}'),
        (AB_ONLY, '{"a": 1, "ab": 2, "b": 3}'),
        (AB_ONLY, '{"a": 1, "ab": 2, "a": 3}'),
        (AB, '{"a": 1, "x": "s", "x": 3}'),  # two regions, each its own lexeme
        (AB, '{"a": 1, "x": "s", "a": 3}'),
        (NESTED, '{"id": 1, "k": [{"a": 1}, {"a": 1, "b": 2}], "j": []}'),
        (NESTED, '{"id": 1, "k": [{"a": 1}, {"a": 1, "a": 2}]}'),
        (NESTED, '{"id": 1, "k": [], "k": []}'),
        (NESTED, '{"k": [], "id": 1}'),  # declared keys come first (schema order)
        ({"properties": {"a": {}}, "additionalProperties": True}, '{"a": 1, "a": 2}'),
        ({"properties": {"a": {}}}, '{"a": 1, "b": 2, "\\u0062": 3}'),
        (
            {"type": "array", "items": {"type": "object"}, "uniqueItems": False},
            '[{"a": 1}, {"a": 1}]',
        ),
        (
            {
                "type": "object",
                "additionalProperties": {
                    "type": "array",
                    "items": {"type": "string"},
                    "uniqueItems": True,
                },
            },
            '{"a": ["a", "b"], "b": ["a"], "c": ["b", "b"]}',
        ),
        (
            {
                "type": "object",
                "additionalProperties": {
                    "type": "array",
                    "items": {"type": "string"},
                    "uniqueItems": True,
                },
            },
            '{"a": ["a", "b"], "b": ["a"], "a": []}',  # a list's items are not keys
        ),
    ],
)
def test_teacher_forced_matches_the_oracle(schema, text):
    m = Matcher(Grammar.from_json_schema(schema), vocab())
    for t in (text, json.dumps(json.loads(text), separators=(",", ":"), ensure_ascii=False)):
        if t != text and not _valid(schema, text):
            continue  # json.loads keeps one copy of a repeated key: no compact twin
        m.reset()
        got = m.commit_bytes(t.encode()) and m.is_accepting()
        assert got == _valid(schema, t), t


@pytest.mark.parametrize(
    "prefix, token, allowed",
    [
        (b'{"ab": 1, "ab', b'"', False),  # closes "ab" again
        (b'{"ab": 1, "ab', b'":', False),  # runs past the quote
        (b'{"ab": 1, "ab', b"c", True),  # "abc" is new
        (b'{"ab": 1, "a', b'"', True),
        ('{"\u00e9": 1, "\\u00e9'.encode(), b'"', False),
        (b'{"a": {"b": 1}, "b', b'"', True),  # "b" was the inner object's
        (b'{"a": {"b": 1}, "a', b'"', False),
        (b'{"a": [{"b": 1}, {"b', b'"', True),  # a sibling object's
        (b'{"a": [{"b": 1, "b', b'"', False),
    ],
)
def test_exact_mask_at_the_closing_quote(prefix, token, allowed):
    v = vocab_of("llama3")
    m = Matcher(Grammar.from_json_schema(OPEN), v)
    assert m.commit_bytes(prefix), prefix
    tid = _tokens(v)[token]
    assert bool(bits_of(m, m.compiled.mask_words)[tid]) is allowed
    assert m.is_allowed(tid) is allowed


STATES = [
    b'{"',  # no key yet (the plain walk, tokens with three quotes checked by commit)
    b'{"a": {"',
    b'{"a": [{"b": 1}, {"',
    b'{"ab": 1, "',
    b'{"ab": 1, "a',
    b'{"ab": 1, "ab',
    b'{"ab": 1',
    b'{"ab": 1, "a": {"ab": 2, "b": 3',  # tokens like '}, "' close the inner object
    b'{"ab": 1, "a": {"ab": 2, "b": 3}',
    b'{"ab": 1, "a": [{"ab": 2}, {"',
    b'{"ab": 1, "a": [{"ab": 2}, {"ab": 3}',
    b'{"x": 1, "y": 2, "z": 3, "name": 4, "type": 5, "": 6, "\\u00e9": 7, "',
    b'{"x": 1, "y": 2, "z": 3, "name": 4, "type": 5, "": 6, "\\u00e9": 7, "na',
    b'{"x": 1, "y": ["',
    b'{"x": 1, "y": ',
]


@pytest.mark.parametrize("family", ["llama3", "llama2"])
def test_mask_equals_commit_on_every_token(family):
    """The mask's paths (inside bits cleared by the duplicate search, exits scanned without
    the item, keys and brackets inside one token) against commit_token."""
    v = vocab_of(family)
    m0 = Matcher(Grammar.from_json_schema(OPEN), v)
    ids = np.arange(v.model_vocab_size)
    for prefix in STATES:
        m = m0.fork()
        m.reset()
        assert m.commit_bytes(prefix), prefix
        bits = bits_of(m, m.compiled.mask_words)
        brute = np.zeros_like(bits)
        brute[ids] = [m.is_allowed(int(t)) for t in ids]
        diff = np.flatnonzero(bits != brute)
        assert not len(diff), [(int(t), v.token_bytes(int(t)), bool(bits[t])) for t in diff[:8]]
        # and commit agrees with the oracle: a duplicate-free prefix of some valid object
        for t in np.flatnonzero(bits[ids])[:: max(1, len(ids) // 3000)]:
            tb = v.token_bytes(int(t))
            if b'"' in tb:
                text = (prefix + tb).decode("utf-8", "replace")
                assert _prefix_keys_distinct(text), text


def test_a_token_that_closes_two_equal_keys():
    """Keys closed inside one token, with no key written before (the mask is then the plain
    one, and tokens with three quotes are checked by commit) and with one."""
    extra = [b'a":1,"a"', b'":1,"a', b'a":1,"a":', b'":1,"":', b'":1,"b":2,"a"', b'b":{"a":1},"a":']
    v = Vocabulary.from_bytes(TOKENS[:-1] + extra + [b""], eos_ids=[len(TOKENS) - 1 + len(extra)])
    ids = {b: v.size - 1 - len(extra) + k for k, b in enumerate(extra)}
    m0 = Matcher(Grammar.from_json_schema(OPEN), v)
    for prefix, want in [
        (b'{"', {b'":1,"a': True, b'":1,"":': False}),
        (b'{"a', {b'":1,"a': True, b'a":1,"a"': True, b'":1,"b":2,"a"': False}),
        (b'{"', {b'a":1,"a"': False}),
        (b'{"', {b'a":1,"a":': False, b'b":{"a":1},"a":': True}),
        (b'{"a": {"', {b'b":{"a":1},"a":': True}),
        (b'{"a":1,"', {b'b":{"a":1},"a":': False, b'":1,"":': False}),
    ]:
        m = m0.fork()
        m.reset()
        assert m.commit_bytes(prefix)
        bits = bits_of(m, m.compiled.mask_words)
        for tok, ok in want.items():
            assert bool(bits[ids[tok]]) is ok is m.is_allowed(ids[tok]), (prefix, tok)
        brute = np.array([m.is_allowed(t) for t in range(v.size)])
        assert (bits[: v.size] == brute).all(), prefix


def _prefix_keys_distinct(text: str) -> bool:
    """No object of a JSON prefix repeats a closed key (a small scanner for the tests)."""
    stack: list[set | None] = []
    i, expect_key = 0, False
    while i < len(text):
        ch = text[i]
        if ch == '"':
            j = i + 1
            while j < len(text) and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            if j >= len(text):
                return True  # an open string
            s = json.loads(text[i : j + 1])
            if expect_key and stack and stack[-1] is not None:
                if s in stack[-1]:
                    return False
                stack[-1].add(s)
            i, expect_key = j + 1, False
            continue
        if ch == "{":
            stack.append(set())
            expect_key = True
        elif ch == "[":
            stack.append(None)
        elif ch in "]}":
            stack.pop()
        elif ch == ",":
            expect_key = bool(stack) and stack[-1] is not None
        i += 1
    return True


def test_rollback_and_fork_keep_the_scopes():
    v = vocab_of("llama3")
    m = Matcher(Grammar.from_json_schema(OPEN), v)
    q = _tokens(v)[b'"']
    assert m.commit_bytes(b'{"a": {"b": 1') and m.commit_bytes(b"}")  # two steps
    assert m.commit_bytes(b', "a') and not m.is_allowed(q)
    m.rollback(1)  # after the inner object again
    assert m.commit_bytes(b', "b') and m.is_allowed(q)
    m.rollback(2)  # '{"a": {"b": 1': the inner object is open again
    assert m.commit_bytes(b', "b') and not m.is_allowed(q)
    assert m.commit_bytes(b'c": 2, "a') and m.is_allowed(q)
    f = m.fork()
    m.rollback(2)
    assert m.commit_bytes(b'}, "a') and not m.is_allowed(q)
    assert f.is_allowed(q) and f.commit_bytes(b'": 2}}') and f.is_accepting()
    assert not f.commit_bytes(b"}")
    m.reset()
    assert m.commit_bytes(b'{"a') and m.is_allowed(q)


def _walk(m, rng, buf):
    return walk_to_end(m, rng, buf, b'"]},', 0.6, 800)


@pytest.mark.parametrize(
    "schema",
    [
        AB_ONLY,
        {**AB_ONLY, "minProperties": 1},
        {"type": "object", "propertyNames": {"pattern": "^[ab]+$"}, "maxProperties": 6},
        {  # extra keys count toward minProperties now that they cannot repeat
            "type": "object",
            "propertyNames": {"pattern": "^[ab]+$"},
            "additionalProperties": {"type": "integer"},
            "minProperties": 4,
            "maxProperties": 5,
        },
        {"type": "array", "items": AB_ONLY, "minItems": 2},
        {
            "type": "object",
            "patternProperties": {"^[ab]+$": AB_ONLY},
            "additionalProperties": False,
        },
        {
            "type": "object",
            "properties": {"a": {"type": "integer"}},
            "patternProperties": {"^[ab]+$": {"type": "integer"}},
            "additionalProperties": False,
            "required": ["a"],
        },
    ],
)
def test_random_walks_are_valid_distinct_and_never_stuck(schema):
    m = Matcher(Grammar.from_json_schema(schema), vocab())
    buf = np.zeros((len(TOKENS) + 31) // 32, dtype=np.int32)
    rng = random.Random(len(json.dumps(schema)))
    keys = 0
    for _ in range(40):
        text = _walk(m, rng, buf).decode()
        assert _valid(schema, text), text
        keys += text.count('":')
    assert keys >= 40  # the walks wrote keys (short ones from two letters: collisions)


@pytest.mark.parametrize(
    "names",
    [
        {"pattern": "^[ab]$"},
        {"enum": ["b", "a", 3]},
        {"pattern": "^(a|bc){1,2}$", "not": {"const": "bcbc"}},
        {"const": "a"},
    ],
)
def test_a_few_key_names_become_declared_keys_written_once(names):
    """propertyNames of a few names (an enum, a const, a bounded pattern): each name is a
    declared key, which the object's rules write at most once; walks are valid, never
    repeat a key and never get stuck."""
    schema = {
        "type": "object",
        "propertyNames": names,
        "additionalProperties": {"type": "integer"},
        "minProperties": 1,
    }
    g = Grammar.from_json_schema(schema)
    assert all(role != 1 for _, role in g.ir.distinct)  # no key language left to check
    m = Matcher(g, vocab())
    assert not accepts(m, b'{"a":1,"a":2}')
    assert accepts(m, b'{"a":1}')
    buf = np.zeros((len(TOKENS) + 31) // 32, dtype=np.int32)
    rng = random.Random(5)
    for _ in range(20):
        text = _walk(m, rng, buf).decode()
        assert _valid(schema, text), text


def test_a_large_finite_key_language_is_refused_unless_bounded():
    """Keys of a language of about 1.1 million names (maxLength 1: every single character),
    with no maxProperties: an object could use every name and still be asked for one more
    key (a dead end), and counting them is over the object's state budget, so the schema is
    refused, naming propertyNames (never compiled with keys that may repeat; docs/limits.md).
    With a maxProperties the keys are checked and walks never get stuck."""
    schema = {
        "type": "object",
        "propertyNames": {"maxLength": 1},
        "additionalProperties": {"type": "integer"},
        "minProperties": 1,
    }
    with pytest.raises(SchemaError, match="propertyNames at /: its keys cannot be kept distinct"):
        Grammar.from_json_schema(schema)
    schema = {**schema, "maxProperties": 4}
    g = Grammar.from_json_schema(schema)
    assert any(role == 5 for _, role in g.ir.distinct)  # DISTINCT_FINITE_ITEM
    m = Matcher(g, vocab())
    assert not accepts(m, b'{"a": 1, "a": 2}')
    buf = np.zeros((len(TOKENS) + 31) // 32, dtype=np.int32)
    rng = random.Random(5)
    for _ in range(20):
        text = _walk(m, rng, buf).decode()
        assert _valid(schema, text), text


def test_grammars_without_objects_have_no_scopes():
    for schema in ({"type": "string"}, {"type": "array", "items": {"type": "integer"}}):
        assert not Grammar.from_json_schema(schema).ir.distinct
    g = Grammar.from_json_schema({"type": "object", "additionalProperties": False})
    assert not g.ir.distinct  # no extra key: nothing to check


def test_a_schema_inside_lark_keeps_its_keys_distinct():
    """%json shares the host's bracket lexemes (they open and close scopes there too)."""
    g = Grammar.from_lark('start: "{" "}" x | x\nx: "<" %json {"type": "object"} ">"\n')
    m = Matcher(g, vocab())
    for text, ok in [
        ('<{"a":1,"b":{"a":2}}>', True),
        ('<{"a":1,"a":2}>', False),
        ('{}<{"a":1,"b":2}>', True),  # the host's own braces balance
        ('{}<{"a":1,"b":{},"a":1}>', False),
    ]:
        m.reset()
        assert (m.commit_bytes(text.encode()) and m.is_accepting()) is ok, text


def _random_dfa(rng: random.Random) -> tuple:
    """A small ``dfa`` node over a..d (no quote), unreachable and dead states included."""
    n = rng.randint(1, 6)
    finals = tuple(sorted(rng.sample(range(n), rng.randint(0, n))))
    edges = []
    for _ in range(n):
        chars = sorted(rng.sample(range(ord("a"), ord("e")), rng.randint(0, 3)))
        edges.append(tuple((c, c, rng.randrange(n)) for c in chars))
    return ("dfa", n, finals, tuple(edges))


def test_structural_key_check_equals_the_automaton_check():
    """key_item reads a pattern key's automaton directly (distinct_keys.every_live_state_goes_on)
    instead of building the lexeme's DFA: the same answer as the construction, on random
    automata with unreachable, dead-end and finite parts, both answers seen."""
    from decoder.grammar.json_schema import automata
    from decoder.grammar.json_schema import distinct_keys as dk

    rng = random.Random(7)
    seen = set()
    for _ in range(3000):
        body = _random_dfa(rng)
        rx = ("cat", (("bytes", b'"'), body, ("bytes", b'"')))
        assert dk.automaton_body(rx) is body
        want = automata.infinite_from_every_state(automata.to_dfa(rx), sinks=True)
        assert dk.every_live_state_goes_on(body) == want, body
        seen.add(want)
    assert seen == {True, False}
    # a body that reads a quote, or another shape, takes the construction
    quote = ("dfa", 1, (0,), (((0x22, 0x22, 0),),))
    assert dk.automaton_body(("cat", (("bytes", b'"'), quote, ("bytes", b'"')))) is None
    assert dk.automaton_body(("cat", (("bytes", b'"'), ("bytes", b"a"), ("bytes", b'"')))) is None


def _random_dfa_with_escapes(rng: random.Random) -> tuple:
    """A small ``dfa`` node over a..d and '"' where only non-final states read the quote
    (the shape of a JSON-encoded key set: the quote only after a backslash)."""
    n = rng.randint(1, 6)
    finals = tuple(sorted(rng.sample(range(n), rng.randint(0, n))))
    alphabet = [ord("a"), ord("b"), ord("c"), ord("d"), 0x22]
    edges = []
    for q in range(n):
        chars = alphabet if q not in finals else alphabet[:-1]
        picked = sorted(rng.sample(chars, rng.randint(0, 3)))
        edges.append(tuple((c, c, rng.randrange(n)) for c in picked))
    return ("dfa", n, finals, tuple(edges))


def test_structural_key_check_reads_bodies_with_escaped_quotes():
    """Section on the tail (issue 23): an encoded key set reads '"' after a backslash, from
    non-final states only; key_item reads it structurally instead of building the lexeme's
    DFA, with the construction's answer on random automata (both answers seen). Fails on
    the base, whose automaton_body refused any body reading a quote."""
    from decoder.grammar.json_schema import automata
    from decoder.grammar.json_schema import distinct_keys as dk

    rng = random.Random(11)
    seen = set()
    quoted = 0
    for _ in range(3000):
        body = _random_dfa_with_escapes(rng)
        rx = ("cat", (("bytes", b'"'), body, ("bytes", b'"')))
        assert dk.automaton_body(rx) is body
        quoted += any(lo == 0x22 for es in body[3] for lo, _, _ in es)
        want = automata.infinite_from_every_state(automata.to_dfa(rx), sinks=True)
        assert dk.every_live_state_goes_on(body) == want, body
        seen.add(want)
    assert seen == {True, False} and quoted > 1000
    # a final state reading the quote: the closing quote and the body's edge overlap
    both = ("dfa", 2, (1,), (((0x61, 0x61, 1),), ((0x22, 0x22, 0),)))
    assert dk.automaton_body(("cat", (("bytes", b'"'), both, ("bytes", b'"')))) is None


# protobuf-style objects (strmprivacy's shape): camelCase properties and their snake_case
# aliases as literal patterns, no other keys
_ALIASES = {
    "type": "object",
    "properties": {
        "refs": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "billingId": {"type": "string"},
                    "projectId": {"type": "string"},
                    'nameWith"Quote': {"type": "integer"},
                },
                "patternProperties": {
                    "^billing_id$": {"type": "string"},
                    "^project_id$": {"type": "string"},
                    '^name_with_"quote$': {"type": "integer"},
                    "^x[a-c]+$": {"type": "boolean"},
                },
                "additionalProperties": False,
            },
        },
        "other": {
            "type": "object",
            "properties": {"clientId": {"type": "string"}},
            "patternProperties": {"^client_id$": {"type": "string"}, "^billing_id$": {}},
            "additionalProperties": False,
        },
    },
}


def test_pattern_regions_are_not_determinized_again():
    """The key regions of patternProperties are minimal DFAs already: encoding them
    (encode_chars), listing their names (finite_names) and key_item's check use them as
    they are (automata.node_of, the escaped-quote bodies) instead of running the subset
    construction on each region's node again. Fails on the base (each region's ``dfa``
    node and its quoted lexeme were determinized: 2 + 1 per region)."""
    import jsonschema

    from decoder.grammar.json_schema import automata

    built = []
    orig = automata._to_dfa

    def spy(node, budget):
        quoted = node[0] == "cat" and node[1][0] == ("bytes", b'"')  # a key lexeme
        built.append("lexeme" if quoted else node[0])
        return orig(node, budget)

    automata._to_dfa = spy
    try:
        automata._DFA_MEMO.clear()
        g = Grammar.from_json_schema(json.dumps(_ALIASES))
    finally:
        automata._to_dfa = spy = orig
    assert "dfa" not in built and "lexeme" not in built, built
    # and the memo entries are what the construction builds, state for state
    for node, budget, d in list(automata._DFA_MEMO.values()):
        if node[0] == "dfa":
            e = orig(node, budget)
            assert (e.edges, e.finals) == (d.edges, d.finals)
    m = Matcher(g, vocab_of("llama3"))
    for text, ok in (  # declared properties first, as the grammar writes them
        ('{"refs": [{"projectId": "b", "billing_id": "a", "xab": true}]}', True),
        ('{"refs": [{"nameWith\\"Quote": 4, "name_with_\\"quote": 3}]}', True),
        ('{"other": {"clientId": "c", "billing_id": [1]}}', True),
        ('{"other": {"client_id": "c"}}', True),
        ('{"refs": [{"billing_id": 1}]}', False),
        ('{"refs": [{"billing": "a"}]}', False),
        ('{"refs": [{"xd": true}]}', False),
        ('{"refs": [{"name_with_quote": 3}]}', False),
        ('{"other": {"client_id": 5}}', False),
    ):
        m.reset()
        assert (m.commit_bytes(text.encode()) and m.is_accepting()) is ok, text
        assert jsonschema.Draft7Validator(_ALIASES).is_valid(json.loads(text)) is ok, text
