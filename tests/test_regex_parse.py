"""decoder.grammar.regex: patterns (Python and ECMA syntax) to the IR, checked against ``re``.

Every case is checked two independent ways: through ``to_python_regex`` and
``re``, and through a small set-of-positions matcher over the IR written here,
so a bug in ``to_python_regex`` cannot hide one in ``parse_regex``.
"""

from __future__ import annotations

import random
import re
import unicodedata

import pytest

from decoder.errors import GrammarError
from decoder.grammar import ir
from decoder.grammar.regex import parse_regex, to_python_regex


# ---------------------------------------------------------------- an independent IR matcher
def _ends(node, data: bytes, starts: frozenset) -> frozenset:
    """Byte offsets where ``node`` can end when started at any offset in ``starts``."""
    if not starts:
        return starts
    t = node[0]
    if t == "empty":
        return starts
    if t == "never":
        return frozenset()
    if t == "bytes":
        b = node[1]
        return frozenset(p + len(b) for p in starts if data.startswith(b, p))
    if t == "byteset":
        return frozenset(
            p + 1
            for p in starts
            if p < len(data) and any(lo <= data[p] <= hi for lo, hi in node[1])
        )
    if t == "cps":
        out = set()
        for p in starts:
            if p >= len(data):
                continue
            n = 1 if data[p] < 0x80 else 2 if data[p] < 0xE0 else 3 if data[p] < 0xF0 else 4
            try:
                c = ord(data[p : p + n].decode("utf-8"))
            except UnicodeDecodeError:
                continue
            if any(lo <= c <= hi for lo, hi in node[1]):
                out.add(p + n)
        return frozenset(out)
    if t == "cat":
        cur = starts
        for n in node[1]:
            cur = _ends(n, data, cur)
        return cur
    if t == "alt":
        return frozenset().union(*(_ends(n, data, starts) for n in node[1]))
    if t == "rep":
        _, n, lo, hi = node
        cur = starts
        for _ in range(lo):
            nxt = _ends(n, data, cur)
            if nxt == cur:
                break
            cur = nxt
        result = set(cur)
        k = lo
        frontier = cur
        while frontier and (hi is None or k < hi):
            frontier = _ends(n, data, frontier) - result
            result |= frontier
            k += 1
        return frozenset(result)
    raise AssertionError(node)


def ir_fullmatch(node, s: str) -> bool:
    data = s.encode("utf-8")
    return len(data) in _ends(node, data, frozenset([0]))


# ---------------------------------------------------------------- test strings
EXTRA = list("aAbBzZ09_ -.\n\t\r") + [
    "é",
    "É",
    "ß",
    "ẞ",
    "ſ",
    "\u212a",
    "k",
    "K",
    "s",
    "S",
    "σ",
    "Σ",
    "ς",
    "µ",
    "μ",
    "ü",
    "٣",
    "\u00a0",
    "\u2028",
    "\u3000",
    "😀",
    "ж",
    "Ж",
    "\x00",
    "\x08",
    "\x0b",
]


def _strings(pattern: str, alphabet_extra=(), n: int = 250, seed: int = 0):
    rnd = random.Random(hash((pattern, seed)) & 0xFFFFFFFF)
    alpha = sorted(
        set(c for c in pattern if c.isprintable() or c in "\n\t") | set(EXTRA) | set(alphabet_extra)
    )
    out = {"", *alpha}
    out |= {a + b for a in alpha[:12] for b in alpha[:12]}
    for _ in range(n):
        out.add("".join(rnd.choice(alpha) for _ in range(rnd.randint(0, 8))))
    return sorted(out)


def _check(node, reference, strings, label):
    py = to_python_regex(node)
    rx = re.compile(py)
    for s in strings:
        want = reference(s)
        got_ir = ir_fullmatch(node, s)
        got_py = rx.fullmatch(s) is not None
        assert got_ir == want, f"{label}: IR matcher says {got_ir} on {s!r}, re says {want}"
        assert got_py == want, f"{label}: to_python_regex {py!r} says {got_py} on {s!r}"


