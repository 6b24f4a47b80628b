"""Exact token byte strings for a tokenizer: the vocabulary the engine masks over.

The engine (and its token trie in ``csrc/``) works on bytes, not characters: for
every token id it needs *the exact bytes that id adds to the output*.  This module
computes them, once per tokenizer, from the raw token strings of a Hugging Face
fast tokenizer (``tokenizers`` backend), by interpreting the tokenizer's *decoder*
the way ``tokenizers`` does, token by token.  It never uses ``decode([i])``: that
drops leading spaces, turns lone bytes into U+FFFD and strips text on its own.

Byte rules per tokenizer family
-------------------------------
**Byte-level BPE** (GPT-2, Llama 3, Qwen2, SmolLM2, DeepSeek-Coder, Mistral Tekken
in its Hugging Face form; decoder ``ByteLevel``).  Every byte ``b`` is spelled as
one printable character by GPT-2's ``bytes_to_unicode`` table (``Ġ`` is the space
0x20, ``Ċ`` is 0x0A, printable ASCII and most of Latin-1 stand for themselves).  A
token's bytes are its characters mapped back through that table.  Exactly as the
``ByteLevel`` decoder does, a token with a character outside the table is taken as
its raw UTF-8 instead; we accept that only for *added* tokens (e.g. DeepSeek's
``<｜fim▁hole｜>``), and raise :class:`VocabularyError` for a model-vocabulary token,
whose string would then not be byte-level at all.  Consequences worth knowing:
DeepSeek-Coder's added tokens 32000-32012 (``õ ÷ Á ý À ÿ ø ú þ ü ù ö û``) are the
single bytes 0xF5, 0xF7, 0xC1, ... (bytes that never occur in UTF-8); Qwen2's
non-special ``<tool_call>`` is the 11 ASCII bytes ``<tool_call>``.

**SentencePiece** (Llama 2, Mistral v3, Phi-3, stories260k; Gemma's layout too;
decoder ``Sequence[Replace("▁", " "), ByteFallback, Fuse, Strip(" ", 1, 0)]``).
``▁`` (U+2581) is a space, so ``▁the`` is ``b" the"``; a byte-fallback piece
``<0xNN>`` is the single byte 0xNN (``<0x0A>`` is ``b"\\n"``); every other piece is
its UTF-8.  A multi-byte character that is not a piece is spelled as several
``<0xNN>`` tokens, so a token may be part of a UTF-8 sequence; the engine handles
that since it works on bytes.  The older ``Metaspace`` decoder is read the same way
(its replacement character is a space).

*Leading space.*  Here the ``▁`` of the first token is kept as a real space:
``tokens[id("▁Hello")] == b" Hello"`` wherever the token appears.  Hugging Face's
decoder instead removes exactly one U+0020 from the very start of the whole
decoded string (the ``Strip(content=" ", start=1, stop=0)`` step, applied after
``Fuse``), if the string starts with one.  So for ids with no special token among
them, ``tok.decode(ids) == s[1:] if s.startswith(" ") else s`` where
``s = vocab.decode(ids).decode("utf-8", "replace")``; with special tokens, the
same holds against ``tok.decode(ids, skip_special_tokens=True)``.  The number of
spaces stripped this way is :attr:`Vocabulary.leading_space_strip` (1 for these
tokenizers, 0 for byte-level ones).  (``Metaspace`` differs slightly: it drops
*every* ``▁`` of the first token; it is reported as ``leading_space_strip == 1``.)
Where generation continues a prompt, the first generated token is not the first
token of the text, and the space is real; that is why we keep it.  (Examples with
Llama 2: ``decode([15043])`` is ``"Hello"`` though token 15043 is ``b" Hello"``;
``decode([29871, 15043])`` is ``" Hello"``, one of the two spaces stripped;
``decode([1, 15043])`` is ``"<s> Hello"``, nothing stripped, since ``<s>`` comes first.)

Two more differences from Hugging Face's *text*, neither a difference in bytes: its
``ByteFallback`` step replaces a run of ``<0xNN>`` tokens that is not valid UTF-8 by
one U+FFFD *per byte* (``<0x61><0x80>`` shows as two U+FFFD, not ``"a"`` + U+FFFD);
and a tokenizer with ``clean_up_tokenization_spaces`` set rewrites `` .`` to ``.``
etc. after decoding (none of the tested ones does).

**Special and control tokens** (``<s>``, ``</s>``, ``<|im_start|>``, ``[INST]``,
``<unk>``, Tekken's ids 0-999, ...): their bytes are ``b""`` and their ids are in
:attr:`Vocabulary.special_ids`, which the engine never allows inside constrained
text.  An id is special when the tokenizer marks its added token ``special``, when
it is one of the tokenizer's ``all_special_ids`` (bos, eos, unk, pad), when it ends
generation (:attr:`Vocabulary.eos_ids`), or when it has no string at all (a hole in
the id space).  A non-special token whose bytes would be empty is also listed as
special, so the invariant is: for ``i < size``, ``tokens[i] == b""`` exactly when
``i in special_ids``.  Non-special added tokens get their real output bytes (what
Hugging Face's decode prints for them): Qwen2's ``<tool_call>``, DeepSeek's byte
tokens and ``<|User|>``, Mistral v3's ``[REFERENCE_DOC_0]``, Phi-3's ``</s>`` (id 2,
which that tokenizer marks non-special).

**Padding.**  A model may have more logits than the tokenizer has ids (Qwen2
151,936 for 151,665 ids; Phi-3 32,064 for 32,011; DeepSeek-Coder 32,256 for
32,022).  Ids in ``range(size, model_vocab_size)`` (:attr:`Vocabulary.padding_ids`)
have no token and are always masked.

Anything else (a WordPiece or WordLevel model, a decoder step we do not model, a
regex ``Replace``, byte fallback in the model but not in the decoder) raises
:class:`~decoder.errors.VocabularyError` naming what was not understood: a wrong
vocabulary would silently corrupt every mask.  For a tokenizer we do not wrap
(tiktoken files, a custom format), build the byte strings yourself and use
:meth:`Vocabulary.from_bytes`.

Example::

    vocab = Vocabulary.from_path("../shared/tokenizers/llama3")
    vocab.tokens[5324]                  # b' {"'  (the token string is 'Ġ{"')
    vocab.decode([5324, 1])             # b' {""'  (concatenation; token 1 is '"')
    vocab.special_ids, vocab.eos_ids    # never in text / (128009, 128001, 128008)
    vocab.padding_ids                   # range(128256, 128256): none for Llama 3
"""

