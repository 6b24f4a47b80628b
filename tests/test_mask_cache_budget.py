"""The process-wide mask-cache budget (decoder.mask_cache_budget): the mask caches of all
compiled grammars share one memory budget with least-recently-used eviction; masks stay
exact after their cache entries were evicted."""

from __future__ import annotations

import random

from hostile import isolate
from hostile.cases import TOKENS, check_mask, mask_set, vocab


def eviction_scenario() -> dict:
    """In a child (the budget is process-wide): record masks along random walks of three
    grammars with the default budget, then replay them under a budget a few entries large,
    with fill_masks on 2 threads too; every mask must be the same and equal brute force."""
    import numpy as np

    from decoder import Grammar, Matcher, compile_grammar, fill_masks, mask_cache_budget

    grammars = [
        Grammar.from_regex(r"a[b-z]{0,300}"),
        Grammar.from_regex(r"(x[0-9]{1,4},){1,60}"),
        Grammar.from_json_schema(
            {"type": "object", "properties": {"k": {"type": "array", "items": {"type": "integer"}}}}
        ),
    ]
    texts = [
        b"a" + bytes(random.Random(1).choice(b"bcdxyz") for _ in range(120)),
        b"".join(b"x%d," % i for i in range(40)),
        b'{"k": [1, 22, 333, 4444, 5, 6, 7]}',
    ]
    compiled = [compile_grammar(g, vocab()) for g in grammars]

    def walk(check: bool):
        out = []
        for cg, text in zip(compiled, texts):  # noqa: F821 (a closure; `compiled` is deleted only after its last call)
            m = Matcher(cg)
            for i, b in enumerate(text):
                out.append(check_mask(m, "walk", text[:i]) if check else mask_set(m))
                assert m.commit(b)
        return out

    before = walk(False)
    big = mask_cache_budget()
    assert big["bytes"] > 4000, big
    small = mask_cache_budget(4000)  # evicts at once
    assert small["bytes"] <= 4000, small
    after = walk(True)
    assert after == before
    # fill_masks on 2 threads, all three grammars at once, several rounds
    ms = [Matcher(cg) for cg in compiled]
    words = (len(TOKENS) + 31) // 32
    for step in range(30):
        out = np.zeros((len(ms), words), dtype=np.int32)
        fill_masks(ms, out, threads=2)
        for k, m in enumerate(ms):
            bits = np.unpackbits(out[k].view(np.uint8), bitorder="little")[: len(TOKENS)]
            assert set(np.nonzero(bits)[0].tolist()) == mask_set(m)
            if step < len(texts[k]):
                assert m.commit(texts[k][step])
    end = mask_cache_budget()
    assert end["bytes"] <= 4000 and end["evictions"] > small["evictions"] > big["evictions"], (
        big,
        small,
        end,
    )
    del ms, compiled
    return dict(big=big, small=small, end=end)


def test_masks_stay_exact_after_eviction():
    out = isolate.run(eviction_scenario, timeout=120)
    assert out.status == "ok", str(out)
    assert out.value["end"]["evictions"] > 0


def test_budget_is_configurable():
    import pytest

    from decoder import mask_cache_budget

    state = mask_cache_budget()
    assert state["limit"] > 0 and state["bytes"] >= 0 and {"evictions", "grammars"} <= set(state)
    with pytest.raises(ValueError):
        mask_cache_budget(0)


def test_spec_compiler_cache_is_bounded_by_bytes():
    """The serving integrations' compiled-grammar cache is bounded by the bytes its grammars
    hold (lexer automata and mask caches), not only by their number."""
    from decoder.integrations.compiler import SpecCompiler

    sc = SpecCompiler(vocab(), cache_bytes=1)  # every new grammar pushes the older ones out
    cgs = [sc.compile("regex", f"[a-z]{{1,{n}}}x") for n in range(10, 16)]
    assert all(cg.memory_bytes > 0 for cg in cgs)
    assert len(sc._cache) == 1 and sc.stats["evicted"] == 5, sc.stats
    big = SpecCompiler(vocab())
    for n in range(10, 16):
        big.compile("regex", f"[a-z]{{1,{n}}}x")
    assert len(big._cache) == 6 and 0 < big.cached_bytes() <= big.cache_bytes


