"""The IR builder's per-rule calls (``lexeme``, ``nonterminal``, ``rule``) and the
productivity fixpoint run as Cython (``_wire._BuilderCore``, ``_wire.productive``;
docs/optimizations.md, section on the builder in Cython). Both must give exactly what the
Python code they replaced gave: the same symbols for the same calls, the same names, rules,
roles and laziness in the built grammar, the same productive set. The reference here is that
Python code, copied as it was."""

from __future__ import annotations

import random

import pytest

from decoder.grammar.ir import (
    DISTINCT_ITEM,
    DISTINCT_OPENER,
    NEVER,
    GrammarBuilder,
    GrammarIR,
    Lexeme,
    cps,
    lit,
    plus,
)
from decoder.grammar.json_schema import compile_json_schema


class _RefBuilder:
    """ir.GrammarBuilder's lexeme/nonterminal/rule before they moved to Cython."""

    def __init__(self) -> None:
        self._lexemes: list = []
        self._lexeme_by_regex: dict = {}
        self._lexeme_by_id: dict = {}
        self._nonterminals: list = []
        self._nt_names: set = set()
        self._nt_next: dict = {}
        self._rules: list = []
        self._rule_set: set = set()
        self._distinct: dict = {}
        self._lazy: list = []

    def lexeme(self, name, regex, role=0, lazy=False):
        plain = not role and not lazy
        if plain:
            got = self._lexeme_by_id.get(id(regex))
            if got is not None and got[0] is regex:
                return got[1]
        key = (regex, role or 0, bool(lazy))
        j = self._lexeme_by_regex.get(key)
        if j is None:
            j = len(self._lexemes)
            self._lexemes.append(Lexeme(name, regex))
            self._lexeme_by_regex[key] = j
            if role:
                self._distinct[j] = role
            if lazy:
                self._lazy.append(j)
        if plain:
            self._lexeme_by_id[id(regex)] = (regex, -(j + 1))
        return -(j + 1)

    def nonterminal(self, name):
        base = name
        k = self._nt_next.get(base, 1)
        if k > 1:
            name = f"{base}#{k}"
        while name in self._nt_names:
            k += 1
            name = f"{base}#{k}"
        self._nt_next[base] = k + 1
        self._nt_names.add(name)
        self._nonterminals.append(name)
        return len(self._nonterminals) - 1

    def rule(self, lhs, rhs):
        r = (lhs, tuple(rhs))
        if r not in self._rule_set:
            self._rule_set.add(r)
            self._rules.append(r)


def _ref_productive(g: GrammarIR) -> list[bool]:
    """GrammarIR.productive before it moved to Cython."""
    lex_ok = [lx.regex != NEVER for lx in g.lexemes]
    ok = [False] * len(g.nonterminals)
    missing = [0] * len(g.rules)
    users: list[list[int]] = [[] for _ in ok]
    work = []
    for r, (lhs, rhs) in enumerate(g.rules):
        n = 0
        for sym in rhs:
            if sym >= 0:
                n += 1
                users[sym].append(r)
            elif not lex_ok[~sym]:
                n = -1
                break
        missing[r] = n
        if not n:
            work.append(lhs)
    while work:
        nt = work.pop()
        if ok[nt]:
            continue
        ok[nt] = True
        for r in users[nt]:
            n = missing[r] - 1
            missing[r] = n
            if not n:
                work.append(g.rules[r][0])
    return ok


def _regexes():
    digits = plus(cps([(48, 57)]))
    return [
        digits,
        tuple(list(digits)),  # equal, another object
        lit("a"),
        lit("ab"),
        plus(lit("ab")),
        cps([(97, 122)]),
        tuple(list(cps([(97, 122)]))),
    ]


