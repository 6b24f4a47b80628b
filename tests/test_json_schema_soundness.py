"""Soundness at the edges of JSON Schema: type applicability under ``not``, ``oneOf`` and ``if``,
``not`` of arrays, objects, booleans and null, and patterns read the way validators read them.

Every case is teacher-forced through the real engine and compared with ``jsonschema``'s
verdict, both ways (the invalid instance rejected, its valid counterparts accepted), on a
byte-level vocabulary (always) and on Llama-3's (where ../shared is present). Then the
random-schema differential run (tests/differential.py) at a fixed seed.
"""

from __future__ import annotations

import json
import random
import re
import warnings

import differential
import jsonschema
import numpy as np
import pytest
from conftest import SHARED

from decoder import Grammar, Matcher, Vocabulary
from decoder.errors import SchemaError

BYTES = [bytes([i]) for i in range(256)] + [b""]

# (schema, instances): each instance's verdict must equal jsonschema's
DEEP = {"a": 1}
for _ in range(22):
    DEEP = {"k": DEEP, "n": [1, "x"]}
CASES = [
    ({"not": {"required": ["a"]}}, [6, "x", None, [], {}, {"a": 1}, {"b": 1}]),
    (
        {"if": {"required": ["a"]}, "then": {"type": "object"}, "else": {"type": "string"}},
        ["s", {}, {"a": 1}, 1],
    ),
    (
        {"oneOf": [{"required": ["a"]}, {"required": ["b"]}]},
        [5, "s", {"a": 1}, {"b": 1}, {"a": 1, "b": 2}, {}],
    ),
    ({"oneOf": [{"const": True}, {"type": "boolean"}]}, [True, False, 1]),
    (
        {"type": "array", "not": {"const": [1, 2]}},
        [[1, 2], [1, 2.0], [1.0, 2], [1], [2, 1], [1, 2, 3], [], [[1, 2]]],
    ),
    (
        {"type": "object", "not": {"enum": [{"a": 1}, {}]}},
        [{"a": 1}, {}, {"a": 1.0}, {"a": 2}, {"b": 1}, {"a": 1, "b": 1}],
    ),
    (
        {
            "oneOf": [
                {"not": {"required": ["a", "b", "c"]}},
                {
                    "allOf": [
                        {"not": {"required": ["a"]}},
                        {"not": {"required": ["b"]}},
                        {"not": {"required": ["c"]}},
                    ]
                },
            ]
        },
        [6, {}, {"a": 1}, {"a": 1, "b": 1, "c": 1}],
    ),
    ({"not": {"enum": [True, None]}}, [True, None, False, 1, "x"]),
    ({"not": {"const": {"a": {}}}}, [{"a": {}}, {"a": {"b": 1}}, {}, {"a": {}, "b": 1}, 1]),
    # a function-calling shape: a value valid under two oneOf branches is invalid
    (
        {
            "type": "object",
            "properties": {
                "shape": {"type": "string"},
                "dimensions": {
                    "oneOf": [
                        {
                            "type": "object",
                            "properties": {"radius": {"type": "number"}, "base": {"not": {}}},
                            "required": ["radius"],
                        },
                        {
                            "type": "object",
                            "properties": {
                                "base": {"type": "number"},
                                "height": {"type": "number"},
                            },
                        },
                        {
                            "type": "object",
                            "properties": {"length": {"type": "number"}},
                            "required": ["length"],
                        },
                    ]
                },
            },
        },
        [
            {"dimensions": {"radius": 0}, "shape": "circle"},
            {"dimensions": {"radius": 0, "dimensions": ""}, "shape": "circle"},
            {"dimensions": {"base": 1, "height": 2}},
            {"dimensions": {"length": 1}},
            {"dimensions": {"radius": 1, "length": 1}},
            {"dimensions": {"base": 1, "radius": 1}},
        ],
    ),
    # oneOf of two objects that differ by their required lists: a number holds under both
    (
        {
            "oneOf": [
                {
                    "properties": {"a": {"type": "string"}, "b": {"type": "integer"}},
                    "required": ["a"],
                },
                {
                    "properties": {"a": {"type": "string"}, "b": {"type": "integer"}},
                    "required": ["b"],
                },
            ]
        },
        [19, "x", {"a": "x"}, {"b": 1}, {"a": "x", "b": 1}],
    ),
    # recursive allOf of $refs with not over a deep const object
    (
        {
            "$defs": {"x": {"allOf": [{"$ref": "#/$defs/y"}]}, "y": {"not": {"const": DEEP}}},
            "allOf": [{"$ref": "#/$defs/x"}, {"type": "object"}],
        },
        [DEEP, {"k": DEEP, "n": [1, "x"]}, {**DEEP, "n": [1, "y"]}, {"a": 1}],
    ),
    # keywords of one type hold for the others: not, if and oneOf over each kind
    ({"not": {"minItems": 1}}, [[], [1], 1, "x"]),
    ({"not": {"maxLength": 2}}, ["abc", "ab", 1, None]),
    ({"not": {"minimum": 3}}, [2, 3, "x", [], None]),
    ({"not": {"items": {"type": "integer"}}}, [[1], [1, "x"], [], "x"]),
    ({"not": {"prefixItems": [{"type": "string"}]}}, [["x"], [1], [], 5]),
    ({"not": {"contains": {"const": 1}}}, [[1], [2], [], {}]),
    ({"not": {"dependentRequired": {"a": ["b"]}}}, [{"a": 1}, {"a": 1, "b": 1}, {}, 3]),
    ({"not": {"if": {"type": "integer"}, "then": {"minimum": 5}}}, [1, 7, "x"]),
    ({"not": {"oneOf": [{"type": "integer"}, {"minimum": 2}]}}, [1, 3, 1.5, "x"]),
    # a part with both const and enum is their intersection
    ({"enum": [[1, 2], 1.0], "const": 1}, [1, 1.0, [1, 2]]),
    ({"enum": [1, "a"], "const": "a"}, ["a", 1]),
    # a negated oneOf of more than 8 branches: none holds, or two do
    (
        {
            "not": {
                "oneOf": [{"const": i} for i in range(10)] + [{"minimum": 5}, {"type": "string"}]
            }
        },
        [0, 4, 5, 9, 10, 11, -1, "x", None, 2.5, [1]],
    ),
    # several contains: each item counts toward any subset of those it satisfies
    (
        {"type": "array", "allOf": [{"contains": {"const": 1}}, {"contains": {"const": 2}}]},
        [[], [1], [2], [1, 2], [2, 1], [1, 1, 3], [3, 2, 1]],
    ),
    (
        {
            "type": "array",
            "maxItems": 3,
            "allOf": [
                {"contains": {"type": "string"}},
                {"contains": {"minLength": 2}, "minContains": 2},
            ],
        },
        [["a"], ["ab", "cd"], ["a", "bc", "de"], ["ab", "cd", "e", "f"], ["ab", 1, "cd"], [1, 2]],
    ),
    (
        {
            "type": "array",
            "prefixItems": [{"type": "integer"}],
            "allOf": [
                {"contains": {"type": "integer", "minimum": 5}},
                {"contains": {"type": "boolean"}},
                {"contains": {"type": "null"}},
            ],
        },
        [[5, True, None], [True, 5, None], [1, None, 6, False], [6, None], [None, True, 9]],
    ),
    # not over items writes a contains beside the schema's own
    (
        {"type": "array", "contains": {"type": "integer"}, "not": {"items": {"type": "integer"}}},
        [[1], [1, "x"], ["x"], [], ["x", 2, None]],
    ),
    # oneOf branches told apart by a property the schema around them requires (the
    # discriminator's values in the branches, `required` beside the oneOf or behind a $ref):
    # disjoint, compiled as anyOf; overlapping values or no `type: object` are not
    (
        {
            "type": "object",
            "required": ["kind"],
            "oneOf": [
                {"properties": {"kind": {"const": "a"}, "x": {"type": "integer"}}},
                {"properties": {"kind": {"enum": ["b"]}, "x": {"type": "string"}}},
            ],
        },
        [{"kind": "a", "x": 1}, {"kind": "b", "x": "s"}, {"kind": "a", "x": "s"}, {"kind": "c"}]
        + [{}, {"x": 1}, {"kind": "b"}, 5],
    ),
    (
        {
            "type": "object",
            "required": ["kind"],
            "oneOf": [
                {"properties": {"kind": {"enum": ["a", "b"]}}},
                {"properties": {"kind": {"enum": ["b", "c"]}}},
            ],
        },
        [{"kind": "a"}, {"kind": "b"}, {"kind": "c"}, {"kind": "d"}, {}],
    ),
    (
        {
            "required": ["kind"],
            "oneOf": [
                {"properties": {"kind": {"const": "a"}}},
                {"properties": {"kind": {"const": "b"}}},
            ],
        },
        [{"kind": "a"}, {"kind": "b"}, {"kind": "c"}, {}, 5, "s", None],
    ),
    (
        {
            "$defs": {"base": {"type": "object", "required": ["kind", "v"]}},
            "allOf": [{"$ref": "#/$defs/base"}],
            "oneOf": [
                {"properties": {"kind": {"const": 1}, "v": {"type": "integer"}}},
                {"properties": {"kind": {"const": 2}, "v": {"minimum": 5}}},
            ],
        },
        [{"kind": 1, "v": 7}, {"kind": 2, "v": 7}, {"kind": 2, "v": 1}, {"kind": 1, "v": 7.5}]
        + [{"kind": 1.0, "v": 7}, {"kind": 3, "v": 7}, {"v": 7}],
    ),
    # a branch whose own oneOf/anyOf branches all require `type` (with string values) and a
    # branch whose extra keys may only be false: disjoint; not where one inner branch does
    # not require it, or the other branch lets `type` be anything
    (
        {
            "$defs": {
                "repo": {
                    "type": "object",
                    "oneOf": [
                        {"required": ["type"], "properties": {"type": {"enum": ["git", "hg"]}}},
                        {"required": ["type", "url"], "properties": {"type": {"const": "path"}}},
                    ],
                }
            },
            "oneOf": [
                {"$ref": "#/$defs/repo"},
                {"type": "object", "additionalProperties": {"const": False}, "maxProperties": 1},
            ],
        },
        [{"type": "git"}, {"type": "path", "url": 1}, {"type": "path"}, {"x": False}, {}]
        + [{"type": False}, {"type": "hg", "x": False}, {"y": True}],
    ),
    (
        {
            "oneOf": [
                {
                    "type": "object",
                    "anyOf": [{"required": ["type"], "properties": {"type": {"const": "a"}}}, {}],
                },
                {"type": "object", "additionalProperties": {"const": False}},
            ],
        },
        [{"type": "a"}, {"x": False}, {}, {"type": False}, {"x": 1}],
    ),
    (
        {
            "oneOf": [
                {"type": "object", "required": ["t"], "properties": {"t": {"const": "a"}}},
                {"type": "object", "properties": {"t": {}}, "additionalProperties": False},
                {"type": "object", "properties": {"t": False}},
            ],
        },
        [{"t": "a"}, {"t": "b"}, {}, {"u": 1}, {"t": "a", "u": 1}],
    ),
]

