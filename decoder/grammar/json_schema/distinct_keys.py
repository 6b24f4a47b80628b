"""Distinct object keys: a JSON object never repeats a key (a parser keeps one copy, and what
it validates is then not what was written).

Declared properties cannot repeat: the object rules write each at most once, in the schema's
order, and extra keys exclude their names. Extra keys (``additionalProperties``,
``patternProperties``, the keys of an unconstrained object) are a language of keys, which
the grammar cannot keep apart. They become *item* lexemes (csrc/distinct.h): the engine's
matcher keeps the decoded keys of each open object and masks a token that would close a key
equal to an earlier one of the same object (``"\\u0061"`` and ``"a"`` are one key). Every
bracket of the grammar opens or closes a scope, so an inner object's keys, or a list's
distinct strings, never meet the outer object's.

No dead end: a key lexeme whose language has infinitely many completions from every state
inside the string (``{"type": "string"}`` keys minus the declared names, ``^x-`` patterns)
is a plain item: however many keys were used, a key prefix can still become a fresh key,
and an object can always take one more. A key language of a few names (``propertyNames``
with an ``enum``, a ``const`` or a pattern of at most :data:`MAX_FINITE_NAMES` strings)
becomes declared keys (:func:`finite_names`), which the object's rules write at most once.

A key language that becomes finite from some state (``propertyNames`` with ``maxLength``,
``^x.$``, an enum of more names) is a *finite item* (DISTINCT_FINITE_ITEM): besides a
repeat, the engine masks a key prefix whose every completion was already used in the object
(it counts the decoded completions of each lexer state; csrc/matcher_distinct.cc,
"Dead key prefixes"). A prefix never runs out that way unless the whole language did, and
the object itself must never ask for a key once every name of the language was used: a
finite item is used only where the object cannot take more extra keys than the language has
names (``maxProperties``, or no other key than these: the object's size is then bounded by
the language's, :func:`implied_max`), or where the language has at least
:data:`INEXHAUSTIBLE` names (no object written by a model holds 2^32 distinct keys).
Elsewhere, with no ``minProperties``/``maxProperties``, the object's rules count the extra
keys, at most as many as the kinds have names (compiler ``_object_rules``, :func:`extras_cap`),
and past that count's state budget the schema is refused: no key language compiles with
keys that may repeat (docs/limits.md, "Repeated keys").
"""

from __future__ import annotations

from ..ir import (
    DISTINCT_CLOSER,
    DISTINCT_FINITE_ITEM,
    DISTINCT_ITEM,
    DISTINCT_OPENER,
    MAX_CODEPOINT,
)
from . import automata
from .regexops import RegexBudgetError

_QUOTE = ("bytes", b'"')

#: a finite key language of at most this many names becomes declared keys
MAX_FINITE_NAMES = 64
#: a key language of at least this many names is one no object runs out of
INEXHAUSTIBLE = 1 << 32
#: a finite item's decoded-key automaton has at most this many states (the engine counts
#: completions by a depth-first walk of the lexer as deep as the longest key)
MAX_FINITE_ITEM_STATES = 256
#: the largest key count :func:`implied_max` makes a maxProperties of (the object's rules
#: have states per count)
MAX_IMPLIED_MAX = 1024
_SURROGATES = (0xD800, 0xDFFF)
#: when a list, each object compiled with extra keys that may repeat appends
#: ``(path, reason)`` (bench/dead_keys.py --unchecked)
UNCHECKED: list | None = None


