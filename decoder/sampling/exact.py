"""The exact constrained distribution of a small language, by enumeration; KL to it.

:func:`enumerate_language` expands the trie breadth first, level by level (one
batched forward pass per level chunk), through **every token sequence the mask
allows** (every tokenization, canonical or not) and ending in EOS within the
length limit, and scores each with the model: ``log P(y | prompt)`` is the sum of
the log-probabilities along its path.  So ``Q(y) = P(y) / Z`` exactly, with
``Z = sum_y P(y)`` (see :mod:`.samplers` for the definition).

For languages with too many tokenizations, ``min_prob`` prunes a prefix whose
probability *under masked sampling* (the model renormalised over the mask at each
step, so these sum to 1 over every level of the tree) is below it; the model mass
of what was pruned, ``pruned_mass``, is an upper bound on what ``Z`` misses (compare
it with ``Z``), and :func:`kl_to_exact` still scores a sample outside the enumerated
set exactly (its log-probability comes with the sample).

After enumeration, :func:`exact_bounds` sets every node's bounds to its exact
future mass, and :class:`ExactSampler` draws from ``Q`` with no rejection.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import DecoderError
from .samplers import TrieSampler
from .trie import Node, PrefixTrie

__all__ = [
    "Enumeration",
    "enumerate_language",
    "exact_bounds",
    "ExactSampler",
    "kl_to_exact",
    "exact_draws",
]


@dataclass
class Enumeration:
    """Every allowed token sequence (EOS included) with its ``log P(y | prompt)``."""

    logp: dict  # key: token ids tuple (EOS included) -> log P
    pruned_mass: float  # model mass of the pruned prefixes: bounds what Z misses (min_prob)
    nodes: int  # prefixes expanded

    @property
    def Z(self) -> float:
        return float(sum(math.exp(v) for v in self.logp.values()))

    @property
    def logZ(self) -> float:
        v = np.fromiter(self.logp.values(), dtype=np.float64)
        m = v.max()
        return float(m + np.log(np.exp(v - m).sum()))

    def probabilities(self) -> tuple[list, np.ndarray]:
        keys = list(self.logp)
        lp = np.array([self.logp[k] for k in keys]) - self.logZ
        return keys, np.exp(lp)


def enumerate_language(
    trie: PrefixTrie, matcher, min_prob: float = 0.0, max_nodes: int = 200_000, batch: int = 64
) -> Enumeration:
    """Expand ``trie`` through every allowed sequence (prefixes with ``P >= min_prob``)."""
    # node, prefix, matcher, log P, log P_masked
    frontier: list[tuple[Node, tuple[int, ...], Any, float, float]] = [
        (trie.root, (), matcher.fork(), 0.0, 0.0)
    ]
    out: dict = {}
    pruned = 0.0
    nodes = 0
    while frontier:
        nxt = []
        for s in range(0, len(frontier), batch):
            chunk = frontier[s : s + batch]
            trie.expand([(n, p, m) for n, p, m, _, _ in chunk])
            nodes += len(chunk)
            if nodes > max_nodes:
                raise DecoderError(
                    f"the language has more than {max_nodes} prefixes: too large to "
                    f"enumerate (raise min_prob or max_nodes)"
                )
            for node, prefix, m, lp, lmask in chunk:
                assert (
                    node.ids is not None
                    and node.p is not None
                    and node.logp is not None
                    and node.is_eos is not None
                ), "trie.expand left a node unexpanded"
                if not len(node.ids):
                    continue
                lnorm = math.log(float(node.p.sum())) if min_prob > 0 else 0.0
                for i, tok in enumerate(node.ids.tolist()):
                    lq = lp + float(node.logp[i])
                    lqm = lmask + float(node.logp[i]) - lnorm
                    if node.is_eos[i]:
                        out[prefix + (tok,)] = lq
                    elif min_prob > 0 and math.exp(lqm) < min_prob:
                        pruned += math.exp(lq)
                    else:
                        f = m.fork()
                        if not f.commit(tok):
                            raise DecoderError(f"the matcher refused token {tok} its mask allowed")
                        nxt.append((node.child(i), prefix + (tok,), f, lq, lqm))
        frontier = nxt
    if not out:
        raise DecoderError("the constraint allows no complete output within the length limit")
    return Enumeration(out, pruned, nodes)


def exact_bounds(trie: PrefixTrie) -> dict:
    """Set every bound of an enumerated trie to the exact future mass; returns ``{prefix: EFG}``.

    Children never expanded (pruned) get 0, so the values are exact only without pruning.
    """
    efg: dict = {}

    def visit(prefix, node) -> float:
        for i in range(len(node.ids)):
            if node.is_eos[i]:
                node.bound[i] = 1.0
            else:
                c = node.children.get(i)
                node.bound[i] = (
                    visit(prefix + (int(node.ids[i]),), c) if c is not None and c.expanded else 0.0
                )
        v = node.mass()
        efg[prefix] = v
        return v

    import sys

    old = sys.getrecursionlimit()
    sys.setrecursionlimit(max(old, 10 * trie.max_new_tokens + 1000))
    try:
        trie.root_bound = visit((), trie.root)
    finally:
        sys.setrecursionlimit(old)
    return efg


class ExactSampler(TrieSampler):
    """Draws from ``Q`` on a trie whose bounds are exact (after :func:`exact_bounds`)."""

    name = "exact"
    learn = True  # weights P * U with the exact U: no rejection, no bias
    default_batch = 64


def exact_draws(enum: Enumeration, n: int, rng: np.random.Generator) -> list:
    """``n`` independent draws (keys) from the enumerated distribution."""
    keys, q = enum.probabilities()
    idx = rng.choice(len(keys), size=n, p=q / q.sum())
    return [keys[i] for i in idx]


def kl_to_exact(keys: Iterable[tuple], enum: Enumeration, logp_of: dict | None = None) -> float:
    """``KL(empirical || Q)`` in nats for sampled sequences ``keys`` (token tuples, EOS included).

    ``logp_of`` gives ``log P(y)`` for samples outside the enumeration (pruned ones).
    """
    counts = Counter(keys)
    n = sum(counts.values())
    if n == 0:
        raise DecoderError("no samples")
    logZ = enum.logZ
    kl = 0.0
    for k, c in counts.items():
        lp = enum.logp.get(k)
        if lp is None:
            if logp_of is None or k not in logp_of:
                raise DecoderError(
                    f"sample {k} is not in the enumerated language and its "
                    f"log-probability was not given"
                )
            lp = logp_of[k]
        e = c / n
        kl += e * (math.log(e) - (lp - logZ))
    return kl
