"""A serving process's malloc arenas: fewer of them, so a server's RSS stays flat.

glibc gives threads their own malloc arenas (up to 8 per core) and keeps each arena's freed
chunks for that arena; `malloc_trim` returns only whole free pages. A server compiles each
new constraint on a thread of its own and fills masks on others, so the compiled grammars
and mask-cache entries it frees are spread over many arenas whose partly used pages stay
resident: RSS drifts up while the bytes in use stay flat (docs/limits.md, "The RSS growth,
diagnosed"). With two arenas the freed chunks are reused and RSS stays flat.

The serving integrations (vLLM, SGLang, through :class:`SpecCompiler`) call
:func:`limit_malloc_arenas` once per process. It changes the whole process's allocator, so:

* ``DECODER_MALLOC_ARENAS=N`` sets the limit (default 2); ``0`` leaves glibc's default;
* an operator's own setting wins: with ``MALLOC_ARENA_MAX`` or ``glibc.malloc.arena_max``
  in ``GLIBC_TUNABLES`` in the environment nothing is changed;
* elsewhere than glibc (musl, macOS) it does nothing.

Plain library use (``Decoder``, the HF logits processor) never calls it.
"""

from __future__ import annotations

import ctypes
import logging
import os
import platform
import threading

logger = logging.getLogger("decoder.integrations")

#: glibc's mallopt parameter for the arena limit (malloc.h: M_ARENA_MAX)
_M_ARENA_MAX = -8
DEFAULT_ARENAS = 2

_lock = threading.Lock()
_applied: int | None = None


def operator_setting() -> bool:
    """Whether the environment already sets glibc's arena limit."""
    if os.environ.get("MALLOC_ARENA_MAX"):
        return True
    return "glibc.malloc.arena_max" in os.environ.get("GLIBC_TUNABLES", "")


def arenas_from_env() -> int:
    """``DECODER_MALLOC_ARENAS`` (default 2; 0: leave glibc's default)."""
    raw = os.environ.get("DECODER_MALLOC_ARENAS", "").strip()
    if not raw:
        return DEFAULT_ARENAS
    try:
        n = int(raw)
    except ValueError:
        raise ValueError(
            f"DECODER_MALLOC_ARENAS is a number of malloc arenas (0: glibc's default), not {raw!r}"
        ) from None
    if n < 0:
        raise ValueError(f"DECODER_MALLOC_ARENAS is 0 or more, not {n}")
    return n


def limit_malloc_arenas(n: int | None = None) -> int | None:
    """Limit glibc's malloc arenas to ``n`` (default: :func:`arenas_from_env`) for the rest of
    the process; returns the limit set, or None where nothing was changed (``n`` 0, an
    operator's own setting, not glibc, or mallopt refused). Idempotent: a second call with
    the same limit does nothing."""
    global _applied
    n = arenas_from_env() if n is None else int(n)
    if n <= 0 or operator_setting() or platform.libc_ver()[0] != "glibc":
        return None
    with _lock:
        if _applied == n:
            return n
        try:
            ok = ctypes.CDLL(None).mallopt(_M_ARENA_MAX, n)
        except (OSError, AttributeError):
            return None
        if not ok:
            return None
        _applied = n
    logger.info(
        "decoder: malloc arenas limited to %d so that the server's RSS stays flat "
        "(DECODER_MALLOC_ARENAS=0 leaves glibc's default)",
        n,
    )
    return n


__all__ = ["limit_malloc_arenas", "arenas_from_env", "operator_setting", "DEFAULT_ARENAS"]
