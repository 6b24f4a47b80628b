"""Free text's cold mask entries shared between grammars (csrc/shared_entries.h,
docs/optimizations.md section 34) against brute force, on three tokenizer families: byte-level
BPE (llama3, qwen2: `<tool_call>` is a special token there) and Tekken (mistral-tekken).

Every fresh tool-call grammar repeats the same free-text lexeme (text until `<tool_call>`)
beside lexemes of its own (the tool's name), so the entry of a free-text state is stored per
vocabulary, keyed by the automaton reachable from the state, at its key's second build, and a
third grammar takes it with its exits' parents mapped into its own lexer. These tests reach
each state in three fresh grammars, check that the third was a shared hit (the vocabulary's hit
count moved) and that its mask equals `is_allowed` on every token; then drive a grammar that
took shared entries through a trigger split across tokens and a call.
"""

from __future__ import annotations

import json

import pytest
from cold_states import hermes, tagged
from conftest import (
    assert_mask_is_brute_force,
    bits_of,
    single_byte_tokens,
    vocab_of,
)

import decoder.compile as dc
from decoder import Matcher
from decoder.integrations.specs import grammar_for

FAMILIES = ["llama3", "qwen2", "mistral-tekken"]

STATES = [
    b"",  # the start: free text or a call
    b"Some text",
    "Caf\u00e9 ".encode(),  # after a multi-byte character
    b"Caf\xc3",  # inside a character
    b"Hi\n\n",
    b"Checking <",  # partial triggers
    b"Checking <tool_call",
    b"a <b",  # a partial trigger that failed
]


def text_then_token(n: int):
    """Free text without "forbidden", then the special token <|python_tag|> (a grammar terminal)
    and a constant of the grammar's own."""
    fmt = {
        "type": "sequence",
        "elements": [
            {"type": "any_text", "excludes": ["forbidden"]},
            {"type": "token", "token": "<|python_tag|>"},
            {"type": "const_string", "value": f"x{n}"},
        ],
    }
    return grammar_for("structural_tag", json.dumps({"type": "structural_tag", "format": fmt}))


def same_end_tag(n: int):
    """Free text without "forbidden" up to one end string: the same free text in every grammar,
    with a constant of its own after it."""
    fmt = {
        "type": "sequence",
        "elements": [
            {
                "type": "triggered_tags",
                "triggers": ["<fn="],
                "tags": [
                    {
                        "begin": "<fn=a>",
                        "content": {"type": "const_string", "value": f"x{n}"},
                        "end": "</fn>",
                    }
                ],
            },
        ],
    }
    return grammar_for("structural_tag", json.dumps({"type": "structural_tag", "format": fmt}))


def two_triggers(n: int):
    """Free text with two triggers that begin common tokens ("th", "in"), each followed by its
    own constant ("e…", "g…"): tokens like "the" and "ing" leave the text at either trigger and
    go on into that trigger's constant, so an entry's exits have two parents that matter."""
    fmt = {
        "type": "triggered_tags",
        "triggers": ["th", "in"],
        "tags": [
            {"begin": "th", "content": {"type": "const_string", "value": f"e{n}"}, "end": ";"},
            {"begin": "in", "content": {"type": "const_string", "value": f"g{n}"}, "end": ";"},
        ],
    }
    return grammar_for("structural_tag", json.dumps({"type": "structural_tag", "format": fmt}))


def _hits(vocab) -> int:
    return dc.token_trie(vocab).shared_entries[0]


@pytest.mark.parametrize("family", FAMILIES)
def test_shared_free_text_entries_equal_brute_force(family):
    vocab = vocab_of(family)
    for k, prefix in enumerate(STATES):
        for rep in range(3):
            m = Matcher(hermes(5000 + 10 * k + rep), vocab)  # fresh: its first mask is cold
            assert m.commit_bytes(prefix), prefix
            before = _hits(vocab)
            bits = assert_mask_is_brute_force(m, vocab, f"{family} {prefix!r} grammar {rep}")
            assert m.last_mask_cold and bits.any()
        # the third grammar's entry came from the first two's (the state's key seen twice)
        assert _hits(vocab) > before, f"{family} {prefix!r}: no shared entry was used"


