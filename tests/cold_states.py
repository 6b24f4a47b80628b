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
