"""decoder.runner.ModelRunner: left-padded batches, KV cache, seeding, budget-safe choice."""

from __future__ import annotations

import pytest
from conftest import shared_path

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from decoder import Grammar  # noqa: E402
from decoder.constraints import MaxTokens, NoLetters  # noqa: E402
from decoder.generate import Decoder  # noqa: E402
from decoder.runner import ModelRunner  # noqa: E402

PROMPTS = ["Once upon a time", "The dog", "A little girl named Lily went to the park and"]


@pytest.fixture(scope="module")
def tiny():
    path = str(shared_path("models", "stories260k"))
    torch.set_num_threads(1)
    tok = transformers.AutoTokenizer.from_pretrained(path)
    model = transformers.AutoModelForCausalLM.from_pretrained(path)
    model.eval()
    return model, tok


@pytest.fixture(scope="module")
def runner(tiny):
    model, tok = tiny
    return Decoder(model, None, tok).runner


def test_left_padding_gives_each_row_its_unbatched_logits(runner):
    encoded = [runner.encode(p) for p in PROMPTS]
    assert len({len(e) for e in encoded}) > 1  # the batch really is padded
    ids, attn, pos = runner.left_pad(encoded)
    longest = max(len(e) for e in encoded)
    for r, e in enumerate(encoded):
        pad = longest - len(e)
        assert attn[r, :pad].sum() == 0 and attn[r, pad:].all()
        assert ids[r, pad:].tolist() == e and pos[r, -1].item() == len(e) - 1
    with torch.inference_mode():
        batched, cache, _, _ = runner.prefill(encoded)
        for r, e in enumerate(encoded):
            alone, _, _, _ = runner.prefill([e])
            assert torch.allclose(batched[r], alone[0], atol=1e-4), r
    assert cache is not None


def test_kv_cache_step_equals_a_full_forward(runner):
    e = runner.encode(PROMPTS[0])
    with torch.inference_mode():
        _, cache, attn, pos = runner.prefill([e[:-1]])
        nxt = torch.tensor([[e[-1]]], device=runner.device)
        attn = torch.cat([attn, attn.new_ones((1, 1))], dim=1)
        step, _ = runner.forward(nxt, attn, pos[:, -1:] + 1, cache)
        full, _ = runner.forward(torch.tensor([e], device=runner.device))
    assert torch.allclose(step, full, atol=1e-4)


@pytest.mark.parametrize("constraint", [None, r"( [a-z]+){1,6}\."])
def test_batched_generation_gives_the_unbatched_tokens(tiny, constraint):
    model, tok = tiny
    d = Decoder(
        model, Grammar.from_regex(constraint) if constraint else None, tok, fast_forward=False
    )
    batch = d.generate(PROMPTS, max_new_tokens=12, temperature=0.0)
    for p, b in zip(PROMPTS, batch):
        assert d.generate(p, max_new_tokens=12, temperature=0.0).token_ids == b.token_ids, p


def test_a_fixed_seed_repeats_the_samples(tiny):
    model, tok = tiny
    d = Decoder(model, Grammar.from_regex(r"( [a-z]+){1,6}\."), tok)
    a = d.generate(PROMPTS, max_new_tokens=16, temperature=1.0, seed=7)
    b = d.generate(PROMPTS, max_new_tokens=16, temperature=1.0, seed=7)
    assert [x.token_ids for x in a] == [x.token_ids for x in b]
    g1, g2 = d.runner.generator(1.0, 3), d.runner.generator(1.0, 3)
    logits = torch.zeros((4, 50))
    assert torch.equal(
        ModelRunner.sample(logits, 1.0, 1.0, g1), ModelRunner.sample(logits, 1.0, 1.0, g2)
    )
    assert d.runner.generator(0.0, 3) is None  # greedy needs none


def test_sample_greedy_and_nucleus():
    logits = torch.tensor([[0.0, 5.0, 1.0, -1.0]])
    assert ModelRunner.sample(logits, 0.0).tolist() == [1]
    g = torch.Generator().manual_seed(0)
    draws = {ModelRunner.sample(logits, 1.0, 0.5, g).item() for _ in range(50)}
    assert draws == {1}  # token 1 alone holds more than half the mass


def _logits_row(runner, best: dict):
    row = torch.full((runner.width,), float("-inf"))
    for t, v in best.items():
        row[t] = v
    return row


def test_budget_safe_choice(runner):
    v = runner.vocab
    a, dot = v.tokens.index(b"a"), v.tokens.index(b".")
    m = Grammar.from_regex(r"a{0,40}\.").matcher(v)
    row = _logits_row(runner, {a: 10.0, dot: 1.0})
    # far from the end: nothing is checked
    assert not runner.near_budget(m, 1000)
    assert runner.choose_within_budget(m, row, a, 1000) == a
    # one token left: "a" then needs "." too (2 tokens), so "." is taken instead
    assert runner.near_budget(m, 1)
    assert runner.choose_within_budget(m, row, a, 1) == a  # "a" + "." fits in 1 more token
    assert runner.choose_within_budget(m, row, a, 0) == dot  # nothing after: must end now
    assert m.num_steps == 0  # probing leaves the matcher as it was
    # EOS is chosen only when the output is complete
    eos = v.eos_ids[0]
    assert (
        m.commit(dot)
        and runner.choose_within_budget(m, _logits_row(runner, {eos: 0.0}), eos, 0) == eos
    )
    assert (
        runner.fits(0, 0) and runner.fits(3, 3) and not runner.fits(1, 0) and not runner.fits(-1, 5)
    )


def test_compositions_are_always_checked(runner):
    v = runner.vocab
    m = (Grammar.from_regex(r"[a-z]{1,20}") & NoLetters("e") & MaxTokens(30)).matcher(v)
    assert runner.near_budget(m, 10_000)  # declared WITNESS: every token is checked
    e = v.tokens.index(b"e")
    row = _logits_row(runner, {e: 10.0, v.tokens.index(b"a"): 1.0})
    assert runner.choose_within_budget(m, row, e, 10) != e  # "e" is not allowed at all
    assert runner.witness_token(m) is not None
    assert runner.witness_token(Grammar.from_regex("a").matcher(v)) is None


def test_encode_batch_cuts_to_the_context(runner):
    ctx = runner.context_length
    assert ctx
    with pytest.warns(UserWarning, match="does not fit"):
        _, n = runner.encode_batch(["Once upon a time"], ctx * 2)
    assert n < ctx
    with pytest.raises(ValueError):
        runner.encode_batch(["x"], -1)
