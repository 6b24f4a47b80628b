# cython: language_level=3
"""The grammar IR -> the int32 words of the wire format (csrc/ir_format.h, the one place the
layout is defined: this module reads its opcodes with ``cdef extern``). A loop over the IR's
Python tuples, in Cython so that it runs as C: the largest real schemas have ~10^5 regex
nodes, which took ~100 ms as a Python loop. decoder/grammar/serialize.py is its Python face."""
from libc.stdint cimport int32_t
from libcpp.vector cimport vector
from cpython cimport array as carray
from libc.string cimport memcpy
from libcpp.unordered_map cimport unordered_map
from libcpp.utility cimport pair
from cython.operator cimport dereference as deref
from cpython.object cimport PyObject
import array as _pyarray

from ..errors import LimitError


cdef extern from "ir_format.h" namespace "decoder::wire":
    int32_t kMagic
    int32_t kUnbounded
    int32_t kLazyTag
    enum Op:
        kEmpty
        kNever
        kBytes
        kCps
        kByteset
        kCat
        kAlt
        kRep
        kAutomaton
        kCount
        kUnit

MAGIC = kMagic
LAZY_TAG = kLazyTag


cdef extern from "Python.h":
    int PyObject_IS_GC(object o)
    int PyObject_GC_IsTracked(object o)
    void PyObject_GC_UnTrack(void* o)


cdef inline void _untrack(object t):
    """What CPython's collector does to a tuple (``_PyTuple_MaybeUntrack``): an exact tuple
    none of whose items can be in a reference cycle (not collectable, or a tuple already
    untracked) can never be in one either, so the collector stops tracking it. The collector
    does it one nesting level per pass (its list puts a tuple before its items), so the IR's
    nested tuples stayed tracked for dozens of passes; done here bottom-up, as the words are
    written, one pass of the serialiser untracks a whole regex."""
    if type(t) is not tuple or not PyObject_GC_IsTracked(t):
        return
    for e in <tuple>t:
        if PyObject_IS_GC(e) and (type(e) is not tuple or PyObject_GC_IsTracked(e)):
            return
    PyObject_GC_UnTrack(<void*>t)

cdef object _END = object()
cdef int32_t _MAX_REPEAT = 2147483647  # decoder.grammar.ir.MAX_REPEAT (the words are int32)

# one opcode per IR node kind (decoder/grammar/ir.py)
cdef dict _OPCODES = {"empty": kEmpty, "never": kNever, "bytes": kBytes, "cps": kCps,
                      "byteset": kByteset, "cat": kCat, "alt": kAlt, "rep": kRep,
                      "dfa": kAutomaton, "counted": kCount, "unit": kUnit}


ctypedef pair[Py_ssize_t, Py_ssize_t] _Span  # a compound node's words: [first, end)
ctypedef PyObject* _NodePtr
ctypedef unordered_map[_NodePtr, _Span] _Memo


cdef struct _Item:
    PyObject* node  # borrowed: the IR holds every node while its words are written
    Py_ssize_t start  # -1: to write; else its words began there (the node is written)
    int op


cdef inline int _op_of(object kind) except -1:
    # the IR's kinds are interned literals: identity first, the table for any other string
    if kind is _K_CAT:
        return kCat
    if kind is _K_CPS:
        return kCps
    if kind is _K_BYTES:
        return kBytes
    if kind is _K_ALT:
        return kAlt
    if kind is _K_REP:
        return kRep
    cdef object op_obj = _OPCODES.get(kind)
    if op_obj is None:
        raise ValueError(f"unknown regex node {kind!r}")
    return <int>op_obj


cdef object _K_CAT = "cat"
cdef object _K_CPS = "cps"
cdef object _K_BYTES = "bytes"
cdef object _K_ALT = "alt"
cdef object _K_REP = "rep"


