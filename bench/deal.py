"""Keyword-constrained generation, CommonGen-style: DeAL against sampling, the hard
constraint alone and best-of-N at equal compute.

Each prompt asks for one sentence using 3-5 concept words (``bench/data/concepts.jsonl``,
111 sets composed for this benchmark).  Methods:

* ``sample``     plain sampling (temperature ``--temperature``), no constraint;
* ``hard``       the same sampling under the hard constraint "contains every concept"
                 (any inflection, case-insensitive substring: one regex over every order
                 of the words; ``--hard lexical``: ``decoder.constraints.lexical.RequireStrings``
                 of the exact words);
* ``best_of_n``  N unconstrained samples per prompt, the best by DeAL's objective, with N
                 chosen so that its generation forward passes match DeAL's (token
                 forwards per output: rows x positions fed after the prefill);
* ``deal``       DeAL (``decoder.search.DeAL``) with the keyword reward, no constraint;
* ``deal_hard``  DeAL inside the hard constraint (the search steers, the mask guarantees).

Metrics per method: all-concept coverage (every word present, inflections counted, the same
check as the reward), mean concept fraction, fluency (per-token NLL of the output under the
model, teacher-forced after the prompt; distinct-2 over all outputs), outputs that hit the
token limit or repeat (a word 3 times in a row, or a 3-gram 3 times), token forwards and
model calls per output, seconds per output.  Prints a table, writes JSON and a plot of
coverage against compute.

    python bench/deal.py --limit 24 --out docs/results/deal_limit24.json --plot docs/results/deal_limit24.png
    python bench/deal.py            # all 111 concept sets
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

METHODS = ["sample", "hard", "best_of_n", "deal", "deal_hard"]


def load_concepts(path: Path, limit=None):
    rows = [json.loads(l) for l in path.read_text().splitlines() if l.strip()]
    return rows[:limit] if limit else rows


def prompt_for(words):
    return [
        {
            "role": "user",
            "content": "Write one short sentence that uses all of these words: "
            + ", ".join(words)
            + ".",
        }
    ]


def _ci(word: str) -> str:
    return "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else re.escape(c) for c in word)


def hard_constraint(words, kind: str = "regex"):
    """ "The output contains every concept": each word, in any of its inflected forms
    (``decoder.search.word_forms``: "caught" for "catch", "knives" for "knife"), as a
    case-insensitive substring.

    ``regex``: one regular expression over every order of the words, run by the C++ engine
    (exact shortest-completion lengths, masks in ~1 ms).  ``lexical``:
    ``decoder.constraints.lexical.RequireStrings`` of the words themselves (no inflections:
    a composition of one filter per word, whose completion check runs a witness search in
    Python at every token)."""
    if kind == "lexical":
        from decoder.constraints.lexical import RequireStrings

        return RequireStrings(*words, ignore_case=True)
    import itertools

    from decoder import Grammar
    from decoder.search import word_forms

    groups = {
        w: "(?:" + "|".join(_ci(f) for f in sorted(word_forms(w) | {w}, key=len)) + ")"
        for w in words
    }
    alts = "|".join(
        r"[\s\S]*".join(groups[w] for w in perm) for perm in itertools.permutations(words)
    )
    return Grammar.from_regex(rf"[\s\S]*(?:{alts})[\s\S]*")


def repetitive(text: str) -> bool:
    ws = text.lower().split()
    if any(ws[i] == ws[i + 1] == ws[i + 2] for i in range(len(ws) - 2)):
        return True
    grams = {}
    for i in range(len(ws) - 2):
        g = tuple(ws[i : i + 3])
        grams[g] = grams.get(g, 0) + 1
    return any(c >= 3 for c in grams.values())


def distinct2(texts) -> float:
    total, seen = 0, set()
    for t in texts:
        ws = t.lower().split()
        bg = list(zip(ws, ws[1:]))
        total += len(bg)
        seen.update(bg)
    return len(seen) / total if total else 0.0


def token_nll(model, pad, prompts_ids, outs_ids, batch=16):
    """Mean NLL per output token (EOS excluded) of each output after its prompt, left padded."""
    import torch

    res = []
    for s in range(0, len(outs_ids), batch):
        P, O = prompts_ids[s : s + batch], outs_ids[s : s + batch]
        seqs = [list(p) + list(o) for p, o in zip(P, O)]
        n = max(len(x) for x in seqs)
        ids = torch.full((len(seqs), n), pad, dtype=torch.long)
        att = torch.zeros((len(seqs), n), dtype=torch.long)
        for j, x in enumerate(seqs):
            ids[j, n - len(x) :] = torch.tensor(x)
            att[j, n - len(x) :] = 1
        pos = (att.cumsum(-1) - 1).clamp(min=0)
        with torch.inference_mode():
            lp = (
                model(input_ids=ids, attention_mask=att, position_ids=pos)
                .logits.float()
                .log_softmax(-1)
            )
        for j, (p, o) in enumerate(zip(P, O)):
            if not o:
                res.append(float("nan"))
                continue
            start = n - len(o)  # first output position
            vals = [float(lp[j, start - 1 + k, t]) for k, t in enumerate(o)]
            res.append(-sum(vals) / len(vals))
    return res


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--concepts", default=str(ROOT / "bench" / "data" / "concepts.jsonl"))
    ap.add_argument("--limit", type=int, default=None, help="first N concept sets (default: all)")
    ap.add_argument("--model", default=None, help="default: SmolLM2-135M-Instruct")
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--max-new-tokens", type=int, default=40)
    ap.add_argument("--batch", type=int, default=8, help="prompts per batch")
    ap.add_argument("--temperature", type=float, default=0.7)
    ap.add_argument("--beams", type=int, default=2)
    ap.add_argument("--top-k", type=int, default=3)
    ap.add_argument("--lookahead", type=int, default=3)
    ap.add_argument("--weight", type=float, default=4.0, help="weight of the keyword reward")
    ap.add_argument("--n", type=int, default=None, help="best-of-N's N (default: DeAL's compute)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--hard",
        choices=["regex", "lexical"],
        default="regex",
        help="how the hard keyword constraint is built (see hard_constraint)",
    )
    ap.add_argument("--threads", type=int, default=None, help="torch threads")
    ap.add_argument("--out", default=None, help="JSON results")
    ap.add_argument("--plot", default=None, help="PNG: coverage against token forwards per output")
    args = ap.parse_args(argv)

    import torch

    from decoder.generate import Decoder
    from decoder.models import load_model
    from decoder.search import DeAL, Keywords, PerPrompt

    if args.threads:
        torch.set_num_threads(args.threads)
    methods = [m for m in args.methods.split(",") if m]
    bad = [m for m in methods if m not in METHODS]
    if bad:
        ap.error(f"unknown methods {bad}; choose from {METHODS}")
    rows = load_concepts(Path(args.concepts), args.limit)
    model, tok = load_model(args.model)
    model.eval()
    words = [r["concepts"] for r in rows]
    prompts = [prompt_for(w) for w in words]
    kw = [Keywords(w) for w in words]
    base = Decoder(model, None, tok)
    pad = tok.pad_token_id if tok.pad_token_id is not None else base.vocab.eos_ids[0]
    prompt_ids = [base.encode(p) for p in prompts]
    B = args.batch
    T = args.max_new_tokens
    results = {}

    def batches():
        for s in range(0, len(rows), B):
            yield s, min(s + B, len(rows))

    def finish(name, outs, token_forwards, calls, seconds, extra=None):
        texts = [str(o) for o in outs]
        ids = [[t for t in o.token_ids if t not in base.runner.eos] for o in outs]
        nll = token_nll(model, pad, prompt_ids, ids)
        found = [k.found(t) for k, t in zip(kw, texts)]
        r = {
            "outputs": len(outs),
            "coverage": sum(all(f) for f in found) / len(outs),
            "concept_fraction": statistics.mean(sum(f) / len(f) for f in found),
            "nll": statistics.mean(x for x in nll if not math.isnan(x)),
            "distinct2": distinct2(texts),
            "hit_limit": sum(o.finish_reason == "length" for o in outs),
            "repetitive": sum(repetitive(t) for t in texts),
            "mean_words": statistics.mean(len(t.split()) for t in texts),
            "token_forwards_per_output": token_forwards / len(outs),
            "calls_per_output": calls / len(outs),
            "seconds_per_output": seconds / len(outs),
            "examples": [{"concepts": w, "text": t} for w, t in list(zip(words, texts))[:8]],
        }
        r.update(extra or {})
        results[name] = r
        print(
            f"  {name}: coverage {r['coverage']:.2f}, nll {r['nll']:.3f}, "
            f"{r['token_forwards_per_output']:.0f} token forwards/output, "
            f"{r['seconds_per_output']:.2f} s/output",
            flush=True,
        )
        return nll

    def run_plain(name, constraint):
        outs, tf, calls, secs = [], 0, 0, 0.0
        for s, e in batches():
            d = Decoder(model, [constraint(w) for w in words[s:e]] if constraint else None, tok)
            t0 = time.perf_counter()
            outs += d.generate(
                prompts[s:e], max_new_tokens=T, temperature=args.temperature, seed=args.seed + s
            )
            secs += time.perf_counter() - t0
            steps = d.last_timing.get("steps", 0)
            tf += steps * (e - s)
            calls += steps
        finish(name, outs, tf, calls, secs)

    def run_deal(name, constraint):
        outs, tf, calls, secs = [], 0, 0, 0.0
        for s, e in batches():
            search = DeAL(
                args.weight * PerPrompt(kw[s:e]),
                beams=args.beams,
                top_k=args.top_k,
                lookahead=args.lookahead,
            )
            d = Decoder(
                model,
                [constraint(w) for w in words[s:e]] if constraint else None,
                tok,
                search=search,
            )
            t0 = time.perf_counter()
            outs += d.generate(prompts[s:e], max_new_tokens=T)
            secs += time.perf_counter() - t0
            tf += search.last_stats["token_forwards"]
            calls += search.last_stats["forward_calls"]
            print(f"    {name} {e}/{len(rows)}", flush=True)
        finish(name, outs, tf, calls, secs)

    def run_best_of_n(name):
        n = args.n
        if n is None:
            ref = results.get("deal") or results.get("deal_hard")
            per_sample = results.get("sample", {}).get("token_forwards_per_output") or T
            n = max(2, round(ref["token_forwards_per_output"] / per_sample)) if ref else 8
        outs_all, tf, calls, secs = [], 0, 0, 0.0
        for s, e in batches():
            d = Decoder(model, None, tok)
            rep = [p for p in prompts[s:e] for _ in range(n)]
            t0 = time.perf_counter()
            outs_all += d.generate(
                rep, max_new_tokens=T, temperature=args.temperature, seed=args.seed + s
            )
            secs += time.perf_counter() - t0
            steps = d.last_timing.get("steps", 0)
            tf += steps * len(rep)
            calls += steps
        # rerank by DeAL's objective: mean log-prob + weight * keyword fraction
        ids = [[t for t in o.token_ids if t not in base.runner.eos] for o in outs_all]
        nll = token_nll(model, pad, [pi for pi in prompt_ids for _ in range(n)], ids)
        best = []
        for i in range(len(rows)):
            cands = range(i * n, (i + 1) * n)
            score = [
                (-nll[c] if not math.isnan(nll[c]) else -1e9)
                + args.weight * kw[i].score("", str(outs_all[c]))
                for c in cands
            ]
            best.append(outs_all[i * n + max(range(n), key=lambda j: score[j])])
        finish(name, best, tf, calls, secs, {"n": n})

    print(
        f"{len(rows)} concept sets, model {getattr(model.config, '_name_or_path', args.model)}, "
        f"max_new_tokens {T}, batch {B}",
        flush=True,
    )
    order = [m for m in ["sample", "hard", "deal", "deal_hard", "best_of_n"] if m in methods]
    for m in order:
        print(f"{m} ...", flush=True)
        if m == "sample":
            run_plain(m, None)
        elif m == "hard":
            run_plain(m, lambda w: hard_constraint(w, args.hard))
        elif m == "deal":
            run_deal(m, None)
        elif m == "deal_hard":
            run_deal(m, lambda w: hard_constraint(w, args.hard))
        elif m == "best_of_n":
            run_best_of_n(m)

    head = (
        "| method | all-concept coverage | concept fraction | NLL/token | distinct-2 | hit limit | "
        "repetitive | token forwards/output | calls/output | s/output |"
    )
    print()
    print(head)
    print("|" + "---|" * 10)
    for m in [x for x in METHODS if x in results]:
        r = results[m]
        label = f"best_of_n (N={r['n']})" if m == "best_of_n" else m
        print(
            f"| {label} | {r['coverage']:.0%} | {r['concept_fraction']:.2f} | {r['nll']:.3f} | "
            f"{r['distinct2']:.2f} | {r['hit_limit']}/{r['outputs']} | {r['repetitive']}/{r['outputs']} | "
            f"{r['token_forwards_per_output']:.0f} | {r['calls_per_output']:.0f} | "
            f"{r['seconds_per_output']:.2f} |"
        )
    config = {k: v for k, v in vars(args).items() if k not in ("out", "plot")}
    config["concept_sets"] = len(rows)
    config["command"] = "python bench/deal.py " + " ".join(sys.argv[1:] if argv is None else argv)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps({"config": config, "results": results}, indent=2))
        print(f"wrote {args.out}")
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6, 4))
        for m, r in results.items():
            ax.scatter(r["token_forwards_per_output"], 100 * r["coverage"], s=40)
            ax.annotate(
                m if m != "best_of_n" else f"best-of-{r['n']}",
                (r["token_forwards_per_output"], 100 * r["coverage"]),
                textcoords="offset points",
                xytext=(5, 4),
                fontsize=9,
            )
        ax.set_xscale("log")
        ax.set_xlabel("token forwards per output (log)")
        ax.set_ylabel("all-concept coverage (%)")
        ax.set_title(f"Coverage vs compute, {len(rows)} concept sets")
        ax.set_ylim(-5, 105)
        ax.grid(alpha=0.3)
        fig.tight_layout()
        fig.savefig(args.plot, dpi=120)
        print(f"wrote {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
