#!/usr/bin/env python3
"""Serving benchmark: B concurrent sequences, each with its own fresh JSON schema, masks filled
for the whole batch in one call per step, compiles of arriving requests on the critical path.

The request stream. Records of ../shared/jsonschemabench that have a valid instance, shuffled
with --seed; each request is one record's schema and one of its valid instances (picked with the
same seed), serialized as MaskBench does and as models write JSON (`json.dumps(data,
ensure_ascii=False)`, separators ", " and ": "), tokenized once in the parent with the Llama-3
tokenizer (no special tokens), at most --max-tokens tokens; a schema appears once in the whole
stream, so every arrival is a schema its engine has never seen.

The admission rule (one rule, the same stream for every engine). Before anything is timed, every
engine screens the candidate requests in its own process: compile (at most --compile-timeout
seconds), then teacher-force the instance token by token and check EOS at its end. A request that
any engine refuses (compile error or timeout, a refused token, EOS refused, a crash) is counted
against that engine and left out of the stream for all engines. So the timed runs compare the
engines on identical request streams and identical token streams.

The server loop (one configuration = engine, threads T, batch size B, --steps timed steps).
B slots; slot i receives its first request at step floor(i * ramp / B) (ramp = the median
instance length of the stream, in tokens), so that once the ramp is over the slots are at all
phases of their instances: fresh grammars (first masks in new lexer states) mix with older ones
as in a server. Every step:
  1. arrivals: each free slot receives the next request of the stream; the engine compiles its
     schema and makes a matcher for it (timed: part of this step, and reported per compile);
  2. one call fills all B masks (decoder: `decoder.fill_masks(matchers, out, threads=T)`;
     llguidance: `llguidance.torch.fill_next_token_bitmask_par` on an `LLExecutor(T)`;
     xgrammar: `BatchGrammarMatcher(max_threads=T).batch_fill_next_token_bitmask`);
  3. each sequence checks its next token in its mask (untimed; a token whose bit is not set
     counts as a violation) and commits it (timed); a sequence whose instance is done checks that
     EOS is allowed instead, and its slot takes a new request at the next step.
The ramp steps run but are not counted; the --steps steps after it are, all with B sequences.
Step time = arrivals' compiles + fill + commits. Throughput = B * steps / sum of step times
(sequence-steps per second of grammar work; the model's forward pass is not simulated).

Threads. T=1: every engine single-threaded (decoder `DECODER_WALK_THREADS=1` and
`fill_masks(threads=1)`; llguidance `LLExecutor(num_threads=1)`; xgrammar `max_threads=1` for its
batch matcher and its compiler). T=2: the same knobs at 2 (for decoder, its library defaults on a
2-core machine: one walk may use a second thread, and fill_masks splits the rows over 2 threads).

Every engine runs in its own worker process (decoder.bench.common.IsolatedProcess), one process
per (engine, T); the batch sizes run back to back on the same machine, engine after engine, each
batch size on its own slice of the stream (the same slice for every engine), so that no schema is
compiled twice in one process. Python's cyclic GC is off inside the timed loop.

Examples:
  python bench/serving.py                                   # the defaults (~10 min on 2 cores)
  python bench/serving.py --batch 1,8 --threads 1 --steps 50 --engines decoder,llguidance
  python bench/serving.py --out docs/results/serving.json --plot docs/results/serving.png
"""

from __future__ import annotations

import argparse
import gc
import glob
import json
import os
import platform
import random
import shlex
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from decoder.bench import engines as E
from decoder.bench.common import (
    IsolatedProcess,
    limit_memory,
    shared_default,
    short_error,
    version_of,
)

DATA_DIR = shared_default("jsonschemabench")
DEFAULT_ENGINES = ["decoder", "llguidance", "xgrammar"]


# --------------------------------------------------------------------------------------------
# Requests
# --------------------------------------------------------------------------------------------


def load_candidates(data_dir: str, seed: int, subsets: Sequence[str] | None = None) -> list[dict]:
    """Every record with a valid instance, one valid instance each, shuffled with `seed`;
    a schema that appears twice (same JSON) is kept once. `subsets`: only these files."""
    rng = random.Random(seed)
    out = []
    seen = set()
    for f in sorted(glob.glob(os.path.join(data_dir, "*.jsonl"))):
        subset = os.path.basename(f)[: -len(".jsonl")]
        if subsets and subset not in subsets:
            continue
        with open(f) as fh:
            for line in fh:
                if not line.strip():
                    continue
                r = json.loads(line)
                valid = [t for t in r.get("tests") or [] if t.get("valid")]
                if not valid:
                    continue
                key = json.dumps(r["schema"], sort_keys=True)
                if key in seen:
                    continue
                seen.add(key)
                out.append(
                    {"id": r.get("id"), "subset": subset, "schema": r["schema"], "valid": valid}
                )
    rng.shuffle(out)
    for r in out:
        r["data"] = rng.choice(r.pop("valid"))["data"]
    return out


