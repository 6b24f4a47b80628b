"""The excluded-keys lexeme (strings.star_minus_lexeme) is built by a tuned trie walk; it must
give exactly the regex of the straightforward walk it replaced (kept here as the reference),
and that regex must accept exactly the encoded strings of C* minus the keys."""

from __future__ import annotations

import json
import random

import pytest
from json_schema_util import accepts

from decoder.grammar.ir import (
    EMPTY,
    GrammarBuilder,
    alt,
    cat,
    cps,
    lit,
    negate_ranges,
    normalize_ranges,
)
from decoder.grammar.json_schema import _automata, strings
from decoder.grammar.json_schema.regexops import ANY_CP, _in_ranges, _intersect_ranges
from decoder.grammar.json_schema.strings import (
    QUOTE,
    _alt_distinct,
    _encode_ranges,
    _encoded_char,
    encode_chars,
    star_minus_lexeme,
)
from decoder.grammar.recursion import recursion_limit


def reference_star_minus_lexeme(chars, keys):
    """The walk as it was before the tuning (commit 421cb0f)."""
    ranges = chars[1][1]
    trie: dict = {}
    used: set = set()
    for key in keys:
        if all(_in_ranges(ord(ch), ranges) for ch in key):
            t = trie
            for ch in key:
                t = t.setdefault(ch, {})
                used.add(ord(ch))
            t[""] = True
    used_ranges = normalize_ranges([(c, c) for c in used])
    plain = all(c in strings._SELF_ENCODING for c in used)

    def exits(children):
        rest = sorted(used.difference(children))
        runs: list = []
        for c in rest:
            if runs and runs[-1][1] == c - 1:
                runs[-1][1] = c
            else:
                runs.append([c, c])
        rs = tuple((a, b) for a, b in runs)
        if not rs:
            return strings.NEVER
        return ("cps", rs) if plain else _encode_ranges(rs)

    def cat2(a, b):
        if b[0] == "empty":
            return a
        return strings.NEVER if b[0] == "never" else ("cat", (a, b))

    def walk(t):
        children = sorted(ch for ch in t if ch)
        fin = [] if "" in t else [EMPTY]
        ext = [exits(tuple(ord(ch) for ch in children))]
        pre = [EMPTY]
        for ch in children:
            f, e, q = walk(t[ch])
            ec = _encoded_char(ch)
            fin.append(cat2(ec, f))
            ext.append(cat2(ec, e))
            pre.append(cat2(ec, q))
        return _alt_distinct(fin), _alt_distinct(ext), _alt_distinct(pre)

    fin, ext, pre = walk(trie)
    others = _intersect_ranges(ranges, negate_ranges(list(used_ranges)))
    leave = _alt_distinct([ext, cat(pre, _encode_ranges(others)) if others else strings.NEVER])
    return cat(QUOTE, _alt_distinct([fin, cat(leave, encode_chars(chars))]), QUOTE)


ALPHABET = ["a", "b", "ab", "z", "é", '"', "\\", "/", "\n", "\x01", "😀", "-", "_", "0"]


def random_keys(rng):
    keys = set()
    for _ in range(rng.randint(0, 12)):
        keys.add("".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, 5))))
    return sorted(keys)


CLASSES = [
    ANY_CP,
    ("cps", ((0x61, 0x7A),)),  # [a-z]: keys outside the class are not excluded
    ("cps", ((0x20, 0x7E), (0xE9, 0xE9))),
]


@pytest.mark.parametrize("seed", range(40))
def test_star_minus_lexeme_equals_reference(seed):
    rng = random.Random(seed)
    cls = CLASSES[seed % len(CLASSES)]
    chars = ("rep", cls, 0, None)
    keys = random_keys(rng)
    assert star_minus_lexeme(chars, keys) == reference_star_minus_lexeme(chars, keys)


