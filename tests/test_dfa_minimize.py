"""DFA minimisation (csrc/code_point_dfa.h ``minimize``, reached as automata.minimize and
inside every construction): the refinement re-examines only the states whose signature can
have changed, and must give what Moore's full refinement gives, round by round: the same
automaton (states, numbering, edges, finals) and the same work charged to the compile's
budget (one charge of edges + states per round), since that budget decides what compiles.

The reference below is the full Moore refinement as the C++ ran it before (and as the
pure-Python construction ran it before that), on random automata: chains (counted
repetitions, the case the incremental rounds are for), unreachable and dead-end states,
adjacent ranges into equivalent states (merged in signatures), all-final automata."""

from __future__ import annotations

import random

from decoder.grammar.json_schema import automata as A


def _moore(d: A.Dfa) -> tuple[list, set, int]:
    """(edges, finals, rounds) of the full Moore refinement of ``trim(d)``, the result
    renumbered as the engine numbers it (classes by first state, then trim)."""
    t = A.trim(d)
    n = t.n
    if not t.finals:
        return t.edges, set(t.finals), 0
    cls = [1 if q in t.finals else 0 for q in range(n)]
    n_cls = len(set(cls))
    rounds = 0
    while True:
        rounds += 1
        sigs: dict = {}
        nxt = []
        for q in range(n):
            sig = [cls[q]]
            for lo, hi, to in t.edges[q]:
                c = cls[to]
                if len(sig) > 1 and sig[-1] == c and sig[-2] + 1 >= lo:
                    sig[-2] = max(sig[-2], hi)
                else:
                    sig += [lo, hi, c]
            nxt.append(sigs.setdefault(tuple(sig), len(sigs)))
        if len(sigs) == n_cls:
            break
        cls, n_cls = nxt, len(sigs)
    num: dict = {}
    rep = []
    for q in range(n):
        if cls[q] not in num:
            num[cls[q]] = len(rep)
            rep.append(q)
    edges = []
    for r in rep:
        es = sorted((lo, hi, num[cls[to]]) for lo, hi, to in t.edges[r])
        merged: list = []
        for lo, hi, to in es:
            if merged and merged[-1][2] == to and merged[-1][1] + 1 >= lo:
                merged[-1] = (merged[-1][0], max(merged[-1][1], hi), to)
            else:
                merged.append((lo, hi, to))
        edges.append(merged)
    m = A.trim(A.Dfa(edges, [num[cls[f]] for f in t.finals]))
    return m.edges, set(m.finals), rounds


def _random_dfa(rng: random.Random) -> A.Dfa:
    n = rng.randint(1, 40)
    kind = rng.random()
    edges = []
    for q in range(n):
        if kind < 0.3:  # a chain with a few side edges: a counted repetition's shape
            es = {}
            if q + 1 < n:
                es[rng.choice([0x30, 0x41, 0x61])] = q + 1
            if rng.random() < 0.2:
                es[0x7A] = rng.randrange(n)
        else:
            es = {c: rng.randrange(n) for c in rng.sample(range(0x61, 0x69), rng.randint(0, 4))}
            if rng.random() < 0.2:
                es[0x10000] = rng.randrange(n)
        row = []
        for c in sorted(es):
            hi = c + rng.choice([0, 0, 1]) if c < 0x10000 else 0x10FFFF
            if row and row[-1][1] >= c:
                continue
            row.append((c, hi, es[c]))
        edges.append(row)
    if kind < 0.3:
        finals = {n - 1} | {q for q in range(n) if rng.random() < 0.1}
    elif rng.random() < 0.1:
        finals = set(range(n))
    else:
        finals = {q for q in range(n) if rng.random() < 0.3}
    return A.Dfa(edges, finals)


def test_minimize_equals_full_moore_refinement_and_charges_the_same_work():
    rng = random.Random(23)
    checked = 0
    for _ in range(3000):
        d = _random_dfa(rng)
        want_edges, want_finals, rounds = _moore(d)
        with A.work_budget(10**9):
            shared = A._COMPILE_WORK.get()
            got = A.minimize(d)
            charged = 10**9 - shared[0]
        assert [list(es) for es in got.edges] == [list(es) for es in want_edges], d.edges
        assert set(got.finals) == want_finals
        t = A.trim(d)
        assert charged == rounds * (sum(len(es) for es in t.edges) + t.n)
        checked += rounds > 3
    assert checked > 200  # many automata needed several rounds


def test_a_counted_repetition_minimises_to_its_chain():
    """``[a-z]{1,300}``: a chain whose Moore refinement takes one round per state."""
    d = A.to_dfa(("rep", ("cps", ((0x61, 0x7A),)), 1, 300))
    assert d.n == 301
    assert d.accepts("a" * 300) and not d.accepts("a" * 301) and not d.accepts("")
    want_edges, want_finals, rounds = _moore(d)
    assert rounds == 300  # the start is the one non-final state
    assert [list(es) for es in d.edges] == [list(es) for es in want_edges]
    assert set(d.finals) == want_finals
