"""An object's states (``Compiler._object_rules``) made by ``_wire._ObjectStates`` (Cython, an
explicit stack) must be exactly what the Python closures ``get``/``kv`` made, which still run
where the builder is not a ``_BuilderCore`` (the any-value template's recorder): the same
nonterminal names in the same order, the same rules in the same order, the same lexemes, and
the compiler's rule and nonterminal counters at the same values, so that ``max_rules`` and the
deadline trip at the same rule. Each schema is compiled twice, once with the Cython states and
once with the Python ones (``compiler._BuilderCore`` hidden), and the grammars compared."""

from __future__ import annotations

import pytest
from json_schema_util import bench_sample

from decoder.errors import SchemaLimitError
from decoder.grammar.json_schema import compile_json_schema, compiler


class _NotACore:
    pass


def _python_states(monkeypatch):
    monkeypatch.setattr(compiler, "_BuilderCore", _NotACore)


def _grammar(schema, **kw):
    ir = compile_json_schema(schema, **kw)
    return (
        list(ir.nonterminals),
        list(ir.rules),
        [(x.name, x.regex) for x in ir.lexemes],
        ir.start,
    )


def _both(monkeypatch, schema, **kw):
    fast = _grammar(schema, **kw)
    with monkeypatch.context() as m:
        _python_states(m)
        slow = _grammar(schema, **kw)
    return fast, slow


I = {"type": "integer"}
S = {"type": "string"}
B = {"type": "boolean"}

SCHEMAS = [
    # plain objects: declared order, required or not, open or closed
    {"type": "object", "properties": {"a": I, "b": S}},
    {"type": "object", "properties": {"a": I, "b": S}, "required": ["a"]},
    {"type": "object", "properties": {"a": I, "b": S}, "required": ["b"]},
    {"type": "object", "properties": {"a": I, "b": S, "c": B}, "required": ["c", "a"]},
    {"type": "object", "properties": {"z": I, "a": S, "m": B}, "additionalProperties": False},
    {
        "type": "object",
        "properties": {"a": I, "b": S, "c": B},
        "required": ["b"],
        "additionalProperties": False,
    },
    {"type": "object", "properties": {"a": I}, "additionalProperties": True},
    {"type": "object", "properties": {"a": I}, "additionalProperties": I},
    {"type": "object", "additionalProperties": S},
    {"type": "object", "additionalProperties": False},
    {"type": "object"},
    # patternProperties: a kind of extra key beside the declared ones, or a few names
    {"type": "object", "properties": {"a": I}, "patternProperties": {"^x_": S}},
    {
        "type": "object",
        "properties": {"a": I},
        "patternProperties": {"^x_": S, "^y": I},
        "additionalProperties": False,
    },
    {"type": "object", "patternProperties": {"^(foo|bar)$": I}, "additionalProperties": False},
    {"type": "object", "properties": {"a": I}, "patternProperties": {"^a$": {"minimum": 3}}},
    # counted: minProperties / maxProperties
    {"type": "object", "properties": {"a": I, "b": S}, "minProperties": 1},
    {"type": "object", "properties": {"a": I, "b": S, "c": B}, "maxProperties": 2},
    {
        "type": "object",
        "properties": {"a": I, "b": S, "c": B},
        "minProperties": 2,
        "maxProperties": 2,
        "additionalProperties": False,
    },
    {"type": "object", "properties": {"a": I}, "minProperties": 3, "additionalProperties": S},
    {"type": "object", "maxProperties": 3, "additionalProperties": I},
    {"type": "object", "properties": {"a": I}, "maxProperties": 0},
    # a finite key language: the extras counted (xcap) or the names declared
    {"type": "object", "propertyNames": {"enum": ["p", "q", "r"]}},
    {"type": "object", "properties": {"a": I}, "propertyNames": {"pattern": "^[ab]$"}},
    {"type": "object", "properties": {"a": I}, "propertyNames": {"maxLength": 1}},
    # dependentRequired / dependencies, required through allOf, nested objects
    {
        "type": "object",
        "properties": {"a": I, "b": S, "c": B},
        "dependentRequired": {"a": ["b"]},
    },
    {"type": "object", "properties": {"a": I, "b": S}, "dependencies": {"b": ["a"]}},
    {
        "allOf": [
            {"type": "object", "properties": {"a": I}, "required": ["a"]},
            {"properties": {"b": S}, "required": ["b"]},
        ]
    },
    {
        "type": "object",
        "properties": {
            "o": {"type": "object", "properties": {"x": I, "y": {"type": "array", "items": S}}},
            "p": {"type": "object", "additionalProperties": False},
        },
        "required": ["o"],
    },
    # negated object keywords: __some_key__ requirements, several bits (f)
    {"type": "object", "properties": {"a": I, "b": S}, "not": {"required": ["a"]}},
    {"type": "object", "properties": {"a": I, "b": S}, "not": {"required": ["a", "b"]}},
    {
        "type": "object",
        "properties": {"a": I, "b": S, "c": B},
        "not": {"properties": {"a": {"const": 1}}, "required": ["a"]},
    },
    {
        "type": "object",
        "properties": {"a": I, "b": S},
        "additionalProperties": I,
        "not": {"additionalProperties": {"type": "integer", "minimum": 5}},
    },
    {
        "type": "object",
        "properties": {"a": I, "b": S, "c": B},
        "oneOf": [{"required": ["a"]}, {"required": ["b"]}],
    },
    {
        "type": "object",
        "properties": {"a": I, "b": S, "c": B},
        "minProperties": 1,
        "maxProperties": 2,
        "not": {"required": ["c"]},
    },
    # non-identifier and repeated names, names needing escapes
    {"type": "object", "properties": {"a b": I, 'q"': S, "é": B, "": I}, "required": [""]},
    {
        "anyOf": [
            {"type": "object", "properties": {"a": I}},
            {"type": "object", "properties": {"a": S}},
        ]
    },
]