from __future__ import annotations

import json
import operator
import re
from collections.abc import Iterable
from itertools import accumulate, compress
from pathlib import Path
from typing import Any

from .errors import VocabularyError

__all__ = ["Vocabulary", "bytes_to_unicode"]


# --------------------------------------------------------------------------- byte-level table


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's map from each byte to the printable character that spells it.

    Printable ASCII (``!``..``~``) and Latin-1 ``¡``..``¬``, ``®``..``ÿ`` stand for
    themselves; the other 68 bytes (controls, space, 0x7F-0xA0, 0xAD) are shifted to
    U+0100 upwards in byte order, so 0x20 is ``Ġ`` (U+0120) and 0x0A is ``Ċ``.
    """
    bs = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    cs = list(bs)
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


_B2U = bytes_to_unicode()
_U2B_CHARS = frozenset(_B2U.values())
# str.translate table: byte-level character -> the character with that byte's code
# point, so that ``s.translate(_TRANSLATE).encode("latin-1")`` gives the bytes.
_TRANSLATE = {ord(c): chr(b) for b, c in _B2U.items()}

_BYTE_FALLBACK = re.compile(r"<0x([0-9A-Fa-f]{2})>")
_SPM_SPACE = "\u2581"  # "▁", SentencePiece's space marker


# --------------------------------------------------------------------------- the vocabulary


class Vocabulary:
    """The exact byte string of every token id of a model, plus its special ids.

    Attributes:
        tokens: ``tokens[i]`` is the bytes token ``i`` adds to the output, for every
            ``i < size``; ``b""`` for special/control tokens (and only for them).
        special_ids: ids never allowed inside constrained text (bos, eos, control
            and chat tokens, ``<unk>``, holes).  Always includes :attr:`eos_ids`.
        eos_ids: every id that ends generation, the tokenizer's own eos first.
        bos_id: the tokenizer's bos id, or ``None``.
        size: the number of token ids of the tokenizer (``len(tokenizer)``).
        model_vocab_size: the number of logits of the model, ``>= size``.
        kind: ``"byte-level-bpe"``, ``"sentencepiece-byte-fallback"``,
            ``"sentencepiece"`` or ``"bytes"`` (built by :meth:`from_bytes`).
        leading_space_strip: how many leading spaces Hugging Face's decode removes
            from the start of a whole decoded text (1 for SentencePiece, else 0);
            informational, ``tokens`` always keep them (see the module docstring).
    """

    __slots__ = (
        "tokens",
        "special_ids",
        "eos_ids",
        "bos_id",
        "size",
        "model_vocab_size",
        "kind",
        "leading_space_strip",
        "special_names",
    )

    def __init__(
        self,
        tokens: list[bytes],
        eos_ids: Iterable[int],
        special_ids: Iterable[int] = (),
        model_vocab_size: int | None = None,
        *,
        kind: str = "bytes",
        bos_id: int | None = None,
        leading_space_strip: int = 0,
        special_names: dict[str, int] | None = None,
    ):
        toks: list[bytes] = list(tokens)
        if set(map(type, toks)) - {bytes}:  # fast path: everything is already bytes
            for i, t in enumerate(toks):
                if isinstance(t, (bytearray, memoryview)):
                    toks[i] = bytes(t)
                elif not isinstance(t, bytes):
                    raise VocabularyError(f"token {i} is {type(t).__name__} {t!r}, expected bytes")
        size = len(toks)
        if size == 0:
            raise VocabularyError("empty vocabulary")
        mvs = size if model_vocab_size is None else int(model_vocab_size)
        if mvs < size:
            raise VocabularyError(
                f"model_vocab_size {mvs} is smaller than the tokenizer's {size} ids: ids "
                f"{mvs}..{size - 1} could never be produced by the model; pass the model's real "
                f"logits width as model_vocab_size"
            )

        eos: list[int] = []
        for e in eos_ids:
            e = _as_id(e, "eos id")
            if not 0 <= e < size:
                raise VocabularyError(f"eos id {e} is outside the vocabulary (size {size})")
            if e not in eos:
                eos.append(e)
        if not eos:
            raise VocabularyError("no eos id: pass eos_ids= (every id that ends generation)")

        special = set(eos)
        for s in special_ids:
            s = _as_id(s, "special id")
            if not 0 <= s < size:
                raise VocabularyError(f"special id {s} is outside the vocabulary (size {size})")
            special.add(s)
        for s in special:
            toks[s] = b""
        special.update(compress(range(size), map(operator.not_, toks)))  # b"" => never allowed

        if bos_id is not None:
            bos_id = _as_id(bos_id, "bos id")
        self.tokens = toks
        self.special_ids = frozenset(special)
        self.eos_ids = tuple(eos)
        self.bos_id = bos_id
        self.size = size
        self.model_vocab_size = mvs
        self.kind = kind
        self.leading_space_strip = leading_space_strip
        #: text -> id of the tokenizer's added tokens (special or not): how a grammar's
        #: ``<|name|>`` terminal finds its token (decoder.grammar.freetext.resolve)
        self.special_names = dict(special_names or {})

    # ------------------------------------------------------------------ constructors

    @classmethod
    def from_bytes(
        cls,
        tokens: list[bytes],
        eos_ids: Iterable[int] | int,
        special_ids: Iterable[int] = (),
        model_vocab_size: int | None = None,
    ) -> Vocabulary:
        """A vocabulary from byte strings you computed yourself (tests, tiktoken files, ...).

        The bytes of ``special_ids`` and ``eos_ids`` are replaced by ``b""``; a token
        given as ``b""`` becomes special.
        """
        if isinstance(eos_ids, int):
            eos_ids = (eos_ids,)
        return cls(list(tokens), eos_ids, special_ids, model_vocab_size, kind="bytes")

    @classmethod
    def from_tokenizer(
        cls,
        tokenizer: Any,
        model_vocab_size: int | None = None,
        eos_ids: Iterable[int] | int | None = None,
        *,
        extra_special_ids: Iterable[int] = (),
    ) -> Vocabulary:
        """Read a Hugging Face fast tokenizer (or a raw ``tokenizers.Tokenizer``).

        Args:
            tokenizer: a ``transformers`` tokenizer with a ``backend_tokenizer``
                (``PreTrainedTokenizerFast`` / ``TokenizersBackend``), or a
                ``tokenizers.Tokenizer``.
            model_vocab_size: the model's number of logits (default: the
                tokenizer's size).
            eos_ids: extra ids that end generation (e.g. the generation config's),
                added after the tokenizer's own ``eos_token_id``.
            extra_special_ids: more ids to treat as special (e.g. chat or FIM
                markers a tokenizer leaves non-special, such as DeepSeek-Coder's
                ``<｜fim▁hole｜>`` or ``<|User|>``).
        """
        backend, wrapper = _backend_of(tokenizer)
        size = (
            len(tokenizer)
            if wrapper is not None
            else backend.get_vocab_size(with_added_tokens=True)
        )

        added = backend.get_added_tokens_decoder()  # id -> AddedToken
        special: set[int] = {i for i, t in added.items() if t.special}
        bos_id = None
        eos: list[int] = []
        if wrapper is not None:
            special.update(
                i for i in (getattr(wrapper, "all_special_ids", None) or []) if i is not None
            )
            bos_id = getattr(wrapper, "bos_token_id", None)
            tok_eos = getattr(wrapper, "eos_token_id", None)
            if tok_eos is not None:
                eos.append(tok_eos)
        if bos_id is not None:
            special.add(bos_id)
        special.update(_as_id(i, "special id") for i in extra_special_ids)
        if isinstance(eos_ids, int):
            eos_ids = (eos_ids,)
        eos.extend(eos_ids or ())

        strings, holes = _token_strings(backend, size, added)
        size = len(strings)
        special.update(holes)
        eos = [_as_id(e, "eos id") for e in eos]
        for e in eos:
            if not 0 <= e < size:
                raise VocabularyError(f"eos id {e} is outside the vocabulary (size {size})")
        special.update(eos)
        for i in special:
            if 0 <= i < size:
                strings[i] = ""  # never converted: special tokens have no text bytes
            else:
                raise VocabularyError(f"special id {i} is outside the vocabulary (size {size})")

        decoder = backend.decoder
        if decoder is None:
            raise VocabularyError(
                "the tokenizer has no decoder, so its token strings have no "
                "defined bytes (Hugging Face would join tokens with spaces)"
            )
        model_type = type(backend.model).__name__
        if model_type not in ("BPE", "Unigram"):
            raise VocabularyError(
                f"tokenizer model type {model_type!r} is not supported (only BPE and Unigram "
                f"models with a byte-level or SentencePiece decoder are); build the token bytes "
                f"yourself and use Vocabulary.from_bytes"
            )
        steps = _decoder_steps(json.loads(decoder.__getstate__()))
        added_text = {i for i, t in added.items() if not t.special}
        tokens, kind, strip = _apply_decoder(
            strings,
            steps,
            added_text,
            model_type,
            bool(getattr(backend.model, "byte_fallback", False)),
        )
        if kind.startswith("byte-level"):
            pre = _component_json(backend.pre_tokenizer) + _component_json(backend.normalizer)
            if '"ByteLevel"' not in pre:
                raise VocabularyError(
                    "the decoder is ByteLevel but neither the pre-tokenizer nor the normalizer is: "
                    "the token strings are probably not byte-level, so their bytes are unknown"
                )
        names = {t.content: i for i, t in sorted(added.items()) if t.content and i < size}
        return cls(
            tokens,
            eos,
            special,
            model_vocab_size,
            kind=kind,
            bos_id=bos_id,
            leading_space_strip=strip,
            special_names=names,
        )

    @classmethod
    def from_path(
        cls,
        path: str | Path,
        model_vocab_size: int | None = None,
        eos_ids: Iterable[int] | int | None = None,
        **tokenizer_kwargs: Any,
    ) -> Vocabulary:
        """Load a tokenizer folder offline and read it with :meth:`from_tokenizer`.

        Besides the tokenizer, the folder's ``family.json`` (``eos_ids``,
        ``model_vocab_size``), ``generation_config.json`` (``eos_token_id``) and
        ``config.json`` (``eos_token_id``, ``vocab_size``) are read when present, so a
        model folder gives every id that ends generation and the logits width.
        Explicit arguments win for ``model_vocab_size``; eos ids are all merged
        (tokenizer's first, then ``eos_ids``, family, generation config, config).
        Extra keyword arguments go to ``AutoTokenizer.from_pretrained``.
        """
        folder = Path(path)
        if not folder.is_dir():
            raise VocabularyError(f"{folder} is not a local folder (nothing is downloaded)")
        try:
            from transformers import AutoTokenizer
        except ImportError as e:  # pragma: no cover - depends on the environment
            raise VocabularyError("Vocabulary.from_path needs the transformers package") from e
        tokenizer_kwargs.setdefault("local_files_only", True)
        tokenizer = AutoTokenizer.from_pretrained(str(folder), **tokenizer_kwargs)

        family = _read_json(folder / "family.json")
        gen = _read_json(folder / "generation_config.json")
        config = _read_json(folder / "config.json")
        text_config = config.get("text_config") or {}

        extra: list[int] = []
        if isinstance(eos_ids, int):
            eos_ids = (eos_ids,)
        extra.extend(eos_ids or ())
        for source in (
            family.get("eos_ids"),
            gen.get("eos_token_id"),
            config.get("eos_token_id"),
            text_config.get("eos_token_id"),
        ):
            if isinstance(source, int):
                extra.append(source)
            elif isinstance(source, list):
                extra.extend(source)
        if model_vocab_size is None:
            model_vocab_size = (
                family.get("model_vocab_size")
                or config.get("vocab_size")
                or text_config.get("vocab_size")
            )
        return cls.from_tokenizer(tokenizer, model_vocab_size=model_vocab_size, eos_ids=extra)

    # ------------------------------------------------------------------ queries

    def token_bytes(self, i: int) -> bytes:
        """The bytes of token ``i`` (``b""`` for special and padding ids)."""
        if 0 <= i < self.size:
            return self.tokens[i]
        if self.size <= i < self.model_vocab_size:
            return b""
        raise IndexError(f"token id {i} is outside 0..{self.model_vocab_size - 1}")

    def decode(self, ids: Iterable[int]) -> bytes:
        """The concatenated bytes of ``ids`` (special and padding ids add nothing)."""
        tokens, size = self.tokens, self.size
        out = []
        for i in ids:
            out.append(tokens[i] if 0 <= i < size else self.token_bytes(i))
        return b"".join(out)

    @property
    def padding_ids(self) -> range:
        """Ids the model has logits for but the tokenizer has no token: always masked."""
        return range(self.size, self.model_vocab_size)

    def __repr__(self) -> str:
        return (
            f"Vocabulary(kind={self.kind!r}, size={self.size}, model_vocab_size="
            f"{self.model_vocab_size}, special={len(self.special_ids)}, eos_ids={self.eos_ids})"
        )


# --------------------------------------------------------------------------- helpers


def _as_id(x: Any, what: str) -> int:
    if isinstance(x, bool) or not isinstance(x, int):
        try:
            return operator.index(x)
        except TypeError:
            raise VocabularyError(f"{what} {x!r} is not an integer") from None
    return x


def _read_json(p: Path) -> dict:
    if not p.is_file():
        return {}
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except ValueError as e:
        raise VocabularyError(f"{p} is not valid JSON: {e}") from e
    return data if isinstance(data, dict) else {}


def _backend_of(tokenizer: Any):
    """(tokenizers.Tokenizer, transformers wrapper or None)."""
    try:
        import tokenizers
    except ImportError as e:  # pragma: no cover
        raise VocabularyError("reading a tokenizer needs the tokenizers package") from e
    if isinstance(tokenizer, tokenizers.Tokenizer):
        return tokenizer, None
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if isinstance(backend, tokenizers.Tokenizer):
        return backend, tokenizer
    raise VocabularyError(
        f"{type(tokenizer).__name__} is not a fast (tokenizers-backed) tokenizer; load it with "
        f"AutoTokenizer (use_fast=True) or build the token bytes yourself and use "
        f"Vocabulary.from_bytes"
    )


def _component_json(component: Any) -> str:
    if component is None:
        return ""
    try:
        state = component.__getstate__()
    except Exception:  # pragma: no cover - defensive: unknown binding
        return ""
    return state.decode("utf-8") if isinstance(state, bytes) else str(state)


def _token_strings(backend: Any, size: int, added: dict) -> tuple[list[str], list[int]]:
    """Raw token strings for ids ``0..n-1`` (``n >= size``) and the ids that have none."""
    n = max(size, max(added, default=-1) + 1)
    id_to_token = backend.id_to_token
    strings: list[str | None] = [id_to_token(i) for i in range(n)]
    if None in strings:  # holes in the id space: look for ids beyond n as well
        vocab: dict[str, int] = backend.get_vocab(with_added_tokens=True)
        top = max(vocab.values(), default=-1) + 1
        strings.extend(id_to_token(i) for i in range(n, top))
    holes = [i for i, s in enumerate(strings) if s is None] if None in strings else []
    for i in holes:
        strings[i] = ""
    return strings, holes  # type: ignore[return-value]


def _decoder_steps(state: dict) -> list[dict]:
    """Flatten a decoder's JSON (nested ``Sequence``s) into a list of steps."""
    if state.get("type") == "Sequence":
        out: list[dict] = []
        for d in state.get("decoders", []):
            out.extend(_decoder_steps(d))
        return out
    return [state]


def _apply_decoder(
    strings: list[str],
    steps: list[dict],
    added_text: set[int],
    model_type: str,
    model_byte_fallback: bool,
) -> tuple[list[bytes], str, int]:
    """Run the per-token part of a Hugging Face decoder chain over every token string.

    Returns (token bytes, kind, leading spaces stripped from a whole decoded text).
    Steps whose effect spans tokens (``Fuse``, a ``Strip`` after it) are not byte
    changes of single tokens; a step we cannot model per token raises.
    """
    items: list[Any] = strings  # str until a step turns them into bytes
    as_bytes = False  # items are bytes now (after ByteLevel / ByteFallback)
    fused = False  # after Fuse: steps see the whole text, not tokens
    saw_spm_space = saw_fallback = saw_bytelevel = False
    strip = 0

    def fail(msg: str, step: dict) -> VocabularyError:
        return VocabularyError(f"decoder step {json.dumps(step, ensure_ascii=False)}: {msg}")

    for step in steps:
        t = step.get("type")
        if t == "Replace":
            pattern = step.get("pattern") or {}
            if "String" not in pattern:
                raise fail("only a plain-string Replace is supported (not a regex)", step)
            old, new = pattern["String"], step.get("content", "")
            if as_bytes:
                raise fail("Replace after ByteFallback/ByteLevel cannot be applied per token", step)
            if fused and len(old) != 1:
                raise fail("multi-character Replace after Fuse may span tokens", step)
            if old == _SPM_SPACE and new == " ":
                saw_spm_space = True
            items = [s.replace(old, new) for s in items]
        elif t == "ByteFallback":
            if fused or saw_bytelevel:
                raise fail("ByteFallback after Fuse or ByteLevel is not supported", step)
            saw_fallback = True
            items = [_fallback_byte(s) for s in items]
        elif t == "ByteLevel":
            if fused or as_bytes:
                raise fail("ByteLevel after Fuse or ByteFallback is not supported", step)
            saw_bytelevel = True
            items = _byte_level(items, added_text)
            as_bytes = True
        elif t == "Fuse":
            fused = True
        elif t == "Strip":
            content, start, stop = (
                step.get("content", " "),
                int(step.get("start", 0)),
                int(step.get("stop", 0)),
            )
            if fused:
                if stop or content != " ":
                    raise fail("only stripping leading spaces of the whole text is supported", step)
                strip += start
            else:  # per-token strip: applies to every token's own string
                items = [_strip(s, content, start, stop) for s in items]
        elif t == "Metaspace":
            if fused or as_bytes:
                raise fail("Metaspace after Fuse, ByteFallback or ByteLevel is not supported", step)
            repl = step.get("replacement", _SPM_SPACE)
            scheme = step.get("prepend_scheme")
            if scheme is None:
                scheme = "always" if step.get("add_prefix_space", True) else "never"
            saw_spm_space = True
            items = [s.replace(repl, " ") for s in items]
            if scheme != "never":
                strip = max(strip, 1)
        else:
            raise fail(
                f"decoder type {t!r} is not understood (supported: ByteLevel, Replace, "
                f"ByteFallback, Fuse, Strip, Metaspace)",
                step,
            )

    if saw_bytelevel:
        if saw_spm_space or saw_fallback:
            raise VocabularyError(
                "decoder mixes ByteLevel with SentencePiece steps; not understood"
            )
        kind = f"byte-level-{model_type.lower()}"
    elif saw_spm_space:
        if model_byte_fallback and not saw_fallback:
            raise VocabularyError(
                "the model uses byte fallback but the decoder has no ByteFallback "
                "step: <0xNN> tokens would have two meanings"
            )
        kind = "sentencepiece-byte-fallback" if saw_fallback else "sentencepiece"
    else:
        raise VocabularyError(
            f"decoder {[s.get('type') for s in steps]} is neither byte-level (ByteLevel) nor "
            f"SentencePiece (Replace '▁'->' ' or Metaspace): its token bytes are not understood"
        )
    tokens = (
        items if as_bytes else [s if isinstance(s, bytes) else s.encode("utf-8") for s in items]
    )
    return tokens, kind, strip


def _fallback_byte(s: Any) -> Any:
    """``<0xNN>`` -> the byte 0xNN (as the ByteFallback decoder does); other strings unchanged."""
    if isinstance(s, str) and len(s) == 6 and s.startswith("<0x"):
        m = _BYTE_FALLBACK.fullmatch(s)
        if m:
            return bytes((int(m.group(1), 16),))
    return s


def _strip(s: Any, content: str, start: int, stop: int) -> Any:
    c: Any = content if isinstance(s, str) else content.encode("utf-8")
    for _ in range(start):
        if s[: len(c)] == c:
            s = s[len(c) :]
        else:
            break
    for _ in range(stop):
        if s and s[-len(c) :] == c:
            s = s[: -len(c)]
        else:
            break
    return s


def _byte_level(strings: list[Any], added_text: set[int]) -> list[bytes]:
    """Map byte-level token strings to bytes, all at once.

    The strings are joined, translated through the byte table (one character per
    byte) and cut back at the same offsets.  As in the ``ByteLevel`` decoder, a
    string with a character outside the table is taken as raw UTF-8, which we allow
    only for added tokens.
    """
    if set(map(type, strings)) - {str}:  # pragma: no cover - guarded by the caller
        raise VocabularyError("ByteLevel applied to non-string tokens")
    raw: dict[int, bytes] = {}
    joined = "".join(strings)
    if not _U2B_CHARS.issuperset(joined):
        bad = [i for i, s in enumerate(strings) if not _U2B_CHARS.issuperset(s)]
        wrong = [i for i in bad if i not in added_text]
        if wrong:
            examples = ", ".join(f"{i}: {strings[i]!r}" for i in wrong[:5])
            raise VocabularyError(
                f"{len(wrong)} byte-level token(s) contain characters outside the GPT-2 byte "
                f"alphabet, so their bytes are not representable (ids {examples})"
            )
        for i in bad:
            raw[i] = strings[i].encode("utf-8")
        strings = ["" if i in raw else s for i, s in enumerate(strings)]
        joined = "".join(strings)
    data = joined.translate(_TRANSLATE).encode("latin-1")
    ends = list(accumulate(map(len, strings)))
    starts = [0] + ends[:-1]
    out = [data[a:b] for a, b in zip(starts, ends)]
    for i, b in raw.items():
        out[i] = b
    return out
