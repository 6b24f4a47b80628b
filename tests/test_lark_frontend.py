"""decoder.grammar.lark: Lark grammars to the IR, and the bundled grammars."""

from __future__ import annotations

import itertools
import random
import re
from pathlib import Path

import pytest

lark = pytest.importorskip("lark")

import decoder  # noqa: E402
from decoder.errors import GrammarError  # noqa: E402
from decoder.grammar import ir  # noqa: E402
from decoder.grammar.lark import (  # noqa: E402
    KNOWN_EQUIVALENTS,
    bundled_path,
    from_lark,
    load_bundled,
)
from decoder.grammar.regex import parse_regex  # noqa: E402

BUNDLED = ["json", "arithmetic", "sql_select", "csv"]

GOOD = {
    "json": [
        '{"a": [1, 2.5e3, -0, true, null, "x\\n\\u00e9\\"\\\\"]}',
        "[]",
        '"s"',
        " 0 ",
        '{"nested": {"k": [[], {}]}, "e": 1E-7}',
        '"é😀"',
    ],
    "arithmetic": ["1 + 2*3", "-(4.5 - 1) / 2", "((1))", "1-2-3", "2*\t-3"],
    "csv": ['a,b,c\n1,"x""y",\n', "", "a\r\nb", '"multi\nline",2', ",,", "a b,c"],
    "sql_select": [
        "SELECT a, b AS c FROM t WHERE x = 1 AND y <> 'z' ORDER BY a DESC LIMIT 10;",
        "select distinct count(*) from s.t as u left outer join v on u.id = v.id "
        "group by u.k having count(*) > 1",
        "SELECT * FROM t WHERE NOT (a IS NOT NULL OR b IN (1, 2)) AND c LIKE 'x%'",
        "SELECT t.*, price * 1.5 AS p FROM t JOIN u ON t.a >= u.b LIMIT 5 OFFSET 10",
    ],
}
BAD = {
    "json": ['{"a": 01}', "[1,]", '"\x01"', "1.", "+1", "{'a': 1}", '"\\x"', "tru"],
    "arithmetic": ["1 +", "(1", "1 2", "*1"],
    "csv": ['a"b', '"a"b', '"unterminated'],
    "sql_select": [
        "SELECT FROM t",
        "SELECT a FROM",
        "SELECT a b FROM t",
        "SELECT a FROM t LIMIT x",
    ],
}


@pytest.mark.parametrize("name", BUNDLED)
def test_bundled_grammar_converts(name):
    g = from_lark(load_bundled(name))
    assert g.lexemes and g.rules
    assert g.nonterminals[g.start] == "start"
    # every symbol used is defined, and every nonterminal has a rule
    lhs = {l for l, _ in g.rules}
    for l, rhs in g.rules:
        for s in rhs:
            assert (s >= 0 and s < len(g.nonterminals)) or (s < 0 and -s - 1 < len(g.lexemes))
            if s >= 0:
                assert s in lhs
    for lx in g.lexemes:
        assert lx.regex not in (ir.EMPTY, ir.NEVER)


def test_counts_are_sensible():
    counts = {n: from_lark(load_bundled(n)) for n in BUNDLED}
    j = counts["json"]
    names = {lx.name for lx in j.lexemes}
    assert {
        "STRING",
        "NUMBER",
        "WS",
        "LBRACE",
        "RBRACE",
        "LSQB",
        "RSQB",
        "COMMA",
        "COLON",
        "TRUE",
        "FALSE",
        "NULL",
    } == names
    assert 8 <= len(counts["arithmetic"].lexemes) <= 10
    assert 40 <= len(counts["sql_select"].lexemes) <= 70
    assert len(counts["csv"].lexemes) == 4 and counts["csv"].ignore == []


@pytest.mark.parametrize("name", BUNDLED)
def test_bundled_grammar_with_lark(name):
    parser = lark.Lark(load_bundled(name))
    for text in GOOD[name]:
        parser.parse(text)
    for text in BAD[name]:
        with pytest.raises(lark.exceptions.LarkError):
            parser.parse(text)


def test_bundled_path_and_file_input():
    p = bundled_path("json")
    assert p.name == "json.lark" and p.read_text() == load_bundled("json")
    g1, g2, g3 = from_lark(p), from_lark(str(p)), from_lark(load_bundled("json"))
    assert str(g1) == str(g2) == str(g3)
    with pytest.raises(FileNotFoundError):
        load_bundled("nope")


