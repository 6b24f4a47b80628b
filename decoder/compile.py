"""Grammar + Vocabulary → CompiledGrammar (the C++ engine's object), with caches.

The token trie is built once per vocabulary, and a grammar compiled once per
(grammar, vocabulary): its lexer automaton and mask cache are shared by every matcher
made from it, across threads.
"""

from __future__ import annotations

import os
import threading
from array import array
from collections import OrderedDict
from typing import TYPE_CHECKING, Protocol

from . import _engine
from . import deadline as _deadline
from .errors import DecoderError, LimitError

if TYPE_CHECKING:
    from .grammar import Grammar
    from .vocab import Vocabulary


class _ToGrammar(Protocol):
    """Anything that converts itself to a :class:`~decoder.grammar.Grammar`."""

    def to_grammar(self) -> Grammar: ...


_lock = threading.Lock()
_tries: dict[int, tuple[Vocabulary, _engine.TokenTrie]] = {}
# (_grammar_key, id(vocabulary), sorted limits) -> compiled grammar
_GrammarKey = tuple[int, int, str, str, str]
_CacheKey = tuple[_GrammarKey, int, tuple[tuple[str, int], ...]]
_compiled: OrderedDict[_CacheKey, _engine.CompiledGrammar] = OrderedDict()
COMPILE_CACHE_SIZE = 64
#: bytes the compiled grammars of a compiled-grammar cache may hold (lexer automata + mask
#: caches; they grow with use, measured when a grammar is added); least recently used dropped
#: first. The one place DECODER_COMPILE_CACHE_BYTES is read: this cache and the serving
#: integrations' SpecCompiler (decoder.integrations.compiler) default to it. A grammar sits
#: in one of them, not both (the SpecCompiler compiles with ``cache=False``), so the process
#: keeps at most this many bytes of grammars per cache.
COMPILE_CACHE_BYTES = int(os.environ.get("DECODER_COMPILE_CACHE_BYTES", str(2 << 30)))
#: the cached grammars' memory_bytes when last measured (by id: each is alive in _compiled),
#: and their sum. They grow with use, so all are measured again on every REMEASURE_EVERY-th
#: addition and whenever the sizes last measured add up past the budget (before anything is
#: evicted); in between only the new grammar is, and the sum is kept as grammars come and go
#: (a loop over the 64 cached grammars on every compile was ~30-90 us of a ~0.5 ms Matcher
#: stage: their objects are cold in the CPU caches after a front end). _sizes_of is the cache
#: the sizes describe: a cache replaced or cleared from outside is measured again.
_sizes: dict[int, int] = {}
_sizes_of: object = None
_total = 0
_added = 0
REMEASURE_EVERY = 16


def _cached_bytes(c: _engine.CompiledGrammar) -> int:
    """What a cached grammar holds: the engine's memory_bytes and the wire words it keeps
    for the cache's hits to compare (``key_words``, 4 bytes a word)."""
    w = c.key_words
    return c.memory_bytes + (4 * len(w) if w is not None else 0)


def _measure_all() -> None:
    global _sizes, _sizes_of, _total
    _sizes = {id(c): _cached_bytes(c) for c in _compiled.values()}
    _sizes_of = _compiled
    _total = sum(_sizes.values())


def _grammar_key(grammar: Grammar, words: array[int], lexeme_names: list[str]) -> _GrammarKey:
    """The compile cache's key for a grammar: a hash and the length of its wire words, its
    lexeme names, token budgets and distinct-item roles. Equal keys with different words are
    told apart on a hit (the cached grammar keeps its words, ``key_words``), so the cache is
    exact; the engine's ``words_hash`` rather than Grammar.fingerprint's SHA-256 or a CRC-32:
    ~1.5 against ~23 and ~14 us for a median grammar's 35 kB of words, inside the Matcher
    stage of every compile."""
    ir = grammar.ir
    return (
        _engine.words_hash(words),
        len(words),
        "\0".join(lexeme_names),
        repr(sorted(ir.budgets)) if ir.budgets else "",
        repr(sorted(ir.distinct)) if ir.distinct else "",
    )


def token_trie(vocab: Vocabulary) -> _engine.TokenTrie:
    """The C++ token trie of a :class:`~decoder.vocab.Vocabulary` (built once)."""
    key = id(vocab)
    with _lock:
        hit = _tries.get(key)
        if hit is not None and hit[0] is vocab:
            return hit[1]
    excluded = sorted(set(vocab.special_ids))
    trie = _engine.TokenTrie(
        list(vocab.tokens), int(vocab.model_vocab_size), [int(e) for e in vocab.eos_ids], excluded
    )
    with _lock:
        _tries[key] = (vocab, trie)
    return trie


