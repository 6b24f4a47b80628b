"""``uniqueItems: true``, exactly: arrays whose items are pairwise distinct (JSON equality).

Two constructions, chosen by what an item can be; everything else is a SchemaError naming
``uniqueItems`` and why (or, with ``approximate=True``, the keyword is dropped with a
warning, as for any other refusal):

* **A finite set of values** the compiler can list (``enum``, ``const``, booleans, null,
  integers between a ``minimum`` and a ``maximum`` at most ``MAX_INTEGER_SPAN`` apart;
  each checked against the whole item schema): the grammar itself remembers which values
  were used, one nonterminal per subset of used values (of at most ``maxItems`` of them),
  so an array never repeats a value and never runs out of them: ``minItems`` larger than
  the set means no array at all (an unsatisfiable schema when nothing else is possible),
  and every state below ``minItems`` can still add an unused value. Over
  ``MAX_STRING_SUBSET_STATES`` subsets, strings become a finite item (below) where it takes
  them; over ``MAX_SUBSET_STATES``, other values are refused.
* **Strings of a language that is infinite from every live state** (``{"type":
  "string"}``, ``minLength``, a pattern like ``^[a-z]+$``, a format): the items are a
  dedicated string lexeme and the array opens with a dedicated ``[``; the engine's matcher
  keeps the decoded values of the items closed so far and masks a token that would close
  an equal one (csrc/distinct.h). However many values were used, every live state of the
  item still has infinitely many completions, so no prefix is a dead end.
* **Strings of a language finite from some state** (``maxLength``, a bounded pattern, a
  format like ``date``, an enum of strings past ``MAX_STRING_SUBSET_STATES``): a *finite item*
  (DISTINCT_FINITE_ITEM): the matcher also masks a token reaching an item prefix whose
  every completion (decoded string) was used in the list (csrc/matcher_dead_keys.cc). The
  list itself must never ask for an item once all N strings were used: no valid array has
  more than N items, so N becomes its ``maxItems`` (exact), at most
  ``MAX_IMPLIED_MAX_ITEMS``; past that, a ``maxItems`` of at most N is required, unless N
  is at least 2^32 (``distinct_keys.INEXHAUSTIBLE``: no array written by a model holds
  that many items). ``minItems`` over N: no array is valid.
* **Objects and arrays that can always grow** (objects whose extra keys stay open:
  ``additionalProperties`` absent, true or plainly satisfiable schemas (all of them at
  once), no ``maxProperties``, ``propertyNames`` or ``patternProperties``, and
  ``anyOf``/``oneOf``/``if``/``not`` only where no operand's verdict can change when a key
  no schema names is added; arrays with no ``maxItems``, ``contains`` or prefix, whose
  items are plainly satisfiable or a uniqueItems list of such values): the list
  opens with a value-list ``[`` and the engine's matcher compares an item, when its closing
  bracket arrives, by its canonical JSON value (key order, ``1 == 1.0``) with the earlier
  ones, masking a closer that would repeat one (csrc/distinct.h). Wherever the closer is
  masked, the item can instead take one more key (a name no earlier item has: the key
  language is infinite) or one more element (longer than every earlier item), so no prefix
  is a dead end. Anything else that would make the closer the only way on is refused.
"""

from __future__ import annotations

import math
from math import comb

from ..ir import DISTINCT_FINITE_ITEM, DISTINCT_ITEM, DISTINCT_OPENER, DISTINCT_VALUE_LIST, lit
from . import automata, distinct_keys, strings
from .regexops import RegexBudgetError

#: the most subsets of used values one array may need (the grammar has one nonterminal
#: per subset and one rule per (subset, unused value))
MAX_SUBSET_STATES = 4096
#: the same for an enum of strings: past it (and when the finite item construction takes
#: them: no string over MAX_FINITE_ITEM_LENGTH, few enough strings for an implied maxItems),
#: the strings are a finite item checked by the matcher, a few rules instead of one
#: nonterminal per subset (gradle-enterprise-config-schema-7: 11 permissions, 2,048 subsets,
#: 27,623 rules and ~190 ms of front end). Not lower: a finite item costs every mask of the
#: grammar a few us (the allowed tokens holding two quotes are checked by commit), while
#: 512 subsets (9 values) compile in ~5 ms
MAX_STRING_SUBSET_STATES = 512

#: keywords that make the item schema a disjunction (the string construction needs the
#: item to be one string lexeme)
_DISJUNCTIVE = (
    "anyOf",
    "oneOf",
    "if",
    "not",
    "dependentRequired",
    "dependentSchemas",
    "dependencies",
)