# ---------------------------------------------------------------- Python syntax
PY_CASES = [
    ("abc", ""),
    ("a|b|cd", ""),
    ("(ab)*c", ""),
    ("a+b?", ""),
    ("a{2}", ""),
    ("a{2,}", ""),
    ("a{1,3}b", ""),
    ("a{,2}", ""),
    ("x{}", ""),
    ("a{", ""),
    ("a{,}", ""),
    ("[abc]+", ""),
    ("[^abc]", ""),
    ("[a-z0-9_]+", ""),
    ("[]a]", ""),
    ("[^]a]", ""),
    ("[a-]", ""),
    ("[\\-a]", ""),
    (".", ""),
    (".", "s"),
    (".*", ""),
    ("\\d+", ""),
    ("\\D", ""),
    ("\\w+", ""),
    ("\\W", ""),
    ("\\s", ""),
    ("\\S", ""),
    ("[\\d\\s]", ""),
    ("[^\\w]", ""),
    ("\\d", "a"),
    ("\\w", "a"),
    ("\\s", "a"),
    ("(?a:\\w)\\w", ""),
    ("\\x41\\u00e9\\U0001F600", ""),
    ("\\n\\t\\r\\f\\v\\a\\0", ""),
    ("\\101\\0", ""),
    ("[\\101-\\132]", ""),
    ("[\\b]", ""),
    ("\\N{LATIN SMALL LETTER E WITH ACUTE}", ""),
    ("\\.\\*\\\\\\-", ""),
    ("(?:ab|cd)+?", ""),
    ("(?P<n>a)(?P<m>b)?", ""),
    ("a*?b", ""),
    ("a??", ""),
    ("a{1,2}?", ""),
    ("hello", "i"),
    ("(?i)straße", ""),
    ("(?i)[a-c]+", ""),
    ("(?i)[^k]", ""),
    ("(?i:s)s", ""),
    ("[^a-zA-Z]", "i"),
    ("(?i)σ", ""),
    ("(?i)[\\w-]", ""),
    ("(?i)é", ""),
    ("(?i)i", ""),
    ("(?i)[k-s]", ""),
    ("(?i)ж", ""),
    ("(?i)\\w", ""),
    ("(?-i:a)b", "i"),
    ("(?x) a b # c\n c", ""),
    ("a b", "x"),
    ("a [ ] b", "x"),
    ("(?s).a", ""),
    ("(?s:.)|.", ""),
    ("(?#comment)ab", ""),
    ("^ab$", ""),
    ("^a|b$", ""),
    ("(^a|b)c", ""),
    ("\\Aab\\Z", ""),
    ("a$", "m"),
    ("^$", ""),
    ("é+ü*😀?", ""),
    ("[α-ω]+", ""),
    ("[\\u0400-\\u04ff]", ""),
    ("(a|b)(c|d)", ""),
    ("((a|)b)*", ""),
    ("(?:)", ""),
    ("a||b", ""),
    ("(?:a*)*", ""),
    ("[^\\d\\W]", ""),
]


def _py_flags(flags: str) -> int:
    f = 0
    for c in flags:
        f |= {"i": re.I, "s": re.S, "m": re.M, "x": re.X, "a": re.A}[c]
    return f


@pytest.mark.parametrize("pattern,flags", PY_CASES, ids=[repr(p + "/" + f) for p, f in PY_CASES])
def test_python_syntax_fullmatch(pattern, flags):
    node = parse_regex(pattern, flags=flags)
    ref = re.compile(pattern, _py_flags(flags))
    extra = "ıİ" if "i" not in flags and "(?i" not in pattern else ()
    _check(node, lambda s: ref.fullmatch(s) is not None, _strings(pattern, extra), pattern)


PY_SEARCH = [
    ("a", ""),
    ("^a", ""),
    ("a$", ""),
    ("^a$", ""),
    ("^a$", "m"),
    ("b|^a", ""),
    ("\\Aa|b\\Z", ""),
    ("", ""),
    ("a.c", ""),
    ("^(a|b$)", ""),
    ("^ab|cd$", "m"),
]


@pytest.mark.parametrize("pattern,flags", PY_SEARCH)
def test_python_syntax_search(pattern, flags):
    node = parse_regex(pattern, flags=flags, search=True)
    ref = re.compile(pattern, _py_flags(flags))
    _check(node, lambda s: ref.search(s) is not None, _strings(pattern, "\n"), pattern)


