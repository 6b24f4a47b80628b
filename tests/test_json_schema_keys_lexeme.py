"""The excluded-keys lexeme (strings.star_minus_lexeme) is built by a tuned trie walk; it must
give exactly the regex of the straightforward walk it replaced (kept here as the reference),
and that regex must accept exactly the encoded strings of C* minus the keys."""

from __future__ import annotations

import json
import random

import pytest
from json_schema_util import accepts

from decoder.grammar.ir import EMPTY, GrammarBuilder, cat, negate_ranges, normalize_ranges
from decoder.grammar.json_schema import strings
from decoder.grammar.json_schema.regexops import ANY_CP, _in_ranges, _intersect_ranges
from decoder.grammar.json_schema.strings import (
    QUOTE,
    _alt_distinct,
    _encode_ranges,
    _encoded_char,
    encode_chars,
    star_minus_lexeme,
)


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
