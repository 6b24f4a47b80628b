"""The parser's cache of interned lexeme sets (csrc/earley.cc `compute_lexset`,
docs/optimizations.md "Recent lexeme sets looked up in the parser", issue 23): a new Earley
row finds the id of its set of allowed lexemes in a small direct-mapped table, checked
against the lexer's copy, before the lexer's mutex and hash map. A schema whose rows have
many more distinct lexeme sets than the table's 64 slots (so slots are overwritten and
reused) is teacher-forced on a real tokenizer: every token of a valid instance is in its
mask and commits, and masks along the way equal brute force (commit and roll back each
token id); a fork taken mid-way goes on alike."""

from __future__ import annotations

import json

from conftest import assert_mask_is_brute_force, bits_of, load_tokenizer, vocab_of

from decoder import Grammar, Matcher

KINDS = [
    {"type": "integer"},
    {"type": "string"},
    {"type": "boolean"},
    {"type": "null"},
    {"type": "number"},
    {"type": "array", "items": {"type": "integer"}},
    {"enum": ["red", "green", 3]},
    {"type": "string", "maxLength": 4},
    {"type": "object", "properties": {"x": {"type": "integer"}}},
]
VALUES = [7, "ab", True, None, -1.5, [1, 2], "green", "abc", {"x": 5}]


def schema_and_instance(n: int):
    props, data = {}, {}
    for i in range(n):
        props[f"k{i:02d}"] = KINDS[i % len(KINDS)]
        data[f"k{i:02d}"] = VALUES[i % len(VALUES)]
    schema = {"type": "object", "properties": props, "required": list(props)}
    return schema, data


def test_many_lexeme_sets_teacher_forced_and_brute_force():
    vocab = vocab_of("llama3")
    schema, data = schema_and_instance(80)
    g = Grammar.from_json_schema(schema, whitespace="flexible")
    text = json.dumps(data)
    ids = load_tokenizer("llama3").encode(text, add_special_tokens=False)
    m = Matcher(g, vocab)
    words = m.compiled.mask_words
    checked = 0
    fork = None
    for step, t in enumerate(ids):
        bits = bits_of(m, words)
        assert bits[t], (step, vocab.token_bytes(t))
        if step % 97 == 13 and checked < 4:
            assert_mask_is_brute_force(m, vocab, f"step {step}")
            checked += 1
        if step == len(ids) // 2:
            fork = (m.fork(), step)
        assert m.commit(t), (step, vocab.token_bytes(t))
    assert m.is_accepting()
    # the fork (its parser's table copied mid-way) finishes the same instance
    f, at = fork
    for t in ids[at:]:
        assert bits_of(f, words)[t] and f.commit(t)
    assert f.is_accepting()
    # a wrong value type is refused where the schema says otherwise
    m2 = Matcher(g, vocab)
    assert m2.commit_bytes(b'{"k00": 1, "k01": ')
    assert not m2.commit_bytes(b"1")
    assert m2.commit_bytes(b'"s", "k02": ')
    assert not m2.commit_bytes(b"n")
    assert m2.commit_bytes(b"false")