def finite_names(c, rx) -> list[str] | None:
    """The names of code-point language ``rx`` in lexicographic order when it is finite and
    has at most :data:`MAX_FINITE_NAMES` of them, else None (no automaton is built past the
    compile's distinct-key budget)."""
    try:
        with automata.charged_to(c.distinct_key_work):
            d = automata.to_dfa(rx)
    except RegexBudgetError:
        return None
    out: list[str] = []
    # depth-first over (state, prefix, states on the path): a state met again on its own
    # path is a cycle (infinitely many names when it is live; dead states were removed)
    work = [(0, "", frozenset([0]))]
    while work:
        q, prefix, path = work.pop()
        if q in d.finals:
            out.append(prefix)
        for lo, hi, t in reversed(d.edges[q]):
            if t in path or hi - lo + 1 + len(out) + len(work) > MAX_FINITE_NAMES:
                return None
            for ch in range(hi, lo - 1, -1):
                work.append((t, prefix + chr(ch), path | {t}))
        if len(out) > MAX_FINITE_NAMES:
            return None
    return sorted(out)


def key_item(c, lx: int, hi: int | None = None, finite: bool = False, spare: bool = False) -> int:
    """The item twin of key lexeme ``lx`` (a symbol), or ``lx`` when its keys cannot be
    checked without a dead end. ``finite``: a key language that can run out from some state
    may become a finite item, when the object never asks for more keys of it than it has
    (at most ``hi`` keys in all, ``hi`` the object's ``maxProperties``), it has at least
    :data:`INEXHAUSTIBLE` names, or the object always has a ``spare`` kind of extra key
    (:func:`has_spare_kind`) to write once its names are used."""
    memo = c.distinct_key_memo
    got = memo.get(lx)
    if got is None:
        rx = c.b.regex_of(lx)
        body = automaton_body(rx)
        if body is not None:  # read off the automaton already there: no construction
            ok = every_live_state_goes_on(body)
        else:
            try:  # on a budget of its own: the schema's constructions keep all of theirs
                with automata.charged_to(c.distinct_key_work):
                    ok = automata.infinite_from_every_state(automata.to_dfa(rx), sinks=True)
            except RegexBudgetError:
                ok = False  # a finite item (counted) if its size is known, else refused
        got = memo[lx] = c.b.lexeme("KEY (distinct)", rx, DISTINCT_ITEM) if ok else lx
    if got != lx or not finite:
        return got
    n = key_count(c, lx)
    if n is None or (n < INEXHAUSTIBLE and (hi is None or hi > n) and not spare):
        return lx
    return c.b.lexeme("KEY (distinct, finite)", c.b.regex_of(lx), DISTINCT_FINITE_ITEM)


def small_names(c, lx: int) -> list[str] | None:
    """The names of key lexeme ``lx`` (an extra key kind: a pattern's region, a key
    language cut by ``propertyNames``) when its decoded language is finite with at most
    :data:`MAX_FINITE_NAMES` of them, else None: such keys become declared keys."""
    memo = c.__dict__.setdefault("small_names_memo", {})
    if lx not in memo:
        chars = c.key_chars.get(lx)
        ok = chars is not None and chars[0] != "counted"
        memo[lx] = finite_names(c, chars) if ok else None
    return memo[lx]


def bases_never_run_out(c, kinds) -> bool:
    """Whether every kind of extra key met by no requirement (bits 0) never runs out: a
    language infinite from every state, or one of at least :data:`INEXHAUSTIBLE` names."""
    bases = {k for b, k, _ in kinds if b == 0}
    if not bases:
        return False
    for k in bases:
        if key_item(c, k) == k:
            n = key_count(c, k)
            if n is None or n < INEXHAUSTIBLE:
                return False
    return True


def extras_cap(c, kinds) -> int | None:
    """How many distinct extra keys the ``kinds`` can write at most: the sum of their
    languages' sizes when each is finite and counted (below :data:`INEXHAUSTIBLE`) and no
    two overlap (then every object that wrote fewer still has a fresh name of some kind),
    else None."""
    lxs = sorted({k for _, k, _ in kinds})
    counts: list[int] = []
    for k in lxs:
        n = key_count(c, k)
        if n is None or n >= INEXHAUSTIBLE:
            return None
        counts.append(n)
    try:
        with automata.charged_to(c.distinct_key_work):
            ds = [automata.to_dfa(c.key_chars[k]) for k in lxs]
            for i in range(len(ds)):
                for j in range(i):
                    if not automata.intersect(ds[i], ds[j]).is_empty():
                        return None
    except RegexBudgetError:
        return None
    return sum(counts)


