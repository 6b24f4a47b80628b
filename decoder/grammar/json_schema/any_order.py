"""Objects whose keys may come in any order (``property_order="any"``).

In the default mode (``"schema"``) an object's declared properties come in the schema's
order, and the grammar need only remember where it is in that list. In ``"any"`` mode each
declared key may come at any position, at most once, and the object closes only once every
required key has come. The grammar remembers which declared keys have been written: its
states are ``(used, c, f)`` -- the set of declared keys written, the count of properties
(saturated, as in schema mode, for ``minProperties``/``maxProperties``) and the set of
``__some_key__`` requirements met. From a state, a member is a declared key not in ``used``
(with its value) or an extra key (``additionalProperties``/``patternProperties``, never
repeated: distinct_keys); ``}`` is allowed where every required key is in ``used``, the
count meets ``minProperties`` and every requirement is met.

No dead end: only the states from which some closable state can be reached are written
(the engine drops the others anyway), so ``,`` is never allowed once no key can follow, nor
a key after which the object cannot close. Exact, with no approximation: the states are
the subsets of the declared keys, so an object needs up to ``2**n`` of them. Past
:data:`MAX_ANY_ORDER_STATES` reachable states (13 optional declared properties; fewer
with ``minProperties``/``maxProperties`` counts or negated conditions) the compile raises a
SchemaError naming ``property_order`` and the object's path; nothing falls back to the
schema's order.

*Open* objects need no sets of optional keys. Where the object takes extra keys with any
value, as distinct items whose language continues every declared name (``"name`` is a live
prefix of the extra-key lexeme: objects that do not restrict ``additionalProperties``, with
``propertyNames`` patterns that admit the names' extensions), the optional declared keys
become distinct items too: the matcher refuses a repeated one where its key closes, and a
key prefix of a written key is never a dead end (an extra key continues it, among infinitely
many, and its value always completes). The states then hold the set of *required* keys
written and the count: ``2**r`` sets however many optional keys are declared. Not with
``__some_key__`` requirements (a requirement met by an optional key's value could be counted
on from a key already written) nor where extra keys do not count toward ``minProperties``.

``const``/``enum`` object values (:func:`const_object`) are closed objects whose keys are all
required: any order of their keys, each once.
"""

from __future__ import annotations

import json
import math

from ...errors import SchemaError
from ..ir import DISTINCT_ITEM, NEVER
from . import automata, distinct_keys, regexops
from .regexops import RegexBudgetError

#: the states (sets of declared keys written, with counts) one any-order object may have
#: (13 keys of a closed object: 61,467 rules, compiled in about 0.5 s)
MAX_ANY_ORDER_STATES = 8192

PROPERTY_ORDERS = ("schema", "any")


def check_option(property_order) -> None:
    """A clear error for a value other than ``"schema"`` or ``"any"``."""
    if property_order not in PROPERTY_ORDERS:
        raise SchemaError(
            f"property_order={property_order!r} is not supported (use one of "
            f"{', '.join(map(repr, PROPERTY_ORDERS))})",
            keyword="property_order",
        )


