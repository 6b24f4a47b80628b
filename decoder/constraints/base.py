"""User input to constraints (:func:`as_constraint`), composition with ``&``, and the
Python matcher base.

A *constraint* is anything with ``.matcher(vocab)`` returning a *matcher*; the contract
of both, and the optional capabilities a matcher declares, are :mod:`decoder.protocol`.
The engine's :class:`decoder.Matcher` is one matcher; the Python matchers here
(:class:`PyMatcher`, :class:`AllOfMatcher`) are others.  :func:`as_constraint` is the
one entry from what users pass (a ``Grammar``, a JSON schema, a composition, ...) to a
:class:`Constraint`; every consumer calls it.

Composition: ``a & b`` is :class:`AllOf`; its mask is the AND of the parts' masks, so
EOS is allowed only when every part accepts.  The AND of two satisfiable constraints
can still have no completion (``Regex("ae|b") & NoLetters("e")`` after ``a``), so an
:class:`AllOfMatcher` keeps a *witness*: a token sequence, found by search and
verified by committing it to every part, that completes the output from the current
state.  A token is only worth committing when the state after it has a witness
(``min_completion_bytes()`` is that witness's length, ``-1`` when none was found);
:class:`decoder.Decoder` checks the sampled token this way and otherwise takes the
best-scoring token that has one, falling back to the first token of the current
witness, so a composed constraint never reaches a step where every token is masked.
See ``docs/constraints.md``.
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np

from .._engine import Matcher, fill_masks
from ..errors import ConstraintError, DecoderError, MatcherError
from ..protocol import Capability, ConstraintProtocol

__all__ = [
    "Constraint",
    "AllOf",
    "AllOfMatcher",
    "PyMatcher",
    "ConstraintError",
    "as_constraint",
    "GrammarConstraint",
    "JSONSchema",
    "constrain",
    "vocab_tables",
    "json_schema_of",
    "is_pydantic_model_class",
]


# ------------------------------------------------------------------ constraints


class Constraint:
    """Base class: ``.matcher(vocab)``, and ``&`` for composition."""

    def matcher(self, vocab):  # pragma: no cover - abstract
        raise NotImplementedError

    def __and__(self, other) -> AllOf:
        return AllOf(self, other)

    def __rand__(self, other) -> AllOf:  # dict / Grammar / Pydantic class & constraint
        return AllOf(other, self)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({args})"


def is_pydantic_model_class(obj) -> bool:
    """Whether ``obj`` is a Pydantic model class (False when pydantic is not installed)."""
    if not isinstance(obj, type):
        return False
    try:
        from pydantic import BaseModel
    except ImportError:
        return False
    return issubclass(obj, BaseModel)


def json_schema_of(constraint) -> dict | None:
    """The JSON schema a constraint stands for (dict, JSON text, Pydantic class), else None.

    A ``str``/``bytes`` that is not JSON raises :class:`ConstraintError` naming the
    constructors for a regex or a Lark grammar (a path is not read here: see
    :class:`JSONSchema`)."""
    if isinstance(constraint, dict):
        return constraint
    if isinstance(constraint, bool):
        return {} if constraint else {"not": {}}
    if is_pydantic_model_class(constraint):
        return constraint.model_json_schema()
    if isinstance(constraint, (str, bytes)):
        text = constraint.decode() if isinstance(constraint, bytes) else constraint
        try:
            value = json.loads(text)
        except ValueError:
            raise ConstraintError(
                "a str constraint is read as a JSON schema, and this one is not JSON; for a regex "
                "use decoder.Regex(pattern) or Grammar.from_regex(pattern), for a Lark grammar "
                "Grammar.from_lark(text)"
            ) from None
        if not isinstance(value, (dict, bool)):
            raise ConstraintError(
                f"a JSON schema is an object or a boolean, not {type(value).__name__}"
            )
        return value if isinstance(value, dict) else ({} if value else {"not": {}})
    return None


def as_constraint(obj, json_options: dict | None = None) -> Constraint:
    """The one entry from user input to a :class:`Constraint` (every consumer uses it:
    ``Decoder``, the Hugging Face processor, DeAL, the samplers, the serving integrations).

    Accepts: a :class:`Constraint` (compositions, budgets, lexical filters); a
    ``decoder.Grammar`` (``decoder.Regex(...)``, ``Grammar.from_lark``...); an object with
    ``.to_grammar()``; a JSON schema as a ``dict``, a ``bool``, JSON text (``str`` or
    ``bytes``), a path to a ``.json`` file (``pathlib.Path``, or a ``str`` naming an
    existing file) or a Pydantic model class; any object with ``.matcher(vocab)``
    (:class:`decoder.protocol.ConstraintProtocol`).  ``json_options`` go to
    ``Grammar.from_json_schema`` (e.g. ``whitespace="compact"``) for JSON schemas.
    Anything else is a :class:`ConstraintError` that names what was given.
    """
    from ..grammar import Grammar

    if isinstance(obj, Constraint):
        return obj
    if isinstance(obj, Grammar):
        return GrammarConstraint(obj)
    if isinstance(obj, ConstraintProtocol):
        return _Wrapped(obj)
    to_grammar = getattr(type(obj), "to_grammar", None)
    if callable(to_grammar):
        return GrammarConstraint(obj.to_grammar())
    if isinstance(obj, (dict, str, bytes, bool, os.PathLike)) or is_pydantic_model_class(obj):
        return JSONSchema(obj, **(json_options or {}))
    what = f"the class {obj.__name__}" if isinstance(obj, type) else f"a {type(obj).__name__}"
    raise ConstraintError(
        f"cannot use {what} as a constraint: pass a decoder.Grammar, decoder.Regex(...), a JSON "
        f"schema (dict, JSON str, path or Pydantic class), a decoder.constraints object or an "
        f"object with a .matcher(vocab) method"
    )


class _Wrapped(Constraint):
    def __init__(self, obj):
        self.obj = obj

    def matcher(self, vocab):
        return self.obj.matcher(vocab)

    def __repr__(self) -> str:
        return repr(self.obj)


class GrammarConstraint(Constraint):
    """A ``decoder.Grammar`` (Lark, regex, JSON Schema) as a composable constraint."""

    def __init__(self, grammar):
        from ..grammar import Grammar

        if not isinstance(grammar, Grammar):
            raise ConstraintError(
                f"GrammarConstraint needs a decoder.Grammar, got {type(grammar).__name__}"
            )
        self.grammar = grammar

    def matcher(self, vocab):
        return Matcher(self.grammar, vocab)

    def __repr__(self) -> str:
        return f"GrammarConstraint({self.grammar!r})"


class JSONSchema(GrammarConstraint):
    """A JSON schema (dict, JSON text, file path, Pydantic class) as a composable constraint:
    ``JSONSchema(schema) & NoLetters("e") & MaxTokens(60)``.  ``options`` go to
    ``Grammar.from_json_schema`` (``whitespace="compact"``, ...).

    A schema that does not compile raises its :class:`decoder.errors.SchemaError` (or
    another :class:`DecoderError`); any other failure is a :class:`ConstraintError`
    that keeps the cause."""

    def __init__(self, schema: Any, **options: Any):
        from ..grammar import Grammar

        self.schema = schema
        value: os.PathLike | str | dict | None
        if isinstance(schema, os.PathLike) or (isinstance(schema, str) and _is_file(schema)):
            value = schema  # Grammar.from_json_schema reads the file
        else:
            value = json_schema_of(schema)
            if value is None:
                raise ConstraintError(
                    f"a JSON schema is a dict, a bool, JSON text, a path or a Pydantic "
                    f"model class, not {type(schema).__name__}"
                )
        try:
            grammar = Grammar.from_json_schema(value, **options)
        except DecoderError:
            raise
        except Exception as e:  # a schema that does not compile: say so, keep the cause
            raise ConstraintError(f"the JSON schema does not compile: {e}") from e
        super().__init__(grammar)


def _is_file(text: str) -> bool:
    if len(text) > 4096 or "\n" in text or text.lstrip()[:1] in ("{", "[", '"'):
        return False
    try:
        return os.path.isfile(text)
    except (OSError, ValueError):
        return False


def constrain(*parts) -> Constraint:
    """All of ``parts`` at once (each a constraint, grammar, or JSON schema as a dict):
    ``constrain(schema_dict, NoLetters("e"), MaxTokens(60))``.  A plain ``dict`` cannot
    take ``&`` on its left with another dict; this always works."""
    if not parts:
        raise ConstraintError("constrain() needs at least one constraint")
    return as_constraint(parts[0]) if len(parts) == 1 else AllOf(*parts)


class AllOf(Constraint):
    """Every part holds.  ``a & b & c`` flattens into one ``AllOf``."""

    def __init__(self, *parts):
        flat: list = []
        for p in parts:
            c = as_constraint(p)
            flat.extend(c.parts if isinstance(c, AllOf) else [c])
        self.parts = flat

    def matcher(self, vocab):
        ms = [p.matcher(vocab) for p in self.parts]
        if len(ms) == 1:
            return ms[0]
        m = AllOfMatcher(ms, vocab)
        if m.witness() is None:
            raise ConstraintError(
                f"found no output that satisfies every part of {self!r}: the parts "
                f"contradict each other (e.g. a schema's required keys use a banned "
                f"letter, or a budget is too small for the shortest valid output)"
            )
        return m

    def __repr__(self) -> str:
        return " & ".join(repr(p) for p in self.parts)


# ------------------------------------------------------------------ vocabulary tables

_TABLES: dict = {}


class VocabTables:
    """Per-vocabulary arrays shared by the Python matchers (built once per vocabulary)."""

    def __init__(self, vocab):
        self.vocab = vocab
        self.width = int(vocab.model_vocab_size)
        self.words = (self.width + 31) // 32
        self.eos = np.array(sorted(vocab.eos_ids), dtype=np.int64)
        n = vocab.size
        usable = np.zeros(self.width, dtype=bool)
        usable[:n] = [bool(t) for t in vocab.tokens]
        if vocab.special_ids:
            usable[np.fromiter(vocab.special_ids, dtype=np.int64)] = False
        self.usable = usable  # ordinary text tokens (no EOS, no specials, no padding)
        self.byte_token: dict[int, int] = {}
        for i, t in enumerate(vocab.tokens):
            if len(t) == 1 and usable[i] and t[0] not in self.byte_token:
                self.byte_token[t[0]] = i
        self.eos_bits = self.pack(np.isin(np.arange(self.width), self.eos))
        self._cache: dict = {}

    def pack(self, allowed: np.ndarray) -> np.ndarray:
        """A bool array over the logits → the int32 bitmask row (bit i of word i//32)."""
        b = np.packbits(allowed, bitorder="little")
        out = np.zeros(self.words * 4, dtype=np.uint8)
        out[: b.size] = b
        return out.view(np.int32)

    def cached(self, key, build):
        v = self._cache.get(key)
        if v is None:
            v = self._cache[key] = build()
        return v

    def tokens_of(self, data: bytes) -> list | None:
        """``data`` as single-byte tokens, or None when some byte has no token."""
        out = []
        for b in data:
            t = self.byte_token.get(b)
            if t is None:
                return None
            out.append(t)
        return out


def vocab_tables(vocab) -> VocabTables:
    hit = _TABLES.get(id(vocab))
    if hit is None or hit.vocab is not vocab:
        if len(_TABLES) > 8:
            _TABLES.clear()
        hit = _TABLES[id(vocab)] = VocabTables(vocab)
    return hit


# ------------------------------------------------------------------ Python matchers


class PyMatcher:
    """A matcher over an immutable, hashable state, with a stack for ``rollback``.

    Subclasses define ``initial()``, ``step(state, token_bytes) -> state | None``,
    ``allowed(state) -> bool array over the logits`` (text tokens only; EOS is added
    here when ``accepting(state)``), ``accepting(state)`` and ``min_completion(state)``.
    Masks are cached per state (``mask_cache_size`` states)."""

    mask_cache_size = 4096
    capabilities = Capability.COMMIT_BYTES

    def __init__(self, vocab, tables: VocabTables | None = None):
        self.vocab = vocab
        self.t = tables or vocab_tables(vocab)
        self._masks: dict = {}
        self._stack = [self.initial()]
        self._terminated = False
        self._term_at = -1

    # subclass API
    def initial(self):  # pragma: no cover - abstract
        raise NotImplementedError

    def step(self, state, data: bytes):  # pragma: no cover - abstract
        raise NotImplementedError

    def allowed(self, state) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def accepting(self, state) -> bool:
        return True

    def min_completion(self, state) -> int:
        return 0

    def completion_hint(self, state) -> bytes | None:
        """Bytes that complete this constraint from ``state`` (a hint for the witness search)."""
        return b"" if self.accepting(state) else None

    # protocol
    @property
    def state(self):
        return self._stack[-1]

    def mask_of(self, state) -> np.ndarray:
        m = self._masks.get(state)
        if m is None:
            m = self.t.pack(self.allowed(state) & self.t.usable)
            if self.accepting(state):
                m = m | self.t.eos_bits
            if len(self._masks) >= self.mask_cache_size:
                self._masks.clear()
            self._masks[state] = m
        return m

    def compute_mask(self, out):
        row = out.numpy() if hasattr(out, "numpy") else out
        row[...] = self.mask_of(self.state)[: row.shape[-1]]
        return out

    def commit(self, tok: int) -> bool:
        if self._terminated:
            return False
        tok = int(tok)
        if tok in self.vocab.eos_ids:
            if not self.accepting(self.state):
                return False
            self._terminated = True
            self._term_at = len(self._stack)
            self._stack.append(self.state)
            return True
        if not (0 <= tok < self.t.width) or not self.t.usable[tok]:
            return False
        nxt = self.step(self.state, self.vocab.tokens[tok])
        if nxt is None:
            return False
        self._stack.append(nxt)
        return True

    def commit_bytes(self, data) -> bool:
        """Advances by raw bytes (one rollback step); False (no change) if not allowed."""
        if self._terminated:
            return False
        nxt = self.step(self.state, bytes(data))
        if nxt is None:
            return False
        self._stack.append(nxt)
        return True

    def is_allowed(self, tok: int) -> bool:
        ok = self.commit(tok)
        if ok:
            self.rollback(1)
        return ok

    def rollback(self, n: int = 1) -> None:
        if n > len(self._stack) - 1:
            raise MatcherError(
                f"cannot roll back {n} steps: only {len(self._stack) - 1} were committed"
            )
        if n:
            del self._stack[-n:]
        if self._terminated and len(self._stack) <= self._term_at:
            self._terminated, self._term_at = False, -1

    @property
    def num_steps(self) -> int:
        return len(self._stack) - 1

    def fork(self):
        other = object.__new__(type(self))
        other.__dict__.update(self.__dict__)
        other._stack = list(self._stack)
        return other

    def reset(self) -> None:
        del self._stack[1:]
        self._terminated, self._term_at = False, -1

    def is_accepting(self) -> bool:
        return self.accepting(self.state)

    def is_terminated(self) -> bool:
        return self._terminated

    def min_completion_bytes(self) -> int:
        return self.min_completion(self.state)

    def min_completion_text(self) -> bytes | None:
        return self.completion_hint(self.state)


# ------------------------------------------------------------------ composition


class AllOfMatcher:
    """The AND of several matchers, with a verified completion witness (module docs).

    Declares :attr:`~decoder.protocol.Capability.WITNESS`: a token should be committed only
    when :meth:`min_completion_bytes` after it is ``>= 0`` (the runner checks every sampled
    token of such a matcher).

    Attributes:
        search_nodes: commits the witness search may spend per state before giving up.
    """

    capabilities = Capability.COMMIT_BYTES | Capability.WITNESS
    search_nodes = 20000
    max_witness = 4096

    def __init__(self, parts, vocab):
        self.parts = list(parts)
        self.vocab = vocab
        self.t = vocab_tables(vocab)
        self._eos = frozenset(vocab.eos_ids)
        self._native = [p for p in self.parts if type(p) is Matcher]
        self._python = [p for p in self.parts if type(p) is not Matcher]
        self._buf = np.zeros((max(1, len(self._native)), self.t.words), dtype=np.int32)
        self._tmp = np.zeros(self.t.words, dtype=np.int32)
        # single-byte tokens for the search: printable ASCII first
        bts = self.t.byte_token
        self._order = [bts[b] for b in sorted(bts, key=lambda b: (not 32 <= b < 127, b))]
        # witness per depth of the commit stack: list of token ids, or None (not searched yet)
        self._witness: list = [None]
        self._toks: list = [None]  # the token that led to each depth
        self._child: dict = {}  # (depth, token) -> witness after that token, found by fits()
        self._terminated = False
        self._term_at = -1

    # -- masks
    def compute_mask(self, out):
        row = out.numpy() if hasattr(out, "numpy") else out
        row = row.view(np.int32)
        if self._native:
            fill_masks(self._native, self._buf)
            np.bitwise_and.reduce(self._buf[: len(self._native)], axis=0, out=row)
        else:
            row[...] = -1
        for p in self._python:
            p.compute_mask(self._tmp)
            np.bitwise_and(row, self._tmp, out=row)
        return out

    # -- state
    def commit(self, tok: int) -> bool:
        tok = int(tok)
        done = 0
        for p in self.parts:
            if not p.commit(tok):
                for q in self.parts[:done]:
                    q.rollback(1)
                return False
            done += 1
        depth = len(self._witness)
        w = self._child.pop((depth, tok), None)
        if w is None:
            prev = self._witness[-1]
            w = prev[1:] if prev and prev[0] == tok else None
        self._witness.append(w)
        self._toks.append(tok)
        if tok in self._eos:
            self._terminated, self._term_at = True, depth
        return True

    def commit_bytes(self, data) -> bool:
        """Advances every part by raw bytes (one rollback step); False (no change) if a part refuses."""
        done = 0
        for p in self.parts:
            if not p.commit_bytes(data):
                for q in self.parts[:done]:
                    q.rollback(1)
                return False
            done += 1
        self._witness.append(None)
        self._toks.append(None)
        return True

    def is_allowed(self, tok: int) -> bool:
        ok = self.commit(tok)
        if ok:
            self.rollback(1)
        return ok

    def rollback(self, n: int = 1) -> None:
        if n > len(self._witness) - 1:
            raise MatcherError(
                f"cannot roll back {n} steps: only {len(self._witness) - 1} were committed"
            )
        if not n:
            return
        for p in self.parts:
            p.rollback(n)
        top = (len(self._witness) - 1, self._toks[-1], self._witness[-1])
        del self._witness[-n:]
        del self._toks[-n:]
        # witnesses found after a token, keyed (depth, token): valid while the state at
        # depth - 1 is unchanged, so drop the deeper ones and keep what a check just found
        d = len(self._witness)
        if self._child:
            self._child = {k: v for k, v in self._child.items() if k[0] <= d}
        if n == 1 and top[2] is not None and len(self._child) < 512:
            self._child[(top[0], top[1])] = top[2]
        if self._terminated and len(self._witness) <= self._term_at:
            self._terminated, self._term_at = False, -1

    @property
    def num_steps(self) -> int:
        return len(self._witness) - 1

    def fork(self):
        other = object.__new__(AllOfMatcher)
        other.__dict__.update(self.__dict__)
        other.parts = [p.fork() for p in self.parts]
        other._native = [p for p in other.parts if type(p) is Matcher]
        other._python = [p for p in other.parts if type(p) is not Matcher]
        other._buf = np.zeros_like(self._buf)
        other._tmp = np.zeros_like(self._tmp)
        other._witness = list(self._witness)
        other._toks = list(self._toks)
        other._child = {}
        other._order = list(self._order)
        return other

    def reset(self) -> None:
        for p in self.parts:
            p.reset()
        del self._witness[1:]
        del self._toks[1:]
        self._child = {}
        self._terminated, self._term_at = False, -1

    def is_accepting(self) -> bool:
        return all(p.is_accepting() for p in self.parts)

    def is_terminated(self) -> bool:
        return self._terminated

    # -- the witness
    def min_completion_bytes(self) -> int:
        """Length of a verified completion (tokens, EOS excluded) from here; -1 if none found."""
        w = self.witness()
        return -1 if w is None else len(w)

    def witness(self) -> list | None:
        """Token ids that complete every part from the current state (EOS not included), or
        None when the search found none (then the state should not be entered)."""
        w = self._witness[-1]
        if w is None:
            w = self._search()
            self._witness[-1] = w if w is not None else False
        return w if w is not False else None

    def witness_token(self) -> int | None:
        """The first token of the witness (EOS when the output is complete)."""
        w = self.witness()
        if w is None:
            return None
        return w[0] if w else min(self._eos)

    def _parts_min(self) -> int:
        worst = 0
        for p in self.parts:
            c = p.min_completion_bytes()
            if c < 0:
                return -1
            worst = max(worst, c)
        return worst

    def _try(self, toks) -> bool:
        """Whether committing ``toks`` leaves every part accepting (state unchanged after)."""
        k = 0
        ok = True
        for tok in toks:
            if not self.commit(tok):
                ok = False
                break
            k += 1
        ok = ok and self.is_accepting()
        self.rollback(k)
        return ok

    def _search(self) -> list | None:
        if self.is_terminated():
            return []
        if self.is_accepting():
            return []
        if self._parts_min() < 0:
            return None
        tried = set()
        # 1. hints: each part's own shortest completion, the previous witness' tail
        hints = []
        for p in self.parts:
            h = p.min_completion_text() if isinstance(p, PyMatcher) else None
            if h:
                toks = self.t.tokens_of(bytes(h))
                if toks is not None:
                    hints.append(toks)
        for d in range(len(self._witness) - 2, max(-1, len(self._witness) - 4), -1):
            prev = self._witness[d]
            if prev:
                hints.append(list(prev))
        for hint in hints:
            for cut in range(min(len(hint), 2) + 1):
                seq = tuple(hint[cut:])
                if seq and seq not in tried:
                    tried.add(seq)
                    if self._try(seq):
                        return list(seq)
        # 2. a greedy depth-first search over single-byte tokens, guided by the parts'
        #    shortest completions
        budget = [self.search_nodes]
        path: list = []
        found = self._dfs(path, budget, set())
        return found

    def _dfs(self, path: list, budget: list, seen: set) -> list | None:
        """Greedy descent on the parts' largest shortest-completion, over single-byte tokens
        (scanned most-recently-useful first, stopping at the first that shortens it),
        backtracking over at most three choices per level."""
        if self.is_accepting():
            return list(path)
        if len(path) >= self.max_witness or budget[0] <= 0:
            return None
        here = self._parts_min()
        scored = []
        order = self._order
        for pos, tok in enumerate(order):
            budget[0] -= 1
            if not self.commit(tok):
                continue
            c = self._parts_min()
            key = self._state_key() if c >= 0 else None
            self.rollback(1)
            if c >= 0 and key not in seen:
                scored.append((c, pos, tok, key))
                if c < here:
                    break
            if budget[0] <= 0:
                break
        scored.sort()
        for c, pos, tok, key in scored[:3]:
            seen.add(key)
            if pos:  # move to front: the next level probably wants similar bytes
                order.insert(0, order.pop(pos))
            self.commit(tok)
            path.append(tok)
            w = self._dfs(path, budget, seen)
            path.pop()
            self.rollback(1)
            if w is not None:
                return w
            if budget[0] <= 0:
                return None
        return None

    def _state_key(self):
        """A cheap key that tells states apart well enough to avoid walking in circles."""
        key = []
        for p in self.parts:
            st = p.state if isinstance(p, PyMatcher) else None
            key.append(st if st is not None else (p.min_completion_bytes(), p.is_accepting()))
        return tuple(key)

    def refine_scores(self, scores, k: int = 8) -> None:
        """For ``transformers``' LogitsProcessor path (no resampling there): keep only the ``k``
        best-scoring allowed tokens that have a witness; the others get ``-inf``."""
        import torch

        top = torch.topk(scores, min(k, scores.shape[-1]))
        keep = []
        for s, t in zip(top.values.tolist(), top.indices.tolist()):
            if s == float("-inf"):
                break
            if t in self._eos:
                if self.is_accepting():
                    keep.append(t)
                continue
            if self.commit(t):
                ok = self.min_completion_bytes() >= 0
                self.rollback(1)
                if ok:
                    keep.append(t)
        if not keep:
            w = self.witness_token()
            keep = [w] if w is not None else []
        if keep:
            vals = scores[keep].clone()
            scores.fill_(float("-inf"))
            scores[keep] = vals
