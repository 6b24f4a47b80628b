"""decoder.integrations.memory: the serving integrations' malloc-arena limit takes effect
(counted in glibc's own malloc_info report), and an operator's setting or 0 leaves the
allocator alone. Each case runs in a fresh interpreter: the limit is process-wide."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(
    platform.libc_ver()[0] != "glibc" or not sys.platform.startswith("linux"),
    reason="malloc arenas are glibc's",
)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Starts 8 threads that each allocate from malloc (bytearrays above pymalloc's 512 bytes), all
# alive at once, then prints what limit_malloc_arenas returned and how many heaps
# (arenas) glibc's malloc_info lists.
CHILD = r"""
import ctypes, os, sys, tempfile, threading
from decoder.integrations.memory import limit_malloc_arenas
got = limit_malloc_arenas(None if len(sys.argv) < 2 else int(sys.argv[1]))
barrier = threading.Barrier(9)
def work():
    keep = [bytearray(4096) for _ in range(64)]
    barrier.wait()
    barrier.wait()
threads = [threading.Thread(target=work) for _ in range(8)]
for t in threads:
    t.start()
barrier.wait()
libc = ctypes.CDLL(None)
libc.fopen.restype = ctypes.c_void_p
fd, path = tempfile.mkstemp()
os.close(fd)
fp = libc.fopen(path.encode(), b"w")
libc.malloc_info(0, ctypes.c_void_p(fp))
libc.fclose(ctypes.c_void_p(fp))
barrier.wait()
for t in threads:
    t.join()
heaps = open(path).read().count("<heap nr=")
os.unlink(path)
print(got, heaps)
"""


def run_child(env_extra: dict[str, str], *args: str) -> tuple[str, int]:
    env = {k: v for k, v in os.environ.items() if k not in ("MALLOC_ARENA_MAX", "GLIBC_TUNABLES")}
    env.pop("DECODER_MALLOC_ARENAS", None)
    env.update(env_extra, PYTHONPATH=ROOT)
    out = subprocess.run(
        [sys.executable, "-c", CHILD, *args], env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    got, heaps = out.stdout.split()
    return got, int(heaps)


def test_default_limit_is_two_arenas():
    assert run_child({}) == ("2", 2)


def test_glibc_default_makes_an_arena_per_thread():
    # what the limit prevents: without it, the 8 threads get arenas of their own
    got, heaps = run_child({"DECODER_MALLOC_ARENAS": "0"})
    assert got == "None" and heaps > 2


def test_explicit_limit():
    assert run_child({}, "3") == ("3", 3)


def test_operator_setting_wins():
    got, heaps = run_child({"MALLOC_ARENA_MAX": "4"})
    assert got == "None" and heaps == 4


def test_bad_env_is_a_clear_error():
    env = {k: v for k, v in os.environ.items()}
    env.update(DECODER_MALLOC_ARENAS="two", PYTHONPATH=ROOT)
    out = subprocess.run(
        [sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode != 0 and "DECODER_MALLOC_ARENAS is a number" in out.stderr
