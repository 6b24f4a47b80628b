"""uniqueItems, exactly (decoder/grammar/json_schema/unique_items.py, csrc/distinct.h).

String items are checked by the matcher where an item's string closes: exact masks on a real
tokenizer (a token that would close a duplicate is masked, by decoded value: "é" equals
"\\u00e9"; a token that closes two equal items is masked), the mask against commit for
every token of the vocabulary, rollback and fork. Finite item domains are a grammar over the
subsets of used values: no dead end with few values and minItems, an error when minItems
exceeds them. Both against the official Test Suite (teacher-forced) and random walks of the
mask validated by jsonschema.
"""

from __future__ import annotations

import json
import random
import warnings

import jsonschema
import numpy as np
import pytest
from conftest import bits_of, shared_path, vocab_of
from differential import TOKENS, vocab, walk_to_end

from decoder import Grammar, Matcher
from decoder.errors import SchemaError, UnsatisfiableSchemaError
from decoder.grammar.json_schema import compile_json_schema

STRINGS = {"type": "array", "items": {"type": "string"}, "uniqueItems": True}


def _tokens(v):
    return {v.token_bytes(i): i for i in range(v.size)}


def _matcher(schema, family="llama3"):
    v = vocab_of(family)
    return Matcher(Grammar.from_json_schema(schema), v), v


def _allowed(m, v, tok: bytes) -> bool:
    return bool(bits_of(m, m.compiled.mask_words)[_tokens(v)[tok]])


@pytest.mark.parametrize(
    "prefix, token, allowed",
    [
        (b'["ab","ab', b'"', False),  # closes "ab" again
        (b'["ab","ab', b'",', False),  # runs past the quote
        (b'["ab","ab', b'"]', False),
        (b'["ab","ab', b"c", True),  # "abc" is new
        (b'["ab","a', b'"', True),  # "a" is new
        (b'["ab", "ab', b'"', False),  # whitespace between items changes nothing
        ('["\u00e9","\\u00e9'.encode(), b'"', False),  # an escaped spelling of the same value
        ('["\\u00e9","\u00e9'.encode(), b'"', False),
        ('["a\U0001f600","a\\ud83d\\ude00'.encode(), b'"', False),  # a surrogate pair escape
        (b'["', b'","","', False),  # closes "" then "" again, inside one token
        (b'["a', b'","","', True),  # "a" then "": distinct
        (b'["","a', b'","","', False),  # "a" then "" (seen before)
        (b'["ab"],["ab', b'"', True),  # another list (the schema below: an array of lists)
    ],
)
def test_exact_mask_at_the_closing_quote(prefix, token, allowed):
    schema = STRINGS
    if prefix.startswith(b'["ab"],'):
        schema = {"type": "array", "items": STRINGS}
        prefix = b"[" + prefix
    m, v = _matcher(schema)
    assert m.commit_bytes(prefix), prefix
    assert _allowed(m, v, token) is allowed
    assert m.is_allowed(_tokens(v)[token]) is allowed


@pytest.mark.parametrize("family", ["llama3", "llama2"])
def test_mask_equals_commit_on_every_token(family):
    # the mask's three paths (cached inside bits cleared by the duplicate search, exits
    # scanned without the item lexeme, items closed inside a token) against commit_token
    states = [
        b'["ab","',
        b'["ab","a',
        b'["ab",',
        b'["","a',
        '["\u00e9","\\u00'.encode(),
        b'["a","b","',
        # many values sharing prefixes (the duplicate search narrows a sorted range)
        '["a","ab","abc","abd","b","ba","","x y","é","été","a\\b","'.encode(),
        '["a","ab","abc","abd","b","ba","","x y","é","été","a\\b","ab'.encode(),
    ]
    m0, v = _matcher(STRINGS, family)
    ids = np.arange(v.model_vocab_size)
    for prefix in states:
        m = m0.fork()
        m.reset()
        assert m.commit_bytes(prefix), prefix
        bits = bits_of(m, m.compiled.mask_words)
        brute = np.zeros_like(bits)
        brute[ids] = [m.is_allowed(int(t)) for t in ids]
        diff = np.flatnonzero(bits != brute)
        assert not len(diff), [(int(t), v.token_bytes(int(t)), bool(bits[t])) for t in diff[:8]]


