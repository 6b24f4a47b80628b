#!/usr/bin/env python3
"""Soak and load test: a simulated server on this machine (runs for minutes, not in CI).

``--in-flight`` sequences (64) are decoded at once, ``--requests`` (20,000) in all. Each
request is a random real-world schema from ../shared/jsonschemabench or, one time in
``--hostile-every`` (20), a case of the hostile corpus (tests/hostile/cases.py: schemas,
regexes, Lark grammars). Requests are compiled as the vLLM/SGLang integrations do
(decoder.integrations.compiler.SpecCompiler: cache bounded in bytes, deadline that stops
the compile, stop ids; ``--compile-cache-mb``, and ``--mask-cache-mb`` for the process-wide
mask-cache budget); every step fills all masks with ``fill_masks`` on ``--threads`` (2) C++ threads and
draws each sequence's next token uniformly from its mask (EOS with probability 1/4 once
allowed), up to ``--max-tokens`` per request. Like the serving integrations, the
SpecCompiler limits glibc's malloc arenas to 2 (decoder.integrations.memory);
``DECODER_MALLOC_ARENAS=0`` runs with glibc's default instead.

Reported: throughput (tokens/s, requests/s), RSS over time (JSON series and an SVG plot),
compile and mask p50/p99, the mask-cache budget's state, and every error by kind; a
request whose error is not a ``DecoderError`` counts as a failure. Checks (exit 1 when one
fails): no failure, RSS growth after the first ``--warm`` (2,000) requests at most 5% (the
median RSS of the last tenth of the samples after warm-up over that of the first tenth),
mask caches within their budget.

    python bench/soak.py                                  # the full run (tens of minutes)
    python bench/soak.py --requests 1500 --warm 300       # a short one
    python bench/soak.py --out bench/results/soak.json --plot bench/results/soak_rss.svg
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import random
import signal
import sys
import time
from collections import Counter

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tests"))

from decoder import DecoderError, Matcher, Vocabulary, fill_masks, mask_cache_budget  # noqa: E402
from decoder.integrations.compiler import SpecCompiler  # noqa: E402

SHARED = os.environ.get("DECODER_SHARED", os.path.join(os.path.dirname(ROOT), "shared"))


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def malloc_mb() -> tuple[float, float]:
    """(in use, free but kept) MiB of glibc's malloc, all arenas (mallinfo2); (0, 0) elsewhere."""
    try:
        import ctypes

        class _MI2(ctypes.Structure):
            _fields_ = [
                (n, ctypes.c_size_t)
                for n in "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks "
                "keepcost".split()
            ]

        f = ctypes.CDLL("libc.so.6").mallinfo2
        f.restype = _MI2
        m = f()
        return (m.uordblks + m.hblkhd) / 2**20, m.fordblks / 2**20
    except (OSError, AttributeError):
        return 0.0, 0.0


def pymalloc_mb() -> tuple[float, float]:
    """(arenas held, bytes in allocated blocks) MiB of CPython's small-object allocator
    (sys._debugmallocstats, which writes to the C stderr: read back through a temporary
    file); (0, 0) where it prints neither."""
    import tempfile

    with tempfile.TemporaryFile() as tmp:
        sys.stderr.flush()
        saved = os.dup(2)
        try:
            os.dup2(tmp.fileno(), 2)
            sys._debugmallocstats()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        tmp.seek(0)
        text = tmp.read().decode("utf-8", "replace")
    held = used = 0.0
    for line in text.splitlines():
        if "bytes/arena" in line:
            held = int(line.split("=")[-1].replace(",", "")) / 2**20
        elif line.startswith("# bytes in allocated blocks"):
            used = int(line.split("=")[-1].replace(",", "")) / 2**20
    return held, used


def load_schemas(limit_per_file: int) -> list[str]:
    out = []
    for path in sorted(glob.glob(os.path.join(SHARED, "jsonschemabench", "*.jsonl"))):
        with open(path) as f:
            for i, line in enumerate(f):
                if i >= limit_per_file:
                    break
                rec = json.loads(line)
                out.append(json.dumps(rec.get("schema", rec)))
    return out


def load_hostile(max_bytes: int) -> list[tuple[str, str, str]]:
    """(case id, kind for SpecCompiler, spec text) of the small hostile cases."""
    from hostile.cases import CASES
    from hostile.make_corpus import source_bytes

    kinds = {"schema": "json", "schema_text": "json", "regex": "regex", "lark": "grammar"}
    out = []
    for c in CASES.values():
        if c.kind not in kinds or c.options or c.limits or not c.as_file:
            continue
        data = source_bytes(c.kind, c.make())
        if data is None or len(data) > max_bytes:
            continue
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            continue
        out.append((c.id, kinds[c.kind], text))
    return out


