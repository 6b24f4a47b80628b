"""Loading a JSON Schema document and resolving references inside it.

:func:`load_schema` accepts a dict (or bool), JSON text, a path, or a Pydantic
model class.  :class:`SchemaDocument` indexes the document once: every resource
(``$id``; ``id`` in draft 4), every ``$anchor`` (and draft-07's ``"$id": "#name"``),
and the base URI in force at each subschema, so :meth:`SchemaDocument.resolve`
follows ``$ref`` values that are JSON pointers, anchors, or ``$id``-relative URIs
inside the document.  References that leave the document raise
:class:`~decoder.errors.SchemaError` (nothing is fetched).

The draft comes from ``$schema``: 2020-12 by default; draft-07, -06, -04 and
2019-09 are recognised (the compiler reads both spellings of the keywords that
moved between drafts: ``items`` arrays with ``additionalItems``, ``definitions``,
``dependencies``; ``$ref`` siblings are ignored up to draft-07, as specified).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urldefrag, urljoin, urlparse

from ...errors import SchemaError, SchemaLimitError

DEFAULT_BASE = "https://decoder.invalid/schema.json"

#: keywords whose value is a subschema / a list / a map of subschemas
_SUB_ONE = (
    "additionalProperties",
    "additionalItems",
    "items",
    "contains",
    "not",
    "if",
    "then",
    "else",
    "propertyNames",
    "unevaluatedProperties",
    "unevaluatedItems",
)
_SUB_LIST = ("allOf", "anyOf", "oneOf", "prefixItems", "items")
_SUB_MAP = (
    "properties",
    "patternProperties",
    "$defs",
    "definitions",
    "dependentSchemas",
    "dependencies",
)

_SUB_ANY = frozenset(_SUB_ONE + _SUB_LIST + _SUB_MAP)
#: (keyword, kind: 0 map, 1 list, 2 one) in the order SchemaDocument._index pushes their
#: sub-schemas (last to first: maps, lists, single ones, each tuple reversed), and the same
#: entries by keyword ("items" has two: a list of schemas, or one schema)
_PUSH_ORDER = (
    tuple((k, 0) for k in _SUB_MAP[::-1])
    + tuple((k, 1) for k in _SUB_LIST[::-1])
    + tuple((k, 2) for k in _SUB_ONE[::-1])
)
_PUSH_OF = {k: tuple(e for e in _PUSH_ORDER if e[0] == k) for k in _SUB_ANY}


def _no_constant(name: str):
    raise SchemaError(f"schema is not valid JSON: {name} is not a JSON number", keyword="$schema")


#: one decoder for every schema text (json.loads with an argument builds a JSONDecoder per call)
_DECODER = json.JSONDecoder(parse_constant=_no_constant)


def _loads(text: str) -> Any:
    """json.loads without Python's extensions NaN, Infinity and -Infinity (not JSON)."""
    if text.startswith("\ufeff"):  # json.loads' own error for a text with a BOM
        return json.loads(text, parse_constant=_no_constant)
    return _DECODER.decode(text)


#: the deepest chain of nested sub-schemas indexed (the compiler refuses more than 400 nested
#: levels on any path it compiles; a document may nest deeper where it is not compiled)
MAX_INDEX_DEPTH = 2000

#: the largest schema text (UTF-8 bytes) parsed; refused before json.loads runs
MAX_SCHEMA_TEXT_BYTES = 8 << 20


def _too_large(size: int, max_text_bytes: int, what: str) -> None:
    if max_text_bytes and size > max_text_bytes:
        raise SchemaLimitError(
            f"the schema {what} has {size} bytes, more than the limit max_text_bytes="
            f"{max_text_bytes} (Grammar.from_json_schema(..., max_text_bytes=N) raises it)",
            limit="max_text_bytes",
            keyword="$schema",
        )


