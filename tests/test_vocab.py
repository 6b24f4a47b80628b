"""Tests of decoder.vocab: exact token bytes for real tokenizers, and the error paths.

Real tokenizers come from ../shared/tokenizers/<family> and ../shared/models/stories260k
(skipped when absent). The reference is Hugging Face's own decode, compared after the
one normalisation it applies that we deliberately do not (see ``hf_view``).
"""

from __future__ import annotations

import json
import os

import pytest
from conftest import FAMILIES, family_info, load_tokenizer, shared_path

from decoder.errors import DecoderError, VocabularyError
from decoder.vocab import Vocabulary, bytes_to_unicode

ALL = FAMILIES + ["stories260k"]

# family.json "kind" -> Vocabulary.kind (tiktoken ranks are byte-level BPE in HF form)
KIND = {
    "byte-level-bpe": "byte-level-bpe",
    "tiktoken-bpe": "byte-level-bpe",
    "sentencepiece-bpe-byte-fallback": "sentencepiece-byte-fallback",
}

STORIES_INFO = {
    "vocab_size": 512,
    "model_vocab_size": 512,
    "eos_ids": [2],
    "bos_id": 1,
    "kind": "sentencepiece-bpe-byte-fallback",
}


# --------------------------------------------------------------------------- fixtures

_tokenizers: dict = {}
_vocabs: dict = {}


def tokenizer(name: str):
    if name != "stories260k":
        return load_tokenizer(name)
    if name not in _tokenizers:
        path = shared_path("models", "stories260k")
        transformers = pytest.importorskip("transformers")
        _tokenizers[name] = transformers.AutoTokenizer.from_pretrained(str(path))
    return _tokenizers[name]


def info(name: str) -> dict:
    return STORIES_INFO if name == "stories260k" else family_info(name)


def vocab(name: str) -> Vocabulary:
    """The vocabulary of a family, built the way a caller with a model would: the
    tokenizer plus the model's logits width and generation-config eos ids."""
    if name not in _vocabs:
        fi = info(name)
        _vocabs[name] = Vocabulary.from_tokenizer(
            tokenizer(name), model_vocab_size=fi["model_vocab_size"], eos_ids=fi["eos_ids"]
        )
    return _vocabs[name]


def hf_view(v: Vocabulary, data: bytes) -> str:
    """Our bytes as Hugging Face's decode shows them: UTF-8 with U+FFFD for invalid
    sequences, minus the ``leading_space_strip`` spaces its ``Strip`` decoder step
    removes from the start of the whole text (SentencePiece families: one U+0020)."""
    s = data.decode("utf-8", errors="replace")
    for _ in range(v.leading_space_strip):
        if s.startswith(" "):
            s = s[1:]
    return s


def vector_rows(name: str) -> list[dict]:
    if name == "stories260k":  # no vectors file: encode a few texts with the tokenizer itself
        tok = tokenizer(name)
        texts = [
            "Once upon a time, Lily saw a big red ball.\n",
            "  two  spaces\n\nand\ttabs",
            "café ☃ 你好 🙂 ∑x²",
        ]
        return [{"text": t, "ids": tok.encode(t, add_special_tokens=False)} for t in texts]
    path = shared_path("tokenizers", name, "vectors.jsonl")
    return [
        json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()
    ]


# --------------------------------------------------------------------------- real tokenizers


@pytest.mark.parametrize("name", ALL)
def test_sizes_eos_kind(name):
    v, fi, tok = vocab(name), info(name), tokenizer(name)
    assert v.size == fi["vocab_size"] == len(tok) == len(v.tokens)
    assert v.model_vocab_size == fi["model_vocab_size"]
    assert v.eos_ids == tuple(fi["eos_ids"])
    assert v.eos_ids[0] == tok.eos_token_id
    assert v.bos_id == fi["bos_id"]
    assert v.kind == KIND[fi["kind"]]
    assert v.leading_space_strip == (1 if v.kind.startswith("sentencepiece") else 0)
    assert all(type(t) is bytes for t in v.tokens)