def compile_grammar(
    grammar: Grammar | _ToGrammar,
    vocab: Vocabulary | None,
    *,
    limits: dict[str, int] | None = None,
    cache: bool = True,
) -> _engine.CompiledGrammar:
    """Compiles a :class:`~decoder.grammar.Grammar` (or anything with ``to_grammar()``) for a
    vocabulary. Cached: the same grammar and vocabulary give the same compiled object
    (``cache=False``: neither looked up nor kept, for callers with a cache of their own)."""
    from .grammar import Grammar

    if vocab is None:
        raise DecoderError("a Vocabulary is needed to compile a grammar into a matcher")
    if not isinstance(grammar, Grammar):
        if hasattr(grammar, "to_grammar"):
            grammar = grammar.to_grammar()
        else:
            raise TypeError(f"expected a decoder.Grammar, got {type(grammar).__name__}")
    from .grammar.freetext import has_marker_bytes, special_ids

    trie = token_trie(vocab)
    marked = has_marker_bytes(grammar.ir)  # placeholders and markers: else nothing to resolve
    if marked:
        grammar = grammar.for_vocab(vocab)
    _deadline.check("before serialising the grammar")
    words, lexeme_names, nt_names = grammar.serialized()
    limits_key = tuple(sorted((limits or {}).items()))
    key: _CacheKey = (_grammar_key(grammar, words, lexeme_names), id(vocab), limits_key)
    with _lock:
        hit = _compiled.get(key) if cache else None
        if (
            hit is not None
            and hit.vocab is vocab
            and (hit.key_words is words or hit.key_words == words)
        ):
            _compiled.move_to_end(key)
            return hit
    cg = _compile_engine(words, lexeme_names, nt_names, trie, vocab, limits)
    if cache:
        cg.key_words = words  # the cache's hits compare them (_grammar_key is a checksum)
    specials = special_ids(grammar.ir) if marked else []
    if specials or grammar.ir.budgets or grammar.ir.distinct:
        cg.set_extras(specials, grammar.ir.budgets, grammar.ir.distinct)
    if not cache:
        return cg
    global _total, _added
    with _lock:
        old = _compiled.pop(key, None)  # (another thread compiled the same grammar meanwhile)
        if old is not None:
            _total -= _sizes.pop(id(old), 0)
        _compiled[key] = cg
        while len(_compiled) > COMPILE_CACHE_SIZE:
            _total -= _sizes.pop(id(_compiled.popitem(last=False)[1]), 0)
        _added += 1
        measured = _added % REMEASURE_EVERY == 0 or _sizes_of is not _compiled
        measured = measured or len(_sizes) != len(_compiled) - 1
        if measured:
            _measure_all()
        else:
            n = _cached_bytes(cg)
            _sizes[id(cg)] = n
            _total += n
            if _total > COMPILE_CACHE_BYTES:
                _measure_all()
        if _total > COMPILE_CACHE_BYTES:
            for k, c in list(_compiled.items())[:-1]:  # the newest stays
                if _total <= COMPILE_CACHE_BYTES:
                    break
                del _compiled[k]
                _total -= _sizes.pop(id(c))
    return cg


def compiled_cache_bytes() -> int:
    """Bytes held by the grammars of ``compile_grammar``'s cache (lexer automata + mask
    caches, as :attr:`CompiledGrammar.memory_bytes`, and the wire words each keeps for the
    cache's hits to compare)."""
    with _lock:
        return sum(_cached_bytes(c) for c in _compiled.values())


def _compile_engine(
    words: array[int],
    lexeme_names: list[str],
    nt_names: list[str],
    trie: _engine.TokenTrie,
    vocab: Vocabulary,
    limits: dict[str, int] | None,
) -> _engine.CompiledGrammar:
    """The engine's compile, under this context's compile deadline (decoder.deadline): the
    C++ side checks a cancel flag (and the time left) where it counts work, so a compile
    cancelled from another thread, or past its deadline, stops within milliseconds."""
    d = _deadline.current()
    if d is None:
        return _engine.CompiledGrammar(words, lexeme_names, nt_names, trie, vocab, limits)
    d.check("before the engine's compile")
    flag = _engine.CancelFlag(d.remaining())
    d._attach(flag)
    try:
        return _engine.CompiledGrammar(words, lexeme_names, nt_names, trie, vocab, limits, flag)
    except LimitError as e:
        if e.limit == "deadline" and d.cancelled:
            raise _deadline.CompileCancelled(str(e), limit="deadline") from None
        raise
    finally:
        d._detach(flag)