def test_unknown_bundled_name_lists_the_known_ones():
    from decoder import Grammar
    from decoder.grammar.lark import bundled_names

    assert set(bundled_names()) >= {"json", "arithmetic", "sql_select", "csv"}
    for bad in ["jsn", "../grammars/json", "json/"]:
        with pytest.raises(
            GrammarError, match=r"no bundled grammar named .*: arithmetic, csv, json, sql_select"
        ):
            Grammar.builtin(bad)
    # inside the package (decoder/grammars/), so a wheel has them
    assert bundled_path("csv").parent.parent == Path(decoder.__file__).parent


# ---------------------------------------------------------------- generated texts parse with Lark
def _sample_regex(node, rnd):
    t = node[0]
    if t == "empty":
        return ""
    if t == "bytes":
        return node[1].decode("utf-8")
    if t == "cps":
        rs = node[1]
        ascii_rs = [(a, min(b, 0x7E)) for a, b in rs if a <= 0x7E and min(b, 0x7E) >= max(a, 0x20)]
        a, b = rnd.choice(ascii_rs if ascii_rs and rnd.random() < 0.9 else rs)
        if ascii_rs and (a, b) in ascii_rs:
            a = max(a, 0x20)
        return chr(rnd.randint(a, min(b, a + 2000)))
    if t == "cat":
        return "".join(_sample_regex(n, rnd) for n in node[1])
    if t == "alt":
        return _sample_regex(rnd.choice(node[1]), rnd)
    if t == "rep":
        _, n, lo, hi = node
        k = rnd.randint(lo, lo + 3 if hi is None else min(hi, lo + 3))
        return "".join(_sample_regex(n, rnd) for _ in range(k))
    raise AssertionError(node)


def _min_heights(g):
    h = {}
    changed = True
    while changed:
        changed = False
        for lhs, rhs in g.rules:
            if all(s < 0 or s in h for s in rhs):
                v = 1 + max([h[s] for s in rhs if s >= 0], default=0)
                if v < h.get(lhs, 1 << 30):
                    h[lhs] = v
                    changed = True
    return h


def _generate(g, rnd, max_depth=8):
    h = _min_heights(g)
    by_lhs = {}
    for lhs, rhs in g.rules:
        by_lhs.setdefault(lhs, []).append(rhs)
    out = []

    def expand(sym, depth):
        if sym < 0:
            out.append(_sample_regex(g.lexemes[-sym - 1].regex, rnd))
            return
        options = by_lhs[sym]
        if depth >= max_depth:
            best = min(1 + max([h[s] for s in r if s >= 0], default=0) for r in options)
            options = [
                r for r in options if 1 + max([h[s] for s in r if s >= 0], default=0) == best
            ]
        for s in rnd.choice(options):
            expand(s, depth + 1)

    expand(g.start, 0)
    if g.ignore:  # separate lexemes with an ignored one, as a model would
        sep = g.lexemes[g.ignore[0]].regex
        return "".join(tok + _sample_regex(sep, rnd) for tok in out)
    return "".join(out)


@pytest.mark.parametrize("name", BUNDLED)
def test_generated_texts_parse_with_lark(name):
    text = load_bundled(name)
    g = from_lark(text)
    parser = lark.Lark(text)
    rnd = random.Random(1234)
    for _ in range(60):
        sample = _generate(g, rnd)
        parser.parse(sample)


# ---------------------------------------------------------------- structure
def test_json_structure():
    g = from_lark(load_bundled("json"))
    (ws,) = g.ignore
    assert g.lexemes[ws].name == "WS"
    assert g.lexemes[ws].regex == ir.plus(ir.cps([(9, 10), (13, 13), (32, 32)]))
    string = next(lx for lx in g.lexemes if lx.name == "STRING").regex
    assert string[0] == "cat" and string[1][0] == ("bytes", b'"')


def test_case_insensitive_literal():
    g = from_lark('start: "sel"i\n')
    (lx,) = g.lexemes
    s = ("cps", ((0x53, 0x53), (0x73, 0x73), (0x17F, 0x17F)))
    e = ("cps", ((0x45, 0x45), (0x65, 0x65)))
    l_ = ("cps", ((0x4C, 0x4C), (0x6C, 0x6C)))
    assert lx.regex == ("cat", (s, e, l_))
    sql = from_lark(load_bundled("sql_select"))
    select = next(lx for lx in sql.lexemes if lx.name == "SELECT").regex
    assert select[0] == "cat" and len(select[1]) == 6 and select[1][0] == s


