"""The free-text grammars whose first masks tests/test_cold_slices.py checks against brute
force and bench/freetext_cold.py times: a fresh grammar per call (``n`` makes it unique, so
its mask cache starts cold)."""

from __future__ import annotations

import json

from decoder import Grammar, agents
from decoder.integrations.specs import grammar_for

WEATHER = {
    "type": "object",
    "properties": {"location": {"type": "string"}},
    "required": ["location"],
    "additionalProperties": False,
}


def hermes(n: int) -> Grammar:
    tools = [{"type": "function", "function": {"name": f"get_weather{n}", "parameters": WEATHER}}]
    return agents.tool_calls(tools, style="hermes")


def tagged(n: int) -> Grammar:
    fmt = {
        "type": "sequence",
        "elements": [
            {"type": "any_text", "excludes": ["forbidden", "\u00fcnter"]},
            {"type": "const_string", "value": f"<END{n}>"},
        ],
    }
    return grammar_for("structural_tag", json.dumps({"type": "structural_tag", "format": fmt}))


def tagged_common(n: int) -> Grammar:
    """Free text whose excluded strings begin with frequent bytes ('t', 'n') or a multi-byte
    character ("\u00e9t"), or end inside one ("n\u00e9"): most tokens leave its class, and
    its first masks walk the class's suffix trie (docs/optimizations.md section 33)."""
    fmt = {
        "type": "sequence",
        "elements": [
            {"type": "any_text", "excludes": ["the", "n\u00e9", "\u00e9t"]},
            {"type": "const_string", "value": f"<END{n}>"},
        ],
    }
    return grammar_for("structural_tag", json.dumps({"type": "structural_tag", "format": fmt}))


def string_beside_null(n: int, **string) -> Grammar:
    """An object whose required "s" is a string with ``string``'s keywords, beside a
    property named by ``n``: a fresh grammar (and mask cache) per n."""
    return Grammar.from_json_schema(
        {
            "type": "object",
            "properties": {"s": {"type": "string", **string}, f"zz{n}": {"type": "null"}},
            "required": ["s"],
            "additionalProperties": False,
        }
    )


def assert_fresh_string_states(vocab, cases, first: int, family: str) -> None:
    """For each (string keywords, text) of ``cases``: a fresh grammar (``string_beside_null(first
    + i)``), the text committed inside its string, and the next mask cold and equal to brute
    force (``conftest.assert_cold_mask_is_brute_force``)."""
    from conftest import assert_cold_mask_is_brute_force

    from decoder import Matcher

    for n, (keywords, text) in enumerate(cases):
        m = Matcher(string_beside_null(first + n, **keywords), vocab)
        assert m.commit_bytes(b'{"s": "' + text.encode()), (keywords, text)
        assert_cold_mask_is_brute_force(m, vocab, f"{family} {keywords} {text!r}", warm=False)
