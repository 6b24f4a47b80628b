"""Search patterns with lookarounds and anchors anywhere, as one exact DFA over code points.

A zero-width assertion at a position of the string constrains the rest of the string (a
lookahead ``(?=B)``: the suffix from there starts with a match of ``B``; ``$``: the suffix is
empty) or what came before it (a lookbehind ``(?<=B)``: the prefix up to there ends with a
match of ``B``; ``^``: the prefix is empty). Both are regular, so a pattern built from them
is too (``A(?=B)C`` searched is ``Σ*·A·(BΣ* ∩ CΣ*)``), whatever groups, alternations and
repetitions surround them. The construction:

* the pattern, assertions aside, is an NFA (:class:`_Nfa`): its assertion-free parts are
  determinised once each (:func:`..json_schema.automata.to_dfa`) and embedded; each
  assertion is an epsilon move labelled with it;
* each assertion has a DFA of its own language: a lookahead's the suffixes it accepts
  (``B·Σ*``, complemented when negative), a lookbehind's the prefixes (``Σ*·B``); their
  bodies are built by this same construction, so assertions nest;
* the subset construction runs over configurations ``(NFA state, pending lookaheads)``
  beside the current state of every lookbehind's DFA (a lookbehind DFA reads the whole
  prefix, deterministically): crossing a lookbehind checks its DFA's state, crossing a
  lookahead adds an obligation (its DFA, started), which every later code point steps; an
  obligation that fails kills its configuration, one that accepts every suffix is dropped.
  A state is final where a configuration is at the NFA's end with every obligation final.
  A configuration with more obligations than another at the same NFA state is dropped (it
  accepts nothing the other does not), else an unanchored pattern kept one per position;
* lookbehinds cost little, lookaheads an obligation each time they are crossed: a pattern
  whose construction runs over the budget is built again on the reversed strings (a
  lookahead is a lookbehind there, anchors are written as the lookarounds they are) and its
  DFA reversed back (the subset construction of the reversed DFA is minimal, Brzozowski).

What stays refused (a :class:`GrammarError` naming the construct): a lookbehind or ``^``
inside a lookahead and a lookahead or ``$`` inside a lookbehind (they would look past the
span their DFA reads), a lookbehind of variable width where Python's ``re`` must agree
(it refuses them). The states made count against the automaton budget (6,000) and the
work against the compile's (:mod:`..json_schema.automata`); past either, a
:class:`RegexBudgetError`.
"""

from __future__ import annotations

import bisect

from .. import deadline as _deadline
from . import ir
from .regex_base import _ECMA_LT, ANY, ANY_RANGES, regex_error

#: configuration steps (a configuration moved on one code-point interval) one construction
#: may spend: Python, so kept well under the C++ constructions' MAX_WORK
MAX_STEPS = 400_000


def has_assertion(node) -> bool:
    t = node[0]
    if t in ("anchor", "look"):
        return True
    if t in ("cat", "alt"):
        return any(has_assertion(n) for n in node[1])
    if t == "rep":
        return has_assertion(node[1])
    return False


class _Assertion:
    """One assertion's DFA: ``ahead`` (obligations on the suffix; negation already folded
    in) or behind (the prefix's DFA state, checked against ``neg``)."""

    __slots__ = ("ahead", "neg", "starts", "edges", "finals", "universal", "empty")

    def __init__(self, ahead: bool, neg: bool, dfa) -> None:
        self.ahead = ahead
        self.neg = neg
        self.edges = dfa.edges
        self.starts = [[lo for lo, _, _ in es] for es in dfa.edges]
        self.finals = dfa.finals
        self.empty = dfa.is_empty()
        self.universal = _universal_states(dfa)

    def step(self, s: int, c: int) -> int:
        if s < 0:
            return -1
        es = self.edges[s]
        i = bisect.bisect_right(self.starts[s], c) - 1
        if i >= 0 and es[i][1] >= c:
            return es[i][2]
        return -1


def _universal_states(dfa) -> frozenset:
    """The states from which every string is accepted: final, every code point on an edge,
    and only such states reachable (a greatest fixpoint)."""
    full = ir.normalize_ranges(((0, 0xD7FF), (0xE000, ir.MAX_CODEPOINT)))
    cand = set()
    for q in dfa.finals:
        if ir.normalize_ranges([(lo, hi) for lo, hi, _ in dfa.edges[q]]) == full:
            cand.add(q)
    changed = True
    while changed:
        changed = False
        for q in list(cand):
            if any(t not in cand for _, _, t in dfa.edges[q]):
                cand.discard(q)
                changed = True
    return frozenset(cand)


