"""The wire serialiser's regex walk (decoder/grammar/_wire.pyx ``_write_regex``): its words
against a Python writer of the layout (csrc/ir_format.h) on random regexes whose subtrees are
shared within and across lexemes, and a walk that allocates no Python objects (its memo and
stack are C++; docs/optimizations.md, the tail's section, issue 23)."""

from __future__ import annotations

import random
import tracemalloc

import pytest

from decoder.grammar import _wire
from decoder.grammar.serialize import serialize_words

OPS = {"empty": 0, "never": 1, "bytes": 2, "cps": 3, "byteset": 4, "cat": 5, "alt": 6}
OPS.update({"rep": 7, "dfa": 8, "counted": 9, "unit": 10})


_OP: dict = {}


@pytest.fixture(scope="module", autouse=True)
def _opcodes():
    """The opcodes as the module writes them: each kind's first word."""
    probes = {
        "empty": ("empty",),
        "never": ("never",),
        "bytes": ("bytes", b"a"),
        "cps": ("cps", ((1, 2),)),
        "byteset": ("byteset", ((1, 2),)),
        "cat": ("cat", (("empty",),)),
        "alt": ("alt", (("empty",),)),
        "rep": ("rep", ("empty",), 0, None),
        "dfa": ("dfa", 1, (0,), ((),)),
        "counted": ("counted", ("empty",), 0, 1),
        "unit": ("unit", ("empty",)),
    }
    for k, node in probes.items():
        _OP[k] = serialize_words([], [node], [])[0]
    assert len(set(_OP.values())) == len(_OP)
    unbounded = serialize_words([], [probes["rep"]], [])[2]
    _OP["unbounded"] = unbounded


def _random(rng: random.Random, pool: list, depth: int):
    """A random regex whose compound subtrees are often taken from ``pool`` (shared)."""
    if pool and rng.random() < 0.3:
        return rng.choice(pool)
    r = rng.random()
    if depth <= 0 or r < 0.25:
        leaf = rng.randrange(5)
        if leaf == 0:
            return ("bytes", bytes(rng.randrange(256) for _ in range(rng.randint(0, 4))))
        if leaf == 1:
            return (
                "cps",
                tuple((a, a + rng.randrange(9)) for a in range(0, rng.randint(1, 4) * 20, 20)),
            )
        if leaf == 2:
            n = rng.randint(1, 3)
            es = tuple(
                tuple((c, c + 1, rng.randrange(n)) for c in range(0, rng.randint(0, 2) * 5, 5))
                for _ in range(n)
            )
            return ("dfa", n, tuple(sorted(rng.sample(range(n), rng.randint(0, n)))), es)
        return ("empty",) if leaf == 3 else ("never",)
    if r < 0.55:
        node = (
            rng.choice(("cat", "alt")),
            tuple(_random(rng, pool, depth - 1) for _ in range(rng.randint(1, 4))),
        )
    elif r < 0.8:
        lo = rng.randrange(3)
        node = (
            rng.choice(("rep", "counted")),
            _random(rng, pool, depth - 1),
            lo,
            rng.choice((None, lo + rng.randrange(3))),
        )
    else:
        node = ("unit", _random(rng, pool, depth - 1))
    pool.append(node)
    return node


def test_words_equal_the_layout_written_in_full():
    """Random lexemes sharing subtrees (by object, as the front end shares them), with and
    without the cross-grammar word cache: the words equal a full write-out."""
    rng = random.Random(5)
    for trial in range(300):
        pool: list = []
        regexes = [_random(rng, pool, 5) for _ in range(rng.randint(1, 6))]
        want = [7, 9]
        for r in regexes:
            _reference(r, want)
        _wire._forget_words()
        for _ in range(2):  # cold, then lexemes of 64+ words from the cache
            got = list(serialize_words([7, 9], regexes, [(0, (1, 2))]))
            assert got == want + [0, 2, 1, 2], trial


def _reference(node, out: list) -> None:
    """The words of ``node`` in prefix form, written out in full (no copies)."""
    k = node[0]
    out.append(_OP[k])
    if k == "bytes":
        out += [len(node[1]), *node[1]]
    elif k in ("cps", "byteset"):
        out.append(len(node[1]))
        for lo, hi in node[1]:
            out += [lo, hi]
    elif k in ("cat", "alt"):
        out.append(len(node[1]))
        for x in node[1]:
            _reference(x, out)
    elif k in ("rep", "counted"):
        out += [node[2], _OP["unbounded"] if node[3] is None else node[3]]
        _reference(node[1], out)
    elif k == "unit":
        _reference(node[1], out)
    elif k == "dfa":
        out += [node[1], len(node[2]), *node[2]]
        for es in node[3]:
            out.append(len(es))
            for lo, hi, to in es:
                out += [lo, hi, to]


def test_the_walk_allocates_no_python_objects():
    """20,000 compound nodes, each shared once: the only Python allocation left is the
    result array (the base kept a dict entry and a tuple per compound node, and a marker
    tuple with boxed offsets on its stack: several times the result's size)."""
    leaf = ("cps", ((48, 57),))
    nodes = [("cat", (("bytes", bytes((i % 256, (i // 256) % 256))), leaf)) for i in range(20_000)]
    big = ("alt", tuple(nodes) + tuple(nodes))  # each node a second time: copied words
    _wire._forget_words()
    serialize_words([], [("never",)], [])  # warm the module's own state
    tracemalloc.start()
    try:
        words = serialize_words([], [big], [])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    result_bytes = len(words) * 4
    _wire._forget_words()
    assert peak < 2.2 * result_bytes + 64_000, (peak, result_bytes)


@pytest.mark.parametrize(
    "node",
    [("cat", "ab"), ("alt", [("bytes", b"a"), ("bytes", b"b")]), ("cat", ("bytes", b"a"))],
    ids=["str-children", "list-children", "bare-node-as-children"],
)
def test_hand_built_compound_with_non_tuple_children_raises(node):
    """The walk reads a cat/alt's children as a tuple's slots: anything else (a hand-built
    node with a str or list of children) must be a TypeError, and children that are not
    regex nodes a ValueError naming the kind, not a read out of bounds."""
    ok = ("cat", (("bytes", b"a"), ("bytes", b"b")))
    assert len(serialize_words([1], [ok], [])) > 1
    with pytest.raises((TypeError, ValueError)):
        serialize_words([1], [node], [])
