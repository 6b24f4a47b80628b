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

Constraint protocol
-------------------
Everything here (and :class:`decoder.generate.Decoder`) accepts as a constraint:
a ``decoder.Grammar``; anything with a ``.matcher(vocab)`` method returning a
matcher (composed constraints, budgets, tests' fakes); anything with a
``.to_grammar()`` method (``decoder.Regex``); a JSON schema as a ``dict``, a JSON
``str`` or a Pydantic model class.  See :func:`as_matcher_factory`.
"""
from __future__ import annotations

import json
import threading
from typing import Any, Callable, Optional, Sequence

import numpy as np

from .errors import DecoderError
from .masking import allocate_bitmask, apply_mask

try:  # a plain base class when transformers is absent, so the module imports anyway
    from transformers import LogitsProcessor as _LogitsProcessorBase
except ImportError:  # pragma: no cover - depends on the environment
    _LogitsProcessorBase = object

__all__ = ["DecoderLogitsProcessor", "GrammarLogitsProcessor", "as_matcher_factory", "vocabulary_for", "fill_masks",
           "check_tokenizer_matches_model", "model_vocab_size", "ConstraintError"]


class ConstraintError(DecoderError, ValueError):
    """A constraint that is not understood or does not compile."""


# ------------------------------------------------------------------ constraints -> matchers

def _engine():
    import decoder

    if not hasattr(decoder, "Grammar") or not hasattr(decoder, "Matcher"):
        raise DecoderError("the decoder engine is not available (decoder.Grammar / decoder.Matcher "
                           "missing): build the extension: `python setup.py build_ext --inplace` in the checkout")
    return decoder


def _is_pydantic_model_class(obj) -> bool:
    try:
        from pydantic import BaseModel
    except ImportError:
        return False
    return isinstance(obj, type) and issubclass(obj, BaseModel)


def json_schema_of(constraint) -> Optional[dict]:
    """The JSON schema a constraint stands for (dict, JSON text, Pydantic class), else None."""
    if isinstance(constraint, dict):
        return constraint
    if _is_pydantic_model_class(constraint):
        return constraint.model_json_schema()
    if isinstance(constraint, (str, bytes)):
        text = constraint.decode() if isinstance(constraint, bytes) else constraint
        try:
            value = json.loads(text)
        except ValueError:
            raise ConstraintError(
                "a str constraint is read as a JSON schema, and this one is not JSON; for a regex "
                "use decoder.Regex(pattern) or Grammar.from_regex(pattern), for a Lark grammar "
                "Grammar.from_lark(text)") from None
        if not isinstance(value, (dict, bool)):
            raise ConstraintError(f"a JSON schema is an object or a boolean, not {type(value).__name__}")
        return value if isinstance(value, dict) else ({} if value else {"not": {}})
    return None


def as_grammar(constraint, json_options: Optional[dict] = None):
    """The ``decoder.Grammar`` of a constraint, or None when it only offers ``.matcher(vocab)``.

    ``json_options`` go to ``Grammar.from_json_schema`` (e.g. ``whitespace="compact"``).
    """
    dec = None
    try:
        import decoder as dec  # noqa: F811
    except ImportError:  # pragma: no cover
        pass
    Grammar = getattr(dec, "Grammar", None)
    if Grammar is not None and isinstance(constraint, Grammar):
        return constraint
    if hasattr(constraint, "matcher") and callable(constraint.matcher):
        return None
    if hasattr(constraint, "to_grammar") and callable(constraint.to_grammar):
        return constraint.to_grammar()
    if hasattr(constraint, "grammar") and Grammar is not None and isinstance(constraint.grammar, Grammar):
        return constraint.grammar
    schema = json_schema_of(constraint)
    if schema is not None:
        g = _engine().Grammar
        if not hasattr(g, "from_json_schema"):
            raise ConstraintError("JSON schema constraints need Grammar.from_json_schema, which this "
                                  "build of decoder does not have yet")
        try:
            return g.from_json_schema(schema, **(json_options or {}))
        except DecoderError:
            raise
        except Exception as e:  # a schema that does not compile: say so, keep the cause
            raise ConstraintError(f"the JSON schema does not compile: {e}") from e
    raise ConstraintError(
        f"cannot use {type(constraint).__name__} as a constraint: pass a decoder.Grammar, "
        f"decoder.Regex(...), a JSON schema (dict, JSON str or Pydantic class), or an object "
        f"with a .matcher(vocab) method")


def as_matcher_factory(constraint, json_options: Optional[dict] = None) -> Callable[[Any], Any]:
    """``vocab -> matcher`` for any constraint of the protocol (see the module docs)."""
    if hasattr(constraint, "matcher") and callable(constraint.matcher) and not _is_grammar(constraint):
        return constraint.matcher
    grammar = as_grammar(constraint, json_options)
    if grammar is None:
        return constraint.matcher
    dec = _engine()

    def make(vocab, _g=grammar, _M=dec.Matcher):
        return _M(_g, vocab)

    return make


def _is_grammar(obj) -> bool:
    try:
        import decoder
    except ImportError:  # pragma: no cover
        return False
    G = getattr(decoder, "Grammar", None)
    return G is not None and isinstance(obj, G)


# ------------------------------------------------------------------ vocabulary / model checks

def model_vocab_size(model) -> int:
    """The number of logits a causal LM produces (its output embedding rows)."""
    try:
        emb = model.get_output_embeddings()
        if emb is not None and getattr(emb, "weight", None) is not None:
            return int(emb.weight.shape[0])
    except (AttributeError, NotImplementedError):
        pass
    cfg = model.config
    v = getattr(cfg, "vocab_size", None)
    if v is None and hasattr(cfg, "get_text_config"):
        v = getattr(cfg.get_text_config(), "vocab_size", None)
    if v is None:
        raise DecoderError("cannot tell the model's vocabulary size (no output embeddings, no "
                           "config.vocab_size)")
    return int(v)


def model_eos_ids(model) -> list[int]:
    ids: list[int] = []
    for src in (getattr(model, "generation_config", None), getattr(model, "config", None)):
        e = getattr(src, "eos_token_id", None) if src is not None else None
        if isinstance(e, int):
            ids.append(e)
        elif isinstance(e, (list, tuple)):
            ids.extend(int(x) for x in e)
    return ids


def check_tokenizer_matches_model(tokenizer, model) -> None:
    """Raise a clear error when ``tokenizer`` cannot be the model's tokenizer.

    Checks: the tokenizer has no more ids than the model has logits; it does not
    have far fewer (more than 10% and 1024 ids of padding means another family);
    the model's eos ids exist in the tokenizer.
    """
    n_tok, n_model = len(tokenizer), model_vocab_size(model)
    name = getattr(tokenizer, "name_or_path", "") or type(tokenizer).__name__
    mname = getattr(getattr(model, "config", None), "_name_or_path", "") or type(model).__name__
    if n_tok > n_model:
        raise DecoderError(
            f"the tokenizer ({name}, {n_tok} ids) does not match the model ({mname}, {n_model} "
            f"logits): the tokenizer has ids the model cannot produce; load the tokenizer that "
            f"belongs to this model")
    if n_model - n_tok > max(1024, n_model // 10):
        raise DecoderError(
            f"the tokenizer ({name}, {n_tok} ids) does not match the model ({mname}, {n_model} "
            f"logits): {n_model - n_tok} logits would have no token; load the tokenizer that "
            f"belongs to this model")
    bad = [e for e in model_eos_ids(model) if e >= n_tok]
    if bad:
        raise DecoderError(f"the model's eos ids {bad} are not in the tokenizer ({name}, {n_tok} "
                           f"ids): the tokenizer does not belong to this model")


_VOCABS: dict = {}
_VOCAB_LOCK = threading.Lock()


def vocabulary_for(tokenizer, model_vocab_size: int | None = None, eos_ids: Sequence[int] = ()):
    """``decoder.vocab.Vocabulary`` of a tokenizer, cached per (tokenizer, width, eos ids)."""
    from .vocab import Vocabulary

    key = (id(tokenizer), len(tokenizer), model_vocab_size, tuple(eos_ids))
    with _VOCAB_LOCK:
        hit = _VOCABS.get(key)
        if hit is not None and hit[0] is tokenizer:
            return hit[1]
    v = Vocabulary.from_tokenizer(tokenizer, model_vocab_size=model_vocab_size,
                                  eos_ids=[e for e in eos_ids if e < len(tokenizer)] or None)
    with _VOCAB_LOCK:
        if len(_VOCABS) > 16:
            _VOCABS.clear()
        _VOCABS[key] = (tokenizer, v)
    return v


# ------------------------------------------------------------------ masks for many matchers

def fill_masks(matchers: Sequence[Any], out2d, threads: int | None = None) -> None:
    """Row ``i`` of ``out2d`` = mask of ``matchers[i]`` (``None``: all -1, unconstrained).

    Uses ``decoder.fill_masks`` (C++ threads, no GIL) when every matcher is an
    engine ``Matcher``; otherwise (custom or fake matchers) ``compute_mask`` row by row.
    """
    try:
        import decoder

        M, native = getattr(decoder, "Matcher", None), getattr(decoder, "fill_masks", None)
    except ImportError:  # pragma: no cover
        M = native = None
    if native is not None and M is not None and all(m is None or type(m) is M for m in matchers):
        if threads is None:
            native(list(matchers), out2d)
        else:
            native(list(matchers), out2d, threads=int(threads))
        return
    for i, m in enumerate(matchers):
        if m is None:
            out2d[i] = -1
        else:
            m.compute_mask(out2d[i])


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

    def __init__(self, constraint, tokenizer, model_vocab_size: int | None = None, *, model=None,
                 vocab=None, threads: int | None = None, json_options: Optional[dict] = None):
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
        if vocab is not None and model_vocab_size is not None and vocab.model_vocab_size != model_vocab_size:
            raise DecoderError(f"vocab.model_vocab_size {vocab.model_vocab_size} != model_vocab_size "
                               f"{model_vocab_size}")
        self._roots: Optional[list] = None
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
                    f"logits: the tokenizer does not match the model")
            self.vocab = vocabulary_for(self.tokenizer, width, self._eos_extra)
        if self.vocab.model_vocab_size != width:
            raise DecoderError(
                f"the scores have {width} columns but the vocabulary was built for "
                f"{self.vocab.model_vocab_size} logits: pass the model's vocabulary size")
        if self._roots is None:
            self._roots = [f(self.vocab) for f in self._factories]

    def _start(self, input_ids, scores) -> None:
        self._ensure_vocab(scores.shape[-1])
        rows = input_ids.shape[0]
        if len(self._roots) > 1 and rows % len(self._roots):
            raise ConstraintError(f"{len(self._roots)} constraints for {rows} rows: give one "
                                  f"constraint, or one per prompt")
        self._prompt = input_ids.clone()
        self._plen = input_ids.shape[1]
        self._cache = {}
        pin = scores.device.type == "cuda"
        self._buf = allocate_bitmask(rows, self.vocab.model_vocab_size, "torch", pin_memory=pin)
        self._k = rows // len(self._roots) if len(self._roots) > 1 else rows

    def _same_generation(self, input_ids) -> bool:
        import torch

        p = self._prompt
        return (p is not None and input_ids.shape[0] == p.shape[0] and input_ids.shape[1] >= self._plen
                and input_ids.device == p.device and torch.equal(input_ids[:, :self._plen], p))

    # -- states
    def _group(self, row: int) -> int:
        return 0 if len(self._roots) == 1 else row // self._k

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
            base = self._roots[g].fork()
        elif anc is _DEAD:
            return _DEAD
        else:
            base = anc.fork()
            self.stats["forks"] += 1
        return self._advance(base, suffix[k:])

    def _states(self, input_ids) -> list:
        ids = input_ids[:, self._plen:]
        suffixes = ids.cpu().numpy() if ids.numel() else np.zeros((ids.shape[0], 0), dtype=np.int64)
        rows = suffixes.shape[0]
        keys = [(self._group(r), suffixes[r].tobytes()) for r in range(rows)]
        old = self._cache
        new: dict = {}
        current = set(keys)
        # children per parent, so a parent with one child is advanced in place
        n = suffixes.shape[1]
        parent_keys = [(k[0], suffixes[r, :n - 1].tobytes()) if n else None for r, k in enumerate(keys)]
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
                new[k] = self._rebuild(k[0], suffixes[r]) if n else self._roots[k[0]].fork()
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
            new[k] = self._advance(m, suffixes[r, n - 1:])
        self._cache = new
        return [new[k] for k in keys], keys

    # -- the call
    def __call__(self, input_ids, scores):
        self.stats["calls"] += 1
        if not self._same_generation(input_ids):
            self._start(input_ids, scores)
        elif scores.shape[-1] != self.vocab.model_vocab_size:
            raise DecoderError(f"the scores have {scores.shape[-1]} columns, expected "
                               f"{self.vocab.model_vocab_size}")
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
        fill_masks(uniq, buf[:len(uniq)], threads=self.threads)
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
            refine = getattr(m, "refine_scores", None) if m is not _DEAD else None
            if refine is not None and not m.is_terminated():
                refine(out[r])
        return out


GrammarLogitsProcessor = DecoderLogitsProcessor  # the name used in the docs of issue 5