class _Nfa:
    def __init__(self, budget: int) -> None:
        self.eps: list[list[tuple[int, int]]] = []  # (target, assertion id or -1)
        self.edges: list[list[tuple[int, int, int]]] = []  # sorted, disjoint per state
        self.left = 2 * budget
        self.used: set[int] = set()  # the assertions on its epsilon moves

    def new(self) -> int:
        from .json_schema.automata import RegexBudgetError

        self.left -= 1
        if self.left < 0:
            raise RegexBudgetError("the automaton of this regex's lookarounds is too large")
        self.eps.append([])
        self.edges.append([])
        return len(self.eps) - 1


class _Builder:
    def __init__(self, pattern: str, py: bool, budget: int, ranges_any) -> None:
        self.pattern = pattern
        self.py = py
        self.budget = budget
        self.any = ranges_any
        self.asserts: list[_Assertion] = []
        self.assert_ids: dict = {}

    # ---------------------------------------------------------------- assertions
    def assertion(self, node, inside: str | None) -> int:
        """The id of ``node``'s assertion (``inside``: "ahead"/"behind" when ``node`` is in
        a lookaround body of that direction, for the refusals)."""
        from .json_schema import automata

        if node[0] == "anchor":
            _, side, kind, pos = node
            key: tuple = ("anchor", side, kind)
            ahead = side == "end"
            neg = False
        else:
            _, ahead, neg, body, pos = node
            key = ("look", ahead, neg, body)
        if inside == "ahead" and not ahead:
            what = "^" if node[0] == "anchor" else "lookbehind"
            raise regex_error(f"unsupported {what} inside a lookahead", self.pattern, pos)
        if inside == "behind" and ahead:
            what = "$" if node[0] == "anchor" else "lookahead"
            raise regex_error(f"unsupported {what} inside a lookbehind", self.pattern, pos)
        got = self.assert_ids.get(key)
        if got is not None:
            return got
        any_star = ir.star(("cps", self.any))
        lt = ir.lit("\n") if self.py else ("cps", _ECMA_LT)
        if node[0] == "anchor":
            if kind == "abs":
                lang = ir.EMPTY
            elif kind == "pyend":
                lang = ir.opt(ir.lit("\n"))
            elif ahead:  # multiline $
                lang = ir.opt(ir.cat(lt, any_star))
            else:  # multiline ^
                lang = ir.opt(ir.cat(any_star, lt))
            d = automata.to_dfa(lang, self.budget)
        else:
            d = self.language(body, start_anchored=ahead, end_anchored=not ahead, inside=key)
            if ahead and neg:
                d = automata.complement(d)
        a = _Assertion(ahead, neg if not ahead else False, d)
        self.asserts.append(a)
        self.assert_ids[key] = len(self.asserts) - 1
        return len(self.asserts) - 1

    # ---------------------------------------------------------------- NFA
    def build(self, nfa: _Nfa, node, s: int, inside) -> int:
        from .json_schema import automata

        t = node[0]
        if not has_assertion(node):
            d = automata.to_dfa(node, self.budget)
            if d.is_empty():
                return nfa.new()  # no way through
            base = len(nfa.eps)
            for _ in range(d.n):
                nfa.new()
            nfa.eps[s].append((base, -1))
            for q, es in enumerate(d.edges):
                nfa.edges[base + q] = [(lo, hi, base + to) for lo, hi, to in es]
            end = nfa.new()
            for f in d.finals:
                nfa.eps[base + f].append((end, -1))
            return end
        if t in ("anchor", "look"):
            aid = self.assertion(node, inside)
            nfa.used.add(aid)
            a = nfa.new()
            nfa.eps[s].append((a, aid))
            return a
        if t == "cat":
            for x in node[1]:
                s = self.build(nfa, x, s, inside)
            return s
        if t == "alt":
            end = nfa.new()
            for x in node[1]:
                a = nfa.new()
                nfa.eps[s].append((a, -1))
                nfa.eps[self.build(nfa, x, a, inside)].append((end, -1))
            return end
        if t == "rep":
            x, lo, hi = node[1], node[2], node[3]
            for _ in range(lo):
                s = self.build(nfa, x, s, inside)
            if hi is None:
                loop = nfa.new()
                nfa.eps[s].append((loop, -1))
                nfa.eps[self.build(nfa, x, loop, inside)].append((loop, -1))
                return loop
            end = nfa.new()
            for _ in range(hi - lo):
                nfa.eps[s].append((end, -1))
                a = nfa.new()
                nfa.eps[s].append((a, -1))
                s = self.build(nfa, x, a, inside)
            nfa.eps[s].append((end, -1))
            return end
        raise ValueError(f"regex node {t!r} has no code-point meaning")  # pragma: no cover

    def language(self, node, start_anchored: bool, end_anchored: bool, inside=None):
        """The minimal DFA of the strings in which ``node`` matches (from the start only
        when ``start_anchored``, to the end only when ``end_anchored``)."""
        from .json_schema import automata

        if not has_assertion(node):  # a lookaround's plain body: the C++ construction
            any_star = ir.star(("cps", self.any))
            pre = ir.EMPTY if start_anchored else any_star
            post = ir.EMPTY if end_anchored else any_star
            return automata.to_dfa(ir.cat(pre, node, post), self.budget)
        nfa = _Nfa(self.budget)
        direction = None if inside is None else ("ahead" if inside[1] else "behind")
        start = nfa.new()
        s = start
        if not start_anchored:
            nfa.edges[s] = [(lo, hi, s) for lo, hi in self.any]
            s = nfa.new()
            nfa.eps[start].append((s, -1))
        end = self.build(nfa, node, s, direction)
        if not end_anchored:
            nfa.edges[end] = [(lo, hi, end) for lo, hi in self.any]
        return _determinize(nfa, start, end, self.asserts, self.budget)


