"""The constraint/matcher contract every consumer relies on, in one place.

A **constraint** turns a vocabulary into a fresh **matcher** (``constraint.matcher(vocab)``).
A matcher is a cursor over the outputs a constraint allows, one token at a time:

``compute_mask(row)``
    Fill ``row`` (int32 words, bit ``i`` of word ``i // 32`` = token ``i``) with the
    tokens allowed next; EOS is allowed exactly when the output so far is complete.
``commit(token) -> bool``
    Advance by one token; ``False`` (state unchanged) when it is not allowed.
``rollback(n)``
    Undo the last ``n`` commits; more than were committed raises
    :class:`decoder.errors.MatcherError` (engine and Python matchers alike).
``fork()``
    An independent copy of the current state (cheap: states are shared).
``reset()``, ``is_accepting()``, ``is_terminated()``, ``min_completion_bytes()``
    Back to the start; the output so far is complete; EOS was committed; length of a
    shortest completion in bytes (``-1``: none exists).

Optional capabilities are **declared**, not probed: a matcher class says what it offers
in a ``capabilities`` class attribute (a :class:`Capability` flag set), and consumers ask
:func:`capabilities` (classes that cannot carry the attribute, like the Cython
``decoder.Matcher``, are registered with :func:`declare_capabilities`).  Each capability
has a sub-protocol naming its methods, for type checkers.

Turning user input (a ``Grammar``, a JSON schema as ``dict`` / JSON text / path /
Pydantic class, a composed constraint, any object with ``.matcher(vocab)``) into a
constraint is :func:`decoder.constraints.as_constraint`, the one entry all consumers use
(``Decoder``, the Hugging Face processor, DeAL, the samplers, the serving integrations).
"""

from __future__ import annotations

import enum
from typing import Any, Protocol, runtime_checkable

__all__ = [
    "Capability",
    "MatcherProtocol",
    "ConstraintProtocol",
    "ForcedBytesMatcher",
    "BytesMatcher",
    "WitnessMatcher",
    "capabilities",
    "declare_capabilities",
]


class Capability(enum.Flag):
    """Optional matcher abilities beyond :class:`MatcherProtocol`."""

    NONE = 0
    #: ``forced_bytes(max_bytes) -> bytes``: the bytes every continuation starts with
    #: (fast-forwarding uses it instead of searching the masks)
    FORCED_BYTES = enum.auto()
    #: ``commit_bytes(data) -> bool``: advance by raw bytes (one rollback step)
    COMMIT_BYTES = enum.auto()
    #: a composition whose allowed tokens may lead to no completion: check every token
    #: with ``min_completion_bytes()`` after it; ``witness_token()`` is the first token of
    #: a verified completion and ``refine_scores(scores)`` keeps the best tokens that have
    #: one (for ``transformers``' processor path, which cannot resample)
    WITNESS = enum.auto()


@runtime_checkable
class MatcherProtocol(Protocol):
    """What every matcher implements (the engine's ``decoder.Matcher``, the Python matchers)."""

    def compute_mask(self, out: Any) -> Any: ...

    def commit(self, token: int) -> bool: ...

    def rollback(self, n: int = 1) -> None: ...

    def fork(self) -> MatcherProtocol: ...

    def reset(self) -> None: ...

    def is_accepting(self) -> bool: ...

    def is_terminated(self) -> bool: ...

    def min_completion_bytes(self) -> int: ...


@runtime_checkable
class ConstraintProtocol(Protocol):
    """A constraint: a factory of fresh matchers for a vocabulary."""

    def matcher(self, vocab: Any) -> MatcherProtocol: ...


class ForcedBytesMatcher(MatcherProtocol, Protocol):
    """:attr:`Capability.FORCED_BYTES`."""

    def forced_bytes(self, max_bytes: int = 256) -> bytes: ...


class BytesMatcher(MatcherProtocol, Protocol):
    """:attr:`Capability.COMMIT_BYTES`."""

    def commit_bytes(self, data: bytes) -> bool: ...


class WitnessMatcher(MatcherProtocol, Protocol):
    """:attr:`Capability.WITNESS`."""

    def witness_token(self) -> int | None: ...

    def refine_scores(self, scores: Any, k: int = 8) -> None: ...


_DECLARED: dict = {}


def declare_capabilities(cls: type, caps: Capability) -> None:
    """Declare the capabilities of a matcher class that cannot carry a ``capabilities``
    class attribute (an extension type)."""
    _DECLARED[cls] = caps


def capabilities(matcher: Any) -> Capability:
    """The capabilities ``matcher``'s class declares (:attr:`Capability.NONE` when none)."""
    cls = type(matcher)
    caps = _DECLARED.get(cls)
    if caps is None:
        caps = getattr(cls, "capabilities", None)  # the declared class attribute, inherited
    return caps if isinstance(caps, Capability) else Capability.NONE


def _declare_engine() -> None:
    from ._engine import Matcher

    declare_capabilities(Matcher, Capability.FORCED_BYTES | Capability.COMMIT_BYTES)


_declare_engine()
