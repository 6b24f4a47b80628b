"""``unevaluatedProperties``, ``unevaluatedItems`` and ``$dynamicRef``, resolved statically.

Both ``unevaluated*`` keywords depend on annotations: which properties (items) the schema
and its in-place applicators that *succeed* have evaluated. :func:`rewrite` turns a schema
location that has one into schemas the compiler enforces already (``properties`` /
``patternProperties`` next to ``additionalProperties``, ``prefixItems`` / ``items``,
``anyOf``), exactly:

* the *alternatives* of a location are pairs (conditions, evaluated set E) such that the
  location holds iff some alternative's conditions hold, every alternative whose conditions
  hold evaluates at least E, and some alternative evaluates exactly what the validator does;
  so "the location holds and every key outside its evaluated set satisfies U" is the
  disjunction over alternatives of "its conditions hold and every key outside E satisfies
  U" (a smaller E only makes the constraint stronger, never wrong);
* ``allOf`` / ``$ref`` / ``$dynamicRef``: the product of the alternatives of the subschemas;
  ``anyOf``: every non-empty subset of the branches that evaluate something (all of the
  subset hold; the union of their sets: a branch that also holds only adds keys); ``oneOf``:
  each branch (the ``oneOf`` itself is kept, so exactly one holds); ``if``: (if and then)
  with both sets, or (not if and else), where ``else`` evaluates something (the compiler's
  negation of ``if``; a SchemaError where it has none); ``dependentSchemas``: the key absent,
  or present and its schema's alternatives;
* an applicator that never evaluates anything is left to the compiler untouched, and
  alternatives with the same set are merged (one ``anyOf``), so the branch count stays
  small; past :data:`MAX_ALTERNATIVES` it is a SchemaError naming the keyword;
* a nested ``unevaluated*`` is applied where it stands (it sees only its own subtree) and
  then counts as evaluating everything;
* ``contains``: the items it matches are evaluated, so an item after the evaluated prefix
  must match one of the passing ``contains`` schemas or satisfy U (``items: anyOf[...]``).

``$dynamicRef``: the outermost resource of the dynamic scope that defines the anchor wins.
:class:`_DynamicScopes` walks every path evaluation can take from the root (the resources
entered on the way, by ``$id`` or by a reference), and a ``$dynamicRef`` that resolves to
one schema on every path is a ``$ref`` to it; one that depends on the path is a SchemaError.
"""

from __future__ import annotations

import sys
from itertools import combinations
from typing import Any
from urllib.parse import urldefrag

from ...errors import SchemaError
from .schema import _SUB_LIST, _SUB_MAP, _SUB_ONE, DEFAULT_BASE, join_uri

#: the most alternatives (distinct evaluated sets) one location may split into
MAX_ALTERNATIVES = 64
#: the most anyOf branches that evaluate something (their non-empty subsets are tried)
MAX_ANYOF_BRANCHES = 6
#: the most (schema, dynamic scope) states the $dynamicRef walk visits
MAX_SCOPE_STATES = 50_000

_UNEV = ("unevaluatedProperties", "unevaluatedItems")


class _Refuse(Exception):
    def __init__(self, keyword: str, path: str, why: str) -> None:
        super().__init__(why)
        self.keyword, self.path, self.why = keyword, path, why


#: the compiler's module, bound by the entry points from the compiler they are given (the
#: compiler imports this module, so this one does not import it back: no import cycle)
_M: Any = None


def _bind(c) -> None:
    global _M
    if _M is None:
        _M = sys.modules[type(c).__module__]


def _trivial(node) -> bool:
    return _M._trivial(node)


def _Part(*a):
    return _M.Part(*a)


