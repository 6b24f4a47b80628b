"""How faithful is constrained sampling?  Exact KL to the model's distribution conditioned
on the constraint, for masked sampling, ASAp and CARS, on languages small enough to enumerate.

    python bench/faithfulness.py --models stories260k,default \\
        --out docs/results/faithfulness.json --plot docs/results/faithfulness.png

The target (see ``decoder/sampling/samplers.py``): ``Q(y) = P(y | prompt) / Z`` over the token
sequences ``y = t_1 .. t_k EOS`` the constraint's mask allows at every step (every
tokenization, canonical or not), within ``max_new_tokens``.  It is computed exactly by
enumerating every such sequence and scoring it with the model (``decoder.sampling.exact``);
for languages with many tokenizations, prefixes with ``P < min_prob`` are pruned and the
pruned mass (an upper bound on what ``Z`` misses) is reported.  For each sampler, one run
of ``N_max`` samples; ``KL(empirical of the first N || Q)`` at each ``N``.  The floor: the
KL of ``N`` independent exact draws (median of 5).  Cost: next-token distributions the
model computed (each prefix once: the samplers keep a trie), forward calls, tokens walked
(what a loop without a cross-sample cache would pay in forward positions) and seconds.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from decoder import Grammar  # noqa: E402
from decoder.sampling import SAMPLERS, HFPrefixLM, NoCompleteOutput, PrefixTrie  # noqa: E402
from decoder.sampling.exact import enumerate_language, exact_draws, kl_to_exact  # noqa: E402

WORDS = ["the", "cat", "sat", "on", "mat", "dog", "ran", "red", "hen", "big"]


def lipogram():
    """Two words from WORDS with no letter e: the lexical filter when it is there."""
    words = "|".join(WORDS)
    g = Grammar.from_regex(rf"({words}) ({words})")
    try:
        from decoder.constraints import NoLetters

        return g & NoLetters("e"), "regex & NoLetters('e')"
    except ImportError:
        ok = "|".join(w for w in WORDS if "e" not in w)
        return Grammar.from_regex(rf"({ok}) ({ok})"), "regex over the e-free words"


#: enumerate these completely (every tokenization); the others prune (``--min-prob``)
COMPLETE = {"skewed", "binary"}


def languages():
    arith = Grammar.from_lark(r"""
        start: NUM | NUM OP NUM | "(" NUM OP NUM ")"
        NUM: "1".."9"
        OP: "+" | "-" | "*"
    """)
    schema = {
        "type": "object",
        "properties": {
            "color": {"enum": ["red", "green", "blue"]},
            "size": {"enum": ["S", "M", "L"]},
        },
        "required": ["color", "size"],
        "additionalProperties": False,
    }
    lip, lip_how = lipogram()
    return {
        "skewed": (
            Grammar.from_regex(r"00000|1[01]{4}"),
            "GAD's skewed language: 00000 | 1[01]{4}",
            "A random binary string: ",
        ),
        "binary": (
            Grammar.from_regex(r"[01]{5}"),
            "fixed-length binary strings [01]{5}",
            "A random binary string: ",
        ),
        "arith": (
            arith,
            "bounded arithmetic (Lark): d | d op d | (d op d), d in 1-9, op in +-*",
            "An arithmetic expression: ",
        ),
        "lipogram": (
            lip,
            f"two words of a 10-word list without the letter e ({lip_how})",
            "Two words: ",
        ),
        "json_enum": (
            Grammar.from_json_schema(schema, whitespace="compact"),
            "JSON object with two enums (3 x 3), compact",
            "A JSON object for a t-shirt: ",
        ),
    }


def load(name):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if name == "stories260k":
        p = ROOT.parent / "shared" / "models" / "stories260k"
        return (
            AutoModelForCausalLM.from_pretrained(str(p)),
            AutoTokenizer.from_pretrained(str(p)),
            True,
        )
    from decoder.models import load_model

    model, tok = load_model(None)
    return model, tok, False


def string_kl(keys, enum, tokens):
    """KL over strings (tokenizations merged) of the empirical distribution vs Q's marginal."""
    qs: Counter = Counter()
    Z = math.exp(enum.logZ)
    for k, lp in enum.logp.items():
        qs[b"".join(tokens[t] for t in k[:-1])] += math.exp(lp) / Z
    c = Counter(b"".join(tokens[t] for t in k[:-1]) for k in keys)
    n = len(keys)
    return sum(v / n * math.log((v / n) / qs[s]) for s, v in c.items() if qs[s] > 0)


