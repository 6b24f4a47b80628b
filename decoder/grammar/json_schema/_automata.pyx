# cython: language_level=3
"""The compiled core of the regex algebra (:mod:`.automata`): subset construction, products,
trimming and minimisation of code-point DFAs, in C++ (csrc/code_point_dfa.h).

One call per construction: a :class:`~.automata.Dfa` (or the Thompson NFA) goes in as its
Python tuples, the result comes back as the ``edges`` list and ``finals`` of a Dfa. The
budgets are counted in C++ exactly as the Python constructions counted them; a call returns
``(status, result)`` where ``status`` is 0 or which budget ran out (automata.py raises its
errors), and the compile-wide work budget (``shared``, automata's one-element list, or None)
is updated in place. The deadline is checked every 128 new states, as before."""
from libc.stdint cimport int32_t, int64_t, uint8_t
from libcpp.utility cimport pair
from libcpp.vector cimport vector

from ... import deadline as _deadline


cdef extern from "code_point_dfa.h" namespace "decoder::cpdfa":
    cdef struct Edge:
        int32_t lo
        int32_t hi
        int32_t to

    cdef cppclass Dfa:
        vector[int32_t] off
        vector[Edge] e
        vector[uint8_t] fin
        int32_t n()
        void close_state(bint final)

    cdef cppclass Nfa:
        vector[int32_t] eoff
        vector[int32_t] eps
        vector[int32_t] off
        vector[Edge] e

    cdef cppclass Budget:
        int64_t left
        int64_t work_left
        int64_t* shared
        int (*tick)(void*) noexcept
        void* ctx

    Dfa c_trim "decoder::cpdfa::trim"(const Dfa&) nogil
    int c_minimize "decoder::cpdfa::minimize"(const Dfa&, Budget&, Dfa&) except +
    int c_determinize "decoder::cpdfa::determinize"(const Nfa&, int32_t, int32_t, Budget&, Dfa&) except +
    int c_intersect "decoder::cpdfa::intersect"(const Dfa&, const Dfa&, Budget&, Dfa&) except +
    int c_product "decoder::cpdfa::product"(const vector[Dfa]&, const vector[Edge]&, Budget&, Dfa&, vector[int32_t]&) except +
    Dfa c_complete "decoder::cpdfa::complete"(const Dfa&) except +
    int c_complement "decoder::cpdfa::complement"(const Dfa&, Budget&, Dfa&) except +
    int c_encode_json "decoder::cpdfa::encode_json"(const Dfa&, const vector[pair[int32_t, int32_t]]&, Budget&, Dfa&) except +


cdef enum:
    kCallback = 4


cdef class _Ctx:
    cdef object error


cdef int _tick(void* ctx) noexcept:
    try:
        _deadline.check("regex automaton")
    except BaseException as e:  # noqa: B036 - re-raised by _finish
        (<_Ctx>ctx).error = e
        return 1
    return 0


cdef class _Run:
    """One construction's budgets (states, work) and the compile's shared work budget."""
    cdef Budget b
    cdef int64_t shared_val
    cdef object shared
    cdef _Ctx ctx

    def __cinit__(self, int64_t left, int64_t work_left, object shared):
        self.ctx = _Ctx()
        self.b.left = left
        self.b.work_left = work_left
        self.shared = shared
        if shared is not None:
            self.shared_val = shared[0]
            self.b.shared = &self.shared_val
        else:
            self.b.shared = NULL
        self.b.tick = _tick
        self.b.ctx = <void*>self.ctx

    cdef int finish(self, int status) except -1:
        if self.shared is not None:
            self.shared[0] = self.shared_val
        if status == kCallback:
            raise self.ctx.error
        return status


cdef Dfa _load(object d) except *:
    cdef Dfa out
    cdef object es
    cdef Py_ssize_t n = len(d.edges)
    for es in d.edges:
        for lo, hi, t in es:
            if not 0 <= t < n:
                raise ValueError(f"DFA edge to state {t!r} of {n}")
            out.e.push_back(Edge(lo, hi, t))
        out.close_state(False)
    for f in d.finals:
        if not 0 <= f < n:
            raise ValueError(f"DFA final state {f!r} of {n}")
        out.fin[f] = 1
    return out


cdef tuple _store(const Dfa& d):
    cdef list edges = []
    cdef list finals = []
    cdef int32_t q, k
    cdef const Edge* x
    for q in range(d.n()):
        row = []
        for k in range(d.off[q], d.off[q + 1]):
            x = &d.e[k]
            row.append((x.lo, x.hi, x.to))
        edges.append(tuple(row))
        if d.fin[q]:
            finals.append(q)
    return edges, finals