cdef int _write_regex(object node, vector[int32_t]& out, _Memo& memo) except -1:
    """Appends ``node``'s words in prefix form. A compound node met again (a subtree shared
    by several places, within this grammar) gets the words written the first time copied;
    the memo and the stack are C++ (node pointers: the IR holds the nodes for the call),
    so the walk allocates no Python objects."""
    cdef vector[_Item] stack
    cdef _Item it
    cdef object n, kind, children, x
    cdef tuple rng
    cdef const unsigned char* p
    cdef Py_ssize_t i, k, a, b
    cdef int op
    cdef object lo, hi
    cdef bytes data
    cdef _Memo.iterator got
    it.node = <PyObject*>node
    it.start = -1
    it.op = 0
    stack.push_back(it)
    while stack.size():
        it = stack.back()
        stack.pop_back()
        n = <object>it.node
        if it.start >= 0:  # a compound node's words are written: its items are untracked now
            if it.op == kCat or it.op == kAlt:
                _untrack(n[1])
            _untrack(n)
            memo[it.node] = _Span(it.start, <Py_ssize_t>out.size())
            continue
        kind = n[0]
        op = _op_of(kind)
        if op == kCat or op == kAlt or op == kRep or op == kAutomaton or op == kCount or op == kUnit:
            # compound: memoised
            got = memo.find(it.node)
            if got != memo.end():
                # a subtree shared by several places: copy the words written the first time
                a = deref(got).second.first
                b = deref(got).second.second
                k = <Py_ssize_t>out.size()
                out.resize(k + (b - a))
                memcpy(out.data() + k, out.data() + a, (b - a) * sizeof(int32_t))
                continue
            it.start = <Py_ssize_t>out.size()
            it.op = op
            stack.push_back(it)
        out.push_back(op)
        if op == kBytes:  # bytes: n b...
            data = <bytes>n[1]
            k = len(data)
            p = data
            out.push_back(<int32_t>k)
            for i in range(k):
                out.push_back(p[i])
            _untrack(n)
        elif op == kCps or op == kByteset:  # cps, byteset: k (lo hi)...
            children = n[1]
            out.push_back(<int32_t>len(children))
            for rng in children:
                out.push_back(<int32_t>rng[0])
                out.push_back(<int32_t>rng[1])
                _untrack(rng)
            _untrack(children)
            _untrack(n)
        elif op == kCat or op == kAlt:  # cat, alt: k child...
            children = <tuple?>n[1]  # (checked: a hand-built node with a list or str of
            # children raises TypeError instead of reading a tuple's slots out of it)
            out.push_back(<int32_t>len(children))
            it.start = -1
            it.op = 0
            for i in range(len(children) - 1, -1, -1):
                it.node = <PyObject*>(<tuple>children)[i]
                stack.push_back(it)
        elif op == kRep or op == kCount:  # rep / counted: min max child
            lo = n[2]
            hi = n[3]
            if lo > _MAX_REPEAT or (hi is not None and hi > _MAX_REPEAT):
                big = lo if lo > _MAX_REPEAT else hi
                what = "counted repetition" if op == kCount else "repetition"
                raise LimitError(f"{what} bound {big} is larger than the engine's {_MAX_REPEAT} "
                                 f"(limit max_repeat)", limit="max_repeat")
            out.push_back(<int32_t>lo)
            if hi is None:
                out.push_back(kUnbounded)
            else:
                out.push_back(<int32_t>hi)
            x = n[1]
            it.node = <PyObject*>x
            it.start = -1
            it.op = 0
            stack.push_back(it)
        elif op == kUnit:  # unit: child
            x = n[1]
            it.node = <PyObject*>x
            it.start = -1
            it.op = 0
            stack.push_back(it)
        elif op == kAutomaton:  # dfa: n_states n_final final... then per state k (lo hi to)...
            out.push_back(<int32_t>n[1])
            out.push_back(<int32_t>len(n[2]))
            for x in n[2]:
                out.push_back(<int32_t>x)
            for children in n[3]:
                out.push_back(<int32_t>len(children))
                for rng in children:
                    out.push_back(<int32_t>rng[0])
                    out.push_back(<int32_t>rng[1])
                    out.push_back(<int32_t>rng[2])
                    _untrack(rng)
                _untrack(children)
            _untrack(n[2])
            _untrack(n[3])
            _untrack(n)
        elif op == kEmpty or op == kNever:
            _untrack(n)
    return 0