# patterns are ECMA-262, but jsonschema runs them with Python's re
PATTERN_CASES = [
    ({"type": "string", "pattern": "^\\S+$"}, ["ab", "a\x1eb", "a\x85", "a\ufeff", "a b"]),
    ({"type": "string", "pattern": "^[^\\s]+$"}, ["ab", "a\x1cb", "a\u3000"]),
    ({"type": "string", "pattern": "^\\s$"}, [" ", "\ufeff", "\x1f", "\u00a0"]),
    ({"type": "string", "pattern": "^\\D+$"}, ["ab", "a\u0663", "a1"]),
    ({"type": "string", "pattern": "^[^\\w]+$"}, ["-", "\u00e9", "a"]),
    ({"type": "string", "pattern": "^\\d+$"}, ["12", "\u0663"]),
]


def _vocab_bytes():
    return Vocabulary.from_bytes(BYTES, eos_ids=[len(BYTES) - 1])


_VOCABS: dict = {}


def _vocab(kind):
    if kind not in _VOCABS:
        if kind == "bytes":
            _VOCABS[kind] = (_vocab_bytes(), None)
        else:
            if not (SHARED / "tokenizers" / "llama3").exists():
                pytest.skip("../shared/tokenizers/llama3 is absent")
            from conftest import load_tokenizer

            _VOCABS[kind] = (
                Vocabulary.from_path(SHARED / "tokenizers" / "llama3"),
                load_tokenizer("llama3"),
            )
    return _VOCABS[kind]


