"""Regex algebra on code-point languages: intersection and complement, as DFAs.

The regex IR (:mod:`decoder.grammar.ir`) has no intersection or complement, but it has a
``("dfa", n, finals, edges)`` node: a deterministic automaton over code points that the
engine embeds in a lexeme like any other regex. The JSON Schema compiler needs the
Boolean operations on *decoded* string languages (two patterns on one string, a pattern
and a format, ``not: {pattern}``, the keys matching no pattern of ``patternProperties``),
so they are done here, exactly, on DFAs:

* :func:`to_dfa` -- a code-point regex node (or a ``dfa`` node) as a :class:`Dfa`: a
  Thompson NFA, then the subset construction over the disjoint code-point intervals that
  the edges leaving a subset induce, then minimisation (Moore refinement);
* :func:`intersect`, :func:`complement` (within all strings of code points),
  :func:`minus_finite`, :func:`restrict_length`: products and flips of DFAs;
* :func:`encode_json` -- the DFA of the *JSON encodings* of a decoded language: the same
  per-code-point homomorphism as :func:`decoder.grammar.json_schema.strings.encode_chars`
  (plain UTF-8, short escapes, ``\\u00XX`` for controls, ``\\uXXXX`` for non-ASCII code
  points of the Basic Multilingual Plane and surrogate pairs above it), built as a product
  of the DFA with the escape decoder, so that a code point's escape sequences lead to the
  state its DFA edge leads to (one ``\\uXXXX`` is one code point, whatever the DFA says
  about it).

Every construction counts the states it makes against a budget and raises
:class:`RegexBudgetError` past it; the compiler turns that into the usual
:class:`SchemaError` naming the keyword and the path. Surrogate code points are never on
an edge (they are not characters of a UTF-8 string).

The subset construction, the products, trimming and minimisation run in C++
(:mod:`._automata`, ``csrc/code_point_dfa.h``), one call per construction, with the same
states, numbering and counted work as the Python they replaced (docs/optimizations.md,
section 21).
"""

from __future__ import annotations

import contextlib
import contextvars

from ..ir import MAX_CODEPOINT, normalize_ranges
from . import _automata

#: the most DFA states one construction may make (NFA states: twice that)
DEFAULT_BUDGET = 6000

_SURR_LO, _SURR_HI = 0xD800, 0xDFFF
_ALL = ((0, _SURR_LO - 1), (_SURR_HI + 1, MAX_CODEPOINT))


class Dfa:
    """A deterministic automaton over code points: start 0, ``edges[s]`` a sorted tuple of
    disjoint ``(lo, hi, to)``; a missing code point goes to an implicit dead state."""

    __slots__ = ("edges", "finals")

    def __init__(self, edges, finals) -> None:
        self.edges = [tuple(es) for es in edges]
        self.finals = frozenset(finals)

    @classmethod
    def _of(cls, made) -> Dfa:
        """The Dfa of ``(edges, finals)`` as :mod:`._automata` returns them (edges tuples)."""
        d = cls.__new__(cls)
        d.edges = made[0]
        d.finals = frozenset(made[1])
        return d

    @property
    def n(self) -> int:
        return len(self.edges)

    def is_empty(self) -> bool:
        return not self.finals

    def accepts(self, s: str) -> bool:
        q = 0
        for ch in s:
            q = _step(self.edges[q], ord(ch))
            if q is None:
                return False
        return q in self.finals

    def node(self) -> tuple:
        """The ``("dfa", ...)`` regex node (``("never",)`` for the empty language)."""
        if not self.finals:
            return ("never",)
        return ("dfa", self.n, tuple(sorted(self.finals)), tuple(self.edges))


def _step(edges, c: int):
    for lo, hi, t in edges:
        if c < lo:
            return None
        if c <= hi:
            return t
    return None


#: work (transitions built or examined) one construction may spend, and one schema compile
#: in all: counted, not timed, so what compiles does not depend on the machine's load
#: (about 3 s and 3.5 s of CPU on this project's 2-core machine, inside the 10 s compile timeout)
MAX_WORK = 3_000_000
MAX_WORK_PER_COMPILE = 3_500_000
_COMPILE_WORK: contextvars.ContextVar = contextvars.ContextVar("regex_algebra_work", default=None)


class work_budget:  # noqa: N801 - used as a function: ``with work_budget(units):``
    """All constructions inside share ``units`` of work (one schema compile). (A class
    rather than a ``@contextmanager`` generator: every compile enters it.)"""

    __slots__ = ("units", "token")

    def __init__(self, units: int) -> None:
        self.units = units

    def __enter__(self) -> None:
        self.token = _COMPILE_WORK.set([self.units])

    def __exit__(self, *exc: object) -> None:
        _COMPILE_WORK.reset(self.token)


