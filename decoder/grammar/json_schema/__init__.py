"""JSON Schema -> grammar IR.

    from decoder.grammar.json_schema import compile_json_schema
    g = compile_json_schema({"type": "object", "properties": {"a": {"type": "integer"}}})

Modules, one concern each:

* :mod:`.schema`   -- loading (dict, JSON text, path, Pydantic class), draft detection,
  ``$ref`` resolution inside the document (pointers, anchors, ``$id``-relative);
* :mod:`.compiler` -- schemas to rules (merging ``allOf``, distributing ``anyOf``/
  ``oneOf``/``if``/``not``, object and array chains);
* :mod:`.numeric`  -- exact numeric ranges and ``multipleOf`` as regexes;
* :mod:`.strings`  -- JSON string lexemes from decoded-string languages;
* :mod:`.formats`  -- ``format`` regexes;
* :mod:`.regexops` -- exact derivative / difference / length operations on regexes;
* :mod:`.unevaluated` -- ``unevaluatedProperties`` / ``unevaluatedItems`` rewritten into
  alternatives with static evaluated sets, and ``$dynamicRef`` resolved where the document
  fixes its dynamic scope.

Whitespace (``whitespace=``; the policies are exact: nothing else is allowed between two
JSON tokens):

* ``"compact"``: none (``{"a":1,"b":[1,2]}``);
* ``"separators"``: what ``json.dumps`` writes, one optional space after each ``,`` and
  ``:`` (``{"a": 1, "b": [1, 2]}``; the compact form too), nothing elsewhere;
* ``"pretty"``: between any two tokens nothing, one space, or one newline followed by
  0..``max_ws``-1 spaces (``json.dumps(x, indent=2)`` up to 15 levels deep with the
  default ``max_ws=32``; tabs are not indentation);
* ``"flexible"``: 1..``max_ws`` characters of space, tab, CR, LF between any two tokens.

``"pretty"`` and ``"flexible"`` are an ignore lexeme (the engine never allows two in a
row, so runs are bounded; one may also come before the first token and after the last); ``"separators"`` makes ``,`` and ``:`` the lexemes ``, ?`` and
``: ?``.  The default, ``DEFAULT_WHITESPACE``, is ``"pretty"``: chosen on JSONSchemaBench
with the default model (docs/benchmarks.md, "JSON whitespace policy"), where it had the best
empirical coverage (29/36 against 27, 27 and 26); ``"flexible"`` let the model wander in
whitespace (runs of newlines and of 32 spaces) until the token limit.

Objects: declared properties in the order of ``properties``; optional ones may be
skipped; additional keys (allowed unless ``additionalProperties`` says otherwise, or
``strict_objects=True``) may appear at the start or after any property.  Extra keys
never collide with declared ones (their lexeme excludes the declared names), so
the grammar stays unambiguous where it matters.
"""

from __future__ import annotations

import time
from typing import Any

from ... import deadline as _deadline
from ..._json_whitespace import DEFAULT_WHITESPACE, WHITESPACE_POLICIES
from ...errors import SchemaError, SchemaLimitError, UnsatisfiableSchemaError
from ..ir import GrammarIR
from ..recursion import recursion_limit
from .compiler import Compiler
from .schema import MAX_SCHEMA_TEXT_BYTES, SchemaDocument, load_schema, load_schema_hinted

__all__ = ["compile_json_schema", "WHITESPACE_POLICIES", "DEFAULT_WHITESPACE"]


def _forget_unwritten() -> None:
    """After a compile that failed: the cross-compile memos' entries that no grammar wrote.

    The serialiser untracks the regex tuples it writes (``_wire._write_regex``), so the memo
    entries a successful compile leaves hold untracked tuples. A compile that fails after
    building lexemes (a limit, a timeout, an unsatisfiable schema) writes none of them: kept,
    its entries' tuples (267,000 for one schema refused by a limit) stayed tracked, were
    promoted to the collector's oldest generation and triggered a full collection (150-800
    ms) on a later compile. Dropped here, they are freed with the failed compile; the memos
    are pure functions of their arguments, so only a later recomputation is lost."""
    import gc

    from .. import _wire
    from . import strings

    is_tracked = gc.is_tracked
    # (another thread may be compiling: the items are copied in one call, and an entry it
    # removed meanwhile is skipped)
    h = _wire._HASHES
    for k, v in list(h.items()):
        if is_tracked(v[0]):
            h.pop(k, None)
    lx = strings._LEXEME_MEMO
    for k, v in list(lx.items()):
        if is_tracked(v[1]):
            lx.pop(k, None)
    strings.forget_tracked_star_minus()


