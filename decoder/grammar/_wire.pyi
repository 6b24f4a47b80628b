"""Type stubs for decoder/grammar/_wire.pyx (the IR -> wire-format words, csrc/ir_format.h)."""

from array import array
from collections.abc import Sequence
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
