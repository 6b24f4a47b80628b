"""One compile deadline, end to end: the front end (regex, Lark, JSON Schema, structural
tags), serialisation and the engine's compile all check the same :class:`Deadline`, which
another thread may also cancel (a serving integration whose request gave up waiting).

    with compile_deadline(5.0):                 # seconds, wall clock
        g = Grammar.from_json_schema(text)
        cg = compile_grammar(g, vocab)          # the engine's compile stops too

Past the deadline the stage that notices raises :class:`~decoder.errors.LimitError`
(``limit="deadline"``); after :meth:`Deadline.cancel` it raises :class:`CompileCancelled`.
The checks are cheap and frequent (every few thousand schema nodes, regex characters,
Lark rules, engine work units), so a compile stops within milliseconds of either.
Nested ``compile_deadline`` blocks keep the earlier of the two deadlines.
"""

from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from .errors import LimitError

if TYPE_CHECKING:
    from ._engine import CancelFlag


class CompileCancelled(LimitError):
    """The compile was cancelled (its deadline passed in the thread waiting for it)."""


class Deadline:
    """A wall-clock deadline (``seconds`` from now; None: none) that can be cancelled."""

    __slots__ = ("seconds", "at", "_cancelled", "_engine_flags", "_lock")

    def __init__(self, seconds: float | None = None) -> None:
        self.seconds = seconds
        self.at = None if seconds is None else time.monotonic() + float(seconds)
        self._cancelled = False
        self._engine_flags: list[CancelFlag] = []  # the engine's cancel flags of compiles under way
        self._lock = threading.Lock()

    @property
    def cancelled(self) -> bool:
        return self._cancelled

    def cancel(self) -> None:
        """Stop the compile(s) under this deadline at their next check, from any thread."""
        with self._lock:
            self._cancelled = True
            flags = list(self._engine_flags)
        for f in flags:
            f.cancel()

    def remaining(self) -> float | None:
        return None if self.at is None else self.at - time.monotonic()

    def check(self, where: str = "") -> None:
        if self._cancelled:
            raise CompileCancelled(
                f"the compile was cancelled{' (at ' + where + ')' if where else ''}: "
                f"its deadline passed",
                limit="deadline",
            )
        if self.at is not None and time.monotonic() > self.at:
            raise LimitError(
                f"compiling took more than the {self.seconds:g} s deadline"
                f"{' (at ' + where + ')' if where else ''} (limit deadline)",
                limit="deadline",
            )

    # the engine's compile registers its flag while it runs (decoder.compile)
    def _attach(self, flag: CancelFlag) -> None:
        with self._lock:
            self._engine_flags.append(flag)
            cancelled = self._cancelled
        if cancelled:
            flag.cancel()

    def _detach(self, flag: CancelFlag) -> None:
        with self._lock:
            if flag in self._engine_flags:
                self._engine_flags.remove(flag)


_current: contextvars.ContextVar[Deadline | None] = contextvars.ContextVar(
    "decoder_compile_deadline", default=None
)


def current() -> Deadline | None:
    """The deadline of the compile running in this context, if any."""
    return _current.get()


def check(where: str = "") -> None:
    """Raise if this context's compile deadline has passed or was cancelled (no-op without one)."""
    d = _current.get()
    if d is not None:
        d.check(where)


@contextmanager
def compile_deadline(
    seconds: float | None = None, *, deadline: Deadline | None = None
) -> Iterator[Deadline]:
    """Run the block under a compile deadline (``seconds``, or an existing ``deadline``)."""
    d = deadline if deadline is not None else Deadline(seconds)
    outer = _current.get()
    if (
        outer is not None
        and outer.at is not None
        and (d.at is None or outer.at < d.at)
        and deadline is None
    ):
        d = outer  # the earlier deadline wins
    token = _current.set(d)
    try:
        yield d
    finally:
        _current.reset(token)


__all__ = ["Deadline", "CompileCancelled", "compile_deadline", "current", "check"]
