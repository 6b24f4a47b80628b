"""Ruler-style Target Length Generation: does the output have the word count asked for?

Prompts "<instruction> The response should have a word count of <N> words." for the nine
targets of Ruler's three levels (10, 30, 50, 80, 150, 300, 500, 700, >800), each run
without and with our word budget (``decoder.constraints.Words``: N ± 5 %, ending at a
sentence end; for >800: 801..880 words).  Scored as Ruler scores them: Precise Match (PM)
and Flexible Match (FM) intervals of the word count (``re.findall(r"\\w+")``), plus the
share of outputs that end at a sentence boundary.

    python bench/ruler.py --model stories260k --prompts 2 --out docs/results/ruler_stories260k.json
    python bench/ruler.py --prompts 2 --out docs/results/ruler_smollm2.json     # default model
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

TARGETS = ["10", "30", "50", "80", "150", "300", "500", "700", ">800"]
PM = {
    "10": (0, 20),
    "30": (20, 40),
    "50": (40, 60),
    "80": (70, 90),
    "150": (130, 170),
    "300": (280, 320),
    "500": (450, 550),
    "700": (630, 770),
    ">800": (800, None),
}
FM = {
    "10": (0, 20),
    "30": (20, 40),
    "50": (40, 60),
    "80": (60, 100),
    "150": (100, 200),
    "300": (200, 400),
    "500": (400, 600),
    "700": (600, 800),
    ">800": (800, None),
}
INSTRUCTIONS = [
    "Describe a walk through a forest in autumn.",
    "Explain why people enjoy reading books.",
    "Tell a story about a child who finds a lost dog.",
    "Describe your favourite meal and how it is cooked.",
]


def in_interval(n: int, iv) -> bool:
    lo, hi = iv
    return n > lo and (hi is None or n <= hi)


def prompt_for(instruction: str, target: str) -> str:
    ask = "more than 800 words" if target == ">800" else f"{target} words"
    return f"{instruction} The response should have a word count of {ask}."


def budget_for(target: str):
    from decoder.constraints import Words

    if target == ">800":
        return Words(min=801, max=880)
    return Words.around(int(target), 0.05)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--model", default=None, help="stories260k (../shared/models), a path, or the default model"
    )
    ap.add_argument("--prompts", type=int, default=2, help="instructions per target")
    ap.add_argument("--targets", default=",".join(TARGETS))
    ap.add_argument("--modes", default="budget,none")
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)

    from decoder import Decoder
    from decoder.constraints import count_words, ends_sentence

    if args.model == "stories260k":
        from transformers import AutoModelForCausalLM, AutoTokenizer

        path = ROOT.parent / "shared" / "models" / "stories260k"
        model, tok = AutoModelForCausalLM.from_pretrained(path), AutoTokenizer.from_pretrained(path)
        name = "stories260k"
    else:
        from decoder.models import load_model

        model, tok = load_model(args.model)
        name = args.model or "SmolLM2-135M-Instruct"
    chat = bool(getattr(tok, "chat_template", None))
    rows = []
    for mode in args.modes.split(","):
        for target in args.targets.split(","):
            hi = 880 if target == ">800" else int(target) * 1.05 + 2
            # room for the budget (words are ~1.3 tokens); unconstrained runs get 1.5x the target
            max_new = int(hi * 2.2) + 32 if mode == "budget" else int(hi * 1.5) + 16
            for instruction in INSTRUCTIONS[: args.prompts]:
                c = budget_for(target) if mode == "budget" else None
                d = Decoder(model, c, tok)
                p = prompt_for(instruction, target)
                t0 = time.perf_counter()
                r = d.generate(
                    [{"role": "user", "content": p}] if chat else p, max_new_tokens=max_new
                )
                dt = time.perf_counter() - t0
                n = count_words(r)
                row = {
                    "mode": mode,
                    "target": target,
                    "instruction": instruction,
                    "words": n,
                    "tokens": len(r.token_ids),
                    "pm": in_interval(n, PM[target]),
                    "fm": in_interval(n, FM[target]),
                    "sentence_end": ends_sentence(r),
                    "finish": r.finish_reason,
                    "seconds": round(dt, 2),
                    "tail": str(r)[-80:],
                }
                rows.append(row)
                print(
                    f"{mode:6} {target:>4} words={n:4d} pm={row['pm']!s:5} fm={row['fm']!s:5} "
                    f"end={row['sentence_end']!s:5} {dt:6.1f}s  ...{row['tail'][-40:]!r}",
                    flush=True,
                )
    summary = {}
    for mode in args.modes.split(","):
        rs = [r for r in rows if r["mode"] == mode]
        if rs:
            summary[mode] = {
                "PM": round(100 * sum(r["pm"] for r in rs) / len(rs), 1),
                "FM": round(100 * sum(r["fm"] for r in rs) / len(rs), 1),
                "sentence_end": round(100 * sum(r["sentence_end"] for r in rs) / len(rs), 1),
                "n": len(rs),
                "per_target_pm": {
                    t: round(
                        100
                        * sum(r["pm"] for r in rs if r["target"] == t)
                        / max(1, sum(r["target"] == t for r in rs))
                    )
                    for t in args.targets.split(",")
                },
            }
    print(f"\n{name}: {args.prompts} prompts x {len(args.targets.split(','))} targets")
    print("| mode | PM | FM | ends at a sentence boundary |\n|---|---:|---:|---:|")
    for mode, s in summary.items():
        print(f"| {mode} | {s['PM']} | {s['FM']} | {s['sentence_end']}% |")
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(
            json.dumps(
                {"model": name, "command": " ".join(sys.argv), "summary": summary, "rows": rows},
                indent=1,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
