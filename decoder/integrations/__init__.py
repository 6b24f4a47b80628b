"""decoder inside other libraries and serving engines.

* :mod:`decoder.integrations.hf` — the Hugging Face ``transformers`` plug-in
  (``DecoderLogitsProcessor`` for ``model.generate``; also importable as ``decoder.hf``).

* :mod:`decoder.integrations.vllm` — a vLLM structured-output backend
  (``DecoderBackend`` / ``DecoderGrammar``) and a custom logits processor
  (``DecoderLogitsProcessor``, registered under the ``vllm.logits_processors``
  entry point; the constraint comes per request in ``extra_args["decoder"]``).
* :mod:`decoder.integrations.sglang` — an SGLang plug-in that registers a
  ``decoder`` grammar backend (``--grammar-backend decoder``).

Both share :mod:`decoder.integrations.specs` (request specs → ``decoder.Grammar``)
and :mod:`decoder.integrations.compiler` (a compile cache with a deadline and
per-stop-set vocabularies).  Neither engine is imported until its module is.
"""
