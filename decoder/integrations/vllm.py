"""decoder inside vLLM (written against vLLM 0.32 and 0.33; both ship the same interfaces).

Two ways in:

1. **Structured-output backend** — :class:`DecoderBackend` / :class:`DecoderGrammar`
   implement ``vllm.v1.structured_output.backend_types``: the scheduler compiles on its
   thread pool, fills the int32 bitmask on the CPU while the GPU runs the forward
   pass, and handles speculative drafts (fill, accept, ..., rollback).  Every request
   type: JSON, JSON_OBJECT, REGEX, GRAMMAR (Lark; GBNF only where it is Lark),
   CHOICE, STRUCTURAL_TAG (its grammar parts).  vLLM picks its backend from a fixed
   list of names, so this class is used by code that builds a
   ``StructuredOutputManager`` itself (our contract tests do) until vLLM grows a
   registration hook (its pluggable-backend RFC is open).

2. **Custom logits processor** — :class:`DecoderLogitsProcessor`, the supported
   plug-in point of a stock vLLM, registered under the ``vllm.logits_processors``
   entry point (so ``pip install decoder-engine`` is all it takes) and usable as
   ``LLM(logits_processors=[DecoderLogitsProcessor])``.  The constraint is given per
   request in ``SamplingParams.extra_args["decoder"]`` (``vllm_xargs`` over HTTP)::

       {"json_schema": {...}} | {"regex": "..."} | {"grammar": "<lark>"} |
       {"choice": ["a", "b"]} | {"json_object": true} | {"structural_tag": {...}}

   plus an optional ``"whitespace"`` (``"flexible"``, vLLM's convention, when absent;
   ``"compact"``, ``"separators"`` or ``"pretty"``: see ``Grammar.from_json_schema``) and an
   optional ``"property_order"`` (``"schema"`` when absent, or ``"any"``).  One class implements both logits-
   processor interfaces vLLM ships: the V1 sampler's (``update_state`` / ``apply(logits)``)
   and the V2 model runner's (``add_request`` / ``apply(logits, ctx)``).  Cost: the mask
   is computed inside the sampling step, after the forward pass (not overlapped with it
   as in 1), and under the V2 runner it reads ``input_ids``/``pos`` back to the host
   once per step.
"""

from __future__ import annotations

import json
import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

try:
    import torch
    from vllm.v1.sample.logits_processor.interface import (
        BatchUpdate,
        MoveDirectionality,
    )
    from vllm.v1.sample.logits_processor.interface import (
        LogitsProcessor as _V1LogitsProcessor,
    )
    from vllm.v1.structured_output.backend_types import (
        StructuredOutputBackend,
        StructuredOutputGrammar,
        StructuredOutputOptions,
    )
except ImportError as e:  # pragma: no cover - depends on the environment
    raise ImportError(f"decoder.integrations.vllm needs vLLM (pip install vllm): {e}") from e
try:  # the V2 model runner's interface (vLLM >= 0.32)
    from vllm.v1.worker.gpu.sample.logits_processor.interface import (
        LogitsProcessor as _V2LogitsProcessor,
    )
except ImportError:  # pragma: no cover
    _V2LogitsProcessor = None

from .._engine import Matcher, fill_masks
from ..errors import DecoderError, MatcherError
from ..masking import apply_mask
from ..vocab import Vocabulary
from .compiler import SpecCompiler
from .specs import SpecError, grammar_for

logger = logging.getLogger("decoder.integrations.vllm")

_KIND = {
    StructuredOutputOptions.JSON: "json",
    StructuredOutputOptions.JSON_OBJECT: "json_object",
    StructuredOutputOptions.REGEX: "regex",
    StructuredOutputOptions.GRAMMAR: "grammar",
    StructuredOutputOptions.CHOICE: "choice",
    StructuredOutputOptions.STRUCTURAL_TAG: "structural_tag",
}