# ---------------------------------------------------------------- ECMA syntax
ECMA_SPACE = (
    "[\\t\\n\\v\\f\\r \\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000\\ufeff]"
)
ECMA_LT = "\\n\\r\\u2028\\u2029"


def _gc(prefix):
    return lambda s: len(s) == 1 and unicodedata.category(s).startswith(prefix)


# (ECMA pattern, flags, search?, reference: a Python pattern or a predicate)
ECMA_CASES = [
    ("\\d+", "", False, "[0-9]+"),
    ("\\w+", "", False, "[A-Za-z0-9_]+"),
    ("\\s", "", False, ECMA_SPACE),
    ("\\S", "", False, "[^" + ECMA_SPACE[1:]),
    ("\\D", "", False, "[^0-9]"),
    ("\\W", "", False, "[^A-Za-z0-9_]"),
    (".", "", False, "[^" + ECMA_LT + "]"),
    (".", "s", False, "(?s:.)"),
    ("\\u{1F600}", "u", False, "\U0001f600"),
    ("\\uD83D\\uDE00", "", False, "\U0001f600"),
    ("\\cJ\\0\\x41\\u00e9", "", False, "\\n\\x00A\\u00e9"),
    ("[\\b]", "", False, "\\x08"),
    ("[]", "", False, "(?!)"),
    ("[^]", "", False, "(?s:.)"),
    ("a{2,3}", "", False, "a{2,3}"),
    ("a{,3}", "", False, "a\\{,3\\}"),
    ("[a-c\\-]+", "", False, "[a-c\\-]+"),
    ("\\/\\.", "", False, "/\\."),
    ("(?<y>\\d{2})-(?:\\k)?", "", None, None),
    ("\\p{Lu}", "", False, _gc("Lu")),
    ("\\p{L}+", "", False, None),
    ("\\P{N}", "", False, None),
    ("\\p{General_Category=Nd}", "", False, _gc("Nd")),
    ("[\\p{Ll}\\d]", "", False, None),
    ("abc", "i", False, "(?i)abc"),
    ("[a-z]+", "i", False, "(?i)[a-z]+"),
    ("σ", "i", False, "(?i)σ"),
    ("\\w", "i", False, "[A-Za-z0-9_\u017f\u212a]"),
    ("\\W", "i", False, "[^A-Za-z0-9_\u017f\u212a]"),
    ("ß", "i", False, "[ßẞ]"),
    ("abc", "", True, "abc"),
    ("^abc", "", True, "^abc"),
    ("abc$", "", True, "abc\\Z"),
    ("^a|b$", "", True, "^a|b\\Z"),
    ("^\\d{3}-\\d{4}$", "", True, "^[0-9]{3}-[0-9]{4}\\Z"),
    ("^a$", "m", True, "(?:^|(?<=[" + ECMA_LT + "]))a(?=[" + ECMA_LT + "]|\\Z)"),
    ("", "", True, ""),
    ("^[a-z]+(?:-[a-z]+)*$", "", True, "^[a-z]+(?:-[a-z]+)*\\Z"),
]


@pytest.mark.parametrize(
    "pattern,flags,search,reference", ECMA_CASES, ids=[repr(c[0] + "/" + c[1]) for c in ECMA_CASES]
)
def test_ecma_syntax(pattern, flags, search, reference):
    if reference is None and search is None:
        with pytest.raises(GrammarError):
            parse_regex(pattern, syntax="ecma", flags=flags)
        return
    node = parse_regex(pattern, syntax="ecma", flags=flags, search=search)
    if reference is None:  # general categories: check against unicodedata
        cats = {
            "\\p{L}+": lambda s: bool(s) and all(unicodedata.category(c)[0] == "L" for c in s),
            "\\P{N}": lambda s: len(s) == 1 and unicodedata.category(s)[0] != "N",
            "[\\p{Ll}\\d]": lambda s: len(s) == 1
            and (unicodedata.category(s) == "Ll" or s in "0123456789"),
        }
        pred = cats[pattern]
    elif callable(reference):
        pred = reference
    else:
        ref = re.compile(reference)
        pred = (
            (lambda s: ref.search(s) is not None)
            if search
            else (lambda s: ref.fullmatch(s) is not None)
        )
    _check(node, pred, _strings(pattern, "\u2029\u1680\ufeff"), pattern)


