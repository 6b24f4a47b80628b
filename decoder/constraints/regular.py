"""Filters that are regular languages over the output text, compiled to one regex and run by
the C++ engine (its per-state mask cache makes repeated states cost microseconds).

The regexes are Python ``re`` syntax, so tests can check them with ``re.fullmatch``.  The
engine has no complement or lookaround, so "does not contain S" is built here: the
Aho-Corasick automaton of the banned strings (over the characters they use, plus one
"any other character" class) is turned into a regex by state elimination (Brzozowski's
algebraic method), deepest states first, which keeps trie-shaped automata compact.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from ..grammar.recursion import recursion_limit
from .base import Constraint, ConstraintError

__all__ = [
    "RegexFilter",
    "not_containing",
    "containing",
    "char_class",
    "literal",
    "trie_regex",
    "trie_complement_regex",
]


# ------------------------------------------------------------------ regex text helpers


def _esc(c: str) -> str:
    """One character, escaped for use inside or outside a class."""
    if c.isascii() and c.isalnum():
        return c
    o = ord(c)
    return f"\\x{o:02x}" if o < 0x100 else (f"\\u{o:04x}" if o < 0x10000 else f"\\U{o:08x}")


def literal(s: str, ignore_case: bool = False) -> str:
    out = []
    for c in s:
        lo, up = c.lower(), c.upper()
        if ignore_case and lo != up and len(lo) == 1 and len(up) == 1:
            out.append(f"[{_esc(lo)}{_esc(up)}]")
        else:
            out.append(_esc(c))
    return "".join(out)


def char_class(chars: Iterable[str], negate: bool = False) -> str:
    cs = sorted(set(chars))
    if not cs:
        return r"[\s\S]" if negate else "(?!)"
    parts, i = [], 0
    while i < len(cs):  # runs of 3+ consecutive code points as ranges
        j = i
        while j + 1 < len(cs) and ord(cs[j + 1]) == ord(cs[j]) + 1:
            j += 1
        if j - i >= 2:
            parts.append(f"{_esc(cs[i])}-{_esc(cs[j])}")
        else:
            parts.extend(_esc(c) for c in cs[i : j + 1])
        i = j + 1
    body = "".join(parts)
    if negate:
        return f"[^{body}]"
    return body if len(cs) == 1 and len(body) == len(_esc(cs[0])) else f"[{body}]"


def _fold(c: str, ignore_case: bool) -> set:
    if not ignore_case:
        return {c}
    return {x for x in (c, c.lower(), c.upper()) if len(x) == 1}


# ------------------------------------------------------------------ regex algebra for elimination
# an expression is None (the empty language), "" (the empty string) or ("alt"|"cat"|"star"|"sym", ...)


def _alt(a, b):
    if a is None:
        return b
    if b is None or a == b:
        return a
    items = (list(a[1]) if isinstance(a, tuple) and a[0] == "alt" else [a]) + (
        list(b[1]) if isinstance(b, tuple) and b[0] == "alt" else [b]
    )
    seen, out = set(), []
    for x in items:
        if x not in seen:
            seen.add(x)
            out.append(x)
    return out[0] if len(out) == 1 else ("alt", tuple(out))


def _cat(*xs):
    out = []
    for x in xs:
        if x is None:
            return None
        if x == "":
            continue
        out.extend(x[1] if x[0] == "cat" else [x])
    if not out:
        return ""
    return out[0] if len(out) == 1 else ("cat", tuple(out))


def _star(a):
    if a is None or a == "":
        return ""
    if a[0] == "star":
        return a
    return ("star", a)


def _render(e, top: bool = True) -> str:
    if e is None:
        return "(?!)"
    if e == "":
        return ""
    k = e[0]
    if k == "sym":
        return e[1]
    if k == "star":
        inner = _render(e[1], False)
        return inner + "*" if e[1][0] == "sym" else f"(?:{_render(e[1])})*"
    if k == "cat":
        return "".join(_render(x, False) if x[0] != "alt" else f"(?:{_render(x)})" for x in e[1])
    # alt: an empty-string branch becomes "?"
    has_eps = "" in e[1]
    branches = [x for x in e[1] if x != ""]
    body = "|".join(_render(x) for x in branches)
    if has_eps:
        if len(branches) == 1 and branches[0][0] == "sym":
            return body + "?"
        return f"(?:{body})?"
    return body if top else f"(?:{body})"


def _eliminate(n: int, start: int, trans: dict, order: Sequence[int]) -> str:
    """Regex of the words accepted from ``start`` when every state is accepting.
    ``trans[q][r]`` is an expression; states are eliminated in ``order``."""
    K: dict[int, str | tuple | None] = {q: "" for q in range(n)}  # expressions (see _alt)
    C = {q: dict(trans.get(q, {})) for q in range(n)}
    for r in order:
        if r == start:
            continue
        loop = _star(C[r].pop(r, None))
        k_r = _cat(loop, K[r])
        out_r = {s: _cat(loop, e) for s, e in C[r].items()}
        for q in range(n):
            if q == r or r not in C[q]:
                continue
            a = C[q].pop(r)
            K[q] = _alt(K[q], _cat(a, k_r))
            for s, e in out_r.items():
                C[q][s] = _alt(C[q].get(s), _cat(a, e))
        C[r], K[r] = {}, None
    return _render(_cat(_star(C[start].get(start)), K[start]))


def not_containing(strings: Sequence[str], ignore_case: bool = False) -> str:
    """A regex of every text that contains none of ``strings`` (case-insensitively when asked)."""
    strings = [s for s in strings]
    if any(not s for s in strings):
        raise ConstraintError("a banned string is empty (every text contains it)")
    key = (lambda c: c.lower()) if ignore_case else (lambda c: c)
    # Aho-Corasick over folded characters
    goto: list[dict] = [{}]
    depth = [0]
    final = [False]
    for s in strings:
        q = 0
        for c in s:
            c = key(c)
            if c not in goto[q]:
                goto.append({})
                depth.append(depth[q] + 1)
                final.append(False)
                goto[q][c] = len(goto) - 1
            q = goto[q][c]
        final[q] = True
    alphabet = sorted({c for g in goto for c in g})
    fail = [0] * len(goto)
    queue = list(goto[0].values())
    for q in queue:
        for c, r in goto[q].items():
            f = fail[q]
            while f and c not in goto[f]:
                f = fail[f]
            fail[r] = goto[f][c] if c in goto[f] and goto[f][c] != r else 0
            final[r] = final[r] or final[fail[r]]
            queue.append(r)

    def delta(q, c):
        while q and c not in goto[q]:
            q = fail[q]
        return goto[q].get(c, 0)

    raw = {c: _fold(c, ignore_case) for c in alphabet}
    everything = set().union(*raw.values()) if raw else set()
    live = [q for q in range(len(goto)) if not final[q]]
    index = {q: i for i, q in enumerate(live)}
    trans: dict = {}
    for q in live:
        groups: dict[int, set] = {}
        for c in alphabet:
            r = delta(q, c)
            if not final[r]:
                groups.setdefault(index[r], set()).update(raw[c])
        other = index[0]
        row = {}
        for r, chars in groups.items():
            row[r] = ("sym", char_class(chars))
        row[other] = _alt(row.get(other), ("sym", char_class(everything, negate=True)))
        trans[index[q]] = row
    order = sorted(range(len(live)), key=lambda i: -depth[live[i]])
    return _eliminate(len(live), index[0], trans, order)


def containing(strings: Sequence[str], ignore_case: bool = False) -> str:
    """A regex of every text that contains at least one of ``strings``."""
    alts = "|".join(literal(s, ignore_case) for s in strings)
    return rf"[\s\S]*(?:{alts})[\s\S]*"


# ------------------------------------------------------------------ word lexicons as tries


def _trie(words: Iterable[str]) -> dict:
    root: dict = {}
    for w in words:
        n = root
        for c in w:
            n = n.setdefault(c, {})
        n[""] = True
    return root


def _sym(c: str, ignore_case: bool) -> str:
    return literal(c, ignore_case)


def trie_regex(words: Iterable[str], ignore_case: bool = False) -> str:
    """A compact regex matching exactly ``words`` (shared prefixes factored)."""
    keyed = {w.lower() for w in words} if ignore_case else set(words)
    keyed.discard("")
    if not keyed:
        return "(?!)"

    def emit(n) -> str:
        alts = [
            _sym(c, ignore_case) + emit(ch) for c, ch in sorted((k, v) for k, v in n.items() if k)
        ]
        if not alts:
            return ""
        body = alts[0] if len(alts) == 1 else "(?:" + "|".join(alts) + ")"
        return "(?:" + "|".join(alts) + ")?" if "" in n else body

    with recursion_limit(10000):
        return emit(_trie(keyed))


def trie_node(words: Iterable[str], ignore_case: bool = False):
    """The regex IR node of :func:`trie_regex` (built directly: parsing a regex of 100k
    words would take seconds)."""
    from ..grammar import ir

    keyed = {w.lower() for w in words} if ignore_case else set(words)
    keyed.discard("")
    syms: dict = {}

    def sym(c):
        n = syms.get(c)
        if n is None:
            pts = sorted({ord(x) for x in _fold(c, ignore_case)})
            n = syms[c] = ir.cps([(p, p) for p in pts])
        return n

    def emit(n):
        alts = [ir.cat(sym(c), emit(ch)) for c, ch in sorted((k, v) for k, v in n.items() if k)]
        if not alts:
            return ir.EMPTY
        body = alts[0] if len(alts) == 1 else ir.alt(*alts)
        return ir.opt(body) if "" in n else body

    with recursion_limit(10000):
        return emit(_trie(keyed)) if keyed else ir.NEVER


def trie_complement_regex(words: Iterable[str], letters: str, ignore_case: bool = False) -> str:
    """A regex of the non-empty strings over ``letters`` (a set of single characters) that
    are not in ``words``."""
    keyed = {w.lower() for w in words} if ignore_case else set(words)
    keyed.discard("")
    L = char_class(letters)
    if not keyed:
        return f"{L}+"

    def emit(n, root: bool) -> str:
        kids = sorted((k, v) for k, v in n.items() if k)
        used = set()
        for c, _ in kids:
            used |= _fold(c, ignore_case)
        rest = char_class(set(letters) - used)
        alts = []
        if not root and "" not in n:
            alts.append("")
        if set(letters) - used:
            alts.append(f"{rest}{L}*")
        for c, ch in kids:
            alts.append(_sym(c, ignore_case) + emit(ch, False))
        nonempty = [a for a in alts if a]
        if not nonempty:
            return ""
        body = "(?:" + "|".join(nonempty) + ")"
        return body + "?" if "" in alts else body

    return emit(_trie(keyed), True)


# ------------------------------------------------------------------ the constraint


def _nonempty(node):
    """The regex IR node minus the empty string (the engine refuses nullable lexemes)."""
    from ..grammar import ir

    return ir.non_empty(node)


def grammar_of_regex(pattern: str, node=None):
    """A ``decoder.Grammar`` for a regex (text, or an IR node) that may match the empty string."""
    from ..grammar import Grammar, GrammarBuilder, ir
    from ..grammar.regex import parse_regex

    if node is None:
        node = parse_regex(pattern)
    b = GrammarBuilder()
    s = b.nonterminal("start")
    ne = _nonempty(node)
    if ne != ir.NEVER:
        b.rule(s, [b.lexeme("TEXT", ne)])
    if ir.nullable(node):
        b.rule(s, [])
    return Grammar(b.build(s), source="regex")


class RegexFilter(Constraint):
    """The whole output matches ``pattern`` (Python ``re`` syntax), which may match the empty
    string.  The lexical filters below are all RegexFilters with generated patterns.

    ``node``: the same language as a regex IR node, when the caller built it directly
    (large lexicons); then ``pattern`` is only used by :meth:`accepts`."""

    def __init__(self, pattern: str, name: str | None = None, node=None):
        self.pattern = pattern
        self.name = name or "RegexFilter"
        self._node = node
        self._grammar = None

    @property
    def grammar(self):
        if self._grammar is None:
            self._grammar = grammar_of_regex(self.pattern, self._node)
        return self._grammar

    def matcher(self, vocab):
        from .._engine import Matcher

        return Matcher(self.grammar, vocab)

    def accepts(self, text: str) -> bool:
        """Whether ``text`` satisfies the filter (Python ``re``; for checks and tests)."""
        import re

        return re.fullmatch(self.pattern, text) is not None

    def __repr__(self) -> str:
        p = self.pattern if len(self.pattern) < 60 else self.pattern[:57] + "..."
        return f"{self.name}({p!r})"
