"""Regular expressions (Python ``re`` and ECMA-262 syntax) to the grammar IR.

:func:`parse_regex` turns a pattern into an IR regex node (see
:mod:`decoder.grammar.ir`); :func:`to_python_regex` turns a node back into a
Python pattern (for tests and debugging).

The IR describes a *language* (a set of strings), so only the regular part of
the regex world is accepted.  Everything that is not a regular language, or
that depends on context the IR cannot see, raises
:class:`decoder.errors.GrammarError` with the position and a caret: back
references, atomic groups, possessive quantifiers, word boundaries, and, where the
pattern is a lexer terminal (neither ``search`` nor ``whole``), lookarounds and
``^``/``$``/``\\A``/``\\Z`` anywhere but at the edges of the pattern (or of its
top-level alternatives).  Where the node's strings are the whole subject those are
zero-width assertions compiled exactly (:mod:`.lookaround`).  Lazy quantifiers are
accepted: they describe the same set of strings.

Character semantics follow the syntax:

* ``syntax="python"``: Python 3 ``str`` patterns.  ``\\d \\w \\s`` are Unicode
  aware (exactly the sets ``re`` uses; flag ``a`` makes them ASCII), ``.``
  excludes ``\\n``, ``$`` at the end also matches before a final ``\\n`` (only
  relevant with ``search=True``), and case-insensitive matching uses ``re``'s
  rule: ``c`` matches ``x`` when their simple lower-case forms are equal or are
  one of ``re``'s extra equivalents (``s``/``ſ``, ``k``/``K``, ``σ``/``ς`` ...).
* ``syntax="ecma"``: ECMA-262 as used by JSON Schema ``pattern``, with the
  ``u`` flag's semantics (patterns are over code points, ``\\u{...}``, surrogate
  pair escapes combine, ``\\p{...}`` for General_Category and ``Any``/``ASCII``/
  ``Assigned``).  ``\\d`` is ``[0-9]``, ``\\w`` is ``[A-Za-z0-9_]``, ``\\s`` is
  WhiteSpace + LineTerminator, ``.`` excludes ``\\n \\r \\u2028 \\u2029``, and
  case-insensitive matching uses simple case folding.

By default a pattern must match the whole string (as a Lark terminal does).
With ``search=True`` it may match anywhere (as JSON Schema ``pattern`` does):
unanchored ends are padded with "any code point" stars and ``^``/``$`` at the
edges become the anchors they are.

Unicode tables (``\\w``, case folding, general categories) are computed once,
lazily, from the running Python's Unicode database.
"""

from __future__ import annotations

import array
import bisect
import functools
import re as _re
import sys
import unicodedata

from .. import deadline as _deadline
from ..errors import GrammarError
from . import ir
from .regex_base import _ECMA_LT, ANY, ANY_RANGES, _make_error, regex_error

__all__ = ["parse_regex", "to_python_regex", "regex_error", "ANY"]

MAXREPEAT = 4294967295  # CPython's limit; bounds are kept symbolic in the IR
_HEX = frozenset("0123456789abcdefABCDEF")
_OCT = frozenset("01234567")
_DIGITS = frozenset("0123456789")
_PY_WS = frozenset(" \t\n\r\v\f")
_PY_ESCAPES = {"a": 7, "b": 8, "f": 12, "n": 10, "r": 13, "t": 9, "v": 11}
_ECMA_ESCAPES = {"f": 12, "n": 10, "r": 13, "t": 9, "v": 11}


# ---------------------------------------------------------------- range helpers
def _ranges_from_points(points) -> tuple:
    return ir.normalize_ranges((p, p) for p in points)


def _in_ranges(rs, c: int) -> bool:
    i = bisect.bisect_right(rs, (c, ir.MAX_CODEPOINT + 1)) - 1
    return i >= 0 and rs[i][0] <= c <= rs[i][1]


def _union(*sets) -> tuple:
    return ir.normalize_ranges([r for s in sets for r in s])


def _intersect(a, b) -> tuple:
    """The code points in both range sets: not (not a or not b)."""
    return ir.negate_ranges(
        _union(ir.negate_ranges(ir.normalize_ranges(a)), ir.negate_ranges(ir.normalize_ranges(b)))
    )


def _minus_points(rs, sorted_points) -> tuple:
    """``rs`` without the code points in ``sorted_points``."""
    out = []
    for a, b in rs:
        i = bisect.bisect_left(sorted_points, a)
        j = bisect.bisect_right(sorted_points, b)
        cur = a
        for p in sorted_points[i:j]:
            if p > cur:
                out.append((cur, p - 1))
            cur = p + 1
        if cur <= b:
            out.append((cur, b))
    return ir.normalize_ranges(out)


def _points_in(rs, sorted_points):
    for a, b in rs:
        i = bisect.bisect_left(sorted_points, a)
        j = bisect.bisect_right(sorted_points, b)
        yield from sorted_points[i:j]


# ---------------------------------------------------------------- Unicode tables
@functools.cache
def _all_chars() -> str:
    # Every code point, surrogates included, in order: decoded from UTF-32 in one call (a join
    # of 1.1 million chr() results took ~110 ms, charged to the first schema with \d \w \s).
    order = "utf-32-le" if sys.byteorder == "little" else "utf-32-be"
    code = "I" if array.array("I").itemsize == 4 else "L"  # 4-byte items: UTF-32 code units
    return array.array(code, range(sys.maxunicode + 1)).tobytes().decode(order, "surrogatepass")


@functools.cache
def _py_class(letter: str) -> tuple:
    """Exactly the code points Python's ``re`` puts in ``\\d``, ``\\w`` or ``\\s`` (str, Unicode):
    from the generated table (:mod:`.unicode_classes`) where its Unicode version is this
    Python's, else by scanning every code point (~130 ms for the three, once per process)."""
    from . import unicode_classes

    if unicodedata.unidata_version == unicode_classes.UNIDATA_VERSION:
        return unicode_classes.CLASSES[letter]
    return _scan_py_class(letter)


