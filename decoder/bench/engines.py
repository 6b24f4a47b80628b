"""Mask-level engine adapters and the teacher-forcing driver (bench/maskbench.py, bench/jsts.py).

Every constrained-decoding engine is wrapped in one small adapter class with the same interface:

    name                         short id used on the command line and in tables
    options                      dict of the (default, documented) options in use, printed with results
    compile(schema) -> compiled  build whatever the engine needs for this schema; raise on refusal
    matcher(compiled) -> m       a fresh matcher at the start of the output
    fill(m, row)                 write the allowed-token bitmask (int32, bit t%32 of word t//32) into row
    is_allowed(row, t) -> bool   read one bit back (plain numpy, identical for every engine)
    commit(m, t) -> bool         advance by token t; False if the engine refuses it
    accepts_eos(m, row) -> bool  may the output end here (EOS allowed / accepting state)?

Adapters import their engine lazily, in `setup()`, so a missing package drops that engine only.
The driver runs each engine in its own worker process (`EngineWorker`, on
`decoder.bench.common.IsolatedProcess`), so a compile that hangs or
a crash can be cut off (timeout, then the worker is killed and restarted) without touching the
other engines, and only one engine runs at a time: the machine is not shared while timing.

Nothing here downloads anything: tokenizers come from a local folder (Hugging Face format).
"""

from __future__ import annotations

import gc
import json
import multiprocessing as mp
import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from .common import (
    IsolatedProcess,
    fmt,
    limit_memory,
    markdown_table,
    quantiles,
    ratio,
    serialize,
    shared_default,
)
from .common import short_error as _short

# fmt, markdown_table, quantiles, ratio and serialize are re-exported: the scripts use them as engines.<name>
__all__ = [
    "ADAPTERS",
    "ALL_ENGINES",
    "DEFAULT_TOKENIZER",
    "EngineWorker",
    "TokenizerContext",
    "fmt",
    "markdown_table",
    "quantiles",
    "ratio",
    "serialize",
    "start_background_load",
    "start_engines",
    "stop_background_load",
    "teacher_force",
    "token_bytes_table",
]


DEFAULT_TOKENIZER = shared_default("tokenizers/llama3")
ALL_ENGINES = ["decoder", "llguidance", "xgrammar", "outlines"]


# --------------------------------------------------------------------------------------------
# Tokenizer context (same for every engine)
# --------------------------------------------------------------------------------------------


class TokenizerContext:
    """The Hugging Face tokenizer plus the facts every adapter needs: model vocab width and EOS.

    `mask_vocab` is the number of logits of the model (family.json `model_vocab_size` when the
    folder has one, else len(tokenizer)); bitmask rows are ceil(mask_vocab / 32) int32 words.
    `eos` is the tokenizer's own eos_token_id: the one token whose bit is checked at the end, for
    every engine, so that all engines are asked the same question.
    """

    def __init__(self, path: str):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        import transformers

        transformers.logging.set_verbosity_error()
        from transformers import AutoTokenizer

        self.path = path
        self.tok = AutoTokenizer.from_pretrained(path)
        fam = {}
        fam_path = os.path.join(path, "family.json")
        if os.path.exists(fam_path):
            with open(fam_path) as f:
                fam = json.load(f)
        self.family = fam.get("family", os.path.basename(path.rstrip("/")))
        self.mask_vocab = int(fam.get("model_vocab_size") or len(self.tok))
        self.eos = int(
            self.tok.eos_token_id if self.tok.eos_token_id is not None else fam["eos_ids"][0]
        )
        self.eos_ids = [int(x) for x in fam.get("eos_ids", [self.eos])]
        self.words = (self.mask_vocab + 31) // 32

    def encode(self, text: str) -> list[int]:
        return self.tok.encode(text, add_special_tokens=False)


def token_bytes_table(tok) -> dict[int, bytes]:
    """Byte string of every ordinary (non-special) token of a HF tokenizer, from
    :class:`decoder.vocab.Vocabulary` (the one tokenizer-to-bytes routine of the project).
    Used by the outlines adapter, whose Vocabulary takes raw bytes; the other engines read the
    tokenizer themselves."""
    from decoder.vocab import Vocabulary

    v = Vocabulary.from_tokenizer(tok)
    special = set(v.special_ids)
    return {i: b for i, b in enumerate(v.tokens) if i not in special and b}


