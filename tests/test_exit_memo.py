"""The exit-walk memo of warm masks (docs/optimizations.md, "Exit-walk memo";
csrc/matcher_memo.cc): what the walks below a cache entry's exits allowed is remembered per
matcher, keyed by the entry and the serial of the parser's top row (so that the masks after the
first inside one string replay them), and per compiled grammar, keyed by the entry's state and
the interned id of the top row (its items, origins named by their rows' ids), so that other
positions and other matchers with the same parse replay them. Checked on three tokenizer
families (byte-level BPE, SentencePiece with byte fallback, Tekken):

- masks that replay a memo (later positions of one string, the same state again after a
  rollback, a fork, another matcher of the same grammar) equal `is_allowed` on every token;
- the same lexer state under other parser rows (the same text in two strings whose closing
  quotes allow different continuations) gets its own walks, not the other's;
- a random walk (tokens of valid documents, rollbacks, forks; arrays of objects, whose later
  elements share interned rows) whose every mask equals the mask of a matcher of a grammar
  compiled apart (`cache=False`: no memo of either kind) fed the same bytes.
"""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
from conftest import assert_mask_is_brute_force, bits_of, vocab_of

from decoder import Grammar, Matcher

FAMILIES = ["llama3", "llama2", "mistral-tekken"]

PAIR = {
    "type": "object",
    "properties": {"a": {"type": "string"}, "b": {"type": "string"}},
    "required": ["a", "b"],
    "additionalProperties": False,
}


def token_id(vocab, text: bytes) -> int:
    for i in range(vocab.model_vocab_size):
        if vocab.token_bytes(i) == text:
            return i
    pytest.skip(f"no token {text!r} in this vocabulary")


@pytest.mark.parametrize("family", FAMILIES)
def test_replayed_masks_equal_brute_force(family):
    vocab = vocab_of(family)
    g = Grammar.from_json_schema(PAIR)
    m = Matcher(g, vocab)
    words = m.compiled.mask_words
    assert m.commit_bytes(b'{"a": "xy')
    first = assert_mask_is_brute_force(m, vocab, f"{family} in a's string")
    assert m.mask_stats[0] > 0  # the walks below the closing quote ran
    # later positions of the same string: the memo's walks (same entry, same rows)
    assert m.commit_bytes(b"z")
    later = assert_mask_is_brute_force(m, vocab, f"{family} later in a's string")
    assert (later == first).all()
    assert (bits_of(m, words) == first).all()
    assert m.mask_stats[0] == 0, "the walks below the exits ran again"
    # the same text in b's string: same lexer state, other rows below the closing quote
    assert m.commit_bytes(b'", "b": "xyz')
    in_b = assert_mask_is_brute_force(m, vocab, f"{family} in b's string")
    close_obj = token_id(vocab, b'"}')
    assert in_b[close_obj] and not first[close_obj]
    # back to a's string: its memo, still exact
    m.rollback(1)
    again = assert_mask_is_brute_force(m, vocab, f"{family} a's string after a rollback")
    assert (again == first).all()
    # a fork goes on differently; both stay exact
    f = m.fork()
    assert f.commit_bytes(b'", "b": "q')
    assert (assert_mask_is_brute_force(f, vocab, f"{family} fork in b") == in_b).all()
    assert (assert_mask_is_brute_force(m, vocab, f"{family} after the fork") == first).all()
    # another matcher of the same grammar, other text at the same place: the grammar's memo
    other = Matcher(g, vocab)
    assert other.commit_bytes(b'{"a": "q')
    assert (assert_mask_is_brute_force(other, vocab, f"{family} another matcher") == first).all()
    assert other.mask_stats == (0, m.mask_stats[1]), "the grammar's memo was not used"
    # ... and in b's string after another a
    assert other.commit_bytes(b'", "b": "')
    assert (
        assert_mask_is_brute_force(other, vocab, f"{family} another matcher in b") == in_b
    ).all()


NESTED = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "tags": {"type": "array", "items": {"type": "string", "maxLength": 6}},
        "n": {"type": "number"},
        "items": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"k": {"type": "string"}, "v": {"type": "integer"}},
                "required": ["k"],
            },
        },
    },
    "required": ["name"],
}
DOCS = [  # (properties in the schema's order: decoder writes them so)
    {"name": "alpha beta gamma", "tags": ["ab", "cdéf", "x"], "n": 12.5},
    {"name": "zz", "items": [{"k": "one two", "v": 1}, {"k": "three"}, {"k": 'a"b\\c', "v": -20}]},
    {"name": "", "n": 0, "items": [{"k": "p", "v": i} for i in range(6)]},
    {"name": "日本語のテキスト", "tags": [], "n": -3e5},
]


def allowed_prefix_tokens(bits: np.ndarray, table: list[bytes], rest: bytes) -> list[int]:
    return [
        i for i in np.flatnonzero(bits) if i < len(table) and table[i] and rest.startswith(table[i])
    ]


@pytest.mark.parametrize("family", FAMILIES)
def test_random_walk_equals_a_matcher_without_memo(family):
    vocab = vocab_of(family)
    table = [vocab.token_bytes(i) for i in range(vocab.model_vocab_size)]
    rng = random.Random(23)
    g = Grammar.from_json_schema(NESTED)
    checked = replayed = 0
    for doc in DOCS:
        text = json.dumps(doc, ensure_ascii=False).encode()
        m = Matcher(g, vocab)
        words = m.compiled.mask_words
        done: list[bytes] = []  # the bytes of each committed token
        while True:
            bits = bits_of(m, words)
            replayed += m.mask_stats[0] == 0 and m.mask_stats[1] > 0
            oracle = Matcher(g, vocab, cache=False)
            assert oracle.commit_bytes(b"".join(done))
            assert (bits == bits_of(oracle, words)).all(), (family, b"".join(done))
            checked += 1
            pos = sum(map(len, done))
            if pos == len(text):
                break
            r = rng.random()
            if r < 0.15 and done:
                k = rng.randint(1, min(3, len(done)))
                m.rollback(k)
                del done[-k:]
                continue
            if r < 0.25:
                m = m.fork()
            choices = allowed_prefix_tokens(bits, table, text[pos:])
            assert choices, (family, text[:pos])
            t = int(rng.choice(choices))
            assert m.commit(t)
            done.append(table[t])
        assert m.is_accepting()
    assert checked > 50 and replayed > 5, (checked, replayed)


# One rule in two places: inside NAME after `A<` or `B<`, the top rows hold the same dotted
# rules and differ only in their origins (the row where `item` began), so what may follow the
# name differs (` the` or ` and`). A row id that named the origins' positions or dropped them
# would give the second matcher the first one's walks.
TWO_PLACES = """
start: "A" item " the" | "B" item " and"
item: "<" NAME
NAME: /[a-z]+/
"""


@pytest.mark.parametrize("family", FAMILIES)
def test_rows_that_differ_in_origins_only_get_their_own_walks(family):
    vocab = vocab_of(family)
    g = Grammar.from_lark(TWO_PLACES)
    masks = []
    for text in [b"A<ab", b"B<ab", b"B<xyz", b"A<q"]:
        m = Matcher(g, vocab)
        assert m.commit_bytes(text)
        masks.append(assert_mask_is_brute_force(m, vocab, f"{family} {text!r}"))
    assert (masks[0] == masks[3]).all() and (masks[1] == masks[2]).all()
    the, and_ = token_id(vocab, b" the"), token_id(vocab, b" and")
    assert masks[0][the] and not masks[0][and_]
    assert masks[1][and_] and not masks[1][the]
