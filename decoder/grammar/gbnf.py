"""llama.cpp's GBNF → Lark text (then :func:`decoder.grammar.lark.from_lark`).

Read: rules ``name ::= body`` (names with dashes; a rule ends where the next
``name ::=`` begins), string literals with GBNF's escapes (``\\n \\t \\r \\\\ \\" \\xHH
\\uHHHH \\UHHHHHHHH``), character classes ``[a-z]``, ``[^"\\\\]``, ``.`` (any character),
grouping, ``|``, ``* + ?``, ``{m}``, ``{m,}``, ``{m,n}``, ``#`` comments, and the token
terminals ``<|name|>`` / ``<[id]>`` (as in llguidance's Lark). The start rule is ``root``.
Anything else is a :class:`GrammarError` naming the construct, its line and column.
"""

from __future__ import annotations

import json
import re
from typing import Any

from ..errors import DecoderError, GrammarError, SpecError

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_RULE_START = re.compile(r"^[ \t]*([A-Za-z_][A-Za-z0-9_-]*)[ \t]*::=", re.M)


def _err(text: str, pos: int, what: str) -> GrammarError:
    line = text.count("\n", 0, pos) + 1
    col = pos - (text.rfind("\n", 0, pos) + 1) + 1
    src = text.splitlines()[line - 1] if text.splitlines() else ""
    return GrammarError(
        f"GBNF: {what} at line {line}, column {col}:\n  {src}\n  {' ' * (col - 1)}^"
    )


def _lark_name(name: str) -> str:
    return "r_" + name.replace("-", "_").lower() if name != "root" else "root"


def _unescape(text: str, i: int, end_char: str) -> tuple[str, int]:
    """One character of a literal or class at text[i] (after an opening quote/bracket)."""
    c = text[i]
    if c != "\\":
        return c, i + 1
    if i + 1 >= len(text):
        raise _err(text, i, "an escape at the end of the grammar")
    e = text[i + 1]
    simple = {
        "n": "\n",
        "t": "\t",
        "r": "\r",
        "\\": "\\",
        '"': '"',
        "[": "[",
        "]": "]",
        "-": "-",
        "^": "^",
        "/": "/",
    }
    if e in simple:
        return simple[e], i + 2
    width = {"x": 2, "u": 4, "U": 8}.get(e)
    if width:
        h = text[i + 2 : i + 2 + width]
        if len(h) != width or not all(ch in "0123456789abcdefABCDEF" for ch in h):
            raise _err(text, i, f"a malformed escape \\{e} (needs {width} hex digits)")
        cp = int(h, 16)
        if cp > 0x10FFFF or 0xD800 <= cp <= 0xDFFF:
            raise _err(text, i, f"the escape \\{e}{h} is not a Unicode scalar value")
        return chr(cp), i + 2 + width
    raise _err(text, i, f"an unknown escape \\{e}")


def _class_char(c: str) -> str:
    return (
        "\\" + c
        if c in "\\]^-[/"
        else (
            c
            if c.isprintable() and c != "\n"
            else f"\\u{ord(c):04x}"
            if ord(c) <= 0xFFFF
            else f"\\U{ord(c):08x}"
        )
    )


def gbnf_to_lark(text: str) -> str:
    """The Lark text of a GBNF grammar (see the module docstring)."""
    if not isinstance(text, str):
        raise GrammarError("a GBNF grammar is a string")
    starts = list(_RULE_START.finditer(text))
    if not starts:
        raise GrammarError("GBNF: no rule ('name ::= ...') found")
    head = text[: starts[0].start()]
    stripped = re.sub(r"#[^\n]*", "", head).strip()
    if stripped:
        raise _err(text, text.index(stripped[0]), "text before the first rule")
    out = []
    names = {m.group(1) for m in starts}
    if "root" not in names:
        raise GrammarError("GBNF: no rule named 'root' (the start rule)")
    for k, m in enumerate(starts):
        end = starts[k + 1].start() if k + 1 < len(starts) else len(text)
        body = _body(text, m.end(), end, names)
        out.append(f"{_lark_name(m.group(1))}: {body}")
    return "\n".join(out) + "\n"


