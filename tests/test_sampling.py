"""Faithful constrained sampling (decoder.sampling): masked, ASAp, CARS against the exact
distribution of small enumerable languages.

Statistical tests use a tiny deterministic "model" (a table of next-token logits behind
``CallableLM``) with the real engine's matcher, through the same trie and walks as a real
model; the stories260k tests run the same samplers on a real ``transformers`` model.
"""

from __future__ import annotations

import math
import re
import zlib

import numpy as np
import pytest
from conftest import shared_path

decoder = pytest.importorskip("decoder")
from decoder import Grammar, Matcher, Vocabulary  # noqa: E402
from decoder.errors import DecoderError  # noqa: E402
from decoder.sampling import (  # noqa: E402
    CallableLM,
    NoCompleteOutput,
    PrefixTrie,
    TrieMismatch,
    make_sampler,
)
from decoder.sampling.exact import enumerate_language, exact_bounds, kl_to_exact  # noqa: E402


def chi2_sf(x: float, dof: int) -> float:
    """P(X >= x) for X ~ chi-squared(dof): the regularized upper incomplete gamma Q(dof/2, x/2)
    (series below a + 1, Lentz's continued fraction above; Numerical Recipes 6.2)."""
    a, z = dof / 2.0, x / 2.0
    if z <= 0:
        return 1.0
    lg = a * math.log(z) - z - math.lgamma(a)
    if z < a + 1:
        term = total = 1.0 / a
        k = a
        while abs(term) > abs(total) * 1e-15:
            k += 1
            term *= z / k
            total += term
        return max(0.0, 1.0 - total * math.exp(lg))
    b, c, d = z + 1 - a, 1e300, 1 / (z + 1 - a)
    h = d
    for i in range(1, 10_000):
        an = -i * (i - a)
        b += 2
        d = an * d + b
        d = 1e-300 if abs(d) < 1e-300 else d
        c = b + an / c
        c = 1e-300 if abs(c) < 1e-300 else c
        d = 1 / d
        h *= d * c
        if abs(d * c - 1) < 1e-15:
            break
    return math.exp(lg) * h


# ------------------------------------------------------------------ a toy model
TOKENS = [b"", b"0", b"1", b"00", b"11", b"a"]  # id 0 is EOS
SKEWED = r"00000|1[01]{4}"  # GAD's skewed language


def toy_logits(prefix: tuple) -> np.ndarray:
    """Likes to start with 0, but after a 0 it would rather leave the language (1s, 'a'),
    so the strings starting with 0 carry little of Z: masked sampling over-draws them."""
    if not prefix:
        return np.array([0.0, 3.0, 0.0, 1.0, -1.0, 2.0])
    rs = np.random.default_rng(zlib.crc32(repr(prefix).encode()))
    z = rs.normal(size=len(TOKENS))
    if prefix[0] in (1, 3):  # started with 0: push toward 1 and 'a'
        z[[2, 4, 5]] += 3.0
    return z


@pytest.fixture(scope="module")
def toy():
    vocab = Vocabulary.from_bytes(TOKENS, eos_ids=0)
    return vocab, Matcher(Grammar.from_regex(SKEWED), vocab)


def _sampler(name, toy, max_new_tokens=12, **kw):
    vocab, root = toy
    return make_sampler(
        name, CallableLM(toy_logits, len(TOKENS)), root, vocab, max_new_tokens, **kw
    )


def _exact(toy, max_new_tokens=12):
    vocab, root = toy
    trie = PrefixTrie(CallableLM(toy_logits, len(TOKENS)), vocab.eos_ids, max_new_tokens)
    return trie, enumerate_language(trie, root)


