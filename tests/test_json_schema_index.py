"""The schema document's index (``SchemaDocument._index``): every sub-schema's base URI, path
and anchors, found without recursion, in document order, and a bound on nesting."""

from __future__ import annotations

import sys

import pytest

from decoder import Grammar
from decoder.errors import SchemaLimitError
from decoder.grammar.json_schema.schema import MAX_INDEX_DEPTH, SchemaDocument


def _deep_items(depth: int, leaf=None):
    node = leaf if leaf is not None else {"type": "integer"}
    for _ in range(depth):
        node = {"type": "array", "items": node}
    return node


def test_a_deep_document_is_indexed_without_recursion():
    """1,500 nested sub-schemas under a recursion limit of 300: the recursive index raised
    RecursionError (and at 100,000 deep held gigabytes of paths before it did)."""
    leaf = {"$anchor": "bottom", "type": "string"}
    root = {"$defs": {"d": _deep_items(1500, leaf)}, "$ref": "#bottom"}
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(300)
    try:
        doc = SchemaDocument(root)
    finally:
        sys.setrecursionlimit(old)
    assert doc.path_of[id(leaf)] == "/$defs/d" + "/items" * 1500
    target, _, path = doc.resolve("#bottom", doc.base(root), "")
    assert target is leaf and path.endswith("/items")


def test_preorder_first_dynamic_anchor_wins():
    """Two equal dynamic anchors: the first in document order is the one kept (the
    recursive index's order: a sub-schema's whole subtree before its next sibling)."""
    first = {"$dynamicAnchor": "a", "type": "integer"}
    second = {"$dynamicAnchor": "a", "type": "string"}
    root = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "properties": {"p": {"items": first}, "q": second},
    }
    doc = SchemaDocument(root)
    assert [v for v in doc.anchors.values()] == [first]
    assert doc.path_of[id(first)] == "/properties/p/items"
    assert doc.path_of[id(second)] == "/properties/q"


def test_nesting_past_the_bound_is_a_limit_error_naming_where():
    root = {"$defs": {"d": _deep_items(MAX_INDEX_DEPTH + 5)}, "type": "integer"}
    with pytest.raises(SchemaLimitError, match=f"more than {MAX_INDEX_DEPTH} levels") as e:
        Grammar.from_json_schema(root)
    assert e.value.limit == "max_depth"
    assert e.value.path.startswith("/$defs/d/items/items")
    # below the bound, a deep definition nobody uses compiles
    Grammar.from_json_schema({"$defs": {"d": _deep_items(MAX_INDEX_DEPTH - 5)}, "type": "integer"})