def is_allowed(row: np.ndarray, t: int) -> bool:
    return bool((int(row[t >> 5]) >> (t & 31)) & 1)


def _version(dist: str) -> str:
    from .common import version_of

    return version_of(dist)


# --------------------------------------------------------------------------------------------
# Adapters
# --------------------------------------------------------------------------------------------


class Adapter:
    name = "?"
    dist = "?"  # PyPI distribution name, for the version

    def __init__(self, ctx: TokenizerContext):
        self.ctx = ctx
        self.options: dict[str, Any] = {}
        self.setup()

    @property
    def version(self) -> str:
        return _version(self.dist)

    def setup(self) -> None:
        raise NotImplementedError

    def new_row(self) -> np.ndarray:
        return np.zeros(self.ctx.words, dtype=np.int32)

    def compile(self, schema: Any) -> Any:
        raise NotImplementedError

    def matcher(self, compiled: Any) -> Any:
        raise NotImplementedError

    def fill(self, m: Any, row: np.ndarray) -> None:
        raise NotImplementedError

    is_allowed = staticmethod(is_allowed)

    def commit(self, m: Any, t: int) -> bool:
        raise NotImplementedError

    def accepts_eos(self, m: Any, row: np.ndarray) -> bool:
        self.fill(m, row)
        return is_allowed(row, self.ctx.eos)

    # Whether the last fill was the first mask in its lexer state (None: the engine cannot
    # tell; the benchmark then splits cold/warm by the step index where decoder could).
    def last_cold(self, m: Any) -> bool | None:
        return None


_NOTHING_VALID = object()


class _RejectAll:
    """The matcher of a schema that no value satisfies: nothing is ever allowed."""

    last_mask_cold = False

    def compute_mask(self, row):
        row[:] = 0

    def commit(self, t):
        return False

    def is_accepting(self):
        return False


class DecoderAdapter(Adapter):
    """Ours. Grammar.from_json_schema(schema, whitespace="flexible") -> Matcher(grammar, vocab);
    compute_mask(row); commit.

    Compile time = Grammar.from_json_schema + constructing one Matcher (so that any per-grammar,
    per-vocabulary work done on the first Matcher is counted, as llguidance's LLMatcher
    construction is). End of output: m.is_accepting().
    """

    name = "decoder"
    dist = "decoder"
    json_options: dict = {}

    def setup(self):
        import decoder

        missing = [a for a in ("Grammar", "Matcher") if not hasattr(decoder, a)]
        if missing:
            raise ImportError(
                f"decoder has no {', '.join(missing)} yet (package at {getattr(decoder, '__path__', '?')})"
            )
        import decoder.grammar.json_schema  # noqa: F401  (imported here, not in the first compile)

        try:  # the front end imports it at its first enum check (100-240 ms, once per process)
            import jsonschema  # noqa: F401
        except ImportError:
            pass
        from decoder.vocab import Vocabulary

        self.decoder = decoder
        self.vocab = Vocabulary.from_tokenizer(self.ctx.tok)
        width = None
        for attr in ("mask_vocab_size", "vocab_size", "size", "n_vocab"):
            v = getattr(self.vocab, attr, None)
            if isinstance(v, int) and v > 0:
                width = v
                break
        if width is None:
            try:
                width = len(self.vocab)
            except TypeError:
                width = self.ctx.mask_vocab
        self.words = (max(width, self.ctx.mask_vocab) + 31) // 32
        # other documents $ref may name (the Test Suite's remotes/, served at
        # http://localhost:1234/ in its convention): what a user passes as remotes=
        self.remotes = None
        rdir = os.environ.get("DECODER_BENCH_REMOTES")
        if rdir:
            import json
            from pathlib import Path

            root = Path(rdir)
            self.remotes = {
                "http://localhost:1234/" + f.relative_to(root).as_posix(): json.loads(f.read_text())
                for f in sorted(root.rglob("*.json"))
            }
        self.options = {
            "whitespace": "flexible (like the peers' defaults)",
            "remotes": rdir or None,
            "vocab_width": width,
            "DECODER_WALK_THREADS": os.environ.get(
                "DECODER_WALK_THREADS", "default (min(2, cores))"
            ),
            "package": os.path.dirname(os.path.abspath(decoder.__file__)),
            **self.json_options,
        }

    @property
    def version(self) -> str:
        return getattr(self.decoder, "__version__", None) or _version("decoder")

    def new_row(self):
        return np.zeros(self.words, dtype=np.int32)

    def compile(self, schema):
        # flexible whitespace, pinned: the peers accept any whitespace too, and so do the
        # dataset's instances (our default, "pretty", would refuse tabs and long runs)
        from decoder.errors import UnsatisfiableSchemaError

        try:
            g = self.decoder.Grammar.from_json_schema(
                schema, whitespace="flexible", remotes=self.remotes, **self.json_options
            )
        except UnsatisfiableSchemaError:
            # decoder refuses a schema no value satisfies; as a validator that answers
            # "invalid" for every instance, which is what the peers' empty grammars do
            return _NOTHING_VALID
        self.decoder.Matcher(g, self.vocab)
        return g

    def matcher(self, compiled):
        if compiled is _NOTHING_VALID:
            return _RejectAll()
        return self.decoder.Matcher(compiled, self.vocab)

    def fill(self, m, row):
        m.compute_mask(row)

    def last_cold(self, m):
        return bool(getattr(m, "last_mask_cold", False))

    def commit(self, m, t):
        return bool(m.commit(t))

    def accepts_eos(self, m, row):
        return bool(m.is_accepting())