# The words of large lexeme regexes, by the regex object, across grammars: the front end hands
# out one object for the leaf lexemes that recur from schema to schema (a JSON number, the
# string of a format, the keys other than a recurring set: strings._LEXEME_MEMO), ~40% of a
# median grammar's words, and writing them again is a walk over their tuples. An entry holds
# its regex (so the id is not reused while it is there) and a copy of its words; the words of
# a regex do not depend on the grammar around it (a subtree written earlier is copied, the
# same words), so a grammar's words are the same with or without the cache.
cdef dict _WORDS = {}
cdef Py_ssize_t _words_held = 0
cdef Py_ssize_t _WORDS_MIN = 64  # smaller regexes are cheaper to write than to look up
cdef Py_ssize_t _WORDS_MAX_HELD = 1 << 22  # 16 MB of words, then the cache starts over
cdef Py_ssize_t _WORDS_MAX_ENTRIES = 2048


cdef int _write_lexeme(object r, vector[int32_t]& out, _Memo& memo) except -1:
    global _words_held
    cdef object got = _WORDS.get(id(r))
    cdef carray.array words
    cdef Py_ssize_t start, n
    if got is not None and (<tuple>got)[0] is r:
        words = <carray.array>(<tuple>got)[1]
        n = len(words)
        start = <Py_ssize_t>out.size()
        out.resize(start + n)
        memcpy(out.data() + start, words.data.as_ints, n * sizeof(int32_t))
        return 0
    start = <Py_ssize_t>out.size()
    _write_regex(r, out, memo)
    n = <Py_ssize_t>out.size() - start
    if n >= _WORDS_MIN:
        if _words_held + n > _WORDS_MAX_HELD or len(_WORDS) >= _WORDS_MAX_ENTRIES:
            _WORDS.clear()
            _words_held = 0
        if n <= _WORDS_MAX_HELD:
            words = carray.clone(_pyarray.array("i"), n, zero=False)
            memcpy(words.data.as_ints, out.data() + start, n * sizeof(int32_t))
            _WORDS[id(r)] = (r, words)
            _words_held += n
    return 0


def _forget_words():
    """Empties the cross-grammar cache of lexeme words (tests compare with and without)."""
    global _words_held
    _WORDS.clear()
    _words_held = 0


def _words_cached():
    """How many lexeme regexes have their words in the cache."""
    return len(_WORDS)


def serialize_words(header, regexes, rules):
    """``header`` words, then every regex of ``regexes`` in prefix form, then each rule of
    ``rules`` (lhs, rhs) as ``lhs len sym...``; returns an ``array('i')``."""
    cdef vector[int32_t] out
    cdef _Memo memo
    cdef object r, lhs, rhs, x
    for x in header:
        out.push_back(<int32_t>x)
    for r in regexes:
        _write_lexeme(r, out, memo)
    for r in rules:
        lhs, rhs = r
        out.push_back(<int32_t>lhs)
        out.push_back(<int32_t>len(rhs))
        for x in rhs:
            out.push_back(<int32_t>x)
        _untrack(rhs)
        _untrack(r)  # (lhs, rhs): ints and an untracked tuple
    cdef carray.array res = carray.clone(_pyarray.array("i"), <Py_ssize_t>out.size(), zero=False)
    if out.size():
        memcpy(res.data.as_ints, out.data(), out.size() * sizeof(int32_t))
    return res


# ---------------------------------------------------------------- the IR builder's core
# decoder/grammar/ir.py's GrammarBuilder subclasses _BuilderCore: the three calls a front end
# makes per rule (lexeme, nonterminal, rule) run here as C, the same de-duplication with the
# same results as the Python methods they replace (docs/optimizations.md, section on the
# builder in Cython). ir.py hands over its Lexeme class (this module cannot import ir.py,
# which imports it).

cdef object _Lexeme = None

