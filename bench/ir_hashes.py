"""The JSON Schema front end over all of ../shared/jsonschemabench: per schema, the CPU time of
``Grammar.from_json_schema`` (flexible whitespace) and a hash of its wire IR (or the refusal's
error class and message). Two trees' outputs compared show whether a change kept every grammar
identical, and what it did to front-end time (run them back to back: CPU time, one process).

    PYTHONPATH=/path/to/main python bench/ir_hashes.py --out main.json
    PYTHONPATH=. python bench/ir_hashes.py --out branch.json
    python bench/ir_hashes.py --compare main.json branch.json

``--ids FILE`` (a JSON list of record ids) compiles only those; ``--profile OUT`` writes cProfile
stats of the compiles (through ``Grammar.from_json_schema``, so the collector runs as it does
in use: called directly, ``compile_json_schema`` runs without the front end's GC setting).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import pathlib
import time

DATA = pathlib.Path(__file__).resolve().parents[2] / "shared" / "jsonschemabench"


def _pct(xs: list[float], q: float) -> float:
    return xs[min(len(xs) - 1, int(round(q / 100 * (len(xs) - 1))))]


def summary(times: list[float]) -> str:
    xs = sorted(times)
    if not xs:
        return "n=0"
    return (
        f"n={len(xs)} p50 {_pct(xs, 50):.2f} p90 {_pct(xs, 90):.2f} p99 {_pct(xs, 99):.1f} "
        f"max {xs[-1]:.0f} mean {sum(xs) / len(xs):.2f} ms CPU"
    )


def run(data: pathlib.Path, ids: set | None, profile: str | None) -> dict:
    import decoder
    from decoder.grammar.serialize import serialize

    prof = None
    if profile:
        import cProfile

        prof = cProfile.Profile()
    decoder.Grammar.from_json_schema({"type": "string"}, whitespace="flexible")
    out = {}
    for f in sorted(data.glob("*.jsonl")):
        for line in f.open():
            if not line.strip():
                continue
            rec = json.loads(line)
            if ids is not None and rec["id"] not in ids:
                continue
            if prof:
                prof.enable()
            t = time.process_time()
            try:
                ir = decoder.Grammar.from_json_schema(rec["schema"], whitespace="flexible").ir
                dt = time.process_time() - t
                h = hashlib.sha256(bytes(serialize(ir))).hexdigest()[:16]
            except Exception as e:  # noqa: BLE001 - a refusal is a result too
                dt = time.process_time() - t
                h = f"ERR {type(e).__name__}: {str(e)[:200]}"
            if prof:
                prof.disable()
            out[rec["id"]] = {"ms": dt * 1e3, "hash": h}
    if prof:
        prof.dump_stats(profile)
    return out


def compare(a_path: str, b_path: str) -> None:
    a, b = json.load(open(a_path)), json.load(open(b_path))
    common = [k for k in a if k in b]
    same = [k for k in common if a[k]["hash"] == b[k]["hash"]]
    print(f"identical: {len(same)} of {len(common)}")
    for k in common:
        if a[k]["hash"] != b[k]["hash"]:
            print(f"  {k}: {a[k]['hash'][:60]} | {b[k]['hash'][:60]}")
    ok = [k for k in common if not a[k]["hash"].startswith("ERR")]
    for name, d in ((a_path, a), (b_path, b)):
        print(f"{name}: compiled by the first {summary([d[k]['ms'] for k in ok])}")
        print(f"{name}: all {summary([d[k]['ms'] for k in common])}")


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--data", default=str(DATA))
    ap.add_argument("--out")
    ap.add_argument("--ids", default=None)
    ap.add_argument("--profile", default=None)
    ap.add_argument("--compare", nargs=2, metavar=("A", "B"))
    args = ap.parse_args()
    if args.compare:
        compare(*args.compare)
        return
    if not args.out:
        ap.error("--out (or --compare A B)")
    ids = set(json.load(open(args.ids))) if args.ids else None
    res = run(pathlib.Path(args.data), ids, args.profile)
    json.dump(res, open(args.out, "w"))
    print(summary([v["ms"] for v in res.values()]))


if __name__ == "__main__":
    main()