def why_unchecked(c, lx: int, hi: int | None, spare: bool) -> str:
    """Why key lexeme ``lx`` keeps a plain lexeme (its keys may repeat)."""
    n = key_count(c, lx)
    if n is None:
        return "key language of unknown size (automaton over budget or over 256 states)"
    return f"finite key language of {n} names, maxProperties {hi}, no kind that never runs out"


def report_unchecked(c, path: str, lxs, hi: int | None, spare: bool) -> None:
    if UNCHECKED is not None:
        for lx in lxs:
            UNCHECKED.append((path or "/", why_unchecked(c, lx, hi, spare)))


def key_count(c, lx: int) -> int | None:
    """How many keys key lexeme ``lx`` has (decoded, distinct; :data:`INEXHAUSTIBLE` for
    that many or more, or infinitely many), or None when unknown (its decoded language was
    not recorded, or its automaton is over budget or has more than
    :data:`MAX_FINITE_ITEM_STATES` states)."""
    memo = c.__dict__.setdefault("key_count_memo", {})
    if lx in memo:
        return memo[lx]
    chars = c.key_chars.get(lx)
    n = None
    if chars is not None and chars[0] != "counted":
        try:
            with automata.charged_to(c.distinct_key_work):
                d = automata.trim(automata.to_dfa(chars))
        except RegexBudgetError:
            d = None
        if d is not None and d.n <= MAX_FINITE_ITEM_STATES:
            n = count_strings(d)
    memo[lx] = n
    return n


def count_strings(d) -> int:
    """The number of strings of trimmed DFA ``d`` (code points, surrogates excluded, as the
    lexer spells none alone), saturated at :data:`INEXHAUSTIBLE` (also for infinitely
    many)."""
    if d.is_empty():
        return 0
    cnt: dict[int, int] = {}
    on_path: set[int] = set()

    def width(lo: int, hi: int) -> int:
        a, b = max(lo, _SURROGATES[0]), min(hi, _SURROGATES[1])
        return hi - lo + 1 - (b - a + 1 if a <= b else 0)

    # depth-first, post-order (an explicit stack: keys may be long)
    stack: list[tuple[int, int]] = [(0, 0)]
    on_path.add(0)
    while stack:
        q, k = stack[-1]
        es = d.edges[q]
        if k < len(es):
            stack[-1] = (q, k + 1)
            t = es[k][2]
            if t in on_path:  # a live cycle: infinitely many
                return INEXHAUSTIBLE
            if t not in cnt:
                on_path.add(t)
                stack.append((t, 0))
            continue
        total = 1 if q in d.finals else 0
        for lo, hi, t in es:
            total += width(lo, min(hi, MAX_CODEPOINT)) * cnt[t]
        cnt[q] = min(total, INEXHAUSTIBLE)
        on_path.discard(q)
        stack.pop()
    return cnt[0]


def has_spare_kind(c, kinds, nw: int) -> bool:
    """Whether, wherever the object's rules offer an extra key, one kind of them never runs
    out: a key language infinite from every state (a distinct item) whose value may be any
    JSON value (it always completes), and no ``__some_key__`` requirement (``nw``: then every
    kind of extra key may follow wherever one may). A finite kind beside it may run out
    without a dead end: a ``,`` can still take a key of that kind."""
    if nw:
        return False
    any_value = {c.memo.get(frozenset()), c.memo.get(frozenset({(id(True), frozenset())}))}
    any_value = (any_value | {c._any}) - {None}
    return any(val in any_value and key_item(c, k) != k for _, k, val in kinds)