# ------------------------------------------------------------------ evaluated sets
class Ev:
    """What an alternative evaluates: property names, patterns, all properties; the
    length of the evaluated prefix, the contains schemas (by id), all items."""

    __slots__ = ("props", "pats", "allp", "prefix", "contains", "alli", "_h")

    def __init__(self, props=frozenset(), pats=frozenset(), allp=False, prefix=0,
                 contains=frozenset(), alli=False) -> None:  # fmt: skip
        if allp:
            props, pats = frozenset(), frozenset()
        if alli:
            prefix, contains = 0, frozenset()
        self.props, self.pats, self.allp = frozenset(props), frozenset(pats), allp
        self.prefix, self.contains, self.alli = prefix, frozenset(contains), alli
        self._h = (self.props, self.pats, allp, prefix, self.contains, alli)

    def __eq__(self, o) -> bool:
        return isinstance(o, Ev) and self._h == o._h

    def __hash__(self) -> int:
        return hash(self._h)

    def __or__(self, o: Ev) -> Ev:
        return Ev(
            self.props | o.props,
            self.pats | o.pats,
            self.allp or o.allp,
            max(self.prefix, o.prefix),
            self.contains | o.contains,
            self.alli or o.alli,
        )

    def project(self, want: frozenset) -> Ev:
        p, i = "p" in want, "i" in want
        return Ev(
            self.props if p else (),
            self.pats if p else (),
            self.allp and p,
            self.prefix if i else 0,
            self.contains if i else (),
            self.alli and i,
        )

    def empty(self) -> bool:
        return not any(self._h)


EMPTY = Ev()


def _kinds(p) -> frozenset:
    return frozenset(
        k for kw, k in (("unevaluatedProperties", "p"), ("unevaluatedItems", "i")) if kw in p.live
    )