def svg_plot(series: list[tuple[int, float]], path: str, title: str) -> None:
    """A minimal SVG line plot of (requests done, RSS MB) (no plotting library needed)."""
    if len(series) < 2:
        return
    w, h, pad = 720, 360, 50
    xs = [p[0] for p in series]
    ys = [p[1] for p in series]
    x0, x1 = min(xs), max(xs) or 1
    y0, y1 = 0.0, max(ys) * 1.1
    sx = lambda x: pad + (x - x0) / max(1, x1 - x0) * (w - 2 * pad)  # noqa: E731
    sy = lambda y: h - pad - (y - y0) / max(1e-9, y1 - y0) * (h - 2 * pad)  # noqa: E731
    pts = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in series)
    ticks = "".join(
        f'<text x="{pad - 6}" y="{sy(v):.1f}" font-size="11" text-anchor="end">{v:.0f}</text>'
        f'<line x1="{pad}" x2="{w - pad}" y1="{sy(v):.1f}" y2="{sy(v):.1f}" stroke="#ddd"/>'
        for v in np.linspace(y0, y1, 5)
    )
    svg = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}">'
        f'<rect width="100%" height="100%" fill="white"/>{ticks}'
        f'<polyline fill="none" stroke="#1f77b4" stroke-width="2" points="{pts}"/>'
        f'<text x="{w / 2}" y="20" font-size="14" text-anchor="middle">{title}</text>'
        f'<text x="{w / 2}" y="{h - 10}" font-size="12" text-anchor="middle">requests done (0 .. {x1})</text>'
        f'<text x="14" y="{h / 2}" font-size="12" transform="rotate(-90 14 {h / 2})" text-anchor="middle">RSS (MB)</text>'
        f"</svg>"
    )
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        f.write(svg)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--requests", type=int, default=20_000)
    ap.add_argument("--in-flight", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--max-tokens", type=int, default=48)
    ap.add_argument("--hostile-every", type=int, default=20)
    ap.add_argument(
        "--warm", type=int, default=2_000, help="RSS growth is measured after this many requests"
    )
    ap.add_argument("--tokenizer", default=os.path.join(SHARED, "tokenizers", "llama3"))
    ap.add_argument("--schemas-per-file", type=int, default=200)
    ap.add_argument(
        "--deadline",
        type=float,
        default=2.0,
        help="compile deadline (s), as DECODER_COMPILE_DEADLINE_S",
    )
    ap.add_argument("--mask-cache-mb", type=int, default=128, help="process-wide mask-cache budget")
    ap.add_argument(
        "--compile-cache-mb",
        type=int,
        default=256,
        help="bytes of compiled grammars the SpecCompiler keeps (DECODER_COMPILE_CACHE_BYTES)",
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "results", "soak.json"))
    ap.add_argument("--plot", default=os.path.join(ROOT, "bench", "results", "soak_rss.svg"))
    a = ap.parse_args(argv)

    rng = random.Random(a.seed)
    mask_cache_budget(a.mask_cache_mb << 20)
    vocab = Vocabulary.from_path(a.tokenizer)
    schemas = load_schemas(a.schemas_per_file)
    hostile = load_hostile(100_000)
    if not schemas:
        print(f"no schemas under {SHARED}/jsonschemabench", file=sys.stderr)
        return 2
    sc = SpecCompiler(
        vocab, deadline_s=a.deadline, cache_size=256, cache_bytes=a.compile_cache_mb << 20
    )
    eos_list = sorted(vocab.eos_ids)
    words = (vocab.model_vocab_size + 31) // 32
    print(
        f"soak: {a.requests} requests, {a.in_flight} in flight, {len(schemas)} schemas, "
        f"{len(hostile)} hostile cases, vocabulary {vocab.size} tokens",
        flush=True,
    )

    errors: Counter = Counter()
    failures: list[str] = []
    compile_s: list[float] = []
    mask_s: list[float] = []  # per fill_masks call, per row
    slow: list[dict] = []  # requests whose compile + Matcher took over 5 s
    rss: list[tuple[int, float]] = []
    # (requests done, RSS, malloc in use, malloc free, live compiled grammars, mask-cache MiB,
    # compile_grammar's cache size) at each RSS sample: where the memory is
    mem: list[tuple] = []

    def sample_mem():
        from decoder import compile as _compile

        used, free = malloc_mb()
        py_held, py_used = pymalloc_mb()
        b = mask_cache_budget()
        mem.append(
            (
                done,
                round(rss[-1][1], 1),
                round(used, 1),
                round(free, 1),
                b["grammars"],
                round(b["bytes"] / 2**20, 1),
                len(_compile._compiled),
                round(py_held, 1),
                round(py_used, 1),
            )
        )

    started = done = tokens = 0
    slots: list = []  # [matcher, tokens so far]
    t_start = time.perf_counter()

    def start_one():
        nonlocal started, done
        while started < a.requests:
            started += 1
            if a.hostile_every and rng.randrange(a.hostile_every) == 0 and hostile:
                cid, kind, spec = rng.choice(hostile)
                what = f"hostile:{cid}"
            else:
                kind, spec, what = "json", rng.choice(schemas), "schema"
            t0 = time.perf_counter()
            t_cg = None
            try:
                cg = sc.compile(kind, spec)
                t_cg = time.perf_counter() - t0
                m = Matcher(cg)
            except DecoderError as e:
                errors[
                    f"{what.split(':')[0]}:{type(e).__name__}:{getattr(e, 'limit', '') or ''}"
                ] += 1
                done += 1
                continue
            except Exception as e:  # noqa: BLE001 - a failure: reported, not raised
                failures.append(f"{what}: {type(e).__name__}: {str(e)[:300]}")
                done += 1
                continue
            finally:
                compile_s.append(time.perf_counter() - t0)
                if compile_s[-1] > 5.0:  # past the deadline: which request, and where
                    slow.append(
                        dict(
                            what=what if what != "schema" else f"schema:{schemas.index(spec)}",
                            seconds=round(compile_s[-1], 2),
                            compile_s=None if t_cg is None else round(t_cg, 2),
                            request=started,
                        )
                    )
            slots.append([m, 0])
            return

    for _ in range(a.in_flight):
        start_one()
    out = np.zeros((a.in_flight, words), dtype=np.int32)
    next_sample = 0
    # SIGINT / SIGTERM: stop after the current step and report what was done (marked
    # "interrupted"), for a run that cannot be given its full time
    stop: list[int] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda signum, frame: stop.append(signum))
    while slots and not stop:
        t0 = time.perf_counter()
        try:
            fill_masks([s[0] for s in slots], out, threads=a.threads)
        except DecoderError as e:
            # one sequence over a step limit: find it, drop it, go on
            errors[f"mask:{type(e).__name__}:{getattr(e, 'limit', '') or ''}"] += 1
            keep = []
            for s in slots:
                try:
                    s[0].compute_mask(np.zeros(words, dtype=np.int32))
                    keep.append(s)
                except DecoderError:
                    done += 1
            slots[:] = keep
            while len(slots) < a.in_flight and started < a.requests:
                start_one()
            continue
        dt = time.perf_counter() - t0
        mask_s.extend([dt / len(slots)] * len(slots))
        finished = []
        for k, s in enumerate(slots):
            bits = np.unpackbits(out[k].view(np.uint8), bitorder="little")[: vocab.model_vocab_size]
            ids = np.flatnonzero(bits)
            if len(ids) == 0:
                failures.append("a matcher allowed no token (not even EOS)")
                finished.append(k)
                continue
            ends = [e for e in eos_list if e < len(bits) and bits[e]]
            if ends and (rng.random() < 0.25 or s[1] >= a.max_tokens or len(ends) == len(ids)):
                t = ends[0]
            elif s[1] >= a.max_tokens:
                finished.append(k)
                continue
            else:
                choices = ids if not ends else np.setdiff1d(ids, ends, assume_unique=True)
                t = int(choices[rng.randrange(len(choices))])
            try:
                ok = s[0].commit(int(t))
            except DecoderError as e:
                errors[f"commit:{type(e).__name__}:{getattr(e, 'limit', '') or ''}"] += 1
                finished.append(k)
                continue
            if not ok:
                failures.append(f"commit refused token {t} that its mask allowed")
            tokens += 1
            s[1] += 1
            if s[0].is_terminated():
                finished.append(k)
        for k in reversed(finished):
            slots.pop(k)
            done += 1
        while len(slots) < a.in_flight and started < a.requests:
            start_one()
        if done >= next_sample:
            rss.append((done, rss_mb()))
            sample_mem()
            next_sample = done + max(1, a.requests // 200)
            if len(rss) % 20 == 0:
                el = time.perf_counter() - t_start
                print(
                    f"  {done}/{a.requests} requests, {tokens} tokens, {el:.0f} s, RSS {rss[-1][1]:.0f} MB, "
                    f"malloc {mem[-1][2]:.0f} MB in use + {mem[-1][3]:.0f} MB free, "
                    f"{mem[-1][4]} grammars, "
                    f"errors {sum(errors.values())}, failures {len(failures)}",
                    flush=True,
                )
    elapsed = time.perf_counter() - t_start
    rss.append((done, rss_mb()))
    sample_mem()
    after_warm = [r for n, r in rss if n >= min(a.warm, done)]
    growth = (after_warm[-1] / after_warm[0] - 1) if len(after_warm) >= 2 else 0.0
    # the same, robust to where the caches' sawtooth is at two single samples (a big grammar
    # evicts dozens of small ones at once): median of the first vs the last tenth of the
    # samples after warm-up
    w = max(1, len(after_warm) // 10)
    trend = (
        float(np.median(after_warm[-w:])) / float(np.median(after_warm[:w])) - 1
        if len(after_warm) >= 2
        else 0.0
    )
    budget = mask_cache_budget()
    trim_ms = None  # what one of the engine's malloc_trim(0) calls costs on this heap
    try:
        import ctypes

        t0 = time.perf_counter()
        ctypes.CDLL("libc.so.6").malloc_trim(0)
        trim_ms = round((time.perf_counter() - t0) * 1e3, 2)
    except (OSError, AttributeError):
        pass
    pct = lambda xs, q: float(np.percentile(xs, q)) if xs else 0.0  # noqa: E731
    report = dict(
        interrupted=bool(stop),
        requests=done,
        tokens=tokens,
        seconds=round(elapsed, 1),
        tokens_per_s=round(tokens / elapsed, 1),
        requests_per_s=round(done / elapsed, 2),
        compile_p50_ms=round(pct(compile_s, 50) * 1e3, 2),
        compile_p99_ms=round(pct(compile_s, 99) * 1e3, 2),
        compile_max_ms=round(max(compile_s) * 1e3, 1) if compile_s else 0,
        slow_requests=slow[:50],
        mask_p50_us=round(pct(mask_s, 50) * 1e6, 1),
        mask_p99_us=round(pct(mask_s, 99) * 1e6, 1),
        rss_first_mb=round(rss[0][1], 1),
        rss_after_warm_mb=round(after_warm[0], 1) if after_warm else None,
        rss_last_mb=round(rss[-1][1], 1),
        rss_growth_after_warm=round(growth, 4),
        rss_growth_after_warm_medians=round(trend, 4),
        rss_max_after_warm_mb=round(max(after_warm), 1) if after_warm else None,
        rss_min_after_warm_mb=round(min(after_warm), 1) if after_warm else None,
        mask_cache=budget,
        malloc_trim_ms=trim_ms,
        compiled_cache_mb=round(sc.cached_bytes() / 2**20, 1),
        malloc_arenas=sc.malloc_arenas,  # None: glibc's default (DECODER_MALLOC_ARENAS=0)
        compiler_stats=sc.stats,
        errors=dict(errors.most_common()),
        failures=failures[:100],
        n_failures=len(failures),
        rss_series=rss,
        memory_series_fields="done rss_mb malloc_used_mb malloc_free_mb grammars mask_cache_mb "
        "compile_cache_len pymalloc_arenas_mb pymalloc_used_mb".split(),
        memory_series=mem,
        args=vars(a),
    )
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    with open(a.out, "w") as f:
        json.dump(report, f, indent=1)
    svg_plot(rss, a.plot, f"soak: RSS over {done} requests ({a.in_flight} in flight)")
    print(
        json.dumps({k: v for k, v in report.items() if k not in ("rss_series", "args")}, indent=1)
    )
    # growth: the medians' ratio (a single sample's place on the caches' sawtooth is noise,
    # both are reported)
    ok = not failures and trend <= 0.05 and budget["bytes"] <= budget["limit"]
    print(
        f"soak: {'PASS' if ok else 'FAIL'} (failures {len(failures)}, RSS growth after warm-up "
        f"{trend:.1%} (medians of the first and last tenth; last/first sample {growth:.1%}), "
        f"mask caches {budget['bytes'] >> 20} of {budget['limit'] >> 20} MiB)"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