# hash(regex) by the regex object, across grammars (each entry holds its regex, so an id is not
# reused while it is there): Python keeps no tuple hash, so every lookup of a nested regex tuple
# rehashes all of it; the leaf lexemes that recur from schema to schema are one object each.
# Nested regexes only (_is_leaf: a literal is hashed as cheaply as it is looked up).
_HASHES = {}
cdef dict _HASHES_D = _HASHES
cdef Py_ssize_t _HASHES_MAX = 2048


cdef inline bint _is_leaf(object regex):
    """A regex tuple without nested tuples (a literal's ``("bytes", b'...')``): its hash is
    one pass over atoms that keep theirs, no dearer than the ``_HASHES`` lookup. Kept out of
    ``_HASHES``: the key literals (one object per name, ``compiler._key_literal``) were two
    thirds of its entries at the median and cleared it every few dozen compiles, taking
    the hashes of the recurring nested regexes (an object's excluded-keys lexeme: thousands
    of nodes, ~15 us to rehash) with them."""
    if type(regex) is not tuple:
        return False
    for e in <tuple>regex:
        if type(e) is tuple:
            return False
    return True


def _set_lexeme_class(cls):
    global _Lexeme
    _Lexeme = cls


cdef class _LexemeKey:
    """A builder's de-duplication key for a lexeme: its regex (compared by value), distinct
    role and laziness, with the regex's hash remembered (``_HASHES``)."""

    cdef readonly object regex
    cdef readonly object role
    cdef readonly object lazy
    cdef Py_hash_t h
    cdef Py_hash_t rh
    cdef bint missed  # a nested regex whose hash was not in _HASHES (see _remember)

    def __init__(self, regex, role, lazy):
        cdef object got
        cdef Py_hash_t rh
        self.missed = False
        if _is_leaf(regex):  # ("bytes", b'"name"'): two atoms whose hashes Python keeps
            rh = hash(regex)
        else:
            got = _HASHES_D.get(id(regex))
            if got is not None and (<tuple>got)[0] is regex:
                rh = (<tuple>got)[1]
            else:
                rh = hash(regex)
                self.missed = True
        self.rh = rh
        self.regex = regex
        self.role = role
        self.lazy = lazy
        self.h = hash((rh, role, lazy))

    cdef int _remember(self) except -1:
        """Keeps the regex's hash in ``_HASHES`` once the builder has made it a lexeme of its
        own. Not at the lookup: a regex equal to a lexeme the builder already has (an enum or
        a pattern written again in another place of the schema, a fresh tuple each time) is
        dropped by the builder and never written, so the serialiser never untracks its tuples;
        kept in ``_HASHES`` it stayed alive, tracked, and its ~1,000 tuples per schema were
        promoted to the collector's oldest generation, where they triggered a full collection
        every few hundred compiles (docs/optimizations.md, the compile tail, session 19)."""
        if self.missed:
            if len(_HASHES_D) >= _HASHES_MAX:
                _HASHES_D.clear()
            _HASHES_D[id(self.regex)] = (self.regex, self.rh)
            self.missed = False
        return 0

    def __hash__(self):
        return self.h

    def __eq__(self, other):
        if not isinstance(other, _LexemeKey):
            return False
        cdef _LexemeKey o = <_LexemeKey>other
        return (
            self.role == o.role
            and self.lazy == o.lazy
            and (self.regex is o.regex or self.regex == o.regex)
        )