def _scan_py_class(letter: str) -> tuple:
    """``_py_class`` the long way: ``re`` itself over the string of all code points."""
    rx = _re.compile("[\\%s]+" % letter)
    return ir.normalize_ranges((m.start(), m.end() - 1) for m in rx.finditer(_all_chars()))


_ASCII_CLASSES = {
    "d": ((0x30, 0x39),),
    "w": ((0x30, 0x39), (0x41, 0x5A), (0x5F, 0x5F), (0x61, 0x7A)),
    "s": ((0x09, 0x0D), (0x20, 0x20)),  # Python's ASCII whitespace: \t\n\v\f\r and space
}


@functools.cache
def _general_categories() -> dict:
    table: dict[str, list] = {}
    cat = unicodedata.category
    prev: str | None = None
    start = 0
    for c in range(ir.MAX_CODEPOINT + 1):
        k = cat(chr(c))
        if k != prev:
            if prev is not None:
                table.setdefault(prev, []).append((start, c - 1))
            prev, start = k, c
    if prev is None:  # pragma: no cover - the loop above always runs
        raise AssertionError("no Unicode general category read")
    table.setdefault(prev, []).append((start, ir.MAX_CODEPOINT))
    return {k: tuple(v) for k, v in table.items()}


@functools.cache
def _space_separators() -> tuple:
    """The code points of general category Zs. Every one is ``str.isspace`` (Python's
    definition of whitespace includes category Zs), so only the few code points of Python's
    ``\\s`` are looked up rather than the whole table (~80 ms)."""
    cat = unicodedata.category
    return ir.normalize_ranges(
        (c, c) for a, b in _py_class("s") for c in range(a, b + 1) if cat(chr(c)) == "Zs"
    )


@functools.cache
def _ecma_space() -> tuple:
    zs = _space_separators()
    return _union(
        zs, ((9, 9), (0x0B, 0x0C), (0x20, 0x20), (0xA0, 0xA0), (0xFEFF, 0xFEFF)), _ECMA_LT
    )


class _CaseTable:
    """A case-equivalence ``key(c)``; ``closure(S) = {c : key(c) in key(S)}``.

    Only the few code points with ``key(c) != c`` are stored, so closures of
    big ranges stay cheap.
    """

    def __init__(self, keymap: dict[int, int]):
        self.keymap = {c: k for c, k in keymap.items() if c != k}
        self.points = sorted(self.keymap)

    def key(self, c: int) -> int:
        return self.keymap.get(c, c)

    def closure(self, rs) -> tuple:
        rs = ir.normalize_ranges(rs)
        keys = _union(
            _minus_points(rs, self.points),
            _ranges_from_points(self.keymap[p] for p in _points_in(rs, self.points)),
        )
        extra = [p for p in self.points if _in_ranges(keys, self.keymap[p])]
        return _union(_minus_points(keys, self.points), _ranges_from_points(extra))


@functools.cache
def _py_case() -> _CaseTable:
    """Python ``re``'s IGNORECASE equivalence: simple lower case, then ``re``'s extra cases."""
    try:
        import _sre  # type: ignore[import-not-found]  # CPython's private module, no stub

        lower = _sre.unicode_tolower
    except (ImportError, AttributeError):  # pragma: no cover - not CPython

        def lower(c):
            s = chr(c).lower()
            return ord(s) if len(s) == 1 else c

    try:
        from re import _casefix  # type: ignore[attr-defined]  # private (3.11+), not in typeshed

        extra = _casefix._EXTRA_CASES
    except ImportError:  # pragma: no cover - Python < 3.11
        extra = {}
    rep = {low: min((low,) + others) for low, others in extra.items()}
    keymap = {}
    for c in range(sys.maxunicode + 1):
        lo = lower(c)
        k = rep.get(lo, lo)
        if k != c:
            keymap[c] = k
    return _CaseTable(keymap)


@functools.cache
def _ecma_case() -> _CaseTable:
    """ECMA-262 Canonicalize with the u flag: simple case folding (C + S of CaseFolding.txt)."""
    keymap = {}
    for c in range(sys.maxunicode + 1):
        ch = chr(c)
        f = ch.casefold()
        if f == ch:
            continue
        if len(f) == 1:
            keymap[c] = ord(f)
        elif c != 0x130:  # full folding only (F/T): the simple folding, if any, is the lower case
            lo = ch.lower()
            if len(lo) == 1 and lo != ch:
                keymap[c] = ord(lo)
    return _CaseTable(keymap)


_GC_ALIASES = {
    "L": "L",
    "Letter": "L",
    "LC": "LC",
    "Cased_Letter": "LC",
    "Lu": "Lu",
    "Uppercase_Letter": "Lu",
    "Ll": "Ll",
    "Lowercase_Letter": "Ll",
    "Lt": "Lt",
    "Titlecase_Letter": "Lt",
    "Lm": "Lm",
    "Modifier_Letter": "Lm",
    "Lo": "Lo",
    "Other_Letter": "Lo",
    "M": "M",
    "Mark": "M",
    "Combining_Mark": "M",
    "Mn": "Mn",
    "Nonspacing_Mark": "Mn",
    "Mc": "Mc",
    "Spacing_Mark": "Mc",
    "Me": "Me",
    "Enclosing_Mark": "Me",
    "N": "N",
    "Number": "N",
    "Nd": "Nd",
    "Decimal_Number": "Nd",
    "digit": "Nd",
    "Nl": "Nl",
    "Letter_Number": "Nl",
    "No": "No",
    "Other_Number": "No",
    "P": "P",
    "Punctuation": "P",
    "punct": "P",
    "Pc": "Pc",
    "Connector_Punctuation": "Pc",
    "Pd": "Pd",
    "Dash_Punctuation": "Pd",
    "Ps": "Ps",
    "Open_Punctuation": "Ps",
    "Pe": "Pe",
    "Close_Punctuation": "Pe",
    "Pi": "Pi",
    "Initial_Punctuation": "Pi",
    "Pf": "Pf",
    "Final_Punctuation": "Pf",
    "Po": "Po",
    "Other_Punctuation": "Po",
    "S": "S",
    "Symbol": "S",
    "Sm": "Sm",
    "Math_Symbol": "Sm",
    "Sc": "Sc",
    "Currency_Symbol": "Sc",
    "Sk": "Sk",
    "Modifier_Symbol": "Sk",
    "So": "So",
    "Other_Symbol": "So",
    "Z": "Z",
    "Separator": "Z",
    "Zs": "Zs",
    "Space_Separator": "Zs",
    "Zl": "Zl",
    "Line_Separator": "Zl",
    "Zp": "Zp",
    "Paragraph_Separator": "Zp",
    "C": "C",
    "Other": "C",
    "Cc": "Cc",
    "Control": "Cc",
    "cntrl": "Cc",
    "Cf": "Cf",
    "Format": "Cf",
    "Cs": "Cs",
    "Surrogate": "Cs",
    "Co": "Co",
    "Private_Use": "Co",
    "Cn": "Cn",
    "Unassigned": "Cn",
}


