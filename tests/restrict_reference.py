"""``regexops._LengthRestrictor`` as it was before section 55 of docs/optimizations.md (one
step spent per loop iteration, inside it; loops ascending; no steps spent ahead): the reference
that the restriction's refusals and results are compared with (tests/test_restrict_length.py).
"""

from __future__ import annotations

from decoder.grammar.json_schema.automata import RegexBudgetError
from decoder.grammar.json_schema.regexops import (
    EMPTY,
    NEVER,
    _rest,
    alt,
    cat,
    length_bounds,
    non_empty,
    nullable,
    rep,
)


class OldRestrictor:
    """``dry``: the same walk (the same inputs peeled, memo hits and steps spent) without
    building the result: whether the restriction fits its budget, at about half the cost
    (the result's cat/alt nodes, their flattening and de-duplication, are the other half)."""

    def __init__(self, budget: int, dry: bool = False) -> None:
        self.budget = budget
        self.dry = dry
        self.memo: dict = {}
        self.keep: list = []
        # length_bounds by node identity (the entry keeps its node alive): the restriction asks
        # for the bounds of every suffix it peels, and each plain call walked the whole
        # subtree again (360,000 calls for the ten word-count patterns of o21135).
        self.bounds_memo: dict[int, tuple] = {}

    def bounds(self, n) -> tuple[int, int | None]:
        got = self.bounds_memo.get(id(n))
        if got is not None:
            return got[1]
        k = n[0]
        if k == "cat":
            mn = 0
            mx: int | None = 0
            for m in n[1]:
                a, b = self.bounds(m)
                mn += a
                mx = None if mx is None or b is None else mx + b
            r: tuple[int, int | None] = (mn, mx)
        elif k == "alt":
            bs = [self.bounds(m) for m in n[1]]
            his = [b for _, b in bs if b is not None]
            r = (min(a for a, _ in bs), None if len(his) < len(bs) else max(his))
        elif k == "rep":
            a, b = self.bounds(n[1])
            lo, hi = n[2], n[3]
            r = (a * lo, 0 if b == 0 else (None if hi is None or b is None else b * hi))
        else:
            r = length_bounds(n)
        self.bounds_memo[id(n)] = (n, r)
        return r

    def spend(self, k: int = 1) -> None:
        self.budget -= k
        if self.budget < 0:
            raise RegexBudgetError("length restriction of this regex is too large")

    def run(self, n, lo: int, hi: int | None):
        lo = max(lo, 0)
        if hi is not None and hi < lo:
            return NEVER
        mn, mx = self.bounds(n)
        if n[0] == "never" or (mx is not None and mx < lo) or (hi is not None and mn > hi):
            return NEVER
        if mn >= lo and (hi is None or (mx is not None and mx <= hi)):
            return n
        key = (id(n), lo, hi)
        got = self.memo.get(key)
        if got is not None:
            return got
        self.keep.append(n)
        self.spend()
        r = self._run(n, lo, hi, mn, mx)
        self.memo[key] = r
        return r

    def _alt(self, *nodes):
        return EMPTY if self.dry else alt(*nodes)

    def _cat(self, *nodes):
        return EMPTY if self.dry else cat(*nodes)

    def _run(self, n, lo, hi, mn, mx):
        # what is built from the results goes through _alt/_cat/_rep_out (nothing when dry);
        # the nodes it peels (cat(x, tail), rep(...) of the input) are built either way, so
        # that a dry walk meets the same memo entries and spends the same steps
        k = n[0]
        if k == "alt":
            return self._alt(*[self.run(m, lo, hi) for m in n[1]])
        if k == "rep":
            x, a, b = n[1], n[2], n[3]
            xmn, xmx = self.bounds(x)
            if nullable(x):
                x = non_empty(x)
                a = 0
                xmn, xmx = self.bounds(x)
            if xmn == xmx and xmn > 0:
                a2 = max(a, -(-lo // xmn))
                b2 = hi // xmn if hi is not None else None
                if b is not None:
                    b2 = b if b2 is None else min(b, b2)
                return EMPTY if self.dry else rep(x, a2, b2)
            # variable-length body: peel one iteration
            if b == 0:
                return EMPTY if lo == 0 else NEVER
            tail = rep(x, max(a - 1, 0), None if b is None else b - 1)
            body = self.run(cat(x, tail), lo, hi)
            return self._alt(EMPTY, body) if a == 0 and lo == 0 else body
        if k == "cat":
            items = n[1]
            a_node, rest = items[0], _rest(n, 1)
            amn, amx = self.bounds(a_node)
            rmn, rmx = self.bounds(rest)
            if amn == amx:
                return self._cat(a_node, self.run(rest, lo - amn, None if hi is None else hi - amn))
            if rmn == rmx:
                return self._cat(self.run(a_node, lo - rmn, None if hi is None else hi - rmn), rest)
            out = []
            if hi is None:
                # |a| + |rest| >= lo
                top = lo - rmn  # below this length of a, rest must make up the difference
                for ln in range(amn, max(amn, top)):
                    if amx is not None and ln > amx:
                        break
                    self.spend()
                    out.append(self._cat(self.run(a_node, ln, ln), self.run(rest, lo - ln, None)))
                out.append(self._cat(self.run(a_node, max(amn, top), None), rest))
                return self._alt(*out)
            top = hi - rmn
            if amx is not None:
                top = min(top, amx)
            for ln in range(amn, top + 1):
                self.spend()
                out.append(self._cat(self.run(a_node, ln, ln), self.run(rest, lo - ln, hi - ln)))
            return self._alt(*out)
        # cps / bytes / empty are fixed length: handled by the bound checks above
        return n