def _prune(configs) -> frozenset:
    """``configs`` without those another at the same NFA state makes redundant: ``(q, O')``
    accepts a continuation only where ``(q, O)`` with fewer obligations ``O < O'`` does too
    (acceptance is "some configuration"), so dropping it keeps the language. Without this
    an unanchored pattern (``Σ*`` before it) kept one configuration per start position."""
    by_state: dict = {}
    for q, obl in configs:
        by_state.setdefault(q, []).append(obl)
    out = []
    for q, obls in by_state.items():
        if len(obls) == 1:
            out.append((q, obls[0]))
            continue
        obls.sort(key=len)
        kept: list = []
        for o in obls:
            if not any(k < o for k in kept):
                kept.append(o)
        out.extend((q, o) for o in kept)
    return frozenset(out)


def _classes(edge_lists) -> tuple[list, list]:
    """The coarsest partition of the code points that every edge list respects (two code
    points in one class go to the same target, or nowhere, from every state): the sorted
    bounds of its elementary intervals and each interval's class. A subset-construction
    state steps each class once, not each interval (a Unicode ``\\w`` has hundreds)."""
    cuts = {0}
    lists = {tuple(es) for es in edge_lists if es}
    for es in lists:
        for lo, hi, _ in es:
            cuts.add(lo)
            cuts.add(hi + 1)
    bounds = sorted(cuts)
    cls = [0] * len(bounds)
    fresh_id = 1
    for es in lists:  # refine by this list's targets: (class before, target) -> new class
        fresh: dict = {}
        for lo, hi, t in es:
            for i in range(bisect.bisect_left(bounds, lo), bisect.bisect_left(bounds, hi + 1)):
                key = (cls[i], t)
                got = fresh.get(key)
                if got is None:
                    got = fresh[key] = fresh_id
                    fresh_id += 1
                cls[i] = got
    return bounds, cls


