"""``not``/``oneOf``/``if`` over the keywords about keys beyond the declared ones:
``additionalProperties``, ``patternProperties`` and ``propertyNames``.

Their negation is "some member's key lies in a set and its value fails the schema", which the
compiler enforces with one flag per such requirement in the object's rules (see
``Compiler._negate_keys`` and ``_object_witnessed``). Every verdict is teacher-forced through
the mask and compared with ``jsonschema`` (byte vocabulary and Llama-3's, compact and with
``json.dumps``' spaces); random walks of the mask are validated; what cannot be done exactly
(a requirement on the value of an extra key, which may repeat) is a SchemaError naming the
keyword."""

from __future__ import annotations

import random

import differential
import pytest
from test_json_schema_soundness import check_verdicts

from decoder import Grammar
from decoder.errors import SchemaError, UnsatisfiableSchemaError

CLOSED_A = {"properties": {"set": {"type": "object"}, "delete": {"type": "array"}}}
CLOSED_B = {"properties": {"replace": {"type": "object"}}}

CASES = [
    # two closed objects that overlap on {} (a real-world shape: exactly one must hold)
    (
        {
            "type": "object",
            "oneOf": [
                dict(CLOSED_A, additionalProperties=False),
                dict(CLOSED_B, additionalProperties=False),
            ],
        },
        [
            {},
            {"set": {}},
            {"delete": []},
            {"replace": {}},
            {"set": {}, "replace": {}},
            {"set": {}, "delete": []},
            {"x": 1},
            {"set": 1},
            3,
        ],
    ),
    # not additionalProperties: an object with a key outside the declared ones
    (
        {"not": {"properties": {"a": {}}, "additionalProperties": False}},
        [{}, {"a": 1}, {"b": 1}, {"a": 1, "b": 2}, {"bb": None}, 1, "x", []],
    ),
    # ... outside the declared names and the patterns
    (
        {
            "not": {
                "properties": {"a": {}},
                "patternProperties": {"^x": {}},
                "additionalProperties": False,
            }
        },
        [{}, {"a": 1}, {"x1": 1}, {"y": 1}, {"a": 1, "xa": 2}, {"a": 1, "ya": 2}],
    ),
    # not patternProperties, met by a declared name only (extra keys are closed)
    (
        {
            "properties": {"x1": {}, "y": {}},
            "additionalProperties": False,
            "not": {"patternProperties": {"^x": {"type": "integer"}}},
        },
        [{"x1": "s"}, {"x1": 1}, {}, {"y": "s"}, {"x1": [], "y": 1}],
    ),
    # not propertyNames: some key fails it (any value)
    (
        {"not": {"propertyNames": {"maxLength": 2}}},
        [{"abc": 1}, {"ab": 1}, {}, {"a": 1, "abcd": []}, 5, "abc"],
    ),
    (
        {"not": {"propertyNames": {"enum": ["a", "b"]}}},
        [{"a": 1}, {"a": 1, "b": 2}, {"c": 1}, {"a": 1, "c": 2}, {}],
    ),
    # if over a closed object
    (
        {
            "if": {"properties": {"a": {}}, "additionalProperties": False},
            "then": {"required": ["a"]},
            "else": {"required": ["b"]},
        },
        [{}, {"a": 1}, {"b": 1}, {"a": 1, "b": 1}, {"c": 1}, {"b": 1, "c": 1}, 7],
    ),
    # three overlapping closed branches with required keys (a game-log shape)
    (
        {
            "oneOf": [
                {
                    "type": "object",
                    "properties": {"i": {"type": "integer"}, "o": {"type": "string"}},
                    "required": ["i"],
                    "additionalProperties": False,
                },
                {
                    "type": "object",
                    "properties": {
                        "i": {"type": "integer"},
                        "o": {"type": "string"},
                        "t": {"type": "string"},
                    },
                    "required": ["i", "o"],
                    "additionalProperties": False,
                },
                {
                    "type": "object",
                    "properties": {"i": {"type": "integer"}, "w": {"type": "integer"}},
                    "required": ["i"],
                    "additionalProperties": False,
                },
            ]
        },
        [
            {"i": 1},
            {"i": 1, "o": "x"},
            {"i": 1, "o": "x", "t": "y"},
            {"i": 1, "w": 2},
            {"i": 1, "o": "x", "w": 2},
            {"o": "x"},
        ],
    ),
    # exactly one of several keys on an open object (a rule-file shape): each branch forbids
    # the others' keys, no flags needed
    (
        {"type": "object", "oneOf": [{"required": [k]} for k in "abcdefgh"]},
        [{"a": 1}, {"h": 1, "z": 2}, {"a": 1, "b": 2}, {}, {"z": 1}, {"c": 1, "h": 1}],
    ),
    # propertyNames: {not: ...}: keys outside an enum, a const, a pattern, a format
    (
        {"type": "object", "propertyNames": {"not": {"enum": ["1", "3", 4]}}},
        [{"1": 1}, {"2": 1}, {"3": 1, "4": 2}, {"4": 2, "5": 1}, {}, {"13": 0}],
    ),
    (
        {
            "type": "object",
            "properties": {"0": {"type": "string"}, "x": {}},
            "propertyNames": {"not": {"const": "0"}},
        },
        [{"0": "x"}, {"1": 2}, {"x": 1}, {"x": 1, "y": [2]}, {}],
    ),
    (
        {"type": "object", "propertyNames": {"not": {"type": "string", "pattern": "a|^$"}}},
        [{"bab": 1}, {"xyz": 1}, {"": 1}, {"xyz": 1, "qa": 2}, {"b": 1, "c": 2}],
    ),
    (
        {"type": "object", "propertyNames": {"maxLength": 3, "not": {"enum": ["ab"]}}},
        [{"ab": 1}, {"x": 1}, {"1.2": 1}, {"abcd": 1}, {"a": 1, "abc": 2}],
    ),
    (
        {"type": "object", "propertyNames": {"not": {"type": "integer"}}},
        [{"x": 1}, {}, {"1": 2}],
    ),
    ({"type": "object", "propertyNames": {"not": {}}}, [{"x": 1}, {}]),
    # a failing value on an extra key: extra keys never repeat (distinct items), so the
    # member that fails is the one a parser keeps
    (
        {"type": "object", "not": {"additionalProperties": {"type": "string"}}},
        [{}, {"a": "x"}, {"a": 1}, {"a": "x", "b": 2}, {"a": "x", "b": "y"}, {"b": [1], "c": None}],
    ),
    (
        {
            "type": "object",
            "properties": {"p": {}},
            "not": {"additionalProperties": {"type": "integer"}},
        },
        [{"p": "x"}, {"p": 1, "q": "s"}, {"q": 1}, {"q": 1, "r": [1]}, {"p": 1}, {}],
    ),
    (
        {"type": "object", "not": {"patternProperties": {"^x": {"type": "integer"}}}},
        [{"x1": "s"}, {"x1": 1}, {"y": "s"}, {"x": 1, "xy": None}, {}],
    ),
    (
        {
            "type": "object",
            "oneOf": [
                {"additionalProperties": {"type": "integer"}},
                {"additionalProperties": {"type": "string"}},
            ],
        },
        [{}, {"a": 1}, {"a": "s"}, {"a": 1, "b": "s"}, {"a": None}, {"a": 1, "b": 2}],
    ),
    # a recursive closed schema under oneOf: negated as the compiler reaches each level
    (
        {
            "$defs": {
                "t": {
                    "type": "object",
                    "properties": {"c": {"$ref": "#/$defs/t"}, "v": {"type": "integer"}},
                    "additionalProperties": False,
                }
            },
            "oneOf": [{"$ref": "#/$defs/t"}, {"required": ["v"]}],
        },
        [
            {},
            {"v": 1},
            {"v": "x"},
            {"c": {"v": "x"}},
            {"c": {"c": {"c": {"w": 1}}}},
            {"c": {"c": {"c": {"v": 1}}}, "v": 2},
            {"w": 1, "v": 1},
        ],
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
    differential.check_schema(CASES[case][0], random.Random(case), rep, walks=12, instances=12)
    assert rep.counts["compiled"] == 1, dict(rep.counts)
    assert rep.counts["walks"] >= 6, dict(rep.counts)
    assert not rep.failures, "\n".join(rep.failures)


@pytest.mark.parametrize(
    "schema, keyword",
    [
        # the member that fails must be an extra key of a language that can run out (here
        # keys of at most two characters, more than 64 of them): once the key is used with
        # a passing value, no fresh copy of it may carry the failing one: refused
        (
            {
                "propertyNames": {"maxLength": 2},
                "not": {"additionalProperties": {"type": "string"}},
            },
            "additionalProperties",
        ),
        (
            {
                "propertyNames": {"maxLength": 2},
                "not": {"patternProperties": {"^x": {"type": "integer"}}},
            },
            "patternProperties",
        ),
    ],
)
def test_a_failing_value_on_a_repeatable_extra_key_is_refused_by_name(schema, keyword):
    with pytest.raises(SchemaError) as e:
        Grammar.from_json_schema(schema)
    assert e.value.keyword == keyword
    assert "can run out" in str(e.value)


# ``format`` negated through a regular superset of what validators accept (ipv4, ipv6,
# email, date: checks jsonschema makes without optional libraries); judged with the format
# checker on, as a validator asserting formats reads them
FORMAT_CASES = [
    (
        {"type": "string", "oneOf": [{"format": "ipv4"}, {"format": "ipv6"}]},
        ["1.2.3.4", "::1", "fe80::1", "x", "1.2.3.4:80", "256.1.1.1", ""],
    ),
    ({"type": "string", "not": {"format": "email"}}, ["a@b.co", "abc", "@", "a.b", ""]),
    (
        {"type": "string", "if": {"format": "date"}, "then": {"maxLength": 0}},
        ["2024-02-29", "2023-02-29", "x", "", "2024-1-1"],
    ),
    (
        {"type": "object", "propertyNames": {"maxLength": 9, "not": {"format": "ipv4"}}},
        [{"1.2.3.4": 1}, {"x": 1}, {"1.2": 1}, {"abcd": 1, "1.1.1.1": 2}],
    ),
    # uuid.UUID takes more spellings (braces, "urn:uuid:"); the superset keeps the dashes
    (
        {"type": "string", "not": {"format": "uuid"}},
        ["123e4567-e89b-12d3-a456-426614174000", "123e4567e89b12d3a456426614174000", "x", ""],
    ),
]


@pytest.mark.parametrize("kind", ["bytes", "llama3"])
@pytest.mark.parametrize("case", range(len(FORMAT_CASES)))
def test_negated_formats_equal_a_format_asserting_validator(case, kind):
    import json

    import jsonschema
    from test_json_schema_soundness import _teacher_force, _vocab

    from decoder import Matcher

    schema, instances = FORMAT_CASES[case]
    vocab, tok = _vocab(kind)
    m = Matcher(Grammar.from_json_schema(schema), vocab)
    cls = jsonschema.Draft202012Validator
    v = cls(schema, format_checker=cls.FORMAT_CHECKER)
    for x in instances:
        text = json.dumps(x, ensure_ascii=False)
        ids = list(text.encode()) if tok is None else tok.encode(text, add_special_tokens=False)
        assert _teacher_force(m, vocab, ids) == v.is_valid(x), (schema, x)


@pytest.mark.parametrize(
    "schema, keyword",
    [
        ({"propertyNames": {"not": {"pattern": "a", "maxLength": 2}}}, "propertyNames"),
        ({"propertyNames": {"not": {"format": "regex"}}}, "format"),
    ],
)
def test_property_names_not_over_more_than_one_keyword_is_refused_by_name(schema, keyword):
    with pytest.raises(SchemaError) as e:
        Grammar.from_json_schema(schema)
    assert e.value.keyword == keyword


def test_a_negated_library_format_never_fails_and_a_bare_one_is_refused_by_name():
    """Validators check uri, date-time, hostname ... only with optional libraries (without
    them every string passes): negated, such a format never fails. A schema left with no
    value by that is refused (keyword ``format``), not called unsatisfiable."""
    with pytest.raises(SchemaError) as e:
        Grammar.from_json_schema({"type": "string", "not": {"format": "uri"}})
    assert e.value.keyword == "format" and "optional library" in str(e.value)
    assert not isinstance(e.value, UnsatisfiableSchemaError)


@pytest.mark.parametrize(
    "schema, instances",
    [
        (
            {"oneOf": [{"type": "string", "format": "uri"}, {"type": "string", "pattern": "^h"}]},
            ["http://x.org/", "hello", "mailto:a@b", "h", "x", "", "https:", "urn:a"],
        ),
        (
            {"type": "string", "if": {"format": "date-time"}, "then": {"maxLength": 25}},
            [
                "2024-01-01T00:00:00Z",
                "2024-01-01T00:00:00+01:00",
                "2024-01-01T00:00:00.1234Z",
                "abc",
            ],
        ),
    ],
)
def test_a_negated_library_format_holds_with_and_without_the_library(schema, instances):
    """What the mask accepts is valid for a validator with the format's library and for
    one without it (every string passes the format)."""
    import json

    import jsonschema

    from decoder import Matcher
    from decoder.grammar.json_schema.formats import LIBRARY_FORMATS

    m = Matcher(Grammar.from_json_schema(schema), differential.vocab())
    cls = jsonschema.Draft202012Validator
    with_lib = cls(schema, format_checker=cls.FORMAT_CHECKER)
    without = jsonschema.FormatChecker(formats=())
    without.checkers = {
        k: v for k, v in cls.FORMAT_CHECKER.checkers.items() if k not in LIBRARY_FORMATS
    }
    without_lib = cls(schema, format_checker=without)
    accepted = 0
    for x in instances:
        if differential.accepts(m, json.dumps(x, ensure_ascii=False).encode()):
            accepted += 1
            assert with_lib.is_valid(x) and without_lib.is_valid(x), (schema, x)
    assert accepted >= 2


def test_date_and_ipv4_regexes_are_exactly_what_validators_accept():
    """Their complement is used for ``not: {format}``, so both directions matter (the
    leap-day branch once took year 0000, which ``date.fromisoformat`` rejects)."""
    import ipaddress
    import re
    from datetime import date

    from decoder.grammar.json_schema.formats import FORMATS

    rx = re.compile(FORMATS["date"])
    years = [*range(0, 10), *range(96, 105), *range(396, 405), *range(1896, 1905), 2000, 9999]
    for y in years:
        for mo in range(0, 14):
            for d in range(0, 33):
                s = f"{y:04d}-{mo:02d}-{d:02d}"
                try:
                    ok = bool(date.fromisoformat(s))
                except ValueError:
                    ok = False
                assert bool(rx.fullmatch(s)) == ok, s
    rx = re.compile(FORMATS["ipv4"])
    for s in [
        "0.0.0.0",
        "01.1.1.1",
        "255.255.255.255",
        "256.1.1.1",
        "1.2.3",
        "1.2.3.04",
        "9.9.9.9",
    ]:
        try:
            ok = bool(ipaddress.IPv4Address(s))
        except ValueError:
            ok = False
        assert bool(rx.fullmatch(s)) == ok, s


# Validators read a pattern as ECMA-262 or with Python's re (jsonschema), which differ on `.`
# (\r, U+2028, U+2029), `$` (Python's also before a final newline) and \s \d \w. A string that
# must not match a pattern is kept outside what *either* reading matches (found by the
# random-schema differential run at seed 7: a key "\r\n\u2029" under patternProperties ".").
# (schema, instances accepted, instances refused): refused ones include what jsonschema
# rejects; the accepted ones are valid under both readings.
READING_CASES = [
    ({"type": "string", "not": {"pattern": "^a$"}}, ["b", "ab"], ["a", "a\n"]),
    ({"type": "string", "not": {"pattern": "^.$"}}, ["xy", ""], ["x", "\r", "\u2028"]),
    ({"type": "string", "not": {"pattern": "\\s"}}, ["ab"], ["a b", "\x1c"]),
    ({"type": "string", "pattern": "^(?!a$).*"}, ["b", "ab"], ["a", "a\n"]),
    (
        {
            "type": "object",
            "patternProperties": {"^a$": {"type": "integer"}},
            "additionalProperties": {"type": "string"},
        },
        [{"a": 1}, {"b": "s"}],
        [{"a": "s"}, {"b": 1}, {"a\n": "s"}],
    ),
    (
        {"type": "object", "patternProperties": {".": {"type": "integer"}}},
        [{"a": 1}, {"\n": "s"}],
        [{"a": "s"}, {"\r": "s"}, {"\r\n\u2029": "s"}],
    ),
]


@pytest.mark.parametrize("case", range(len(READING_CASES)))
def test_a_string_that_must_not_match_matches_under_neither_reading(case):
    import json

    import jsonschema
    from test_json_schema_soundness import _teacher_force, _vocab

    from decoder import Matcher

    schema, good, bad = READING_CASES[case]
    vocab, _ = _vocab("bytes")
    m = Matcher(Grammar.from_json_schema(schema), vocab)
    v = jsonschema.Draft202012Validator(schema)
    for x in good:
        assert v.is_valid(x), x
        assert _teacher_force(m, vocab, list(json.dumps(x).encode())), (schema, x)
    for x in bad:
        assert not _teacher_force(m, vocab, list(json.dumps(x).encode())), (schema, x)
