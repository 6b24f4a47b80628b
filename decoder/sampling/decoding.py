"""``Decoder.sample`` and the ``--sampler`` / ``--num-samples`` command-line options.

A :class:`~decoder.generate.Decoder` keeps one sampler (and its trie) per
``(sampler, prompt, max_new_tokens, temperature)``, so repeated calls keep learning;
``Decoder.sampler_for(...)`` returns it (``.trie.save(path)`` keeps it across runs,
``trie=`` loads one back).
"""

from __future__ import annotations

import hashlib

from ..errors import DecoderError
from ..generation import Generation
from .lm import HFPrefixLM
from .samplers import SAMPLERS, TrieSampler
from .trie import PrefixTrie

__all__ = ["sampler_for", "decoder_sample", "add_cli_arguments"]


def _fingerprint(dec, prompt_ids, max_new_tokens, temperature) -> dict:
    model = getattr(dec.model.config, "_name_or_path", type(dec.model).__name__)
    return {
        "model": str(model),
        "vocab": int(dec.width),
        "prompt": hashlib.sha256(repr(list(prompt_ids)).encode()).hexdigest()[:16],
        "constraint": hashlib.sha256(repr(dec.constraint).encode()).hexdigest()[:16],
        "max_new_tokens": int(max_new_tokens),
        "temperature": float(temperature),
    }


def sampler_for(
    dec,
    prompt,
    sampler: str | None = None,
    max_new_tokens: int = 256,
    temperature: float = 1.0,
    trie=None,
    batch: int | None = None,
) -> TrieSampler:
    """The decoder's sampler for ``prompt`` (created on first use, then reused and still learning).

    ``trie``: a path to a trie saved with ``sampler.trie.save(path)`` to start from.
    """
    name = sampler or dec.sampler or "masked"
    if name not in SAMPLERS:
        raise DecoderError(f"unknown sampler {name!r}: choose one of {', '.join(SAMPLERS)}")
    if isinstance(dec.constraint, (list, tuple)):
        raise DecoderError("Decoder.sample takes one constraint; this decoder has one per prompt")
    root = dec.root_matcher
    if root is None:
        raise DecoderError(
            "Decoder.sample needs a constraint (for unconstrained sampling use "
            "generate(..., temperature=1))"
        )
    ids = dec.encode(prompt)
    ctx = dec.context_length
    if ctx is not None:
        if len(ids) >= ctx:
            raise DecoderError(
                f"the prompt is {len(ids)} tokens long but the model's context is {ctx}"
            )
        max_new_tokens = min(max_new_tokens, ctx - len(ids))
    cache = dec.samplers
    key = (name, tuple(ids), int(max_new_tokens), float(temperature))
    s = cache.get(key)
    if s is None or trie is not None:
        lm = HFPrefixLM(dec.runner, ids, temperature=temperature, vocab_size=dec.width)
        fp = _fingerprint(dec, ids, max_new_tokens, temperature)
        t = (
            PrefixTrie.load(trie, lm, fp)
            if trie is not None
            else PrefixTrie(lm, dec.vocab.eos_ids, max_new_tokens, fp)
        )
        s = cache[key] = SAMPLERS[name](t, root, dec.vocab.tokens, batch=batch)
    return s


def decoder_sample(
    dec,
    prompt,
    n: int = 1,
    seed: int | None = None,
    sampler: str | None = None,
    max_new_tokens: int = 256,
    temperature: float = 1.0,
    trie=None,
    batch: int | None = None,
    on_sample=None,
) -> list:
    """``n`` samples as :class:`~decoder.generate.Generation` objects (with ``.logprob``);
    ``on_sample(generation)`` is called with each as soon as it is drawn."""
    s = sampler_for(dec, prompt, sampler, max_new_tokens, temperature, trie, batch)
    out = []

    def got(x) -> None:
        g = Generation(x.data, list(x.key), "stop", True, dec.model_class)
        g.logprob = x.logp
        out.append(g)
        if on_sample is not None:
            on_sample(g)

    s.sample(n, seed=seed, on_sample=got)
    return out


def add_cli_arguments(p) -> None:
    """``--sampler`` and ``--num-samples`` for ``decoder generate``."""
    p.add_argument(
        "--sampler",
        choices=sorted(SAMPLERS),
        default=None,
        help="draw samples from the model conditioned on the constraint: masked (what "
        "engines do, biased), asap (GAD), cars (exact rejection sampling); "
        "temperature defaults to 1 (default: none, plain constrained decoding)",
    )
    p.add_argument(
        "--num-samples",
        type=int,
        default=None,
        metavar="N",
        help="number of samples (one per line; implies --sampler masked unless given; "
        "default: 1 with --sampler)",
    )


def run_cli(dec, prompt, args) -> int:
    """Print ``--num-samples`` samples, one per line; 0 on success."""
    n = args.num_samples if args.num_samples is not None else 1
    if n < 1:
        raise DecoderError("--num-samples must be >= 1")
    temperature = args.temperature if args.temperature > 0 else 1.0
    # each sample is printed as soon as it is drawn (CARS can take a while per sample)
    decoder_sample(
        dec,
        prompt,
        n=n,
        seed=args.seed,
        sampler=args.sampler or "masked",
        max_new_tokens=args.max_new_tokens,
        temperature=temperature,
        on_sample=lambda g: print(str(g), flush=True),
    )
    return 0
