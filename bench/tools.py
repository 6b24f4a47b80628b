"""Tool-call constraints: compile time and per-token mask time, decoder vs xgrammar vs llguidance.

Tool sets of 1, 10, 50, 100, 500 functions are taken from ../shared/jsonschemabench (BFCL's
function schemas first, then Glaiveai2K's); each style's call of one tool (its arguments: the
schema's own valid example) is teacher-forced after a free-text preamble (and, for qwen3, a
reasoning section), with tool_choice="auto". For every engine, one table row per (style, size):

* compile: building the constraint from the tool list (decoder: ``agents.tool_calls`` + the
  engine compile, caches cleared; xgrammar: ``compile_structural_tag`` of the very same
  structural tag, its cache off; llguidance: a Lark grammar with ``%json`` per tool, hermes
  style only);
* mask p50/p99 over all tokens of the forced text, cold (first matcher of a fresh compile) and
  warm (a second matcher of the same compiled constraint), and the free-text/reasoning tokens
  alone (warm).

    python bench/tools.py                         # all sizes and styles, every installed peer
    python bench/tools.py --sizes 1,100 --styles hermes --engines decoder,xgrammar
    python bench/tools.py --model-run 50          # the default model on 50 tool-use prompts
                                                  # (bench/tools_model_run.py)

Timings are single-threaded (DECODER_WALK_THREADS=1) and one engine at a time; the machine is
shared, so compare within one run. Compile time is given as wall time and as the process's CPU
time (all its threads: xgrammar compiles on several, so its CPU exceeds its wall time; for a
single-threaded compile the CPU time is the wall time without the other jobs' share).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("DECODER_WALK_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

SHARED = ROOT.parent / "shared"
STYLES = {
    "hermes": "qwen2",
    "qwen3": "qwen2",
    "llama3_json": "llama3",
    "mistral": "mistral-tekken",
    "deepseek_v3": "deepseek-coder",
}
SIZES = (1, 10, 50, 100, 500)
PREAMBLE = (
    "Let me look into that for you. I will check the relevant information first, and then "
    "I will call the right function with the arguments you gave me. "
)
REASONING = (
    "The user wants me to use one of the tools. I should pick the function that matches "
    "the request and fill in its arguments from what was said. "
) * 8


def load_tools(limit: int) -> list[dict]:
    tools, seen = [], set()
    for subset in ("BFCL", "Glaiveai2K"):
        path = SHARED / "jsonschemabench" / f"{subset}.jsonl"
        for line in path.read_text().splitlines():
            row = json.loads(line)
            schema, tests = row["schema"], row.get("tests") or []
            example = next((t["data"] for t in tests if t.get("valid")), None)
            if subset == "BFCL":
                props = schema.get("properties") or {}
                if len(props) != 1:
                    continue
                ((name, params),) = props.items()
                example = (example or {}).get(name) if isinstance(example, dict) else None
            else:
                name, params = row["id"].rsplit("_", 1)[0], schema
            name = "".join(c if c.isalnum() or c in "_-" else "_" for c in name)[:60]
            if example is None or not isinstance(params, dict) or name in seen:
                continue
            seen.add(name)
            tools.append(
                {
                    "type": "function",
                    "function": {"name": name, "parameters": params},
                    "example": example,
                }
            )
            if len(tools) >= limit:
                return tools
    return tools


def call_text(style: str, tool: dict) -> tuple[str, str]:
    """(free text / reasoning part, the call) for one tool's example arguments."""
    name = tool["function"]["name"]
    args = json.dumps(tool["example"], ensure_ascii=False)
    if style in ("hermes", "qwen3"):
        pre = ("<think>\n" + REASONING + "\n</think>\n\n" if style == "qwen3" else "") + PREAMBLE
        return pre, f'<tool_call>\n{{"name": "{name}", "arguments": {args}}}\n</tool_call>'
    if style == "llama3_json":
        return "", f'{{"name": "{name}", "parameters": {args}}}'
    if style == "mistral":
        return PREAMBLE, f'[TOOL_CALLS][{{"name": "{name}", "arguments": {args}}}]'
    if style == "deepseek_v3":
        return PREAMBLE, (
            f"<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>{name}\n"
            f"```json\n{args}\n```<｜tool▁call▁end｜><｜tool▁calls▁end｜>"
        )
    raise ValueError(style)


class Family:
    def __init__(self, name: str):
        from transformers import AutoTokenizer

        from decoder.vocab import Vocabulary

        path = SHARED / "tokenizers" / name
        self.name = name
        self.tok = AutoTokenizer.from_pretrained(str(path))
        self.vocab = Vocabulary.from_path(str(path))
        self.words = (self.vocab.model_vocab_size + 31) // 32

    def encode(self, text: str) -> list[int]:
        return self.tok.encode(text, add_special_tokens=False)


