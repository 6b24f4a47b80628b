"""The Matcher stage's crossing (docs/optimizations.md, section 52, session 14): the compile
cache keyed by a CRC-32 of the wire words and exact on its hits, the names crossing as NUL-joined
blobs (read by the engine's error messages), and Nfa::finish's distances to acceptance (level by
level, int32 offsets) checked against brute force. Real tokenizer (Llama-3)."""

from __future__ import annotations

import itertools
import re
from collections import OrderedDict

import pytest
from conftest import assert_mask_is_brute_force, vocab_of

from decoder import GrammarError, Matcher
from decoder import compile as comp
from decoder.grammar import Grammar, ir

FAM = "llama3"


@pytest.fixture
def fresh_cache(monkeypatch):
    monkeypatch.setattr(comp, "_compiled", OrderedDict())
    return comp


def test_equal_keys_with_other_words_are_told_apart(fresh_cache, monkeypatch):
    vocab = vocab_of(FAM)
    # every grammar gets the same key, as two whose words' CRC-32, length and names agree
    monkeypatch.setattr(comp, "_grammar_key", lambda g, w, lx: (0, 0, "", "", ""))
    ab = comp.compile_grammar(Grammar.from_regex("ab+"), vocab)
    cd = comp.compile_grammar(Grammar.from_regex("cd+"), vocab)
    assert cd is not ab  # a hit compares the words
    m = Matcher(cd)
    assert_mask_is_brute_force(m, vocab, "cd+ at its start")
    assert not m.commit_bytes(b"ab") and m.commit_bytes(b"cdd") and m.is_accepting()
    # the same words again (another Grammar, another array) are a hit; the other not
    again = comp.compile_grammar(Grammar.from_regex("cd+"), vocab)
    assert again is cd
    ab2 = comp.compile_grammar(Grammar.from_regex("ab+"), vocab)
    assert ab2 is not cd and ab2 is not ab
    m = Matcher(ab2)
    assert not m.commit_bytes(b"cd") and m.commit_bytes(b"abb") and m.is_accepting()


def test_key_separates_what_the_words_do_not_hold(fresh_cache):
    vocab = vocab_of(FAM)

    def named(name: str, budget: int | None = None) -> Grammar:
        g = ir.GrammarIR([ir.Lexeme(name, ir.plus(ir.lit("a")))], ["s"], [(0, (-1,))], 0)
        if budget is not None:
            g.budgets.append((0, budget))
        return Grammar(g)

    a, b = named("A"), named("B")
    assert a.serialized()[0] == b.serialized()[0]  # the same words
    ca, cb = comp.compile_grammar(a, vocab), comp.compile_grammar(b, vocab)
    assert ca is not cb  # lexeme names are part of the key, as in Grammar.fingerprint
    assert comp.compile_grammar(named("A"), vocab) is ca
    c2, c3 = comp.compile_grammar(named("A", 2), vocab), comp.compile_grammar(named("A", 3), vocab)
    assert c2 is not ca and c3 is not c2  # and token budgets
    assert ca.key_words == a.serialized()[0]
    assert comp.compile_grammar(named("A"), vocab, cache=False).key_words is None


def test_names_cross_as_blobs_into_error_messages():
    vocab = vocab_of(FAM)
    # the third lexeme matches "" (refused by name); the names hold non-ASCII text
    lexemes = [ir.Lexeme("erste", ir.lit("a")), ir.Lexeme("zweite_é", ir.lit("b"))]
    lexemes.append(ir.Lexeme("dritte_ü", ir.star(ir.lit("c"))))
    g = ir.GrammarIR(lexemes, ["s"], [(0, (-1, -2, -3))], 0)
    with pytest.raises(GrammarError, match="lexeme dritte_ü matches the empty string"):
        Matcher(Grammar(g), vocab)
    g = ir.GrammarIR(lexemes[:2], ["s", "t_ß", "u"], [(1, (1, -1)), (0, (-2,))], 1)
    with pytest.raises(GrammarError, match="start symbol t_ß derives no string"):
        Matcher(Grammar(g), vocab)
    # a name count that disagrees with the header is refused, as a vector of names was
    from decoder import _engine

    words, lx, nt = Grammar(ir.GrammarIR(lexemes[:2], ["s"], [(0, (-1, -2))], 0)).serialized()
    trie = comp.token_trie(vocab)
    _engine.CompiledGrammar(words, lx, nt, trie)
    for bad_lx, bad_nt in ((lx[:1], nt), (lx + ["x"], nt), (lx, nt + ["y"]), (lx, [])):
        with pytest.raises(GrammarError, match="inconsistent grammar header"):
            _engine.CompiledGrammar(words, bad_lx, bad_nt, trie)


ALPHABET = "abcxyz"
PATTERNS = [
    r"(a|b?c?)*x(yz|y{3})",
    r"((a?)(b?))*(c|ab)",
    r"(x*|y)(z?z?)a{2,3}",
    r"(a(b|)c?|x(y|z)*)+z",
    r"(((a?)?)?b)*c(x|y?z)",
]


def shortest_completion(pattern: re.Pattern, prefix: str, most: int = 5) -> int:
    for k in range(most + 1):
        for tail in itertools.product(ALPHABET, repeat=k):
            if pattern.fullmatch(prefix + "".join(tail)):
                return k
    raise AssertionError((pattern.pattern, prefix))


@pytest.mark.parametrize("pattern", PATTERNS)
def test_distances_to_acceptance_are_brute_force(pattern):
    # min_completion_bytes reads the NFA's distances to acceptance (Nfa::finish: epsilon edges
    # cost 0, bytes 1); every prefix of up to 3 bytes that a completion exists for
    vocab = vocab_of(FAM)
    rx = re.compile(pattern)
    m = Matcher(Grammar.from_regex(pattern), vocab)
    checked = 0
    for n in range(4):
        for p in itertools.product(ALPHABET, repeat=n):
            prefix = "".join(p)
            alive = any(
                rx.fullmatch(prefix + "".join(t))
                for k in range(6)
                for t in itertools.product(ALPHABET, repeat=k)
            )
            f = m.fork()
            ok = f.commit_bytes(prefix.encode())
            assert ok == alive, (pattern, prefix)
            if ok:
                assert f.min_completion_bytes() == shortest_completion(rx, prefix), (
                    pattern,
                    prefix,
                )
                checked += 1
    assert checked > 10
