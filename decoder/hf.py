"""``decoder.hf``: the Hugging Face ``transformers`` plug-in, kept importable under its old
name.  It lives in :mod:`decoder.integrations.hf`; this module only re-exports it."""

from __future__ import annotations

from .integrations.hf import (
    ConstraintError,
    DecoderLogitsProcessor,
    as_matcher_factory,
    check_tokenizer_matches_model,
    fill_masks,
    is_pydantic_model_class,
    json_schema_of,
    model_eos_ids,
    model_vocab_size,
    vocabulary_for,
)

__all__ = [
    "DecoderLogitsProcessor",
    "as_matcher_factory",
    "vocabulary_for",
    "fill_masks",
    "check_tokenizer_matches_model",
    "model_vocab_size",
    "model_eos_ids",
    "ConstraintError",
    "json_schema_of",
    "is_pydantic_model_class",
]