# ------------------------------------------------------------------ the rewrite
class _Rewriter:
    def __init__(self, c) -> None:
        self.c = c
        self.memo: dict = {}
        self.copies: dict = {}
        self.nodes: dict = {}  # id -> contains schema node (kept alive by the document)

    # parts and nodes -----------------------------------------------------------
    def synth(self, d: dict) -> dict:
        return self.c.synth(d)

    def materialize(self, p):
        """The schema of a part (its node without the skipped keywords): a copy that the
        document knows the base URI and path of, so references in it resolve as before."""
        if not p.skip or not isinstance(p.node, dict):
            return p.node
        k = p.key()
        got = self.copies.get(k)
        if got is None:
            got = {kw: v for kw, v in p.node.items() if kw not in p.skip}
            doc = self.c.doc
            doc.base_of[id(got)] = doc.base_of.get(id(p.node), p.base)
            doc.path_of[id(got)] = p.path
            self.c.keep.append(got)
            self.copies[k] = got
        return got

    def conj_node(self, conds):
        if not conds:
            return True
        if len(conds) == 1:
            return self.materialize(conds[0])
        return self.synth({"allOf": [self.materialize(q) for q in conds]})

    def part(self, node, like):
        return _Part(node, like.base, like.path)

    # alternatives --------------------------------------------------------------
    def merge(self, alts: list, like) -> list:
        groups: dict = {}
        for conds, e in alts:
            groups.setdefault(e, []).append(conds)
        out = []
        for e, cs in groups.items():
            if len(cs) == 1:
                out.append((cs[0], e))
            elif any(not c for c in cs):
                out.append(((), e))  # one alternative without conditions: the others add nothing
            else:
                node = self.synth({"anyOf": [self.conj_node(c) for c in cs]})
                out.append(((self.part(node, like),), e))
        return out

    def product(self, a: list, b: list, like, kw: str) -> list:
        out = self.merge([(ca + cb, ea | eb) for ca, ea in a for cb, eb in b], like)
        if len(out) > MAX_ALTERNATIVES:
            raise _Refuse(
                kw,
                like.path,
                f"splits into more than {MAX_ALTERNATIVES} alternatives of evaluated "
                f"properties/items (for unevaluatedProperties/unevaluatedItems)",
            )
        return out

    def negations(self, brs, which):
        """{i: parts of the negation of branch i} for i in ``which`` (a branch that holds
        always has the false part), or None where the compiler cannot negate one of them."""
        out = {}
        for i in which:
            b = brs[i]
            try:
                n = self.c.negate(b.node, self.c.doc.base_of.get(id(b.node), b.base), b.path, 0)
            except _M._CannotNegate:
                return None
            out[i] = () if n is True else (_Part(n, b.base, b.path),)
        return out

    @staticmethod
    def contributes(alts) -> bool:
        return any(not e.empty() for _, e in alts)

    def sub_alts(self, p, node, suffix, want, stack):
        """The alternatives of a subschema, as (conds, E) with the subschema's own part
        first; [] for the false schema (no alternative)."""
        q = p.sub(node, suffix)
        r = self.alts(q, want, stack)
        if r is None:
            return []
        base, alts = r
        return [((base,) + conds if base is not None else conds, e) for conds, e in alts]

    def own(self, p, want) -> Ev:
        n = p.node
        props, pats, allp, prefix, contains, alli = set(), set(), False, 0, set(), False
        if "p" in want:
            if "properties" in p.live and isinstance(n["properties"], dict):
                props |= set(n["properties"])
            if "patternProperties" in p.live and isinstance(n["patternProperties"], dict):
                pats |= set(n["patternProperties"])
            if "additionalProperties" in p.live:
                allp = True
        if "i" in want:
            if "prefixItems" in p.live and isinstance(n["prefixItems"], list):
                prefix = len(n["prefixItems"])
                alli = "items" in p.live
            elif "items" in p.live and isinstance(n["items"], list):
                prefix = len(n["items"])
                alli = "additionalItems" in p.live
            elif "items" in p.live:
                alli = True
            if "contains" in p.live:
                self.nodes[id(n["contains"])] = n["contains"]
                contains.add(id(n["contains"]))
        return Ev(props, pats, allp, prefix, contains, alli)

    def alts(self, p, want: frozenset, stack: frozenset):
        """(base part, [(conds, E)]) of part p, or None where p is false. E is projected on
        ``want`` ("p" properties, "i" items); every alternative holds the base part too."""
        c = self.c
        node = p.node
        if node is True:
            return None, [((), EMPTY)]
        if node is False:
            return None
        if not isinstance(node, dict):
            return p, [((), EMPTY)]  # the compiler reports it
        key = (p.key(), want)
        got = self.memo.get(key)
        if got is not None:
            return got
        if p.key() in stack:
            raise SchemaError(
                f"$ref cycle at {p.path or '/'}: the schema refers back to itself through "
                f"in-place applicators without any keyword in between, so validation never "
                f"ends and no instance is valid",
                path=p.path,
                keyword="$ref",
            )
        stack = stack | {p.key()}
        c.check_deadline(p.path)
        base = c.doc.base_of.get(id(node), p.base)
        if base != p.base:
            p = _Part(node, base, p.path, p.skip)
        here = _kinds(p) if c.draft >= 2019 else frozenset()
        inner = want | here
        skip = {kw for kw in _UNEV if kw in p.live} if here else set()
        factors: list = []  # (keyword, alternatives)

        # references
        for kw in ("$ref", "$dynamicRef"):
            if kw not in p.live:
                continue
            if kw == "$ref":
                ref = node["$ref"]
                if not isinstance(ref, str):
                    continue  # the compiler reports it
                t, tb, tp = c.doc.resolve(ref, p.base, p.path)
            else:
                tgt = dynamic_target(c, p)
                if tgt is None:
                    continue
                t, tb, tp = tgt
            r = self.alts(_Part(t, tb, tp or f"{p.path}/{kw}"), inner, stack)
            if r is None:
                self.memo[key] = None
                return None
            tbase, talts = r
            if self.contributes(talts):
                factors.append(
                    (kw, [(((tbase,) if tbase is not None else ()) + cs, e) for cs, e in talts])
                )
                skip.add(kw)
        if "$recursiveRef" in p.live:
            raise _Refuse("$recursiveRef", p.path, "is not supported")

        if "allOf" in p.live and isinstance(node["allOf"], list):
            subs = [
                self.sub_alts(p, s, f"allOf/{i}", inner, stack) for i, s in enumerate(node["allOf"])
            ]
            if any(not a for a in subs):
                self.memo[key] = None
                return None
            if any(self.contributes(a) for a in subs):
                acc = [((), EMPTY)]
                for a in subs:
                    acc = self.product(acc, a, p, "allOf")
                factors.append(("allOf", acc))
                skip.add("allOf")

        if "anyOf" in p.live and isinstance(node["anyOf"], list):
            subs = [
                self.sub_alts(p, s, f"anyOf/{i}", inner, stack) for i, s in enumerate(node["anyOf"])
            ]
            contrib = [i for i, a in enumerate(subs) if a and self.contributes(a)]
            if contrib:
                if len(contrib) > MAX_ANYOF_BRANCHES:
                    raise _Refuse(
                        "anyOf",
                        p.path,
                        f"has more than {MAX_ANYOF_BRANCHES} branches that evaluate properties/"
                        f"items (for unevaluatedProperties/unevaluatedItems)",
                    )
                alts: list = []
                for k in range(1, len(contrib) + 1):
                    for sub in combinations(contrib, k):
                        acc = [((), EMPTY)]
                        for i in sub:
                            acc = self.product(acc, subs[i], p, "anyOf")
                        alts += acc
                rest = [i for i in range(len(subs)) if i not in contrib and subs[i]]
                if rest:  # some branch that evaluates nothing holds
                    n = self.synth({"anyOf": [node["anyOf"][i] for i in rest]})
                    alts.append(((self.part(n, p),), EMPTY))
                factors.append(("anyOf", self.merge(alts, p)))
                skip.add("anyOf")

        if "oneOf" in p.live and isinstance(node["oneOf"], list):
            subs = [
                self.sub_alts(p, s, f"oneOf/{i}", inner, stack) for i, s in enumerate(node["oneOf"])
            ]
            contrib = [i for i, a in enumerate(subs) if a and self.contributes(a)]
            if contrib:
                brs = [p.sub(s, f"oneOf/{i}") for i, s in enumerate(node["oneOf"])]
                disjoint = c._pairwise_disjoint(brs, [p.without("oneOf")])
                rest = [i for i in range(len(subs)) if i not in contrib and subs[i]]
                live = [i for i in range(len(subs)) if subs[i]]  # a false branch never holds
                negs = None if disjoint else self.negations(brs, live)
                alts = []
                if disjoint or negs is not None:
                    # the branches (with the others negated where they may overlap) say
                    # which one holds; the oneOf itself goes
                    negs = negs or {}

                    def fail(js):  # every branch of js fails
                        return tuple(q for j in js for q in negs.get(j, ()))

                    for i in contrib:
                        others = fail(j for j in live if j != i)
                        alts += [(cs + others, e) for cs, e in subs[i]]
                    if rest:  # a branch that evaluates nothing is the one that holds
                        kw = "anyOf" if disjoint else "oneOf"
                        n = self.synth({kw: [node["oneOf"][i] for i in rest]})
                        alts.append((fail(contrib) + (self.part(n, p),), EMPTY))
                    skip.add("oneOf")
                else:  # the oneOf stays and says that only one holds
                    for i in contrib:
                        alts += subs[i]
                    if rest:  # a branch that evaluates nothing may be the one
                        alts.append(((), EMPTY))
                factors.append(("oneOf", self.merge(alts, p)))

        if "if" in p.live:
            a_if = self.sub_alts(p, node["if"], "if", inner, stack)
            a_then = self.sub_alts(p, node.get("then", True), "then", inner, stack)
            a_else = self.sub_alts(p, node.get("else", True), "else", inner, stack)
            if any(a and self.contributes(a) for a in (a_if, a_then, a_else)):
                alts = []
                for ci, ei in a_if:
                    for ct, et in a_then:
                        alts.append((ci + ct, ei | et))
                if a_else and self.contributes(a_else):
                    try:
                        ifb = c.doc.base_of.get(id(node["if"]), p.base)
                        neg = c.negate(node["if"], ifb, f"{p.path}/if", 0)
                    except _M._CannotNegate as e:
                        raise _Refuse(
                            "if",
                            p.path,
                            f"cannot be negated ({e.keyword}), which unevaluated"
                            f"Properties/unevaluatedItems needs to tell its else branch",
                        ) from None
                    if neg is not False:
                        nq = () if neg is True else (self.part(neg, p),)
                        alts += [(nq + ce, ee) for ce, ee in a_else]
                    skip |= {"if", "then", "else"}
                else:  # the if/then/else stays; when if fails, else evaluates nothing
                    alts.append(((), EMPTY))
                factors.append(("if", self.merge(alts, p)))

        if "dependentSchemas" in p.live and isinstance(node["dependentSchemas"], dict):
            keep = {}
            dep_factors = []
            for name, d in node["dependentSchemas"].items():
                a = self.sub_alts(p, d, f"dependentSchemas/{name}", inner, stack)
                if a and self.contributes(a):
                    absent = self.synth({"properties": {name: False}})
                    req = self.part(self.synth({"required": [name]}), p)
                    dep_factors.append(
                        [((self.part(absent, p),), EMPTY)] + [((req,) + cs, e) for cs, e in a]
                    )
                else:
                    keep[name] = d
            if dep_factors:
                skip.add("dependentSchemas")
                if keep:
                    dep_factors.append(
                        [((self.part(self.synth({"dependentSchemas": keep}), p),), EMPTY)]
                    )
                factors += [("dependentSchemas", f) for f in dep_factors]

        basep = p.without(*skip) if skip else p
        result: list = [((), self.own(p, inner))]
        for kw, f in factors:
            result = self.product(result, f, p, kw)
        if here:  # this location's own unevaluated* keywords, applied per alternative
            full = []
            for conds, ev in result:
                conds, basep2 = self.cover(p, basep, conds, ev)
                full.append((conds, ev, basep2))
            if any(b is not basep for _, _, b in full):
                # the base was rewritten (patterns merged): it moves into the alternatives
                result = [((b,) + cs, ev) for cs, ev, b in full]
                basep = None
            else:
                result = [(cs, ev) for cs, ev, _ in full]
            allk = Ev(allp="p" in here, alli="i" in here)
            result = [(cs, ev | allk) for cs, ev in result]
        result = self.merge([(cs, e.project(want)) for cs, e in result], p)
        out = (basep, result)
        self.memo[key] = out
        return out

    # coverage ------------------------------------------------------------------
    def cover(self, p, basep, conds, e: Ev):
        """Conditions that every property / item outside ``e`` satisfies p's unevaluated*
        schema; returns (conds + those, the base part, replaced where patterns merge)."""
        node = p.node
        extra = []
        if "unevaluatedProperties" in p.live and not e.allp:
            u = node["unevaluatedProperties"]
            if not _trivial(u):
                merged = None
                if e.pats:
                    merged = self.merge_patterns(basep, conds, e, u)
                if merged is not None:
                    basep, conds = merged
                else:
                    cov: dict = {"properties": {k: True for k in sorted(e.props)}}
                    if e.pats:
                        cov["patternProperties"] = {k: True for k in sorted(e.pats)}
                    cov["additionalProperties"] = u
                    extra.append(self.part(self.synth(cov), p))
        if "unevaluatedItems" in p.live and not e.alli:
            u = node["unevaluatedItems"]
            if not _trivial(u):
                tail = u
                if e.contains:
                    alts = [self.nodes[i] for i in sorted(e.contains)]
                    if u is not False:
                        alts.append(u)
                    tail = alts[0] if len(alts) == 1 else self.synth({"anyOf": alts})
                if not _trivial(tail):
                    icov: dict
                    if self.c.draft >= 2020:
                        icov = {"prefixItems": [True] * e.prefix, "items": tail}
                    elif e.prefix:
                        icov = {"items": [True] * e.prefix, "additionalItems": tail}
                    else:
                        icov = {"items": tail}
                    extra.append(self.part(self.synth(icov), p))
        return tuple(conds) + tuple(extra), basep

    def merge_patterns(self, basep, conds, e: Ev, u):
        """The compiler reads patternProperties from one part of a conjunction: where
        exactly one part has the evaluated patterns, U becomes that part's
        additionalProperties (with the other evaluated names declared ``true``), which says
        the same thing: a key outside the names and the patterns satisfies U."""
        cands = [basep] + list(conds) if basep is not None else list(conds)
        with_pats = [
            (i, q)
            for i, q in enumerate(cands)
            if isinstance(q.node, dict)
            and "patternProperties" in q.live
            and q.node["patternProperties"]
        ]
        if len(with_pats) != 1:
            return None
        i, q = with_pats[0]
        n = q.node
        if "additionalProperties" in q.live or not isinstance(n["patternProperties"], dict):
            return None
        if frozenset(n["patternProperties"]) != e.pats:
            return None
        own = (
            set(n["properties"])
            if "properties" in q.live and isinstance(n["properties"], dict)
            else set()
        )
        if not own <= e.props:
            return None
        copy = dict(self.materialize(q))
        props = dict(copy.get("properties") or {})
        for k in sorted(e.props - own):
            props[k] = True
        if props:
            copy["properties"] = props
        copy["additionalProperties"] = u
        doc = self.c.doc
        doc.base_of[id(copy)] = doc.base_of.get(id(n), q.base)
        doc.path_of[id(copy)] = q.path
        self.c.keep.append(copy)
        newq = _Part(copy, q.base, q.path)
        cands[i] = newq
        if basep is not None:
            return cands[0], tuple(cands[1:])
        return None, tuple(cands)