def _teacher_force(m: Matcher, vocab: Vocabulary, ids: list[int]) -> bool:
    words = (int(vocab.model_vocab_size) + 31) // 32
    buf = np.zeros(words, dtype=np.int32)
    m.reset()
    for t in ids:
        m.compute_mask(buf)
        if not (int(buf[t >> 5]) >> (t & 31)) & 1:
            return False
        assert m.commit(t)
    m.compute_mask(buf)
    eos = int(vocab.eos_ids[0])
    allowed = bool((int(buf[eos >> 5]) >> (eos & 31)) & 1)
    assert allowed == m.is_accepting()
    return allowed


def _both_separators(x) -> list[str]:
    return [json.dumps(x, separators=sep, ensure_ascii=False) for sep in ((",", ":"), (", ", ": "))]


def ascii_and_not(x) -> list[str]:
    return [json.dumps(x, ensure_ascii=a) for a in (False, True)]


def check_verdicts(schema, instances, kind, spellings=_both_separators, format_checker=None):
    """Every instance, written each way ``spellings`` gives, teacher-forced through the mask
    (a ``kind`` vocabulary: "bytes" or "llama3"): accepted exactly when jsonschema says valid."""
    vocab, tok = _vocab(kind)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m = Matcher(Grammar.from_json_schema(schema), vocab)
    v = jsonschema.Draft202012Validator(schema, format_checker=format_checker)
    wrong = []
    for x in instances:
        for text in spellings(x):
            ids = list(text.encode()) if tok is None else tok.encode(text, add_special_tokens=False)
            got, want = _teacher_force(m, vocab, ids), v.is_valid(x)
            if got != want:
                wrong.append(
                    f"{text}: engine {'accepts' if got else 'rejects'}, "
                    f"jsonschema {'accepts' if want else 'rejects'}"
                )
    assert not wrong, f"{json.dumps(schema)[:300]}:\n" + "\n".join(wrong)