def run_language(model, tok, story, lname, spec, args):
    from decoder.constraints import as_constraint
    from decoder.models import model_eos_ids, model_vocab_size, vocabulary_for

    constraint, desc, prompt = spec
    if story:
        prompt = "Once upon a time"
    width = model_vocab_size(model)
    vocab = vocabulary_for(tok, width, model_eos_ids(model))
    root = as_constraint(constraint).matcher(vocab)
    ids = tok(prompt)["input_ids"]
    T = args.max_new_tokens
    t0 = time.perf_counter()
    lm = HFPrefixLM(model, ids, max_batch=64)
    min_prob = 0.0 if lname in COMPLETE else args.min_prob
    enum = enumerate_language(PrefixTrie(lm, vocab.eos_ids, T), root, min_prob=min_prob)
    t_enum = time.perf_counter() - t0
    keys, q = enum.probabilities()
    lp = np.array([enum.logp[k] for k in keys])
    res = {
        "language": lname,
        "description": desc,
        "prompt": prompt,
        "sequences": len(keys),
        "strings": len({b"".join(vocab.tokens[t] for t in k[:-1]) for k in keys}),
        "Z": math.exp(enum.logZ),
        "pruned_mass": enum.pruned_mass,
        "pruned_over_Z": enum.pruned_mass / math.exp(enum.logZ),
        "enumerated_prefixes": enum.nodes,
        "enumeration_s": t_enum,
        "min_prob": min_prob,
        "exact_expected_logp": float((q * lp).sum()),
        "samplers": {},
    }
    rng = np.random.default_rng(12345)
    floor = {}
    for n in args.ns:
        floor[n] = statistics.median(kl_to_exact(exact_draws(enum, n, rng), enum) for _ in range(5))
    res["exact_floor_kl"] = floor
    for name in args.samplers:
        runs = []
        for seed in range(args.seeds):
            lm = HFPrefixLM(model, ids, max_batch=64)
            s = SAMPLERS[name](PrefixTrie(lm, vocab.eos_ids, T), root, vocab.tokens)
            t1 = time.perf_counter()
            out, rng = [], np.random.default_rng(seed)
            s.max_walks = 2000  # lets the time limit be checked while CARS rejects
            while len(out) < max(args.ns) and time.perf_counter() - t1 < args.time_limit:
                try:
                    out += s.sample(min(25, max(args.ns) - len(out)), rng=rng)
                except NoCompleteOutput:
                    pass
            if not out:
                res["samplers"][name] = {
                    "samples": 0,
                    "seconds": time.perf_counter() - t1,
                    "distributions": lm.distributions,
                    "walks": s.stats.walks,
                    "rejected": s.stats.rejected,
                }
                print(
                    f"  {lname:10s} {name:7s} no sample within {args.time_limit:.0f}s "
                    f"({s.stats.walks} walks, {lm.distributions} distributions)",
                    flush=True,
                )
                break
            dt = time.perf_counter() - t1
            ks = [x.key for x in out]
            lps = {x.key: x.logp for x in out}
            N = len(out)
            runs.append(
                {
                    "kl": {n: kl_to_exact(ks[:n], enum, lps) if n <= N else None for n in args.ns},
                    "string_kl": {
                        n: string_kl(ks[:n], enum, vocab.tokens) if n <= N else None
                        for n in args.ns
                    },
                    "samples": N,
                    "time_limited": N < max(args.ns),
                    "expected_logp": float(np.mean([x.logp for x in out])),
                    "distributions_per_sample": lm.distributions / N,
                    "calls_per_sample": lm.calls / N,
                    "tokens_walked_per_sample": s.stats.steps / N,
                    "seconds_per_sample": dt / N,
                    "rejected": s.stats.rejected,
                    "dead_ends": s.stats.dead_ends,
                    "walks": s.stats.walks,
                    "trie_nodes": s.trie.expansions,
                    "outside_enumeration": sum(k not in enum.logp for k in ks) / N,
                }
            )
        if not runs:
            continue
        agg = {
            k: statistics.median(r[k] for r in runs)
            for k in runs[0]
            if isinstance(runs[0][k], (int, float)) and not isinstance(runs[0][k], bool)
        }
        med = lambda xs: statistics.median(xs) if all(x is not None for x in xs) else None
        agg["kl"] = {n: med([r["kl"][n] for r in runs]) for n in args.ns}
        agg["string_kl"] = {n: med([r["string_kl"][n] for r in runs]) for n in args.ns}
        agg["runs"] = runs
        res["samplers"][name] = agg
        last = (
            max(n for n in args.ns if agg["kl"][n] is not None)
            if agg["kl"][args.ns[0]] is not None
            else None
        )
        print(
            f"  {lname:10s} {name:7s} {agg['samples']} samples, KL@{last}={agg['kl'].get(last) or float('nan'):.4f} "
            f"(floor {floor.get(last, float('nan')):.4f}) dist/sample={agg['distributions_per_sample']:.2f} "
            f"walked/sample={agg['tokens_walked_per_sample']:.2f} s/sample={agg['seconds_per_sample']*1e3:.2f}ms",
            flush=True,
        )
    return res