def _gc_ranges(code: str) -> tuple:
    table = _general_categories()
    if code == "LC":
        return _union(table.get("Lu", ()), table.get("Ll", ()), table.get("Lt", ()))
    if len(code) == 1:
        return _union(*(v for k, v in table.items() if k[0] == code))
    return table.get(code, ())


def _unicode_property(spec: str) -> tuple | None:
    """Code point ranges for an ECMA ``\\p{spec}``, or None when unsupported."""
    name, _, value = spec.partition("=")
    if value:
        if name not in ("General_Category", "gc"):
            return None
        code = _GC_ALIASES.get(value)
        return None if code is None else _gc_ranges(code)
    if spec == "Any":
        return ANY_RANGES
    if spec == "ASCII":
        return ((0, 0x7F),)
    if spec == "Assigned":
        return ir.negate_ranges(_gc_ranges("Cn"))
    code = _GC_ALIASES.get(spec)
    return None if code is None else _gc_ranges(code)


# ---------------------------------------------------------------- anchors
# Anchors are parsed as ("anchor", side, kind, position) pseudo-nodes and
# resolved away before the node is returned.  side: "start" | "end";
# kind: "abs" (string edge), "line" (multiline ^/$), "pyend" (Python's $:
# the end, or before a final newline).
_START_STRENGTH = {"line": 0, "abs": 1}
_END_STRENGTH = {"line": 0, "pyend": 1, "abs": 2}


def _has_anchor(node) -> bool:
    t = node[0]
    if t == "anchor":
        return True
    if t in ("cat", "alt"):
        return any(_has_anchor(n) for n in node[1])
    if t == "rep":
        return _has_anchor(node[1])
    return False


def _first_anchor(node):
    t = node[0]
    if t == "anchor":
        return node
    kids = node[1] if t in ("cat", "alt") else (node[1],) if t == "rep" else ()
    for k in kids:
        a = _first_anchor(k)
        if a is not None:
            return a
    return None


