"""JSON Schema -> grammar rules.

How a schema becomes rules
--------------------------
A schema location is compiled as a *conjunction of parts* (a part is one schema
object plus the keywords already handled).  :meth:`Compiler.value` memoises one
nonterminal per conjunction (so ``$ref`` recursion is just a rule that mentions
a nonterminal being defined), then:

1. *expands* ``$ref`` and ``allOf`` into more parts (intersection = more parts);
2. *distributes* the first ``anyOf``/``oneOf``/``if``/``not``/dependency keyword:
   the value is one of several conjunctions (``oneOf`` only when the branches are
   provably disjoint, or made disjoint with the negation of the other branches;
   ``if/then/else`` = ``(if and then) or (not-if and else)``);
3. *merges* the remaining parts into per-type constraints and emits rules: one
   lexeme per string / number value (constraints inside the regex), chains of
   rules for objects (properties in schema order, optional ones skippable,
   additional keys anywhere between them, key lexemes that exclude the declared
   names exactly) and arrays (counted positions, never 2^n).

Finite value sets (``enum``/``const``) are filtered by the other constraints
(with ``jsonschema`` when those are more than ``type``) and compiled as exact
serialisations.  A keyword that cannot be enforced raises
:class:`~decoder.errors.SchemaError` naming it and its path; with
``approximate=True`` it is dropped (an over-approximation) and a warning names it.
"""

from __future__ import annotations

import contextvars
import json
import math
import time
import warnings
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from functools import lru_cache
from typing import Any

from ... import deadline as _deadline
from ..._json_whitespace import DEFAULT_WHITESPACE, WHITESPACE_POLICIES
from ...errors import SchemaError, SchemaLimitError
from .._wire import _BuilderCore, _ObjectStates
from ..ir import (
    NEVER,
    GrammarBuilder,
    alt,
    cat,
    cps,
    lit,
    negate_ranges,
    normalize_ranges,
    opt,
    rep,
)
from ..recursion import recursion_headroom
from ..regex import reading_gap
from . import any_order, automata, distinct_keys, numeric, strings, unevaluated, unique_items
from .formats import FORMAT_DRAFTS, LIBRARY_FORMATS, format_regex, format_superset_regex
from .regexops import RegexBudgetError, matches, minus_finite, restrict_length
from .schema import SchemaDocument

TYPES = ("null", "boolean", "integer", "fraction", "string", "array", "object")
ALL_TYPES = frozenset(TYPES)
_TYPE_NAMES = {
    "null": {"null"},
    "boolean": {"boolean"},
    "integer": {"integer"},
    "number": {"integer", "fraction"},
    "fraction": {"fraction"},
    "string": {"string"},
    "array": {"array"},
    "object": {"object"},
}
#: Compiler._types_of of a single type name (what most ``type`` values are), computed once
_TYPES_OF_NAME = {t: frozenset(ts) for t, ts in _TYPE_NAMES.items()} | {"any": ALL_TYPES}
ANNOTATIONS = frozenset(
    {
        "title",
        "description",
        "examples",
        "default",
        "$comment",
        "deprecated",
        "readOnly",
        "writeOnly",
        "$schema",
        "$id",
        "id",
        "$anchor",
        "$dynamicAnchor",
        "$defs",
        "definitions",
        "$vocabulary",
        "contentMediaType",
        "contentEncoding",
        "contentSchema",
        "__synthetic__",
        "__ne__",
    }
)
# keywords that only make sense next to another one (handled there)
_HANDLED = frozenset(
    {
        "type",
        "enum",
        "const",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "multipleOf",
        "minLength",
        "maxLength",
        "pattern",
        "format",
        "items",
        "prefixItems",
        "additionalItems",
        "minItems",
        "maxItems",
        "contains",
        "minContains",
        "maxContains",
        "uniqueItems",
        "properties",
        "patternProperties",
        "additionalProperties",
        "required",
        "propertyNames",
        "minProperties",
        "maxProperties",
        "$ref",
        "allOf",
        "anyOf",
        "oneOf",
        "not",
        "if",
        "then",
        "else",
        "dependentRequired",
        "dependentSchemas",
        "dependencies",
        "unevaluatedProperties",
        "unevaluatedItems",
        "__not_enum__",
        "__not_pattern__",
        "__not_format__",
        "__not_multipleOf__",
        "__some_key__",
        "$dynamicRef",
        "$recursiveRef",
        "$recursiveAnchor",
    }
)

# The draft that introduced each assertion keyword a later draft added. A document of an
# earlier draft does not define it, and its validators ignore it: such a keyword holds for
# every value, so where it is negated it never fails (a `not` of it fails everything, and a
# oneOf branch made only of it meets every value). Where it is asserted, the compiler still
# enforces it (what the author meant; every value it lets through is valid either way).
# tests/test_json_schema_soundness.py checks the table against jsonschema's validators.
KEYWORD_SINCE = {
    "const": 6,
    "contains": 6,
    "propertyNames": 6,
    "if": 7,
    "then": 7,
    "else": 7,
    "dependentRequired": 2019,
    "dependentSchemas": 2019,
    "unevaluatedProperties": 2019,
    "unevaluatedItems": 2019,
    "minContains": 2019,
    "maxContains": 2019,
    "prefixItems": 2020,
}
MAX_COUNT_STATES = 4096
#: contains keywords on one array (each item may count toward any subset of them)
MAX_SEVERAL_CONTAINS = 4
#: what _several_contains returns where it does not apply
PLAIN_ARRAY = object()
#: string length bounds above this are counted by the engine (a counter in the lexer state,
#: strings.counted_chars) rather than unrolled into copies of automaton states
_UNROLL_LENGTH = 1000
MAX_BRANCHES_PER_NODE = 256
MAX_WITNESSES = 8  # __some_key__ requirements on one object (2**n flag states)
# the object keywords whose negation is one __some_key__ requirement
_MEMBER_KWS = (
    "required",
    "properties",
    "propertyNames",
    "patternProperties",
    "additionalProperties",
)


class _CannotNegate(Exception):
    def __init__(self, keyword: str) -> None:
        super().__init__(keyword)
        self.keyword = keyword


def _json_norm(x):
    if isinstance(x, bool) or x is None or isinstance(x, str):
        return x
    if isinstance(x, (int, float)):
        if isinstance(x, float) and x.is_integer():
            return int(x)
        return x
    if isinstance(x, list):
        return [_json_norm(y) for y in x]
    if isinstance(x, dict):
        return {k: _json_norm(y) for k, y in x.items()}
    return x


_SORTED_JSON = json.JSONEncoder(sort_keys=True)  # json.dumps(x, sort_keys=True), built once
_encode_json_str = json.encoder.encode_basestring_ascii  # what that encoder writes for a str


def _json_key(v) -> str:
    """A canonical key for JSON equality (1 == 1.0, True != 1, key order ignored)."""
    # (a module-level helper: a recursive closure is a reference cycle, left to the GC)
    if isinstance(v, str):  # most keys are strings: json.dumps's own str path, no encoder
        return _encode_json_str(v)
    return _SORTED_JSON.encode(_json_norm(v))


#: (type, _json_key, JSON text) of null, true and false, which _emit_merged writes as literals
_SCALAR_LITERALS = tuple(
    (t, _json_key(v), json.dumps(v))
    for v, t in ((None, "null"), (True, "boolean"), (False, "boolean"))
)


@lru_cache(maxsize=4096)
def _key_literal(k: str) -> tuple[str, tuple]:
    """The name and regex of the key lexeme of one declared property name (schemas of one
    family, and most objects, share names)."""
    return json.dumps(k, ensure_ascii=False), strings.string_lexeme_regex(lit(k))


def _finite_keys(sub, draft: int) -> set | None:
    """The values (as :func:`_json_key`) a subschema allows by its own ``enum``/``const``, or
    None when it does not restrict them to a finite set that way (``false``: none; up to
    draft-07 a ``$ref``'s siblings are ignored, before draft-06 ``const``)."""
    if sub is False:
        return set()
    if not isinstance(sub, dict) or ("$ref" in sub and draft <= 7):
        return None
    out: set | None = None
    for kw in ("enum", "const") if draft >= 6 or "__synthetic__" in sub else ("enum",):
        if kw in sub:
            vs = sub[kw] if kw == "enum" else [sub[kw]]
            if not isinstance(vs, list):
                return None
            ks = {_json_key(x) for x in vs}
            out = ks if out is None else out & ks
    return out


@dataclass(frozen=True)
class _Signature:
    """What all values of a conjunction have in common (:meth:`Compiler._signature`)."""

    types: frozenset
    values: Any  # set of _json_key, None (not finite), or () for a conjunction that fails
    required: dict  # property -> None: the properties every such object has
    allows: tuple  # per part: ({prop: finite values}, declared props, extra's values or None)

    def allowed(self, name: str) -> set | None:
        """The values property ``name`` may have in such an object (None: not finite)."""
        out = None
        for finite, declared, extra in self.allows:
            got = finite.get(name) if name in declared else extra
            if got is not None:
                out = set(got) if out is None else out & got
        return out

    def excludes(self, other: _Signature) -> bool:
        """Whether some property this one requires may not have, in ``other``, any value it
        may have here (so no object meets both)."""
        for name in self.required:
            mine, theirs = self.allowed(name), other.allowed(name)
            if mine is not None and theirs is not None and not (mine & theirs):
                return True
        return False


def _json_type(v) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, int):
        return "integer"
    if isinstance(v, float):
        return "integer" if v.is_integer() else "fraction"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    if isinstance(v, dict):
        return "object"
    raise TypeError(type(v))


#: the pattern search of the compile whose validator is running in this context
#: (``Compiler._search``), set around each use (``Compiler._validating``)
_SEARCH: contextvars.ContextVar = contextvars.ContextVar("json_schema_search", default=None)


def _search(pattern: str, s: str) -> bool:
    f = _SEARCH.get()
    if f is None:
        raise RuntimeError("a decoder validator ran outside Compiler._validating")
    return f(pattern, s)


@lru_cache(maxsize=16)  # one per jsonschema draft class
def _linear_pattern_validator(cls):
    """``cls`` (a jsonschema validator class) with ``pattern``, ``patternProperties`` and
    ``additionalProperties`` matching patterns through the running compile's ``_search``
    instead of ``re.search`` (jsonschema's own keywords backtrack: a pattern like ``^(a+)+$``
    on a 30-character value runs for minutes), and ``multipleOf`` in exact decimal
    arithmetic, as the grammar reads it (jsonschema divides floats: 0.9 is not a multiple of
    0.3 there).

    One class per jsonschema class and process: ``validators.extend`` builds an attrs class
    (~1.3 ms), and a class closing over a compile's bound method kept that whole Compiler
    (its memo, the IR) alive in a reference cycle until a collector pass. The compile's
    search is read from ``_SEARCH`` instead."""
    search = _search
    import jsonschema

    def multiple_of(validator, m, instance, schema):
        if not validator.is_type(instance, "number") or isinstance(m, bool):
            return
        try:
            ok = numeric.to_decimal(instance) % numeric.to_decimal(m) == 0
        except (ArithmeticError, ValueError, TypeError):
            return  # not a finite number: the compiler reports the keyword itself
        if not ok:
            yield jsonschema.ValidationError(f"{instance!r} is not a multiple of {m!r}")

    def pattern(validator, patrn, instance, schema):
        if validator.is_type(instance, "string") and not search(patrn, instance):
            yield jsonschema.ValidationError(f"{instance!r} does not match {patrn!r}")

    def pattern_properties(validator, pp, instance, schema):
        if not validator.is_type(instance, "object"):
            return
        for patrn, sub in pp.items():
            for k, v in instance.items():
                if search(patrn, k):
                    yield from validator.descend(v, sub, path=k, schema_path=patrn)

    def additional_properties(validator, ap, instance, schema):
        if not validator.is_type(instance, "object"):
            return
        props = schema.get("properties", {})
        pats = list(schema.get("patternProperties", {}))
        extras = [k for k in instance if k not in props and not any(search(p, k) for p in pats)]
        if validator.is_type(ap, "object"):
            for k in extras:
                yield from validator.descend(instance[k], ap, path=k)
        elif not ap and extras:
            yield jsonschema.ValidationError(f"additional properties {sorted(extras)!r}")

    return jsonschema.validators.extend(
        cls,
        {
            "pattern": pattern,
            "patternProperties": pattern_properties,
            "additionalProperties": additional_properties,
            "multipleOf": multiple_of,
        },
    )


def _to_standard(node):
    """A synthetic schema in standard JSON Schema (for checking values with jsonschema)."""
    if isinstance(node, list):
        return [_to_standard(x) for x in node]
    if not isinstance(node, dict):
        return node
    if "__ne__" in node:  # Compiler._ne_composite
        return {"not": {"const": node["__ne__"]}}
    out = {}
    extra = []
    for k, v in node.items():
        if k == "__synthetic__":
            continue
        if k == "__not_enum__":
            extra.append({"not": {"enum": v}})
        elif k == "__not_pattern__":
            extra += [{"not": {"pattern": x}} for x in v]
        elif k == "__not_format__":
            extra += [{"not": {"format": x}} for x in v]
        elif k == "__not_multipleOf__":
            extra += [{"not": {"multipleOf": x}} for x in v]
        elif k == "__some_key__":
            extra += [_to_standard(e["std"]) for e in v]
        elif k == "type":
            ts = [v] if isinstance(v, str) else list(v)
            if "fraction" in ts:
                rest = [t for t in ts if t != "fraction"]
                if "integer" in rest or "number" in rest:
                    out["type"] = rest + (["number"] if "number" not in rest else [])
                else:
                    extra.append(
                        {"anyOf": [{"type": rest}, {"type": "number", "not": {"type": "integer"}}]}
                    )
            else:
                out["type"] = v
        elif k in ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas"):
            out[k] = {n: _to_standard(s) for n, s in v.items()} if isinstance(v, dict) else v
        elif k in ("enum", "const", "required", "examples", "default"):
            out[k] = v
        else:
            out[k] = _to_standard(v)
    if extra:
        out.setdefault("allOf", [])
        out["allOf"] = list(out["allOf"]) + extra
    return out


def _scan(p: str, i: int = 0):
    """``(index, char, depth)`` of a pattern's characters from ``p[i]`` outside escapes and
    character classes, ``depth`` the group nesting after the character."""
    depth = 0
    in_class = False
    while i < len(p):
        ch = p[i]
        if ch == "\\":
            i += 2
            continue
        if in_class:
            in_class = ch != "]"
        elif ch == "[":
            in_class = True
        else:
            depth += (ch == "(") - (ch == ")")
            yield i, ch, depth
        i += 1


def _group_end(p: str, i: int) -> int | None:
    """The index just past the group that opens at ``p[i]`` (``(``), or None."""
    for j, ch, depth in _scan(p, i):
        if ch == ")" and depth == 0:
            return j + 1
    return None


def _top_level_bar(p: str) -> bool:
    return any(ch == "|" and depth == 0 for _, ch, depth in _scan(p))


def _split_lookaheads(pattern: str):
    """``^(?=A)(?!B)...R`` (lookaheads right after a leading ``^``, no top-level ``|``) as
    ``([A, ...], [B, ...], R)``; None for any other pattern."""
    if not pattern.startswith("^(?=") and not pattern.startswith("^(?!"):
        return None
    if _top_level_bar(pattern):
        return None
    pos: list[str] = []
    neg: list[str] = []
    i = 1
    while pattern.startswith("(?=", i) or pattern.startswith("(?!", i):
        end = _group_end(pattern, i)
        if end is None:
            return None
        (pos if pattern[i + 2] == "=" else neg).append(pattern[i + 3 : end - 1])
        i = end
    return pos, neg, pattern[i:]


def _region_order(item):
    """A deterministic order of key regions (by the schema paths of their conjunction)."""
    label = item[0]
    return (label is False, [k[0] for k, _ in label] if label is not False else [])


def _embeds_old_draft(root) -> bool:
    """Whether a "$schema" of draft-04 or older appears anywhere in the document."""
    if not isinstance(root, (dict, list)):
        return False
    stack = [root]  # containers only: most values are scalars, never pushed
    seen: set = set()  # documents may share sub-dicts (a DAG): visit each once
    while stack:
        x = stack.pop()
        if id(x) in seen:
            continue
        seen.add(id(x))
        xs: Any = x
        if isinstance(x, dict):
            v = x.get("$schema")
            if isinstance(v, str) and ("draft-04" in v or "draft-03" in v):
                return True
            xs = x.values()
        for y in xs:
            if isinstance(y, (dict, list)):
                stack.append(y)
    return False


# the keywords Compiler._expand follows and those Compiler._split branches on
_EXPAND_KEYWORDS = frozenset(
    ("unevaluatedProperties", "unevaluatedItems", "$dynamicRef", "$recursiveRef", "$ref", "allOf")
)
_SPLIT_KEYWORDS = frozenset(
    (
        "anyOf",
        "oneOf",
        "if",
        "then",
        "else",
        "not",
        "dependentRequired",
        "dependentSchemas",
        "dependencies",
    )
)


#: the ``live`` keywords of a part whose node is not a dict (none; never written to)
_NO_KEYWORDS: dict = {}