@pytest.mark.parametrize("name", ALL)
def test_special_ids(name):
    v, fi, tok = vocab(name), info(name), tokenizer(name)
    assert set(v.eos_ids) <= v.special_ids
    if fi["bos_id"] is not None:
        assert fi["bos_id"] in v.special_ids
    added = tok.backend_tokenizer.get_added_tokens_decoder()
    assert {i for i, t in added.items() if t.special} <= v.special_ids
    assert set(tok.all_special_ids) <= v.special_ids
    # the invariant: empty bytes exactly for special ids
    assert {i for i, t in enumerate(v.tokens) if t == b""} == set(v.special_ids)
    assert all(0 <= i < v.size for i in v.special_ids)


@pytest.mark.parametrize("name", ALL)
def test_vectors_match_hf_decode(name):
    """Every vectors.jsonl row: our concatenated bytes, viewed as HF shows text, equal
    ``tok.decode(ids)``; rows with special tokens are compared without them."""
    v, tok = vocab(name), tokenizer(name)
    added = tok.backend_tokenizer.get_added_tokens_decoder()
    hf_special = set(tok.all_special_ids) | {i for i, t in added.items() if t.special}
    split_chars = 0  # tokens that are not valid UTF-8 on their own (a character cut in two)
    for row in vector_rows(name):
        ids = row["ids"]
        specials = [i for i in ids if i in v.special_ids]
        assert hf_special.intersection(ids) <= set(specials), row["text"][:60]
        expected = tok.decode(ids, skip_special_tokens=bool(specials))
        assert hf_view(v, v.decode(ids)) == expected, row["text"][:60]
        for i in ids:
            try:
                v.tokens[i].decode("utf-8")
            except UnicodeDecodeError:
                split_chars += 1
    assert split_chars > 0, "the vectors should include characters split across tokens"


@pytest.mark.parametrize("name", ALL)
def test_exact_bytes_roundtrip(name):
    """Exact bytes (not just text): encoding a text and concatenating our bytes gives
    the text back, with SentencePiece's prepended ``▁`` as a real leading space."""
    v, tok = vocab(name), tokenizer(name)
    texts = [
        'Hello, world!\n  {"key": [1, 2.5e-3, null], "é": "naïve"}\tend',
        "    def f(x):\n        return x  # ok\n\n\n",
        "Mixed: 你好，世界 🙂 ∑x² \u00a0— Ω ≠ ∞ 𝔘𝔫𝔦",
    ]
    for text in texts:
        ids = tok.encode(text, add_special_tokens=False)
        assert not set(ids) & v.special_ids
        prefix = b" " if v.kind.startswith("sentencepiece") else b""
        assert v.decode(ids) == prefix + text.encode("utf-8"), text


@pytest.mark.parametrize("name", ALL)
def test_every_token_matches_hf_decode(name):
    """Each non-special id alone, and after a plain one-letter token, decodes like HF
    (this also checks that a non-first ``▁`` is a real space)."""
    v, tok = vocab(name), tokenizer(name)
    backend = tok.backend_tokenizer
    ids = [i for i in range(v.size) if i not in v.special_ids]
    alone = backend.decode_batch([[i] for i in ids], skip_special_tokens=False)
    bad = [(i, h) for i, h in zip(ids, alone) if h != hf_view(v, v.tokens[i])]
    assert not bad, bad[:5]
    (a,) = tok.encode("a", add_special_tokens=False)[-1:]  # "a" (SentencePiece: after "▁")
    if v.tokens[a] != b"a":
        a = tok.convert_tokens_to_ids("a")
    assert v.tokens[a] == b"a"
    after = backend.decode_batch([[a, i] for i in ids], skip_special_tokens=False)
    bad = [
        (i, h)
        for i, h in zip(ids, after)
        if h != hf_view(v, b"a" + v.tokens[i])
        # HF's ByteFallback replaces an invalid run of <0xNN> tokens by one U+FFFD
        # per byte, where Python's decoder replaces maximal invalid subsequences
        and not (v.tokens[i] and v.tokens[i][0] >= 0x80 and len(v.tokens[i]) == 1)
    ]
    assert not bad, bad[:5]


