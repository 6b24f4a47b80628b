"""Bounded numbers against an exact oracle: every JSON number text, with or without an
exponent, is accepted exactly when its value is in range (and integral for integers), or
is one of the documented completeness gaps (a mantissa that is not normalised under an
exponent, an integer's mantissa with more than MAX_INT_EXP_FRACTION significant fraction
digits); never an invalid one.

The oracle is decimal arithmetic on the text (no floats), so ``1e-5`` under
``minimum: 1e-5`` or ``-0`` under ``maximum: 0`` are judged exactly."""

from __future__ import annotations

import random
import re
from decimal import Decimal

import pytest
from json_schema_util import accepts

from decoder.grammar.json_schema import compile_json_schema
from decoder.grammar.json_schema.numeric import MAX_INT_EXP_FRACTION

JSON_NUMBER = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?\Z")
NORMALISED_EXP = re.compile(r"-?([1-9](\.[0-9]+)?|0(\.0+)?)[eE][+-]?[0-9]+\Z")


def in_range(v: Decimal, schema: dict) -> bool:
    if schema.get("type") == "integer" and v != v.to_integral_value():
        return False
    for k, ok in (
        ("minimum", lambda b: v >= b),
        ("maximum", lambda b: v <= b),
        ("exclusiveMinimum", lambda b: v > b),
        ("exclusiveMaximum", lambda b: v < b),
    ):
        if k in schema and not ok(Decimal(str(schema[k]))):
            return False
    return True


def must_accept(text: str, schema: dict) -> bool:
    """Texts the compiler promises to accept when valid: no exponent, or a normalised
    mantissa (``[1-9](.d+)?`` or zero) under an exponent; for integers, at most
    MAX_INT_EXP_FRACTION significant fraction digits."""
    if "e" not in text.lower():
        return True
    if not NORMALISED_EXP.match(text):
        return False
    if schema.get("type") == "integer":
        v = Decimal(text)
        if v == 0:
            return True
        mant = text.lower().split("e")[0]
        frac = mant.split(".")[1].rstrip("0") if "." in mant else ""
        return len(frac) <= MAX_INT_EXP_FRACTION
    return True


def random_text(rng: random.Random, near: list[Decimal]) -> str:
    """A JSON number text, often close to one of the bounds."""
    if near and rng.random() < 0.6:
        b = rng.choice(near)
        v = b + Decimal(rng.choice([0, 0, 1, -1, 2, -2])) * Decimal(10) ** rng.randint(-6, 2)
        if rng.random() < 0.3:
            v = -v
    else:
        v = Decimal(rng.randint(-(10**6), 10**6)).scaleb(rng.randint(-8, 8))
    style = rng.random()
    if style < 0.35:
        t = format(v, "f")
    elif style < 0.75:
        t = format(v, "e")  # normalised mantissa, e+N / e-N
        if rng.random() < 0.5:
            t = t.replace("e+", "e") if rng.random() < 0.5 else t.upper()
        if rng.random() < 0.3:  # json.dumps writes exponents with leading zeros: 1e-05
            m, e = t.lower().split("e")
            sign = e[0] if e[0] in "+-" else ""
            t = f"{m}e{sign}0{e.lstrip('+-')}"
    else:
        t = repr(float(v))
    return t


