"""Contract tests: decoder as SGLang's grammar backend, through SGLang's own registry and base
classes (SGLang 0.5.23 wheel, imported on a CPU; no server is started)."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip(
    "sglang.srt.constrained.base_grammar_backend",
    reason="SGLang is not installed (scripts/test_integrations.sh builds its venv)",
)
torch = pytest.importorskip("torch")

from sglang.srt.arg_groups.choices import GRAMMAR_BACKEND_CHOICES  # noqa: E402
from sglang.srt.constrained.base_grammar_backend import (  # noqa: E402
    GRAMMAR_BACKEND_REGISTRY,
    GrammarRow,
    InvalidGrammarObject,
)

import decoder  # noqa: E402

from .conftest import MODEL_VOCAB, SERVING_WS, allowed, pick, reference_row  # noqa: E402

SCHEMA = {
    "type": "object",
    "properties": {"a": {"type": "integer"}},
    "required": ["a"],
    "additionalProperties": False,
}


@pytest.fixture(scope="module")
def backend(tiny_model_dir):
    from importlib.metadata import entry_points

    from transformers import AutoTokenizer

    from decoder.integrations import sglang as plugin

    eps = [e for e in entry_points(group="sglang.srt.plugins") if e.name == "decoder"]
    if eps:  # installed: load through SGLang's own plug-in loader
        from sglang.srt.plugins import load_plugins

        load_plugins()
    else:
        plugin.register()
    assert "decoder" in GRAMMAR_BACKEND_CHOICES
    tok = AutoTokenizer.from_pretrained(str(tiny_model_dir))
    return GRAMMAR_BACKEND_REGISTRY["decoder"](None, tok, MODEL_VOCAB, {2}), tok


def test_plugin_compiles_fills_accepts(backend):
    be, tok = backend
    fut, hit = be.get_cached_or_future_value(("json", json.dumps(SCHEMA)), False)
    assert not hit
    g = fut.result(timeout=60)
    be.set_cache(("json", json.dumps(SCHEMA)), g.copy())
    ref_vocab = decoder.Vocabulary.from_tokenizer(tok, model_vocab_size=MODEL_VOCAB, eos_ids=[2])
    ref = decoder.compile_grammar(
        decoder.Grammar.from_json_schema(SCHEMA, whitespace=SERVING_WS), ref_vocab
    )
    g2, hit = be.get_cached_or_future_value(("json", json.dumps(SCHEMA)), False)
    assert hit and g2 is not g and g2.matcher.num_steps == 0
    mask = g.allocate_vocab_mask(MODEL_VOCAB, 3, "cpu")
    assert tuple(mask.shape) == (3, (MODEL_VOCAB + 31) // 32)
    rng = np.random.default_rng(0)
    out = []
    for _ in range(5):
        g.reset_vocab_mask(mask)
        g.fill_vocab_mask_batched([GrammarRow(2, g), GrammarRow(0, g2)], mask)
        np.testing.assert_array_equal(mask[2].numpy(), reference_row(ref, out))
        np.testing.assert_array_equal(mask[0].numpy(), reference_row(ref, []))
        assert bool((mask[1] == -1).all())  # unlisted rows untouched
        t = pick(mask[2].numpy(), rng, {2})
        g.accept_token(t)
        out.append(t)
    g.rollback(2)
    out = out[:-2]
    g.fill_vocab_mask(mask, 1)
    np.testing.assert_array_equal(mask[1].numpy(), reference_row(ref, out))
    logits = torch.randn(3, MODEL_VOCAB)
    g.apply_vocab_mask(logits, g.move_vocab_mask(mask, "cpu"))
    assert set(torch.isfinite(logits[1]).nonzero().flatten().tolist()) == allowed(mask[1].numpy())
    with pytest.raises(ValueError, match="not allowed"):
        g2.accept_token(tok.encode("]", add_special_tokens=False)[0])


def test_regex_to_termination_and_bad_specs(backend):
    be, tok = backend
    g = be._init_value_dispatch(("regex", "ok"), False)
    for t in tok.encode("ok", add_special_tokens=False):
        g.accept_token(t)
    mask = g.allocate_vocab_mask(MODEL_VOCAB, 1, "cpu")
    g.fill_vocab_mask(mask, 0)
    assert allowed(mask[0].numpy()) == {2}
    g.accept_token(2)
    assert g.is_terminated()
    g.rollback(1)
    assert not g.is_terminated()
    bad = be._init_value_dispatch(("ebnf", "root ::= [z-a]+"), False)  # GBNF, a reversed range
    assert isinstance(bad, InvalidGrammarObject) and "reversed" in bad.error_message
    bad = be._init_value_dispatch(("json", "{not json"), False)
    assert isinstance(bad, InvalidGrammarObject)