def test_rollback_and_fork_keep_the_items():
    m, v = _matcher(STRINGS)
    q = _tokens(v)[b'"']
    assert m.commit_bytes(b'["ab"')
    assert m.commit_bytes(b',"ab')
    assert not m.is_allowed(q)
    m.rollback(1)  # back to '["ab"'
    assert m.commit_bytes(b',"ab') and not m.is_allowed(q)
    m.rollback(2)  # the start: no item is there any more
    assert m.commit_bytes(b'["ab') and m.is_allowed(q)
    assert m.commit(q)
    assert m.commit_bytes(b',"ab') and not m.is_allowed(q)
    f = m.fork()
    m.rollback(1)  # '["ab"' again
    assert m.commit_bytes(b',"abc') and m.is_allowed(q)
    assert not f.is_allowed(q)  # the fork kept its own items
    assert f.commit_bytes(b'c"]') and f.is_accepting()
    assert not m.commit_bytes(b'","abc"')  # closes "abc" then "abc" again, in one step
    assert m.commit_bytes(b'","ab"]') is False  # "abc", then "ab" (seen)
    assert m.commit_bytes(b'","a"]') and m.is_accepting()
    m.reset()
    assert m.commit_bytes(b'["ab","ab') and not m.is_allowed(q)


def test_values_equal_by_decoded_json():
    m, _ = _matcher(STRINGS)
    for text, ok in [
        ('["a","a"]', False),
        ('["\u00e9","\\u00e9"]', False),
        ('["\\u00e9","\\u00E9"]', False),
        ('["\\n","\\u000a"]', False),
        ('["\\/","/"]', False),
        ('["a","b","a"]', False),
        ('["a","b","ab"]', True),
        ('["a",["a"]]', False),  # not a string
        ("[]", True),
    ]:
        m.reset()
        assert (m.commit_bytes(text.encode()) and m.is_accepting()) is ok, text


def _suite(draft):
    path = shared_path("json-schema-test-suite", draft, "uniqueItems.json")
    return json.loads(path.read_text())


@pytest.mark.parametrize("draft", ["draft2020-12", "draft7"])
def test_test_suite_teacher_forced(draft):
    """Every group that compiles gets every verdict right; the rest are refused with a
    SchemaError naming uniqueItems."""
    v = vocab()
    cls = jsonschema.Draft202012Validator if draft == "draft2020-12" else jsonschema.Draft7Validator
    compiled = right = 0
    for group in _suite(draft):
        schema = group["schema"]
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                m = Matcher(Grammar.from_json_schema(schema), v)
        except SchemaError as e:
            assert e.keyword == "uniqueItems" or isinstance(e, UnsatisfiableSchemaError), e
            continue
        compiled += 1
        for t in group["tests"]:
            for sep in ((",", ":"), (", ", ": ")):
                text = json.dumps(t["data"], separators=sep, ensure_ascii=False).encode()
                m.reset()
                got = m.commit_bytes(text) and m.is_accepting()
                want = cls(schema).is_valid(t["data"])
                assert got == want == t["valid"], (group["description"], t["description"], text)
            right += 1
    assert compiled >= 4 and right >= 33, (compiled, right)


def _walk(m, rng, buf):
    """A random walk to the end: half the time a token that closes something (a quote, a
    bracket, a comma), so that walks finish (differential.walk_to_end asserts no dead end
    and that the mask's tokens commit)."""
    return walk_to_end(m, rng, buf, b'"],', 0.5, 600)