def trim(d):
    """(edges, finals) of automata.trim(d)."""
    cdef Dfa a = _load(d)
    cdef Dfa out = c_trim(a)
    return _store(out)


def complete(d):
    """(edges, finals) of automata.complete(d)."""
    cdef Dfa a = _load(d)
    cdef Dfa out = c_complete(a)
    return _store(out)


def complement(d, shared):
    """(status, (edges, finals)) of automata.complement(d)."""
    cdef Dfa a = _load(d)
    cdef Dfa out
    cdef _Run run = _Run(0, 0, shared)
    status = run.finish(c_complement(a, run.b, out))
    return status, (_store(out) if status == 0 else None)


def minimize(d, shared):
    """(status, (edges, finals)) of automata.minimize(d)."""
    cdef Dfa a = _load(d)
    cdef Dfa out
    cdef _Run run = _Run(0, 0, shared)
    status = run.finish(c_minimize(a, run.b, out))
    return status, (_store(out) if status == 0 else None)


def determinize(list eps, list edges, int32_t start, int32_t final, int64_t budget,
                int64_t max_work, shared):
    """(status, (edges, finals)) of the minimal DFA of a Thompson NFA given as ``eps`` and
    ``edges`` lists (tests/test_regex_nfa.py's reference construction; the package builds its
    NFAs with ``determinize_node``)."""
    cdef Nfa nfa
    cdef list row
    cdef Py_ssize_t n = len(eps)
    if len(edges) != n or not (0 <= start < n and 0 <= final < n):
        raise ValueError("malformed NFA")
    for row in eps:
        for t in row:
            if not 0 <= t < n:
                raise ValueError(f"NFA move to state {t!r} of {n}")
            nfa.eps.push_back(t)
        nfa.eoff.push_back(nfa.eps.size())
    for row in edges:
        for lo, hi, t in row:
            if not 0 <= t < n:
                raise ValueError(f"NFA edge to state {t!r} of {n}")
            nfa.e.push_back(Edge(lo, hi, t))
        nfa.off.push_back(nfa.e.size())
    cdef Dfa out
    cdef _Run run = _Run(budget, max_work, shared)
    status = run.finish(c_determinize(nfa, start, final, run.b, out))
    return status, (_store(out) if status == 0 else None)


def intersect(d1, d2, int64_t budget, int64_t max_work, shared):
    """(status, (edges, finals)) of automata.intersect(d1, d2)."""
    cdef Dfa a = _load(d1)
    cdef Dfa z = _load(d2)
    cdef Dfa out
    cdef _Run run = _Run(budget, max_work, shared)
    status = run.finish(c_intersect(a, z, run.b, out))
    return status, (_store(out) if status == 0 else None)


def split_by(list ds, classify, all_ranges, int64_t budget, int64_t max_work, shared):
    """(status, {label: (edges, finals)}) of automata.split_by(ds, classify)."""
    cdef vector[Dfa] cds
    cdef vector[Edge] all_e
    cdef Dfa prod, out
    cdef vector[int32_t] tuples
    cdef size_t k = len(ds), i, j
    for d in ds:
        cds.push_back(_load(d))
    for lo, hi in all_ranges:
        all_e.push_back(Edge(lo, hi, 0))
    cdef _Run run = _Run(budget, max_work, shared)
    status = run.finish(c_product(cds, all_e, run.b, prod, tuples))
    if status:
        return status, None
    finals = [d.finals for d in ds]
    memo = {}
    labels = {}
    for i in range(<size_t>prod.n()):
        flags = tuple(tuples[i * k + j] in finals[j] for j in range(k))
        if flags in memo:
            lab = memo[flags]
        else:
            lab = memo[flags] = classify(flags)
        if lab is not None:
            labels.setdefault(lab, []).append(i)
    result = {}
    for lab, fs in labels.items():
        for i in range(<size_t>prod.n()):
            prod.fin[i] = 0
        for i in fs:
            prod.fin[i] = 1
        status = run.finish(c_minimize(prod, run.b, out))
        if status:
            return status, None
        result[lab] = _store(out)
    return 0, result


