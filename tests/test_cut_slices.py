"""Cut slices derived from the text class's cuts built with the vocabulary
(docs/optimizations.md section 71), against brute force and against the full pass, in a fresh
process, on byte-level BPE (llama3), SentencePiece with byte fallback (llama2) and Tekken
(mistral-tekken).

`TokenTrie::class_slice(lead, bound, under)` derives a cut slice (the class strings of at most
`bound` bytes, below the root child of `under` or from the root) whose class is the text class
less some boundary bytes from the text class's slice of the same cut (`derive_cut`: the short
slice, the cut at 12, and the cut at 16 below each large root child of a text byte, all built
with the vocabulary), instead of a pass over the trie. With `DECODER_CHECK_SLICES=1` every
derived slice is also built by that pass (`build_class`) and a difference is an error, so the
test checks the slices' contents as well as the masks. Each state is reached in a new process
(the slices of the pytest process may be built already by other tests), through a fresh grammar
(`last_mask_cold`), and its first mask is compared with `is_allowed` on every token.

The states: word-count patterns under maxLength (`^(?:\\S+\\s+){0,19}\\S+$`: the killer class
cut at 12, section 44's record walk; `{0,9}`: the word class cut at 16 and below the space), after
ASCII words, after multi-byte characters, inside one, near the end of the repetition.
"""

from __future__ import annotations

import pytest

FAMILIES = ["llama3", "llama2", "mistral-tekken"]

SCRIPT = r"""
import sys
sys.path.insert(0, "tests")
from conftest import assert_cold_mask_is_brute_force, bits_of, vocab_of
from cold_states import string_beside_null
from decoder import Matcher

family = sys.argv[1]
vocab = vocab_of(family)
WORDS = dict(maxLength=200, minLength=1, pattern="^(?:\\S+\\s+){0,19}\\S+$")
WORDS_SHORT = dict(maxLength=100, pattern="^(?:\\S+\\s+){0,9}\\S+$")

STATES = [
    (WORDS, ["Up"]),  # the killer class cut at 12 (record_class_walk)
    (WORDS, ["Up", "Up to "]),
    (WORDS, ["Caf\u00e9"]),
    (WORDS, ["\u65e5\u672c"]),
    (WORDS_SHORT, ["Sc"]),  # the word class cut at 16, and below the space (split_class_walk)
    (WORDS_SHORT, ["a", "a b c d e f g"]),
    (WORDS_SHORT, ["a", "a b c d e f g h i"]),
    (WORDS_SHORT, ["Caf\u00e9", "Caf\u00e9 au lait"]),
    (WORDS_SHORT, ["a", "a b c d e f g h \u00e9"]),
    (WORDS_SHORT, ["a", "a b c d e f g h i "]),
]
count = 0
for n, (string, prefixes) in enumerate(STATES):
    m = Matcher(string_beside_null(5000 + n, **string), vocab)
    done = b'{"s": "'
    if not m.commit_bytes(done):
        raise SystemExit("refused the string's start")
    for k, p in enumerate(prefixes):
        p = b'{"s": "' + p.encode()
        if not (p.startswith(done) and (p == done or m.commit_bytes(p[len(done):]))):
            raise SystemExit(f"refused prefix {p!r}")
        done = p
        if k + 1 < len(prefixes):
            bits_of(m, m.compiled.mask_words)  # the masks on the way (a canonical state's record)
        else:
            assert_cold_mask_is_brute_force(m, vocab, f"{family} state {n} {string} {p!r}")
            count += 1
print("ok", count)
"""


@pytest.mark.parametrize("family", FAMILIES)
def test_fresh_process_cut_slices_equal_brute_force_and_full_pass(family):
    from conftest import run_script_fresh, vocab_of

    vocab_of(family)  # (skips when the tokenizer is missing)
    out = run_script_fresh(SCRIPT, family, timeout=1200, DECODER_CHECK_SLICES="1")
    assert out.strip() == "ok 10", out[-3000:]
