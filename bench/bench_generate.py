"""Tokens/s of constrained vs unconstrained generation: same model, prompts and token counts.

    python bench/bench_generate.py                          # default model (SmolLM2-135M), JSON
    python bench/bench_generate.py --model ../shared/models/stories260k --constraint regex:"( [a-z]+)+\\."
    python bench/bench_generate.py --batch 4 --device cuda

For each prompt the constrained run goes first (greedy, up to ``--max-new-tokens``);
the unconstrained run then generates *exactly as many tokens* (``ignore_eos``), so both
do the same forward passes over the same sequence lengths.  Runs alternate, are
repeated ``--repeats`` times, and the median is kept.  Overhead =
constrained time / unconstrained time - 1 (target: < 5%).  Also reported per step:
the time the loop waited for masks that were not ready when the forward pass ended
(``mask_wait``: the part of mask computation that did *not* overlap), and the time
to apply them (``mask_apply``).  Results are printed as a table and saved as JSON.

``--constraint``: ``json`` (a JSON schema when the JSON Schema front end is built,
else the bundled JSON Lark grammar), ``lark:FILE``, ``schema:FILE``, ``regex:PATTERN``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

PROMPTS = [
    "Give me a JSON object describing a fictional person with a name, an age and a city.",
    "Describe a book as JSON: title, author, year and a list of genres.",
    "Return JSON for a weather report: city, temperature in celsius, conditions, wind speed.",
    "Create a JSON record for a product in a shop: id, name, price, tags and whether it is in stock.",
]

PERSON_SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "maxLength": 40},
        "age": {"type": "integer", "minimum": 0, "maximum": 120},
        "city": {"type": "string", "maxLength": 40},
        "tags": {"type": "array", "items": {"type": "string", "maxLength": 20}, "maxItems": 4},
    },
    "required": ["name", "age", "city"],
    "additionalProperties": False,
}


def make_constraint(spec: str):
    import decoder

    if spec == "json":
        try:
            from decoder.grammar.json_schema import compile_json_schema  # noqa: F401

            return "json-schema(person)", PERSON_SCHEMA
        except ImportError:
            return "lark(json)", decoder.Grammar.builtin("json")
    kind, _, arg = spec.partition(":")
    if kind == "lark":
        return f"lark({arg})", decoder.Grammar.from_lark(Path(arg).read_text())
    if kind == "schema":
        return f"json-schema({arg})", json.loads(Path(arg).read_text())
    if kind == "regex":
        return f"regex({arg})", decoder.Grammar.from_regex(arg)
    raise SystemExit(f"unknown --constraint {spec!r}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--model", default=None, help="model folder/.gguf/name (default: SmolLM2-135M-Instruct)"
    )
    ap.add_argument("--tokenizer", default=None)
    ap.add_argument("--constraint", default="json")
    ap.add_argument("--prompts", type=int, default=len(PROMPTS))
    ap.add_argument("--batch", type=int, default=1, help="prompts per batch")
    ap.add_argument("--max-new-tokens", type=int, default=96)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None, help="mask threads")
    ap.add_argument("--torch-threads", type=int, default=None)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--raw", action="store_true", help="do not apply the chat template")
    ap.add_argument(
        "--no-hf-baseline",
        action="store_true",
        help="skip timing transformers' own generate() on the same tokens",
    )
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "generate.json"))
    args = ap.parse_args(argv)

    import torch

    if args.torch_threads:
        torch.set_num_threads(args.torch_threads)
    from decoder.generate import Decoder
    from decoder.models import load_model

    t = time.perf_counter()
    model, tok = load_model(args.model, tokenizer=args.tokenizer)
    model.to(args.device)
    load_s = time.perf_counter() - t
    name, constraint = make_constraint(args.constraint)
    t = time.perf_counter()
    dc = Decoder(model, constraint, tok, threads=args.threads)
    compile_s = time.perf_counter() - t
    du = Decoder(model, None, tok, vocab=dc.vocab)

    prompts = [PROMPTS[i % len(PROMPTS)] for i in range(args.prompts)]
    if not args.raw and getattr(tok, "chat_template", None):
        prompts = [[{"role": "user", "content": p}] for p in prompts]
    batches = [prompts[i : i + args.batch] for i in range(0, len(prompts), args.batch)]

    def encode_batch(b):
        if isinstance(b[0], list):
            texts = [
                tok.apply_chat_template(m, tokenize=False, add_generation_prompt=True) for m in b
            ]
            kw = {"add_special_tokens": False}
        else:
            texts, kw = b, {}
        old = tok.padding_side
        tok.padding_side = "left"
        try:
            return tok(texts, return_tensors="pt", padding=len(texts) > 1, **kw).to(args.device)
        finally:
            tok.padding_side = old

    def run_hf(b, n):
        enc = encode_batch(b)
        pad = tok.pad_token_id if tok.pad_token_id is not None else dc.vocab.eos_ids[0]
        t0 = time.perf_counter()
        model.generate(**enc, max_new_tokens=n, min_new_tokens=n, do_sample=False, pad_token_id=pad)
        return time.perf_counter() - t0

    def run_c(b):
        t0 = time.perf_counter()
        out = dc.generate(b, max_new_tokens=args.max_new_tokens)
        return time.perf_counter() - t0, out, dict(dc.last_timing)

    def run_u(b, n):
        t0 = time.perf_counter()
        du.generate(b, max_new_tokens=n, ignore_eos=True)
        return time.perf_counter() - t0, dict(du.last_timing)

    run_c(batches[0])  # warm up both paths (lazy DFA states, allocator, caches)
    run_u(batches[0], 8)
    print(
        f"loaded in {load_s:.1f}s; timing {len(batches)} batches x {args.repeats} repeats...",
        flush=True,
    )

    rows = []
    for bi, b in enumerate(batches):
        tc, tu, th, timings = [], [], [], []
        for rep in range(args.repeats):
            dt, out, tim = run_c(b)
            steps = tim["steps"]
            tc.append(dt)
            timings.append(tim)
            du_dt, _ = run_u(b, steps)
            tu.append(du_dt)
            if not args.no_hf_baseline:
                th.append(run_hf(b, steps))
        ntok = sum(len(o.token_ids) for o in out)
        mc, mu = statistics.median(tc), statistics.median(tu)
        steps = timings[-1]["steps"]
        row = {
            "batch": bi,
            "rows": len(b),
            "steps": steps,
            "tokens": ntok,
            "complete": sum(o.complete for o in out),
            "unconstrained_tok_s": len(b) * steps / mu,
            "constrained_tok_s": len(b) * steps / mc,
            "hf_generate_tok_s": len(b) * steps / statistics.median(th) if th else None,
            "overhead_pct": 100 * (mc / mu - 1),
            "mask_wait_ms_per_step": 1e3
            * statistics.median(t["mask_wait"] for t in timings)
            / max(steps, 1),
            "mask_apply_ms_per_step": 1e3
            * statistics.median(t["mask_apply"] for t in timings)
            / max(steps, 1),
            "forward_ms_per_step": 1e3
            * statistics.median(t["forward"] for t in timings)
            / max(steps, 1),
            "sample": str(out[0])[:80],
        }
        rows.append(row)

    tot_c = sum(r["rows"] * r["steps"] / r["constrained_tok_s"] for r in rows)
    tot_u = sum(r["rows"] * r["steps"] / r["unconstrained_tok_s"] for r in rows)
    ntok = sum(r["rows"] * r["steps"] for r in rows)
    summary = {
        "tokens": ntok,
        "unconstrained_tok_s": ntok / tot_u,
        "constrained_tok_s": ntok / tot_c,
        "overhead_pct": 100 * (tot_c / tot_u - 1),
    }

    mname = getattr(model.config, "_name_or_path", "") or "default"
    print(
        f"model {mname} ({load_s:.1f}s load), constraint {name} ({compile_s:.2f}s compile+vocab), "
        f"device {args.device}, torch threads {torch.get_num_threads()}, batch {args.batch}"
    )
    hdr = (
        f"{'batch':>5} {'rows':>4} {'steps':>5} {'HF tok/s':>8} {'uncon tok/s':>11} {'con tok/s':>9} {'overhead':>8} "
        f"{'fwd ms':>7} {'wait ms':>7} {'apply ms':>8}  sample"
    )
    print(hdr)
    for r in rows:
        hf = f"{r['hf_generate_tok_s']:>8.1f}" if r["hf_generate_tok_s"] else f"{'-':>8}"
        print(
            f"{r['batch']:>5} {r['rows']:>4} {r['steps']:>5} {hf} {r['unconstrained_tok_s']:>11.1f} "
            f"{r['constrained_tok_s']:>9.1f} {r['overhead_pct']:>7.1f}% {r['forward_ms_per_step']:>7.2f} "
            f"{r['mask_wait_ms_per_step']:>7.3f} {r['mask_apply_ms_per_step']:>8.3f}  {r['sample']!r}"
        )
    print(
        f"{'all':>5} {'':>4} {ntok:>5} {'':>8} {summary['unconstrained_tok_s']:>11.1f} "
        f"{summary['constrained_tok_s']:>9.1f} {summary['overhead_pct']:>7.1f}%"
    )

    result = {
        "model": mname,
        "constraint": name,
        "device": args.device,
        "batch": args.batch,
        "max_new_tokens": args.max_new_tokens,
        "repeats": args.repeats,
        "torch_threads": torch.get_num_threads(),
        "mask_threads": args.threads,
        "machine": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "cpu_count": os.cpu_count(),
            "platform": platform.platform(),
        },
        "load_s": load_s,
        "compile_s": compile_s,
        "rows": rows,
        "summary": summary,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    print(f"saved {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
