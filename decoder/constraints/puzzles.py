"""Filters that are not (practically) regular, as stateful Python matchers: anagram,
isogram, palindrome, edit distance.  Masks are cached per state and computed with numpy
over per-token tables built once per vocabulary (letter counts, letter sets).

Words are maximal runs of ASCII letters (as in :mod:`decoder.constraints.words`),
compared case-insensitively.  Tokens with non-ASCII bytes are not allowed by
``Anagram`` and ``Palindrome`` (their letters could not be counted exactly).
"""

from __future__ import annotations

import numpy as np

from .base import Constraint, ConstraintError, PyMatcher


def _jellyfish():
    try:
        import jellyfish
    except ImportError:  # pragma: no cover - depends on the environment
        from .._install import install_command

        raise ConstraintError(
            f"edit-distance filters need the jellyfish package: " f"{install_command('lexical')}"
        ) from None
    return jellyfish


__all__ = ["Anagram", "Isogram", "Palindrome", "EditDistance"]


def _letters(text: str) -> str:
    return "".join(c.lower() for c in text if c.isascii() and c.isalpha())


class _Letters:
    """Per-token letter tables of a vocabulary."""

    def __init__(self, t):
        V = t.width
        self.counts = np.zeros((V, 26), dtype=np.uint8)
        self.ascii = np.zeros(V, dtype=bool)
        self.lead_bits = np.zeros(V, dtype=np.int64)
        self.lead_ok = np.zeros(V, dtype=bool)
        self.has_sep = np.zeros(V, dtype=bool)
        self.inner_ok = np.zeros(V, dtype=bool)
        self.trail_bits = np.zeros(V, dtype=np.int64)
        self.lead: list = [""] * V
        self.inner: list = [()] * V
        self.trail: list = [""] * V
        import re

        lo = np.frombuffer(bytes(range(256)).lower(), dtype=np.uint8)
        toks = t.vocab.tokens
        lens = np.fromiter(map(len, toks), dtype=np.int64, count=len(toks))
        blob = lo[np.frombuffer(b"".join(toks), dtype=np.uint8)]
        owner = np.repeat(np.arange(len(toks)), lens)
        isl = (blob >= 97) & (blob <= 122)
        np.add.at(self.counts, (owner[isl], blob[isl].astype(np.int64) - 97), 1)
        non_ascii = np.zeros(V, dtype=np.int64)
        np.add.at(non_ascii, owner[blob >= 128], 1)
        self.ascii[: len(toks)] = (non_ascii[: len(toks)] == 0) & (lens > 0)
        word = re.compile("[a-z]+")
        for i, tok in enumerate(toks):
            if not tok:
                continue
            s = tok.decode("latin-1").lower()
            m = word.match(s)
            lead = m.group() if m else ""
            rest = s[len(lead) :]
            self.lead[i] = lead
            self.lead_bits[i], self.lead_ok[i] = _bits(lead)
            if rest:
                self.has_sep[i] = True
                parts = word.findall(rest)
                trail = parts[-1] if parts and "a" <= rest[-1] <= "z" else ""
                inner = parts[:-1] if trail else parts
                self.inner[i] = tuple(inner)
                self.trail[i] = trail
                self.trail_bits[i], tok_ok = _bits(trail)
                self.inner_ok[i] = tok_ok and all(_bits(w)[1] for w in inner)
            else:
                self.inner_ok[i] = True


def _bits(word: str):
    b = 0
    ok = True
    for c in word:
        bit = 1 << (ord(c) - 97)
        if b & bit:
            ok = False
        b |= bit
    return b, ok


def _letter_tables(t) -> _Letters:
    return t.cached("letters", lambda: _Letters(t))


# ------------------------------------------------------------------ anagram


