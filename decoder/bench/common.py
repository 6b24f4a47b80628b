"""What every benchmark shares: the isolated worker process, the test data folder, instance
serialization, and number formatting.

An engine under test may hang or crash on a stranger's schema; each benchmark therefore
runs its engines in a spawned :class:`IsolatedProcess` and enforces its time limits from
outside (a timeout kills and later restarts the process, never the run). The worker
protocol is small: the target's first message is ``("ready", info)`` or
``(anything else, reason)``; after that, requests and replies are whatever the benchmark
defines, and ``None`` asks the worker to exit.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DecoderError

__all__ = [
    "BenchError",
    "IsolatedProcess",
    "find_shared",
    "fmt",
    "limit_memory",
    "quantiles",
    "ratio",
    "serialize",
    "shared_default",
    "short_error",
    "version_of",
]


class BenchError(DecoderError):
    """The benchmark cannot run as asked (missing data, incompatible results file...)."""


def version_of(dist: str) -> str:
    """The installed version of a distribution, ``"?"`` when unknown."""
    try:
        from importlib.metadata import version

        return version(dist)
    except Exception:  # noqa: BLE001 - any metadata problem just means "unknown"
        return "?"


def short_error(e: BaseException, n: int = 300) -> str:
    s = f"{type(e).__name__}: {e}"
    return s if len(s) <= n else s[:n] + "..."


# ------------------------------------------------------------------ test data


def _candidates(rel: str) -> list[Path]:
    here = Path(__file__).resolve()
    out = []
    if os.environ.get("DECODER_SHARED"):
        out.append(Path(os.environ["DECODER_SHARED"]) / rel)
    out += [
        here.parents[2].parent / "shared" / rel,
        Path.cwd().parent / "shared" / rel,
        Path.cwd() / "shared" / rel,
    ]
    return out


def find_shared(rel: str, what: str) -> Path:
    """``../shared/<rel>`` next to the repository (or ``$DECODER_SHARED/<rel>``)."""
    for c in _candidates(rel):
        if c.exists():
            return c
    raise BenchError(
        f"{what} not found: looked for {', '.join(str(c) for c in _candidates(rel))}; "
        f"pass its path or set DECODER_SHARED to the folder that holds {rel}"
    )


def shared_default(rel: str) -> str:
    """``../shared/<rel>`` where it is found (see :func:`find_shared`), else that relative path:
    a script's default for a data argument, so its --help shows where it looks."""
    try:
        return str(find_shared(rel, rel))
    except BenchError:
        return str(Path("..") / "shared" / rel)


def serialize(data: Any, style: str = "maskbench") -> str:
    """JSON text of a test instance. ``maskbench`` (the default): ``json.dumps`` separators
    (``", "`` and ``": "``), what MaskBench feeds and what models write; ``compact``:
    ``(",", ":")``. Keys keep the instance's order; ``ensure_ascii=False`` (raw UTF-8), except
    for a string that is not valid Unicode (a lone surrogate), which only ``ensure_ascii=True``
    can write."""
    seps = (",", ":") if style == "compact" else (", ", ": ")
    s = json.dumps(data, ensure_ascii=False, separators=seps)
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        s = json.dumps(data, ensure_ascii=True, separators=seps)
    return s


# ------------------------------------------------------------------ the worker process


def limit_memory(gb: float) -> None:
    """Caps this process's address space (Linux; a no-op elsewhere or when ``gb`` is 0)."""
    if not gb or not sys.platform.startswith("linux"):
        return
    try:
        import resource

        lim = int(gb * (1 << 30))
        resource.setrlimit(resource.RLIMIT_AS, (lim, lim))
    except (ValueError, OSError):
        pass


