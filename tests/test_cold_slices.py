"""Cold masks from per-grammar token classes (docs/optimizations.md sections 20 and 26) against
brute force, on four tokenizer families: byte-level BPE (llama3, qwen2), SentencePiece with byte
fallback (llama2) and Tekken (mistral-tekken).

A state whose own class (the bytes it loops on, or that its usual successor loops on, and the
UTF-8 lead bytes that act like the others of their length) keeps it alive on every string of
the class takes the vocabulary's slice of that class (`TokenTrie::class_slice`) and walks only
the slice's skeleton. Free text is the main user: it loops on every character but the first
ones of its trigger and excluded strings. Every state is reached fresh (a new grammar per
state: `last_mask_cold` is checked) and the whole vocabulary is checked with `is_allowed`
(commit and roll back, byte by byte through the lexer). The corners: a partial trigger (a
state the class does not fit), a trigger split across tokens, a state inside a character, an
excluded string that starts with a multi-byte character (its lead byte leaves the class, so
"é" is out of the class because "ü" begins an excluded string: tokens one byte apart on each
side of the boundary), tokens holding the trigger's first byte, and JSON strings with a
negated-class pattern (`[^/]`), whose class is the text bytes but one.
"""

from __future__ import annotations

import pytest
from cold_states import hermes, string_beside_null, tagged, tagged_common
from conftest import (
    assert_cold_mask_is_brute_force,
    assert_mask_is_brute_force,
    bits_of,
    single_byte_tokens,
    vocab_of,
)

from decoder import Grammar, Matcher

FAMILIES = ["llama3", "llama2", "mistral-tekken", "qwen2"]


def negated(n: int) -> Grammar:
    schema = {
        "type": "object",
        "properties": {
            "p": {"type": "string", "pattern": "^[^/]*$"},
            "q": {"type": "string", "pattern": "^(/[^/]+)+$"},
            f"zz{n}": {"type": "null"},
        },
    }
    return Grammar.from_json_schema(schema)


STATES = [
    (hermes, b""),  # the start: free text or a call
    (hermes, b"Some text"),  # inside free text: the class of every byte but '<'
    (hermes, "Caf\u00e9 ".encode()),  # after a multi-byte character
    (hermes, b"Caf\xc3"),  # inside a character
    (hermes, b"Hi\n\n"),  # after control bytes (in free text's class, not in JSON's)
    (hermes, b"Checking <"),  # a partial trigger: the class does not fit
    (hermes, b"Checking <tool_call"),  # one byte before the trigger ends
    (hermes, b"Checking <tool_call>"),  # the trigger complete (split across tokens)
    # partial triggers go to share_walk first (r: the text's state), which steps s and r
    # together down the trie and keeps r's walk below the nodes where their paths meet
    (hermes, b"<"),  # a partial trigger at the very start (the start's own lexemes too)
    (hermes, b"<tool_"),
    (hermes, b"x <<"),  # the trigger's first byte twice: the partial trigger starts again
    (hermes, b"Checking <tool_c"),
    (hermes, b"a <b"),  # a partial trigger that failed: back in text
    (hermes, "<tool_callé".encode()),  # failed on a multi-byte character
    (hermes, b" "),  # whitespace at the start (a call may follow it)
    (tagged, b"forbidde"),  # one byte before an excluded string completes
    (tagged, "ünte".encode()),
    (tagged, b"<"),
    (tagged, b""),
    (tagged, b"Some text"),  # the class: every character but 'f', '<' and the lead byte of 'ü'
    (tagged, b"for"),  # inside an excluded string
    (tagged, "x \u00fc".encode()),  # after the first character of an excluded string
    (tagged, "x \u00e9".encode()),  # its lead byte's neighbour: out of the class, walked
    (tagged, b"x \xc3"),
    (tagged, b"abc<EN"),
    # excluded strings that begin with frequent bytes: the boundary frontier (most tokens) is
    # walked as the class's suffix trie from the text's state (section 33)
    (tagged_common, b""),
    (tagged_common, b"Some text"),  # the class: every character but 't', 'n' and 'C3 xx'
    (tagged_common, b"t"),  # inside an excluded string: tokens "he..." end it
    (tagged_common, b"th"),
    (tagged_common, b"n"),  # the excluded "n\xc3\xa9" ends inside a character ...
    (tagged_common, b"n\xc3"),  # ... and its last byte decides
    (tagged_common, "caf\u00e9".encode()),  # "\u00e9" begins "\u00e9t": tokens with "t" next
    (tagged_common, "x \u00e0 ".encode()),  # after a character the class leaves out (C3 xx)
    (tagged_common, b"tax"),  # a partial excluded string that failed: back in text
    (negated, b'{"p": "'),  # every text byte but '/': its own class
    (negated, b'{"p": "ab\xc3\xa9'),
    (negated, b'{"q": "/a'),
]


