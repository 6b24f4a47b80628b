"""Structured-generation engines on a Hugging Face model, one interface for the benchmarks.

Every engine is one class with::

    name, dist                      short id, PyPI distribution (for the version)
    compile(schema) -> compiled     build what the engine needs; raise on refusal (timed: GCT)
    generate(compiled, prompt_ids, max_new_tokens) -> dict
        ids: output token ids (EOS included when generated), text: the output text,
        ttft_s: time to the first output token, total_s, finish: "stop" | "length",
        forced: tokens inserted by fast-forwarding (ours only; 0 elsewhere)

Generation is greedy.  Peers go through ``model.generate`` with their published
``transformers`` integration where one exists:

* ``xgrammar``: ``xgrammar.contrib.hf.LogitsProcessor`` (its own, one per call);
* ``llguidance`` 1.9.1 publishes no ``transformers`` LogitsProcessor (``llguidance.hf``
  only builds the tokenizer), so :class:`LLGuidanceLogitsProcessor` is the few lines
  that glue its published ``llguidance.torch`` kernels (``fill_next_token_bitmask``,
  ``apply_token_bitmask_inplace``) to ``LLMatcher.consume_token``;
* ``outlines``: only ``outlines-core`` is installed, which has no ``transformers``
  integration either; :class:`OutlinesLogitsProcessor` drives its ``Guide``
  (``write_mask_into``, ``advance``) and applies the mask with ``decoder.masking``
  (``outlines_core.kernels.torch`` needs ``torch.compile``, which would put a
  compiler run into the first measurement);
* ``none``: the model alone, for the unconstrained baseline.

Ours: ``decoder`` is :class:`decoder.generate.Decoder` (its own KV-cache loop,
fast-forwarding on), ``decoder-noff`` the same with ``fast_forward=False``, and
``decoder-hf`` our :class:`decoder.hf.DecoderLogitsProcessor` inside
``model.generate`` (the same path as the peers).

Nothing here downloads anything.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

__all__ = ["ENGINES", "DEFAULT_ENGINES", "make_engine"]

from . import DEFAULT_ENGINES  # noqa: E402  (defined there: that module imports no torch)
from .common import version_of as _version  # noqa: E402


class _FirstToken:
    """A ``generate`` streamer that only records when the first output token arrived."""

    def __init__(self):
        self.calls = 0
        self.first: float | None = None

    def put(self, value):
        self.calls += 1
        if self.calls == 2 and self.first is None:  # call 1 is the prompt
            self.first = time.perf_counter()

    def end(self):
        pass


class Engine:
    name = "?"
    dist = "decoder"

    def __init__(
        self, model, tokenizer, vocab, eos_ids: Sequence[int], whitespace: str | None = None
    ):
        self.model = model
        self.whitespace = whitespace  # our engines' JSON whitespace policy (None: the default)
        self.tokenizer = tokenizer
        self.vocab = vocab  # decoder.vocab.Vocabulary of the tokenizer at the model's width
        self.eos_ids = list(eos_ids)
        self.width = vocab.model_vocab_size
        self.setup()

    @property
    def version(self) -> str:
        return _version(self.dist)

    def setup(self) -> None:
        pass

    def compile(self, schema: Any) -> Any:
        raise NotImplementedError

    def _json_options(self) -> dict:
        return {"whitespace": self.whitespace} if self.whitespace else {}

    def release(self, compiled: Any) -> None:
        """Free what ``compile`` built (called once the schema is done)."""

    def processor(self, compiled: Any):
        """A fresh ``transformers`` LogitsProcessor for one generation (None: unconstrained)."""
        raise NotImplementedError

    def generate(self, compiled: Any, prompt_ids: list[int], max_new_tokens: int) -> dict:
        import torch

        proc = self.processor(compiled)
        streamer = _FirstToken()
        ids = torch.tensor([prompt_ids], dtype=torch.long)
        pad = self.tokenizer.pad_token_id
        t0 = time.perf_counter()
        with torch.inference_mode():
            out = self.model.generate(
                ids,
                attention_mask=torch.ones_like(ids),
                max_new_tokens=max_new_tokens,
                do_sample=False,
                logits_processor=[proc] if proc is not None else None,
                streamer=streamer,
                eos_token_id=self.eos_ids,
                pad_token_id=pad if pad is not None else self.eos_ids[0],
                temperature=None,
                top_p=None,
                top_k=None,
            )
        total = time.perf_counter() - t0
        gen = out[0, len(prompt_ids) :].tolist()
        finish = "stop" if gen and gen[-1] in self.eos_ids else "length"
        body = gen[:-1] if finish == "stop" else gen
        data = b"".join(self.vocab.tokens[t] for t in body if t < len(self.vocab.tokens))
        return {
            "ids": gen,
            "text": data.decode("utf-8", "replace"),
            "finish": finish,
            "forced": 0,
            "ttft_s": (streamer.first - t0) if streamer.first else total,
            "total_s": total,
        }


# ------------------------------------------------------------------ ours


class DecoderEngine(Engine):
    """``Decoder`` with fast-forwarding.  Compile = ``Grammar.from_json_schema`` + the
    ``Decoder`` with its root matcher (what a user pays before the first token)."""

    name = "decoder"
    fast_forward = True

    def setup(self):
        from decoder.compile import token_trie

        token_trie(self.vocab)  # once per vocabulary, like the peers' tokenizer setup

    def _cold(self):
        """Empty the compiled-grammar cache, so that every engine variant compiles cold."""
        from decoder import compile as comp

        with comp._lock:
            comp._compiled.clear()

    @property
    def version(self) -> str:
        import decoder

        return getattr(decoder, "__version__", None) or _version("decoder")

    def compile(self, schema):
        from decoder import Grammar
        from decoder.generate import Decoder

        self._cold()
        g = Grammar.from_json_schema(schema, **self._json_options())
        return Decoder(
            self.model, g, self.tokenizer, vocab=self.vocab, fast_forward=self.fast_forward
        )

    def release(self, dec):
        dec.close()

    def generate(self, dec, prompt_ids, max_new_tokens):
        t0 = time.perf_counter()
        first = None
        for _ in dec.stream(prompt_ids, max_new_tokens=max_new_tokens):
            if first is None:
                first = time.perf_counter()
        total = time.perf_counter() - t0
        r = dec.last_result
        return {
            "ids": r.token_ids,
            "text": r.data.decode("utf-8", "replace"),
            "finish": "stop" if r.finish_reason == "stop" else "length",
            "forced": int(dec.last_timing.get("forced", 0)),
            "ttft_s": (first - t0) if first else total,
            "total_s": total,
        }


class DecoderNoFFEngine(DecoderEngine):
    name = "decoder-noff"
    fast_forward = False


class DecoderHFEngine(Engine):
    """Our ``DecoderLogitsProcessor`` inside ``model.generate`` (the peers' path)."""

    name = "decoder-hf"
    setup = DecoderEngine.setup
    _cold = DecoderEngine._cold

    def compile(self, schema):
        from decoder import Grammar, Matcher

        self._cold()
        g = Grammar.from_json_schema(schema, **self._json_options())
        Matcher(g, self.vocab)  # the per-vocabulary work, as the other engines count it
        return g

    def processor(self, g):
        from decoder.integrations.hf import DecoderLogitsProcessor

        return DecoderLogitsProcessor(g, self.tokenizer, model=self.model)


class NoneEngine(Engine):
    """The model alone (no constraint): the unconstrained TPOT baseline."""

    name = "none"
    dist = "transformers"

    def compile(self, schema):
        return None

    def processor(self, compiled):
        return None


# ------------------------------------------------------------------ peers


class XGrammarEngine(Engine):
    """xgrammar with its defaults (``any_whitespace=True``, ``strict_mode=True``), the grammar
    cache off (each compile measured cold), ``xgrammar.contrib.hf.LogitsProcessor``."""

    name = "xgrammar"
    dist = "xgrammar"

    def setup(self):
        import xgrammar as xgr

        self.xgr = xgr
        info = xgr.TokenizerInfo.from_huggingface(
            self.tokenizer, vocab_size=self.width, stop_token_ids=self.eos_ids
        )
        self.compiler = xgr.GrammarCompiler(info, cache_enabled=False)

    def compile(self, schema):
        return self.compiler.compile_json_schema(json.dumps(schema))

    def processor(self, compiled):
        from xgrammar.contrib.hf import LogitsProcessor

        return LogitsProcessor(compiled)


try:  # a plain base class when transformers is absent, so the module imports anyway
    from transformers import LogitsProcessor as _LPBase
except ImportError:  # pragma: no cover
    _LPBase = object


class LLGuidanceLogitsProcessor(_LPBase):
    """llguidance's published torch kernels around one ``LLMatcher`` (batch of one)."""

    def __init__(self, matcher, width: int):
        import llguidance.torch as lt

        self.lt = lt
        self.m = matcher
        self.mask = lt.allocate_token_bitmask(1, width)
        self.started = False

    def __call__(self, input_ids, scores):
        if self.started:
            if not self.m.consume_token(int(input_ids[0, -1])):
                raise RuntimeError(f"llguidance refused its own token: {self.m.get_error()}")
        self.started = True
        self.lt.fill_next_token_bitmask(self.m, self.mask, 0)
        self.lt.apply_token_bitmask_inplace(scores, self.mask)
        return scores


class LLGuidanceEngine(Engine):
    """llguidance with default JSON options (flexible whitespace); the compiled grammar is an
    ``LLMatcher`` (its construction counted in GCT), deep-copied per generation."""

    name = "llguidance"
    dist = "llguidance"

    def setup(self):
        import llguidance
        import llguidance.hf

        self.llg = llguidance
        self.lltok = llguidance.hf.from_tokenizer(
            self.tokenizer, n_vocab=self.width, eos_token=self.eos_ids[0]
        )

    def compile(self, schema):
        g = self.llg.LLMatcher.grammar_from_json_schema(schema)
        m = self.llg.LLMatcher(self.lltok, g, log_level=0)
        if m.is_error():
            raise ValueError(m.get_error())
        return m

    def processor(self, compiled):
        return LLGuidanceLogitsProcessor(compiled.deep_copy(), self.width)


class OutlinesLogitsProcessor(_LPBase):
    """outlines-core's ``Guide`` as a LogitsProcessor (batch of one)."""

    def __init__(self, index, width: int):
        from outlines_core import Guide

        from decoder.masking import allocate_bitmask

        self.guide = Guide(index)
        self.mask = allocate_bitmask(1, width, "torch")
        self.row = self.mask[0]
        self.started = False

    def __call__(self, input_ids, scores):
        from decoder.masking import apply_mask

        if self.started:
            self.guide.advance(int(input_ids[0, -1]), return_tokens=False)
        self.started = True
        self.row.fill_(0)
        self.guide.write_mask_into(self.row.data_ptr(), self.row.numel(), 4)
        apply_mask(scores, self.mask)
        return scores


class OutlinesEngine(Engine):
    """outlines-core: ``build_regex_from_schema`` with its defaults, ``Index(regex, vocab)``
    (GCT includes the Index, where outlines spends its compile time)."""

    name = "outlines"
    dist = "outlines_core"

    def setup(self):
        from outlines_core import Index, Vocabulary
        from outlines_core.json_schema import build_regex_from_schema

        self.Index, self.build_regex = Index, build_regex_from_schema
        eos = self.eos_ids[0]
        by_bytes: dict[bytes, list[int]] = {}
        for i, b in enumerate(self.vocab.tokens[: self.width]):
            if b and i not in self.eos_ids:
                by_bytes.setdefault(b, []).append(i)
        self.ovocab = Vocabulary(eos, by_bytes)

    def compile(self, schema):
        return self.Index(self.build_regex(json.dumps(schema)), self.ovocab)

    def processor(self, index):
        return OutlinesLogitsProcessor(index, self.width)


ENGINES: dict[str, type[Engine]] = {
    e.name: e
    for e in (
        DecoderEngine,
        DecoderNoFFEngine,
        DecoderHFEngine,
        LLGuidanceEngine,
        XGrammarEngine,
        OutlinesEngine,
        NoneEngine,
    )
}


def make_engine(
    name: str, model, tokenizer, vocab, eos_ids, whitespace: str | None = None
) -> Engine:
    if name not in ENGINES:
        raise KeyError(f"unknown engine {name!r} (known: {', '.join(ENGINES)})")
    return ENGINES[name](model, tokenizer, vocab, eos_ids, whitespace)
