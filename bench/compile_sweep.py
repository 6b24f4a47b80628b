"""Compile-only sweep over ../shared/jsonschemabench: which schemas compile, and why the others
are refused (SchemaError keyword and the start of its message), per subset.

    PYTHONPATH=. python bench/compile_sweep.py --out results/sweep.json
    PYTHONPATH=. python bench/compile_sweep.py --out new.json --check-instances --only-new old.json

``--check-instances`` teacher-forces each record's instances (its own valid/invalid labels)
through the engine on a byte vocabulary for the schemas that compile; ``--only-new OLD`` limits
that to the schemas that OLD (an earlier sweep's output) refused. Each schema compiles in a
child process with a time limit (``--timeout``), so one slow schema costs only itself.
"""

from __future__ import annotations

import argparse
import collections
import json
import multiprocessing as mp
import pathlib
import re
import sys
import time

DATA = pathlib.Path(__file__).resolve().parents[2] / "shared" / "jsonschemabench"


def _cause(e) -> str:
    kw = getattr(e, "keyword", None) or type(e).__name__
    msg = str(e)
    msg = re.sub(r" at \S+", "", msg)
    msg = re.sub(r"'[^']*'", "'…'", msg)
    return f"{kw}: {msg[:90]}"


def _one(args):
    rec, check = args
    from decoder import Grammar, Matcher, Vocabulary
    from decoder.grammar.json_schema import compile_json_schema

    t = time.perf_counter()
    try:
        compile_json_schema(rec["schema"])
    except Exception as e:  # noqa: BLE001 - a sweep records every refusal
        return rec["id"], False, _cause(e), time.perf_counter() - t, None
    dt = time.perf_counter() - t
    verdicts = None
    if check:
        vocab = Vocabulary.from_bytes([bytes([i]) for i in range(256)] + [b""], eos_ids=[256])
        try:
            m = Matcher(Grammar.from_json_schema(rec["schema"]), vocab)
        except Exception as e:  # noqa: BLE001
            return rec["id"], False, "engine: " + _cause(e), dt, None
        verdicts = []
        for tcase in rec.get("tests", []):
            text = json.dumps(tcase["data"])
            m.reset()
            ok = all(m.commit(b) for b in text.encode()) and m.is_accepting()
            verdicts.append((bool(tcase["valid"]), ok))
    return rec["id"], True, None, dt, verdicts


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--data", default=str(DATA))
    ap.add_argument("--timeout", type=float, default=30.0)
    ap.add_argument("--check-instances", action="store_true")
    ap.add_argument("--only-new", default=None)
    ap.add_argument("--jobs", type=int, default=1)
    a = ap.parse_args()
    recs = []
    for f in sorted(pathlib.Path(a.data).glob("*.jsonl")):
        for line in f.open():
            recs.append(json.loads(line))
    old = json.load(open(a.only_new))["status"] if a.only_new else None
    status, causes, times, wrong = {}, collections.Counter(), [], []
    per_subset = collections.defaultdict(lambda: [0, 0])
    with mp.Pool(a.jobs, maxtasksperchild=50) as pool:
        futs = []
        for rec in recs:
            check = a.check_instances and (old is None or old.get(rec["id"]) is not True)
            futs.append((rec, pool.apply_async(_one, ((rec, check),))))
        for rec, fut in futs:
            try:
                rid, ok, cause, dt, verdicts = fut.get(a.timeout)
            except mp.TimeoutError:
                rid, ok, cause, dt, verdicts = rec["id"], False, "timeout", a.timeout, None
            status[rid] = ok if ok else cause
            per_subset[rec["subset"]][0 if ok else 1] += 1
            if ok:
                times.append(dt)
            else:
                causes[cause] += 1
            for valid, got in verdicts or []:
                if valid != got:
                    wrong.append((rid, "accepted invalid" if got else "rejected valid"))
    times.sort()
    summary = {
        "schemas": len(recs),
        "compiled": sum(1 for v in status.values() if v is True),
        "p50_ms": 1000 * times[len(times) // 2] if times else None,
        "max_ms": 1000 * times[-1] if times else None,
        "causes": dict(causes.most_common()),
        "per_subset": {k: {"ok": v[0], "refused": v[1]} for k, v in sorted(per_subset.items())},
        "instance_mismatches": collections.Counter(w for _, w in wrong),
        "mismatch_ids": wrong[:200],
    }
    json.dump({"summary": summary, "status": status}, open(a.out, "w"), indent=1)
    json.dump({k: v for k, v in summary.items() if k != "mismatch_ids"}, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