@contextlib.contextmanager
def charged_to(shared: list):
    """Constructions inside charge ``shared`` (``[units left]``) instead of the current
    compile's budget (a check beside the compile that must not use up its work)."""
    token = _COMPILE_WORK.set(shared)
    try:
        yield
    finally:
        _COMPILE_WORK.reset(token)


class RegexBudgetError(ValueError):
    """An exact construction would exceed its size or work budget."""


def _done(status: int, made):
    """The result of an :mod:`._automata` call, or the RegexBudgetError its status names
    (the messages the Python constructions raised)."""
    if status == 0:
        return made
    if status == 1:
        raise RegexBudgetError("the automaton of this regex combination is too large")
    if status == 2:
        raise RegexBudgetError(
            "the automaton of this regex combination takes too much work "
            f"(limit {MAX_WORK:,} transitions)"
        )
    raise RegexBudgetError(
        "the automaton of this schema's regex combinations take too much work "
        f"(limit {MAX_WORK_PER_COMPILE:,} transitions per compile)"
    )


# ------------------------------------------------------------------ regex -> NFA -> DFA
_DFA_MEMO: dict = {}  # id(node) -> (node, budget, Dfa): formats and patterns recur


def to_dfa(node, budget: int = DEFAULT_BUDGET) -> Dfa:
    """The minimal DFA of a code-point regex node (memoised by node identity)."""
    got = _DFA_MEMO.get(id(node))
    if got is not None and got[0] is node and got[1] == budget:
        return got[2]
    d = _to_dfa(node, budget)
    if len(_DFA_MEMO) > 512:
        _DFA_MEMO.clear()
    _DFA_MEMO[id(node)] = (node, budget, d)
    return d


def node_of(d: Dfa) -> tuple:
    """``d.node()``, remembered as :func:`to_dfa`'s answer for that node: a region or key set
    built here goes on to be encoded (``strings.encode_chars``), listed
    (``distinct_keys.finite_names``) and counted, each of which asked ``to_dfa`` for its node
    and so ran the subset construction and minimisation again on an automaton that is
    already minimal. ``d`` is a result of this module's constructions (products, splits and
    differences are minimised and renumbered breadth first, as ``determinize`` numbers
    them), so ``to_dfa(node)`` built ``d`` again state for state: the memo entry holds what
    it would have returned. Within the default budget only (a larger one raised there)."""
    node = d.node()
    if node[0] == "dfa" and d.n + 2 <= DEFAULT_BUDGET:
        if len(_DFA_MEMO) > 512:
            _DFA_MEMO.clear()
        _DFA_MEMO[id(node)] = (node, DEFAULT_BUDGET, d)
    return node


def _to_dfa(node, budget: int) -> Dfa:
    """The Thompson NFA of ``node`` (at most ``budget`` states) and its minimal DFA, both built
    in :mod:`._automata`."""
    made = _automata.determinize_node(node, budget, MAX_WORK, _COMPILE_WORK.get())
    return Dfa._of(_done(*made))


# ------------------------------------------------------------------ operations
def trim(d: Dfa) -> Dfa:
    """Only the states reachable from the start that can reach a final state (renumbered
    in breadth-first order, start 0)."""
    return Dfa._of(_automata.trim(d))


def minimize(d: Dfa) -> Dfa:
    """The minimal trimmed DFA (Moore's partition refinement; each round charges the
    compile's work budget with the edges and states)."""
    return Dfa._of(_done(*_automata.minimize(d, _COMPILE_WORK.get())))


def intersect(d1: Dfa, d2: Dfa, budget: int = DEFAULT_BUDGET) -> Dfa:
    """The product automaton: ``L(d1) & L(d2)``."""
    made = _automata.intersect(d1, d2, budget, MAX_WORK, _COMPILE_WORK.get())
    return Dfa._of(_done(*made))


def intersect_all(ds, budget: int = DEFAULT_BUDGET) -> Dfa:
    ds = sorted(ds, key=lambda d: d.n)
    out = ds[0]
    for d in ds[1:]:
        out = intersect(out, d, budget)
        if out.is_empty():
            break
    return out