# ---------------------------------------------------------------- the parser
class _Parser:
    def __init__(
        self,
        pattern: str,
        syntax: str,
        flags: str,
        portable: bool | str = False,
        lookaround: bool = False,
    ):
        self.lookaround = lookaround  # lookarounds parsed (search patterns), else refused
        self.looks = False  # a lookaround was parsed
        self.ticks = 0  # atoms parsed (the compile deadline is checked every 4096)
        if syntax not in ("python", "ecma"):
            raise ValueError(f"unknown regex syntax {syntax!r} (use 'python' or 'ecma')")
        self.portable = portable
        self.in_negated_class = False
        self.p = pattern
        self.n = len(pattern)
        self.i = 0
        self.py = syntax == "python"
        self.flags = set()
        allowed = "aimsxu" if self.py else "imsugdy"
        for f in flags:
            if f == "L" and self.py:
                raise regex_error("unsupported flag L (locale)", pattern, 0)
            if f == "v" and not self.py:
                raise regex_error("unsupported flag v (ECMA set notation)", pattern, 0)
            if f not in allowed:
                raise regex_error(f"unknown flag {f!r}", pattern, 0)
            self.flags.add(f)
        self.groups = 0
        self.anchors = False
        self.lazy: list[int] = []  # positions of lazy quantifiers (same language, see lark.py)

    # -- low level
    def err(self, msg: str, pos: int | None = None):
        return regex_error(msg, self.p, self.i if pos is None else pos)

    def peek(self, k: int = 0) -> str | None:
        j = self.i + k
        return self.p[j] if j < self.n else None

    def eat(self, s: str) -> bool:
        if self.p.startswith(s, self.i):
            self.i += len(s)
            return True
        return False

    def skip_verbose(self):
        if "x" not in self.flags:
            return
        while self.i < self.n:
            c = self.p[self.i]
            if c in _PY_WS:
                self.i += 1
            elif c == "#":
                while self.i < self.n and self.p[self.i] != "\n":
                    self.i += 1
            else:
                break

    # -- structure
    def parse(self):
        node = self.parse_alt(0)
        if self.i < self.n:  # only a stray ')' can stop parse_alt early
            raise self.err("unbalanced parenthesis")
        return node

    def parse_alt(self, depth: int):
        branches = [self.parse_seq(depth)]
        while self.peek() == "|":
            self.i += 1
            branches.append(self.parse_seq(depth))
        return ir.alt(*branches) if len(branches) > 1 else branches[0]

    def parse_seq(self, depth: int):
        items: list = []  # [node, quantified, is_assertion, start position]
        while True:
            self.skip_verbose()
            c = self.peek()
            if c is None or c == "|" or (c == ")" and depth > 0):
                break
            if c == ")":
                raise self.err("unbalanced parenthesis")
            start = self.i
            self.ticks += 1
            if self.ticks & 4095 == 0:
                _deadline.check(f"regex position {self.i}")
            if c in "*+?" or (c == "{" and self.quantifier_ahead()):
                self.apply_quantifier(items, start)
                continue
            res = self.parse_atom(depth)
            if res is None:  # a comment or a flag group: nothing to add
                continue
            node, is_assertion = res
            items.append([node, False, is_assertion, start])
        return ir.cat(*(it[0] for it in items))

    def quantifier_ahead(self) -> bool:
        """Is the ``{`` at the cursor a valid ``{m}``, ``{m,}``, ``{m,n}`` (Python: also ``{,n}``)?"""
        m = re_quant.match(self.p, self.i)
        if not m:
            return False
        if m.group(1) == "" and (not self.py or m.group(2) is None):
            return False  # "{}" is a literal; ECMA has no "{,n}"
        return True

    def apply_quantifier(self, items: list, start: int):
        c = self.p[self.i]
        if c == "{":
            m = re_quant.match(self.p, self.i)
            if m is None:  # callers check quantifier_ahead() first
                raise AssertionError(f"no {{m,n}} quantifier at position {self.i} of the regex")
            self.i = m.end()
            lo = int(m.group(1)) if m.group(1) else 0
            if m.group(2) is None:
                hi: int | None = lo
            else:
                hi = int(m.group(3)) if m.group(3) else None
            if lo >= MAXREPEAT or (hi is not None and hi >= MAXREPEAT):
                raise self.err("the repetition number is too large", start)
            if hi is not None and hi < lo:
                raise self.err("min repeat greater than max repeat", start)
        else:
            self.i += 1
            lo, hi = {"*": (0, None), "+": (1, None), "?": (0, 1)}[c]
        if not items:
            raise self.err("nothing to repeat", start)
        last = items[-1]
        if last[2]:
            raise self.err("nothing to repeat (a quantifier on an assertion)", start)
        if last[1]:
            raise self.err("multiple repeat", start)
        if self.peek() == "?":
            self.lazy.append(start)
            self.i += 1  # lazy: the same language
        elif self.peek() == "+":
            if self.py:
                raise self.err("unsupported possessive quantifier", start)
            raise self.err("multiple repeat", self.i)
        last[0] = ir.rep(last[0], lo, hi)
        last[1] = True

    def parse_atom(self, depth: int):
        c = self.p[self.i]
        start = self.i
        if c == "(":
            return self.parse_group(depth)
        if c == "[":
            return self.class_node(self.parse_class()), False
        if c == ".":
            self.i += 1
            if "s" in self.flags:
                return ANY, False
            # portable="max": what either reading matches (Python's dot also takes \r,
            # U+2028, U+2029)
            excl = ((10, 10),) if self.py or self.portable == "max" else _ECMA_LT
            return ("cps", ir.negate_ranges(excl)), False
        if c == "^":
            self.i += 1
            return self.anchor("start", "line" if "m" in self.flags else "abs", start), True
        if c == "$":
            self.i += 1
            py_end = self.py or self.portable == "max"  # Python's $ also before a final \n
            kind = "line" if "m" in self.flags else ("pyend" if py_end else "abs")
            return self.anchor("end", kind, start), True
        if c == "\\":
            return self.parse_escape()
        # a lone ] { } stands for itself (Python; ECMA Annex B)
        self.i += 1
        return self.char_node(ord(c), start), False

    def anchor(self, side: str, kind: str, pos: int):
        self.anchors = True
        return ("anchor", side, kind, pos)

    def parse_group(self, depth: int):
        start = self.i
        self.i += 1  # (
        saved_flags = None
        if self.eat("?"):
            c = self.peek()
            if c is None:
                raise self.err("unexpected end of pattern", start)
            if c == ":":
                self.i += 1
            elif c == "#" and self.py:
                end = self.p.find(")", self.i)
                if end < 0:
                    raise self.err("missing ), unterminated comment", start)
                self.i = end + 1
                return None
            elif c in "=!" or (c == "<" and self.peek(1) in ("=", "!")):
                return self.parse_lookaround(start, depth)
            elif c == ">":
                raise self.err("unsupported atomic group", start)
            elif c == "(":
                raise self.err("unsupported conditional group", start)
            elif c == "P" and self.peek(1) == "=" and self.py:
                raise self.err("unsupported backreference", start)
            elif c == "P" and self.peek(1) == ">" and self.py:
                raise self.err("unsupported recursion", start)
            elif (c == "P" and self.peek(1) == "<" and self.py) or c == "<":
                self.i += 2 if c == "P" else 1
                end = self.p.find(">", self.i)
                name = self.p[self.i : end] if end >= 0 else ""
                if end < 0 or not name.isidentifier():
                    raise self.err("bad group name", self.i)
                self.i = end + 1
                self.groups += 1
            else:
                saved_flags = self.parse_inline_flags(start, depth)
                if saved_flags is None:
                    return None  # global flags: already applied
        else:
            self.groups += 1
        node = self.parse_alt(depth + 1)
        if not self.eat(")"):
            raise self.err("missing ), unterminated subpattern", start)
        if saved_flags is not None:
            self.flags = saved_flags
        return node, False

    def parse_lookaround(self, start: int, depth: int):
        """``(?=``, ``(?!``, ``(?<=``, ``(?<!`` (the cursor after ``(?``) as a
        ``("look", ahead, negative, body, position)`` pseudo-node: only where the whole
        string is the pattern's subject (``search=True``, see :mod:`.lookaround`); a lexer
        terminal's lookaround would look past the token. A negative body is read the other
        way round (``portable``: its complement must hold under both readings)."""
        ahead = self.p[self.i] in "=!"
        if not self.lookaround:
            raise self.err("unsupported lookahead" if ahead else "unsupported lookbehind", start)
        neg = self.p[self.i if ahead else self.i + 1] == "!"
        self.i += 1 if ahead else 2
        saved_portable, saved_flags = self.portable, set(self.flags)
        if neg and self.portable:
            self.portable = "max" if self.portable is True else True
        body = self.parse_alt(depth + 1)
        self.portable, self.flags = saved_portable, saved_flags
        if not self.eat(")"):
            raise self.err("missing ), unterminated subpattern", start)
        self.looks = True
        return ("look", ahead, neg, body, start), True

    def parse_inline_flags(self, start: int, depth: int):
        """``(?flags)`` (Python, at the start only) or ``(?flags-flags:``; returns the flags to restore."""
        allowed = "aimsxuL" if self.py else "ims"
        on = ""
        while (ch := self.peek()) is not None and ch in allowed:
            on += self.p[self.i]
            self.i += 1
        off = ""
        if self.eat("-"):
            while (ch := self.peek()) is not None and ch in allowed:
                off += self.p[self.i]
                self.i += 1
            if not off:
                raise self.err("missing flag", self.i)
        c = self.peek()
        if not on and not off:
            raise self.err("unknown extension ?" + (c or ""), start)
        if "L" in on + off:
            raise self.err("unsupported flag L (locale)", start)
        if c == ")" and self.py and not off:
            if start != 0 and not self._only_globals_before(start):
                raise self.err("global flags not at the start of the expression", start)
            self.i += 1
            self.flags |= set(on)
            return None
        if c != ":":
            raise self.err("missing :" if c is not None else "missing -, : or )", self.i)
        if set(on) & set(off):
            raise self.err("bad inline flags: flag turned on and off", start)
        if self.py and ("a" in off or "u" in off):
            raise self.err("bad inline flags: cannot turn off flags 'a', 'u' and 'L'", start)
        self.i += 1
        saved = set(self.flags)
        self.flags |= set(on)
        self.flags -= set(off)
        if "a" in on:
            self.flags.discard("u")
        if "u" in on:
            self.flags.discard("a")
        return saved

    def _only_globals_before(self, start: int) -> bool:
        return re_globals_prefix.fullmatch(self.p, 0, start) is not None

    # -- escapes outside classes
    def parse_escape(self):
        start = self.i
        self.i += 1
        c = self.peek()
        if c is None:
            raise self.err("bad escape (end of pattern)", start)
        if c in "dDwWsS":
            self.i += 1
            return self.set_node(self.class_escape_ranges(c), category=True), False
        if self.py:
            if c == "A":
                self.i += 1
                return self.anchor("start", "abs", start), True
            if c == "Z":
                self.i += 1
                return self.anchor("end", "abs", start), True
            if c in "bB":
                raise self.err("unsupported word boundary \\" + c, start)
            if c == "0":
                self.i += 1
                digits = "0"
                while len(digits) < 3 and self.peek() in _OCT:
                    digits += self.p[self.i]
                    self.i += 1
                return self.char_node(int(digits, 8), start), False
            if c in _DIGITS:
                if (
                    c in _OCT
                    and self.peek(1) in _OCT
                    and self.peek(2) is not None
                    and self.peek(2) in _OCT
                ):
                    v = int(self.p[self.i : self.i + 3], 8)
                    if v > 0o377:
                        raise self.err(
                            "octal escape value \\%s outside of range 0-0o377"
                            % self.p[self.i : self.i + 3],
                            start,
                        )
                    self.i += 3
                    return self.char_node(v, start), False
                raise self.err("unsupported backreference", start)
        else:
            if c in "bB":
                raise self.err("unsupported word boundary \\" + c, start)
            if c in _DIGITS and c != "0":
                raise self.err("unsupported backreference", start)
            if c == "k" and self.peek(1) == "<":
                raise self.err("unsupported backreference", start)
            if c in "pP":
                self.i += 1
                return self.set_node(self.property_ranges(c, start)), False
        cp = self.char_escape(start, in_class=False)
        return self.char_node(cp, start), False

    def char_escape(self, start: int, in_class: bool) -> int:
        """A single-character escape (cursor after the backslash); returns the code point."""
        c = self.p[self.i]
        self.i += 1
        if self.py:
            if c in _PY_ESCAPES:
                return _PY_ESCAPES[c]
            if c == "x":
                return self.hex_digits(2, start, "\\x")
            if c == "u":
                return self.hex_digits(4, start, "\\u")
            if c == "U":
                v = self.hex_digits(8, start, "\\U")
                if v > sys.maxunicode:
                    raise self.err("bad escape \\U" + self.p[self.i - 8 : self.i], start)
                return v
            if c == "N":
                if not self.eat("{"):
                    raise self.err("missing {", self.i)
                end = self.p.find("}", self.i)
                if end < 0:
                    raise self.err("missing }, unterminated name", self.i)
                name = self.p[self.i : end]
                try:
                    v = ord(unicodedata.lookup(name))
                except KeyError:
                    raise self.err("undefined character name %r" % name, start) from None
                self.i = end + 1
                return v
            if c.isascii() and c.isalnum():
                raise self.err("bad escape \\" + c, start)
            return ord(c)
        # ECMA
        if c in _ECMA_ESCAPES:
            return _ECMA_ESCAPES[c]
        if c == "b" and in_class:
            return 8
        if c == "0" and (self.peek() is None or self.peek() not in _DIGITS):
            return 0
        if c == "c":
            d = self.peek()
            if d is not None and d.isascii() and d.isalpha():
                self.i += 1
                return ord(d) % 32
            raise self.err("bad escape \\c", start)
        if c == "x":
            return self.hex_digits(2, start, "\\x")
        if c == "u":
            if self.peek() == "{":
                end = self.p.find("}", self.i)
                digits = self.p[self.i + 1 : end] if end >= 0 else ""
                if not digits or any(d not in _HEX for d in digits) or int(digits, 16) > 0x10FFFF:
                    raise self.err("bad escape \\u{...}", start)
                self.i = end + 1
                return int(digits, 16)
            v = self.hex_digits(4, start, "\\u")
            if 0xD800 <= v <= 0xDBFF and self.p.startswith("\\u", self.i):
                m = re_hex4.match(self.p, self.i + 2)
                if m and 0xDC00 <= int(m.group(0), 16) <= 0xDFFF:
                    self.i += 6
                    return 0x10000 + ((v - 0xD800) << 10) + (int(m.group(0), 16) - 0xDC00)
            return v
        if c == "-" and in_class:
            return ord("-")
        if c.isascii() and c.isalnum() or c == "_":
            raise self.err("bad escape \\" + c, start)
        return ord(c)

    def hex_digits(self, k: int, start: int, what: str) -> int:
        s = self.p[self.i : self.i + k]
        if len(s) < k or any(d not in _HEX for d in s):
            raise self.err("incomplete escape " + what + s, start)
        self.i += k
        return int(s, 16)

    def property_ranges(self, c: str, start: int) -> tuple:
        if not self.eat("{"):
            raise self.err("bad escape \\" + c + " (expected {)", start)
        end = self.p.find("}", self.i)
        if end < 0:
            raise self.err("unterminated \\" + c + "{...}", start)
        spec = self.p[self.i : end]
        rs = _unicode_property(spec)
        if rs is None:
            raise self.err("unsupported Unicode property \\%s{%s}" % (c, spec), start)
        self.i = end + 1
        ranges = ir.normalize_ranges(rs)
        return ir.negate_ranges(ranges) if c == "P" else ranges

    def class_escape_ranges(self, c: str) -> tuple:
        low = c.lower()
        if self.portable and not self.py:
            # A JSON Schema pattern is ECMA-262, but validators also run it with Python's
            # re (jsonschema), whose \d \w \s are Unicode (\s also has U+001C..U+001F
            # and U+0085, not U+FEFF). Take the reading that accepts less: the
            # intersection of both for \d, the complement of the union for \D, and the
            # other way round inside a negated class (portable="max": the reading that
            # accepts more, for complements).
            ecma = _ecma_space() if low == "s" else _ASCII_CLASSES[low]
            py = _py_class(low)
            small = _intersect(ecma, py)
            large = _union(ecma, py)
            if self.portable == "max":
                small, large = large, small
            if c.isupper():
                return ir.negate_ranges(small if self.in_negated_class else large)
            return large if self.in_negated_class else small
        if self.py:
            rs = _ASCII_CLASSES[low] if "a" in self.flags else _py_class(low)
        elif low == "s":
            rs = _ecma_space()
        else:
            rs = _ASCII_CLASSES[low]
            if low == "w" and "i" in self.flags:  # ECMA /\w/ui also has U+017F and U+212A
                rs = _ecma_case().closure(rs)
        return ir.negate_ranges(rs) if c.isupper() else rs

    # -- classes
    def parse_class(self):
        """Parse ``[...]``; returns (negated, literal ranges, category ranges)."""
        start = self.i
        self.i += 1
        negate = self.eat("^")
        self.in_negated_class = negate
        lits: list = []
        cats: list = []
        first = True
        while True:
            c = self.peek()
            if c is None:
                raise self.err("unterminated character set", start)
            if c == "]" and (not first or not self.py):
                self.i += 1
                break
            item_start = self.i
            lo = self.class_atom()
            first = False
            if self.peek() == "-" and self.peek(1) is not None and self.peek(1) != "]":
                self.i += 1
                hi = self.class_atom()
                if isinstance(lo, tuple) or isinstance(hi, tuple):
                    raise self.err(
                        "bad character range %s" % self.p[item_start : self.i], item_start
                    )
                if hi < lo:
                    raise self.err(
                        "bad character range %s" % self.p[item_start : self.i], item_start
                    )
                lits.append((lo, hi))
            elif isinstance(lo, tuple):
                cats.extend(lo)
            else:
                lits.append((lo, lo))
        self.in_negated_class = False
        return negate, tuple(lits), tuple(cats)

    def class_atom(self):
        """One class member: a code point (int) or a set of ranges (tuple) for \\d etc."""
        c = self.p[self.i]
        start = self.i
        if c != "\\":
            self.i += 1
            return ord(c)
        self.i += 1
        c = self.peek()
        if c is None:
            raise self.err("unterminated character set", start)
        if c in "dDwWsS":
            self.i += 1
            return self.class_escape_ranges(c)
        if self.py:
            if c in _OCT:
                digits = ""
                while len(digits) < 3 and self.peek() is not None and self.peek() in _OCT:
                    digits += self.p[self.i]
                    self.i += 1
                v = int(digits, 8)
                if v > 0o377:
                    raise self.err(
                        "octal escape value \\%s outside of range 0-0o377" % digits, start
                    )
                return v
            if c in _DIGITS:
                raise self.err("bad escape \\" + c, start)
        else:
            if c in "pP":
                self.i += 1
                return self.property_ranges(c, start)
            if c == "B":
                raise self.err("bad escape \\B", start)
            if c in _DIGITS and c != "0":
                raise self.err("unsupported backreference", start)
        return self.char_escape(start, in_class=True)  # surrogates drop out of the ranges

    def class_node(self, parsed):
        negate, lits, cats = parsed
        if "i" in self.flags:
            if self.py:
                rs = _union(_py_case().closure(lits), cats)
            else:
                rs = _ecma_case().closure(_union(lits, cats))
        else:
            rs = _union(lits, cats)
        if negate:
            rs = ir.negate_ranges(rs)
        return ir.cps(rs)

    def set_node(self, rs, category: bool = False):
        if "i" in self.flags and not self.py and not category:
            rs = _ecma_case().closure(rs)
        return ir.cps(rs)

    def char_node(self, cp: int, pos: int):
        if 0xD800 <= cp <= 0xDFFF:
            raise self.err("a lone surrogate (U+%04X) cannot occur in UTF-8 text" % cp, pos)
        if "i" in self.flags:
            table = _py_case() if self.py else _ecma_case()
            rs = table.closure(((cp, cp),))
            if len(rs) > 1 or rs[0][0] != rs[0][1]:
                return ("cps", rs)
        return ir.lit(chr(cp))


