# cython: language_level=3, boundscheck=False, wraparound=False
# distutils: language = c++
"""The binding of the C++ engine (csrc/). Thin on purpose: argument checks, conversions and
releasing the GIL; every algorithm lives in C++."""
from libc.stdint cimport int32_t, uint32_t, uint8_t, int64_t, uint64_t
from libcpp cimport bool as cbool
from libcpp.memory cimport shared_ptr, make_shared
from libcpp.string cimport string
from libcpp.vector cimport vector
from libcpp.utility cimport pair
from cpython.ref cimport PyObject
from cpython.buffer cimport PyObject_GetBuffer, PyBuffer_Release, PyBUF_WRITABLE, PyBUF_FORMAT, PyBUF_C_CONTIGUOUS

import numpy as np

from .errors import GrammarError, LimitError, MatcherError


cdef extern from "py_errors.h" namespace "decoder":
    void raise_py_error()
    void set_error_classes(PyObject*, PyObject*, PyObject*)

set_error_classes(<PyObject*>GrammarError, <PyObject*>LimitError, <PyObject*>MatcherError)


cdef extern from "token_trie.h" namespace "decoder":
    cdef cppclass CSharedEntries "decoder::SharedEntries":
        int64_t bytes()
        int64_t hits()

    cdef cppclass CTokenTrie "decoder::TokenTrie":
        uint32_t size()
        int32_t mask_width()
        int32_t mask_words()
        int32_t vocab_size()
        CSharedEntries& shared_entries() const


cdef extern from "grammar.h" namespace "decoder":
    cdef cppclass CNames "decoder::Names":
        string blob
        int32_t count

    cdef cppclass CLimits "decoder::Limits":
        int64_t max_nfa_states
        int64_t max_dfa_states
        int64_t max_dfa_bytes
        int64_t max_rules
        int64_t max_items_per_row
        int64_t mask_cache_bytes
        int64_t max_compile_work
        int64_t max_step_work


cdef extern from "matcher.h" namespace "decoder":
    cdef cppclass CCompiledGrammar "decoder::CompiledGrammar":
        size_t cache_bytes()
        void set_extras(const vector[int32_t]&, const vector[pair[int32_t, int32_t]]&,
                        const vector[pair[int32_t, int32_t]]&) except +raise_py_error
        int64_t memory_bytes()

    cdef cppclass CMatcher "decoder::Matcher":
        CMatcher(shared_ptr[CCompiledGrammar]) except +raise_py_error
        CMatcher(const CMatcher&) except +raise_py_error
        void compute_mask(uint32_t*) except +raise_py_error nogil
        cbool commit_token(int32_t) except +raise_py_error
        cbool commit_bytes(const uint8_t*, size_t) except +raise_py_error
        void rollback(size_t) except +raise_py_error
        void reset() except +raise_py_error
        cbool is_accepting() except +raise_py_error
        cbool is_terminated()
        size_t num_steps()
        int64_t min_completion_bytes() except +raise_py_error
        cbool is_allowed(int32_t) except +raise_py_error
        string forced_bytes(size_t) except +raise_py_error
        uint64_t last_walk_nodes()
        uint64_t last_exits()
        cbool last_cold()

    void c_fill_masks "decoder::fill_masks"(CMatcher* const*, size_t, uint32_t*, size_t, int) except +raise_py_error nogil


cdef extern from "cache_budget.h" namespace "decoder":
    cdef cppclass CMaskCacheBudget "decoder::MaskCacheBudget":
        int64_t limit()
        void set_limit(int64_t) nogil
        int64_t bytes()
        uint64_t evictions()
        size_t grammars()
        uint64_t trims()
        int64_t trim_every()
        void set_trim_every(int64_t)
    CMaskCacheBudget* c_mask_cache_budget "decoder::mask_cache_budget"()


def mask_cache_budget(nbytes=None, *, trim_every=None):
    """The process-wide budget for the mask caches of all compiled grammars (bytes; the
    least recently used entries are evicted past it). ``nbytes`` sets it (evicting at once
    if the caches are over it). ``trim_every`` sets how many bytes evicted entries and
    destroyed grammars give back between two ``malloc_trim(0)`` calls, which return glibc's
    free pages to the OS (default 32 MiB, ``DECODER_MALLOC_TRIM_BYTES``; 0: never). Returns
    the state: limit, bytes, evictions, grammars (alive), trims, trim_every."""
    cdef CMaskCacheBudget* b = c_mask_cache_budget()
    cdef int64_t n
    with nogil:
        c_drain_releases()  # the grammars dropped so far are destroyed (see CompiledGrammar)
    if nbytes is not None:
        n = int(nbytes)
        if n <= 0:
            raise ValueError("the mask cache budget is a positive number of bytes")
        with nogil:
            b.set_limit(n)
    if trim_every is not None:
        if int(trim_every) < 0:
            raise ValueError("trim_every is a number of bytes (0: never trim)")
        b.set_trim_every(int(trim_every))
    return dict(limit=b.limit(), bytes=b.bytes(), evictions=b.evictions(), grammars=b.grammars(),
                trims=b.trims(), trim_every=b.trim_every())