# SmolLM2's byte-level vocabulary has no single-byte token for these 21 bytes (six
# control characters, the never-valid 0xC0 0xC1 0xF5-0xFF, and the lead bytes 0xF1
# 0xF2 of planes 4-11): text containing them cannot be spelled exactly.
MISSING_BYTES = {
    "smollm2": {0x04, 0x06, 0x13, 0x14, 0x16, 0x1D, 0xC0, 0xC1, 0xF1, 0xF2, *range(0xF5, 0x100)}
}


@pytest.mark.parametrize("name", ALL)
def test_single_byte_tokens_cover_all_bytes(name):
    """Byte-level alphabets and SentencePiece byte fallback spell every byte (one family
    has known gaps)."""
    v = vocab(name)
    have = {t[0] for t in v.tokens if len(t) == 1}
    assert set(range(256)) - have == MISSING_BYTES.get(name, set())


# (id, raw token string, exact bytes) looked up in each tokenizer
HAND_PICKED = {
    "gpt2": [
        (262, "Ġthe", b" the"),
        (198, "Ċ", b"\n"),
        (19779, 'Ġ{"', b' {"'),
        (165, "é", b"\xe9"),
        (2634, "Ã©", "é".encode()),
    ],
    "llama2": [
        (278, "▁the", b" the"),
        (13, "<0x0A>", b"\n"),
        (29871, "▁", b" "),
        (229, "<0xE2>", b"\xe2"),
        (426, "▁{", b" {"),
        (30919, "你", "你".encode()),
    ],
    "llama3": [
        (279, "Ġthe", b" the"),
        (198, "Ċ", b"\n"),
        (5324, 'Ġ{"', b' {"'),
        (5018, '{"', b'{"'),
        (271, "ĊĊ", b"\n\n"),
        (262, "ĠĠĠ", b"   "),
        (978, "Ã©", "é".encode()),
    ],
    "qwen2": [
        (279, "Ġthe", b" the"),
        (198, "Ċ", b"\n"),
        (5212, 'Ġ{"', b' {"'),
        (151657, "<tool_call>", b"<tool_call>"),
        (151658, "</tool_call>", b"</tool_call>"),
        (56568, "ä½ł", "你".encode()),
    ],
    "mistral-v3": [
        (1040, "▁the", b" the"),
        (781, "<0x0A>", b"\n"),
        (1139, "▁{", b" {"),
        (1026, "<0xFF>", b"\xff"),
        (770, "[REFERENCE_DOC_0]", b"[REFERENCE_DOC_0]"),
    ],
    "mistral-tekken": [
        (1278, "Ġthe", b" the"),
        (1010, "Ċ", b"\n"),
        (16753, 'Ġ{"', b' {"'),
        (1337, "Ã©", "é".encode()),
    ],
    "phi3": [
        (278, "▁the", b" the"),
        (13, "<0x0A>", b"\n"),
        (29871, "▁", b" "),
        (2, "</s>", b"</s>"),
    ],  # Phi-3 marks </s> as a non-special added token
    "deepseek-coder": [
        (254, "Ġthe", b" the"),
        (185, "Ċ", b"\n"),
        (315, "ĠĠĠ", b"   "),
        (32000, "õ", b"\xf5"),
        (32011, "ö", b"\xf6"),
        (32012, "û", b"\xfb"),
        (32019, "<|User|>", b"<|User|>"),
        (32015, "<｜fim▁hole｜>", "<｜fim▁hole｜>".encode()),
    ],
    "smollm2": [(260, "Ġthe", b" the"), (198, "Ċ", b"\n"), (9583, 'Ġ{"', b' {"')],
    "stories260k": [
        (265, "▁the", b" the"),
        (13, "<0x0A>", b"\n"),
        (317, "▁Lily", b" Lily"),
        (410, "▁", b" "),
    ],
}


@pytest.mark.parametrize("name", ALL)
def test_hand_picked_tokens(name):
    v, tok = vocab(name), tokenizer(name)
    for i, raw, expected in HAND_PICKED[name]:
        assert tok.convert_ids_to_tokens(i) == raw
        assert v.token_bytes(i) == expected, (i, raw)
        assert i not in v.special_ids


