"""Shared fixtures: where ../shared lives, and skipping cleanly when it is absent."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("DECODER_SHARED", ROOT.parent / "shared"))
TOKENIZERS = SHARED / "tokenizers"

FAMILIES = [
    "gpt2",
    "llama2",
    "llama3",
    "qwen2",
    "mistral-v3",
    "mistral-tekken",
    "phi3",
    "deepseek-coder",
    "smollm2",
]


def shared_path(*parts: str) -> Path:
    """A path under ../shared, or skip the test with the reason."""
    p = SHARED.joinpath(*parts)
    if not p.exists():
        pytest.skip(f"{p} is absent (third-party data lives in ../shared, never in the repo)")
    return p


_tok_cache: dict = {}


def load_tokenizer(family: str):
    """A Hugging Face tokenizer from ../shared/tokenizers/<family>, loaded offline (cached)."""
    if family not in _tok_cache:
        path = shared_path("tokenizers", family)
        transformers = pytest.importorskip("transformers")
        _tok_cache[family] = transformers.AutoTokenizer.from_pretrained(str(path))
    return _tok_cache[family]


def family_info(family: str) -> dict:
    return json.loads(shared_path("tokenizers", family, "family.json").read_text())


_vocab_cache: dict = {}


def vocab_of(family: str):
    """A decoder.Vocabulary of ../shared/tokenizers/<family> (cached), or skip saying why."""
    if family not in _vocab_cache:
        from decoder import Vocabulary

        try:
            _vocab_cache[family] = Vocabulary.from_path(shared_path("tokenizers", family))
        except Exception as e:  # noqa: BLE001
            pytest.skip(f"tokenizer {family} unavailable: {e}")
    return _vocab_cache[family]


def bits_of(m, words: int):
    """The matcher's next mask as one bool per token id."""
    import numpy as np

    out = np.zeros(words, dtype=np.int32)
    m.compute_mask(out)
    return np.unpackbits(out.view(np.uint8), bitorder="little").astype(bool)


def assert_refused_at_byte(m, family: str, text: str, at: int) -> None:
    """Teacher-forces ``text``, tokenized by ``family``'s tokenizer (its tokens must spell it,
    but for SentencePiece's leading space), from the matcher's state: every token before the
    one holding byte ``at`` of ``text`` is allowed and commits, and that one is masked and
    refused by commit."""
    vocab, what = vocab_of(family), (family, text)
    ids = load_tokenizer(family).encode(text, add_special_tokens=False)
    whole = b"".join(vocab.token_bytes(t) for t in ids)
    assert whole.lstrip(b" ") == text.encode(), what
    at += len(whole) - len(text.encode())
    pos = 0
    for t in ids:
        b = vocab.token_bytes(t)
        mask = bits_of(m, m.compiled.mask_words)
        if pos <= at < pos + len(b):
            assert not mask[t] and not m.commit(t), (what, b)
            return
        assert mask[t] and m.commit(t), (what, b)
        pos += len(b)
    raise AssertionError(f"{what}: taken whole")


def assert_mask_is_brute_force(m, vocab, what: str):
    """The matcher's next mask equals `is_allowed` (commit and roll back) on every token id;
    returns the mask (one bool per id). `what` names the state in the failure message."""
    import numpy as np

    words = m.compiled.mask_words
    bits = bits_of(m, words)
    ids = np.arange(vocab.model_vocab_size)
    brute = np.zeros(words * 32, dtype=bool)
    brute[ids] = [m.is_allowed(int(t)) for t in ids]
    diff = np.flatnonzero(bits != brute)
    assert not len(diff), (
        f"{what}: mask and is_allowed differ on "
        f"{[(int(t), vocab.token_bytes(int(t)), bool(bits[t])) for t in diff[:8]]}"
    )
    return bits


def assert_cold_mask_is_brute_force(m, vocab, what: str, warm: bool = True):
    """The matcher's next mask is the first in its state (cold), equals `is_allowed` on every
    token id and allows something; with `warm`, the same state's second mask is warm and
    equal. Returns the mask."""
    bits = assert_mask_is_brute_force(m, vocab, what)
    assert m.last_mask_cold, f"{what}: the first mask in this state was not cold"
    assert bits.any(), what
    if warm:
        again = bits_of(m, m.compiled.mask_words)
        assert not m.last_mask_cold and (again == bits).all(), what
    return bits


def single_byte_tokens(vocab) -> dict:
    """The first token id of each single-byte token, by its byte."""
    out: dict = {}
    for t in range(vocab.size):
        b = vocab.token_bytes(t)
        if len(b) == 1:
            out.setdefault(b, t)
    return out


def run_script_fresh(script: str, *args: str, timeout: float, **env: str) -> str:
    """Runs ``script`` (``python -c``) in a fresh process with this checkout first on the path
    and ``env`` added (first-in-process work: slices built once per vocabulary and class);
    returns its stdout, failing the test with its output's tail when it exits non-zero."""
    import subprocess
    import sys

    root = str(Path(__file__).resolve().parents[1])
    r = subprocess.run(
        [sys.executable, "-c", script, *args],
        cwd=root,
        env=dict(
            os.environ, PYTHONPATH=root + os.pathsep + os.environ.get("PYTHONPATH", ""), **env
        ),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return r.stdout
