"""Constraints that accept the empty string: regexes (``x*``, ``a?``, ``[^\\n]*``) and Lark
grammars whose start derives ε or whose terminals match "" (issue 21). The empty output is
allowed (EOS at the start) and non-empty outputs are what the constraint says; the engine
never sees a lexeme that matches "" (``ir.without_nullable_lexemes``). Masks are exact, on
a synthetic byte vocabulary: needs nothing from ../shared."""

from __future__ import annotations

import codecs
import re

import numpy as np
import pytest

from decoder import Matcher
from decoder.grammar import Grammar, GrammarBuilder, ir
from decoder.vocab import Vocabulary

MULTI = [b"ab", b"abab", b"ba", b"xx", b"xy", b"a\n", b"\xc3\xa9", b"\xc3", b"\xa9"]
TOKENS = [bytes([i]) for i in range(256)] + MULTI + [b""]
EOS = len(TOKENS) - 1
VOCAB = Vocabulary.from_bytes(TOKENS, eos_ids=[EOS], special_ids=[EOS])


def allowed(m) -> set:
    out = np.zeros((len(TOKENS) + 31) // 32, dtype=np.int32)
    m.compute_mask(out)
    bits = np.unpackbits(out.view(np.uint8), bitorder="little")[: len(TOKENS)]
    return set(np.nonzero(bits)[0].tolist())


def ids(*pieces: bytes) -> set:
    return {TOKENS.index(p) for p in pieces}


def walk(m, *pieces: bytes):
    for p in pieces:
        assert m.commit(TOKENS.index(p)), p
    return m


def utf8_prefix(b: bytes) -> bool:
    try:
        codecs.getincrementaldecoder("utf-8")().decode(b, final=False)
        return True
    except UnicodeDecodeError:
        return False


def test_optional_literal():
    m = Matcher(Grammar.from_regex("a?"), VOCAB)
    assert m.is_accepting()
    assert allowed(m) == ids(b"a", b"")  # EOS (b"") at the start: the empty output
    walk(m, b"a")
    assert allowed(m) == ids(b"")


def test_star():
    m = Matcher(Grammar.from_regex("x*"), VOCAB)
    assert allowed(m) == ids(b"x", b"xx", b"")
    walk(m, b"xx", b"x")
    assert allowed(m) == ids(b"x", b"xx", b"")


def test_star_of_a_pair():
    m = Matcher(Grammar.from_regex("(?:ab)*"), VOCAB)
    assert allowed(m) == ids(b"a", b"ab", b"abab", b"")
    walk(m, b"a")
    assert allowed(m) == ids(b"b", b"ba")
    walk(m, b"ba")  # "aba"
    assert allowed(m) == ids(b"b", b"ba")


def test_any_line_is_every_token_without_a_newline():
    m = Matcher(Grammar.from_regex(r"[^\n]*"), VOCAB)
    expected = {i for i, t in enumerate(TOKENS[:-1]) if b"\n" not in t and utf8_prefix(t)} | {EOS}
    assert allowed(m) == expected
    assert TOKENS.index(b"a\n") not in expected and TOKENS.index(b"\xa9") not in expected
    walk(m, b"ab", b"\xc3")
    assert allowed(m) == {
        i for i, t in enumerate(TOKENS[:-1]) if utf8_prefix(b"\xc3" + t) and b"\n" not in t
    } - {EOS}


def test_empty_pattern_allows_only_eos():
    for p in ["", "(?:)", "(?:|)"]:
        m = Matcher(Grammar.from_regex(p), VOCAB)
        assert allowed(m) == {EOS}, p


@pytest.mark.parametrize(
    "pattern", ["a?b?", "(?:a|)(?:b|)x*", "(?:ab|b?)+", "(?:x?){2,3}y?", "a*(?:ba)*", r"[ab]{0,3}"]
)
def test_masks_match_python_re(pattern):
    """Every token allowed at the start (and after "a") extends to a full match, and EOS is
    allowed exactly when what was written fully matches."""
    rx = re.compile(pattern)
    short = [b"a", b"b", b"x", b"y", b"ab", b"ba", b"xx", b"xy", b"abab"]

    def completions(prefix: str, depth=4):  # strings over a,b,x,y up to `depth` more chars
        out = [prefix]
        frontier = [prefix]
        for _ in range(depth + 4):
            frontier = [s + c for s in frontier for c in "abxy"]
            out += frontier
        return out

    for prefix in ["", "a"]:
        m = Matcher(Grammar.from_regex(pattern), VOCAB)
        if prefix and not m.commit(TOKENS.index(prefix.encode())):
            assert not any(rx.fullmatch(s) for s in completions(prefix)), (pattern, prefix)
            continue
        got = allowed(m)
        assert (EOS in got) == bool(rx.fullmatch(prefix)), (pattern, prefix)
        for t in short:
            ok = any(rx.fullmatch(s) for s in completions(prefix + t.decode()) if len(s) <= 8)
            assert (TOKENS.index(t) in got) == ok, (pattern, prefix, t)


def test_lark_start_derives_empty():
    m = Matcher(Grammar.from_lark('start: "a"?'), VOCAB)
    assert allowed(m) == ids(b"a", b"")
    m = Matcher(Grammar.from_lark('start: item*\nitem: "ab"'), VOCAB)
    assert allowed(m) == ids(b"a", b"ab", b"abab", b"")


def test_lark_terminal_matching_empty():
    # Lark's own dynamic lexer refuses zero-width terminals; decoder takes them
    g = Grammar.from_lark('start: A B\nA: /x*/\nB: "y"?')
    m = Matcher(g, VOCAB)
    assert allowed(m) == ids(b"x", b"xx", b"xy", b"y", b"")
    walk(m, b"xx")
    assert allowed(m) == ids(b"x", b"xx", b"xy", b"y", b"")
    walk(m, b"y")
    assert allowed(m) == ids(b"")


def test_lark_ignored_terminal_matching_empty():
    m = Matcher(Grammar.from_lark('start: "a" "b"\n%ignore /[ ]*/'), VOCAB)
    assert allowed(m) == ids(b"a", b"ab", b" ")
    walk(m, b"a", b" ", b" ")
    assert allowed(m) == ids(b"b", b" ")


def test_builder_rewrites_nullable_lexemes():
    b = GrammarBuilder()
    s = b.nonterminal("s")
    x = b.lexeme("X", ir.star(ir.lit("x")))
    b.rule(s, [x, b.literal("y"), x])
    g = b.build(s)
    assert not any(ir.nullable(lx.regex) for lx in g.lexemes)
    m = Matcher(Grammar(g), VOCAB)
    assert allowed(m) == ids(b"x", b"xx", b"xy", b"y")
    walk(m, b"xy")
    assert allowed(m) == ids(b"x", b"xx", b"")
    # the non-empty part equal to another lexeme: that lexeme serves both
    b = GrammarBuilder()
    s = b.nonterminal("s")
    b.rule(
        s,
        [
            b.lexeme("P", ir.plus(ir.lit("x"))),
            b.lexeme("S", ir.alt(ir.EMPTY, ir.plus(ir.lit("x")))),
        ],
    )
    g = b.build(s)
    assert [lx.regex for lx in g.lexemes].count(ir.plus(ir.lit("x"))) == 1
    m = Matcher(Grammar(g), VOCAB)
    assert allowed(m) == ids(b"x", b"xx")
    walk(m, b"x")
    assert allowed(m) == ids(b"x", b"xx", b"")


@pytest.mark.parametrize(
    "node",
    [
        ir.star(ir.lit("ab")),
        ir.opt(ir.lit("a")),
        ir.EMPTY,
        ir.cat(ir.opt(ir.lit("a")), ir.star(ir.lit("b"))),
        ir.rep(ir.opt(ir.lit("a")), 2, 3),
        ir.alt(ir.lit("a"), ir.EMPTY, ir.cat(ir.lit("b"), ir.opt(ir.lit("c")))),
    ],
)
def test_non_empty(node):
    from itertools import product

    from decoder.grammar.regex import to_python_regex

    full = re.compile(to_python_regex(node))
    ne = ir.non_empty(node)
    part = re.compile(to_python_regex(ne)) if ne != ir.NEVER else None
    for n in range(6):
        for chars in product("abc", repeat=n):
            s = "".join(chars)
            want = bool(full.fullmatch(s)) and s != ""
            assert bool(part and part.fullmatch(s)) == want, (node, s)
