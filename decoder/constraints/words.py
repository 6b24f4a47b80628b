"""Word-level filters: every word of the output satisfies a test.

A *word* here is a maximal run of ASCII letters ``[A-Za-z]+``: digits, apostrophes,
hyphens, spaces, punctuation and non-ASCII characters separate words (so ``don't`` is
the words ``don`` and ``t``).  Tokens are not words: a token may end one word and begin
the next, and a word may span many tokens.  Each filter here is the regular language
"every maximal letter run is in W", i.e. ``N* (W N+)* W?`` with ``N = [^A-Za-z]``,
compiled once and run by the engine, which rejects a token exactly when no completion of
the current word can be in W (prefix feasibility through the automaton).

``Lexicon`` and ``BanWords`` build W from a trie of the words (shared prefixes factored),
so a lexicon of tens of thousands of words stays a compact regex.
"""

from __future__ import annotations

from collections.abc import Iterable

from .base import ConstraintError
from .regular import RegexFilter, literal, trie_complement_regex, trie_regex

__all__ = [
    "WORD",
    "every_word",
    "last_word",
    "lexicon_filter",
    "Lexicon",
    "BanWords",
    "WordsStartWith",
    "WordsEndWith",
    "WordsContain",
    "WordLength",
    "split_words",
]

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
WORD = "[A-Za-z]+"
_SEP = "[^A-Za-z]"


def split_words(text: str) -> list:
    """The words of ``text`` as these filters see them."""
    import re

    return re.findall(WORD, text)


def every_word(word_regex: str) -> str:
    """A regex of texts whose every word matches ``word_regex`` (letters only)."""
    w = f"(?:{word_regex})"
    return f"{_SEP}*(?:{w}{_SEP}+)*{w}?"


def _sep_nodes():
    from ..grammar import ir

    letters = [(ord("A"), ord("Z")), (ord("a"), ord("z"))]
    return ir.cps(ir.negate_ranges(letters)), ir


def every_word_node(w):
    """:func:`every_word` on a regex IR node."""
    sep, ir = _sep_nodes()
    return ir.cat(ir.star(sep), ir.star(ir.cat(w, ir.plus(sep))), ir.opt(w))


def last_word_node(w):
    """:func:`last_word` on a regex IR node."""
    sep, ir = _sep_nodes()
    anything = ir.cps([(0, 0x10FFFF)])
    return ir.cat(ir.opt(ir.cat(ir.star(anything), sep)), w, ir.star(sep))


def last_word(word_regex: str) -> str:
    """A regex of texts whose last word matches ``word_regex`` (and that have a word)."""
    return rf"(?:[\s\S]*{_SEP})?(?:{word_regex}){_SEP}*"


def _words(words, what: str) -> list:
    if isinstance(words, str):
        words = words.split()
    ws = [w for w in words]
    bad = [w for w in ws if not isinstance(w, str) or not w.isascii() or not w.isalpha()]
    if bad:
        raise ConstraintError(
            f"{what}: words are ASCII letters only (words are [A-Za-z]+), got {bad[:5]!r}"
        )
    if not ws:
        raise ConstraintError(f"{what}: no words given")
    return ws


def Lexicon(words: Iterable[str], ignore_case: bool = True, name: str | None = None) -> RegexFilter:
    """Every word is in ``words`` (an allowed lexicon)."""
    ws = _words(words, "Lexicon")
    return lexicon_filter(ws, ignore_case, name or f"Lexicon({len(ws)} words)")


def lexicon_filter(
    words, ignore_case: bool, name: str, where: str = "every", extra: str = ""
) -> RegexFilter:
    """A filter whose words (``where="every"``) or last word (``"last"``) are in ``words``
    (or match the regex ``extra``); the engine gets an IR node built from the trie."""
    from ..grammar import ir
    from ..grammar.regex import parse_regex
    from .regular import trie_node

    text = trie_regex(words, ignore_case) + (f"|{extra}" if extra else "")
    node = trie_node(words, ignore_case)
    if extra:
        node = ir.alt(node, parse_regex(extra))
    if where == "every":
        return RegexFilter(every_word(text), name, every_word_node(node))
    return RegexFilter(last_word(text), name, last_word_node(node))


def BanWords(words: Iterable[str], ignore_case: bool = True) -> RegexFilter:
    """No word is one of ``words`` (whole words: banning ``cat`` leaves ``category``)."""
    ws = _words(words, "BanWords")
    return RegexFilter(
        every_word(trie_complement_regex(ws, LETTERS, ignore_case)), f"BanWords({ws!r})"
    )


def WordsStartWith(prefix: str, ignore_case: bool = True) -> RegexFilter:
    """Every word starts with ``prefix``."""
    _words([prefix], "WordsStartWith")
    return RegexFilter(
        every_word(literal(prefix, ignore_case) + "[A-Za-z]*"), f"WordsStartWith({prefix!r})"
    )


def WordsEndWith(suffix: str, ignore_case: bool = True) -> RegexFilter:
    """Every word ends with ``suffix``."""
    _words([suffix], "WordsEndWith")
    return RegexFilter(
        every_word("[A-Za-z]*" + literal(suffix, ignore_case)), f"WordsEndWith({suffix!r})"
    )


def WordsContain(part: str, ignore_case: bool = True) -> RegexFilter:
    """Every word contains ``part``."""
    _words([part], "WordsContain")
    return RegexFilter(
        every_word("[A-Za-z]*" + literal(part, ignore_case) + "[A-Za-z]*"),
        f"WordsContain({part!r})",
    )


def WordLength(min: int = 1, max: int | None = None, exactly: int | None = None) -> RegexFilter:
    """Every word has between ``min`` and ``max`` letters (or ``exactly`` n)."""
    if exactly is not None:
        min = max = exactly
    if min < 1 or (max is not None and max < min):
        raise ConstraintError(f"WordLength: need 1 <= min <= max, got min={min}, max={max}")
    rep = f"{{{min},{'' if max is None else max}}}" if max != min else f"{{{min}}}"
    return RegexFilter(every_word(f"[A-Za-z]{rep}"), f"WordLength(min={min}, max={max})")