def vocabulary_for(tokenizer, vocab_size: int) -> Vocabulary:
    """The decoder vocabulary of vLLM's tokenizer, as wide as the model's logits."""
    width = max(int(vocab_size), len(tokenizer))
    return Vocabulary.from_tokenizer(tokenizer, model_vocab_size=width)


def _whitespace(vllm_config) -> str:
    so = getattr(vllm_config, "structured_outputs_config", None)
    return "compact" if getattr(so, "disable_any_whitespace", False) else "flexible"


# ====================================================================== backend


@dataclass
class DecoderBackend(StructuredOutputBackend):
    """vLLM structured-output backend: one per engine, compiles on vLLM's worker threads."""

    deadline_s: float | None = None

    def __post_init__(self):
        self.vocab = vocabulary_for(self.tokenizer, self.vocab_size)
        self.vocab_size = self.vocab.model_vocab_size
        self.compiler = SpecCompiler(
            self.vocab, whitespace=_whitespace(self.vllm_config), deadline_s=self.deadline_s
        )

    def compile_grammar(
        self,
        request_type: StructuredOutputOptions,
        grammar_spec: str,
        stop_token_ids: set[int] | None = None,
    ) -> DecoderGrammar:
        kind = _KIND.get(request_type)
        if kind is None:
            raise SpecError(f"unsupported structured output type {request_type!r}")
        compiled = self.compiler.compile(kind, grammar_spec, stop_token_ids)
        return DecoderGrammar(matcher=Matcher(compiled), vocab_size=self.vocab_size)

    def allocate_token_bitmask(self, max_num_seqs: int) -> torch.Tensor:
        return torch.full((max_num_seqs, (self.vocab_size + 31) // 32), -1, dtype=torch.int32)

    def destroy(self):
        pass


@dataclass
class DecoderGrammar(StructuredOutputGrammar):
    """The constraint state of one request (a ``decoder.Matcher``)."""

    matcher: Matcher = field(repr=False)
    vocab_size: int = 0
    num_processed_tokens: int = field(default=0, init=False)

    def accept_tokens(self, request_id: str, tokens: list[int]) -> bool:
        """Advances by ``tokens``; False (the request fails) at the first token not allowed.
        Tokens after the one that terminates (a stop token) are ignored, as in vLLM's own."""
        m = self.matcher
        for t in tokens:
            if m.is_terminated():
                break
            try:
                ok = m.commit(int(t))
            except MatcherError:
                ok = False
            if not ok:
                logger.error("request %s: token %s is not allowed by its constraint", request_id, t)
                return False
            self.num_processed_tokens += 1
        return True

    def validate_tokens(self, tokens: list[int]) -> list[int]:
        """The longest allowed prefix of ``tokens``; the state is left as it was."""
        m = self.matcher
        n = 0
        for t in tokens:
            if m.is_terminated():
                break
            try:
                if not m.commit(int(t)):
                    break
            except MatcherError:
                break
            n += 1
        if n:
            m.rollback(n)
        return list(tokens[:n])

    def rollback(self, num_tokens: int) -> None:
        """Undoes the last ``num_tokens`` accepted tokens (termination included)."""
        if num_tokens > 0:
            self.matcher.rollback(num_tokens)
            self.num_processed_tokens -= num_tokens

    def fill_bitmask(self, bitmask: torch.Tensor, idx: int) -> None:
        # compute_mask runs in C++ without the GIL: vLLM's fill threads run in parallel
        row = bitmask[idx]
        words = self.matcher.compiled.mask_words
        if row.shape[0] > words:
            row[words:] = 0
        self.matcher.compute_mask(row[:words] if row.shape[0] > words else row)

    def is_terminated(self) -> bool:
        return self.matcher.is_terminated()

    def reset(self):
        self.matcher.reset()
        self.num_processed_tokens = 0


# ====================================================================== logits processor

EXTRA_ARGS_KEY = "decoder"
_SPEC_KEYS = {
    "json_schema": "json",
    "json": "json",
    "json_object": "json_object",
    "regex": "regex",
    "grammar": "grammar",
    "lark": "grammar",
    "choice": "choice",
    "structural_tag": "structural_tag",
}


def spec_of(params) -> tuple[str, str, str, str] | None:
    """``(kind, spec text, whitespace, property order)`` of a request's
    ``extra_args["decoder"]``, or None."""
    extra = getattr(params, "extra_args", None) or {}
    value = extra.get(EXTRA_ARGS_KEY)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise SpecError(
            f'extra_args["{EXTRA_ARGS_KEY}"] is an object such as {{"json_schema": {{...}}}}, '
            f'{{"regex": "..."}}, {{"grammar": "<lark>"}} or {{"choice": [...]}}; '
            f"got {type(value).__name__}"
        )
    ws = value.get("whitespace", "flexible")
    order = value.get("property_order", "schema")
    keys = [k for k in value if k not in ("whitespace", "property_order")]
    if len(keys) != 1 or keys[0] not in _SPEC_KEYS:
        raise SpecError(
            f'extra_args["{EXTRA_ARGS_KEY}"] needs exactly one of {sorted(_SPEC_KEYS)} '
            f'(and optionally "whitespace", "property_order"); got {sorted(value)}'
        )
    kind = _SPEC_KEYS[keys[0]]
    spec = value[keys[0]]
    if kind == "json_object":
        spec = ""
    elif not isinstance(spec, str):
        spec = json.dumps(spec, sort_keys=True)
    return kind, spec, ws, order


class _Slot:
    """One request's state in the processor."""

    __slots__ = ("future", "matcher", "output", "done", "toks", "dead", "prompt_len")

    def __init__(self, future: Future, output: list | None = None, prompt_len: int = 0):
        self.future = future
        self.matcher: Matcher | None = None
        self.output = output  # V1: vLLM's live list of the request's output ids
        self.done = 0  # V1: how many of them are committed
        self.toks: list = []  # V2: the output ids committed, one matcher step each
        self.dead = False  # left its constraint: unconstrained from here on
        self.prompt_len = prompt_len

    def ready(self) -> Matcher | None:
        if self.matcher is None and not self.dead:
            try:
                self.matcher = Matcher(self.future.result())
            except Exception as e:  # noqa: BLE001 - a failed compile must not kill the engine
                logger.error(
                    "decoder constraint failed to compile; the request runs unconstrained: %s", e
                )
                self.dead = True
        return None if self.dead else self.matcher


_Base = (_V1LogitsProcessor,) + ((_V2LogitsProcessor,) if _V2LogitsProcessor is not None else ())


class DecoderLogitsProcessor(*_Base):  # type: ignore[misc]  # bases picked at import from vLLM
    """Masks each request's logits to the constraint in its ``extra_args["decoder"]``.

    Constructed by vLLM as ``(vllm_config, device, is_pin_memory)`` (V1 sampler) or
    ``(vllm_config, req_states)`` (V2 model runner).  Requests without the key are
    untouched.  A token the constraint does not allow (another processor forced it)
    leaves that request unconstrained (logged, counted in ``stats["left"]``).
    """

    def __init__(self, vllm_config, *args):
        self.v2 = len(args) == 1
        self.req_states = args[0] if self.v2 else None
        self.device = None if self.v2 else args[0]
        self.vllm_config = vllm_config
        self.slots: dict[int, _Slot] = {}
        self.stats = {"left": 0, "gaps": 0}
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="decoder-compile")
        self._compilers: dict[tuple[str, str], SpecCompiler] = {}
        self._lock = threading.Lock()
        self._buf = np.empty((0, 0), dtype=np.int32)

    # ------------------------------------------------------------ shared
    @classmethod
    def validate_params(cls, sampling_params) -> None:
        """Rejects (HTTP 400) a malformed spec or one whose grammar does not build."""
        spec = spec_of(sampling_params)
        if spec is not None:
            kind, text, ws, order = spec
            try:
                grammar_for(kind, text, whitespace=ws, property_order=order)
            except DecoderError as e:
                raise SpecError(f'extra_args["{EXTRA_ARGS_KEY}"]: {e}') from e

    def is_argmax_invariant(self) -> bool:
        return False

    def compiler(
        self, whitespace: str = "flexible", property_order: str = "schema"
    ) -> SpecCompiler:
        """The compiler (and its cache) for one JSON whitespace and property order option; the
        vocabulary is built from vLLM's tokenizer on first use."""
        with self._lock:
            c = self._compilers.get((whitespace, property_order))
            if c is None:
                if self._compilers:
                    vocab = next(iter(self._compilers.values())).vocab
                else:
                    from vllm.tokenizers import cached_tokenizer_from_config

                    mc = self.vllm_config.model_config
                    vocab = vocabulary_for(
                        cached_tokenizer_from_config(model_config=mc), mc.get_vocab_size()
                    )
                c = self._compilers[(whitespace, property_order)] = SpecCompiler(
                    vocab, whitespace=whitespace, property_order=property_order
                )
            return c

    def _start(self, params) -> Future | None:
        spec = spec_of(params)
        if spec is None:
            return None
        kind, text, ws, order = spec
        stop = getattr(params, "all_stop_token_ids", None)

        def run():
            return self.compiler(ws, order).compile(kind, text, stop)

        return self._pool.submit(run)

    def _buffer(self, rows: int, words: int) -> np.ndarray:
        if self._buf.shape[0] < rows or self._buf.shape[1] != words:
            self._buf = np.empty((max(rows, 8), words), dtype=np.int32)
        buf = self._buf[:rows]
        buf.fill(-1)
        return buf

    def _mask(
        self, logits: torch.Tensor, matchers: list, buf: np.ndarray | None = None
    ) -> torch.Tensor:
        """Masks ``logits[r]`` to ``matchers[r]`` (None: row left as in ``buf``, by default all allowed)."""
        if buf is None:
            buf = self._buffer(logits.shape[0], (logits.shape[1] + 31) // 32)
        rows = [r for r, m in enumerate(matchers) if m is not None]
        if rows:
            part = np.empty((len(rows), buf.shape[1]), dtype=np.int32)
            fill_masks([matchers[r] for r in rows], part)  # C++ threads, no GIL
            buf[rows] = part
        apply_mask(logits, buf)
        return logits

    @staticmethod
    def _commit(m: Matcher, token: int) -> bool:
        try:
            return m.commit(int(token))
        except MatcherError:
            return False

    def _leave(self, slot: _Slot, token: int) -> None:
        slot.dead = True
        self.stats["left"] += 1
        logger.warning(
            "token %s is not allowed by the request's decoder constraint; the request "
            "runs unconstrained from here",
            token,
        )

    # ------------------------------------------------------------ V1 sampler interface
    def update_state(self, batch_update: BatchUpdate | None) -> None:
        if batch_update is None:
            return
        for index in batch_update.removed:
            self.slots.pop(index, None)
        for index, params, _prompt, output in batch_update.added:
            fut = self._start(params)
            if fut is None:
                self.slots.pop(index, None)
            else:
                self.slots[index] = _Slot(fut, output)
        for a, b, direction in batch_update.moved:
            sa, sb = self.slots.pop(a, None), self.slots.pop(b, None)
            if sa is not None:
                self.slots[b] = sa
            if direction == MoveDirectionality.SWAP and sb is not None:
                self.slots[a] = sb

    def _apply_v1(self, logits: torch.Tensor) -> torch.Tensor:
        if not self.slots:
            return logits
        matchers: list = [None] * logits.shape[0]
        for index, slot in self.slots.items():
            m = slot.ready()
            if m is None:
                continue
            out = slot.output
            assert out is not None, "a V1 slot holds vLLM's output list"
            while slot.done < len(out) and not m.is_terminated():
                if not self._commit(m, out[slot.done]):
                    self._leave(slot, out[slot.done])
                    break
                slot.done += 1
            if not slot.dead and not m.is_terminated() and index < len(matchers):
                matchers[index] = m
        if any(m is not None for m in matchers):
            self._mask(logits, matchers)
        return logits

    # ------------------------------------------------------------ V2 model runner interface
    def add_request(self, req_idx: int, sampling_params) -> bool:
        fut = self._start(sampling_params)
        if fut is None:
            self.slots.pop(req_idx, None)
            return False
        self.slots[req_idx] = _Slot(fut, [], int(self.req_states.prompt_len.np[req_idx]))
        return True

    def _apply_v2(self, logits: torch.Tensor, ctx) -> torch.Tensor:
        if not self.slots or not any(int(s) in self.slots for s in ctx.idx_mapping_np):
            return logits
        # one device-to-host read per step: which request and which token each row holds
        rows = ctx.expanded_idx_mapping.cpu().tolist()
        pos = ctx.pos.cpu().tolist()
        ids = ctx.input_ids.cpu().tolist()
        matchers: list = [None] * logits.shape[0]
        buf = self._buffer(logits.shape[0], (logits.shape[1] + 31) // 32)
        pending: dict[
            int, int
        ] = {}  # request slot -> row whose mask is its matcher's current state
        seen: set[int] = set()
        broken: set[int] = set()
        constrained = False
        for r, s in enumerate(rows):
            slot = self.slots.get(s)
            if slot is None or s in broken:
                continue
            m = slot.ready()
            if m is None:
                continue
            n = pos[r] - slot.prompt_len + 1  # output tokens up to and including this row's input
            if n < 0:
                continue  # a prefill chunk before the last: nothing is sampled from it
            draft = s in seen  # later rows of a request carry speculative draft tokens
            seen.add(s)
            if s in pending:  # the previous row's mask, before this row's draft moves the state
                r0 = pending.pop(s)
                matchers[r0] = None
                m.compute_mask(buf[r0])
            bad = self._sync(slot, m, s, n, ids[r] if n > 0 else None)
            if bad is not None:
                if draft:
                    broken.add(s)  # the draft will be rejected; so will the ones after it
                else:
                    self._leave(slot, bad)
                continue
            if not m.is_terminated():
                matchers[r] = m
                pending[s] = r
                constrained = True
        if constrained:
            self._mask(logits, matchers, buf)
        return logits

    def _sync(self, slot: _Slot, m: Matcher, s: int, n: int, last: int | None) -> int | None:
        """Brings the matcher to the request's first ``n`` output tokens, the ``n``-th being
        ``last``; returns the first token that is not allowed, or None."""
        toks = slot.toks
        keep = min(len(toks), max(n - 1, 0))
        if n > 0 and len(toks) >= n and toks[n - 1] == last:
            keep = n
        if len(toks) > keep:  # a rejected draft (or a rewound request): undo it
            m.rollback(len(toks) - keep)
            del toks[keep:]
        if len(toks) < n - 1 and not m.is_terminated():
            # tokens we never saw as a row's input (a request resumed after preemption)
            self.stats["gaps"] += 1
            a, b = slot.prompt_len + len(toks), slot.prompt_len + n - 1
            for t in self.req_states.all_token_ids.gpu[s, a:b].cpu().tolist():
                if m.is_terminated():
                    break
                if not self._commit(m, t):
                    return t
                toks.append(t)
        if n > 0 and len(toks) == n - 1 and not m.is_terminated():
            assert last is not None, "the caller gives the n-th token whenever n > 0"
            if not self._commit(m, last):
                return last
            toks.append(last)
        return None

    # ------------------------------------------------------------ both
    def apply(self, logits: torch.Tensor, ctx=None) -> torch.Tensor:
        return self._apply_v1(logits) if ctx is None else self._apply_v2(logits, ctx)


__all__ = [
    "DecoderBackend",
    "DecoderGrammar",
    "DecoderLogitsProcessor",
    "spec_of",
    "vocabulary_for",
    "EXTRA_ARGS_KEY",
]
