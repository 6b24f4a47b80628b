"""genlm-control as a peer on the faithfulness benchmark's languages (optional; not a dependency).

    python -m venv --system-site-packages /tmp/faith/venv && /tmp/faith/venv/bin/pip install genlm-control
    /tmp/faith/venv/bin/python bench/faithfulness_genlm.py --models stories260k \\
        --out docs/results/faithfulness_genlm.json

genlm-control's sampler is sequential Monte Carlo with AWRS (adaptive weighted rejection
sampling) token proposals, on the same local model and prompt, with each constraint as a
regular expression (``BoolFSA.from_regex``; the same languages as ``bench/faithfulness.py``).
Its output is a weighted set of particles, so for each ``N`` one SMC run with ``N`` particles
gives the weighted empirical distribution over strings, compared (KL over *strings*, its
posterior is reported by string) with the exact marginal of ``Q`` computed by enumeration.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import sys
import time
from collections import Counter
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import warnings  # noqa: E402

warnings.filterwarnings("ignore")

WORDS_NO_E = "|".join(
    w for w in ["the", "cat", "sat", "on", "mat", "dog", "ran", "red", "hen", "big"] if "e" not in w
)
REGEXES = {
    "skewed": r"00000|1[01]{4}",
    "binary": r"[01]{5}",
    "arith": r"[1-9][-+*][1-9]|\([1-9][-+*][1-9]\)[-+*][1-9]|[1-9]",
    "lipogram": rf"({WORDS_NO_E}) ({WORDS_NO_E})",
    "json_enum": r'\{"color":"(red|green|blue)","size":"(S|M|L)"\}',
}


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default="stories260k")
    ap.add_argument("--languages", default=",".join(REGEXES))
    ap.add_argument("--ns", default="100,500,2000")
    ap.add_argument("--max-new-tokens", type=int, default=40)
    ap.add_argument("--min-prob", type=float, default=1e-9)
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    import torch
    from faithfulness import languages, load
    from genlm.backend.llm import AsyncTransformer
    from genlm.control import AWRS, BoolFSA, PromptedLLM

    from decoder.constraints import as_constraint
    from decoder.models import model_eos_ids, model_vocab_size, vocabulary_for
    from decoder.sampling import HFPrefixLM, PrefixTrie
    from decoder.sampling.exact import enumerate_language

    torch.set_num_threads(1)
    ns = [int(x) for x in args.ns.split(",")]
    langs = languages()
    results = []
    for mname in args.models.split(","):
        model, tok, story = load(mname)
        vocab = vocabulary_for(tok, model_vocab_size(model), model_eos_ids(model))
        for lname in args.languages.split(","):
            constraint, desc, prompt = langs[lname]
            prompt = "Once upon a time" if story else prompt
            ids = tok(prompt)["input_ids"]
            enum = enumerate_language(
                PrefixTrie(HFPrefixLM(model, ids), vocab.eos_ids, args.max_new_tokens),
                as_constraint(constraint).matcher(vocab),
                min_prob=args.min_prob,
            )
            Z = math.exp(enum.logZ)
            qs: Counter = Counter()
            for k, lp in enum.logp.items():
                qs[b"".join(vocab.tokens[t] for t in k[:-1]).decode()] += math.exp(lp) / Z
            plm = PromptedLLM(AsyncTransformer(model, tok), prompt_ids=ids)
            sampler = AWRS(plm, BoolFSA.from_regex(REGEXES[lname]).coerce(plm, f=b"".join))
            row = {
                "model": mname,
                "language": lname,
                "regex": REGEXES[lname],
                "string_kl": {},
                "seconds": {},
                "outside": {},
            }
            for n in ns:
                t0 = time.perf_counter()
                try:
                    seqs = asyncio.run(
                        sampler.smc(
                            n_particles=n, ess_threshold=0.5, max_tokens=args.max_new_tokens
                        )
                    )
                except Exception as e:  # noqa: BLE001 - the peer's own failure, recorded
                    row.setdefault("errors", {})[n] = f"{type(e).__name__}: {e}"[:300]
                    print(
                        f"{mname} {lname} N={n}: genlm-control failed: {type(e).__name__} {e}"[
                            :300
                        ],
                        flush=True,
                    )
                    continue
                dt = time.perf_counter() - t0
                post = dict(seqs.decoded_posterior)
                kl = sum(
                    p * math.log(p / qs[s]) for s, p in post.items() if p > 0 and qs.get(s, 0) > 0
                )
                row["string_kl"][n] = kl
                row["outside"][n] = sum(p for s, p in post.items() if qs.get(s, 0) == 0)
                row["seconds"][n] = dt
                print(
                    f"{mname} {lname} N={n}: string KL {kl:.4f}, mass outside Q {row['outside'][n]:.3f}, "
                    f"{dt:.1f}s",
                    flush=True,
                )
            results.append(row)
            if args.out:
                Path(args.out).write_text(
                    json.dumps({"command": " ".join(sys.argv), "results": results}, indent=1)
                )


if __name__ == "__main__":
    main()
