"""Misuses of the Cython binding (decoder/_engine.pyx), one function each, run in a child
process by tests/test_cython_boundary.py: a segfault there is a failed test, not a dead
pytest. Each probe does one wrong thing and lets the exception escape (or returns what it
saw); the test checks the exception is the documented one."""

from __future__ import annotations

import gc
import random

import numpy as np

from hostile.cases import EOS, TOKENS, vocab


def _matcher():
    from decoder import Grammar, Matcher

    return Matcher(Grammar.from_regex("[a-c]{1,4}x"), vocab())


WORDS = (len(TOKENS) + 31) // 32


def mask_float32():
    _matcher().compute_mask(np.zeros(WORDS, dtype=np.float32))


def mask_int64():
    _matcher().compute_mask(np.zeros(WORDS, dtype=np.int64))


def mask_too_short():
    _matcher().compute_mask(np.zeros(WORDS - 1, dtype=np.int32))


def mask_empty():
    _matcher().compute_mask(np.zeros(0, dtype=np.int32))


def mask_2d():
    _matcher().compute_mask(np.zeros((2, WORDS), dtype=np.int32))


def mask_strided():
    _matcher().compute_mask(np.zeros(2 * WORDS, dtype=np.int32)[::2])


def mask_read_only():
    a = np.zeros(WORDS, dtype=np.int32)
    a.setflags(write=False)
    _matcher().compute_mask(a)


def mask_big_endian():
    _matcher().compute_mask(np.zeros(WORDS, dtype=">i4"))


def mask_rows_and_subclass_ok():
    """The fast path (a plain array's buffer) and the checked one (a subclass) agree: a row
    of a 2-D batch, a 1-D array, an ndarray subclass; nothing outside the row is written."""

    class Sub(np.ndarray):
        pass

    m = _matcher()
    batch = np.full((3, WORDS), -7, dtype=np.int32)
    flat = np.zeros(WORDS, dtype=np.int32)
    sub = np.zeros(WORDS, dtype=np.int32).view(Sub)
    m.compute_mask(batch[1])
    m.compute_mask(flat)
    m.compute_mask(sub)
    same = (batch[1] == flat).all() and (np.asarray(sub) == flat).all()
    untouched = (batch[0] == -7).all() and (batch[2] == -7).all()
    return int(bool(same and untouched and flat.any()))


def mask_list():
    _matcher().compute_mask([0] * WORDS)


def mask_none():
    _matcher().compute_mask(None)


def mask_uint32_and_longer_ok():
    m = _matcher()
    a = np.zeros(WORDS, dtype=np.uint32)
    b = np.full(WORDS + 5, -7, dtype=np.int32)
    m.compute_mask(a)
    m.compute_mask(b)
    assert (a.view(np.int32) == b[:WORDS]).all() and (b[WORDS:] == -7).all()  # nothing past the row
    return int(a.view(np.int32).sum() != 0)


def commit_negative():
    _matcher().commit(-1)


def commit_vocab_size():
    _matcher().commit(32 * WORDS)


def commit_past_int32():
    _matcher().commit(2**31)


def commit_past_int64():
    _matcher().commit(2**70)


def commit_str():
    _matcher().commit("a")


def commit_none():
    _matcher().commit(None)


def commit_float():
    _matcher().commit(97.0)


def commit_numpy_int_ok():
    return bool(_matcher().commit(np.int64(ord("a"))))


def is_allowed_out_of_range():
    m = _matcher()
    return [m.is_allowed(-1), m.is_allowed(10**6), m.is_allowed(32 * WORDS)]


def commit_bytes_none():
    _matcher().commit_bytes(None)


def commit_bytes_str():
    _matcher().commit_bytes("ab")


def commit_bytes_list():
    _matcher().commit_bytes([97, 98])


def commit_bytes_empty_and_views():
    m = _matcher()
    r = [
        m.commit_bytes(b""),
        m.commit_bytes(bytearray(b"a")),
        m.commit_bytes(memoryview(b"xab")[1:]),
        m.commit_bytes(np.frombuffer(b"c", dtype=np.uint8)),
    ]
    return r + [m.num_steps]


