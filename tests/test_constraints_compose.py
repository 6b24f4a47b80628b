"""Composition with ``&``: never a dead end, budgets that still end in a complete output,
JSON schemas composed with filters, and generation with the stories260k model."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import shared_path

from decoder import Grammar
from decoder.constraints import (
    AllOf,
    ConstraintError,
    JSONSchema,
    MaxTokens,
    NoLetters,
    Words,
    constrain,
    count_words,
    ends_sentence,
)

SCHEMA = {
    "type": "object",
    "properties": {"name": {"type": "string", "maxLength": 12}, "size": {"type": "integer"}},
    "required": ["name", "size"],
    "additionalProperties": False,
}


@pytest.fixture(scope="module")
def stories():
    path = shared_path("models", "stories260k")
    transformers = pytest.importorskip("transformers")
    return (
        transformers.AutoModelForCausalLM.from_pretrained(str(path)),
        transformers.AutoTokenizer.from_pretrained(str(path)),
    )


def _vocab(family="llama3"):
    from decoder import Vocabulary

    return Vocabulary.from_path(str(shared_path("tokenizers", family)))


def test_operators_and_helpers_compose():
    c = Grammar.from_regex("ab|c") & NoLetters("e") & MaxTokens(5)
    assert isinstance(c, AllOf) and len(c.parts) == 3
    c2 = SCHEMA & NoLetters("z")  # a dict on the left: the constraint takes over
    assert isinstance(c2, AllOf) and isinstance(c2.parts[0], JSONSchema)
    assert len(constrain(SCHEMA, NoLetters("z"), MaxTokens(40)).parts) == 3


def test_naive_and_would_dead_end_but_composition_does_not():
    v = _vocab()
    m = (Grammar.from_regex("ae|b") & NoLetters("e")).matcher(v)
    a, b = v.tokens.index(b"a"), v.tokens.index(b"b")
    row = np.zeros((v.model_vocab_size + 31) // 32, dtype=np.int32)
    m.compute_mask(row)
    bits = np.unpackbits(row.view(np.uint8), bitorder="little")
    assert bits[a] and bits[b]  # the AND of the masks allows both ...
    assert m.commit(a)
    assert (
        m.min_completion_bytes() == -1
    )  # ... but after "a" nothing completes (a naive AND dead-ends)
    m.compute_mask(row)
    assert not row.any()
    m.rollback(1)
    assert m.witness_token() == b and m.min_completion_bytes() == 1


def test_contradiction_is_a_clear_error():
    with pytest.raises(ConstraintError, match="contradict"):
        (JSONSchema(SCHEMA) & NoLetters("a")).matcher(_vocab())  # "name" needs an a
    with pytest.raises(ConstraintError):
        (JSONSchema(SCHEMA) & MaxTokens(10)).matcher(_vocab())  # {"name":"","size":0} is 21 bytes


def test_generation_never_dead_ends(stories):
    from decoder import Decoder

    model, tok = stories
    d = Decoder(model, Grammar.from_regex("(a|b)e|c") & NoLetters("e"), tok)
    for seed in range(3):
        r = d.generate("Once upon a time", max_new_tokens=8, temperature=1.0, seed=seed)
        assert str(r) == "c" and r.complete


def test_lipogram_with_word_budget(stories):
    from decoder import Decoder

    model, tok = stories
    c = NoLetters("e") & Words(max=20)
    r = Decoder(model, c, tok).generate("Once upon a time", max_new_tokens=60)
    assert r.complete and r.finish_reason == "stop"
    assert "e" not in r.lower() and count_words(r) <= 20 and ends_sentence(r)


def test_json_schema_with_banned_letter_and_token_budget(stories):
    from jsonschema import validate

    from decoder import Decoder

    model, tok = stories
    c = JSONSchema(SCHEMA, whitespace="compact") & NoLetters("q") & MaxTokens(30)
    r = Decoder(model, c, tok).generate("Once upon a time", max_new_tokens=60)
    assert r.complete and len(r.token_ids) <= 31  # 30 tokens and EOS
    value = json.loads(str(r))
    validate(value, SCHEMA)
    assert "q" not in str(r).lower()


def test_cli_flags(stories, capsys):
    from decoder.cli import main

    path = str(shared_path("models", "stories260k"))
    rc = main(
        [
            "generate",
            "--model",
            path,
            "--prompt",
            "Once upon a time",
            "--raw",
            "--ban-letters",
            "e",
            "--max-words",
            "12",
            "--max-new-tokens",
            "50",
        ]
    )
    out = capsys.readouterr().out.strip()
    assert rc == 0 and "e" not in out.lower() and count_words(out) <= 12 and ends_sentence(out)


def test_hf_processor_with_a_composition_never_dead_ends(stories):
    """model.generate() cannot resample, so composed matchers keep only tokens that still
    have a completion: with 'a' scored highest (a plain AND of the masks allows it, and
    then nothing completes), the processor leaves 'c' or 'b' as the best token."""
    import torch

    from decoder.hf import DecoderLogitsProcessor

    model, tok = stories
    c = Grammar.from_regex("(a|b)e|c") & NoLetters("e")
    proc = DecoderLogitsProcessor(c, tok)
    V = model.config.vocab_size
    ids = torch.tensor([[tok.bos_token_id or 1]])
    a = tok.convert_tokens_to_ids("a")
    scores = torch.zeros(1, V)
    scores[0, a] = 10.0
    out = proc(ids, scores.clone())
    best = int(out[0].argmax())
    assert best != a and tok.decode([best]).strip() in ("c", "b")
    ids = tok("Once upon a time", return_tensors="pt")["input_ids"]
    out = model.generate(
        ids,
        logits_processor=[DecoderLogitsProcessor(c, tok)],
        do_sample=False,
        max_new_tokens=6,
        pad_token_id=tok.eos_token_id,
    )
    assert tok.decode(out[0, ids.shape[1] :], skip_special_tokens=True) in ("c", "b")
