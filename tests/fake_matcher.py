"""A pure-Python stand-in for ``decoder.Matcher`` with the same contract, for tests.

It constrains output to a Python regex (module ``regex``, which can tell whether a
byte string is a *prefix* of a match: ``partial=True``).  It is slow (one regex
call per token per step) but exact, and lets the HF/generation layer be tested
without the C++ engine.  Tests use :func:`make_matcher` which picks the real
engine when it is built and this fake otherwise.
"""
from __future__ import annotations

import numpy as np
import regex


class FakeVocab:
    """The parts of ``decoder.vocab.Vocabulary`` the fake needs."""

    def __init__(self, tokens, eos_ids, special_ids, model_vocab_size=None):
        self.tokens = list(tokens)
        self.eos_ids = tuple(eos_ids)
        self.special_ids = frozenset(special_ids)
        self.size = len(self.tokens)
        self.model_vocab_size = model_vocab_size or self.size
        self.padding_ids = tuple(range(self.size, self.model_vocab_size))

    @classmethod
    def from_tokenizer(cls, tok, model_vocab_size=None):
        try:  # the real one when a colleague's module is there
            from decoder.vocab import Vocabulary

            return Vocabulary.from_tokenizer(tok, model_vocab_size=model_vocab_size)
        except ImportError:
            pass
        n = len(tok)
        special = set(tok.all_special_ids)
        toks = []
        for i in range(n):
            piece = tok.convert_ids_to_tokens(i)
            if i in special or piece is None:
                toks.append(b"")
            elif piece.startswith("<0x") and piece.endswith(">") and len(piece) == 6:
                toks.append(bytes([int(piece[3:5], 16)]))
            else:
                toks.append(piece.replace("\u2581", " ").encode("utf-8"))
        eos = tok.eos_token_id
        return cls(toks, [eos] if eos is not None else [], special, model_vocab_size)


class FakeMatcher:
    def __init__(self, pattern: str, vocab):
        self.pattern = pattern
        self._re = regex.compile(pattern.encode("utf-8"))
        self.vocab = vocab
        self._eos = set(vocab.eos_ids)
        self._skip = set(vocab.special_ids) | self._eos
        self._hist: list[tuple[bytes, bool]] = []  # (bytes so far, terminated) after each token
        self._data = b""
        self._term = False

    # -- state
    def _prefix_ok(self, data: bytes) -> bool:
        return self._re.fullmatch(data, partial=True) is not None

    def is_accepting(self) -> bool:
        return self._re.fullmatch(self._data) is not None

    def is_terminated(self) -> bool:
        return self._term

    def reset(self):
        self._hist.clear()
        self._data = b""
        self._term = False

    def fork(self) -> "FakeMatcher":
        m = FakeMatcher.__new__(FakeMatcher)
        m.__dict__.update(self.__dict__)
        m._hist = list(self._hist)
        return m

    def min_completion_bytes(self) -> int:
        return 0 if self.is_accepting() else 1

    # -- masks
    def compute_mask(self, out):
        arr = out.numpy() if hasattr(out, "numpy") else out
        words = arr.shape[-1]
        bits = np.zeros(words * 32, dtype=np.uint8)
        if not self._term:
            for i, t in enumerate(self.vocab.tokens):
                if i in self._skip or not t or i >= words * 32:
                    continue
                if self._prefix_ok(self._data + t):
                    bits[i] = 1
            if self.is_accepting():
                for e in self._eos:
                    if e < words * 32:
                        bits[e] = 1
        arr[...] = np.packbits(bits, bitorder="little").view(np.int32)
        return out

    # -- moves
    def commit(self, token_id: int) -> bool:
        token_id = int(token_id)
        if self._term:
            return False
        if token_id in self._eos:
            if not self.is_accepting():
                return False
            self._hist.append((self._data, self._term))
            self._term = True
            return True
        if token_id in self._skip or token_id >= len(self.vocab.tokens):
            return False
        t = self.vocab.tokens[token_id]
        if not t or not self._prefix_ok(self._data + t):
            return False
        self._hist.append((self._data, self._term))
        self._data += t
        return True

    def commit_bytes(self, b: bytes) -> bool:
        if self._term or not self._prefix_ok(self._data + b):
            return False
        self._hist.append((self._data, self._term))
        self._data += b
        return True

    def rollback(self, n: int):
        for _ in range(n):
            self._data, self._term = self._hist.pop()


def fake_fill_masks(matchers, out2d, threads=None):
    arr = out2d.numpy() if hasattr(out2d, "numpy") else out2d
    for i, m in enumerate(matchers):
        if m is None:
            arr[i] = -1
        else:
            m.compute_mask(arr[i])


def have_engine() -> bool:
    try:
        import decoder

        return hasattr(decoder, "Matcher") and not getattr(decoder.Matcher, "_is_stub", False)
    except ImportError:
        return False


class FakeRegexConstraint:
    """A constraint object for the generation layer: ``.matcher(vocab)`` makes a matcher.

    This is the duck-typed "constraint protocol" of ``decoder.hf`` / ``decoder.generate``.
    """

    def __init__(self, pattern: str):
        self.pattern = pattern

    def matcher(self, vocab):
        return FakeMatcher(self.pattern, vocab)


def regex_constraint(pattern: str):
    """The real ``Grammar.from_regex`` when the engine is built, else the fake."""
    if have_engine():
        import decoder

        return decoder.Grammar.from_regex(pattern)
    return FakeRegexConstraint(pattern)