def compile_json_schema(
    schema: Any,
    *,
    whitespace: str = DEFAULT_WHITESPACE,
    strict_objects: bool = False,
    property_order: str = "schema",
    approximate: bool = False,
    max_ws: int = 32,
    max_rules: int = 200_000,
    timeout: float | None = 10.0,
    max_text_bytes: int = MAX_SCHEMA_TEXT_BYTES,
    remotes: dict[str, Any] | None = None,
) -> GrammarIR:
    """Compile a JSON Schema (draft 2020-12 by default, draft-07/06/04 by ``$schema``).

    ``remotes``: the other documents a ``$ref`` may point to, by absolute URI (e.g.
    ``{"https://example.com/address.json": {...}}``; values as ``schema`` takes them):
    nothing is ever fetched, and a ``$ref`` to a document not given is a SchemaError.

    ``whitespace``: ``"compact"``, ``"separators"``, ``"pretty"`` or ``"flexible"`` (see the
    module docstring; another value raises ``SchemaError`` naming these); ``max_ws`` bounds
    the whitespace runs of ``"pretty"`` and ``"flexible"``.

    ``property_order``: ``"schema"`` (the default: declared properties in the order of
    ``properties``, which helps models) or ``"any"`` (each declared key at any position, at
    most once, every required one before the object closes; see :mod:`.any_order`, which
    raises a SchemaError naming ``property_order`` for an object with too many key sets).

    Raises :class:`decoder.errors.SchemaError` (with ``keyword`` and ``path``) for a
    keyword that cannot be enforced exactly; ``approximate=True`` compiles an
    over-approximation instead and warns with the names of what is not enforced.

    Limits (each raises :class:`decoder.errors.SchemaLimitError`, a ``LimitError`` and a
    ``SchemaError``, naming the limit and the schema path): ``timeout`` seconds of
    compilation, from the call on: parsing and indexing the schema included (``None``: no
    deadline), ``max_text_bytes`` of schema text or file (8 MiB; checked before parsing it),
    ``max_rules`` grammar rules, 400 levels of nesting, 2000 distinct sub-schema
    combinations. A :func:`decoder.deadline.compile_deadline` around the call is honoured
    too (``LimitError``, ``limit="deadline"``).
    """
    # (the imports this needs are the module's: an import statement here cost ~7 us a compile)
    t0 = time.monotonic()

    def check(path: str) -> None:
        _deadline.check(f"schema path {path or '/'}")
        if timeout is not None and time.monotonic() - t0 > timeout:
            raise SchemaLimitError(
                f"compiling the schema took more than {timeout:g} s (limit timeout; "
                f"while indexing it, at {path or '/'})",
                limit="timeout",
                path=path,
                keyword="$schema",
            )

    try:  # (a failed compile's memo entries are dropped: see _forget_unwritten)
        with recursion_limit(20000):  # deep schemas recurse (bounded by the compiler)
            _deadline.check("before parsing the schema")
            root, old_draft = load_schema_hinted(schema, max_text_bytes)
            check("")
            doc = SchemaDocument(root, check=check, remotes=remotes)
            c = Compiler(
                doc,
                whitespace=whitespace,
                strict_objects=strict_objects,
                property_order=property_order,
                approximate=approximate,
                max_ws=max_ws,
                max_rules=max_rules,
                timeout=timeout,
                may_embed_old_draft=old_draft,
            )
            # (the deadline from the call on, not from here)
            c.deadline = None if timeout is None else t0 + timeout
            start = c.compile()
            ir = c.b.build(start)
            try:
                _check_satisfiable(ir)
            except UnsatisfiableSchemaError:
                if c.draft_format_negations and not c.library_format_negations:
                    path, name = c.draft_format_negations[0]
                    raise SchemaError(
                        f"at {path or '/'}: format {name!r} is negated, and validators of this "
                        "document's draft do not check it (an annotation there: it never fails); "
                        "nothing is left, so the schema is refused",
                        path=path,
                        keyword="format",
                    ) from None
                if not c.library_format_negations:
                    raise
                # empty only because a negated format was taken as never failing: values do
                # satisfy the schema for a validator with the format's library
                path, name = c.library_format_negations[0]
                raise SchemaError(
                    f"at {path or '/'}: format {name!r} is negated, and validators check it "
                    "only with an optional library (without it every string passes); taken as "
                    "never failing, nothing is left, so the schema is refused",
                    path=path,
                    keyword="format",
                ) from None
            return ir
    except BaseException:
        _forget_unwritten()
        raise