class IsolatedProcess:
    """``target(conn, *args)`` in a spawned process, behind a pipe with timeouts.

    ``launch()`` starts it; ``wait_ready()`` returns ``(True, info)`` once the target sent
    ``("ready", info)``, else ``(False, reason)`` (and the process is gone). ``recv(timeout)``
    returns the next message, ``None`` on timeout, or ``("crash", reason)`` when the process
    died. A killed or dead process is started again by the benchmark with ``launch()``."""

    def __init__(
        self, target: Callable[..., None], args: tuple[Any, ...], start_timeout: float
    ) -> None:
        self.target, self.args, self.start_timeout = target, args, start_timeout
        self.proc: Any = None
        self.conn: Any = None

    def launch(self) -> None:
        ctx = mp.get_context("spawn")
        parent, child = ctx.Pipe()
        self.proc = ctx.Process(target=self.target, args=(child, *self.args), daemon=True)
        self.proc.start()
        child.close()
        self.conn = parent

    def wait_ready(self) -> tuple[bool, Any]:
        if not self.conn.poll(self.start_timeout):
            self.kill()
            return False, f"the worker did not start in {self.start_timeout:g} s"
        try:
            kind, payload = self.conn.recv()
        except (EOFError, OSError):
            self.kill()
            return False, "the worker died while starting"
        if kind != "ready":
            self.kill()
            return False, payload
        return True, payload

    def alive(self) -> bool:
        return self.proc is not None and self.proc.is_alive()

    @property
    def exitcode(self) -> int | None:
        return self.proc.exitcode if self.proc is not None else None

    def send(self, msg: Any) -> None:
        self.conn.send(msg)

    def recv(self, timeout: float) -> Any:
        if not self.conn.poll(timeout):
            return None
        try:
            return self.conn.recv()
        except (EOFError, OSError):
            return ("crash", f"the worker died (exit {self.exitcode})")

    def kill(self) -> None:
        if self.proc is not None:
            if self.proc.is_alive():
                self.proc.kill()
            self.proc.join(10)
        self.proc = self.conn = None

    def close(self) -> None:
        """Asks the worker to exit (``None``), then makes sure it has."""
        if self.conn is not None:
            try:
                self.conn.send(None)
                self.proc.join(10)
            except Exception:  # noqa: BLE001 - it may already be gone
                pass
        self.kill()


# ------------------------------------------------------------------ numbers


def quantiles(a: Any, qs: tuple[float, ...] = (50, 99)) -> list[float | None]:
    arr = np.asarray(a, dtype=np.float64)
    if arr.size == 0:
        return [None for _ in qs]
    return [float(np.percentile(arr, q)) for q in qs]


def teacher_forced_mask_times(m: Any, ids: list[int], words: int) -> list[float]:
    """Wall µs of each compute_mask while ``m`` (reset first) is teacher-forced through
    ``ids``; asserts every token is allowed by the mask before it and committed."""
    import time

    buf = np.zeros(words, dtype=np.int32)
    m.reset()
    ts = []
    for t in ids:
        t0 = time.perf_counter()
        m.compute_mask(buf)
        ts.append((time.perf_counter() - t0) * 1e6)
        assert (int(buf[t >> 5]) >> (t & 31)) & 1, "the instance's token is masked"
        assert m.commit(t)
    return ts


def fmt(x: Any, digits: int = 1) -> str:
    if x is None:
        return "–"
    if isinstance(x, float):
        if x >= 1000:
            return f"{x:,.0f}"
        if x >= 100:
            return f"{x:.0f}"
        return f"{x:.{digits}f}"
    return str(x)


def ratio(x: float | None, base: float | None) -> str:
    if x is None or base is None or base == 0:
        return "–"
    return f"{x / base:.2f}x"


def markdown_table(cols: list[str], rows: list[list[Any]], left: tuple[int, ...] = (0,)) -> str:
    """A Markdown table: the columns numbered in ``left`` left-aligned (text), the others
    right-aligned (numbers); cells are str()-ed, and a short row leaves its last cells empty."""
    align = ["---" if i in left else "---:" for i in range(len(cols))]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join(align) + "|"]
    for row in rows:
        cells = [str(x) for x in row] + [""] * (len(cols) - len(row))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
