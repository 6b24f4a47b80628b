"""A lexer state's dead byte classes, filled in one pass at its first transition
(`Lexer::fill_dead`, docs/optimizations.md section 58): a grammar with well over 128 byte
classes (a key per printable ASCII character cuts a class at each), so that a character
range's byte classes span the 64-bit words of the live-class mask. Fresh states' masks are
checked against brute force and against oracles that do not go through the lexer (which
single-byte tokens may come next). The Lark test fails when fill_dead marks the classes of
an edge that crosses a word wrongly (e.g. ``hi = ce & 63``): brute force alone would not
see it, since commits step the same rows; the JSON states mostly take text-class shortcuts."""

from __future__ import annotations

import pytest
from conftest import assert_cold_mask_is_brute_force, bits_of, single_byte_tokens, vocab_of

from decoder import Grammar, Matcher

FAMILIES = ["llama3", "llama2", "mistral-tekken"]

# one key per printable ASCII character but the quote and the backslash (the character twice:
# each first byte leads somewhere else, so each is a byte class of its own), and a non-ASCII one
KEYS = [chr(c) * 2 for c in range(0x20, 0x7F) if chr(c) not in '"\\'] + ["日本"]

# "s": a plain string (its bytes mostly take the text class's shortcuts); "h": twelve
# characters, one of them in [#-~] (the hex ids of Github o10009: a product automaton, so every
# byte of a mask or a commit steps the lexer DFA, and each fresh state runs fill_dead)
STRING_STATES = [
    '{"s": "',
    '{"s": "a~ ',
    '{"h": "',
    '{"h": "a',
    '{"h": "a~ ',
    '{"h": "\u00e9',
    '{"h": "!!!!!!!!!',
    '{"!!": 1, "h": "',
]


def grammar(n: int, closed: bool = False) -> Grammar:
    props = {k: {"type": "integer"} for k in KEYS}
    props["s"] = {"type": "string"}
    props["h"] = {"type": "string", "minLength": 12, "maxLength": 12, "pattern": "[#-~]+"}
    props[f"zz{n}"] = {"type": "null"}  # a fresh grammar (and cold states) per n
    schema = {"type": "object", "properties": props}
    if closed:  # the declared keys only: what a key position allows is the key trie's bytes
        schema["additionalProperties"] = False
    return Grammar.from_json_schema(schema)


@pytest.mark.parametrize("family", FAMILIES)
def test_string_states_with_many_byte_classes(family):
    vocab = vocab_of(family)
    single = single_byte_tokens(vocab)
    printable = [single[bytes([b])] for b in range(0x20, 0x7F) if bytes([b]) in single]
    control = [single[bytes([b])] for b in range(0x00, 0x20) if bytes([b]) in single]
    assert len(printable) > 90, family
    for n, prefix in enumerate(STRING_STATES):
        m = Matcher(grammar(n), vocab)
        assert m.commit_bytes(prefix.encode()), prefix
        bits = assert_cold_mask_is_brute_force(m, vocab, f"{family} {prefix!r}")
        # (the closing quote: not before the twelfth character of "h")
        lost = [
            vocab.token_bytes(t) for t in printable if not bits[t] and vocab.token_bytes(t) != b'"'
        ]
        assert not lost, (family, prefix, lost[:8])
        assert not any(bits[t] for t in control), (family, prefix)


@pytest.mark.parametrize("family", FAMILIES)
def test_key_start_with_many_byte_classes(family):
    vocab = vocab_of(family)
    single = single_byte_tokens(vocab)
    m = Matcher(grammar(100, closed=True), vocab)
    assert m.commit_bytes(b'{"')
    bits = assert_cold_mask_is_brute_force(m, vocab, f"{family} key start")
    # every one-character key's character; not a control byte
    for k in KEYS[:-1]:
        assert bits[single[k[0].encode()]], (family, k)
    assert not bits[single[b"\x01"]], family
    # a key's character then its closing quote: the state after it is fresh too
    m2 = Matcher(grammar(101, closed=True), vocab)
    assert m2.commit_bytes(b'{"~~')
    bits = bits_of(m2, m2.compiled.mask_words)
    assert bits[single[b'"']] and not bits[single[b"a"]], family


# A Lark grammar whose lexemes the matcher steps byte by byte through the lexer DFA (no
# text-class shortcut): 92 two-character keys cut a byte class at every printable character,
# and P's [#-~] edges then span classes across the first 64-bit word of fill_dead's mask.
PAIR_CHARS = [chr(c) for c in range(0x21, 0x7F) if chr(c) not in '"\\']


def pairs_grammar(n: int) -> Grammar:
    keys = " | ".join(f'"{c}{c}z{n}"' for c in PAIR_CHARS)
    return Grammar.from_lark(f"start: K | P\nK: {keys}\nP: /(?:[#-~][#-~])+;/\n")


@pytest.mark.parametrize("family", FAMILIES)
def test_lark_lexemes_across_class_words(family):
    vocab = vocab_of(family)
    single = single_byte_tokens(vocab)
    inside = set(range(0x23, 0x7F))  # P's characters (';' among them)
    for n, (prefix, expect) in enumerate(
        [
            (b"", inside | {0x21}),
            (b"ab", inside),
            (b"abc", inside),
            (b"a~~~", inside),
            (b"#", inside),
        ]
    ):
        m = Matcher(pairs_grammar(n), vocab)
        assert m.commit_bytes(prefix), prefix
        bits = assert_cold_mask_is_brute_force(m, vocab, f"{family} {prefix!r}")
        got = {b for b in range(256) if bytes([b]) in single and bits[single[bytes([b])]]}
        want = {b for b in expect if bytes([b]) in single}
        assert got == want, (family, prefix, sorted(got ^ want)[:8])
