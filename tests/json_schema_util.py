"""A small pure-Python recogniser for a GrammarIR (a test oracle, not fast).

Lexemes are matched with a Thompson NFA over *code points* built from the IR
regex (enough for grammars whose lexemes use ``cps``/``bytes`` nodes only, as the
JSON Schema compiler's do), run as a lazily determinised automaton.  The lexer
follows the engine's rules: longest match among the lexemes the Earley parser
allows at that point (plus the ignore lexemes, never two ignores in a row);
when several allowed lexemes match the same longest text, all are scanned.
"""

from __future__ import annotations

import bisect
import json
import os
import random

from decoder.grammar.ir import GrammarIR


class _NFA:
    __slots__ = ("trans", "eps", "start", "final", "_closure", "_step")

    def __init__(self, node) -> None:
        self.trans: list[list] = []  # state -> [(starts, ends, target)]
        self.eps: list[list[int]] = []
        self.start = self._new()
        self.final = self._build(node, self.start)
        self._closure: dict = {}
        self._step: dict = {}

    def _new(self) -> int:
        self.trans.append([])
        self.eps.append([])
        return len(self.trans) - 1

    def _edge(self, a, ranges, b):
        starts = [r[0] for r in ranges]
        self.trans[a].append((starts, ranges, b))

    def _build(self, n, s) -> int:
        k = n[0]
        if k == "empty":
            return s
        if k == "never":
            return self._new()
        if k == "bytes":
            for ch in n[1].decode("utf-8"):
                t = self._new()
                self._edge(s, ((ord(ch), ord(ch)),), t)
                s = t
            return s
        if k == "cps":
            t = self._new()
            self._edge(s, n[1], t)
            return t
        if k == "cat":
            for m in n[1]:
                s = self._build(m, s)
            return s
        if k == "alt":
            end = self._new()
            for m in n[1]:
                a = self._new()
                self.eps[s].append(a)
                e = self._build(m, a)
                self.eps[e].append(end)
            return end
        if k == "rep":
            x, lo, hi = n[1], n[2], n[3]
            for _ in range(lo):
                s = self._build(x, s)
            if hi is None:
                loop = self._new()
                self.eps[s].append(loop)
                e = self._build(x, loop)
                self.eps[e].append(loop)
                return loop
            end = self._new()
            for _ in range(hi - lo):
                self.eps[s].append(end)
                s = self._build(x, s)
            self.eps[s].append(end)
            return end
        if k == "dfa":  # an automaton over code points (regex intersection/complement)
            _, m, finals, edges = n
            ids = [self._new() for _ in range(m)]
            self.eps[s].append(ids[0])
            for q, es in enumerate(edges):
                for lo, hi, t in es:
                    self._edge(ids[q], ((lo, hi),), ids[t])
            end = self._new()
            for f in finals:
                self.eps[ids[f]].append(end)
            return end
        raise ValueError(f"test recogniser: unsupported node {k!r}")

    def closure(self, states) -> frozenset:
        key = frozenset(states)
        got = self._closure.get(key)
        if got is not None:
            return got
        seen = set(states)
        stack = list(states)
        while stack:
            q = stack.pop()
            for r in self.eps[q]:
                if r not in seen:
                    seen.add(r)
                    stack.append(r)
        out = frozenset(seen)
        self._closure[key] = out
        return out

    def step(self, S: frozenset, c: int) -> frozenset:
        key = (S, c)
        got = self._step.get(key)
        if got is not None:
            return got
        nxt = set()
        for q in S:
            for starts, ranges, t in self.trans[q]:
                i = bisect.bisect_right(starts, c) - 1
                if i >= 0 and ranges[i][1] >= c:
                    nxt.add(t)
        out = self.closure(nxt) if nxt else frozenset()
        self._step[key] = out
        return out

    def longest(self, text: str, pos: int) -> int:
        """Length of the longest match at pos, -1 if none."""
        S = self.closure([self.start])
        best = 0 if self.final in S else -1
        i = pos
        while i < len(text) and S:
            S = self.step(S, ord(text[i]))
            i += 1
            if self.final in S:
                best = i - pos
        return best


_nfa_cache: dict = {}


def _nfa(regex) -> _NFA:
    n = _nfa_cache.get(regex)
    if n is None:
        if len(_nfa_cache) > 20000:
            _nfa_cache.clear()
        n = _nfa_cache[regex] = _NFA(regex)
    return n


