"""decoder as an SGLang grammar backend (written against SGLang 0.5.23).

Installing ``decoder`` registers :func:`register` under the ``sglang.srt.plugins``
entry point; SGLang runs it in every process at start-up, and it adds ``decoder`` to
``--grammar-backend``'s choices and to the backend registry.  Serve with::

    python -m sglang.launch_server --model-path <model> --grammar-backend decoder

Requests' ``json_schema`` / ``regex`` / ``ebnf`` (Lark, or GBNF where it is Lark) /
``structural_tag`` (free text, triggered tags and special tokens included; with SGLang's
reasoning parser the think section is SGLang's, so build tags with ``reasoning=False``) are compiled by decoder, with a compile cache
and a deadline (``DECODER_COMPILE_DEADLINE_S``, default 10 s); the masks of a batch
are filled by ``decoder.fill_masks`` on C++ threads without the GIL.
"""

from __future__ import annotations

import logging

import numpy as np

try:
    import torch
    from sglang.srt.constrained.base_grammar_backend import (
        BaseGrammarBackend,
        BaseGrammarObject,
        GrammarStats,
        InvalidGrammarObject,
        register_grammar_backend,
    )
except ImportError as e:  # pragma: no cover - depends on the environment
    raise ImportError(f"decoder.integrations.sglang needs SGLang (pip install sglang): {e}") from e

from .._engine import Matcher, fill_masks
from ..errors import DecoderError, MatcherError
from ..masking import apply_mask
from ..vocab import Vocabulary
from .compiler import SpecCompiler

logger = logging.getLogger("decoder.integrations.sglang")

BACKEND_NAME = "decoder"


class DecoderSGLangGrammar(BaseGrammarObject):
    """One request's constraint state (a ``decoder.Matcher``)."""

    def __init__(self, compiled, key_string: str = "", grammar_stats: GrammarStats | None = None):
        super().__init__()
        self.compiled = compiled
        self.matcher = Matcher(compiled)
        self.key_string = key_string
        self.grammar_stats = grammar_stats

    def accept_token(self, token: int) -> None:
        if self.matcher.is_terminated():
            return
        self.current_token = token
        try:
            ok = self.matcher.commit(int(token))
        except MatcherError:
            ok = False
        if not ok:
            raise ValueError(
                f"token {token} is not allowed by the decoder constraint {self.key_string[:200]!r}"
            )

    def rollback(self, k: int) -> None:
        if k > 0:
            self.matcher.rollback(k)

    def is_terminated(self) -> bool:
        return self.matcher.is_terminated()

    def allocate_vocab_mask(self, vocab_size: int, batch_size: int, device) -> torch.Tensor:
        return torch.full((batch_size, (vocab_size + 31) // 32), -1, dtype=torch.int32)

    def fill_vocab_mask(self, vocab_mask: torch.Tensor, idx: int) -> None:
        row = vocab_mask[idx]
        words = self.compiled.mask_words
        if row.shape[0] > words:
            row[words:] = 0
            row = row[:words]
        self.matcher.compute_mask(row)

    @staticmethod
    def fill_vocab_mask_batched(entries, vocab_mask: torch.Tensor) -> None:
        if not entries:
            return
        if not all(isinstance(e.grammar, DecoderSGLangGrammar) for e in entries):
            for e in entries:
                e.grammar.fill_vocab_mask(vocab_mask, e.row)
            return
        words = vocab_mask.shape[1]
        buf = np.zeros((len(entries), words), dtype=np.int32)
        fill_masks([e.grammar.matcher for e in entries], buf)  # C++ threads, no GIL
        vocab_mask[[e.row for e in entries]] = torch.from_numpy(buf)

    @staticmethod
    def reset_vocab_mask(vocab_mask: torch.Tensor) -> None:
        vocab_mask.fill_(-1)

    @staticmethod
    def move_vocab_mask(vocab_mask: torch.Tensor, device) -> torch.Tensor:
        return vocab_mask.to(device, non_blocking=True)

    @staticmethod
    def apply_vocab_mask(logits: torch.Tensor, vocab_mask: torch.Tensor) -> None:
        apply_mask(logits, vocab_mask)

    def copy(self) -> DecoderSGLangGrammar:
        """A fresh state on the same compiled grammar (SGLang caches one object per spec)."""
        return DecoderSGLangGrammar(self.compiled, self.key_string, self.grammar_stats)

    def try_jump_forward(self, tokenizer):
        return None

    def __repr__(self) -> str:
        return f"DecoderSGLangGrammar({self.key_string[:60]!r}, steps={self.matcher.num_steps})"


class DecoderGrammarBackend(BaseGrammarBackend):
    """SGLang grammar backend: compiles requests' specs with decoder."""

    def __init__(
        self,
        tokenizer,
        vocab_size: int,
        eos_token_ids=None,
        *,
        whitespace: str = "flexible",
        deadline_s: float | None = None,
    ):
        super().__init__()
        width = max(int(vocab_size), len(tokenizer))
        self.vocab = Vocabulary.from_tokenizer(tokenizer, model_vocab_size=width)
        self.vocab_size = width
        self.stop_ids = sorted(set(eos_token_ids or ()) | set(self.vocab.eos_ids))
        self.compiler = SpecCompiler(self.vocab, whitespace=whitespace, deadline_s=deadline_s)

    def _compile(self, kind: str, key_string: str) -> BaseGrammarObject:
        try:
            compiled = self.compiler.compile(kind, key_string, self.stop_ids)
        except DecoderError as e:
            logger.error("decoder cannot compile the %s constraint: %s", kind, e)
            return InvalidGrammarObject(str(e))
        return DecoderSGLangGrammar(compiled, key_string, GrammarStats(dispatch_type=kind))

    def dispatch_json(self, key_string: str) -> BaseGrammarObject:
        if key_string == "$$ANY$$":  # SGLang's "any JSON value"
            return self._compile("json", "{}")
        return self._compile("json", key_string)

    def dispatch_regex(self, key_string: str) -> BaseGrammarObject:
        return self._compile("regex", key_string)

    def dispatch_ebnf(self, key_string: str) -> BaseGrammarObject:
        return self._compile("grammar", key_string)

    def dispatch_structural_tag(self, key_string: str) -> BaseGrammarObject:
        return self._compile("structural_tag", key_string)


def create_backend(
    server_args, tokenizer, vocab_size: int, eos_token_ids=None
) -> DecoderGrammarBackend:
    """The factory SGLang's ``create_grammar_backend`` calls for ``--grammar-backend decoder``."""
    compact = bool(getattr(server_args, "constrained_json_disable_any_whitespace", False))
    return DecoderGrammarBackend(
        tokenizer, vocab_size, eos_token_ids, whitespace="compact" if compact else "flexible"
    )


def register() -> None:
    """The ``sglang.srt.plugins`` entry point: makes ``--grammar-backend decoder`` available."""
    from sglang.srt.arg_groups.choices import GRAMMAR_BACKEND_CHOICES, add_grammar_backend_choices

    if BACKEND_NAME not in GRAMMAR_BACKEND_CHOICES:
        add_grammar_backend_choices([BACKEND_NAME])
    register_grammar_backend(BACKEND_NAME, create_backend)


__all__ = [
    "DecoderGrammarBackend",
    "DecoderSGLangGrammar",
    "create_backend",
    "register",
    "BACKEND_NAME",
]
