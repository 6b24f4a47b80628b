"""The model runner: everything between token ids and a chosen token, written once.

:class:`ModelRunner` wraps a ``transformers`` causal LM with its tokenizer and
:class:`decoder.vocab.Vocabulary` and is what :class:`decoder.Decoder`, the DeAL search
(:mod:`decoder.search.deal`) and the faithful samplers (:mod:`decoder.sampling`) call:

* prompts to token ids (:meth:`~ModelRunner.encode`: text, chat messages or ids) and a
  batch of them cut to the model's context (:meth:`~ModelRunner.encode_batch`);
* the prefill of a batch with **left padding** and explicit ``position_ids``
  (:meth:`~ModelRunner.left_pad`, :meth:`~ModelRunner.prefill`), so every row's last
  position is the next token's;
* forward passes on the model's own **KV cache** (:meth:`~ModelRunner.forward`; the
  cache argument is ``cache`` since transformers 5.x, ``past_key_values`` before;
  ``logits_to_keep=1`` when the model takes it and only the last position is needed);
* **seeding** (:meth:`~ModelRunner.generator`) and greedy / temperature / nucleus
  **sampling** (:meth:`~ModelRunner.sample`);
* the **budget-safe token choice** (:meth:`~ModelRunner.near_budget`,
  :meth:`~ModelRunner.choose_within_budget`): ``max_new_tokens`` is a hard budget, and
  a token is only committed when the constraint can still be completed in the tokens
  left after it.  A completion of ``k`` bytes needs at most ``k`` tokens (byte
  tokens), so a row whose shortest completion is more than :attr:`BUDGET_MARGIN`
  tokens below the budget needs no check.

Invariants: the runner holds no generation state (matchers and caches belong to the
caller), and never changes a matcher's state: every probe commits and rolls back.
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Sequence
from typing import Any

from .errors import ContextLengthError, DecoderError
from .protocol import Capability, capabilities

__all__ = ["ModelRunner", "context_length_of"]


def context_length_of(model) -> int | None:
    """The model's context length from its config (None when it does not say)."""
    cfg = model.config
    if hasattr(cfg, "get_text_config"):
        cfg = cfg.get_text_config()
    for name in (
        "max_position_embeddings",
        "n_positions",
        "max_sequence_length",
        "seq_length",
        "n_ctx",
    ):
        v = getattr(cfg, name, None)
        if isinstance(v, int) and v > 0:
            return v
    return None