class _AnagramMatcher(PyMatcher):
    def __init__(self, vocab, target: tuple, partial: bool):
        self.target, self.partial = target, partial
        super().__init__(vocab)
        self.L = _letter_tables(self.t)

    def initial(self):
        return self.target

    def step(self, state, data):
        rem = list(state)
        for b in data.lower():
            if b >= 128:
                return None
            if 97 <= b <= 122:
                rem[b - 97] -= 1
                if rem[b - 97] < 0:
                    return None
        return tuple(rem)

    def allowed(self, state):
        rem = np.array(state, dtype=np.int16)
        return self.L.ascii & (self.L.counts <= rem).all(axis=1)

    def accepting(self, state):
        return self.partial or not any(state)

    def min_completion(self, state):
        return 0 if self.partial else sum(state)

    def completion_hint(self, state):
        return b"" if self.partial else bytes(c for i, n in enumerate(state) for c in [97 + i] * n)


class Anagram(Constraint):
    """The output's letters (ASCII, case-insensitive; other characters are free) are an
    anagram of ``phrase``'s letters; ``partial=True``: a sub-multiset of them (any word
    spellable from its letters)."""

    def __init__(self, phrase: str, partial: bool = False):
        letters = _letters(phrase)
        if not letters:
            raise ConstraintError(f"Anagram: {phrase!r} has no ASCII letters")
        self.phrase, self.partial = phrase, partial
        self._target = tuple(letters.count(chr(97 + i)) for i in range(26))

    def matcher(self, vocab):
        return _AnagramMatcher(vocab, self._target, self.partial)

    def accepts(self, text: str) -> bool:
        if not text.isascii():
            return False
        have = _letters(text)
        cnt = tuple(have.count(chr(97 + i)) for i in range(26))
        return all(a <= b for a, b in zip(cnt, self._target)) and (
            self.partial or cnt == self._target
        )


# ------------------------------------------------------------------ isogram


class _IsogramMatcher(PyMatcher):
    def __init__(self, vocab):
        super().__init__(vocab)
        self.L = _letter_tables(self.t)

    def initial(self):
        return 0

    def step(self, state, data):
        s = data.decode("latin-1").lower()
        cur = state
        for c in s:
            if "a" <= c <= "z":
                bit = 1 << (ord(c) - 97)
                if cur & bit:
                    return None
                cur |= bit
            else:
                cur = 0
        return cur

    def allowed(self, state):
        L = self.L
        return L.lead_ok & L.inner_ok & ((L.lead_bits & state) == 0)


class Isogram(Constraint):
    """No word repeats a letter (case-insensitive)."""

    def matcher(self, vocab):
        return _IsogramMatcher(vocab)

    def accepts(self, text: str) -> bool:
        import re

        return all(len(set(w.lower())) == len(w) for w in re.findall("[A-Za-z]+", text))

    def __repr__(self):
        return "Isogram()"


# ------------------------------------------------------------------ palindrome


def _palindrome_need(s: str) -> int:
    """Fewest letters to append so that ``s`` reads the same backward."""
    for k in range(len(s) + 1):
        tail = s[k:]
        if tail == tail[::-1]:
            return k
    return len(s)


class _PalindromeMatcher(PyMatcher):
    mask_cache_size = 2

    def __init__(self, vocab):
        super().__init__(vocab)
        self.L = _letter_tables(self.t)

    def initial(self):
        return ""

    def step(self, state, data):
        if any(b >= 128 for b in data):
            return None
        return state + _letters(data.decode("ascii"))

    def allowed(self, state):
        return self.L.ascii

    def mask_of(self, state):  # the same mask for every state, EOS aside
        return super().mask_of(state == state[::-1])

    def accepting(self, state):
        return state == state[::-1] if isinstance(state, str) else bool(state)

    def min_completion(self, state):
        return _palindrome_need(state)

    def completion_hint(self, state):
        k = _palindrome_need(state)
        return state[:k][::-1].encode("ascii")


class Palindrome(Constraint):
    """The output's letters (ASCII, case-insensitive) read the same backward.  Every prefix
    can still be completed, so only EOS is masked (until the letters are a palindrome);
    with a budget the witness search closes the palindrome in time."""

    def matcher(self, vocab):
        return _PalindromeMatcher(vocab)

    def accepts(self, text: str) -> bool:
        s = _letters(text)
        return text.isascii() and s == s[::-1]

    def __repr__(self):
        return "Palindrome()"


# ------------------------------------------------------------------ edit distance