def schedule(lengths: Sequence[int], batch: int, total_steps: int, ramp: int) -> int:
    """How many requests of a stream with these token lengths a run of `total_steps` steps
    (ramp included) takes: the arrival rule of `serve`, without an engine. A request of L
    tokens arriving at step a commits at steps a..a+L-1, checks EOS at a+L and frees its slot
    for an arrival at a+L+1. Returns len(lengths)+1 when the stream runs out."""
    free_at = [(i * ramp) // batch for i in range(batch)]
    n = 0
    for s in range(total_steps):
        for i in range(batch):
            if free_at[i] == s:
                if n >= len(lengths):
                    return len(lengths) + 1
                free_at[i] = s + lengths[n] + 1
                n += 1
    return n


# --------------------------------------------------------------------------------------------
# Batched engines
# --------------------------------------------------------------------------------------------


class BatchEngine:
    """One engine's serving API: `arrive(schema)` compiles and returns a fresh matcher,
    `alloc(B)` returns (buffer the engine fills, int32 numpy view of it), `fill(matchers,
    buffer)` fills rows 0..len(matchers)-1 in one call, `commit(m, t)` advances by a token."""

    name = "?"

    def __init__(self, ctx: E.TokenizerContext, threads: int) -> None:
        self.ctx = ctx
        self.threads = threads
        self.info: dict[str, Any] = {}

    def arrive(self, schema: Any) -> Any:
        raise NotImplementedError

    def alloc(self, batch: int) -> tuple[Any, np.ndarray]:
        raise NotImplementedError

    def fill(self, matchers: list[Any], buf: Any) -> None:
        raise NotImplementedError

    def commit(self, m: Any, t: int) -> bool:
        raise NotImplementedError


class DecoderBatch(BatchEngine):
    name = "decoder"

    def __init__(self, ctx, threads):
        super().__init__(ctx, threads)
        ad = E.ADAPTERS["decoder"](ctx)
        import decoder

        self.decoder, self.vocab, self.words = decoder, ad.vocab, ad.words
        self.Grammar, self.Matcher, self.fill_masks = (
            decoder.Grammar,
            decoder.Matcher,
            decoder.fill_masks,
        )
        self.info = {
            "version": ad.version,
            "api": "decoder.fill_masks(matchers, out, threads=T)",
            "DECODER_WALK_THREADS": threads,
            "whitespace": "flexible",
            "package": ad.options["package"],
        }

    def arrive(self, schema):
        g = self.Grammar.from_json_schema(schema, whitespace="flexible")
        return self.Matcher(g, self.vocab)

    def alloc(self, batch):
        a = np.zeros((batch, self.words), dtype=np.int32)
        return a, a

    def fill(self, matchers, buf):
        self.fill_masks(matchers, buf, threads=self.threads)

    def commit(self, m, t):
        return bool(m.commit(t))


class LLGuidanceBatch(BatchEngine):
    name = "llguidance"

    def __init__(self, ctx, threads):
        super().__init__(ctx, threads)
        ad = E.ADAPTERS["llguidance"](ctx)
        self.llg, self.lltok = ad.llg, ad.lltok
        self.executor = ad.llg.LLExecutor(num_threads=threads)
        try:
            import llguidance.torch as lt
            import torch

            self.torch, self.par = torch, lt.fill_next_token_bitmask_par
            api = "llguidance.torch.fill_next_token_bitmask_par(LLExecutor(T), ...)"
        except ImportError:
            self.torch, self.par = None, ad.lnp.fill_next_token_bitmask_par
            api = "llguidance.numpy.fill_next_token_bitmask_par(LLExecutor(T), ...)"
        self.info = {
            "version": ad.version,
            "api": api,
            "LLExecutor.num_threads": threads,
            "json_compile_options": "defaults",
        }

    def arrive(self, schema):
        g = self.llg.LLMatcher.grammar_from_json_schema(schema)
        m = self.llg.LLMatcher(self.lltok, g, log_level=0)
        if m.is_error():
            raise ValueError(m.get_error())
        return m

    def alloc(self, batch):
        if self.torch is not None:
            t = self.torch.zeros((batch, self.ctx.words), dtype=self.torch.int32)
            return t, t.numpy()
        a = np.zeros((batch, self.ctx.words), dtype=np.int32)
        return a, a

    def fill(self, matchers, buf):
        self.par(self.executor, [(m, i) for i, m in enumerate(matchers)], buf)

    def commit(self, m, t):
        return bool(m.consume_token(t))


class XGrammarBatch(BatchEngine):
    name = "xgrammar"

    def __init__(self, ctx, threads):
        super().__init__(ctx, threads)
        import xgrammar as xgr

        self.xgr = xgr
        info = xgr.TokenizerInfo.from_huggingface(
            ctx.tok, vocab_size=ctx.mask_vocab, stop_token_ids=[ctx.eos]
        )
        self.compiler = xgr.GrammarCompiler(info, max_threads=threads, cache_enabled=False)
        self.batch = xgr.BatchGrammarMatcher(max_threads=threads)
        self.info = {
            "version": version_of("xgrammar"),
            "api": "xgrammar.BatchGrammarMatcher(max_threads=T).batch_fill_next_token_bitmask",
            "GrammarCompiler": f"max_threads={threads}, cache_enabled=False",
            "compile_json_schema": "defaults (any_whitespace=True, strict_mode=True)",
        }

    def arrive(self, schema):
        return self.xgr.GrammarMatcher(self.compiler.compile_json_schema(json.dumps(schema)))

    def alloc(self, batch):
        t = self.xgr.allocate_token_bitmask(batch, self.ctx.mask_vocab)
        return t, t.numpy()

    def fill(self, matchers, buf):
        self.batch.batch_fill_next_token_bitmask(matchers, buf)

    def commit(self, m, t):
        return bool(m.accept_token(t))


BATCH_ENGINES: dict[str, type[BatchEngine]] = {
    "decoder": DecoderBatch,
    "llguidance": LLGuidanceBatch,
    "xgrammar": XGrammarBatch,
}


# --------------------------------------------------------------------------------------------
# The server loop
# --------------------------------------------------------------------------------------------


def _allowed(view: np.ndarray, r: int, t: int) -> bool:
    return bool((int(view[r, t >> 5]) >> (t & 31)) & 1)


def serve(
    eng: BatchEngine,
    requests: Sequence[tuple[Any, list[int]]],
    batch: int,
    steps: int,
    ramp: int,
    eos: int,
) -> dict[str, Any]:
    """Runs `ramp + steps` steps of B sequences over `requests` (schema, token ids), in order.

    Returns per timed step (µs): `step` (compiles + fill + commits), `compile` (the arrivals'
    compiles in that step), `fill`, `commit`, and `step_cpu` (the worker process's CPU time over
    the same spans, every thread of it); per arrival in a timed step: `compile_ms` (wall) and
    `compile_cpu_ms`; and
    counts: violations (a token or EOS whose bit was not set), refusals (a commit the engine
    refused: that sequence is dropped), finished sequences, arrivals, and `exhausted` when the
    stream ran out before the last step (the run stops there)."""
    pc = time.perf_counter_ns
    cp = time.process_time_ns  # the worker's CPU time, all its threads
    buf, view = eng.alloc(batch)
    first = [(i * ramp) // batch for i in range(batch)]
    slots: list[list[Any] | None] = [None] * batch  # [matcher, ids, position]
    nxt = 0
    step_us: list[float] = []
    comp_us: list[float] = []
    fill_us: list[float] = []
    commit_us: list[float] = []
    compile_ms: list[float] = []
    compile_cpu_ms: list[float] = []
    step_cpu_us: list[float] = []
    violations = refusals = finished = 0
    exhausted = False
    gc_was = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        for s in range(ramp + steps):
            timed = s >= ramp
            k0 = cp()
            t0 = pc()
            for i in range(batch):
                if slots[i] is None and s >= first[i]:
                    if nxt >= len(requests):
                        exhausted = True
                        break
                    schema, ids = requests[nxt]
                    nxt += 1
                    q0 = cp()
                    c0 = pc()
                    m = eng.arrive(schema)
                    c1 = pc()
                    if timed:
                        compile_ms.append((c1 - c0) * 1e-6)
                        compile_cpu_ms.append((cp() - q0) * 1e-6)
                    slots[i] = [m, ids, 0]
            if exhausted:
                break
            t1 = pc()
            live = [i for i in range(batch) if slots[i] is not None]
            ms = [slots[i][0] for i in live]  # type: ignore[index]
            eng.fill(ms, buf)
            t2 = pc()
            k2 = cp()
            toks = []
            for r, i in enumerate(live):
                sl = slots[i]
                assert sl is not None
                t = sl[1][sl[2]] if sl[2] < len(sl[1]) else eos
                if not _allowed(view, r, t):
                    violations += 1
                toks.append(t)
            k3 = cp()
            t3 = pc()
            for r, i in enumerate(live):
                sl = slots[i]
                assert sl is not None
                if sl[2] >= len(sl[1]):  # EOS checked: the sequence is done
                    slots[i] = None
                    finished += 1
                elif eng.commit(sl[0], toks[r]):
                    sl[2] += 1
                else:
                    refusals += 1
                    slots[i] = None
            t4 = pc()
            k4 = cp()
            if timed:
                step_us.append((t2 - t0 + t4 - t3) * 1e-3)
                step_cpu_us.append((k2 - k0 + k4 - k3) * 1e-3)
                comp_us.append((t1 - t0) * 1e-3)
                fill_us.append((t2 - t1) * 1e-3)
                commit_us.append((t4 - t3) * 1e-3)
    finally:
        if gc_was:
            gc.enable()
    f32 = lambda x: np.asarray(x, dtype=np.float64)  # noqa: E731
    return {
        "step_us": f32(step_us),
        "compile_us": f32(comp_us),
        "fill_us": f32(fill_us),
        "commit_us": f32(commit_us),
        "compile_ms": f32(compile_ms),
        "step_cpu_us": f32(step_cpu_us),
        "compile_cpu_ms": f32(compile_cpu_ms),
        "violations": violations,
        "refusals": refusals,
        "finished": finished,
        "arrivals": nxt,
        "exhausted": exhausted,
    }


def summarize(batch: int, res: dict[str, Any]) -> dict[str, Any]:
    st, cm = res["step_us"], res["compile_ms"]
    q = lambda a, p: float(np.percentile(a, p)) if a.size else None  # noqa: E731
    mc = st - res["compile_us"]
    total_s = float(st.sum()) * 1e-6
    return {
        "steps": int(st.size),
        "step_us_p50": q(st, 50),
        "step_us_p99": q(st, 99),
        "step_us_max": float(st.max()) if st.size else None,
        "step_us_mean": float(st.mean()) if st.size else None,
        "step_cpu_us_p50": q(res["step_cpu_us"], 50),
        "step_cpu_us_p99": q(res["step_cpu_us"], 99),
        "mask_commit_us_p50": q(mc, 50),
        "mask_commit_us_p99": q(mc, 99),
        "compiles": int(cm.size),
        "compile_ms_p50": q(cm, 50),
        "compile_ms_p99": q(cm, 99),
        "compile_ms_max": float(cm.max()) if cm.size else None,
        "compile_cpu_ms_p50": q(res["compile_cpu_ms"], 50),
        "compile_cpu_ms_p99": q(res["compile_cpu_ms"], 99),
        "compile_share": float(res["compile_us"].sum() / st.sum()) if st.size else None,
        "throughput": batch * st.size / total_s if total_s > 0 else None,
        "violations": res["violations"],
        "refusals": res["refusals"],
        "finished": res["finished"],
        "arrivals": res["arrivals"],
        "exhausted": res["exhausted"],
    }


# --------------------------------------------------------------------------------------------
# Worker process (one per engine and thread count)
# --------------------------------------------------------------------------------------------

_WARMUP_SCHEMA = {
    "type": "object",
    "properties": {"a": {"type": "string"}, "b": {"type": "integer"}},
}


def _serve_worker(conn, engine: str, tokenizer_path: str, threads: int, mem_limit_gb: float):
    limit_memory(mem_limit_gb)
    os.environ["DECODER_WALK_THREADS"] = str(threads)
    os.environ["RAYON_NUM_THREADS"] = str(threads)
    try:
        ctx = E.TokenizerContext(tokenizer_path)
        eng = BATCH_ENGINES[engine](ctx, threads)
        # one untimed request through every code path (first compile, first fill, commit)
        ids = ctx.encode(E.serialize({"a": "x y", "b": 1}))
        serve(eng, [(_WARMUP_SCHEMA, ids)], 1, len(ids) + 1, 0, ctx.eos)
        conn.send(("ready", eng.info))
    except BaseException as e:  # noqa: BLE001 - any failure drops the engine
        conn.send(("unavailable", short_error(e, 500)))
        return
    while True:
        try:
            msg = conn.recv()
        except EOFError:
            return
        if msg is None:
            return
        batch, steps, ramp, requests = msg
        try:
            conn.send(("done", serve(eng, requests, batch, steps, ramp, ctx.eos)))
        except BaseException as e:  # noqa: BLE001
            conn.send(("error", short_error(e, 500)))


# --------------------------------------------------------------------------------------------
# Screening (the admission rule)
# --------------------------------------------------------------------------------------------


class ScreenCache:
    """Peers' screening verdicts kept between runs (a JSON file), keyed by engine, engine
    version, compile timeout, schema and token ids. Kept: accepted, compile error, token or EOS
    refused, and compile timeout (which depends on the machine's load: keeping it keeps the
    stream the same from run to run; delete the file to screen afresh); never a crash.
    Decoder's verdicts are never kept (its version string does not follow its code), so decoder
    always screens afresh."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.data: dict[str, str] = {}
        self.hits = 0
        self.lock = threading.Lock()
        self.unsaved = 0
        if path and os.path.exists(path):
            try:
                with open(path) as f:
                    self.data = json.load(f)
            except (OSError, ValueError):
                self.data = {}

    @staticmethod
    def key(engine: str, version: str, timeout: float, c: dict) -> str:
        import hashlib

        h = hashlib.sha1(json.dumps([c["schema"], c["ids"]], sort_keys=True).encode())
        return f"{engine}|{version}|{timeout:g}|{h.hexdigest()}"

    def get(self, engine: str, key: str) -> tuple[bool, str | None]:
        if not self.path or engine == "decoder" or key not in self.data:
            return False, None
        self.hits += 1
        v = self.data[key]
        return True, (None if v == "ok" else v)

    def put(self, engine: str, key: str, verdict: str | None) -> None:
        if self.path and engine != "decoder" and verdict in (None, *DEFINITE):
            with self.lock:
                self.data[key] = verdict or "ok"
                self.unsaved += 1
            if self.unsaved >= 20:
                self.save()

    def save(self) -> None:
        """Writes the file (atomically: a run cut off keeps what it had screened)."""
        if not self.path:
            return
        with self.lock:
            os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
            tmp = f"{self.path}.{os.getpid()}.tmp"
            with open(tmp, "w") as f:
                json.dump(self.data, f)
            os.replace(tmp, self.path)
            self.unsaved = 0


# Kept between runs: definite verdicts, and a compile timeout (so that the stream stays the same
# from run to run on a loaded machine; the key holds the limit). A crash is never kept.
DEFINITE = ("compile_error", "token_refused", "eos_refused", "timeout")


class Screener:
    """The admission rule: each engine's verdict on each candidate request, None (accepted) or
    why not. Engines screen in parallel (untimed), each in its own worker process
    (decoder.bench.engines.EngineWorker, DECODER_WALK_THREADS=1), started on first need."""

    def __init__(
        self,
        names: list[str],
        tokenizer: str,
        compile_timeout: float,
        cache: ScreenCache,
        log: Callable[[str], None],
    ) -> None:
        self.names, self.tokenizer, self.timeout = names, tokenizer, compile_timeout
        self.cache, self.log = cache, log
        self.workers: dict[str, E.EngineWorker] = {}
        self.dropped: dict[str, str] = {}
        self.versions = {n: version_of(E.ADAPTERS[n].dist) for n in names}

    def _worker(self, name: str) -> E.EngineWorker | None:
        if name not in self.workers and name not in self.dropped:
            w = E.EngineWorker(
                name, self.tokenizer, compile_timeout=self.timeout, test_timeout=120.0
            )
            if w.start():
                self.workers[name] = w
            else:
                self.dropped[name] = w.unavailable or "failed to start"
                self.log(f"[{name}] dropped: {self.dropped[name]}")
        return self.workers.get(name)

    def screen(self, cands: list[dict]) -> dict[str, list[str | None]]:
        out: dict[str, list[str | None]] = {}

        def one(name: str) -> None:
            verdicts: list[str | None] = []
            for k, c in enumerate(cands):
                key = ScreenCache.key(name, self.versions[name], self.timeout, c)
                hit, v = self.cache.get(name, key)
                if not hit:
                    w = self._worker(name)
                    if w is None:
                        return
                    v = self.verdict(w.run(c["schema"], [c["ids"]]), len(c["ids"]))
                    self.cache.put(name, key, v)
                verdicts.append(v)
                if (k + 1) % 100 == 0:
                    self.log(f"  [{name}] screened {k + 1}/{len(cands)}")
            out[name] = verdicts

        th = [threading.Thread(target=one, args=(n,)) for n in self.names if n not in self.dropped]
        for t in th:
            t.start()
        for t in th:
            t.join()
        self.cache.save()
        return out

    @staticmethod
    def verdict(res: dict, n: int) -> str | None:
        if res["status"] != "ok":
            return str(res["status"])
        r0 = res["results"][0]
        if r0["accepted"]:
            return None
        if r0.get("exception"):
            return "exception"
        return "eos_refused" if r0["step"] == n else "token_refused"

    def close(self) -> None:
        for w in self.workers.values():
            w.close()


# --------------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------------


def markdown_table(rows: list[dict]) -> str:
    cols = [
        "B",
        "T",
        "engine",
        "steps",
        "step p50 µs",
        "step p99 µs",
        "step max µs",
        "step CPU p50 µs",
        "step CPU p99 µs",
        "mask+commit p50 µs",
        "mask+commit p99 µs",
        "compiles",
        "compile p50 ms",
        "compile p99 ms",
        "compile CPU p50 ms",
        "compile share",
        "seq·steps/s",
        "violations",
    ]
    out = []
    for r in rows:
        if r.get("error"):
            out.append([r["batch"], r["threads"], r["engine"], r["error"]])
            continue
        out.append(
            [
                r["batch"],
                r["threads"],
                r["engine"],
                r["steps"],
                E.fmt(r["step_us_p50"]),
                E.fmt(r["step_us_p99"]),
                E.fmt(r["step_us_max"]),
                E.fmt(r.get("step_cpu_us_p50")),
                E.fmt(r.get("step_cpu_us_p99")),
                E.fmt(r["mask_commit_us_p50"]),
                E.fmt(r["mask_commit_us_p99"]),
                r["compiles"],
                E.fmt(r["compile_ms_p50"], 2),
                E.fmt(r["compile_ms_p99"]),
                E.fmt(r.get("compile_cpu_ms_p50"), 2),
                "–" if r["compile_share"] is None else f"{100 * r['compile_share']:.0f}%",
                E.fmt(r["throughput"]),
                r["violations"] + r["refusals"],
            ]
        )
    return E.markdown_table(cols, out, left=(2,))


def target_lines(rows: list[dict], batch: int = 32) -> list[str]:
    """Issue 23's serving target: at B=32, decoder's per-step p99 below both peers'."""
    out = []
    for t in sorted({r["threads"] for r in rows}):
        by = {
            r["engine"]: r
            for r in rows
            if r["batch"] == batch and r["threads"] == t and not r.get("error")
        }
        if "decoder" not in by or len(by) < 2:
            continue
        d = by["decoder"]["step_us_p99"]
        peers = {e: r["step_us_p99"] for e, r in by.items() if e != "decoder"}
        met = all(d < p for p in peers.values())
        vs = ", ".join(f"{e} {E.fmt(p)} µs" for e, p in peers.items())
        cpu = ", ".join(
            f"{e} {E.fmt(r.get('step_cpu_us_p99'))}"
            for e, r in by.items()
            if r.get("step_cpu_us_p99")
        )
        out.append(
            f"B={batch}, T={t}: decoder step p99 {E.fmt(d)} µs vs {vs}"
            + (f" (CPU-time p99: {cpu} µs)" if cpu else "")
            + f": target (below both peers, wall clock) {'met' if met else 'NOT met'}"
        )
    return out


def _series(rows: list[dict]) -> list[tuple[str, int, str, list[dict]]]:
    """(engine, threads, colour index, rows by B) for every engine and thread count."""
    engines = sorted({r["engine"] for r in rows}, key=lambda e: (e != "decoder", e))
    out = []
    for k, e in enumerate(engines):
        for t in sorted({r["threads"] for r in rows}):
            rs = sorted(
                (r for r in rows if r["engine"] == e and r["threads"] == t and not r.get("error")),
                key=lambda r: r["batch"],
            )
            if rs:
                out.append((e, t, f"C{k}", rs))
    return out


PANELS = [
    ("step_us_p99", "per-step p99 (µs)"),
    ("step_us_p50", "per-step p50 (µs)"),
    ("throughput", "throughput (sequence·steps/s)"),
]


def svg_plot(path: str, rows: list[dict], title: str) -> None:
    """The plot without matplotlib: one SVG, log-log panels, a line per engine and T."""
    import math

    palette = {"C0": "#1f77b4", "C1": "#ff7f0e", "C2": "#2ca02c", "C3": "#d62728"}
    series = _series(rows)
    pw, ph, pad, top = 360, 300, 55, 40
    w, h = pw * len(PANELS), ph + top + 70
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif">',
        '<rect width="100%" height="100%" fill="white"/>',
        f'<text x="{w / 2}" y="18" font-size="12" text-anchor="middle">{title}</text>',
    ]
    bs = sorted({r["batch"] for _, _, _, rs in series for r in rs}) or [1]
    lb0, lb1 = math.log2(bs[0]), math.log2(bs[-1]) if bs[-1] > bs[0] else math.log2(bs[0]) + 1
    for k, (key, label) in enumerate(PANELS):
        vals = [r[key] for _, _, _, rs in series for r in rs if r.get(key)]
        if not vals:
            continue
        ly0, ly1 = math.floor(math.log10(min(vals))), math.ceil(math.log10(max(vals)))
        ly1 = max(ly1, ly0 + 1)
        x0 = k * pw + pad

        def sx(b, x0=x0):
            return x0 + (math.log2(b) - lb0) / (lb1 - lb0) * (pw - pad - 15)

        def sy(v, ly0=ly0, ly1=ly1):
            return top + (ly1 - math.log10(v)) / (ly1 - ly0) * (ph - pad)

        parts.append(
            f'<text x="{x0 + (pw - pad) / 2}" y="{top - 8}" font-size="12" text-anchor="middle">{label}</text>'
        )
        for d in range(ly0, ly1 + 1):
            y = sy(10**d)
            parts.append(
                f'<line x1="{x0}" x2="{x0 + pw - pad - 15}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>'
                f'<text x="{x0 - 4}" y="{y + 4:.1f}" font-size="10" text-anchor="end">1e{d}</text>'
            )
        for b in bs:
            parts.append(
                f'<text x="{sx(b):.1f}" y="{top + ph - pad + 14}" font-size="10" text-anchor="middle">{b}</text>'
            )
        parts.append(
            f'<text x="{x0 + (pw - pad) / 2}" y="{top + ph - pad + 30}" font-size="10" '
            'text-anchor="middle">batch size B</text>'
        )
        for e, t, c, rs in series:
            pts = " ".join(f"{sx(r['batch']):.1f},{sy(r[key]):.1f}" for r in rs if r.get(key))
            dash = ' stroke-dasharray="6,4"' if t != series[0][1] else ""
            parts.append(
                f'<polyline fill="none" stroke="{palette[c]}" stroke-width="2"{dash} points="{pts}"/>'
            )
    for i, (e, t, c, _) in enumerate(series):
        y = top + ph - pad + 48 + 0 * i
        x = 20 + i * 150
        dash = ' stroke-dasharray="6,4"' if t != series[0][1] else ""
        parts.append(
            f'<line x1="{x}" x2="{x + 25}" y1="{y}" y2="{y}" stroke="{palette[c]}" stroke-width="2"{dash}/>'
            f'<text x="{x + 30}" y="{y + 4}" font-size="11">{e}, T={t}</text>'
        )
    parts.append("</svg>")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        f.write("".join(parts))


def plot(path: str, rows: list[dict], title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(PANELS), figsize=(16, 4.8))
    series = _series(rows)
    for e, t, c, rs in series:
        xs = [r["batch"] for r in rs]
        ls = "-" if t == series[0][1] else "--"
        for ax, (key, _) in zip(axes, PANELS):
            ax.plot(xs, [r[key] for r in rs], ls, marker="o", color=c, label=f"{e}, T={t}")
    for ax, (_, what) in zip(axes, PANELS):
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("batch size B (concurrent sequences)")
        ax.set_title(what)
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=110)


