"""Cold masks of short bounded strings (docs/optimizations.md section 32,
`CompiledGrammar::probe_dies`) against brute force, on byte-level BPE (llama3) and SentencePiece
with byte fallback (llama2).

Before exploring NFA sets to prove a state alive on every class string (`class_alive`), the
lexer is run on strings of one repeated ASCII class byte (a letter, a digit, a space, a symbol);
one that dies within the bound proves the check false at once. The states here are those where
it does: strings of a dozen characters with a pattern (Github_easy's `[0-9a-fA-F]+` ids, issue
23's largest steps), formats (uuid, date), short `maxLength` strings, a negated-class pattern
with a length bound (its own class is probed); and states where it must not cut the check
short: strings that stay alive past the probe's depth (the short slice still applies). Every
state is reached fresh (a new grammar per state, `last_mask_cold` checked) and the whole
vocabulary is checked with `is_allowed`. The corners: tokens that end exactly at the bound or
one character past it, multi-byte characters across the bound, tokens that close the string
there and go on.
"""

from __future__ import annotations

import pytest
from cold_states import assert_fresh_string_states, string_beside_null
from conftest import (
    assert_mask_is_brute_force,
    vocab_of,
)

from decoder import Matcher

FAMILIES = ["llama3", "llama2"]

HEX12 = {"minLength": 12, "maxLength": 12, "pattern": "[0-9a-fA-F]+"}
E = "\u00e9"  # two bytes
CJK = "\u65e5"  # three bytes
# (string keywords, text inside the string before the cold mask)
CASES = [
    (HEX12, ""),  # the first mask inside the string: dies at 13 characters
    (HEX12, "0123"),
    (HEX12, "ghijk"),  # no hex digit yet
    (HEX12, "zzzzzzzzzz" + E),  # one character left, no hex digit yet: a hex one must come
    (HEX12, "0123456789" + CJK),  # one left after a three-byte character
    (HEX12, "0123456789ab"),  # complete: only the quote
    ({"format": "uuid"}, ""),
    ({"format": "uuid"}, "123e4567-"),
    ({"format": "date"}, "2024-"),
    ({"maxLength": 5}, ""),
    ({"maxLength": 5}, "ab" + E),
    ({"minLength": 3, "maxLength": 8, "pattern": "^[a-z]+$"}, "ab"),
    ({"maxLength": 10, "pattern": "^[^/]*$"}, ""),  # its own class: text but '/'
    ({"maxLength": 10, "pattern": "^[^/]*$"}, "a" + CJK),
    # alive on every class string of the short slice's 16 bytes: the probe must not kill it
    ({"maxLength": 40}, ""),
    ({"maxLength": 40, "pattern": "[0-9a-fA-F]+"}, "xyz"),
]


schema = string_beside_null  # a fresh grammar per n


@pytest.mark.parametrize("family", FAMILIES)
def test_fresh_bounded_string_states_equal_brute_force(family):
    assert_fresh_string_states(vocab_of(family), CASES, 3000, family)


@pytest.mark.parametrize("family", FAMILIES)
def test_hex_id_every_position_teacher_forced(family):
    # Github_easy o10009/o10013: every state of the string, each the first in a fresh grammar,
    # then the closing quote and the end of the object
    vocab = vocab_of(family)
    value = "5f1a2b3c4d5e"
    for k in range(len(value) + 1):
        m = Matcher(schema(3100 + k, **HEX12), vocab)
        assert m.commit_bytes(b'{"s": "' + value[:k].encode())
        assert_mask_is_brute_force(m, vocab, f"{family} hex id after {value[:k]!r}")
        assert m.last_mask_cold
    assert m.commit_bytes(b'"}')
    assert m.is_accepting()
    m = Matcher(schema(3200, **HEX12), vocab)
    assert not m.commit_bytes(b'{"s": "ghijklmnopqr"')  # twelve characters, no hex digit