class Recognizer:
    """Earley recogniser over lexemes for one GrammarIR."""

    def __init__(self, g: GrammarIR) -> None:
        self.g = g
        self.by_lhs: dict[int, list[int]] = {}
        for i, (lhs, rhs) in enumerate(g.rules):
            self.by_lhs.setdefault(lhs, []).append(i)
        self.nullable = set()
        changed = True
        while changed:
            changed = False
            for lhs, rhs in g.rules:
                if lhs not in self.nullable and all(s >= 0 and s in self.nullable for s in rhs):
                    self.nullable.add(lhs)
                    changed = True
        self.nfas = [_nfa(lx.regex) for lx in g.lexemes]
        self.ignore = set(g.ignore)

    def _close(self, items: list, seen: set, sets: list, j: int) -> None:
        rules = self.g.rules
        k = 0
        while k < len(items):
            r, d, o = items[k]
            k += 1
            rhs = rules[r][1]
            if d < len(rhs):
                sym = rhs[d]
                if sym >= 0:
                    for r2 in self.by_lhs.get(sym, ()):
                        it = (r2, 0, j)
                        if it not in seen:
                            seen.add(it)
                            items.append(it)
                    if sym in self.nullable:
                        it = (r, d + 1, o)
                        if it not in seen:
                            seen.add(it)
                            items.append(it)
            else:
                lhs = rules[r][0]
                src = sets[o] if o < j else items
                for r2, d2, o2 in list(src):
                    rhs2 = rules[r2][1]
                    if d2 < len(rhs2) and rhs2[d2] == lhs:
                        it = (r2, d2 + 1, o2)
                        if it not in seen:
                            seen.add(it)
                            items.append(it)

    def accepts(self, text: str) -> bool:
        g = self.g
        rules = g.rules
        items = [(r, 0, 0) for r in self.by_lhs.get(g.start, ())]
        seen = set(items)
        sets: list[list] = []
        self._close(items, seen, sets, 0)
        sets.append(items)
        pos = 0
        prev_ignored = False
        while True:
            cur = sets[-1]
            if pos == len(text):
                return any(
                    rules[r][0] == g.start and d == len(rules[r][1]) and o == 0 for r, d, o in cur
                )
            expected = {}
            for it in cur:
                r, d, _ = it
                rhs = rules[r][1]
                if d < len(rhs) and rhs[d] < 0:
                    expected.setdefault(-rhs[d] - 1, []).append(it)
            best = 0
            winners = []
            for lx in expected:
                n = self.nfas[lx].longest(text, pos)
                if n > best:
                    best, winners = n, [lx]
                elif n == best and n > 0:
                    winners.append(lx)
            ign = 0
            if not prev_ignored:
                for lx in self.ignore:
                    ign = max(ign, self.nfas[lx].longest(text, pos))
            if ign > best:
                pos += ign
                prev_ignored = True
                continue
            if best <= 0:
                return False
            j = len(sets)
            nxt = []
            nseen = set()
            for lx in winners:
                for r, d, o in expected[lx]:
                    it = (r, d + 1, o)
                    if it not in nseen:
                        nseen.add(it)
                        nxt.append(it)
            self._close(nxt, nseen, sets, j)
            sets.append(nxt)
            pos += best
            prev_ignored = False


_rec_cache: dict = {}


def accepts(g: GrammarIR, text: str) -> bool:
    rec = _rec_cache.get(id(g))
    if rec is None or rec.g is not g:
        rec = Recognizer(g)
        _rec_cache[id(g)] = rec
    return rec.accepts(text)


def verdict(got: bool, valid: bool, what: str, totals, failures: list, excused=None) -> bool:
    """Judge one instance: ``got`` (the implementation accepted it) against ``valid`` (the
    suite's answer).  Counts into ``totals`` (a Counter) and appends a message to
    ``failures`` when it is wrong: an accepted invalid instance always fails (unsound); a
    rejected valid one fails unless ``excused`` (a skip-list entry or recorded reason).
    Returns True when a valid instance was rejected with an excuse (callers check that
    excuses are not stale)."""
    if got == valid:
        totals["ok"] += 1
        return False
    if not valid:
        totals["INVALID ACCEPTED"] += 1
        failures.append(f"UNSOUND, invalid accepted: {what}")
        return False
    if excused:
        totals["valid rejected (excused)"] += 1
        return True
    failures.append(f"valid rejected (not excused): {what}")
    return False


def bench_sample(n: int, seed: int) -> list:
    """Up to n schemas drawn (seeded) from each ../shared/jsonschemabench subset; [] where the
    data is absent (the caller skips, saying so)."""
    data = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "jsonschemabench")
    if not os.path.isdir(data):
        return []
    out = []
    rng = random.Random(seed)
    for fn in sorted(os.listdir(data)):
        if fn.endswith(".jsonl"):
            with open(os.path.join(data, fn)) as f:
                recs = [json.loads(line) for line in f if line.strip()]
            out += [r["schema"] for r in rng.sample(recs, min(n, len(recs)))]
    return out