SPECIAL_PICKED = {
    "gpt2": [50256],
    "llama2": [0, 1, 2],
    "llama3": [128000, 128001, 128006, 128008, 128009],
    "qwen2": [151643, 151644, 151645],
    "mistral-v3": [0, 1, 2, 3, 4, 750],
    "mistral-tekken": [0, 1, 2, 3, 4, 999],
    "phi3": [0, 1, 32000, 32001, 32007, 32010],
    "deepseek-coder": [32013, 32014, 32021],
    "smollm2": [0, 1, 2],
    "stories260k": [0, 1, 2],
}


@pytest.mark.parametrize("name", ALL)
def test_hand_picked_special(name):
    v = vocab(name)
    for i in SPECIAL_PICKED[name]:
        assert i in v.special_ids and v.token_bytes(i) == b""


@pytest.mark.parametrize(
    "name,size,model_size",
    [("qwen2", 151665, 151936), ("phi3", 32011, 32064), ("deepseek-coder", 32022, 32256)],
)
def test_padding_ids(name, size, model_size):
    v = vocab(name)
    assert v.padding_ids == range(size, model_size)
    assert v.token_bytes(size) == v.token_bytes(model_size - 1) == b""
    assert v.decode([size, model_size - 1]) == b""
    assert not set(v.padding_ids) & v.special_ids  # padding is its own category
    with pytest.raises(IndexError):
        v.token_bytes(model_size)


def test_no_padding_when_sizes_match():
    assert len(vocab("llama3").padding_ids) == 0


def test_deepseek_eot_is_special_only_as_eos():
    """<|EOT|> (32021) is a non-special added token in HF; it becomes special because it
    ends generation. Without that eos id it is text, exactly as HF decodes it."""
    tok = tokenizer("deepseek-coder")
    plain = Vocabulary.from_tokenizer(tok)
    assert plain.eos_ids == (32014,)
    assert plain.token_bytes(32021) == b"<|EOT|>"
    assert 32021 in vocab("deepseek-coder").special_ids
    marked = Vocabulary.from_tokenizer(tok, extra_special_ids=[32015, 32019])
    assert {32015, 32019} <= marked.special_ids and marked.token_bytes(32019) == b""


def test_from_path_reads_family_and_model_files():
    p = shared_path("tokenizers", "phi3")
    v = Vocabulary.from_path(p)
    assert (v.size, v.model_vocab_size, v.eos_ids) == (32011, 32064, (32000, 32007, 32001))
    m = shared_path("models", "stories260k")  # config.json + generation_config.json
    v = Vocabulary.from_path(m)
    assert (v.size, v.model_vocab_size, v.eos_ids, v.bos_id) == (512, 512, (2,), 1)
    assert Vocabulary.from_path(m, model_vocab_size=520).padding_ids == range(512, 520)
    with pytest.raises(VocabularyError, match="not a local folder"):
        Vocabulary.from_path(os.path.join(str(m), "no-such-folder"))


def test_model_vocab_size_smaller_than_tokenizer_is_an_error():
    with pytest.raises(VocabularyError, match="smaller than"):
        Vocabulary.from_tokenizer(tokenizer("stories260k"), model_vocab_size=500)


# --------------------------------------------------------------------------- no shared data


def test_from_bytes():
    v = Vocabulary.from_bytes(
        [b"<s>", b"</s>", b"a", b" b", bytearray(b"\xe4\xbd"), b""],
        eos_ids=1,
        special_ids=[0],
        model_vocab_size=8,
    )
    assert v.kind == "bytes" and v.size == 6 and v.model_vocab_size == 8
    assert v.tokens == [b"", b"", b"a", b" b", b"\xe4\xbd", b""]
    assert v.eos_ids == (1,)
    assert v.special_ids == {0, 1, 5}  # given, eos, and the empty token
    assert v.padding_ids == range(6, 8)
    assert v.decode([0, 2, 3, 4, 1, 7]) == b"a b\xe4\xbd"
    assert v.token_bytes(6) == b""
    with pytest.raises(IndexError):
        v.token_bytes(8)
    with pytest.raises(IndexError):
        v.decode([-1])
    assert "size=6" in repr(v)


