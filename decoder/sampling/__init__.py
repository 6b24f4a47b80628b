"""Faithful constrained sampling: outputs distributed as the model's distribution
conditioned on the constraint, not as masked decoding's renormalised one.

>>> from decoder import Decoder, Regex
>>> d = Decoder("default", Regex(r"[01]{5}"), sampler="cars")          # doctest: +SKIP
>>> [str(g) for g in d.sample("A binary string:", n=3, seed=0)]          # doctest: +SKIP

Samplers (all walk one :class:`PrefixTrie` of the prefixes met so far, which stores
the model's next-token distribution of each prefix, computed once):

* ``"masked"``: what every engine does, renormalising over the mask at each step (biased);
* ``"asap"``: adaptive sampling with approximate expected futures (GAD, Park et al. 2024);
* ``"cars"``: exact rejection sampling that learns the dead mass (CARS, arXiv 2510.01902):
  every sample is an exact, independent draw from the conditioned distribution.

Lower level: :func:`make_sampler` builds one for any model wrapper
(:class:`HFPrefixLM` for ``transformers`` models, :class:`CallableLM` for a function)
and any constraint matcher (the protocol of :mod:`decoder.protocol`: ``compute_mask``,
``commit``, ``fork``).  :mod:`.exact` enumerates small languages for the exact
distribution and ``KL(empirical || exact)``.
"""

from __future__ import annotations

from ..protocol import MatcherProtocol
from .lm import CallableLM, HFPrefixLM, PrefixLM
from .samplers import (
    SAMPLERS,
    ASApSampler,
    CARSSampler,
    MaskedSampler,
    NoCompleteOutput,
    Sample,
    TrieSampler,
)
from .trie import Node, PrefixTrie, TrieMismatch

__all__ = [
    "make_sampler",
    "SAMPLERS",
    "Sample",
    "TrieSampler",
    "MaskedSampler",
    "ASApSampler",
    "CARSSampler",
    "NoCompleteOutput",
    "PrefixTrie",
    "Node",
    "TrieMismatch",
    "PrefixLM",
    "HFPrefixLM",
    "CallableLM",
]


def make_sampler(
    name: str,
    lm: PrefixLM,
    matcher,
    vocab,
    max_new_tokens: int = 256,
    trie: PrefixTrie | None = None,
    batch: int | None = None,
    fingerprint: dict | None = None,
) -> TrieSampler:
    """A sampler by name (``masked``, ``asap``, ``cars``) over ``lm`` and a fresh (or given) trie.

    ``matcher`` is a matcher at the start of the output, or a constraint (anything
    :func:`decoder.constraints.as_constraint` accepts: a ``Grammar``, a JSON schema, a
    composition), compiled here.  ``vocab`` gives the token bytes and EOS ids (a
    ``decoder.Vocabulary``).
    Several samplers may share one trie (its distributions), but only one that
    learns bounds should: ASAp's and CARS's bounds mean the same thing and can be shared.
    """
    cls = SAMPLERS.get(name)
    if cls is None:
        from ..errors import DecoderError

        raise DecoderError(f"unknown sampler {name!r}: choose one of {', '.join(SAMPLERS)}")
    if not isinstance(matcher, MatcherProtocol):
        from ..constraints.base import as_constraint

        matcher = as_constraint(matcher).matcher(vocab)
    if trie is None:
        trie = PrefixTrie(lm, vocab.eos_ids, max_new_tokens, fingerprint)
    return cls(trie, matcher, vocab.tokens, batch=batch)