def rewrite(c, p) -> list:
    """The parts that replace part ``p`` (which has unevaluatedProperties or
    unevaluatedItems): its base part and one part with the alternatives."""
    _bind(c)
    if c.draft < 2019:  # not a keyword before 2019-09: validators ignore it
        return [p.without(*_UNEV)]
    rw = getattr(c, "_unevaluated", None)
    if rw is None:
        rw = c._unevaluated = _Rewriter(c)
    cached = rw.memo.get(("top", p.key()))
    if cached is not None:
        return cached
    want = _kinds(p)
    try:
        r = rw.alts(p, want, frozenset())
    except _Refuse as e:
        kw = next(k for k in _UNEV if k in p.live)
        c.unsupported(e.keyword, e.path, f"{e.why} (for {kw} at {p.path or '/'})")
        return [p.without(*_UNEV)]  # approximate=True: not enforced
    Part = _Part
    if r is None:
        out = [Part(False, p.base, p.path)]
    else:
        basep, alts = r
        out = [basep] if basep is not None else []
        if not alts:
            out.append(Part(False, p.base, p.path))
        elif len(alts) == 1:
            out += list(alts[0][0])
        else:
            n = rw.synth({"anyOf": [rw.conj_node(cs) for cs, _ in alts]})
            out.append(Part(n, p.base, p.path))
    rw.memo[("top", p.key())] = out
    return out