def _walks(schema, n, seed):
    m = Matcher(Grammar.from_json_schema(schema), vocab())
    val = jsonschema.Draft202012Validator(schema)
    buf = np.zeros((len(TOKENS) + 31) // 32, dtype=np.int32)
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        data = _walk(m, rng, buf)
        x = json.loads(data.decode())
        assert val.is_valid(x), data
        out.append(x)
    return out


@pytest.mark.parametrize(
    "items, extra",
    [
        ({"type": "string"}, {}),
        ({"type": "string", "minLength": 1}, {"minItems": 3}),
        ({"type": "string", "pattern": "^[ab]+$"}, {"minItems": 4}),  # few short values: collisions
        ({"enum": ["a", "b", "c"]}, {"minItems": 3}),  # every walk uses all three
        ({"enum": ["a", "ab", "b"]}, {"minItems": 2, "maxItems": 3}),
        ({"type": "boolean"}, {"minItems": 1}),
        ({"enum": [1, 1.0, 2, "x", None, [1], {"a": 1}]}, {}),  # 1 == 1.0: five values
    ],
)
def test_random_walks_are_valid_and_never_stuck(items, extra):
    schema = {"type": "array", "items": items, "uniqueItems": True, **extra}
    got = _walks(schema, 40, seed=len(json.dumps(schema)))
    assert len(got) >= 30
    assert any(len(x) >= 2 for x in got)


def test_enum_of_three_with_min_items_three_always_finishes():
    schema = {
        "type": "array",
        "items": {"enum": ["x", "y", "z"]},
        "uniqueItems": True,
        "minItems": 3,
    }
    got = _walks(schema, 30, seed=3)
    assert len(got) == 30 and all(sorted(x) == ["x", "y", "z"] for x in got)


def test_min_items_beyond_the_domain_is_unsatisfiable():
    with pytest.raises(UnsatisfiableSchemaError):
        compile_json_schema(
            {"type": "array", "items": {"enum": ["x", "y"]}, "uniqueItems": True, "minItems": 3}
        )
    # another type keeps the schema satisfiable: only the arrays are gone
    g = Grammar.from_json_schema(
        {
            "type": ["array", "null"],
            "items": {"type": "boolean"},
            "uniqueItems": True,
            "minItems": 3,
        }
    )
    m = Matcher(g, vocab())
    assert m.commit_bytes(b"null") and m.is_accepting()
    m.reset()
    assert not m.commit_bytes(b"[")


@pytest.mark.parametrize(
    "items, why",
    [
        ({"type": "string", "maxLength": 3, "pattern": "^[a-z]*$"}, "maxItems of at most"),
        ({"type": "string", "pattern": "^[a-z]{300}$"}, "at most 256 states"),
        ({"type": "integer"}, "over number items"),
        ({"type": "object", "additionalProperties": False}, "one more key or element"),
        ({"type": "array", "maxItems": 3}, "has maxItems"),
        ({}, "is not supported"),
        ({"enum": list(range(20))}, "grammar states"),
    ],
)
def test_what_is_refused_names_uniqueItems_and_why(items, why):
    with pytest.raises(SchemaError) as e:
        compile_json_schema({"type": "array", "items": items, "uniqueItems": True})
    assert e.value.keyword == "uniqueItems" and why in str(e.value), str(e.value)


def test_at_most_one_item_needs_nothing():
    compile_json_schema(
        {"type": "array", "items": {"type": "integer"}, "uniqueItems": True, "maxItems": 1}
    )


def test_fill_masks_on_threads_equals_one_by_one():
    # each matcher keeps its own items: a batch on several threads gives every row its own
    from decoder import fill_masks

    m0, v = _matcher(STRINGS)
    prefixes = [b'["ab","', b'["ab","ab', b'["a","b","', b'["", "', b'["x","ab', b"["] * 3
    ms = []
    for p in prefixes:
        m = m0.fork()
        m.reset()
        assert m.commit_bytes(p)
        ms.append(m)
    words = m0.compiled.mask_words
    out = np.zeros((len(ms), words), dtype=np.int32)
    fill_masks(ms, out, threads=4)
    for m, row in zip(ms, out):
        one = np.zeros(words, dtype=np.int32)
        m.compute_mask(one)
        assert (one == row).all()
    q = _tokens(v)[b'"']
    assert not (out[1][q >> 5] >> (q & 31)) & 1 and (out[4][q >> 5] >> (q & 31)) & 1