def _determinize(nfa: _Nfa, start: int, final: int, asserts, budget: int):
    """The subset construction over configurations (see the module's docstring), minimised."""
    from .json_schema import automata

    behind = [i for i in sorted(nfa.used) if not asserts[i].ahead]
    slot = {aid: k for k, aid in enumerate(behind)}
    steps = [0]
    shared = automata._COMPILE_WORK.get()

    def closure(configs, lb):
        seen = set(configs)
        stack = list(configs)
        while stack:
            q, obl = stack.pop()
            for t, aid in nfa.eps[q]:
                if aid < 0:
                    nxt = (t, obl)
                else:
                    a = asserts[aid]
                    if not a.ahead:
                        st = lb[slot[aid]]
                        if (st >= 0 and st in a.finals) == a.neg:
                            continue
                        nxt = (t, obl)
                    elif a.empty:
                        continue
                    elif 0 in a.universal:
                        nxt = (t, obl)
                    else:
                        nxt = (t, obl | {(aid, 0)})
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append(nxt)
        return _prune(seen)

    def accepting(configs) -> bool:
        return any(
            q == final and all(s in asserts[aid].finals for aid, s in obl) for q, obl in configs
        )

    for es in nfa.edges:  # one state's edges are disjoint (an embedded DFA's, or one class)
        es.sort()
    starts = [[lo for lo, _, _ in es] for es in nfa.edges]
    cut_cache: dict = {}  # (assertion id or -1 for the NFA, state) -> its edges' bounds
    gbounds, gcls = _classes(
        list(nfa.edges) + [es for aid in nfa.used for es in asserts[aid].edges]
    )
    lb0 = tuple(-1 if asserts[aid].empty else 0 for aid in behind)
    init = (lb0, closure([(start, frozenset())], lb0))
    index = {init: 0}
    order = [init]
    edges_out: list[list] = []
    finals = []
    k = 0
    while k < len(order):
        lb, configs = order[k]
        if accepting(configs):
            finals.append(k)
        srcs = {(-1, q) for q, _ in configs}  # the automata states stepped from here
        for _, obl in configs:
            srcs.update(obl)
        srcs.update((aid, st) for aid, st in zip(behind, lb) if st >= 0)
        cuts: set = set()
        for src in srcs:
            got = cut_cache.get(src)
            if got is None:
                aid, q = src
                es = nfa.edges[q] if aid < 0 else asserts[aid].edges[q]
                got = cut_cache[src] = [lo for lo, _, _ in es] + [hi + 1 for _, hi, _ in es]
            cuts.update(got)
        bounds = sorted(cuts)
        row: list = []
        movers = [(q, obl, nfa.edges[q], starts[q]) for q, obl in configs if nfa.edges[q]]
        seen_moves: dict = {}  # (lookbehind states, moved configurations) -> DFA state

        def step(c: int, movers=movers, lb=lb, seen_moves=seen_moves) -> int:
            """The DFA state code point ``c`` leads to from this one (-1: none)."""
            moved = []
            for q, obl, es, st in movers:
                e = bisect.bisect_right(st, c) - 1
                if e < 0 or es[e][1] < c:
                    continue
                steps[0] += 1
                new_obl = []
                alive = True
                for aid, s in obl:
                    a = asserts[aid]
                    s2 = a.step(s, c)
                    if s2 < 0:
                        alive = False
                        break
                    if s2 not in a.universal:
                        new_obl.append((aid, s2))
                if alive:
                    moved.append((es[e][2], frozenset(new_obl)))
            if not moved:
                return -1
            lb2 = tuple(asserts[aid].step(st, c) for aid, st in zip(behind, lb))
            mkey = (lb2, frozenset(moved))
            j = seen_moves.get(mkey)
            if j is None:
                key = (lb2, closure(moved, lb2))
                j = index.get(key)
                if j is None:
                    if len(order) >= budget:
                        raise automata.RegexBudgetError(
                            "the automaton of this regex's lookarounds is too large"
                        )
                    j = index[key] = len(order)
                    order.append(key)
                seen_moves[mkey] = j
            return j

        by_class: dict = {}  # code-point class (see _classes) -> DFA state (-1: no move)
        for i in range(len(bounds) - 1):
            c, c_hi = bounds[i], bounds[i + 1] - 1
            g = gcls[bisect.bisect_right(gbounds, c) - 1]
            j = by_class.get(g)
            if j is None:
                j = by_class[g] = step(c)
            if j < 0:
                continue
            if row and row[-1][2] == j and row[-1][1] == c - 1:
                row[-1] = (row[-1][0], c_hi, j)
            else:
                row.append((c, c_hi, j))
        edges_out.append(row)
        if steps[0] > MAX_STEPS:
            raise automata.RegexBudgetError(
                f"the automaton of this regex's lookarounds takes too much work "
                f"(limit {MAX_STEPS:,} steps)"
            )
        if k & 63 == 0:
            _deadline.check("regex lookaround automaton")
        k += 1
    if shared is not None:
        shared[0] -= 4 * steps[0]
        if shared[0] < 0:
            raise automata.RegexBudgetError(
                "the automaton of this schema's regex combinations take too much work "
                f"(limit {automata.MAX_WORK_PER_COMPILE:,} transitions per compile)"
            )
    return automata.minimize(automata.Dfa(edges_out, finals))