# --------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------


def write_json(path: str, doc: dict) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        json.dump(doc, f, indent=1, ensure_ascii=False)
    os.replace(tmp, path)


def report(doc: dict, plot_path: str, log: Callable[[str], None]) -> None:
    """The markdown table, the issue-23 target line and the plot of a results document."""
    rows, meta = doc["rows"], doc["meta"]
    print()
    print(f"## {meta['title']}" + ("" if meta.get("complete", True) else " (cut off: partial)"))
    print()
    print(f"`{meta['command']}`")
    print()
    print(markdown_table(rows))
    print()
    for line in target_lines(rows):
        print(f"- {line}")
    print(f"- refused at screening (left out for every engine): {meta['refused_at_screening']}")
    for n, i in doc["engines"].items():
        print(f"- `{n}` {i.get('version', '?')}: {i}")
    if plot_path:
        try:
            plot(plot_path, rows, meta["title"])
        except ImportError:
            plot_path = os.path.splitext(plot_path)[0] + ".svg"
            svg_plot(plot_path, rows, meta["title"])
            log("matplotlib is not installed: the plot is an SVG")
        log(f"plot: {plot_path}")


def _ints(s: str) -> list[int]:
    return [int(x) for x in s.split(",") if x.strip()]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--batch", default="1,8,32,128", help="batch sizes B (comma list)")
    ap.add_argument("--threads", default="1,2", help="thread counts T (comma list)")
    ap.add_argument(
        "--steps", type=int, default=50, help="timed steps per configuration (after the ramp)"
    )
    ap.add_argument(
        "--seed", type=int, default=0, help="shuffles the records and picks the instances"
    )
    ap.add_argument(
        "--engines", default=",".join(DEFAULT_ENGINES), help="from: " + ", ".join(BATCH_ENGINES)
    )
    ap.add_argument("--data", default=DATA_DIR, help="folder of <subset>.jsonl files")
    ap.add_argument("--tokenizer", default=E.DEFAULT_TOKENIZER, help="tokenizer folder (HF format)")
    ap.add_argument(
        "--max-tokens", type=int, default=512, help="longest instance admitted, in tokens"
    )
    ap.add_argument(
        "--ramp", type=int, default=0, help="ramp steps (0: the median instance length)"
    )
    ap.add_argument(
        "--compile-timeout",
        type=float,
        default=10.0,
        help="screening: seconds per compile before the request is refused",
    )
    ap.add_argument(
        "--run-timeout",
        type=float,
        default=900.0,
        help="seconds per configuration before it is cut off",
    )
    ap.add_argument(
        "--mem-limit-gb", type=float, default=8.0, help="address-space limit of each worker"
    )
    ap.add_argument(
        "--screen-cache",
        default=os.path.join(
            os.path.expanduser("~"), ".cache", "decoder-bench", "serving_screen.json"
        ),
        help="file of the peers' screening verdicts kept between runs ('' = none; decoder always screens)",
    )
    ap.add_argument(
        "--screen-only",
        action="store_true",
        help="screen the requests this command would use (filling --screen-cache), then stop",
    )
    ap.add_argument("--out", default="", help="JSON results file")
    ap.add_argument(
        "--plot", default="", help="PNG plot (default: --out with .png, when --out is given)"
    )
    ap.add_argument(
        "--report",
        default="",
        metavar="JSON",
        help="print the table of an earlier --out file (and redo its plot with --plot), run nothing",
    )
    args = ap.parse_args(argv)

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    if args.report:
        with open(args.report) as f:
            report(json.load(f), args.plot, log)
        return 0

    batches, threads = _ints(args.batch), _ints(args.threads)
    names = [e for e in args.engines.split(",") if e]
    unknown = [e for e in names if e not in BATCH_ENGINES]
    if unknown:
        log(f"unknown engines {unknown} (known: {', '.join(BATCH_ENGINES)})")
        return 2
    t_start = time.time()
    load0 = os.getloadavg()
    os.environ["DECODER_WALK_THREADS"] = "1"  # screening workers: single-threaded
    os.environ.setdefault("RAYON_NUM_THREADS", "1")
    ctx = E.TokenizerContext(args.tokenizer)
    cands = load_candidates(args.data, args.seed)
    pool = []
    for c in cands:
        c["ids"] = ctx.encode(E.serialize(c["data"]))
        if 0 < len(c["ids"]) <= args.max_tokens:
            pool.append(c)
    if not pool:
        log("no requests")
        return 2
    ramp = args.ramp or int(np.median([len(c["ids"]) for c in pool[:500]]))
    total = ramp + args.steps
    log(
        f"{len(pool)} candidate requests (<= {args.max_tokens} tokens), ramp {ramp} steps, {args.steps} timed steps"
    )

    # Screening, in chunks until every batch size has its slice of the stream.
    cache = ScreenCache(args.screen_cache)
    screener = Screener(names, args.tokenizer, args.compile_timeout, cache, log)
    stream: list[dict] = []
    refused: dict[str, dict[str, int]] = {n: {} for n in names}
    screened = 0
    need = sum(schedule([len(c["ids"]) for c in pool], b, total, ramp) for b in batches)
    while True:
        short = need - len(stream)
        if short <= 0 or screened >= len(pool):
            break
        chunk = pool[screened : screened + int(short * 1.3) + 8]
        screened += len(chunk)
        t0 = time.time()
        verdicts = screener.screen(chunk)
        names = [n for n in names if n in verdicts]
        if not names:
            log("no engine available")
            return 2
        for k, c in enumerate(chunk):
            bad = {n: verdicts[n][k] for n in names if verdicts[n][k] is not None}
            for n, why in bad.items():
                refused[n][why] = refused[n].get(why, 0) + 1  # type: ignore[index]
            if not bad:
                stream.append(c)
        log(
            f"screened {screened} requests in {time.time() - t0:.0f} s ({cache.hits} peer verdicts "
            f"from {cache.path or 'no cache'}): {len(stream)} admitted; refused {refused}"
        )
        lens = [len(c["ids"]) for c in stream]
        need = 0
        for b in batches:
            need += schedule(lens[need:], b, total, ramp)
    screener.close()
    dropped = screener.dropped
    if args.screen_only:
        log(
            f"screened {screened} requests, {len(stream)} admitted; verdicts in {cache.path or '(no cache)'}"
        )
        return 0
    slices: dict[int, list[dict]] = {}
    off = 0
    for b in batches:
        n = schedule([len(c["ids"]) for c in stream[off:]], b, total, ramp)
        slices[b] = stream[off : off + n]
        off += n
    log(
        f"stream: {len(stream)} requests; per batch size: "
        + ", ".join(f"B={b}: {len(slices[b])}" for b in batches)
    )

    rows: list[dict] = []
    infos: dict[str, dict] = {}

    def make_doc(complete: bool) -> dict:
        load1 = os.getloadavg()
        title = (
            f"serving: {len(stream)} requests (seed {args.seed}), tokenizer {ctx.family}, "
            f"MaskBench serialization, {args.steps} timed steps after a {ramp}-step ramp, load avg "
            f"{load0[0]:.1f} -> {load1[0]:.1f} on {os.cpu_count()} cores, {time.time() - t_start:.0f} s"
        )
        meta = {
            "title": title,
            "complete": complete,
            "command": "python bench/serving.py "
            + shlex.join(argv if argv is not None else sys.argv[1:]),
            "seed": args.seed,
            "steps": args.steps,
            "ramp": ramp,
            "batches": batches,
            "threads": threads,
            "tokenizer": args.tokenizer,
            "family": ctx.family,
            "max_tokens": args.max_tokens,
            "compile_timeout_s": args.compile_timeout,
            "screen_cache": args.screen_cache,
            "peer_verdicts_from_cache": cache.hits,
            "candidates_screened": screened,
            "stream": len(stream),
            "slices": {str(b): [c["id"] for c in slices[b]] for b in batches},
            "refused_at_screening": refused,
            "dropped": dropped,
            "loadavg_start": load0,
            "loadavg_end": load1,
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "wall_s": time.time() - t_start,
        }
        return {"meta": meta, "engines": infos, "rows": rows, "targets": target_lines(rows)}

    for t in threads:
        procs = {
            n: IsolatedProcess(_serve_worker, (n, args.tokenizer, t, args.mem_limit_gb), 600.0)
            for n in names
        }
        for p in procs.values():
            p.launch()
        live = {}
        for n, p in procs.items():
            ok, info = p.wait_ready()
            if ok:
                live[n] = p
                infos[n] = info
            else:
                log(f"[{n}] T={t} unavailable: {info}")
        for b in batches:
            reqs = [(c["schema"], c["ids"]) for c in slices[b]]
            for n, p in live.items():
                row: dict[str, Any] = {"engine": n, "threads": t, "batch": b}
                if not p.alive():
                    row["error"] = "worker gone"
                    rows.append(row)
                    continue
                t0 = time.time()
                p.send((b, args.steps, ramp, reqs))
                msg = p.recv(args.run_timeout)
                if msg is None or msg[0] != "done":
                    row["error"] = "timeout" if msg is None else f"{msg[0]}: {msg[1]}"
                    if msg is None or msg[0] == "crash":
                        p.kill()
                else:
                    row.update(summarize(b, msg[1]))
                    row["wall_s"] = time.time() - t0
                rows.append(row)
                if args.out:  # as it goes: a run cut off keeps its rows
                    write_json(args.out, make_doc(False))
                log(
                    f"B={b} T={t} {n}: "
                    + (
                        row["error"]
                        if row.get("error")
                        else f"step p50 {E.fmt(row['step_us_p50'])} p99 {E.fmt(row['step_us_p99'])} µs, "
                        f"{row['compiles']} compiles, violations {row['violations']}, {row['wall_s']:.0f} s"
                    )
                )
        for p in procs.values():
            p.close()

    doc = make_doc(True)
    if args.out:
        write_json(args.out, doc)
        log(f"results: {args.out}")
    report(doc, args.plot or (os.path.splitext(args.out)[0] + ".png" if args.out else ""), log)
    return 0


if __name__ == "__main__":
    sys.exit(main())