@pytest.mark.parametrize("kind", ["bytes", "llama3"])
@pytest.mark.parametrize("case", range(len(CASES)))
def test_exact_verdicts(case, kind):
    check_verdicts(*CASES[case], kind)


@pytest.mark.parametrize("case", range(len(PATTERN_CASES)))
def test_pattern_classes_are_read_as_every_validator_reads_them(case):
    """\\S, [^\\s], \\D, [^\\w] accept only what both ECMA-262 and Python's re accept; a
    valid instance under both readings is still accepted."""
    schema, instances = PATTERN_CASES[case]
    import re

    vocab, _ = _vocab("bytes")
    m = Matcher(Grammar.from_json_schema(schema), vocab)
    for x in instances:
        text = json.dumps(x, ensure_ascii=False)
        got = _teacher_force(m, vocab, list(text.encode()))
        py = re.search(schema["pattern"], x) is not None
        if got:
            assert py, f"{schema['pattern']!r} accepts {x!r}, which Python's re rejects"
    # the plain ASCII instance is accepted
    text = json.dumps(instances[0])
    assert _teacher_force(m, vocab, list(text.encode()))


def test_draft4_integer_enum_has_no_fraction():
    """Up to draft-04, 1.0 is not an integer: an integer enum allows "1", not "1.0"."""
    schema = {
        "$schema": "http://json-schema.org/draft-04/schema#",
        "type": "integer",
        "enum": [0, 1, 2],
    }
    vocab, _ = _vocab("bytes")
    m = Matcher(Grammar.from_json_schema(schema), vocab)
    assert _teacher_force(m, vocab, list(b"1"))
    assert not _teacher_force(m, vocab, list(b"1.0"))
    later = dict(schema, **{"$schema": "http://json-schema.org/draft-07/schema#"})
    m = Matcher(Grammar.from_json_schema(later), vocab)
    assert _teacher_force(m, vocab, list(b"1.0"))
    # a draft-04 part embedded in a 2020-12 document is read as draft-04 by validators
    embedded = {
        "$defs": {"n": {"$schema": "http://json-schema.org/draft-04/schema#", "type": "integer"}},
        "properties": {"a": {"$ref": "#/$defs/n"}},
    }
    m = Matcher(Grammar.from_json_schema(embedded), vocab)
    assert _teacher_force(m, vocab, list(b'{"a":1}'))
    assert not _teacher_force(m, vocab, list(b'{"a":1.0}'))
    assert not jsonschema.Draft202012Validator(embedded).is_valid({"a": 1.0})


