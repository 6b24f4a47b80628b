"""Token bitmasks: allocate them, and apply them to logits in one vectorised op.

A bitmask has one int32 word per 32 tokens: bit ``i % 32`` of word ``i // 32``
is set when token ``i`` is allowed.  A batch is a 2-D array ``[rows, words]``;
a row of all ``-1`` (every bit set) means "unconstrained".  The engine
(``Matcher.compute_mask`` / ``decoder.fill_masks``) writes these words; this
module turns them into ``-inf`` on the logits of the disallowed tokens.

Widths need not agree.  The mask covers ``words * 32`` ids, the logits cover
the model's vocabulary ``V``:

* bits for ids ``>= V`` are ignored (the mask was rounded up to 32, or built
  for a larger vocabulary);
* logits for ids ``>= words * 32`` are set to ``-inf`` (no bit says they are
  allowed).

Applying a mask unpacks the words on the fly (no ``[rows, V]`` boolean tensor is
kept between steps).  On the CPU the complement of the words is unpacked with
``numpy.unpackbits`` (about 10 us for 49k ids) and handed to ``masked_fill_``
without a copy; on an accelerator the words are viewed as bytes and each byte
indexes a ``[256, 8]`` table of bits on the device.  Little-endian byte order is assumed (x86, ARM),
and the table is built so that bit ``j`` of byte ``k`` of word ``w`` is token
``32*w + 8*k + j``.

>>> import torch
>>> logits = torch.zeros(1, 40)
>>> mask = allocate_bitmask(1, 40)          # all -1: everything allowed
>>> mask[0, :] = 0; mask[0, 0] = 0b101      # allow tokens 0 and 2 only
>>> apply_mask(logits, mask)[0, :4].tolist()
[0.0, -inf, 0.0, -inf]
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal, overload

import numpy as np

if TYPE_CHECKING:
    from typing import TypeAlias

    import numpy.typing as npt
    import torch

    _NumpyMask: TypeAlias = "npt.NDArray[np.int32]"
    # a bitmask as this module accepts it: an int32 torch tensor or numpy array
    _Mask: TypeAlias = "torch.Tensor | _NumpyMask"

__all__ = [
    "allocate_bitmask",
    "apply_mask",
    "apply_mask_numpy",
    "bitmask_words",
    "unpack_bitmask",
    "allowed_ids",
    "fill_masks",
]

if sys.byteorder != "little":  # pragma: no cover - no big-endian CI
    raise ImportError("decoder.masking assumes a little-endian machine")


def bitmask_words(vocab_size: int) -> int:
    """Number of int32 words for ``vocab_size`` tokens: ``ceil(vocab_size / 32)``."""
    return (int(vocab_size) + 31) // 32


@overload
def allocate_bitmask(
    rows: int, vocab_size: int, backend: Literal["torch"] = ..., pin_memory: bool = ...
) -> torch.Tensor: ...
@overload
def allocate_bitmask(
    rows: int, vocab_size: int, backend: Literal["numpy"], pin_memory: bool = ...
) -> _NumpyMask: ...
@overload
def allocate_bitmask(
    rows: int, vocab_size: int, backend: str, pin_memory: bool = ...
) -> torch.Tensor | _NumpyMask: ...
def allocate_bitmask(
    rows: int, vocab_size: int, backend: str = "torch", pin_memory: bool = False
) -> torch.Tensor | _NumpyMask:
    """A ``[rows, ceil(vocab_size/32)]`` int32 buffer filled with -1 (unconstrained).

    ``backend`` is ``"torch"`` (a CPU tensor, pinned when ``pin_memory`` and CUDA
    is available, for fast non-blocking copies to the GPU) or ``"numpy"``.
    """
    words = bitmask_words(vocab_size)
    if backend == "numpy":
        return np.full((rows, words), -1, dtype=np.int32)
    if backend != "torch":
        raise ValueError(f"backend must be 'torch' or 'numpy', not {backend!r}")
    import torch

    pin = bool(pin_memory) and torch.cuda.is_available()
    return torch.full((rows, words), -1, dtype=torch.int32, pin_memory=pin)


# ------------------------------------------------------------------ torch
_TABLES: dict[str, torch.Tensor] = {}


def _bit_table(device: torch.device) -> torch.Tensor:
    """[256, 8] bool: row b holds the 8 bits of byte b, least significant first."""
    import torch

    key = str(device)
    t = _TABLES.get(key)
    if t is None:
        b = torch.arange(256, dtype=torch.int32)
        t = ((b[:, None] >> torch.arange(8, dtype=torch.int32)[None, :]) & 1).bool().to(device)
        _TABLES[key] = t
    return t


def _as_torch_mask(mask: _Mask, device: torch.device) -> torch.Tensor:
    import torch

    if isinstance(mask, np.ndarray):
        mask = torch.from_numpy(np.ascontiguousarray(mask))
    if mask.dtype != torch.int32:
        raise TypeError(f"a bitmask must be int32, got {mask.dtype}")
    if mask.device != device:
        mask = mask.to(device, non_blocking=True)
    return mask


def unpack_bitmask(mask: _Mask, vocab_size: int | None = None) -> torch.Tensor:
    """The boolean ``[rows, vocab_size]`` tensor (``True`` = allowed) of a 2-D int32 bitmask.

    ``vocab_size`` defaults to ``words * 32``; ids past the mask come out ``False``.
    """
    import torch

    mask = _as_torch_mask(
        mask, mask.device if isinstance(mask, torch.Tensor) else torch.device("cpu")
    )
    squeeze = mask.dim() == 1
    if squeeze:
        mask = mask[None]
    rows, words = mask.shape
    width = words * 32
    allowed = _bit_table(mask.device)[mask.contiguous().view(torch.uint8).long()].view(rows, width)
    if vocab_size is not None:
        if vocab_size <= width:
            allowed = allowed[:, :vocab_size]
        else:
            allowed = torch.cat([allowed, allowed.new_zeros(rows, vocab_size - width)], dim=1)
    return allowed[0] if squeeze else allowed


@overload
def apply_mask(logits: np.ndarray, mask: _Mask, fill_value: float = ...) -> np.ndarray: ...
@overload
def apply_mask(logits: torch.Tensor, mask: _Mask, fill_value: float = ...) -> torch.Tensor: ...
def apply_mask(
    logits: torch.Tensor | np.ndarray, mask: _Mask, fill_value: float = float("-inf")
) -> torch.Tensor | np.ndarray:
    """Set ``logits[r, i] = -inf`` wherever bit ``i`` of ``mask[r]`` is clear; in place, returned.

    ``logits``: a ``[rows, V]`` (or ``[V]``) float torch tensor on any device, or a
    numpy array (then :func:`apply_mask_numpy` runs).  ``mask``: int32 ``[rows, words]``
    (or ``[words]``), torch or numpy; moved to the logits' device when needed.
    """
    if isinstance(logits, np.ndarray):
        return apply_mask_numpy(logits, mask, fill_value)
    import torch

    mask = _as_torch_mask(mask, logits.device)
    squeeze = logits.dim() == 1
    lg = logits[None] if squeeze else logits
    m = mask[None] if mask.dim() == 1 else mask
    if lg.dim() != 2 or m.dim() != 2 or m.shape[0] != lg.shape[0]:
        raise ValueError(
            f"logits {tuple(logits.shape)} and mask {tuple(mask.shape)} do not match: "
            "expected [rows, V] and [rows, ceil(V/32)]"
        )
    rows, vocab = lg.shape
    words = min(m.shape[1], (vocab + 31) // 32)
    n = min(vocab, words * 32)
    if lg.device.type == "cpu":
        # numpy's unpackbits is the fastest unpacker on a CPU (~10 us for 49k ids);
        # unpack the complement so the result is directly the "disallowed" mask.
        inv = np.invert(m[:, :words].numpy())
        dis = np.unpackbits(inv.view(np.uint8), axis=1, bitorder="little").view(np.bool_)[:, :n]
        if lg.dtype in (torch.float32, torch.float64) and not lg.requires_grad:
            # numpy writes through the tensor's memory on one thread: no OpenMP
            # fork/join, which costs milliseconds on a loaded machine
            np.copyto(lg.numpy()[:, :n], fill_value, where=dis)
        else:
            lg[:, :n].masked_fill_(torch.from_numpy(dis), fill_value)
        if n < vocab:
            lg[:, n:] = fill_value
        return logits
    bits = _bit_table(lg.device)[m[:, :words].contiguous().view(torch.uint8).long()]
    allowed = bits.view(rows, words * 32)[:, :n]
    lg[:, :n].masked_fill_(~allowed, fill_value)
    if n < vocab:
        lg[:, n:] = fill_value
    return logits


# ------------------------------------------------------------------ numpy
def apply_mask_numpy(
    logits: np.ndarray, mask: _Mask, fill_value: float = float("-inf")
) -> np.ndarray:
    """:func:`apply_mask` for numpy logits (in place, returned)."""
    if not isinstance(mask, np.ndarray):
        mask = mask.cpu().numpy()
    if mask.dtype != np.int32:
        raise TypeError(f"a bitmask must be int32, got {mask.dtype}")
    squeeze = logits.ndim == 1
    lg = logits[None] if squeeze else logits
    m = mask[None] if mask.ndim == 1 else mask
    if lg.ndim != 2 or m.ndim != 2 or m.shape[0] != lg.shape[0]:
        raise ValueError(f"logits {logits.shape} and mask {mask.shape} do not match")
    rows, vocab = lg.shape
    words = min(m.shape[1], (vocab + 31) // 32)
    n = min(vocab, words * 32)
    allowed = np.unpackbits(
        np.ascontiguousarray(m[:, :words]).view(np.uint8), axis=1, bitorder="little"
    )[:, :n].astype(bool)
    sub = lg[:, :n]
    sub[~allowed] = fill_value
    if n < vocab:
        lg[:, n:] = fill_value
    return logits


def allowed_ids(mask_row: _Mask, vocab_size: int | None = None) -> list[int]:
    """The allowed token ids of one mask row (for tests and debugging)."""
    m = mask_row if isinstance(mask_row, np.ndarray) else mask_row.cpu().numpy()
    bits = np.unpackbits(np.ascontiguousarray(m, dtype=np.int32).view(np.uint8), bitorder="little")
    if vocab_size is not None:
        bits = bits[:vocab_size]
    ids: list[int] = np.flatnonzero(bits).tolist()
    return ids


def fill_masks(matchers: Sequence[Any], out2d: Any, threads: int | None = None) -> None:
    """Row ``i`` of ``out2d`` = mask of ``matchers[i]`` (``None``: all -1, unconstrained).

    Uses the engine's ``fill_masks`` (C++ threads, no GIL) when every matcher is an
    engine ``Matcher``; otherwise (Python matchers, compositions) ``compute_mask`` row by
    row.
    """
    from ._engine import Matcher as M
    from ._engine import fill_masks as native

    if all(m is None or type(m) is M for m in matchers):
        if threads is None:
            native(list(matchers), out2d)
        else:
            native(list(matchers), out2d, threads=int(threads))
        return
    for i, m in enumerate(matchers):
        if m is None:
            out2d[i] = -1
        else:
            m.compute_mask(out2d[i])