@pytest.mark.parametrize("family", FAMILIES)
def test_shared_entries_then_trigger_split_and_call(family):
    # a grammar whose free-text entries are shared, teacher-forced byte by byte through text,
    # the trigger in two pieces and a call: every single-byte token agrees with commit
    vocab = vocab_of(family)
    for n in range(3):  # the first two store the text states' entries, the third takes them
        m = Matcher(hermes(6000 + n), vocab)
        words = m.compiled.mask_words
        before = _hits(vocab)
        text = (
            "Let me check. <tool_call>\n"
            f'{{"name": "get_weather{6000 + n}", "arguments": {{"location": "Paris"}}}}\n</tool_call>'
        )
        data = text.encode()
        cut = data.index(b"<tool_call>") + 5  # "<tool" | "_call>"
        single = single_byte_tokens(vocab)
        for k in range(len(data)):
            if k in (0, cut - 1, cut):
                assert_mask_is_brute_force(m, vocab, f"{family} at {data[:k]!r}")
            bits = bits_of(m, words)
            t = single.get(data[k : k + 1])
            if t is not None:
                assert bits[t], (data[:k], data[k : k + 1])
            assert m.commit_bytes(data[k : k + 1])
        assert m.is_accepting()
    assert _hits(vocab) > before


def test_shared_entries_with_a_special_token_terminal():
    # Llama-3's <|python_tag|> is a special token the grammar names: allowed exactly where the
    # free text may end, also when the free-text entry is another grammar's; no other special
    # token anywhere
    vocab = vocab_of("llama3")
    py = vocab.special_names["<|python_tag|>"]
    special = sorted(vocab.special_ids)
    for prefix in (b"Some text", b"a forbidde", b""):  # (the text may end at each)
        for n in range(3):
            m = Matcher(text_then_token(7000 + 10 * n + len(prefix)), vocab)
            assert m.commit_bytes(prefix)
            before = _hits(vocab)
            bits = assert_mask_is_brute_force(m, vocab, f"text_then_token {prefix!r} {n}")
            assert m.last_mask_cold
            assert {t for t in special if bits[t]} == {py}
        assert _hits(vocab) > before, prefix


@pytest.mark.parametrize("family", ["llama3", "mistral-tekken"])
def test_free_text_of_its_own_is_not_shared_wrongly(family):
    # grammars whose free text differs (another end string per grammar) never take each other's
    # entries; grammars with the same triggers do, and both agree with brute force
    vocab = vocab_of(family)
    for n in range(3):
        m = Matcher(tagged(8000 + n), vocab)  # "<END{n}>": free text of its own
        assert m.commit_bytes(b"Some text")
        assert_mask_is_brute_force(m, vocab, f"{family} tagged {n}")
    for n in range(3):
        m = Matcher(same_end_tag(8100 + n), vocab)
        assert m.commit_bytes(b"Some text <f")
        assert_mask_is_brute_force(m, vocab, f"{family} triggered {n}")


@pytest.mark.parametrize("family", FAMILIES)
def test_shared_entries_whose_exits_have_several_parents(family):
    # each exit keeps its own parent (the state after "th" or after "in") through the mapping
    vocab = vocab_of(family)
    for k, prefix in enumerate((b"Some text ", b"t", b"a")):
        for n in range(3):
            m = Matcher(two_triggers(9000 + 10 * k + n), vocab)
            assert m.commit_bytes(prefix)
            before = _hits(vocab)
            bits = assert_mask_is_brute_force(m, vocab, f"{family} two triggers {prefix!r} {n}")
            assert m.last_mask_cold and bits.any()
        assert _hits(vocab) > before, prefix
