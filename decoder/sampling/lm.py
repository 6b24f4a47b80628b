"""Next-token log-probabilities after ``prompt + prefix``, for the samplers.

A sampler asks for the model's distribution after a *prefix* of the output (a
tuple of token ids after the prompt), usually for a few prefixes at a time (the
new nodes of its trie).  This module is the only place that calls the model:

* :class:`HFPrefixLM` wraps a Hugging Face causal LM.  The prompt is run once and
  its KV cache kept; every later call continues from it.  One prefix at a time
  (sequential samplers) continues from the cache of the previously scored prefix,
  cropped to the longest common prefix, so walking down a path costs one token
  per new node; several prefixes (batched walks, enumeration) are right-padded
  into one forward pass over a copy of the prompt's cache.
* :class:`CallableLM` wraps ``f(prefix) -> logits`` (tests, toy models).

Both count what they compute: ``calls`` (forward passes), ``distributions``
(next-token distributions produced, the cost unit the benchmark reports) and
``positions`` (token positions run through the model).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence

import numpy as np

from ..errors import DecoderError

__all__ = ["PrefixLM", "HFPrefixLM", "CallableLM"]


class PrefixLM:
    """Interface: ``logprobs(prefixes) -> float32 [len(prefixes), V]`` (natural log)."""

    vocab_size: int

    def __init__(self):
        self.calls = 0
        self.distributions = 0
        self.positions = 0

    def logprobs(self, prefixes: Sequence[tuple]) -> np.ndarray:  # pragma: no cover - interface
        raise NotImplementedError

    def counters(self) -> dict:
        return {
            "calls": self.calls,
            "distributions": self.distributions,
            "positions": self.positions,
        }


class CallableLM(PrefixLM):
    """``fn(prefix: tuple[int, ...]) -> logits`` (any array of ``vocab_size`` floats)."""

    def __init__(
        self, fn: Callable[[tuple], Sequence[float]], vocab_size: int, temperature: float = 1.0
    ):
        super().__init__()
        self.fn = fn
        self.vocab_size = int(vocab_size)
        self.temperature = float(temperature)

    def logprobs(self, prefixes):
        out = np.empty((len(prefixes), self.vocab_size), dtype=np.float32)
        for i, p in enumerate(prefixes):
            z = np.asarray(self.fn(tuple(p)), dtype=np.float64) / self.temperature
            if z.shape != (self.vocab_size,):
                raise DecoderError(
                    f"the model function returned {z.shape} logits, expected ({self.vocab_size},)"
                )
            z = z - z.max()
            out[i] = z - np.log(np.exp(z).sum())
        self.calls += 1
        self.distributions += len(prefixes)
        self.positions += sum(max(len(p), 1) for p in prefixes)
        return out


class HFPrefixLM(PrefixLM):
    """A ``transformers`` causal LM after a fixed prompt (token ids), with KV reuse.

    ``model`` is the model or a :class:`decoder.runner.ModelRunner` (its forward passes
    are the runner's)."""

    def __init__(
        self,
        model,
        prompt_ids: Sequence[int],
        temperature: float = 1.0,
        max_batch: int = 32,
        vocab_size: int | None = None,
    ):
        super().__init__()
        import torch

        from ..runner import ModelRunner

        if not prompt_ids:
            raise DecoderError("the prompt is empty: start it with at least a BOS token")
        if temperature <= 0:
            raise DecoderError(
                "faithful sampling needs a temperature > 0 (the distribution it samples "
                "is the model's at that temperature)"
            )
        self.runner = model if isinstance(model, ModelRunner) else ModelRunner(model)
        self.model = self.runner.model
        self.prompt = [int(t) for t in prompt_ids]
        self.temperature = float(temperature)
        self.max_batch = int(max_batch)
        self.device = self.runner.device
        with torch.inference_mode():
            ids = torch.tensor([self.prompt], dtype=torch.long, device=self.device)
            logits, self._prompt_cache = self.runner.forward(ids, last_only=False)
        self._root = self._logsoftmax(logits[0, -1:, :])[0]
        self.vocab_size = int(vocab_size or self._root.shape[-1])
        self.calls = 1
        self.positions = len(self.prompt)
        self._path: tuple = ()
        self._path_cache = None

    def _logsoftmax(self, logits):
        import torch

        return torch.log_softmax(logits.float() / self.temperature, dim=-1).cpu().numpy()

    def logprobs(self, prefixes):
        out = np.empty((len(prefixes), self._root.shape[-1]), dtype=np.float32)
        todo = []
        for i, p in enumerate(prefixes):
            if len(p) == 0:
                out[i] = self._root
            else:
                todo.append(i)
        self.distributions += len(prefixes)
        if len(todo) == 1:
            out[todo[0]] = self._one(tuple(prefixes[todo[0]]))
        else:
            for s in range(0, len(todo), self.max_batch):
                chunk = todo[s : s + self.max_batch]
                out[chunk] = self._batch([tuple(prefixes[i]) for i in chunk])
        return out[:, : self.vocab_size] if out.shape[1] != self.vocab_size else out

    def _forward(self, ids, cache, attn, pos, positions: int):
        """Logits of every position ``[rows, T, V]`` and the cache after them."""
        import torch

        with torch.inference_mode():
            logits, cache = self.runner.forward(ids, attn, pos, cache, last_only=False)
        self.calls += 1
        self.positions += positions
        return logits, cache

    def _one(self, prefix: tuple) -> np.ndarray:
        """Continue from the last scored prefix's cache, cropped to the common part."""
        import torch

        P = len(self.prompt)
        lcp = 0
        if self._path_cache is not None:
            n = min(len(self._path), len(prefix) - 1)
            while lcp < n and self._path[lcp] == prefix[lcp]:
                lcp += 1
        if self._path_cache is None:
            cache = copy.deepcopy(self._prompt_cache)
        else:
            cache = self._path_cache
            extra = cache.get_seq_length() - (P + lcp)
            if extra > 0:
                cache.crop(-extra)  # negative: "remove this many" in every transformers version
        new = prefix[lcp:]
        ids = torch.tensor([list(new)], dtype=torch.long, device=self.device)
        pos = torch.arange(P + lcp, P + len(prefix), device=self.device)[None]
        attn = torch.ones((1, P + len(prefix)), dtype=torch.long, device=self.device)
        logits, self._path_cache = self._forward(ids, cache, attn, pos, len(new))
        self._path = prefix
        return self._logsoftmax(logits[0, -1:, :])[0]

    def _batch(self, prefixes: list) -> np.ndarray:
        """Right-padded suffixes over a copy of the prompt's cache, one forward pass."""
        import torch

        P, B = len(self.prompt), len(prefixes)
        L = max(len(p) for p in prefixes)
        ids = torch.zeros((B, L), dtype=torch.long)
        attn = torch.zeros((B, P + L), dtype=torch.long)
        attn[:, :P] = 1
        for r, p in enumerate(prefixes):
            ids[r, : len(p)] = torch.tensor(p, dtype=torch.long)
            attn[r, P : P + len(p)] = 1
        pos = torch.arange(P, P + L)[None].expand(B, L)
        cache = copy.deepcopy(self._prompt_cache)
        cache.batch_repeat_interleave(B)
        logits, _ = self._forward(
            ids.to(self.device),
            cache,
            attn.to(self.device),
            pos.to(self.device),
            sum(len(p) for p in prefixes),
        )
        last = torch.tensor([len(p) - 1 for p in prefixes], device=logits.device)
        return self._logsoftmax(logits[torch.arange(B, device=last.device), last])
