"""Session 16's front-end cuts (docs/optimizations.md, issue 23), each against the code it
replaced: ``Part.live`` (the keywords a part still asserts, built once) behind ``has``/``get``
and ``_inert``; ``Compiler._types_of`` of one name from a table; ``SchemaDocument._index``
(one set intersection for the sub-schema keywords, ids and anchors read only where present)
against the previous per-keyword indexer, over crafted documents and JSONSchemaBench; and the
regexes kept as one object across compiles (``ir.lit``'s memo, ``compiler._ws_regex``)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urldefrag

import pytest
from json_schema_util import bench_sample

from decoder import Grammar
from decoder.errors import SchemaError, SchemaLimitError
from decoder.grammar import ir
from decoder.grammar.ir import EMPTY, alt, cat, cps, lit, rep
from decoder.grammar.json_schema import compiler, schema
from decoder.grammar.json_schema.compiler import _INERT, ALL_TYPES, Compiler, Part, _inert
from decoder.grammar.json_schema.schema import (
    _SUB_LIST,
    _SUB_MAP,
    _SUB_ONE,
    MAX_INDEX_DEPTH,
    SchemaDocument,
    _escape_ptr,
    join_uri,
)

# ------------------------------------------------------------------ Part.live


NODES: list[Any] = [
    True,
    False,
    {},
    {"type": "string"},
    {"title": "t", "$ref": "#/x", "allOf": [{}]},
    {"anyOf": [{}], "type": "integer", "description": "d"},
    {"$defs": {}, "examples": [], "$comment": "c"},
    {"$ref": "#/a", "title": "only annotations besides the reference"},
]
SKIPS = [
    frozenset(),
    frozenset({"$ref"}),
    frozenset({"allOf", "anyOf"}),
    frozenset({"type", "title"}),
    frozenset({"nothing-there"}),
]
KWS = sorted({k for n in NODES if isinstance(n, dict) for k in n} | {"enum", "not"})


def _old_has(p: Part, kw: str) -> bool:  # Part.has before session 16
    return isinstance(p.node, dict) and kw in p.node and kw not in p.skip


def _old_inert(p: Part) -> bool:  # _inert before session 16
    n = p.node
    if n is True:
        return True
    if not isinstance(n, dict):
        return False
    return all(kw in _INERT or kw in p.skip for kw in n)


@pytest.mark.parametrize("node", NODES, ids=range(len(NODES)))
def test_part_live_is_what_has_said(node):
    for skip in SKIPS:
        for p in (Part(node, "b", "/p", skip), Part(node, "b", "/p").without(*skip)):
            for kw in KWS:
                want = _old_has(p, kw)
                assert p.has(kw) is want and (kw in p.live) is want, (node, skip, kw)
                assert p.get(kw, "default") == (node[kw] if want else "default")
            assert _inert(p) is _old_inert(p), (node, skip)
            if isinstance(node, dict):
                assert p.live == {k: v for k, v in node.items() if k not in skip}
                if not skip:
                    assert p.live is node  # nothing skipped: no copy
                else:
                    assert node == NODES[NODES.index(node)]  # the node itself untouched
            else:
                assert p.live == {}
            q = p.without("type")
            assert "type" not in q.live and q.has("type") is False
            s = p.sub({"minimum": 1}, "items")
            assert s.live == {"minimum": 1} and s.path == "/p/items"


def test_types_of_one_name_is_the_list_reading():
    c = Compiler(SchemaDocument({}))
    for name in ("null", "boolean", "integer", "number", "fraction", "string", "array"):
        assert c._types_of(name) == c._types_of([name]) == compiler._TYPE_NAMES[name]
    assert c._types_of("object") == {"object"}
    assert c._types_of("any") == c._types_of(["any"]) == ALL_TYPES
    assert c._types_of(["number", "string"]) == {"integer", "fraction", "string"}
    with pytest.raises(SchemaError, match="unknown type 'strin'"):
        c._types_of("strin")
    with pytest.raises(SchemaError, match="must be a type name"):
        c._types_of(3)


# ------------------------------------------------------------------ SchemaDocument._index


class _OldIndexDoc(SchemaDocument):
    """SchemaDocument with the indexer before session 16 (a ``get`` per keyword per node)."""

    def _index(self, root: Any, base: str, path: str) -> None:
        id_kw = self._id_keyword()
        old_ids = self.draft <= 7
        base_of, path_of, anchors = self.base_of, self.path_of, self.anchors
        stack: list = [(root, base, path, 0)]
        pop, push = stack.pop, stack.append
        while stack:
            node, base, path, depth = pop()
            if not isinstance(node, dict):
                continue
            self._count += 1
            if self._check is not None and not self._count & 1023:
                self._check(path)
            if base_of.get(id(node)) == base:
                continue
            idv = node.get(id_kw)
            if isinstance(idv, str) and not ("$ref" in node and old_ids):
                if idv.startswith("#") and old_ids:
                    anchors[(urldefrag(base)[0], idv[1:])] = node
                else:
                    new = join_uri(base, idv, id_kw, path)
                    url, frag = urldefrag(new)
                    base = url
                    self.resources.setdefault(url, node)
                    if frag and old_ids:
                        anchors[(url, frag)] = node
            anc = node.get("$anchor")
            if isinstance(anc, str):
                anchors[(urldefrag(base)[0], anc)] = node
            danc = node.get("$dynamicAnchor")
            if isinstance(danc, str):
                anchors.setdefault((urldefrag(base)[0], danc), node)
            base_of[id(node)] = base
            path_of[id(node)] = path
            if schema._SUB_ANY.isdisjoint(node):
                continue
            if depth == MAX_INDEX_DEPTH:
                raise SchemaLimitError("too deep", limit="max_depth", path=path)
            depth += 1
            for k in _SUB_MAP[::-1]:
                v = node.get(k)
                if isinstance(v, dict):
                    for name, s in reversed(v.items()):
                        push((s, base, f"{path}/{k}/{_escape_ptr(name)}", depth))
            for k in _SUB_LIST[::-1]:
                v = node.get(k)
                if isinstance(v, list):
                    for i in range(len(v) - 1, -1, -1):
                        push((v[i], base, f"{path}/{k}/{i}", depth))
            for k in _SUB_ONE[::-1]:
                v = node.get(k)
                if isinstance(v, dict):
                    push((v, base, f"{path}/{k}", depth))


def _index_of(cls, root, **kw):
    """What a document's index holds, in insertion order, with the nodes by identity; or
    the error the indexing raised."""
    try:
        d = cls(root, **kw)
    except (SchemaError, SchemaLimitError) as e:
        return f"{type(e).__name__}: {e}"
    return (
        list(d.base_of.items()),
        list(d.path_of.items()),
        [(k, id(v)) for k, v in d.anchors.items()],
        [(k, id(v)) for k, v in d.resources.items()],
        d._count,
    )


_SHARED = {"type": "string", "$anchor": "shared"}
CRAFTED: list[Any] = [
    {
        "$id": "https://e.x/root.json",
        "properties": {
            "a/b": {"$id": "sub/a.json", "items": [{"$anchor": "first"}, {"type": "null"}]},
            "c~d": {"items": {"$dynamicAnchor": "dyn", "properties": {"x": {}}}},
            "e~1f/": {"additionalProperties": {"$anchor": "deep"}, "not": {"minimum": 0}},
        },
        "patternProperties": {"^p": {"$ref": "#first"}},
        "allOf": [{"$id": "#legacy"}, {"anyOf": [{"$anchor": "a1"}, {"$anchor": "a1"}]}],
        "$defs": {"s1": _SHARED, "s2": _SHARED, "bad": 3, "list": [1, {}]},
        "if": {"required": ["x"]},
        "then": {"prefixItems": [{}, {"$dynamicAnchor": "dyn"}], "contains": {}},
        "else": {"dependentSchemas": {"x": {"$id": "dep.json"}}},
        "items": {"unevaluatedProperties": {"$anchor": "ue"}, "propertyNames": {}},
    },
    {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "$id": "http://e.x/d7",
        "definitions": {"a": {"$id": "#frag", "type": "integer"}, "b": {"$ref": "#frag"}},
        "dependencies": {"a": {"$id": "other.json#withfrag"}, "b": ["a"]},
        "items": [{"additionalItems": {"$id": "#x"}}],
        "oneOf": [True, False, {"$ref": "#/definitions/a", "$id": "ignored-beside-ref"}],
    },
    {
        "$schema": "http://json-schema.org/draft-04/schema#",
        "id": "http://e.x/d4",
        "properties": {"q": {"id": "#q"}, "r": {"$id": "not-an-id-in-draft-4"}},
    },
    {"$id": "http://e]x", "type": "object"},  # not a URI: the same SchemaError
    {"properties": {"p": {"$id": "http://e]x"}}},
    True,
    [1, 2],
]


@pytest.mark.parametrize("root", CRAFTED, ids=range(len(CRAFTED)))
def test_index_equals_the_previous_indexer(root):
    assert _index_of(SchemaDocument, root) == _index_of(_OldIndexDoc, root)
    remotes = {"https://r.x/one.json": {"$defs": {"k~/": {"$anchor": "ra"}}}}
    assert _index_of(SchemaDocument, root, remotes=remotes) == _index_of(
        _OldIndexDoc, root, remotes=remotes
    )


def test_index_counts_for_the_deadline_alike():
    """``check(path)`` at every 1024th node, across the root and the remote documents."""
    root = {"properties": {f"p{i}": {"items": {"type": "integer"}} for i in range(1500)}}
    remotes = {"https://r.x/a.json": {"$defs": {f"d{i}": {} for i in range(700)}}}
    seen: dict = {SchemaDocument: [], _OldIndexDoc: []}
    for cls in seen:
        cls(root, check=seen[cls].append, remotes=remotes)
    assert seen[SchemaDocument] == seen[_OldIndexDoc] and len(seen[SchemaDocument]) == 3


def test_index_nesting_bound_alike():
    node: Any = {"type": "integer"}
    for i in range(MAX_INDEX_DEPTH + 2):
        node = {"items": node} if i % 2 else {"properties": {"a/~": node}}
    with pytest.raises(SchemaLimitError) as new:
        SchemaDocument(node)
    with pytest.raises(SchemaLimitError) as old:
        _OldIndexDoc(node)
    assert new.value.path == old.value.path


def test_index_equals_the_previous_indexer_on_jsonschemabench():
    schemas = bench_sample(25, seed=16)
    if not schemas:
        pytest.skip("no ../shared/jsonschemabench")
    for s in schemas:
        root = json.loads(s) if isinstance(s, str) else s
        assert _index_of(SchemaDocument, root) == _index_of(_OldIndexDoc, root)
    assert len(schemas) >= 200


# ------------------------------------------------------------------ regexes kept as one object


def test_lit_is_one_object_per_short_string():
    for s in ("{", "null", ",", "é€😀", "x" * 64):
        assert lit(s) == ("bytes", s.encode("utf-8"))
        assert lit(s) is lit(s)
    assert lit("") is EMPTY
    long = "y" * 65  # longer strings are built every time, not kept
    assert lit(long) == ("bytes", long.encode()) and long not in ir._LITS
    assert lit(b"ab") == ("bytes", b"ab") and lit(bytearray(b"")) is EMPTY
    with pytest.raises(UnicodeEncodeError):
        lit("\ud800")
    assert "\ud800" not in ir._LITS


def test_lit_memo_is_bounded():
    for i in range(ir._LITS_MAX + 10):
        lit(f"bounded-{i}")
    assert len(ir._LITS) <= ir._LITS_MAX
    assert lit("bounded-3") == ("bytes", b"bounded-3")


@pytest.mark.parametrize("max_ws", [1, 2, 32])
def test_ws_regex_equals_a_fresh_build(max_ws):
    flexible = rep(cps([(0x20, 0x20), (0x09, 0x0A), (0x0D, 0x0D)]), 1, max_ws)
    pretty = alt(lit(" "), cat(lit("\n"), rep(lit(" "), 0, max_ws - 1)))
    assert compiler._ws_regex("flexible", max_ws) == flexible
    assert compiler._ws_regex("pretty", max_ws) == pretty
    assert compiler._ws_regex("flexible", max_ws) is compiler._ws_regex("flexible", max_ws)
    for ws, want in (("flexible", flexible), ("pretty", pretty)):
        g = Grammar.from_json_schema({"type": "integer"}, whitespace=ws, max_ws=max_ws).ir
        assert [g.lexemes[j].regex for j in g.ignore] == [want]
