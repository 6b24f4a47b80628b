"""Own classes derived from the text class's slice (docs/optimizations.md section 49) against
brute force, in a fresh process, on byte-level BPE (llama3), SentencePiece with byte fallback
(llama2) and Tekken (mistral-tekken).

`TokenTrie::class_slice` builds a per-grammar class's slice once per process and vocabulary:
from the full (text) class's slice, leaving out the subtrees of the nodes where a string first
meets a byte the class leaves out at a character boundary, and exploring those of the nodes
where it meets one the class adds (DEL and control bytes: JSON strings and free text take
them, the text class does not). So the first mask of each class below is computed in a new
process (the slices of the pytest process may be built already by other tests) at a fresh
state (`last_mask_cold`) and compared with `is_allowed` on every token. The corners: a class
boundary at a multi-byte character (its lead byte leaves, so 'é' and its neighbours are out),
tokens one byte from the class on both sides ('x/' out, 'x.' in), a class that adds DEL (JSON
string contents), a class of many left-out bytes (taken from a full pass instead), and free
text, whose class adds the control bytes.
"""

from __future__ import annotations

import pytest

FAMILIES = ["llama3", "llama2", "mistral-tekken"]

SCRIPT = r"""
import json, sys
sys.path.insert(0, "tests")
from conftest import assert_cold_mask_is_brute_force, vocab_of
from cold_states import string_beside_null, tagged
from decoder import Grammar, Matcher

family = sys.argv[1]
vocab = vocab_of(family)

def obj(n, **extra):
    schema = {"type": "object", "properties": {"alpha": {"type": "integer"}, "\u00e9t\u00e9": {"type": "null"},
                                              f"zz{n}": {"type": "null"}}}
    schema.update(extra)
    return Grammar.from_json_schema(schema)

STATES = [
    (lambda n: string_beside_null(n, pattern="^[^/]*$"), b'{"s": "'),  # every text byte but '/'
    (lambda n: string_beside_null(n, pattern="^[^/]*$"), b'{"s": "ab'),
    (lambda n: string_beside_null(n, pattern="^[^\u00e9]*$"), b'{"s": "x'),  # lead C3 leaves
    (lambda n: string_beside_null(n, pattern="^[^\u00e9]*$"), b'{"s": "x\xc3'),  # inside a character
    (lambda n: string_beside_null(n, pattern="^[^/\u00e9]*$"), "{\"s\": \"\u00fc".encode()),
    (lambda n: string_beside_null(n, pattern="^[^0-9a-f]*$"), b'{"s": "xyz '),  # many bytes out
    (lambda n: obj(n, additionalProperties={"type": "string"}), b'{"'),  # a free key
    (lambda n: obj(n, additionalProperties={"type": "string"}), b'{"q'),
    (lambda n: obj(n, patternProperties={"^x": {"type": "string"}}), b'{"x'),
    (tagged, b"Some text"),  # free text: control bytes in, 'f', '<' and the lead of '\u00fc' out
    (tagged, b"x \xc3"),
]
for n, (make, prefix) in enumerate(STATES):
    m = Matcher(make(4000 + n), vocab)
    if not m.commit_bytes(prefix):
        raise SystemExit(f"refused prefix {prefix!r}")
    assert_cold_mask_is_brute_force(m, vocab, f"{family} state {n} {prefix!r}")
print("ok", len(STATES))
"""


@pytest.mark.parametrize("family", FAMILIES)
def test_fresh_process_own_classes_equal_brute_force(family):
    from conftest import run_script_fresh, vocab_of

    vocab_of(family)  # (skips when the tokenizer is missing)
    out = run_script_fresh(SCRIPT, family, timeout=900)
    assert out.strip() == "ok 11", out[-3000:]


@pytest.mark.parametrize("family", FAMILIES)
def test_tokens_one_byte_from_the_class_exist(family):
    # the corners above are met: a vocabulary token in the '[^/]' class beside one out of it by
    # one byte, and a 2-byte character token whose lead byte the '[^é]' class leaves out
    from conftest import vocab_of

    vocab = vocab_of(family)
    have = {vocab.token_bytes(t) for t in range(vocab.size)}
    assert any(b[:-1] + b"." in have for b in have if b.endswith(b"/") and len(b) > 1)
    assert any(len(b) >= 2 and b[0] == 0xC3 for b in have)