def test_differential_random_schemas():
    """Random schemas over the whole keyword set, random walks of the mask and random
    instances checked against jsonschema: nothing invalid gets through (fixed seed)."""
    rep = differential.run(2500, seed=20261205, time_limit=120)
    c = rep.counts
    assert c["schemas"] >= 500, f"too few schemas in the time limit: {dict(c)}"
    assert c["compiled"] > c["schemas"] // 3, f"most random schemas are refused: {dict(c)}"
    assert c["walks"] > c["compiled"], f"walks did not finish: {dict(c)}"
    assert not rep.failures, "\n".join(rep.failures)


def test_differential_tagged_one_of():
    """oneOf branches told apart, or not, by one property's values (required beside the oneOf,
    in an allOf, in the branches or in their own oneOf/anyOf; restricted by properties,
    enum, const, false or additionalProperties): the disjointness shortcut never lets a value
    meeting two branches through (300 documents, fixed seed)."""
    rep = differential.run(300, seed=20261207, generator=differential.random_tagged_document)
    c = rep.counts
    assert c["compiled"] > 200 and c["walks"] > c["compiled"], dict(c)
    assert not rep.failures, "\n".join(rep.failures)


def test_differential_tagged_one_of_finds_a_planted_bug(monkeypatch):
    """The tagged run can fail: a shortcut that takes any property with finite values as a
    discriminator, required or not, calls overlapping branches disjoint."""
    from decoder.grammar.json_schema import compiler

    def optional_too(self, other):
        names = set(self.required) | {n for finite, _, _ in self.allows for n in finite}
        return any(
            a is not None and b is not None and not (a & b)
            for a, b in ((self.allowed(n), other.allowed(n)) for n in names)
        )

    monkeypatch.setattr(compiler._Signature, "excludes", optional_too)
    rep = differential.run(60, seed=20261207, generator=differential.random_tagged_document)
    assert rep.counts["UNSOUND"] > 0, dict(rep.counts)


def test_differential_generator_finds_a_planted_bug(monkeypatch):
    """The differential run can fail: with the old negation of ``required`` (which let
    non-objects through) planted back, it reports unsound outputs."""
    from decoder.grammar.json_schema import compiler

    real = compiler.Compiler._negate

    def old_negate(self, node, base, path, depth):
        r = real(self, node, base, path, depth)
        if isinstance(node, dict) and node.get("required"):
            return self.synth({"anyOf": [r, self.synth({"type": ["null", "integer"]})]})
        return r

    monkeypatch.setattr(compiler.Compiler, "_negate", old_negate)
    rep = differential.Report()
    rng = random.Random(0)
    differential.check_schema({"not": {"required": ["a"]}}, rng, rep, walks=20)
    assert rep.counts["UNSOUND"], dict(rep.counts)