class LLGuidanceAdapter(Adapter):
    """llguidance: LLTokenizer from the HF tokenizer (llguidance.hf.from_tokenizer), grammar from
    LLMatcher.grammar_from_json_schema(schema) with default JsonCompileOptions (flexible whitespace
    `[\\x20\\x0A\\x0D\\x09]+` between tokens, separators "," and ":"), LLMatcher per instance
    (deep_copy of the compiled one), llguidance.numpy.fill_next_token_bitmask, consume_token.
    A grammar error does not raise in LLMatcher(): it sets is_error(); we raise then.
    End of output: EOS bit in the mask (llguidance sets it exactly when the matcher accepts)."""

    name = "llguidance"
    dist = "llguidance"

    def setup(self):
        import llguidance
        import llguidance.hf
        import llguidance.numpy as lnp

        self.llg = llguidance
        self.lnp = lnp
        self.lltok = llguidance.hf.from_tokenizer(
            self.ctx.tok, n_vocab=self.ctx.mask_vocab, eos_token=self.ctx.eos
        )
        self.options = {
            "json_compile_options": "defaults (whitespace_flexible=true, separators ',' ':')",
            "limits": "defaults",
            "eos": self.ctx.eos,
        }

    def compile(self, schema):
        g = self.llg.LLMatcher.grammar_from_json_schema(schema)
        m = self.llg.LLMatcher(self.lltok, g, log_level=0)
        if m.is_error():
            raise ValueError(m.get_error())
        return m

    def matcher(self, compiled):
        return compiled.deep_copy()

    def new_row(self):
        return np.zeros((1, self.ctx.words), dtype=np.int32)

    def fill(self, m, row):
        self.lnp.fill_next_token_bitmask(m, row, 0)

    @staticmethod
    def is_allowed(row, t):
        return is_allowed(row[0], t)

    def commit(self, m, t):
        return bool(m.consume_token(t))

    def accepts_eos(self, m, row):
        self.fill(m, row)
        return is_allowed(row[0], self.ctx.eos)