cdef extern from "budget.h" namespace "decoder":
    cdef cppclass CCancelFlag "decoder::CancelFlag":
        void cancel() nogil
        cbool cancelled() nogil
        void set_deadline_in(double) nogil


cdef extern from "api.h" namespace "decoder":
    shared_ptr[CCompiledGrammar] c_compile_grammar "decoder::compile_grammar"(
        const int32_t*, size_t, CNames, CNames, const CLimits&,
        shared_ptr[const CTokenTrie], const CCancelFlag*) except +raise_py_error nogil
    void c_release_grammar "decoder::release_grammar"(shared_ptr[CCompiledGrammar]&) nogil
    void c_drain_releases "decoder::drain_releases"() nogil
    shared_ptr[const CTokenTrie] c_make_trie "decoder::make_trie"(
        const char*, size_t, const uint32_t*, size_t, int32_t, const vector[int32_t]&,
        const vector[int32_t]&) except +raise_py_error nogil


cdef inline uint64_t _pair(int32_t a, int32_t b) noexcept nogil:
    return (<uint64_t><uint32_t>a) | ((<uint64_t><uint32_t>b) << 32)


cdef inline uint64_t _lane(uint64_t h, uint64_t x, uint64_t k) noexcept nogil:
    h = (h ^ x) * k
    return (h << 31) | (h >> 33)


def words_hash(words):
    """A 64-bit hash of an int32 array (a grammar's wire words): the compile cache's key
    (decoder.compile._grammar_key), whose hits compare the words, so it needs to spread, not
    to resist collisions. Four lanes of multiply-rotate over 8-byte pairs of words, mixed at
    the end: ~1.5 us for a median grammar's 35 kB of words, against zlib.crc32's ~14. Any
    single changed word changes it (every step is a bijection of its lane and the word)."""
    cdef const int32_t[::1] w = words
    cdef Py_ssize_t n = w.shape[0], i = 0
    cdef uint64_t k = 0x9E3779B97F4A7C15ULL
    cdef uint64_t h0 = 0x243F6A8885A308D3ULL, h1 = 0x13198A2E03707344ULL
    cdef uint64_t h2 = 0xA4093822299F31D0ULL, h3 = 0x082EFA98EC4E6C89ULL
    with nogil:
        while i + 8 <= n:
            h0 = _lane(h0, _pair(w[i], w[i + 1]), k)
            h1 = _lane(h1, _pair(w[i + 2], w[i + 3]), k)
            h2 = _lane(h2, _pair(w[i + 4], w[i + 5]), k)
            h3 = _lane(h3, _pair(w[i + 6], w[i + 7]), k)
            i += 8
        while i < n:
            h0 = _lane(h0, <uint32_t>w[i], k)
            i += 1
        h0 = _lane(h0 ^ (<uint64_t>n), h1, k)
        h0 = _lane(h0, h2, k)
        h0 = _lane(h0, h3, k)
        h0 ^= h0 >> 33
        h0 *= 0xFF51AFD7ED558CCDULL
        h0 ^= h0 >> 33
    return h0


cdef class TokenTrie:
    """The token trie of one vocabulary (built once, shared by every compiled grammar)."""
    cdef shared_ptr[const CTokenTrie] ptr

    def __init__(self, tokens, int mask_width, eos_ids, excluded_ids):
        # one blob and an offsets array: no per-token objects cross the boundary
        cdef bytes blob = b"".join(tokens)
        offs = np.zeros(len(tokens) + 1, dtype=np.uint32)
        np.cumsum(np.fromiter(map(len, tokens), dtype=np.uint32, count=len(tokens)), out=offs[1:])
        cdef uint32_t[::1] o = offs
        cdef const char* b = blob
        cdef size_t nb = len(blob)
        cdef vector[int32_t] eos = list(eos_ids)
        cdef vector[int32_t] exc = list(excluded_ids)
        with nogil:
            self.ptr = c_make_trie(b, nb, &o[0], o.shape[0], mask_width, eos, exc)

    @property
    def num_nodes(self):
        return self.ptr.get().size()

    @property
    def mask_width(self):
        return self.ptr.get().mask_width()

    @property
    def mask_words(self):
        return self.ptr.get().mask_words()

    @property
    def shared_entries(self):
        """Free text's mask cache entries shared between grammars (csrc/shared_entries.h):
        (hits so far, bytes held)."""
        cdef CSharedEntries* x = &self.ptr.get().shared_entries()
        return x.hits(), x.bytes()