class ModelRunner:
    """A causal LM, its tokenizer and vocabulary, and the calls every decoding loop makes.

    ``ModelRunner(model)`` alone (no tokenizer, no vocabulary) offers the forward passes,
    seeding and sampling only (the samplers' :class:`~decoder.sampling.HFPrefixLM` uses it
    so).

    Attributes:
        model, tokenizer, vocab: as given.
        width: the model's logits width (``vocab.model_vocab_size``; None without a vocabulary).
        eos: the EOS ids (a frozenset; empty without a vocabulary).
        context_length: the model's context in tokens (None: unknown).
    """

    #: a row whose shortest completion is below ``left - BUDGET_MARGIN`` is not checked
    BUDGET_MARGIN = 32
    #: how many of the best tokens :meth:`choose_within_budget` tries before settling for
    #: the one that leaves the shortest completion
    BUDGET_CANDIDATES = 64

    def __init__(self, model, tokenizer=None, vocab=None, context_length: int | None = None):
        self.model = model
        self.tokenizer = tokenizer
        self.vocab = vocab
        self.width = int(vocab.model_vocab_size) if vocab is not None else None
        self.eos = frozenset(vocab.eos_ids) if vocab is not None else frozenset()
        self.context_length = (
            context_length if context_length is not None else context_length_of(model)
        )
        params: Any
        try:
            params = inspect.signature(model.forward).parameters
        except (TypeError, ValueError):
            params = {}
        self._cache_kw = "cache" if "cache" in params else "past_key_values"
        self._keep = {"logits_to_keep": 1} if "logits_to_keep" in params else {}

    # ------------------------------------------------------------------ prompts
    @property
    def device(self):
        return next(self.model.parameters()).device

    @property
    def pad_id(self) -> int:
        """The id that fills left padding and finished rows (the tokenizer's pad, else EOS)."""
        pad = getattr(self.tokenizer, "pad_token_id", None)
        return pad if pad is not None else self.vocab.eos_ids[0]

    def encode(self, prompt) -> list[int]:
        """Token ids of a prompt: a ``str``, a list of chat messages (``{"role", "content"}``
        dicts, through the tokenizer's chat template) or a list of token ids.  An empty
        prompt becomes ``[BOS]``."""
        tok = self.tokenizer
        if isinstance(prompt, (list, tuple)) and prompt and isinstance(prompt[0], dict):
            if not getattr(tok, "chat_template", None):
                raise DecoderError(
                    "chat messages need a tokenizer with a chat template; this one has "
                    "none: pass a plain string prompt"
                )
            text = tok.apply_chat_template(list(prompt), tokenize=False, add_generation_prompt=True)
            ids = tok(text, add_special_tokens=False)["input_ids"]
        elif isinstance(prompt, str):
            ids = tok(prompt)["input_ids"]
        elif isinstance(prompt, (list, tuple)) and all(isinstance(i, int) for i in prompt):
            ids = list(prompt)
        else:
            raise TypeError(
                "a prompt is a str, a list of chat messages ({'role', 'content'} dicts) "
                "or a list of token ids"
            )
        if not ids:
            bos = (
                self.vocab.bos_id
                if self.vocab.bos_id is not None
                else getattr(tok, "bos_token_id", None)
            )
            if bos is None:
                raise DecoderError("empty prompt and the tokenizer has no BOS token to start from")
            ids = [bos]
        return list(ids)

    def encode_batch(
        self, prompts: Sequence, max_new_tokens: int, stacklevel: int = 4
    ) -> tuple[list, int]:
        """The token ids of each prompt, and ``max_new_tokens`` cut to what the model's
        context leaves after the longest prompt (with a warning)."""
        if max_new_tokens < 0:
            raise ValueError("max_new_tokens must be >= 0")
        encoded = [self.encode(p) for p in prompts]
        longest = max(len(e) for e in encoded)
        ctx = self.context_length
        if ctx is not None:
            if longest >= ctx:
                i = max(range(len(encoded)), key=lambda j: len(encoded[j]))
                raise ContextLengthError(
                    f"prompt {i} is {len(encoded[i])} tokens long but the model's context is {ctx} "
                    f"tokens: shorten the prompt (it must leave room for the output)"
                )
            if longest + max_new_tokens > ctx:
                warnings.warn(
                    f"max_new_tokens={max_new_tokens} does not fit after a {longest}-token "
                    f"prompt in a {ctx}-token context: generating at most {ctx - longest}",
                    stacklevel=stacklevel,
                )
                max_new_tokens = ctx - longest
        return encoded, max_new_tokens

    # ------------------------------------------------------------------ forward passes
    def left_pad(self, encoded: Sequence[Sequence[int]]):
        """``(input_ids, attention_mask, position_ids)`` on the model's device, left-padded
        to the longest row (positions count real tokens only)."""
        import torch

        B, longest = len(encoded), max(len(e) for e in encoded)
        input_ids = torch.full((B, longest), self.pad_id, dtype=torch.long)
        attn = torch.zeros((B, longest), dtype=torch.long)
        for r, e in enumerate(encoded):
            input_ids[r, longest - len(e) :] = torch.tensor(e, dtype=torch.long)
            attn[r, longest - len(e) :] = 1
        device = self.device
        input_ids, attn = input_ids.to(device), attn.to(device)
        pos = (attn.cumsum(-1) - 1).clamp_(min=0)
        return input_ids, attn, pos

    def forward(
        self, input_ids, attention_mask=None, position_ids=None, cache=None, last_only: bool = True
    ):
        """One forward pass on the KV cache ``cache`` (None: a fresh one).  Returns
        ``(logits, cache)``: float32 logits of the last position ``[rows, V]`` (or of every
        position ``[rows, T, V]`` when ``last_only`` is False, in the model's dtype) and the
        updated cache.  Call it under ``torch.inference_mode()``."""
        kw: dict[str, Any] = {self._cache_kw: cache} if cache is not None else {}
        if attention_mask is not None:
            kw["attention_mask"] = attention_mask
        if position_ids is not None:
            kw["position_ids"] = position_ids
        if last_only:
            kw.update(self._keep)
        out = self.model(input_ids=input_ids, use_cache=True, **kw)
        new_cache = getattr(out, "cache", None)
        if new_cache is None:
            new_cache = out.past_key_values
        logits = out.logits[:, -1, :].float() if last_only else out.logits
        return logits, new_cache

    def prefill(self, encoded: Sequence[Sequence[int]]):
        """Left-pad ``encoded`` and run it: ``(logits, cache, attention_mask, position_ids)``."""
        input_ids, attn, pos = self.left_pad(encoded)
        logits, cache = self.forward(input_ids, attn, pos)
        return logits, cache, attn, pos

    # ------------------------------------------------------------------ choosing tokens
    def generator(self, temperature: float, seed: int | None = None):
        """A seeded ``torch.Generator`` on the model's device when sampling (``temperature >
        0``), else None.  ``seed=None`` draws a fresh seed."""
        import torch

        if temperature <= 0:
            return None
        gen = torch.Generator(device=self.device)
        gen.manual_seed(seed if seed is not None else torch.seed())
        return gen

    @staticmethod
    def sample(logits, temperature: float, top_p: float = 1.0, gen=None):
        """One token per row: argmax when ``temperature <= 0``, else a draw at that
        temperature, restricted to the smallest set of mass ``>= top_p`` when ``top_p < 1``."""
        import torch

        if temperature <= 0:
            return logits.argmax(dim=-1)
        logits = logits / temperature
        if top_p < 1.0:
            sorted_logits, order = torch.sort(logits, descending=True, dim=-1)
            probs = sorted_logits.softmax(dim=-1)
            cum = probs.cumsum(dim=-1)
            drop = (cum - probs) > top_p  # keep the smallest prefix with mass >= top_p
            sorted_logits = sorted_logits.masked_fill(drop, float("-inf"))
            logits = torch.full_like(logits, float("-inf")).scatter(-1, order, sorted_logits)
        probs = logits.softmax(dim=-1)
        return torch.multinomial(probs, 1, generator=gen).squeeze(-1)

    def near_budget(self, m, left: int) -> bool:
        """Whether the token chosen for matcher ``m`` must be checked against the budget:
        ``left`` tokens follow it, and ``m``'s shortest completion is not far below that
        (compositions, :attr:`Capability.WITNESS`, are always checked)."""
        if Capability.WITNESS in capabilities(m):
            return True
        need = m.min_completion_bytes()
        return not (need >= 0 and need + self.BUDGET_MARGIN < left)

    @staticmethod
    def completion_after(m, t: int) -> int:
        """Shortest completion in bytes after committing ``t`` to ``m`` (-1: ``t`` is not
        allowed, or nothing completes after it); ``m`` is unchanged."""
        if not m.commit(t):
            return -1
        c = m.min_completion_bytes()
        m.rollback(1)
        return c

    @staticmethod
    def fits(completion: int, left: int) -> bool:
        """Whether a completion of ``completion`` bytes fits in ``left`` more tokens."""
        return 0 <= completion <= left and (left > 0 or completion == 0)

    @staticmethod
    def witness_token(m) -> int | None:
        """For a composition (:attr:`Capability.WITNESS`): the first token of a verified
        completion; else None."""
        if Capability.WITNESS in capabilities(m):
            return m.witness_token()
        return None

    def choose_within_budget(
        self, m, logits_row, chosen: int, left: int, temperature: float = 0.0, gen=None
    ) -> int:
        """The token to commit for one row so that the output can still be completed in the
        ``left`` tokens that follow.  While the sampled token ``chosen`` is safe nothing
        changes; otherwise the best-scoring safe token is taken (scores perturbed with
        Gumbel noise when sampling, so it stays a sample from the model restricted to safe
        tokens), or the one with the shortest completion."""
        import torch

        if not self.near_budget(m, left):
            return chosen  # far from the end: nothing to check
        eos = self.eos

        def after(t: int) -> int:
            if t in eos:
                return 0 if m.is_accepting() else -1
            return self.completion_after(m, t)

        if self.fits(after(chosen), left):
            return chosen
        scores = logits_row
        if temperature > 0:
            u = torch.rand(scores.shape, generator=gen, device=scores.device).clamp_(1e-20, 1.0)
            scores = scores / temperature - torch.log(-torch.log(u))
        k = min(self.BUDGET_CANDIDATES, scores.shape[-1])
        cand = torch.topk(scores, k).indices.tolist()
        best, best_c = chosen, None
        for t in cand:
            if scores[t] == float("-inf"):
                break
            c = after(t)
            if c < 0:
                continue
            if self.fits(c, left):
                return t
            if best_c is None or c < best_c:
                best, best_c = t, c
        if best_c is None:
            w = self.witness_token(m)  # a composition: the first token of a known completion
            if w is not None:
                return w
        return best
