"""Regex algebra (decoder/grammar/json_schema/automata.py) and what it enables in JSON Schema:
two patterns or a pattern and a format on one string (intersection), ``not: {pattern}``
(complement), ``patternProperties`` beside allowed additional properties (keys split by the
patterns they match), ``propertyNames`` with ``patternProperties``.

The automata are checked exactly against the structural code (the JSON-escape encoding as a
language equality, membership against the regex derivative matcher), then every feature is
teacher-forced through the engine on a byte vocabulary and on Llama-3's, with both
``ensure_ascii`` settings of ``json.dumps`` (so ``\\uXXXX`` escapes and surrogate pairs go
through the DFA), verdicts equal to ``jsonschema``'s (with the format checker); then random
walks of the mask validated by ``jsonschema`` (tests/differential.py).
"""

from __future__ import annotations

import random

import differential
import jsonschema
import pytest
from test_json_schema_soundness import ascii_and_not, check_verdicts

from decoder.errors import SchemaError
from decoder.grammar.ir import alt, cat, cps, lit, rep, star
from decoder.grammar.json_schema import automata as A
from decoder.grammar.json_schema import compile_json_schema, strings
from decoder.grammar.json_schema.regexops import matches
from decoder.grammar.regex import parse_regex


def _equal(d1, d2) -> bool:
    return (
        A.intersect(d1, A.complement(d2)).is_empty()
        and A.intersect(d2, A.complement(d1)).is_empty()
    )


@pytest.mark.parametrize(
    "rx",
    [
        strings.ANY_STRING,
        lit("a\u00e9\U0001f600"),
        cat(star(cps([(0x61, 0x7A)])), lit("\u00e9"), star(cps([(0x10000, 0x10FFFF)]))),
        rep(cps([(0, 0x20), (0x22, 0x22), (0x5C, 0x5C), (0x800, 0x900), (0x1F600, 0x1F64F)]), 0, 3),
        cat(cps([(0x10400, 0x10800)]), cps([(0x7F, 0x7F), (0xD7FF, 0xE000)])),
        alt(lit("/"), lit("\n\t"), rep(cps([(0xFFFF, 0x10000)]), 2, 2)),
    ],
)
def test_json_encoding_of_a_dfa_is_the_homomorphism_of_strings_py(rx):
    """encode_json(dfa(L)) and encode_chars(L) are the same language of encoded text."""
    got = A.to_dfa(A.encode_json(A.to_dfa(rx)))
    want = A.to_dfa(strings.encode_chars(rx))
    assert _equal(got, want)


def test_intersection_and_complement_are_exact_on_random_strings():
    rng = random.Random(7)
    pats = ["a", "^a", "b$", "^(ab)*$", "a.b", "^[a-c]{2,4}$", "c", "^$"]
    rxs = {p: parse_regex(p, syntax="ecma", search=True, portable=True) for p in pats}
    ds = {p: A.to_dfa(r) for p, r in rxs.items()}
    words = ["".join(rng.choice("abc\u00e9") for _ in range(rng.randint(0, 6))) for _ in range(300)]
    for p in pats:
        for q in pats:
            inter = A.intersect(ds[p], ds[q])
            comp = A.complement(ds[p])
            node = inter.node()
            for w in words:
                mp, mq = matches(rxs[p], w), matches(rxs[q], w)
                assert ds[p].accepts(w) == mp
                assert inter.accepts(w) == (mp and mq), (p, q, w)
                assert matches(node, w) == (mp and mq)
                assert comp.accepts(w) == (not mp)


def test_budget_is_a_schema_error_naming_the_keyword():
    schema = {
        "type": "string",
        "allOf": [{"pattern": "a.{40}$"}, {"pattern": "b.{40}$"}, {"pattern": "c.{40}$"}],
    }
    with pytest.raises(SchemaError) as e:
        compile_json_schema(schema)
    assert e.value.keyword == "pattern" and "too large" in str(e.value)