def test_ebnf_features():
    g = from_lark("""
        start: item+ _sep? pair{"x", "y"}? ["z"] ("q" | R)~2..3
        _sep: ";"
        pair{a, b}: a b
        item.2: DIGIT -> digit
              | "a".."c"
        R: /r+/i
        %import common.DIGIT
        %import common.WS
        %ignore WS
    """)
    names = {lx.name for lx in g.lexemes}
    assert "DIGIT" in names and "WS" in names
    regexes = {lx.regex for lx in g.lexemes}
    assert ir.cps([(ord("a"), ord("c"))]) in regexes
    assert parse_regex("r+", flags="i") in regexes
    assert len(g.ignore) == 1


def test_unused_rules_and_named_terminals_with_equal_patterns():
    g = from_lark('start: A B\nA: "x"\nB: "x"\nunused: "q"\n')
    assert len(g.lexemes) == 1  # same language: one lexeme
    assert g.rules[0][1] == (-1, -1)


def test_common_escaped_string_and_comment():
    g = from_lark(
        "start: ESCAPED_STRING C_COMMENT\n"
        "%import common.ESCAPED_STRING\n%import common.C_COMMENT\n"
    )
    by_name = {lx.name: lx.regex for lx in g.lexemes}
    assert by_name["ESCAPED_STRING"] == parse_regex(r'"(?:[^"\\\n]|\\[^\n])*"')
    assert by_name["C_COMMENT"] == parse_regex(r"/\*[^*]*\*+(?:[^/*][^*]*\*+)*/")


@pytest.mark.parametrize("original", sorted(KNOWN_EQUIVALENTS))
def test_known_equivalents_are_exact(original):
    """The tokens Python's re.match yields for the Lark pattern == our equivalent's language."""
    lark_rx = re.compile(original)
    ours = re.compile(KNOWN_EQUIVALENTS[original])
    alphabet = '"\\a\n' if '"' in original else "/*a\n"
    for n in range(0, 8):
        for chars in itertools.product(alphabet, repeat=n):
            s = "".join(chars)
            m = lark_rx.match(s)
            assert (m is not None and m.end() == len(s)) == (ours.fullmatch(s) is not None), s


# ---------------------------------------------------------------- errors
def test_malformed_grammar_syntax():
    with pytest.raises(GrammarError) as info:
        from_lark('start: "a" b\nb: "x" |\n  | )\n')
    e = info.value
    assert (e.line, e.column) == (3, 5)
    assert str(e).endswith("at line 3, column 5:\n    | )\n      ^")


def test_malformed_grammar_missing_colon():
    with pytest.raises(GrammarError) as info:
        from_lark('start "a"\n')
    assert (info.value.line, info.value.column) == (1, 7)
    assert "missing colon" in str(info.value)


def test_undefined_rule_is_located():
    with pytest.raises(GrammarError) as info:
        from_lark('start: "a" foo\n')
    assert (info.value.line, info.value.column) == (1, 12)
    assert "'foo' used but not defined" in str(info.value)


def test_declared_terminal_is_an_error():
    with pytest.raises(GrammarError, match="declared"):
        from_lark("start: A\n%declare A\n")


def test_unsupported_terminal_regex():
    with pytest.raises(GrammarError) as info:
        from_lark('start: "a" WORD\nWORD: /\\w+\\b/\n')
    assert info.value.line == 2 and "word boundary" in str(info.value)


def test_lazy_terminal():
    text = 'start: STR\nSTR: /".*?"/\n'
    with pytest.raises(GrammarError, match="lazy") as info:
        from_lark(text)
    assert info.value.line == 2
    g = from_lark(text, allow_lazy=True)
    assert g.lexemes[0].regex == parse_regex('".*"')


def test_missing_start_rule():
    with pytest.raises(GrammarError):
        from_lark('foo: "a"\n')


@pytest.mark.parametrize(
    "text, what, column",
    [
        (" /a" + "\\" * 40 + "'*", "unterminated regular expression literal", 2),
        ('start: "ab' + "\\" * 40 + "\n", "unterminated string literal", 8),
    ],
)
def test_unterminated_literals_are_named_before_lark_backtracks(text, what, column):
    """Lark's grammar lexer backtracks exponentially on an unterminated literal holding many
    backslashes (found by fuzz/fuzz_lark.py: minutes); the front end names it at once."""
    with pytest.raises(GrammarError) as e:
        decoder.Grammar.from_lark(text)
    assert what in str(e.value) and e.value.column == column, str(e.value)


def test_closed_literals_with_slashes_and_quotes_still_compile():
    g = decoder.Grammar.from_lark('start: "a/b" /c"d/ "x\\"y" // a " comment /\n')
    assert g is not None