def pct(xs, q):
    return float(np.percentile(np.asarray(xs) * 1e6, q)) if xs else float("nan")


# ---------------------------------------------------------------- engines


class Decoder:
    name = "decoder"

    def __init__(self, fam: Family):
        import decoder.compile as dc
        from decoder import _engine, agents

        self.fam, self.dc, self.engine, self.agents = fam, dc, _engine, agents
        dc.token_trie(fam.vocab)  # the vocabulary's trie: once, not part of a compile

    def compile(self, tools, style):
        self.dc._compiled.clear()
        self.agents._cache.clear()  # cold: no grammar kept from an earlier call
        g = self.agents.tool_calls(tools, style=style)
        return self.dc.compile_grammar(g, self.fam.vocab)

    def run(self, compiled, ids):
        m = self.engine.Matcher(compiled)
        row = np.zeros(self.fam.words, dtype=np.int32)
        times, ok = [], True
        for t in ids:
            t0 = time.perf_counter()
            m.compute_mask(row)
            times.append(time.perf_counter() - t0)
            if not (row.view(np.uint32)[t >> 5] >> (t & 31)) & 1 or not m.commit(t):
                ok = False
                break
        return times, ok and m.is_accepting()


class XGrammar:
    name = "xgrammar"

    def __init__(self, fam: Family):
        import xgrammar as xgr

        from decoder import agents

        self.xgr, self.fam, self.agents = xgr, fam, agents
        info = xgr.TokenizerInfo.from_huggingface(
            fam.tok, vocab_size=fam.vocab.model_vocab_size, stop_token_ids=list(fam.vocab.eos_ids)
        )
        self.compiler = xgr.GrammarCompiler(info, cache_enabled=False)

    def compile(self, tools, style):
        tag = self.agents.structural_tag(tools, style=style)
        return self.compiler.compile_structural_tag(json.dumps(tag))

    def run(self, compiled, ids):
        m = self.xgr.GrammarMatcher(compiled)
        bm = self.xgr.allocate_token_bitmask(1, self.fam.vocab.model_vocab_size)
        view = bm.numpy().view(np.uint32)[0]
        times, ok = [], True
        for t in ids:
            t0 = time.perf_counter()
            m.fill_next_token_bitmask(bm)
            times.append(time.perf_counter() - t0)
            if not (view[t >> 5] >> (t & 31)) & 1 or not m.accept_token(t):
                ok = False
                break
        return times, ok and m.is_terminated() is False and m.accept_token(
            self.fam.vocab.eos_ids[0]
        )


class LLGuidance:
    """hermes style only: free text, then <tool_call> + one of the tools' JSON (%json) per call
    (a Lark grammar with llguidance's extensions; the same language up to whitespace)."""

    name = "llguidance"

    def __init__(self, fam: Family):
        import llguidance
        import llguidance.hf
        import llguidance.numpy as lnp

        self.llg, self.lnp, self.fam = llguidance, lnp, fam
        self.tok = llguidance.hf.from_tokenizer(fam.tok, n_vocab=fam.vocab.model_vocab_size)

    def compile(self, tools, style):
        if style != "hermes":
            return None
        # llguidance reads Qwen2's added tokens <tool_call> / </tool_call> as tokens (text cannot
        # spell them), so the grammar names them by id; the text between is greedy free text
        open_id = self.fam.tok.convert_tokens_to_ids("<tool_call>")
        close_id = self.fam.tok.convert_tokens_to_ids("</tool_call>")
        lines = [
            f"start: (TEXT <[{open_id}]> call_body)* TEXT",
            "TEXT: /(.|\\n)*/",
            f'call_body: "\\n" call "\\n" <[{close_id}]>',
            "call: " + " | ".join(f"c{i}" for i in range(len(tools))),
        ]
        for i, t in enumerate(tools):
            fn = t["function"]
            lines.append(f'c{i}: "{{\\"name\\": \\"{fn["name"]}\\", \\"arguments\\": " a{i} "}}"')
            lines.append(f"a{i}: %json " + json.dumps(fn["parameters"]))
        grm = self.llg.LLMatcher.grammar_from_lark("\n".join(lines))
        m = self.llg.LLMatcher(self.tok, grm)
        if m.is_error():
            raise RuntimeError(m.get_error())
        return grm

    def run(self, grm, ids):
        m = self.llg.LLMatcher(self.tok, grm)
        bm = self.lnp.allocate_token_bitmask(1, self.fam.vocab.model_vocab_size)
        view = bm.view(np.uint32)[0]
        times, ok = [], True
        for t in ids:
            t0 = time.perf_counter()
            self.lnp.fill_next_token_bitmask(m, bm, 0)
            times.append(time.perf_counter() - t0)
            if not (view[t >> 5] >> (t & 31)) & 1 or not m.consume_token(t):
                ok = False
                break
        return times, ok and m.is_accepting()


