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
