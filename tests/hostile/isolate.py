"""Run a function in a child process with a wall-clock timeout and an address-space cap, so
a hang, a memory blow-up or a segfault becomes a test failure instead of killing the test run.

Children are forked from a multiprocessing *forkserver* that has already imported
``decoder`` and numpy, so each call costs a fork (milliseconds), not an interpreter start;
the server is a clean process, so no thread of the test process is forked with it.

``run(target, *args)`` calls ``target(*args)`` (a module-level function, passed by
reference) in the child and returns an :class:`Outcome`: the child's return value, or the
exception it raised (type name, message, the names of its classes, attributes such as
``path``/``keyword``), or ``timeout`` (wall clock), ``cpu_timeout`` (``cpu_limit`` seconds of CPU, RLIMIT_CPU: what a
loaded machine cannot inflate) or ``signal`` (a crash) when the child did not finish.

Under the sanitizers (``DECODER_SANITIZED=1``, set by scripts/test_sanitizers.sh) there is
no address-space cap (ASan reserves terabytes of shadow memory; its ``hard_rss_limit_mb``
caps the resident size instead) and time limits are scaled by ``TIME_SCALE``.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import time
import traceback
from dataclasses import dataclass, field
from typing import Any

SANITIZED = bool(os.environ.get("DECODER_SANITIZED"))
TIME_SCALE = 4.0 if SANITIZED else 1.0
DEFAULT_TIMEOUT_S = 20.0
DEFAULT_MEM_BYTES = 3 << 30  # address space, not resident memory: numpy and threads reserve

_ctx = None


PRELOAD = ["numpy", "decoder", "hostile.warm"]


def _context():
    global _ctx
    if _ctx is None:
        _ctx = mp.get_context("forkserver")
        _ctx.set_forkserver_preload(PRELOAD)
        _start_forkserver()
    return _ctx


def _start_forkserver() -> None:
    """Start the fork server with this folder's parent (tests/) on its path. Python 3.11's
    forkserver is handed the parent's sys.path and drops it, and a preload that fails to
    import is skipped silently: ``hostile.warm`` never ran, and every child redid its
    warm-up (Lark's grammar-of-grammars, the trie, jsonschema's 2-3 s import), inside the
    cases' CPU budgets. ``test_hostile.py`` checks that the preload took."""
    from multiprocessing import forkserver

    tests = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join([tests] + ([old] if old else []))
    try:
        forkserver.ensure_running()
    finally:
        if old is None:
            del os.environ["PYTHONPATH"]
        else:
            os.environ["PYTHONPATH"] = old


def preloaded() -> list[str]:
    """In a child: which of the fork server's preloads are imported (all of them, once the
    server started as it should)."""
    import sys

    return [m for m in PRELOAD if m in sys.modules]


@dataclass
class Outcome:
    status: str  # "ok", "error", "timeout", "cpu_timeout", "signal", "lost"
    value: Any = None  # the target's return value ("ok")
    error: str = ""  # exception class name ("error")
    message: str = ""
    classes: list = field(default_factory=list)  # names of the exception's MRO
    attrs: dict = field(default_factory=dict)  # path / keyword / line / column ...
    traceback: str = ""
    seconds: float = 0.0  # wall-clock, in the child
    cpu_seconds: float = 0.0  # CPU (user + system, all threads), in the child
    exitcode: int | None = None

    def is_error(self, *names: str) -> bool:
        return self.status == "error" and any(n in self.classes for n in names)

    def __str__(self) -> str:
        if self.status == "ok":
            return f"ok in {self.seconds:.2f} s ({self.cpu_seconds:.2f} s CPU): {self.value!r}"[
                :2000
            ]
        if self.status == "error":
            return (
                f"{self.error}: {self.message[:1500]} ({self.seconds:.2f} s, {self.cpu_seconds:.2f} s CPU)"
                f"\n{self.traceback[-3000:]}"
            )
        return f"{self.status} (exit code {self.exitcode}) after {self.seconds:.1f} s"


def _child(conn, mem_bytes, cpu_limit, target, args):
    import resource

    if mem_bytes and not SANITIZED:
        resource.setrlimit(resource.RLIMIT_AS, (mem_bytes, mem_bytes))
    if cpu_limit:  # SIGXCPU at the soft limit ends the process, wherever it is
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_limit, cpu_limit + 2))
    t0 = time.perf_counter()
    c0 = time.process_time()
    try:
        value = target(*args)
        t1, c1 = time.perf_counter(), time.process_time()
        res = dict(status="ok", value=value)
    except BaseException as e:  # everything, on purpose: the parent judges it
        # the target's time ends here: formatting a deep traceback (a RecursionError's
        # thousands of frames) is the harness's cost, and took seconds under load
        t1, c1 = time.perf_counter(), time.process_time()
        attrs = {
            k: getattr(e, k)
            for k in ("path", "keyword", "line", "column", "limit")
            if isinstance(getattr(e, k, None), (str, int))
        }
        res = dict(
            status="error",
            error=type(e).__name__,
            message=str(e),
            classes=[c.__name__ for c in type(e).__mro__],
            attrs=attrs,
            traceback=traceback.format_exc(),
        )
    res["seconds"] = t1 - t0
    res["cpu_seconds"] = c1 - c0
    try:
        conn.send(res)
    except Exception as e:  # an unpicklable return value
        conn.send(
            dict(
                status="error",
                error="PicklingError",
                message=repr(e),
                classes=["PicklingError"],
                seconds=res["seconds"],
            )
        )
    conn.close()


def run(
    target,
    *args,
    timeout: float = DEFAULT_TIMEOUT_S,
    cpu_limit: float = 0,
    mem_bytes: int = DEFAULT_MEM_BYTES,
) -> Outcome:
    """``target(*args)`` in a forked child, killed after ``timeout`` seconds of wall time or
    ``cpu_limit`` seconds of CPU time (both scaled under the sanitizers) and limited to
    ``mem_bytes`` of address space."""
    import math
    import signal

    ctx = _context()
    timeout *= TIME_SCALE
    cpu = math.ceil(cpu_limit * TIME_SCALE) if cpu_limit else 0
    parent, child = ctx.Pipe(duplex=False)
    p = ctx.Process(target=_child, args=(child, mem_bytes, cpu, target, args), daemon=True)
    t0 = time.perf_counter()
    p.start()
    child.close()
    res = None
    try:
        if parent.poll(timeout):
            res = parent.recv()
    except EOFError:  # the child died before sending
        pass
    finally:
        p.join(0.5 if res is None else 2.0)
        if p.is_alive():
            p.kill()
        p.join(5)
        parent.close()
    elapsed = time.perf_counter() - t0
    if res is None:
        if cpu and p.exitcode in (-signal.SIGXCPU, -signal.SIGKILL) and elapsed < timeout:
            return Outcome("cpu_timeout", seconds=elapsed, exitcode=p.exitcode)
        if p.exitcode is not None and p.exitcode < 0:
            return Outcome("signal", seconds=elapsed, exitcode=p.exitcode)
        if elapsed >= timeout:
            return Outcome("timeout", seconds=elapsed, exitcode=p.exitcode)
        return Outcome("lost", seconds=elapsed, exitcode=p.exitcode)
    return Outcome(exitcode=p.exitcode, **res)
