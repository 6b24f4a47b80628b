"""Serving engines' constraint specs → :class:`decoder.Grammar`.

A spec is ``(kind, text)``, the shape vLLM and SGLang hand to a backend:

========================  ==========================================================
``json``                  a JSON Schema as JSON text
``json_object``           any JSON object (text ignored): the schema ``{"type": "object"}``
``regex``                 a regex the whole output matches (Python ``re`` syntax)
``grammar``               a Lark grammar; GBNF-style EBNF (``root ::= ...``) only when it
                          is also Lark once ``::=`` reads ``:`` (start rule ``root``)
``choice``                a JSON list of strings: exactly one of them
``structural_tag``        xgrammar's structural-tag format (decoder.grammar.structural_tag):
                          grammar parts, free text (``any_text``, ``triggered_tags``),
                          special tokens (``token``), ``tags_with_separator``
========================  ==========================================================

Anything else raises :class:`SpecError` naming what was not understood.
"""

from __future__ import annotations

import json
import re
from typing import Any

from ..errors import DecoderError, SpecError
from ..grammar import Grammar
from ..grammar.gbnf import gbnf_to_lark
from ..grammar.ir import GrammarIR

KINDS = ("json", "json_object", "regex", "grammar", "choice", "structural_tag")


def grammar_for(
    kind: str, spec: Any, *, whitespace: str = "flexible", property_order: str = "schema"
) -> Grammar:
    """The grammar of one spec. ``whitespace`` and ``property_order`` apply to JSON
    Schemas: a policy of ``Grammar.from_json_schema`` (``"compact"``, ``"separators"``,
    ``"pretty"``, ``"flexible"``; ``"schema"`` or ``"any"``).  The serving integrations keep their engines' conventions: ``"flexible"``
    (any whitespace, like vLLM's and SGLang's defaults), ``"compact"`` with
    ``disable_any_whitespace``; a vLLM request may name another policy."""
    if kind == "json":
        return Grammar.from_json_schema(
            _json(spec, "json"), whitespace=whitespace, property_order=property_order
        )
    if kind == "json_object":
        return Grammar.from_json_schema({"type": "object"}, whitespace=whitespace)
    if kind == "regex":
        return Grammar.from_regex(_text(spec, kind))
    if kind == "grammar":
        return lark_or_gbnf(_text(spec, kind))
    if kind == "choice":
        return Grammar.from_regex(choice_regex(_json(spec, "choice")))
    if kind == "structural_tag":
        return Grammar(
            structural_tag_ir(_json(spec, "structural_tag"), whitespace), source="structural_tag"
        )
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
        _too_large(
            len(spec.encode("utf-8", "surrogatepass") if isinstance(spec, str) else spec),
            MAX_SCHEMA_TEXT_BYTES,
            f"{kind} spec text",
        )
    from ..grammar.recursion import recursion_limit

    # the JSON Schema front end's own headroom: a deep text parses (and is then refused by
    # depth, by name) the same whether or not another compile holds the limit raised
    try:
        with recursion_limit(20000):
            return json.loads(spec)
    except ValueError as e:
        raise SpecError(f"the {kind} spec is not valid JSON: {e}") from None
    except RecursionError:
        raise SpecError(
            f"the {kind} spec nests more than 20,000 levels deep (limit of the JSON parser)"
        ) from None


def choice_regex(choices: Any) -> str:
    """A regex matching exactly one of ``choices`` (a list of strings)."""
    if not isinstance(choices, list) or not choices or not all(isinstance(c, str) for c in choices):
        raise SpecError("a choice spec is a non-empty JSON list of strings")
    return "|".join(f"(?:{re.escape(c)})" for c in choices)


_GBNF_RULE = re.compile(r"^(\s*)([A-Za-z_][\w-]*)(\s*)::=", re.M)


def lark_or_gbnf(text: str) -> Grammar:
    """A Lark grammar, or llama.cpp's GBNF (rules written ``name ::= ...``, start rule
    ``root``; see :mod:`decoder.grammar.gbnf`)."""
    if "::=" not in text:
        return Grammar.from_lark(text)
    try:
        lark = gbnf_to_lark(text)
    except DecoderError as e:
        raise SpecError(str(e)) from None
    return Grammar.from_lark(lark, start="root")


# ------------------------------------------------------------------ structural tags


def structural_tag_ir(tag: Any, whitespace: str = "flexible") -> GrammarIR:
    """The grammar of an xgrammar-style structural tag (``{"type": "structural_tag",
    "format": {...}}``): see :mod:`decoder.grammar.structural_tag` for the formats (free
    text, triggered tags and special tokens included)."""
    from ..grammar.structural_tag import structural_tag_ir as _ir

    return _ir(tag, whitespace, error=SpecError)


__all__ = ["KINDS", "SpecError", "grammar_for", "choice_regex", "lark_or_gbnf", "structural_tag_ir"]
