"""llama.cpp's GBNF (decoder.grammar.gbnf): the constructs it reads, and errors naming the rest."""

from __future__ import annotations

import pytest

from decoder._engine import Matcher
from decoder.errors import DecoderError
from decoder.integrations.specs import grammar_for
from decoder.vocab import Vocabulary

GRAMMAR = r"""
# a small list, llama.cpp style
root   ::= "[" ws item ("," ws item){0,3} ws "]" tail
item   ::= [a-z] [a-z0-9_-]* | num | str
num    ::= "-"? [0-9]{1,5}
str    ::= "\"" ( [^"\\\x7F\x00-\x1F] | "\\" ["\\/bfnrt] )* "\""
ws ::= [ \t\n]*
tail ::= . ?
"""


@pytest.fixture(scope="module")
def vocab():
    # single bytes: the test is about the language, not tokenization
    return Vocabulary.from_bytes([bytes([b]) for b in range(256)] + [b""], eos_ids=[256])


def accepts(g, vocab, text: str) -> bool:
    m = Matcher(g, vocab)
    return m.commit_bytes(text.encode()) and m.is_accepting()


@pytest.mark.parametrize(
    "text,ok",
    [
        ('[abc, -12,"x\\"y"]', True),
        ("[a]!", True),
        ("[a_b-c,\n d]", True),
        ("[abc,1,2,3,4]", False),  # {0,3} more items
        ("[123456]", False),  # {1,5} digits
        ('["\x01"]', False),  # a control character outside the class
        ("[A]", False),
        ("[a]!!", False),
    ],
)
def test_gbnf_language(vocab, text, ok):
    assert accepts(grammar_for("grammar", GRAMMAR), vocab, text) is ok


@pytest.mark.parametrize(
    "text,match",
    [
        ("root ::= [z-a]", "reversed at line 1, column"),
        ("root ::= foo", "'foo' is used but never defined"),
        ('x ::= "a"', "no rule named 'root'"),
        ('root ::= "\\q"', r"unknown escape \\q"),
        ('root ::= "a" {0}', "only zero copies"),
        ('root ::= ("a"', "without its '\\)'"),
        ('root ::= "a" @', "'@' is not GBNF syntax"),
        ('root ::= "\\uD800"', "not a Unicode scalar"),
    ],
)
def test_gbnf_errors_name_the_construct(text, match):
    with pytest.raises(DecoderError, match=match):
        grammar_for("grammar", text)


def test_gbnf_repetitions_and_tokens(vocab):
    g = grammar_for("grammar", 'root ::= "a"{2} "b"{1,} ("c" "d"){0,2}')
    assert accepts(g, vocab, "aab") and accepts(g, vocab, "aabbbcdcd")
    assert not accepts(g, vocab, "ab") and not accepts(g, vocab, "aabcdcdcd")


# ---------------------------------------------------------------- free-text lexemes (byte level)


def _text_grammar(**kw):
    from decoder.grammar import Grammar
    from decoder.grammar.freetext import text_until
    from decoder.grammar.ir import GrammarBuilder

    b = GrammarBuilder()
    s = b.nonterminal("start")
    b.rule(s, [b.lexeme("T", text_until(**kw)), b.literal("!")])
    return Grammar(b.build(s))


@pytest.mark.parametrize(
    "text,ok",
    [
        ("cdXY!", True),
        ("XY!", True),
        ("é€ 😀XY!", True),
        ("c\nXY!", True),
        ("abXY!", False),  # an excluded string
        ("cdXYXY!", False),  # the trigger ends the text at its first occurrence
        ("cd!", False),  # no trigger
        ("aXbY XY!", True),
        ("XaY XY!", True),
    ],
)
def test_text_until_language(vocab, text, ok):
    g = _text_grammar(exclude=["ab"], trigger="XY")
    assert accepts(g, vocab, text) is ok


def test_text_until_rejects_invalid_utf8_and_markers(vocab):
    g = _text_grammar(trigger="XY")
    m = Matcher(g, vocab)
    assert not m.commit_bytes(b"\xff")  # the special-token marker byte is never text
    assert not m.commit_bytes(b"\xc3\x28")  # not UTF-8
    assert m.commit_bytes("ü".encode()[:1]) and m.commit_bytes("ü".encode()[1:])


def test_text_until_bad_strings_are_errors():
    with pytest.raises(DecoderError, match="non-empty string"):
        _text_grammar(exclude=[""])


@pytest.mark.parametrize(
    "text,ok",
    [
        ("abcXY!", True),
        ("abXY!", True),
        ("XY!", True),
        ("abcdXY!", False),  # four characters before the trigger
        ("abXaXY!", False),  # a broken trigger start counts as text
        ("aXY!", True),
        ("abcX", None),
    ],
)
def test_text_until_max_chars(vocab, text, ok):
    g = _text_grammar(trigger="XY", max_chars=3)
    if ok is None:  # at the budget only the trigger may go on
        m = Matcher(g, vocab)
        assert m.commit_bytes(b"abcX") and not m.commit_bytes(b"a") and m.commit_bytes(b"Y!")
        return
    assert accepts(g, vocab, text) is ok


def test_max_chars_in_a_structural_tag(vocab):
    import json

    tag = {
        "format": {
            "type": "tag",
            "begin": "<t>",
            "content": {"type": "any_text", "max_chars": 2, "excludes": ["z"]},
            "end": "</t>",
        }
    }
    g = grammar_for("structural_tag", json.dumps(tag))
    assert accepts(g, vocab, "<t>ab</t>") and not accepts(g, vocab, "<t>abc</t>")
    assert not accepts(g, vocab, "<t>z</t>")