def test_ecma_control_escape_case():
    assert parse_regex("\\cJ\\0", syntax="ecma") == ("bytes", b"\n\x00")


# ---------------------------------------------------------------- structure
def test_case_insensitive_structure():
    assert parse_regex("k", flags="i") == ("cps", ((0x4B, 0x4B), (0x6B, 0x6B), (0x212A, 0x212A)))
    assert parse_regex("s", flags="i") == ("cps", ((0x53, 0x53), (0x73, 0x73), (0x17F, 0x17F)))
    assert parse_regex("1", flags="i") == ("bytes", b"1")
    assert parse_regex("(?i)a1") == ("cat", (("cps", ((65, 65), (97, 97))), ("bytes", b"1")))


def test_huge_bounds_are_symbolic():
    assert parse_regex("a{1000000}") == ("rep", ("bytes", b"a"), 1000000, 1000000)
    node = parse_regex("(?:ab){2,4294967294}")
    assert node == ("rep", ("bytes", b"ab"), 2, 4294967294)
    assert to_python_regex(node) == "(?:ab){2,4294967294}"


def test_edges_and_literals():
    assert parse_regex("abc") == ("bytes", b"abc")
    assert parse_regex("^abc$") == ("bytes", b"abc")
    assert parse_regex("") == ir.EMPTY
    assert parse_regex("[]", syntax="ecma") == ir.NEVER
    assert to_python_regex(ir.NEVER) and re.fullmatch(to_python_regex(ir.NEVER), "a") is None
    assert parse_regex("a", search=True) == (
        "cat",
        (
            ir.star(("cps", ((0, 0xD7FF), (0xE000, 0x10FFFF)))),
            ("bytes", b"a"),
            ir.star(("cps", ((0, 0xD7FF), (0xE000, 0x10FFFF)))),
        ),
    )


def test_to_python_regex_byteset():
    assert to_python_regex(ir.byteset([(0x30, 0x39)])) == "[0-9]"
    with pytest.raises(ValueError):
        to_python_regex(ir.byteset([(0x80, 0xFF)]))


# ---------------------------------------------------------------- errors
ERRORS = [
    ("a(?=b)", "python", "unsupported lookahead at position 1:\n  a(?=b)\n   ^"),
    ("(?!a)", "ecma", "unsupported lookahead at position 0:\n  (?!a)\n  ^"),
    ("(?<!a)b", "python", "unsupported lookbehind at position 0:\n  (?<!a)b\n  ^"),
    ("(a)\\1", "python", "unsupported backreference at position 3:\n  (a)\\1\n     ^"),
    (
        "(?P<x>a)(?P=x)",
        "python",
        "unsupported backreference at position 8:\n  (?P<x>a)(?P=x)\n          ^",
    ),
    (
        "(?<x>a)\\k<x>",
        "ecma",
        "unsupported backreference at position 7:\n  (?<x>a)\\k<x>\n         ^",
    ),
    ("\\bfoo", "python", "unsupported word boundary \\b at position 0:\n  \\bfoo\n  ^"),
    ("a^b", "python", "unsupported ^ in the middle of the pattern at position 1:\n  a^b\n   ^"),
    ("a$b", "ecma", "unsupported $ in the middle of the pattern at position 1:\n  a$b\n   ^"),
    ("(a|^b)*", "python", "unsupported ^ inside a repetition at position 3:\n  (a|^b)*\n     ^"),
    ("a*+", "python", "unsupported possessive quantifier at position 1:\n  a*+\n   ^"),
    ("(?>a)", "python", "unsupported atomic group at position 0:\n  (?>a)\n  ^"),
    ("a**", "python", "multiple repeat at position 2:\n  a**\n    ^"),
    ("*a", "ecma", "nothing to repeat at position 0:\n  *a\n  ^"),
    ("[z-a]", "python", "bad character range z-a at position 1:\n  [z-a]\n   ^"),
    ("[\\d-z]", "python", "bad character range \\d-z at position 1:\n  [\\d-z]\n   ^"),
    ("(ab", "python", "missing ), unterminated subpattern at position 0:\n  (ab\n  ^"),
    ("ab)", "python", "unbalanced parenthesis at position 2:\n  ab)\n    ^"),
    ("[ab", "ecma", "unterminated character set at position 0:\n  [ab\n  ^"),
    ("\\q", "python", "bad escape \\q at position 0:\n  \\q\n  ^"),
    ("\\p{Lu}", "python", "bad escape \\p at position 0:\n  \\p{Lu}\n  ^"),
    (
        "\\p{Script=Greek}",
        "ecma",
        "unsupported Unicode property \\p{Script=Greek} at position 0:\n  \\p{Script=Greek}\n  ^",
    ),
    (
        "x\\ud800",
        "python",
        "a lone surrogate (U+D800) cannot occur in UTF-8 text at position 1:\n  x\\ud800\n   ^",
    ),
    ("a{3,2}", "python", "min repeat greater than max repeat at position 1:\n  a{3,2}\n   ^"),
    (
        "a{4294967295}",
        "python",
        "the repetition number is too large at position 1:\n  a{4294967295}\n   ^",
    ),
    (
        "a(?i)b",
        "python",
        "global flags not at the start of the expression at position 1:\n  a(?i)b\n   ^",
    ),
    ("\\x4", "python", "incomplete escape \\x4 at position 0:\n  \\x4\n  ^"),
    ("(?(1)a|b)", "python", "unsupported conditional group at position 0:\n  (?(1)a|b)\n  ^"),
]