#: compile as if uniqueItems were absent: exact where at most one item can be valid, else
#: after a refusal with approximate=True
PLAIN = object()


def unique_array(c, prefix, rest, lo, hi, contains, path):
    """The array symbol of a uniqueItems array (None: no array is valid), or PLAIN."""
    if contains:
        c.unsupported("uniqueItems", path, "together with contains is not supported")
        return PLAIN
    expanded = c._expand(rest)
    rest_domain = [] if expanded is None else _finite_domain(c, expanded)
    if prefix:
        domains = []
        for ps in prefix:
            e = c._expand(ps)
            domains.append([] if e is None else _finite_domain(c, e))
        if rest_domain is None or any(d is None for d in domains):
            c.unsupported(
                "uniqueItems",
                path,
                "together with prefixItems (or items as an array) is only supported when "
                "every item is one of a finite set of values (enum, const, boolean, null) "
                "or false",
            )
            return PLAIN
        return _subset_array(c, domains, rest_domain, path, lo, hi)
    if expanded is None:  # items: false: at most the empty array, trivially unique
        return PLAIN
    if rest_domain is not None:
        values = _distinct_values(c, rest_domain)
        if all(isinstance(x, str) for x in values) and _many_subsets(values, lo, hi):
            # a finite string item, checked by the matcher instead
            chars = strings.literal_strings(values)
            got = _finite_string_item(c, chars, lo, hi, path, values)
            if got is None or got is PLAIN:
                return got
            item, hi = got
            return _unique_string_array(c, item, lo, hi, path)
        return _subset_array(c, [], rest_domain, path, lo, hi)
    if _value_item(c, expanded, path):
        opener = c.b.lexeme("'[' (unique values)", lit("["), DISTINCT_VALUE_LIST)
        return c._array_rules([], c.value(rest), lo, hi, None, path, ls=opener)
    got = _string_item(c, expanded, lo, hi, path)
    if got is None or got is PLAIN:
        return got
    item, hi = got
    return _unique_string_array(c, item, lo, hi, path)


def _unique_string_array(c, item, lo, hi, path):
    opener = c.b.lexeme("'[' (unique items)", lit("["), DISTINCT_OPENER)
    return c._array_rules([], item, lo, hi, None, path, ls=opener)


def _distinct_values(c, dom) -> list:
    """The values of ``dom``, one per JSON-equality class, in order."""
    seen: dict[str, object] = {}
    for x in dom:
        seen.setdefault(c.json_key(x), x)
    return list(seen.values())


def _many_subsets(values: list, lo: int, hi) -> bool:
    """Whether an enum of strings ``values`` has too many subsets for the grammar's subset
    construction: over MAX_SUBSET_STATES, or over MAX_STRING_SUBSET_STATES where
    :func:`_finite_string_item` takes the strings (it refuses none it would take here)."""
    states = _subset_states(len(values), lo, hi)
    if states > MAX_SUBSET_STATES:
        return True
    return (
        states > MAX_STRING_SUBSET_STATES
        and max(len(v) for v in values) <= MAX_FINITE_ITEM_LENGTH
        and (len(values) <= MAX_IMPLIED_MAX_ITEMS or (hi is not None and hi <= len(values)))
    )


def _subset_states(m: int, lo: int, hi) -> int:
    """How many subsets of ``m`` values an array of at most ``hi`` items may use."""
    cap = m if hi is None else min(hi, m)
    return sum(comb(m, k) for k in range(cap + 1)) if lo <= cap else 0


def _finite_domain(c, parts):
    """The item values, if the item schema lists them (enum/const, or only booleans and
    null), one per JSON-equality class; else None."""
    types = set(c.ALL_TYPES)
    finite = None
    for p in parts:
        n = p.node
        if "type" in p.live:
            types &= c._types_of(n["type"])
        sets = []
        if "const" in p.live:
            sets.append([n["const"]])
        if "enum" in p.live and isinstance(n["enum"], list):
            sets.append(n["enum"])
        for vals in sets:
            keys = {c.json_key(x) for x in vals}
            finite = list(vals) if finite is None else [x for x in finite if c.json_key(x) in keys]
    if finite is None:
        if not types or not types <= {"boolean", "null", "integer"}:
            return None
        finite = [None, True, False]
        if "integer" in types:
            span = _integer_span(parts)
            if span is None:
                return None
            finite += list(range(span[0], span[1] + 1))
    return c._finite_values(parts, finite, types)


#: the most integers a bounded integer item may range over to be listed as a finite domain
MAX_INTEGER_SPAN = 64


