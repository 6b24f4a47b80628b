"""GrammarIR → the flat int32 words the C++ engine reads (csrc/grammar.cc, csrc/regex.h).

Layout::

    MAGIC n_lexemes n_nonterminals n_rules start n_ignore  ignore_ids...
    regex(lexeme 0) ... regex(lexeme n-1)
    (lhs len sym...) for every rule

Regexes are written in prefix form: EMPTY=0, NEVER=1, BYTES=2 n b..., CPS=3 k (lo hi)...,
BYTESET=4 k (lo hi)..., CAT=5 k child..., ALT=6 k child..., REP=7 min max child
(max = -1 when unbounded).
"""
from __future__ import annotations

from array import array

from .ir import GrammarIR

MAGIC = 0x44454301


def serialize(g: GrammarIR) -> array:
    """The words of ``g`` (the loop is in Cython: ``decoder._engine.serialize_words``).

    Regexes built by the front ends share subtrees (one character class or key set used by
    hundreds of lexemes): a compound node already written is copied from its first span
    instead of being walked again. Repetition bounds above ``ir.MAX_REPEAT`` raise
    :class:`~decoder.errors.LimitError` (``max_repeat``)."""
    from .. import _engine

    header = [MAGIC, len(g.lexemes), len(g.nonterminals), len(g.rules), g.start, len(g.ignore)]
    header.extend(g.ignore)
    return _engine.serialize_words(header, [lx.regex for lx in g.lexemes], g.rules)
