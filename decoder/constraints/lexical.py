"""Character and string filters: lipograms, banned and required strings, allowed characters.

A filter on single ASCII characters is *static*: whether a token may appear does not
depend on what came before (UTF-8 never puts an ASCII byte inside another character), so
it is one precomputed vocabulary mask (:class:`TokenFilter`).  Everything else is a
regular language over the text (:class:`~decoder.constraints.regular.RegexFilter`), run
by the engine, so a banned string split across two tokens is caught too.
"""

from __future__ import annotations

import numpy as np

from .base import Constraint, ConstraintError, PyMatcher
from .regular import RegexFilter, char_class, containing, not_containing

__all__ = ["TokenFilter", "NoLetters", "NoStrings", "RequireStrings", "OnlyChars"]


def _strings(args, what: str) -> list:
    out = []
    for a in args:
        if isinstance(a, str):
            out.append(a)
        elif isinstance(a, (list, tuple, set, frozenset)):
            out.extend(a)
        else:
            raise ConstraintError(f"{what}: expected strings, got {type(a).__name__}")
    if not out:
        raise ConstraintError(f"{what}: no strings given")
    if any(not isinstance(s, str) or not s for s in out):
        raise ConstraintError(f"{what}: every string must be a non-empty str")
    return out


class _StaticMatcher(PyMatcher):
    def __init__(self, vocab, allowed_bytes: np.ndarray, key):
        self._allowed_bytes = allowed_bytes
        self._key = key
        super().__init__(vocab)
        t = self.t
        self._mask = t.cached(("static", key), lambda: self._build())

    def _build(self):
        lut = self._allowed_bytes
        toks = self.vocab.tokens
        lens = np.fromiter(map(len, toks), dtype=np.int64, count=len(toks))
        bad = ~lut[np.frombuffer(b"".join(toks), dtype=np.uint8)]
        nbad = np.zeros(len(toks), dtype=np.int64)
        np.add.at(nbad, np.repeat(np.arange(len(toks)), lens)[bad], 1)
        ok = np.ones(self.t.width, dtype=bool)
        ok[: len(toks)] = nbad == 0
        return ok

    def initial(self):
        return 0

    def step(self, state, data):
        return 0 if self._allowed_bytes[np.frombuffer(data, dtype=np.uint8)].all() else None

    def allowed(self, state):
        return self._mask


class TokenFilter(Constraint):
    """A static filter: the output may only contain bytes for which ``allowed_bytes[b]`` is
    True (a 256-entry bool array).  One vocabulary mask, computed once per vocabulary."""

    def __init__(self, allowed_bytes, name: str = "TokenFilter"):
        lut = np.asarray(allowed_bytes, dtype=bool)
        if lut.shape != (256,):
            raise ConstraintError("allowed_bytes must have 256 entries")
        self.name = name
        self._lut = lut

    def matcher(self, vocab):
        return _StaticMatcher(vocab, self._lut, (self.name, self._lut.tobytes()))

    def accepts(self, text: str) -> bool:
        return bool(self._lut[np.frombuffer(text.encode("utf-8"), dtype=np.uint8)].all())

    def __repr__(self) -> str:
        return self.name


def NoLetters(letters: str, ignore_case: bool = True) -> Constraint:
    """A lipogram: none of ``letters`` appears anywhere (``NoLetters("e")``: no e, no E).
    ASCII letters make a static vocabulary mask; others a regular filter."""
    if not isinstance(letters, str) or not letters:
        raise ConstraintError("NoLetters needs a non-empty string of letters")
    chars = set(letters)
    if ignore_case:
        chars |= {c.lower() for c in letters} | {c.upper() for c in letters}
    chars = {c for c in chars if len(c) == 1}
    name = f"NoLetters({letters!r}{'' if ignore_case else ', ignore_case=False'})"
    if all(c.isascii() for c in chars):
        lut = np.ones(256, dtype=bool)
        lut[[ord(c) for c in chars]] = False
        return TokenFilter(lut, name)
    return RegexFilter(char_class(chars, negate=True) + "*", name)


def OnlyChars(chars: str) -> Constraint:
    """Only characters from ``chars`` may appear (an allowed character set)."""
    if not isinstance(chars, str) or not chars:
        raise ConstraintError("OnlyChars needs a non-empty string of characters")
    name = f"OnlyChars({chars!r})"
    if all(c.isascii() for c in chars):
        lut = np.zeros(256, dtype=bool)
        lut[[ord(c) for c in set(chars)]] = True
        return TokenFilter(lut, name)
    return RegexFilter(char_class(chars) + "*", name)


def NoStrings(*strings, ignore_case: bool = False, mode: str = "all") -> RegexFilter:
    """Banned strings anywhere in the output, also across token boundaries.

    ``mode="all"``: none of them may appear; ``mode="any"``: at least one of them never
    appears (the output may not contain all of them)."""
    ss = _strings(strings, "NoStrings")
    if mode == "all":
        return RegexFilter(not_containing(ss, ignore_case), f"NoStrings({ss!r})")
    if mode == "any":
        alts = "|".join(f"(?:{not_containing([s], ignore_case)})" for s in ss)
        return RegexFilter(alts, f"NoStrings({ss!r}, mode='any')")
    raise ConstraintError(f"NoStrings: mode is 'all' or 'any', not {mode!r}")


def RequireStrings(*strings, ignore_case: bool = False, mode: str = "all") -> Constraint:
    """Required strings (a reverse lipogram): they must appear before the end.
    ``mode="all"``: every one; ``mode="any"``: at least one."""
    ss = _strings(strings, "RequireStrings")
    if mode == "any" or len(ss) == 1:
        return RegexFilter(containing(ss, ignore_case), f"RequireStrings({ss!r}, mode={mode!r})")
    if mode == "all":
        from .base import AllOf

        return AllOf(
            *[RegexFilter(containing([s], ignore_case), f"RequireStrings({[s]!r})") for s in ss]
        )
    raise ConstraintError(f"RequireStrings: mode is 'all' or 'any', not {mode!r}")
