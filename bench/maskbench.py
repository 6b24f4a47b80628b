#!/usr/bin/env python3
"""MaskBench-style benchmark: JSON schemas of ../shared/jsonschemabench through every engine.

For each record (schema + valid/invalid instances) and each engine, in one run, on the same
instances and the same tokenizer:
  1. compile the schema (timed; cut off after --compile-timeout seconds -> "timeout");
  2. for each instance: serialize it as MaskBench does and as models write JSON (by default
     `json.dumps(data, ensure_ascii=False)`, separators ", " and ": "; `--serialization compact`
     for "," and ":"), tokenize it without special tokens, and teacher-force it: before every
     token compute the mask (timed together with the commit as "mask+commit", in wall clock and
     in thread CPU time), check the token's bit, commit it; after the last token EOS must be
     allowed. A valid instance must pass every step; an invalid one must be refused at some step
     (or at EOS). An invalid instance that passes is an invalidation error (a soundness bug).

The headline table is over the valid instances that every engine accepts (identical token
streams): p50/p90/p99/max/mean of mask+commit, wall and CPU, and the same split into cold steps
(the first mask in a lexer state of the compiled grammar: decoder reports it, and the peers'
steps are split at the same step indices) and warm ones. Every engine runs single-threaded by
default (`DECODER_WALK_THREADS=1`, `--walk-threads` to change it), as MaskBench runs them;
`--background-load N` keeps N busy processes running beside the benchmark, as on a loaded server.

Examples:
  python bench/maskbench.py --limit 5                       # quick mode, all subsets, ~2-3 min
  python bench/maskbench.py --out results/maskbench.json --plot results/maskbench.png
  python bench/maskbench.py --subsets Github_easy,Kubernetes --engines decoder,llguidance
  python bench/maskbench.py --tokenizer ../shared/tokenizers/qwen2 --limit 20
  python bench/maskbench.py --limit 5 --background-load 2      # as a busy server sees it
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import platform
import sys
import time
from collections import defaultdict

import numpy as np

from decoder.bench import engines as E
from decoder.bench.common import shared_default

DATA_DIR = shared_default("jsonschemabench")


def load_records(data_dir: str, subsets: list[str] | None, limit: int | None, all_records: bool):
    files = sorted(glob.glob(os.path.join(data_dir, "*.jsonl")))
    out = []
    for f in files:
        subset = os.path.basename(f)[: -len(".jsonl")]
        if subsets and subset not in subsets:
            continue
        n = 0
        with open(f) as fh:
            for line in fh:
                if not line.strip():
                    continue
                r = json.loads(line)
                if not all_records and not r.get("tests"):
                    continue
                r.setdefault("subset", subset)
                r["_subset"] = subset
                out.append(r)
                n += 1
                if limit and n >= limit:
                    break
    return out


def summarize(per_schema: list[dict], times: list[np.ndarray]) -> dict:
    """Counts and quantiles for one engine over a set of schemas."""
    s = defaultdict(int)
    compile_ms = []
    for r in per_schema:
        s["schemas"] += 1
        st = r["status"]
        if st == "compile_error":
            s["compile_errors"] += 1
        elif st == "timeout":
            s["timeouts"] += 1
        elif st == "crash":
            s["crashes"] += 1
        elif st.startswith("test_"):
            s["test_timeouts" if st == "test_timeout" else "crashes"] += 1
        if r.get("compile_ms") is not None and st != "timeout":
            compile_ms.append(r["compile_ms"])
        if st == "ok":
            s["compiled"] += 1
            s["valid_instances"] += r["n_valid"]
            s["invalid_instances"] += r["n_invalid"]
            s["validation_error_instances"] += r["validation_errors"]
            s["invalidation_error_instances"] += r["invalidation_errors"]
            s["exceptions"] += r["exceptions"]
            s["mask_commit_disagreements"] += r["disagreements"]
            if r["validation_errors"]:
                s["validation_errors"] += 1
            if r["invalidation_errors"]:
                s["invalidation_errors"] += 1
            if r["passed"]:
                s["passing"] += 1
    allt = np.concatenate(times) if times else np.zeros(0, dtype=np.float32)
    p50, p90, p99 = E.quantiles(allt, (50, 90, 99))
    c50, c99 = E.quantiles(compile_ms)
    s = dict(s)
    for k in (
        "schemas",
        "passing",
        "compiled",
        "compile_errors",
        "timeouts",
        "test_timeouts",
        "crashes",
        "validation_errors",
        "invalidation_errors",
        "exceptions",
        "valid_instances",
        "invalid_instances",
        "validation_error_instances",
        "invalidation_error_instances",
        "mask_commit_disagreements",
    ):
        s.setdefault(k, 0)
    s.update(
        {
            "tokens": int(allt.size),
            "mask_commit_us_p50": p50,
            "mask_commit_us_p90": p90,
            "mask_commit_us_p99": p99,
            "mask_commit_us_max": float(allt.max()) if allt.size else None,
            "mask_commit_us_mean": float(allt.mean()) if allt.size else None,
            "compile_ms_p50": c50,
            "compile_ms_p99": c99,
            "compile_ms_max": float(max(compile_ms)) if compile_ms else None,
        }
    )
    return s


def markdown_table(summ: dict[str, dict], engines: list[str], base: str | None) -> str:
    cols = [
        "engine",
        "schemas",
        "passing",
        "pass %",
        "compile err",
        "timeouts",
        "validation err",
        "invalidation err",
        "tokens",
        "m+c p50 µs",
        "m+c p99 µs",
        "m+c max µs",
        "compile p50 ms",
        "compile p99 ms",
    ]
    if base:
        cols += [f"p50 vs {base}", f"p99 vs {base}", f"compile p50 vs {base}", f"passing vs {base}"]
    rows = []
    b = summ.get(base) if base else None
    for e in engines:
        s = summ.get(e)
        if s is None:
            continue
        pct = 100.0 * s["passing"] / s["schemas"] if s["schemas"] else 0.0
        to = s["timeouts"] + s["test_timeouts"]
        row = [
            e,
            s["schemas"],
            s["passing"],
            f"{pct:.1f}",
            s["compile_errors"] + s["crashes"],
            to,
            f'{s["validation_errors"]} ({s["validation_error_instances"]})',
            f'{s["invalidation_errors"]} ({s["invalidation_error_instances"]})',
            s["tokens"],
            E.fmt(s["mask_commit_us_p50"]),
            E.fmt(s["mask_commit_us_p99"]),
            E.fmt(s["mask_commit_us_max"]),
            E.fmt(s["compile_ms_p50"], 2),
            E.fmt(s["compile_ms_p99"]),
        ]
        if b:
            row += [
                E.ratio(s["mask_commit_us_p50"], b["mask_commit_us_p50"]),
                E.ratio(s["mask_commit_us_p99"], b["mask_commit_us_p99"]),
                E.ratio(s["compile_ms_p50"], b["compile_ms_p50"]),
                E.ratio(s["passing"], b["passing"]),
            ]
        rows.append(row)
    return E.markdown_table(cols, rows)


STAT_KEYS = ("p50", "p90", "p99", "max", "mean")


def stats(a) -> dict:
    a = np.asarray(a, dtype=np.float64)
    if a.size == 0:
        return {k: None for k in STAT_KEYS} | {"n": 0}
    p50, p90, p99 = np.percentile(a, [50, 90, 99])
    return {
        "n": int(a.size),
        "p50": float(p50),
        "p90": float(p90),
        "p99": float(p99),
        "max": float(a.max()),
        "mean": float(a.mean()),
    }


def common_table(common: dict, engines: list[str]) -> str:
    """Mask+commit on the valid instances every engine accepts: wall and CPU, all steps, then
    cold and warm steps (split by decoder's cache-miss flag at the same step index)."""
    cols = (
        ["engine", "steps"]
        + [f"wall {k}" for k in STAT_KEYS]
        + [f"CPU {k}" for k in STAT_KEYS]
        + ["steps > 2 ms"]
    )
    rows = []
    for e in engines:
        c = common[e]
        row = (
            [e, c["wall"]["n"]]
            + [E.fmt(c["wall"][k]) for k in STAT_KEYS]
            + [E.fmt(c["cpu"][k]) for k in STAT_KEYS]
        )
        row.append(c["over_2ms"])
        rows.append(row)
    table = E.markdown_table(cols, rows)
    if not any(common[e]["cold_wall"]["n"] for e in engines):
        return table
    split_cols = ["engine", "cold steps"]
    split_cols += [f"cold wall {k}" for k in ("p50", "p90", "p99", "mean")]
    split_cols += ["cold CPU p50", "cold CPU p99"]
    split_cols += [f"warm wall {k}" for k in ("p50", "p99", "mean")]
    split_cols += ["warm CPU p50", "warm CPU p99"]
    split = []
    for e in engines:
        c = common[e]
        cw, cc, ww, wc = c["cold_wall"], c["cold_cpu"], c["warm_wall"], c["warm_cpu"]
        split.append(
            [e, cw["n"]]
            + [E.fmt(cw[k]) for k in ("p50", "p90", "p99", "mean")]
            + [E.fmt(cc["p50"]), E.fmt(cc["p99"])]
            + [E.fmt(ww[k]) for k in ("p50", "p99", "mean")]
            + [E.fmt(wc["p50"]), E.fmt(wc["p99"])]
        )
    return table + "\n\n" + E.markdown_table(split_cols, split)


def subset_table(by_subset: dict[str, dict[str, dict]], engines: list[str]) -> str:
    cols = ["subset", "schemas"] + [f"{e} pass / inval / m+c p50 µs" for e in engines]
    rows = []
    for sub in sorted(by_subset):
        d = by_subset[sub]
        n = next(iter(d.values()))["schemas"] if d else 0
        row = [sub, n]
        for e in engines:
            s = d.get(e)
            row.append(
                "–"
                if s is None
                else f'{s["passing"]} / {s["invalidation_errors"]} / {E.fmt(s["mask_commit_us_p50"])}'
            )
        rows.append(row)
    return E.markdown_table(cols, rows)


def plot(path: str, times: dict[str, np.ndarray], compile_ms: dict[str, list[float]], title: str):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(13, 5))
    for e, t in times.items():
        if t.size == 0:
            continue
        x = np.sort(t)
        y = np.arange(1, x.size + 1) / x.size
        axes[0].plot(
            x,
            y,
            label=f"{e} (p50 {np.percentile(x, 50):.1f} µs, p99 {np.percentile(x, 99):.0f} µs)",
        )
    axes[0].set_xscale("log")
    axes[0].set_xlabel("mask + commit per token (µs, log)")
    axes[0].set_ylabel("fraction of tokens")
    axes[0].set_title("per-token mask+commit time, CDF")
    axes[0].grid(True, which="both", alpha=0.3)
    axes[0].legend(fontsize=8)
    for e, c in compile_ms.items():
        if not c:
            continue
        x = np.sort(np.asarray(c))
        y = np.arange(1, x.size + 1) / x.size
        axes[1].plot(x, y, label=f"{e} (p50 {np.percentile(x, 50):.2f} ms, n={x.size})")
    axes[1].set_xscale("log")
    axes[1].set_xlabel("compile time (ms, log)")
    axes[1].set_title("compile time of compiled schemas, CDF")
    axes[1].grid(True, which="both", alpha=0.3)
    axes[1].legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=120)