class XGrammarAdapter(Adapter):
    """xgrammar: TokenizerInfo.from_huggingface(tok, vocab_size=model vocab), GrammarCompiler with
    the cache off (every compile is measured cold; duplicates in the data would otherwise be free)
    and default max_threads, compile_json_schema(schema) with its defaults (any_whitespace=True,
    strict_mode=True: no properties/items beyond those the schema lists). GrammarMatcher per
    instance, fill_next_token_bitmask into a torch int32 [1, words] tensor, accept_token.
    End of output: EOS bit in the mask (xgrammar sets stop tokens when the grammar can end)."""

    name = "xgrammar"
    dist = "xgrammar"
    compile_kwargs: dict[str, Any] = {}

    def setup(self):
        import torch
        import xgrammar as xgr

        self.xgr = xgr
        info = xgr.TokenizerInfo.from_huggingface(
            self.ctx.tok, vocab_size=self.ctx.mask_vocab, stop_token_ids=[self.ctx.eos]
        )
        self.compiler = xgr.GrammarCompiler(info, cache_enabled=False)
        self.torch = torch
        self.options = {
            "compile_json_schema": dict(self.compile_kwargs)
            or "defaults (any_whitespace=True, strict_mode=True)",
            "cache_enabled": False,
            "max_threads": "default (8)",
            "stop_token_ids": [self.ctx.eos],
        }

    def compile(self, schema):
        return self.compiler.compile_json_schema(json.dumps(schema), **self.compile_kwargs)

    def matcher(self, compiled):
        return self.xgr.GrammarMatcher(compiled)

    def new_row(self):
        t = self.xgr.allocate_token_bitmask(1, self.ctx.mask_vocab)
        return _TorchRow(t)

    def fill(self, m, row):
        m.fill_next_token_bitmask(row.tensor)

    @staticmethod
    def is_allowed(row, t):
        return is_allowed(row.view, t)

    def commit(self, m, t):
        return bool(m.accept_token(t))

    def accepts_eos(self, m, row):
        self.fill(m, row)
        return is_allowed(row.view, self.ctx.eos)


class XGrammarCompliantAdapter(XGrammarAdapter):
    """xgrammar with strict_mode=False (MaskBench's "xgr-compliant"): extra properties allowed as
    the JSON Schema spec says. Not in the default engine list."""

    name = "xgrammar_compliant"
    compile_kwargs = {"any_whitespace": True, "strict_mode": False}


class _TorchRow:
    def __init__(self, tensor):
        self.tensor = tensor
        self.view = tensor.numpy()[0]


class OutlinesAdapter(Adapter):
    """outlines-core: Vocabulary(eos, {token bytes: [ids]}) built from the HF tokenizer's byte
    strings (special tokens left out), regex = json_schema.build_regex_from_schema(schema) with
    defaults (whitespace_pattern None -> `[ ]?`, max_recursion_depth=3), Index(regex, vocab)
    (compile time includes building the Index, which is where outlines spends it), Guide per
    instance, Guide.write_mask_into(row), Guide.advance(t, return_tokens=False).
    End of output: EOS bit in the mask (outlines allows EOS in final states)."""

    name = "outlines"
    dist = "outlines_core"

    def setup(self):
        from outlines_core import Guide, Index, Vocabulary
        from outlines_core.json_schema import build_regex_from_schema

        self.Guide, self.Index = Guide, Index
        self.build_regex = build_regex_from_schema
        table = token_bytes_table(self.ctx.tok)
        m: dict[bytes, list[int]] = {}
        for i, b in table.items():
            if i == self.ctx.eos:
                continue
            m.setdefault(b, []).append(i)
        self.vocab = Vocabulary(self.ctx.eos, m)
        self.options = {
            "build_regex_from_schema": "defaults (whitespace_pattern=None -> '[ ]?', max_recursion_depth=3)",
            "eos": self.ctx.eos,
        }

    def compile(self, schema):
        rx = self.build_regex(json.dumps(schema))
        return self.Index(rx, self.vocab)

    def matcher(self, compiled):
        return self.Guide(compiled)

    def fill(self, m, row):
        m.write_mask_into(row.ctypes.data, row.size, 4)

    def commit(self, m, t):
        try:
            m.advance(t, return_tokens=False)
            return True
        except ValueError:
            return False


class DecoderAnyOrderAdapter(DecoderAdapter):
    """Ours with ``property_order="any"``: an object's declared keys in any order (the
    instances' order is not always the schema's); not one of the default engines."""

    name = "decoder-any-order"
    json_options = {"property_order": "any"}


ADAPTERS: dict[str, type[Adapter]] = {
    "decoder": DecoderAdapter,
    "decoder-any-order": DecoderAnyOrderAdapter,
    "llguidance": LLGuidanceAdapter,
    "xgrammar": XGrammarAdapter,
    "xgrammar_compliant": XGrammarCompliantAdapter,
    "outlines": OutlinesAdapter,
}


# --------------------------------------------------------------------------------------------
# Teacher forcing
# --------------------------------------------------------------------------------------------