def test_from_bytes_eos_order_and_dedupe():
    v = Vocabulary.from_bytes([b"x", b"y", b"z"], eos_ids=[2, 1, 2])
    assert v.eos_ids == (2, 1) and v.special_ids == {1, 2}


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(tokens=[b"a", "b"], eos_ids=[0]), "expected bytes"),
        (dict(tokens=[b"a", b"b"], eos_ids=[]), "no eos id"),
        (dict(tokens=[b"a", b"b"], eos_ids=[5]), "eos id 5 is outside"),
        (dict(tokens=[b"a", b"b"], eos_ids=[0], special_ids=[9]), "special id 9 is outside"),
        (dict(tokens=[b"a", b"b"], eos_ids=[0], model_vocab_size=1), "smaller than"),
        (dict(tokens=[], eos_ids=[0]), "empty"),
    ],
)
def test_from_bytes_errors(kwargs, match):
    with pytest.raises(VocabularyError, match=match):
        Vocabulary.from_bytes(**kwargs)


def test_error_hierarchy():
    assert issubclass(VocabularyError, DecoderError) and issubclass(DecoderError, Exception)


def test_bytes_to_unicode_table():
    table = bytes_to_unicode()
    assert len(table) == 256 and len(set(table.values())) == 256
    assert table[ord(" ")] == "Ġ" and table[ord("\n")] == "Ċ" and table[ord("a")] == "a"
    assert table[0xF6] == "ö" and table[0xA0] == "ł" and table[0xAD] == "Ń"


# Tiny tokenizers built in memory: no files, no network.


def _wrap(tk, **kw):
    transformers = pytest.importorskip("transformers")
    return transformers.PreTrainedTokenizerFast(tokenizer_object=tk, **kw)


def test_wordpiece_is_rejected_with_a_clear_message():
    tokenizers = pytest.importorskip("tokenizers")
    tk = tokenizers.Tokenizer(
        tokenizers.models.WordPiece(
            vocab={"[UNK]": 0, "[SEP]": 1, "a": 2, "##b": 3}, unk_token="[UNK]"
        )
    )
    tk.decoder = tokenizers.decoders.WordPiece()
    with pytest.raises(VocabularyError, match="WordPiece.*not supported"):
        Vocabulary.from_tokenizer(_wrap(tk, eos_token="[SEP]", unk_token="[UNK]"))


def test_unknown_decoder_is_rejected():
    tokenizers = pytest.importorskip("tokenizers")
    tk = tokenizers.Tokenizer(
        tokenizers.models.BPE(vocab={"a": 0, "b": 1, "ab</w>": 2, "</s>": 3}, merges=[])
    )
    tk.decoder = tokenizers.decoders.BPEDecoder(suffix="</w>")
    with pytest.raises(VocabularyError, match="BPEDecoder"):
        Vocabulary.from_tokenizer(_wrap(tk, eos_token="</s>"))
    tk.decoder = None
    with pytest.raises(VocabularyError, match="no decoder"):
        Vocabulary.from_tokenizer(_wrap(tk, eos_token="</s>"))


def _byte_level_tokenizer(vocab):
    tokenizers = pytest.importorskip("tokenizers")
    tk = tokenizers.Tokenizer(tokenizers.models.BPE(vocab=vocab, merges=[]))
    tk.pre_tokenizer = tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=False)
    tk.decoder = tokenizers.decoders.ByteLevel()
    return tk


def test_byte_level_in_memory_with_added_tokens():
    tokenizers = pytest.importorskip("tokenizers")
    tk = _byte_level_tokenizer({"a": 0, "Ġb": 1, "Ċ": 2, "Ã©": 3, "Ġ": 4})
    tk.add_special_tokens(["<|end|>"])  # id 5
    tk.add_tokens([tokenizers.AddedToken("<x y>", special=False)])  # id 6: has a raw space
    v = Vocabulary.from_tokenizer(_wrap(tk, eos_token="<|end|>"))
    assert v.kind == "byte-level-bpe" and v.eos_ids == (5,)
    assert v.tokens == [b"a", b" b", b"\n", b"\xc3\xa9", b" ", b"", b"<x y>"]
    # a raw tokenizers.Tokenizer works too, given the eos id
    assert Vocabulary.from_tokenizer(tk, eos_ids=[5]).tokens == v.tokens