@pytest.mark.parametrize("pattern,syntax,message", ERRORS, ids=[e[0] for e in ERRORS])
def test_errors(pattern, syntax, message):
    with pytest.raises(GrammarError) as info:
        parse_regex(pattern, syntax=syntax)
    assert str(info.value) == message
    assert info.value.pattern == pattern
    assert isinstance(info.value.position, int)


def test_multiline_error_excerpt():
    with pytest.raises(GrammarError) as info:
        parse_regex("a\n  (?=b)", flags="x")
    assert str(info.value) == "unsupported lookahead at position 4:\n    (?=b)\n    ^"


def test_bad_flags_and_syntax():
    with pytest.raises(GrammarError):
        parse_regex("a", flags="q")
    with pytest.raises(GrammarError):
        parse_regex("a", syntax="ecma", flags="v")
    with pytest.raises(ValueError):
        parse_regex("a", syntax="pcre")


def test_unicode_tables_match_unicodedata():
    """The tables behind \\s \\d \\w are built by shortcuts (one UTF-32 decode for the string
    of all code points, Zs read from Python's whitespace only): the same as the long way."""
    import sys

    from decoder.grammar import regex as R

    assert R._all_chars() == "".join(map(chr, range(sys.maxunicode + 1)))
    zs = [c for c in range(sys.maxunicode + 1) if unicodedata.category(chr(c)) == "Zs"]
    assert R._space_separators() == ir.normalize_ranges((c, c) for c in zs)
    assert R._space_separators() == R._general_categories()["Zs"]


def test_generated_unicode_classes_are_re_itself():
    """decoder/grammar/unicode_classes.py (scripts/gen_unicode_classes.py) holds Python re's
    \\d \\w \\s; where its Unicode version is this Python's, _py_class reads it instead of
    scanning every code point: it must be exactly what re matches, checked code point by code
    point on both sides of every range edge and on a sample of all code points."""
    import sys

    from decoder.grammar import regex as R
    from decoder.grammar import unicode_classes as U

    if unicodedata.unidata_version != U.UNIDATA_VERSION:
        pytest.skip("the table is for another Unicode version (_py_class scans instead)")
    rng = random.Random(7)
    for letter in "dws":
        table = R._py_class(letter)
        assert table == U.CLASSES[letter] == R._scan_py_class(letter)
        rx = re.compile("\\" + letter)
        probes = {rng.randrange(sys.maxunicode + 1) for _ in range(20_000)}
        for a, b in table:
            probes.update((a - 1, a, b, b + 1))
        for c in sorted(p for p in probes if 0 <= p <= sys.maxunicode):
            want = rx.fullmatch(chr(c)) is not None
            assert any(a <= c <= b for a, b in table) == want, (letter, hex(c))