def table(results, ns):
    lines = []
    hdr = (
        "| model | language | seqs | Z | sampler | "
        + " | ".join(f"KL@{n}" for n in ns)
        + " | E[log P] | dist/sample | walked/sample | ms/sample |"
    )
    lines.append(hdr)
    lines.append("|" + "---|" * (hdr.count("|") - 1))
    for r in results:
        first = True
        for name, a in list(r["samplers"].items()) + [("exact draws", None)]:
            if a is not None and "kl" not in a:
                lines.append(
                    f"| | | | | {name} | no sample in {a['seconds']:.0f} s ({a['walks']} walks) "
                    + "| " * (len(ns) + 3)
                    + "|"
                )
                continue
            head = (
                f"| {r['model']} | {r['language']} | {r['sequences']} | {r['Z']:.2g} |"
                if first
                else "| | | | |"
            )
            first = False
            if a is None:
                kl = " | ".join(f"{r['exact_floor_kl'][n]:.4f}" for n in ns)
                lines.append(f"{head} {name} | {kl} | {r['exact_expected_logp']:.3f} | | | |")
            else:
                kl = " | ".join("—" if a["kl"][n] is None else f"{a['kl'][n]:.4f}" for n in ns)
                lines.append(
                    f"{head} {name} | {kl} | {a['expected_logp']:.3f} | "
                    f"{a['distributions_per_sample']:.2f} | {a['tokens_walked_per_sample']:.2f} | "
                    f"{a['seconds_per_sample'] * 1e3:.1f} |"
                )
    return "\n".join(lines)


