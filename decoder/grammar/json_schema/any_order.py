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
:data:`MAX_ANY_ORDER_STATES` reachable states (about 12 optional declared properties; fewer
with ``minProperties``/``maxProperties`` counts or negated conditions) the compile raises a
SchemaError naming ``property_order`` and the object's path; nothing falls back to the
schema's order.
"""

from __future__ import annotations

from ...errors import SchemaError
from . import distinct_keys

#: the states (sets of declared keys written, with counts) one any-order object may have
MAX_ANY_ORDER_STATES = 4096

PROPERTY_ORDERS = ("schema", "any")


def check_option(property_order) -> None:
    """A clear error for a value other than ``"schema"`` or ``"any"``."""
    if property_order not in PROPERTY_ORDERS:
        raise SchemaError(
            f"property_order={property_order!r} is not supported (use one of "
            f"{', '.join(map(repr, PROPERTY_ORDERS))})",
            keyword="property_order",
        )


def object_rules(c, live, kinds, nw, static, lo, hi, inc_x, path) -> int:
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
                if not used >> i & 1:
                    for bits in live[i][1]:
                        yield i, bits, (used | 1 << i, inc(k), f | bits)
        if ok(inc_x(k)):
            for bits in extra_bits:
                yield "x", bits, (used, inc_x(k), f | bits)

    # the reachable states, then those from which the object can close
    start = (0, 0, static)
    succ: dict = {}
    work = [start]
    while work:
        s = work.pop()
        if s in succ:
            continue
        if len(succ) >= MAX_ANY_ORDER_STATES:
            raise SchemaError(
                f"property_order='any' at {path or '/'}: an object with {n} declared "
                f"properties needs more than {MAX_ANY_ORDER_STATES} states (one per set of "
                f"keys written; use property_order='schema' or fewer properties)",
                path=path,
                keyword="property_order",
            )
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
                        c.rule(s, [distinct_keys.key_item(c, key), c.COLON, val])
            else:
                for val in live[i][1][bits]:
                    c.rule(s, [c._key_lexeme_literal(live[i][0]), c.COLON, val])
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
