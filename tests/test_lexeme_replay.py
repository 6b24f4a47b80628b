"""The Matcher stage's engine compile (docs/optimizations.md, issue 23, session 17): a lexeme
whose wire words equal an earlier lexeme's (a JSON Schema grammar's KEY and "KEY (distinct)")
is replayed from the earlier one's NFA states, shifted (``Nfa::replay_lexeme``), and the byte
edges are bucketed after the distances to acceptance, the dead ones left out
(``Nfa::finish``); the compile cache's key hashes the words in the engine
(``_engine.words_hash``). Real tokenizer (Llama-3).

The oracle for the replayed copy is the same regex built by ``Nfa::build`` in a grammar where
it occurs once: the masks and the accepted byte strings in the copy must be those of the
original, state after state (``is_allowed`` alone would not do: it reads the same copy)."""

from __future__ import annotations

from array import array

import numpy as np
import pytest
from conftest import assert_mask_is_brute_force, bits_of, vocab_of

from decoder import Matcher, _engine
from decoder import compile as comp
from decoder.grammar import Grammar, ir

FAM = "llama3"
WS = ir.Lexeme("WS", ir.plus(ir.cps([(0x20, 0x20), (0x0A, 0x0A)])))

# regexes with each thing a lexeme's build appends: multi-byte UTF-8 sequences (new states
# per range), a bounded repetition (RepeatRegions), a counted repetition (a CountedRegion,
# its ticks and its gate), an unbounded loop and alternatives with dead branches
REGEXES = {
    "utf8": ir.cat(
        ir.lit('"'), ir.star(ir.cps([(0x61, 0x7A), (0x400, 0x4FF), (0x4E00, 0x4E20)])), ir.lit('"')
    ),
    "bounded": ir.cat(ir.lit("#"), ir.rep(ir.cps([(0x30, 0x39)]), 1, 7)),
    "counted": ir.cat(
        ir.lit('"'),
        ir.counted(ir.star(ir.unit(ir.cps([(0x61, 0x66), (0x430, 0x435)]))), 3, 5),
        ir.lit('"'),
    ),
    "dead": ir.alt(
        ir.cat(ir.lit("ab"), ir.NEVER), ir.cat(ir.lit("a"), ir.plus(ir.cps([(0x62, 0x63)])))
    ),
}

# the byte strings walked into the copy, one prefix after another
WALKS = {
    "utf8": ['"', '"a', '"aж', '"aжx', '"aжx一', '"aжx一"'],
    "bounded": ["#", "#1", "#12", "#123456", "#1234567"],
    "counted": ['"', '"a', '"ab', '"abг', '"abгd', '"abгde', '"abгde"'],
    "dead": ["a", "ab", "abc", "abcb"],
}


def _grammar(regex, copies: int) -> Grammar:
    """s -> R ',' R ';' with the second R its own lexeme of the same words (copies=2), or the
    reference s -> R ';' (copies=1); whitespace ignored (so prefixed copies exist too)."""
    lexemes = [
        WS,
        ir.Lexeme("R", regex),
        ir.Lexeme("','", ir.lit(",")),
        ir.Lexeme("';'", ir.lit(";")),
    ]
    if copies == 2:
        lexemes.append(ir.Lexeme("R (again)", regex))
        body = (-2, -3, -5, -4)
    else:
        body = (-2, -4)
    return Grammar(ir.GrammarIR(lexemes, ["s"], [(0, body)], 0, ignore=[0]))


def _prefix_text(regex_name: str) -> bytes:
    return WALKS[regex_name][-1].encode() + b","


@pytest.mark.parametrize("name", sorted(REGEXES))
def test_replayed_lexeme_behaves_as_built(name):
    vocab = vocab_of(FAM)
    twice, once = _grammar(REGEXES[name], 2), _grammar(REGEXES[name], 1)
    w2, _, _ = twice.serialized()
    assert len(w2) > len(once.serialized()[0])  # (the copy is in the wire words)
    m2, m1 = Matcher(twice, vocab), Matcher(once, vocab)
    assert m2.commit_bytes(_prefix_text(name))  # the first R (built), then ','
    words = m1.compiled.mask_words
    assert_mask_is_brute_force(m2, vocab, f"{name}: the copy's start")
    assert np.array_equal(bits_of(m2, words), bits_of(m1, words)), f"{name}: the copy's start"
    done = b""
    for text in WALKS[name]:
        step = text.encode()[len(done) :]
        done = text.encode()
        assert m2.commit_bytes(step) and m1.commit_bytes(step), f"{name}: {text!r}"
        assert np.array_equal(bits_of(m2, words), bits_of(m1, words)), f"{name}: after {text!r}"
        assert m2.min_completion_bytes() == m1.min_completion_bytes(), f"{name}: after {text!r}"
    assert m2.commit_bytes(b" ;") and m1.commit_bytes(b" ;")
    assert m2.is_accepting() and m1.is_accepting()


def test_replayed_counted_copy_keeps_its_bounds():
    # the copy's count must stop at 5 units and not accept before 3, as the original's
    vocab = vocab_of(FAM)
    m = Matcher(_grammar(REGEXES["counted"], 2), vocab)
    assert m.commit_bytes(b'"abc",')
    assert not m.commit_bytes(b'"ab"')
    assert m.commit_bytes(b'"abcde')
    assert not m.commit_bytes(b"f")
    assert not m.commit_bytes(b"a")
    assert m.commit_bytes(b'";') and m.is_accepting()


def test_words_hash_spreads_and_keys_the_cache(monkeypatch):
    base = array("i", range(1000))
    h = _engine.words_hash(base)
    assert h == _engine.words_hash(array("i", range(1000)))
    seen = {h}
    for i in (0, 1, 7, 8, 500, 997, 999):  # every lane and the tail
        w = array("i", base)
        w[i] ^= 1 << 20
        seen.add(_engine.words_hash(w))
    seen.add(_engine.words_hash(base[:-1]))
    seen.add(_engine.words_hash(array("i")))
    assert len(seen) == 10
    monkeypatch.setattr(comp, "_compiled", type(comp._compiled)())
    vocab = vocab_of(FAM)
    a = comp.compile_grammar(_grammar(REGEXES["bounded"], 1), vocab)
    assert comp.compile_grammar(_grammar(REGEXES["bounded"], 1), vocab) is a
    assert comp.compile_grammar(_grammar(REGEXES["dead"], 1), vocab) is not a