def teacher_force(
    ad: Adapter,
    compiled: Any,
    ids: list[int],
    row,
    times: list[float],
    cpu: list[float] | None = None,
    cold: list[int] | None = None,
) -> dict:
    """Feed `ids` one by one: mask, check the token's bit, commit; at the end check EOS.

    Appends one time per token to `times` (microseconds of wall clock, fill + commit, the bit
    check left out), the same span in thread CPU time to `cpu`, and to `cold` 1/0/-1 (the fill
    was the first mask in its lexer state / was not / the engine cannot tell).
    Returns {"accepted": bool, "step": index of the first refused token (len(ids) = EOS refused),
    "disagree": bit set but commit refused (or raised), "steps": times appended}.
    """
    m = ad.matcher(compiled)
    # No cyclic-GC pass inside the timed steps (as timeit does): a gen-2 collection of the
    # worker's heap costs milliseconds and would land on whichever engine allocates then.
    gc_was = gc.isenabled()
    gc.disable()
    n0 = len(times)
    try:
        r = _teacher_force_steps(
            ad, m, ids, row, times, cpu if cpu is not None else [], cold if cold is not None else []
        )
    finally:
        if gc_was:
            gc.enable()
    r["steps"] = len(times) - n0
    return r


def _teacher_force_steps(ad, m, ids, row, times, cpu, cold) -> dict:
    pc = time.perf_counter_ns
    tc = time.thread_time_ns
    last_cold = ad.last_cold
    for i, t in enumerate(ids):
        c0 = tc()
        t0 = pc()
        ad.fill(m, row)
        t1 = pc()
        c1 = tc()
        c = last_cold(m)
        cold.append(-1 if c is None else int(c))
        if not ad.is_allowed(row, t):
            times.append((t1 - t0) * 1e-3)
            cpu.append((c1 - c0) * 1e-3)
            return {"accepted": False, "step": i, "disagree": False}
        c2 = tc()
        t2 = pc()
        ok = ad.commit(m, t)
        t3 = pc()
        c3 = tc()
        times.append((t1 - t0 + t3 - t2) * 1e-3)
        cpu.append((c1 - c0 + c3 - c2) * 1e-3)
        if not ok:
            return {"accepted": False, "step": i, "disagree": True}
    if not ad.accepts_eos(m, row):
        return {"accepted": False, "step": len(ids), "disagree": False}
    return {"accepted": True, "step": len(ids), "disagree": False}


# --------------------------------------------------------------------------------------------
# Worker process per engine
# --------------------------------------------------------------------------------------------


def _worker_main(conn, engine: str, tokenizer_path: str, mem_limit_gb: float):
    limit_memory(mem_limit_gb)
    try:
        ctx = TokenizerContext(tokenizer_path)
        ad = ADAPTERS[engine](ctx)
        conn.send(("ready", {"version": ad.version, "options": ad.options}))
    except BaseException as e:  # noqa: BLE001 - any failure drops the engine
        conn.send(("unavailable", _short(e, 500)))
        return
    row = ad.new_row()
    while True:
        try:
            msg = conn.recv()
        except EOFError:
            return
        if msg is None:
            return
        schema, instances = msg
        t0 = time.perf_counter()
        try:
            compiled = ad.compile(schema)
        except BaseException as e:  # noqa: BLE001
            conn.send(("compile_error", _short(e)))
            continue
        conn.send(("compiled", (time.perf_counter() - t0) * 1e3))
        times: list[float] = []
        cpu: list[float] = []
        cold: list[int] = []
        results = []
        for ids in instances:
            n0 = len(times)
            try:
                results.append(teacher_force(ad, compiled, ids, row, times, cpu, cold))
            except BaseException as e:  # noqa: BLE001
                del times[n0:], cpu[n0:], cold[n0:]
                results.append({"accepted": False, "step": -1, "exception": _short(e), "steps": 0})
        conn.send(
            (
                "done",
                results,
                np.asarray(times, dtype=np.float32),
                np.asarray(cpu, dtype=np.float32),
                np.asarray(cold, dtype=np.int8),
            )
        )
        del compiled


