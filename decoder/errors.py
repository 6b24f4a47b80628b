"""Exceptions raised by the decoder package.

Every error the package raises on purpose derives from :class:`DecoderError`, so
callers can catch the whole family with one ``except``.
"""

from __future__ import annotations


class DecoderError(Exception):
    """Base class of every error raised on purpose by the decoder package."""


class VocabularyError(DecoderError):
    """A tokenizer could not be turned into exact token byte strings.

    Raised instead of guessing: an unknown tokenizer model or decoder step, a
    token string that has no byte representation, or inconsistent sizes / ids.
    The message names what was not understood.
    """


class SchemaError(DecoderError):
    """A JSON Schema that cannot be compiled exactly.

    ``keyword`` names the keyword that could not be enforced and ``path`` is the
    JSON pointer of the schema location that carries it (``""`` for the root).
    Pass ``approximate=True`` to compile an over-approximation instead (a warning
    names what is not enforced).
    """

    def __init__(self, message: str, *, path: str = "", keyword: str = "") -> None:
        super().__init__(message)
        self.path = path
        self.keyword = keyword


class GrammarError(DecoderError):
    """A grammar or regex that cannot be compiled: a syntax error, a non-regular regex
    feature, an empty language. (A regex or terminal that matches the empty string is fine:
    the empty output is then allowed.)"""


class UnknownGrammarError(GrammarError, FileNotFoundError):
    """``Grammar.builtin(name)`` with a name that is not a bundled grammar; the message lists
    the known names. Also a ``FileNotFoundError``, as it was before it had its own class."""


class LimitError(DecoderError):
    """A configured resource limit was hit (automaton states, grammar size, Earley items,
    compile time, schema depth). The message names the limit and where it was hit;
    ``limit`` is the option that raises it (e.g. ``"timeout"``, ``"max_rules"``) and
    ``path`` the schema location (JSON pointer) when there is one."""

    def __init__(self, message: str = "", *, limit: str = "", path: str = "") -> None:
        super().__init__(message)
        self.limit = limit
        self.path = path


class MatcherError(DecoderError):
    """A matcher was misused: a token id out of range, a rollback past the start, a mask
    buffer of the wrong size or dtype.  Raised by the engine's ``Matcher`` and by every
    Python matcher (``decoder.constraints``) alike."""


class ConstraintError(DecoderError, ValueError):
    """A constraint that is not understood or cannot be satisfied: an input
    :func:`decoder.protocol.as_constraint` does not accept (the message names what was
    given and what is accepted), a JSON schema that does not compile for a reason other
    than a :class:`SchemaError`, a malformed lexical filter or budget, parts of a
    composition that contradict each other.  Also a ``ValueError``."""


class SchemaLimitError(LimitError, SchemaError):
    """A JSON Schema that hit a compile limit: both a :class:`LimitError` (``limit`` names
    it) and a :class:`SchemaError` (``path`` and ``keyword`` say where)."""

    def __init__(self, message: str, *, limit: str, path: str = "", keyword: str = "") -> None:
        SchemaError.__init__(self, message, path=path, keyword=keyword)
        self.limit = limit


class UnsatisfiableSchemaError(SchemaError):
    """A JSON Schema that no JSON value satisfies (``false``, ``{"not": {}}``, a required
    property whose schema is ``false``, ``allOf`` of disjoint types, ...): nothing can be
    generated, so it is refused at compile time. ``path`` points at the sub-schema that
    admits no value (the deepest one found on the way from the root)."""


class ContextLengthError(DecoderError, ValueError):
    """The prompt does not fit in the model's context."""


class IncompleteOutput(DecoderError, ValueError):
    """The output stopped before the constraint was complete (``max_new_tokens`` too small)."""


class SpecError(DecoderError, ValueError):
    """A serving request's constraint spec (JSON schema, regex, grammar, choice, structural
    tag) that is malformed or asks for something decoder cannot enforce."""
