"""Type stubs for decoder/grammar/_wire.pyx (the IR -> wire-format words, csrc/ir_format.h)."""

from array import array
from collections.abc import Callable, Sequence
from typing import Any

MAGIC: int
LAZY_TAG: int

def serialize_words(
    header: Sequence[int],
    regexes: Sequence[tuple[Any, ...]],
    rules: Sequence[tuple[int, Sequence[int]]],
) -> array[int]: ...
def _forget_words() -> None: ...
def _words_cached() -> int: ...
def productive(
    rules: Sequence[tuple[int, Sequence[int]]], lex_ok: Sequence[bool], n_nt: int
) -> list[bool]: ...

_HASHES: dict[int, tuple[tuple[Any, ...], int]]

def _set_lexeme_class(cls: type) -> None: ...

class _LexemeKey:
    regex: tuple[Any, ...]
    role: int
    lazy: bool
    def __init__(self, regex: tuple[Any, ...], role: int, lazy: bool) -> None: ...

class _BuilderCore:
    _lexemes: list[Any]
    _lexeme_by_regex: dict[_LexemeKey, int]
    _lexeme_by_id: dict[int, tuple[tuple[Any, ...], int]]
    _nonterminals: list[str]
    _nt_names: set[str]
    _nt_next: dict[str, int]
    _rules: list[tuple[int, tuple[int, ...]]]
    _rule_set: set[tuple[int, tuple[int, ...]]]
    _ignore: list[int]
    _budgets: list[tuple[int, int]]
    _distinct: dict[int, int]
    _lazy: list[int]
    def lexeme(
        self, name: str, regex: tuple[Any, ...], role: int = 0, lazy: bool = False
    ) -> int: ...
    def nonterminal(self, name: str) -> int: ...
    def rule(self, lhs: int, rhs: Sequence[int]) -> None: ...

class _ObjectStates:
    def __init__(
        self,
        comp: Any,
        core: _BuilderCore,
        live: list[Any],
        full: int,
        lo: int,
        hi: int | None,
        xcap: int | None,
        extra_bits: Sequence[int],
        kv_x_new: Callable[[int], int],
    ) -> None: ...
    def get(self, kind: str, i: int, c: int, f: int) -> int: ...
    def kv_x(self, bits: int) -> int: ...
