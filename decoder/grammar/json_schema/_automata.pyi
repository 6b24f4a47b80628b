"""Type stubs for decoder/grammar/json_schema/_automata.pyx (the regex algebra's automaton
core, csrc/code_point_dfa.h). ``Made`` is a Dfa's ``(edges, finals)``; ``status`` is 0 or the
budget that ran out (automata._done raises its error)."""

from collections.abc import Callable, Container, Iterable, Sequence
from typing import Any

Made = tuple[list[tuple[tuple[int, int, int], ...]], list[int]]

def trim(d: Any) -> Made: ...
def complete(d: Any) -> Made: ...
def complement(d: Any, shared: list[int] | None) -> tuple[int, Made | None]: ...
def minimize(d: Any, shared: list[int] | None) -> tuple[int, Made | None]: ...
def determinize(
    eps: list[list[int]],
    edges: list[list[tuple[int, int, int]]],
    start: int,
    final: int,
    budget: int,
    max_work: int,
    shared: list[int] | None,
) -> tuple[int, Made | None]: ...
def determinize_node(
    node: tuple, budget: int, max_work: int, shared: list[int] | None
) -> tuple[int, Made | None]: ...
def intersect(
    d1: Any, d2: Any, budget: int, max_work: int, shared: list[int] | None
) -> tuple[int, Made | None]: ...
def split_by(
    ds: list[Any],
    classify: Callable[[tuple[bool, ...]], Any],
    all_ranges: Sequence[tuple[int, int]],
    budget: int,
    max_work: int,
    shared: list[int] | None,
) -> tuple[int, dict[Any, Made] | None]: ...
def encode_json(
    d: Any, plain: Sequence[tuple[int, int]], budget: int, max_work: int, shared: list[int] | None
) -> tuple[int, Made | None]: ...
def star_minus_walk(
    keys: Iterable[str],
    ranges: Sequence[tuple[int, int]],
    self_encoding: Container[int],
    encode_ranges: Callable[[tuple[tuple[int, int], ...]], tuple] | None,
    encoded_cp: Callable[[int], tuple] | None,
    NEVER: tuple | None,
    EMPTY: tuple | None,
    max_len: int,
) -> tuple[tuple, tuple, tuple, list[int]] | None: ...