def test_endless_ref_recursion_in_enum_filtering_is_an_error_not_a_crash():
    """Enum values are filtered with jsonschema when other keywords apply; on a $ref cycle
    that consumes nothing jsonschema recurses for ever. Under the front end's raised
    recursion limit that overflowed the C stack (a segfault); now it is a SchemaError.
    Run in a child process, so that a regression fails this test instead of the run."""
    import subprocess
    import sys
    import textwrap

    code = textwrap.dedent("""
        from decoder import Grammar
        from decoder.errors import SchemaError
        s = {"$defs": {"d": {"anyOf": [{"$ref": "#/$defs/d"}, {"type": "number"}]}},
             "allOf": [{"$ref": "#/$defs/d"}], "enum": [1, 2], "minimum": 0}
        try:
            Grammar.from_json_schema(s)
        except SchemaError as e:
            print("SchemaError", e.keyword)
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, f"exit {r.returncode}: {r.stderr[-2000:]}"
    assert r.stdout.strip() == "SchemaError enum", r.stdout


ESCAPE_CASES = [
    ({"type": "string"}, ["é", "naïve café", "😀", "日本語", "a\u2028b"]),
    ({"type": "string", "maxLength": 1}, ["é", "😀", "éé", "😀😀", "", "e"]),
    ({"type": "string", "minLength": 2, "maxLength": 2}, ["é😀", "😀", "ééé", "ab"]),
    ({"type": "string", "pattern": "^[à-ÿ]+$"}, ["éè", "é1", "E", "ÿ"]),
    ({"enum": ["é", "😀", "x"]}, ["é", "😀", "x", "ê", "😁"]),
    ({"const": "naïve"}, ["naïve", "naive", "naïvé"]),
    (
        {"type": "object", "properties": {"é": {"type": "integer"}}, "additionalProperties": False},
        [{"é": 1}, {"é": "x"}, {"ê": 1}, {}],
    ),
    (
        {
            "type": "object",
            "properties": {"é": {"type": "integer"}},
            "additionalProperties": {"type": "string"},
        },
        [{"é": 1}, {"é": "x"}, {"ê": "y"}, {"ê": 1}, {"😀": "z"}],
    ),
]


@pytest.mark.parametrize("kind", ["bytes", "llama3"])
@pytest.mark.parametrize("case", range(len(ESCAPE_CASES)))
def test_unicode_escapes_are_read_as_the_characters(case, kind):
    """What json.dumps writes by default (ensure_ascii=True: "\\u00e9", surrogate pairs for
    characters above U+FFFF, either case of hex digit) is one code point of the decoded
    string: lengths, patterns, enums, const and keys see the character, and every verdict
    equals jsonschema's, whichever way the instance is written."""
    schema, instances = ESCAPE_CASES[case]
    vocab, tok = _vocab(kind)
    m = Matcher(Grammar.from_json_schema(schema), vocab)
    v = jsonschema.Draft202012Validator(schema)
    wrong = []
    for x in instances:
        ascii_text = json.dumps(x)
        upper_hex = re.sub(r"\\u([0-9a-f]{4})", lambda g: "\\u" + g.group(1).upper(), ascii_text)
        texts = {ascii_text, upper_hex, json.dumps(x, ensure_ascii=False)}
        for text in texts:
            assert json.loads(text) == x
            ids = list(text.encode()) if tok is None else tok.encode(text, add_special_tokens=False)
            got, want = _teacher_force(m, vocab, ids), v.is_valid(x)
            if got != want:
                wrong.append(
                    f"{text}: engine {'accepts' if got else 'rejects'}, jsonschema "
                    f"{'accepts' if want else 'rejects'}"
                )
    assert not wrong, f"{json.dumps(schema)}:\n" + "\n".join(wrong)


def test_several_contains_with_a_max_are_refused_by_name():
    with pytest.raises(SchemaError) as e:
        Grammar.from_json_schema(
            {"allOf": [{"contains": {"const": 1}, "maxContains": 2}, {"contains": {"const": 2}}]}
        )
    assert e.value.keyword == "contains" and "maxContains" in str(e.value)


D4 = "http://json-schema.org/draft-04/schema#"
D6 = "http://json-schema.org/draft-06/schema#"
D7 = "http://json-schema.org/draft-07/schema#"
# keywords a later draft added, negated in a document of an earlier draft: its validators
# ignore them, so the negation fails every value (only the strings remain valid here)
LATER_KEYWORD_CASES = [
    (D4, {"anyOf": [{"type": "string"}, {"not": {"const": 1}}]}, ["x", 1, 2, None]),
    (D4, {"anyOf": [{"type": "string"}, {"oneOf": [{"const": 1}, {"const": 2}]}]}, ["x", 1, 2]),
    (D4, {"oneOf": [{"const": 1}, {"type": "string"}]}, [1, "x"]),
    (
        D4,
        {"anyOf": [{"type": "string"}, {"not": {"contains": {"type": "integer"}}}]},
        ["x", [1], []],
    ),
    (
        D4,
        {"anyOf": [{"type": "string"}, {"not": {"propertyNames": {"maxLength": 1}}}]},
        ["x", {"ab": 1}],
    ),
    (
        D6,
        {
            "anyOf": [
                {"type": "string"},
                {"not": {"if": {"type": "integer"}, "then": {"minimum": 5}}},
            ]
        },
        ["x", 3, 7],
    ),
    (
        D7,
        {"anyOf": [{"type": "string"}, {"not": {"dependentRequired": {"a": ["b"]}}}]},
        ["x", {"a": 1}, {}],
    ),
    (
        D7,
        {"anyOf": [{"type": "string"}, {"not": {"unevaluatedProperties": False}}]},
        ["x", {"a": 1}, {}],
    ),
    # an `if` draft-04 does not define is still enforced as meant (sound: its validators take
    # any value there), its condition negated with its const: "t": "b" takes the else branch
    (
        D4,
        {
            "type": "object",
            "if": {"properties": {"t": {"const": "a"}}},
            "then": {"required": ["x"]},
        },
        [{"t": "b"}, {"t": "a", "x": 1}, {"t": "b", "x": 1}],
    ),
    # an object told apart by a draft-04 "const" is not: the branches overlap
    (
        D4,
        {
            "type": "object",
            "required": ["k"],
            "anyOf": [
                {"properties": {"s": {"type": "integer"}}, "required": ["s"]},
                {
                    "oneOf": [
                        {"properties": {"k": {"const": "a"}}},
                        {"properties": {"k": {"const": "b"}}},
                    ]
                },
            ],
        },
        [{"k": "a"}, {"k": "b"}, {"k": "a", "s": 1}, {"k": "b", "s": "x"}],
    ),
]


@pytest.mark.parametrize("case", range(len(LATER_KEYWORD_CASES)))
def test_keywords_of_later_drafts_never_fail_under_negation(case):
    draft, schema, instances = LATER_KEYWORD_CASES[case]
    schema = {"$schema": draft, **schema}
    vocab, tok = _vocab("bytes")
    m = Matcher(Grammar.from_json_schema(schema), vocab)
    v = jsonschema.validators.validator_for(schema)(schema)
    for x in instances:
        for text in _both_separators(x):
            got, want = _teacher_force(m, vocab, list(text.encode())), v.is_valid(x)
            assert got == want, f"{text}: engine {got}, {type(v).__name__} {want}"


def test_keyword_since_table_is_jsonschemas():
    """KEYWORD_SINCE says which drafts' validators define each keyword it lists."""
    from decoder.grammar.json_schema.compiler import KEYWORD_SINCE

    classes = {
        3: jsonschema.Draft3Validator,
        4: jsonschema.Draft4Validator,
        6: jsonschema.Draft6Validator,
        7: jsonschema.Draft7Validator,
        2019: jsonschema.Draft201909Validator,
        2020: jsonschema.Draft202012Validator,
    }
    # jsonschema reads then/else inside "if", minContains/maxContains inside "contains"
    inside = {"then": "if", "else": "if", "minContains": "contains", "maxContains": "contains"}
    for kw, since in KEYWORD_SINCE.items():
        for draft, cls in classes.items():
            if kw in inside:
                assert KEYWORD_SINCE.get(inside[kw], 0) <= since, kw
                assert kw not in cls.VALIDATORS, (kw, draft)
                probe = {
                    "then": ({"if": {"type": "integer"}, "then": {"minimum": 5}}, 3),
                    "else": ({"if": {"type": "string"}, "else": {"minimum": 5}}, 3),
                    "minContains": ({"contains": {}, "minContains": 2}, [1]),
                    "maxContains": ({"contains": {}, "maxContains": 0}, [1]),
                }[kw]
                assert cls(probe[0]).is_valid(probe[1]) == (draft < since), (kw, draft)
                continue
            assert (kw in cls.VALIDATORS) == (draft >= since), (kw, draft)
