"""Length budgets: tokens, words (counted as Ruler counts them, ``re.findall(r"\\w+")``),
characters.  Each is a Python matcher over a small state; masks are computed with numpy
from per-token tables (built once per vocabulary) and cached per state.

With other constraints (``schema & MaxTokens(60)``) the budget must still end in a
complete output: :class:`~decoder.constraints.base.AllOfMatcher` only lets a token through
when a completion that fits the budget exists after it (its witness search), and
``Decoder`` picks the best-scoring such token.

Ending well (``Words(..., end="sentence")``, the default): EOS is allowed only when the
word count is in range and the text ends a sentence (``.``, ``!``, ``?`` or ``…``,
possibly followed by closing quotes or brackets).  Once the count reaches
``max - reserve`` (``reserve`` defaults to a tenth of ``max``, at least 3 words), a
finished sentence may not be followed by a new one: only EOS or closing characters may
come, so the output stops at that sentence end (only EOS may follow) instead of being cut
mid-sentence at ``max``.  A sentence still open at ``max`` can only be closed: the next
token must be sentence punctuation (``.``, ``!"``, ...), so the output always ends with
sentence punctuation.
"""

from __future__ import annotations

import codecs
import re

import numpy as np

from .base import Constraint, ConstraintError, PyMatcher

