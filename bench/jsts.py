#!/usr/bin/env python3
"""The official JSON Schema Test Suite through the mask of every engine.

For every test group (a schema and its instances) of the chosen draft, each engine compiles the
schema (a refusal is counted, not an error of the harness), then every instance is serialized
compactly, tokenized (no special tokens) and teacher-forced token by token through the mask, and
EOS must be allowed at the end (see engines.teacher_force). Per instance:
  correct     valid and accepted, or invalid and refused at some step (or at EOS)
  unsound     invalid but accepted: the engine lets through output the schema rejects
  incomplete  valid but refused: the engine cannot produce some output the schema allows
  refused     the engine would not compile the group's schema (compile error, timeout, crash)

By default only the draft's top-level files are run: optional/ (format assertion, bignum,
ECMA-262 regex details...) is left out, and so is format.json, whose instances are all valid
because `format` is an annotation unless the format-assertion vocabulary is on (our compiler
enforces formats, as the issue asks, so those would read as false "incomplete").
--include-optional adds optional/ (without optional/format/ unless --include-format).

Examples:
  python bench/jsts.py                          # draft2020-12, all engines installed
  python bench/jsts.py --draft draft7 --per-file
  python bench/jsts.py --engines decoder --out results/jsts-2020-12.json
"""

from __future__ import annotations

import argparse
import copy
import glob
import json
import os
import sys
import time
from collections import defaultdict

from decoder.bench import engines as E
from decoder.bench.common import shared_default

SUITE = shared_default("json-schema-test-suite")
DRAFT_URIS = {
    "draft2020-12": "https://json-schema.org/draft/2020-12/schema",
    "draft2019-09": "https://json-schema.org/draft/2019-09/schema",
    "draft7": "http://json-schema.org/draft-07/schema#",
    "draft6": "http://json-schema.org/draft-06/schema#",
    "draft4": "http://json-schema.org/draft-04/schema#",
}


def load_groups(
    suite: str, draft: str, include_optional: bool, include_format: bool, files: list[str] | None
):
    base = os.path.join(suite, draft)
    paths = sorted(glob.glob(os.path.join(base, "*.json")))
    if include_optional:
        paths += sorted(glob.glob(os.path.join(base, "optional", "*.json")))
        if include_format:
            paths += sorted(glob.glob(os.path.join(base, "optional", "format", "*.json")))
    groups = []
    for p in paths:
        rel = os.path.relpath(p, base)
        stem = rel[: -len(".json")]
        if files and stem not in files and os.path.basename(stem) not in files:
            continue
        if not files and rel == "format.json" and not include_format:
            continue
        with open(p) as f:
            for gi, g in enumerate(json.load(f)):
                schema = copy.deepcopy(g["schema"])
                # Tell the engines which draft this is when the schema does not say it itself.
                if isinstance(schema, dict) and "$schema" not in schema and draft in DRAFT_URIS:
                    schema["$schema"] = DRAFT_URIS[draft]
                groups.append(
                    {
                        "file": stem,
                        "index": gi,
                        "description": g["description"],
                        "schema": schema,
                        "tests": g["tests"],
                    }
                )
    return groups


def table(summ: dict[str, dict], engines: list[str], base: str | None) -> str:
    cols = [
        "engine",
        "groups",
        "refused groups",
        "timeouts",
        "instances",
        "correct",
        "correct %",
        "unsound",
        "incomplete",
        "refused inst.",
    ]
    if base:
        cols.append(f"correct vs {base}")
    rows = []
    b = summ.get(base) if base else None
    for e in engines:
        s = summ[e]
        pct = 100.0 * s["correct"] / s["instances"] if s["instances"] else 0.0
        row = [
            e,
            s["groups"],
            s["refused_groups"],
            s["timeouts"],
            s["instances"],
            s["correct"],
            f"{pct:.1f}",
            s["unsound"],
            s["incomplete"],
            s["refused"],
        ]
        if b:
            row.append(E.ratio(s["correct"], b["correct"]))
        rows.append(row)
    return E.markdown_table(cols, rows)


def per_file_table(by_file: dict[str, dict[str, dict]], engines: list[str]) -> str:
    cols = ["file", "instances"] + [f"{e} ok/unsound/incompl/refused" for e in engines]
    rows = []
    for f in sorted(by_file):
        d = by_file[f]
        n = next(iter(d.values()))["instances"]
        row = [f, n] + [
            f'{d[e]["correct"]}/{d[e]["unsound"]}/{d[e]["incomplete"]}/{d[e]["refused"]}'
            for e in engines
        ]
        rows.append(row)
    return E.markdown_table(cols, rows)