def rollback_negative():
    m = _matcher()
    m.commit(ord("a"))
    m.rollback(-1)


def rollback_too_far():
    m = _matcher()
    m.commit(ord("a"))
    m.rollback(2)


def rollback_huge():
    _matcher().rollback(2**64 + 1)


def uninitialised_matcher():
    from decoder import Matcher

    m = Matcher.__new__(Matcher)
    seen = [m.num_steps, m.mask_stats]
    for call in (
        lambda: m.compute_mask(np.zeros(WORDS, dtype=np.int32)),
        lambda: m.commit(1),
        lambda: m.fork(),
        lambda: m.rollback(0),
        lambda: m.reset(),
        m.is_accepting,
        m.is_terminated,
        m.min_completion_bytes,
        lambda: m.commit_bytes(b"a"),
        lambda: m.is_allowed(1),
    ):
        try:
            call()
            seen.append("no error")
        except Exception as e:
            seen.append(type(e).__name__)
    return seen


def matcher_wrong_arguments():
    from decoder import Matcher

    seen = []
    for args in [(None, None), ("not a grammar", vocab()), (object(), vocab())]:
        try:
            Matcher(*args)
            seen.append("no error")
        except Exception as e:
            seen.append(type(e).__name__)
    return seen


def after_termination_and_rejection():
    m = _matcher()
    assert m.commit_bytes(b"abx") and m.commit(EOS) and m.is_terminated()
    r = [m.commit(ord("a")), m.commit(EOS), m.commit_bytes(b"a")]
    m.rollback(1)
    r += [m.is_terminated(), m.is_accepting()]
    f = m.fork()
    m.reset()
    r += [f.num_steps, m.num_steps, not m.commit(ord("x"))]
    return r


def outlives_grammar_and_vocab():
    """The matcher keeps its compiled grammar and trie alive after every Python reference
    to the grammar, vocabulary and compile cache is gone."""
    from decoder import Grammar, Matcher, Vocabulary
    from decoder import compile as dcompile

    v = Vocabulary.from_bytes(list(TOKENS), eos_ids=[EOS])
    m = Matcher(Grammar.from_regex("[a-c]{1,4}x"), v)
    del v
    dcompile._compiled.clear()
    dcompile._tries.clear()
    gc.collect()
    f = m.fork()
    del m
    gc.collect()
    out = np.zeros(WORDS, dtype=np.int32)
    f.compute_mask(out)
    return [bool(f.commit(ord("a"))), int(np.count_nonzero(out))]


def fill_masks_misuse():
    from decoder import fill_masks

    m = _matcher()
    seen = []
    for out, ms in [
        (np.zeros(WORDS, dtype=np.int32), [m]),  # 1-D
        (np.zeros((1, WORDS), dtype=np.float32), [m]),  # dtype
        (np.zeros((1, WORDS - 1), dtype=np.int32), [m]),  # too narrow
        (np.zeros((0, WORDS), dtype=np.int32), [m]),  # too few rows
        (np.zeros((2, 2 * WORDS), dtype=np.int32)[:, ::2], [m]),  # strided
        (np.zeros((2, WORDS), dtype=np.int32), [m, m]),  # the same matcher twice
        (np.zeros((2, WORDS), dtype=np.int32), [m, "x"]),  # not a matcher
        ([[0] * WORDS], [m]),  # a list
        (np.zeros((2, WORDS), dtype=np.int32), 5),
    ]:  # not a sequence
        try:
            fill_masks(ms, out)
            seen.append("no error")
        except Exception as e:
            seen.append(type(e).__name__)
    return seen


def fill_masks_threads_odd():
    from decoder import fill_masks

    ms = [_matcher() for _ in range(3)]
    out = np.zeros((3, WORDS), dtype=np.int32)
    for t in (-5, 0, 1, 64):
        fill_masks(ms, out, threads=t)
    return int(out.sum() != 0)