re_quant = _re.compile(r"\{([0-9]*)(?:(,)([0-9]*))?\}")
re_hex4 = _re.compile(r"[0-9a-fA-F]{4}")
re_globals_prefix = _re.compile(r"(?:\(\?[aiLmsux]+\))*")


# ---------------------------------------------------------------- anchor resolution
def _paths(node, pattern: str):
    """Split a node with anchors into (start anchors, anchor-free core, end anchors) paths."""
    if not _has_anchor(node):
        return [((), node, ())]
    t = node[0]
    if t == "anchor":
        return [((node,), ir.EMPTY, ())] if node[1] == "start" else [((), ir.EMPTY, (node,))]
    if t == "alt":
        return [p for n in node[1] for p in _paths(n, pattern)]
    if t == "rep":
        a = _first_anchor(node)
        raise regex_error(
            "unsupported %s inside a repetition" % _anchor_text(a, pattern), pattern, a[3]
        )
    assert t == "cat"
    acc = [((), ir.EMPTY, ())]
    for child in node[1]:
        new = []
        for s1, c1, e1 in acc:
            for s2, c2, e2 in _paths(child, pattern):
                if s2 and c1 != ir.EMPTY:
                    raise regex_error(
                        "unsupported %s in the middle of the pattern"
                        % _anchor_text(s2[0], pattern),
                        pattern,
                        s2[0][3],
                    )
                if e1 and c2 != ir.EMPTY:
                    raise regex_error(
                        "unsupported %s in the middle of the pattern"
                        % _anchor_text(e1[0], pattern),
                        pattern,
                        e1[0][3],
                    )
                new.append((s1 + s2, ir.cat(c1, c2), e1 + e2))
        acc = new
    return acc