def _ecma(p):
    return parse_regex(p, syntax="ecma", search=False, portable=True)


def test_counted_work_and_sizes_are_those_of_the_python_constructions():
    """The constructions run in C++ (csrc/code_point_dfa.h); the work they charge to a
    compile's budget decides what compiles, so it must not change: these numbers are what
    the pure-Python constructions charged (and the state counts they made)."""
    a, b, c = _ecma("[a-z]+[0-9]{2,4}"), _ecma("(ab|cd)*x?[0-9]+"), _ecma("\\w{3,8}")
    got = []
    with A.work_budget(10**9):
        shared = A._COMPILE_WORK.get()

        def mark(f):
            before = shared[0]
            r = f()
            got.append((before - shared[0], r.n if isinstance(r, A.Dfa) else r[1]))

        A._DFA_MEMO.clear()
        mark(lambda: A.to_dfa(a))
        mark(lambda: A.to_dfa(b))
        mark(lambda: A.to_dfa(c))
        mark(lambda: A.intersect(A.to_dfa(a), A.to_dfa(c)))
        mark(lambda: A.complement(A.to_dfa(b)))
        mark(lambda: A.minus_finite(A.to_dfa(c), ["abc", "hello", "x1234"]))
        mark(lambda: A.restrict_length(A.to_dfa(b), 2, 6))
        mark(lambda: A.encode_json(A.complement(A.literals(["a\u00e9", "\U0001f600b", "\n"]))))

        def split():
            ds = [A.to_dfa(_ecma(".*"))]
            ds += [A.complete(A.to_dfa(_ecma(p))) for p in ("a.*", ".*z")]
            return A.split_by(ds, lambda f: f if f[0] else None)[(True, True, True)]

        mark(split)
    assert got == [
        (61, 6),
        (84, 5),
        (310, 9),
        (469, 13),
        (102, 6),
        (1436, 21),
        (255, 15),
        (624, 40),
        (513, 3),
    ]


def test_compile_work_budget_and_deadline_stop_a_construction():
    from decoder.deadline import compile_deadline
    from decoder.errors import LimitError

    big = _ecma("[ab]*a[ab]{9}")  # a small NFA whose DFA has 1,024 states
    A._DFA_MEMO.clear()
    with A.work_budget(1000):
        with pytest.raises(A.RegexBudgetError, match="per compile"):
            A.to_dfa(big)
        assert A._COMPILE_WORK.get()[0] < 0
    with pytest.raises(A.RegexBudgetError, match="too large"):
        A.to_dfa(big, budget=500)
    with compile_deadline(0.0):  # past at the first check inside the C++ construction
        with pytest.raises(LimitError):
            A.to_dfa(big, budget=100_000)
    assert A.to_dfa(big).n == 1024


def test_a_malformed_automaton_is_an_error_not_a_crash():
    with pytest.raises(ValueError, match="state 7 of 1"):
        A.minimize(A.Dfa([((97, 97, 7),)], [0]))
    with pytest.raises(ValueError, match="final state"):
        A.intersect(A.Dfa([()], [3]), A.Dfa([()], [0]))


FC = jsonschema.Draft202012Validator.FORMAT_CHECKER