@pytest.mark.parametrize("k", range(len(SCHEMAS)))
@pytest.mark.parametrize("order", ["schema", "any"])
@pytest.mark.parametrize("strict", [False, True])
def test_cython_states_equal_python_states(monkeypatch, k, order, strict):
    schema = SCHEMAS[k]
    try:
        fast, slow = _both(monkeypatch, schema, property_order=order, strict_objects=strict)
    except Exception as e:  # noqa: BLE001 - then both must refuse alike
        with monkeypatch.context() as m:
            _python_states(m)
            with pytest.raises(type(e)) as info:
                _grammar(schema, property_order=order, strict_objects=strict)
        assert str(info.value) == str(e)
        return
    assert fast[0] == slow[0], "nonterminal names"
    assert fast[1] == slow[1], "rules (in order)"
    assert fast == slow


def test_the_cython_states_are_used(monkeypatch):
    """The comparison above compares two paths: the compiler builds _ObjectStates where the
    builder is a core, and not where it is hidden."""
    made = []
    real = compiler._ObjectStates

    def spy(*a):
        made.append(1)
        return real(*a)

    monkeypatch.setattr(compiler, "_ObjectStates", spy)
    compile_json_schema(SCHEMAS[1])
    assert made
    made.clear()
    _python_states(monkeypatch)
    compile_json_schema(SCHEMAS[1])
    assert not made


@pytest.mark.parametrize("max_rules", [5, 9, 14, 20, 33])
def test_max_rules_trips_at_the_same_rule(monkeypatch, max_rules):
    """The counters live in _ObjectStates while it runs: the limit must trip on the same
    rule, with the same message, as Compiler.rule's own count."""
    schema = {
        "type": "object",
        "properties": {f"p{j}": I for j in range(12)},
        "maxProperties": 6,
    }
    out = []
    for python in (False, True):
        with monkeypatch.context() as m:
            if python:
                _python_states(m)
            try:
                out.append(_grammar(schema, max_rules=max_rules))
            except SchemaLimitError as e:
                out.append(str(e))
    assert out[0] == out[1]


def test_the_rule_count_crosses_the_deadline_check(monkeypatch):
    """Over 256 rules inside one object's states: Compiler.rule runs its deadline check at
    every 256th rule; the counts it sees must be the Python path's."""
    seen: list[list] = [[], []]
    real = compiler.Compiler.check_deadline
    schema = {
        "type": "object",
        "properties": {f"p{j}": {"type": ["integer", "string"]} for j in range(40)},
        "maxProperties": 12,
    }
    for k, python in enumerate((False, True)):
        with monkeypatch.context() as m:
            if python:
                _python_states(m)

            def check(self, path, _k=k):
                seen[_k].append((self.rules, self.nt_count))
                return real(self, path)

            m.setattr(compiler.Compiler, "check_deadline", check)
            _grammar(schema)
    assert len(seen[0]) >= 3
    assert seen[0] == seen[1]


def test_jsonschemabench_sample_equal(monkeypatch):
    schemas = bench_sample(4, seed=15)
    if not schemas:
        pytest.skip("no ../shared/jsonschemabench")
    compared = 0
    for schema in schemas:
        try:
            fast = _grammar(schema, timeout=None)
        except Exception as e:  # noqa: BLE001
            fast = f"{type(e).__name__}: {e}"
        with monkeypatch.context() as m:
            _python_states(m)
            try:
                slow = _grammar(schema, timeout=None)
            except Exception as e:  # noqa: BLE001
                slow = f"{type(e).__name__}: {e}"
        assert fast == slow
        compared += 1
    assert compared >= 40


def test_wide_object_equal(monkeypatch):
    """1,990 declared properties (under the front end's 2,000 sub-schema combinations): the
    explicit stack goes ~4,000 states deep, as the closures' recursion did."""
    schema = {
        "type": "object",
        "properties": {f"p{j}": {"type": "integer"} for j in range(1990)},
        "required": ["p5", "p1500"],
        "additionalProperties": False,
    }
    fast, slow = _both(monkeypatch, schema)
    assert len(fast[1]) > 9_000
    assert fast == slow