def _check_satisfiable(ir: GrammarIR) -> None:
    """Raise :class:`UnsatisfiableSchemaError` when the grammar derives nothing: no JSON
    value satisfies the schema. Its path is the deepest sub-schema on the way from the root
    that admits no value (nonterminals of values are named ``v<n>@<path>~<id>``)."""
    ok = ir.productive()
    if ok[ir.start]:
        return
    by_lhs: dict[int, list[tuple[int, ...]]] = {}
    for lhs, rhs in ir.rules:
        by_lhs.setdefault(lhs, []).append(rhs)
    seen = {ir.start}
    work = [ir.start]
    deepest = ""
    while work:  # the unproductive nonterminals reachable from the start
        nt = work.pop()
        name = ir.nonterminals[nt]
        if name.startswith("v") and "@" in name:
            path = name.split("@", 1)[1].rsplit("~", 1)[0]
            if path.count("/") > deepest.count("/") or not deepest:
                deepest = path
        for rhs in by_lhs.get(nt, ()):
            for sym in rhs:
                if sym >= 0 and not ok[sym] and sym not in seen:
                    seen.add(sym)
                    work.append(sym)
    where = deepest if deepest not in ("", "/") else "the root"
    raise UnsatisfiableSchemaError(
        f"no JSON value satisfies this schema: the sub-schema at {where} is equivalent to "
        "false (it admits no value, or keywords contradict each other), so nothing can be "
        "generated",
        path="" if deepest == "/" else deepest,
        keyword="false",
    )


def compile_json_schemas(
    schemas,
    *,
    whitespace: str = "flexible",
    property_order: str = "schema",
    max_rules: int = 200_000,
    timeout: float | None = 10.0,
    builder=None,
) -> tuple[GrammarIR | None, list[int]]:
    """Several schemas in one grammar (the parameters of many tools): one grammar builder
    and one memo for all of them, so what they share (JSON's basic lexemes, the grammar of
    any value for extra properties, key lexemes) is built once. Returns the grammar (its
    start derives each schema's values) and the nonterminal of each schema, in order. The
    options are those of :func:`compile_json_schema`; an error names the schema's index.
    With ``builder`` (a GrammarBuilder) the rules go into it instead (no copy) and the grammar
    returned is None: the caller builds."""
    t0 = time.monotonic()

    def check(path: str) -> None:
        _deadline.check(f"schema path {path or '/'}")
        if timeout is not None and time.monotonic() - t0 > timeout:
            raise SchemaLimitError(
                f"compiling the schemas took more than {timeout:g} s (limit timeout; "
                f"at {path or '/'})",
                limit="timeout",
                path=path,
                keyword="$schema",
            )

    starts: list[int] = []
    first = None
    with recursion_limit(20000):
        for i, schema in enumerate(schemas):
            try:
                root = load_schema(schema, MAX_SCHEMA_TEXT_BYTES)
                doc = SchemaDocument(root, check=check)
                c = Compiler(
                    doc,
                    whitespace=whitespace,
                    property_order=property_order,
                    max_rules=max_rules,
                    timeout=timeout,
                )
                c.deadline = None if timeout is None else t0 + timeout
                if first is None:
                    first = c
                    if builder is not None:  # straight into the caller's builder
                        c.b = builder
                        if whitespace == "flexible":
                            from ..ir import cps, rep

                            builder.ignore(
                                builder.lexeme(
                                    "WS",
                                    rep(cps([(0x20, 0x20), (0x09, 0x0A), (0x0D, 0x0D)]), 1, 32),
                                )
                            )
                        c.LB, c.RB, c.LS, c.RS = (builder.literal(x) for x in "{}[]")
                        c.COMMA, c.COLON = builder.literal(","), builder.literal(":")
                else:  # the first compiler's builder and shared memos
                    c.b = first.b
                    c.LB, c.RB, c.LS, c.RS = (first.LB, first.RB, first.LS, first.RS)
                    c.COMMA, c.COLON = first.COMMA, first.COLON
                    c.memo, c.keep, c.key_cache = first.memo, first.keep, first.key_cache
                    c._any, c._never = first._any, first._never
                    c.rules = first.rules
                c.max_values = 2000 * (i + 1)
                starts.append(c.compile())
                if c is not first:
                    first._any, first._never, first.rules = c._any, c._never, c.rules
            except SchemaError as e:
                e.args = (f"schema {i}: {e}",) + e.args[1:]
                raise
    if first is None:
        raise ValueError("compile_json_schemas needs at least one schema")
    if builder is not None:
        return None, starts
    top = first.b.nonterminal("schemas")
    for s in starts:
        first.b.rule(top, [s])
    return first.b.build(top), starts
