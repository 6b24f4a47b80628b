"""A raised recursion limit for the duration of a front end's work, then the caller's again.

Front ends recurse over deep inputs (bounded by their own depth limits). Raising the limit
for good would change the process for everyone: a library's runaway recursion (a validator
on a ``$ref`` cycle, say) would then overflow the C stack and crash instead of raising
RecursionError. :func:`recursion_headroom` is the other direction: a third-party call made
from deep inside a front end gets a bounded number of frames, not the raised limit. Both
change the process-wide limit for their block (Python has no per-thread one).
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

_lock = threading.Lock()
_depth = 0
_saved = 0


class recursion_limit:  # noqa: N801 - used as a function: ``with recursion_limit(n):``
    """At least ``limit`` inside the block; the outermost block restores the old limit.
    (A class rather than a ``@contextmanager`` generator: every compile enters it.)"""

    __slots__ = ("limit",)

    def __init__(self, limit: int) -> None:
        self.limit = limit

    def __enter__(self) -> None:
        global _depth, _saved
        with _lock:
            if _depth == 0:
                _saved = sys.getrecursionlimit()
            _depth += 1
            if sys.getrecursionlimit() < self.limit:
                sys.setrecursionlimit(self.limit)

    def __exit__(self, *exc: object) -> None:
        global _depth
        with _lock:
            _depth -= 1
            if _depth == 0:
                sys.setrecursionlimit(_saved)


@contextmanager
def recursion_headroom(frames: int) -> Iterator[None]:
    """The recursion limit at the current depth plus ``frames`` for the block (a
    third-party validator called from deep inside the compiler must fail with
    RecursionError, not overflow the C stack under the front end's raised limit)."""
    depth = 0
    f: FrameType | None = sys._getframe()
    while f is not None:
        depth += 1
        f = f.f_back
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(min(old, depth + frames))
    try:
        yield
    finally:
        sys.setrecursionlimit(old)
