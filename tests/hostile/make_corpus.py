"""Write the hostile corpus (tests/hostile/cases.py) out as files, one per case:
``<id>.json`` (schemas), ``<id>.lark``, ``<id>.regex`` (the pattern, UTF-8 with surrogates
escaped as ``surrogatepass``), plus ``index.json`` with each case's expectation.

The large cases (multi-MB schemas, 100k enums) are generated, never committed; this script
is how to get them as files, e.g. as seeds for the fuzzers or to feed other engines:

    python tests/hostile/make_corpus.py /tmp/hostile-corpus [--max-bytes N]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hostile.cases import CASES  # noqa: E402

EXT = {"schema": ".json", "schema_text": ".json", "lark": ".lark", "regex": ".regex"}


def source_bytes(kind: str, src) -> bytes | None:
    """The case's source as the bytes of a file (None for sources that are not text)."""
    if isinstance(src, (bytes, bytearray)):
        return bytes(src)
    if kind == "schema":
        try:
            return json.dumps(src).encode("utf-8", "surrogatepass")
        except (RecursionError, ValueError):  # a 100k-deep dict: json itself gives up
            return None
    if isinstance(src, str):
        return src.encode("utf-8", "surrogatepass")
    return None


def write_corpus(out: Path, max_bytes: int = 0) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    index = {}
    for c in CASES.values():
        if c.kind not in EXT or not c.as_file:
            continue
        data = source_bytes(c.kind, c.make())
        if data is None or (max_bytes and len(data) > max_bytes):
            continue
        name = c.id + EXT[c.kind]
        (out / name).write_bytes(data)
        index[name] = {
            "kind": c.kind,
            "errors": list(c.errors),
            "ok": c.ok,
            "options": c.options,
            "known_failure": c.xfail,
        }
    (out / "index.json").write_text(json.dumps(index, indent=1))
    return index


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out", type=Path)
    ap.add_argument(
        "--max-bytes", type=int, default=0, help="skip cases larger than this (0: none)"
    )
    a = ap.parse_args(argv)
    index = write_corpus(a.out, a.max_bytes)
    print(f"wrote {len(index)} files to {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