DEFAULT_LIMITS = dict(max_nfa_states=2_000_000, max_dfa_states=500_000, max_dfa_bytes=64 << 20,
                      max_rules=2_000_000, max_items_per_row=1_000_000, mask_cache_bytes=256 << 20,
                      max_compile_work=100_000_000, max_step_work=5_000_000)


cdef class CancelFlag:
    """Stops an engine compile from another thread (cancel()) or past a deadline
    (seconds from when it was made; None: none); see decoder.deadline."""
    cdef shared_ptr[CCancelFlag] ptr

    def __cinit__(self, seconds=None):
        self.ptr = make_shared[CCancelFlag]()
        if seconds is not None:
            self.ptr.get().set_deadline_in(float(seconds))

    def cancel(self):
        self.ptr.get().cancel()

    @property
    def cancelled(self):
        return self.ptr.get().cancelled()


cdef class CompiledGrammar:
    """A grammar bound to a vocabulary: lexer automaton, Earley tables and mask cache."""
    cdef shared_ptr[CCompiledGrammar] ptr
    cdef readonly int mask_words
    cdef readonly object vocab
    # the wire words it was compiled from, while compile_grammar's cache holds it (its hits
    # compare them: the cache's key is a checksum); None otherwise
    cdef public object key_words

    def __init__(self, words, lexeme_names, nonterminal_names, TokenTrie trie, vocab=None,
                 limits=None, CancelFlag cancel=None):
        cdef int32_t[::1] w = np.asarray(words, dtype=np.int32)
        # the names as two NUL-joined blobs (csrc/grammar.h Names): read only by error messages
        cdef CNames lx, nt
        lexeme_names = list(lexeme_names)
        nonterminal_names = list(nonterminal_names)
        lx.blob = "\0".join(lexeme_names).encode("utf-8", "replace")
        lx.count = len(lexeme_names)
        nt.blob = "\0".join(nonterminal_names).encode("utf-8", "replace")
        nt.count = len(nonterminal_names)
        cdef CLimits lim
        opts = dict(DEFAULT_LIMITS)
        if limits:
            unknown = set(limits) - set(opts)
            if unknown:
                raise ValueError(f"unknown limits: {sorted(unknown)}")
            opts.update(limits)
        lim.max_nfa_states = opts["max_nfa_states"]
        lim.max_dfa_states = opts["max_dfa_states"]
        lim.max_dfa_bytes = opts["max_dfa_bytes"]
        lim.max_rules = opts["max_rules"]
        lim.max_items_per_row = opts["max_items_per_row"]
        lim.mask_cache_bytes = opts["mask_cache_bytes"]
        lim.max_compile_work = opts["max_compile_work"]
        lim.max_step_work = opts["max_step_work"]
        if w.shape[0] == 0:
            raise GrammarError("empty grammar")
        cdef const CCancelFlag* flag = <const CCancelFlag*>NULL
        if cancel is not None:
            flag = cancel.ptr.get()
        with nogil:
            self.ptr = c_compile_grammar(&w[0], w.shape[0], lx, nt, lim, trie.ptr, flag)
        self.mask_words = trie.mask_words
        self.vocab = vocab

    def __dealloc__(self):
        # the last reference: the grammar is destroyed on the engine's release thread, off the
        # caller's path (a cache eviction inside the next compile); api.h release_grammar
        c_release_grammar(self.ptr)

    def set_extras(self, special_ids=(), budgets=(), distinct=()):
        """Named special tokens (grammar terminals), token budgets ``(lexeme, max_tokens)``
        and distinct-item roles ``(lexeme, role)`` (1: a string that must differ from the
        earlier items of its scope, 2: a bracket that opens a scope, 3: one that closes the
        innermost, 4: the '[' of a list whose items are whole values, each refused at its
        closing bracket when equal to an earlier one, 5: an item whose language can run out,
        whose key prefixes are refused once every completion was used; csrc/distinct.h); once, right
        after compiling and before any Matcher is made."""
        cdef vector[int32_t] ids = [int(i) for i in special_ids]
        cdef vector[pair[int32_t, int32_t]] bs
        cdef vector[pair[int32_t, int32_t]] ds
        for lx, n in budgets:
            bs.push_back(pair[int32_t, int32_t](int(lx), int(n)))
        for lx, r in distinct:
            ds.push_back(pair[int32_t, int32_t](int(lx), int(r)))
        self.ptr.get().set_extras(ids, bs, ds)

    @property
    def cache_bytes(self):
        return self.ptr.get().cache_bytes()

    @property
    def memory_bytes(self):
        """Approximate bytes held: the lexer automaton (it grows as masks are computed) and
        the mask cache; the token trie belongs to the vocabulary."""
        return self.ptr.get().memory_bytes()


