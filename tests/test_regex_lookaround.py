"""Lookarounds (``(?=``, ``(?!``, ``(?<=``, ``(?<!``) and ``^``/``$`` anywhere in a pattern
whose strings are the whole subject (a JSON Schema ``pattern``: ``search=True``;
``Grammar.from_regex``: ``whole=True``), compiled to one exact DFA
(decoder/grammar/lookaround.py).

The automata are compared with Python's ``re`` on every string up to a length over a small
alphabet (named constructs, then random patterns), the ECMA-262 readings of a JSON Schema
pattern are checked to bracket both validators' verdicts, what stays refused is a clear
error, and JSON Schemas using them are teacher-forced through the mask on a byte vocabulary
and Llama-3's (verdicts equal to ``jsonschema``'s) and random-walked (tests/differential.py).
"""

from __future__ import annotations

import itertools
import random
import re

import differential
import pytest
from test_json_schema_soundness import ascii_and_not, check_verdicts

from decoder import Grammar, Matcher
from decoder.errors import GrammarError, SchemaError
from decoder.grammar import lookaround
from decoder.grammar.json_schema import automata as A
from decoder.grammar.json_schema import compile_json_schema
from decoder.grammar.regex import _parse_regex, parse_regex


def _strings(alphabet: str, n: int):
    for k in range(n + 1):
        for t in itertools.product(alphabet, repeat=k):
            yield "".join(t)


@pytest.fixture(params=["forward", "reversed"])
def direction(request, monkeypatch):
    """Both ways of building the automaton (reading the string forwards, lookaheads as
    obligations, or backwards, lookbehinds as obligations), not the one picked by default."""
    monkeypatch.setattr(lookaround, "DIRECTION", request.param)
    return request.param


def _disagreements(pattern: str, alphabet: str, n: int, flags: str = "", whole=False) -> list:
    node = _parse_regex(pattern, "python", flags, not whole, False, whole)  # not memoised
    d = A.to_dfa(node)
    rx = re.compile(pattern, re.M if "m" in flags else 0)
    want = rx.fullmatch if whole else rx.search
    return [s for s in _strings(alphabet, n) if d.accepts(s) != (want(s) is not None)]


NAMED = [
    # lookaheads anywhere: A(?=B)C is Σ*·A·(BΣ* ∩ CΣ*)
    "a(?=b)",
    "a(?!b)",
    "a(?=b)b",
    "a(?=ba)b",
    "a(?!b)[ab]",
    "x(?=a*$)",
    "(?=(?!ab)a)",
    "a(?=b(?=c))",
    "a(?=b(?!c))",
    # lookbehinds: the prefix up to here is in Σ*·B
    "(?<=a)b",
    "(?<!a)b",
    "(?<=^a|b)c",
    "(?<=(?<!a)b)c",
    "ab(?<=ab)",
    "(?<=a)(?<!ba)b",
    # inside groups, alternations and repetitions
    "(?:a(?=b)|b(?!a))+$",
    "^(?:a(?=b)|b)+$",
    "^(?:[ab](?<!aa))*$",
    "(?:(?=a)){2}b",
    "(?:(?=a))*b",
    "((?:[^/]*/)*)(?=\\.(yaml|yml|json))",
    "^(?=.*a)(?!.*bb).{2,4}$",
    "c(?:a(?=c)|b(?<=cb))+",
    # anchors inside groups, alternations and repetitions
    "(a|b$)",
    "(?:x$)?",
    "(a$|b)*c",
    "^(a|^b)*$",
    "(?:^|,)a(?:,|$)",
    "^(\\/?((\\.{2})|([a-z0-9\\-]*))($|\\/))*$",
    "/^[0-9]{2}$/",
    "a^",
    "$a",
    "(?:a|^)+b",
    "a(?:$|\\n)",
]


