"""A raised recursion limit for the duration of a front end's work, then the caller's again.

Front ends recurse over deep inputs (bounded by their own depth limits). Raising the limit
for good would change the process for everyone: a library's runaway recursion (a validator
on a ``$ref`` cycle, say) would then overflow the C stack and crash instead of raising
RecursionError.
"""
from __future__ import annotations

import sys
import threading
from contextlib import contextmanager

_lock = threading.Lock()
_depth = 0
_saved = 0


@contextmanager
def recursion_limit(limit: int):
    """At least ``limit`` inside the block; the outermost block restores the old limit."""
    global _depth, _saved
    with _lock:
        if _depth == 0:
            _saved = sys.getrecursionlimit()
        _depth += 1
        if sys.getrecursionlimit() < limit:
            sys.setrecursionlimit(limit)
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                sys.setrecursionlimit(_saved)