cdef class _BuilderCore:
    """The state of a GrammarBuilder and its per-rule calls (see ir.GrammarBuilder)."""

    cdef public list _lexemes
    cdef public dict _lexeme_by_regex
    cdef public dict _lexeme_by_id  # id(regex) -> (regex, symbol)
    cdef public list _nonterminals
    cdef public set _nt_names
    cdef public dict _nt_next
    cdef public list _rules
    cdef public set _rule_set
    cdef public list _ignore
    cdef public list _budgets
    cdef public dict _distinct
    cdef public list _lazy

    def __cinit__(self, *args, **kwargs):
        self._lexemes = []
        self._lexeme_by_regex = {}
        self._lexeme_by_id = {}
        self._nonterminals = []
        self._nt_names = set()
        self._nt_next = {}
        self._rules = []
        self._rule_set = set()
        self._ignore = []
        self._budgets = []
        self._distinct = {}
        self._lazy = []

    def lexeme(self, name, regex, role=0, lazy=False):
        """The symbol of a lexeme with this regex (deduplicated by regex, distinct-item role
        and laziness: an item or opener lexeme is another lexeme than a plain one of the same
        regex; ``lazy``: it ends at its first match (see :attr:`GrammarIR.lazy`), never merged
        with a greedy one)."""
        cdef bint plain = not role and not lazy
        cdef object got
        cdef Py_ssize_t j
        cdef _LexemeKey key
        if plain:  # the same regex object again (a string or number lexeme used by many
            # values): no hash of its nested tuples, which Python recomputes at every lookup
            got = self._lexeme_by_id.get(id(regex))
            if got is not None and (<tuple>got)[0] is regex:
                return (<tuple>got)[1]
        key = _LexemeKey(regex, role or 0, bool(lazy))
        got = self._lexeme_by_regex.get(key)
        if got is None:
            key._remember()
            j = len(self._lexemes)
            self._lexemes.append(_Lexeme(name, regex))
            self._lexeme_by_regex[key] = j
            if role:
                self.set_role(-(j + 1), role)
            if lazy:
                self._lazy.append(j)
        else:
            j = got
        if plain:
            self._lexeme_by_id[id(regex)] = (regex, -(j + 1))
        return -(j + 1)

    def nonterminal(self, name):
        return self._nonterminal(name)

    cdef Py_ssize_t _nonterminal(self, object name) except -1:
        cdef object base = name
        cdef object got = self._nt_next.get(base)
        cdef Py_ssize_t k = 1 if got is None else got
        # the next suffix to try: no rescan of #2, #3, ...
        if k > 1:
            name = f"{base}#{k}"
        while name in self._nt_names:
            k += 1
            name = f"{base}#{k}"
        self._nt_next[base] = k + 1
        self._nt_names.add(name)
        self._nonterminals.append(name)
        return len(self._nonterminals) - 1

    def rule(self, lhs, rhs):
        assert lhs >= 0, "the left-hand side must be a nonterminal"
        self._rule((lhs, tuple(rhs)))

    cdef int _rule(self, tuple r) except -1:
        if r not in self._rule_set:
            self._rule_set.add(r)
            self._rules.append(r)
        return 0


def productive(rules, lex_ok, Py_ssize_t n_nt):
    """GrammarIR.productive's fixpoint (Knuth's), as C: per nonterminal whether it derives
    some string; ``lex_ok[j]``: lexeme ``j`` matches something. ``rules``: (lhs, rhs) pairs."""
    cdef Py_ssize_t nr = len(rules), r, i, n, nt, sym, nl = len(lex_ok)
    cdef vector[int] missing = vector[int](nr)
    cdef vector[Py_ssize_t] lhs_of = vector[Py_ssize_t](nr)
    cdef vector[Py_ssize_t] start = vector[Py_ssize_t](n_nt + 1, 0)
    cdef vector[Py_ssize_t] users
    cdef vector[Py_ssize_t] fill
    cdef vector[Py_ssize_t] work
    cdef vector[char] ok = vector[char](n_nt, 0)
    cdef vector[char] lok = vector[char](nl, 0)
    cdef object lhs, rhs, x
    cdef bint bad
    for i in range(nl):
        if lex_ok[i]:
            lok[i] = 1
    # users[nt]: the rules with nt in their body (once per occurrence, as the Python worklist)
    for lhs, rhs in rules:
        if not 0 <= lhs < n_nt:
            raise IndexError(f"rule head {lhs!r} is not a nonterminal")
        for x in rhs:
            sym = x
            if sym >= n_nt or ~sym >= nl:
                raise IndexError(f"symbol {sym} out of range")
            if sym >= 0:
                start[sym + 1] += 1
    for i in range(n_nt):
        start[i + 1] += start[i]
    users.resize(start[n_nt])
    fill = start
    r = 0
    for lhs, rhs in rules:
        lhs_of[r] = lhs
        n = 0
        bad = False
        for x in rhs:
            sym = x
            if sym >= 0:
                n += 1
                users[fill[sym]] = r
                fill[sym] += 1
            elif not lok[~sym]:
                bad = True  # never productive (its count never reaches 0)
        missing[r] = -1 if bad else <int>n
        if not bad and n == 0:
            work.push_back(lhs_of[r])
        r += 1
    while work.size():
        nt = work.back()
        work.pop_back()
        if ok[nt]:
            continue
        ok[nt] = 1
        for i in range(start[nt], start[nt + 1]):
            r = users[i]
            missing[r] -= 1
            if missing[r] == 0:
                work.push_back(lhs_of[r])
    return [ok[i] != 0 for i in range(n_nt)]