def _integer_span(parts):
    """(lo, hi): every integer item lies in [lo, hi] (minimum/maximum, exclusive or not:
    the values are filtered by the whole item schema afterwards), or None: unbounded, or
    more than MAX_INTEGER_SPAN integers."""
    lo = hi = None
    for p in parts:
        for kw in ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"):
            v = p.node.get(kw) if kw in p.live else None
            if isinstance(v, bool) or not isinstance(v, (int, float)) or v != v:
                continue
            if v in (float("inf"), float("-inf")):
                continue
            if kw.endswith("inimum"):
                lo = math.ceil(v) if lo is None else max(lo, math.ceil(v))
            else:
                hi = math.floor(v) if hi is None else min(hi, math.floor(v))
    if lo is None or hi is None or hi - lo + 1 > MAX_INTEGER_SPAN:
        return None
    return lo, hi


def _subset_array(c, domains, rest_domain, path, lo, hi):
    """Item i takes a value of ``domains[i]`` (past them: of ``rest_domain``), never one used
    before: a nonterminal per set of used values (their number is the next position). The
    engine keeps productive rules only, so a set from which ``minItems`` cannot be reached
    (the positions' values ran out) is never entered: no dead end."""
    values: list = []
    index: dict[str, int] = {}
    for dom in [*domains, rest_domain]:
        for x in dom:
            if c.json_key(x) not in index:
                index[c.json_key(x)] = len(values)
                values.append(x)
    by_pos = [[index[c.json_key(x)] for x in dom] for dom in domains]
    by_rest = [index[c.json_key(x)] for x in rest_domain]
    m = len(values)
    cap = m if hi is None else min(hi, m)
    if lo > cap:
        return None  # more items than distinct values, or than maxItems allows
    states = sum(comb(m, k) for k in range(cap + 1))
    if states > MAX_SUBSET_STATES:
        c.unsupported(
            "uniqueItems",
            path,
            f"is not supported here: the items have {m} possible values, and remembering "
            f"which of them an array of up to {cap} items used needs {states} grammar "
            f"states (more than {MAX_SUBSET_STATES})",
        )
        return PLAIN
    syms = [c.value([c.const_part(x, path)]) for x in values]
    top = c.nt(f"unique@{path or '/'}")
    nts: dict[int, int] = {0: top}
    todo: list[int] = [0]

    def state(used: int) -> int:
        s = nts.get(used)
        if s is None:
            s = nts[used] = c.nt(f"used{used:x}")
            todo.append(used)
        return s

    while todo:
        used = todo.pop()
        s = nts[used]
        k = bin(used).count("1")
        if k >= lo:
            c.rule(s, [c.LS, c.RS] if k == 0 else [c.RS])
        if k < cap:
            for i in by_pos[k] if k < len(by_pos) else by_rest:
                if not used >> i & 1:
                    c.rule(s, [c.LS if k == 0 else c.COMMA, syms[i], state(used | 1 << i)])
    return top


#: keywords an object item may not have (unless harmless: see _harmless): each can leave
#: the closing '}' as the only way on
_CLOSED_OBJECT = ("maxProperties", "propertyNames", "patternProperties", "unevaluatedProperties")
#: keywords an array item may not have, for the same reason (or an unsatisfiable position)
_CLOSED_ARRAY = (
    "maxItems",
    "contains",
    "prefixItems",
    "additionalItems",
    "unevaluatedItems",
    "uniqueItems",
)
#: keywords a schema may have and still be plainly satisfiable (with a non-empty type)
_PLAIN = frozenset({"type", "format", "$ref", "allOf", "$defs", "definitions", "$anchor"})
#: keywords under which an object's validity may change when a key is added
_KEY_SENSITIVE = (
    "maxProperties",
    "minProperties",
    "propertyNames",
    "patternProperties",
    "unevaluatedProperties",
    "additionalProperties",
)


def _harmless(c, kw: str, v) -> bool:
    """Whether keyword ``kw`` with value ``v`` says nothing (about objects or arrays)."""
    if kw in ("propertyNames", "unevaluatedProperties", "unevaluatedItems", "additionalItems"):
        return v is True or (isinstance(v, dict) and all(k in c.ANNOTATIONS for k in v))
    if kw == "patternProperties":
        return v == {}
    if kw == "uniqueItems":
        return v is False
    return False