def encode_json(d, plain, int64_t budget, int64_t max_work, shared):
    """(status, (edges, finals)) of the trimmed DFA of automata.encode_json(d) (the JSON
    string bodies of L(d); ``plain``: the code points written as themselves)."""
    cdef Dfa a = _load(d)
    cdef vector[pair[int32_t, int32_t]] pl
    for lo, hi in plain:
        pl.push_back(pair[int32_t, int32_t](lo, hi))
    cdef Dfa out
    cdef _Run run = _Run(budget, max_work, shared)
    status = run.finish(c_encode_json(a, pl, run.b, out))
    return status, (_store(out) if status == 0 else None)


# ------------------------------------------------------------------ regex node -> Thompson NFA
cdef extern from "Python.h":
    int Py_EnterRecursiveCall(const char* where) except -1
    void Py_LeaveRecursiveCall()


cdef enum:
    kSurrLo = 0xD800
    kSurrHi = 0xDFFF


cdef struct _Thompson:
    vector[vector[int32_t]] eps
    vector[vector[Edge]] edges
    int64_t left  # states still allowed
    int depth


class _TooLarge(Exception):
    """The state budget ran out (status 1: automata._done raises its RegexBudgetError)."""


cdef int32_t _new(_Thompson* t) except -1:
    """A new state, charged to the construction's state budget; the deadline checked every
    128 states."""
    t.left -= 1
    if t.left < 0:
        raise _TooLarge()
    if t.left & 127 == 0:
        _deadline.check("regex automaton")
    t.eps.push_back(vector[int32_t]())
    t.edges.push_back(vector[Edge]())
    return <int32_t>(t.eps.size() - 1)


cdef inline void _edge(_Thompson* t, int32_t s, int32_t lo, int32_t hi, int32_t to):
    """A code-point edge, the surrogates left out (automata._split_surrogates)."""
    if hi < kSurrLo or lo > kSurrHi:
        t.edges[s].push_back(Edge(lo, hi, to))
        return
    if lo < kSurrLo:
        t.edges[s].push_back(Edge(lo, kSurrLo - 1, to))
    if hi > kSurrHi:
        t.edges[s].push_back(Edge(kSurrHi + 1, hi, to))


cdef int32_t _build(_Thompson* t, object n, int32_t s) except -1:
    """Adds regex node ``n`` after state ``s``; its end state (the states, edges and epsilon
    moves of the Python construction it replaced, in the same order). Nesting counts against
    Python's recursion limit, as the Python recursion did, and stops at 10,000 levels of C
    stack."""
    if t.depth >= 10000:
        raise RecursionError("regex node nested too deeply")
    Py_EnterRecursiveCall(" while building a regex automaton")
    t.depth += 1
    try:
        return _build_node(t, n, s)
    finally:
        t.depth -= 1
        Py_LeaveRecursiveCall()


cdef int32_t _build_node(_Thompson* t, object n, int32_t s) except -1:
    cdef int32_t a, end, loop, base, q, c
    cdef Py_ssize_t i
    k = n[0]
    if k == "empty":
        return s
    if k == "never":
        return _new(t)
    if k == "bytes":
        for ch in n[1].decode("utf-8"):
            a = _new(t)
            c = ord(ch)
            t.edges[s].push_back(Edge(c, c, a))
            s = a
        return s
    if k == "cps":
        a = _new(t)
        for lo, hi in n[1]:
            _edge(t, s, lo, hi, a)
        return a
    if k == "cat":
        for x in n[1]:
            s = _build(t, x, s)
        return s
    if k == "alt":
        end = _new(t)
        for x in n[1]:
            a = _new(t)
            t.eps[s].push_back(a)
            q = _build(t, x, a)
            t.eps[q].push_back(end)
        return end
    if k == "rep":
        x, lo_, hi_ = n[1], n[2], n[3]
        for i in range(lo_):
            s = _build(t, x, s)
        if hi_ is None:
            loop = _new(t)
            t.eps[s].push_back(loop)
            q = _build(t, x, loop)
            t.eps[q].push_back(loop)
            return loop
        end = _new(t)
        for i in range(hi_ - lo_):
            t.eps[s].push_back(end)
            a = _new(t)
            t.eps[s].push_back(a)
            s = _build(t, x, a)
        t.eps[s].push_back(end)
        return end
    if k == "dfa":
        _, m, finals, edges = n
        base = <int32_t>t.eps.size()
        for i in range(m):
            _new(t)
        t.eps[s].push_back(base)
        q = 0
        for es in edges:
            for lo, hi, to in es:
                _edge(t, base + q, lo, hi, base + to)
            q += 1
        end = _new(t)
        for f in finals:
            t.eps[base + f].push_back(end)
        return end
    raise ValueError(f"regex node {k!r} has no code-point meaning")


