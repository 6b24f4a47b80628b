"""Shared by the atheris targets in fuzz/: a small byte-level vocabulary (the hostile
corpus's, with tokens that are not valid UTF-8), the allowed escapes, and a few mask and
commit steps driven by the rest of the input.

What may escape a target: a ``decoder.errors.DecoderError`` (a clean refusal). Anything
else (RecursionError, UnicodeError, OverflowError, MemoryError, AssertionError, a crash in
C++) is a finding: libFuzzer stops, writes the input under fuzz/crashes/ and that input
becomes a case in tests/hostile/cases.py.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))
sys.setrecursionlimit(max(sys.getrecursionlimit(), 20000))  # what the front ends set themselves


from hostile.cases import TOKENS, check_mask, vocab  # noqa: E402

from decoder import Matcher  # noqa: E402
from decoder.errors import DecoderError  # noqa: E402

STEPS = int(os.environ.get("DECODER_FUZZ_STEPS", "8"))


def exercise(grammar, fdp) -> None:
    """Compile ``grammar`` for the hostile vocabulary and take up to STEPS steps with
    token ids (or raw bytes) from the fuzzer's data, checking the mask (brute force,
    UTF-8 validity, EOS) before each."""
    m = Matcher(grammar, vocab())
    pieces: list[bytes] = []  # what each committed step added (rollback pops)
    for _ in range(STEPS):
        allowed = check_mask(m, "fuzz", b"".join(pieces))
        if not fdp.remaining_bytes():
            break
        if fdp.ConsumeBool():
            t = fdp.ConsumeIntInRange(0, len(TOKENS) - 1)
            ok = m.commit(t)
            assert ok == (t in allowed), f"commit({t}) = {ok}, mask says {t in allowed}"
            if ok:
                pieces.append(TOKENS[t])
        else:
            data = fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 4))
            steps = m.num_steps
            if m.commit_bytes(data):  # one step, even for b""
                pieces.append(data)
            else:
                assert m.num_steps == steps, "a refused commit_bytes changed the state"
        assert m.num_steps == len(pieces)
        if pieces and fdp.ConsumeIntInRange(0, 7) == 0:
            f = m.fork()
            prefix = b"".join(pieces)
            before = check_mask(f, "fork", prefix)
            m.rollback(1)
            pieces.pop()
            assert check_mask(f, "fork after the original's rollback", prefix) == before


def split(data: bytes):
    """The whole input is the source text (so the hostile corpus seeds it as it is; bytes
    that are not UTF-8 become U+FFFD); the steps of ``exercise`` read it backwards."""
    import atheris

    return data.decode("utf-8", "replace"), atheris.FuzzedDataProvider(data[::-1])


def run(test_one_input) -> None:
    import atheris

    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


def clean(fn):
    """A target body: a DecoderError is a clean refusal; anything else propagates."""

    def wrapper(data: bytes) -> None:
        try:
            fn(data)
        except DecoderError:
            pass

    return wrapper
