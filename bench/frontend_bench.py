"""The JSON Schema front end alone (``Grammar.from_json_schema``: schema to serialised IR), per
schema the least thread CPU time of R compiles in one process, over the sample of
bench/compile_bench.py (30 per JSONSchemaBench subset, seed 0).

Repeating each compile and keeping the least time removes most of what makes single cold
compiles on a shared machine hard to compare (preemption, collector passes landing on one
schema or another, first-in-process table builds); what is left is the Python work a compile
does, which is what a change to the front end moves. The first round is as cold as
compile_bench's; later rounds find the per-process memos (parsed patterns, encodings) warm, in
both trees alike. Run two trees alternately and compare:

    PYTHONPATH=/path/to/base python bench/frontend_bench.py --save base1.json
    PYTHONPATH=. python bench/frontend_bench.py --save branch1.json
    python bench/frontend_bench.py --compare base1.json,base2.json branch1.json,branch2.json

``--compare`` takes per schema the least time over each side's files, prints both sides'
p50/p90/p99/mean/sum and the median of the per-schema ratios (branch / base).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from compile_bench import DATA, load_sample  # noqa: E402


def _pct(xs: list[float], q: float) -> float:
    return xs[min(len(xs) - 1, int(round(q / 100 * (len(xs) - 1))))]


def summary(ms: list[float]) -> str:
    xs = sorted(ms)
    return (
        f"n={len(xs)} p50 {_pct(xs, 50):.3f} p90 {_pct(xs, 90):.2f} p99 {_pct(xs, 99):.1f} "
        f"max {xs[-1]:.1f} mean {sum(xs) / len(xs):.3f} sum {sum(xs):.0f} ms CPU"
    )


def run(per_subset: int, seed: int, rounds: int) -> dict[str, float]:
    from decoder.grammar import Grammar

    sample = load_sample(DATA, per_subset, seed)
    Grammar.from_json_schema({"type": "string"})
    best: dict[str, float] = {}
    failed: set[str] = set()
    for _ in range(rounds):
        for sid, text in sample:
            if sid in failed:
                continue
            t = time.thread_time()
            try:
                Grammar.from_json_schema(text)
            except Exception:  # noqa: BLE001 - a refusal is not timed
                failed.add(sid)
                continue
            dt = (time.thread_time() - t) * 1e3
            best[sid] = min(best.get(sid, dt), dt)
    return best


def _least(paths: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for p in paths.split(","):
        for k, v in json.load(open(p)).items():
            out[k] = min(out.get(k, v), v)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--per-subset", type=int, default=30)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--save", default=None, help="write per-schema least ms (JSON)")
    ap.add_argument("--compare", nargs=2, metavar=("BASE", "BRANCH"), help="comma lists")
    a = ap.parse_args()
    if a.compare:
        base, branch = (_least(x) for x in a.compare)
        common = sorted(set(base) & set(branch))
        print(f"base   {summary([base[k] for k in common])}")
        print(f"branch {summary([branch[k] for k in common])}")
        ratios = [branch[k] / base[k] for k in common if base[k] > 0]
        print(f"median per-schema ratio (branch / base) {statistics.median(ratios):.3f}")
        return
    best = run(a.per_subset, a.seed, a.rounds)
    print(summary(list(best.values())))
    if a.save:
        with open(a.save, "w") as f:
            json.dump(best, f)


if __name__ == "__main__":
    main()