def determinize_node(node, int64_t budget, int64_t max_work, shared):
    """(status, (edges, finals)) of the minimal DFA of a code-point regex node: its Thompson
    NFA (with its state budget ``budget``) built here, as the Python construction it replaced
    built it (tests/test_regex_nfa.py keeps that as the reference), then ``determinize``."""
    cdef _Thompson t
    cdef Nfa nfa
    cdef int32_t start, final, q
    t.left = budget
    t.depth = 0
    try:
        start = _new(&t)
        final = _build(&t, node, start)
    except _TooLarge:
        return 1, None
    for q in range(<int32_t>t.eps.size()):
        for x in t.eps[q]:
            nfa.eps.push_back(x)
        nfa.eoff.push_back(nfa.eps.size())
        for e in t.edges[q]:
            nfa.e.push_back(e)
        nfa.off.push_back(nfa.e.size())
    cdef Dfa out
    cdef _Run run = _Run(budget, max_work, shared)
    status = run.finish(c_determinize(nfa, start, final, run.b, out))
    return status, (_store(out) if status == 0 else None)


# ---------------------------------------------------------------- the excluded-keys trie walk
# strings._star_minus_lexeme's trie of keys and its walk (the "any key but these" lexeme of
# every open object), with the trie in C++ vectors; it builds the same regex tuples, in the
# same order, as the Python walk it replaces (strings._star_minus_walk, kept as the
# reference: tests/test_json_schema_keys_lexeme.py compares them).

from libcpp.algorithm cimport sort as _sort

ctypedef pair[int32_t, int32_t] _Kid  # (code point, node): siblings have distinct code points


cdef class _Walk:
    cdef vector[vector[_Kid]] kids
    cdef vector[uint8_t] end
    cdef vector[pair[int32_t, int32_t]] used_runs
    cdef bint plain
    cdef object encode_ranges, encoded_cp, NEVER, EMPTY, leaf
    cdef dict exits_memo, exits1_memo, enc_memo

    cdef object exits1(self, int32_t c):  # exits((c,)): a chain node's
        cdef object got = self.exits1_memo.get(c)
        if got is None:
            got = self.exits((c,))
            self.exits1_memo[c] = got
        return got

    cdef object exits(self, tuple children):
        cdef object got = self.exits_memo.get(children)
        if got is not None:
            return got
        # _runs_minus(used_runs, children)
        cdef list out = []
        cdef Py_ssize_t j = 0, n = len(children)
        cdef int32_t a, b, c
        cdef size_t r
        for r in range(self.used_runs.size()):
            a = self.used_runs[r].first
            b = self.used_runs[r].second
            while j < n and <int32_t>children[j] < a:
                j += 1
            while j < n and <int32_t>children[j] <= b:
                c = children[j]
                if a < c:
                    out.append((a, c - 1))
                a = c + 1
                j += 1
            if a <= b:
                out.append((a, b))
        if not out:
            got = self.NEVER
        elif self.plain:
            got = ("cps", tuple(out))
        else:
            got = self.encode_ranges(tuple(out))
        self.exits_memo[children] = got
        return got

    cdef object enc(self, int32_t c):
        cdef object got = self.enc_memo.get(c)
        if got is None:
            got = self.encoded_cp(c)
            self.enc_memo[c] = got
        return got

    cdef tuple walk(self, int32_t t):
        cdef vector[_Kid]* ks = &self.kids[t]
        cdef size_t i, nk = ks.size()
        cdef list fin, ext, pre
        cdef int32_t sub
        if self.end[t] and nk == 0:
            return self.leaf
        cdef tuple r
        cdef object f, e, q, ec, k, e0, xf, xe, xq
        if nk == 1:  # a chain node (most of a trie): the branches without lists
            sub = ks[0][0].second
            if self.end[sub] and self.kids[sub].size() == 0:
                r = self.leaf
            else:
                r = self.walk(sub)
            f, e, q = r
            ec = self.enc(ks[0][0].first)
            e0 = self.exits1(ks[0][0].first)
            k = f[0]
            xf = ec if k == "empty" else None if k == "never" else ("cat", (ec, f))
            k = e[0]
            xe = ec if k == "empty" else None if k == "never" else ("cat", (ec, e))
            k = q[0]
            xq = ec if k == "empty" else None if k == "never" else ("cat", (ec, q))
            if self.end[t]:
                f = self.NEVER if xf is None else xf
            else:
                f = self.EMPTY if xf is None else ("alt", (self.EMPTY, xf))
            if e0[0] == "never":
                e = self.NEVER if xe is None else xe
            else:
                e = e0 if xe is None else ("alt", (e0, xe))
            q = self.EMPTY if xq is None else ("alt", (self.EMPTY, xq))
            return (f, e, q)
        fin = [] if self.end[t] else [self.EMPTY]
        _sort(ks.begin(), ks.end())
        cdef tuple children = tuple([ks[0][i].first for i in range(nk)])
        e0 = self.exits(children)
        ext = [] if e0[0] == "never" else [e0]
        pre = [self.EMPTY]
        for i in range(nk):
            sub = ks[0][i].second
            if self.end[sub] and self.kids[sub].size() == 0:
                r = self.leaf
            else:
                r = self.walk(sub)
            f, e, q = r
            ec = self.enc(ks[0][i].first)
            k = f[0]
            if k == "empty":
                fin.append(ec)
            elif k != "never":
                fin.append(("cat", (ec, f)))
            k = e[0]
            if k == "empty":
                ext.append(ec)
            elif k != "never":
                ext.append(("cat", (ec, e)))
            k = q[0]
            if k == "empty":
                pre.append(ec)
            elif k != "never":
                pre.append(("cat", (ec, q)))
        return (
            (self.NEVER if not fin else fin[0] if len(fin) == 1 else ("alt", tuple(fin))),
            (self.NEVER if not ext else ext[0] if len(ext) == 1 else ("alt", tuple(ext))),
            (pre[0] if len(pre) == 1 else ("alt", tuple(pre))),
        )