def compiled_grammar_garbage_words():
    """Random word arrays into the C++ grammar deserializer: a clean error or a grammar,
    never a crash (the words normally come from decoder/grammar/serialize.py)."""
    from decoder import _engine
    from decoder import compile as dcompile
    from decoder.errors import DecoderError

    trie = dcompile.token_trie(vocab())
    rng = random.Random(1234)
    errors = {}
    for i in range(400):
        n = rng.choice([1, 2, 3, 5, 8, 16, 40])
        pick = rng.random()
        if pick < 0.3:
            words = [rng.randint(-3, 6) for _ in range(n)]
        elif pick < 0.6:
            words = [rng.randint(-(2**31), 2**31 - 1) for _ in range(n)]
        else:
            words = [
                rng.choice([0, 1, 2, -1, 2**31 - 1, -(2**31), 255, 256, 0x10FFFF]) for _ in range(n)
            ]
        names = ["L%d" % k for k in range(rng.randint(0, 3))]
        try:
            _engine.CompiledGrammar(words, names, ["S"] * rng.randint(0, 2), trie, None, None)
            errors["ok"] = errors.get("ok", 0) + 1
        except (DecoderError, ValueError, MemoryError) as e:
            errors[type(e).__name__] = errors.get(type(e).__name__, 0) + 1
    return errors


def serialized_grammar_mutations():
    """A real serialized grammar with one word changed at a time."""
    from decoder import Grammar, _engine
    from decoder import compile as dcompile
    from decoder.errors import DecoderError

    g = Grammar.from_lark('start: A "+" start | A\nA: /[0-9]{1,3}/\n')
    words, lx, nt = g.serialized()
    trie = dcompile.token_trie(vocab())
    rng = random.Random(99)
    seen = {}
    for i in range(300):
        w = np.array(words, dtype=np.int64)
        k = rng.randrange(len(w))
        w[k] = rng.choice([-1, 0, 1, len(w), 2**31 - 1, -(2**31), int(w[k]) + 1, int(w[k]) - 1, 7])
        w = w.astype(np.int32)
        try:
            cg = _engine.CompiledGrammar(w, lx, nt, trie, None, None)
            from decoder import Matcher

            m = Matcher(cg)
            out = np.zeros(WORDS, dtype=np.int32)
            m.compute_mask(out)
            for t in (ord("1"), ord("+"), ord("2"), EOS):
                m.commit(t)
                m.compute_mask(out)
            seen["ok"] = seen.get("ok", 0) + 1
        except (DecoderError, ValueError, MemoryError) as e:
            seen[type(e).__name__] = seen.get(type(e).__name__, 0) + 1
    return seen


def token_trie_bad_arguments():
    from decoder import _engine

    seen = []
    for args in [
        ([b"a", b"b"], 1, [0], []),  # mask width below the token count
        ([b"a", b"b"], 2, [5], []),  # eos out of range
        ([b"a", b"b"], 2, [-1], []),  # negative eos
        ([b"a", b"b"], 2, [0], [9]),  # excluded out of range
        ([b"a", b"b"], -3, [0], []),  # negative width
        ([], 0, [], []),  # empty
        ([b"a", "b"], 2, [0], []),
    ]:  # a str token
        try:
            _engine.TokenTrie(*args)
            seen.append("no error")
        except Exception as e:
            seen.append(type(e).__name__)
    return seen


def commit_bytes_reversed_view():
    """A negative-stride view: must raise, or commit exactly bytes(view)."""
    m = _matcher()
    view = memoryview(bytearray(b"cba"))[::-1]  # b"abc"
    ok = m.commit_bytes(view)
    return [ok, m.num_steps, m.commit_bytes(b"x") and m.is_accepting()]


def commit_bytes_strided_view():
    m = _matcher()
    view = memoryview(b"aXbXcX")[::2]  # b"abc"
    ok = m.commit_bytes(view)
    return [ok, m.num_steps, m.commit_bytes(b"x") and m.is_accepting()]


PROBES = {
    name: fn
    for name, fn in dict(globals()).items()
    if callable(fn) and not name.startswith("_") and getattr(fn, "__module__", "") == __name__
}