@pytest.mark.parametrize("family", FAMILIES)
def test_fresh_states_of_own_classes_equal_brute_force(family):
    vocab = vocab_of(family)
    for n, (make, prefix) in enumerate(STATES):
        m = Matcher(make(1000 + n), vocab)  # a fresh grammar: its first mask is cold
        assert m.commit_bytes(prefix), prefix
        assert_cold_mask_is_brute_force(m, vocab, f"{family} {make.__name__} {prefix!r}")


@pytest.mark.parametrize("family", FAMILIES)
def test_free_text_then_trigger_split_across_tokens(family):
    # teacher-forced: text, the trigger in two pieces, a call; every mask bit agrees with commit
    vocab = vocab_of(family)
    g = hermes(7)
    m = Matcher(g, vocab)
    words = m.compiled.mask_words
    text = 'Let me check. <tool_call>\n{"name": "get_weather7", "arguments": {"location": "Paris"}}\n</tool_call>'
    data = text.encode()
    cut = data.index(b"<tool_call>") + 5  # "<tool" | "_call>"
    single = single_byte_tokens(vocab)
    for piece in (data[:cut], data[cut:]):
        for k in range(len(piece)):
            # byte by byte: the byte's token (a single-byte token) must be in the mask
            bits = bits_of(m, words)
            t = single.get(piece[k : k + 1])
            if t is not None:
                assert bits[t], (piece[:k], piece[k : k + 1])
            assert m.commit_bytes(piece[k : k + 1])
    assert m.is_accepting()


SUFFIX_STATES = [
    (tagged_common, b""),
    (tagged_common, b"Some text"),
    (tagged_common, b"th"),
    (tagged_common, b"n\xc3"),
    (tagged_common, "caf\u00e9".encode()),
    (tagged, b"Some text"),
    (tagged, b"Checking <"),
    (hermes, b"Some text"),
    (hermes, b"<"),
]


@pytest.mark.parametrize("family", ["llama3", "mistral-tekken"])
def test_suffix_walks_once_a_class_recurs(family):
    # A class's suffix trie is built at its TokenTrie::kSuffixAfter-th (4th) walk that asks for
    # it: after five fresh grammars per state, the first masks walk it (section 33)
    vocab = vocab_of(family)
    for n, (make, prefix) in enumerate(SUFFIX_STATES):
        for k in range(5):
            m = Matcher(make(2000 + 10 * n + k), vocab)
            assert m.commit_bytes(prefix), prefix
            if k < 4:
                bits_of(m, m.compiled.mask_words)
                continue
            bits = assert_mask_is_brute_force(m, vocab, f"{family} {make.__name__} {prefix!r}")
            assert m.last_mask_cold and bits.any()