def _value_item(c, parts, path, quiet=False, seen=None) -> bool:
    """Whether the items are objects or arrays that can always grow (see the module doc); a
    SchemaError (or, approximate, False after a warning) when they are objects or arrays
    that cannot (``quiet``: False); False for other items (the string construction
    decides)."""
    types = _types(c, parts)
    if not types or not types <= {"object", "array"}:
        return False
    why = None
    addl = []  # every additionalProperties: an extra key's value satisfies them all
    for p in parts:
        n = p.node
        bad = [kw for kw in _DISJUNCTIVE if kw in p.live]
        if types == {"object"}:
            # an anyOf/oneOf/if/not whose every operand ignores an added key (one no schema
            # names, of any value) holds or fails as before when the item takes one more
            bad = [kw for kw in bad if _key_sensitive(c, p, kw, set()) is not None]
        if "object" in types:
            bad += [kw for kw in _CLOSED_OBJECT if kw in p.live and not _harmless(c, kw, n[kw])]
            if "additionalProperties" in p.live:
                addl.append(p.sub(n["additionalProperties"], "additionalProperties"))
        if "array" in types:
            bad += [kw for kw in _CLOSED_ARRAY if kw in p.live and not _harmless(c, kw, n[kw])]
            items = [p.sub(n["items"], "items")] if "items" in p.live else []
            if "uniqueItems" in bad and items and _growable_list(c, items, seen or set()):
                bad.remove("uniqueItems")  # a list of such values can always grow too
            elif items and not _plainly_satisfiable(c, items):
                bad.append("items")
        if bad:
            why = f"{p.path or '/'} has {', '.join(bad)}"
            break
    if why is None and addl and not _plainly_satisfiable(c, addl):
        why = f"{addl[0].path} (additionalProperties) leaves no value for an extra key"
    if "object" in types and getattr(c, "strict", False):
        why = "objects are strict (strict_objects=True: no extra keys)"
    if why is None:
        return True
    if quiet:
        return False
    c.unsupported(
        "uniqueItems",
        path,
        f"over {'/'.join(sorted(types))} items is only supported where an item can always "
        f"take one more key or element instead of its closing bracket (so that masking a "
        f"repeat is never a dead end); here {why}",
    )
    return False


def _key_sensitive(c, p, kw: str, seen: set) -> str | None:
    """The keyword (a path) under ``p``'s ``kw`` whose verdict on an object may change when
    a key no schema names is added to it (of a value we choose), or None: none."""
    n = p.node
    subs = n[kw]
    if kw in ("anyOf", "oneOf", "allOf"):
        if not isinstance(subs, list):
            return kw
        operands = [p.sub(x, f"{kw}/{i}") for i, x in enumerate(subs)]
    elif kw == "if":  # the condition, and what it selects
        operands = [p.sub(n[k], k) for k in ("if", "then", "else") if k in n]
    elif kw in ("not", "then", "else"):
        operands = [p.sub(subs, kw)]
    elif kw in ("dependentSchemas", "dependencies") and isinstance(subs, dict):
        operands = [p.sub(x, f"{kw}/{k}") for k, x in subs.items() if not isinstance(x, list)]
    elif kw == "dependentRequired":
        return None  # the added key neither triggers nor is required
    else:
        return kw
    for q in operands:
        expanded = c._expand([q])
        for e in expanded or ():  # (None: false, which holds for no object either way)
            m = e.node
            if not isinstance(m, dict) or id(m) in seen:
                continue
            seen.add(id(m))
            for k in _KEY_SENSITIVE:
                if (
                    k in m
                    and not _harmless(c, k, m[k])
                    and not (k == "additionalProperties" and _harmless(c, "propertyNames", m[k]))
                ):
                    return f"{e.path}/{k}"
            for k in ("const", "enum"):
                if k not in m:
                    continue
                vals = [m[k]] if k == "const" else m[k] if isinstance(m[k], list) else []
                if any(isinstance(x, dict) for x in vals):
                    return f"{e.path}/{k}"
            for k in (*_DISJUNCTIVE, "then", "else", "dependentSchemas"):
                if k in m:
                    got = _key_sensitive(c, e, k, seen)
                    if got is not None:
                        return got
    return None


def _growable_list(c, items, seen: set) -> bool:
    """A uniqueItems list of these items can always take one more (another value list). A
    schema met again on the way (a recursive list of lists) is taken to be one: whatever
    its items, a list of them that is satisfiable has values of every length."""
    expanded = c._expand(items)
    if expanded is None:
        return False
    key = frozenset(id(p.node) for p in expanded)
    if key in seen:
        return True
    seen.add(key)
    return _value_item(c, expanded, "", quiet=True, seen=seen)


def _types(c, parts) -> set:
    types = set(c.ALL_TYPES)
    for p in parts:
        if "type" in p.live:
            types &= c._types_of(p.node["type"])
    return {"number" if t in ("integer", "fraction") else t for t in types}


