"""llguidance's lazy lexemes in Lark: ``[lazy]``, ``[stop="S"]``, ``[suffix="S"]``.

A lazy lexeme ends at the first byte where it matches (csrc/ir_format.h): its lexer state has
no transitions there, so neither it nor another lexeme allowed beside it goes on. Masks are
checked token by token against an oracle of the language on a real tokenizer (Llama 3).
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from conftest import bits_of, load_tokenizer, vocab_of

from decoder import Grammar, Matcher
from decoder.errors import DecoderError

FAM = "llama3"


def _words(vocab):
    return (vocab.model_vocab_size + 31) // 32


def _force(g, vocab, tok, text):
    m = Matcher(g, vocab)
    for t in tok.encode(text, add_special_tokens=False):
        if not m.commit(t):
            return None
    return m


def accepts(g, text) -> bool:
    vocab, tok = vocab_of(FAM), load_tokenizer(FAM)
    m = _force(g, vocab, tok, text)
    return m is not None and m.is_accepting()


def expected_mask(vocab, prefix: bytes, ok_prefix) -> np.ndarray:
    """Per token id: whether ``prefix + token`` is a prefix of a sentence (``ok_prefix``)."""
    out = np.zeros(_words(vocab) * 32, dtype=bool)
    for i in range(vocab.size):
        b = vocab.tokens[i]
        if b and i not in vocab.special_ids:
            out[i] = ok_prefix(prefix + b)
    return out


def check_mask(g, prefix: str, ok_prefix):
    vocab, tok = vocab_of(FAM), load_tokenizer(FAM)
    m = _force(g, vocab, tok, prefix)
    assert m is not None
    got = bits_of(m, _words(vocab))
    want = expected_mask(vocab, prefix.encode(), ok_prefix)
    for e in vocab.eos_ids:  # the end of the output: judged apart
        got[e] = False
    diff = np.flatnonzero(got != want)
    assert not len(diff), [(int(i), vocab.tokens[i], bool(got[i])) for i in diff[:10]]
    return m


def test_lazy_ends_at_the_first_match():
    # greedy /[a-z;]*;/ would take "ab;cd;"; lazy ends at the first ";"
    g = Grammar.from_lark('start: a "!"\na[lazy]: /[a-z;]*;/')
    assert accepts(g, "ab;!")
    assert not accepts(g, "ab;cd;!")
    greedy = Grammar.from_lark('start: a "!"\na: /[a-z;]*;/')
    assert accepts(greedy, "ab;cd;!")
    # the exact tokens allowed after "ab": letters, then at most ";!"
    check_mask(g, "ab", lambda s: re.fullmatch(rb"[a-z]*(;!?)?", s) is not None)
    # llguidance's own example: a lazy /[0-9]+/ is one digit
    one = Grammar.from_lark('start: n "x"\nn[lazy]: /[0-9]+/')
    assert accepts(one, "7x") and not accepts(one, "77x")


def _stop_oracle(s: bytes) -> bool:
    if re.fullmatch(rb"[ -~\n]*", s) is None:
        return False
    i = s.find(b"\n\n")
    return i < 0 or b"!".startswith(s[i + 2 :])


def test_stop_string_is_consumed_once_and_may_begin_inside_a_token():
    vocab, tok = vocab_of(FAM), load_tokenizer(FAM)
    g = Grammar.from_lark('start: answer "!"\nanswer[stop="\\n\\n"]: /[ -~\\n]*/')
    ids = tok.encode("Done.\n\n!", add_special_tokens=False)
    # Llama 3 writes ".\n\n" as one token: the stop string begins inside it
    assert any(vocab.tokens[t] == b".\n\n" for t in ids)
    assert accepts(g, "Done.\n\n!")
    assert accepts(g, "one\ntwo\n\n!")
    assert not accepts(g, "Done.\n\nmore\n\n!")  # the first "\n\n" ends the text
    assert not accepts(g, "Done.!")
    # after "Done": tokens are judged against "the text ends at its first \n\n, then !"
    check_mask(g, "Done", _stop_oracle)
    m = check_mask(g, "Done.\n", _stop_oracle)
    nl3 = [i for i in range(vocab.size) if vocab.tokens[i] == b"\n\n\n"]
    assert nl3 and not bits_of(m, _words(vocab))[nl3[0]]  # greedy text would take it
    # after the stop string: only "!"
    check_mask(g, "Done.\n\n", _stop_oracle)


def test_suffix_is_the_same_lexeme():
    g = Grammar.from_lark('start: a "!"\na[suffix="</x>"]: /[a-z<>\\/]*/')
    assert accepts(g, "ab</x>!")
    assert not accepts(g, "ab</x>c</x>!")


def test_stop_then_the_same_string_is_one_stop_string():
    # llguidance hides the stop string and the rule writes it again: one "<end>" in all
    g = Grammar.from_lark('start: w "<end>" "!"\nw[stop="<end>"]: /[a-z]*/')
    assert accepts(g, "foo<end>!")
    assert not accepts(g, "foo<end><end>!")
    # any other continuation comes after the stop string, which stays in the output
    h = Grammar.from_lark('start: w "b"\nw[stop="<end>"]: /[a-z]*/')
    assert accepts(h, "foo<end>b") and not accepts(h, "foob")


def test_llguidance_tool_call_idiom():
    # the example of llguidance's docs/syntax.md ("Tool calling"): free text until the first
    # "<function", then a call is forced
    g = Grammar.from_lark(
        "start: ( f_foo | f_bar )* f_end\n"
        "f_end: TEXT\n"
        "TEXT: /(.|\\n)*/\n"
        'f_foo_hd[lazy]: TEXT "<function"\n'
        'f_foo: f_foo_hd "=foo>" %json { "type": "object" } "</function>"\n'
        'f_bar_hd[lazy]: TEXT "<function"\n'
        'f_bar: f_bar_hd "=bar>" /[0-9]+/ "</function>"\n'
    )
    assert accepts(g, "just text")
    assert accepts(g, 'hi <function=foo>{"a":1}</function> and <function=bar>12</function> ok')
    assert not accepts(g, "hi <function=baz>")
    assert not accepts(g, "hi <function=bar>x</function>")
    # the lazy head wins where it matches: TEXT does not end there too (as in llguidance)
    assert not accepts(g, "hi <function")
    vocab, tok = vocab_of(FAM), load_tokenizer(FAM)
    m = _force(g, vocab, tok, "hi <function")
    allowed = bits_of(m, _words(vocab))
    assert not any(allowed[e] for e in vocab.eos_ids)
    for t in range(vocab.size):
        b = vocab.tokens[t]
        if allowed[t]:
            assert b"=foo>".startswith(b) or b"=bar>".startswith(b) or b.startswith(b"=foo>"), b
    assert not allowed[tok.encode(" more", add_special_tokens=False)[0]]


def test_lazy_with_max_tokens_and_distinct_from_greedy():
    vocab, tok = vocab_of(FAM), load_tokenizer(FAM)
    g = Grammar.from_lark("start: a b\na[lazy, max_tokens=2]: /[a-z ]*;/\nb: /[a-z ]*;/")
    assert len(g.ir.lazy) == 1 and len(g.ir.lexemes) == 2  # same regex, two lexemes
    assert accepts(g, "ab;cd;")
    m = _force(g, vocab, tok, " one two")  # two tokens: only the lexeme's end is left
    allowed = np.flatnonzero(bits_of(m, _words(vocab)))
    rest = [vocab.tokens[i] for i in allowed if i not in vocab.eos_ids]
    assert b";" in rest and all(b.startswith(b";") for b in rest)
    plain = Grammar.from_lark("start: a b\na: /[a-z ]*;/\nb: /[a-z ]*;/")
    assert (
        plain.fingerprint()
        != Grammar.from_lark("start: a b\na[lazy]: /[a-z ]*;/\nb: /[a-z ]*;/").fingerprint()
    )


@pytest.mark.parametrize(
    "text,match",
    [
        ('start: a\na[stop=""]: /x+/', 'stop="".*never takes tokens back'),
        ("start: a\na[stop=/x/]: /y+/", "string literal only"),
        ('start: a\na[lazy]: b "x"\nb: "y"', "lazy on a: its body must be terminals"),
        ("start: a\na[lazy]: /x*/", "matches the empty string"),
        ("start: a\na[temperature=0.7]: /x+/", "attribute 'temperature=0.7' on a"),
        ("start: a\na[lazy]: <|x|>", "lazy on a"),
    ],
)
def test_what_does_not_fit_is_an_error_naming_it(text, match):
    with pytest.raises(DecoderError, match=match):
        Grammar.from_lark(text)


@pytest.mark.parametrize(
    "tail,match",
    [
        ([0x4C415A59, 1, 5], "lazy lexeme out of range"),
        ([0x4C415A59, -1], "bad lazy lexeme count"),
        ([0x4C415A59, 3, 0], "truncated grammar"),
        ([0x4C415A59], "truncated grammar"),
        ([7, 1, 0], "trailing data after grammar"),
    ],
)
def test_malformed_lazy_section_is_a_clean_error(tail, match):
    from decoder import _engine
    from decoder import compile as dcompile
    from decoder.grammar._wire import LAZY_TAG

    assert LAZY_TAG == 0x4C415A59  # "LAZY", csrc/ir_format.h (the cases above spell it out)
    g = Grammar.from_lark('start: a "!"\na: /[a-z]+/')
    words, lexemes, nts = g.serialized()
    trie = dcompile.token_trie(vocab_of(FAM))
    _engine.CompiledGrammar(list(words) + [LAZY_TAG, 1, 0], lexemes, nts, trie)  # well formed
    with pytest.raises(DecoderError, match=match):
        _engine.CompiledGrammar(list(words) + tail, lexemes, nts, trie)


_IDIOM = (
    "start: ( f_foo | f_bar )* f_end\n"
    "f_end: TEXT\n"
    "TEXT: /(.|\\n)*/\n"
    'f_foo_hd[lazy]: TEXT "<function"\n'
    'f_foo: f_foo_hd "=foo>" %json { "type": "object" } "</function>"\n'
    'f_bar_hd[lazy]: TEXT "<function"\n'
    'f_bar: f_bar_hd "=bar>" /[0-9]+/ "</function>"\n'
)


@pytest.mark.parametrize(
    "grammar,texts",
    [
        ('start: n "x"\nn[lazy]: /[0-9]+/', ["7x", "77x"]),
        ('start: a "!"\na[lazy]: /[a-z;]*;/', ["ab;!", "ab;cd;!"]),
        ('start: a "!"\na[suffix="</x>"]: /[a-z]*/', ["ab</x>!", "ab</x>c</x>!"]),
        ('start: a "!"\na[stop="</x>"]: /[a-z]*/', ["ab</x>!", "ab!"]),
        # llguidance's hide-and-rewrite idiom: one stop string in all
        ('start: w "<end>"\nw[stop="<end>"]: /[a-z]*/', ["foo<end>", "foo<end><end>", "foo"]),
        (
            _IDIOM,
            [
                "just text",
                'hi <function=foo>{"a":1}</function> ok',
                "hi <function=baz>",
                "hi <function=bar>12</function>",
                "hi <function",
            ],
        ),
    ],
)
def test_same_sentences_as_llguidance(grammar, texts):
    """Teacher-forced through llguidance's own matcher and ours: the same verdicts."""
    pytest.importorskip("llguidance")
    import llguidance
    import llguidance.hf

    vocab, tok = vocab_of(FAM), load_tokenizer(FAM)
    ltok = llguidance.hf.from_tokenizer(tok, n_vocab=vocab.model_vocab_size)
    compiled = llguidance.LLMatcher.grammar_from_lark(grammar)
    g = Grammar.from_lark(grammar)
    for text in texts:
        m = llguidance.LLMatcher(ltok, compiled)
        assert not m.is_error(), m.get_error()
        ids = tok.encode(text, add_special_tokens=False)
        theirs = all(m.consume_token(t) for t in ids) and m.is_accepting()
        assert accepts(g, text) == theirs, text
