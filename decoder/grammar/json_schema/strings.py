"""JSON string lexemes.

A string's constraints (``pattern``, ``format``, ``minLength``/``maxLength``,
``enum``/``const``, the complement of declared keys) talk about the *decoded*
string, so they are first built as a regex over code points (see
:mod:`.regexops`) and only then *encoded*: :func:`encode_chars` substitutes, for
every code point, the byte strings that denote it inside a JSON string literal.
Substitution is a homomorphism, so the lexeme accepts exactly the JSON encodings
of exactly the strings of the decoded language.

Encodings accepted for one code point ``c`` (what ``json.dumps`` writes, and the
usual alternatives):

* ``c`` itself (UTF-8), unless ``c`` is ``"``, ``\\`` or a control (< 0x20);
* ``\\"``, ``\\\\``, ``\\/`` (and a plain ``/``);
* ``\\b \\f \\n \\r \\t`` for those controls, and ``\\u00XX`` (either case) for every
  control.

Not accepted (a documented completeness gap, never a soundness one): ``\\uXXXX``
escapes of non-control characters and surrogate pairs.
"""
from __future__ import annotations

from functools import lru_cache

from ..ir import EMPTY, MAX_CODEPOINT, NEVER, alt, cat, cps, lit, normalize_ranges, rep, star
from .regexops import ANY_CP

QUOTE = lit('"')
ANY_STRING = star(ANY_CP)  # decoded strings: any sequence of code points
_PLAIN = normalize_ranges([(0x20, 0x21), (0x23, 0x5B), (0x5D, MAX_CODEPOINT)])
_SHORT_ESC = {0x22: '\\"', 0x5C: "\\\\", 0x2F: "\\/", 0x08: "\\b", 0x0C: "\\f", 0x0A: "\\n",
              0x0D: "\\r", 0x09: "\\t"}
_HEX = "0123456789abcdef"


def _hexdigit(d: int):
    ch = _HEX[d]
    return lit(ch) if ch.isdigit() else cps([(ord(ch), ord(ch)), (ord(ch.upper()), ord(ch.upper()))])


def _escapes(c: int) -> list:
    out = []
    if c in _SHORT_ESC:
        out.append(lit(_SHORT_ESC[c]))
    if c < 0x20:
        out.append(cat(lit("\\u00"), lit(str(c >> 4)), _hexdigit(c & 15)))
    return out


_ALL_CONTROLS_U = cat(lit("\\u00"), cps([(0x30, 0x31)]),
                      cps([(0x30, 0x39), (0x41, 0x46), (0x61, 0x66)]))


@lru_cache(maxsize=8192)
def _encode_ranges(ranges: tuple):
    plain = []
    specials = []
    full_controls = False
    for a, b in ranges:
        # plain part
        for pa, pb in _PLAIN:
            lo, hi = max(a, pa), min(b, pb)
            if lo <= hi:
                plain.append((lo, hi))
        if a <= 0 and b >= 0x1F:
            full_controls = True
        for c in (0x22, 0x5C, 0x2F, 0x08, 0x0C, 0x0A, 0x0D, 0x09):
            if a <= c <= b:
                specials.append(c)
        if not full_controls:
            for c in range(max(a, 0), min(b, 0x1F) + 1):
                specials.append(c)
    parts = [cps(plain)] if plain else []
    for c in sorted(set(specials)):
        if full_controls and c < 0x20:
            if c in _SHORT_ESC:
                parts.append(lit(_SHORT_ESC[c]))
            continue
        parts.extend(_escapes(c))
    if full_controls:
        parts.append(_ALL_CONTROLS_U)
    return alt(*parts)


# Characters whose only JSON encoding is themselves: a literal made of them encodes to itself.
_SELF_ENCODING = frozenset(range(0x20, 0x7F)) - {0x22, 0x5C, 0x2F}
# Regexes are immutable tuples and front ends share subtrees across lexemes and schemas
# (key sets, character classes): encodings are memoised by node identity, the node kept
# alive by the entry so that its id cannot be reused. Bounded: cleared when it grows large.
_ENC_MEMO: dict = {}
_ENC_MEMO_MAX = 50_000


def encode_chars(node):
    """A code-point regex (decoded string language) -> the JSON string body regex."""
    memo = _ENC_MEMO
    if len(memo) > _ENC_MEMO_MAX:
        memo.clear()

    def enc(n):
        key = id(n)
        got = memo.get(key)
        if got is not None and got[0] is n:
            return got[1]
        k = n[0]
        if k in ("empty", "never"):
            r = n
        elif k == "cps":
            r = _encode_ranges(n[1])
        elif k == "bytes":
            if all(b in _SELF_ENCODING for b in n[1]):
                r = n
            else:
                s = n[1].decode("utf-8")
                r = cat(*(_encode_ranges(((ord(ch), ord(ch)),)) for ch in s))
        elif k == "cat":
            r = cat(*(enc(m) for m in n[1]))
        elif k == "alt":
            r = alt(*(enc(m) for m in n[1]))
        elif k == "rep":
            r = rep(enc(n[1]), n[2], n[3])
        else:
            raise ValueError(f"regex node {k!r} cannot describe decoded string content")
        memo[key] = (n, r)
        return r

    return enc(node)


def string_lexeme_regex(chars):
    """The full lexeme (quotes included) for a decoded-string language."""
    body = encode_chars(chars)
    if body == NEVER:
        return NEVER
    return cat(QUOTE, body, QUOTE)


def literal_strings(values) -> tuple:
    """The decoded-string language of a finite set of strings."""
    return alt(*(lit(v) if v else EMPTY for v in values)) if values else NEVER


ANY_STRING_LEXEME = string_lexeme_regex(ANY_STRING)
