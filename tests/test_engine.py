"""The C++ engine on hand-built grammars and a synthetic byte vocabulary: needs nothing
from ../shared. Masks are checked against brute force (commit every token and see)."""

from __future__ import annotations

import random

import numpy as np
import pytest

from decoder import GrammarError, LimitError, Matcher, MatcherError, fill_masks
from decoder.grammar import Grammar, GrammarBuilder, ir
from decoder.vocab import Vocabulary

# 256 single bytes, some multi-byte tokens (including pieces of UTF-8 characters), EOS last
MULTI = [
    b"12",
    b"1+",
    b"+2",
    b"ab",
    b"++",
    b"3 +",
    b"  ",
    b"\xc3",
    b"\xa9",
    b"\xc3\xa9",
    b"\xe2\x82",
    b"\xac1",
    b"caf\xc3",
    b"ba",
    b"abab",
    b"b+",
]
TOKENS = [bytes([i]) for i in range(256)] + MULTI + [b""]
EOS = len(TOKENS) - 1
VOCAB = Vocabulary.from_bytes(TOKENS, eos_ids=[EOS], special_ids=[EOS])


def allowed(m) -> set:
    out = np.zeros((len(TOKENS) + 31) // 32, dtype=np.int32)
    m.compute_mask(out)
    bits = np.unpackbits(out.view(np.uint8), bitorder="little")[: len(TOKENS)]
    return set(np.nonzero(bits)[0].tolist())


def brute(m) -> set:
    return {t for t in range(len(TOKENS)) if m.is_allowed(t)}


def sum_grammar(ignore_ws=True) -> Grammar:
    b = GrammarBuilder()
    num = b.lexeme("NUM", ir.plus(ir.cps([(48, 57)])))
    plus = b.literal("+")
    if ignore_ws:
        b.ignore(b.lexeme("WS", ir.rep(ir.lit(" "), 1, 2)))
    s = b.nonterminal("sum")
    b.rule(s, [num])
    b.rule(s, [s, plus, num])  # left recursion
    return Grammar(b.build(s))


def ab_grammar() -> Grammar:
    """S -> 'a' S 'b' | ε  (a^n b^n, not regular; nullable start)."""
    b = GrammarBuilder()
    s = b.nonterminal("S")
    b.rule(s, [b.literal("a"), s, b.literal("b")])
    b.rule(s, [])
    return Grammar(b.build(s))


def utf8_grammar() -> Grammar:
    """One lexeme: 'caf' then one non-ASCII code point then a digit."""
    b = GrammarBuilder()
    s = b.nonterminal("s")
    b.rule(
        s, [b.lexeme("W", ir.cat(ir.lit("caf"), ir.cps([(0x80, 0x10FFFF)]), ir.cps([(48, 57)])))]
    )
    return Grammar(b.build(s))


def tok(s: bytes) -> int:
    return TOKENS.index(s)


def test_mask_matches_brute_force_along_a_sentence():
    m = Matcher(sum_grammar(), VOCAB)
    for piece in [b"12", b"+", b" ", b"3 +", b"4", b"5"]:
        assert allowed(m) == brute(m)
        assert m.commit(tok(piece)), piece
    assert allowed(m) == brute(m)
    assert EOS in allowed(m) and m.is_accepting()


def test_exact_tokens_after_a_number():
    m = Matcher(sum_grammar(), VOCAB)
    assert m.commit(tok(b"12"))
    a = {TOKENS[t] for t in allowed(m)}
    assert {b"+", b"+2", b"1+", b"3 +", b" ", b"  ", b""} <= a  # b"" is EOS
    assert b"++" not in a and b"ab" not in a and b"b+" not in a


def test_eos_only_when_accepting():
    m = Matcher(sum_grammar(), VOCAB)
    assert EOS not in allowed(m)
    assert not m.commit(EOS)
    m.commit(tok(b"1+"))
    assert EOS not in allowed(m) and not m.is_accepting()
    m.commit(tok(b"2"))
    assert EOS in allowed(m)
    assert m.commit(EOS) and m.is_terminated()
    assert allowed(m) == {EOS}  # only EOS after termination
    assert not m.commit(tok(b"3"))
    m.rollback(1)  # rollback undoes termination
    assert not m.is_terminated() and m.commit(tok(b"3"))


def test_ignore_lexeme_is_bounded_and_never_repeats():
    m = Matcher(sum_grammar(), VOCAB)
    m.commit(tok(b"1"))
    assert m.commit(tok(b"  "))  # two spaces: one WS lexeme at its bound
    assert not m.is_allowed(tok(b" "))  # a third space would need a second WS in a row
    assert m.commit(tok(b"+"))


def test_non_regular_nullable_grammar():
    m = Matcher(ab_grammar(), VOCAB)
    assert m.is_accepting()  # empty sentence
    for ch in b"aaab":
        assert m.commit(ch)
    assert not m.is_accepting()
    assert m.min_completion_bytes() == 2
    assert not m.is_allowed(ord("a"))
    assert allowed(m) == {ord("b")} == brute(m)
    m.commit(ord("b"))
    m.commit(ord("b"))
    assert m.is_accepting() and allowed(m) == {EOS}


def test_tokens_split_inside_a_utf8_character():
    m = Matcher(utf8_grammar(), VOCAB)
    assert m.commit(tok(b"caf\xc3"))  # ends in the middle of 'é'
    a = allowed(m)
    # continuation bytes (and a continuation byte + digit, which completes the word) only
    assert tok(b"\xa9") in a and tok(b"\xac1") in a
    assert tok(b"\xc3\xa9") not in a and tok(b"\xc3") not in a and ord("a") not in a
    assert a == brute(m)
    assert m.commit(tok(b"\xa9")) and m.commit(ord("7")) and m.is_accepting()
    m2 = Matcher(utf8_grammar(), VOCAB)
    assert m2.commit_bytes(b"caf\xe2\x82") and m2.commit(tok(b"\xac1")) and m2.is_accepting()
    assert not Matcher(utf8_grammar(), VOCAB).commit_bytes(b"caf\xff")  # invalid UTF-8


def test_min_completion_bytes():
    m = Matcher(sum_grammar(), VOCAB)
    assert m.min_completion_bytes() == 1
    m.commit(tok(b"1+"))
    assert m.min_completion_bytes() == 1
    m.commit(tok(b"2"))
    assert m.min_completion_bytes() == 0
    m3 = Matcher(utf8_grammar(), VOCAB)
    m3.commit_bytes(b"ca")
    assert m3.min_completion_bytes() == 4  # 'f' + a two-byte character + a digit


def test_rollback_and_fork_equal_fresh_matchers():
    rng = random.Random(7)
    g = sum_grammar()
    for _ in range(30):
        m = Matcher(g, VOCAB)
        seq = []
        for _ in range(rng.randint(1, 12)):
            a = sorted(allowed(m) - {EOS})
            if not a:
                break
            t = rng.choice(a)
            assert m.commit(t)
            seq.append(t)
        k = rng.randint(0, len(seq))
        f = m.fork()
        m.rollback(k)
        fresh = Matcher(g, VOCAB)
        for t in seq[: len(seq) - k]:
            assert fresh.commit(t)
        assert allowed(m) == allowed(fresh)
        full = Matcher(g, VOCAB)
        for t in seq:
            full.commit(t)
        assert allowed(f) == allowed(full)  # the fork kept the pre-rollback state


def test_reset():
    m = Matcher(sum_grammar(), VOCAB)
    before = allowed(m)
    m.commit(tok(b"12"))
    m.reset()
    assert allowed(m) == before and m.num_steps == 0


def test_rejected_commit_leaves_state_unchanged():
    m = Matcher(sum_grammar(), VOCAB)
    m.commit(tok(b"1"))
    before = allowed(m)
    assert not m.commit(tok(b"ab"))
    assert not m.commit_bytes(b"+x")
    assert allowed(m) == before


def test_fill_masks_threads_match_single_masks():
    g = sum_grammar()
    ms = [Matcher(g, VOCAB) for _ in range(6)]
    for i, m in enumerate(ms):
        m.commit_bytes(b"1" + b"+2" * i)
    out = np.zeros((7, (len(TOKENS) + 31) // 32), dtype=np.int32)
    fill_masks(ms + [None], out, threads=3)
    for i, m in enumerate(ms):
        single = np.zeros(out.shape[1], dtype=np.int32)
        m.compute_mask(single)
        assert (single == out[i]).all()
    assert (out[6] == -1).all()


def test_buffer_and_argument_checks():
    m = Matcher(sum_grammar(), VOCAB)
    with pytest.raises(MatcherError, match="dtype int32"):
        m.compute_mask(np.zeros(16, dtype=np.float32))
    with pytest.raises(MatcherError, match="at least"):
        m.compute_mask(np.zeros(2, dtype=np.int32))
    with pytest.raises(MatcherError, match="out of range"):
        m.commit(10**6)
    with pytest.raises(MatcherError, match="roll back"):
        m.rollback(1)
    with pytest.raises(MatcherError, match="twice"):
        fill_masks([m, m], np.zeros((2, 16), dtype=np.int32))


def test_grammar_errors():
    # the engine's invariant: no lexeme matches the empty string (GrammarBuilder.build rewrites
    # one that does, see tests/test_nullable_constraints.py; an IR built by hand is refused)
    g = ir.GrammarIR([ir.Lexeme("E", ir.star(ir.lit("a")))], ["s"], [(0, (-1,))], 0)
    with pytest.raises(GrammarError, match="matches the empty string"):
        Matcher(Grammar(g), VOCAB)
    b = GrammarBuilder()
    s = b.nonterminal("s")
    b.rule(s, [s, b.literal("a")])  # no base case
    with pytest.raises(GrammarError, match="language is empty"):
        Matcher(Grammar(b.build(s)), VOCAB)


def test_limits_are_errors_not_hangs():
    b = GrammarBuilder()
    s = b.nonterminal("s")
    b.rule(s, [b.lexeme("BIG", ir.rep(ir.cps([(0, 0x10FFFF)]), 1, 10**7))])
    with pytest.raises(LimitError, match="limit"):
        Matcher(Grammar(b.build(s)), VOCAB)
    with pytest.raises(ValueError, match="unknown limits"):
        Matcher(sum_grammar(), VOCAB, limits={"nope": 1})


def test_bounded_repetition_positions_share_walks_exactly():
    """Positions of a long bounded repetition reuse one walk down to a fixed depth (see
    docs/optimizations.md); masks must still equal brute force, also for tokens longer than
    that depth and near the end of the repetition."""
    long_tokens = [b"a" * k for k in range(2, 30)] + [
        b"ab" * 8 + b"c",
        b"b" * 14 + b'"',
        b"\xc3\xa9" * 9,
    ]
    toks = [bytes([i]) for i in range(256)] + long_tokens + [b""]
    vocab = Vocabulary.from_bytes(toks, eos_ids=[len(toks) - 1], special_ids=[len(toks) - 1])
    b = GrammarBuilder()
    s = b.nonterminal("s")
    body = ir.cps([(0x61, 0x7A), (0xE9, 0xE9)])  # [a-zé]
    b.rule(s, [b.lexeme("STR", ir.cat(ir.lit('"'), ir.rep(body, 3, 45), ir.lit('"')))])
    g = Grammar(b.build(s))
    m = Matcher(g, vocab)

    def mask(m):
        out = np.zeros((len(toks) + 31) // 32, dtype=np.int32)
        m.compute_mask(out)
        bits = np.unpackbits(out.view(np.uint8), bitorder="little")[: len(toks)]
        return set(np.nonzero(bits)[0].tolist())

    def brute_force(m):
        return {t for t in range(len(toks)) if m.is_allowed(t)}

    assert m.commit(ord('"'))
    for step in range(47):
        assert mask(m) == brute_force(m), f"after {step} characters"
        if not m.commit(ord("a") if step % 3 else 0xE9 - 0xE9 + ord("b")):
            break
    assert m.commit(ord('"')) and m.is_accepting()


def test_forced_bytes_is_the_common_prefix_of_every_continuation():
    m = Matcher(Grammar.from_regex("abc(d|e)f?"), VOCAB)
    assert m.forced_bytes() == b"abc"
    assert m.num_steps == 0  # the matcher is left as it was
    assert m.commit_bytes(b"ab") and m.forced_bytes() == b"c"
    assert m.commit_bytes(b"c") and m.forced_bytes() == b""  # d or e
    assert m.commit_bytes(b"d") and m.forced_bytes() == b""  # f, or the end
    assert m.forced_bytes(max_bytes=2) == b""
    key = Matcher(
        Grammar.from_json_schema(
            {
                "type": "object",
                "properties": {"name": {"const": "Ada"}},
                "required": ["name"],
                "additionalProperties": False,
            },
            whitespace="compact",
        ),
        VOCAB,
    )
    assert key.forced_bytes() == b'{"name":"Ada"}'
    assert key.forced_bytes(max_bytes=3) == b'{"n'
    # a lexeme that may go on (digits) is not forced past its end
    num = Matcher(sum_grammar(ignore_ws=False), VOCAB)
    assert num.commit_bytes(b"1") and num.forced_bytes() == b""
    assert num.commit_bytes(b"+") and num.forced_bytes() == b""


@pytest.mark.parametrize("src,text", [("start: \n", b""), ('start: "a"\n', b"a")])
def test_after_eos_the_mask_and_commit_agree(src, text):
    """Terminated: the mask allows EOS alone (a finished row of a batch still has a token to
    sample), and committing it is a step that changes nothing; every other token is refused.
    (A fuzz finding: the mask allowed EOS while commit and is_allowed refused it.)"""
    from hostile.cases import EOS, TOKENS, mask_set, vocab

    m = Matcher(Grammar.from_lark(src), vocab())
    if text:
        assert m.commit_bytes(text)
    assert m.commit(EOS) and m.is_terminated()
    steps = m.num_steps
    assert mask_set(m) == {EOS}
    assert {t for t in range(len(TOKENS)) if m.is_allowed(t)} == {EOS}
    assert m.commit(EOS) and m.is_terminated() and m.num_steps == steps + 1
    assert not m.commit_bytes(b"a") and not m.commit(ord("a"))
    m.rollback(1)
    assert m.is_terminated() and m.num_steps == steps
    m.rollback(1)
    assert not m.is_terminated() and EOS in mask_set(m)


@pytest.mark.parametrize(
    "pattern",
    [
        r"(?:x[0-9]{2}|é|ab?){2,5}",  # nested counted repetition, multi-byte, alternatives
        r"(?:(?:a|é){1,3}b){2,4}c",  # counted inside counted: regions replayed per copy
        r"(?:(?:x[0-9]{2}|é){0,3}-)*",  # a counted repetition inside a loop (from == to)
        r"(?:a?){3,6}b",  # a nullable body
    ],
)
def test_counted_repetition_copies_accept_exactly(pattern):
    """A counted repetition builds its body once and replays it per copy (csrc/regex.cc):
    the language must be exactly the regex's, checked against Python's re."""
    import re

    rx = re.compile(pattern)
    g = Grammar.from_regex(pattern)
    rng = random.Random(pattern)
    alphabet = ["x", "0", "7", "é", "a", "b", "c", "-"]
    strings = [""] + [
        "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 14))) for _ in range(600)
    ]
    strings += ["x12é-", "abab", "ab" * 5, "aébaab" + "c", "ab" * 3 + "c", "aaab", "b", "x00x11-é-"]
    for s in strings:
        m = Matcher(g, VOCAB)
        got = m.commit_bytes(s.encode()) and m.is_accepting()
        assert bool(got) == bool(rx.fullmatch(s)), (pattern, s)