cdef bint _fast_row(object out, Py_buffer* buf, int words):
    """Takes the buffer of ``out`` when it is a plain numpy array that needs no checks
    beyond the buffer's own fields: 1-D, C-contiguous, writeable, native int32 or uint32,
    at least ``words`` items (the caller releases it). Creates no Python objects, so a
    warm mask does not pay for attribute lookups, views and the collections they trigger
    (~1-2 µs a call); anything else returns False and takes :func:`_row_pointer`."""
    cdef const char* f
    if type(out) is not np.ndarray:
        return False
    try:
        PyObject_GetBuffer(out, buf, PyBUF_WRITABLE | PyBUF_FORMAT | PyBUF_C_CONTIGUOUS)
    except Exception:  # BufferError, ValueError (not contiguous, read-only): the checked path
        return False
    f = buf.format
    if (buf.ndim == 1 and buf.itemsize == 4 and buf.shape[0] >= words and f != NULL
            and (f[0] == b'i' or f[0] == b'I') and f[1] == 0):
        return True
    PyBuffer_Release(buf)
    return False


cdef uint32_t* _row_pointer(object out, int words) except NULL:
    cdef int32_t[::1] view
    arr = out
    if type(out).__module__.startswith("torch"):
        if out.device.type != "cpu":
            raise MatcherError("the mask buffer must be a CPU tensor (copy it to the GPU after filling)")
        arr = out.numpy()
    if not isinstance(arr, np.ndarray):
        raise MatcherError(f"the mask buffer must be a numpy array or torch tensor, not {type(out).__name__}")
    if arr.dtype != np.int32 and arr.dtype != np.uint32:
        raise MatcherError(f"the mask buffer must have dtype int32, not {arr.dtype}")
    if arr.ndim != 1 or arr.shape[0] < words:
        raise MatcherError(f"the mask buffer must be 1-D with at least {words} int32 words, got shape {arr.shape}")
    if not arr.flags.c_contiguous or not arr.flags.writeable:
        raise MatcherError("the mask buffer must be contiguous and writeable")
    view = arr.view(np.int32)
    return <uint32_t*>&view[0]


