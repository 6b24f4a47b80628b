"""The Cython boundary (decoder/_engine.pyx) under misuse: wrong buffer sizes, dtypes,
strides and types, token ids out of range, negative and oversized rollbacks, a matcher
used uninitialised, after termination or after every Python reference to its grammar and
vocabulary is gone, fill_masks misuse, and garbage fed to the C++ grammar deserializer.

Each probe (tests/hostile/boundary.py) runs in a child process (tests/hostile/isolate.py),
so a segfault or an abort fails its test instead of killing pytest; under
scripts/test_sanitizers.sh the same probes run with ASan/UBSan, which turn out-of-bounds
reads into aborts."""

from __future__ import annotations

import pytest
from hostile import boundary, isolate

# probe -> the exception class it must raise (a clean Python exception, never a crash)
RAISES = {
    "mask_float32": "MatcherError",
    "mask_int64": "MatcherError",
    "mask_too_short": "MatcherError",
    "mask_empty": "MatcherError",
    "mask_2d": "MatcherError",
    "mask_strided": "MatcherError",
    "mask_read_only": "MatcherError",
    "mask_big_endian": "MatcherError",
    "mask_list": "MatcherError",
    "mask_none": "MatcherError",
    "commit_negative": "MatcherError",
    "commit_vocab_size": "MatcherError",
    # Cython's own conversions: documented as OverflowError/TypeError for non-int32 ids
    "commit_past_int32": "OverflowError",
    "commit_past_int64": "OverflowError",
    "commit_str": "TypeError",
    "commit_none": "TypeError",
    "commit_bytes_none": "TypeError",
    "commit_bytes_str": "TypeError",
    "commit_bytes_list": "TypeError",
    "rollback_negative": "OverflowError",
    "rollback_too_far": "MatcherError",
    "rollback_huge": "OverflowError",
}

# probe -> what it must return
RETURNS = {
    "mask_uint32_and_longer_ok": 1,
    "mask_rows_and_subclass_ok": 1,
    "commit_numpy_int_ok": True,
    "is_allowed_out_of_range": [False, False, False],
    "commit_bytes_empty_and_views": [True, True, True, True, 4],
    "uninitialised_matcher": [0, (0, 0)] + ["MatcherError"] * 10,
    "matcher_wrong_arguments": ["DecoderError", "TypeError", "TypeError"],
    # after EOS only EOS commits (what the mask allows: a step that changes nothing), so
    # rollback(1) undoes that step and the matcher stays terminated
    "after_termination_and_rejection": [False, True, False, True, True, 2, 0, True],
    "outlives_grammar_and_vocab": [True, 2],
    "fill_masks_misuse": ["MatcherError"] * 6 + ["TypeError", "MatcherError", "TypeError"],
    "fill_masks_threads_odd": 1,
    "commit_bytes_reversed_view": [True, 1, True],  # one commit_bytes is one step
    "commit_bytes_strided_view": [True, 1, True],
}

KNOWN_FAILURES: dict = {}


def _param(name):
    marks = (
        [pytest.mark.xfail(strict=True, reason=KNOWN_FAILURES[name])]
        if name in KNOWN_FAILURES
        else []
    )
    return pytest.param(name, id=name, marks=marks)


@pytest.mark.parametrize("name", [_param(n) for n in RAISES])
def test_misuse_raises_a_python_exception(name):
    out = isolate.run(boundary.PROBES[name], timeout=60, cpu_limit=10)
    assert out.status == "error", f"{name}: {out}"
    assert RAISES[name] in out.classes, f"{name}: expected {RAISES[name]}, got {out}"
    assert out.message, name


@pytest.mark.parametrize("name", [_param(n) for n in RETURNS])
def test_misuse_is_handled(name):
    out = isolate.run(boundary.PROBES[name], timeout=60, cpu_limit=10)
    assert out.status == "ok", f"{name}: {out}"
    assert out.value == RETURNS[name], f"{name}: {out.value!r}"


def test_grammar_deserializer_survives_garbage():
    """400 random word arrays: each a clean GrammarError (none is a valid grammar)."""
    out = isolate.run(boundary.compiled_grammar_garbage_words, timeout=60, cpu_limit=10)
    assert out.status == "ok", str(out)
    assert (
        set(out.value) <= {"GrammarError", "LimitError", "ok"}
        and out.value.get("GrammarError", 0) > 300
    )


def test_grammar_deserializer_survives_mutations():
    """A real grammar with one word changed, 300 times: a clean error, or a grammar whose
    masks and commits run without crashing."""
    out = isolate.run(boundary.serialized_grammar_mutations, timeout=60, cpu_limit=20)
    assert out.status == "ok", str(out)
    assert set(out.value) <= {"GrammarError", "LimitError", "ok"} and sum(out.value.values()) == 300


def test_token_trie_checks_its_arguments():
    """decoder.Vocabulary validates before building the trie; the trie itself still refuses
    what would corrupt memory (a mask narrower than the vocabulary, EOS out of range)."""
    out = isolate.run(boundary.token_trie_bad_arguments, timeout=60, cpu_limit=10)
    assert out.status == "ok", str(out)
    narrow, eos_big, eos_neg, excluded_big, width_neg, empty, str_token = out.value
    assert narrow == eos_big == eos_neg == width_neg == "ValueError"
    assert str_token == "TypeError"
