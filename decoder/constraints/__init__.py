"""Lexical filters and length budgets, composable with every other constraint.

>>> from decoder import Grammar
>>> from decoder.constraints import NoLetters, MaxTokens, Words, Rhymes
>>> c = Grammar.from_json_schema(schema) & NoLetters("e") & MaxTokens(60)     # doctest: +SKIP
>>> Decoder("default", c).generate("...")                                      # doctest: +SKIP

Every constraint has ``.matcher(vocab)`` and combines with ``&`` (:class:`AllOf`: every
part holds; the mask is the AND, EOS only when every part accepts, and a composition
never walks into a dead end, see :mod:`decoder.constraints.base`).  A JSON schema given
as a ``dict`` composes as ``JSONSchema(schema) & ...``, ``schema_dict & NoLetters("e")``
(a dict on the left works because the constraint on the right takes over), or
``constrain(schema_dict, NoLetters("e"))``.  See ``docs/constraints.md``.
"""

from __future__ import annotations

from .base import (
    AllOf,
    AllOfMatcher,
    Constraint,
    ConstraintError,
    GrammarConstraint,
    JSONSchema,
    PyMatcher,
    as_constraint,
    constrain,
)
from .budgets import (
    Chars,
    ExactTokens,
    ExactWords,
    MaxChars,
    MaxTokens,
    MaxWords,
    MinChars,
    MinTokens,
    MinWords,
    TokenBudget,
    Words,
    count_words,
    ends_sentence,
)
from .lexical import NoLetters, NoStrings, OnlyChars, RequireStrings, TokenFilter
from .phonetics import Rhymes, Stress, Syllables
from .puzzles import Anagram, EditDistance, Isogram, Palindrome
from .regular import RegexFilter
from .words import (
    BanWords,
    Lexicon,
    WordLength,
    WordsContain,
    WordsEndWith,
    WordsStartWith,
    split_words,
)

__all__ = [
    "Constraint",
    "AllOf",
    "AllOfMatcher",
    "ConstraintError",
    "GrammarConstraint",
    "JSONSchema",
    "PyMatcher",
    "as_constraint",
    "constrain",
    "RegexFilter",
    "TokenFilter",
    "NoLetters",
    "NoStrings",
    "OnlyChars",
    "RequireStrings",
    "Lexicon",
    "BanWords",
    "WordsStartWith",
    "WordsEndWith",
    "WordsContain",
    "WordLength",
    "split_words",
    "Syllables",
    "Stress",
    "Rhymes",
    "Anagram",
    "Isogram",
    "Palindrome",
    "EditDistance",
    "TokenBudget",
    "MaxTokens",
    "MinTokens",
    "ExactTokens",
    "Words",
    "MaxWords",
    "MinWords",
    "ExactWords",
    "Chars",
    "MaxChars",
    "MinChars",
    "count_words",
    "ends_sentence",
]
