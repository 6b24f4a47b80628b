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
"""

from __future__ import annotations

import bisect
import contextlib
import contextvars

from ... import deadline as _deadline
from ..ir import MAX_CODEPOINT, negate_ranges, normalize_ranges

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


@contextlib.contextmanager
def work_budget(units: int):
    """All constructions inside share ``units`` of work (one schema compile)."""
    token = _COMPILE_WORK.set([units])
    try:
        yield
    finally:
        _COMPILE_WORK.reset(token)


def _charge_compile(k: int) -> None:
    shared = _COMPILE_WORK.get()
    if shared is not None:
        shared[0] -= k
        if shared[0] < 0:
            raise RegexBudgetError(
                "the automata of this schema's regex combinations take too much work "
                f"(limit {MAX_WORK_PER_COMPILE:,} transitions per compile)"
            )


class RegexBudgetError(ValueError):
    """An exact construction would exceed its size or work budget."""


class _Budget:
    def __init__(self, budget: int) -> None:
        self.left = budget
        self.work_left = MAX_WORK

    def spend(self, k: int = 1) -> None:
        self.left -= k
        if self.left < 0:
            raise RegexBudgetError("the automaton of this regex combination is too large")
        if self.left & 127 == 0:
            _deadline.check("regex automaton")

    def work(self, k: int) -> None:
        """Charge ``k`` transitions built or examined."""
        self.work_left -= k
        if self.work_left < 0:
            raise RegexBudgetError(
                "the automaton of this regex combination takes too much work "
                f"(limit {MAX_WORK:,} transitions)"
            )
        _charge_compile(k)


def _split_surrogates(lo: int, hi: int):
    if hi < _SURR_LO or lo > _SURR_HI:
        return [(lo, hi)]
    out = []
    if lo < _SURR_LO:
        out.append((lo, _SURR_LO - 1))
    if hi > _SURR_HI:
        out.append((_SURR_HI + 1, hi))
    return out


# ------------------------------------------------------------------ regex -> NFA -> DFA
class _Nfa:
    def __init__(self, budget: _Budget) -> None:
        self.eps: list[list[int]] = []
        self.edges: list[list[tuple]] = []
        self.budget = budget

    def new(self) -> int:
        self.budget.spend()
        self.eps.append([])
        self.edges.append([])
        return len(self.eps) - 1

    def build(self, n, s: int) -> int:
        """Adds ``n`` after state ``s``; returns its end state."""
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


def _closure(nfa: _Nfa, states) -> frozenset:
    seen = set(states)
    stack = list(states)
    while stack:
        q = stack.pop()
        for t in nfa.eps[q]:
            if t not in seen:
                seen.add(t)
                stack.append(t)
    return frozenset(seen)


def _partition(edge_lists):
    """Disjoint intervals with the set of targets of each: [(lo, hi, frozenset)]."""
    points = set()
    all_edges = []
    for es in edge_lists:
        for lo, hi, t in es:
            points.add(lo)
            points.add(hi + 1)
            all_edges.append((lo, hi, t))
    if not all_edges:
        return []
    pts = sorted(points)
    idx = {p: i for i, p in enumerate(pts)}
    buckets: list[set] = [set() for _ in range(len(pts))]
    for lo, hi, t in all_edges:
        for i in range(idx[lo], idx[hi + 1]):
            buckets[i].add(t)
    out = []
    for i in range(len(pts) - 1):
        if buckets[i]:
            out.append((pts[i], pts[i + 1] - 1, frozenset(buckets[i])))
    return out


def _merge(edges):
    """Sorted edges with adjacent intervals of one target joined."""
    out: list[list] = []
    for lo, hi, t in sorted(edges):
        if out and out[-1][2] == t and out[-1][1] + 1 >= lo:
            out[-1][1] = max(out[-1][1], hi)
        else:
            out.append([lo, hi, t])
    return tuple((a, b, t) for a, b, t in out)


def _determinize(nfa: _Nfa, start: int, final: int, budget: _Budget, minimal: bool = True) -> Dfa:
    s0 = _closure(nfa, [start])
    ids = {s0: 0}
    order = [s0]
    edges: list = []
    finals = []
    i = 0
    while i < len(order):
        S = order[i]
        if final in S:
            finals.append(i)
        es = []
        for lo, hi, T in _partition([nfa.edges[q] for q in S]):
            T = _closure(nfa, T)
            j = ids.get(T)
            if j is None:
                budget.spend()
                j = ids[T] = len(order)
                order.append(T)
            es.append((lo, hi, j))
        budget.work(len(es) + sum(len(nfa.edges[q]) for q in S))
        edges.append(_merge(es))
        i += 1
    return minimize(Dfa(edges, finals)) if minimal else Dfa(edges, finals)


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


def subset_dfa(node, budget: int = DEFAULT_BUDGET) -> Dfa:
    """A DFA of a code-point regex node, not minimised (the subset construction only): for
    questions every DFA of the language answers alike, such as the lengths that complete a
    prefix (strings.max_length_gap), where minimising would cost most of the time."""
    if node[0] == "dfa":
        return to_dfa(node, budget)
    b = _Budget(budget)
    nfa = _Nfa(b)
    start = nfa.new()
    end = nfa.build(node, start)
    return _determinize(nfa, start, end, _Budget(budget), minimal=False)


def _to_dfa(node, budget: int) -> Dfa:
    b = _Budget(budget)
    nfa = _Nfa(b)
    start = nfa.new()
    end = nfa.build(node, start)
    return _determinize(nfa, start, end, _Budget(budget))


# ------------------------------------------------------------------ operations
def trim(d: Dfa) -> Dfa:
    """Only the states reachable from the start that can reach a final state (renumbered
    in breadth-first order, start 0)."""
    rev: list[list[int]] = [[] for _ in range(d.n)]
    for q, es in enumerate(d.edges):
        for _, _, t in es:
            rev[t].append(q)
    live = set(d.finals)
    stack = list(d.finals)
    while stack:
        q = stack.pop()
        for p in rev[q]:
            if p not in live:
                live.add(p)
                stack.append(p)
    if 0 not in live:
        return Dfa([()], ())
    ids = {0: 0}
    order = [0]
    i = 0
    while i < len(order):
        for _, _, t in d.edges[order[i]]:
            if t in live and t not in ids:
                ids[t] = len(order)
                order.append(t)
        i += 1
    edges = [_merge([(lo, hi, ids[t]) for lo, hi, t in d.edges[q] if t in live]) for q in order]
    return Dfa(edges, [ids[q] for q in order if q in d.finals])


def minimize(d: Dfa) -> Dfa:
    """The minimal trimmed DFA (Moore's partition refinement)."""
    d = trim(d)
    if d.is_empty():
        return d
    cls = [1 if q in d.finals else 0 for q in range(d.n)]
    n_cls = len(set(cls))
    n_edges = sum(map(len, d.edges)) + d.n
    while True:
        _charge_compile(n_edges)
        sigs: dict = {}
        new = []
        for q in range(d.n):
            sig = (cls[q], _merge([(lo, hi, cls[t]) for lo, hi, t in d.edges[q]]))
            new.append(sigs.setdefault(sig, len(sigs)))
        if len(sigs) == n_cls:
            break
        cls, n_cls = new, len(sigs)
    # renumber classes with the start's class 0
    rep_of: dict = {}
    for q in range(d.n):
        rep_of.setdefault(cls[q], q)
    order = sorted(rep_of, key=lambda c: (c != cls[0], rep_of[c]))
    num = {c: i for i, c in enumerate(order)}
    edges = [_merge([(lo, hi, num[cls[t]]) for lo, hi, t in d.edges[rep_of[c]]]) for c in order]
    finals = [num[c] for c in order if rep_of[c] in d.finals]
    return trim(Dfa(edges, finals))


def _cross(e1, e2):
    """Intersections of two sorted disjoint edge lists: [(lo, hi, (t1, t2))]."""
    out = []
    i = j = 0
    while i < len(e1) and j < len(e2):
        a = max(e1[i][0], e2[j][0])
        b = min(e1[i][1], e2[j][1])
        if a <= b:
            out.append((a, b, (e1[i][2], e2[j][2])))
        if e1[i][1] < e2[j][1]:
            i += 1
        else:
            j += 1
    return out


def intersect(d1: Dfa, d2: Dfa, budget: int = DEFAULT_BUDGET) -> Dfa:
    """The product automaton: ``L(d1) & L(d2)``."""
    b = _Budget(budget)
    ids = {(0, 0): 0}
    order = [(0, 0)]
    edges = []
    finals = []
    i = 0
    while i < len(order):
        p, q = order[i]
        if p in d1.finals and q in d2.finals:
            finals.append(i)
        es = []
        for lo, hi, pair in _cross(d1.edges[p], d2.edges[q]):
            j = ids.get(pair)
            if j is None:
                b.spend()
                j = ids[pair] = len(order)
                order.append(pair)
            es.append((lo, hi, j))
        b.work(len(d1.edges[p]) + len(d2.edges[q]))
        edges.append(_merge(es))
        i += 1
    return minimize(Dfa(edges, finals))


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
    b = _Budget(budget)
    start = tuple(0 for _ in ds)
    ids = {start: 0}
    order = [start]
    edges = []
    labels: dict = {}
    i = 0
    while i < len(order):
        qs = order[i]
        lab = classify(tuple(q in d.finals for q, d in zip(qs, ds)))
        if lab is not None:
            labels.setdefault(lab, []).append(i)
        cur = [(lo, hi, ()) for lo, hi in _ALL]
        for q, d in zip(qs, ds):
            cur = [(lo, hi, ts + (t,)) for lo, hi, (ts, t) in _cross(cur, d.edges[q])]
            if not cur:
                break
        es = []
        for lo, hi, tup in cur:
            j = ids.get(tup)
            if j is None:
                b.spend()
                j = ids[tup] = len(order)
                order.append(tup)
            es.append((lo, hi, j))
        b.work(len(es) * len(ds) + sum(len(d.edges[q]) for q, d in zip(qs, ds)))
        edges.append(_merge(es))
        i += 1
    return {lab: minimize(Dfa(edges, fs)) for lab, fs in labels.items()}


def complete(d: Dfa) -> Dfa:
    """The same language with a total transition function (a sink state added)."""
    sink = d.n
    edges = []
    for es in list(d.edges) + [()]:
        gaps = negate_ranges([(lo, hi) for lo, hi, _ in es])
        edges.append(_merge(list(es) + [(lo, hi, sink) for lo, hi in gaps]))
    return Dfa(edges, d.finals)


def complement(d: Dfa) -> Dfa:
    """All strings of code points not in ``L(d)``."""
    c = complete(d)
    return minimize(Dfa(c.edges, [q for q in range(c.n) if q not in c.finals]))


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
_SHORT = {'"': 0x22, "\\": 0x5C, "/": 0x2F, "b": 0x08, "f": 0x0C, "n": 0x0A, "r": 0x0D, "t": 0x09}
_BACKSLASH, _U = 0x5C, ord("u")


def _digit_cps(d: int):
    if d < 10:
        return [(0x30 + d, 0x30 + d)]
    return [(0x41 + d - 10, 0x41 + d - 10), (0x61 + d - 10, 0x61 + d - 10)]


def _restrict(edges, lo: int, hi: int, wrap):
    """The edges within [lo, hi], shifted to start at 0, targets wrapped."""
    out = []
    starts = [e[0] for e in edges]
    i = max(bisect.bisect_right(starts, lo) - 1, 0)
    while i < len(edges) and edges[i][0] <= hi:
        a, b, t = edges[i]
        a, b = max(a, lo), min(b, hi)
        if a <= b:
            out.append((a - lo, b - lo, wrap(t)))
        i += 1
    return out


def _join(segs):
    out: list[list] = []
    for lo, hi, o in segs:
        if out and out[-1][2] == o and out[-1][1] + 1 == lo:
            out[-1][1] = hi
        else:
            out.append([lo, hi, o])
    return tuple((a, b, o) for a, b, o in out)


def _u_segments(edges) -> tuple:
    """What the four hex digits of ``\\uXXXX`` lead to from a state with these edges, as
    segments of the value 0..0xFFFF: ``("N", t)`` (one code point read, now at ``t``) or
    ``("L", restr)`` (a high surrogate: a low one must follow; ``restr`` its 1024 code
    points' edges)."""
    N = lambda t: ("N", t)  # noqa: E731
    segs = []
    segs += _restrict(edges, 0, 0x1F, N)
    segs += [(a + 0x80, b + 0x80, o) for a, b, o in _restrict(edges, 0x80, 0xD7FF, N)]
    hi_edges = _restrict(edges, 0x10000, MAX_CODEPOINT, lambda t: t)
    # high surrogate h stands for the block of code points [h * 1024, h * 1024 + 1023] (above
    # 0x10000): a block inside one edge is uniform (a run of them is one segment); only the
    # blocks an edge ends in are restricted one by one
    high = []
    partial = set()
    for a, b, t in hi_edges:
        fa, fb = -(-a // 1024), (b + 1) // 1024 - 1
        if fa <= fb:
            high.append((0xD800 + fa, 0xD800 + fb, ("L", ((0, 1023, t),))))
        for h in (a // 1024, b // 1024):
            if not fa <= h <= fb:
                partial.add(h)
    for h in partial:
        restr = tuple(_restrict(hi_edges, h * 1024, h * 1024 + 1023, lambda t: t))
        if restr:
            high.append((0xD800 + h, 0xD800 + h, ("L", restr)))
    segs += sorted(high)
    segs += [(a + 0xE000, b + 0xE000, o) for a, b, o in _restrict(edges, 0xE000, 0xFFFF, N)]
    return _join(segs)


def encode_json(d: Dfa, budget: int = DEFAULT_BUDGET * 4) -> tuple:
    """The ``dfa`` node of the JSON string bodies (no quotes) that decode to a string of
    ``L(d)``, with the encodings :mod:`.strings` accepts for each code point."""
    if d.is_empty():
        return ("never",)
    b = _Budget(budget)
    ids: dict = {}
    order: list = []
    out_edges: list = []
    finals = []

    def sid(key) -> int:
        j = ids.get(key)
        if j is None:
            b.spend()
            j = ids[key] = len(order)
            order.append(key)
        return j

    u_memo: dict = {}

    def u_segs(q):
        s = u_memo.get(q)
        if s is None:
            s = u_memo[q] = _u_segments(d.edges[q])
        return s

    def after_digits(k, segs):
        if k == 0:
            (_, _, o) = segs[0]
            return ("N", o[1]) if o[0] == "N" else ("P0", o[1])
        return ("H", k, segs)

    sid(("N", 0))
    i = 0
    while i < len(order):
        key = order[i]
        kind = key[0]
        es: list = []
        if kind == "N":
            q = key[1]
            if q in d.finals:
                finals.append(i)
            for lo, hi, t in _cross(d.edges[q], [(a, b, None) for a, b in _PLAIN]):
                es.append((lo, hi, sid(("N", t[0]))))
            es.append((_BACKSLASH, _BACKSLASH, sid(("E", q))))
        elif kind == "E":
            q = key[1]
            for ch, c in _SHORT.items():
                t = _step(d.edges[q], c)
                if t is not None:
                    es.append((ord(ch), ord(ch), sid(("N", t))))
            segs = u_segs(q)
            if segs:
                es.append((_U, _U, sid(("H", 4, segs))))
        elif kind == "H":
            _, k, segs = key
            unit = 16 ** (k - 1)
            for dgt in range(16):
                sub = _join(_restrict(segs, dgt * unit, dgt * unit + unit - 1, lambda o: o))
                if sub:
                    t = sid(after_digits(k - 1, sub))
                    es += [(a, bb, t) for a, bb in _digit_cps(dgt)]
        elif kind == "P0":
            es.append((_BACKSLASH, _BACKSLASH, sid(("P1", key[1]))))
        elif kind == "P1":
            low = tuple((a + 0xDC00, bb + 0xDC00, ("N", t)) for a, bb, t in key[1])
            es.append((_U, _U, sid(("H", 4, low))))
        b.work(len(es))
        out_edges.append(_merge(es))
        i += 1
    enc = trim(Dfa(out_edges, finals))
    return enc.node()


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
    "subset_dfa",
    "encode_json",
]
