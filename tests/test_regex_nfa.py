"""The Thompson NFA of a code-point regex node, built in Cython (``_automata.determinize_node``,
behind ``automata.to_dfa``), against the Python construction it replaced, kept here as the
reference: the same NFA (states, edges and epsilon moves in the same order, surrogates left
out of every range), so the same DFA, the same state budget and the same work charged to the
compile (which decide what compiles), the same errors."""

from __future__ import annotations

import random

import pytest

from decoder.grammar.json_schema import _automata
from decoder.grammar.json_schema import automata as A
from decoder.grammar.json_schema.formats import format_regex
from decoder.grammar.regex import parse_regex

_SURR_LO, _SURR_HI = 0xD800, 0xDFFF


class _TooLarge(Exception):
    pass


def _split_surrogates(lo: int, hi: int):
    if hi < _SURR_LO or lo > _SURR_HI:
        return [(lo, hi)]
    out = []
    if lo < _SURR_LO:
        out.append((lo, _SURR_LO - 1))
    if hi > _SURR_HI:
        out.append((_SURR_HI + 1, hi))
    return out


class _Nfa:
    """automata._Nfa as it was (its budget's deadline check left out)."""

    def __init__(self, budget: int) -> None:
        self.eps: list[list[int]] = []
        self.edges: list[list[tuple]] = []
        self.left = budget

    def new(self) -> int:
        self.left -= 1
        if self.left < 0:
            raise _TooLarge
        self.eps.append([])
        self.edges.append([])
        return len(self.eps) - 1

    def build(self, n, s: int) -> int:
        k = n[0]
        if k == "empty":
            return s
        if k == "never":
            return self.new()
        if k == "bytes":
            for ch in n[1].decode("utf-8"):
                t = self.new()
                self.edges[s].append((ord(ch), ord(ch), t))
                s = t
            return s
        if k == "cps":
            t = self.new()
            for lo, hi in n[1]:
                for a, b in _split_surrogates(lo, hi):
                    self.edges[s].append((a, b, t))
            return t
        if k == "cat":
            for m in n[1]:
                s = self.build(m, s)
            return s
        if k == "alt":
            end = self.new()
            for m in n[1]:
                a = self.new()
                self.eps[s].append(a)
                self.eps[self.build(m, a)].append(end)
            return end
        if k == "rep":
            x, lo, hi = n[1], n[2], n[3]
            for _ in range(lo):
                s = self.build(x, s)
            if hi is None:
                loop = self.new()
                self.eps[s].append(loop)
                self.eps[self.build(x, loop)].append(loop)
                return loop
            end = self.new()
            for _ in range(hi - lo):
                self.eps[s].append(end)
                a = self.new()
                self.eps[s].append(a)
                s = self.build(x, a)
            self.eps[s].append(end)
            return end
        if k == "dfa":
            _, m, finals, edges = n
            base = len(self.eps)
            for _ in range(m):
                self.new()
            self.eps[s].append(base)
            for q, es in enumerate(edges):
                for lo, hi, t in es:
                    for a, b in _split_surrogates(lo, hi):
                        self.edges[base + q].append((a, b, base + t))
            end = self.new()
            for f in finals:
                self.eps[base + f].append(end)
            return end
        raise ValueError(f"regex node {k!r} has no code-point meaning")


def _reference(node, budget: int, shared):
    nfa = _Nfa(budget)
    try:
        start = nfa.new()
        end = nfa.build(node, start)
    except _TooLarge:
        return 1, None
    return _automata.determinize(nfa.eps, nfa.edges, start, end, budget, A.MAX_WORK, shared)


PATTERNS = [
    "^[0-9a-zA-Z_-]{1,255}$",
    "^[A-Fa-f\\d]{24}$",
    "^(a|bc)*d?$",
    "x+y{2,5}",
    "^\\w+@\\w+\\.(com|org)$",
    "^$",
    "[^a]",
    ".*",
    "^(?:[a-z]{2,3}-)?[A-Z]{2}$",
    "\\u00e9|\\ud83d\\ude00",
]


def _nodes():
    out = []
    for p in PATTERNS:
        for search in (False, True):
            out.append(parse_regex(p, syntax="ecma", search=search, portable=True))
    for name in ("date-time", "email", "uri", "uuid", "ipv4", "ipv6", "hostname", "date"):
        rx = format_regex(name)
        if rx is not None:
            out.append(rx)
    out += [
        ("empty",),
        ("never",),
        ("cat", (("bytes", "a\u00e9\U0001f600".encode()), ("never",))),
        ("cps", ((0, 0x10FFFF),)),  # across the surrogates
        ("cps", ((0xD800, 0xDBFF),)),  # nothing but surrogates
        ("rep", ("cps", ((0xD000, 0xE000), (0x61, 0x61))), 2, None),
        ("rep", ("alt", (("bytes", b"ab"), ("empty",))), 0, 7),
    ]
    # dfa nodes: minimised automata read back, one with an edge across the surrogates
    out += [A.to_dfa(n).node() for n in out[:12]]
    out.append(("dfa", 2, (1,), (((0xD000, 0xE000, 1),), ((0x30, 0x39, 1),))))
    return out


@pytest.mark.parametrize("budget", [A.DEFAULT_BUDGET, 40, 7])
def test_the_nfa_and_its_dfa_are_those_of_the_python_construction(budget):
    for node in _nodes():
        want_shared, got_shared = [10**9], [10**9]
        want = _reference(node, budget, want_shared)
        got = _automata.determinize_node(node, budget, A.MAX_WORK, got_shared)
        assert got == want, node
        assert got_shared == want_shared, node


def test_random_nested_nodes_equal_the_python_construction():
    rng = random.Random(5)

    def node(depth):
        k = rng.choice(["bytes", "cps", "cat", "alt", "rep", "empty"] if depth else ["cps"])
        if k == "bytes":
            return ("bytes", rng.choice(["a", "\u00e9", "xy", "\U0001f600"]).encode())
        if k == "cps":
            lo = rng.choice([0x30, 0x61, 0xD7F0, 0x10000])
            return ("cps", ((lo, lo + rng.choice([0, 5, 0x100])),))
        if k == "cat":
            return ("cat", tuple(node(depth - 1) for _ in range(rng.randint(1, 3))))
        if k == "alt":
            return ("alt", tuple(node(depth - 1) for _ in range(rng.randint(1, 3))))
        if k == "rep":
            lo = rng.randint(0, 2)
            return ("rep", node(depth - 1), lo, rng.choice([None, lo, lo + 2]))
        return ("empty",)

    for _ in range(300):
        n = node(4)
        want_shared, got_shared = [10**9], [10**9]
        want = _reference(n, 400, want_shared)
        got = _automata.determinize_node(n, 400, A.MAX_WORK, got_shared)
        assert got == want, n
        assert got_shared == want_shared


def test_errors_are_those_of_the_python_construction():
    with pytest.raises(ValueError, match="'bogus' has no code-point meaning"):
        _automata.determinize_node(("cat", (("bytes", b"a"), ("bogus",))), 100, A.MAX_WORK, None)
    with pytest.raises(A.RegexBudgetError, match="too large"):
        A.to_dfa(("rep", ("cps", ((0x61, 0x7A),)), 0, 5000), budget=1000)
    deep: tuple = ("bytes", b"a")
    for _ in range(30000):
        deep = ("cat", (deep,))
    with pytest.raises(RecursionError):
        _automata.determinize_node(deep, 100, A.MAX_WORK, None)
