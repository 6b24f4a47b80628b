"""Grammars: the one IR every constraint compiles to, and its front ends.

``Grammar.from_lark(text)``, ``Grammar.from_regex(pattern)`` and
``Grammar.from_json_schema(schema)`` all return a :class:`Grammar` wrapping a
:class:`~decoder.grammar.ir.GrammarIR`, which :func:`decoder.compile.compile_grammar`
hands to the C++ engine.
"""

from __future__ import annotations

import gc
import hashlib
import threading
from array import array
from pathlib import Path
from typing import Any

from ..errors import DecoderError, GrammarError, LimitError, SchemaError
from . import ir
from .ir import GrammarBuilder, GrammarIR
from .serialize import serialize

#: the longest regex pattern (UTF-8 bytes) Grammar.from_regex compiles
MAX_REGEX_TEXT_BYTES = 1 << 20

_gc_lock = threading.Lock()
_gc_depth = 0
_gc_saved = (700, 10, 10)
_GC_FRONT_END_THRESHOLD = 500_000
_compile_json_schema: Any = None  # decoder.grammar.json_schema.compile_json_schema, once imported


def _gc_enter() -> None:
    global _gc_depth, _gc_saved
    with _gc_lock:  # several threads may compile at once: the outermost one restores
        if _gc_depth == 0:
            _gc_saved = gc.get_threshold()
            gc.set_threshold(max(_GC_FRONT_END_THRESHOLD, _gc_saved[0]), *_gc_saved[1:])
        _gc_depth += 1


def _gc_exit() -> None:
    global _gc_depth
    with _gc_lock:
        _gc_depth -= 1
        if _gc_depth == 0:
            gc.set_threshold(*_gc_saved)


class _gc_rarely:  # noqa: N801 - used as a function: ``with _gc_rarely():``
    """Front ends allocate hundreds of thousands of small tuples that all stay alive until
    the grammar is built, so the collector's frequent passes rescan them (and the rest of
    the heap: a model, a tokenizer) for nothing: on the largest JSONSchemaBench schemas the
    collector was half of the compile time. Meanwhile a pass runs every 50,000 allocations
    instead of 700 (older generations follow at the same ratios, so full passes become rare);
    disabling it outright left one huge deferred pass, which was slower on hostile inputs.

    A class, not a ``@contextmanager`` generator: it is entered twice per compile, and the
    generator's frame, its ``_GeneratorContextManager`` and their calls cost several times
    the work done (docs/optimizations.md, "Compile time, round fourteen")."""

    __slots__ = ()

    def __enter__(self) -> None:
        _gc_enter()

    def __exit__(self, *exc: object) -> None:
        _gc_exit()


class _front_end:  # noqa: N801 - used as a function: ``with _front_end(what, error):``
    """Turns the Python-level failures a hostile input can provoke in a front end into the
    package's errors: too deep (RecursionError), a number too large for the engine
    (OverflowError), text that is not UTF-8 or holds a lone surrogate (UnicodeError).
    The cyclic GC runs rarely meanwhile (see ``_gc_rarely``)."""

    __slots__ = ("what", "error")

    def __init__(self, what: str, error: type[DecoderError]) -> None:
        self.what = what
        self.error = error

    def __enter__(self) -> None:
        _gc_enter()

    def __exit__(self, typ: type[BaseException] | None, e: BaseException | None, tb: Any) -> None:
        _gc_exit()
        if typ is None or issubclass(typ, DecoderError):
            return  # a DecoderError propagates as it is
        what = self.what
        if issubclass(typ, RecursionError):
            raise LimitError(
                f"the {what} is nested too deeply to compile (Python's recursion limit)",
                limit="max_depth",
            ) from None
        if issubclass(typ, OverflowError):
            raise self.error(f"the {what} has a number too large to compile: {e}") from None
        if issubclass(typ, UnicodeError):
            raise self.error(
                f"the {what} has text that is not valid Unicode/UTF-8 (e.g. a lone "
                f"surrogate): {e}"
            ) from None


