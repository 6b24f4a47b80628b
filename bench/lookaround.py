"""Compile time and DFA size of search patterns with lookarounds (decoder/grammar/lookaround.py),
with the construction's two optimisations on and off (docs/optimizations.md, section 38):
dropping configurations subsumed by another at the same NFA state, and building a pattern on the
reversed strings (lookaheads become lookbehinds) when the forward construction is over budget.

    PYTHONPATH=. python bench/lookaround.py
"""

from __future__ import annotations

import time

from decoder.grammar import lookaround
from decoder.grammar.json_schema import automata
from decoder.grammar.regex import _parse_regex

PATTERNS = [
    r"(?:a(?=[\s\S]{0,12}b)|c)*d$",
    r"(?=.*\p{Lu})(?=.*\d)\S{8,}",
    r"(?:\w(?!\w{20}$)){3,}$",
    r"[a-z](?!\w*\s$)",
    r"(?<![\w.])\d+(?:\.\d+)?(?![\w.])",
    r"^(?:[a-z](?![a-z]{0,9}\d)){1,40}$",
    r"(?<=[a-z]{8})\d(?=\w{8})",
    r"((?:[^/]*/)*)(?=\.(yaml|yml|json))",
    r"^(\/?((\.{2})|([a-z0-9\-]*))($|\/))*$",
]


def run(pattern: str) -> str:
    t = time.perf_counter()
    try:
        node = _parse_regex(pattern, "ecma", "", True, True, False)  # not memoised
        size = f"{automata.to_dfa(node).n} states"
    except Exception as e:  # noqa: BLE001 - a refusal is a result here
        size = "refused (" + str(e).split("(")[0].strip() + ")"
    return f"{1000 * (time.perf_counter() - t):7.0f} ms  {size}"


def main() -> None:
    prune = lookaround._prune
    configs = [
        ("forward, no pruning", "forward", frozenset),
        ("forward, pruning", "forward", prune),
        ("reversed, pruning", "reversed", prune),
        ("default (forward, reversed past the budget)", None, prune),
    ]
    for p in PATTERNS:
        print(p)
        for name, direction, pr in configs:
            lookaround.DIRECTION, lookaround._prune = direction, pr
            print(f"  {name:50s} {run(p)}")
    lookaround.DIRECTION, lookaround._prune = None, prune


if __name__ == "__main__":
    main()