def spec_cache_frees_scenario() -> dict:
    """In a child: the grammars a SpecCompiler drops are destroyed (not kept alive by
    compile_grammar's own cache), counted by the engine's live-grammar count."""
    import gc

    from decoder import mask_cache_budget
    from decoder.integrations.compiler import SpecCompiler

    gc.collect()
    base = mask_cache_budget()["grammars"]
    sc = SpecCompiler(vocab(), cache_bytes=1)  # keeps only the newest grammar
    for n in range(10, 30):
        sc.compile("regex", f"[a-z]{{1,{n}}}y")
    gc.collect()
    return dict(alive=mask_cache_budget()["grammars"] - base, cached=len(sc._cache))


def test_spec_cache_eviction_frees_grammars():
    """A grammar lives in one compiled-grammar cache: dropped from the SpecCompiler's, it is
    freed (before, compile_grammar's 64-grammar cache kept up to 64 of them, and their bytes,
    alive past the SpecCompiler's byte budget)."""
    out = isolate.run(spec_cache_frees_scenario, timeout=120)
    assert out.status == "ok", str(out)
    assert out.value == dict(alive=1, cached=1), out.value


def test_compile_grammar_cache_respects_its_byte_budget(monkeypatch):
    import decoder.compile as comp
    from decoder import Grammar, compile_grammar
    from decoder.integrations.compiler import DEFAULT_CACHE_BYTES

    assert DEFAULT_CACHE_BYTES == comp.COMPILE_CACHE_BYTES  # one budget, read in one place
    monkeypatch.setattr(comp, "_compiled", type(comp._compiled)())
    monkeypatch.setattr(comp, "COMPILE_CACHE_BYTES", 1)
    cgs = [compile_grammar(Grammar.from_regex(f"[a-z]{{1,{n}}}q"), vocab()) for n in (5, 6, 7)]
    assert list(comp._compiled.values()) == [cgs[-1]]  # the newest stays, alone
    assert comp.compiled_cache_bytes() == cgs[-1].memory_bytes + 4 * len(cgs[-1].key_words)
    monkeypatch.setattr(comp, "COMPILE_CACHE_BYTES", 2 << 30)
    again = compile_grammar(Grammar.from_regex("[a-z]{1,5}q"), vocab())
    assert again is not cgs[0] and len(comp._compiled) == 2
    assert compile_grammar(Grammar.from_regex("[a-z]{1,5}q"), vocab()) is again  # a hit
    fresh = compile_grammar(Grammar.from_regex("[a-z]{1,5}q"), vocab(), cache=False)
    assert fresh is not again and len(comp._compiled) == 2  # neither looked up nor kept