def _anchor_text(a, pattern: str) -> str:
    pos = a[3]
    return pattern[pos : pos + 2] if pattern[pos] == "\\" else pattern[pos]


def _resolve(node, pattern: str, py: bool, search: bool):
    paths = _paths(node, pattern)
    if not search:
        return ir.alt(*(core for _, core, _ in paths))
    any_star = ir.star(ANY)
    lt = ir.lit("\n") if py else ("cps", _ECMA_LT)
    out = []
    for starts, core, ends in paths:
        if starts:
            kind = max((a[2] for a in starts), key=_START_STRENGTH.__getitem__)
            pre = ir.EMPTY if kind == "abs" else ir.opt(ir.cat(any_star, lt))
        else:
            pre = any_star
        if ends:
            kind = max((a[2] for a in ends), key=_END_STRENGTH.__getitem__)
            post = {
                "abs": ir.EMPTY,
                "pyend": ir.opt(ir.lit("\n")),
                "line": ir.opt(ir.cat(lt, any_star)),
            }[kind]
        else:
            post = any_star
        if pre is any_star and post is any_star:
            out.append(_contains(core, any_star))
        else:
            out.append(ir.cat(pre, core, post))
    return ir.alt(*out)


def _contains(core, any_star):
    """``.* core .*`` (an unanchored search), in a form that determinises small.

    ``X{n,}`` next to ``.*`` is ``X{n}`` (the star absorbs the rest), and a single class
    ``c`` becomes ``[^c]* c .*`` (its *first* occurrence): the same language, but with one
    way to match, so a lexer state does not remember every position where ``c`` might have
    been, which made ``pattern: "[0-9a-f]+"`` with a length bound build thousands of states.
    """
    if ir.nullable(core):
        return any_star
    # a nullable part next to .* adds nothing (x.* = .* when x matches ""); X{n,} next to
    # .* is X{n}
    items = list(core[1]) if core[0] == "cat" else [core]
    while len(items) > 1 and ir.nullable(items[-1]):
        items.pop()
    while len(items) > 1 and ir.nullable(items[0]):
        items.pop(0)
    for k in (0, -1):
        x = items[k]
        if x[0] == "rep" and x[3] is None and x[2] >= 1:
            items[k] = ir.rep(x[1], x[2], x[2])
    core = ir.cat(*items)
    if core[0] == "cps":
        return ir.cat(ir.star(ir.cps(ir.negate_ranges(core[1]))), core, any_star)
    return ir.cat(any_star, core, any_star)