cdef class Matcher:
    """The constraint state of one sequence; see csrc/matcher.h.

    ``Matcher(grammar, vocab)`` compiles (with a cache) a :class:`decoder.Grammar` for a
    :class:`decoder.Vocabulary`; ``Matcher(compiled)`` takes a compiled grammar.
    """
    cdef CMatcher* m
    cdef readonly CompiledGrammar compiled
    cdef int vocab_size

    def __cinit__(self, grammar=None, vocab=None, **kw):
        self.m = NULL

    def __init__(self, grammar, vocab=None, **kw):
        cdef CompiledGrammar cg
        if isinstance(grammar, CompiledGrammar):
            cg = grammar
        else:
            from .compile import compile_grammar
            cg = compile_grammar(grammar, vocab, **kw)
        self.compiled = cg
        self.vocab_size = cg.mask_words * 32
        self.m = new CMatcher(cg.ptr)

    def __dealloc__(self):
        if self.m != NULL:
            del self.m

    cdef _check(self):
        if self.m == NULL:
            raise MatcherError("matcher is not initialised")

    def compute_mask(self, out):
        """Writes the allowed-token bitmask into ``out`` (int32, ``ceil(V/32)`` words or a row)."""
        self._check()
        cdef Py_buffer buf
        cdef uint32_t* p
        if _fast_row(out, &buf, self.compiled.mask_words):
            try:
                with nogil:
                    self.m.compute_mask(<uint32_t*>buf.buf)
            finally:
                PyBuffer_Release(&buf)
            return out
        p = _row_pointer(out, self.compiled.mask_words)
        with nogil:
            self.m.compute_mask(p)
        return out

    def commit(self, int token):
        """Advances by one token; False (and no change) if it is not allowed."""
        self._check()
        if token < 0 or token >= self.vocab_size:
            raise MatcherError(f"token id {token} out of range [0, {self.compiled.mask_words * 32})")
        return self.m.commit_token(token)

    def commit_bytes(self, data not None):
        """Advances by raw bytes (one rollback step); False (no change) if not allowed.
        ``data``: bytes, bytearray, or any buffer of single bytes (any strides)."""
        cdef const uint8_t[::1] view
        self._check()
        if not isinstance(data, (bytes, bytearray)):
            mv = memoryview(data)
            if mv.itemsize != 1:
                raise TypeError(f"commit_bytes takes bytes, not a buffer of {mv.itemsize}-byte items")
            data = mv.tobytes()  # its bytes in logical order, whatever the strides
        view = data
        if view.shape[0] == 0:
            return self.m.commit_bytes(NULL, 0)
        return self.m.commit_bytes(&view[0], view.shape[0])

    def is_allowed(self, int token):
        self._check()
        if token < 0 or token >= self.vocab_size:
            return False
        return self.m.is_allowed(token)

    def rollback(self, size_t n=1):
        """Undoes the last ``n`` commits (termination included)."""
        self._check()
        if n > self.m.num_steps():
            raise MatcherError(f"cannot roll back {n} steps: only {self.m.num_steps()} were committed")
        self.m.rollback(n)

    def fork(self):
        """An independent copy of this matcher (same compiled grammar, same state)."""
        self._check()
        cdef Matcher other = Matcher.__new__(Matcher)
        other.compiled = self.compiled
        other.vocab_size = self.vocab_size
        other.m = new CMatcher(self.m[0])
        return other

    def reset(self):
        self._check()
        self.m.reset()

    def is_accepting(self):
        """True when the output so far is a complete sentence (EOS would be allowed)."""
        self._check()
        return self.m.is_accepting()

    def is_terminated(self):
        """True after an EOS token was committed."""
        self._check()
        return self.m.is_terminated()

    @property
    def num_steps(self):
        return self.m.num_steps() if self.m != NULL else 0

    @property
    def mask_stats(self):
        """(trie nodes walked below lexeme ends, lexeme-end nodes) in the last compute_mask."""
        if self.m == NULL:
            return (0, 0)
        return (int(self.m.last_walk_nodes()), int(self.m.last_exits()))

    @property
    def last_mask_cold(self):
        """True when the last compute_mask was the first in its lexer state for this compiled
        grammar (it built the state's cached walk) rather than a cache hit."""
        return self.m != NULL and self.m.last_cold()

    def forced_bytes(self, size_t max_bytes=256):
        """The bytes every continuation starts with (at most ``max_bytes``): ``b""`` when the
        output may end here or the next byte is not determined. The matcher is unchanged."""
        self._check()
        return <bytes>self.m.forced_bytes(max_bytes)

    def min_completion_bytes(self):
        """Fewest bytes that complete a sentence from here (-1 if none can)."""
        self._check()
        return self.m.min_completion_bytes()


def fill_masks(matchers, out, int threads=0):
    """Fills ``out[i]`` with the mask of ``matchers[i]`` (None: all ones) in C++ threads,
    without the GIL. ``out`` is an int32 array or CPU tensor of shape [n, words]."""
    import os
    arr = out.numpy() if type(out).__module__.startswith("torch") else out
    if not isinstance(arr, np.ndarray) or arr.ndim != 2 or arr.dtype not in (np.int32, np.uint32):
        raise MatcherError("out must be a 2-D int32 array or CPU tensor")
    if not arr.flags.c_contiguous:
        raise MatcherError("out must be C-contiguous")
    cdef size_t n = len(matchers)
    if arr.shape[0] < n:
        raise MatcherError(f"out has {arr.shape[0]} rows for {n} matchers")
    cdef vector[CMatcher*] ms
    cdef Matcher mm
    cdef int words = arr.shape[1]
    seen = set()
    for x in matchers:
        if x is None:
            ms.push_back(NULL)
            continue
        mm = <Matcher?>x
        mm._check()
        if mm.compiled.mask_words > words:
            raise MatcherError(f"out has {words} words per row, the vocabulary needs {mm.compiled.mask_words}")
        if id(mm) in seen:
            raise MatcherError("the same matcher appears twice in one batch")
        seen.add(id(mm))
        ms.push_back(mm.m)
    if n == 0:
        return out
    cdef int32_t[:, ::1] view = arr.view(np.int32)
    cdef int t = threads if threads > 0 else min(os.cpu_count() or 1, 8)
    with nogil:
        c_fill_masks(ms.data(), n, <uint32_t*>&view[0, 0], words, t)
    return out