__all__ = [
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

_WORD = re.compile(r"\w+")
_WCHAR = re.compile(r"\w")
SENTENCE_END = ".!?…"
CLOSERS = "\"')]}”’»*"


def count_words(text: str) -> int:
    """Words as Ruler counts them: ``len(re.findall(r"\\w+", text))``."""
    return len(_WORD.findall(text))


def ends_sentence(text: str) -> bool:
    """Whether ``text`` ends with sentence punctuation (closing quotes/brackets/space after it allowed)."""
    s = text.rstrip()
    s = s.rstrip(CLOSERS).rstrip()
    return bool(s) and s[-1] in SENTENCE_END


def _check_range(what: str, lo: int | None, hi: int | None):
    lo = 0 if lo is None else int(lo)
    if lo < 0 or (hi is not None and hi < lo):
        raise ConstraintError(f"{what}: need 0 <= min <= max, got min={lo}, max={hi}")
    return lo, hi


# ------------------------------------------------------------------ tokens


class _CountMatcher(PyMatcher):
    """A budget whose state is a count (tokens, characters) that must end in [lo, hi]."""

    def __init__(self, vocab, lo, hi):
        self.lo, self.hi = lo, hi
        super().__init__(vocab)

    def initial(self):
        return 0

    def accepting(self, state):
        return state >= self.lo

    def min_completion(self, state):
        return max(0, self.lo - state)

    def completion_hint(self, state):
        return b" " * max(0, self.lo - state)


class _TokenMatcher(_CountMatcher):
    def step(self, state, data):
        return state + 1 if self.hi is None or state < self.hi else None

    def allowed(self, state):
        return np.full(self.t.width, self.hi is None or state < self.hi)


class TokenBudget(Constraint):
    """Between ``min`` and ``max`` tokens (EOS not counted)."""

    def __init__(self, min: int | None = None, max: int | None = None):
        self.min, self.max = _check_range("TokenBudget", min, max)

    def matcher(self, vocab):
        return _TokenMatcher(vocab, self.min, self.max)


def MaxTokens(n: int) -> TokenBudget:
    return TokenBudget(max=n)


def MinTokens(n: int) -> TokenBudget:
    return TokenBudget(min=n)


def ExactTokens(n: int) -> TokenBudget:
    return TokenBudget(min=n, max=n)


# ------------------------------------------------------------------ words


class _WordTables:
    def __init__(self, t):
        V = t.width
        self.runs = np.zeros(V, dtype=np.int32)  # \w runs in the token
        self.starts_w = np.zeros(V, dtype=bool)  # first character is a word character
        self.end_effect = np.full(V, 2, dtype=np.int8)  # 1 ends a sentence, 0 does not, 2 carry
        self.enders = np.zeros(V, dtype=bool)  # only end punctuation and closers, ends a sentence
        self.clean = np.zeros(V, dtype=bool)  # valid UTF-8 on its own
        self.inner_end = np.zeros(V, dtype=bool)  # a sentence end followed by more text
        for i, tok in enumerate(t.vocab.tokens):
            if not tok:
                continue
            try:
                s = tok.decode("utf-8")
            except UnicodeDecodeError:
                continue
            self.clean[i] = True
            self.runs[i] = len(_WORD.findall(s))
            self.starts_w[i] = bool(_WCHAR.match(s))
            self.end_effect[i] = _end_effect(s)
            self.enders[i] = all(c in SENTENCE_END + CLOSERS for c in s) and any(
                c in SENTENCE_END for c in s
            )
            ends = [p for p, c in enumerate(s) if c in SENTENCE_END]
            self.inner_end[i] = bool(ends) and any(c not in CLOSERS for c in s[ends[0] + 1 :])
        self.max_add = int(self.runs.max()) + 1
        usable = t.usable
        self.dirty = np.nonzero(~self.clean & usable)[0]
        first = np.array(
            [tok[0] if tok else 0 for tok in t.vocab.tokens] + [0] * (V - len(t.vocab.tokens))
        )
        self.continuation = np.nonzero(usable & ((first & 0xC0) == 0x80))[0]


def _end_effect(s: str) -> int:
    for c in reversed(s):
        if c.isspace() or c in CLOSERS:
            continue
        return 1 if c in SENTENCE_END else 0
    return 2


class _WordMatcher(PyMatcher):
    """State: (words, in_word, at_sentence_end, pending UTF-8 bytes)."""

    def __init__(self, vocab, lo, hi, end, reserve):
        self.lo, self.hi, self.end = lo, hi, end
        self.stop_at = None if hi is None or end != "sentence" else max(lo, hi - reserve, 1)
        super().__init__(vocab)
        self.W = self.t.cached("words", lambda: _WordTables(self.t))
        self._all = np.ones(self.t.width, dtype=bool)

    def initial(self):
        return (0, False, True, b"")

    def _closing(self, count, sent) -> bool:
        return self.stop_at is not None and sent and count >= self.stop_at

    def step(self, state, data):
        count, in_word, sent, pending = state
        dec = codecs.getincrementaldecoder("utf-8")("replace")
        s = dec.decode(pending + data, False)
        keep = dec.getstate()[0]
        final = self.hi is not None and self.end == "sentence"
        for c in s:
            if self._closing(count, sent) and c not in SENTENCE_END + CLOSERS:
                return None  # a finished sentence near the end: only EOS may follow
                # (closing quotes inside the token that ends it aside; the mask allows none)
            if (
                final
                and count >= self.hi
                and not sent
                and not in_word
                and c not in SENTENCE_END + CLOSERS
            ):
                return None  # no word left: only closing the sentence
            w = bool(_WCHAR.match(c))
            if w and not in_word:
                count += 1
            in_word = w
            if c in SENTENCE_END:
                sent = True
            elif not (c.isspace() or c in CLOSERS):
                sent = False
        if self.hi is not None and count > self.hi:
            return None
        return (count, in_word, sent, keep)

    def allowed(self, state):
        count, in_word, sent, pending = state
        W = self.W
        if pending:  # only tokens that can finish the character, checked one by one
            ok = np.zeros(self.t.width, dtype=bool)
            ids = W.continuation
        elif self._closing(count, sent):
            return ~self._all
        elif self.end == "sentence" and self.hi is not None and count >= self.hi and not sent:
            return W.enders & W.clean
        else:
            far = (self.hi is None or self.hi - count > W.max_add) and (
                self.stop_at is None or self.stop_at - count > W.max_add
            )
            if far:
                return self._all
            added = W.runs - (W.starts_w & in_word)
            ok = W.clean.copy()
            if self.hi is not None:
                ok &= added <= self.hi - count
            if self.stop_at is not None:  # may end a sentence and go on inside the token
                ok &= ~(W.inner_end & (count + added >= self.stop_at))
            ids = W.dirty
        for i in ids:
            ok[i] = self.step(state, self.vocab.tokens[i]) is not None
        return ok

    def accepting(self, state):
        count, _, sent, pending = state
        return count >= self.lo and not pending and (self.end != "sentence" or sent)

    def min_completion(self, state):
        count, _, sent, _ = state
        need = max(0, self.lo - count)
        return 2 * need + (0 if (self.end != "sentence" or (sent and not need)) else 1)

    def completion_hint(self, state):
        count, _, sent, _ = state
        need = max(0, self.lo - count)
        tail = b"" if self.end != "sentence" or (sent and not need) else b"."
        return b" a" * need + tail


class Words(Constraint):
    """Between ``min`` and ``max`` words, counted as Ruler counts them (``\\w+``).

    ``end="sentence"`` (default): end at a sentence boundary (see the module docs;
    ``reserve`` words before ``max`` no new sentence starts); ``end="any"``: stop anywhere."""

    def __init__(
        self,
        min: int | None = None,
        max: int | None = None,
        *,
        end: str = "sentence",
        reserve: int | None = None,
    ):
        self.min, self.max = _check_range("Words", min, max)
        if end not in ("sentence", "any"):
            raise ConstraintError(f"Words: end is 'sentence' or 'any', not {end!r}")
        self.end = end
        self.reserve = (
            reserve if reserve is not None else (0 if max is None else builtins_max(3, max // 10))
        )

    @classmethod
    def around(cls, n: int, tolerance: float = 0.05, **kw) -> Words:
        """About ``n`` words: ``n`` ± ``tolerance`` (at least ± 2 words)."""
        d = builtins_max(2, int(round(n * tolerance)))
        return cls(min=builtins_max(1, n - d), max=n + d, **kw)

    def matcher(self, vocab):
        return _WordMatcher(vocab, self.min, self.max, self.end, self.reserve)

    def accepts(self, text: str) -> bool:
        n = count_words(text)
        return (
            self.min <= n
            and (self.max is None or n <= self.max)
            and (self.end != "sentence" or ends_sentence(text) or (n == 0 and not text.strip()))
        )


builtins_max = max


def MaxWords(n: int, **kw) -> Words:
    return Words(max=n, **kw)


def MinWords(n: int, **kw) -> Words:
    return Words(min=n, **kw)


def ExactWords(n: int, **kw) -> Words:
    return Words(min=n, max=n, **kw)


# ------------------------------------------------------------------ characters


class _CharMatcher(_CountMatcher):
    def __init__(self, vocab, lo, hi):
        super().__init__(vocab, lo, hi)

        def build():
            n = np.zeros(self.t.width, dtype=np.int64)
            n[: vocab.size] = [sum(1 for b in tok if b & 0xC0 != 0x80) for tok in vocab.tokens]
            return n

        self.nchars = self.t.cached("nchars", build)

    def step(self, state, data):
        n = state + sum(1 for b in data if b & 0xC0 != 0x80)
        return n if self.hi is None or n <= self.hi else None

    def allowed(self, state):
        if self.hi is None:
            return np.ones(self.t.width, dtype=bool)
        return self.nchars <= self.hi - state


class Chars(Constraint):
    """Between ``min`` and ``max`` characters (Unicode code points)."""

    def __init__(self, min: int | None = None, max: int | None = None):
        self.min, self.max = _check_range("Chars", min, max)

    def matcher(self, vocab):
        return _CharMatcher(vocab, self.min, self.max)

    def accepts(self, text: str) -> bool:
        return self.min <= len(text) and (self.max is None or len(text) <= self.max)


def MaxChars(n: int) -> Chars:
    return Chars(max=n)


def MinChars(n: int) -> Chars:
    return Chars(min=n)