# ---------------------------------------------------------------- public API
def parse_regex(
    pattern: str,
    *,
    syntax: str = "python",
    flags: str = "",
    search: bool = False,
    portable: bool | str = False,
    whole: bool = False,
) -> tuple:
    """Parse a regular expression into an IR regex node.

    ``syntax`` is ``"python"`` (``re``, as Lark terminals use it) or ``"ecma"``
    (ECMA-262 with ``u`` semantics, as JSON Schema ``pattern`` uses it).
    ``flags``: ``i`` (ignore case), ``s`` (dot matches all), ``m`` (multiline
    ``^``/``$``), ``x`` (verbose, Python), ``a`` (ASCII classes, Python), ``u``.
    ``search=False``: the node matches exactly the strings the pattern matches
    as a whole (``re.fullmatch``).  ``search=True``: the strings in which the
    pattern matches somewhere (``re.search`` / ECMA ``RegExp.test``).

    ``portable=True`` (ECMA only; JSON Schema ``pattern``): ``\\d \\w \\s`` and their
    negations take whichever of the ECMA and the Python ``re`` reading accepts less, so
    that what matches also matches for validators built on either. ``portable="max"``: the
    reading that accepts more (those classes, ``.`` with ``\\r``, U+2028 and U+2029, ``$``
    before a final newline), so that its complement matches for neither: for ``not``,
    negative lookaheads and the keys a ``patternProperties`` pattern leaves to
    ``additionalProperties``.

    Lookarounds, and ``^``/``$`` inside groups, alternations and repetitions, are zero-width
    assertions about the rest of the subject or what came before it: they are compiled
    exactly (:mod:`.lookaround`) where the node's strings are the whole subject, with
    ``search=True`` or ``whole=True`` (``re.fullmatch`` of the whole output, as
    ``Grammar.from_regex`` uses it), and refused otherwise (a lexer terminal's lookahead
    would look past the token).

    Raises :class:`GrammarError` for syntax errors and for constructs that are
    not regular or cannot be expressed exactly (message shows a caret).
    """
    if isinstance(pattern, str) and len(pattern) <= _PARSE_CACHE_MAX_TEXT:
        return _parse_regex_cached(pattern, syntax, flags, search, portable, whole)
    return _parse_regex(pattern, syntax, flags, search, portable, whole)