def _check(node, pattern: str, inside: str | None, fixed_width: bool) -> None:
    """The refusals, on the pattern as written (before any reversal): a lookbehind or ``^``
    inside a lookahead, a lookahead or ``$`` inside a lookbehind, a lookbehind of variable
    width where ``fixed_width``."""

    t = node[0]
    if t in ("cat", "alt"):
        for x in node[1]:
            _check(x, pattern, inside, fixed_width)
    elif t == "rep":
        _check(node[1], pattern, inside, fixed_width)
    elif t in ("anchor", "look"):
        ahead = node[1] == "end" if t == "anchor" else node[1]
        pos = node[3] if t == "anchor" else node[4]
        if inside == "ahead" and not ahead:
            what = "^" if t == "anchor" else "lookbehind"
            raise regex_error(f"unsupported {what} inside a lookahead", pattern, pos)
        if inside == "behind" and ahead:
            what = "$" if t == "anchor" else "lookahead"
            raise regex_error(f"unsupported {what} inside a lookbehind", pattern, pos)
        if t == "look":
            if not ahead and fixed_width:
                from .json_schema.regexops import length_bounds

                try:
                    lo, hi = length_bounds(node[3])
                except ValueError:  # a node without a code-point width: not one width
                    lo, hi = 0, None
                if lo != hi:
                    raise regex_error(
                        "unsupported lookbehind of variable width (Python's re refuses it)",
                        pattern,
                        pos,
                    )
            _check(node[3], pattern, "ahead" if ahead else "behind", fixed_width)


def _reverse(node, py: bool):
    """The node of the reversed strings: concatenations reversed, a lookahead a lookbehind
    of the reversed body and back (the suffix ``s[p:]`` in ``B·Σ*`` is the reversed prefix in
    ``Σ*·rev(B)``), anchors first written as the lookarounds they are."""

    t = node[0]
    if t == "bytes":
        return ("bytes", node[1].decode("utf-8")[::-1].encode("utf-8"))
    if t == "cat":
        return ("cat", tuple(_reverse(x, py) for x in reversed(node[1])))
    if t == "alt":
        return ("alt", tuple(_reverse(x, py) for x in node[1]))
    if t == "rep":
        return ("rep", _reverse(node[1], py), node[2], node[3])
    if t == "look":
        return ("look", not node[1], node[2], _reverse(node[3], py), node[4])
    if t == "anchor":
        _, side, kind, pos = node
        not_lt = ("cps", ir.negate_ranges(((10, 10),) if py else _ECMA_LT))
        if kind == "abs":  # nothing before / after
            body = ANY
        elif kind == "line":  # not right after / before a character other than a line end
            body = not_lt
        else:  # Python's $: the suffix is "" or "\n"
            body = ir.alt(("cps", ir.negate_ranges(((10, 10),))), ir.cat(ir.lit("\n"), ANY))
        return _reverse(("look", side == "end", True, body, pos), py)
    return node


def _reverse_dfa(d, budget: int):
    """The minimal DFA of the reversed language of ``d`` (its edges turned round, from all
    its finals to its start, determinised in :mod:`.json_schema._automata`)."""
    from .json_schema import _automata, automata

    if d.is_empty():
        return d
    n = d.n
    eps: list = [[] for _ in range(n + 1)]
    edges: list = [[] for _ in range(n + 1)]
    for q, es in enumerate(d.edges):
        for lo, hi, t in es:
            edges[t].append((lo, hi, q))
    eps[n] = sorted(d.finals)
    made = _automata.determinize(
        eps, edges, n, 0, budget, automata.MAX_WORK, automata._COMPILE_WORK.get()
    )
    return automata.Dfa._of(automata._done(*made))


#: which way the construction reads the string (tests set it to check both): None is forward,
#: then reversed when forward runs over the budget
DIRECTION: str | None = None


def assertion_language(node, pattern: str, py: bool, search: bool, fixed_width_lookbehind: bool):
    """The ``dfa`` node of the strings in which ``node`` (a parsed pattern with assertions)
    matches somewhere (``search``: ``re.search``) or as a whole (``re.fullmatch``).

    A lookbehind costs little (one DFA state more to track), a lookahead an obligation per
    position it is crossed at: when the construction runs over the budget it is tried on
    the reversed strings (lookaheads become lookbehinds) and the DFA reversed back. Forward
    first: with subsumed configurations dropped it was the faster on every pattern of
    bench/lookaround.py that it builds."""
    from .json_schema import automata

    _check(node, pattern, None, fixed_width_lookbehind)
    order = [False, True]
    if DIRECTION is not None:
        order = [DIRECTION == "reversed"]
    first: Exception | None = None
    for rev in order:
        b = _Builder(pattern, py, automata.DEFAULT_BUDGET, ANY_RANGES)
        try:
            if not rev:
                return b.language(node, not search, not search).node()
            d = b.language(_reverse(node, py), not search, not search)
            return _reverse_dfa(d, automata.DEFAULT_BUDGET).node()
        except automata.RegexBudgetError as e:
            first = first or e
    assert first is not None
    raise first