def test_byte_level_token_outside_the_alphabet_is_an_error():
    tk = _byte_level_tokenizer({"a": 0, "héllo wörld": 1, "</s>": 2})
    with pytest.raises(VocabularyError, match=r"outside the GPT-2 byte alphabet.*1: 'héllo wörld'"):
        Vocabulary.from_tokenizer(_wrap(tk, eos_token="</s>"))


def test_byte_level_decoder_without_byte_level_pretokenizer_is_an_error():
    tk = _byte_level_tokenizer({"a": 0, "b": 1, "</s>": 2})
    tk.pre_tokenizer = None
    with pytest.raises(VocabularyError, match="not byte-level"):
        Vocabulary.from_tokenizer(_wrap(tk, eos_token="</s>"))


def _spm_tokenizer(decoder_steps, byte_fallback=True):
    tokenizers = pytest.importorskip("tokenizers")
    vocab = {
        "<unk>": 0,
        "<s>": 1,
        "</s>": 2,
        "<0x0A>": 3,
        "<0xE4>": 4,
        "▁": 5,
        "▁a": 6,
        "b": 7,
        "▁▁": 8,
    }
    tk = tokenizers.Tokenizer(
        tokenizers.models.BPE(
            vocab=vocab, merges=[], unk_token="<unk>", byte_fallback=byte_fallback
        )
    )
    tk.add_special_tokens(["<unk>", "<s>", "</s>"])
    tk.decoder = tokenizers.decoders.Sequence(decoder_steps)
    return tk


def test_sentencepiece_in_memory():
    d = pytest.importorskip("tokenizers").decoders
    tk = _spm_tokenizer([d.Replace("▁", " "), d.ByteFallback(), d.Fuse(), d.Strip(" ", 1, 0)])
    v = Vocabulary.from_tokenizer(_wrap(tk, bos_token="<s>", eos_token="</s>", unk_token="<unk>"))
    assert v.kind == "sentencepiece-byte-fallback" and v.leading_space_strip == 1
    assert v.tokens == [b"", b"", b"", b"\n", b"\xe4", b" ", b" a", b"b", b"  "]
    assert v.special_ids == {0, 1, 2} and v.bos_id == 1
    assert tk.decode([6, 7, 5, 6]) == hf_view(v, v.decode([6, 7, 5, 6])) == "ab  a"


def test_metaspace_in_memory():
    tokenizers = pytest.importorskip("tokenizers")
    tk = _spm_tokenizer([tokenizers.decoders.Metaspace()], byte_fallback=False)
    v = Vocabulary.from_tokenizer(tk, eos_ids=[2])
    assert v.kind == "sentencepiece" and v.leading_space_strip == 1
    assert v.tokens[3] == b"<0x0A>"  # no byte fallback: the piece is literal text
    assert v.tokens[6] == b" a" and v.tokens[8] == b"  "


def test_byte_fallback_model_without_byte_fallback_decoder_is_an_error():
    tokenizers = pytest.importorskip("tokenizers")
    tk = _spm_tokenizer([tokenizers.decoders.Metaspace()], byte_fallback=True)
    with pytest.raises(VocabularyError, match="byte fallback"):
        Vocabulary.from_tokenizer(tk, eos_ids=[2])


def test_regex_replace_is_rejected():
    tokenizers = pytest.importorskip("tokenizers")
    d = tokenizers.decoders
    tk = _spm_tokenizer([d.Replace(tokenizers.Regex("▁+"), " "), d.ByteFallback(), d.Fuse()])
    with pytest.raises(VocabularyError, match="plain-string Replace"):
        Vocabulary.from_tokenizer(tk, eos_ids=[2])


def test_slow_tokenizer_object_is_rejected():
    with pytest.raises(VocabularyError, match="not a fast"):
        Vocabulary.from_tokenizer(object())