#: patterns up to this many characters are memoised (the nodes are immutable tuples): schemas
#: repeat the same patterns and formats (date-time, email, uri, ...), and the parser in Python
#: was ~10% of a JSONSchemaBench compile. Failures are not memoised (they raise again).
_PARSE_CACHE_MAX_TEXT = 4096


def _parse_regex(
    pattern: str, syntax: str, flags: str, search: bool, portable: bool | str, whole: bool
) -> tuple:
    p = _Parser(pattern, syntax, flags, portable, lookaround=search or whole)
    node = p.parse()
    if p.looks:
        return _assertions_anywhere(node, pattern, p, search)
    if p.anchors or search:
        try:
            node = _resolve(node, pattern, p.py, search)
        except GrammarError:
            if not (search or whole):  # a lexer terminal's inner anchor: outside its span
                raise
            return _assertions_anywhere(node, pattern, p, search)
    return node


def _assertions_anywhere(node, pattern: str, p: _Parser, search: bool) -> tuple:
    """A pattern with lookarounds, or anchors inside groups, alternations or repetitions,
    whose strings are the whole subject: one exact DFA (:mod:`.lookaround`); a lookbehind
    must have one width where Python's ``re`` reads the pattern too (``syntax="python"`` or
    ``portable``)."""
    from .json_schema.automata import RegexBudgetError
    from .lookaround import assertion_language

    fixed = p.py or bool(p.portable)
    try:
        return assertion_language(node, pattern, p.py, search, fixed_width_lookbehind=fixed)
    except RegexBudgetError as e:  # a GrammarError, as every other refusal of a pattern
        raise _make_error(
            f"{e} (the pattern's lookarounds or inner anchors)", reason=str(e)
        ) from None


_parse_regex_cached = functools.lru_cache(maxsize=2048)(_parse_regex)


def _py_escape_cp(c: int) -> str:
    ch = chr(c)
    if ch.isascii() and (ch.isalnum() or ch == "_"):
        return ch
    if 0x20 < c < 0x7F:
        return "\\" + ch
    if c <= 0xFF:
        return "\\x%02x" % c
    if c <= 0xFFFF:
        return "\\u%04x" % c
    return "\\U%08x" % c


def _py_charclass(rs) -> str:
    parts = []
    for a, b in rs:
        if a == b:
            parts.append(_py_escape_cp(a))
        elif b == a + 1:
            parts.append(_py_escape_cp(a) + _py_escape_cp(b))
        else:
            parts.append(_py_escape_cp(a) + "-" + _py_escape_cp(b))
    return "[" + "".join(parts) + "]"


def to_python_regex(node) -> str:
    """An equivalent Python ``re`` pattern (to use with ``re.fullmatch``, no flags).

    Raises ValueError for byte-level nodes that are not valid UTF-8 text.
    """
    t = node[0]
    if t == "empty":
        return "(?:)"
    if t == "never":
        return "[^\\x00-\\U0010ffff]"
    if t == "bytes":
        try:
            s = node[1].decode("utf-8")
        except UnicodeDecodeError:
            raise ValueError("bytes node is not valid UTF-8: %r" % (node[1],)) from None
        return "".join(_py_escape_cp(ord(ch)) for ch in s)
    if t == "cps":
        rs = node[1]
        if len(rs) == 1 and rs[0][0] == rs[0][1]:
            return _py_escape_cp(rs[0][0])
        return _py_charclass(rs)
    if t == "byteset":
        if node[1] and node[1][-1][1] < 0x80:
            return _py_charclass(node[1])
        raise ValueError("a byteset with non-ASCII bytes has no Python str regex")
    if t == "cat":
        return "".join(
            "(?:%s)" % to_python_regex(n) if n[0] == "alt" else to_python_regex(n) for n in node[1]
        )
    if t == "alt":
        return "(?:" + "|".join(to_python_regex(n) for n in node[1]) + ")"
    if t == "rep":
        _, n, lo, hi = node
        inner = to_python_regex(n)
        single = (
            n[0] == "cps"
            or (n[0] == "bytes" and len(n[1].decode("utf-8", "replace")) == 1)
            or n[0] == "alt"
            or n[0] == "never"
        )
        if not single or n[0] == "never":
            inner = "(?:%s)" % inner
        if (lo, hi) == (0, None):
            q = "*"
        elif (lo, hi) == (1, None):
            q = "+"
        elif (lo, hi) == (0, 1):
            q = "?"
        elif hi is None:
            q = "{%d,}" % lo
        elif lo == hi:
            q = "{%d}" % lo
        else:
            q = "{%d,%d}" % (lo, hi)
        return inner + q
    raise ValueError("not an IR regex node: %r" % (node,))


def reading_gap(pattern: str) -> tuple:
    """Code points on which the ECMA-262 and Python readings of an ECMA ``pattern`` may
    disagree (see ``portable``): ``\\n`` for ``$``, ``\\r`` U+2028 U+2029 for ``.``, what
    one reading of ``\\s`` has and the other has not, and every non-ASCII code point for
    ``\\d \\w`` (Python's are Unicode; one range instead of hundreds). Read off the text
    (an escaped ``\\$`` or ``\\.`` counts too: a superset is what callers need): strings
    without these characters are matched alike under both readings."""
    out: list = []
    if "$" in pattern:
        out.append((0x0A, 0x0A))
    if "." in pattern:
        out += [(0x0D, 0x0D), (0x2028, 0x2029)]
    for c in "sdw":
        if "\\" + c in pattern or "\\" + c.upper() in pattern:
            if c != "s":  # Unicode letters and digits: every non-ASCII code point, one range
                out.append((0x80, ir.MAX_CODEPOINT))
                continue
            ecma, py = _ecma_space(), _py_class(c)
            out += _intersect(_union(ecma, py), ir.negate_ranges(_intersect(ecma, py)))
    return ir.normalize_ranges(out) if out else ()
