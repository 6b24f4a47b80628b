"""The prefix trie the faithful samplers share: model distributions and future-mass bounds.

A node is an output prefix ``w`` (token ids after the prompt).  Once *expanded*
it holds, for the tokens the constraint allows after ``w`` (the mask, cut to EOS
at the length limit):

* ``ids``: the allowed token ids; ``is_eos``: which of them end the output;
* ``logp``: the model's log-probabilities ``log P(t | prompt, w)`` (computed once);
* ``bound``: an upper bound ``U(w t)`` on the *expected future grammaticality*
  ``EFG(w t)``, the probability under the model that continuing ``w t`` ends in a
  complete output.  It starts at 1 for every allowed token (EOS children are
  complete: exactly 1) and only ever decreases.

``mass(w) = sum_t P(t | w) U(w t)`` is then an upper bound on ``EFG(w)``, and
:meth:`PrefixTrie.update` tightens a walked path bottom-up, ``U(w) <- mass(w)``
(GAD's update, Park et al. 2024).  ``root_bound`` is the bound on ``EFG(root)``,
i.e. on the probability ``Z`` that the model's output satisfies the constraint.

Node expansion is batched: the masks of all new nodes come from the matchers in
one ``fill_masks`` call, their distributions from one :class:`~.lm.PrefixLM` call.

:meth:`PrefixTrie.save` / :meth:`PrefixTrie.load` keep a trie across calls and
processes (``numpy`` ``.npz``, no pickle); a trie records a fingerprint of what
it was built for (model, prompt, constraint, limits) and refuses to load for
anything else.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..errors import DecoderError

__all__ = ["Node", "PrefixTrie", "TrieMismatch"]


class TrieMismatch(DecoderError, ValueError):
    """A saved trie was built for another model, prompt, constraint or limit."""


class Node:
    """One prefix.  ``ids is None`` until expanded; children are keyed by index into ``ids``."""

    __slots__ = ("ids", "is_eos", "logp", "p", "bound", "children")

    def __init__(self):
        self.ids: np.ndarray | None = None
        self.is_eos: np.ndarray | None = None
        self.logp: np.ndarray | None = None
        self.p: np.ndarray | None = None
        self.bound: np.ndarray | None = None
        self.children: dict[int, Node] = {}

    @property
    def expanded(self) -> bool:
        return self.ids is not None

    def mass(self) -> float:
        """``sum_t P(t | w) U(w t)``: an upper bound on EFG of this prefix."""
        assert self.p is not None and self.bound is not None, "mass() of an unexpanded node"
        return float(np.dot(self.p, self.bound))

    def child(self, i: int) -> Node:
        c = self.children.get(i)
        if c is None:
            c = self.children[i] = Node()
        return c

    def set(self, ids, is_eos, logp, bound=None) -> None:
        self.ids = np.asarray(ids, dtype=np.int64)
        self.is_eos = np.asarray(is_eos, dtype=bool)
        self.logp = np.asarray(logp, dtype=np.float64)
        self.p = np.exp(self.logp)
        self.bound = (
            np.ones(len(self.ids)) if bound is None else np.asarray(bound, dtype=np.float64)
        )


class PrefixTrie:
    """Prefixes of one (model, prompt, constraint), their distributions and bounds.

    Args:
        lm: a :class:`~.lm.PrefixLM` (the model after the prompt).
        eos_ids: the ids that end an output (allowed by the mask once it is complete).
        max_new_tokens: output length limit, EOS included: at depth
            ``max_new_tokens - 1`` only EOS is allowed.
        fingerprint: what the trie was built for (JSON-able dict), checked on load.
    """

    def __init__(
        self, lm, eos_ids: Sequence[int], max_new_tokens: int, fingerprint: dict | None = None
    ):
        if max_new_tokens < 1:
            raise DecoderError("max_new_tokens must be >= 1 (the EOS token counts)")
        self.lm = lm
        self.eos_ids = frozenset(int(e) for e in eos_ids)
        if not self.eos_ids:
            raise DecoderError("the vocabulary has no EOS id: an output could never end")
        self.max_new_tokens = int(max_new_tokens)
        self.fingerprint = dict(fingerprint or {})
        self.root = Node()
        self.root_bound = 1.0
        self.expansions = 0  # nodes expanded by this trie (model distributions used)

    # ------------------------------------------------------------------ expansion
    def expand(self, items: Sequence[tuple]) -> None:
        """Expand ``(node, prefix, matcher)`` items (the matcher is at ``prefix``), batched."""
        todo, seen = [], set()
        for node, prefix, m in items:
            if not node.expanded and id(node) not in seen:
                seen.add(id(node))
                todo.append((node, tuple(prefix), m))
        if not todo:
            return
        from ..masking import allocate_bitmask, fill_masks

        width = self.lm.vocab_size
        masks = allocate_bitmask(len(todo), width, "numpy")
        fill_masks([m for _, _, m in todo], masks)
        bits = np.unpackbits(masks.view(np.uint8), axis=1, bitorder="little")
        if bits.shape[1] > width and bits[:, width:].any():
            raise DecoderError(
                f"the constraint allows token ids >= {width}, past the model's logits: "
                f"the vocabulary does not match the model"
            )
        lps = self.lm.logprobs([p for _, p, _ in todo])
        eos = np.fromiter(self.eos_ids, dtype=np.int64)
        for r, (node, prefix, _) in enumerate(todo):
            ids = np.flatnonzero(bits[r, :width])
            is_eos = np.isin(ids, eos)
            if len(prefix) >= self.max_new_tokens - 1:  # only EOS fits
                ids, is_eos = ids[is_eos], is_eos[is_eos]
            node.set(ids, is_eos, lps[r, ids])
            self.expansions += 1

    # ------------------------------------------------------------------ bounds
    def update(self, path: Sequence[tuple]) -> None:
        """Tighten the bounds along a walked path ``[(node, index), ...]`` (root first), bottom-up."""
        for node, i in reversed(path):
            c = node.children.get(i)
            if c is not None and c.expanded:
                v = c.mass()
                if v < node.bound[i]:
                    node.bound[i] = v
        if self.root.expanded:
            self.root_bound = min(self.root_bound, self.root.mass())

    def nodes(self):
        """Every node with its prefix, depth first (root first)."""
        stack = [((), self.root)]
        while stack:
            prefix, node = stack.pop()
            yield prefix, node
            if node.expanded:
                for i, c in node.children.items():
                    stack.append((prefix + (int(node.ids[i]),), c))

    def __len__(self) -> int:
        return sum(1 for _, n in self.nodes() if n.expanded)

    # ------------------------------------------------------------------ persistence
    def save(self, path) -> None:
        """Write the expanded nodes, their distributions and bounds to ``path`` (``.npz``)."""
        order: list[Node] = []
        parent, slot, size = [], [], []
        index = {}
        stack = [(self.root, -1, -1)]
        while stack:
            node, par, i = stack.pop()
            if node.ids is None:  # not expanded
                continue
            index[id(node)] = len(order)
            order.append(node)
            parent.append(par)
            slot.append(i)
            size.append(len(node.ids))
            me = len(order) - 1
            for j, c in sorted(node.children.items(), reverse=True):
                stack.append((c, me, j))
        sizes = np.array(size, dtype=np.int64)
        meta = {
            "format": "decoder.sampling.trie/1",
            "fingerprint": self.fingerprint,
            "max_new_tokens": self.max_new_tokens,
            "root_bound": self.root_bound,
            "eos_ids": sorted(self.eos_ids),
        }
        cat = lambda xs, dt: np.concatenate(xs).astype(dt) if xs else np.zeros(0, dt)
        with open(path, "wb") as f:
            np.savez_compressed(
                f,
                meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8),
                parent=np.array(parent, dtype=np.int64),
                slot=np.array(slot, dtype=np.int64),
                sizes=sizes,
                ids=cat([n.ids for n in order], np.int64),
                is_eos=cat([n.is_eos for n in order], bool),
                logp=cat([n.logp for n in order], np.float64),
                bound=cat([n.bound for n in order], np.float64),
            )

    @classmethod
    def load(cls, path, lm, fingerprint: dict | None = None) -> PrefixTrie:
        """A trie saved by :meth:`save`; ``fingerprint`` (when given) must match the saved one."""
        p = Path(path)
        if not p.is_file():
            raise DecoderError(f"no saved trie at {p}")
        try:
            z = np.load(p, allow_pickle=False)
            meta = json.loads(bytes(z["meta"]).decode())
        except (OSError, ValueError, KeyError) as e:
            raise DecoderError(f"{p} is not a saved sampling trie: {e}") from None
        if meta.get("format") != "decoder.sampling.trie/1":
            raise DecoderError(f"{p} is not a saved sampling trie (format {meta.get('format')!r})")
        if fingerprint is not None:
            saved = meta["fingerprint"]
            diff = sorted(
                k for k in set(saved) | set(fingerprint) if saved.get(k) != fingerprint.get(k)
            )
            if diff:
                k = diff[0]
                raise TrieMismatch(
                    f"the trie in {p} was built for another {k} ({saved.get(k)!r}, now "
                    f"{fingerprint.get(k)!r}); its distributions and bounds do not apply"
                )
        t = cls(lm, meta["eos_ids"], meta["max_new_tokens"], meta["fingerprint"])
        t.root_bound = float(meta["root_bound"])
        offs = np.concatenate([[0], np.cumsum(z["sizes"])])
        nodes: list[Node] = []
        ids, is_eos, logp, bound = z["ids"], z["is_eos"], z["logp"], z["bound"]
        for k, (par, i) in enumerate(zip(z["parent"].tolist(), z["slot"].tolist())):
            node = t.root if par < 0 else nodes[par].child(i)
            a, b = offs[k], offs[k + 1]
            node.set(ids[a:b], is_eos[a:b], logp[a:b], bound[a:b].copy())
            nodes.append(node)
        return t