cdef bint _in(const vector[pair[int32_t, int32_t]]& rs, int32_t c):
    cdef size_t lo = 0, hi = rs.size(), mid
    while lo < hi:  # the first range ending at or after c
        mid = (lo + hi) // 2
        if rs[mid].second < c:
            lo = mid + 1
        else:
            hi = mid
    return lo < rs.size() and rs[lo].first <= c


def star_minus_walk(keys, ranges, self_encoding, encode_ranges, encoded_cp, NEVER, EMPTY,
                    Py_ssize_t max_len):
    """strings._star_minus_walk: ``(fin, ext, pre, points)``, or None when a key of ``C*``
    is longer than ``max_len`` code points (the walk recurses once per code point: the
    Python walk, bounded by Python's recursion limit, takes those)."""
    cdef _Walk w = _Walk()
    cdef vector[pair[int32_t, int32_t]] rs
    cdef int32_t a, b, c, t, nxt
    cdef Py_ssize_t i
    cdef size_t k
    cdef bint ok
    cdef vector[int32_t] cs
    cdef set used = set()
    for a, b in ranges:
        rs.push_back(pair[int32_t, int32_t](a, b))
    w.kids.push_back(vector[_Kid]())
    w.end.push_back(0)
    for key in keys:
        cs.clear()
        ok = True
        for ch in <str>key:
            c = ord(ch)
            if not _in(rs, c):
                ok = False
                break
            cs.push_back(c)
        if not ok:
            continue  # not in C*
        if <Py_ssize_t>cs.size() > max_len:
            return None
        t = 0
        for i in range(<Py_ssize_t>cs.size()):
            c = cs[i]
            nxt = -1
            for k in range(w.kids[t].size()):
                if w.kids[t][k].first == c:
                    nxt = w.kids[t][k].second
                    break
            if nxt < 0:
                nxt = <int32_t>w.kids.size()
                w.kids.push_back(vector[_Kid]())
                w.end.push_back(0)
                w.kids[t].push_back(_Kid(c, nxt))
            t = nxt
            used.add(c)
        w.end[t] = 1
    points = sorted(used)
    # _runs_of(points)
    for c in points:
        if w.used_runs.size() and c == w.used_runs.back().second + 1:
            w.used_runs.back().second = c
        else:
            w.used_runs.push_back(pair[int32_t, int32_t](c, c))
    w.plain = all(c in self_encoding for c in used)
    w.encode_ranges = encode_ranges
    w.encoded_cp = encoded_cp
    w.NEVER = NEVER
    w.EMPTY = EMPTY
    w.exits_memo = {}
    w.exits1_memo = {}
    w.enc_memo = {}
    w.leaf = (NEVER, w.exits(()), EMPTY)
    fin, ext, pre = w.walk(0)
    return fin, ext, pre, points