def plot(results, ns, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = sorted({r["model"] for r in results})
    fig, axes = plt.subplots(len(models), 2, figsize=(12, 4.2 * len(models)), squeeze=False)
    colors = {"masked": "tab:red", "asap": "tab:blue", "cars": "tab:green", "exact draws": "black"}
    marks = dict(zip(dict.fromkeys(r["language"] for r in results), "vs>pD^<o"))
    for row, mname in enumerate(models):
        ax, bx = axes[row]
        for r in (r for r in results if r["model"] == mname):
            m = marks[r["language"]]
            for name, a in r["samplers"].items():
                if "kl" not in a:
                    continue
                ok = [n for n in ns if a["kl"][n] is not None]
                ax.plot(
                    ok, [max(a["kl"][n], 1e-5) for n in ok], marker=m, color=colors[name], alpha=0.8
                )
                if ok:
                    bx.scatter(
                        a["distributions_per_sample"],
                        max(a["kl"][ok[-1]], 1e-5),
                        marker=m,
                        color=colors[name],
                        s=50,
                        facecolors="none" if ok[-1] != ns[-1] else None,
                    )
            ax.plot(
                ns, [r["exact_floor_kl"][n] for n in ns], marker=m, color="black", ls=":", alpha=0.6
            )
        ax.set(
            xscale="log",
            yscale="log",
            xlabel="samples N",
            ylabel="KL(empirical || exact), nats",
            title=f"{mname}: KL against N (dotted: N exact draws)",
        )
        bx.set(
            xscale="log",
            yscale="log",
            xlabel="model distributions computed per sample",
            ylabel=f"KL at N={ns[-1]} (hollow: fewer, time limit)",
            title=f"{mname}: KL against cost",
        )
        for name, c in colors.items():
            ax.plot([], [], color=c, label=name)
        for lang, m in marks.items():
            ax.plot([], [], marker=m, color="gray", ls="", label=lang)
        ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def save(results, args):
    meta = {
        "command": "python " + " ".join([Path(sys.argv[0]).as_posix()] + sys.argv[1:]),
        "definition": "KL(empirical of the first N samples || Q), Q(y) = P(y|prompt)/Z over every "
        "allowed token sequence ending in EOS within max_new_tokens",
        "args": vars(args),
    }
    Path(args.out).write_text(json.dumps({"meta": meta, "results": results}, indent=1, default=str))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default="stories260k,default")
    ap.add_argument("--languages", default="skewed,binary,arith,lipogram,json_enum")
    ap.add_argument("--samplers", default="masked,asap,cars")
    ap.add_argument("--ns", default="100,500,2000")
    ap.add_argument("--seeds", type=int, default=1)
    ap.add_argument("--max-new-tokens", type=int, default=40)
    ap.add_argument(
        "--min-prob",
        type=float,
        default=1e-9,
        help="enumeration prunes prefixes whose masked-sampling probability is below "
        "this (the model mass pruned is reported, relative to Z)",
    )
    ap.add_argument("--threads", type=int, default=1, help="torch threads (small models: 1)")
    ap.add_argument(
        "--time-limit",
        type=float,
        default=300.0,
        help="seconds per sampler run; a run stopped early reports the N it reached",
    )
    ap.add_argument("--out", default=None)
    ap.add_argument("--plot", default=None)
    ap.add_argument(
        "--from-json",
        default=None,
        metavar="A.json,B.json",
        help="no run: merge saved results into one table (and --plot)",
    )
    args = ap.parse_args(argv)
    args.ns = [int(x) for x in args.ns.split(",")]
    if args.from_json:
        results = [
            r for f in args.from_json.split(",") for r in json.loads(Path(f).read_text())["results"]
        ]
        for r in results:  # JSON keys are strings
            r["exact_floor_kl"] = {int(k): v for k, v in r["exact_floor_kl"].items()}
            for a in r["samplers"].values():
                if "kl" in a:
                    a["kl"] = {int(k): v for k, v in a["kl"].items()}
        print(table(results, args.ns))
        if args.plot:
            plot(results, args.ns, args.plot)
        return
    args.samplers = args.samplers.split(",")
    import torch

    torch.set_num_threads(args.threads)
    langs = languages()
    results = []
    for mname in args.models.split(","):
        model, tok, story = load(mname)
        for lname in args.languages.split(","):
            print(f"{mname} / {lname}", flush=True)
            r = run_language(model, tok, story, lname, langs[lname], args)
            r["model"] = mname
            results.append(r)
            if args.out:
                save(results, args)
            print(
                f"  {r['sequences']} sequences ({r['strings']} strings), Z={r['Z']:.3g}, pruned "
                f"mass / Z {r['pruned_over_Z']:.2g}, enumerated in {r['enumeration_s']:.1f}s",
                flush=True,
            )
    print()
    print(table(results, args.ns))
    if args.out:
        save(results, args)
    if args.plot:
        plot(results, args.ns, args.plot)


if __name__ == "__main__":
    main()
