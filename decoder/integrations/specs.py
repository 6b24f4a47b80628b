"""Serving engines' constraint specs → :class:`decoder.Grammar`.

A spec is ``(kind, text)``, the shape vLLM and SGLang hand to a backend:

========================  ==========================================================
``json``                  a JSON Schema as JSON text
``json_object``           any JSON object (text ignored): the schema ``{"type": "object"}``
``regex``                 a regex the whole output matches (Python ``re`` syntax)
``grammar``               a Lark grammar; GBNF-style EBNF (``root ::= ...``) only when it
                          is also Lark once ``::=`` reads ``:`` (start rule ``root``)
``choice``                a JSON list of strings: exactly one of them
``structural_tag``        xgrammar's structural-tag format, the parts that are grammars
                          (``const_string``, ``json_schema``, ``regex``, ``grammar``,
                          ``sequence``, ``or``, ``tag``); free-text parts are refused
========================  ==========================================================

Anything else raises :class:`SpecError` naming what was not understood.
"""
from __future__ import annotations

import json
import re
from typing import Any

from .. import deadline as _deadline
from ..errors import DecoderError, LimitError
from ..grammar import Grammar
from ..grammar.ir import GrammarBuilder, GrammarIR

KINDS = ("json", "json_object", "regex", "grammar", "choice", "structural_tag")


class SpecError(DecoderError, ValueError):
    """A constraint spec that is malformed or asks for something decoder cannot enforce."""


def grammar_for(kind: str, spec: Any, *, whitespace: str = "flexible") -> Grammar:
    """The grammar of one spec. ``whitespace`` applies to JSON Schemas: a policy of
    ``Grammar.from_json_schema`` (``"compact"``, ``"separators"``, ``"pretty"``,
    ``"flexible"``).  The serving integrations keep their engines' conventions: ``"flexible"``
    (any whitespace, like vLLM's and SGLang's defaults), ``"compact"`` with
    ``disable_any_whitespace``; a vLLM request may name another policy."""
    if kind == "json":
        return Grammar.from_json_schema(_json(spec, "json"), whitespace=whitespace)
    if kind == "json_object":
        return Grammar.from_json_schema({"type": "object"}, whitespace=whitespace)
    if kind == "regex":
        return Grammar.from_regex(_text(spec, kind))
    if kind == "grammar":
        return lark_or_gbnf(_text(spec, kind))
    if kind == "choice":
        return Grammar.from_regex(choice_regex(_json(spec, "choice")))
    if kind == "structural_tag":
        return Grammar(structural_tag_ir(_json(spec, "structural_tag"), whitespace), source="structural_tag")
    raise SpecError(f"unknown constraint kind {kind!r} (expected one of {', '.join(KINDS)})")


def _text(spec: Any, kind: str) -> str:
    if not isinstance(spec, str):
        raise SpecError(f"a {kind} spec is a string, not {type(spec).__name__}")
    return spec


def _json(spec: Any, kind: str) -> Any:
    if not isinstance(spec, (str, bytes)):
        return spec
    from ..grammar.json_schema.schema import MAX_SCHEMA_TEXT_BYTES, _too_large

    # refused before json.loads: a 30 MB text would take seconds to parse and index
    if len(spec) > MAX_SCHEMA_TEXT_BYTES // 4:
        _too_large(len(spec.encode("utf-8", "surrogatepass") if isinstance(spec, str) else spec),
                   MAX_SCHEMA_TEXT_BYTES, f"{kind} spec text")
    try:
        return json.loads(spec)
    except ValueError as e:
        raise SpecError(f"the {kind} spec is not valid JSON: {e}") from None


def choice_regex(choices: Any) -> str:
    """A regex matching exactly one of ``choices`` (a list of strings)."""
    if not isinstance(choices, list) or not choices or not all(isinstance(c, str) for c in choices):
        raise SpecError("a choice spec is a non-empty JSON list of strings")
    return "|".join(f"(?:{re.escape(c)})" for c in choices)


_GBNF_RULE = re.compile(r"^(\s*)([A-Za-z_][\w-]*)(\s*)::=", re.M)


def lark_or_gbnf(text: str) -> Grammar:
    """A Lark grammar, or a GBNF-style one (``name ::= ...``) when it reads as Lark after
    ``::=`` becomes ``:`` and dashes in rule names become underscores (start: ``root``)."""
    if "::=" not in text:
        return Grammar.from_lark(text)
    names = {m.group(2) for m in _GBNF_RULE.finditer(text)}
    lark = _GBNF_RULE.sub(lambda m: f"{m.group(1)}{m.group(2).replace('-', '_').lower()}{m.group(3)}:", text)
    for n in sorted(names, key=len, reverse=True):  # references to dashed names
        if "-" in n:
            lark = re.sub(rf"(?<![\w\"'-]){re.escape(n)}(?![\w-])", n.replace("-", "_").lower(), lark)
    try:
        return Grammar.from_lark(lark, start="root")
    except DecoderError as e:
        raise SpecError(
            "GBNF-style EBNF grammars (rules written 'name ::= ...') are supported only where they "
            "are also Lark syntax (string literals, rule references, | ( ) * + ?); character classes "
            f"like [a-z] and other GBNF extensions are not: write the grammar in Lark ({e})") from None


