"""GrammarIR → the flat int32 words the C++ engine reads.

The layout and the opcodes are defined once, in ``csrc/ir_format.h``; the loop that writes
them is ``decoder/grammar/_wire.pyx`` (Cython, reading that header), and ``csrc/grammar.cc``
reads them back.
"""

from __future__ import annotations

from array import array

from ._wire import LAZY_TAG, MAGIC, serialize_words
from .ir import GrammarIR


def serialize(g: GrammarIR) -> array[int]:
    """The words of ``g``.

    Regexes built by the front ends share subtrees (one character class or key set used by
    hundreds of lexemes): a compound node already written is copied from its first span
    instead of being walked again. Repetition bounds above ``ir.MAX_REPEAT`` raise
    :class:`~decoder.errors.LimitError` (``max_repeat``)."""
    header = [MAGIC, len(g.lexemes), len(g.nonterminals), len(g.rules), g.start, len(g.ignore)]
    header.extend(g.ignore)
    words = serialize_words(header, [lx.regex for lx in g.lexemes], g.rules)
    if g.lazy:  # the optional section after the rules
        words.extend([LAZY_TAG, len(g.lazy), *g.lazy])
    return words


__all__ = ["MAGIC", "serialize"]