def implied_max(c, live, kinds) -> int | None:
    """An object with no declared key (``live`` empty) and one kind of extra key: no valid
    instance has more keys than that language has names (keys never repeat), so its count
    is a ``maxProperties`` the object's rules may enforce (None: no such bound)."""
    if live or len({k for _, k, _ in kinds}) != 1:
        return None
    n = key_count(c, kinds[0][1])
    return n if n is not None and n < INEXHAUSTIBLE else None


def automaton_body(rx):
    """``D`` when key lexeme ``rx`` is ``'"' D '"'`` with ``D`` a ``dfa`` node that reads no
    quote from a final state (the shape of keys from patterns and key-set algebra: their
    JSON encoding reads a quote only after a backslash), else None.

    Then the lexeme's automaton is ``D``'s (and its start and end): from a final state the
    quote only closes the string, from any other it only goes on inside ``D``, so no subset
    of ``D``'s states is ever two of them and each state inside the string completes as in
    ``D``, followed by the quote (what :func:`every_live_state_goes_on` reads)."""
    if rx[0] != "cat" or len(rx[1]) != 3:
        return None
    first, body, last = rx[1]
    if first != _QUOTE or last != _QUOTE or body[0] != "dfa":
        return None
    edges = body[3]
    for f in body[2]:
        for lo, hi, _ in edges[f]:
            if lo <= 0x22 <= hi:
                return None
    return body


def every_live_state_goes_on(node) -> bool:
    """For a ``dfa`` node ``D`` that reads no '"' from a final state: whether ``'"' D '"'`` has infinitely
    many completions from every state inside the string, which is what
    ``automata.infinite_from_every_state(to_dfa(...), sinks=True)`` decides with a subset
    construction and a minimisation.

    Every state of the lexeme inside the string is a live state of ``D`` (reachable and
    co-reachable), its completions that state's followed by the quote; the state after the
    closing quote is the exempt sink. In a finite automaton whose live states all have a
    transition to a live state, every path goes on forever, so every live state reaches a
    cycle (infinitely many completions); a live state without one has finitely many. An
    empty ``D`` has no live state: False, as for the empty automaton."""
    _, n, finals, edges = node
    succ = [{t for _, _, t in es} for es in edges]
    reach = [False] * n
    if n:
        reach[0] = True
        stack = [0]
        while stack:
            for t in succ[stack.pop()]:
                if not reach[t]:
                    reach[t] = True
                    stack.append(t)
    pred: list[list[int]] = [[] for _ in range(n)]
    for q in range(n):
        if reach[q]:
            for t in succ[q]:
                pred[t].append(q)
    live = [False] * n
    stack = [f for f in finals if reach[f]]
    for f in stack:
        live[f] = True
    while stack:
        for q in pred[stack.pop()]:
            if not live[q]:
                live[q] = True
                stack.append(q)
    if not n or not live[0]:
        return False
    return all(any(live[t] for t in succ[q]) for q in range(n) if live[q])


def known_infinite(c, lx: int) -> None:
    """Key lexeme ``lx`` is known to have infinitely many completions inside the string (no
    automaton needed: ``C*`` minus finitely many names, ``C`` not empty)."""
    if lx not in c.distinct_key_memo:
        rx = c.b.regex_of(lx)
        c.distinct_key_memo[lx] = c.b.lexeme("KEY (distinct)", rx, DISTINCT_ITEM)


def mark_brackets(c) -> None:
    """Once the grammar is complete: where it has distinct items, every '{' and '[' opens a
    scope and every '}' and ']' closes one (the matcher's scopes must balance whichever
    bracket lexeme the parser took)."""
    if not c.b.has_roles():
        return
    for sym in (c.LB, c.LS):
        c.b.set_role(sym, DISTINCT_OPENER)
    for sym in (c.RB, c.RS):
        c.b.set_role(sym, DISTINCT_CLOSER)
