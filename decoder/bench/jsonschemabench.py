"""JSONSchemaBench end to end: a real model, real schemas, every engine on the same prompts.

::

    decoder bench jsonschemabench --quick                      # tiny model, a few schemas (CI)
    decoder bench jsonschemabench --limit 30 --out docs/results/jsonschemabench.json

For each schema of ``<data>/<subset>.jsonl`` (``../shared/jsonschemabench``) and each
engine: build the prompt (:func:`build_messages`), compile the schema (grammar
compilation time, GCT; ``--compile-timeout`` seconds, 10 by default: errors and
timeouts are counted, never fatal), generate greedily (time to first token, TTFT,
and time per output token, TPOT = (total - TTFT) / (tokens - 1)), and validate the
output with ``jsonschema`` (the draft the schema declares, else 2020-12, with a
format checker).  Per engine and subset it reports, as the paper does: declared
coverage (compiled / schemas), empirical coverage (valid outputs / schemas),
compliance (valid / compiled), GCT p50/p99, TTFT p50, TPOT p50, output tokens, and
the outputs cut off by ``--max-new-tokens``.

Everything runs in one worker process that holds the model and every engine
(:mod:`decoder.bench.hf_engines`); the main process enforces the time limits by
killing and restarting the worker, so a compile that hangs costs a restart, never
the run.  Every row is written to ``--out`` as soon as it is known; running the
same command again resumes (rows already there are skipped).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

from .._json_whitespace import DEFAULT_WHITESPACE, WHITESPACE_POLICIES
from .common import BenchError, IsolatedProcess, find_shared
from .common import short_error as _short

__all__ = [
    "add_arguments",
    "run",
    "run_benchmark",
    "summarize",
    "validate",
    "build_messages",
    "ROW_FIELDS",
    "SUMMARY_FIELDS",
    "BenchError",
]

QUICK_SUBSETS = ["Github_trivial", "Glaiveai2K", "Github_easy"]
QUICK_LIMIT = 3
QUICK_MAX_NEW_TOKENS = 48

#: every field of a row of the results file (``rows`` in the JSON), documented
ROW_FIELDS = {
    "engine": "engine name (decoder, decoder-noff, decoder-hf, llguidance, xgrammar, outlines, none)",
    "subset": "JSONSchemaBench subset (file name without .jsonl)",
    "id": "schema id within the subset",
    "status": "ok | compile_error | compile_timeout | prompt_too_long | gen_error | gen_timeout | crash",
    "error": "the error message when status is not ok (else null)",
    "compiled": "the engine accepted the schema (declared coverage); always true for none",
    "gct_ms": "grammar compilation time in ms (null when not compiled)",
    "prompt_tokens": "tokens in the prompt",
    "output_tokens": "tokens generated (EOS included when generated; fast-forwarded tokens included)",
    "forced_tokens": "tokens inserted by fast-forwarding without a model choice (decoder only)",
    "ttft_ms": "time to the first output token (prefill + first mask), ms",
    "tpot_ms": "time per output token after the first, ms: (total - ttft) / (output_tokens - 1)",
    "total_ms": "generation time, ms",
    "finish": "stop (EOS) | length (max_new_tokens reached)",
    "cut_off": "the output hit max_new_tokens before the engine ended it",
    "output": "the generated text (EOS left out)",
    "valid": "the output parses as JSON and validates against the schema",
    "validation_error": "why it does not validate (JSON error or the best-matching jsonschema error)",
}

#: the columns of the summary (``summary`` in the JSON, and the terminal table)
SUMMARY_FIELDS = {
    "n": "schemas run",
    "declared": "declared coverage: compiled / n",
    "empirical": "empirical coverage: valid outputs / n",
    "compliance": "valid / compiled",
    "gct_p50_ms": "GCT median over compiled schemas",
    "gct_p99_ms": "GCT 99th percentile",
    "ttft_p50_ms": "TTFT median",
    "tpot_p50_ms": "TPOT median",
    "out_tokens_p50": "median output tokens",
    "forced_share": "share of output tokens inserted by fast-forwarding",
    "cut_off": "outputs cut off by max_new_tokens",
    "invalid_complete": "outputs of compiled schemas that ended (EOS) and still do not validate",
    "prompt_too_long": "schemas whose prompt does not fit in the model's context with max_new_tokens",
    "errors": "compile errors + compile timeouts + generation errors/timeouts/crashes",
}


def list_subsets(data: Path) -> list[str]:
    return sorted(p.stem for p in data.glob("*.jsonl"))


def load_subset(data: Path, subset: str, limit: int | None) -> list[dict]:
    path = data / f"{subset}.jsonl"
    if not path.is_file():
        raise BenchError(
            f"subset {subset!r} not found ({path}); subsets in {data}: "
            f"{', '.join(list_subsets(data)) or 'none'}"
        )
    out = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                rec = json.loads(line)
                out.append({"id": str(rec["id"]), "schema": rec["schema"]})
                if limit is not None and len(out) >= limit:
                    break
    return out


SYSTEM_PROMPT = (
    "You answer with one JSON object that follows the JSON schema the user gives, and "
    "nothing else: no explanation, no code fence."
)
FEW_SHOT = [
    (
        {
            "type": "object",
            "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
            "required": ["name", "age"],
        },
        {"name": "Alice", "age": 30},
    ),
    (
        {
            "type": "object",
            "properties": {
                "title": {"type": "string"},
                "tags": {"type": "array", "items": {"type": "string"}},
            },
            "required": ["title"],
        },
        {"title": "Dune", "tags": ["novel", "science fiction"]},
    ),
]


def build_messages(schema: Any, style: str = "jsonschemabench") -> list[dict]:
    """The chat messages of one prompt.

    ``jsonschemabench``: a system instruction (answer with one JSON object following
    the schema), two short few-shot turns (schema -> object), then the schema.
    ``short``: one user message without the schema, for tiny models whose context is
    too short for schemas (``--quick``).
    """
    if style == "short":
        return [{"role": "user", "content": "Write a JSON object."}]
    msgs = [{"role": "system", "content": SYSTEM_PROMPT}]
    for s, example in FEW_SHOT:
        msgs.append({"role": "user", "content": "JSON schema:\n" + json.dumps(s)})
        msgs.append({"role": "assistant", "content": json.dumps(example)})
    msgs.append(
        {"role": "user", "content": "JSON schema:\n" + json.dumps(schema, ensure_ascii=False)}
    )
    return msgs


def prompt_ids(tokenizer, messages: list[dict]) -> list[int]:
    """Token ids of the messages: the chat template when the tokenizer has one, else plain
    ``role: content`` paragraphs ending with ``assistant:``."""
    if getattr(tokenizer, "chat_template", None):
        text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return list(tokenizer(text, add_special_tokens=False)["input_ids"])
    text = "\n\n".join(f"{m['role']}: {m['content']}" for m in messages) + "\n\nassistant:"
    return list(tokenizer(text)["input_ids"])


# ------------------------------------------------------------------ validation


def validate(schema: Any, text: str) -> tuple[bool, str | None]:
    """Does ``text`` parse as JSON and validate against ``schema``?  ``(valid, why not)``.

    The validator is the draft the schema's ``$schema`` declares (2020-12 when it declares
    none), with that draft's format checker.  A schema the validator itself cannot use
    counts as not valid, with the reason."""
    import jsonschema

    try:
        value = json.loads(text)
    except ValueError as e:
        return False, f"not JSON: {e}"[:300]
    try:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cls = jsonschema.validators.validator_for(
                schema, default=jsonschema.Draft202012Validator
            )
            v = cls(schema, format_checker=cls.FORMAT_CHECKER)
            err = jsonschema.exceptions.best_match(v.iter_errors(value))
    except Exception as e:  # noqa: BLE001 - unresolvable $ref, bad regex in the schema...
        return False, f"validator failed: {type(e).__name__}: {e}"[:300]
    if err is None:
        return True, None
    return False, f"{err.message} (at {'/'.join(map(str, err.absolute_path)) or 'root'})"[:300]


# ------------------------------------------------------------------ the worker process


def _load(model_name: str | None, threads: int | None):
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import torch
    import transformers

    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    if threads:
        torch.set_num_threads(threads)
    from ..models import load_model, model_eos_ids, model_vocab_size, vocabulary_for

    model, tok = load_model(model_name)
    model.eval()
    eos = model_eos_ids(model)
    vocab = vocabulary_for(tok, model_vocab_size(model), eos)
    cfg = (
        model.config.get_text_config() if hasattr(model.config, "get_text_config") else model.config
    )
    ctx = getattr(cfg, "max_position_embeddings", None)
    return model, tok, vocab, list(vocab.eos_ids), ctx


class _Server:
    """The model and the engines; answers one run request with its messages, in order."""

    def __init__(self, model_name, engine_names, threads, prompt_style, whitespace=None):
        import warnings

        warnings.filterwarnings("ignore")
        from .hf_engines import make_engine

        model, self.tok, vocab, eos, self.ctx = _load(model_name, threads)
        self.prompt_style = prompt_style
        self.engines, versions, dropped = {}, {}, {}
        for name in engine_names:
            try:
                self.engines[name] = make_engine(
                    name, model, self.tok, vocab, eos, whitespace=whitespace
                )
                versions[name] = self.engines[name].version
            except Exception as e:  # noqa: BLE001 - a missing peer drops that engine only
                dropped[name] = _short(e)
        if "none" in self.engines:  # warm-up: one-time kernel setup is not any engine's TTFT
            self.engines["none"].generate(
                None, prompt_ids(self.tok, build_messages({}, prompt_style))[:16], 2
            )
        name_or_path = getattr(model.config, "_name_or_path", None) or model_name
        self.info = {
            "versions": versions,
            "dropped": dropped,
            "context": self.ctx,
            "model": str(name_or_path),
            "vocab": vocab.model_vocab_size,
        }

    def serve(self, name, schema, max_new):
        """Yields ("compile_error", msg, prompt_tokens) or ("compiled", gct_ms, prompt_tokens)
        followed by ("generated", dict) | ("prompt_too_long", msg) | ("gen_error", msg)."""
        eng = self.engines[name]
        ids = prompt_ids(self.tok, build_messages(schema, self.prompt_style))
        t0 = time.perf_counter()
        try:
            compiled = eng.compile(schema)
        except Exception as e:  # noqa: BLE001
            yield ("compile_error", _short(e), len(ids))
            return
        yield ("compiled", (time.perf_counter() - t0) * 1e3, len(ids))
        try:
            if self.ctx is not None and len(ids) + max_new > self.ctx:
                yield (
                    "prompt_too_long",
                    f"{len(ids)} prompt tokens + {max_new} > context {self.ctx}",
                )
            else:
                yield ("generated", eng.generate(compiled, ids, max_new))
        except Exception as e:  # noqa: BLE001
            yield ("gen_error", _short(e))
        finally:
            try:
                eng.release(compiled)
            except Exception:  # noqa: BLE001
                pass


def _worker_main(conn, model_name, engine_names, threads, prompt_style, whitespace=None):
    try:
        server = _Server(model_name, engine_names, threads, prompt_style, whitespace)
        conn.send(("ready", server.info))
    except BaseException as e:  # noqa: BLE001
        conn.send(("failed", _short(e, 2000)))
        return
    while True:
        try:
            msg = conn.recv()
        except EOFError:
            return
        if msg is None:
            return
        for reply in server.serve(*msg[1:]):
            conn.send(reply)


class _InProcess:
    """An in-process server behind :class:`~decoder.bench.common.IsolatedProcess`'s
    interface (``isolate=False``: no time limits; tests)."""

    def __init__(self, server):
        self.server, self.pending = server, []

    def alive(self) -> bool:
        return True

    def send(self, msg):
        if msg is not None:
            self.pending.extend(self.server.serve(*msg[1:]))

    def recv(self, timeout=None):
        return self.pending.pop(0) if self.pending else None

    def kill(self) -> None:
        pass

    def close(self) -> None:
        pass


class Worker:
    """The worker process (:class:`~decoder.bench.common.IsolatedProcess`), with the time
    limits enforced from outside."""

    def __init__(
        self,
        model: str | None,
        engines: list[str],
        threads: int | None,
        prompt_style: str,
        compile_timeout: float,
        gen_timeout: float,
        start_timeout: float = 900.0,
        isolate: bool = True,
        whitespace: str | None = None,
    ):
        self.args = (model, engines, threads, prompt_style, whitespace)
        self.isolate = isolate  # False: in this process, without time limits (tests)
        self.compile_timeout, self.gen_timeout = compile_timeout, gen_timeout
        self.process: Any = (
            IsolatedProcess(_worker_main, self.args, start_timeout) if isolate else None
        )
        self.info: dict = {}
        self.restarts = 0

    def start(self) -> dict:
        if not self.isolate:
            server = _Server(*self.args)
            self.process, self.info = _InProcess(server), server.info
            return self.info
        self.process.launch()
        ok, payload = self.process.wait_ready()
        if not ok:
            raise BenchError(f"the worker could not load the model: {payload}")
        self.info = payload
        return payload

    def kill(self) -> None:
        self.process.kill()

    def close(self) -> None:
        self.process.close()

    def run(self, engine: str, schema: Any, max_new: int) -> dict:
        """One schema on one engine: a row without engine/subset/id/validation."""
        if self.process is None or not self.process.alive():
            self.restarts += 1
            self.start()
        row: dict = {
            "status": "ok",
            "error": None,
            "compiled": False,
            "gct_ms": None,
            "prompt_tokens": None,
        }
        self.process.send(("run", engine, schema, max_new))
        msg = self.process.recv(self.compile_timeout + 5.0)  # + prompt building
        if msg is None or msg[0] == "crash":
            self.kill()
            row.update(
                status="compile_timeout" if msg is None else "crash",
                error=f"compile took more than {self.compile_timeout:g} s"
                if msg is None
                else msg[1],
            )
            return row
        if msg[0] == "compile_error":
            row.update(status="compile_error", error=msg[1], prompt_tokens=msg[2])
            return row
        gct, row["prompt_tokens"] = msg[1], msg[2]
        if gct > self.compile_timeout * 1e3:  # finished, but past the limit: a timeout all the same
            row.update(status="compile_timeout", error=f"compile took {gct / 1e3:.1f} s")
            if not self.process.recv(self.gen_timeout):
                self.kill()
            return row
        row.update(compiled=True, gct_ms=gct if engine != "none" else None)
        msg = self.process.recv(self.gen_timeout)
        if msg is None or msg[0] == "crash":
            self.kill()
            row.update(
                status="gen_timeout" if msg is None else "crash",
                error=f"generation took more than {self.gen_timeout:g} s"
                if msg is None
                else msg[1],
            )
            return row
        if msg[0] != "generated":
            row.update(status=msg[0], error=msg[1])
            return row
        g = msg[1]
        n = len(g["ids"])
        ttft, total = g["ttft_s"], g["total_s"]
        row.update(
            output_tokens=n,
            forced_tokens=g["forced"],
            ttft_ms=ttft * 1e3,
            total_ms=total * 1e3,
            tpot_ms=(total - ttft) * 1e3 / (n - 1) if n > 1 else None,
            finish=g["finish"],
            cut_off=g["finish"] == "length",
            output=g["text"],
        )
        return row


# ------------------------------------------------------------------ results file


def _load_results(path: Path, meta: dict) -> dict:
    if not path.exists():
        return {"meta": meta, "rows": []}
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as e:
        raise BenchError(
            f"{path} is not a results file ({e}): pass another --out, or --fresh"
        ) from None
    old = doc.get("meta", {})
    for k in ("model", "max_new_tokens", "prompt", "whitespace"):
        if old.get(k, meta.get(k)) != meta.get(
            k
        ):  # files from before "whitespace" resume as they are
            raise BenchError(
                f"{path} holds results for {k}={old.get(k)!r}, not {meta.get(k)!r}: pass "
                f"another --out, or --fresh to start over"
            )
    doc["meta"].update({k: v for k, v in meta.items() if k not in ("engines",)})
    doc["meta"].setdefault("engines", {}).update(meta.get("engines", {}))
    return doc


def _save(path: Path, doc: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(doc, ensure_ascii=False, indent=1), encoding="utf-8")
    os.replace(tmp, path)


# ------------------------------------------------------------------ summary


def _pct(xs, q):
    import numpy as np

    xs = [x for x in xs if x is not None]
    return float(np.percentile(xs, q)) if xs else None


def summarize(rows: list[dict], engines: list[str] | None = None) -> list[dict]:
    """One summary dict per (engine, subset), then per engine over all subsets (subset "all")."""
    order = engines or sorted({r["engine"] for r in rows})
    subsets = sorted({r["subset"] for r in rows})
    out = []
    for e in order:
        mine = [r for r in rows if r["engine"] == e]
        if not mine:
            continue
        for s in subsets + ["all"]:
            rs = [r for r in mine if s == "all" or r["subset"] == s]
            if not rs:
                continue
            n = len(rs)
            compiled = [r for r in rs if r["compiled"]]
            gen = [r for r in rs if r.get("finish")]
            valid = sum(1 for r in rs if r.get("valid"))
            out_tok = sum(r["output_tokens"] for r in gen)
            out.append(
                {
                    "engine": e,
                    "subset": s,
                    "n": n,
                    "declared": len(compiled) / n,
                    "empirical": valid / n,
                    "compliance": valid / len(compiled) if compiled else None,
                    "gct_p50_ms": _pct([r["gct_ms"] for r in compiled], 50),
                    "gct_p99_ms": _pct([r["gct_ms"] for r in compiled], 99),
                    "ttft_p50_ms": _pct([r["ttft_ms"] for r in gen], 50),
                    "tpot_p50_ms": _pct([r["tpot_ms"] for r in gen], 50),
                    "out_tokens_p50": _pct([r["output_tokens"] for r in gen], 50),
                    "forced_share": (sum(r.get("forced_tokens") or 0 for r in gen) / out_tok)
                    if out_tok
                    else None,
                    "cut_off": sum(1 for r in gen if r["cut_off"]),
                    "invalid_complete": sum(
                        1 for r in gen if not r["cut_off"] and not r.get("valid")
                    ),
                    "prompt_too_long": sum(1 for r in rs if r["status"] == "prompt_too_long"),
                    "errors": sum(1 for r in rs if r["status"] not in ("ok", "prompt_too_long")),
                }
            )
    return out


def _f(x, kind="num") -> str:
    if x is None:
        return "–"
    if kind == "pct":
        return f"{100 * x:.0f}%"
    if isinstance(x, float):
        return f"{x:,.0f}" if x >= 100 else f"{x:.1f}"
    return str(x)


def format_table(summary: list[dict], only_all: bool = False) -> str:
    cols = [
        ("engine", "engine", None),
        ("subset", "subset", None),
        ("n", "n", None),
        ("declared", "declared", "pct"),
        ("empirical", "empirical", "pct"),
        ("compliance", "compliance", "pct"),
        ("gct_p50_ms", "GCT p50 ms", None),
        ("gct_p99_ms", "GCT p99 ms", None),
        ("ttft_p50_ms", "TTFT p50 ms", None),
        ("tpot_p50_ms", "TPOT p50 ms", None),
        ("out_tokens_p50", "out tok p50", None),
        ("forced_share", "forced", "pct"),
        ("cut_off", "cut off", None),
        ("invalid_complete", "invalid (ended)", None),
        ("errors", "errors", None),
    ]
    rows = [r for r in summary if not only_all or r["subset"] == "all"]
    lines = [
        "| " + " | ".join(c[1] for c in cols) + " |",
        "|"
        + "|".join("---" if c[2] is None and c[0] in ("engine", "subset") else "---:" for c in cols)
        + "|",
    ]
    for r in rows:
        lines.append(
            "| "
            + " | ".join(
                _f(r[c[0]], c[2]) if c[0] not in ("engine", "subset") else r[c[0]] for c in cols
            )
            + " |"
        )
    return "\n".join(lines)


def plot(summary: list[dict], path: Path, title: str) -> None:
    """Empirical coverage per subset and engine (grouped bars), and TPOT p50 per engine."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    engines = list(dict.fromkeys(r["engine"] for r in summary))
    subsets = [s for s in dict.fromkeys(r["subset"] for r in summary) if s != "all"] + ["all"]
    get = {(r["engine"], r["subset"]): r for r in summary}
    fig, (a, b) = plt.subplots(1, 2, figsize=(14, 4.8), gridspec_kw={"width_ratios": [3, 1]})
    w = 0.8 / max(len(engines), 1)
    x = np.arange(len(subsets))
    for i, e in enumerate(engines):
        ys = [100 * get[(e, s)]["empirical"] if (e, s) in get else 0 for s in subsets]
        a.bar(x + i * w - 0.4 + w / 2, ys, w, label=e)
    a.set_xticks(x, subsets, rotation=20, ha="right")
    a.set_ylabel("empirical coverage (% of schemas with a valid output)")
    a.set_ylim(0, 105)
    a.legend(fontsize=8, ncol=2)
    a.set_title(title, fontsize=9)
    tp = [get[(e, "all")]["tpot_p50_ms"] or 0 for e in engines]
    b.bar(range(len(engines)), tp, color=[f"C{i}" for i in range(len(engines))])
    b.set_xticks(range(len(engines)), engines, rotation=30, ha="right")
    b.set_ylabel("TPOT p50 (ms per output token)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ------------------------------------------------------------------ driver


def run_benchmark(
    *,
    model: str | None,
    data: Path,
    subsets: list[str],
    limit: int | None,
    engines: list[str],
    max_new_tokens: int,
    out: Path,
    prompt_style: str = "jsonschemabench",
    compile_timeout: float = 10.0,
    gen_timeout: float = 600.0,
    threads: int | None = None,
    fresh: bool = False,
    progress: bool = True,
    worker: Worker | None = None,
    isolate: bool = True,
    whitespace: str | None = None,
    log=print,
) -> dict:
    """Run (or resume) the benchmark; returns the results document (also written to ``out``).
    ``whitespace``: the JSON whitespace policy of our engines (``Grammar.from_json_schema``;
    None: its default); the peers keep their own defaults."""
    from .hf_engines import ENGINES

    if whitespace is not None and whitespace not in WHITESPACE_POLICIES:
        raise BenchError(
            f"unknown whitespace policy {whitespace!r} (known: {', '.join(WHITESPACE_POLICIES)})"
        )

    bad = [e for e in engines if e not in ENGINES]
    if bad:
        raise BenchError(f"unknown engine(s) {', '.join(bad)} (known: {', '.join(ENGINES)})")
    work = [(s, rec) for s in subsets for rec in load_subset(data, s, limit)]
    meta = {
        "benchmark": "jsonschemabench",
        "model": model or "default (SmolLM2-135M-Instruct)",
        "max_new_tokens": max_new_tokens,
        "prompt": prompt_style,
        "data": str(data),
        "whitespace": whitespace or f"default ({DEFAULT_WHITESPACE})",
        "compile_timeout_s": compile_timeout,
        "gen_timeout_s": gen_timeout,
        "command": "decoder " + " ".join(sys.argv[1:]),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
        "row_fields": ROW_FIELDS,
        "summary_fields": SUMMARY_FIELDS,
    }
    if fresh and out.exists():
        out.unlink()
    doc = _load_results(out, meta)
    done = {(r["engine"], r["subset"], r["id"]) for r in doc["rows"]}
    todo = [(s, rec, e) for s, rec in work for e in engines if (e, s, rec["id"]) not in done]
    if done:
        log(f"resuming from {out}: {len(done)} rows there, {len(todo)} to run")
    own = worker is None
    if todo:
        if worker is None:  # own
            worker = Worker(
                model,
                engines,
                threads,
                prompt_style,
                compile_timeout,
                gen_timeout,
                isolate=isolate,
                whitespace=whitespace,
            )
        if not worker.info:  # not started yet
            worker.start()
        info = worker.info
        doc["meta"].setdefault("engines", {}).update(
            {
                e: info["versions"].get(e, "unavailable: " + info["dropped"].get(e, "?"))
                for e in engines
            }
        )
        doc["meta"]["model_path"], doc["meta"]["context"] = info["model"], info["context"]
        for e, why in info["dropped"].items():
            log(f"[{e}] unavailable, left out: {why}")
        todo = [t for t in todo if t[2] in info["versions"]]
    bar = None
    if progress and todo:
        from tqdm import tqdm

        bar = tqdm(
            total=len(todo), desc="jsonschemabench", unit="run", disable=False, file=sys.stderr
        )
    try:
        for s, rec, e in todo:
            assert worker is not None, "the worker is started whenever there is work"
            if bar is not None:
                bar.set_postfix_str(f"{e} {s}/{rec['id']}"[:40])
            row = {"engine": e, "subset": s, "id": rec["id"]}
            row.update(worker.run(e, rec["schema"], max_new_tokens))
            if row.get("finish"):
                row["valid"], row["validation_error"] = validate(rec["schema"], row["output"])
            else:
                row["valid"], row["validation_error"] = False, None
            for k in ROW_FIELDS:
                row.setdefault(k, None)
            doc["rows"].append(row)
            _save(out, doc)
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
        if own and worker is not None:
            worker.close()
    doc["summary"] = summarize(
        doc["rows"], [e for e in engines if any(r["engine"] == e for r in doc["rows"])]
    )
    _save(out, doc)
    return doc


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--model",
        default=None,
        metavar="NAME_OR_PATH",
        help="model folder, .gguf or hub name in the local cache (default: SmolLM2-135M-Instruct)",
    )
    p.add_argument(
        "--data",
        default=None,
        metavar="DIR",
        help="folder of <subset>.jsonl files (default: ../shared/jsonschemabench)",
    )
    p.add_argument(
        "--subsets", default=None, help="comma-separated subsets (default: every file in --data)"
    )
    p.add_argument(
        "--limit", type=int, default=None, help="schemas per subset (default 30; --quick: 3)"
    )
    p.add_argument(
        "--engines",
        default=",".join(_default_engines()),
        help="comma-separated: decoder, decoder-noff, decoder-hf, llguidance, xgrammar, outlines, "
        "none (default: %(default)s)",
    )
    p.add_argument("--max-new-tokens", type=int, default=None, help="default 256 (--quick: 48)")
    p.add_argument(
        "--out",
        default=None,
        help="results JSON; an existing one is resumed "
        "(default: jsonschemabench.json, --quick: jsonschemabench_quick.json)",
    )
    p.add_argument("--plot", default=None, help="plot file (default: --out with .png)")
    p.add_argument(
        "--prompt",
        choices=["jsonschemabench", "short"],
        default=None,
        help="prompt style (default: jsonschemabench; --quick: short)",
    )
    p.add_argument(
        "--whitespace",
        choices=list(WHITESPACE_POLICIES),
        default=None,
        help="JSON whitespace policy of the decoder engines (default: Grammar.from_json_schema's, "
        f"{DEFAULT_WHITESPACE}); the peers keep their own; recorded in the results meta",
    )
    p.add_argument(
        "--compile-timeout", type=float, default=10.0, help="seconds per compile (default 10)"
    )
    p.add_argument(
        "--gen-timeout", type=float, default=600.0, help="seconds per generation (default 600)"
    )
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch threads in the worker (default: torch's choice)",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="tiny model (../shared/models/stories260k), 3 schemas of 3 subsets, 48 tokens",
    )
    p.add_argument(
        "--fresh", action="store_true", help="ignore an existing --out file and start over"
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def _default_engines() -> list[str]:
    from . import DEFAULT_ENGINES  # not from .hf_engines: that imports transformers (slow --help)

    return DEFAULT_ENGINES


def resolve(args) -> dict:
    """Keyword arguments of :func:`run_benchmark` from parsed command-line arguments."""
    model = args.model
    if args.quick and model is None:
        model = str(find_shared("models/stories260k", "the tiny model for --quick"))
    data = (
        Path(args.data) if args.data else find_shared("jsonschemabench", "the JSONSchemaBench data")
    )
    if not data.is_dir():
        raise BenchError(f"--data {data} is not a folder")
    subsets = [s for s in (args.subsets or "").split(",") if s] or (
        QUICK_SUBSETS if args.quick else list_subsets(data)
    )
    out = Path(args.out or ("jsonschemabench_quick.json" if args.quick else "jsonschemabench.json"))
    return dict(
        model=model,
        data=data,
        subsets=subsets,
        limit=args.limit if args.limit is not None else (QUICK_LIMIT if args.quick else 30),
        engines=[e for e in args.engines.split(",") if e],
        max_new_tokens=args.max_new_tokens or (QUICK_MAX_NEW_TOKENS if args.quick else 256),
        out=out,
        prompt_style=args.prompt or ("short" if args.quick else "jsonschemabench"),
        compile_timeout=args.compile_timeout,
        gen_timeout=args.gen_timeout,
        threads=args.threads,
        fresh=args.fresh,
        progress=not args.no_progress,
        whitespace=args.whitespace,
    )


def _check_optional(args, kw: dict) -> bool:
    """Before any work: jsonschema is needed (validation), tqdm and matplotlib only for the
    progress bar and the plot, which are left out with a one-line note when missing.
    Returns whether to plot."""
    from .._install import install_command, require

    require("jsonschema", "decoder bench jsonschemabench (validating outputs)", "bench")
    if kw["progress"] and importlib.util.find_spec("tqdm") is None:
        print(
            f"decoder: note: no progress bar (tqdm is not installed: {install_command('bench')})",
            file=sys.stderr,
        )
        kw["progress"] = False
    if importlib.util.find_spec("matplotlib") is None:
        print(
            f"decoder: note: no plot (matplotlib is not installed: {install_command('bench')})",
            file=sys.stderr,
        )
        return False
    return True


def run(args) -> int:
    try:
        kw = resolve(args)
        can_plot = _check_optional(args, kw)
        doc = run_benchmark(**kw, log=lambda m: print(m, file=sys.stderr))
    except BenchError as e:  # missing data, a bad --data folder: bad input (see decoder.cli)
        print(f"decoder: error: {e}", file=sys.stderr)
        return 3
    summary = doc["summary"]
    meta = doc["meta"]
    print(
        f"\nJSONSchemaBench: model {meta.get('model_path', meta['model'])}, max_new_tokens "
        f"{meta['max_new_tokens']}, prompt {meta['prompt']}; results in {kw['out']}"
    )
    print(format_table(summary))
    plot_path = Path(args.plot) if args.plot else kw["out"].with_suffix(".png")
    if summary and can_plot:
        plot(
            summary,
            plot_path,
            f"JSONSchemaBench, {Path(str(meta.get('model_path', meta['model']))).name}, "
            f"max_new_tokens={meta['max_new_tokens']}",
        )
        print(f"plot: {plot_path}")
    return 0