# ------------------------------------------------------------------ structural tags

def structural_tag_ir(tag: Any, whitespace: str = "flexible") -> GrammarIR:
    """The grammar of an xgrammar-style structural tag (``{"type": "structural_tag",
    "format": {...}}``), for the formats that are grammars."""
    if not isinstance(tag, dict):
        raise SpecError("a structural_tag spec is a JSON object")
    if "structures" in tag or "triggers" in tag:
        raise SpecError("legacy structural tags ('structures' + 'triggers') mean free text with "
                        "triggered tags, which decoder does not support; use a 'format' made of "
                        "grammar parts (tag, sequence, or, const_string, json_schema, regex, grammar)")
    fmt = tag.get("format") if tag.get("type", "structural_tag") == "structural_tag" else tag
    if not isinstance(fmt, dict):
        raise SpecError("a structural_tag spec needs a 'format' object")
    b = GrammarBuilder()
    start = b.nonterminal("start")
    try:
        b.rule(start, [_format(b, fmt, whitespace, "format")])
    except RecursionError:
        raise LimitError("the structural tag is nested too deeply to compile (Python's recursion limit)",
                         limit="max_depth") from None
    return b.build(start)


def _format(b: GrammarBuilder, fmt: Any, ws: str, where: str) -> int:
    _deadline.check(f"structural tag {where[:200]}")  # the tag's parts share one deadline
    if not isinstance(fmt, dict) or not isinstance(fmt.get("type"), str):
        raise SpecError(f"structural tag: {where} is not a format object with a 'type'")
    t = fmt["type"]
    if t == "const_string":
        return _literal(b, _field(fmt, "value", str, where))
    if t == "json_schema":
        schema = fmt.get("json_schema", {})
        schema = {} if schema is None else schema
        g = Grammar.from_json_schema(schema, whitespace=ws)
        if g.ir.ignore:  # flexible/pretty whitespace is an %ignore, which cannot be scoped: none
            g = Grammar.from_json_schema(schema, whitespace="compact")
        return _embed(b, g.ir, where)
    if t == "regex":
        return _embed(b, Grammar.from_regex(_field(fmt, "pattern", str, where)).ir, where)
    if t == "grammar":
        return _embed(b, lark_or_gbnf(_field(fmt, "grammar", str, where)).ir, where)
    if t in ("sequence", "or"):
        elements = _field(fmt, "elements", list, where)
        if not elements:
            raise SpecError(f"structural tag: {where} has no elements")
        syms = [_format(b, e, ws, f"{where}.elements[{i}]") for i, e in enumerate(elements)]
        nt = b.nonterminal(t)
        if t == "sequence":
            b.rule(nt, syms)
        else:
            for s in syms:
                b.rule(nt, [s])
        return nt
    if t == "tag":
        body = _format(b, fmt.get("content"), ws, f"{where}.content")
        end = fmt.get("end", "")
        ends = [end] if isinstance(end, str) else end
        if not isinstance(ends, list) or not ends or not all(isinstance(e, str) for e in ends):
            raise SpecError(f"structural tag: {where}.end is a string or a list of strings")
        nt = b.nonterminal("tag")
        for e in ends:
            b.rule(nt, [_literal(b, _field(fmt, "begin", str, where)), body] + ([_literal(b, e)] if e else []))
        return nt
    raise SpecError(f"structural tag: format type {t!r} at {where} is not supported by decoder "
                    f"(supported: const_string, json_schema, regex, grammar, sequence, or, tag; "
                    f"free-text formats such as any_text and triggered_tags are not)")


def _field(fmt: dict, name: str, typ: type, where: str):
    v = fmt.get(name)
    if not isinstance(v, typ):
        raise SpecError(f"structural tag: {where}.{name} must be a {typ.__name__}")
    return v


def _literal(b: GrammarBuilder, s: str) -> int:
    nt = b.nonterminal("literal")
    b.rule(nt, [b.literal(s)] if s else [])
    return nt


def _embed(b: GrammarBuilder, g: GrammarIR, where: str) -> int:
    """Copies ``g`` into ``b``; returns the symbol of its start rule."""
    if g.ignore:
        raise SpecError(f"structural tag: the grammar at {where} ignores lexemes between tokens "
                        f"(%ignore), which cannot be scoped to one part of a structural tag")
    lex = [b.lexeme(lx.name, lx.regex) for lx in g.lexemes]
    nts = [b.nonterminal(n) for n in g.nonterminals]

    def sym(s: int) -> int:
        return nts[s] if s >= 0 else lex[-s - 1]

    for lhs, rhs in g.rules:
        b.rule(nts[lhs], [sym(s) for s in rhs])
    return nts[g.start]


__all__ = ["KINDS", "SpecError", "grammar_for", "choice_regex", "lark_or_gbnf", "structural_tag_ir"]