def _body(text: str, i: int, end: int, names: set) -> str:
    parts: list[str] = []
    depth = 0
    while i < end:
        c = text[i]
        if c in " \t\r\n":
            i += 1
            continue
        if c == "#":
            j = text.find("\n", i)
            i = end if j < 0 or j > end else j
            continue
        if c == '"':
            s, i = [], i + 1
            while i < end and text[i] != '"':
                ch, i = _unescape(text, i, '"')
                s.append(ch)
            if i >= end:
                raise _err(text, i - 1, "an unterminated string literal")
            i += 1
            lit = "".join(s)
            if lit:  # (an empty literal matches the empty string: nothing to write)
                parts.append(json.dumps(lit, ensure_ascii=False))
            continue
        if c == "[":
            j, chars = i + 1, []
            neg = j < end and text[j] == "^"
            if neg:
                j += 1
            while j < end and text[j] != "]":
                ch, j = _unescape(text, j, "]")
                if j < end and text[j] == "-" and j + 1 < end and text[j + 1] != "]":
                    hi_ch, j = _unescape(text, j + 1, "]")
                    if ord(hi_ch) < ord(ch):
                        raise _err(text, j, f"the range {ch!r}-{hi_ch!r} is reversed")
                    chars.append(_class_char(ch) + "-" + _class_char(hi_ch))
                else:
                    chars.append(_class_char(ch))
            if j >= end:
                raise _err(text, i, "an unterminated character class")
            if not chars:
                raise _err(text, i, "an empty character class")
            parts.append("/[" + ("^" if neg else "") + "".join(chars) + "]/")
            i = j + 1
            continue
        if c == ".":
            parts.append("/(?s:.)/")
            i += 1
            continue
        if c in "()|*+?":
            depth += {"(": 1, ")": -1}.get(c, 0)
            if depth < 0:
                raise _err(text, i, "a ')' without its '('")
            parts.append(c)
            i += 1
            continue
        if c == "{":
            j = text.find("}", i)
            mm = re.fullmatch(r"\s*(\d+)\s*(?:(,)\s*(\d*)\s*)?", text[i + 1 : j] if j > 0 else "")
            if j < 0 or j > end or not mm or not parts:
                raise _err(text, i, "a malformed repetition {m}, {m,} or {m,n}")
            item = _last_item(parts)
            lo = int(mm.group(1))
            if (mm.group(2) is None and lo == 0) or (mm.group(3) and int(mm.group(3)) == 0):
                raise _err(text, i, "a repetition that allows only zero copies (remove it)")
            if mm.group(2) is None:
                rep = f"({item}) ~ {lo}" if lo > 0 else '""'
            elif mm.group(3):
                hi = int(mm.group(3))
                if hi < lo:
                    raise _err(text, i, f"the repetition {{{lo},{hi}}} has max < min")
                rep = (
                    f"(({item}) ~ {lo}..{hi})"
                    if lo > 0
                    else f"(({item}) ~ 1..{hi})?"
                    if hi > 0
                    else '""'
                )
            else:
                rep = f"(({item}) ~ {lo} ({item})*)" if lo > 0 else f"({item})*"
            parts.append(rep)
            i = j + 1
            continue
        if c == "<":
            mm = re.match(r"<\|[^|\s]+\|>|<\[\d+\]>", text[i:end])
            if not mm:
                raise _err(text, i, "'<' that is not a token terminal <|name|> or <[id]>")
            parts.append(mm.group(0))
            i += len(mm.group(0))
            continue
        mm = _NAME.match(text, i)
        if mm and mm.end() <= end:
            if mm.group(0) not in names:
                raise _err(text, i, f"the rule {mm.group(0)!r} is used but never defined")
            parts.append(_lark_name(mm.group(0)))
            i = mm.end()
            continue
        raise _err(text, i, f"the character {c!r} is not GBNF syntax")
    if depth:
        raise _err(text, end - 1, "a '(' without its ')'")
    if not parts:
        raise _err(text, min(i, len(text) - 1), "an empty rule body")
    return " ".join(parts)


def _last_item(parts: list) -> str:
    """Pops the last item (a group in parentheses, or one token) for a {m,n} repetition."""
    if parts[-1] == ")":
        depth, k = 0, len(parts) - 1
        while k >= 0:
            depth += {")": 1, "(": -1}.get(parts[k], 0)
            if depth == 0:
                break
            k -= 1
        item = " ".join(parts[k:])
        del parts[k:]
        return item
    if parts[-1] in ("|", "("):
        raise GrammarError("GBNF: a repetition {m,n} with nothing before it")
    return parts.pop()


__all__ = ["gbnf_to_lark", "lark_or_gbnf_ir"]


def lark_or_gbnf_ir(text: str) -> Any:
    """The IR of a Lark grammar, or of llama.cpp's GBNF (rules written ``name ::= ...``, start
    rule ``root``); a GBNF construct that cannot be converted is a
    :class:`~decoder.errors.SpecError` naming it."""
    from .lark import from_lark

    if "::=" not in text:
        return from_lark(text)
    try:
        lark = gbnf_to_lark(text)
    except DecoderError as e:
        raise SpecError(str(e)) from None
    return from_lark(lark, start="root")
