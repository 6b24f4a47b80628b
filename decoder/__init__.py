"""decoder — constrained decoding for language models: a C++ mask engine under a small
Python API.

    from decoder import Grammar, Vocabulary, Matcher
    vocab = Vocabulary.from_path("path/to/tokenizer")
    m = Matcher(Grammar.from_regex(r"[0-9]{3}-[0-9]{4}"), vocab)
    m.compute_mask(bits); m.commit(token_id)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import (
    ConstraintError,
    ContextLengthError,
    DecoderError,
    GrammarError,
    IncompleteOutput,
    LimitError,
    MatcherError,
    SchemaError,
    VocabularyError,
)

if TYPE_CHECKING:
    from .grammar import Grammar

__version__ = "0.1.0"

# what needs the C++ engine (and numpy) loads on first use, so that `decoder --help` and the
# command line's early checks do not pay for it
_LAZY = {
    "Grammar": ".grammar",
    "Vocabulary": ".vocab",
    "Matcher": "._engine",
    "CompiledGrammar": "._engine",
    "fill_masks": "._engine",
    "mask_cache_budget": "._engine",
    "compile_grammar": ".compile",
    "as_constraint": ".constraints.base",
    "Generation": ".generation",
    "ModelRunner": ".runner",
}


def Regex(pattern: str, **options: Any) -> Grammar:
    """A constraint that the whole output fully matches ``pattern`` (Python ``re`` syntax;
    ``syntax="ecma"`` for ECMA-262). Same as ``Grammar.from_regex``."""
    from .grammar import Grammar

    return Grammar.from_regex(pattern, **options)


def __getattr__(name: str) -> Any:  # heavy, optional parts load on first use
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    if name == "Decoder":
        from .generate import Decoder

        return Decoder
    if name in ("apply_mask", "allocate_bitmask"):
        from . import masking

        return getattr(masking, name)
    if name == "agents":  # reasoning, free text and tool calls (decoder/agents.py)
        import importlib

        return importlib.import_module(".agents", __name__)
    if name == "LogitsProcessor":
        from .integrations.hf import DecoderLogitsProcessor

        return DecoderLogitsProcessor
    raise AttributeError(f"module 'decoder' has no attribute {name!r}")


__all__ = [
    "Grammar",
    "Regex",
    "Vocabulary",
    "Matcher",
    "CompiledGrammar",
    "fill_masks",
    "compile_grammar",
    "mask_cache_budget",
    "as_constraint",
    "Generation",
    "ModelRunner",
    "DecoderError",
    "ConstraintError",
    "ContextLengthError",
    "GrammarError",
    "IncompleteOutput",
    "LimitError",
    "MatcherError",
    "SchemaError",
    "VocabularyError",
    "__version__",
]