# ---------------------------------------------------------------- object states
# Compiler._object_rules' state machine (decoder/grammar/json_schema/compiler.py): the
# nonterminals A(i, c, f), C(i, c, f) and E(i, c, f) of an object's declared properties and
# extra keys, made and written as the Python closures did (the same names, in the same
# order, the same rules in the same order), through the builder's C methods. The
# recursion of the closures is an explicit stack here, so a wide object does not grow the
# C stack.

cdef enum:
    _KA = 0
    _KC = 1
    _KE = 2

cdef struct _Frame:
    int kind
    int stage
    Py_ssize_t i
    Py_ssize_t c
    Py_ssize_t f
    Py_ssize_t s
    Py_ssize_t j
    Py_ssize_t kv

_KIND_NAMES = ("A", "C", "E")


cdef class _ObjectStates:
    """One object's states (see Compiler._object_rules): ``get(kind, i, c, f)`` and
    ``kv_x(bits)`` are the closures ``get`` and ``kv("x", bits)`` of the Python version.
    ``live``: (name, {bits: [value symbols]}, required, absent bits) per declared name (the
    forbidden ones already left out); ``kv_x_new(bits)``: makes an extra keys' member
    nonterminal (a Python callback, through ``comp.nt``/``comp.rule``). The compiler's rule
    and nonterminal counters are kept here while the machine runs and written back to it
    around every call out (and at the end), so the limits and deadline checks of
    ``Compiler.rule`` happen at the same counts: a rule whose count reaches a multiple of 256
    or passes ``max_rules`` goes through ``Compiler.rule`` itself."""

    cdef _BuilderCore core
    cdef object comp
    cdef object comma
    cdef object colon
    cdef object kv_x_new
    cdef object key_lit
    cdef dict key_literals
    cdef list names
    cdef list vals
    cdef list val_bits
    cdef vector[Py_ssize_t] req
    cdef vector[Py_ssize_t] absent
    cdef vector[Py_ssize_t] extra_bits
    cdef Py_ssize_t n, full, lo, hi, xcap, cmax
    cdef bint has_hi, has_xcap
    cdef Py_ssize_t rules, max_rules, nt_count
    cdef vector[Py_ssize_t] memo
    cdef dict memo_far  # states outside the flat memo's bounds (none expected)
    cdef vector[Py_ssize_t] kv_memo

    def __init__(self, comp, _BuilderCore core, list live, Py_ssize_t full, Py_ssize_t lo,
                 hi, xcap, extra_bits, kv_x_new):
        cdef Py_ssize_t nf, x  # x: push_back of an expression binds a dangling reference (Cython 3.3)
        self.comp = comp
        self.core = core
        self.comma = comp.COMMA
        self.colon = comp.COLON
        self.kv_x_new = kv_x_new
        self.key_lit = comp._key_lexeme_literal
        self.key_literals = comp.key_literals
        self.n = len(live)
        self.full = full
        self.lo = lo
        self.has_hi = hi is not None
        self.hi = hi if hi is not None else 0
        self.has_xcap = xcap is not None
        self.xcap = xcap if xcap is not None else 0
        self.names = []
        self.vals = []
        self.val_bits = []
        for e in live:
            self.names.append(e[0])
            self.vals.append(e[1])
            self.val_bits.append(list(e[1]))
            x = 1 if e[2] else 0
            self.req.push_back(x)
            x = e[3]
            self.absent.push_back(x)
        for b in extra_bits:
            x = b
            self.extra_bits.push_back(x)
        if self.has_xcap:
            self.cmax = self.xcap
        elif self.has_hi:
            self.cmax = self.hi
        else:
            self.cmax = lo
        if self.cmax < 0:
            self.cmax = 0
        nf = full + 1
        self.memo.assign(3 * (self.n + 1) * (self.cmax + 1) * nf, -1)
        self.memo_far = {}
        self.kv_memo.assign((self.n + 1) * nf, -1)

    # the counters of the compiler, held here while the machine runs
    cdef inline void _load(self) except *:
        self.rules = self.comp.rules
        self.nt_count = self.comp.nt_count
        self.max_rules = self.comp.max_rules

    cdef inline void _store(self) except *:
        self.comp.rules = self.rules
        self.comp.nt_count = self.nt_count

    cdef inline Py_ssize_t _inc(self, Py_ssize_t c):
        if self.has_xcap:
            return c
        if self.has_hi:
            return c + 1
        return c + 1 if c + 1 < self.lo else self.lo

    cdef inline Py_ssize_t _inc_x(self, Py_ssize_t c):
        if self.has_xcap:
            return c + 1
        return self._inc(c)

    cdef inline bint _ok(self, Py_ssize_t c):
        return not self.has_hi or c <= self.hi

    cdef inline bint _ok_x(self, Py_ssize_t c):
        if self.has_xcap:
            return c <= self.xcap
        return self._ok(c)

    cdef int _rule(self, Py_ssize_t lhs, tuple rhs) except -1:
        cdef Py_ssize_t r = self.rules + 1
        if r > self.max_rules or not (r & 255):  # the limit and the deadline: Compiler.rule
            self._store()
            try:
                self.comp.rule(lhs, list(rhs))
            finally:
                self._load()
            return 0
        self.rules = r
        self.core._rule((lhs, rhs))
        return 0

    cdef Py_ssize_t _nt(self, str name) except -1:
        self.nt_count += 1
        return self.core._nonterminal(f"{name}~{self.nt_count}")

    cdef Py_ssize_t _slot(self, int kind, Py_ssize_t i, Py_ssize_t c, Py_ssize_t f):
        if c < 0 or c > self.cmax or f < 0 or f > self.full or i < 0 or i > self.n:
            return -1
        return ((kind * (self.n + 1) + i) * (self.cmax + 1) + c) * (self.full + 1) + f

    cdef Py_ssize_t _lookup(self, int kind, Py_ssize_t i, Py_ssize_t c, Py_ssize_t f) except -2:
        cdef Py_ssize_t k = self._slot(kind, i, c, f)
        if k >= 0:
            return self.memo[k]
        got = self.memo_far.get((kind, i, c, f))
        return -1 if got is None else got

    cdef Py_ssize_t _new_state(self, int kind, Py_ssize_t i, Py_ssize_t c, Py_ssize_t f) except -1:
        cdef Py_ssize_t s = self._nt(f"obj{_KIND_NAMES[kind]}{i}.{c}")
        cdef Py_ssize_t k = self._slot(kind, i, c, f)
        if k >= 0:
            self.memo[k] = s
        else:
            self.memo_far[(kind, i, c, f)] = s
        return s

    cdef Py_ssize_t _kv_x(self, Py_ssize_t bits) except -1:
        cdef Py_ssize_t k = self.n * (self.full + 1) + bits
        cdef Py_ssize_t s = self.kv_memo[k]
        if s >= 0:
            return s
        self._store()
        try:
            s = self.kv_x_new(bits)
        finally:
            self._load()
        self.kv_memo[k] = s
        return s

    cdef Py_ssize_t _kv(self, Py_ssize_t i, Py_ssize_t bits) except -1:
        cdef Py_ssize_t k = i * (self.full + 1) + bits
        cdef Py_ssize_t s = self.kv_memo[k]
        if s >= 0:
            return s
        name = self.names[i]
        s = self._nt(f"kv:{name}")
        for val in (<dict>self.vals[i])[bits]:
            key = None
            if type(name) is str:
                key = self.key_literals.get(name)
            if key is None:
                self._store()
                try:
                    key = self.key_lit(name)
                finally:
                    self._load()
            self._rule(s, (key, self.colon, val))
        self.kv_memo[k] = s
        return s

    cdef _Frame _open(self, int kind, Py_ssize_t i, Py_ssize_t c, Py_ssize_t f) except *:
        """A frame for a state not made yet: the state made (named now, in call order)."""
        cdef _Frame fr
        fr.kind = kind
        fr.stage = 0
        fr.i = i
        fr.c = c
        fr.f = f
        fr.j = 0
        fr.kv = -1
        fr.s = self._new_state(kind, i, c, f)
        return fr

    cdef Py_ssize_t _get(self, int kind, Py_ssize_t i, Py_ssize_t c, Py_ssize_t f) except -1:
        cdef Py_ssize_t got = self._lookup(kind, i, c, f), bits, ret = -1
        cdef vector[_Frame] stack
        cdef _Frame fr
        if got >= 0:
            return got
        fr = self._open(kind, i, c, f)
        while True:
            # advance the current frame until it calls a state not made yet (push) or
            # returns (pop); a call to a state already made goes on at once
            kind = -1  # the state to call, if any
            if fr.kind == _KE:
                if fr.stage == 0:
                    fr.stage = 1 if self._ok_x(self._inc_x(fr.c)) else 3
                    fr.j = 0
                    continue
                if fr.stage == 1:
                    if fr.j < <Py_ssize_t>self.extra_bits.size():
                        bits = self.extra_bits[fr.j]
                        fr.kv = self._kv_x(bits)
                        fr.stage = 2
                        kind, i, c, f = _KE, fr.i, self._inc_x(fr.c), fr.f | bits
                    else:
                        fr.stage = 3
                        continue
                elif fr.stage == 2:
                    self._rule(fr.s, (self.comma, fr.kv, ret))
                    fr.j += 1
                    fr.stage = 1
                    continue
                elif fr.stage == 3:
                    fr.stage = 4
                    kind, i, c, f = _KC, fr.i, fr.c, fr.f
                else:
                    self._rule(fr.s, (ret,))
            elif fr.i == self.n:
                if fr.c >= self.lo and fr.f == self.full:
                    self._rule(fr.s, ())
            else:
                if fr.stage == 0:
                    fr.stage = 1 if self._ok(self._inc(fr.c)) else 3
                    fr.j = 0
                    continue
                if fr.stage == 1:
                    if fr.j < len(<list>self.val_bits[fr.i]):
                        bits = (<list>self.val_bits[fr.i])[fr.j]
                        fr.kv = self._kv(fr.i, bits)
                        fr.stage = 2
                        kind, i, c, f = _KE, fr.i + 1, self._inc(fr.c), fr.f | bits
                    else:
                        fr.stage = 3
                        continue
                elif fr.stage == 2:
                    if fr.kind == _KA:
                        self._rule(fr.s, (fr.kv, ret))
                    else:
                        self._rule(fr.s, (self.comma, fr.kv, ret))
                    fr.j += 1
                    fr.stage = 1
                    continue
                elif fr.stage == 3:
                    if not self.req[fr.i]:
                        fr.stage = 4
                        kind, i, c, f = fr.kind, fr.i + 1, fr.c, fr.f | self.absent[fr.i]
                else:
                    self._rule(fr.s, (ret,))
            if kind >= 0:  # a call
                got = self._lookup(kind, i, c, f)
                if got >= 0:
                    ret = got
                    continue
                stack.push_back(fr)
                fr = self._open(kind, i, c, f)
                continue
            # the frame returns its state
            ret = fr.s
            if stack.empty():
                return ret
            fr = stack.back()
            stack.pop_back()

    def get(self, str kind, Py_ssize_t i, Py_ssize_t c, Py_ssize_t f):
        cdef int k = _KA if kind == "A" else _KC if kind == "C" else _KE
        self._load()
        try:
            return self._get(k, i, c, f)
        finally:
            self._store()

    def kv_x(self, Py_ssize_t bits):
        self._load()
        try:
            return self._kv_x(bits)
        finally:
            self._store()