# Strings before an unanchored pattern loop on every byte but the pattern's first ones: an own
# class that leaves out many text bytes (the hex digits, the digits, the capitals), whose
# skeleton is most of the trie. class_walk asks the text class first there (section 42): the
# string can always still find its pattern further on, so every text string keeps it alive.
# The corners: inside a pattern match, inside and after a multi-byte character, and a negated
# class of as many bytes (`[^0-9a-f]`), where the text class dies and the own class is taken.
UNANCHORED_STATES = [
    ("[0-9a-f]{8}-[0-9a-f]{4}", b""),
    ("[0-9a-f]{8}-[0-9a-f]{4}", b"xyz "),
    ("[0-9a-f]{8}-[0-9a-f]{4}", b"12ab"),  # a match begun: the class does not fit
    ("[0-9a-f]{8}-[0-9a-f]{4}", b"12abcdef-"),
    ("[0-9a-f]{8}-[0-9a-f]{4}", b"caf\xc3"),  # inside a character
    ("[0-9a-f]{8}-[0-9a-f]{4}", "x\u00e9".encode()),
    ("\\d{3}", b"room "),
    ("[A-Z]{2}-", b"code "),
    ("^[^0-9a-f]*$", b"xyz "),  # as wide a class, and the text class dies ('a')
]


@pytest.mark.parametrize("family", FAMILIES)
def test_fresh_states_before_unanchored_patterns_equal_brute_force(family):
    vocab = vocab_of(family)
    for n, (pattern, prefix) in enumerate(UNANCHORED_STATES):
        m = Matcher(string_beside_null(3000 + n, pattern=pattern), vocab)
        assert m.commit_bytes(b'{"s": "' + prefix), (pattern, prefix)
        assert_cold_mask_is_brute_force(m, vocab, f"{family} {pattern!r} {prefix!r}")


# The first key of a wide object: the extra-key part of the state is explored once over the
# whole key trie (part_alive; section 45: sets in one arena, successors remembered by their
# edge targets), and every later key position and key prefix answers from that exploration.
# The corners: extra keys allowed, forbidden, restricted by propertyNames or patternProperties (the
# exploration stops at a bound, or a class byte kills the part), a prefix of a declared
# key, a key one byte past a declared one or differing from it in its last byte, multi-byte
# key names (inside a character, after one), and a later key position.
WIDE_NAMES = [f"{a}{b}_field" for a in "abcdefgh" for b in "aeiouxyz"]
WIDE_NAMES += [
    "name",
    "named",
    "names",
    "nam\u00e9",
    "\u00e9t\u00e9",
    "\u65e5\u672c\u8a9e",
    "na\u00efve",
    "$ref",
]


def wide_object(n: int, **keywords) -> Grammar:
    props = {k: {"type": "integer"} for k in WIDE_NAMES}
    # a fresh grammar (and mask cache) per n: a name of letters, which propertyNames allows
    props["zz_" + "".join(chr(ord("a") + int(d)) for d in str(n))] = {"type": "null"}
    return Grammar.from_json_schema(
        {"type": "object", "properties": props, **keywords}, whitespace="flexible"
    )


WIDE_OBJECT_KINDS = [
    {},  # extra keys allowed
    {"additionalProperties": False},
    {"propertyNames": {"pattern": "^[a-z_]+$"}},  # other characters kill the extra keys
    # extra keys: "x" and at most 10 more letters (the exploration stops at that bound)
    {"patternProperties": {"^x[a-z_]{0,10}$": {"type": "null"}}, "additionalProperties": False},
]
WIDE_OBJECT_PREFIXES = [
    '{"',
    '{ "',  # the whitespace twin
    '{"na',  # a prefix of several declared keys
    '{"nam',  # ... one of which is a multi-byte character away
    '{"name',  # a declared key, and a prefix of two others
    '{"namf',  # one byte from "name" in its last byte
    '{"ae_fiel',  # one byte before a declared key ends
    '{"ae_fielx',  # that key with its last byte changed
    '{"ae_fieldx',  # one byte past it
    '{"\u00e9',  # after the first character of a multi-byte key
    b'{"\xe6\x97',  # inside a character of a declared key
    '{"ae_field": 1, "',  # a later key position
]