def main(argv=None):
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--data", default=DATA_DIR, help="folder of <subset>.jsonl files")
    ap.add_argument("--subsets", default="", help="comma-separated subset names (default: all)")
    ap.add_argument(
        "--limit", type=int, default=0, help="first N records per subset (0 = all); 5 = quick mode"
    )
    ap.add_argument(
        "--engines",
        default=None,
        help="comma-separated, from: "
        + ", ".join(E.ADAPTERS)
        + " (default: "
        + ",".join(E.ALL_ENGINES)
        + "; in quick mode, --limit 1..10, outlines is left out unless named)",
    )
    ap.add_argument(
        "--baseline",
        default="decoder",
        help="engine the ratios are taken against (falls back to the first available)",
    )
    ap.add_argument(
        "--tokenizer", default=E.DEFAULT_TOKENIZER, help="tokenizer family folder (HF format)"
    )
    ap.add_argument(
        "--serialization",
        "--style",
        dest="style",
        choices=["maskbench", "compact"],
        default="maskbench",
        help="instance serialization: MaskBench's and models' json.dumps defaults (', ', ': '; the default) "
        "or compact separators (',', ':')",
    )
    ap.add_argument(
        "--walk-threads",
        type=int,
        default=1,
        help="DECODER_WALK_THREADS for decoder's cold walks (default 1: every engine single-threaded, "
        "as MaskBench runs them)",
    )
    ap.add_argument(
        "--background-load",
        type=int,
        default=0,
        metavar="N",
        help="run N busy processes beside the benchmark (the tail as a loaded server sees it)",
    )
    ap.add_argument(
        "--compile-timeout",
        type=float,
        default=None,
        help="seconds per compile before it counts as a timeout (default 30; 10 in quick mode)",
    )
    ap.add_argument(
        "--test-timeout", type=float, default=300.0, help="seconds for all instances of one schema"
    )
    ap.add_argument(
        "--mem-limit-gb", type=float, default=8.0, help="address-space limit of each engine worker"
    )
    ap.add_argument(
        "--all-records", action="store_true", help="also compile records that have no tests"
    )
    ap.add_argument("--out", default="", help="JSON results file")
    ap.add_argument(
        "--plot", default="", help="PNG: CDFs of mask+commit and compile times per engine"
    )
    ap.add_argument("--save-times", default="", help=".npz with every per-token time, per engine")
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)

    def log(msg):
        print(msg, file=sys.stderr, flush=True)

    subsets = [s for s in args.subsets.split(",") if s] or None
    records = load_records(args.data, subsets, args.limit or None, args.all_records)
    if not records:
        log("no records selected")
        return 2
    quick = bool(args.limit) and args.limit <= 10
    if args.compile_timeout is None:
        args.compile_timeout = 10.0 if quick else 30.0
    if args.engines is None:
        names = [e for e in E.ALL_ENGINES if not (quick and e == "outlines")]
        if quick:
            log(
                "quick mode: outlines left out (its Index build costs seconds per schema on a large vocabulary); "
                "add it with --engines " + ",".join(E.ALL_ENGINES)
            )
    else:
        names = [e for e in args.engines.split(",") if e]

    t_start = time.time()
    os.environ["DECODER_WALK_THREADS"] = str(max(1, args.walk_threads))  # inherited by the workers
    os.environ.setdefault("RAYON_NUM_THREADS", "1")
    ctx = E.TokenizerContext(args.tokenizer)
    log(
        f"tokenizer {ctx.family} ({args.tokenizer}): {len(ctx.tok)} tokens, mask width {ctx.mask_vocab}, eos {ctx.eos}"
    )
    # Tokenize once, in the parent: every engine sees exactly the same ids.
    jobs = []
    n_inst = 0
    for r in records:
        tests = r.get("tests") or []
        ids = [ctx.encode(E.serialize(t["data"], args.style)) for t in tests]
        jobs.append((r, ids))
        n_inst += len(ids)
    log(
        f"{len(records)} schemas, {n_inst} instances, {sum(len(i) for _, ii in jobs for i in ii)} tokens per engine"
    )

    workers, dropped = E.start_engines(
        names,
        args.tokenizer,
        log,
        compile_timeout=args.compile_timeout,
        test_timeout=args.test_timeout,
        mem_limit_gb=args.mem_limit_gb,
    )
    if not workers:
        log("no engine available")
        return 2
    active = [n for n in names if n in workers]
    load = E.start_background_load(args.background_load) if args.background_load > 0 else []
    if load:
        log(f"background load: {len(load)} busy processes")

    per_schema: dict[str, list[dict]] = {e: [] for e in active}
    times: dict[str, dict[str, list[np.ndarray]]] = {e: defaultdict(list) for e in active}
    by_job: dict[str, dict[int, np.ndarray]] = {
        e: {} for e in active
    }  # job index -> times (status ok)
    # (job, instance) -> (wall, cpu, cold) per step, for instances the engine accepted
    per_inst: dict[str, dict[tuple[int, int], tuple]] = {e: {} for e in active}

    try:
        from tqdm import tqdm

        bar = tqdm(
            total=len(jobs) * len(active), disable=args.no_progress, unit="compile", smoothing=0.05
        )
    except ImportError:
        bar = None

    for k, (r, ids) in enumerate(jobs):
        tests = r.get("tests") or []
        for e in active:
            w = workers[e]
            res = w.run(r["schema"], ids)
            rec = {
                "id": r.get("id"),
                "subset": r["_subset"],
                "status": res["status"],
                "compile_ms": res.get("compile_ms"),
            }
            if res.get("error"):
                rec["error"] = res["error"]
            if res["status"] == "ok":
                ve = ie = ex = dis = 0
                fails = []
                for i, (t, out) in enumerate(zip(tests, res["results"])):
                    if out.get("exception"):
                        ex += 1
                    if out.get("disagree"):
                        dis += 1
                    if t["valid"] and not out["accepted"]:
                        ve += 1
                        fails.append(
                            {
                                "test": i,
                                "valid": True,
                                "step": out["step"],
                                "tokens": len(ids[i]),
                                **({"exception": out["exception"]} if out.get("exception") else {}),
                            }
                        )
                    elif not t["valid"] and out["accepted"]:
                        ie += 1
                        fails.append({"test": i, "valid": False})
                rec.update(
                    {
                        "n_valid": sum(1 for t in tests if t["valid"]),
                        "n_invalid": sum(1 for t in tests if not t["valid"]),
                        "validation_errors": ve,
                        "invalidation_errors": ie,
                        "exceptions": ex,
                        "disagreements": dis,
                        "passed": ve == 0 and ie == 0 and ex == 0,
                    }
                )
                if fails:
                    rec["failures"] = fails[:10]
                times[e][r["_subset"]].append(res["times"])
                by_job[e][k] = res["times"]
                off = 0
                for i, out in enumerate(res["results"]):
                    n = out.get("steps", 0)
                    if out.get("accepted") and tests[i]["valid"]:
                        per_inst[e][(k, i)] = (
                            res["times"][off : off + n],
                            res["cpu"][off : off + n],
                            res["cold"][off : off + n],
                        )
                    off += n
            per_schema[e].append(rec)
            if bar is not None:
                bar.update(1)
    if bar is not None:
        bar.close()
    for w in workers.values():
        w.close()
    E.stop_background_load(load)

    subsets_seen = sorted({r["_subset"] for r in records})
    overall = {
        e: summarize(per_schema[e], [t for lst in times[e].values() for t in lst]) for e in active
    }
    by_subset = {
        sub: {
            e: summarize([x for x in per_schema[e] if x["subset"] == sub], times[e].get(sub, []))
            for e in active
        }
        for sub in subsets_seen
    }
    # The same comparison restricted to the schemas every engine compiled and ran: the token sets
    # above differ per engine (an engine that refuses hard schemas is not timed on them).
    # The headline comparison: the valid instances every engine accepted (the same token streams),
    # cold steps marked by decoder's cache-miss flag (else by the engine's own, if any).
    common_inst = sorted(set.intersection(*(set(per_inst[e]) for e in active))) if active else []
    flag_engine = "decoder" if "decoder" in active else None
    common: dict[str, dict] = {}
    common_arrays: dict[str, np.ndarray] = {}
    for e in active:
        wall = [per_inst[e][key][0] for key in common_inst]
        cpu = [per_inst[e][key][1] for key in common_inst]
        cold = [per_inst[flag_engine or e][key][2] for key in common_inst]
        cat = lambda xs: np.concatenate(xs) if xs else np.zeros(0, np.float32)
        wall, cpu, cold = (
            cat(wall),
            cat(cpu),
            (np.concatenate(cold) if cold else np.zeros(0, np.int8)),
        )
        is_cold = cold == 1
        known = cold >= 0
        common_arrays.update(
            {f"{e}_common_wall": wall, f"{e}_common_cpu": cpu, f"{e}_common_cold": cold}
        )
        common[e] = {
            "instances": len(common_inst),
            "wall": stats(wall),
            "cpu": stats(cpu),
            "over_2ms": int((wall > 2000).sum()),
            "cold_wall": stats(wall[is_cold]),
            "cold_cpu": stats(cpu[is_cold]),
            "warm_wall": stats(wall[known & ~is_cold]),
            "warm_cpu": stats(cpu[known & ~is_cold]),
        }
        overall[e]["common"] = common[e]
    base = args.baseline if args.baseline in active else active[0]

    engines_info = {e: workers[e].info for e in active}
    print()
    print(
        f"## MaskBench-style run: {len(records)} schemas ({', '.join(subsets_seen)}), tokenizer {ctx.family}, "
        f"serialization {args.style}, DECODER_WALK_THREADS={os.environ['DECODER_WALK_THREADS']}, "
        f"background load {args.background_load}, {time.time() - t_start:.0f} s"
    )
    if base != args.baseline:
        print(f"\n(baseline `{args.baseline}` not available: ratios are against `{base}`)")
    for n in names:
        if n not in workers:
            w_msg = dropped.get(n)
            print(f"\n- `{n}` dropped: {w_msg}")
    print()
    print(markdown_table(overall, active, base))
    print()
    n_common = len(common_inst)
    print(
        f"Mask+commit per token (µs) on the {n_common} valid instances every engine accepts "
        f"({common[active[0]]['wall']['n'] if active else 0} steps each); cold = first mask in a lexer state "
        f"({'decoder' if flag_engine else 'n/a'}'s flag, same step index for every engine):"
    )
    print()
    print(common_table(common, active))
    print()
    print(subset_table(by_subset, active))
    print()
    for e in active:
        print(f"- `{e}` {engines_info[e]['version']}: {engines_info[e]['options']}")
    print(
        "\nm+c = mask + commit per token (µs); validation err = schemas with a valid instance refused "
        "(instances in brackets); invalidation err = schemas with an invalid instance accepted (soundness)."
    )

    all_times = {
        e: (
            np.concatenate([t for lst in times[e].values() for t in lst])
            if any(times[e].values())
            else np.zeros(0, np.float32)
        )
        for e in active
    }
    if args.out:
        out = {
            "meta": {
                "tokenizer": args.tokenizer,
                "family": ctx.family,
                "mask_vocab": ctx.mask_vocab,
                "eos": ctx.eos,
                "style": args.style,
                "walk_threads": args.walk_threads,
                "background_load": args.background_load,
                "data": args.data,
                "subsets": subsets_seen,
                "limit": args.limit,
                "compile_timeout_s": args.compile_timeout,
                "test_timeout_s": args.test_timeout,
                "schemas": len(records),
                "instances": n_inst,
                "baseline": base,
                "python": platform.python_version(),
                "machine": platform.machine(),
                "cpus": os.cpu_count(),
                "wall_s": time.time() - t_start,
                "dropped": {n: dropped.get(n) for n in names if n not in workers},
            },
            "engines": engines_info,
            "overall": overall,
            "by_subset": by_subset,
            "schemas": per_schema,
            "common": common,
        }
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as f:
            json.dump(out, f, indent=1, ensure_ascii=False)
        log(f"results: {args.out}")
    if args.save_times:
        # and per valid accepted instance (job, test index), to compare two runs on the
        # instances both accepted
        inst_arrays = {
            f"{e}_inst_{k}_{i}_{what}": np.asarray(v[j])
            for e in active
            for (k, i), v in per_inst[e].items()
            for j, what in enumerate(("wall", "cpu", "cold"))
        }
        np.savez_compressed(args.save_times, **all_times, **common_arrays, **inst_arrays)
        log(f"times: {args.save_times}")
    if args.plot:
        plot(
            args.plot,
            all_times,
            {
                e: [
                    r["compile_ms"]
                    for r in per_schema[e]
                    if r.get("compile_ms") is not None and r["status"] != "timeout"
                ]
                for e in active
            },
            f"MaskBench-style, {len(records)} schemas, tokenizer {ctx.family}, {args.style} instances",
        )
        log(f"plot: {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