def object_rules(c, live, kinds, nw, static, lo, hi, inc_x, path, spare=False) -> int:
    """The object's nonterminal: ``'{'`` members in any order ``'}'``. The arguments are
    those of ``Compiler._object_rules`` (``live``: (name, {bits: [value symbols]} or None
    when forbidden, required, bits met by leaving it out); ``kinds``: (bits, key lexeme,
    value symbol) per kind of extra key; ``inc_x``: how an extra key moves the count)."""
    live = [e for e in live if e[1] is not None]
    n = len(live)
    full = (1 << nw) - 1
    required = sum(1 << i for i, e in enumerate(live) if e[2])
    extra_bits = sorted({bits for bits, _, _ in kinds})

    def inc(k):
        return k + 1 if hi is not None else min(k + 1, lo)

    # optional keys as distinct items, out of the sets (see the module docstring)
    open_items = nw == 0 and inc_x(0) == inc(0) and _covered(c, live, kinds)

    def ok(k):
        return hi is None or k <= hi

    def closable(used, k, f):
        if used & required != required or k < lo:
            return False
        for i in range(n):
            if not used >> i & 1:
                f |= live[i][3]
        return f == full

    def moves(state):
        """(member, bits, next state) for each member that may follow ``state``."""
        used, k, f = state
        if ok(inc(k)):
            for i in range(n):
                if open_items and not live[i][2]:
                    yield i, 0, (used, inc(k), f)
                elif not used >> i & 1:
                    for bits in live[i][1]:
                        yield i, bits, (used | 1 << i, inc(k), f | bits)
        if ok(inc_x(k)):
            for bits in extra_bits:
                yield "x", bits, (used, inc_x(k), f | bits)

    def too_many():
        return SchemaError(
            f"property_order='any' at {path or '/'}: an object with {n} declared "
            f"properties needs more than {MAX_ANY_ORDER_STATES} states (one per set of "
            f"keys written: of the required ones only where any extra key may follow; "
            f"use property_order='schema' or fewer properties)",
            path=path,
            keyword="property_order",
        )

    # at least the sets of up to maxProperties tracked keys are reachable: refuse at once
    tracked = sum(1 for e in live if not (open_items and not e[2]))
    sets = sum(math.comb(tracked, j) for j in range(min(tracked, n if hi is None else hi) + 1))
    if sets > MAX_ANY_ORDER_STATES:
        raise too_many()
    # the reachable states, then those from which the object can close
    start = (0, 0, static)
    succ: dict = {}
    work = [start]
    while work:
        s = work.pop()
        if s in succ:
            continue
        if len(succ) >= MAX_ANY_ORDER_STATES:
            raise too_many()
        if not len(succ) & 255:
            c.check_deadline(path)
        succ[s] = list(moves(s))
        work += [t for _, _, t in succ[s] if t not in succ]
    alive = {s for s in succ if closable(*s)}
    grew = True
    while grew:
        grew = False
        for s, ms in succ.items():
            if s not in alive and any(t in alive for _, _, t in ms):
                alive.add(s)
                grew = True

    kv_memo: dict = {}

    def kv(i, bits):
        s = kv_memo.get((i, bits))
        if s is None:
            s = kv_memo[(i, bits)] = c.nt(f"kv:{live[i][0] if i != 'x' else '*'}")
            if i == "x":  # extra keys, never repeated (distinct_keys)
                for kb, key, val in kinds:
                    if kb == bits:
                        key = distinct_keys.key_item(c, key, hi, True, spare)
                        c.rule(s, [key, c.COLON, val])
            else:
                key = c._key_lexeme_literal(live[i][0])
                if open_items and not live[i][2]:  # its repeats refused by the matcher
                    key = c.b.lexeme("KEY (distinct)", c.b.regex_of(key), DISTINCT_ITEM)
                for val in live[i][1][bits]:
                    c.rule(s, [key, c.COLON, val])
        return s

    top = c.nt(f"object@{path or '/'}")
    if start not in alive:
        return top  # no object satisfies it: unproductive, as in schema order
    syms: dict = {}

    def sym(s):
        got = syms.get(s)
        if got is None:
            got = syms[s] = c.nt(f"objany{s[0]}.{s[1]}")
        return got

    # after the first member: ',' and a member, or '}'
    for s in sorted(alive & {t for ms in succ.values() for _, _, t in ms}):
        if closable(*s):
            c.rule(sym(s), [])
        for i, bits, t in succ[s]:
            if t in alive:
                c.rule(sym(s), [c.COMMA, kv(i, bits), sym(t)])
    if closable(*start):
        c.rule(top, [c.LB, c.RB])
    for i, bits, t in succ[start]:
        if t in alive:
            c.rule(top, [c.LB, kv(i, bits), sym(t), c.RB])
    return top


def const_object(c, x: dict) -> int:
    """A ``const``/``enum`` object value in any key order: every key required, its value the
    member's ``const``."""
    live = [(k, {0: [c._const_value(y)]}, True, 0) for k, y in x.items()]
    try:
        return object_rules(c, live, [], 0, 0, 0, None, lambda k: k, "")
    except SchemaError:
        raise SchemaError(
            f"property_order='any': a const/enum object with {len(x)} keys needs more than "
            f"{MAX_ANY_ORDER_STATES} states (one per set of keys written; use "
            f"property_order='schema')",
            keyword="property_order",
        ) from None


def _covered(c, live, kinds) -> bool:
    """Whether some extra-key kind takes any value (so its members always complete) and is
    a distinct item (infinitely many completions from every state inside the key) whose
    lexeme continues ``"name`` for every declared name."""
    names = [e[0] for e in live]
    memo = c.__dict__.setdefault("any_order_cover", {})
    # the values of no schema and of `true`: every JSON value (productive whatever the
    # rest of the grammar is)
    any_value = {c.memo.get(frozenset()), c.memo.get(frozenset({(id(True), frozenset())}))}
    any_value = (any_value | {c._any}) - {None}
    for _, lx, val in kinds:
        if val not in any_value or distinct_keys.key_item(c, lx) == lx:
            continue
        d = memo.get(lx)
        if d is None:
            try:
                with automata.charged_to(c.distinct_key_work):
                    d = automata.trim(automata.to_dfa(c.b.regex_of(lx)))
            except RegexBudgetError:
                d = automata.Dfa([], [])
            memo[lx] = d
        if d.n:
            if all(_live_prefix(d, json.dumps(k, ensure_ascii=False)[:-1]) for k in names):
                return True
        elif all(_derives(c.b.regex_of(lx), json.dumps(k, ensure_ascii=False)[:-1]) for k in names):
            return True  # no automaton within budget (many names): the regex's derivatives
    return False


def _derives(rx, text: str) -> bool:
    """Whether some string of ``rx`` goes on past ``text`` (regexops' derivatives)."""
    try:
        for ch in text:
            rx = regexops.derive(rx, ord(ch))
            if rx == NEVER:
                return False
        return regexops.non_empty(rx) != NEVER
    except (ValueError, RecursionError, RegexBudgetError):
        return False


def _live_prefix(d, text: str) -> bool:
    q = 0
    for ch in text:
        for lo, hi, t in d.edges[q]:
            if lo <= ord(ch) <= hi:
                q = t
                break
        else:
            return False
    return True
