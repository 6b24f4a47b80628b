"""Reads the ASan/UBSan/LSan logs of scripts/test_sanitizers.sh and fails (exit 1) on any
memory error or undefined behaviour, and on any leak allocated by the engine itself.

CPython does not free everything at exit (interned strings, static types, module state),
so LeakSanitizer always reports leaks in a Python process; a leak counts only when a frame
of its allocation stack is in the engine (csrc/, namespace decoder::, or the Cython
binding's methods; module initialisation excluded)."""

from __future__ import annotations

import re
import sys

ENGINE = re.compile(r"/csrc/|decoder::|_engine\.(cpp|pyx)")
INIT = re.compile(
    r"PyInit__engine|__pyx_pymod_exec|__Pyx_InitGlobals|__Pyx_CreateStringTabAndInitStrings"
)


def main(paths: list[str]) -> int:
    bad = 0
    leaks = ours = 0
    for p in paths:
        text = open(p, errors="replace").read()
        for block in re.split(r"\n(?=(?:Direct|Indirect) leak of )", text):
            if re.match(r"(?:Direct|Indirect) leak of ", block):
                leaks += 1
                frames = [ln for ln in block.splitlines() if re.match(r"\s+#\d+ ", ln)]
                if any(ENGINE.search(f) for f in frames) and not any(
                    INIT.search(f) for f in frames
                ):
                    ours += 1
                    print(f"{p}: engine leak:\n{block[:3000]}\n")
        for m in re.finditer(r"(ERROR: AddressSanitizer[^\n]*|runtime error:[^\n]*)", text):
            if "LeakSanitizer" in m.group(1):
                continue
            bad += 1
            print(f"{p}: {m.group(1)}\n{text[m.start():m.start() + 3000]}\n")
    print(
        f"sanitizer logs: {len(paths)} files, {bad} errors, {leaks} leak reports ({ours} from the engine)"
    )
    return 1 if bad or ours else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
