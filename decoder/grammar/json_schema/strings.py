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
  control;
* ``\\uXXXX`` (hex digits in either case) for every non-ASCII code point of the Basic
  Multilingual Plane, and a surrogate pair ``\\uD8XX\\uDCXX`` for every code point above it:
  what ``json.dumps`` writes by default (``ensure_ascii=True``). One escape, or one pair,
  is one code point, so ``minLength``/``maxLength``, ``pattern``, ``enum`` and ``const``
  see the decoded string.

Not accepted (a completeness gap, never a soundness one): ``\\uXXXX`` escapes of printable
ASCII characters (``\\u0041`` for ``A``; no serializer writes them) and lone surrogates.
"""

from __future__ import annotations

from functools import lru_cache

from ..ir import (
    EMPTY,
    MAX_CODEPOINT,
    NEVER,
    alt,
    cat,
    counted,
    cps,
    lit,
    negate_ranges,
    normalize_ranges,
    rep,
    star,
    unit,
)
from . import _automata, automata
from .regexops import ANY_CP, _in_ranges, _intersect_ranges

QUOTE = lit('"')
ANY_STRING = star(ANY_CP)  # decoded strings: any sequence of code points
_PLAIN = normalize_ranges([(0x20, 0x21), (0x23, 0x5B), (0x5D, MAX_CODEPOINT)])
_SHORT_ESC = {
    0x22: '\\"',
    0x5C: "\\\\",
    0x2F: "\\/",
    0x08: "\\b",
    0x0C: "\\f",
    0x0A: "\\n",
    0x0D: "\\r",
    0x09: "\\t",
}
_HEX = "0123456789abcdef"


def _hexdigit(d: int):
    ch = _HEX[d]
    return (
        lit(ch) if ch.isdigit() else cps([(ord(ch), ord(ch)), (ord(ch.upper()), ord(ch.upper()))])
    )


def _escapes(c: int) -> list:
    out = []
    if c in _SHORT_ESC:
        out.append(lit(_SHORT_ESC[c]))
    if c < 0x20:
        out.append(cat(lit("\\u00"), lit(str(c >> 4)), _hexdigit(c & 15)))
    return out


def _hex_digits(lo: int, hi: int):
    """One hex digit with a value in [lo, hi], letters in either case."""
    ranges = []
    if lo <= min(hi, 9):
        ranges.append((0x30 + lo, 0x30 + min(hi, 9)))
    a, b = max(lo, 10), hi
    if a <= b:
        ranges += [(0x41 + a - 10, 0x41 + b - 10), (0x61 + a - 10, 0x61 + b - 10)]
    return cps(ranges)


def _hex_range(lo: int, hi: int, width: int):
    """``width`` hex digits whose value is in [lo, hi] (a digit-range decomposition)."""
    if width == 0:
        return EMPTY
    unit = 16 ** (width - 1)
    dl, rl = divmod(lo, unit)
    dh, rh = divmod(hi, unit)
    if dl == dh:
        return cat(_hex_digits(dl, dl), _hex_range(rl, rh, width - 1))
    parts = []
    first, last = dl, dh
    if rl != 0:
        parts.append(cat(_hex_digits(dl, dl), _hex_range(rl, unit - 1, width - 1)))
        first = dl + 1
    tail = None
    if rh != unit - 1:
        tail = cat(_hex_digits(dh, dh), _hex_range(0, rh, width - 1))
        last = dh - 1
    if first <= last:
        any_rest = rep(_hex_digits(0, 15), width - 1, width - 1) if width > 1 else EMPTY
        parts.append(cat(_hex_digits(first, last), any_rest))
    if tail is not None:
        parts.append(tail)
    return alt(*parts)


@lru_cache(maxsize=4096)  # the same spans recur in every class (e.g. [^"\\] up to U+10FFFF)
def _u_escapes(a: int, b: int) -> tuple:
    """The ``\\uXXXX`` encodings of the non-ASCII code points in [a, b]: one escape in the
    Basic Multilingual Plane (surrogates excluded), a surrogate pair above it."""
    out = []
    for lo, hi in ((max(a, 0x80), min(b, 0xD7FF)), (max(a, 0xE000), min(b, 0xFFFF))):
        if lo <= hi:
            out.append(cat(lit("\\u"), _hex_range(lo, hi, 4)))
    lo, hi = max(a, 0x10000), min(b, MAX_CODEPOINT)
    if lo <= hi:
        hl, ll = divmod(lo - 0x10000, 0x400)
        hh, lh = divmod(hi - 0x10000, 0x400)

        def pair(h1: int, h2: int, l1: int, l2: int):
            return cat(
                lit("\\u"),
                _hex_range(0xD800 + h1, 0xD800 + h2, 4),
                lit("\\u"),
                _hex_range(0xDC00 + l1, 0xDC00 + l2, 4),
            )

        if hl == hh:
            out.append(pair(hl, hh, ll, lh))
        else:
            out.append(pair(hl, hl, ll, 0x3FF))
            if hl + 1 <= hh - 1:
                out.append(pair(hl + 1, hh - 1, 0, 0x3FF))
            out.append(pair(hh, hh, 0, lh))
    return tuple(out)


_ALL_CONTROLS_U = cat(
    lit("\\u00"), cps([(0x30, 0x31)]), cps([(0x30, 0x39), (0x41, 0x46), (0x61, 0x66)])
)


@lru_cache(maxsize=8192)
def _encode_ranges(ranges: tuple):
    """The JSON string encodings of one code point of ``ranges``: the plain characters as
    one class, then each range's ``\\uXXXX`` escapes, then the short and control escapes
    (``_encode_ranges_reference`` in tests/test_json_schema_keys_lexeme.py is the
    straightforward version; this one gives the same tuple, faster: the complement of an
    object's key names is a new argument for every key set)."""
    plain = []
    specials = []
    full_controls = False
    parts_u: list = []
    prev = -1  # ranges sorted and disjoint so far (then every part below is distinct)
    disjoint = True
    for a, b in ranges:
        if a <= prev:
            disjoint = False
        prev = b
        if 0x5D <= a <= b and (b <= 0xD7FF or 0xE000 <= a and b <= MAX_CODEPOINT):
            # plain: no short or control escape
            plain.append((a, b))
        else:
            for pa, pb in _PLAIN:
                lo, hi = max(a, pa), min(b, pb)
                if lo <= hi:
                    plain.append((lo, hi))
            if a <= 0 and b >= 0x1F:
                full_controls = True
            if a <= 0x5C:
                for c in (0x22, 0x5C, 0x2F, 0x08, 0x0C, 0x0A, 0x0D, 0x09):
                    if a <= c <= b:
                        specials.append(c)
                if not full_controls and a <= 0x1F:
                    specials.extend(range(max(a, 0), min(b, 0x1F) + 1))
        if b >= 0x80:  # _u_escapes reads max(a, 0x80) only: one cache entry per tail
            parts_u.extend(_u_escapes(max(a, 0x80), b))
    parts = [cps(plain)] if plain else []
    parts += parts_u
    for c in sorted(set(specials)):
        if full_controls and c < 0x20:
            if c in _SHORT_ESC:
                parts.append(lit(_SHORT_ESC[c]))
            continue
        parts.extend(_escapes(c))
    if full_controls:
        parts.append(_ALL_CONTROLS_U)
    if not disjoint:
        return alt(*parts)
    # what alt(*parts) gives without hashing them: for disjoint ranges the parts denote
    # disjoint non-empty sets of strings (no two equal), and none is an alt or never
    return NEVER if not parts else parts[0] if len(parts) == 1 else ("alt", tuple(parts))


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
        elif k == "dfa":  # an intersection or complement: the product with the escape decoder
            r = automata.encode_json(automata.to_dfa(n))
        else:
            raise ValueError(f"regex node {k!r} cannot describe decoded string content")
        memo[key] = (n, r)
        return r

    try:
        return enc(node)
    finally:
        enc = None  # break the recursive closure's reference cycle (freed without the GC)


def counted_chars(chars, lo: int, hi: int | None):
    """``chars`` restricted to ``lo..hi`` code points *by a counter*: a decoded-level
    ``("counted", chars, lo, hi)`` node that :func:`string_lexeme_regex` turns into the
    engine's counted repetition (each encoded code point one unit), or None where a counter
    would not be exact: ``chars`` holds an automaton (a ``dfa`` node), or its lengths have a
    gap too wide for the bounds (see :func:`max_length_gap`).

    The lexer keeps a state with count ``c`` while ``[c + fewest, c + most]`` units left
    (over the paths from it) meets ``[lo, hi]``. Once ``c >= lo`` the window ``[0, hi - c]``
    starts at 0, so meeting the hull is meeting the lengths themselves; below ``lo`` the
    window ``[lo - c, hi - c]`` is ``hi - lo + 1`` wide, and it can fall in a gap of the
    lengths (``(ab)*`` has only even ones) only if a gap is that wide: then no counter."""
    from .regexops import has_dfa

    if has_dfa(chars):
        return None
    if lo > 0 and hi is not None:
        got = _GAP_MEMO.get(id(chars))
        if got is not None and got[0] is chars:
            return None if got[1] is None or got[1] > hi - lo else ("counted", chars, lo, hi)
        try:
            d = automata.to_dfa(chars)
        except automata.RegexBudgetError:
            return None
        gap = max_length_gap(d)
        if len(_GAP_MEMO) > 512:
            _GAP_MEMO.clear()
        _GAP_MEMO[id(chars)] = (chars, gap)
        if gap is None or gap > hi - lo:
            return None
    return ("counted", chars, lo, hi)


_GAP_MEMO: dict = {}  # id(chars) -> (chars, max_length_gap): formats and patterns recur


def max_length_gap(d, max_steps: int = 4096) -> int | None:
    """The longest run of lengths missing between two lengths that complete ``d`` from one of
    its states (0 when every state's lengths are an interval; ``(ab)*``: 1), or None when
    the computation exceeds ``max_steps``.

    ``A[n]``: the states that accept after exactly ``n`` more code points (``A[0]`` the
    finals, ``A[n+1]`` their predecessors); the sequence repeats from the first ``A[n]`` seen
    before, so each state's lengths are its membership bits along the sequence with the
    repeating part continued (twice is enough to see every gap)."""
    preds: list[set] = [set() for _ in range(d.n)]
    for s, es in enumerate(d.edges):
        for _lo, _hi, t in es:
            preds[t].add(s)
    seen: dict = {}
    seq: list = []
    cur = frozenset(d.finals)
    while cur not in seen:
        if len(seq) >= max_steps:
            return None
        seen[cur] = len(seq)
        seq.append(cur)
        cur = frozenset(p for q in cur for p in preds[q])
    seq = seq + seq[seen[cur] :] * 2
    worst = 0
    last: dict = {}  # state -> the last n it was in A[n]
    for n, a in enumerate(seq):
        for s in a:
            before = last.get(s)
            if before is not None and n - before - 1 > worst:
                worst = n - before - 1
            last[s] = n
    return worst


def _encode_units(node):
    """encode_chars for the body of a counted node: every code point one ``unit``."""
    k = node[0]
    if k in ("empty", "never"):
        return node
    if k == "cps":
        return unit(_encode_ranges(node[1]))
    if k == "bytes":
        return cat(*(unit(_encoded_char(ch)) for ch in node[1].decode("utf-8")))
    if k == "cat":
        return cat(*(_encode_units(m) for m in node[1]))
    if k == "alt":
        return alt(*(_encode_units(m) for m in node[1]))
    if k == "rep":
        return rep(_encode_units(node[1]), node[2], node[3])
    raise ValueError(f"regex node {k!r} cannot be counted")


# Leaf encodings that recur across compiles return the same regex object: string_lexeme_regex
# by the identity of its (long-lived: ANY_STRING, a parsed pattern's node, a format's regex)
# argument, star_minus_lexeme by that and the key set. The builder's ``lexeme`` then finds the
# object by identity, and the serialiser copies its words from the last grammar that wrote them
# (_wire.serialize_words) instead of walking the tuples again. Each entry holds its argument,
# so an id is not reused while it is there; both are pure functions of their arguments.
_LEXEME_MEMO: dict = {}
_STAR_MINUS_MEMO: dict = {}
_LEAF_MEMO_MAX = 4096
_STAR_MINUS_MEMO_MAX = 1024  # its results grow with the key set: small sets only, fewer
_STAR_MINUS_MEMO_KEYS = 256
# ... and its bytes are bounded, not only its entries: a result holds ~600 bytes of regex tuples
# per key character (measured with tracemalloc over random key sets of 10-256 keys), so 1,024
# entries of 256 sixty-character keys would hold ~10 GB. The memo holds at most this many key
# characters (each key's length plus one) in all, ~60 MB, and a set above an eighth of it is
# built but not kept.
_STAR_MINUS_MEMO_CHARS = 100_000
_star_minus_chars = 0


def string_lexeme_regex(chars):
    """The full lexeme (quotes included) for a decoded-string language."""
    got = _LEXEME_MEMO.get(id(chars))
    if got is not None and got[0] is chars:
        return got[1]
    r = _string_lexeme_regex(chars)
    if len(_LEXEME_MEMO) >= _LEAF_MEMO_MAX:
        _LEXEME_MEMO.clear()
    _LEXEME_MEMO[id(chars)] = (chars, r)
    return r


def _string_lexeme_regex(chars):
    if chars[0] == "counted":  # see counted_chars
        body = counted(_encode_units(chars[1]), chars[2], chars[3])
        return NEVER if body == NEVER else cat(QUOTE, body, QUOTE)
    body = encode_chars(chars)
    if body == NEVER:
        return NEVER
    return cat(QUOTE, body, QUOTE)


def is_class_star(chars) -> bool:
    """Whether a decoded-string language is ``C*`` for a code-point class ``C``."""
    return chars[0] == "rep" and chars[1][0] == "cps" and chars[2] == 0 and chars[3] is None


def _encoded_char(ch: str):
    c = ord(ch)
    return ("bytes", ch.encode("ascii")) if c in _SELF_ENCODING else _encode_ranges(((c, c),))


def _runs_of(points: list) -> tuple:
    """The maximal runs ``((lo, hi), ...)`` of sorted distinct code points (what
    ``normalize_ranges`` makes of their one-point ranges)."""
    out: list = []
    for c in points:
        if out and c == out[-1][1] + 1:
            out[-1][1] = c
        else:
            out.append([c, c])
    return tuple((a, b) for a, b in out)


def _encoded_cp(c: int):
    """``_encoded_char`` of the character with code point ``c``."""
    return ("bytes", bytes((c,))) if c in _SELF_ENCODING else _encode_ranges(((c, c),))


class _EncodedCps(dict):
    """``_encoded_cp`` by code point, kept across compiles (at most 4,096 characters): the
    excluded-keys walk asks it once per character of every new key set, and a plain
    character's encoding was a new tuple at each call; a dict lookup from the Cython walk
    makes no Python call (docs/optimizations.md, "Compile time, round fourteen")."""

    __slots__ = ()

    def __missing__(self, c: int):
        r = _encoded_cp(c)
        if len(self) < 4096:
            self[c] = r
        return r


_ENCODED_CPS = _EncodedCps()


def _alt_distinct(branches: list):
    """``alt`` of branches known to be distinct (no structural dedup: hashing nested tuples
    at every level of a deep trie is quadratic)."""
    branches = [b for b in branches if b[0] != "never"]
    if not branches:
        return NEVER
    return branches[0] if len(branches) == 1 else ("alt", tuple(branches))


def _runs_minus(runs: tuple, cut: tuple) -> tuple:
    """The maximal runs of the code points of ``runs`` (sorted disjoint, not adjacent) other
    than those of ``cut`` (sorted): each cut point splits its run."""
    out = []
    j, n = 0, len(cut)
    for a, b in runs:
        while j < n and cut[j] < a:
            j += 1
        while j < n and cut[j] <= b:
            c = cut[j]
            if a < c:
                out.append((a, c - 1))
            a = c + 1
            j += 1
        if a <= b:
            out.append((a, b))
    return tuple(out)


def star_minus_lexeme(chars, keys):
    """``string_lexeme_regex(minus_finite(chars, keys))`` for ``chars = C*``; the same object
    for the same ``chars`` object and key set (see ``_LEXEME_MEMO``)."""
    global _star_minus_chars
    ks = frozenset(keys)
    if len(ks) > _STAR_MINUS_MEMO_KEYS:
        return _star_minus_lexeme(chars, ks)
    got = _STAR_MINUS_MEMO.get((id(chars), ks))
    if got is not None and got[0] is chars:
        return got[1]
    r = _star_minus_lexeme(chars, ks)
    size = sum(map(len, ks)) + len(ks)
    if size > _STAR_MINUS_MEMO_CHARS >> 3:
        return r
    if (
        len(_STAR_MINUS_MEMO) >= _STAR_MINUS_MEMO_MAX
        or _star_minus_chars + size > _STAR_MINUS_MEMO_CHARS
    ):
        _STAR_MINUS_MEMO.clear()
        _star_minus_chars = 0
    _STAR_MINUS_MEMO[(id(chars), ks)] = (chars, r)
    _star_minus_chars += size
    return r


def forget_tracked_star_minus() -> None:
    """Drops the entries whose result is still tracked by the collector: no grammar wrote it
    (the serialiser untracks what it writes), as after a compile that failed (see
    ``json_schema._forget_unwritten``)."""
    global _star_minus_chars
    import gc

    for k, v in list(_STAR_MINUS_MEMO.items()):  # (copied in one call: see _forget_unwritten)
        if gc.is_tracked(v[1]) and _STAR_MINUS_MEMO.pop(k, None) is not None:
            ks = k[1]
            _star_minus_chars -= sum(map(len, ks)) + len(ks)


def _star_minus_lexeme(chars, keys):
    """``string_lexeme_regex(minus_finite(chars, keys))`` for ``chars = C*``, built directly.

    The complement of a key set (the extra keys of an object) is the most common large
    string language of real schemas. With ``P`` the prefixes of the keys (a trie), ``Y`` the
    code points used in keys and ``X = C - Y``::

        C* - K  =  (P - K)  |  ( U_p p (Y - next(p))  |  P X ) C*

    where ``next(p)`` are the code points that continue prefix ``p`` in the trie. Each trie
    node then costs a few NFA states: the exits through ``X`` (non-ASCII, escapes: the
    large encodings) are written once after ``P``, not once per node, and the ``C*`` tail
    appears once, so every exit of the trie lands in the same lexer state (a
    derivative-built complement repeats the tail per node). Linear in the total length of
    the keys; no intermediate decoded regex, no structural dedup.
    """
    ranges = chars[1][1]
    got = _automata.star_minus_walk(
        keys,
        ranges,
        _SELF_ENCODING,
        _encode_ranges,
        _ENCODED_CPS.__getitem__,
        NEVER,
        EMPTY,
        _C_WALK_MAX_LEN,
    )
    fin, ext, pre, points = got if got is not None else _star_minus_walk(ranges, keys)
    if ranges == ANY_CP[1]:  # no surrogates in the class, so none among the used points
        others = _runs_minus(ranges, tuple(points))
    else:
        used_ranges = _runs_of([c for c in points if not 0xD800 <= c <= 0xDFFF])
        others = _intersect_ranges(ranges, negate_ranges(list(used_ranges)))
    leave = _alt_distinct([ext, cat(pre, _encode_ranges(others)) if others else NEVER])
    return cat(QUOTE, _alt_distinct([fin, cat(leave, encode_chars(chars))]), QUOTE)


#: keys of more code points than this go to the Python walk (_automata's recurses on the C
#: stack, once per code point; Python's is bounded by its recursion limit)
_C_WALK_MAX_LEN = 1000


def _star_minus_walk(ranges, keys):
    """The trie walk of ``_star_minus_lexeme`` in Python: ``(P - K, exits through Y, P)``
    and the sorted code points ``Y``. ``_automata.star_minus_walk`` builds the same tuples;
    this one takes the keys too long for it (and is its reference in the tests)."""
    trie: dict = {}  # code point -> subtrie; -1 marks the end of a key
    used: set = set()
    for key in keys:
        cs = [ord(ch) for ch in key]
        if all(_in_ranges(c, ranges) for c in cs):  # other keys are not in C*
            t = trie
            for c in cs:
                nxt = t.get(c)
                if nxt is None:
                    nxt = t[c] = {}
                t = nxt
            used.update(cs)
            t[-1] = True
    points = sorted(used)
    plain = all(c in _SELF_ENCODING for c in used)
    used_runs = _runs_of(points)
    exits_memo: dict = {}

    def exits(children: tuple):  # encodings of Y - next(p); children: sorted code points of Y
        got = exits_memo.get(children)
        if got is None:
            rs = _runs_minus(used_runs, children)
            if not rs:
                got = NEVER
            elif plain:  # letters, digits, ...: each encodes as itself
                got = ("cps", rs)
            else:
                got = _encode_ranges(rs)
            exits_memo[children] = got
        return got

    # walk() below builds, per trie node, _alt_distinct of the branches cat(enc(c), sub)
    # (NEVER branches dropped, EMPTY tails elided); inlined, with the leaves and the
    # encodings of characters computed once: it is the hot loop of objects with many keys.
    leaf = (NEVER, exits(()), EMPTY)
    enc_of: dict = {}

    def walk(t):  # -> (P - K, exits through Y, P) below this node
        if -1 in t:
            if len(t) == 1:
                return leaf
            children = sorted(t)
            del children[0]  # the end mark, the smallest
            fin = []
        else:
            children = sorted(t)
            fin = [EMPTY]
        e0 = exits(tuple(children))
        ext = [] if e0[0] == "never" else [e0]
        pre = [EMPTY]
        for c in children:
            sub = t[c]
            f, e, q = leaf if len(sub) == 1 and -1 in sub else walk(sub)
            ec = enc_of.get(c)
            if ec is None:
                ec = enc_of[c] = _encoded_cp(c)
            k = f[0]
            if k == "empty":
                fin.append(ec)
            elif k != "never":
                fin.append(("cat", (ec, f)))
            k = e[0]
            if k == "empty":
                ext.append(ec)
            elif k != "never":
                ext.append(("cat", (ec, e)))
            k = q[0]
            if k == "empty":
                pre.append(ec)
            elif k != "never":
                pre.append(("cat", (ec, q)))
        return (
            (NEVER if not fin else fin[0] if len(fin) == 1 else ("alt", tuple(fin))),
            (NEVER if not ext else ext[0] if len(ext) == 1 else ("alt", tuple(ext))),
            (pre[0] if len(pre) == 1 else ("alt", tuple(pre))),
        )

    fin, ext, pre = walk(trie)
    walk = None  # break the recursive closure's reference cycle (freed without the GC)
    return fin, ext, pre, points


def literal_strings(values) -> tuple:
    """The decoded-string language of a finite set of strings."""
    return alt(*(lit(v) if v else EMPTY for v in values)) if values else NEVER


ANY_STRING_LEXEME = string_lexeme_regex(ANY_STRING)
