"""Masked, ASAp and CARS sampling: three walks down one :class:`~.trie.PrefixTrie`.

The target is the model's distribution conditioned on the constraint::

    Q(y) = P(y | prompt) 1[y allowed] / Z,      Z = sum over allowed y of P(y | prompt)

over token sequences ``y = t_1 ... t_k EOS`` whose every token the constraint's
mask allows (every tokenization the mask allows counts, canonical or not), with
``k + 1 <= max_new_tokens``.

A walk goes down from the root choosing ``t`` at prefix ``w`` with weight
``P(t | w) * U(w t)`` (``U``: the trie's upper bounds on the future mass):

* **masked** (what every engine does): ``U`` = 1 on the mask, never learnt.  Each
  step renormalises over the allowed tokens, which distorts ``Q``: a prefix whose
  continuations the model mostly puts outside the constraint is drawn as often as
  the model picks the prefix.
* **asap** (Park et al., NeurIPS 2024): the same walk, and after every sample the
  bounds along its path are tightened (:meth:`PrefixTrie.update`).  The bias
  shrinks as the bounds converge to the true future mass; every sample is valid.
* **cars** (constrained adaptive rejection sampling, arXiv 2510.01902): the same
  proposal, but at each node the walk continues with probability
  ``mass(w) / U(w)`` and is otherwise *rejected* (restarted from the root after
  tightening the bounds).  The proposal then gives a complete ``y`` with
  probability ``P(y) / U(root)``, proportional to ``P(y)``: accepted samples are
  **exact, independent draws from Q**.  Rejections only happen where a node is met
  for the first time or its bound was loose, so they die out as the trie learns,
  and every node's distribution is computed once.

``batch > 1`` walks that many paths in lockstep (one batched forward pass for
their new nodes) and applies the bound updates after the round; for CARS every
accepted draw stays exact (a round uses one fixed set of bounds), for ASAp it
is a lagged variant of the paper's sequential algorithm (``batch=1``, default).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ..errors import DecoderError
from .trie import Node, PrefixTrie

__all__ = [
    "Sample",
    "TrieSampler",
    "MaskedSampler",
    "ASApSampler",
    "CARSSampler",
    "SAMPLERS",
    "NoCompleteOutput",
]


class NoCompleteOutput(DecoderError, RuntimeError):
    """The constraint admits no complete output the model can produce within the length limit."""


@dataclass(frozen=True)
class Sample:
    """One draw: the output tokens (EOS excluded), the EOS id, the bytes and ``log P(y | prompt)``."""

    token_ids: tuple
    eos_id: int
    data: bytes
    logp: float

    @property
    def key(self) -> tuple:
        """The whole token sequence (EOS included): the outcome the distribution is over."""
        return self.token_ids + (self.eos_id,)

    @property
    def text(self) -> str:
        return self.data.decode("utf-8", "replace")


class _Walk:
    __slots__ = ("node", "prefix", "matcher", "belief", "path", "logp", "result", "done")

    def __init__(self, root: Node, matcher, belief: float):
        self.node, self.matcher, self.belief = root, matcher, belief
        self.prefix: tuple[int, ...] = ()
        self.path: list = []
        self.logp = 0.0
        self.result: Sample | None = None
        self.done = False


@dataclass
class SamplerStats:
    samples: int = 0
    walks: int = 0  # attempts (a rejected or dead-ended walk is retried)
    rejected: int = 0  # CARS rejections
    dead_ends: int = 0  # walks that reached a prefix with no allowed continuation
    steps: int = 0  # tokens walked, over all attempts (= forward passes without a trie cache)
    seconds: float = 0.0
    extra: dict = field(default_factory=dict)


class TrieSampler:
    """Base: a lockstep walk over a :class:`PrefixTrie`.  Subclasses set ``learn`` and ``reject``.

    Args:
        trie: the prefix trie (model after the prompt, EOS ids, length limit).
        matcher: the constraint's matcher at the start of the output (forked per walk).
        tokens: the vocabulary's token bytes (for :attr:`Sample.data`).
        batch: walks per round (see the module docs).
        max_walks_per_sample: give up (``NoCompleteOutput``) after this many failed walks in a row.
    """

    name = "?"
    learn = False
    reject = False
    default_batch = 1

    def __init__(
        self,
        trie: PrefixTrie,
        matcher,
        tokens,
        batch: int | None = None,
        max_walks_per_sample: int = 100_000,
    ):
        self.trie = trie
        self.matcher = matcher
        self.tokens = tokens
        self.batch = int(batch or self.default_batch)
        if self.batch < 1:
            raise DecoderError("batch must be >= 1")
        self.max_walks = int(max_walks_per_sample)
        self.stats = SamplerStats()

    # ------------------------------------------------------------------ public
    def sample(
        self,
        n: int = 1,
        seed: int | None = None,
        rng: np.random.Generator | None = None,
        on_sample: Callable[[Sample], None] | None = None,
    ) -> list:
        """``n`` samples (a list of :class:`Sample`); ``on_sample`` is called with each one as
        soon as it is drawn (CARS may reject many walks per sample: the command line prints
        samples as they come instead of all at the end)."""
        if n < 0:
            raise DecoderError("n must be >= 0")
        rng = rng if rng is not None else np.random.default_rng(seed)
        out: list[Sample] = []
        t0 = time.perf_counter()
        failed = 0
        while len(out) < n:
            if self.learn and self.trie.root_bound <= 0.0:
                raise NoCompleteOutput(self._no_output())
            got = self._round(min(self.batch, n - len(out)), rng)
            ok = [s for s in got if s is not None]
            out.extend(ok)
            if on_sample is not None:
                for s in ok:
                    on_sample(s)
            failed = 0 if ok else failed + len(got)
            if failed >= self.max_walks:
                raise NoCompleteOutput(self._no_output())
        self.stats.samples += len(out)
        self.stats.seconds += time.perf_counter() - t0
        return out

    def _no_output(self) -> str:
        return (
            f"no complete output within max_new_tokens={self.trie.max_new_tokens}: the constraint "
            f"allows no token sequence that ends (EOS) within the limit, or the model gives it "
            f"(almost) no probability"
        )

    # ------------------------------------------------------------------ walks
    def _round(self, b: int, rng: np.random.Generator) -> list:
        trie = self.trie
        walks = [_Walk(trie.root, self.matcher.fork(), trie.root_bound) for _ in range(b)]
        active = walks
        while active:
            trie.expand([(w.node, w.prefix, w.matcher) for w in active if not w.node.expanded])
            for w in active:
                self._step(w, rng)
            active = [w for w in active if not w.done]
        self.stats.walks += b
        if self.learn:
            for w in walks:
                trie.update(w.path)
        return [w.result for w in walks]

    def _weights(self, node: Node) -> np.ndarray:
        assert node.p is not None and node.bound is not None, "weights of an unexpanded node"
        return node.p * node.bound if self.learn else node.p

    def _step(self, w: _Walk, rng: np.random.Generator) -> None:
        node = w.node
        assert (
            node.ids is not None
            and node.logp is not None
            and node.is_eos is not None
            and node.bound is not None
        ), "a walk stepped from an unexpanded node"
        weights = self._weights(node)
        cum = np.cumsum(weights)
        total = float(cum[-1]) if len(cum) else 0.0
        if self.reject:
            u = rng.random() * w.belief  # continue with probability total / U(w)
            if not u < total:
                self.stats.rejected += 1
                w.done = True
                return
        else:
            if total <= 0.0:
                self.stats.dead_ends += 1
                w.done = True
                return
            u = rng.random() * total
        i = int(np.searchsorted(cum, u, side="right"))
        if i >= len(weights) or weights[i] <= 0.0:  # rounding: the nearest positive weight
            nz = np.flatnonzero(weights > 0)
            i = int(nz[min(int(np.searchsorted(nz, i)), len(nz) - 1)])
        tok = int(node.ids[i])
        w.path.append((node, i))
        w.logp += float(node.logp[i])
        self.stats.steps += 1
        if node.is_eos[i]:
            w.result = Sample(w.prefix, tok, b"".join(self.tokens[t] for t in w.prefix), w.logp)
            w.done = True
            return
        if not w.matcher.commit(tok):
            raise DecoderError(
                f"the matcher refused token {tok} that its own mask allowed: a bug in "
                f"the constraint"
            )
        w.belief = float(node.bound[i])
        w.prefix += (tok,)
        w.node = node.child(i)


class MaskedSampler(TrieSampler):
    """Token-by-token sampling from the model restricted to the mask (biased, see the module docs)."""

    name = "masked"
    default_batch = 16


class ASApSampler(TrieSampler):
    """Adaptive sampling with approximate expected futures (Park et al., 2024)."""

    name = "asap"
    learn = True


class CARSSampler(TrieSampler):
    """Exact rejection sampling that learns the dead mass in the trie (CARS, arXiv 2510.01902)."""

    name = "cars"
    learn = True
    reject = True
    default_batch = 1


SAMPLERS = {c.name: c for c in (MaskedSampler, ASApSampler, CARSSampler)}
