"""Hugging Face ``transformers`` integration: a LogitsProcessor for any causal LM.

>>> from transformers import LogitsProcessorList
>>> proc = DecoderLogitsProcessor(Grammar.from_regex(r"[0-9]{3}-[0-9]{4}"), tokenizer)   # doctest: +SKIP
>>> out = model.generate(**inputs, logits_processor=LogitsProcessorList([proc]),           # doctest: +SKIP
...                      max_new_tokens=20, num_beams=4)

How it works
------------
``transformers`` calls a processor with the whole rows (prompt included, left
padding in front) and the scores of the next token, and tells it nothing else: not
which row is which prompt, not how beam search reordered or duplicated the rows,
not which rows have finished.  So the processor keeps **matcher states keyed by the
generated suffix of each row** (the tokens after the prompt), not by row index:

* at every call each row's suffix is looked up; a suffix seen at the previous call
  extended by one token is its parent's state with that token committed (in place
  when the parent has one child, on a ``fork()`` when beams diverged); a suffix
  with no known ancestor (assisted decoding rejecting draft tokens, a reused
  processor) is rebuilt from the pristine root state;
* states not used by the current call are dropped (so memory is O(rows));
* rows with the same suffix share one state and one mask computation (the
  ``num_beams`` identical rows of the first beam step cost one mask).

This covers greedy search, sampling, ``num_return_sequences``, beam search (any
reordering, at no cost: no hook needed) and assisted decoding.

The masks of all distinct states are computed by ``decoder.fill_masks`` (C++
threads, no GIL) into one preallocated ``[rows, ceil(V/32)]`` int32 buffer and
applied with one vectorised op (:func:`decoder.masking.apply_mask`).  ``V`` is the
model's logits width: ids past the tokenizer (padding rows of the embedding
matrix) are never allowed.

Finished rows: once a row's state has committed EOS it is *terminated* and the
pad tokens ``generate`` appends are ignored; its mask is left unconstrained.  A row
whose token was not allowed (another processor or a stopping criterion picked it,
or a beam with score ``-inf`` that beam search keeps as filler) becomes
unconstrained too, and is counted in :attr:`DecoderLogitsProcessor.stats`.

Constraints
-----------
Anything :func:`decoder.constraints.as_constraint` accepts (the one entry shared with
:class:`decoder.Decoder`): a ``decoder.Grammar``, a JSON schema (``dict``, JSON ``str``,
path, Pydantic class), a composed constraint, any object with ``.matcher(vocab)``.  The
matcher contract is :mod:`decoder.protocol`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..constraints.base import as_constraint, is_pydantic_model_class, json_schema_of
from ..errors import ConstraintError, DecoderError
from ..masking import allocate_bitmask, apply_mask, fill_masks
from ..models import check_tokenizer_matches_model, model_eos_ids, model_vocab_size, vocabulary_for
from ..protocol import Capability, capabilities

try:  # a plain base class when transformers is absent, so the module imports anyway
    from transformers import LogitsProcessor as _LogitsProcessorBase
except ImportError:  # pragma: no cover - depends on the environment
    _LogitsProcessorBase = object

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


def as_matcher_factory(constraint, json_options: dict | None = None) -> Callable[[Any], Any]:
    """``vocab -> matcher`` for anything :func:`decoder.constraints.as_constraint` accepts."""
    return as_constraint(constraint, json_options).matcher


# ------------------------------------------------------------------ the processor


class _Dead:
    """State of a row that left the constraint (its token was not allowed)."""

    def __repr__(self):
        return "<unconstrained>"


_DEAD = _Dead()


class DecoderLogitsProcessor(_LogitsProcessorBase):
    """Masks the scores of every row of a ``generate()`` call to its constraint.

    Args:
        constraint: one constraint for all rows, or a list with one per prompt
            (rows ``i*k .. i*k+k-1`` belong to prompt ``i`` when ``generate``
            expands prompts by ``num_beams`` / ``num_return_sequences``).
        tokenizer: the model's tokenizer (a Hugging Face fast tokenizer).
        model_vocab_size: the model's logits width; default: the width of the
            scores at the first call.  Pass ``model`` instead to also take the
            model's eos ids and check the tokenizer against it.
        model: optional, see above.
        vocab: a prebuilt ``decoder.vocab.Vocabulary`` (skips building one).
        threads: threads for ``fill_masks`` (default: the engine's choice).
        json_options: options for JSON schema constraints (``whitespace="compact"``, ...).

    Attributes:
        stats: counters: ``calls``, ``masks`` (distinct states masked),
            ``forks``, ``rebuilds`` (suffixes rebuilt from the root),
            ``unconstrained`` (rows whose token was not allowed).
    """

    def __init__(
        self,
        constraint,
        tokenizer,
        model_vocab_size: int | None = None,
        *,
        model=None,
        vocab=None,
        threads: int | None = None,
        json_options: dict | None = None,
    ):
        if model is not None:
            check_tokenizer_matches_model(tokenizer, model)
            if model_vocab_size is None:
                model_vocab_size = globals()["model_vocab_size"](model)
        self.tokenizer = tokenizer
        self.threads = threads
        self._eos_extra = model_eos_ids(model) if model is not None else []
        constraints = list(constraint) if isinstance(constraint, (list, tuple)) else [constraint]
        if not constraints:
            raise ConstraintError("no constraint given")
        self._factories = [as_matcher_factory(c, json_options) for c in constraints]
        self._width = model_vocab_size
        self.vocab = vocab
        if (
            vocab is not None
            and model_vocab_size is not None
            and vocab.model_vocab_size != model_vocab_size
        ):
            raise DecoderError(
                f"vocab.model_vocab_size {vocab.model_vocab_size} != model_vocab_size "
                f"{model_vocab_size}"
            )
        self._roots: list | None = None
        self.stats = {"calls": 0, "masks": 0, "forks": 0, "rebuilds": 0, "unconstrained": 0}
        self.reset()

    # -- lifecycle
    def reset(self) -> None:
        """Forget the current generation (the next call starts a new one)."""
        self._prompt = None
        self._plen = 0
        self._cache: dict = {}
        self._buf = None

    def _ensure_vocab(self, width: int) -> None:
        if self.vocab is None:
            if len(self.tokenizer) > width:
                raise DecoderError(
                    f"the tokenizer has {len(self.tokenizer)} ids but the model produces {width} "
                    f"logits: the tokenizer does not match the model"
                )
            self.vocab = vocabulary_for(self.tokenizer, width, self._eos_extra)
        if self.vocab.model_vocab_size != width:
            raise DecoderError(
                f"the scores have {width} columns but the vocabulary was built for "
                f"{self.vocab.model_vocab_size} logits: pass the model's vocabulary size"
            )
        if self._roots is None:
            self._roots = [f(self.vocab) for f in self._factories]

    @property
    def _built_roots(self) -> list:
        """The root states, built by :meth:`_ensure_vocab` on the first call."""
        assert self._roots is not None, "the root states are built by _ensure_vocab first"
        return self._roots

    def _start(self, input_ids, scores) -> None:
        self._ensure_vocab(scores.shape[-1])
        rows = input_ids.shape[0]
        if len(self._built_roots) > 1 and rows % len(self._built_roots):
            raise ConstraintError(
                f"{len(self._built_roots)} constraints for {rows} rows: give one "
                f"constraint, or one per prompt"
            )
        self._prompt = input_ids.clone()
        self._plen = input_ids.shape[1]
        self._cache = {}
        pin = scores.device.type == "cuda"
        self._buf = allocate_bitmask(rows, self.vocab.model_vocab_size, "torch", pin_memory=pin)
        self._k = rows // len(self._built_roots) if len(self._built_roots) > 1 else rows

    def _same_generation(self, input_ids) -> bool:
        import torch

        p = self._prompt
        return (
            p is not None
            and input_ids.shape[0] == p.shape[0]
            and input_ids.shape[1] >= self._plen
            and input_ids.device == p.device
            and torch.equal(input_ids[:, : self._plen], p)
        )

    # -- states
    def _group(self, row: int) -> int:
        return 0 if len(self._built_roots) == 1 else row // self._k

    def _advance(self, m, tokens) -> Any:
        """Commit ``tokens`` to state ``m`` (in place); returns the resulting state."""
        for t in tokens:
            if m is _DEAD:
                return m
            if m.is_terminated():  # finished row: the rest is padding
                return m
            if not m.commit(int(t)):
                self.stats["unconstrained"] += 1
                return _DEAD
        return m

    def _rebuild(self, g: int, suffix: np.ndarray):
        """State of ``suffix`` from its longest cached ancestor, or from the root."""
        cache = self._cache
        for k in range(len(suffix) - 1, 0, -1):
            anc = cache.get((g, suffix[:k].tobytes()))
            if anc is not None:
                break
        else:
            k, anc = 0, None
            self.stats["rebuilds"] += 1
        if anc is None:
            base = self._built_roots[g].fork()
        elif anc is _DEAD:
            return _DEAD
        else:
            base = anc.fork()
            self.stats["forks"] += 1
        return self._advance(base, suffix[k:])

    def _states(self, input_ids) -> tuple[list, list]:
        ids = input_ids[:, self._plen :]
        suffixes = ids.cpu().numpy() if ids.numel() else np.zeros((ids.shape[0], 0), dtype=np.int64)
        rows = suffixes.shape[0]
        keys = [(self._group(r), suffixes[r].tobytes()) for r in range(rows)]
        old = self._cache
        new: dict = {}
        current = set(keys)
        # children per parent, so a parent with one child is advanced in place
        n = suffixes.shape[1]
        parent_keys = [
            (k[0], suffixes[r, : n - 1].tobytes()) if n else None for r, k in enumerate(keys)
        ]
        children: dict = {}
        for r, k in enumerate(keys):
            if k not in old and k not in children and parent_keys[r] is not None:
                children.setdefault(parent_keys[r], set()).add(k)
        for r, k in enumerate(keys):
            if k in new:
                continue
            if k in old:
                new[k] = old[k]
                continue
            pk = parent_keys[r]
            parent = old.get(pk) if pk is not None else None
            if parent is None:
                new[k] = self._rebuild(k[0], suffixes[r]) if n else self._built_roots[k[0]].fork()
                continue
            if parent is _DEAD:
                new[k] = _DEAD
                continue
            kids = children[pk]
            if len(kids) == 1 and pk not in current:
                del old[pk]  # sole child: take the parent's state over
                m = parent
            else:
                m = parent.fork()
                self.stats["forks"] += 1
                kids.discard(k)
                if not kids and pk not in current:
                    del old[pk]
            new[k] = self._advance(m, suffixes[r, n - 1 :])
        self._cache = new
        return [new[k] for k in keys], keys

    # -- the call
    def __call__(self, input_ids, scores):
        self.stats["calls"] += 1
        if not self._same_generation(input_ids):
            self._start(input_ids, scores)
        elif scores.shape[-1] != self.vocab.model_vocab_size:
            raise DecoderError(
                f"the scores have {scores.shape[-1]} columns, expected "
                f"{self.vocab.model_vocab_size}"
            )
        states, keys = self._states(input_ids)
        # one mask per distinct state
        slot: dict = {}
        uniq: list = []
        index = []
        for k, m in zip(keys, states):
            j = slot.get(k)
            if j is None:
                j = slot[k] = len(uniq)
                uniq.append(None if (m is _DEAD or m.is_terminated()) else m)
            index.append(j)
        buf = self._buf
        fill_masks(uniq, buf[: len(uniq)], threads=self.threads)
        self.stats["masks"] += sum(m is not None for m in uniq)
        if len(uniq) == len(keys):
            mask = buf
        else:
            import torch

            mask = buf[torch.as_tensor(index, dtype=torch.long)]
        out = apply_mask(scores, mask)
        # Composed constraints (decoder.constraints) can have allowed tokens after which no
        # output completes; model.generate() cannot resample, so such matchers keep only
        # their best-scoring tokens that still have a completion (see AllOfMatcher).
        for r, m in enumerate(states):
            if m is not _DEAD and Capability.WITNESS in capabilities(m) and not m.is_terminated():
                m.refine_scores(out[r])
        return out