def chi2_pvalue(keys, enum) -> float:
    """Pearson's chi-squared of sampled sequences against the exact distribution
    (categories expected fewer than 5 times pooled into one)."""
    seqs, q = enum.probabilities()
    n = len(keys)
    counts = {k: 0 for k in seqs}
    for k in keys:
        counts[k] += 1  # KeyError = a sequence outside the language
    exp = n * q
    big = exp >= 5
    obs = np.array([counts[k] for k in seqs], dtype=float)
    f_obs = np.append(obs[big], obs[~big].sum())
    f_exp = np.append(exp[big], exp[~big].sum())
    if f_exp[-1] == 0:
        f_obs, f_exp = f_obs[:-1], f_exp[:-1]
    stat = float(((f_obs - f_exp) ** 2 / f_exp).sum())
    return chi2_sf(stat, len(f_obs) - 1)


# ------------------------------------------------------------------ distribution
def test_enumeration_covers_every_tokenization(toy):
    _, enum = _exact(toy)
    strings = {b"".join(TOKENS[t] for t in k[:-1]) for k in enum.logp}
    assert strings == {b"00000"} | {b"1" + format(i, "04b").encode() for i in range(16)}
    # "00000" alone has 8 tokenizations over {"0", "00"}: 1+1+1+1+1, 00+0+0+0, ...
    assert sum(1 for k in enum.logp if k[0] in (1, 3)) == 8
    assert enum.pruned_mass == 0.0 and 0 < enum.Z < 1


def test_cars_passes_chi_squared_and_masked_fails_it(toy):
    _, enum = _exact(toy)
    cars = _sampler("cars", toy)
    keys = [s.key for s in cars.sample(3000, seed=7)]
    assert chi2_pvalue(keys, enum) > 0.01
    assert cars.stats.rejected > 0  # it did have to reject
    masked = _sampler("masked", toy)
    mkeys = [s.key for s in masked.sample(3000, seed=7)]
    assert chi2_pvalue(mkeys, enum) < 1e-6
    assert kl_to_exact(mkeys, enum) > 20 * kl_to_exact(keys, enum)


def test_asap_converges_to_the_exact_distribution(toy):
    _, enum = _exact(toy)
    asap = _sampler("asap", toy)
    first = [s.key for s in asap.sample(2000, seed=3)]  # learning: biased early on
    later = [s.key for s in asap.sample(3000, seed=4)]
    assert chi2_pvalue(later, enum) > 0.01
    masked = [s.key for s in _sampler("masked", toy).sample(2000, seed=3)]
    assert kl_to_exact(first, enum) < kl_to_exact(masked, enum) / 10


@pytest.mark.parametrize("name", ["masked", "asap", "cars"])
def test_every_sample_satisfies_the_constraint(toy, name):
    rx = re.compile(SKEWED.encode())
    for s in _sampler(name, toy).sample(300, seed=1):
        assert rx.fullmatch(s.data), s
        assert s.eos_id == 0 and len(s.key) <= 12
        assert (
            s.logp
            == pytest.approx(
                sum(  # the model's log-probability of the sequence
                    float(
                        np.log(
                            np.exp(toy_logits(s.key[:i]))[t] / np.exp(toy_logits(s.key[:i])).sum()
                        )
                    )
                    for i, t in enumerate(s.key)
                ),
                abs=1e-5,
            )
        )  # (float32 log-probs)


@pytest.mark.parametrize("name", ["asap", "cars"])
def test_bounds_never_increase_and_never_undercut_the_exact_value(toy, name):
    trie, _ = _exact(toy)
    efg = exact_bounds(trie)  # exact future mass of every prefix
    s = _sampler(name, toy)
    prev: dict = {}
    for seed in range(150):
        s.sample(1, seed=seed)
        now = {}
        for prefix, node in s.trie.nodes():
            if node.expanded:
                for i, t in enumerate(node.ids.tolist()):
                    now[prefix + (t,)] = float(node.bound[i])
                assert node.mass() >= efg[prefix] * (1 - 1e-12)
        now[()] = s.trie.root_bound
        for k, v in now.items():
            assert v <= prev.get(k, 1.0) + 1e-15, k  # never increases
            assert v >= efg.get(k, 1.0) * (1 - 1e-12), k  # never below the exact EFG
        prev = now
    assert s.trie.root_bound < 1.2 * efg[()]  # and they converge (from 1)