BOUNDS = [
    {"type": "number", "minimum": 1e-5},
    {"type": "number", "minimum": 0.5, "maximum": 100},
    {"type": "number", "exclusiveMinimum": -2.5, "exclusiveMaximum": 1e3},
    {"type": "number", "maximum": -0.001},
    {"type": "number", "minimum": -1e10, "maximum": 1e-3},
    {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
    {"type": "number", "minimum": 0, "maximum": 0},
    {"type": "number", "minimum": 123.456, "maximum": 123.457},
    {"type": "integer"},
    {"type": "integer", "minimum": 0, "maximum": 200},
    {"type": "integer", "minimum": -1000000, "maximum": 10},
    {"type": "integer", "exclusiveMinimum": 1.5},
    {"type": "integer", "maximum": -3},
    {"type": "integer", "minimum": 1e15},
]


@pytest.mark.parametrize("schema", BOUNDS, ids=lambda s: str(sorted(s.items())))
def test_bounded_numbers_match_the_exact_oracle(schema):
    g = compile_json_schema(schema)
    rng = random.Random(hash(str(sorted(schema.items()))) & 0xFFFF)
    near = [Decimal(str(schema[k])) for k in schema if k != "type"]
    fixed = ["0", "-0", "-0.0", "0e0", "-0E-3", "1e2", "1E+2", "2.5e1", "1e-05", "1e-5", "1e+20"]
    # a zero mantissa's fraction is zeros: 0.83e1 is 8.3 (accepted as zero once; found by
    # the random-schema differential run at another seed)
    fixed += ["0.83e1", "-0.52e1", "0.00e3", "-0.0e-2", "0.5e0", "0.1e1"]
    texts = fixed + [random_text(rng, near) for _ in range(250)]
    missed = []
    for t in texts:
        assert JSON_NUMBER.match(t), t
        valid = in_range(Decimal(t), schema)
        got = accepts(g, t)
        assert not (got and not valid), f"{schema}: invalid {t} accepted"
        if valid and not got and must_accept(t, schema):
            missed.append(t)
    assert not missed, f"{schema}: valid texts rejected: {missed[:10]}"


def test_exponent_examples_of_the_issue():
    assert accepts(compile_json_schema({"type": "number", "minimum": 1e-5}), "1e-5")
    assert accepts(compile_json_schema({"type": "integer"}), "1e2")
    assert not accepts(compile_json_schema({"type": "integer"}), "1.5e0")
    assert not accepts(compile_json_schema({"type": "integer", "maximum": 99}), "1e2")
    # draft-04: an integer is an integer literal, so no exponent there
    d4 = {"$schema": "http://json-schema.org/draft-04/schema#", "type": "integer"}
    assert not accepts(compile_json_schema(d4), "1e2")


MULTIPLES = [
    {"type": "integer", "multipleOf": 30},
    {"type": "integer", "multipleOf": 7, "minimum": -1000000},
    {"type": "integer", "multipleOf": 1.5},  # an integer multiple of 3/2 is one of 3
    {"type": "number", "multipleOf": 1.5},
    {"type": "number", "multipleOf": 0.3, "exclusiveMinimum": -4.5},
    {"type": "number", "multipleOf": 0.0075, "maximum": 5},
    {"multipleOf": 0.25, "minimum": -3, "maximum": 100000},
    {"$schema": "http://json-schema.org/draft-04/schema#", "type": "integer", "multipleOf": 6},
]


def _draws(rng: random.Random, m: Decimal) -> list[str]:
    """Multiples of m (written with extra fraction zeros or not), near misses, and random
    texts without an exponent."""
    out = []
    for _ in range(120):
        k = rng.choice([rng.randint(-40, 40), rng.randint(-(10**9), 10**9)])
        x = m * k
        out += [format(x, "f"), format(x + m / 7, "f"), format(x + Decimal("0.001"), "f")]
        if rng.random() < 0.3:
            out.append(format(x, "f") + ("0" if "." in format(x, "f") else ".0"))
    out += [
        format(Decimal(rng.randint(-(10**6), 10**6)).scaleb(-rng.randint(0, 5)), "f")
        for _ in range(150)
    ]
    return [t.rstrip(".") for t in out]


@pytest.mark.parametrize("schema", MULTIPLES, ids=lambda s: str(sorted(s.items())))
def test_multiple_of_matches_the_exact_oracle(schema):
    """multipleOf by any divisor (not only 2^a 5^b or 10^-k) over unbounded and one-sided
    ranges: the remainder automaton accepts a text without an exponent exactly when its
    value, in decimal arithmetic, is a multiple in range."""
    g = compile_json_schema(schema)
    m = Decimal(str(schema["multipleOf"]))
    draft4 = "draft-04" in schema.get("$schema", "")
    rng = random.Random(str(sorted(schema.items())))
    wrong = []
    for t in ["0", "-0", "0.0", "-0.00"] + _draws(rng, m):
        if not JSON_NUMBER.match(t) or (draft4 and "." in t):
            continue
        valid = in_range(Decimal(t), schema) and Decimal(t) % m == 0
        if accepts(g, t) != valid:
            wrong.append((t, valid))
    assert not wrong, f"{schema}: {wrong[:10]}"


def test_multiple_of_past_the_automaton_limit_is_refused_by_name():
    from decoder.errors import SchemaError

    with pytest.raises(SchemaError, match=r"multipleOf.*remainder automaton.*states"):
        compile_json_schema({"type": "integer", "multipleOf": 123456789})
    # a small range is still enumerated
    g = compile_json_schema(
        {"type": "integer", "multipleOf": 123456789, "maximum": 10**9, "minimum": 0}
    )
    assert accepts(g, "987654312") and not accepts(g, "987654313")


NEGATED = [
    # (schema, the exact predicate on the value)
    ({"type": "integer", "not": {"multipleOf": 3}}, lambda v: v % 1 == 0 and v % 3 != 0),
    (
        {"type": "number", "maximum": 100, "not": {"multipleOf": 0.5}},
        lambda v: v <= 100 and v % Decimal("0.5") != 0,
    ),
    (  # exactly one of two overlapping branches: the negation of the other inside each
        {"oneOf": [{"type": "integer", "multipleOf": 3}, {"type": "integer", "multipleOf": 5}]},
        lambda v: v % 1 == 0 and (v % 3 == 0) != (v % 5 == 0),
    ),
    (  # two non-integer divisors: their least common multiple (1.5)
        {"type": "number", "multipleOf": 0.5, "allOf": [{"multipleOf": 0.3}]},
        lambda v: v % Decimal("1.5") == 0,
    ),
]


@pytest.mark.parametrize("case", range(len(NEGATED)))
def test_negated_and_combined_multiple_of_match_the_exact_oracle(case):
    """not: {multipleOf} is the complement of the remainder automaton among number texts
    without an exponent (3e1 would be a multiple of 30 that the automaton does not read):
    never a multiple, and every non-multiple written without an exponent is accepted."""
    schema, valid = NEGATED[case]
    g = compile_json_schema(schema)
    rng = random.Random(case)
    wrong = []
    for t in ["0", "-0", "1.0", "15", "30", "3e1", "1e2"] + _draws(rng, Decimal("0.5")):
        if not JSON_NUMBER.match(t):
            continue
        want = valid(Decimal(t))
        got = accepts(g, t)
        if got and not want or (want and not got and "e" not in t.lower()):
            wrong.append((t, want))
    assert not wrong, f"{schema}: {wrong[:10]}"


def test_enum_values_meet_multiple_of_in_exact_arithmetic():
    """Enum values are filtered by the other keywords with the grammar's own arithmetic:
    0.9 is a multiple of 0.3 (jsonschema's float division says no: 0.9 / 0.3 = 3.0000000000000004),
    1.0 and 0.5 are not; a string is not a number, so multipleOf does not apply to it."""
    g = compile_json_schema({"enum": [0.9, 1.0, 0.5, "x"], "multipleOf": 0.3})
    assert [accepts(g, t) for t in ["0.9", "1.0", "0.5", '"x"']] == [True, False, False, True]
