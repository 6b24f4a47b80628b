"""decoder — constrained decoding for language models: a C++ mask engine under a small
Python API.

    from decoder import Grammar, Vocabulary, Matcher
    vocab = Vocabulary.from_path("path/to/tokenizer")
    m = Matcher(Grammar.from_regex(r"[0-9]{3}-[0-9]{4}"), vocab)
    m.compute_mask(bits); m.commit(token_id)
"""
from __future__ import annotations

from .errors import DecoderError, GrammarError, LimitError, MatcherError, SchemaError, VocabularyError
from .grammar import Grammar
from .vocab import Vocabulary
from ._engine import Matcher, CompiledGrammar, fill_masks, mask_cache_budget
from .compile import compile_grammar

__version__ = "0.1.0"


def Regex(pattern: str, **options) -> Grammar:
    """A constraint that the whole output fully matches ``pattern`` (Python ``re`` syntax;
    ``syntax="ecma"`` for ECMA-262). Same as ``Grammar.from_regex``."""
    return Grammar.from_regex(pattern, **options)


def __getattr__(name):  # heavy, optional parts load on first use
    if name == "Decoder":
        from .generate import Decoder
        return Decoder
    if name in ("apply_mask", "allocate_bitmask"):
        from . import masking
        return getattr(masking, name)
    if name == "LogitsProcessor":
        from .hf import DecoderLogitsProcessor
        return DecoderLogitsProcessor
    raise AttributeError(f"module 'decoder' has no attribute {name!r}")


__all__ = ["Grammar", "Regex", "Vocabulary", "Matcher", "CompiledGrammar", "fill_masks", "compile_grammar",
           "mask_cache_budget",
           "DecoderError", "GrammarError", "LimitError", "MatcherError", "SchemaError",
           "VocabularyError", "__version__"]
