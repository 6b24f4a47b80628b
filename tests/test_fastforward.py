"""Fast-forwarding: forced bytes, their canonical tokens, and the Decoder loop that inserts them."""

from __future__ import annotations

import json

import pytest
from conftest import load_tokenizer, shared_path

from decoder.protocol import Capability, capabilities

decoder = pytest.importorskip("decoder")
jsonschema = pytest.importorskip("jsonschema")

SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["firstName", "kind"],
    "properties": {
        "firstName": {"type": "string", "maxLength": 8},
        "kind": {"enum": ["alpha_beta gamma"]},
    },
}


@pytest.fixture(scope="module")
def smollm2():
    from decoder.fastforward import FastForward
    from decoder.hf import vocabulary_for

    tok = load_tokenizer("smollm2")
    vocab = vocabulary_for(tok, None, [tok.eos_token_id])
    return tok, vocab, FastForward(vocab, tok)


def _matcher(vocab, tok, prefix: str, whitespace="compact"):
    m = decoder.Matcher(decoder.Grammar.from_json_schema(SCHEMA, whitespace=whitespace), vocab)
    ids = tok.encode(prefix, add_special_tokens=False)
    for t in ids:
        assert m.commit(t)
    return m, ids


def test_forced_bytes_and_canonical_tokens(smollm2):
    tok, vocab, ff = smollm2
    m, ids = _matcher(vocab, tok, "")
    assert ff.forced_bytes(m) == b'{"firstName":"'  # compact, properties in schema order
    m, ids = _matcher(vocab, tok, '{"f')
    steps = m.num_steps
    assert ff.forced_bytes(m) == b'irstName":"'
    assert m.num_steps == steps  # the search leaves the matcher as it was
    toks = ff.tokens_for(ids, b'irstName":"')
    assert [vocab.tokens[t] for t in toks] == [
        b"irst",
        b"Name",
    ]  # '":"' dropped: may merge with what follows
    # the model already wrote 'f' (the tokenizer would have written 'first'): no boundary after the
    # context, so the forced text is tokenized on its own
    assert toks == tok.encode("irstName", add_special_tokens=False)
    m2, ids2 = _matcher(vocab, tok, '{"firstName":"Bo","')
    toks2 = ff.tokens_for(ids2, b'kind":"alpha_beta gamma"}')
    assert (
        toks2
        == tok.encode('{"firstName":"Bo","kind":"alpha_beta gamma"}', add_special_tokens=False)[
            len(ids2) : -1
        ]
    )  # in context, canonical
    m, ids = _matcher(vocab, tok, '{"firstName":"Bo","k')
    assert ff.forced_bytes(m) == b'ind":"alpha_beta gamma"}'
    got, ready = ff.advance(m, ids, limit=100)
    assert b"".join(vocab.tokens[t] for t in got) == b'ind":"alpha_beta gamma'
    assert not ready
    assert not m.is_accepting()  # the closing '"}' is left to the model
    got2, _ = ff.advance(m, ids + got, limit=0)
    assert got2 == []


def test_nothing_forced_where_the_model_has_a_choice(smollm2):
    tok, vocab, ff = smollm2
    m, ids = _matcher(vocab, tok, '{"firstName":"', whitespace="flexible")
    assert ff.forced_bytes(m) == b""  # any string content
    m, ids = _matcher(vocab, tok, '{"firstName"', whitespace="flexible")
    assert ff.forced_bytes(m) == b""  # ':' or whitespace
    import numpy as np

    row = np.zeros(ff.words, dtype=np.int32)
    got, ready = ff.advance(m, ids, limit=10, row=row)
    assert got == [] and ready == (
        Capability.FORCED_BYTES not in capabilities(m)
    )  # the engine's needs no mask
    got, ready = ff.advance(_NoNative(m), ids, limit=10, row=row)
    assert got == [] and ready  # the Python search leaves the mask of this state in the row
    fresh = np.zeros_like(row)
    m.compute_mask(fresh)
    assert np.array_equal(row, fresh) and row.any()


@pytest.fixture(scope="module")
def tiny():
    transformers = pytest.importorskip("transformers")
    path = shared_path("models", "stories260k")
    return (
        transformers.AutoModelForCausalLM.from_pretrained(path),
        transformers.AutoTokenizer.from_pretrained(path),
    )


def test_decoder_fast_forward_inserts_tokens_and_stays_valid(tiny):
    from decoder.generate import Decoder

    model, tok = tiny
    schema = dict(
        SCHEMA,
        properties=dict(
            SCHEMA["properties"], tags={"type": "array", "maxItems": 2, "items": {"const": "x y z"}}
        ),
        required=["firstName", "kind", "tags"],
    )
    out = {}
    for ff in (True, False):
        d = Decoder(model, schema, tok, fast_forward=ff, json_options={"whitespace": "compact"})
        r = d.generate("Once upon a time", max_new_tokens=80)
        assert r.complete and r.finish_reason == "stop"
        jsonschema.validate(json.loads(r.data), schema)
        out[ff] = (r, dict(d.last_timing))
        d.close()
    (r_ff, t_ff), (r_no, t_no) = out[True], out[False]
    assert t_ff.get("forced", 0) >= 10 and "forced" not in t_no
    # every output token is a model step or a forced one, and forced runs need fewer forward passes
    assert t_ff["steps"] + t_ff["forced"] == len(r_ff.token_ids)
    assert t_ff["steps"] < t_no["steps"] == len(r_no.token_ids)
    # the inserted tokens are what the tokenizer makes of the text (canonical), not byte pieces
    assert '"kind":"alpha_beta gamma"' in str(r_ff)
    assert b"".join(d.vocab.tokens[t] for t in r_ff.token_ids) == r_ff.data


def test_budget_counts_forced_tokens(tiny):
    from decoder.generate import Decoder

    model, tok = tiny
    d = Decoder(model, SCHEMA, tok, json_options={"whitespace": "compact"})
    r = d.generate("Once upon a time", max_new_tokens=45)  # the shortest output is 42 bytes
    assert len(r.token_ids) <= 45 and d.last_timing.get("forced", 0) > 0
    assert r.complete  # the budget still steers the output to an end
    jsonschema.validate(json.loads(r.data), SCHEMA)
    d.close()


class _NoNative:
    """A matcher that declares commit_bytes() but not the engine's forced_bytes(): the Python
    search (masks) runs."""

    capabilities = Capability.COMMIT_BYTES

    def __init__(self, m):
        self.m = m

    def __getattr__(self, name):
        if name == "forced_bytes":
            raise AttributeError(name)
        return getattr(self.m, name)


@pytest.mark.parametrize(
    "prefix,ws",
    [
        ("", "compact"),
        ('{"f', "compact"),
        ('{"firstName":"Bo","k', "compact"),
        ('{"firstName"', "flexible"),
        ('{"firstName":"', "flexible"),
    ],
)
def test_python_search_agrees_with_the_engine(smollm2, prefix, ws):
    tok, vocab, ff = smollm2
    m, _ = _matcher(vocab, tok, prefix, whitespace=ws)
    if Capability.FORCED_BYTES not in capabilities(m):
        pytest.skip("this engine build has no Matcher.forced_bytes()")
    assert ff.forced_bytes(_NoNative(m)) == m.forced_bytes()
