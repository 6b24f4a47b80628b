"""Compile-time benchmark: schema text to the first Matcher ready, per engine, on a fixed sample of
JSONSchemaBench schemas (all subsets), single-threaded, engines interleaved per schema.

What is timed is what bench/maskbench.py times as "compile" (decoder: Grammar.from_json_schema +
one Matcher on the vocabulary; llguidance: grammar_from_json_schema + LLMatcher), each schema once
(cold: a fresh schema, as a server sees it) after one warm-up compile of an unrelated schema.

    PYTHONPATH=. python bench/compile_bench.py --per-subset 30 --engines decoder,llguidance
    PYTHONPATH=. python bench/compile_bench.py --per-subset 30 --engines decoder --stages
    PYTHONPATH=. python bench/compile_bench.py --per-subset 30 --engines decoder --profile out.prof

--first N compiles the schemas bench/maskbench.py --limit N runs (the first N records with
instances of each subset) instead of a random sample.
--stages splits decoder's time into the front end (schema -> IR) and the Matcher (IR -> ready),
in wall time and in thread CPU time (the CPU lines are what resolves a change on a loaded machine).
--profile runs decoder's compiles under cProfile and writes the stats.
--gc-collect runs one full collection after the warm-up, so that the full pass owed by the
imports (the tokenizer's, ~330,000 objects: 150-800 ms) does not land on one timed compile;
the passes the compiles themselves trigger still do (bench/gc_passes.py counts them).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time

os.environ.setdefault("DECODER_WALK_THREADS", "1")
os.environ.setdefault("RAYON_NUM_THREADS", "1")

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "..", "shared", "jsonschemabench")


def load_sample(data: str, per_subset: int, seed: int) -> list[tuple[str, str]]:
    out = []
    for fn in sorted(os.listdir(data)):
        if not fn.endswith(".jsonl"):
            continue
        with open(os.path.join(data, fn)) as f:
            recs = [json.loads(line) for line in f if line.strip()]
        rng = random.Random(f"{seed}:{fn}")
        pick = recs if per_subset <= 0 or len(recs) <= per_subset else rng.sample(recs, per_subset)
        for r in pick:
            out.append((r["id"], json.dumps(r["schema"])))
    return out


def load_first(data: str, first: int) -> list[tuple[str, str]]:
    """The schemas of ``bench/maskbench.py --limit FIRST``: per subset, the first records that
    have instances."""
    out = []
    for fn in sorted(os.listdir(data)):
        if not fn.endswith(".jsonl"):
            continue
        n = 0
        with open(os.path.join(data, fn)) as f:
            for line in f:
                if n >= first:
                    break
                if line.strip():
                    r = json.loads(line)
                    if r.get("tests"):
                        out.append((r["id"], json.dumps(r["schema"])))
                        n += 1
    return out


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    if not xs:
        return float("nan")
    i = min(len(xs) - 1, max(0, int(round(q / 100 * (len(xs) - 1)))))
    return xs[i]


def summary(name: str, xs: list[float]) -> str:
    return (
        f"{name:<22} n={len(xs):4d}  p50 {pct(xs, 50) * 1e3:7.2f}  p90 {pct(xs, 90) * 1e3:7.2f}  "
        f"p99 {pct(xs, 99) * 1e3:7.2f}  max {max(xs) * 1e3:8.2f}  mean {sum(xs) / len(xs) * 1e3:6.2f} ms"
    )


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--data", default=DATA)
    ap.add_argument("--per-subset", type=int, default=30)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--first", type=int, default=0, help="maskbench's --limit sample instead")
    ap.add_argument("--engines", default="decoder,llguidance")
    ap.add_argument("--tokenizer", default=None)
    ap.add_argument("--stages", action="store_true")
    ap.add_argument("--profile", default=None)
    ap.add_argument("--save", default=None, help="write per-schema times (JSON)")
    ap.add_argument("--top", type=int, default=0, help="print the N slowest decoder schemas")
    ap.add_argument(
        "--gc-collect",
        action="store_true",
        help="one full collection after the warm-up (as bench/serving.py does): the pass the "
        "imports owe then does not land on one of the timed compiles",
    )
    args = ap.parse_args()

    from decoder.bench import engines as E

    ctx = E.TokenizerContext(args.tokenizer or E.DEFAULT_TOKENIZER)
    names = args.engines.split(",")
    adapters = {}
    for n in names:
        cls = {"decoder": E.DecoderAdapter, "llguidance": E.LLGuidanceAdapter}[n]
        adapters[n] = cls(ctx)
    if args.first:
        sample = load_first(args.data, args.first)
    else:
        sample = load_sample(args.data, args.per_subset, args.seed)
    warm = json.dumps({"type": "object", "properties": {"a": {"type": "string"}}})
    for a in adapters.values():
        a.compile(json.loads(warm))
    if args.gc_collect:
        import gc

        gc.collect()

    prof = None
    if args.profile:
        import cProfile

        prof = cProfile.Profile()
    times: dict[str, dict[str, float]] = {n: {} for n in names}
    cpu: dict[str, dict[str, float]] = {n: {} for n in names}
    stages: dict[str, dict[str, float]] = {"frontend": {}, "matcher": {}}
    stages_cpu: dict[str, dict[str, float]] = {"frontend": {}, "matcher": {}}
    errors: dict[str, int] = {n: 0 for n in names}
    import decoder

    for sid, text in sample:
        for n, a in adapters.items():
            schema = json.loads(text)
            try:
                if n == "decoder" and (args.stages or prof):
                    if prof:
                        prof.enable()
                    t0, c0 = time.perf_counter(), time.thread_time()
                    g = decoder.Grammar.from_json_schema(schema, whitespace="flexible")
                    t1, c1 = time.perf_counter(), time.thread_time()
                    decoder.Matcher(g, a.vocab)
                    t2, c2 = time.perf_counter(), time.thread_time()
                    if prof:
                        prof.disable()
                    stages["frontend"][sid] = t1 - t0
                    stages["matcher"][sid] = t2 - t1
                    stages_cpu["frontend"][sid] = c1 - c0
                    stages_cpu["matcher"][sid] = c2 - c1
                    times[n][sid] = t2 - t0
                    cpu[n][sid] = c2 - c0
                else:
                    t0, c0 = time.perf_counter(), time.thread_time()
                    a.compile(schema)
                    times[n][sid] = time.perf_counter() - t0
                    cpu[n][sid] = time.thread_time() - c0
            except Exception:
                if prof:
                    prof.disable()
                errors[n] += 1

    how = f"first {args.first}" if args.first else f"{args.per_subset} per subset, seed {args.seed}"
    print(f"{len(sample)} schemas ({how}), tokenizer {ctx.family}")
    both = set.intersection(*(set(t) for t in times.values())) if times else set()
    for n in names:
        print(summary(f"{n} (all ok)", list(times[n].values())) + f"  errors {errors[n]}")
    if len(names) > 1:
        for n in names:
            print(summary(f"{n} (common)", [times[n][s] for s in both]))
    for n in names:
        if cpu[n]:
            print(summary(f"{n} (CPU time)", list(cpu[n].values())))
    if args.stages or prof:
        for k, v in stages.items():
            if v:
                print(summary(f"decoder {k}", list(v.values())))
        for k, v in stages_cpu.items():
            if v:
                print(summary(f"decoder {k} (CPU)", list(v.values())))
    if args.top and "decoder" in times:
        for sid, t in sorted(times["decoder"].items(), key=lambda kv: -kv[1])[: args.top]:
            extra = ""
            if sid in stages["frontend"]:
                extra = f" (front {stages['frontend'][sid] * 1e3:.1f}, matcher {stages['matcher'][sid] * 1e3:.1f})"
            other = "".join(
                f"  {n} {times[n][sid] * 1e3:.1f}"
                for n in names
                if n != "decoder" and sid in times[n]
            )
            print(f"  {sid:<40} {t * 1e3:8.1f} ms{extra}{other}")
    if args.save:
        with open(args.save, "w") as f:
            json.dump(
                {
                    "times": times,
                    "cpu": cpu,
                    "stages": stages,
                    "stages_cpu": stages_cpu,
                    "errors": errors,
                },
                f,
            )
    if prof:
        prof.dump_stats(args.profile)
        print(f"profile written to {args.profile}", file=sys.stderr)


if __name__ == "__main__":
    main()