def main(argv=None):
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--suite", default=SUITE)
    ap.add_argument(
        "--draft", default="draft2020-12", help="folder of the suite: draft2020-12, draft7, ..."
    )
    ap.add_argument(
        "--files",
        default="",
        help="comma-separated file stems to run (e.g. ref,anyOf), default all",
    )
    ap.add_argument("--include-optional", action="store_true", help="also run optional/*.json")
    ap.add_argument(
        "--include-format",
        action="store_true",
        help="also run format.json (and optional/format/ with --include-optional)",
    )
    ap.add_argument(
        "--engines",
        default=",".join(E.ALL_ENGINES),
        help="comma-separated, from: " + ", ".join(E.ADAPTERS),
    )
    ap.add_argument("--baseline", default="decoder")
    ap.add_argument("--tokenizer", default=E.DEFAULT_TOKENIZER)
    ap.add_argument("--style", choices=["compact", "maskbench"], default="compact")
    ap.add_argument("--compile-timeout", type=float, default=30.0)
    ap.add_argument("--test-timeout", type=float, default=120.0)
    ap.add_argument("--mem-limit-gb", type=float, default=8.0)
    ap.add_argument("--per-file", action="store_true", help="also print a per-file table")
    ap.add_argument("--out", default="", help="JSON results file")
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)

    def log(msg):
        print(msg, file=sys.stderr, flush=True)

    files = [f for f in args.files.split(",") if f] or None
    groups = load_groups(args.suite, args.draft, args.include_optional, args.include_format, files)
    if not groups:
        log("no test groups selected")
        return 2
    t_start = time.time()
    ctx = E.TokenizerContext(args.tokenizer)
    jobs = [[ctx.encode(E.serialize(t["data"], args.style)) for t in g["tests"]] for g in groups]
    n_inst = sum(len(j) for j in jobs)
    log(f"{args.draft}: {len(groups)} groups, {n_inst} instances, tokenizer {ctx.family}")

    names = [e for e in args.engines.split(",") if e]
    # decoder is given the suite's remote documents (remotes=, as a user would pass them);
    # the peers have no such option and refuse or mis-answer refRemote groups
    remotes = os.path.join(args.suite, "remotes")
    if os.path.isdir(remotes):
        os.environ["DECODER_BENCH_REMOTES"] = remotes
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

    def zero():
        return {
            "groups": 0,
            "refused_groups": 0,
            "timeouts": 0,
            "instances": 0,
            "correct": 0,
            "unsound": 0,
            "incomplete": 0,
            "refused": 0,
        }

    summ = {e: zero() for e in active}
    by_file: dict[str, dict[str, dict]] = defaultdict(lambda: {e: zero() for e in active})
    details: dict[str, list[dict]] = {e: [] for e in active}

    try:
        from tqdm import tqdm

        bar = tqdm(total=len(groups) * len(active), disable=args.no_progress, unit="group")
    except ImportError:
        bar = None

    for g, ids in zip(groups, jobs):
        for e in active:
            res = workers[e].run(g["schema"], ids)
            s, fs = summ[e], by_file[g["file"]][e]
            rec = {
                "file": g["file"],
                "group": g["index"],
                "description": g["description"],
                "status": res["status"],
            }
            for x in (s, fs):
                x["groups"] += 1
                x["instances"] += len(ids)
            if res["status"] != "ok":
                rec["error"] = res.get("error")
                for x in (s, fs):
                    x["refused_groups"] += 1
                    x["refused"] += len(ids)
                    if "timeout" in res["status"]:
                        x["timeouts"] += 1
            else:
                outcomes = []
                for t, out in zip(g["tests"], res["results"]):
                    if t["valid"] == out["accepted"]:
                        k = "correct"
                    elif out["accepted"]:
                        k = "unsound"
                    else:
                        k = "incomplete"
                    for x in (s, fs):
                        x[k] += 1
                    if k != "correct":
                        o = {"test": t["description"], "kind": k, "data": t["data"]}
                        if out.get("exception"):
                            o["exception"] = out["exception"]
                        outcomes.append(o)
                if outcomes:
                    rec["wrong"] = outcomes
            details[e].append(rec)
            if bar is not None:
                bar.update(1)
    if bar is not None:
        bar.close()
    for w in workers.values():
        w.close()

    base = args.baseline if args.baseline in active else active[0]
    print()
    print(
        f"## JSON Schema Test Suite, {args.draft}{' + optional' if args.include_optional else ''}: "
        f"{len(groups)} groups, {n_inst} instances, tokenizer {ctx.family}, {time.time() - t_start:.0f} s"
    )
    if base != args.baseline:
        print(f"\n(baseline `{args.baseline}` not available: ratios are against `{base}`)")
    for n, why in dropped.items():
        print(f"\n- `{n}` dropped: {why}")
    print()
    print(table(summ, active, base))
    if args.per_file:
        print()
        print(per_file_table(by_file, active))
    print()
    for e in active:
        print(f"- `{e}` {workers[e].info['version']}: {workers[e].info['options']}")
    print(
        "\nunsound = invalid instance accepted; incomplete = valid instance refused; "
        "refused = instances of schemas the engine would not compile (or timed out on)."
    )

    if args.out:
        out = {
            "meta": {
                "draft": args.draft,
                "suite": args.suite,
                "include_optional": args.include_optional,
                "include_format": args.include_format,
                "tokenizer": args.tokenizer,
                "style": args.style,
                "groups": len(groups),
                "instances": n_inst,
                "wall_s": time.time() - t_start,
                "dropped": dropped,
            },
            "engines": {e: workers[e].info for e in active},
            "summary": summ,
            "by_file": {f: d for f, d in sorted(by_file.items())},
            "groups": details,
        }
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as f:
            json.dump(out, f, indent=1, ensure_ascii=False)
        log(f"results: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
