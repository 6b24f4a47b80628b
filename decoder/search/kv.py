"""KV-cache bookkeeping for search: rows of a batch are hypotheses.

A search keeps one KV-cache row per live hypothesis.  Expanding hypotheses into
candidates gathers the parent rows along the batch dimension (each candidate gets
its parent's keys and values; the prefix is computed once, never again), and
keeping the best candidates gathers again.  Lookahead rollouts append positions
that are dropped afterwards.  Both are methods of ``transformers``' ``DynamicCache``
(``batch_select_indices``, ``crop``); the legacy tuple-of-tuples format is handled too.

The gather copies the prefix's keys/values per candidate row (memory traffic, not
compute).  Sharing the prefix without the copy would need an attention kernel that
reads a shared prefix plus per-row suffixes (cascade / prefix attention).
"""

from __future__ import annotations

from ..errors import DecoderError

__all__ = ["check_cache", "select_rows", "drop_last"]


def check_cache(cache) -> None:
    """Raise :class:`DecoderError` if rows of this cache cannot be gathered and cropped
    exactly (sliding-window or recurrent layers keep a state that cannot be cut back)."""
    if isinstance(cache, tuple):
        return
    if not (hasattr(cache, "batch_select_indices") and hasattr(cache, "crop")):
        raise DecoderError(
            f"search needs a KV cache whose rows can be gathered and cropped "
            f"(transformers DynamicCache); this model returned {type(cache).__name__}"
        )
    for layer in getattr(cache, "layers", ()):
        if getattr(layer, "is_sliding", False) or not getattr(layer, "is_croppable", True):
            raise DecoderError(
                f"search needs a KV cache that can be cropped; layer "
                f"{type(layer).__name__} (sliding window or recurrent) cannot be"
            )


def select_rows(cache, index):
    """Keep rows ``index`` (a 1-D LongTensor, repeats allowed) of the cache, in that order."""
    if isinstance(cache, tuple):
        return tuple(tuple(t.index_select(0, index) for t in layer) for layer in cache)
    cache.batch_select_indices(index)
    return cache


def drop_last(cache, n: int):
    """Drop the last ``n`` positions of every row."""
    if n <= 0:
        return cache
    if isinstance(cache, tuple):
        return tuple(tuple(t[..., :-n, :] for t in layer) for layer in cache)
    cache.crop(-n)
    return cache