def _check_value_size(schema: Any, max_text_bytes: int) -> bool:
    """A schema given as a Python value has no text to measure: its distinct JSON values are
    counted instead, against the same limit (every JSON value takes at least two bytes of
    text, so ``max_text_bytes // 2`` values is what a text within the limit can hold). A
    sub-schema object shared by several places (a DAG, as generated schemas often are) counts
    once, as the compiler's memo sees it. A structure that contains itself is not JSON: a
    SchemaError, found in one walk instead of an endless one.

    Returns whether some dict of the value has a "$schema" of draft-04 or older (the walk
    visits every container the compiler's ``_embeds_old_draft`` would, and tuples too:
    False means that walk can be skipped)."""
    if not max_text_bytes:
        return True
    old_draft = False
    limit = max(1, max_text_bytes // 2)
    seen: set[int] = set()
    on_path: set[int] = set()
    n = 0
    stack: list[tuple[Any, bool]] = [(schema, False)]
    while stack:
        v, leaving = stack.pop()
        if leaving:
            on_path.discard(id(v))
            continue
        n += 1
        if n > limit:
            raise SchemaLimitError(
                f"the schema has more than {limit} JSON values, more than a text of "
                f"max_text_bytes={max_text_bytes} can hold (Grammar.from_json_schema(..., "
                f"max_text_bytes=N) raises it)",
                limit="max_text_bytes",
                keyword="$schema",
            )
        if isinstance(v, (dict, list, tuple)):
            if id(v) in on_path:
                raise SchemaError(
                    "the schema contains itself (a Python object cycle, which no JSON "
                    "text can write; use $ref for recursion)",
                    keyword="$schema",
                )
            if id(v) in seen:
                continue
            seen.add(id(v))
            on_path.add(id(v))
            stack.append((v, True))
            children = list(v.values()) if isinstance(v, dict) else list(v)
            if isinstance(v, dict):
                n += len(v)  # the keys
                d = v.get("$schema")
                if isinstance(d, str) and ("draft-04" in d or "draft-03" in d):
                    old_draft = True
            stack.extend((c, False) for c in children)
    return old_draft


def load_schema(schema: Any, max_text_bytes: int = MAX_SCHEMA_TEXT_BYTES) -> Any:
    """A schema as a Python value (dict or bool) from any accepted input; a text (or file)
    over ``max_text_bytes``, or a value with more JSON values than such a text can hold, is a
    SchemaLimitError (0: no limit)."""
    return load_schema_hinted(schema, max_text_bytes)[0]


def load_schema_hinted(
    schema: Any, max_text_bytes: int = MAX_SCHEMA_TEXT_BYTES
) -> tuple[Any, bool]:
    """``load_schema``, and whether the document may have a "$schema" of draft-04 or older
    somewhere (False only where the loading saw that it has none: JSON text without
    "draft-0" and without ``\\u`` escapes, whose short escapes write none of those
    characters; a dict whose size walk found none)."""
    if isinstance(schema, (dict, bool)):
        if isinstance(schema, dict):
            return schema, _check_value_size(schema, max_text_bytes)
        return schema, False
    if isinstance(schema, str):
        s = schema.strip()
        if s.startswith("{") and "draft-0" not in s and "\\u" not in s:
            return _load(schema, max_text_bytes), False
    return _load(schema, max_text_bytes), True


def _load(schema: Any, max_text_bytes: int) -> Any:
    if isinstance(schema, (dict, bool)):
        if isinstance(schema, dict):
            _check_value_size(schema, max_text_bytes)
        return schema
    if isinstance(schema, type):
        fn = getattr(schema, "model_json_schema", None)
        if fn is not None:  # pydantic v2 model class
            return fn()
        fn = getattr(schema, "schema", None)
        if fn is not None:  # pydantic v1
            return fn()
        raise SchemaError(
            f"cannot take a JSON schema from class {schema.__name__}", keyword="$schema"
        )
    if isinstance(schema, Path):
        return _load_file(schema, max_text_bytes)
    if isinstance(schema, (bytes, bytearray)):
        _too_large(len(schema), max_text_bytes, "text")
        schema = schema.decode("utf-8-sig")  # (a leading byte order mark is not the schema's)
    if isinstance(schema, str):
        if max_text_bytes and len(schema) > max_text_bytes // 4:
            _too_large(len(schema.encode("utf-8", "surrogatepass")), max_text_bytes, "text")
        s = schema.strip().removeprefix("\ufeff")
        if s.startswith("{") or s in ("true", "false"):
            try:
                return _loads(s)
            except json.JSONDecodeError as e:
                raise SchemaError(f"schema is not valid JSON: {e}", keyword="$schema") from None
        if os.path.exists(schema):
            return _load_file(Path(schema), max_text_bytes)
        raise SchemaError("schema string is neither JSON nor an existing path", keyword="$schema")
    raise SchemaError(f"cannot use a {type(schema).__name__} as a JSON schema", keyword="$schema")


def _load_file(path: Path, max_text_bytes: int) -> Any:
    """A schema file's JSON: UTF-8, with or without a byte order mark (RFC 8259 lets a parser
    ignore one, and editors write it); a file that is not UTF-8 or not JSON is a SchemaError
    naming the file and where it went wrong."""
    _too_large(os.path.getsize(path), max_text_bytes, f"file {path}")
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise SchemaError(
            f"schema file {path} is not UTF-8 text: byte {e.start} ({e.reason})",
            keyword="$schema",
        ) from None
    try:
        return _loads(text)
    except json.JSONDecodeError as e:
        raise SchemaError(f"schema file {path} is not valid JSON: {e}", keyword="$schema") from None


def detect_draft(root: Any) -> int:
    """7 for draft-07 and older-style documents, 2019 / 2020 otherwise; 4 and 6 too."""
    s = root.get("$schema") if isinstance(root, dict) else None
    if not isinstance(s, str):
        return 2020
    if "draft-04" in s:
        return 4
    if "draft-06" in s:
        return 6
    if "draft-07" in s:
        return 7
    if "2019-09" in s:
        return 2019
    if "draft-03" in s:
        return 3
    return 2020


def join_uri(base: str, ref: str, keyword: str = "$ref", path: str = "") -> str:
    """``ref`` resolved against ``base`` (RFC 3986), also for bases without a hierarchical
    part, which :func:`urljoin` leaves out: ``urn:uuid:...`` plus ``#/$defs/a`` is the URN
    with that fragment (urljoin returns the bare fragment). A reference urllib cannot parse
    (``http://e]x``: "Invalid IPv6 URL") is a SchemaError naming ``keyword`` at ``path``."""
    if ref.startswith("#"):
        return urldefrag(base)[0] + ref
    try:
        return urljoin(base, ref)
    except ValueError as e:
        raise SchemaError(
            f"{keyword} {ref!r} at {path or '/'} is not a URI reference ({e})",
            path=path,
            keyword=keyword,
        ) from None


def _escape_ptr(s: str) -> str:
    return s.replace("~", "~0").replace("/", "~1")


class SchemaDocument:
    """One schema document with its resources, anchors and base URIs indexed."""

    def __init__(self, root: Any, draft: int | None = None, check=None, remotes=None) -> None:
        self._check = check  # check(path) every 1024 nodes indexed: the compile deadline
        remote_docs = []
        for url, d in (remotes or {}).items():
            if not isinstance(url, str) or not urlparse(url).scheme:
                raise SchemaError(
                    f"remotes: {url!r} is not an absolute URI", keyword="$ref", path=""
                )
            remote_docs.append((urldefrag(url)[0], load_schema(d)))
        self._count = 0
        self.root = root
        self.draft = draft or detect_draft(root)
        self.resources: dict[str, Any] = {}
        self.anchors: dict[tuple[str, str], Any] = {}
        self.base_of: dict[int, str] = {}
        self.path_of: dict[int, str] = {}
        self._keep: list = []
        self._resolved: dict[tuple[str, str], tuple[Any, str, str]] = {}
        self._index(root, DEFAULT_BASE, "")
        self.resources.setdefault(DEFAULT_BASE, root)
        # documents a $ref may name by absolute URI (nothing is fetched), indexed up front
        # so that their anchors and dynamic anchors take part in resolution
        for url, d in remote_docs:
            self._keep.append(d)
            self._index(d, url, f"{url}#")
            self.resources.setdefault(url, d)

    # ------------------------------------------------------------ indexing
    def _id_keyword(self) -> str:
        return "id" if self.draft <= 4 else "$id"

    def _index(self, root: Any, base: str, path: str) -> None:
        """Record the base URI, JSON path, ids and anchors of every sub-schema under ``root``,
        in document order (preorder: the first of two equal dynamic anchors wins). An explicit
        stack, not recursion, and a bound on nesting: every sub-schema's path is kept, so a
        chain N deep holds N^2/2 path characters (a 100,000-deep dict took gigabytes and
        seconds before Python's recursion limit stopped it)."""
        id_kw = self._id_keyword()
        old_ids = self.draft <= 7
        named = frozenset((id_kw, "$anchor", "$dynamicAnchor"))
        base_of, path_of = self.base_of, self.path_of
        check, count = self._check, self._count
        stack: list[tuple[Any, str, str, int]] = [(root, base, path, 0)]
        pop, push = stack.pop, stack.append
        while stack:
            node, base, path, depth = pop()
            if not isinstance(node, dict):
                continue
            count += 1
            if check is not None and not count & 1023:
                self._count = count
                check(path)
            nid = id(node)
            if base_of.get(nid) == base:
                # a sub-dict shared by several parents (a DAG built in Python): indexing it
                # again under the same base finds nothing new and would take exponential time
                continue
            base_of[nid] = base  # (the final base: written again below where an id moves it)
            path_of[nid] = path
            subs = _SUB_ANY.intersection(node)
            if named.isdisjoint(node):  # no id or anchor (most sub-schemas)
                if not subs:
                    continue  # a leaf schema (most are): no sub-schema keyword to look up
            else:
                base = self._index_names(node, base, path, id_kw, old_ids)
                base_of[nid] = base
                if not subs:
                    continue
            if depth == MAX_INDEX_DEPTH:
                raise SchemaLimitError(
                    f"the schema nests sub-schemas more than {MAX_INDEX_DEPTH} levels deep "
                    f"(at {path[:200]}...)",
                    limit="max_depth",
                    path=path,
                    keyword="$schema",
                )
            # pushed last to first, so that the first sub-schema is popped (indexed) first
            depth += 1
            for k, kind in (
                _PUSH_OF[next(iter(subs))]
                if len(subs) == 1
                else [e for e in _PUSH_ORDER if e[0] in subs]
            ):
                v = node[k]
                if kind == 0:
                    if isinstance(v, dict):
                        for name, s in reversed(v.items()):
                            if "~" in name or "/" in name:
                                name = _escape_ptr(name)
                            push((s, base, f"{path}/{k}/{name}", depth))
                elif kind == 1:
                    if isinstance(v, list):
                        for i in range(len(v) - 1, -1, -1):
                            push((v[i], base, f"{path}/{k}/{i}", depth))
                elif isinstance(v, dict):
                    push((v, base, f"{path}/{k}", depth))
        self._count = count

    def _index_names(self, node: dict, base: str, path: str, id_kw: str, old_ids: bool) -> str:
        """Record ``node``'s id and anchors (``_index``); its base URI (its id may move it)."""
        anchors = self.anchors
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
        return base

    def base(self, node: Any, default: str = DEFAULT_BASE) -> str:
        return self.base_of.get(id(node), default)

    # ------------------------------------------------------------ resolution
    def resolve(self, ref: str, base: str, path: str) -> tuple[Any, str, str]:
        """(target schema, its base URI, its JSON path) of ``$ref`` seen at ``path``. A
        function of ``ref`` and ``base`` alone once the document is indexed (the path only
        names the use site in errors): successes are remembered, a schema with hundreds of
        use sites of a few definitions joins and splits their URIs once."""
        got = self._resolved.get((ref, base))
        if got is not None:
            return got
        got = self._resolve(ref, base, path)
        self._resolved[(ref, base)] = got
        return got

    def _resolve(self, ref: str, base: str, path: str) -> tuple[Any, str, str]:
        full = join_uri(base, ref, "$ref", path)
        url, frag = urldefrag(full)
        doc = self.resources.get(url)
        if doc is None:
            raise SchemaError(
                f"$ref {ref!r} at {path or '/'} points outside the document "
                f"(remote references are not fetched; pass the document in remotes=)",
                path=path,
                keyword="$ref",
            )
        if not frag:
            return doc, url, self.path_of.get(id(doc), "")
        if frag.startswith("/"):
            node = doc
            cur_base = url
            for tok in frag[1:].split("/"):
                tok = unquote(tok).replace("~1", "/").replace("~0", "~")
                if isinstance(node, dict) and tok in node:
                    node = node[tok]
                elif isinstance(node, list) and tok.isdigit() and int(tok) < len(node):
                    node = node[int(tok)]
                else:
                    raise SchemaError(
                        f"$ref {ref!r} at {path or '/'} does not resolve", path=path, keyword="$ref"
                    )
                cur_base = self.base_of.get(id(node), cur_base)
            return node, cur_base, self.path_of.get(id(node), "#" + frag)
        node = self.anchors.get((url, frag))
        if node is None:
            raise SchemaError(
                f"$ref {ref!r} at {path or '/'}: no anchor {frag!r}", path=path, keyword="$ref"
            )
        return node, self.base_of.get(id(node), url), self.path_of.get(id(node), "")
