"""Fast-forwarding: when the constraint allows exactly one continuation, insert it.

Where a constraint leaves the model no choice (the rest of a key name after its
opening quote, ``": "`` in compact JSON, the only value of an enum or a ``const``),
asking the model token by token costs one forward pass per token for nothing.
:class:`FastForward` finds the *forced bytes* after the current state and turns
them into tokens the :class:`~decoder.generate.Decoder` loop feeds to the model in
one forward pass (the KV cache grows by several positions at once).

Forced bytes
------------
A byte is forced when EOS is not allowed and every allowed token starts with that
byte.  Starting from the mask of the current state, the byte is committed with
``commit_bytes`` (one rollback step) and the mask of the next state tells whether
the byte after it is forced too, and so on; at the end everything is rolled back,
so the matcher is left exactly as it was.  When the engine offers
``matcher.forced_bytes()`` it is used instead (same answer, no masks).

Canonical tokens
----------------
The forced text is tokenized *in context*: the bytes of the last few generated
tokens followed by the forced bytes are encoded with the model's own tokenizer,
and the tokens after the boundary between the two are taken.  The last of them is
dropped, because it may merge with whatever the model writes next (``name"`` +
``:`` is ``name":`` for many BPE vocabularies); when the context does not end on a
token boundary of that encoding (the tokenizer would have merged across it),
nothing is inserted and the model continues normally.  Each inserted token is
committed to the matcher (and inserted only if the matcher accepts it), so the
constraint is never bypassed.  The model is therefore fed exactly the tokens its
tokenizer would have produced for that text, and stays on its distribution.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .protocol import Capability, capabilities

__all__ = ["FastForward", "forced_bytes"]

#: the longest forced run looked for at once (bytes)
MAX_FORCED_BYTES = 256
#: generated tokens used as the left context when tokenizing forced text
CONTEXT_TOKENS = 4


class FastForward:
    """Forced-continuation finder for one vocabulary and its tokenizer.

    Args:
        vocab: the ``decoder.vocab.Vocabulary`` the matchers were built on.
        tokenizer: the model's Hugging Face tokenizer (used to tokenize forced text).
    """

    def __init__(self, vocab, tokenizer, max_bytes: int = MAX_FORCED_BYTES):
        self.vocab = vocab
        self.tokenizer = tokenizer
        self.max_bytes = max_bytes
        width = int(vocab.model_vocab_size)
        self.words = (width + 31) // 32
        first = np.full(
            self.words * 32, -1, dtype=np.int16
        )  # -1: no bytes (special) or past the vocab
        for i, t in enumerate(vocab.tokens[:width]):
            if t:
                first[i] = t[0]
        self.first_byte = first
        self.eos_ids = np.asarray(sorted(vocab.eos_ids), dtype=np.int64)
        self._row = np.zeros(self.words, dtype=np.int32)

    _cache: dict = {}

    @classmethod
    def for_vocab(cls, vocab, tokenizer) -> FastForward:
        """One instance per (vocabulary, tokenizer), reused by every ``Decoder`` on them."""
        key = (id(vocab), id(tokenizer))
        hit = cls._cache.get(key)
        if hit is None or hit.vocab is not vocab or hit.tokenizer is not tokenizer:
            if len(cls._cache) > 8:
                cls._cache.clear()
            hit = cls._cache[key] = cls(vocab, tokenizer)
        return hit

    # ------------------------------------------------------------------ forced bytes
    def _only_first_byte(self, row: np.ndarray) -> int | None:
        """The byte every allowed token starts with, or None (EOS allowed, several bytes, none)."""
        e = self.eos_ids
        if ((row[e >> 5] >> (e & 31)) & 1).any():
            return None
        bits = np.unpackbits(row.view(np.uint8), bitorder="little").view(bool)
        fb = self.first_byte[bits]
        if fb.size == 0 or fb[0] < 0:
            return None
        b = fb[0]
        return int(b) if bool((fb == b).all()) else None

    def forced_bytes(self, m, row: np.ndarray | None = None) -> bytes:
        """The bytes every continuation of ``m`` starts with (``b""`` if none); ``m`` is unchanged.

        ``row`` (int32, one mask row) is scratch space; on return it holds the mask
        of ``m``'s current state when the result is empty and the Python search ran.
        """
        caps = capabilities(m)
        if Capability.FORCED_BYTES in caps:
            return bytes(m.forced_bytes(self.max_bytes))
        if Capability.COMMIT_BYTES not in caps:
            return b""  # neither capability: nothing can be forced
        row = self._row if row is None else row
        out = bytearray()
        try:
            while len(out) < self.max_bytes:
                m.compute_mask(row)
                b = self._only_first_byte(row)
                if b is None or not m.commit_bytes(bytes((b,))):
                    break
                out.append(b)
        finally:
            if out:
                m.rollback(len(out))
        return bytes(out)

    # ------------------------------------------------------------------ canonical tokens
    def tokens_for(self, context_ids: Sequence[int], forced: bytes) -> list[int]:
        """The model's tokens for ``forced`` written after ``context_ids``, last token dropped.

        ``[]`` when the encoding does not put a token boundary where the context ends, or
        the text cannot be encoded (bytes that are not UTF-8, a normalizing tokenizer).
        """
        tokens = self.vocab.tokens
        # forced text cut at the last complete UTF-8 character
        for cut in range(len(forced), max(len(forced) - 4, 0) - 1, -1):
            try:
                forced[:cut].decode("utf-8")
                break
            except UnicodeDecodeError:
                continue
        else:
            return []
        forced = forced[:cut]
        if not forced:
            return []
        k = min(len(context_ids), CONTEXT_TOKENS)
        for n in (k, 0) if k else (0,):
            ctx = b"".join(tokens[i] for i in context_ids[len(context_ids) - n :]) if n else b""
            try:
                text = (ctx + forced).decode("utf-8")
            except UnicodeDecodeError:
                continue
            ids = self.tokenizer.encode(text, add_special_tokens=False)
            pieces = [tokens[i] if 0 <= i < len(tokens) else b"" for i in ids]
            whole = b"".join(pieces)
            extra = len(whole) - len(ctx) - len(forced)  # e.g. SentencePiece's dummy-prefix space
            if extra < 0 or whole[extra:] != ctx + forced or whole[:extra].strip(b" "):
                continue
            target, pos = extra + len(ctx), 0
            for j, p in enumerate(pieces):
                if pos == target:
                    return list(ids[j:-1])
                if pos > target:
                    break
                pos += len(p)
        return []

    # ------------------------------------------------------------------ one step
    def advance(
        self, m, context_ids: Sequence[int], limit: int, row: np.ndarray | None = None
    ) -> tuple[list[int], bool]:
        """Commit the forced tokens after ``context_ids`` to ``m`` (at most ``limit``).

        Returns ``(tokens, mask_ready)``: the committed tokens, and whether ``row``
        holds the mask of ``m``'s current state (True only when nothing was inserted
        and the Python search computed it).
        """
        caps = capabilities(m)
        # the Python search (which leaves the mask in ``row``) runs without the engine's
        # forced_bytes() and with commit_bytes()
        searched = Capability.FORCED_BYTES not in caps and Capability.COMMIT_BYTES in caps
        forced = self.forced_bytes(m, row)
        if not forced or limit <= 0:
            return [], bool(not forced and searched and row is not None)
        out: list[int] = []
        for t in self.tokens_for(context_ids, forced)[:limit]:
            if not m.commit(t):
                break
            out.append(t)
        if not out:  # the row holds the mask of the last forced byte's state: recompute
            return [], False
        return out, False


def forced_bytes(matcher: Any, vocab) -> bytes:
    """The bytes every continuation of ``matcher`` starts with (one-off helper)."""
    return FastForward(vocab, tokenizer=None).forced_bytes(matcher)


class FastForwardRun:
    """Fast-forwarding state of one generation (one row): the recent tokens, the count inserted.

    ``row`` is the int32 mask row the loop applies next; when :meth:`after` returns
    ``mask_ready=True`` it already holds the mask of the matcher's current state.
    """

    def __init__(self, ff: FastForward, row: np.ndarray | None = None):
        self.ff = ff
        self.row = row
        self.context: list[int] = []
        self.inserted = 0

    def after(self, m, token: int, limit: int) -> tuple[list[int], bool]:
        """``token`` was just committed to ``m``: commit and return the forced tokens after it
        (at most ``limit``), and whether ``row`` holds the mask of ``m``'s new state."""
        self.context.append(token)
        forced, ready = self.ff.advance(m, self.context, limit, self.row)
        self.context.extend(forced)
        del self.context[:-CONTEXT_TOKENS]
        self.inserted += len(forced)
        return forced, ready