CASES = [
    # two patterns, pattern + format, lengths and not-enum on top
    (
        {"type": "string", "allOf": [{"pattern": "^a"}, {"pattern": "b$"}]},
        ["ab", "axb", "a", "b", "ba", "a\u00e9b", "", "a\U0001f600b"],
    ),
    (
        {"type": "string", "pattern": "^[a-z@.]+$", "format": "email"},
        ["a@b.co", "x@y.z", "ab", "A@b.co"],
    ),
    (
        {
            "type": "string",
            "allOf": [{"pattern": "^a"}, {"pattern": "b$"}],
            "maxLength": 3,
            "not": {"enum": ["ab"]},
        },
        ["ab", "axb", "axxb", "a\U0001f600b", "a\u00e9b"],
    ),
    # not: {pattern}
    ({"type": "string", "not": {"pattern": "^x"}}, ["x", "xa", "a", "", "\u00e9", "\u00e9x"]),
    ({"not": {"pattern": "a"}}, ["x", "a", 1, None, "bab", ["a"]]),
    (
        {"oneOf": [{"type": "string", "pattern": "a"}, {"type": "string", "pattern": "b"}]},
        ["a", "b", "ab", "", "\u00e9a"],
    ),
    # lookaheads after a leading ^ (Pydantic emits them): intersections and complements
    (
        {"type": "string", "pattern": "^(?=.*[a-z])(?=.*\\d).{4,}$"},
        ["ab12", "abcd", "1234", "a1", "\u00e9\u00e91a", "a1\n22"],
    ),
    ({"type": "string", "pattern": "^(?!foo)[a-z]+$"}, ["foo", "fo", "foobar", "bar", "", "f"]),
    (
        {
            "type": "object",
            "patternProperties": {"^(?!x-)": {"type": "integer"}},
            "additionalProperties": {"type": "string"},
        },
        [{"a": 1}, {"a": "s"}, {"x-a": "s"}, {"x-a": 1}, {"x": 1}],
    ),
    # patternProperties beside additionalProperties
    (
        {
            "type": "object",
            "properties": {"id": {"type": "integer"}},
            "patternProperties": {"^x-": {"type": "string"}},
            "additionalProperties": {"type": "boolean"},
        },
        [
            {"id": 1, "x-a": "s", "b": True},
            {"x-a": 1},
            {"b": "s"},
            {"b": True},
            {"x-": "v"},
            {"id": "s"},
            {"\u00e9": True},
            {"x-\u00e9": "s"},
            {"x-\U0001f600": True},
        ],
    ),
    # overlapping patterns: a key matching both satisfies both schemas
    (
        {"type": "object", "patternProperties": {"^a": {"type": "integer"}, "b$": {"minimum": 3}}},
        [{"ab": 3}, {"ab": 2}, {"ab": "x"}, {"a": "x"}, {"b": 1}, {"b": "zz"}, {"c": "f"}],
    ),
    # a declared name that matches a pattern satisfies both
    (
        {
            "type": "object",
            "properties": {"ax": {"type": "string"}},
            "patternProperties": {"^a": {"maxLength": 2}, "^b": {"type": "null"}},
            "additionalProperties": False,
        },
        [{"ax": "ab"}, {"ax": "abc"}, {"ay": "abc"}, {"ay": "ab"}, {"z": 1}, {"b": None}],
    ),
    # propertyNames with patternProperties
    (
        {
            "type": "object",
            "propertyNames": {"pattern": "^[a-z]+$"},
            "patternProperties": {"^a": {"type": "integer"}},
        },
        [{"ab": 1}, {"ab": "s"}, {"b": "s"}, {"B": 1}, {"": 1}, {"\u00e9": 1}],
    ),
    # patternProperties in several allOf branches
    (
        {
            "allOf": [
                {"patternProperties": {"^a": {"type": "integer"}}},
                {
                    "patternProperties": {"b$": {"type": "number"}},
                    "additionalProperties": {"type": "string"},
                },
            ]
        },
        [{"ab": 1}, {"ab": 1.5}, {"a": 1}, {"a": "s"}, {"b": 1.5}, {"c": "s"}, {"c": 1}],
    ),
]


@pytest.mark.parametrize("kind", ["bytes", "llama3"])
@pytest.mark.parametrize("case", range(len(CASES)))
def test_verdicts_equal_jsonschemas(case, kind):
    check_verdicts(*CASES[case], kind, spellings=ascii_and_not, format_checker=FC)


@pytest.mark.parametrize("case", range(len(CASES)))
def test_random_walks_validate(case):
    schema, _ = CASES[case]
    report = differential.Report()
    differential.check_schema(schema, random.Random(case), report, walks=12, instances=4)
    assert not report.failures, report.failures[:5]
    assert report.counts["walks"] > 0