@pytest.mark.parametrize("seed", range(40))
def test_builder_calls_equal_the_python_reference(seed):
    rng = random.Random(seed)
    regexes = _regexes()
    names = ["a", "a#2", "b", "a#3", "obj", "obj#2#2", "v~1"]
    b, ref = GrammarBuilder(), _RefBuilder()
    syms: list[int] = []
    for _ in range(rng.randrange(1, 120)):
        op = rng.random()
        if op < 0.35:
            rx = rng.choice(regexes)
            role = rng.choice([0, 0, 0, DISTINCT_ITEM, DISTINCT_OPENER])
            lazy = rng.random() < 0.2
            name = rng.choice(["L", "M", "KEY"])
            got = b.lexeme(name, rx, role, lazy)
            assert got == ref.lexeme(name, rx, role, lazy)
            syms.append(got)
        elif op < 0.65:
            name = rng.choice(names)
            got = b.nonterminal(name)
            assert got == ref.nonterminal(name)
            syms.append(got)
        elif ref._nonterminals:
            lhs = rng.randrange(len(ref._nonterminals))
            rhs = [rng.choice(syms) for _ in range(rng.randrange(4))] if syms else []
            if rng.random() < 0.3 and ref._rules:  # a rule again: not added twice
                lhs, rhs = rng.choice(ref._rules)
                rhs = list(rhs)
            b.rule(lhs, rhs)
            ref.rule(lhs, rhs)
    assert b._nonterminals == ref._nonterminals
    assert b._rules == ref._rules
    assert [(lx.name, lx.regex) for lx in b._lexemes] == [
        (lx.name, lx.regex) for lx in ref._lexemes
    ]
    assert b._distinct == ref._distinct and b._lazy == ref._lazy
    if ref._nonterminals:
        g = b.build(0)
        assert g.nonterminals[: len(ref._nonterminals)] == ref._nonterminals


def test_builder_rule_takes_any_sequence_and_refuses_a_lexeme_head():
    b = GrammarBuilder()
    s = b.nonterminal("s")
    x = b.literal("x")
    b.rule(s, (x,))
    b.rule(s, [x])  # the same rule: kept once
    b.rule(s, iter([x, x]))
    assert b._rules == [(s, (x,)), (s, (x, x))]
    with pytest.raises(AssertionError):
        b.rule(x, [s])


def _random_grammar(rng: random.Random) -> GrammarIR:
    n_nt = rng.randrange(1, 12)
    lexemes = [Lexeme(f"L{j}", NEVER if rng.random() < 0.3 else lit("x")) for j in range(4)]
    rules = []
    for _ in range(rng.randrange(0, 30)):
        rhs = []
        for _ in range(rng.randrange(0, 4)):
            if rng.random() < 0.6:
                rhs.append(rng.randrange(n_nt))
            else:
                rhs.append(~rng.randrange(len(lexemes)))
        rules.append((rng.randrange(n_nt), tuple(rhs)))
    return GrammarIR(lexemes, [f"n{i}" for i in range(n_nt)], rules, 0)


@pytest.mark.parametrize("seed", range(300))
def test_productive_equals_the_python_reference(seed):
    g = _random_grammar(random.Random(seed))
    assert g.productive() == _ref_productive(g)


def test_productive_a_never_lexeme_after_nonterminals_kills_the_rule():
    # n0 ::= n1 NEVER | n1 ; n1 ::= n2 ; n2 ::= NEVER n1 (unproductive cycle), n3 ::= x
    lexemes = [Lexeme("N", NEVER), Lexeme("X", lit("x"))]
    rules = [(0, (1, -1)), (1, (2,)), (2, (-1, 1)), (3, (-2,)), (0, (3, 3, -1)), (4, (3, 3))]
    g = GrammarIR(lexemes, ["n0", "n1", "n2", "n3", "n4"], rules, 0)
    assert g.productive() == [False, False, False, True, True]
    assert g.productive() == _ref_productive(g)


def test_productive_of_real_schemas_equals_the_python_reference():
    for schema in (
        {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]},
        {"type": "array", "items": {"anyOf": [{"type": "integer"}, {"$ref": "#"}]}},
        {"not": {}},
        {"type": "object", "properties": {"a": {"not": {}}}, "required": ["a"]},
    ):
        try:
            g = compile_json_schema(schema)
        except Exception:  # noqa: BLE001 - an unsatisfiable schema is refused
            continue
        assert g.productive() == _ref_productive(g)