def _plainly_satisfiable(c, parts) -> bool:
    """Some value satisfies every part, seen without compiling: after $ref/allOf only a
    type (not empty), a format and annotations."""
    expanded = c._expand(parts)
    if expanded is None:
        return False
    for p in expanded:
        if not isinstance(p.node, dict) or any(
            k not in _PLAIN and k not in c.ANNOTATIONS for k in p.node
        ):
            return False
    return bool(_types(c, expanded))


def _string_item(c, parts, lo, hi, path):
    """(item lexeme, maxItems): a distinct-item string lexeme, and the array's maxItems
    (lowered to the number of strings of a finite language); None: no array is valid; PLAIN:
    refused, or no item is valid (then the plain array is exact)."""
    types = set(c.ALL_TYPES)
    for p in parts:
        if "type" in p.live:
            types &= c._types_of(p.node["type"])
    if not types:  # no item is valid: at most the empty array, trivially unique
        return PLAIN
    if types != {"string"} or any(kw in p.live for p in parts for kw in _DISJUNCTIVE):
        kinds = sorted(types - {"string"}) or ["string"]  # (string: with a disjunction)
        what = "/".join("number" if t in ("integer", "fraction") else t for t in kinds)
        what = "/".join(dict.fromkeys(what.split("/")))
        why = (
            f"over {what} items is not supported"
            if types != {"string"}
            else "over string items given by anyOf/oneOf/if/not/dependencies is not supported"
        )
        c.unsupported("uniqueItems", path, why)
        return PLAIN
    chars = c._string_chars(parts)
    try:
        if not automata.infinite_from_every_state(automata.to_dfa(chars)):
            return _finite_string_item(c, chars, lo, hi, path)
        rx = strings.string_lexeme_regex(chars)
    except RegexBudgetError:
        c.unsupported("uniqueItems", path, "over strings needs an automaton too large to check")
        return PLAIN
    return c.b.lexeme("STRING (unique item)", rx, DISTINCT_ITEM), hi


def _finite_string_item(c, chars, lo, hi, path, values=None):
    """(finite item lexeme, maxItems) for string items of decoded language ``chars``, finite
    from some state: the matcher also masks an item prefix whose every completion was used
    (csrc/matcher_dead_keys.cc). The array must then never ask for an item once every
    string was used: an array of distinct items has at most as many items as the language has
    strings, so that count becomes its maxItems (exact: no valid array is longer), unless
    the language has at least ``INEXHAUSTIBLE`` strings. None: ``minItems`` exceeds the
    count (no array is valid); PLAIN: refused. ``values``: the strings, when listed (an
    enum)."""
    if values is None:
        try:
            d = automata.trim(automata.to_dfa(chars))
        except RegexBudgetError:
            c.unsupported("uniqueItems", path, "over strings needs an automaton too large to check")
            return PLAIN
        if d.n > distinct_keys.MAX_FINITE_ITEM_STATES:
            c.unsupported(
                "uniqueItems",
                path,
                f"over strings whose language is finite from some point (maxLength, a bounded "
                f"pattern) is only supported when its automaton has at most "
                f"{distinct_keys.MAX_FINITE_ITEM_STATES} states (here {d.n})",
            )
            return PLAIN
        n = distinct_keys.count_strings(d)
    else:
        n = len(values)
    if values is not None and max(len(v) for v in values) > MAX_FINITE_ITEM_LENGTH:
        c.unsupported(
            "uniqueItems",
            path,
            f"over {n} strings is only supported when none is longer than "
            f"{MAX_FINITE_ITEM_LENGTH} characters",
        )
        return PLAIN
    if n < distinct_keys.INEXHAUSTIBLE:
        if lo > n:
            return None  # more items than distinct strings
        if hi is None or hi > n:
            if n > MAX_IMPLIED_MAX_ITEMS:
                c.unsupported(
                    "uniqueItems",
                    path,
                    f"over strings of a language with {n} strings is only supported with a "
                    f"maxItems of at most {n} (an array could otherwise ask for an item once "
                    f"every string was used), or with at most {MAX_IMPLIED_MAX_ITEMS} strings",
                )
                return PLAIN
            hi = n
    rx = strings.string_lexeme_regex(chars)
    return c.b.lexeme("STRING (unique item, finite)", rx, DISTINCT_FINITE_ITEM), hi


#: the longest string of an enum of string items checked by the matcher (its count of
#: completions walks as deep as the longest item)
MAX_FINITE_ITEM_LENGTH = 256
#: the most strings a finite item language may have to become the array's maxItems (the
#: array's rules have a state per count)
MAX_IMPLIED_MAX_ITEMS = 2048
