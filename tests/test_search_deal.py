"""DeAL reward-guided search (decoder.search) on the tiny real model in ../shared/models/stories260k.

What is checked: DeAL beats greedy on its own objective with an easy reward; outputs
satisfy the hard constraint; with lookahead 0 and room for every hypothesis the search
is exhaustive and finds the best sequence of a brute-force enumeration; with lookahead
it picks exactly what a naive re-implementation that recomputes every forward pass from
scratch picks; the log-probs it accumulates through the shared, gathered and cropped KV
cache equal a full recomputation; a batch gives what each prompt gives alone.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from conftest import shared_path

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from decoder import Grammar  # noqa: E402
from decoder.errors import DecoderError  # noqa: E402
from decoder.masking import allowed_ids  # noqa: E402
from decoder.search import (  # noqa: E402
    DeAL,
    Keywords,
    Length,
    Pattern,
    PerPrompt,
    RewardError,
    RewardModel,
    Weighted,
    as_reward,
)


@pytest.fixture(scope="module")
def tiny():
    path = shared_path("models", "stories260k")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a 260k-parameter model: threads only add overhead
    model = transformers.AutoModelForCausalLM.from_pretrained(str(path)).eval()
    tok = transformers.AutoTokenizer.from_pretrained(str(path))
    yield model, tok
    torch.set_num_threads(threads)


def decoder_for(tiny, constraint=None, search=None):
    from decoder.generate import Decoder

    model, tok = tiny
    return Decoder(model, constraint, tok, search=search)


def seq_logprobs(model, prompt_ids, out_ids):
    """log p(out_ids[j] | prompt, out_ids[:j]) by one full forward pass, no cache."""
    ids = torch.tensor([list(prompt_ids) + list(out_ids)])
    with torch.inference_mode():
        lp = model(input_ids=ids).logits[0].float().log_softmax(-1)
    n = len(prompt_ids)
    return [float(lp[n - 1 + j, t]) for j, t in enumerate(out_ids)]


def objective(model, dec, prompt, gen, reward, final):
    ids = dec.encode(prompt)
    lps = seq_logprobs(model, ids, gen.token_ids)
    return (
        sum(lps) / len(lps)
        + as_reward(reward).batch([prompt], [str(gen)], final=[final], index=[0])[0]
    )


# ------------------------------------------------------------------ search quality
def test_deal_beats_greedy_on_an_easy_reward(tiny):
    model, _ = tiny
    reward = 3 * Keywords(["dog", "ball"])
    prompt = "Once upon a time"
    greedy = decoder_for(tiny).generate(prompt, max_new_tokens=24)
    deal = DeAL(reward, beams=2, top_k=3, lookahead=3)
    out = decoder_for(tiny, search=deal).generate(prompt, max_new_tokens=24)
    assert Keywords(["dog", "ball"]).score("", str(greedy)) < 1.0  # greedy does not satisfy it
    assert Keywords(["dog", "ball"]).score("", str(out)) == 1.0, str(out)
    dec = decoder_for(tiny)
    assert objective(model, dec, prompt, out, reward, out.finish_reason == "stop") > objective(
        model, dec, prompt, greedy, reward, greedy.finish_reason == "stop"
    )
    st = deal.last_stats
    assert (
        st["forward_calls"] > 0 and st["token_forwards"] >= st["steps"] and st["prefill_tokens"] > 0
    )


def test_outputs_satisfy_the_hard_constraint(tiny):
    pattern = r"( [a-z]+){3,8}\."
    reward = Keywords(["cat"]) + Length(6)
    deal = DeAL(reward, beams=2, top_k=3, lookahead=2)
    dec = decoder_for(tiny, Grammar.from_regex(pattern), deal)
    outs = dec.generate(
        ["Once upon a time", "The little dog", "Tom and Lily went"], max_new_tokens=30
    )
    assert len(outs) == 3
    for o in outs:
        assert o.complete, o
        assert re.fullmatch(pattern, str(o)), str(o)
        assert all(t < 512 for t in o.token_ids)


def test_required_keywords_filter_is_met(tiny):
    lexical = pytest.importorskip("decoder.constraints.lexical")
    words = ["dog", "sun"]
    deal = DeAL(2 * Keywords(words), beams=2, top_k=3, lookahead=2)
    dec = decoder_for(tiny, lexical.RequireStrings(*words), deal)
    out = dec.generate("Once upon a time", max_new_tokens=40)
    assert out.complete, out
    assert all(w in str(out) for w in words), str(out)


# ------------------------------------------------------------------ bookkeeping
def _enumerate(root, vocab, depth):
    """Every token sequence the constraint accepts, EOS included, of at most ``depth`` tokens."""
    out, buf = [], np.zeros((vocab.model_vocab_size + 31) // 32, dtype=np.int32)

    def dfs(m, prefix):
        if len(prefix) == depth:
            return
        m.compute_mask(buf)
        for t in allowed_ids(buf, vocab.model_vocab_size):
            if t in vocab.eos_ids:
                out.append(prefix + [t])
            else:
                assert m.commit(t)
                dfs(m, prefix + [t])
                m.rollback(1)

    dfs(root.fork(), [])
    return out


def test_exhaustive_search_finds_the_brute_force_optimum(tiny):
    """lookahead 0, beams and top_k larger than the tree: DeAL keeps every hypothesis, so its
    answer must be the best of all sequences, scored by recomputation from scratch."""
    model, tok = tiny

    def reward(prompt, text):
        return 0.7 * text.count("b") - 0.2 * len(text)

    deal = DeAL(reward, beams=1000, top_k=50, lookahead=0)
    dec = decoder_for(tiny, Grammar.from_regex(r"[ab]{1,3}"), deal)
    prompt = "Once upon a time"
    out = dec.generate(prompt, max_new_tokens=6)
    seqs = _enumerate(dec.root_matcher, dec.vocab, 6)
    assert len(seqs) == 84  # 4 tokens spell "a" or "b" (a piece and a byte token each)
    pids = dec.encode(prompt)
    brute = []
    for s in seqs:
        lps = seq_logprobs(model, pids, s)
        text = b"".join(dec.vocab.tokens[t] for t in s[:-1]).decode()
        brute.append((sum(lps) / len(lps) + reward(prompt, text), s))
    best_score, best = max(brute)
    assert out.token_ids == best
    assert deal.last_details[0]["score"] == pytest.approx(best_score, abs=1e-4)
    assert out.finish_reason == "stop" and out.complete


def _naive_deal(model, prompt_ids, reward, beams, top_k, L, max_new, eos):
    """DeAL without a KV cache or batching: every log-prob is a full forward pass."""

    def next_lp(seq):
        with torch.inference_mode():
            x = torch.tensor([prompt_ids + seq])
            return model(input_ids=x).logits[0, -1].float().log_softmax(-1)

    live = [([], [])]  # (ids, logprobs)
    finished = []
    for step in range(max_new):
        left = max_new - step - 1
        cands = []
        for ids, lps in live:
            lp = next_lp(ids)
            v, t = lp.topk(top_k)
            for vv, tt in zip(v.tolist(), t.tolist()):
                cands.append((ids, lps, tt, vv))
        scored = []
        for ids, lps, t, v in cands:
            if t in eos:
                all_lps = lps + [v]
                text, final = ids, True
            else:
                la, la_lps = [], []
                for _ in range(min(L, left)):
                    lp = next_lp(ids + [t] + la)
                    nt = int(lp.argmax())
                    la.append(nt)
                    la_lps.append(float(lp[nt]))
                    if nt in eos:
                        break
                all_lps = lps + [v] + la_lps
                text, final = ids + [t] + la, bool(la) and la[-1] in eos
            scored.append((sum(all_lps) / len(all_lps) + reward(text, final), ids, lps, t, v))
        for s, ids, lps, t, v in scored:
            if t in eos:
                finished.append((s, ids + [t]))
        finished = sorted(finished, key=lambda f: -f[0])[:beams]
        go = sorted([c for c in scored if c[3] not in eos], key=lambda c: -c[0])[:beams]
        if not go or (len(finished) >= beams and finished[0][0] >= go[0][0]):
            live = []
            break
        live = [(ids + [t], lps + [v]) for s, ids, lps, t, v in go]
        last_scores = [c[0] for c in go]
    if finished:
        return finished[0][1]
    return live[int(np.argmax(last_scores))][0]


def test_lookahead_search_matches_a_naive_recomputing_search(tiny):
    model, tok = tiny
    dec = decoder_for(tiny)
    toks = dec.vocab.tokens

    def text_of(ids):
        return b"".join(toks[t] for t in ids if t not in dec.runner.eos).decode("utf-8", "replace")

    def reward_ids(ids, final):
        return 2.0 * Keywords(["dog"], inflections=False).score("", text_of(ids))

    def reward(prompt, text):
        return 2.0 * Keywords(["dog"], inflections=False).score("", text)

    prompt = "Once upon a time"
    ref = _naive_deal(
        model, dec.encode(prompt), reward_ids, beams=2, top_k=3, L=2, max_new=7, eos=dec.runner.eos
    )
    deal = DeAL(reward, beams=2, top_k=3, lookahead=2)
    out = decoder_for(tiny, search=deal).generate(prompt, max_new_tokens=7)
    assert out.token_ids[: len(ref)] == ref and len(out.token_ids) == len(ref)


def test_shared_kv_cache_gives_the_recomputed_logprobs(tiny):
    """Prompts of different lengths (left padding), gathered, rolled-out and cropped cache rows:
    the log-prob of every chosen token equals the one from a fresh forward pass."""
    model, _ = tiny
    deal = DeAL(Keywords(["cat", "tree"]), beams=3, top_k=3, lookahead=3)
    dec = decoder_for(tiny, Grammar.from_regex(r"( [a-z]+){2,10}[.!]"), deal)
    prompts = ["Once upon a time, there was", "Lily"]
    outs = dec.generate(prompts, max_new_tokens=20)
    for p, o, det in zip(prompts, outs, deal.last_details):
        assert det["token_ids"] == o.token_ids
        ref = seq_logprobs(model, dec.encode(p), o.token_ids)
        np.testing.assert_allclose(det["logprobs"], ref, atol=1e-4)


def test_a_batch_gives_what_each_prompt_gives_alone(tiny):
    deal = DeAL(Keywords(["ball"]) + Length(8), beams=2, top_k=3, lookahead=2)
    dec = decoder_for(tiny, None, deal)
    prompts = ["Once upon a time", "The big red ball was"]
    together = dec.generate(prompts, max_new_tokens=12)
    alone = [dec.generate(p, max_new_tokens=12) for p in prompts]
    assert [g.token_ids for g in together] == [g.token_ids for g in alone]


# ------------------------------------------------------------------ rewards
def test_keywords_count_inflections():
    pytest.importorskip("lemminflect")
    k = Keywords(["dog", "run", "mouse", "catch"])
    assert k.found("The dogs ran after the mice and caught nothing") == [True, True, True, True]
    assert k.found("A dogma of running, no catcher") == [False, True, False, False]
    assert Keywords(["ice cream"]).score("", "two ice creams") == 1.0
    exact = Keywords(["dog"], inflections=False)
    assert exact.score("", "dogs") == 0.0 and exact.score("", "Dog!") == 1.0
    assert Keywords(["a", "b"], inflections=False, all_or_nothing=True).score("", "a") == 0.0


def test_length_pattern_weighted_per_prompt():
    L = Length(4)
    assert L.batch(["", ""], ["one two", "one two"], final=[False, True], index=[0, 0]) == [
        0.0,
        -0.5,
    ]
    assert L("", "a b c d e f") == -0.5
    assert Pattern(r"\.$")("", "Done.") == 1.0 and Pattern(r"\.$")("", "Done") == 0.0
    assert Pattern(r"\.$", final_only=True).batch([""], ["x"], final=[False], index=[0]) == [1.0]
    w = 2 * Pattern("a") + (lambda p, t: len(t))
    assert isinstance(w, Weighted) and w("", "abc") == 5.0
    pp = PerPrompt([Keywords(["cat"], inflections=False), Keywords(["dog"], inflections=False)])
    assert pp.batch(["x", "y"], ["a cat", "a cat"], final=[True, True], index=[0, 1]) == [1.0, 0.0]
    with pytest.raises(RewardError):
        as_reward(lambda p, t: "high").batch([""], ["x"], final=[True], index=[0])
    with pytest.raises(RewardError):
        Length(0)
    with pytest.raises(DecoderError):
        DeAL(Length(3), beams=0)
    with pytest.raises(DecoderError):
        DeAL(42)


def test_a_sequence_classifier_as_reward(tiny):
    """A tiny, randomly initialised HF sequence classifier (built from a config, nothing
    downloaded): batched scores equal one-at-a-time scores, and DeAL guided by it beats greedy
    on the same objective."""
    model, tok = tiny
    torch.manual_seed(0)
    cfg = transformers.LlamaConfig(
        vocab_size=512,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=2,
        num_labels=2,
        pad_token_id=0,
    )
    clf = transformers.LlamaForSequenceClassification(cfg).eval()
    rm = RewardModel(clf, tok, label=1, batch_size=4)
    texts = ["a dog", "the sun was shining brightly today", "x", "Lily and Tom played with a ball"]
    batched = rm.batch([""] * 4, texts, final=[True] * 4, index=[0] * 4)
    alone = [rm("", t) for t in texts]
    np.testing.assert_allclose(batched, alone, atol=1e-4)
    reward = 20 * rm
    prompt = "Once upon a time"
    greedy = decoder_for(tiny).generate(prompt, max_new_tokens=12)
    out = decoder_for(tiny, search=DeAL(reward, beams=2, top_k=4, lookahead=2)).generate(
        prompt, max_new_tokens=12
    )
    dec = decoder_for(tiny)
    assert objective(model, dec, prompt, out, reward, out.finish_reason == "stop") > objective(
        model, dec, prompt, greedy, reward, greedy.finish_reason == "stop"
    )


def test_a_long_search_reports_progress(tiny, caplog, monkeypatch):
    """DeAL logs a progress line on the "decoder" logger every PROGRESS_EVERY_S seconds (the
    command line shows them on stderr), naming the token position and the hypotheses."""
    import logging

    from decoder.search import deal as deal_module

    monkeypatch.setattr(deal_module, "PROGRESS_EVERY_S", 0.0)  # every step
    # the command line (tested in this process elsewhere) gives the "decoder" logger its own
    # stderr handler and stops propagation; caplog listens at the root
    monkeypatch.setattr(logging.getLogger("decoder"), "propagate", True)
    search = DeAL(rewards=Length(6), beams=2, top_k=2, lookahead=1)
    d = decoder_for(tiny, search=search)
    with caplog.at_level(logging.INFO, logger="decoder"):
        d.generate("Once upon a time", max_new_tokens=5)
    # one LogRecord per progress line: after test_cli's in-process runs (which give the
    # "decoder" logger a handler), pytest 9.2's caplog lists each record twice (same object)
    records = list({id(r): r for r in caplog.records}.values())
    lines = [r.getMessage() for r in records if r.getMessage().startswith("DeAL:")]
    assert lines and lines[0].startswith("DeAL: token 1 of at most 5")
    assert len(lines) == search.last_stats["steps"]


# ------------------------------------------------------------------ command line
def test_cli_deal(tiny, capsys):
    from decoder.cli import main

    path = shared_path("models", "stories260k")
    rc = main(
        [
            "generate",
            "--model",
            str(path),
            "--prompt",
            "Once upon a time",
            "--raw",
            "--regex",
            r"( [a-z]+){3,8}\.",
            "--max-new-tokens",
            "24",
            "--deal-reward",
            "3*keywords:dog,ball",
            "--deal-beams",
            "2",
            "--deal-top-k",
            "3",
            "--deal-lookahead",
            "2",
        ]
    )
    out = capsys.readouterr().out.rstrip("\n")
    assert rc == 0
    assert re.fullmatch(r"( [a-z]+){3,8}\.", out), out