def test_star_minus_lexeme_language():
    rng = random.Random(7)
    chars = ("rep", ANY_CP, 0, None)
    for _ in range(6):
        keys = random_keys(rng)
        b = GrammarBuilder()
        s = b.nonterminal("s")
        b.rule(s, [b.lexeme("K", star_minus_lexeme(chars, keys))])
        g = b.build(s)
        probes = set(keys) | {k + "a" for k in keys} | {k[:-1] for k in keys if k}
        probes |= {
            "".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, 4))) for _ in range(40)
        }
        for p in probes:
            for text in (json.dumps(p), json.dumps(p, ensure_ascii=False)):
                assert accepts(g, text) == (p not in keys), (keys, p, text)


def reference_encode_ranges(ranges):
    """strings._encode_ranges as it was before it skipped the per-range loops (section 46)."""
    plain = []
    specials = []
    full_controls = False
    for a, b in ranges:
        for pa, pb in strings._PLAIN:
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
    for a, b in ranges:
        parts.extend(strings._u_escapes(a, b))
    for c in sorted(set(specials)):
        if full_controls and c < 0x20:
            if c in strings._SHORT_ESC:
                parts.append(lit(strings._SHORT_ESC[c]))
            continue
        parts.extend(strings._escapes(c))
    if full_controls:
        parts.append(strings._ALL_CONTROLS_U)
    return alt(*parts)


EDGES = [0, 1, 8, 9, 0x1F, 0x20, 0x22, 0x2F, 0x5B, 0x5C, 0x5D, 0x7F, 0x80, 0xFF, 0x7FF]
EDGES += [0xD7FF, 0xD800, 0xDFFF, 0xE000, 0xFFFF, 0x10000, 0x10FFFF, 0x110000]


def random_ranges(rng):
    """Sorted disjoint ranges near the encoding's edges, sometimes overlapping, unsorted or
    empty ones too (the function's contract does not ask for normalised input)."""
    points = sorted({rng.choice(EDGES) + rng.randint(-2, 2) for _ in range(rng.randint(1, 12))})
    points = [p for p in points if p >= 0]
    rs = [(points[i], points[i + 1] - 1) for i in range(0, len(points) - 1, 2)]
    rs = [(a, b) for a, b in rs if a <= b] or [(0x61, 0x7A)]
    kind = rng.random()
    if kind < 0.1:
        rs.append(rs[0])  # a repeat
    elif kind < 0.2:
        rs.reverse()
    elif kind < 0.25:
        rs.append((0x70, 0x60))  # empty
    return tuple(rs)


def test_encode_ranges_equals_reference():
    rng = random.Random(46)
    cases = [random_ranges(rng) for _ in range(3000)]
    cases += [ANY_CP[1], ((0, 0x10FFFF),), ((0x61, 0x7A),), ((0, 0x1F),), ((0x5D, 0xE000),)]
    for rs in cases:
        assert strings._encode_ranges.__wrapped__(rs) == reference_encode_ranges(rs), rs


def test_star_minus_walk_equals_the_python_walk():
    """_automata.star_minus_walk (C++ trie) builds the tuples of strings._star_minus_walk, and
    keys longer than its bound go to the Python walk with the same lexeme."""
    rng = random.Random(11)
    for seed in range(600):
        cls = CLASSES[seed % len(CLASSES)]
        keys = random_keys(rng)
        got = _automata.star_minus_walk(
            keys,
            cls[1],
            strings._SELF_ENCODING,
            strings._encode_ranges,
            strings._encoded_cp,
            strings.NEVER,
            strings.EMPTY,
            1000,
        )
        assert got == strings._star_minus_walk(cls[1], keys)
    long_keys = ["k" * 1500, "k" * 1499 + "j", "a"]
    assert (
        _automata.star_minus_walk(
            long_keys, ANY_CP[1], strings._SELF_ENCODING, None, None, None, None, 1000
        )
        is None
    )
    chars = ("rep", ANY_CP, 0, None)
    with recursion_limit(20000):  # as compile_json_schema runs (both walks recurse per char)
        got = strings._star_minus_lexeme(chars, long_keys)
        assert got == reference_star_minus_lexeme(chars, long_keys)