@pytest.mark.parametrize("pattern", NAMED)
def test_named_constructs_are_re_search_and_fullmatch(pattern, direction):
    alphabet = "ab/c.\n"
    assert _disagreements(pattern, alphabet, 5) == []
    assert _disagreements(pattern, alphabet, 5, whole=True) == []


@pytest.mark.parametrize("pattern", ["(?:^|b)a(?=$|b)", "(?<=^a)b$", "a$(?!\\n)"])
def test_multiline_anchors(pattern, direction):
    assert _disagreements(pattern, "ab\n", 6, flags="m") == []


def _random_pattern(rng: random.Random, depth: int, ctx: str | None) -> str:
    """A random Python pattern over a/b; ``ctx`` "ahead"/"behind" inside a lookaround body
    (no lookbehind or ^ in a lookahead, no lookahead or $ in a lookbehind, whose width is
    fixed: what the construction accepts)."""
    if ctx == "behind":  # fixed width: a concatenation of one-character atoms
        parts = []
        for _ in range(rng.randint(1, 3)):
            k = rng.random()
            if k < 0.5:
                parts.append(rng.choice(["a", "b", ".", "[ab]"]))
            elif k < 0.65:
                parts.append("(?:a|b)")
            elif k < 0.8:
                parts.append("^")
            elif depth > 0:
                parts.append(rng.choice(["(?<=", "(?<!"]) + _random_pattern(rng, 0, ctx) + ")")
        return "".join(parts) or "a"
    items = []
    for _ in range(rng.randint(1, 3)):
        k = rng.random()
        quantifiable = True
        if k < 0.35 or depth == 0:
            atom = rng.choice(["a", "b", ".", "[ab]", "\\n"])
        elif k < 0.5:
            alts = [_random_pattern(rng, depth - 1, ctx) for _ in range(rng.randint(1, 3))]
            atom = "(?:" + "|".join(alts) + ")"
        elif k < 0.6:
            atom, quantifiable = ("$" if ctx != "behind" else "a"), False
        elif k < 0.68:
            atom, quantifiable = ("^" if ctx is None else "b"), False
        elif k < 0.84:
            body = _random_pattern(rng, depth - 1, "ahead")
            atom, quantifiable = rng.choice(["(?=", "(?!"]) + body + ")", False
        elif ctx is None:
            body = _random_pattern(rng, depth - 1, "behind")
            atom, quantifiable = rng.choice(["(?<=", "(?<!"]) + body + ")", False
        else:
            atom = "a"
        if quantifiable and rng.random() < 0.35:
            atom += rng.choice(["*", "+", "?", "{0,2}", "{2}"])
        items.append(atom)
    return "".join(items)


def test_random_patterns_are_re_search_and_fullmatch(direction):
    rng = random.Random(11)
    checked = 0
    for _ in range(250):
        p = _random_pattern(rng, 3, None)
        try:
            re.compile(p)
        except re.error:
            continue
        assert _disagreements(p, "ab\n", 5) == [], p
        assert _disagreements(p, "ab\n", 5, whole=True) == [], p
        checked += 1
    assert checked > 200


# ECMA-262 patterns and the same language in Python's re under the ECMA reading ($ only at the
# end, . without \r U+2028 U+2029, \d ASCII)
_ECMA_IN_PY = [
    ("a(?!.$)", "a(?![^\\n\\r\\u2028\\u2029](?!(?s:.)))"),
    ("(?<=\\d)a$", "(?<=[0-9])a(?!(?s:.))"),
    ("(?:a|1$)+(?=\\d)", "(?:a|1(?!(?s:.)))+(?=[0-9])"),
    ("^(?!.*\\d$).+", "^(?!(?:[^\\n\\r\\u2028\\u2029])*[0-9](?!(?s:.)))[^\\n\\r\\u2028\\u2029]+"),
    ("(?<!\\d)(?=.)a", "(?<![0-9])(?=[^\\n\\r\\u2028\\u2029])a"),
]