ENGINES = {"decoder": Decoder, "xgrammar": XGrammar, "llguidance": LLGuidance}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default=",".join(map(str, SIZES)))
    ap.add_argument("--styles", default=",".join(STYLES))
    ap.add_argument("--engines", default=",".join(ENGINES))
    ap.add_argument("--out", help="write the rows as JSON here")
    ap.add_argument(
        "--model-run",
        type=int,
        default=0,
        metavar="N",
        help="instead: the default model on N tool-use prompts per tool_choice (auto, required); "
        "writes --out or docs/results/tools_model_run.json",
    )
    ap.add_argument("--model-tokens", type=int, default=80, help="the model run's token cap")
    ap.add_argument("--seed", type=int, default=0, help="the model run's prompt seed")
    a = ap.parse_args(argv)
    if a.model_run:
        from tools_model_run import model_run, table

        report = model_run(a.model_run, a.model_tokens, a.seed)
        out = Path(a.out) if a.out else ROOT / "docs" / "results" / "tools_model_run.json"
        out.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n")
        print(table(report))
        return
    sizes = [int(x) for x in a.sizes.split(",")]
    all_tools = load_tools(max(sizes))
    rows, notes = [], []
    fams: dict = {}
    for style in a.styles.split(","):
        fam = fams.get(STYLES[style]) or fams.setdefault(STYLES[style], Family(STYLES[style]))
        for ename in a.engines.split(","):
            try:
                eng = ENGINES[ename](fam)
            except ImportError as e:
                notes.append(f"{ename}: not installed ({e})")
                continue
            try:  # the process's first compile (imports, lazy tables) is not a tool-set's compile
                eng.compile(
                    [
                        {
                            "type": "function",
                            "function": {
                                "name": "warm_up",
                                "parameters": {
                                    "type": "object",
                                    "properties": {"x": {"type": "integer"}},
                                },
                            },
                        }
                    ],
                    style,
                )
            except Exception:  # noqa: BLE001 - reported by the timed compiles below
                pass
            for n in sizes:
                tools = [{k: v for k, v in t.items() if k != "example"} for t in all_tools[:n]]
                pre, call = call_text(style, all_tools[n // 2])
                pre_ids, call_ids = fam.encode(pre) if pre else [], fam.encode(call)
                gc.collect()
                try:
                    t0, c0 = time.perf_counter(), time.process_time()
                    compiled = eng.compile(tools, style)
                    compile_ms = (time.perf_counter() - t0) * 1e3
                    compile_cpu_ms = (time.process_time() - c0) * 1e3
                except Exception as e:  # noqa: BLE001 - a peer that cannot take the constraint
                    notes.append(f"{ename} {style} {n} tools: compile failed: {str(e)[:160]}")
                    continue
                if compiled is None:
                    continue
                cold, ok_cold = eng.run(compiled, pre_ids + call_ids)
                warm, ok_warm = eng.run(compiled, pre_ids + call_ids)
                free = warm[: len(pre_ids)]
                row = dict(
                    engine=ename,
                    style=style,
                    tools=n,
                    compile_ms=round(compile_ms, 2),
                    compile_cpu_ms=round(compile_cpu_ms, 2),
                    tokens=len(pre_ids) + len(call_ids),
                    free_tokens=len(pre_ids),
                    accepted=bool(ok_cold and ok_warm),
                    cold_p50=pct(cold, 50),
                    cold_p99=pct(cold, 99),
                    warm_p50=pct(warm, 50),
                    warm_p99=pct(warm, 99),
                    free_p50=pct(free, 50),
                    free_p99=pct(free, 99),
                )
                rows.append(row)
                print(json.dumps(row), flush=True)
    print()
    print(
        "| engine | style | tools | compile ms (wall / CPU) | mask µs p50 / p99 cold | warm "
        "| free text / reasoning (warm) | accepted |"
    )
    print("|---|---|---:|---:|---:|---:|---:|:-:|")
    for r in rows:
        print(
            f"| {r['engine']} | {r['style']} | {r['tools']} | "
            f"{r['compile_ms']:.1f} / {r['compile_cpu_ms']:.1f} | "
            f"{r['cold_p50']:.1f} / {r['cold_p99']:.0f} | {r['warm_p50']:.1f} / {r['warm_p99']:.0f} | "
            f"{r['free_p50']:.1f} / {r['free_p99']:.0f} | {'yes' if r['accepted'] else 'NO'} |"
        )
    for note in notes:
        print("note:", note)
    if a.out:
        Path(a.out).write_text(json.dumps({"rows": rows, "notes": notes}, indent=1))


if __name__ == "__main__":
    main()
