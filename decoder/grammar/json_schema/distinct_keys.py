"""Distinct object keys: a JSON object never repeats a key (a parser keeps one copy, and what
it validates is then not what was written).

Declared properties cannot repeat: the object rules write each at most once, in the schema's
order, and extra keys exclude their names. Extra keys (``additionalProperties``,
``patternProperties``, the keys of an unconstrained object) are a language of keys, which
the grammar cannot keep apart. They become *item* lexemes (csrc/distinct.h): the engine's
matcher keeps the decoded keys of each open object and masks a token that would close a key
equal to an earlier one of the same object (``"\\u0061"`` and ``"a"`` are one key). Every
bracket of the grammar opens or closes a scope, so an inner object's keys, or a list's
distinct strings, never meet the outer object's.

No dead end: a key lexeme is an item only when its language has infinitely many
completions from every state inside the string (``{"type": "string"}`` keys minus the
declared names, ``^x-`` patterns): however many keys were used, a key prefix can still
become a fresh key, and an object can always take one more. A key language that becomes
finite from some state (``propertyNames`` with ``maxLength`` or an ``enum``, a bounded
pattern) keeps its lexeme as before: its keys are not checked for repeats (docs/limits.md).
"""

from __future__ import annotations

from ..ir import DISTINCT_CLOSER, DISTINCT_ITEM, DISTINCT_OPENER
from . import automata
from .regexops import RegexBudgetError


def key_item(c, lx: int) -> int:
    """The item twin of key lexeme ``lx`` (a symbol), or ``lx`` when its keys cannot be
    checked without a dead end."""
    memo = c.distinct_key_memo
    got = memo.get(lx)
    if got is None:
        rx = c.b.regex_of(lx)
        try:  # on a budget of its own: the schema's constructions keep all of theirs
            with automata.charged_to(c.distinct_key_work):
                ok = automata.infinite_from_every_state(automata.to_dfa(rx), sinks=True)
        except RegexBudgetError:
            ok = False  # not checked: the keys keep a plain lexeme
        got = memo[lx] = c.b.lexeme("KEY (distinct)", rx, DISTINCT_ITEM) if ok else lx
    return got


def known_infinite(c, lx: int) -> None:
    """Key lexeme ``lx`` is known to have infinitely many completions inside the string (no
    automaton needed: ``C*`` minus finitely many names, ``C`` not empty)."""
    if lx not in c.distinct_key_memo:
        rx = c.b.regex_of(lx)
        c.distinct_key_memo[lx] = c.b.lexeme("KEY (distinct)", rx, DISTINCT_ITEM)


def mark_brackets(c) -> None:
    """Once the grammar is complete: where it has distinct items, every '{' and '[' opens a
    scope and every '}' and ']' closes one (the matcher's scopes must balance whichever
    bracket lexeme the parser took)."""
    if not c.b.has_roles():
        return
    for sym in (c.LB, c.LS):
        c.b.set_role(sym, DISTINCT_OPENER)
    for sym in (c.RB, c.RS):
        c.b.set_role(sym, DISTINCT_CLOSER)