def test_saved_trie_reloads_to_the_same_state(toy, tmp_path):
    vocab, root = toy
    a = _sampler("asap", toy)
    a.sample(200, seed=0)
    path = tmp_path / "trie.npz"
    a.trie.save(path)
    lm = CallableLM(toy_logits, len(TOKENS))
    t = PrefixTrie.load(path, lm)
    assert t.root_bound == a.trie.root_bound and len(t) == len(a.trie)
    got = {p: n for p, n in t.nodes() if n.expanded}
    for prefix, node in a.trie.nodes():
        if node.expanded:
            m = got[prefix]
            assert np.array_equal(m.ids, node.ids) and np.array_equal(m.bound, node.bound)
            assert np.array_equal(m.logp, node.logp) and np.array_equal(m.is_eos, node.is_eos)
    b = make_sampler("asap", lm, root, vocab, trie=t)  # continues exactly where it stopped
    assert [x.key for x in b.sample(50, seed=9)] == [x.key for x in a.sample(50, seed=9)]
    assert lm.distributions < len(a.trie)  # the stored distributions were reused


def test_trie_refuses_another_setup(toy, tmp_path):
    vocab, root = toy
    lm = CallableLM(toy_logits, len(TOKENS))
    t = PrefixTrie(lm, vocab.eos_ids, 12, fingerprint={"prompt": "abc", "model": "toy"})
    t.save(tmp_path / "t.npz")
    with pytest.raises(TrieMismatch, match="prompt"):
        PrefixTrie.load(tmp_path / "t.npz", lm, fingerprint={"prompt": "xyz", "model": "toy"})


def test_no_complete_output_is_a_clear_error(toy):
    vocab, _ = toy
    root = Matcher(Grammar.from_regex(r"0{9}"), vocab)  # needs >= 5 tokens + EOS
    s = make_sampler("cars", CallableLM(toy_logits, len(TOKENS)), root, vocab, max_new_tokens=4)
    with pytest.raises(NoCompleteOutput, match="max_new_tokens=4"):
        s.sample(1, seed=0)


def test_length_limit_is_part_of_the_target(toy):
    """0{1,8} within 4 tokens: dead ends at the limit; CARS stays exact on the truncated language."""
    vocab, _ = toy
    root = Matcher(Grammar.from_regex(r"0{1,8}"), vocab)
    trie = PrefixTrie(CallableLM(toy_logits, len(TOKENS)), vocab.eos_ids, 4)
    enum = enumerate_language(trie, root)
    assert max(len(k) for k in enum.logp) == 4
    s = make_sampler("cars", CallableLM(toy_logits, len(TOKENS)), root, vocab, max_new_tokens=4)
    keys = [x.key for x in s.sample(2000, seed=5)]
    assert chi2_pvalue(keys, enum) > 0.01


# ------------------------------------------------------------------ a real model
@pytest.fixture(scope="module")
def stories():
    path = shared_path("models", "stories260k")
    transformers = pytest.importorskip("transformers")
    import torch

    model = transformers.AutoModelForCausalLM.from_pretrained(str(path))
    tok = transformers.AutoTokenizer.from_pretrained(str(path))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a 260k-parameter model: more threads only wait on each other
    yield model, tok
    torch.set_num_threads(threads)