class Part:
    """One schema object in a conjunction, with the keywords already handled.

    ``live``: the keywords the part still asserts, with their values -- the node itself when
    nothing is skipped (most parts), else a copy without the skipped keywords, and an empty
    dict for a boolean node. Built once, so that the emitters test ``"kw" in p.live`` (one
    dict lookup) instead of calling ``has`` (an isinstance, two lookups and a Python call:
    a compile made hundreds of thousands of them)."""

    __slots__ = ("node", "base", "path", "skip", "live")

    def __init__(self, node, base: str, path: str, skip: frozenset = frozenset()) -> None:
        self.node = node
        self.base = base
        self.path = path
        self.skip = skip
        if isinstance(node, dict):
            self.live = {k: v for k, v in node.items() if k not in skip} if skip else node
        else:
            self.live = _NO_KEYWORDS

    def key(self):
        return (id(self.node), self.skip)

    def has(self, kw: str) -> bool:
        return kw in self.live

    def get(self, kw: str, default=None):
        return self.live.get(kw, default)

    def without(self, *kws) -> Part:
        return Part(self.node, self.base, self.path, self.skip | frozenset(kws))

    def sub(self, node, suffix: str) -> Part:
        return Part(node, self.base, f"{self.path}/{suffix}")


#: keywords that assert nothing about the instance a part stands for, whatever parts it is
#: with (annotations, and definitions the part's other keywords would refer to)
_INERT = frozenset(
    {"title", "description", "examples", "default", "$comment", "deprecated", "readOnly"}
    | {"writeOnly", "$schema", "$id", "id", "$anchor", "$defs", "definitions"}
)


def _inert(p: Part) -> bool:
    """Whether part p holds for every value: its keywords left (not in ``skip``) are all
    ``_INERT``. Such a part changes nothing in a conjunction's language."""
    n = p.node
    if n is True:
        return True
    if not isinstance(n, dict):
        return False
    return _INERT.issuperset(p.live)


def _count(p: Part, kw: str, v) -> int:
    """The value of a count keyword (minLength, maxItems, ...): a non-negative integer
    (2.0 counts as 2); anything else is a SchemaError, not a silently different bound."""
    if (
        isinstance(v, bool)
        or not isinstance(v, (int, float))
        or (isinstance(v, float) and (not math.isfinite(v) or v != int(v)))
        or v < 0
    ):
        raise SchemaError(
            f"{kw} at {p.path or '/'} must be a non-negative integer, not {repr(v)[:50]}",
            path=p.path,
            keyword=kw,
        )
    return int(v)


#: _number_regex's results by range and options (regexes are immutable tuples)
_NUMBER_MEMO: dict = {}
_NUMBER_MEMO_MAX = 4096


def _dtext(d) -> str | None:
    return None if d is None else str(d)


def _trivial(node) -> bool:
    if node is True:
        return True
    return isinstance(node, dict) and all(k in ANNOTATIONS for k in node)


#: the compiler's bracket and separator lexemes (the same symbols in every compile of a setting)
_FIXED_SYMBOLS = ("LB", "RB", "LS", "RS", "COMMA", "COLON")
#: the compiler's attributes that emitting any JSON value may change, where a template can
#: say how (anything else changed: no template)
_ANY_CHANGES = frozenset(
    ("keep", "rules", "nt_count", "key_cache", "distinct_key_memo", "small_names_memo")
    + ("key_count_memo",)
)
_ANY_TEMPLATES: dict = {}

#: the whitespace lexeme's regex by (policy, max_ws), one object across compiles (what the
#: builder's and the serialiser's memos by regex object find)
_WS_REGEXES: dict = {}


#: (whitespace, max_ws) -> what a fresh GrammarBuilder holds after Compiler.__init__ made the
#: whitespace lexeme and the six bracket and separator literals, and their symbols: every
#: compile of a setting makes the same seven lexemes first, so a compile copies them (lists
#: and dicts of seven entries) instead of making them (docs/optimizations.md, "Compile time, round fourteen")
_BUILDER_START: dict = {}


def _ws_regex(whitespace: str, max_ws: int) -> tuple:
    got = _WS_REGEXES.get((whitespace, max_ws))
    if got is None:
        if whitespace == "flexible":  # 1..max_ws of space, tab, LF, CR between any two lexemes
            got = rep(cps([(0x20, 0x20), (0x09, 0x0A), (0x0D, 0x0D)]), 1, max_ws)
        else:  # pretty: one space, or one LF and 0..max_ws-1 spaces of indentation
            got = alt(lit(" "), cat(lit("\n"), rep(lit(" "), 0, max_ws - 1)))
        if len(_WS_REGEXES) >= 64:
            _WS_REGEXES.clear()
        _WS_REGEXES[(whitespace, max_ws)] = got
    return got


class _AnyRecorder:
    """Stands for the compiler's GrammarBuilder while it emits any JSON value (``value([])``)
    and writes down what it is asked: the template of those rules (``template``)."""

    def __init__(self, c, sym: int) -> None:
        self.b = c.b
        self.sym = sym
        self.ops: list = []
        self.bad = False
        self.nt0 = c.nt_count
        self.rules0 = c.rules
        self.keep0 = len(c.keep)
        self.work0 = _work_left()
        self.before = {k: _shallow(v) for k, v in c.__dict__.items()}

    def lexeme(self, name, regex, role=0, lazy=False):
        j = self.b.lexeme(name, regex, role, lazy)
        self.ops.append(("L", name, regex, role, lazy, j))
        return j

    def literal(self, s, name=None):
        return self.lexeme(name or repr(s), lit(s))

    def nonterminal(self, name):
        j = self.b.nonterminal(name)
        self.ops.append(("N", name, j))
        return j

    def rule(self, lhs, rhs):
        self.b.rule(lhs, rhs)
        self.ops.append(("R", lhs, tuple(rhs)))

    def set_role(self, sym, role):
        self.b.set_role(sym, role)
        self.ops.append(("S", sym, role))

    def regex_of(self, sym):
        return self.b.regex_of(sym)

    def has_roles(self):
        return self.b.has_roles()

    def __getattr__(self, name):  # anything else: not replayable
        self.bad = True
        return getattr(self.b, name)

    def template(self, c) -> _AnyTemplate | None:
        """The template, or None where the emission did something a replay would not redo:
        another builder method, a symbol made before it (besides the brackets and ``sym``),
        a compiler attribute or cache entry it cannot restore, automaton work."""
        if self.bad or _work_left() != self.work0:
            return None
        fixed = {getattr(c, a): a for a in _FIXED_SYMBOLS}
        made_l: set = set()
        made_n = {self.sym}
        ops: list = []
        nt = self.nt0
        for op in self.ops:
            if op[0] == "L":
                made_l.add(op[5])
                ops.append(op)
            elif op[0] == "N":
                nt += 1
                suffix = f"~{nt}"
                if not op[1].endswith(suffix):  # not Compiler.nt's, or renamed
                    return None
                made_n.add(op[2])
                ops.append(("N", op[1][: -len(suffix)], nt - self.nt0, op[2]))
            elif op[0] == "R":
                for x in (op[1], *op[2]):
                    if (x >= 0 and x not in made_n) or (x < 0 and x not in made_l | fixed.keys()):
                        return None
                ops.append(op)
            else:
                if op[1] not in made_l:
                    return None
                ops.append(op)
        if nt != c.nt_count:
            return None
        added: dict = {}
        for k, v in c.__dict__.items():
            old = self.before.get(k, _ABSENT)
            if k in ("keep", "rules", "nt_count"):
                continue
            if old is not _ABSENT and _shallow(v) == old:
                continue
            if k not in _ANY_CHANGES or not isinstance(v, dict):
                return None
            old_d = old if old is not _ABSENT else {}
            if any(key not in v or v[key] is not val for key, val in old_d.items()):
                return None
            new = [(key, v[key]) for key in v if key not in old_d]
            for key, val in new:
                if k == "key_cache":
                    if key[0] != id(strings.ANY_STRING) or val not in made_l:
                        return None
                elif key not in made_l:  # caches by key lexeme
                    return None
                elif k == "distinct_key_memo" and val not in made_l:
                    return None
            added[k] = new
        cached = {
            x
            for items in added.values()
            for kv in items
            for x in kv
            if type(x) is int and x in made_l
        }
        guard = tuple(op[2] for op in ops if op[0] == "L" and op[5] in cached)
        return _AnyTemplate(
            self.sym,
            ops,
            fixed,
            c.nt_count - self.nt0,
            c.rules - self.rules0,
            c.keep[self.keep0 :],
            added,
            guard,
        )


_ABSENT = object()


def _shallow(v):
    """A comparable copy of a compiler attribute (containers copied one level)."""
    if isinstance(v, dict):
        return dict(v)
    if isinstance(v, list):
        return list(v)
    if isinstance(v, set):
        return set(v)
    return v


def _work_left():
    w = automata._COMPILE_WORK.get()
    return None if w is None else w[0]


class _AnyTemplate:
    """The rules of any JSON value as one compile emitted them, for another compile of the
    same setting to replay: the same builder calls in the same order (lexemes by their
    regex objects, nonterminals with the compile's own counter in their names), the same
    rule count charged, the same cache entries set. Exact: the builder's answers depend
    only on the calls and on what it already holds, which the compile that recorded them
    may have had fewer of (a lexeme asked for again is found, not made twice)."""

    __slots__ = ("sym", "ops", "fixed", "nt_delta", "rules_delta", "keep", "added", "guard")

    def __init__(self, sym, ops, fixed, nt_delta, rules_delta, keep, added, guard) -> None:
        self.sym = sym
        self.ops = ops
        self.fixed = fixed
        self.nt_delta = nt_delta
        self.rules_delta = rules_delta
        self.keep = keep
        self.added = added
        self.guard = guard  # the regexes of the lexemes the cache entries are about

    def applies(self, c) -> bool:
        """Whether this compile's caches know nothing yet about the lexemes the template's
        cache entries are about (the any-key lexeme and its twin): where an earlier part of
        the schema made one of them by another way (a key language of the same regex), the
        emission reads what that way cached and may differ, so it runs instead."""
        for attr in ("key_cache",):
            for key in self.added.get(attr, ()):
                if key[0] in c.__dict__.get(attr, ()):
                    return False
        for attr in ("key_chars", "distinct_key_memo", "small_names_memo", "key_count_memo"):
            for lx in c.__dict__.get(attr, ()):
                rx = c.b.regex_of(lx)
                if any(rx is g or rx == g for g in self.guard):
                    return False
        return True

    def replay(self, c, sym: int) -> None:
        b = c.b
        sym_map = {self.sym: sym}
        for old, attr in self.fixed.items():
            sym_map[old] = getattr(c, attr)
        nt0 = c.nt_count
        for op in self.ops:
            k = op[0]
            if k == "R":
                b.rule(sym_map[op[1]], [sym_map[x] for x in op[2]])
            elif k == "L":
                sym_map[op[5]] = b.lexeme(op[1], op[2], op[3], op[4])
            elif k == "N":
                sym_map[op[3]] = b.nonterminal(f"{op[1]}~{nt0 + op[2]}")
            else:
                b.set_role(sym_map[op[1]], op[2])
        c.nt_count = nt0 + self.nt_delta
        before = c.rules
        c.rules += self.rules_delta
        if c.rules > c.max_rules:
            raise SchemaLimitError(
                f"schema needs more than {c.max_rules} grammar rules " f"(limit max_rules)",
                limit="max_rules",
                keyword="$schema",
            )
        if before >> 8 != c.rules >> 8:  # Compiler.rule checks at every 256th rule
            c.check_deadline("")
        c.keep.extend(self.keep)
        for attr, items in self.added.items():
            d = c.__dict__.setdefault(attr, {})
            for key, val in items:
                if attr == "key_cache":
                    d.setdefault(key, sym_map[val])
                elif attr == "distinct_key_memo":
                    d.setdefault(sym_map[key], sym_map[val])
                else:
                    d.setdefault(sym_map[key], val)


