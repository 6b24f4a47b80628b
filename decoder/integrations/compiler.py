"""Compiling serving requests' constraints: a cache, a deadline, per-stop-set vocabularies.

A serving engine compiles on a worker thread and must never stall on one slow schema
(the most common complaint about structured output in production).  So
:meth:`SpecCompiler.compile`:

* returns at once on a cache hit (keyed by the spec *text*, so not even the schema
  front end runs again);
* joins a compile of the same spec that is already running;
* otherwise compiles on a daemon thread and waits at most ``deadline_s``; past it,
  it raises :class:`CompileTimeout` and *stops* the compile: the thread runs under a
  :class:`decoder.deadline.Deadline` (front end, serialisation and the C++ compile all
  check it, and the waiter cancels it), so a request that gave up costs no more CPU.
  Only ``max_background`` compiles may run at once, after which new specs are refused
  until one ends.

Stop tokens: a request's stop ids (vLLM's ``all_stop_token_ids``, SGLang's EOS set)
are the ids that end a constrained output, allowed only once the grammar accepts.
The tokenizer's :class:`~decoder.Vocabulary` has its own eos set, so a vocabulary
with exactly those ids as eos is derived (and cached) per distinct stop set.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Iterable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as _FutureTimeout

from ..compile import COMPILE_CACHE_BYTES, compile_grammar
from ..deadline import Deadline, compile_deadline
from ..errors import LimitError
from ..vocab import Vocabulary
from .memory import limit_malloc_arenas
from .specs import grammar_for

logger = logging.getLogger("decoder.integrations")

DEFAULT_DEADLINE_S = float(os.environ.get("DECODER_COMPILE_DEADLINE_S", "10"))
#: bytes of compiled grammars (lexer automata and mask caches) the spec cache may keep:
#: DECODER_COMPILE_CACHE_BYTES, read once, in decoder.compile
DEFAULT_CACHE_BYTES = COMPILE_CACHE_BYTES


def _import_front_ends() -> None:
    """Import now, at the server's start, what the first request's compile would otherwise
    import on its critical path: the JSON Schema front end, and jsonschema, which it uses to
    check enum values against their sibling keywords (100-250 ms; 1.5-3 s of CPU where
    rfc3987-syntax is installed, as jsonschema's format extra installs it: importing
    jsonschema then builds 38 Lark parsers)."""
    from ..grammar import json_schema  # noqa: F401

    try:
        import jsonschema  # noqa: F401
    except ImportError:  # enums with other constraints are refused without it
        pass


class CompileTimeout(LimitError):
    """A constraint took longer than the deadline to compile."""


class SpecCompiler:
    """``(kind, spec, stop ids)`` → ``decoder.CompiledGrammar`` for one tokenizer's vocabulary.

    Thread-safe: engines call :meth:`compile` from several worker threads at once.
    """

    def __init__(
        self,
        vocab: Vocabulary,
        *,
        whitespace: str = "flexible",
        property_order: str = "schema",
        deadline_s: float | None = None,
        cache_size: int = 256,
        max_background: int = 4,
        max_stop_sets: int = 8,
        cache_bytes: int | None = None,
    ):
        self.vocab = vocab
        self.whitespace = whitespace
        self.property_order = property_order
        self.deadline_s = DEFAULT_DEADLINE_S if deadline_s is None else float(deadline_s)
        self.cache_size = cache_size
        # the cache is bounded by count and by the bytes its grammars hold (their lexer
        # automata grow with use: measured when a compile is added)
        self.cache_bytes = DEFAULT_CACHE_BYTES if cache_bytes is None else int(cache_bytes)
        self.max_background = max_background
        self.max_stop_sets = max_stop_sets
        self._lock = threading.Lock()
        self._cache: OrderedDict[tuple, object] = OrderedDict()
        self._running: dict[tuple, tuple[Future, Deadline]] = {}
        self._vocabs: OrderedDict[frozenset, Vocabulary] = OrderedDict()
        self.stats = {"hits": 0, "compiles": 0, "timeouts": 0, "errors": 0, "cancelled": 0}
        # a server's compile and mask threads would each get a malloc arena whose freed
        # memory stays resident (decoder.integrations.memory; DECODER_MALLOC_ARENAS=0: off)
        self.malloc_arenas = limit_malloc_arenas()
        _import_front_ends()

    # ------------------------------------------------------------ vocabularies
    def vocab_for_stop(self, stop_ids: Iterable[int] | None) -> Vocabulary:
        """The vocabulary whose eos ids are ``stop_ids`` (the base one for None / empty /
        the base eos set). Ids outside the tokenizer (model padding rows) are dropped."""
        base = self.vocab
        stop = frozenset(int(i) for i in (stop_ids or ()) if 0 <= int(i) < base.size)
        if not stop or stop == frozenset(base.eos_ids):
            return base
        with self._lock:
            v = self._vocabs.get(stop)
            if v is not None:
                self._vocabs.move_to_end(stop)
                return v
        v = Vocabulary(
            base.tokens,
            sorted(stop),
            base.special_ids | stop,
            base.model_vocab_size,
            kind=base.kind,
            bos_id=base.bos_id,
            leading_space_strip=base.leading_space_strip,
            special_names=getattr(base, "special_names", None),
        )  # <|name|> terminals
        with self._lock:
            v = self._vocabs.setdefault(stop, v)
            while len(self._vocabs) > self.max_stop_sets:
                self._vocabs.popitem(last=False)
        return v

    # ------------------------------------------------------------ compile
    def compile(self, kind: str, spec, stop_ids: Iterable[int] | None = None):
        vocab = self.vocab_for_stop(stop_ids)
        key = (kind, spec if isinstance(spec, str) else repr(spec), frozenset(vocab.eos_ids))
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
                self.stats["hits"] += 1
                return hit
            running = self._running.get(key)
            if running is None:
                if len(self._running) >= self.max_background:
                    raise CompileTimeout(
                        f"{len(self._running)} constraints are still compiling; "
                        f"refusing to start another {kind} compile until one finishes"
                    )
                running = (Future(), Deadline(self.deadline_s if self.deadline_s > 0 else None))
                self._running[key] = running
                threading.Thread(
                    target=self._run,
                    args=(key, kind, spec, vocab, *running),
                    name="decoder-compile",
                    daemon=True,
                ).start()
        fut, deadline = running
        try:
            return fut.result(timeout=self.deadline_s if self.deadline_s > 0 else None)
        except _FutureTimeout:
            deadline.cancel()  # the compile stops at its next check (milliseconds)
        except LimitError as e:
            if e.limit != "deadline":
                raise
        with self._lock:
            self.stats["timeouts"] += 1
        raise CompileTimeout(
            f"compiling the {kind} constraint took longer than the {self.deadline_s:g} s deadline "
            f"(DECODER_COMPILE_DEADLINE_S); the compile was stopped. Spec: {key[1][:200]}",
            limit="deadline",
        ) from None

    def _run(self, key, kind, spec, vocab, fut: Future, deadline: Deadline) -> None:
        try:
            with compile_deadline(deadline=deadline):
                g = grammar_for(
                    kind, spec, whitespace=self.whitespace, property_order=self.property_order
                )
                # not also in compile_grammar's cache: this cache alone holds the grammar,
                # so dropping it here frees it (once no matcher uses it)
                compiled = compile_grammar(g, vocab, cache=False)
        except BaseException as e:  # noqa: BLE001 - handed to the waiting thread
            with self._lock:
                self._running.pop(key, None)
                self.stats["cancelled" if getattr(e, "limit", "") == "deadline" else "errors"] += 1
            fut.set_exception(e)
            return
        with self._lock:
            self._running.pop(key, None)
            self.stats["compiles"] += 1
            self._cache[key] = compiled
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
            self._trim_bytes()
        fut.set_result(compiled)

    def _trim_bytes(self) -> None:
        """Drop least recently used grammars while the cache holds more than cache_bytes
        (the newest one stays). Caller holds the lock."""
        sizes = [getattr(cg, "memory_bytes", 0) for cg in self._cache.values()]
        total = sum(sizes)
        for size in sizes[:-1]:
            if total <= self.cache_bytes:
                break
            self._cache.popitem(last=False)
            self.stats["evicted"] = self.stats.get("evicted", 0) + 1
            total -= size

    def cached_bytes(self) -> int:
        """Approximate bytes held by the cached compiled grammars."""
        with self._lock:
            return sum(getattr(cg, "memory_bytes", 0) for cg in self._cache.values())


__all__ = ["SpecCompiler", "CompileTimeout", "DEFAULT_DEADLINE_S", "DEFAULT_CACHE_BYTES"]