def never_fails(c, kw: str, v) -> bool:
    """Whether keyword ``kw`` with value ``v`` holds for every instance (so a negation
    leaves it out): a ``true`` sub-schema where it only constrains some members, or an
    ``unevaluated*`` keyword before 2019-09 (not a keyword there)."""
    _bind(c)
    if kw in _UNEV:
        return c.draft < 2019 or _trivial(v)
    if kw in ("additionalProperties", "propertyNames"):
        return _trivial(v)
    if kw == "patternProperties":
        return isinstance(v, dict) and all(_trivial(s) for s in v.values())
    return False


# ------------------------------------------------------------------ $dynamicRef
def _res(base: str) -> str:
    return urldefrag(base)[0]


class _DynamicScopes:
    """Every (schema, dynamic scope) pair that evaluation from the root can reach, where a
    scope is kept as what matters: for each dynamic anchor name, the outermost resource
    entered so far that defines it. ``targets[id($dynamicRef node)]`` is the set of
    schemas the reference resolves to on those paths."""

    def __init__(self, c) -> None:
        self.c = c
        doc = c.doc
        self.doc = doc
        self.dyn: dict = {}  # (resource, name) -> node with that $dynamicAnchor
        self.by_res: dict = {}  # resource -> [(name, node)]
        self.anchor_nodes: dict = {}  # id -> node
        for r in [doc.root, *doc.resources.values()]:  # remote documents too
            self._collect(r)
        self.targets: dict = {}  # id(node) -> {id(target): (target, base, path)}
        self.refused: str | None = None
        self._walk()

    def _children(self, node):
        for k in _SUB_ONE:
            v = node.get(k)
            if isinstance(v, dict):
                yield v
        for k in _SUB_LIST:
            v = node.get(k)
            if isinstance(v, list):
                yield from (s for s in v if isinstance(s, dict))
        for k in _SUB_MAP:
            if k in ("$defs", "definitions"):
                continue
            v = node.get(k)
            if isinstance(v, dict):
                yield from (s for s in v.values() if isinstance(s, dict))

    def _collect(self, root) -> None:
        seen = set()
        stack = [root]
        while stack:
            node = stack.pop()
            if not isinstance(node, dict) or id(node) in seen:
                continue
            seen.add(id(node))
            name = node.get("$dynamicAnchor")
            if isinstance(name, str):
                r = _res(self.doc.base_of.get(id(node), DEFAULT_BASE))
                if (r, name) not in self.dyn:
                    self.dyn[(r, name)] = node
                    self.by_res.setdefault(r, []).append((name, node))
                    self.anchor_nodes[id(node)] = node
            stack.extend(self._children(node))
            for k in ("$defs", "definitions"):
                v = node.get(k)
                if isinstance(v, dict):
                    stack.extend(s for s in v.values() if isinstance(s, dict))

    def res_of(self, node) -> str:
        return _res(self.doc.base_of.get(id(node), DEFAULT_BASE))

    def enter(self, fixed: tuple, res: str) -> tuple:
        new = [(n, id(x)) for n, x in self.by_res.get(res, ()) if all(n != m for m, _ in fixed)]
        if not new:
            return fixed
        return tuple(sorted(fixed + tuple(new)))

    def initial(self, node, path):
        """(initial target, base, path, anchor name or None where it is not bookended)."""
        ref = node["$dynamicRef"]
        base = self.doc.base_of.get(id(node), DEFAULT_BASE)
        t, tb, tp = self.doc.resolve(ref, base, path)
        url, frag = urldefrag(join_uri(base, ref))
        if frag and not frag.startswith("/") and self.dyn.get((url, frag)) is t:
            return t, tb, tp, frag
        return t, tb, tp, None

    def _walk(self) -> None:
        doc = self.doc
        root = doc.root
        start = self.enter((), self.res_of(root))
        stack = [(root, start)]
        seen = set()
        while stack:
            node, fixed = stack.pop()
            if not isinstance(node, dict):
                continue
            k = (id(node), fixed)
            if k in seen:
                continue
            seen.add(k)
            if len(seen) > MAX_SCOPE_STATES:
                self.refused = (
                    f"the dynamic scopes of the document take more than {MAX_SCOPE_STATES} "
                    f"states to follow"
                )
                return
            if not len(seen) & 1023:
                self.c.check_deadline("")
            r = self.res_of(node)
            for ch in self._children(node):
                cr = self.res_of(ch)
                stack.append((ch, self.enter(fixed, cr) if cr != r else fixed))
            path = doc.path_of.get(id(node), "")
            ref = node.get("$ref")
            if isinstance(ref, str):
                try:
                    t, _, _ = doc.resolve(ref, doc.base_of.get(id(node), DEFAULT_BASE), path)
                except SchemaError:
                    t = None  # reported by the compiler where it matters
                if isinstance(t, dict):
                    stack.append((t, self.enter(fixed, self.res_of(t))))
            if isinstance(node.get("$dynamicRef"), str):
                try:
                    t, tb, tp, name = self.initial(node, path)
                except SchemaError:
                    continue
                if name is not None:
                    for n, tid in fixed:
                        if n == name:  # the outermost resource in scope that defines it
                            t = self.anchor_nodes[tid]
                            tb = doc.base_of.get(id(t), tb)
                            tp = doc.path_of.get(id(t), tp)
                            break
                self.targets.setdefault(id(node), {})[id(t)] = (t, tb, tp)
                if isinstance(t, dict):
                    stack.append((t, self.enter(fixed, self.res_of(t))))


def dynamic_target(c, p):
    """(target, base, path) of part p's ``$dynamicRef`` where it is the same on every path
    from the root; None before draft 2020-12 (not a keyword there); else a SchemaError (or,
    with approximate=True, a warning and None: the reference is not enforced)."""
    _bind(c)
    if c.draft < 2020:
        return None
    node = p.node
    ref = node["$dynamicRef"]
    if not isinstance(ref, str):
        raise SchemaError(
            f"$dynamicRef at {p.path or '/'} is not a string", path=p.path, keyword="$dynamicRef"
        )
    ds = getattr(c, "_dynamic_scopes", None)
    if ds is None:
        ds = c._dynamic_scopes = _DynamicScopes(c)
    t, tb, tp, name = ds.initial(node, p.path)
    if name is None:  # not bookended by a $dynamicAnchor: a plain $ref
        return t, tb, tp
    why = ds.refused
    got = ds.targets.get(id(node), {})
    if why is None:
        if len(got) == 1:
            return next(iter(got.values()))
        why = (
            "resolves to different schemas on different paths from the root (its dynamic "
            "scope is not fixed by the document)"
            if got
            else "is not reached from the root"
        )
    c.unsupported("$dynamicRef", p.path, why)
    return None
