"""DeAL: decoding-time alignment as a search guided by rewards, inside the hard constraints.

DeAL (Huang et al., "DeAL: Decoding-time Alignment for Large Language Models", ACL 2025)
treats decoding as a heuristic search: at each step every live hypothesis (beam)
proposes its ``top_k`` next tokens, each candidate is extended by a ``lookahead``
rollout of a few tokens, the candidate is scored on its prefix plus the rollout, and
the best ``beams`` candidates survive.  Here a candidate's score is

    likelihood_weight * mean log p(token) over prefix + candidate + rollout
    + reward(prompt, text of prefix + candidate + rollout)

with the model's own (unmasked) log-probabilities, so a fluent text scores high and
a forced one low, and the rewards of :mod:`decoder.search.rewards` (keywords,
length, format, reward models, weighted sums, or any ``(prompt, text) -> float``).

The hard constraint still holds: candidates are the top-k tokens *allowed by the
mask*, rollouts are masked too, and near the ``max_new_tokens`` budget candidates
that could not finish the constraint in time are dropped (as in ``Decoder``).

Batching and the KV cache: all prompts of a batch and all their hypotheses are rows
of one batch.  The prompts are prefilled once; each step gathers the parent rows of
the candidates (:mod:`decoder.search.kv`), feeds every candidate token and rollout
as one batched forward pass per position, then drops the rollout positions and
gathers the surviving rows: nothing is ever recomputed, and the first rollout
forward pass already yields the survivors' next-token logits.  Matchers ``fork()``
per candidate and ``rollback()`` the rollout.

A hypothesis that picks EOS is finished; a prompt is done when it has ``beams``
finished hypotheses and the best of them scores at least as high as the best live
one, or when it has no live hypothesis left, or at the budget.  Its output is its
best finished hypothesis (else its best live one, ``finish_reason="length"``).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence

from ..errors import DecoderError
from ..masking import allocate_bitmask, apply_mask, fill_masks
from . import kv
from .rewards import as_reward

_log = logging.getLogger("decoder")
#: seconds between two progress lines of a search (the command line shows them on stderr)
PROGRESS_EVERY_S = 2.0

__all__ = ["DeAL"]

_NEG_INF = float("-inf")


class _Hyp:
    """A hypothesis: generated ids (EOS included once finished), the model's log-prob of
    each, its matcher, and its last score."""

    __slots__ = ("ids", "lps", "matcher", "score", "reward")

    def __init__(self, ids, lps, matcher, score=0.0, reward=0.0):
        self.ids, self.lps, self.matcher, self.score, self.reward = ids, lps, matcher, score, reward

    def __repr__(self) -> str:  # pragma: no cover - debugging
        return f"_Hyp(ids={self.ids}, score={self.score:.4f})"


def _prompt_text(dec, prompt) -> str:
    if isinstance(prompt, str):
        return prompt
    if isinstance(prompt, (list, tuple)) and prompt and isinstance(prompt[0], dict):
        users = [m.get("content", "") for m in prompt if m.get("role") == "user"]
        return str(users[-1] if users else prompt[-1].get("content", ""))
    return dec.tokenizer.decode(list(prompt), skip_special_tokens=True)


class DeAL:
    """Reward-guided search for :class:`decoder.generate.Decoder` (``search=DeAL(...)``).

    Args:
        rewards: a reward ``(prompt, text) -> float`` (higher is better), a
            :class:`~decoder.search.rewards.Reward`, or a list of them (summed; use
            :class:`~decoder.search.rewards.Weighted` or ``w * reward`` for weights, and
            :class:`~decoder.search.rewards.PerPrompt` for one reward per prompt).
        beams: hypotheses kept per prompt after each step.
        top_k: candidate tokens proposed by each hypothesis (the best allowed by the mask).
        lookahead: rollout length in tokens (0: score candidates on their prefix alone).
            Rollouts are greedy, or sampled at ``generate``'s ``temperature``/``top_p``.
        likelihood_weight: weight of the mean log-probability term.

    After a run, :attr:`last_stats` has ``forward_calls``, ``token_forwards`` (rows x
    positions fed after the prefill), ``prefill_tokens``, ``steps``, ``seconds`` and
    the time in the forward passes and the rewards; :attr:`last_details` has, per
    prompt, the chosen ``token_ids``, their ``logprobs``, ``score`` and ``reward``.
    """

    #: candidates examined per hypothesis when the budget is close (as
    #: ModelRunner.BUDGET_CANDIDATES)
    BUDGET_CANDIDATES = 64

    def __init__(
        self,
        rewards,
        *,
        beams: int = 2,
        top_k: int = 4,
        lookahead: int = 4,
        likelihood_weight: float = 1.0,
    ):
        for name, v, lo in (("beams", beams, 1), ("top_k", top_k, 1), ("lookahead", lookahead, 0)):
            if not isinstance(v, int) or isinstance(v, bool) or v < lo:
                raise DecoderError(f"DeAL {name} must be an int >= {lo}, got {v!r}")
        self.reward = as_reward(rewards)
        self.beams, self.top_k, self.lookahead = beams, top_k, lookahead
        self.likelihood_weight = float(likelihood_weight)
        self.last_stats: dict = {}
        self.last_details: list = []

    def __repr__(self) -> str:
        return (
            f"DeAL(rewards={self.reward!r}, beams={self.beams}, top_k={self.top_k}, "
            f"lookahead={self.lookahead})"
        )

    # ------------------------------------------------------------------ helpers
    def _text(self, ids: Sequence[int]) -> str:
        toks, eos = self._tokens, self._eos
        return b"".join(toks[t] for t in ids if t not in eos and t < len(toks)).decode(
            "utf-8", "replace"
        )

    # ------------------------------------------------------------------ the search
    def run(
        self,
        dec,
        prompts: Sequence,
        max_new_tokens: int,
        temperature: float = 0.0,
        top_p: float = 1.0,
        seed: int | None = None,
    ):
        """Search for every prompt of the batch; yields ``Decoder._loop``'s events
        ``(row, token_id | None, bytes, finish_reason | None, complete)`` once done."""
        import torch

        clock = time.perf_counter
        t_start = clock()
        stats = {
            "steps": 0,
            "forward_calls": 0,
            "token_forwards": 0,
            "prefill_tokens": 0,
            "forward": 0.0,
            "reward": 0.0,
            "texts_scored": 0,
            "seconds": 0.0,
        }
        self.last_stats = stats
        dec.last_timing = stats
        runner = dec.runner
        encoded, max_new_tokens = runner.encode_batch(prompts, max_new_tokens)
        B = len(encoded)
        roots = dec.matchers(B)
        constrained = dec.constrained
        self.reward.bind(dec)
        ptexts = [_prompt_text(dec, p) for p in prompts]
        self._tokens, self._eos = dec.vocab.tokens, runner.eos
        eos = runner.eos
        width = runner.width
        pad = runner.pad_id
        gen = runner.generator(temperature, seed)
        lw = self.likelihood_weight

        def forward(ids, attn, pos, cache, prefill=False):
            t0 = clock()
            logits, c = runner.forward(ids, attn, pos, cache)
            stats["forward"] += clock() - t0
            stats["forward_calls"] += 1
            if prefill:
                stats["prefill_tokens"] += int(attn.sum())
            else:
                stats["token_forwards"] += ids.shape[0]
            return logits, c

        def masked(logp, matchers):
            if not constrained:
                return logp
            buf = allocate_bitmask(len(matchers), width)
            fill_masks(matchers, buf, dec.threads)
            return apply_mask(logp.clone(), buf)

        with torch.inference_mode():
            # ---- prefill: one row per prompt (left padding, explicit positions)
            input_ids, attn, pos = runner.left_pad(encoded)
            device = input_ids.device
            rows: list = [(i, _Hyp([], [], roots[i])) for i in range(B)]  # row r of the cache
            finished: list = [[] for _ in range(B)]
            cache = None
            if max_new_tokens > 0:
                logits, cache = forward(input_ids, attn, pos, None, prefill=True)
                kv.check_cache(cache)
            pos_next = pos[:, -1] + 1

            last_report = time.perf_counter()
            for step in range(max_new_tokens):
                if not rows:
                    break
                stats["steps"] += 1
                if time.perf_counter() - last_report >= PROGRESS_EVERY_S:
                    last_report = time.perf_counter()
                    _log.info(
                        "DeAL: token %d of at most %d, %d hypotheses searched, %d finished",
                        step + 1,
                        max_new_tokens,
                        len(rows),
                        sum(len(f) for f in finished),
                    )
                left = max_new_tokens - step - 1  # tokens after this one
                logp = torch.log_softmax(logits, dim=-1)
                sel = masked(logp, [h.matcher for _, h in rows])
                # ---- candidates: the best allowed tokens of every hypothesis
                near = []  # close to the budget: check that each candidate can still finish
                for _, h in rows:
                    near.append(h.matcher is not None and runner.near_budget(h.matcher, left))
                K = min(width, max(self.top_k, self.BUDGET_CANDIDATES) if any(near) else self.top_k)
                vals, ids = sel.topk(K, dim=-1)
                vals, ids = vals.tolist(), ids.tolist()
                cands: list[tuple[int, int, float]] = []  # (row, token, log-prob)
                for r, (i, h) in enumerate(rows):
                    chosen, fallback = [], None
                    for v, t in zip(vals[r], ids[r]):
                        if v == _NEG_INF:
                            break
                        if near[r] and t not in eos:
                            c = runner.completion_after(h.matcher, t)
                            if c < 0:
                                continue
                            if not runner.fits(c, left):
                                if fallback is None or c < fallback[1]:
                                    fallback = (t, c, v)
                                continue
                        chosen.append((t, v))
                        if len(chosen) == self.top_k:
                            break
                    if not chosen and fallback is None and h.matcher is not None:
                        w = runner.witness_token(
                            h.matcher
                        )  # a composition: first token of a known completion
                        if w is not None:
                            fallback = (w, 0, float(logp[r, w]))
                    if not chosen and fallback is not None:
                        chosen = [(fallback[0], fallback[2])]
                    if not chosen:
                        raise DecoderError(
                            f"the constraint allows no token at step {step} of prompt {i} "
                            f"and its output is not complete: a bug in the constraint engine"
                        )
                    cands.extend((r, t, v) for t, v in chosen)
                ends = [c for c in cands if c[1] in eos]
                go = [c for c in cands if c[1] not in eos]
                L = min(self.lookahead, left)

                # ---- rollouts: every continuing candidate, one batch, from the shared prefix
                la_ids: list[list[int]] = [[] for _ in go]
                la_lps: list[list[float]] = [[] for _ in go]
                la_end = [False] * len(go)  # the rollout chose EOS: its text is final
                stop = [False] * len(go)  # EOS, or a dead end of the constraint's mask
                commits = [0] * len(go)
                ms: list = [None] * len(go)  # the candidates' matchers (None: unconstrained)
                if go and L > 0:
                    parent = torch.tensor([c[0] for c in go], dtype=torch.long, device=device)
                    cache = kv.select_rows(cache, parent)
                    attn_c = torch.cat(
                        [attn.index_select(0, parent), attn.new_ones((len(go), 1))], dim=1
                    )
                    pos_c = pos_next.index_select(0, parent)
                    for q, (r, t, _) in enumerate(go):
                        m = rows[r][1].matcher
                        if m is not None:
                            m = m.fork()
                            if not m.commit(t):
                                raise DecoderError(
                                    f"the matcher refused token {t} that its mask allowed"
                                )
                        ms[q] = m
                    step_ids = torch.tensor([c[1] for c in go], dtype=torch.long, device=device)[
                        :, None
                    ]
                    first_logits, cache = forward(step_ids, attn_c, pos_c[:, None], cache)
                    cur, a, p, extra = first_logits, attn_c, pos_c, 0
                    for j in range(L):
                        lpj = torch.log_softmax(cur, dim=-1)
                        s = masked(lpj, [None if stop[q] else ms[q] for q in range(len(go))])
                        dead = (s.amax(dim=-1) == _NEG_INF).tolist()
                        nxt = runner.sample(
                            s.masked_fill(s.amax(dim=-1, keepdim=True) == _NEG_INF, 0.0),
                            temperature,
                            top_p,
                            gen,
                        )
                        chosen_lp = lpj.gather(1, nxt[:, None]).squeeze(1).tolist()
                        nxt_l = nxt.tolist()
                        for q in range(len(go)):
                            if stop[q]:
                                continue
                            t = nxt_l[q]
                            if dead[q] or (
                                t not in eos and ms[q] is not None and not ms[q].commit(t)
                            ):
                                stop[q] = True  # the rollout ends here: the estimate is what it has
                                continue
                            la_ids[q].append(t)
                            la_lps[q].append(chosen_lp[q])
                            if t in eos:
                                la_end[q] = stop[q] = True
                            else:
                                commits[q] += 1
                        if j == L - 1 or all(stop):
                            break
                        a = torch.cat([a, a.new_ones((len(go), 1))], dim=1)
                        p = p + 1
                        feed = torch.tensor(
                            [pad if stop[q] else nxt_l[q] for q in range(len(go))],
                            dtype=torch.long,
                            device=device,
                        )[:, None]
                        cur, cache = forward(feed, a, p[:, None], cache)
                        extra += 1
                    cache = kv.drop_last(cache, extra)
                    for q, m in enumerate(ms):
                        if m is not None and commits[q]:
                            m.rollback(commits[q])

                # ---- scores: mean log-prob + rewards, one reward batch for the whole step
                texts, finals, index, lps_all = [], [], [], []
                for r, t, v in ends:
                    i, h = rows[r]
                    texts.append(self._text(h.ids))
                    finals.append(True)
                    index.append(i)
                    lps_all.append(h.lps + [v])
                for q, (r, t, v) in enumerate(go):
                    i, h = rows[r]
                    texts.append(self._text(h.ids + [t] + la_ids[q]))
                    finals.append(la_end[q])
                    index.append(i)
                    lps_all.append(h.lps + [v] + la_lps[q])
                t0 = clock()
                rewards = self.reward.batch(
                    [ptexts[i] for i in index], texts, final=finals, index=index
                )
                stats["reward"] += clock() - t0
                stats["texts_scored"] += len(texts)
                if len(rewards) != len(texts):
                    raise DecoderError(
                        f"the reward returned {len(rewards)} scores for {len(texts)} texts"
                    )
                scores = []
                for lps, rw in zip(lps_all, rewards):
                    rw = float(rw)
                    if math.isnan(rw):
                        raise DecoderError("a reward returned NaN")
                    scores.append(lw * (sum(lps) / len(lps)) + rw)

                # ---- selection: finished hypotheses, and the best `beams` continuing ones
                per_prompt_go: dict = {}
                for e, (r, t, v) in enumerate(ends):
                    i, h = rows[r]
                    finished[i].append(_Hyp(h.ids + [t], lps_all[e], None, scores[e], rewards[e]))
                off = len(ends)
                for q, (r, t, v) in enumerate(go):
                    per_prompt_go.setdefault(rows[r][0], []).append(q)
                for i in range(B):
                    if finished[i]:
                        finished[i].sort(key=lambda h: -h.score)
                        del finished[i][self.beams :]
                kept = []  # indices into go, prompt by prompt
                for i in sorted(per_prompt_go):
                    qs = sorted(per_prompt_go[i], key=lambda q: -scores[off + q])[: self.beams]
                    f = finished[i]
                    if len(f) >= self.beams and f[0].score >= scores[off + qs[0]]:
                        continue  # prompt i is done: nothing live can beat what it has
                    kept.extend(qs)
                new_rows = []
                for q in kept:
                    r, t, v = go[q]
                    i, h = rows[r]
                    m = ms[q]
                    if m is None and h.matcher is not None:  # no rollout: fork now
                        m = h.matcher.fork()
                        if not m.commit(t):
                            raise DecoderError(
                                f"the matcher refused token {t} that its mask allowed"
                            )
                    new_rows.append(
                        (i, _Hyp(h.ids + [t], h.lps + [v], m, scores[off + q], rewards[off + q]))
                    )
                if kept and L > 0:
                    idx = torch.tensor(kept, dtype=torch.long, device=device)
                    cache = kv.select_rows(cache, idx)
                    attn = attn_c.index_select(0, idx)
                    pos_next = pos_c.index_select(0, idx) + 1
                    logits = first_logits.index_select(0, idx)
                elif kept and left > 0:  # no rollout: feed the survivors' tokens
                    parent = torch.tensor([go[q][0] for q in kept], dtype=torch.long, device=device)
                    cache = kv.select_rows(cache, parent)
                    attn = torch.cat(
                        [attn.index_select(0, parent), attn.new_ones((len(kept), 1))], dim=1
                    )
                    p = pos_next.index_select(0, parent)
                    step_ids = torch.tensor(
                        [go[q][1] for q in kept], dtype=torch.long, device=device
                    )[:, None]
                    logits, cache = forward(step_ids, attn, p[:, None], cache)
                    pos_next = p + 1
                rows = new_rows

        # ---- results: each prompt's best finished hypothesis, else its best live one
        live: dict = {}
        for i, h in rows:
            if i not in live or h.score > live[i].score:
                live[i] = h
        self.last_details = []
        events: list[tuple[int, int | None, bytes, str | None, bool]] = []
        for i in range(B):
            if finished[i]:
                best, reason, ok = finished[i][0], "stop", True
            elif i in live:
                best = live[i]
                reason, ok = (
                    "length",
                    (best.matcher.is_accepting() if best.matcher is not None else True),
                )
            else:
                best = _Hyp([], [], None)
                reason = "length"
                ok = roots[i].is_accepting() if roots[i] is not None else True
            self.last_details.append(
                {
                    "token_ids": list(best.ids),
                    "logprobs": list(best.lps),
                    "score": best.score,
                    "reward": best.reward,
                    "finish_reason": reason,
                }
            )
            for t in best.ids:
                if t in eos:
                    events.append((i, t, b"", "stop", ok))
                else:
                    events.append(
                        (i, t, self._tokens[t] if t < len(self._tokens) else b"", None, False)
                    )
            if reason == "length":
                events.append((i, None, b"", "length", ok))
        stats["seconds"] = clock() - t_start
        yield from events
