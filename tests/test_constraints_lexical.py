"""Lexical filters: generated regexes against brute force, exact masks, and random walks on
real tokenizers where every finished output satisfies its filter."""

from __future__ import annotations

import random
import re

import numpy as np
import pytest
from conftest import shared_path

from decoder.constraints import (
    Anagram,
    BanWords,
    EditDistance,
    Isogram,
    Lexicon,
    NoLetters,
    NoStrings,
    OnlyChars,
    Palindrome,
    RequireStrings,
    Rhymes,
    WordLength,
    Words,
    WordsEndWith,
    WordsStartWith,
    count_words,
)
from decoder.constraints.regular import not_containing, trie_complement_regex, trie_regex
from decoder.protocol import Capability, capabilities


@pytest.mark.parametrize(
    "strings,ignore_case",
    [
        (["the"], False),
        (["ab", "ba"], False),
        (["aab", "ab"], True),
        (["abcab", "bca", "cc"], False),
    ],
)
def test_not_containing_matches_brute_force(strings, ignore_case):
    rx = re.compile(not_containing(strings, ignore_case))
    rng = random.Random(0)
    for n in range(7):
        for _ in range(400):
            s = "".join(rng.choice("abcABCthe x") for _ in range(n))
            hay = s.lower() if ignore_case else s
            want = not any((w.lower() if ignore_case else w) in hay for w in strings)
            assert (rx.fullmatch(s) is not None) == want, (strings, s)


def test_trie_regexes():
    words = ["cat", "car", "cart", "dog", "do"]
    inside = re.compile(trie_regex(words, True))
    outside = re.compile(
        trie_complement_regex(words, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", True)
    )
    for w in words + ["CAR", "Dog", "ca", "dogs", "carts", "x", "d"]:
        known = w.lower() in words
        assert (inside.fullmatch(w) is not None) == known
        assert (outside.fullmatch(w) is not None) == (not known)


def _vocab(family):
    from decoder import Vocabulary

    return Vocabulary.from_path(str(shared_path("tokenizers", family)))


def _allowed(m, vocab):
    row = np.zeros((vocab.model_vocab_size + 31) // 32, dtype=np.int32)
    m.compute_mask(row)
    return np.unpackbits(row.view(np.uint8), bitorder="little")[: vocab.model_vocab_size].astype(
        bool
    )


def _id(vocab, text: bytes) -> int:
    return vocab.tokens.index(text)


def test_lipogram_mask_is_exact_on_llama3():
    v = _vocab("llama3")
    m = NoLetters("e").matcher(v)
    ok = _allowed(m, v)
    for t in (b" the", b"E", b"tree", b" Eve"):
        assert not ok[_id(v, t)], t
    for t in (b" cat", b"A", b" dog", b"!"):
        assert ok[_id(v, t)], t
    assert all(ok[e] for e in v.eos_ids)
    # exactly the tokens without e/E (and not special)
    want = np.array([bool(t) and b"e" not in t.lower() for t in v.tokens])
    want[list(v.special_ids)] = False
    want[list(v.eos_ids)] = True
    assert (ok[: v.size] == want).all()


def test_banned_string_across_tokens_on_llama3():
    v = _vocab("llama3")
    m = NoStrings("cat").matcher(v)
    assert m.commit(_id(v, b" c"))
    ok = _allowed(m, v)
    assert not ok[_id(v, b"at")] and ok[_id(v, b"ow")]


def test_only_chars_and_word_filters_on_llama3():
    v = _vocab("llama3")
    ok = _allowed(OnlyChars("abc ").matcher(v), v)
    assert ok[_id(v, b" cab")] and not ok[_id(v, b" cat")]
    m = Lexicon(["cat", "category"]).matcher(v)
    assert m.commit(_id(v, b" cat"))
    ok = _allowed(m, v)
    assert (
        ok[_id(v, b"eg")] and ok[_id(v, b" ")] and not ok[_id(v, b"s")] and not ok[_id(v, b"ory")]
    )
    m = BanWords(["cat"]).matcher(v)
    assert m.commit(_id(v, b" cat"))
    ok = _allowed(m, v)
    assert not ok[_id(v, b" ")] and ok[_id(v, b"s")]  # "cat" must not end here; "cats" may


FILTERS = [
    lambda: NoLetters("e"),
    lambda: NoStrings("the", "and", ignore_case=True),
    lambda: OnlyChars("abcdefghij .,"),
    lambda: BanWords(["the", "a", "is"]),
    lambda: Lexicon("the cat sat on a mat and dog ran".split()),
    lambda: WordsStartWith("s"),
    lambda: WordsEndWith("ing"),
    lambda: WordLength(max=4),
    lambda: Rhymes("night"),
    lambda: RequireStrings("moon"),
    lambda: Isogram(),
    lambda: Anagram("dormitory", partial=True),
    lambda: EditDistance("cat", 1),
    lambda: Palindrome() & Words(max=6, end="any"),
    lambda: Words(min=3, max=8),
    lambda: NoLetters("a") & Words(max=5) & WordLength(max=5),
]


def _walk(m, vocab, rng, steps=40):
    """Random tokens from the mask (the witness token when a composition needs it); EOS
    once it is allowed after ``steps // 2`` tokens.  Returns the output bytes or None."""
    out = []
    eos = set(vocab.eos_ids)
    for i in range(steps):
        ok = _allowed(m, vocab)
        ids = np.nonzero(ok)[0]
        assert len(ids), f"empty mask after {b''.join(out)!r}"
        e = [t for t in ids if t in eos]
        if e and (i >= steps // 2 or rng.random() < 0.1):
            assert m.commit(int(e[0])) and m.is_terminated()
            return b"".join(out)
        cand = [int(t) for t in rng.sample(list(ids), min(8, len(ids))) if t not in eos]
        if not cand and e:
            assert m.commit(int(e[0]))
            return b"".join(out)
        for t in cand:
            assert m.commit(t)
            if Capability.WITNESS in capabilities(m) and m.min_completion_bytes() < 0:
                m.rollback(1)
                continue
            break
        else:
            t = m.witness_token()
            assert m.commit(t)
        out.append(vocab.tokens[t] if t not in eos else b"")
    # finish along the witness when there is one
    if Capability.WITNESS in capabilities(m):
        for t in m.witness():
            assert m.commit(t)
            out.append(vocab.tokens[t])
        return b"".join(out) if m.is_accepting() else None
    return None


@pytest.mark.parametrize("family", ["llama3", "gpt2"])
def test_random_walks_satisfy_every_filter(family):
    v = _vocab(family)
    rng = random.Random(1)
    finished = 0
    for make in FILTERS:
        c = make()
        root = c.matcher(v)
        for _ in range(1):
            m = root.fork()
            data = _walk(m, v, rng, steps=30)
            if data is None:
                continue
            finished += 1
            text = data.decode("utf-8", "replace")  # static filters allow any byte sequence
            parts = getattr(c, "parts", [c])
            for p in parts:
                assert p.accepts(text), (p, text)
    assert finished >= len(FILTERS) // 2  # a walk may stop inside a word; what finished was checked


def test_word_budget_counts_like_ruler():
    v = _vocab("llama3")
    m = Words(max=3, end="any").matcher(v)
    for t in (b"Hello", b",", b" world", b"'s"):
        assert m.commit(_id(v, t))
    assert count_words("Hello, world's") == 3
    ok = _allowed(m, v)
    assert not ok[_id(v, b" again")] and ok[_id(v, b"!")] and ok[_id(v, b"ly")]