def trim_scenario() -> dict:
    """In a child: memory given back by evicted mask-cache entries and destroyed grammars
    triggers malloc_trim once trim_every bytes have been given back; never with 0."""
    import gc

    import numpy as np

    from decoder import Grammar, Matcher, compile_grammar, mask_cache_budget

    def use_and_drop(n: int, pattern: str) -> None:
        for k in range(n):
            cg = compile_grammar(Grammar.from_regex(pattern % (k + 3)), vocab(), cache=False)
            m = Matcher(cg)
            out = np.zeros((len(TOKENS) + 31) // 32, dtype=np.int32)
            for b in b"a" * 6:
                m.compute_mask(out)
                assert m.commit(b)
            del m, cg
            gc.collect()

    off = mask_cache_budget(trim_every=0)
    use_and_drop(5, "a{1,%d}[a-z]{0,40}")
    after_off = mask_cache_budget()
    mask_cache_budget(trim_every=1)
    use_and_drop(5, "a{2,%d}[a-z]{0,41}")
    after_on = mask_cache_budget()
    mask_cache_budget(4000)  # evicting entries gives bytes back too
    use_and_drop(1, "a{3,%d}[a-z]{0,42}")
    return dict(off=off, after_off=after_off, after_on=after_on, end=mask_cache_budget())


def test_given_back_memory_is_trimmed():
    """The soak test's RSS growth was glibc keeping freed chunks (free memory in its arenas
    grew while memory in use stayed flat): the engine now calls malloc_trim(0) every
    trim_every bytes its caches give back."""
    import sys

    if not sys.platform.startswith("linux"):
        import pytest

        pytest.skip("malloc_trim is glibc's")
    out = isolate.run(trim_scenario, timeout=120)
    assert out.status == "ok", str(out)
    v = out.value
    assert v["after_off"]["trims"] == v["off"]["trims"], v  # trim_every=0: never
    assert v["after_on"]["trims"] >= v["after_off"]["trims"] + 5, v  # every grammar dropped
    assert v["end"]["evictions"] > v["after_on"]["evictions"], v
    assert v["end"]["trims"] > v["after_on"]["trims"], v
    assert v["after_on"]["grammars"] == v["off"]["grammars"], v  # all of them destroyed


def test_compile_cache_keeps_its_total_as_grammars_come_and_go(monkeypatch):
    """compile_grammar keeps the sizes of its cached grammars and their sum as grammars are
    added and evicted (no loop over the cache per compile): the sum is always that of the
    grammars cached, also after the cache was cleared or replaced from outside."""
    import decoder.compile as comp
    from decoder import Grammar, compile_grammar

    def check() -> None:
        cached = list(comp._compiled.values())
        assert set(comp._sizes) == {id(c) for c in cached}
        assert comp._total == sum(comp._sizes.values())

    monkeypatch.setattr(comp, "_compiled", type(comp._compiled)())
    monkeypatch.setattr(comp, "COMPILE_CACHE_SIZE", 4)
    monkeypatch.setattr(comp, "REMEASURE_EVERY", 1000)
    cgs = []
    for n in range(3, 12):
        cgs.append(compile_grammar(Grammar.from_regex(f"[a-z]{{1,{n}}}w"), vocab()))
        check()
    assert list(comp._compiled.values()) == cgs[-4:]  # least recently used evicted first
    # none used since; each counts the words it keeps for the cache's hits
    assert comp._sizes == {id(c): c.memory_bytes + 4 * len(c.key_words) for c in cgs[-4:]}
    comp._compiled.clear()
    cgs.append(compile_grammar(Grammar.from_regex("[a-z]{1,20}w"), vocab()))
    check()
    assert list(comp._compiled.values()) == cgs[-1:]
    monkeypatch.setattr(comp, "COMPILE_CACHE_BYTES", 1)  # over budget: only the newest stays
    cgs.append(compile_grammar(Grammar.from_regex("[a-z]{1,21}w"), vocab()))
    check()
    assert list(comp._compiled.values()) == cgs[-1:]


def test_dropped_grammars_are_destroyed_off_the_callers_thread():
    """The last reference to a compiled grammar dropped from Python: the engine destroys it on
    its release thread; mask_cache_budget() waits for that, so its live count is exact."""
    import gc

    from decoder import Grammar, Matcher, compile_grammar, mask_cache_budget

    gc.collect()
    base = mask_cache_budget()["grammars"]
    cgs = [
        compile_grammar(Grammar.from_regex(f"b[a-z]{{1,{n}}}"), vocab(), cache=False)
        for n in range(3, 13)
    ]
    ms = [Matcher(cg) for cg in cgs[:3]]
    assert mask_cache_budget()["grammars"] == base + 10
    del cgs  # ten at once: more than the release queue holds, the rest destroyed here
    assert mask_cache_budget()["grammars"] == base + 3  # the three a Matcher still holds
    del ms
    assert mask_cache_budget()["grammars"] == base


def fork_scenario() -> dict:
    """In a child: grammars dropped (the release thread started), then a fork whose child
    drops grammars (destroyed on its own thread: it has no release thread) and exits."""
    import os

    from decoder import Grammar, compile_grammar, mask_cache_budget

    def drop(c: str) -> int:
        cgs = [
            compile_grammar(Grammar.from_regex(c + f"[a-z]{{1,{n}}}"), vocab(), cache=False)
            for n in (3, 4, 5)
        ]
        del cgs
        return mask_cache_budget()["grammars"]

    before = drop("p")
    pid = os.fork()
    if pid == 0:
        import ctypes

        # C's exit: the engine's static destructors run (a forked child's copy of the release
        # thread's condition variable, waited on by the parent's thread, must not be destroyed)
        ctypes.CDLL(None).exit(0 if drop("c") == before else 3)
    _, status = os.waitpid(pid, 0)
    return dict(child=os.waitstatus_to_exitcode(status), after=drop("q") - before)


def test_a_forked_child_destroys_its_grammars_and_exits():
    out = isolate.run(fork_scenario, timeout=120)
    assert out.status == "ok", str(out)
    assert out.value == dict(child=0, after=0), out.value
