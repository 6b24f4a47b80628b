"""Exact operations on *code-point level* regex IR nodes.

The JSON Schema compiler describes the decoded content of a string (what a
``pattern``, a ``format`` or ``maxLength`` talks about) as a regex over code
points, built from ``empty``/``never``/``bytes`` (a UTF-8 literal)/``cps``/
``cat``/``alt``/``rep`` nodes of :mod:`decoder.grammar.ir`.  The IR has no
intersection or complement, so the operations the compiler needs are done here,
structurally and exactly:

* :func:`derive` -- Brzozowski derivative by one code point;
* :func:`restrict_first` -- the non-empty strings whose first code point is in a set;
* :func:`minus_finite` -- ``L \\ K`` for a finite set of strings ``K`` (the
  complement of the declared keys inside the key language, ``not: {enum: ...}``);
* :func:`restrict_length` -- ``L`` intersected with ``.{lo,hi}`` (``minLength`` /
  ``maxLength`` together with ``pattern`` or ``format``), with a size budget;
* :func:`matches` -- whether a string is in ``L``.

``byteset`` nodes have no code-point meaning and raise :class:`ValueError`.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from ..ir import (
    EMPTY,
    MAX_CODEPOINT,
    NEVER,
    alt,
    cat,
    lit,
    negate_ranges,
    normalize_ranges,
    nullable,
    rep,
)
from .automata import RegexBudgetError  # noqa: F401  (re-exported: the compiler catches it)

ANY_CP = ("cps", normalize_ranges([(0, MAX_CODEPOINT)]))


def _in_ranges(c: int, ranges) -> bool:
    for a, b in ranges:
        if c < a:
            return False
        if c <= b:
            return True
    return False


def _rest(n, i):
    items = n[1][i:]
    return cat(*items) if items else EMPTY


def derive(n, c: int):
    """The derivative of ``n`` by code point ``c``: ``{w : c w in L(n)}``."""
    k = n[0]
    if k in ("empty", "never"):
        return NEVER
    if k == "bytes":
        s = n[1].decode("utf-8")
        return lit(s[1:]) if s and ord(s[0]) == c else NEVER
    if k == "cps":
        return EMPTY if _in_ranges(c, n[1]) else NEVER
    if k == "cat":
        first = n[1][0]
        out = [cat(derive(first, c), _rest(n, 1))]
        if nullable(first):
            out.append(derive(_rest(n, 1), c))
        return alt(*out)
    if k == "alt":
        return alt(*(derive(m, c) for m in n[1]))
    if k == "rep":
        x, hi = n[1], n[3]
        if hi == 0:
            return NEVER
        return cat(derive(x, c), _rep_tail(n))
    raise ValueError(f"regex node {k!r} has no code-point meaning")


def _rep_tail(n):
    """What may follow the first iteration of ``rep`` node ``n``: ``n`` itself when it is
    a star (kept as the same object, so that equal tails stay one subtree for the
    encoding memo and the serializer, and one NFA fragment)."""
    x, lo, hi = n[1], n[2], n[3]
    if hi is None and (lo == 0 or nullable(x)):
        return n if lo == 0 else rep(x, 0, None)
    lo2 = 0 if nullable(x) else max(lo - 1, 0)
    return rep(x, lo2, None if hi is None else hi - 1)


def has_dfa(n) -> bool:
    """Whether a ``dfa`` node (an intersection or complement) occurs in ``n``."""
    k = n[0]
    if k == "dfa":
        return True
    if k in ("cat", "alt"):
        return any(has_dfa(m) for m in n[1])
    if k == "rep":
        return has_dfa(n[1])
    return False


def matches(n, s: str) -> bool:
    if has_dfa(n):
        from . import automata

        return automata.to_dfa(n).accepts(s)
    for ch in s:
        n = derive(n, ord(ch))
        if n[0] == "never":
            return False
    return nullable(n)


def restrict_first(n, ranges):
    """Non-empty strings of ``n`` whose first code point lies in ``ranges``."""
    k = n[0]
    if k in ("empty", "never"):
        return NEVER
    if k == "bytes":
        s = n[1].decode("utf-8")
        return n if s and _in_ranges(ord(s[0]), ranges) else NEVER
    if k == "cps":
        inter = _intersect_ranges(n[1], ranges)
        return ("cps", inter) if inter else NEVER
    if k == "cat":
        first = n[1][0]
        out = [cat(restrict_first(first, ranges), _rest(n, 1))]
        if nullable(first):
            out.append(restrict_first(_rest(n, 1), ranges))
        return alt(*out)
    if k == "alt":
        return alt(*(restrict_first(m, ranges) for m in n[1]))
    if k == "rep":
        x, hi = n[1], n[3]
        if hi == 0:
            return NEVER
        return cat(restrict_first(x, ranges), _rep_tail(n))
    raise ValueError(f"regex node {k!r} has no code-point meaning")


def non_empty(n):
    return restrict_first(n, ((0, MAX_CODEPOINT),))


def _intersect_ranges(r1, r2):
    if r1 == ANY_CP[1]:  # the common case: "any code point" restricted to a normalised set
        return normalize_ranges(r2) if r2 else ()
    out = []
    i = j = 0
    while i < len(r1) and j < len(r2):
        a = max(r1[i][0], r2[j][0])
        b = min(r1[i][1], r2[j][1])
        if a <= b:
            out.append((a, b))
        if r1[i][1] < r2[j][1]:
            i += 1
        else:
            j += 1
    return normalize_ranges(out)


def minus_finite(n, keys):
    """``L(n)`` minus the finite set of strings ``keys`` (exact)."""
    keys = set(keys)
    if not keys:
        return n
    if n[0] == "never":
        return NEVER
    if has_dfa(n):  # an intersection or complement (see .automata)
        from . import automata

        return automata.minus_finite(automata.to_dfa(n), keys).node()
    if n[0] == "rep" and n[1][0] == "cps" and n[2] == 0 and n[3] is None:
        return _star_minus_finite(n, keys)
    out = []
    if nullable(n) and "" not in keys:
        out.append(EMPTY)
    by_first: dict[str, set] = {}
    for key in keys:
        if key:
            by_first.setdefault(key[0], set()).add(key[1:])
    others = negate_ranges([(ord(ch), ord(ch)) for ch in by_first])
    if others:
        out.append(restrict_first(n, others))
    for ch in sorted(by_first):
        d = derive(n, ord(ch))
        if d[0] != "never":
            out.append(cat(lit(ch), minus_finite(d, by_first[ch])))
    return alt(*out)


def _star_minus_finite(star_node, keys):
    """``C* \\ K`` for a code-point class ``C``, as ``F | E C*``.

    Walk the trie of the keys: ``F`` is the finite set of trie prefixes that are not keys,
    ``E`` the prefixes extended by one code point that leaves the trie. Every string of
    ``C*`` outside the trie starts with exactly one word of ``E``, so ``E C*`` covers them
    with a single ``C*`` tail: the NFA holds it once and every exit of the key trie lands in
    the same lexer state (a derivative-built complement repeats the tail per trie node).
    """
    ranges = star_node[1][1]
    trie: dict = {}
    end = object()
    for key in keys:
        if all(_in_ranges(ord(ch), ranges) for ch in key):  # other keys are not in C*
            t = trie
            for ch in key:
                t = t.setdefault(ch, {})
            t[end] = True

    def walk(t):
        children = sorted(ch for ch in t if ch is not end)
        exits = _intersect_ranges(ranges, negate_ranges([(ord(ch), ord(ch)) for ch in children]))
        fin = [] if end in t else [EMPTY]
        ext = [("cps", exits)] if exits else []
        for ch in children:
            f, e = walk(t[ch])
            fin.append(cat(lit(ch), f))
            ext.append(cat(lit(ch), e))
        return alt(*fin), alt(*ext)

    fin, ext = walk(trie)
    return alt(fin, cat(ext, star_node))


def length_bounds(n) -> tuple[int, int | None]:
    """(min, max) length in code points; max is None when unbounded. Zero-width assertions
    (``anchor``, ``look``: :mod:`..lookaround`) are 0."""
    k = n[0]
    if k in ("empty", "anchor", "look"):
        return 0, 0
    if k == "never":
        return 0, 0
    if k == "bytes":
        ln = len(n[1].decode("utf-8"))
        return ln, ln
    if k == "cps":
        return 1, 1
    if k == "cat":
        mn = 0
        mx: int | None = 0
        for m in n[1]:
            a, b = length_bounds(m)
            mn += a
            mx = None if mx is None or b is None else mx + b
        return mn, mx
    if k == "alt":
        bs = [length_bounds(m) for m in n[1]]
        mn = min(a for a, _ in bs)
        his = [b for _, b in bs if b is not None]
        mx = None if len(his) < len(bs) else max(his)
        return mn, mx
    if k == "rep":
        a, b = length_bounds(n[1])
        lo, hi = n[2], n[3]
        mx = 0 if b == 0 else (None if hi is None or b is None else b * hi)
        return a * lo, mx
    raise ValueError(f"regex node {k!r} has no code-point meaning")


def end_of_loop(lo, hi, amn, amx, rmn) -> int:
    """The end (exclusive) of ``_LengthRestrictor._run``'s loop over the first part's lengths."""
    if hi is None:
        top = max(amn, lo - rmn)
        return top if amx is None else min(top, amx + 1)
    top = hi - rmn
    return (top if amx is None else min(top, amx)) + 1


def _dead(lo: int, hi: int | None, mn: int, mx: int | None) -> bool:
    """No string of lengths ``mn..mx`` has a length in ``lo..hi``: ``run`` answers NEVER."""
    return (hi is not None and (hi < lo or mn > hi)) or (mx is not None and mx < lo)


def _whole(lo: int, hi: int | None, mn: int, mx: int | None) -> bool:
    """Every length ``mn..mx`` is in ``lo..hi``: ``run`` answers the node itself."""
    return mn >= lo and (hi is None or (mx is not None and mx <= hi))


def node_size(n, limit: int = 1 << 30) -> int:
    """Number of nodes (a tree walk; stops counting past ``limit``)."""
    stack = [n]
    count = 0
    while stack and count <= limit:
        m = stack.pop()
        count += 1
        if m[0] in ("cat", "alt"):
            stack.extend(m[1])
        elif m[0] == "rep":
            stack.append(m[1])
    return count


class _LengthRestrictor:
    """``dry``: the same walk (the same inputs peeled, memo hits and steps spent) without
    building the result: whether the restriction fits its budget, at about half the cost
    (the result's cat/alt nodes, their flattening and de-duplication, are the other half).
    Dry, it spends steps ahead and visits a loop's longest parts first (:meth:`_order`,
    :meth:`_credit_rests`): the same total, so the same refusals, reached sooner."""

    def __init__(self, budget: int, dry: bool = False) -> None:
        self.budget = budget
        self.dry = dry
        self.memo: dict = {}
        # dry: the keys whose step was spent ahead (_credit_rests), not spent again on entry
        self.credited: set = set()
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
        if n[0] == "never" or _dead(lo, hi, mn, mx):
            return NEVER
        if _whole(lo, hi, mn, mx):
            return n
        key = (id(n), lo, hi)
        got = self.memo.get(key)
        if got is not None:
            return got
        self.keep.append(n)
        if key not in self.credited:
            self.spend()
        r = self._run(n, lo, hi, mn, mx)
        self.memo[key] = r
        return r

    def _credit_rests(self, rest, rmn, rmx, lo, hi, first, end) -> None:
        """Spend ahead the steps of the loop's calls on ``rest`` that will walk. ``rest`` is a
        concatenation peeled by this call (``_rest`` builds a new tuple whenever the result is
        a ``cat``), so no other call reaches it: each of its keys (one per length, distinct)
        that is not settled by the bound checks of :meth:`run` is walked exactly once, later
        in this loop, and spends one step then; spent now, the walk reaches its budget sooner
        and spends the same in all."""
        keys = []
        for ln in range(first, end):
            a = max(lo - ln, 0)
            b = None if hi is None else hi - ln
            if not (_dead(a, b, rmn, rmx) or _whole(a, b, rmn, rmx)):  # run's own checks
                keys.append((id(rest), a, b))
        self.credited.update(keys)
        self.spend(len(keys))

    def _order(self, first: int, end: int, total: int):
        """The lengths ``first..end-1`` of a cat's first part, in the loop's order: ascending
        when building (the result's alternatives keep their order); dry, the calls that reach
        the most (the longest part, first part ``ln`` or rest ``total - ln``) first, from
        both ends inward. The walk's keys and steps are the same in any order (each key is
        walked once, from the memo after), so a dry walk refuses what it refused; over
        budget, the longest parts' large loops are spent first and reach the budget after
        far fewer calls (o21137: the 19-word copy of 199 characters before the one of 0)."""
        if not self.dry:
            return range(first, end)
        out = []
        i, j = first, end - 1
        while i <= j:
            if max(j, total - j) >= max(i, total - i):
                out.append(j)
                j -= 1
            else:
                out.append(i)
                i += 1
        return out

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
            # a loop spends one step per length of a_node, whatever its calls spend: all of
            # them are spent on entering it, before the calls' own. The walk's total (the memo
            # holds the same keys, each walked once) is the same, and a restriction is refused
            # exactly when that total exceeds the budget, so only the moment of the refusal
            # changes: over budget, the walk reaches its budget after a fraction of the calls
            # (o21137's word counts: the outer loop's 200 steps, then each copy's, at once)
            end = end_of_loop(lo, hi, amn, amx, rmn)
            if self.dry and rest[0] == "cat":
                self._credit_rests(rest, rmn, rmx, lo, hi, amn, end)
            self.spend(max(end - amn, 0))  # the loop's steps, spent before it (see above)
            out = []
            if hi is None:
                # |a| + |rest| >= lo; below lo - rmn, rest must make up the difference
                for ln in self._order(amn, end, lo):
                    out.append(self._cat(self.run(a_node, ln, ln), self.run(rest, lo - ln, None)))
                out.append(self._cat(self.run(a_node, max(amn, lo - rmn), None), rest))
                return self._alt(*out)
            for ln in self._order(amn, end, hi):
                out.append(self._cat(self.run(a_node, ln, ln), self.run(rest, lo - ln, hi - ln)))
            return self._alt(*out)
        # cps / bytes / empty are fixed length: handled by the bound checks above
        return n


def restrict_length(n, lo: int, hi: int | None, budget: int = 4000):
    """``L(n)`` restricted to strings of ``lo..hi`` code points (exact).

    Raises :class:`RegexBudgetError` when the construction would exceed ``budget``
    steps (e.g. many unbounded parts with a large ``maxLength``).
    """
    if has_dfa(n):  # an intersection or complement (see .automata): a product
        from . import automata

        return automata.restrict_length(automata.to_dfa(n), lo, hi).node()
    key = (id(n), lo, hi, budget)
    with _RESTRICTED_LOCK:
        got = _RESTRICTED.get(key)
        if got is not None:
            _RESTRICTED.move_to_end(key)
    if got is not None:
        if got[2] is not None:
            raise RegexBudgetError(got[2])
        return got[1]
    try:
        if budget > _DRY_FIRST_STEPS:
            # over budget is the costly outcome (a word-count pattern with maxLength 200: the
            # full 4,000 steps, ~11 ms, then the counted fallback; o21137 eleven times): a dry
            # walk first refuses it (spending ahead, longest parts first: a few hundred calls
            # at most for o21137's, section 55), and a restriction that fits is then
            # built as before (the same result, its cost about 1.5 times: they are small)
            try:
                _LengthRestrictor(budget, dry=True).run(n, lo, hi)
            except RecursionError:  # its order may nest deeper: the building walk decides
                pass
        restrictor = _LengthRestrictor(budget)
        r = restrictor.run(n, lo, hi)
    except RegexBudgetError as e:
        _remember(key, (n, None, str(e), 0))  # a refusal holds no result
        raise
    _remember(key, (n, r, None, budget - restrictor.budget))
    return r


#: restrict_length's results (or budget refusals) by the node's identity, the bounds and the
#: budget; each entry holds its node, so the identity is not reused while it lives. The
#: restriction depends on nothing else (no deadline, no per-compile budget), and the nodes of a
#: pattern are one object across uses (the parse memo), so a pattern with a length repeated in a
#: schema or across schemas is restricted once: o21135 asked ten times for five distinct ones,
#: four of them refusals after their 4,000 steps (~16 ms each).
#: Bounded by entries and by the steps that built the results held (a result's size grows with
#: its steps: a few nodes each), so that a server seeing many patterns keeps a few MB at most.
#: restrict_length's budgets above this walk dry first (below, a refusal costs little)
_DRY_FIRST_STEPS = 256
_RESTRICTED: OrderedDict = OrderedDict()
_RESTRICTED_MAX = 512
_RESTRICTED_MAX_STEPS = 50_000
_restricted_steps = 0
_RESTRICTED_LOCK = threading.Lock()  # compiles may run on several threads


def _remember(key, entry) -> None:
    global _restricted_steps
    with _RESTRICTED_LOCK:
        old = _RESTRICTED.pop(key, None)
        if old is not None:  # another thread restricted the same meanwhile
            _restricted_steps -= old[3]
        _RESTRICTED[key] = entry
        _restricted_steps += entry[3]
        while _RESTRICTED and (
            len(_RESTRICTED) > _RESTRICTED_MAX or _restricted_steps > _RESTRICTED_MAX_STEPS
        ):
            _restricted_steps -= _RESTRICTED.popitem(last=False)[1][3]