@pytest.mark.parametrize("ecma,as_py", _ECMA_IN_PY)
def test_json_schema_readings_bracket_ecma_and_python(ecma, as_py):
    """The "min" reading (a string that must match) accepts only what both ECMA-262 and
    Python's re accept; the "max" reading (one that must not) everything either accepts."""
    lo = A.to_dfa(parse_regex(ecma, syntax="ecma", search=True, portable=True))
    hi = A.to_dfa(parse_regex(ecma, syntax="ecma", search=True, portable="max"))
    py, es = re.compile(ecma), re.compile(as_py)
    for s in _strings("a1\n\r\u0663", 4):
        p_ok, e_ok = py.search(s) is not None, es.search(s) is not None
        assert not lo.accepts(s) or (p_ok and e_ok), (ecma, s)
        assert hi.accepts(s) or not (p_ok or e_ok), (ecma, s)
        if "\n" not in s and "\r" not in s and "\u0663" not in s:
            assert lo.accepts(s) == hi.accepts(s) == p_ok, (ecma, s)


def test_ecma_lookbehind_of_variable_width(direction):
    """ECMA-262 reads lookbehinds of any width (Python's re refuses them): where no Python
    reader must agree (``syntax="ecma"``, not portable) they are compiled."""
    cases = [("(?<=a{1,3}|bc)d", "(?:a|bc)d"), ("(?<!a+)b", "(?<!a)b"), ("(?<=^a*)b", "^a*b")]
    for ecma, same in cases:
        d = A.to_dfa(_parse_regex(ecma, "ecma", "", True, False, False))
        rx = re.compile(same)
        assert [s for s in _strings("abc", 6) if d.accepts(s) != bool(rx.search(s))] == [], ecma


REFUSED = [
    ("(?=(?<=a)b)", "unsupported lookbehind inside a lookahead"),
    ("x(?=^a)", "unsupported ^ inside a lookahead"),
    ("(?<=a(?=b))b", "unsupported lookahead inside a lookbehind"),
    ("(?<=a$)", "unsupported $ inside a lookbehind"),
    ("(?<=a+)b", "unsupported lookbehind of variable width"),
    ("(?<!ab|c)d", "unsupported lookbehind of variable width"),
    ("(?=a)*b", "nothing to repeat"),
]


@pytest.mark.parametrize("pattern,message", REFUSED)
def test_what_stays_refused_is_a_clear_error(pattern, message):
    with pytest.raises(GrammarError, match=re.escape(message)):
        parse_regex(pattern, syntax="python", search=True)
    with pytest.raises(SchemaError) as info:
        compile_json_schema({"properties": {"s": {"type": "string", "pattern": pattern}}})
    assert info.value.keyword == "pattern" and "/properties/s" in str(info.value)


def test_lexer_terminals_refuse_lookarounds_and_inner_anchors():
    """A Lark terminal's lookahead would look past the token: refused, as before; a full
    match (``Grammar.from_regex``) is exact."""
    with pytest.raises(GrammarError, match="unsupported lookahead"):
        Grammar.from_lark('start: /a(?=b)/ "b"')
    with pytest.raises(GrammarError, match="unsupported \\$ inside a repetition"):
        Grammar.from_lark("start: /(a|b$)+/")
    with pytest.raises(GrammarError, match="unsupported lookahead"):
        parse_regex("a(?=b)")
    m = Matcher(Grammar.from_regex("(?:a(?=b)|b)+"), differential.vocab())
    for text, ok in [(b"ab", True), (b"abb", True), (b"a", False), (b"ba", False)]:
        assert differential.accepts(m, text) == ok, text


def test_budget_is_a_schema_error_naming_pattern_and_path():
    # the prefix's lookbehind DFA must remember 13 characters, the suffix's one too
    pattern = "(?:a(?=[\\s\\S]{0,12}b)|c(?<=b[\\s\\S]{12}c))*d"
    schema = {"properties": {"x": {"type": "string", "pattern": pattern}}}
    with pytest.raises(SchemaError) as info:
        compile_json_schema(schema)
    assert info.value.keyword == "pattern" and "/properties/x" in str(info.value)
    assert "too large" in str(info.value)