class Compiler:
    def __init__(
        self,
        doc: SchemaDocument,
        *,
        whitespace=DEFAULT_WHITESPACE,
        strict_objects=False,
        property_order="schema",
        approximate=False,
        max_ws: int = 32,
        max_rules: int = 200_000,
        max_regex_nodes: int = 200_000,
        timeout: float | None = None,
        may_embed_old_draft: bool = True,
    ) -> None:
        """``may_embed_old_draft=False``: the caller knows that no "$schema" of draft-04 or
        older is in the document (its JSON text has no such string), so the walk over the
        whole document that looks for one is skipped."""
        self.doc = doc
        self.timeout = timeout
        self.deadline = None if timeout is None else time.monotonic() + timeout
        self.draft = doc.draft
        # "1.0" is an integer from draft-06 on; not where any part of the document is
        # draft-04 or older (an embedded "$schema" makes validators read that part so)
        self.int_zero_frac = self.draft > 4 and not (
            may_embed_old_draft and _embeds_old_draft(doc.root)
        )
        self.b = GrammarBuilder()
        self.strict = strict_objects
        any_order.check_option(property_order)
        self.property_order = property_order
        self.approximate = approximate
        self.max_rules = max_rules
        self.max_regex_nodes = max_regex_nodes
        self.memo: dict = {}
        # the symbol of each expanded conjunction (_compile_conj), by its parts in order
        self.expanded_memo: dict = {}
        self.keep: list = []
        self.neg_cache: dict = {}
        # negating the condition of an `if` the document's draft does not define (_split)
        self.assert_later = False
        self.sig_memo: dict = {}  # (part key, depth) -> _Signature (_branch_signature)
        # (path, format) of each negated format taken as never failing (LIBRARY_FORMATS)
        self.library_format_negations: list[tuple[str, str]] = []
        self.draft_format_negations: list[tuple[str, str]] = []
        self.lazy_not: dict = {}
        self.region_cache: dict = {}
        self.warned: list[str] = []
        self.rules = 0
        self.depth = 0
        self.max_values = 2000
        self.nt_count = 0
        self.key_cache: dict = {}
        self.key_literals: dict[str, int] = {}  # a declared name -> its key lexeme
        self.distinct_key_memo: dict[int, int] = {}  # key lexeme -> its item twin (or itself)
        self.key_chars: dict[int, tuple] = {}  # key lexeme -> its decoded-key regex
        self.distinct_key_work = [automata.MAX_WORK_PER_COMPILE]  # distinct_keys' own budget
        self.pattern_cache: dict = {}
        self.search_cache: dict = {}  # pattern -> its DFAs for _search, () if none
        self.algebra_cache: dict = {}
        self.valid_memo: dict = {}  # (id(node), value JSON) -> (node, valid): _is_valid
        self.whitespace = whitespace
        if whitespace not in WHITESPACE_POLICIES:
            raise SchemaError(
                f"whitespace={whitespace!r} is not supported (use one of "
                f"{', '.join(map(repr, WHITESPACE_POLICIES))})",
                keyword="whitespace",
            )
        if not isinstance(max_ws, int) or max_ws < 1:
            raise SchemaError(f"max_ws={max_ws!r} must be a positive integer", keyword="whitespace")
        b = self.b
        start = _BUILDER_START.get((whitespace, max_ws))
        if start is not None:  # the builder as the calls below leave it, copied
            lexemes, by_regex, by_id, ignore, syms = start
            b._lexemes = list(lexemes)
            b._lexeme_by_regex = by_regex.copy()
            b._lexeme_by_id = by_id.copy()
            b._ignore = list(ignore)
            self.LB, self.RB, self.LS, self.RS, self.COMMA, self.COLON = syms
        else:
            if whitespace in ("flexible", "pretty"):
                b.ignore(b.lexeme("WS", _ws_regex(whitespace, max_ws)))
            self.LB = b.literal("{")
            self.RB = b.literal("}")
            self.LS = b.literal("[")
            self.RS = b.literal("]")
            if whitespace == "separators":  # json.dumps: ", " and ": " (or "," and ":") only
                self.COMMA = b.lexeme("','", cat(lit(","), opt(lit(" "))))
                self.COLON = b.lexeme("':'", cat(lit(":"), opt(lit(" "))))
            else:
                self.COMMA = b.literal(",")
                self.COLON = b.literal(":")
            if len(_BUILDER_START) >= 64:
                _BUILDER_START.clear()
            _BUILDER_START[(whitespace, max_ws)] = (
                tuple(b._lexemes),
                dict(b._lexeme_by_regex),
                dict(b._lexeme_by_id),
                tuple(b._ignore),
                (self.LB, self.RB, self.LS, self.RS, self.COMMA, self.COLON),
            )
        self._any: int | None = None
        self._never: int | None = None

    # ------------------------------------------------------------ helpers
    def rule(self, lhs, rhs) -> None:
        self.rules += 1
        if self.rules > self.max_rules:
            raise SchemaLimitError(
                f"schema needs more than {self.max_rules} grammar rules " f"(limit max_rules)",
                limit="max_rules",
                keyword="$schema",
            )
        if not self.rules & 255:
            self.check_deadline("")
        self.b.rule(lhs, rhs)

    def check_deadline(self, path: str) -> None:
        _deadline.check(f"schema path {path or '/'}")  # one deadline for the whole compile
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise SchemaLimitError(
                f"compiling the schema took more than {self.timeout:g} s "
                f"(limit timeout; at {path or '/'})",
                limit="timeout",
                path=path,
                keyword="$schema",
            )

    def nt(self, name: str) -> int:
        # unique names up front: the builder's de-duplication loop is linear per clash
        self.nt_count += 1
        return self.b.nonterminal(f"{name}~{self.nt_count}")

    def unsupported(self, keyword: str, path: str, why: str = "is not supported") -> None:
        """Raise, or (approximate=True) warn and let the caller drop the keyword."""
        where = path or "/"
        if not self.approximate:
            raise SchemaError(f"{keyword} at {where} {why}", path=path, keyword=keyword)
        msg = f"{keyword} at {where} {why}; not enforced (approximate=True)"
        if msg not in self.warned:
            self.warned.append(msg)
            warnings.warn(msg, stacklevel=4)

    # for .unique_items, which this module imports (it does not import this one)
    ALL_TYPES = ALL_TYPES
    ANNOTATIONS = ANNOTATIONS
    json_key = staticmethod(_json_key)

    def const_part(self, x, path: str) -> Part:
        """A part that holds exactly the value ``x``."""
        return Part(self.synth({"const": x}), "", path)

    def synth(self, d: dict) -> dict:
        d["__synthetic__"] = True
        self.keep.append(d)
        return d

    def never(self) -> int:
        if self._never is None:
            self._never = self.nt("never")
        return self._never

    def any_value(self) -> int:
        if self._any is None:
            self._any = self.value([Part(True, "", "")])
        return self._any

    # ------------------------------------------------------------ entry
    def compile(self) -> int:
        root = self.doc.root
        with automata.work_budget(automata.MAX_WORK_PER_COMPILE):
            start = self.value([Part(root, self.doc.base(root), "")])
        distinct_keys.mark_brackets(self)
        return start

    def value(self, parts: list) -> int:
        """The nonterminal of JSON values satisfying every part."""
        key = frozenset([(id(p.node), p.skip) for p in parts])  # each part's key()
        got = self.memo.get(key)
        if got is not None:
            return got
        self.keep.extend([p.node for p in parts])
        path = parts[0].path if parts else ""
        if len(self.memo) >= self.max_values:
            raise SchemaLimitError(
                f"schema needs more than {self.max_values} distinct sub-schema "
                f"combinations (at {path or '/'})",
                limit="max_values",
                path=path,
                keyword="$schema",
            )
        self.check_deadline(path)
        sym = self.nt(f"v{len(self.memo)}@{path or '/'}")
        self.memo[key] = sym
        self.depth += 1
        try:
            if self.depth > 400:
                raise SchemaLimitError(
                    f"schema nesting at {path or '/'} is too deep (more than " f"400 levels)",
                    limit="max_depth",
                    path=path,
                    keyword="$schema",
                )
            if parts:
                self._compile_conj(parts, sym)
            else:
                self._any_value_rules(sym)
        finally:
            self.depth -= 1
        return sym

    def _any_value_rules(self, sym: int) -> None:
        """The rules of ``value([])`` (any JSON value: what an open object's extra keys
        take), replayed from the first compile in the process that emitted them in the same
        setting (``_AnyTemplate``), else emitted (and recorded, where replayable)."""
        sig = self._any_signature()
        t = _ANY_TEMPLATES.get(sig)
        if t is not None:
            if t.applies(self):
                t.replay(self, sym)
            else:
                self._compile_conj([], sym)
            return
        rec = _AnyRecorder(self, sym)
        self.b = rec  # type: ignore[assignment]
        try:
            self._compile_conj([], sym)
        finally:
            self.b = rec.b
        t = rec.template(self)
        if t is not None and len(_ANY_TEMPLATES) < 64:
            _ANY_TEMPLATES[sig] = t

    def _any_signature(self) -> tuple:
        """What the rules of any JSON value depend on besides the compiler's caches (which
        ``_AnyRecorder.template`` checks): the options and the bracket symbols."""
        return (
            self.whitespace,
            self.strict,
            self.property_order,
            self.approximate,
            self.int_zero_frac,
            self.draft,
            tuple(getattr(self, a) for a in _FIXED_SYMBOLS),
        )

    # ------------------------------------------------------------ expansion
    def _expand(self, parts: list) -> list | None:
        """Follow $ref and allOf; None when some part is false. A cycle of $ref/allOf that
        comes back to a schema without passing through any other keyword is a SchemaError:
        validating against it never ends (no instance can be validated)."""
        if len(parts) == 1:  # one schema with nothing to follow (most values): the loop's
            # result without its bookkeeping
            p = parts[0]
            node = p.node
            if isinstance(node, dict) and _EXPAND_KEYWORDS.isdisjoint(node):
                base = self.doc.base_of.get(id(node), p.base)
                return [p if base == p.base else Part(node, base, p.path, p.skip)]
        out: list[Part] = []
        seen = set()
        work = list(parts)  # a queue: work[at:] is still to expand
        edges: dict = {}  # id(schema dict) -> [(id(target dict), target path)] by $ref/allOf
        paths: dict = {}  # id(schema dict) -> the first path it was reached at
        revisited = False  # some $ref/allOf target was already expanded: maybe a cycle
        base_of = self.doc.base_of
        at = 0
        while at < len(work):
            p = work[at]
            at += 1
            node = p.node
            if node is True:
                continue
            if node is False:
                return None
            if not isinstance(node, dict):
                raise SchemaError(
                    f"schema at {p.path or '/'} is not an object or boolean",
                    path=p.path,
                    keyword="$schema",
                )
            k = (id(node), p.skip)  # p.key()
            if k in seen:
                revisited = True
                continue
            seen.add(k)
            paths.setdefault(id(node), p.path)
            base = base_of.get(id(node), p.base)
            if base != p.base:
                p = Part(node, base, p.path, p.skip)
            if _EXPAND_KEYWORDS.isdisjoint(node):  # nothing to follow (most parts)
                out.append(p)
                continue
            if "unevaluatedProperties" in p.live or "unevaluatedItems" in p.live:
                work.extend(unevaluated.rewrite(self, p))  # module unevaluated.py
                continue
            if "$dynamicRef" in p.live:  # a $ref where the document fixes its dynamic scope
                tgt = unevaluated.dynamic_target(self, p)
                if tgt is not None:
                    work.append(Part(tgt[0], tgt[1], tgt[2] or p.path + "/$dynamicRef"))
                    edges.setdefault(id(node), []).append((id(tgt[0]), p.path + "/$dynamicRef"))
                p = p.without("$dynamicRef")
            if "$recursiveRef" in p.live:
                self.unsupported("$recursiveRef", p.path)
                p = p.without("$recursiveRef")
            if "$ref" in p.live:
                ref = node["$ref"]
                if not isinstance(ref, str):
                    raise SchemaError(
                        f"$ref at {p.path or '/'} is not a string", path=p.path, keyword="$ref"
                    )
                target, tbase, tpath = self.doc.resolve(ref, p.base, p.path)
                t = Part(target, tbase, tpath or p.path + "/$ref")
                edges.setdefault(id(node), []).append((id(target), p.path + "/$ref"))
                work.append(t)
                if self.draft <= 7:
                    continue  # siblings of $ref are ignored up to draft-07
                p = p.without("$ref")
                seen.add(p.key())
            if "allOf" in p.live:
                subs = node["allOf"]
                for i, s in enumerate(subs):
                    edges.setdefault(id(node), []).append((id(s), f"{p.path}/allOf/{i}"))
                    work.append(p.sub(s, f"allOf/{i}"))
                p = p.without("allOf")
                seen.add(p.key())
            out.append(p)
        if revisited:
            self._check_ref_cycle(edges, paths, [id(q.node) for q in parts])
        return out

    @staticmethod
    def _check_ref_cycle(edges: dict, paths: dict, roots: list) -> None:
        """Raise a SchemaError for a cycle in the $ref/allOf graph that _expand followed."""
        state: dict = {}  # 1: on the DFS stack, 2: done
        for r in roots:
            if state.get(r):
                continue
            stack = [(r, iter(edges.get(r, ())))]
            state[r] = 1
            while stack:
                v, it = stack[-1]
                for w, via in it:
                    if state.get(w) == 1:  # back to a schema on the stack: a cycle
                        chain = [paths.get(x, "?") or "/" for x, _ in stack]
                        start = next(i for i, (x, _) in enumerate(stack) if x == w)
                        loop = " -> ".join(chain[start:] + [paths.get(w, "?") or "/"])
                        raise SchemaError(
                            f"$ref cycle at {via}: {loop} refers back to itself through $ref/allOf "
                            f"without any keyword in between, so validation never ends and no "
                            f"instance is valid",
                            path=via,
                            keyword="$ref",
                        )
                    if not state.get(w):
                        state[w] = 1
                        stack.append((w, iter(edges.get(w, ()))))
                        break
                else:
                    state[v] = 2
                    stack.pop()

    # ------------------------------------------------------------ distribution
    def _compile_conj(self, parts: list, sym: int) -> None:
        expanded = self._expand(parts)
        if expanded is None:
            return  # false: no rules
        # the same conjunction reached by another way (each use site of a $ref is its own
        # node, so value()'s memo, keyed by the parts as written, misses; from draft 2019-09
        # on, the use site also stays a part, with nothing left in it but annotations): one
        # symbol for its language, not a copy of its rules per use site
        # (every expanded part's node is a dict: _inert(p) is the issuperset)
        key = tuple(
            [(id(p.node), p.skip, p.base) for p in expanded if not _INERT.issuperset(p.live)]
        )
        if key:
            got = self.expanded_memo.get(key)
            if got is not None:
                self.rule(sym, [got])
                return
            self.expanded_memo[key] = sym
        types = self._part_types(expanded)
        if not types:
            return  # the types contradict each other: no value
        for i, p in enumerate(expanded):
            if _SPLIT_KEYWORDS.isdisjoint(p.node):
                continue  # _split's own first test, before the others are sliced out
            branches = self._split(p, expanded[:i] + expanded[i + 1 :])
            if branches is None:
                continue
            if len(branches) > MAX_BRANCHES_PER_NODE:
                raise SchemaError(
                    f"too many alternatives at {p.path or '/'}", path=p.path, keyword="anyOf"
                )
            for br in branches:  # in place of p, so declared property order is kept
                # a branch of another type adds nothing: skipped before it becomes one of
                # the (bounded) combinations -- negated oneOf/if branches are mostly such
                bx = self._expand(br)
                if bx is None or not (types & self._part_types(bx)):
                    continue
                self.rule(sym, [self.value(expanded[:i] + br + expanded[i + 1 :])])
            return
        self._emit_merged(expanded, sym)

    def _part_types(self, parts) -> set:
        """The instance types every part's ``type`` allows (all, without ``type``)."""
        types = set(ALL_TYPES)
        for p in parts:
            if "type" in p.live:
                types &= self._types_of(p.node["type"])
        return types

    def _split(self, p: Part, others: Sequence = ()) -> list | None:
        """The branches (lists of parts) of p's first disjunctive keyword, or None. ``others``:
        the rest of the conjunction p is in (what may tell oneOf branches apart)."""
        node = p.node
        if not isinstance(node, dict) or _SPLIT_KEYWORDS.isdisjoint(node):
            return None  # (most parts: one set test instead of nine ``has``)
        if "anyOf" in p.live:
            q = p.without("anyOf")
            return [[q, p.sub(s, f"anyOf/{i}")] for i, s in enumerate(node["anyOf"])]
        if "oneOf" in p.live:
            q = p.without("oneOf")
            subs = node["oneOf"]
            brs = [p.sub(s, f"oneOf/{i}") for i, s in enumerate(subs)]
            if self._pairwise_disjoint(brs, [q, *others]):
                return [[q, b] for b in brs]
            out = []
            try:
                for i, b in enumerate(brs):
                    negs = [self.neg_part(o) for j, o in enumerate(brs) if j != i]
                    out.append([q, b] + negs)
                return out
            except _CannotNegate as e:
                self.unsupported(
                    "oneOf",
                    p.path,
                    f"has branches that may overlap (cannot negate " f"{e.keyword})",
                )
                return [[q, b] for b in brs]
        if "if" in p.live:
            q = p.without("if", "then", "else")
            cond = p.sub(node["if"], "if")
            then = p.sub(node.get("then", True), "then")
            els = p.sub(node.get("else", True), "else")
            if _trivial(node.get("then", True)) and _trivial(node.get("else", True)):
                return [[q]]
            try:
                if self.draft < KEYWORD_SINCE["if"]:
                    # an `if` this draft's validators ignore, enforced as its author meant:
                    # its condition fails as it holds, with every keyword it has (any value
                    # is valid for those validators, so both branches are sound)
                    self.assert_later = True
                ncond = self.neg_part(cond)
            except _CannotNegate as e:
                self.unsupported("if", p.path, f"cannot be negated ({e.keyword})")
                return [[q, then], [q, els]]
            finally:
                self.assert_later = False
            return [[q, cond, then], [q, ncond, els]]
        for kw in ("then", "else"):
            if kw in p.live:  # without "if" they do nothing
                return [[p.without(kw)]]
        if "not" in p.live:
            q = p.without("not")
            try:
                return [[q, self.neg_part(p.sub(node["not"], "not"))]]
            except _CannotNegate as e:
                self.unsupported("not", p.path, f"cannot be compiled ({e.keyword})")
                return [[q]]
        for kw in ("dependentRequired", "dependentSchemas", "dependencies"):
            if kw in p.live:
                deps = node[kw]
                q = p.without(kw)
                if not isinstance(deps, dict) or not deps:
                    return [[q]]
                name, dep = next(iter(deps.items()))
                rest = {k: v for k, v in deps.items() if k != name}
                extra = [q]
                if rest:
                    ck = ("deps", id(node), kw)
                    if ck not in self.neg_cache:
                        self.neg_cache[ck] = (node, self.synth({kw: rest}))
                    extra.append(Part(self.neg_cache[ck][1], p.base, p.path))
                absent = Part(self.synth({"properties": {name: False}}), p.base, p.path)
                if isinstance(dep, list):
                    present = Part(
                        self.synth({"required": [name] + list(dep)}), p.base, f"{p.path}/{kw}"
                    )
                    dep_brs = [[absent], [present]]
                else:
                    present = p.sub(dep, f"{kw}/{name}")
                    req = Part(self.synth({"required": [name]}), p.base, p.path)
                    dep_brs = [[absent], [req, present]]
                return [extra + b for b in dep_brs]
        return None

    # ------------------------------------------------------------ negation
    def neg_part(self, p: Part) -> Part:
        return Part(self.negate(p.node, p.base, p.path, 0), p.base, p.path)

    def negate(self, node, base: str, path: str, depth: int):
        if node is True:
            return False
        if node is False:
            return True
        base = self.doc.base_of.get(id(node), base)
        if depth > 8:
            # deep (or recursive, through $ref): negate this sub-schema when the compiler
            # reaches it, as a "not" of its own -- never cached as its eager negation
            lazy = self.lazy_not.get(id(node))
            if lazy is None or lazy[0] is not node:
                lazy = (node, self.synth({"not": node}))
                self.keep.append(node)
                self.lazy_not[id(node)] = lazy
            return lazy[1]
        key = (id(node), True) if self.assert_later else id(node)
        got = self.neg_cache.get(key)
        if got is not None and got[0] is node:
            return got[1]
        r = self._negate(node, base, path, depth)
        self.keep.append(node)
        self.neg_cache[key] = (node, r)
        return r

    def _negate(self, node, base, path, depth):
        if not isinstance(node, dict):
            raise _CannotNegate("$schema")
        # not(K1 and ... and Kn) = not K1 or ... or not Kn, where a keyword of one instance
        # type (required, minItems, pattern, ...) holds vacuously for every other type: its
        # negation is "of that type, and violating it", never "of another type".
        alts = []
        # the object keywords' negations are alternatives of one requirement on members
        # ("some member ... or some name absent"), enforced by flags in the object rules
        # instead of one object schema each (which oneOf branches would multiply)
        member: list = []
        synthetic = "__synthetic__" in node
        for kw, v in node.items():
            if kw in ANNOTATIONS or kw not in _HANDLED:
                continue
            if not synthetic and KEYWORD_SINCE.get(kw, 0) > self.draft and not self.assert_later:
                continue  # not this document's draft's keyword: it never fails
            if kw == "$ref":
                if self.draft <= 7:
                    t, tb, tp = self.doc.resolve(v, base, path)
                    return self.negate(t, tb, tp, depth + 1)
                t, tb, tp = self.doc.resolve(v, base, path)
                alts.append(self.negate(t, tb, tp, depth + 1))
            elif kw == "$dynamicRef":  # resolved statically where the document fixes it
                tgt = unevaluated.dynamic_target(self, Part(node, base, path))
                if tgt is not None:
                    alts.append(self.negate(tgt[0], tgt[1], tgt[2], depth + 1))
            elif unevaluated.never_fails(self, kw, v):  # e.g. unevaluatedProperties: true
                continue
            elif kw == "type":
                ts = self._types_of(v)
                alts.append(self.synth({"type": sorted(ALL_TYPES - ts)}))
            elif kw in ("enum", "const"):
                if kw == "enum" and not isinstance(v, list):
                    raise SchemaError(
                        f"enum at {path or '/'} is not an array", path=path, keyword="enum"
                    )
                alts.append(self._not_values(v if kw == "enum" else [v]))
            elif kw == "__not_enum__":
                alts.append(self.synth({"enum": list(v)}))
            elif kw == "pattern":  # a string the pattern does not match (a complement)
                alts.append(self.synth({"type": "string", "__not_pattern__": [v]}))
            elif kw == "__not_pattern__":
                alts.append(self.synth({"type": "string", "anyOf": [{"pattern": x} for x in v]}))
            elif kw == "required":
                if not v:
                    continue
                if not isinstance(v, list):
                    raise _CannotNegate(kw)
                member += [("absent", name) for name in v]
            elif kw == "properties":
                if not isinstance(v, dict):
                    raise _CannotNegate(kw)
                for name, s in v.items():
                    if _trivial(s):
                        continue
                    ns = self.negate(s, base, f"{path}/properties/{name}", depth + 1)
                    member.append(("member", ("in", frozenset([name])), ns))
            elif kw in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
                if isinstance(v, bool):
                    continue  # draft-04 modifier, read with minimum/maximum
                excl = kw.startswith("exclusive") or (
                    self.draft <= 4 and node.get("exclusive" + kw[:1].upper() + kw[1:]) is True
                )
                lower = "inimum" in kw
                flip = (
                    ("maximum" if excl else "exclusiveMaximum")
                    if lower
                    else ("minimum" if excl else "exclusiveMinimum")
                )
                alts.append(self.synth({"type": "number", flip: v}))
            elif kw in (
                "minLength",
                "minItems",
                "minProperties",
                "maxLength",
                "maxItems",
                "maxProperties",
            ):
                t = {"Length": "string", "Items": "array", "Properties": "object"}[kw[3:]]
                if kw.startswith("min"):
                    if v > 0:
                        alts.append(self.synth({"type": t, "max" + kw[3:]: v - 1}))
                else:
                    alts.append(self.synth({"type": t, "min" + kw[3:]: v + 1}))
            elif kw == "anyOf":
                alts.append(
                    self.synth({"allOf": [self.negate(s, base, path, depth + 1) for s in v]})
                )
            elif kw == "allOf":
                for s in v:
                    alts.append(self.negate(s, base, path, depth + 1))
            elif kw == "not":
                alts.append(v)
            elif kw == "uniqueItems":
                if v:
                    raise _CannotNegate(kw)
            elif kw in ("then", "else"):
                continue  # with "if" (below), or nothing without it
            elif kw == "if":
                # (if and then) or (not-if and else)  ->  (if and not-then) or (not-if and not-else)
                then_s, else_s = node.get("then", True), node.get("else", True)
                if _trivial(then_s) and _trivial(else_s):
                    continue
                neg = lambda s, w: self.negate(s, base, f"{path}/{w}", depth + 1)  # noqa: E731
                alts.append(
                    self.synth(
                        {
                            "anyOf": [
                                self.synth({"allOf": [v, neg(then_s, "then")]}),
                                self.synth({"allOf": [neg(v, "if"), neg(else_s, "else")]}),
                            ]
                        }
                    )
                )
            elif kw == "oneOf":
                # none holds, or two (or more) hold
                if not isinstance(v, list) or len(v) > 24:
                    raise _CannotNegate(kw)
                alts.append(
                    self.synth(
                        {
                            "allOf": [
                                self.negate(s, base, f"{path}/oneOf/{i}", depth + 1)
                                for i, s in enumerate(v)
                            ]
                        }
                    )
                )
                for i in range(len(v)):
                    for j in range(i + 1, len(v)):
                        alts.append(self.synth({"allOf": [v[i], v[j]]}))
            elif kw in ("prefixItems", "items", "additionalItems"):
                alts += self._negate_items(node, kw, v, base, path, depth)
            elif kw in ("contains", "minContains", "maxContains"):
                if kw != "contains":
                    continue  # read with contains
                lo = node.get("minContains", 1)
                hi = node.get("maxContains")
                if lo >= 1:  # fewer than lo items match
                    alts.append(
                        self.synth(
                            {
                                "type": "array",
                                "contains": v,
                                "minContains": 0,
                                "maxContains": lo - 1,
                            }
                        )
                        if lo > 1
                        else self.synth(
                            {
                                "type": "array",
                                "items": self.negate(v, base, f"{path}/contains", depth + 1),
                            }
                        )
                    )
                if hi is not None:  # more than hi items match
                    alts.append(self.synth({"type": "array", "contains": v, "minContains": hi + 1}))
            elif kw in ("dependentRequired", "dependentSchemas", "dependencies"):
                if not isinstance(v, dict):
                    raise _CannotNegate(kw)
                for name, dep in v.items():
                    if isinstance(dep, list):  # name present, one of dep absent
                        for d in dep:
                            alts.append(
                                self.synth(
                                    {"type": "object", "required": [name], "properties": {d: False}}
                                )
                            )
                    else:  # name present, dep fails
                        alts.append(
                            self.synth(
                                {
                                    "allOf": [
                                        self.synth({"type": "object", "required": [name]}),
                                        self.negate(dep, base, f"{path}/{kw}/{name}", depth + 1),
                                    ]
                                }
                            )
                        )
            elif kw in ("additionalProperties", "patternProperties", "propertyNames"):
                member += self._negate_keys(node, kw, v, base, path, depth)
            elif kw == "format":
                if self._format_can_fail(v, path):
                    # a string outside every spelling validators accept (a complement)
                    alts.append(self.synth({"type": "string", "__not_format__": [v]}))
            elif kw == "__not_format__":
                alts.append(self.synth({"type": "string", "anyOf": [{"format": x} for x in v]}))
            elif kw == "multipleOf":
                # a number that is not a multiple (written without an exponent, see
                # Compiler._number_regex)
                alts.append(self.synth({"type": "number", "__not_multipleOf__": [v]}))
            elif kw == "__not_multipleOf__":
                alts.append(self.synth({"type": "number", "anyOf": [{"multipleOf": x} for x in v]}))
            else:
                raise _CannotNegate(kw)
        if member:
            std = {k: node[k] for k in _MEMBER_KWS if k in node}
            kw0 = next(k for k in _MEMBER_KWS[::-1] if k in std)
            req = {"alts": member, "std": {"not": std}, "kw": kw0}
            alts.append(self.synth({"type": "object", "__some_key__": [req]}))
        if not alts:
            return False
        if len(alts) == 1:
            return alts[0]
        return self.synth({"anyOf": alts})

    def _negate_keys(self, node, kw, v, base, path, depth) -> list:
        """The alternatives (see :meth:`_object_witnessed`) by which an object violates
        ``kw``, one of the keywords over keys beyond the declared ones: some member's key
        lies in a set and its value satisfies a schema. ``additionalProperties``: a key
        outside ``properties`` and every ``patternProperties`` pattern, with a value failing
        it; ``patternProperties``: a key matching a pattern, with a value failing its
        schema; ``propertyNames``: a key that fails it (any value)."""
        if _trivial(v):
            return []
        try:
            if kw == "additionalProperties":
                names = node.get("properties", {})
                pats = node.get("patternProperties", {})
                if not isinstance(names, dict) or not isinstance(pats, dict):
                    raise _CannotNegate(kw)
                nv = self.negate(v, base, f"{path}/{kw}", depth + 1)
                if not pats:  # every key but the names: kept as the names
                    return [("member", ("out", frozenset(names)), nv)]
                ds = [automata.complement(automata.literals(list(names)))]
                for pat in pats:  # outside every pattern, under either reading
                    rx = self._pattern(pat, f"{path}/patternProperties", "max")
                    if rx is None:
                        raise _CannotNegate("patternProperties")
                    ds.append(automata.complement(automata.to_dfa(rx)))
                keys = automata.intersect_all(ds)
                return [] if keys.is_empty() else [("member", ("re", keys.node()), nv)]
            if kw == "patternProperties":
                if not isinstance(v, dict):
                    raise _CannotNegate(kw)
                out = []
                for pat, s in v.items():
                    if _trivial(s):
                        continue
                    rx = self._pattern(pat, f"{path}/{kw}")
                    if rx is None:
                        raise _CannotNegate(kw)
                    ns = self.negate(s, base, f"{path}/{kw}/{pat}", depth + 1)
                    out.append(("member", ("re", rx), ns))
                return out
            pn = Part(v, base, f"{path}/{kw}")
            for q in self._expand([pn]) or ():
                # a key failing propertyNames under both readings of its pattern (see
                # _pattern): supported where the readings agree, and without formats (ours
                # are subsets of what validators accept)
                if "format" in q.live or "__not_format__" in q.live or "__not_pattern__" in q.live:
                    raise _CannotNegate(kw)
                if "pattern" in q.live and self._pattern(
                    q.node["pattern"], q.path, "max"
                ) != self._pattern(q.node["pattern"], q.path):
                    raise _CannotNegate(kw)
            lang = self._key_language([pn])
            keys = automata.complement(automata.to_dfa(lang))
            return [] if keys.is_empty() else [("member", ("re", keys.node()), True)]
        except RegexBudgetError:
            raise _CannotNegate(kw) from None

    def _negate_items(self, node, kw, v, base, path, depth) -> list:
        """The arrays that violate the positional keywords of ``node`` (``kw`` is one of
        them; the tuple form is read once, at its first keyword): some position of the
        prefix fails its schema, or (without a prefix) some item fails the tail schema."""
        if "prefixItems" in node:
            prefix, tail, first = node["prefixItems"], node.get("items"), "prefixItems"
        elif isinstance(node.get("items"), list):
            prefix, tail, first = node["items"], node.get("additionalItems"), "items"
        else:
            prefix, tail, first = [], node.get("items"), "items"
        if kw != first:
            return []
        if not isinstance(prefix, list):
            raise _CannotNegate(kw)
        out = []
        for i, s in enumerate(prefix):
            if _trivial(s):
                continue
            ns = self.negate(s, base, f"{path}/{first}/{i}", depth + 1)
            out.append(
                self.synth({"type": "array", "minItems": i + 1, "prefixItems": [True] * i + [ns]})
            )
        if tail is not None and not _trivial(tail):
            if prefix:  # "some item after the prefix fails": no keyword says that
                raise _CannotNegate("items" if first == "prefixItems" else "additionalItems")
            out.append(
                self.synth(
                    {
                        "type": "array",
                        "contains": self.negate(tail, base, f"{path}/items", depth + 1),
                    }
                )
            )
        return out

    def _not_values(self, values: list):
        """The schema of every JSON value that equals none of ``values`` (JSON equality:
        1 == 1.0, key order ignored). Scalars are excluded by ``__not_enum__`` (numbers and
        strings inside their lexemes, null and booleans by their literal); an array or
        object value A by :meth:`_ne_composite`."""
        scalars = [x for x in values if not isinstance(x, (list, dict))]
        conj = [self._ne_composite(x) for x in values if isinstance(x, (list, dict))]
        if scalars:
            conj.insert(0, self.synth({"__not_enum__": scalars}))
        if not conj:
            return True
        return conj[0] if len(conj) == 1 else self.synth({"allOf": conj})

    def _ne_composite(self, x):
        """Values other than the array or object ``x``: another type, or the same type and
        a different length / key set, or one member that differs (recursively). ``__ne__``
        keeps ``x`` so that finite value sets are filtered by JSON equality directly."""
        if isinstance(x, list):
            n = len(x)
            alts = [self.synth({"type": sorted(ALL_TYPES - {"array"})})]
            if n:
                alts.append(self.synth({"type": "array", "maxItems": n - 1}))
            alts.append(self.synth({"type": "array", "minItems": n + 1}))
            for i, y in enumerate(x):
                alts.append(
                    self.synth(
                        {
                            "type": "array",
                            "minItems": n,
                            "maxItems": n,
                            "prefixItems": [True] * i + [self._not_values([y])],
                        }
                    )
                )
        else:
            keys = list(x)
            alts = [self.synth({"type": sorted(ALL_TYPES - {"object"})})]
            for k in keys:  # a key missing
                alts.append(self.synth({"type": "object", "properties": {k: False}}))
            for k in keys:  # a key with another value
                alts.append(
                    self.synth(
                        {
                            "type": "object",
                            "required": [k],
                            "properties": {k: self._not_values([x[k]])},
                        }
                    )
                )
            # every key there, and one more (an extra key is never a declared one)
            alts.append(
                self.synth({"type": "object", "required": keys, "minProperties": len(keys) + 1})
            )
        return self.synth({"anyOf": alts, "__ne__": x})

    # ------------------------------------------------------------ disjointness
    def _signature(self, parts: list, depth: int = 0) -> _Signature:
        """What every value meeting all of ``parts`` has, for telling branches apart: its
        possible types, its finite values (or None), the properties it must have with their
        finite values (or None), and per part what values a property may have if present
        (see :class:`_Signature`). ``required`` and ``properties`` apply to the same
        instance, so a property one part requires and another restricts is a discriminator;
        a part's own ``anyOf``/``oneOf`` contributes what all its branches require."""
        if depth >= 4:  # nothing known
            return _Signature(frozenset(ALL_TYPES), None, {}, ())
        expanded = self._expand(parts)
        if expanded is None:  # some part is false: no value meets them
            return _Signature(frozenset(), (), {}, ())
        types = set(ALL_TYPES)
        values: set[str] | None = None
        required: dict = {}  # prop -> its finite values (None: not known to be finite)
        allows = []  # per part: (finite values of its declared props, their names, extra)
        for q in expanded:
            n = q.node
            if "type" in q.live:
                types &= self._types_of(n["type"])
            for kw in ("enum", "const"):
                if kw in q.live and (kw == "enum" or self.draft >= 6 or "__synthetic__" in n):
                    vs = n[kw] if kw == "enum" else [n[kw]]
                    ks = {_json_key(x) for x in vs}
                    values = ks if values is None else values & ks
                    types &= {_json_type(x) for x in vs}
            finite: dict = {}
            declared: frozenset = frozenset()
            if "properties" in q.live and isinstance(n["properties"], dict):
                declared = frozenset(n["properties"])
                for name, sub in n["properties"].items():
                    fk = _finite_keys(sub, self.draft)
                    if fk is not None:
                        finite[name] = fk
            extra = None  # the values a property outside `declared` may have
            if "patternProperties" not in q.live and "additionalProperties" in q.live:
                extra = _finite_keys(n["additionalProperties"], self.draft)
            if finite or extra is not None:
                allows.append((finite, declared, extra))
            if "required" in q.live and isinstance(n["required"], list):
                for name in n["required"]:
                    if isinstance(name, str):
                        required.setdefault(name, None)
            for kw in ("anyOf", "oneOf"):  # what every branch that can hold requires
                if kw in q.live and isinstance(n[kw], list) and n[kw]:
                    subs = [
                        self._branch_signature(q.sub(b, f"{kw}/{i}"), depth + 1)
                        for i, b in enumerate(n[kw])
                    ]
                    subs = [x for x in subs if x.types]
                    types &= set().union(*(x.types for x in subs))
                    if subs:
                        common = set(subs[0].required).intersection(*(x.required for x in subs))
                        for name in common:
                            vs = [x.allowed(name) for x in subs]
                            union = None if None in vs else set().union(*vs)
                            required.setdefault(name, None)
                            if union is not None:
                                allows.append(({name: union}, frozenset((name,)), None))
        return _Signature(frozenset(types), values, required, tuple(allows))

    def _branch_signature(self, b: Part, depth: int) -> _Signature:
        """:meth:`_signature` of one branch, remembered (a branch is met again as the context
        of each of its siblings' splits)."""
        k = (b.key(), depth)
        got = self.sig_memo.get(k)
        if got is None:
            got = self.sig_memo[k] = self._signature([b], depth)
        return got

    def _pairwise_disjoint(self, brs: list, context: Sequence = ()) -> bool:
        """Whether no value meets two of the branches ``brs``, each taken together with the
        parts of ``context`` (the rest of the schema that holds the ``oneOf``: a discriminator
        is often required there and given its values in each branch)."""
        ctx = list(context)
        sigs = [self._signature([b] + ctx) for b in brs]
        for i in range(len(sigs)):
            for j in range(i + 1, len(sigs)):
                a, b = sigs[i], sigs[j]
                common = a.types & b.types
                if not common:
                    continue
                if a.values is not None and b.values is not None and not (a.values & b.values):
                    continue
                if common == {"object"} and (a.excludes(b) or b.excludes(a)):
                    continue
                return False
        return True

    # ------------------------------------------------------------ merging
    def _types_of(self, v) -> set | frozenset:
        """The instance types a ``type`` value allows (callers only read the set)."""
        if type(v) is str:
            got = _TYPES_OF_NAME.get(v)
            if got is not None:
                return got
        if not isinstance(v, (str, list)):
            raise SchemaError(
                f"'type' must be a type name or a list of them, not {v!r}", keyword="type"
            )
        names = [v] if isinstance(v, str) else list(v)
        out: set[str] = set()
        for t in names:
            if t not in _TYPE_NAMES:
                if t == "any":
                    out |= ALL_TYPES
                    continue
                raise SchemaError(f"unknown type {t!r}", keyword="type")
            out |= _TYPE_NAMES[t]
        return out

    def _emit_merged(self, parts: list, sym: int) -> None:
        types = set(ALL_TYPES)
        finite = None
        for p in parts:
            n = p.node
            if "type" in p.live:
                types &= self._types_of(n["type"])
            sets = []  # a part with both const and enum is their intersection
            if "const" in p.live:
                sets.append([n["const"]])
            if "enum" in p.live:
                if not isinstance(n["enum"], list):
                    raise SchemaError(
                        f"enum at {p.path or '/'} is not an array", path=p.path, keyword="enum"
                    )
                sets.append(n["enum"])
            for vals in sets:
                if finite is None:
                    finite = list(vals)
                else:
                    ks = {_json_key(x) for x in vals}
                    finite = [x for x in finite if _json_key(x) in ks]
        if finite is not None:
            self._emit_finite(parts, finite, types, sym)
            return
        if not types:
            return
        excluded = {
            _json_key(x)
            for p in parts
            if "__not_enum__" in p.live
            for x in p.node["__not_enum__"]
            if x is None or isinstance(x, bool)
        }
        alts = []
        for t, key, text in _SCALAR_LITERALS:  # null, true, false
            if t in types and key not in excluded:
                alts.append([self.b.literal(text)])
        if "integer" in types or "fraction" in types:
            rx = self._number_regex(parts, "integer" in types, "fraction" in types)
            if rx != NEVER:
                alts.append([self.b.lexeme("NUMBER", rx)])
        if "string" in types:
            rx = self._string_chars(parts, counted_ok=True)
            try:
                lx = strings.string_lexeme_regex(rx)
            except RegexBudgetError:  # the JSON encoding of an intersection/complement DFA
                where = parts[0].path if parts else ""
                self.unsupported("pattern", where, "needs an automaton too large to compile")
                lx = NEVER
            if lx != NEVER:
                alts.append([self.b.lexeme("STRING", lx)])
        if "array" in types:
            s = self._array(parts)
            if s is not None:
                alts.append([s])
        if "object" in types:
            s = self._object(parts)
            if s is not None:
                alts.append([s])
        for a in alts:
            self.rule(sym, a)

    # ------------------------------------------------------------ finite values
    def _plain_parts(self, parts) -> bool:
        for p in parts:
            for kw in p.node:
                if kw in p.skip or kw in ANNOTATIONS or kw not in _HANDLED:
                    continue
                if kw not in ("type", "enum", "const"):
                    return False
        return True

    def _validator(self):
        v = getattr(self, "_jsv", None)
        if v is None:
            try:
                import jsonschema
            except ImportError:
                return None
            cls = {
                4: jsonschema.Draft4Validator,
                6: jsonschema.Draft6Validator,
                7: jsonschema.Draft7Validator,
                3: jsonschema.Draft7Validator,
                2019: jsonschema.Draft201909Validator,
            }.get(self.draft, jsonschema.Draft202012Validator)
            cls = _linear_pattern_validator(cls)
            root = self.doc.root
            v = cls(
                root if isinstance(root, (dict, bool)) else {}, format_checker=cls.FORMAT_CHECKER
            )
            self._jsv = v
        return v

    def _search(self, pattern: str, s: str) -> bool:
        """``re.search(pattern, s)``, as jsonschema runs it, in time linear in ``s``: the
        pattern's automaton under both readings (see :meth:`_pattern`) decides wherever
        they agree, so a backtracking pattern (``^(a+)+$``) on an enum value cannot hold
        the interpreter (and the GIL) for minutes past the compile's deadline. Only a
        string the readings disagree on, or a pattern the automaton cannot express
        (backreferences), goes to ``re``."""
        import re

        from ...errors import GrammarError
        from ..regex import parse_regex

        got = self.search_cache.get(pattern)
        if got is None:
            try:
                got = tuple(
                    automata.to_dfa(
                        parse_regex(pattern, syntax="ecma", search=True, portable=portable)
                    )
                    for portable in (True, "max")
                )
            except (GrammarError, ValueError, RecursionError):
                got = ()
            self.search_cache[pattern] = got
        if got:
            both, either = got
            if both.accepts(s):
                return True
            if not either.accepts(s):
                return False
        return re.search(pattern, s) is not None

    def _is_valid(self, v, o, x) -> bool:
        """``x`` valid against schema node ``o`` (jsonschema), memoised per compile: the
        same enum values meet the same sub-schemas in every branch that merges them. Keyed
        by the node's identity (kept alive by the entry) and the value's exact JSON text."""
        key = (id(o), json.dumps(x))
        got = self.valid_memo.get(key)
        if got is None or got[0] is not o:
            with self._validating():
                got = self.valid_memo[key] = (o, v.evolve(schema=o).is_valid(x))
        return got[1]

    @contextmanager
    def _validating(self) -> Iterator[None]:
        """The validator of ``_validator`` matches patterns with this compile's ``_search``
        meanwhile."""
        token = _SEARCH.set(self._search)
        try:
            yield
        finally:
            _SEARCH.reset(token)

    def _emit_finite(self, parts, values, types, sym) -> None:
        uniq = self._finite_values(parts, values, types)
        strs = [x for x in uniq if isinstance(x, str)]
        nums = [x for x in uniq if isinstance(x, (int, float)) and not isinstance(x, bool)]
        if strs:
            self.rule(
                sym,
                [
                    self.b.lexeme(
                        "STRING", strings.string_lexeme_regex(strings.literal_strings(strs))
                    )
                ],
            )
        if nums:
            # up to draft-04, 1.0 is a number but not an integer
            zf = self.int_zero_frac or "fraction" in types
            self.rule(
                sym, [self.b.lexeme("NUMBER", alt(*(self._number_text(x, zf) for x in nums)))]
            )
        for x in uniq:
            if x is None or isinstance(x, bool):
                self.rule(sym, [self.b.literal(json.dumps(x))])
            elif isinstance(x, (list, dict)):
                self.rule(sym, [self._const_value(x)])

    def _finite_values(self, parts, values, types) -> list:
        """The values among ``values`` (of one of ``types``) that satisfy every part, one
        per JSON-equality class, in order."""
        values = [
            x
            for x in values
            if _json_type(x) in types or (_json_type(x) == "integer" and "integer" in types)
        ]
        if not self._plain_parts(parts):
            v = self._validator()
            if v is None:
                self.unsupported(
                    "enum",
                    parts[0].path if parts else "",
                    "with other constraints needs jsonschema",
                )
            else:
                originals = [
                    p.node
                    for p in parts
                    if isinstance(p.node, dict) and not p.node.get("__synthetic__")
                ]
                synth = [
                    p for p in parts if isinstance(p.node, dict) and p.node.get("__synthetic__")
                ]
                keep = []
                for x in values:
                    try:
                        # a $ref cycle that consumes nothing makes the validator recurse
                        # for ever: give it headroom, not the front end's raised limit
                        with recursion_headroom(1500):
                            ok = all(self._is_valid(v, o, x) for o in originals)
                            if ok and synth:
                                ok = all(self._synthetic_accepts(p.node, x) for p in synth)
                    except SchemaError:
                        raise
                    except Exception as e:  # unresolvable refs, endless recursion
                        where = parts[0].path if parts else ""
                        why = (
                            "the schema's $ref recursion does not terminate"
                            if isinstance(e, RecursionError)
                            else str(e)
                        )
                        raise SchemaError(
                            f"enum at {where or '/'}: cannot check values " f"({why})",
                            path=where,
                            keyword="enum",
                        ) from None
                    if ok:
                        keep.append(x)
                values = keep
        seen = set()
        uniq = []
        for x in values:
            k = _json_key(x)
            if k not in seen:
                seen.add(k)
                uniq.append(x)
        return uniq

    def _synthetic_accepts(self, node, x) -> bool:
        """Check a value against a synthetic (negation) schema we built."""
        if node is True or node is False:
            return node
        if "__ne__" in node:
            return _json_key(x) != _json_key(node["__ne__"])
        t = _json_type(x)
        for kw, v in node.items():
            if kw == "__synthetic__":
                continue
            if kw == "type":
                if t not in self._types_of(v) and not (
                    t == "integer" and "number" in ([v] if isinstance(v, str) else v)
                ):
                    return False
            elif kw == "__not_enum__":
                if _json_key(x) in {_json_key(y) for y in v}:
                    return False
            elif kw == "__not_multipleOf__":  # exact decimal arithmetic, as _number_regex
                if t in ("integer", "number") and any(
                    numeric.to_decimal(x) % numeric.to_decimal(m) == 0 for m in v
                ):
                    return False
            elif kw == "enum":
                if _json_key(x) not in {_json_key(y) for y in v}:
                    return False
            elif kw == "anyOf":
                if not any(self._synthetic_accepts(s, x) for s in v):
                    return False
            elif kw == "allOf":
                if not all(self._synthetic_accepts(s, x) for s in v):
                    return False
            else:
                jv = self._validator()
                if jv is None:
                    raise SchemaError("enum filtering needs jsonschema", keyword="enum")
                if "type" in node and not self._synthetic_accepts({"type": node["type"]}, x):
                    return False
                sub = {k: w for k, w in node.items() if k not in ("__synthetic__", "type")}
                with self._validating():
                    return jv.evolve(schema=_to_standard(sub)).is_valid(x)
        return True

    @staticmethod
    def _number_text(x, zero_frac: bool = True):
        if isinstance(x, int) or (isinstance(x, float) and x.is_integer()):
            return cat(lit(str(int(x))), numeric.ZERO_FRAC) if zero_frac else lit(str(int(x)))
        if isinstance(x, float) and not math.isfinite(x):
            return NEVER
        d = Decimal(repr(x))
        # the canonical decimal text, plus trailing zeros
        s = format(d, "f")
        if "." not in s:
            s += ".0"
        s = s.rstrip("0")
        forms = [cat(lit(s), rep(lit("0"), 0, None))]
        r = repr(x)
        if "e" in r or "E" in r:
            forms.append(lit(r))
        return alt(*forms)

    def _const_value(self, x) -> int:
        key = ("const", _json_key(x))
        got = self.memo.get(key)
        if got is not None:
            return got
        sym = self.nt("const")
        self.memo[key] = sym
        if isinstance(x, list):
            if not x:
                self.rule(sym, [self.LS, self.RS])
            else:
                body = [self.LS]
                for i, y in enumerate(x):
                    if i:
                        body.append(self.COMMA)
                    body.append(self._const_value(y))
                body.append(self.RS)
                self.rule(sym, body)
        elif isinstance(x, dict) and self.property_order == "any" and len(x) > 1:
            self.rule(sym, [any_order.const_object(self, x)])
        elif isinstance(x, dict):
            body = [self.LB]
            for i, (k, y) in enumerate(x.items()):
                if i:
                    body.append(self.COMMA)
                body += [self._key_lexeme_literal(k), self.COLON, self._const_value(y)]
            body.append(self.RB)
            self.rule(sym, body)
        elif isinstance(x, str):
            self.rule(sym, [self.b.lexeme("STRING", strings.string_lexeme_regex(lit(x)))])
        elif x is None or isinstance(x, bool):
            self.rule(sym, [self.b.literal(json.dumps(x))])
        else:
            self.rule(sym, [self.b.lexeme("NUMBER", self._number_text(x))])
        return sym

    def _key_lexeme_literal(self, k: str) -> int:
        # once per name and compile: objects repeat names ("type", "name"), and each value
        # branch of a property asks again
        if type(k) is not str:  # (a non-JSON dict key: 1 and True would share an entry)
            return self.b.lexeme(
                json.dumps(k, ensure_ascii=False), strings.string_lexeme_regex(lit(k))
            )
        sym = self.key_literals.get(k)
        if sym is None:
            sym = self.key_literals[k] = self.b.lexeme(*_key_literal(k))
        return sym

    # ------------------------------------------------------------ numbers
    def _number_regex(self, parts, want_int: bool, want_frac: bool):
        lo = hi = None
        lox = hix = False
        mults = []
        not_mults = []
        not_vals = []
        path = parts[0].path if parts else ""

        def tighten_lo(v, excl):
            nonlocal lo, lox
            if lo is None or v > lo or (v == lo and excl):
                lo, lox = v, excl

        def tighten_hi(v, excl):
            nonlocal hi, hix
            if hi is None or v < hi or (v == hi and excl):
                hi, hix = v, excl

        for p in parts:
            n = p.node
            for kw in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
                if kw not in p.live:
                    continue
                v = n[kw]
                if isinstance(v, bool):
                    continue
                if not isinstance(v, (int, float)) or (isinstance(v, float) and math.isnan(v)):
                    raise SchemaError(
                        f"{kw} at {p.path or '/'} is not a number", path=p.path, keyword=kw
                    )
                d = numeric.to_decimal(v)
                if kw == "minimum":
                    tighten_lo(d, self.draft <= 4 and n.get("exclusiveMinimum") is True)
                elif kw == "maximum":
                    tighten_hi(d, self.draft <= 4 and n.get("exclusiveMaximum") is True)
                elif kw == "exclusiveMinimum":
                    tighten_lo(d, True)
                else:
                    tighten_hi(d, True)
            if "multipleOf" in p.live:
                v = n["multipleOf"]
                if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                    raise SchemaError(
                        f"multipleOf at {p.path or '/'} is not a finite number",
                        path=p.path,
                        keyword="multipleOf",
                    )
                mults.append(numeric.to_decimal(v))
            if "__not_multipleOf__" in p.live:
                not_mults += [numeric.to_decimal(x) for x in n["__not_multipleOf__"]]
            if "__not_enum__" in p.live:
                not_vals += [
                    numeric.to_decimal(x)
                    for x in n["__not_enum__"]
                    if isinstance(x, (int, float)) and not isinstance(x, bool)
                ]
        mult = None
        if mults:
            mults = sorted(set(mults))
            if all(m == m.to_integral_value() for m in mults):
                lcm = 1
                for m in mults:
                    lcm = lcm * int(m) // math.gcd(lcm, int(m))
                mult = Decimal(lcm)
            else:  # the least common multiple of p1/q1, p2/q2 (reduced): lcm(p)/gcd(q)
                num, den = 1, 0
                for m in mults:
                    f = Fraction(m)
                    num = num * f.numerator // math.gcd(num, f.numerator)
                    den = math.gcd(den, f.denominator)
                mult = Decimal(num) / Decimal(den)
        if mult is not None and mult <= 0:
            raise SchemaError(
                f"multipleOf at {path or '/'} must be positive", path=path, keyword="multipleOf"
            )
        if mult is not None and want_int and not want_frac and mult != mult.to_integral_value():
            # an integer is a multiple of p/q (reduced) exactly when it is a multiple of p
            mult = Decimal(Fraction(mult).numerator)
        if mult is not None and mult == mult.to_integral_value():
            want_frac = False  # a multiple of an integer is an integer
            if not want_int:
                return NEVER
        nonint = not want_int and want_frac
        if nonint and mult is not None:
            self.unsupported("multipleOf", path, "on non-integer numbers is not supported")
            mult = None
        # split the range around excluded values
        ranges = [(lo, lox, hi, hix)]
        for x in sorted(set(not_vals)):
            nr = []
            for a, ax, b, bx in ranges:
                inside = (a is None or x > a or (x == a and not ax)) and (
                    b is None or x < b or (x == b and not bx)
                )
                if not inside:
                    nr.append((a, ax, b, bx))
                    continue
                nr.append((a, ax, x, True))
                nr.append((x, True, b, bx))
            ranges = nr
        # a pure function of these (Decimals by their text: 1 and 1.0 are different keys);
        # most schemas repeat a few (plain "integer" and "number" above all)
        memo_key = (
            want_int,
            want_frac,
            None if mult is None else str(mult),
            self.int_zero_frac,
            tuple((_dtext(a), ax, _dtext(b), bx) for a, ax, b, bx in ranges),
            tuple(sorted(set(map(str, not_mults)))),
        )
        got = _NUMBER_MEMO.get(memo_key)
        if got is not None:
            return got
        out = []
        try:
            for a, ax, b, bx in ranges:
                if want_int and not want_frac:
                    int_mult = int(mult) if mult is not None else None
                    out.append(
                        numeric.integer_regex(
                            a,
                            ax,
                            b,
                            bx,
                            int_mult,
                            zero_frac=self.int_zero_frac,
                            exponent=not not_mults,
                        )
                    )
                elif nonint:
                    out.append(
                        numeric.NON_INTEGER
                        if a is None and b is None
                        else numeric.decimal_range(a, ax, b, bx, None, nonint=True)
                    )
                else:
                    out.append(numeric.number_regex(a, ax, b, bx, mult))
        except numeric.UnsupportedNumeric as e:
            self.unsupported("multipleOf", path, f"cannot be compiled exactly ({e})")
            return alt(
                *(
                    numeric.number_regex(a, ax, b, bx)
                    if want_frac
                    else numeric.integer_regex(a, ax, b, bx)
                    for (a, ax, b, bx) in ranges
                )
            )
        got = alt(*out)
        if not_mults:
            try:
                got = numeric.non_multiples(got, not_mults)
            except numeric.UnsupportedNumeric as e:
                self.unsupported("not", path, f"cannot negate multipleOf ({e})")
        if len(_NUMBER_MEMO) >= _NUMBER_MEMO_MAX:
            _NUMBER_MEMO.clear()
        _NUMBER_MEMO[memo_key] = got
        return got

    # ------------------------------------------------------------ strings
    def _string_chars(self, parts, counted_ok=False):
        """The decoded-string language (code-point regex) of the string constraints.

        ``counted_ok`` (a string value, not a key): a length bound that would be large to
        unroll (over ``_UNROLL_LENGTH``, or over the budget with a pattern or format) may come
        back as a ``counted`` node, which the engine enforces with a counter in the lexer
        state (strings.counted_chars)."""
        lo, hi = 0, None
        langs = []
        not_vals = []
        path = parts[0].path if parts else ""
        for p in parts:
            n = p.node
            if "minLength" in p.live:
                lo = max(lo, _count(p, "minLength", n["minLength"]))
            if "maxLength" in p.live:
                hi = (
                    _count(p, "maxLength", n["maxLength"])
                    if hi is None
                    else min(hi, _count(p, "maxLength", n["maxLength"]))
                )
            if "pattern" in p.live:
                langs.append(("pattern", p.path, n["pattern"]))
            if "format" in p.live and isinstance(n["format"], str):
                try:
                    rx = format_regex(n["format"])
                except KeyError:
                    self.unsupported("format", p.path, f"{n['format']!r} is not supported")
                    rx = None
                except Exception as e:  # pragma: no cover - regex module failures
                    raise SchemaError(
                        f"format at {p.path or '/'}: {e}", path=p.path, keyword="format"
                    ) from None
                if rx is not None:
                    langs.append(("format", p.path, rx))
            if "__not_enum__" in p.live:
                not_vals += [x for x in n["__not_enum__"] if isinstance(x, str)]
            if "__not_pattern__" in p.live:
                langs += [("not", p.path, x) for x in n["__not_pattern__"]]
            if "__not_format__" in p.live:
                langs += [
                    ("notformat", p.path, format_superset_regex(x)) for x in n["__not_format__"]
                ]
        regexes = []
        negated = []
        seen = set()
        for kind, ppath, v in langs:
            if kind in ("pattern", "not"):
                if (kind, v) in seen:
                    continue
                seen.add((kind, v))
                # a string that must not match: outside what either reading matches
                rx = self._pattern(v, ppath, "max" if kind == "not" else "min")
                if rx is None:
                    continue
            else:
                rx = v
            (negated if kind in ("not", "notformat") else regexes).append((kind, ppath, rx))
        if len(regexes) > 1 or negated:
            return self._string_automaton(regexes, negated, lo, hi, not_vals, path)
        chars = regexes[0][2] if regexes else strings.ANY_STRING
        if hi is not None and lo > hi:
            return NEVER  # minLength above maxLength (e.g. a branch and a negated one)
        if lo > 0 or hi is not None:
            try:
                if counted_ok and not not_vals and max(lo, hi or 0) > _UNROLL_LENGTH:
                    raise RegexBudgetError("a long bound: counted, not unrolled")
                chars = restrict_length(chars, lo, hi)
            except RegexBudgetError:
                got = strings.counted_chars(chars, lo, hi) if counted_ok and not not_vals else None
                if got is not None:  # the engine counts code points (strings.counted_chars)
                    return got
                kw = "maxLength" if hi is not None else "minLength"
                what = (
                    regexes[0][0]
                    if regexes
                    else "values excluded by not/enum"
                    if not_vals
                    else "its other constraints"
                )
                self.unsupported(kw, path, f"together with {what} is too large to compile exactly")
        if not_vals:
            chars = minus_finite(chars, not_vals)
        return chars

    def _string_automaton(self, regexes, negated, lo, hi, not_vals, path):
        """Several patterns/formats on one string (an intersection), or ``not: {pattern}``
        (a complement), as one DFA over code points (see .automata); over the budget, the
        usual SchemaError naming the keyword."""
        kind, ppath = regexes[1][:2] if len(regexes) > 1 else negated[0][:2]
        kw = "not" if kind in ("not", "notformat") else kind
        ck = (
            tuple(id(rx) for _, _, rx in regexes),
            tuple(id(rx) for _, _, rx in negated),
            lo,
            hi,
            tuple(sorted(not_vals)),
        )
        got = self.algebra_cache.get(ck)
        if got is not None:
            return got
        self.keep.append((regexes, negated))
        try:
            ds = [automata.to_dfa(rx) for _, _, rx in regexes]
            ds += [automata.complement(automata.to_dfa(rx)) for _, _, rx in negated]
            d = automata.intersect_all(ds)
            if lo > 0 or hi is not None:
                d = automata.restrict_length(d, lo, hi)
            if not_vals:
                d = automata.minus_finite(d, not_vals)
        except RegexBudgetError:
            what = (
                "combined with another pattern/format (regex intersection)"
                if len(regexes) > 1
                else "of a pattern (regex complement)"
            )
            self.unsupported(kw, ppath, f"{what} is too large to compile exactly")
            return strings.ANY_STRING
        self.algebra_cache[ck] = d.node()
        return self.algebra_cache[ck]

    def _pattern(self, pattern, path, reading: str = "min"):
        """The code-point language of a ``pattern`` (search semantics). Validators run it
        as ECMA-262 or with Python's ``re``, which differ on a few characters (``.`` and
        ``\\r``/U+2028/U+2029, ``$`` before a final newline, ``\\s``/``\\d``/``\\w``):
        ``reading="min"`` is what both readings match (for a string that must match),
        ``"max"`` what either matches (for one that must not: its complement matches
        under neither)."""
        from ...errors import GrammarError
        from ..regex import parse_regex

        if not isinstance(pattern, str):
            raise SchemaError(
                f"pattern at {path or '/'} is not a string", path=path, keyword="pattern"
            )
        ck = pattern if reading == "min" else (pattern, reading)
        got = self.pattern_cache.get(ck)
        if got is not None:
            return got
        portable = True if reading == "min" else "max"
        try:
            split = _split_lookaheads(pattern)
            if split is None:
                rx = parse_regex(pattern, syntax="ecma", search=True, portable=portable)
            else:
                rx = self._lookahead_pattern(split, parse_regex, reading)
        except (GrammarError, ValueError) as e:
            self.unsupported(
                "pattern", path, f"{pattern!r} cannot be compiled: " f"{str(e).splitlines()[0]}"
            )
            return None
        self.pattern_cache[ck] = rx
        return rx

    def _pattern_max(self, pattern, rx_min, path):
        """The "max" reading of a pattern already compiled (``rx_min``), or ``rx_min``
        itself where the two readings are the same regex (most patterns without ``.``,
        ``$`` or class escapes)."""
        rx = self._pattern(pattern, path, "max")
        return rx_min if rx is None or rx == rx_min else rx

    @staticmethod
    def _lookahead_pattern(split, parse_regex, reading: str = "min"):
        """``^(?=A)(?!B)R`` = ``^R`` and ``^A`` and not ``^B`` (search semantics each): an
        intersection of DFAs (see .automata); over the budget a RegexBudgetError (a
        ValueError: the pattern is refused). A negative lookahead takes the other reading
        than the rest (see :meth:`_pattern`)."""
        pos, neg, rest = split
        other = "max" if reading == "min" else "min"

        def dfa(p, r):
            portable = True if r == "min" else "max"
            return automata.to_dfa(parse_regex(p, syntax="ecma", search=True, portable=portable))

        ds = [dfa("^" + rest, reading)] + [dfa(f"^(?:{p})", reading) for p in pos]
        ds += [automata.complement(dfa(f"^(?:{p})", other)) for p in neg]
        return automata.intersect_all(ds).node()

    def _pattern_key_regex(self, pattern, path):
        rx = self._pattern(pattern, path)
        return rx

    # ------------------------------------------------------------ arrays
    def _array(self, parts) -> int | None:
        lo = 0
        hi: int | None = None
        contains = []
        unique = False
        path = parts[0].path if parts else ""
        for p in parts:
            n = p.node
            if "minItems" in p.live:
                lo = max(lo, _count(p, "minItems", n["minItems"]))
            if "maxItems" in p.live:
                hi = (
                    _count(p, "maxItems", n["maxItems"])
                    if hi is None
                    else min(hi, _count(p, "maxItems", n["maxItems"]))
                )
            if "contains" in p.live:
                mn = _count(p, "minContains", n.get("minContains", 1))
                mx = n.get("maxContains")
                mx = _count(p, "maxContains", mx) if mx is not None else None
                contains.append((p.sub(n["contains"], "contains"), mn, mx, p.path))
            if "uniqueItems" in p.live and n["uniqueItems"] is True:
                unique = True
            for kw in ("unevaluatedItems",):
                if kw in p.live and not _trivial(n[kw]):
                    self.unsupported(kw, p.path)
        prefix = self._array_positions(parts)
        rest = self._array_rest(parts)
        if hi is not None and lo > hi:
            return None
        if unique and (hi is None or hi > 1):
            got = unique_items.unique_array(self, prefix, rest, lo, hi, contains, path)
            if got is not unique_items.PLAIN:
                return got
        if len(contains) > 1:
            several = self._several_contains(prefix, rest, lo, hi, contains, path)
            if several is not PLAIN_ARRAY:
                return several
            contains = contains[:1]
        k = len(prefix)
        if hi is not None and k > hi:
            prefix = prefix[:hi]
            k = hi
        rest_sym: int | None = self.value(rest)
        pos_syms = [self.value(ps) for ps in prefix]
        if any(p.node is False for p in rest):
            rest_sym = None
        cont = None
        if contains:
            cpart, cmin, cmax, cpath = contains[0]
            if cmax is not None and cmin > cmax:
                return None
            cpos = [self.value(ps + [cpart]) for ps in prefix]
            crest = self.value(rest + [cpart])
            npos = nrest = None
            if cmax is not None:
                try:
                    ncp = self.neg_part(cpart)
                except _CannotNegate as e:
                    self.unsupported(
                        "maxContains", cpath, f"needs the negation of contains " f"({e.keyword})"
                    )
                    cmax = None
                else:
                    npos = [self.value(ps + [ncp]) for ps in prefix]
                    nrest = self.value(rest + [ncp])
            cont = (cmin, cmax, cpos, crest, npos, nrest)
        return self._array_rules(pos_syms, rest_sym, lo, hi, cont, path)

    def _several_contains(self, prefix, rest, lo, hi, contains, path):
        """Several ``contains`` on one array, each with a ``minContains`` and no
        ``maxContains`` (negated ``items`` write them): the state counts, per contains, the
        items matching it so far (saturated at its minimum), and an item may count toward
        any subset of the contains it satisfies. An item satisfying more than it is counted
        for only makes the count lower, and the array is accepted as soon as some choice
        reaches every minimum: exactly when each contains has enough matches. Returns
        PLAIN_ARRAY (after a SchemaError or, approximate, a warning) where this does not
        apply."""
        where = contains[1][3]
        if any(cmax is not None for _, _, cmax, _ in contains):
            self.unsupported("contains", where, "(several, one with maxContains) is not supported")
            return PLAIN_ARRAY
        mins = tuple(cmin for _, cmin, _, _ in contains)
        nstates = 1
        for m in mins:
            nstates *= m + 1
        if len(contains) > MAX_SEVERAL_CONTAINS or nstates > MAX_COUNT_STATES:
            self.unsupported("contains", where, "(several, with counts too large) is not supported")
            return PLAIN_ARRAY
        k = len(prefix)
        if hi is not None and k > hi:
            prefix = prefix[:hi]
            k = hi
        subsets = range(1 << len(contains))

        def choices(base):
            if any(p.node is False for p in base):
                return []
            out = []
            for sub in subsets:
                extra = [c[0] for i, c in enumerate(contains) if sub >> i & 1]
                inc = tuple(sub >> i & 1 for i in range(len(contains)))
                out.append((self.value(base + extra), inc))
            return out

        pos = [choices(ps) for ps in prefix]
        tail = choices(rest)
        ncap = max(lo, hi or 0, k) if hi is not None else max(lo, k)
        if (ncap + 1) * nstates > MAX_COUNT_STATES and hi is not None:
            raise SchemaError(
                f"minItems/maxItems/contains counts at {path or '/'} are too large",
                path=path,
                keyword="maxItems",
            )
        top = self.nt(f"array@{path or '/'}")
        states: dict = {}
        todo = []

        def state(n, c):
            s = states.get((n, c))
            if s is None:
                s = states[(n, c)] = self.nt(f"arr{n}." + ".".join(map(str, c)))
                todo.append((n, c, s))
            return s

        def step(n, c, inc):
            n2 = n + 1 if hi is not None else min(n + 1, max(lo, k))
            return n2, tuple(min(a + b, m) for a, b, m in zip(c, inc, mins))

        zero = tuple(0 for _ in mins)
        if lo == 0 and not any(mins):
            self.rule(top, [self.LS, self.RS])
        if hi is None or hi > 0:
            for sym, inc in pos[0] if k else tail:
                self.rule(top, [self.LS, sym, state(*step(0, zero, inc))])
        while todo:
            n, c, s = todo.pop()
            if n >= lo and c == mins:
                self.rule(s, [self.RS])
            if hi is not None and n + 1 > hi:
                continue
            for sym, inc in pos[n] if n < k else tail:
                self.rule(s, [self.COMMA, sym, state(*step(n, c, inc))])
        return top

    def _array_positions(self, parts):
        """Per-position conjunctions for the longest prefix among the parts."""
        k = 0
        for p in parts:
            n = p.node
            if "prefixItems" in p.live:
                k = max(k, len(n["prefixItems"]))
            elif "items" in p.live and isinstance(n["items"], list):
                k = max(k, len(n["items"]))
        out = [[] for _ in range(k)]
        for p in parts:
            n = p.node
            if "prefixItems" in p.live:
                pre, tail, tname, pname = (
                    n["prefixItems"],
                    n.get("items") if "items" in p.live else None,
                    "items",
                    "prefixItems",
                )
            elif "items" in p.live and isinstance(n["items"], list):
                pre, tail, tname, pname = (
                    n["items"],
                    n.get("additionalItems") if "additionalItems" in p.live else None,
                    "additionalItems",
                    "items",
                )
            else:
                pre, tail, tname, pname = (
                    [],
                    n.get("items") if "items" in p.live else None,
                    "items",
                    "items",
                )
            for i in range(k):
                if i < len(pre):
                    out[i].append(p.sub(pre[i], f"{pname}/{i}"))
                elif tail is not None:
                    out[i].append(p.sub(tail, tname))
        return out

    def _array_rest(self, parts):
        rest = []
        for p in parts:
            n = p.node
            if "prefixItems" in p.live:
                tail, tname = (n["items"] if "items" in p.live else None), "items"
            elif "items" in p.live and isinstance(n["items"], list):
                tail, tname = (
                    (n["additionalItems"] if "additionalItems" in p.live else None),
                    "additionalItems",
                )
            else:
                tail, tname = (n["items"] if "items" in p.live else None), "items"
            if tail is not None:
                rest.append(p.sub(tail, tname))
        return rest

    def _array_rules(self, pos_syms, rest_sym, lo, hi, cont, path, ls=None) -> int | None:
        """Rules for '[' e1 ',' e2 ... ']' with counted positions (lazy state machine);
        ``ls``: the opening bracket's lexeme (the distinct-items opener for uniqueItems).

        State (i, n, c): i = next prefix position (k = in the tail), n = items so far
        (saturated at max(lo, hi)), c = contains matches so far (saturated).
        """
        k = len(pos_syms)
        ncap = max(lo, hi or 0, k)
        if hi is None and k > lo:
            ncap = k
        if cont is not None:
            cmin, cmax, cpos, crest, npos, nrest = cont
            ccap = max(cmin, (cmax + 1) if cmax is not None else 0)
        else:
            cmin, cmax, ccap = 0, None, 0
        if (ncap + 1) * (ccap + 1) > MAX_COUNT_STATES and hi is not None:
            # only the counts matter beyond the prefix; still too many states
            raise SchemaError(
                f"minItems/maxItems/contains counts at {path or '/'} are too " f"large",
                path=path,
                keyword="maxItems",
            )
        states: dict = {}
        top = self.nt(f"array@{path or '/'}")
        todo = []

        def clip_n(n):
            if hi is None:
                return min(n, max(lo, k))
            return n

        def clip_c(c):
            if cmax is None:
                return min(c, cmin)
            return c

        def state(n, c):
            key = (n, c)
            s = states.get(key)
            if s is None:
                s = self.nt(f"arr{n}.{c}")
                states[key] = s
                todo.append((n, c, s))
                if len(states) > MAX_COUNT_STATES:
                    raise SchemaError(
                        f"array counts at {path or '/'} need too many states",
                        path=path,
                        keyword="maxItems",
                    )
            return s

        def elems(n):
            """(element symbol, contains increment) choices for the item at index n."""
            if cont is None:
                sym = pos_syms[n] if n < k else rest_sym
                return [(sym, 0)] if sym is not None else []
            out = []
            cs = cpos[n] if n < k else crest
            out.append((cs, 1))
            if cmax is not None:
                ns = npos[n] if n < k else nrest
                out.append((ns, 0))
            else:
                sym = pos_syms[n] if n < k else rest_sym
                if sym is not None:
                    out.append((sym, 0))
            return out

        def can_end(n, c):
            return n >= lo and c >= cmin and (cmax is None or c <= cmax)

        def next_ok(n, c, inc):
            if hi is not None and n + 1 > hi:
                return False
            if cmax is not None and c + inc > cmax:
                return False
            return True

        # the real index n is only needed up to k (prefix) and for counting
        ls = self.LS if ls is None else ls
        if lo == 0 and cmin == 0:
            self.rule(top, [ls, self.RS])
        first = []
        for sym, inc in elems(0):
            if next_ok(0, 0, inc):
                first.append((sym, inc))
        for sym, inc in first:
            self.rule(top, [ls, sym, state(clip_n(1), clip_c(inc))])
        while todo:
            n, c, s = todo.pop()
            if can_end(n, c):
                self.rule(s, [self.RS])
            idx = n  # element index of the next item (n is exact below ncap)
            for sym, inc in elems(idx):
                if next_ok(n, c, inc):
                    self.rule(s, [self.COMMA, sym, state(clip_n(n + 1), clip_c(c + inc))])
        return top

    # ------------------------------------------------------------ objects
    def _object(self, parts) -> int | None:
        path = parts[0].path if parts else ""
        declared: dict[str, list] = {}
        order: list[str] = []
        required = set()
        lo = 0
        hi: int | None = None
        pn_parts = []
        has_pattern = []
        addl_explicit = False
        for p in parts:
            n = p.node
            if "properties" in p.live:
                props = n["properties"]
                if not isinstance(props, dict):
                    raise SchemaError(
                        f"properties at {p.path or '/'} is not an object",
                        path=p.path,
                        keyword="properties",
                    )
                for name in props:
                    if name not in declared:
                        declared[name] = []
                        order.append(name)
            if "required" in p.live:
                for name in n["required"]:
                    required.add(name)
                    if name not in declared:
                        declared[name] = []
                        order.append(name)
            for e in n["__some_key__"] if "__some_key__" in p.live else ():
                for a in e["alts"]:  # a name a requirement refers to is a declared one
                    names = [a[1]] if a[0] == "absent" else a[1][1] if a[1][0] == "in" else ()
                    for name in sorted(names):
                        if name not in declared:
                            declared[name] = []
                            order.append(name)
            if "minProperties" in p.live:
                lo = max(lo, _count(p, "minProperties", n["minProperties"]))
            if "maxProperties" in p.live:
                hi = (
                    _count(p, "maxProperties", n["maxProperties"])
                    if hi is None
                    else min(hi, _count(p, "maxProperties", n["maxProperties"]))
                )
            if "propertyNames" in p.live:
                pn_parts.append(p.sub(n["propertyNames"], "propertyNames"))
            if "patternProperties" in p.live and n["patternProperties"]:
                has_pattern.append(p)
            if (
                "additionalProperties" in p.live
                or "patternProperties" in p.live
                or ("unevaluatedProperties" in p.live)
            ):
                addl_explicit = True
            if "unevaluatedProperties" in p.live and not _trivial(n["unevaluatedProperties"]):
                self.unsupported("unevaluatedProperties", p.path)
        if hi is not None and lo > hi:
            return None
        reqs = self._requirements(parts, path)
        # compile patterns once
        pats: dict[int, list] = {}
        for p in has_pattern:
            lst = []
            for pat, s in p.node["patternProperties"].items():
                rx = self._pattern(pat, f"{p.path}/patternProperties")
                if rx is None:
                    continue
                lst.append((pat, rx, p.sub(s, f"patternProperties/{pat}")))
            pats[id(p)] = lst
        # key-name constraints
        pn_chars = None
        if pn_parts:
            pn_names: list[str] = []
            pn_chars = self._key_language(pn_parts, pn_names)
            if not pn_names and pn_chars != NEVER:
                pn_names = distinct_keys.finite_names(self, pn_chars) or []
            if len(pn_names) > distinct_keys.MAX_FINITE_NAMES:
                pn_names = []  # a long enum keeps its key lexeme (and repeats, docs/limits.md)
            # a few names (enum, const, a bounded pattern): each becomes a declared key,
            # which the object's rules write at most once (a key language lets one repeat)
            for name in pn_names:
                if name not in declared:
                    declared[name] = []
                    order.append(name)
        # per declared key: the conjunction of what every part says about it
        # (name, the Parts that hold for its value or None when it is forbidden, required)
        entries: list[tuple[str, list | None, bool]] = []
        # what each part says about keys, read once (not once per declared name: objects
        # merged from many parts with many names made Part.has millions of calls); a part's
        # additionalProperties Part is built once and shared by the names it covers
        by_part = [
            (
                p,
                p.node["properties"] if "properties" in p.live else {},
                pats.get(id(p), []),
                p.sub(p.node["additionalProperties"], "additionalProperties")
                if "additionalProperties" in p.live
                else None,
            )
            for p in parts
        ]
        # with more than two parts: the parts that say something about a name they do not
        # declare (patterns, additionalProperties), and per name the parts that declare it;
        # each name visits only those, in part order (the conjunction as before), not every
        # part -- a oneOf merged with its object made names x parts iterations (o32934:
        # 30,000); one or two parts (most objects) visit them all, as the index costs more
        declaring: dict[str, list[int]] | None = None
        in_properties: Collection[str]
        if len(by_part) > 2:
            general = [i for i, e in enumerate(by_part) if e[2] or e[3] is not None]
            declaring = {}
            for i, (_, props, _, _) in enumerate(by_part):
                for name in props:
                    declaring.setdefault(name, []).append(i)
            in_properties = declaring.keys()  # _declared_in_properties(parts)
        else:
            in_properties = self._declared_in_properties(parts) if self.strict else set()
        for name in order:
            conj = []
            visit = by_part
            if declaring is not None:
                own = declaring.get(name, ())
                if not general:
                    visit = [by_part[i] for i in own]
                elif not own:
                    visit = [by_part[i] for i in general]
                else:
                    visit = [by_part[i] for i in sorted({*own, *general})]
            for p, props, plist, addl in visit:
                if name in props:
                    conj.append(p.sub(props[name], f"properties/{name}"))
                matched = False
                for pat, rx, sp in plist:
                    if matches(rx, name):
                        conj.append(sp)
                        matched = True
                    elif matches(self._pattern_max(pat, rx, p.path), name):
                        # the readings disagree on this name (see _pattern): it must
                        # satisfy the pattern's schema and additionalProperties both
                        conj.append(sp)
                if name not in props and not matched and addl is not None:
                    conj.append(addl)
            if not conj and self.strict and not addl_explicit and name not in in_properties:
                conj = [Part(False, "", path)]
            if pn_chars is not None and not matches(pn_chars, name):
                conj = [Part(False, "", path)]
            forbidden = any(c.node is False for c in conj)
            if forbidden:
                if name in required:
                    return None
                entries.append((name, None, False))
                continue
            entries.append((name, conj, name in required))
        extra = self._extras(parts, pats, has_pattern, addl_explicit, set(order), pn_chars, path)
        # a kind of extra key with a few names (a pattern's region like ^(foo|bar)$ or ^x.$
        # beside declared properties, a key language cut down by propertyNames): each name
        # becomes a declared key, which the object's rules write at most once, after the
        # schema's properties in the names' order (as a small propertyNames does)
        if extra:
            kept_extra = []
            for e in extra:
                names = distinct_keys.small_names(self, e[0])
                if names is None:
                    kept_extra.append(e)
                    continue
                for name in names:
                    entries.append((name, e[1], False))
            extra = kept_extra or None
        kw = (
            "propertyNames"
            if pn_chars is not None
            else "patternProperties"
            if has_pattern
            else "additionalProperties"
        )
        if not reqs:
            live = [(n, None if c is None else {0: [self.value(c)]}, r, 0) for n, c, r in entries]
            kinds = [(0, lx, self.value(v)) for lx, v, _ in extra or ()]
            return self._object_rules(live, kinds, 0, 0, lo, hi, path, kw)
        return self._object_witnessed(entries, extra, reqs, lo, hi, path, kw)

    def _requirements(self, parts, path) -> list:
        """The ``__some_key__`` requirements of the parts (negated object keywords), each
        ``(alternatives, keyword)``: ``("member", keys, value Part)`` -- a member whose key
        is in ``keys`` (``("in", names)``, ``("out", names)``: every key but those, or
        ``("re", code-point regex)``) and whose value satisfies the Part -- or
        ``("absent", name)``."""
        out, seen = [], set()
        for p in parts:
            if "__some_key__" not in p.live:
                continue
            for e in p.node["__some_key__"]:
                if id(e) in seen:
                    continue
                seen.add(id(e))
                alts = []
                for a in e["alts"]:
                    if a[0] == "member":
                        alts.append(("member", a[1], p.sub(a[2], "__some_key__")))
                    else:
                        alts.append(a)
                out.append((alts, e["kw"]))
        return out

    def _object_witnessed(self, entries, extra, reqs, lo, hi, path, kw) -> int | None:
        """An object that must also meet every requirement j of ``reqs`` (see
        :meth:`_requirements`) through one of its alternatives. The object rules carry the
        set of requirements met so far (bits) and close only once all are: a declared
        property comes in variants, one per set of requirements its value meets too (its
        value satisfies theirs); skipping an optional declared name meets the requirements
        that want it absent; an extra key meets those whose key set holds it with any
        value. Meeting more is never worse, so each variant takes every requirement it
        meets for free."""

        def in_keys(keys, name):
            kind, ks = keys
            if kind == "in":
                return name in ks
            if kind == "out":
                return name not in ks
            return matches(ks, name)

        # a requirement with one alternative about one name is no choice: the name is
        # forbidden, or required with the value also satisfying the alternative's
        unit = []
        entries = list(entries)
        for alts, kw in reqs:
            a = alts[0] if len(alts) == 1 else None
            if a is not None and a[0] == "member" and a[1][0] == "in" and len(a[1][1]) == 1:
                name = next(iter(a[1][1]))
            elif a is not None and a[0] == "absent":
                name = a[1]
            else:
                unit.append((alts, kw))
                continue
            i = next(k for k, e in enumerate(entries) if e[0] == name)
            _, conj, req = entries[i]
            if a[0] == "absent":
                if req:
                    return None
                entries[i] = (name, None, False)
            else:
                if conj is None:
                    return None
                entries[i] = (name, conj + [a[2]], True)
        reqs = unit
        # requirements every object meets are dropped first: a name wanted absent that
        # cannot occur, a required property that meets it with any value
        kept = []
        for alts, kw in reqs:
            met = False
            for a in alts:
                for name, conj, req in entries:
                    if a[0] == "absent":
                        met = a[1] == name and conj is None
                    else:
                        met = req and conj is not None and _trivial(a[2].node)
                        met = met and in_keys(a[1], name)
                    if met:
                        break
                if met:
                    break
            if not met:
                kept.append((alts, kw))
        reqs = kept
        if not reqs:
            live = [(n, None if c is None else {0: [self.value(c)]}, r, 0) for n, c, r in entries]
            kinds = [(0, lx, self.value(v)) for lx, v, _ in extra or ()]
            return self._object_rules(live, kinds, 0, 0, lo, hi, path, kw)
        if len(reqs) > MAX_WITNESSES:
            self.unsupported(
                reqs[MAX_WITNESSES][1],
                path,
                f"under not/oneOf/if needs an object meeting {len(reqs)} negated conditions "
                f"at once (at most {MAX_WITNESSES}: each doubles the object's states)",
            )
            reqs = reqs[:MAX_WITNESSES]
        nw = len(reqs)
        static = 0  # requirements met by every object: a name wanted absent that cannot occur
        live = []
        for name, conj, req in entries:
            absent = 0
            free = 0
            choices: dict = {}  # requirement -> value Parts of its alternatives for this name
            for j, (alts, _) in enumerate(reqs):
                for a in alts:
                    if a[0] == "absent":
                        if a[1] == name:
                            absent |= 1 << j
                    elif in_keys(a[1], name):
                        if _trivial(a[2].node):
                            free |= 1 << j
                        else:
                            choices.setdefault(j, []).append(a[2])
            if conj is None:
                static |= absent
                live.append((name, None, req, 0))
                continue
            variants: dict = {free: [self.value(conj)]}
            opt_js = [j for j in choices if not free >> j & 1]
            for mask in range(1, 1 << len(opt_js)):
                js = [opt_js[k] for k in range(len(opt_js)) if mask >> k & 1]
                combos: list[list] = [[]]
                for j in js:
                    combos = [c + [vp] for c in combos for vp in choices[j]]
                bits = free | sum(1 << j for j in js)
                for c in combos:
                    vparts = conj + c
                    ex = self._expand(vparts)
                    if ex is None or not self._part_types(ex):
                        continue  # e.g. integer and not integer
                    variants.setdefault(bits, []).append(self.value(vparts))
            live.append((name, variants, req, absent))
        kinds = []
        for lx, vparts, (lang, declared) in extra or ():
            kinds += self._witness_kinds(lx, vparts, lang, declared, reqs, path)
        full = (1 << nw) - 1
        reach = static
        for _, vs, _, absent in live:
            reach |= absent
            for bits in vs or ():
                reach |= bits
        for bits, _, _ in kinds:
            reach |= bits
        if reach != full:  # some requirement no object can meet
            return None
        return self._object_rules(live, kinds, nw, static, lo, hi, path, kw)

    def _witness_kinds(self, lx, vparts, lang, declared, reqs, path) -> list:
        """An extra key kind (keys ``lang`` minus ``declared``, values ``vparts``) split
        by the requirements its keys meet: ``(bits, key lexeme, value symbol)``. An
        alternative that takes any value is met by any extra key in its key set. One that
        wants a value (``not: {additionalProperties: S}``: an extra key whose value fails
        S) is met by a kind of its own, its keys written with such a value, where extra keys
        never repeat (distinct items, distinct_keys: no later copy can take the key's place,
        for a parser keeps one); where they are of a key language that can run out, it is
        refused."""
        outs: dict = {}  # requirement -> names its "out" alternatives leave out (intersected)
        names_in: dict = {}  # requirement -> names of its "in" alternatives
        res: dict = {}  # requirement -> regex key sets
        valued: list = []  # (bit, key lexeme, value Part): members that want a value
        distinct = None  # whether these extra keys never repeat (decided when first needed)
        for j, (alts, kw) in enumerate(reqs):
            for a in alts:
                if a[0] != "member":
                    continue
                if not _trivial(a[2].node):
                    try:
                        on_extra_key = self._key_lexeme_within(lang, declared, [a[1]])
                    except RegexBudgetError:
                        self.unsupported(kw, path, "needs a key automaton too large to compile")
                        continue
                    if not on_extra_key:
                        continue
                    if distinct is None:
                        distinct = distinct_keys.key_item(self, lx) != lx
                    if distinct and distinct_keys.key_item(self, on_extra_key) != on_extra_key:
                        valued.append((1 << j, on_extra_key, a[2]))
                    else:
                        self.unsupported(
                            kw,
                            path,
                            "under not/oneOf/if needs an extra key whose value fails it, and "
                            "these extra keys are of a key language that can run out (the "
                            "key may be used with another value first)",
                        )
                    continue
                kind, ks = a[1]
                if kind == "out":
                    outs[j] = ks if j not in outs else outs[j] & ks
                elif kind == "in":
                    names_in[j] = names_in.get(j, frozenset()) | ks
                else:
                    res.setdefault(j, []).append(ks)
        val = self.value(vparts)
        out = [(0, lx, val)]
        for bit, key, want in valued:
            if self._expand(vparts + [want]) is not None:
                out.append((bit, key, self.value(vparts + [want])))
        if not (outs or names_in or res):
            return out
        named = set().union(*outs.values(), *names_in.values()) - set(declared)
        named = {k for k in named if matches(lang, k)} if named else set()

        def bits_of(name):
            b = 0
            for j in range(len(reqs)):
                if (j in outs and name not in outs[j]) or name in names_in.get(j, ()):
                    b |= 1 << j
                elif any(matches(r, name) for r in res.get(j, ())):
                    b |= 1 << j
            return b

        by_bits: dict = {}
        for name in sorted(named):  # each named key alone: a literal
            by_bits.setdefault(bits_of(name), []).append(name)
        for b, names in by_bits.items():
            if b:
                lxn = self.b.lexeme(
                    "KEY", strings.string_lexeme_regex(strings.literal_strings(names))
                )
                out.append((b, lxn, val))
        # every other key: the "out" requirements, and subsets of the regex ones
        base_bits = sum(1 << j for j in outs)
        rjs = [j for j in res if not base_bits >> j & 1]
        rest = frozenset(set(declared) | named)
        try:
            for mask in range(1 << len(rjs)):
                js = [rjs[k] for k in range(len(rjs)) if mask >> k & 1]
                b = base_bits | sum(1 << j for j in js)
                if not b:
                    continue
                sets = [("re", alt(*res[j])) for j in js]
                lxb = self._key_lexeme_within(lang, rest, sets)
                if lxb:
                    out.append((b, lxb, val))
        except RegexBudgetError:
            self.unsupported("not", path, "needs a key automaton too large to compile")
        return out

    def _declared_in_properties(self, parts):
        out = set()
        for p in parts:
            if "properties" in p.live:
                out |= set(p.node["properties"])
        return out

    def _key_language(self, pn_parts, names: list | None = None):
        """The code-point language of property names allowed by propertyNames; when it is
        a finite set of names (``enum``, ``const``), they are also appended to ``names``."""
        exp = self._expand(pn_parts)
        if exp is None:
            return NEVER
        if any("not" in q.live for q in exp):
            negated = [self._key_not(q) for q in exp if "not" in q.live]
            if any(n is None for n in negated):
                return NEVER
            exp = [q.without("not") for q in exp] + [n for n in negated if n is not True]
        for q in exp:
            for kw in q.node:
                if kw in q.skip or kw in ANNOTATIONS or kw not in _HANDLED:
                    continue
                if kw not in (
                    "type",
                    "enum",
                    "const",
                    "minLength",
                    "maxLength",
                    "pattern",
                    "format",
                    "__not_enum__",
                    "__not_pattern__",
                    "__not_format__",
                ):
                    self.unsupported("propertyNames", q.path, f"with {kw} is not supported")
        types = set(ALL_TYPES)
        finite: list | None = None
        for q in exp:
            if "type" in q.live:
                types &= self._types_of(q.node["type"])
            for kw in ("enum", "const"):
                if kw in q.live:
                    vs = q.node[kw] if kw == "enum" else [q.node[kw]]
                    vs = [v for v in vs if isinstance(v, str)]
                    finite = vs if finite is None else [v for v in finite if v in vs]
        if "string" not in types:
            return NEVER
        chars = self._string_chars(exp)
        if finite is not None:
            finite = [v for v in finite if matches(chars, v)]
            if names is not None:
                names.extend(dict.fromkeys(finite))
            return strings.literal_strings(finite)
        return chars

    def _key_not(self, q: Part):
        """``not`` inside ``propertyNames``, over one string keyword (``enum``, ``const``,
        ``pattern``, ``format``) beside ``type`` and annotations: the part that keeps the keys
        failing it (``__not_enum__`` / ``__not_pattern__`` / ``__not_format__``, as
        :meth:`negate` writes them), True when the operand fails every key, None when it
        holds for every key."""
        path = f"{q.path}/not"
        ops = self._expand([q.sub(q.node["not"], "not")])
        if ops is None:
            return True  # not false
        conds = []
        for o in ops:
            for kw in o.node:
                if kw in o.skip or kw in ANNOTATIONS or kw not in _HANDLED:
                    continue
                if kw == "type":
                    if "string" not in self._types_of(o.node["type"]):
                        return True  # no key is of the operand's types: it always fails
                    continue
                conds.append((kw, o))
        if not conds:
            return None  # the operand holds for every key
        if len(conds) > 1 or conds[0][0] not in ("enum", "const", "pattern", "format"):
            self.unsupported(
                "propertyNames",
                path,
                "with not over anything but one enum, const, pattern or format is not supported",
            )
            return True
        kw, o = conds[0]
        v = o.node[kw]
        if kw in ("enum", "const"):
            node = {"__not_enum__": list(v) if kw == "enum" else [v]}
        elif kw == "pattern":
            node = {"__not_pattern__": [v]}
        else:
            try:
                if not self._format_can_fail(v, path):
                    return None  # holds for every key
            except _CannotNegate:
                self.unsupported("format", path, f"{v!r} cannot be negated")
                return True
            node = {"__not_format__": [v]}
        return Part(self.synth(node), o.base, path)

    def _format_can_fail(self, v, path: str) -> bool:
        """Whether ``format: v`` can fail under a negation, where ``__not_format__`` (the
        complement of FORMAT_SUPERSETS) is what fails it. False for an annotation (an unknown
        format) and for a format validators check only with an optional library (formats.py:
        it never fails for a validator without it; recorded for compile_json_schema's error),
        or one the document's draft does not define (FORMAT_DRAFTS: an annotation there);
        _CannotNegate for a format with no safe complement."""
        try:
            if not isinstance(v, str) or format_regex(v) is None:
                return False
        except KeyError:
            raise _CannotNegate("format") from None
        if v in LIBRARY_FORMATS:
            self.library_format_negations.append((path, v))
            return False
        if self.draft not in FORMAT_DRAFTS.get(v, (self.draft,)):
            self.draft_format_negations.append((path, v))
            return False
        if format_superset_regex(v) is None:
            raise _CannotNegate("format")
        return True

    def _extras(self, parts, pats, has_pattern, addl_explicit, declared: set, pn_chars, path):
        """The kinds of keys beyond the declared ones, or None: ``(key lexeme, value parts,
        (language, names))``, the keys being the code-point language minus the names (kept
        apart so that a ``__some_key__`` requirement can split the keys cheaply)."""
        keys_lang = pn_chars if pn_chars is not None else strings.ANY_STRING
        addls = [
            p.sub(p.node["additionalProperties"], "additionalProperties")
            for p in parts
            if "additionalProperties" in p.live
        ]
        if not has_pattern:
            if self.strict and not addl_explicit:
                return None
            if any(a.node is False for a in addls):
                return None
            lx = self._key_lexeme_minus(keys_lang, declared)
            if lx == 0:
                return None
            return [(lx, addls, (keys_lang, declared))]
        # pattern properties
        p = has_pattern[0]
        plist = pats.get(id(p), [])
        own_addl = (
            p.node["additionalProperties"]
            if "additionalProperties" in p.live
            else (False if self.strict else True)
        )
        others = [a for a in addls if a.path != p.path + "/additionalProperties"]
        if any(a.node is False for a in others):
            return None
        simple = len(has_pattern) == 1 and pn_chars is None
        if simple and (own_addl is False or (isinstance(own_addl, dict) and not plist)):
            if not plist:
                if own_addl is False:
                    return None
            schemas = {_json_key(sp.node) for _, _, sp in plist}
            if len(schemas) == 1:
                union = alt(*(rx for _, rx, _ in plist))
                lx = self._key_lexeme_minus(union, declared)
                if lx == 0:
                    return None
                return [(lx, [plist[0][2]] + others, (union, declared))]
        elif simple:
            # additional keys allowed besides the patterns
            own = p.sub(own_addl, "additionalProperties")
            if all(_trivial(sp.node) for _, _, sp in plist) and _trivial(own_addl):
                lx = self._key_lexeme_minus(keys_lang, declared)
                return [(lx, others, (keys_lang, declared))] if lx else None
            if all(_json_key(sp.node) == _json_key(own_addl) for _, _, sp in plist):
                lx = self._key_lexeme_minus(keys_lang, declared)
                return [(lx, [own] + others, (keys_lang, declared))] if lx else None
        return self._pattern_regions(parts, pats, has_pattern, keys_lang, declared, path)

    def _pattern_regions(self, parts, pats, has_pattern, keys_lang, declared, path):
        """Extra keys under ``patternProperties``, exactly: the product automaton of the key
        language (minus the declared names) and every pattern splits the keys by the set of
        patterns they match; a key matching some patterns of a part must satisfy all their
        schemas, a key matching none of a part's patterns its ``additionalProperties``
        (every part's conditions hold together). Keys with the same conjunction share one
        key lexeme (a ``dfa`` node through the JSON-escape encoding)."""
        pattern_parts = [q for q in has_pattern]
        plain_addl = [
            q.sub(q.node["additionalProperties"], "additionalProperties")
            for q in parts
            if "additionalProperties" in q.live and q not in pattern_parts
        ]
        flat = []  # (index of the pattern part, Part of the pattern's schema, regex)
        gap: list = []  # characters the readings of some pattern disagree on (see _pattern)
        for k, q in enumerate(pattern_parts):
            for pat, rx, sp in pats.get(id(q), []):
                flat.append((k, sp, rx))
                gap += reading_gap(pat)
        own = []
        for q in pattern_parts:
            if "additionalProperties" in q.live:
                own.append(q.sub(q.node["additionalProperties"], "additionalProperties"))
            else:
                own.append(Part(False if self.strict else True, q.base, q.path))
        where = pattern_parts[0].path
        # the same object in several conjunctions (oneOf/if branches) splits its keys the
        # same way: the product automaton is built once per compile
        ck = (
            tuple((k, sp.key(), id(rx)) for k, sp, rx in flat),
            tuple(o.key() for o in own),
            tuple(a.key() for a in plain_addl),
            id(keys_lang),
            frozenset(declared),
        )
        got = self.region_cache.get(ck)
        if got is not None:
            return got[1]
        self.keep.append(keys_lang)
        try:
            keys = automata.minus_finite(automata.to_dfa(keys_lang), declared)
            if gap:
                # validators read a pattern as ECMA-262 or with Python's re, which disagree
                # on a few characters ("a\n" matches "^a$" for Python only, "\r" matches "."
                # for Python only): keys with such characters are not generated, so every
                # key lands in the same region under both readings (a completeness gap on
                # those keys, never a soundness one)
                plain = rep(cps(negate_ranges(normalize_ranges(gap))), 0, None)
                keys = automata.intersect(keys, automata.to_dfa(plain))
            ds = [keys] + [automata.complete(automata.to_dfa(rx)) for _, _, rx in flat]

            def classify(flags):
                if not flags[0]:
                    return None
                hit = frozenset(i for i, f in enumerate(flags[1:]) if f)
                conj = []
                for k in range(len(pattern_parts)):
                    mine = [flat[i][1] for i in sorted(hit) if flat[i][0] == k]
                    conj += mine if mine else [own[k]]
                conj += plain_addl
                if any(c.node is False for c in conj):
                    return False
                return tuple(sorted({(c.path, id(c.node)): c for c in conj}.items()))

            regions = automata.split_by(ds, classify)
            out = []
            for label, d in sorted(regions.items(), key=_region_order):
                if label is False or d.is_empty():
                    continue
                node = automata.node_of(d)  # one node: its automaton built once
                lx = self.b.lexeme("KEY", strings.string_lexeme_regex(node))
                self.key_chars.setdefault(lx, node)
                out.append((lx, [c for _, c in label], (node, frozenset())))
            self.region_cache[ck] = (keys_lang, out or None)
        except RegexBudgetError:
            self.unsupported(
                "patternProperties",
                where,
                "with other additional properties allowed: the automaton that splits the "
                "keys by pattern is too large to compile exactly",
            )
            return None
        return out or None

    def _key_lexeme_within(self, lang, declared, key_sets) -> int:
        """The lexeme of the keys of ``lang`` other than ``declared`` that also lie in every
        one of ``key_sets`` (0: none). A key set "every key but these names" only adds
        names to remove (no automaton); a language is intersected as a DFA."""
        names = set(declared)
        langs = []
        for kind, ks in key_sets:
            if kind == "out":
                names |= ks
            elif kind == "in":
                langs.append(strings.literal_strings(sorted(ks)))
            else:
                langs.append(ks)
        if not langs:
            return self._key_lexeme_minus(lang, frozenset(names))
        d = automata.to_dfa(lang)
        for keys in langs:
            d = automata.intersect(d, automata.to_dfa(keys))
        d = automata.minus_finite(d, names)
        if d.is_empty():
            return 0
        node = automata.node_of(d)
        lx = self.b.lexeme("KEY", strings.string_lexeme_regex(node))
        self.key_chars.setdefault(lx, node)
        return lx

    def _key_lexeme(self, chars) -> int:
        try:
            lx = self.b.lexeme("KEY", strings.string_lexeme_regex(chars))
            self.key_chars.setdefault(lx, chars)  # the decoded keys (distinct_keys.key_count)
            return lx
        except RegexBudgetError:  # the JSON encoding of an intersection/complement DFA
            self.unsupported("propertyNames", "", "needs an automaton too large to compile")
            return 0

    def _key_lexeme_minus(self, keys_lang, declared) -> int:
        """The lexeme of the keys of ``keys_lang`` other than ``declared`` (0: none)."""
        ck = (id(keys_lang), frozenset(declared))
        lx = self.key_cache.get(ck)
        if lx is None:
            self.keep.append(keys_lang)
            if strings.is_class_star(keys_lang):
                lx = self.b.lexeme("KEY", strings.star_minus_lexeme(keys_lang, declared))
                if keys_lang[1][1]:  # C* minus names, C not empty: infinite from every state
                    distinct_keys.known_infinite(self, lx)
            else:
                chars = minus_finite(keys_lang, declared)
                lx = self._key_lexeme(chars) if chars != NEVER else 0
            self.key_cache[ck] = lx
        return lx

    def _object_rules(
        self, live, kinds, nw, static, lo, hi, path, kw="additionalProperties"
    ) -> int:
        """'{' declared properties in order (optional ones skippable), extra keys anywhere
        after the start or after a declared property, ',' between, '}'.

        ``live``: (name, {bits: [value symbols]} or None when the name is forbidden,
        required, bits met by leaving it out); ``kinds``: (bits, key lexeme, value symbol)
        per kind of extra key. ``bits`` is the set of ``nw`` ``__some_key__`` requirements
        a member meets (0 without any; ``static`` are met from the start). Nonterminals: A(i, c, f) -- at property i, nothing written yet;
        C(i, c, f) -- at property i, something written (next item needs a comma);
        E(i, c, f) -- right after an item, extra keys may follow. c counts properties
        (saturated), f is the set of requirements met; the object closes when f is all.
        """
        live = [e for e in live if e[1] is not None]
        n = len(live)
        full = (1 << nw) - 1
        if hi is None:  # keys of a language with few names: at most that many (distinct)
            implied = distinct_keys.implied_max(self, live, kinds)
            if implied is not None and lo <= implied <= distinct_keys.MAX_IMPLIED_MAX:
                hi = implied
            elif implied is not None and lo > implied:
                raise SchemaError(
                    f"minProperties at {path or '/'} asks for more keys than the object's "
                    f"key language has names ({implied}): no object has that many distinct "
                    f"keys",
                    path=path,
                    keyword="minProperties",
                )
        cap = hi if hi is not None else lo
        if (n + 1) * (cap + 1) * 3 * (full + 1) > MAX_COUNT_STATES * 4:
            raise SchemaError(
                f"minProperties/maxProperties at {path or '/'} with these "
                f"properties need too many states",
                path=path,
                keyword="maxProperties",
            )
        top = self.nt(f"object@{path or '/'}")
        memo: dict = {}
        kv_memo: dict = {}
        extra_bits = sorted({bits for bits, _, _ in kinds})

        def inc(c):
            return c + 1 if hi is not None else min(c + 1, lo)

        # Extra keys never repeat (distinct_keys): a kind whose keys cannot be kept distinct
        # without a dead end is refused below, so every extra key counts toward
        # minProperties.
        spare = distinct_keys.has_spare_kind(self, kinds, nw)
        # a kind met by a __some_key__ requirement is a subset of a kind without one that is
        # offered wherever it is (_witness_kinds); when those never run out, every prefix of
        # the subset's keys goes on as theirs: the subset may run out without a dead end
        covered = (
            not spare
            and nw > 0
            and self.property_order != "any"
            and distinct_keys.bases_never_run_out(self, kinds)
        )

        def spare_for(bits):
            return spare or (covered and bits != 0)

        repeatable = [
            k for b, k, _ in kinds if distinct_keys.key_item(self, k, hi, True, spare_for(b)) == k
        ]
        # Keys of a finite language where the object could ask for one after every name was
        # used: with no minProperties/maxProperties to count, the rules count the extra keys
        # instead, at most as many as the kinds have names, so a ',' before an extra key is
        # offered only while some kind has a fresh name (the matcher masks its used ones)
        xcap = None
        if repeatable and nw == 0 and lo == 0 and hi is None and self.property_order != "any":
            xcap = distinct_keys.extras_cap(self, kinds)
            if xcap is not None and (n + 1) * (xcap + 1) * 3 > MAX_COUNT_STATES * 4:
                xcap = None
            if xcap is not None:
                spare = True  # every finite kind becomes a finite item: never asked past its names
                repeatable = []
        distinct_keys.report_unchecked(self, path, repeatable, hi, spare)
        if repeatable:
            why = distinct_keys.why_unchecked(self, repeatable[0], hi, spare)
            raise SchemaError(
                f"{kw} at {path or '/'}: its keys cannot be kept distinct without a dead "
                f"end ({why}; the object could ask for a key after every name was used: "
                f"give it a maxProperties of at most their number)",
                path=path,
                keyword=kw,
            )
        inc_x = inc
        if self.property_order == "any":  # keys in any order: any_order's states
            return any_order.object_rules(self, live, kinds, nw, static, lo, hi, inc_x, path, spare)

        def ok(c):
            return hi is None or c <= hi

        ok_x = ok
        if xcap is not None:  # c counts the extra keys alone (no min/maxProperties)

            def inc(c):
                return c

            def inc_x(c):
                return c + 1

            def ok_x(c):
                return c <= xcap

        def kv_x_new(bits):  # extra keys: one (key lexeme, value) per kind of key, never
            # repeated (distinct_keys)
            s = self.nt("kv:*")
            for kb, key, val in kinds:
                if kb == bits:
                    key = distinct_keys.key_item(self, key, hi, True, spare_for(kb))
                    self.rule(s, [key, self.COLON, val])
            return s

        if isinstance(self.b, _BuilderCore):  # the states as C (_wire._ObjectStates)
            states = _ObjectStates(self, self.b, live, full, lo, hi, xcap, extra_bits, kv_x_new)
            self.rule(top, [self.LB, states.get("A", 0, 0, static), self.RB])
            if ok_x(inc_x(0)):
                for bits in extra_bits:
                    e0 = states.get("E", 0, inc_x(0), static | bits)
                    self.rule(top, [self.LB, states.kv_x(bits), e0, self.RB])
            return top
        # another builder (the any-value template's recorder): the same states in Python

        def kv(i, bits):
            s = kv_memo.get((i, bits))
            if s is None:
                if i == "x":
                    s = kv_x_new(bits)
                else:
                    s = self.nt(f"kv:{live[i][0]}")
                    name, vals = live[i][:2]
                    for val in vals[bits]:
                        self.rule(s, [self._key_lexeme_literal(name), self.COLON, val])
                kv_memo[(i, bits)] = s
            return s

        def get(kind, i, c, f):
            key = (kind, i, c, f)
            s = memo.get(key)
            if s is not None:
                return s
            s = self.nt(f"obj{kind}{i}.{c}")
            memo[key] = s
            if kind == "E":
                if ok_x(inc_x(c)):
                    for bits in extra_bits:
                        self.rule(s, [self.COMMA, kv("x", bits), get("E", i, inc_x(c), f | bits)])
                self.rule(s, [get("C", i, c, f)])
                return s
            if i == n:
                if c >= lo and f == full:
                    self.rule(s, [])
                return s
            name, vals, req, absent = live[i]
            if ok(inc(c)):
                for bits in vals:
                    first = [] if kind == "A" else [self.COMMA]
                    self.rule(s, first + [kv(i, bits), get("E", i + 1, inc(c), f | bits)])
            if not req:
                self.rule(s, [get(kind, i + 1, c, f | absent)])
            return s

        self.rule(top, [self.LB, get("A", 0, 0, static), self.RB])
        if ok_x(inc_x(0)):
            for bits in extra_bits:
                e0 = get("E", 0, inc_x(0), static | bits)
                self.rule(top, [self.LB, kv("x", bits), e0, self.RB])
        get = None  # break the closure's cycle (get -> cell -> get, holding self)
        return top