def split_by(ds, classify, budget: int = DEFAULT_BUDGET) -> dict:
    """The product of ``ds`` split by acceptance: ``classify(flags)`` (``flags[i]`` whether
    ``ds[i]`` accepts) names the part a string belongs to, or None for none; returns
    ``{label: Dfa}``, the strings of each part (the parts are disjoint by construction:
    a string's flags are one tuple)."""
    made = _done(
        *_automata.split_by(list(ds), classify, _ALL, budget, MAX_WORK, _COMPILE_WORK.get())
    )
    return {lab: Dfa._of(m) for lab, m in made.items()}


def complete(d: Dfa) -> Dfa:
    """The same language with a total transition function (a sink state added, the last:
    each state's missing code points go there)."""
    return Dfa._of(_automata.complete(d))


def complement(d: Dfa) -> Dfa:
    """All strings of code points not in ``L(d)`` (complete, finals flipped, minimised)."""
    return Dfa._of(_done(*_automata.complement(d, _COMPILE_WORK.get())))


def literals(strs) -> Dfa:
    """The DFA of a finite set of strings (a trie)."""
    trie: list[dict] = [{}]
    finals = set()
    for s in strs:
        q = 0
        for ch in s:
            c = ord(ch)
            if c not in trie[q]:
                trie.append({})
                trie[q][c] = len(trie) - 1
            q = trie[q][c]
        finals.add(q)
    return minimize(Dfa([[(c, c, t) for c, t in sorted(m.items())] for m in trie], finals))


def minus_finite(d: Dfa, strs) -> Dfa:
    strs = [s for s in strs if d.accepts(s)]
    if not strs:
        return d
    return intersect(d, complement(literals(strs)))


def length_dfa(lo: int, hi: int | None) -> Dfa:
    """Strings of ``lo..hi`` code points."""
    top = lo if hi is None else hi
    edges = []
    for k in range(top + 1):
        if k < top:
            edges.append([(a, b, k + 1) for a, b in _ALL])
        elif hi is None:
            edges.append([(a, b, k) for a, b in _ALL])
        else:
            edges.append([])
    return Dfa(edges, [k for k in range(lo, top + 1)])


def restrict_length(d: Dfa, lo: int, hi: int | None, budget: int = DEFAULT_BUDGET) -> Dfa:
    if lo == 0 and hi is None:
        return d
    if (hi if hi is not None else lo) * max(d.n, 1) > 50 * budget:
        raise RegexBudgetError("length restriction of this automaton is too large")
    return intersect(d, length_dfa(lo, hi), budget)


# ------------------------------------------------------------------ JSON encoding
_PLAIN = normalize_ranges([(0x20, 0x21), (0x23, 0x5B), (0x5D, MAX_CODEPOINT)])


def encode_json(d: Dfa, budget: int = DEFAULT_BUDGET * 4) -> tuple:
    """The ``dfa`` node of the JSON string bodies (no quotes) that decode to a string of
    ``L(d)``, with the encodings :mod:`.strings` accepts for each code point: plain UTF-8
    (``_PLAIN``), the short escapes, ``\\u00XX`` for controls and ``\\uXXXX`` (surrogate pairs
    above the Basic Multilingual Plane), built as the product of ``d`` with the escape
    decoder (``JsonEncoder`` in csrc/code_point_dfa.h)."""
    if d.is_empty():
        return ("never",)
    made = _automata.encode_json(d, _PLAIN, budget, MAX_WORK, _COMPILE_WORK.get())
    return Dfa._of(_done(*made)).node()


def infinite_from_every_state(d: Dfa, sinks: bool = False) -> bool:
    """Whether every live state of ``d`` has infinitely many completions (reaches a cycle).
    ``sinks=True`` exempts the states with no transitions at all (a string lexeme's end,
    after its closing quote) but no state that leads only into them: every other state must
    still reach a cycle."""
    d = trim(d)
    if d.is_empty():
        return False
    succ = [{t for _, _, t in es} for es in d.edges]
    out = [len(ts) for ts in succ]
    dead = [q for q in range(d.n) if out[q] == 0]
    if not sinks:
        return not dead
    pred: list[set] = [set() for _ in succ]
    for q, ts in enumerate(succ):
        for t in ts:
            pred[t].add(q)
    for q in dead:  # a state left with no successors but sinks has finite completions
        for p in pred[q]:
            out[p] -= 1
            if out[p] == 0:
                return False
    return True


def is_dfa_node(n) -> bool:
    return n[0] == "dfa"


__all__ = [
    "Dfa",
    "to_dfa",
    "intersect",
    "intersect_all",
    "complement",
    "complete",
    "split_by",
    "minimize",
    "trim",
    "literals",
    "minus_finite",
    "length_dfa",
    "restrict_length",
    "encode_json",
    "node_of",
]
