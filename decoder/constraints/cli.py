"""``decoder generate`` flags for lexical filters and budgets (see docs/constraints.md)."""

from __future__ import annotations

import argparse


def add_cli_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group(
        "lexical filters and length budgets (composable with --schema/--regex/--grammar)"
    )
    g.add_argument(
        "--ban-letters", metavar="LETTERS", help="lipogram: none of these letters (any case)"
    )
    g.add_argument(
        "--ban-strings",
        metavar="S",
        action="append",
        help="a string that may not appear (repeatable)",
    )
    g.add_argument(
        "--require", metavar="S", action="append", help="a string that must appear (repeatable)"
    )
    g.add_argument("--only-chars", metavar="CHARS", help="only these characters may appear")
    g.add_argument(
        "--ban-words", metavar="W,W", help="whole words that may not appear (comma-separated)"
    )
    g.add_argument(
        "--lexicon", metavar="FILE", help="every word must be in this file (one word per line)"
    )
    g.add_argument("--words-start-with", metavar="PREFIX", help="every word starts with PREFIX")
    g.add_argument("--words-end-with", metavar="SUFFIX", help="every word ends with SUFFIX")
    g.add_argument("--word-length", metavar="MIN[:MAX]", help="letters per word")
    g.add_argument("--syllables", metavar="N[:M]", help="syllables per word (CMU dictionary)")
    g.add_argument("--rhyme-with", metavar="WORD", help="the last word rhymes with WORD")
    g.add_argument(
        "--anagram-of", metavar="PHRASE", help="the output's letters are an anagram of PHRASE"
    )
    g.add_argument("--isogram", action="store_true", help="no word repeats a letter")
    g.add_argument("--palindrome", action="store_true", help="the letters read the same backward")
    g.add_argument("--edit-distance", metavar="WORD:K", help="every word within K edits of WORD")
    g.add_argument(
        "--words", type=int, metavar="N", help="about N words (N ± 5%%, ending at a sentence end)"
    )
    g.add_argument(
        "--max-words", type=int, metavar="N", help="at most N words (Ruler's \\w+ count)"
    )
    g.add_argument("--min-words", type=int, metavar="N", help="at least N words")
    g.add_argument(
        "--max-tokens-budget",
        type=int,
        metavar="N",
        help="at most N tokens, and the output must be complete within them",
    )
    g.add_argument(
        "--min-tokens", type=int, metavar="N", help="at least N tokens before the output may end"
    )
    g.add_argument("--max-chars", type=int, metavar="N", help="at most N characters")
    g.add_argument("--min-chars", type=int, metavar="N", help="at least N characters")


def _range(text: str, what: str):
    from .base import ConstraintError

    try:
        parts = [int(x) for x in text.split(":")]
    except ValueError:
        raise ConstraintError(f"--{what}: expected N or N:M, got {text!r}") from None
    return parts[0], parts[-1]


def constraints_from_args(args) -> list:
    """The lexical filters and budgets the flags ask for (possibly none)."""
    from . import (
        Anagram,
        BanWords,
        Chars,
        EditDistance,
        Isogram,
        Lexicon,
        NoLetters,
        NoStrings,
        OnlyChars,
        Palindrome,
        RequireStrings,
        Rhymes,
        Syllables,
        TokenBudget,
        WordLength,
        Words,
        WordsEndWith,
        WordsStartWith,
    )
    from .base import ConstraintError

    out = []
    a = args
    if getattr(a, "ban_letters", None):
        out.append(NoLetters(a.ban_letters))
    if getattr(a, "ban_strings", None):
        out.append(NoStrings(*a.ban_strings))
    if getattr(a, "require", None):
        out.append(RequireStrings(*a.require))
    if getattr(a, "only_chars", None):
        out.append(OnlyChars(a.only_chars))
    if getattr(a, "ban_words", None):
        out.append(BanWords([w for w in a.ban_words.replace(",", " ").split() if w]))
    if getattr(a, "lexicon", None):
        with open(a.lexicon, encoding="utf-8") as f:
            out.append(Lexicon([w.strip() for w in f if w.strip()]))
    if getattr(a, "words_start_with", None):
        out.append(WordsStartWith(a.words_start_with))
    if getattr(a, "words_end_with", None):
        out.append(WordsEndWith(a.words_end_with))
    if getattr(a, "word_length", None):
        lo, hi = _range(a.word_length, "word-length")
        out.append(WordLength(min=lo, max=hi))
    if getattr(a, "syllables", None):
        lo, hi = _range(a.syllables, "syllables")
        out.append(Syllables(min=lo, max=hi))
    if getattr(a, "rhyme_with", None):
        out.append(Rhymes(a.rhyme_with))
    if getattr(a, "anagram_of", None):
        out.append(Anagram(a.anagram_of))
    if getattr(a, "isogram", False):
        out.append(Isogram())
    if getattr(a, "palindrome", False):
        out.append(Palindrome())
    if getattr(a, "edit_distance", None):
        word, _, k = a.edit_distance.partition(":")
        try:
            out.append(EditDistance(word, int(k or 1)))
        except ValueError:
            raise ConstraintError(
                f"--edit-distance: expected WORD:K, got {a.edit_distance!r}"
            ) from None
    if getattr(a, "words", None) is not None:
        if a.max_words is not None or a.min_words is not None:
            raise ConstraintError(
                "--words N is about N words: do not combine it with --min-words/--max-words"
            )
        out.append(Words.around(a.words))
    elif getattr(a, "max_words", None) is not None or getattr(a, "min_words", None) is not None:
        out.append(Words(min=a.min_words, max=a.max_words))
    if (
        getattr(a, "max_tokens_budget", None) is not None
        or getattr(a, "min_tokens", None) is not None
    ):
        out.append(TokenBudget(min=a.min_tokens, max=a.max_tokens_budget))
    if getattr(a, "max_chars", None) is not None or getattr(a, "min_chars", None) is not None:
        out.append(Chars(min=a.min_chars, max=a.max_chars))
    return out


def compose_from_args(constraint, args):
    """``constraint`` (or None) AND the flags' filters and budgets."""
    extra = constraints_from_args(args)
    if not extra:
        return constraint
    from .base import constrain

    return constrain(*([constraint] if constraint is not None else []), *extra)