class EngineWorker:
    """One engine in its own process. `run(schema, instances)` returns a dict:

    status: "ok" | "compile_error" | "timeout" | "crash" | "test_timeout"
    compile_ms, error, results (per instance, see teacher_force), times (np.float32 µs per token).
    """

    def __init__(
        self,
        engine: str,
        tokenizer_path: str,
        compile_timeout: float = 30.0,
        test_timeout: float = 300.0,
        mem_limit_gb: float = 8.0,
        start_timeout: float = 600.0,
    ):
        self.engine = engine
        self.compile_timeout = compile_timeout
        self.test_timeout = test_timeout
        self.process = IsolatedProcess(
            _worker_main, (engine, tokenizer_path, mem_limit_gb), start_timeout
        )
        self.info: dict | None = None
        self.unavailable: str | None = None
        self.restarts = 0

    def launch(self) -> None:
        self.process.launch()

    def wait_ready(self) -> bool:
        ok, payload = self.process.wait_ready()
        if ok:
            self.info = payload
        else:
            self.unavailable = payload
        return ok

    def start(self) -> bool:
        self.launch()
        return self.wait_ready()

    def kill(self):
        self.process.kill()

    def close(self):
        self.process.close()

    def run(self, schema: Any, instances: list[list[int]]) -> dict:
        if not self.process.alive():
            self.restarts += 1
            if not self.start():
                return {"status": "crash", "error": f"restart failed: {self.unavailable}"}
        try:
            self.process.send((schema, instances))
        except (BrokenPipeError, OSError) as e:
            self.kill()
            return {"status": "crash", "error": _short(e)}
        msg = self.process.recv(self.compile_timeout)
        if msg is None:
            self.kill()
            return {
                "status": "timeout",
                "error": f"compile took more than {self.compile_timeout:g} s",
            }
        if msg[0] == "crash":
            self.kill()
            return {"status": "crash", "error": f"while compiling: {msg[1]}"}
        if msg[0] == "compile_error":
            return {"status": "compile_error", "error": msg[1]}
        compile_ms = msg[1]
        msg = self.process.recv(self.test_timeout)
        if msg is None or msg[0] == "crash":
            self.kill()
            what = "timeout" if msg is None else "crash"
            return {
                "status": "test_" + what,
                "compile_ms": compile_ms,
                "error": f"teacher forcing {what} (limit {self.test_timeout:g} s)",
            }
        _, results, times, cpu, cold = msg
        return {
            "status": "ok",
            "compile_ms": compile_ms,
            "results": results,
            "times": times,
            "cpu": cpu,
            "cold": cold,
        }


# --------------------------------------------------------------------------------------------
# Starting the engines, background load (serialize/quantiles/fmt/ratio: decoder.bench.common)
# --------------------------------------------------------------------------------------------


def start_engines(
    names: list[str], tokenizer_path: str, log: Callable[[str], None], **kw
) -> tuple[dict[str, EngineWorker], dict[str, str]]:
    """Start one worker per engine; returns (workers, {dropped engine: why})."""
    workers: dict[str, EngineWorker] = {}
    dropped: dict[str, str] = {}
    t0 = time.time()
    pending = []
    for n in names:
        if n not in ADAPTERS:
            dropped[n] = f"unknown engine (known: {', '.join(ADAPTERS)})"
            log(f"[{n}] dropped: {dropped[n]}")
            continue
        w = EngineWorker(n, tokenizer_path, **kw)
        w.launch()  # all workers load their tokenizer at the same time
        pending.append(w)
    for w in pending:
        if w.wait_ready():
            assert w.info is not None, "a ready worker has sent its info"
            workers[w.engine] = w
            log(
                f"[{w.engine}] ready in {time.time() - t0:.1f} s: version {w.info['version']}, options {w.info['options']}"
            )
        else:
            dropped[w.engine] = w.unavailable or "failed to start"
            log(f"[{w.engine}] dropped: {dropped[w.engine]}")
    return workers, dropped


def busy_loop() -> None:
    """A background-load process: spins until killed (bench/maskbench.py --background-load)."""
    x = 0
    while True:
        x = (x * 1103515245 + 12345) & 0xFFFFFFFF


def start_background_load(n: int) -> list:
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=busy_loop, daemon=True) for _ in range(n)]
    for p in procs:
        p.start()
    return procs


def stop_background_load(procs: list) -> None:
    for p in procs:
        if p.is_alive():
            p.kill()
        p.join(5)