@pytest.mark.parametrize("family", ["llama3", "llama2", "mistral-tekken"])
def test_fresh_key_states_of_wide_objects_equal_brute_force(family):
    vocab = vocab_of(family)
    n = 0
    for kind in WIDE_OBJECT_KINDS:
        for prefix in WIDE_OBJECT_PREFIXES:
            data = prefix if isinstance(prefix, bytes) else prefix.encode()
            n += 1
            m = Matcher(wide_object(4000 + n, **kind), vocab)
            if not m.commit_bytes(data):  # a name the object's keys do not begin with
                assert kind, prefix
                continue
            assert_cold_mask_is_brute_force(m, vocab, f"{family} {kind} {data!r}")


# Word-count patterns under maxLength (`^(?:\S+\s+){0,19}\S+$`, o21135 of Github_ultra): `\S` and
# `\s` are read as ECMA-262 and Python agree, so U+0085 and U+FEFF are in neither and kill every
# state, and every byte moves the length count, so no class loops. A canonical repetition state
# (the first word) takes the slice of its killer class (the text class but the lead bytes C2 and
# EF) cut at 12 bytes and walks its skeleton with the record of section 5, which its shifted twins
# (later words) reuse (section 44). Each prefix is committed to a fresh grammar; the masks on the
# way (the canonical state's among them) are computed first, so the last state's cold mask is
# built from the record where it is a shifted twin. The corners: inside a word, after a space,
# near the end of the `{0,N}` repetition, next to and inside a multi-byte character, inside the
# killers (C2 before 85, EF BB before BF), and a string near its maxLength.
WORDS = dict(maxLength=200, minLength=1, pattern="^(?:\\S+\\s+){0,19}\\S+$")
WORDS_SHORT = dict(maxLength=100, pattern="^(?:\\S+\\s+){0,9}\\S+$")
WORDS_TIGHT = dict(maxLength=24, pattern="^(?:\\S+\\s+){0,19}\\S+$")
WORD_STATES = [
    (WORDS, ["Up"]),  # the first word: the canonical state (the killer class walk)
    (WORDS, ["Up", "Up to"]),  # a later word: a shifted twin of the canonical state's record
    (WORDS, ["Up", "Up to "]),  # after a space
    (WORDS, ["Up", "Up to 24 hours and"]),
    (WORDS, ["Caf\u00e9", "Caf\u00e9 au lait\u00e9"]),  # next to a multi-byte character
    (WORDS, ["Up", "Up \u00e9"]),
    (WORDS, ["Up", "Up to\xc2".encode("latin-1")]),  # inside C2 xx: 85 (U+0085) kills
    (WORDS, ["Up", b"Up to \xef\xbb"]),  # inside EF BB xx: BF (U+FEFF) kills
    (WORDS, ["Up", "Up to\u00a0"]),  # after U+00A0 (a space to both readings)
    (WORDS_SHORT, ["Sc"]),
    (WORDS_SHORT, ["Sc", "Scalable infrastructure"]),
    (WORDS_SHORT, ["a", "a b c d e f g"]),  # near the end of {0,9}: 2 words left
    (WORDS_SHORT, ["a", "a b c d e f g h i"]),  # the last word
    (WORDS_SHORT, ["a", "a b c d e f g h i "]),  # a space with no word left: dies on the next
    (WORDS_TIGHT, ["Up", "Up to twenty"]),  # near maxLength
]


def _bytes(x):
    return x if isinstance(x, bytes) else x.encode()


@pytest.mark.parametrize("family", ["llama3", "llama2", "mistral-tekken"])
def test_fresh_word_count_states_equal_brute_force(family):
    vocab = vocab_of(family)
    for n, (string, prefixes) in enumerate(WORD_STATES):
        m = Matcher(string_beside_null(4000 + n, **string), vocab)
        done = b'{"s": "'
        assert m.commit_bytes(done)
        for k, p in enumerate(prefixes):
            p = b'{"s": "' + _bytes(p)
            assert p.startswith(done) and m.commit_bytes(p[len(done) :]), p
            done = p
            what = f"{family} {string['pattern']} {p!r}"
            if k + 1 < len(prefixes):
                bits_of(m, m.compiled.mask_words)  # the canonical state's entry (and its record)
            else:
                assert_cold_mask_is_brute_force(m, vocab, what)