CASES = [
    ({"type": "string", "pattern": "(?<=a)b"}, ["ab", "b", "xab", "ba", "", "\u00e9ab"]),
    ({"type": "string", "pattern": "[a-z](?=\\d)(?!\\d{3})"}, ["a1", "a123", "a12", "1a", "b12x"]),
    ({"type": "string", "pattern": "^(?:a(?=b)|b)+$"}, ["ab", "abb", "a", "ba", "bab", "aab"]),
    (
        {"type": "string", "pattern": "((?:[^/]*/)*)(?=\\.(yaml|yml|json))"},
        ["a/b.yaml", "x.json", "yaml", "a/.yml", "b.txt", "\u00e9.json"],
    ),
    (
        {"type": "string", "pattern": "^(\\/?((\\.{2})|([a-z0-9\\-]*))($|\\/))*$"},
        ["", "/a/b", "../x", "a/", "A", "...", "a-b/c"],
    ),
    (
        {"type": "string", "pattern": "^(?:(?:^[*]|[a-z0-9])\\.)*[a-z]+$"},
        ["*.a.b", "a.*.b", "ab", "*.", "a.b", "**.a"],
    ),
    (
        {"type": "object", "properties": {"y": {"type": "string", "pattern": "/^[0-9]{4}$/"}}},
        [{}, {"y": "2020"}, {"y": "/2020/"}, {"z": 1}],
    ),
    (
        {
            "type": "object",
            "patternProperties": {"(?<!_)$": {"type": "integer"}},
            "additionalProperties": {"type": "string"},
        },
        [{"a": 1}, {"a_": "s"}, {"a_": 1}, {"a": "s"}, {"": 1}, {"_a": 2}],
    ),
    ({"type": "string", "not": {"pattern": "a(?=b)"}}, ["ab", "a", "ba", "xaby", ""]),
    (
        {"type": "string", "pattern": "(?:^|,)x(?=,|$)", "maxLength": 6},
        ["x", "x,", "a,x", "ax", "a,xy", "a,x,b", "b,b,x,"],
    ),
]


@pytest.mark.parametrize("kind", ["bytes", "llama3"])
@pytest.mark.parametrize("case", range(len(CASES)))
def test_verdicts_equal_jsonschemas(case, kind):
    check_verdicts(*CASES[case], kind, spellings=ascii_and_not)


@pytest.mark.parametrize("case", range(len(CASES)))
def test_random_walks_validate(case):
    schema, _ = CASES[case]
    report = differential.Report()
    differential.check_schema(schema, random.Random(case), report, walks=12, instances=4)
    assert not report.failures, report.failures[:5]
    assert report.counts["walks"] > 0


def test_code_point_classes_are_the_coarsest_partition_every_edge_list_respects():
    """lookaround._classes: code points of one class go to the same target (or nowhere) from
    every edge list, and code points of two classes are told apart by some list."""
    import bisect

    rng = random.Random(3)
    for _ in range(40):
        lists = []
        for _ in range(rng.randint(1, 4)):
            cuts = sorted(rng.sample(range(1, 60), rng.randint(2, 8)))
            es = [(lo, hi - 1, rng.randrange(3)) for lo, hi in zip(cuts, cuts[1:])]
            lists.append([e for e in es if rng.random() < 0.8])
        bounds, cls = lookaround._classes(lists)

        by_class: dict = {}
        for c in range(70):
            sig = tuple(next((t for lo, hi, t in es if lo <= c <= hi), None) for es in lists)
            by_class.setdefault(cls[bisect.bisect_right(bounds, c) - 1], set()).add(sig)
        assert all(len(v) == 1 for v in by_class.values())  # a class is one behaviour
        sigs = [next(iter(v)) for v in by_class.values()]
        assert len(set(sigs)) == len(sigs)  # and one behaviour is one class