def test_stories260k_cars_matches_the_exact_distribution(stories):
    from decoder.generate import Decoder

    model, tok = stories
    d = Decoder(model, decoder.Regex(r"[01]{3}"), tok, sampler="cars")
    prompt = "Once upon a time"
    gens = d.sample(prompt, n=600, seed=0, max_new_tokens=8)
    assert all(re.fullmatch(r"[01]{3}", str(g)) and g.complete for g in gens)
    s = d.sampler_for(prompt, max_new_tokens=8)
    assert s.stats.samples == 600
    from decoder.sampling import HFPrefixLM

    trie = PrefixTrie(HFPrefixLM(model, d.encode(prompt)), d.vocab.eos_ids, 8)
    enum = enumerate_language(trie, d.root_matcher)
    # '0' and '<0x30>' are both tokens: 8 strings x 8 tokenizations each
    assert len(enum.logp) == 8**2
    assert chi2_pvalue([tuple(g.token_ids) for g in gens], enum) > 0.01
    assert all(abs(g.logprob - enum.logp[tuple(g.token_ids)]) < 1e-3 for g in gens[:50])


def test_cli_num_samples(stories, capsys):
    from decoder.cli import main

    path = shared_path("models", "stories260k")
    rc = main(
        [
            "generate",
            "--model",
            str(path),
            "--regex",
            "(cat|dog) (ran|sat)",
            "--prompt",
            "Once upon a time",
            "--sampler",
            "asap",
            "--num-samples",
            "4",
            "--seed",
            "1",
        ]
    )
    lines = capsys.readouterr().out.split("\n")
    assert rc == 0 and len([x for x in lines if x]) == 4
    assert all(re.fullmatch(r"(cat|dog) (ran|sat)", x) for x in lines if x)


def test_samples_arrive_as_they_are_drawn(stories):
    """on_sample sees every sample, in order, before sample() returns (the command line prints
    them as they come; CARS can reject many walks per sample)."""
    from decoder.generate import Decoder

    model, tok = stories
    d = Decoder(model, decoder.Regex(r"[01]{2}"), tok, sampler="cars")
    seen: list = []
    gens = d.sample("Once upon a time", n=7, seed=3, max_new_tokens=6, on_sample=seen.append)
    assert len(gens) == 7 and [id(g) for g in seen] == [id(g) for g in gens]
    assert all(re.fullmatch(r"[01]{2}", str(g)) for g in seen)


def test_composed_constraints_follow_the_protocol(toy):
    """A lexical filter composed with a grammar (decoder.constraints) goes through the same walks."""
    constraints = pytest.importorskip("decoder.constraints")
    vocab, _ = toy
    c = Grammar.from_regex(r"[01a]{1,4}") & constraints.NoLetters("a")
    root = c.matcher(vocab)
    trie = PrefixTrie(CallableLM(toy_logits, len(TOKENS)), vocab.eos_ids, 6)
    enum = enumerate_language(trie, root)
    s = make_sampler("cars", CallableLM(toy_logits, len(TOKENS)), root, vocab, max_new_tokens=6)
    out = s.sample(1500, seed=2)
    assert all(re.fullmatch(rb"[01]{1,4}", x.data) for x in out)
    assert chi2_pvalue([x.key for x in out], enum) > 0.01


def test_chi2_helper_matches_tabulated_quantiles():
    # 95% and 99.9% quantiles of chi-squared tables
    assert chi2_sf(3.841, 1) == pytest.approx(0.05, abs=1e-4)
    assert chi2_sf(18.307, 10) == pytest.approx(0.05, abs=1e-4)
    assert chi2_sf(29.588, 10) == pytest.approx(0.001, abs=1e-5)


def test_make_sampler_takes_a_constraint_too(toy):
    """make_sampler compiles a constraint (as_constraint's inputs) as well as taking a matcher."""
    vocab, root = toy
    lm = CallableLM(toy_logits, len(TOKENS))
    from_grammar = make_sampler("cars", lm, Grammar.from_regex(SKEWED), vocab, max_new_tokens=12)
    from_matcher = make_sampler(
        "cars", CallableLM(toy_logits, len(TOKENS)), root, vocab, max_new_tokens=12
    )
    a = [s.key for s in from_grammar.sample(20, seed=3)]
    b = [s.key for s in from_matcher.sample(20, seed=3)]
    assert a == b
    with pytest.raises(DecoderError, match="cannot use a int"):
        make_sampler("cars", lm, 42, vocab)