class _EditMatcher(PyMatcher):
    def __init__(self, vocab, target: str, k: int):
        self.target, self.k = target, k
        super().__init__(vocab)
        self.L = _letter_tables(self.t)
        key = ("edit", target, k)
        self.static = self.t.cached(key, self._static)

    def _row0(self):
        return tuple(range(len(self.target) + 1))

    def _extend(self, row, c):
        t = self.target
        new = [row[0] + 1]
        for j in range(1, len(t) + 1):
            new.append(min(row[j] + 1, new[j - 1] + 1, row[j - 1] + (c != t[j - 1])))
        return tuple(new)

    def _row(self, word):
        row = self._row0()
        for c in word:
            row = self._extend(row, c)
        return row

    def _static(self):
        """Per token, what does not depend on the state: the words it completes inside and
        its trailing word start (each word checked with jellyfish)."""
        jellyfish = _jellyfish()

        L, k, t = self.L, self.k, self.target
        ok = np.ones(self.t.width, dtype=bool)
        # lead: grouped by string in a trie walk at mask time; here the rest of the token
        for i in np.nonzero(L.has_sep)[0]:
            if any(jellyfish.levenshtein_distance(w, t) > k for w in L.inner[i]):
                ok[i] = False
            elif L.trail[i] and min(self._row(L.trail[i])) > k:
                ok[i] = False
        # a trie of the lowercase leads: node -> (children, token ids)
        trie: dict = {}
        for i, lead in enumerate(L.lead):
            if not self.t.usable[i]:
                continue
            n = trie
            for c in lead:
                n = n.setdefault(c, {})
            n.setdefault("", []).append(i)
        return ok, trie

    def initial(self):
        return ""

    def step(self, state, data):
        s = data.decode("latin-1").lower()
        cur = state
        parts = []
        for c in s:
            if "a" <= c <= "z":
                cur += c
            else:
                if cur:
                    parts.append(cur)
                cur = ""
        jellyfish = _jellyfish()

        if any(jellyfish.levenshtein_distance(w, self.target) > self.k for w in parts):
            return None
        if cur and min(self._row(cur)) > self.k:
            return None
        return cur

    def allowed(self, state):
        ok_static, trie = self.static
        has_sep = self.L.has_sep
        out = np.zeros(self.t.width, dtype=bool)
        k = self.k
        stack = [(trie, self._row(state), state == "")]
        while stack:
            node, row, at_root = stack.pop()
            ids = node.get("")
            if ids:
                ids = np.array(ids)
                sep = has_sep[ids]
                # lead completes the current word when the token has a separator
                done_ok = row[-1] <= k or (at_root and state == "")
                out[ids[sep]] = done_ok
                out[ids[~sep]] = True
            for c, child in node.items():
                if c == "":
                    continue
                r = self._extend(row, c)
                if min(r) <= k:
                    stack.append((child, r, False))
        return out & ok_static

    def accepting(self, state):
        jellyfish = _jellyfish()

        return state == "" or jellyfish.levenshtein_distance(state, self.target) <= self.k

    def min_completion(self, state):
        if self.accepting(state):
            return 0
        row = self._row(state)
        j = min(range(len(row)), key=lambda j: row[j])
        return len(self.target) - j

    def completion_hint(self, state):
        if self.accepting(state):
            return b""
        row = self._row(state)
        j = min(range(len(row)), key=lambda j: row[j])
        return self.target[j:].encode("ascii")


class EditDistance(Constraint):
    """Every word is within Levenshtein distance ``max_distance`` of ``word``
    (case-insensitive; whole words checked with ``jellyfish``)."""

    def __init__(self, word: str, max_distance: int = 1):
        if not word.isascii() or not word.isalpha():
            raise ConstraintError(f"EditDistance: {word!r} is not a word of ASCII letters")
        if max_distance < 0:
            raise ConstraintError("EditDistance: max_distance must be >= 0")
        self.word, self.max_distance = word.lower(), max_distance

    def matcher(self, vocab):
        return _EditMatcher(vocab, self.word, self.max_distance)

    def accepts(self, text: str) -> bool:
        import re

        jellyfish = _jellyfish()

        return all(
            jellyfish.levenshtein_distance(w.lower(), self.word) <= self.max_distance
            for w in re.findall("[A-Za-z]+", text)
        )
