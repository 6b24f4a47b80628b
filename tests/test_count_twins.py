"""Cold masks of counted strings near a length bound, built from a count twin
(docs/optimizations.md section 24, `CompiledGrammar::twin_walk`), against brute force on three
tokenizer families: byte-level BPE (llama3), SentencePiece with byte fallback (llama2) and
Tekken (mistral-tekken).

A state with a unit count within a token's length of `maxLength` is its own cache entry. When
a state with the same NFA states and a lower count is cached (a twin: earlier in the same
string, or in another string of the same property), every string of up to K bytes does the
same from both, K being how far the higher count is from the bound; the twin's bits and exits
within depth K are reused and only the nodes below are walked. Each target state here is
reached after its twin's mask was built, and its first mask (cold) is compared with
`is_allowed` on every token: tokens that end one code point past the bound, multi-byte
characters across it, tokens that close the string there (and go on after it), and word
patterns whose counted repetition also counts words.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from cold_states import string_beside_null
from conftest import (
    assert_cold_mask_is_brute_force,
    assert_mask_is_brute_force,
    load_tokenizer,
    shared_path,
    vocab_of,
)

from decoder import Grammar, Matcher

FAMILIES = ["llama3", "llama2", "mistral-tekken"]
WORDS = "^(?:\\S+\\s+){0,9}\\S+$"


schema = string_beside_null  # a fresh grammar per n


E = "\u00e9"  # two bytes
CJK = "\u65e5"  # three bytes
# (string keywords, the twin's text, texts whose states are its twins at higher counts)
CASES = [
    # (maxLength over 1,000: a counter, not copies) one past the bound at 1,101 code points
    ({"maxLength": 1100}, "a", ["x" * 1080, "x" * 1083, E * 1083, CJK * 1081 + "ab", E * 1084]),
    ({"minLength": 1050, "maxLength": 1100}, "a" * 1050, ["b" * 1080, E * 1083, "c" * 1000]),
    # word counts and characters both counted: the fewest units left (most_min) is 3
    ({"maxLength": 64, "pattern": WORDS}, "ab", ["abcdefghij" * 4, E * 42, "a" * 45, "a" * 46]),
    ({"maxLength": 64, "pattern": WORDS}, "ab cd", ["abcdefgh cdefghijklmnopqrstuvwxyz" + "k" * 9]),
    ({"maxLength": 64, "pattern": WORDS}, "ab ", ["abcdefghij" * 3 + " " * 12]),
]


@pytest.mark.parametrize("family", FAMILIES)
def test_fresh_states_near_the_bound_equal_brute_force(family):
    vocab = vocab_of(family)
    n = 0
    for keywords, twin, texts in CASES:
        for text in texts:
            n += 1
            g = schema(2000 + n, **keywords)
            m = Matcher(g, vocab)
            assert m.commit_bytes(b'{"s": "' + twin.encode())
            assert_mask_is_brute_force(m, vocab, f"{family} {keywords} twin {twin!r}")
            m = Matcher(g, vocab)
            assert m.commit_bytes(b'{"s": "' + text.encode()), text
            what = f"{family} {keywords} {text!r}"
            assert_cold_mask_is_brute_force(m, vocab, what)


def test_word_count_schema_teacher_forced_through_llama3():
    # Github_ultra/o21135: word-count patterns under maxLength 100-500, the states of issue 23's
    # slowest cold steps; its valid instances pass token by token, its invalid ones are refused
    jsonschema = pytest.importorskip("jsonschema")
    tok = load_tokenizer("llama3")
    vocab = vocab_of("llama3")
    r = next(
        json.loads(line)
        for line in open(shared_path("jsonschemabench", "Github_ultra.jsonl"), encoding="utf-8")
        if json.loads(line)["id"] == "o21135"
    )
    g = Grammar.from_json_schema(r["schema"])
    checker = jsonschema.validators.validator_for(r["schema"])(r["schema"])
    out = np.zeros(Matcher(g, vocab).compiled.mask_words, dtype=np.int32)
    for tc in r["tests"]:
        ids = tok.encode(json.dumps(tc["data"], ensure_ascii=False), add_special_tokens=False)
        m = Matcher(g, vocab)
        ok = True
        for t in ids:
            m.compute_mask(out)
            allowed = bool(out[t >> 5] >> (t & 31) & 1)
            assert allowed == m.is_allowed(t), (tc["description"], vocab.token_bytes(t))
            if not allowed:
                ok = False
                break
            assert m.commit(t)
        ok = ok and m.is_accepting()
        assert ok == tc["valid"], tc["description"]
        assert ok <= checker.is_valid(tc["data"])