class Grammar:
    """A constraint as a context-free grammar over regex lexemes."""

    __slots__ = ("ir", "source", "_serialized", "_fingerprint", "_resolved")

    def __init__(self, grammar_ir: GrammarIR, source: str = "") -> None:
        self.ir = grammar_ir
        self.source = source
        self._serialized: tuple[array[int], list[str], list[str]] | None = None
        self._fingerprint: bytes | None = None
        self._resolved: tuple[Any, Grammar] | None = None

    # ------------------------------------------------------------ front ends
    @classmethod
    def from_lark(
        cls,
        text_or_path: str | Path,
        start: str = "start",
        *,
        timeout: float | None = None,
        **options: Any,
    ) -> Grammar:
        """A grammar in Lark's EBNF (text, or a path to a .lark file); options of
        :func:`decoder.grammar.lark.from_lark` (``max_rules``, ``max_alternatives``,
        ``max_text_bytes``, ...). ``timeout``: seconds (see :mod:`decoder.deadline`)."""
        from ..deadline import compile_deadline
        from .lark import from_lark

        with _front_end("Lark grammar", GrammarError), compile_deadline(timeout):
            return cls(from_lark(text_or_path, start=start, **options), source="lark")

    @classmethod
    def from_regex(
        cls,
        pattern: str,
        *,
        syntax: str = "python",
        flags: str = "",
        timeout: float | None = None,
        max_text_bytes: int = MAX_REGEX_TEXT_BYTES,
    ) -> Grammar:
        """Output that fully matches a regex (Python ``re`` syntax, or ``syntax="ecma"``).
        A pattern longer than ``max_text_bytes`` (1 MiB of UTF-8) is a ``LimitError``;
        ``timeout``: seconds (see :mod:`decoder.deadline`)."""
        from ..deadline import compile_deadline
        from .regex import parse_regex

        if not isinstance(pattern, str):
            raise TypeError(f"a regex pattern is a str, not {type(pattern).__name__}")
        if max_text_bytes and len(pattern) > max_text_bytes // 4:
            size = len(pattern.encode("utf-8", "surrogatepass"))
            if size > max_text_bytes:
                raise LimitError(
                    f"the regex has {size} bytes, more than the limit max_text_bytes="
                    f"{max_text_bytes} (Grammar.from_regex(..., max_text_bytes=N) raises it)",
                    limit="max_text_bytes",
                )
        with _front_end("regex", GrammarError), compile_deadline(timeout):
            return cls(
                ir.regex_grammar(parse_regex(pattern, syntax=syntax, flags=flags, whole=True)),
                source="regex",
            )

    @classmethod
    def from_json_schema(cls, schema: Any, **options: Any) -> Grammar:
        """A JSON Schema (dict, JSON text, path, or Pydantic model class); see
        :func:`decoder.grammar.json_schema.compile_json_schema` for the options, e.g.
        ``whitespace=`` ``"compact"``, ``"separators"``, ``"pretty"`` or ``"flexible"``
        (the default: :data:`decoder.grammar.json_schema.DEFAULT_WHITESPACE`)."""
        global _compile_json_schema
        if _compile_json_schema is None:  # imported once: the statement costs ~2 us a call
            from .json_schema import compile_json_schema

            _compile_json_schema = compile_json_schema
        with _front_end("JSON schema", SchemaError):
            g = cls(_compile_json_schema(schema, **options), source="json_schema")
            # serialised before the front end's collector setting is restored: the
            # serialiser untracks the IR's tuples as it writes them, so the generation-0
            # pass that follows the restore scans hundreds of objects instead of the
            # grammar's 10^4-10^5 tuples (docs/optimizations.md, section 40)
            g.serialized()
            return g

    @classmethod
    def builtin(cls, name: str) -> Grammar:
        """A bundled grammar from decoder/grammars/ (json, arithmetic, sql_select, csv); an
        unknown name raises UnknownGrammarError listing the known ones."""
        from .lark import load_bundled

        return cls.from_lark(load_bundled(name))

    # ------------------------------------------------------------ engine side
    def serialized(self) -> tuple[array[int], list[str], list[str]]:
        """The engine's input: the wire-format words, the lexeme names, the nonterminal names."""
        if self._serialized is None:
            with _gc_rarely():
                words = serialize(self.ir)
            self._serialized = (
                words,
                [lx.name for lx in self.ir.lexemes],
                list(self.ir.nonterminals),
            )
        return self._serialized

    def fingerprint(self) -> bytes:
        """128 bits of SHA-256 over the engine's input (wire words, lexeme names, token
        budgets, distinct-item roles): equal for grammars the engine cannot tell apart,
        in-process only. The compile cache keys by a CRC-32 of the same and compares the words
        on a hit instead (``decoder.compile._grammar_key``: cheaper on every compile)."""
        if self._fingerprint is None:
            words, lx, nt = self.serialized()
            h = hashlib.sha256(memoryview(words))
            h.update("\0".join(lx).encode("utf-8", "replace"))
            if self.ir.budgets:
                h.update(repr(sorted(self.ir.budgets)).encode())
            if self.ir.distinct:
                h.update(b"distinct" + repr(sorted(self.ir.distinct)).encode())
            self._fingerprint = h.digest()[:16]
        return self._fingerprint

    def matcher(self, vocab: Any) -> Any:
        """A fresh engine ``decoder.Matcher`` of this grammar over ``vocab`` (so a Grammar is a
        constraint of :mod:`decoder.protocol` by itself)."""
        from .._engine import Matcher

        return Matcher(self, vocab)

    def __and__(self, other: Any) -> Any:
        """``grammar & other``: both hold (a :class:`decoder.constraints.AllOf`)."""
        from ..constraints.base import AllOf

        return AllOf(self, other)

    def __rand__(self, other: Any) -> Any:  # dict & grammar
        from ..constraints.base import AllOf

        return AllOf(other, self)

    def for_vocab(self, vocab: Any) -> Grammar:
        """This grammar with its token placeholders (``<|name|>``, ``<[id]>``) resolved for
        ``vocab`` (itself when it has none); see :mod:`decoder.grammar.freetext`."""
        from .freetext import has_placeholders, resolve

        if self._resolved is not None and self._resolved[0] is vocab:
            return self._resolved[1]
        if not has_placeholders(self.ir):
            return self
        g = Grammar(resolve(self.ir, vocab), source=self.source)
        self._resolved = (vocab, g)
        return g

    def __repr__(self) -> str:
        return (
            f"Grammar({self.source or 'ir'}: {len(self.ir.rules)} rules, "
            f"{len(self.ir.lexemes)} lexemes)"
        )


__all__ = ["Grammar", "GrammarIR", "GrammarBuilder", "ir"]
