"""The grammar IR that every front end targets and the C++ engine consumes.

A grammar is a context-free grammar over *lexemes*; a lexeme is a regular
expression over UTF-8 bytes.  Front ends (Lark, regex, JSON Schema, lexicon
constraints) build a :class:`GrammarIR` with :class:`GrammarBuilder`; the engine
compiles lexemes to lazy byte DFAs and parses the lexeme stream with Earley.

Regex nodes are plain tuples (hashable, cheap to build, easy to serialise):

=====================================  =============================================
``("empty",)``                          the empty string
``("never",)``                          matches nothing (the empty language)
``("bytes", b"...")``                   this exact byte string
``("cps", ((lo, hi), ...))``            one Unicode code point in the union of the
                                        inclusive ranges (sorted, disjoint, no
                                        surrogates), matched as its UTF-8 bytes
``("byteset", ((lo, hi), ...))``        one raw byte in the inclusive ranges
``("cat", (n1, n2, ...))``              concatenation
``("alt", (n1, n2, ...))``              alternation
``("rep", n, min, max)``                ``n{min,max}``; ``max is None`` = unbounded
``("dfa", n, finals, edges)``           a deterministic automaton over code points:
                                        states ``0..n-1`` (start 0), ``edges[s]`` a
                                        tuple of ``(lo, hi, to)``; see
                                        :mod:`decoder.grammar.freetext`
``("counted", n, lo, hi)``              ``n`` whose ``("unit", ...)`` parts complete
                                        ``lo..hi`` times (``hi is None``: unbounded);
                                        the engine keeps the count in the lexer state
                                        instead of copying ``n`` (``maxLength``)
``("unit", n)``                         ``n`` (never ""), one unit of the enclosing
                                        ``counted``: the units must split every string
                                        one way only (a JSON-encoded code point)
=====================================  =============================================

Lexing is longest-match (maximal munch) among the lexemes the parser allows at
that point, as in Lark's contextual lexer.  The engine refuses a lexeme that matches the
empty string (a zero-width lexeme would loop the lexer), so :meth:`GrammarBuilder.build`
rewrites one that does (``without_nullable_lexemes``): the lexeme keeps its non-empty
strings and each use of it becomes an optional nonterminal, so a constraint such as the
regex ``x*`` stays valid (the empty output allowed, EOS at the start).

Symbols in rule bodies are ints: a nonterminal ``i`` is ``i`` (``>= 0``) and a
lexeme ``j`` is ``-(j + 1)`` (``< 0``).  Use :meth:`GrammarBuilder.lexeme` and
:meth:`GrammarBuilder.nonterminal`, which return the encoded symbol.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from ._wire import _HASHES as _wire_hashes
from ._wire import _BuilderCore, _LexemeKey, _set_lexeme_class  # noqa: F401 (ir._LexemeKey)
from ._wire import productive as _wire_productive

MAX_CODEPOINT = 0x10FFFF

# ---------------------------------------------------------------- regex nodes
EMPTY = ("empty",)
NEVER = ("never",)
# distinct-item roles of lexemes (GrammarIR.distinct; csrc/distinct.h DistinctRole)
DISTINCT_ITEM = 1
DISTINCT_OPENER = 2
DISTINCT_CLOSER = 3
DISTINCT_VALUE_LIST = 4
# an item whose language may run out from some state (a key language with finitely many
# names from there): the engine also masks a key prefix whose every completion was used
DISTINCT_FINITE_ITEM = 5


# lit() of short strings, across grammars: the brackets, separators, null/true/false and key
# names recur in every compile, and one object per literal lets the memos keyed by the regex
# object (_wire._HASHES, _NULLABLE, the wire words) find it instead of a fresh equal tuple
_LITS: dict[str, tuple] = {}
_LITS_MAX = 4096


def lit(s) -> tuple:
    """A literal string (str is UTF-8 encoded) or bytes."""
    if type(s) is str:
        got = _LITS.get(s)
        if got is not None:
            return got
        b = s.encode("utf-8")
        r = ("bytes", b) if b else EMPTY
        if len(s) <= 64:
            if len(_LITS) >= _LITS_MAX:
                _LITS.clear()
            _LITS[s] = r
        return r
    b = s.encode("utf-8") if isinstance(s, str) else bytes(s)
    return ("bytes", b) if b else EMPTY


def cps(ranges: Sequence[tuple[int, int]]) -> tuple:
    """One code point from the given inclusive ranges (normalised here)."""
    rs = normalize_ranges(ranges)
    return ("cps", rs) if rs else NEVER


def byteset(ranges: Sequence[tuple[int, int]]) -> tuple:
    rs = normalize_ranges(ranges, 0xFF, skip_surrogates=False)
    return ("byteset", rs) if rs else NEVER


def cat(*nodes) -> tuple:
    out = []
    run: list = []  # adjacent byte literals, joined once (a 1 MB literal stays linear)

    def flush():
        if run:
            out.append(run[0] if len(run) == 1 else ("bytes", b"".join(r[1] for r in run)))
            run.clear()

    for n in nodes:
        if n[0] == "never":
            return NEVER
        if n[0] == "empty":
            continue
        for m in n[1] if n[0] == "cat" else (n,):
            if m[0] == "bytes":
                run.append(m)
            else:
                flush()
                out.append(m)
    flush()
    if not out:
        return EMPTY
    return out[0] if len(out) == 1 else ("cat", tuple(out))


def alt(*nodes) -> tuple:
    out = []
    seen = set()
    for n in nodes:
        if n[0] == "never":
            continue
        for m in n[1] if n[0] == "alt" else (n,):
            if m not in seen:
                seen.add(m)
                out.append(m)
    if not out:
        return NEVER
    return out[0] if len(out) == 1 else ("alt", tuple(out))


#: the largest repetition bound the engine's int32 grammar format can carry
MAX_REPEAT = (1 << 31) - 1


def rep(node, lo: int = 0, hi: int | None = None) -> tuple:
    """``node{lo,hi}``, simplified where the simplification is exact (the same language):

    * a body that matches "" repeats its non-empty part: ``x{a,b}`` = ``x'{0,b}`` where
      ``x'`` = ``x`` minus "" (every copy may be empty). A nullable body made the automaton's
      epsilon closures quadratic in the number of copies (``((a?b?){0,300}){0,300}`` ran
      for minutes).
    * a repetition of a repetition is one repetition when the counts it allows are an
      interval: ``(x{a,b}){k,n}`` allows ``j*a .. j*b`` copies for each ``j`` in ``k..n``,
      contiguous when ``k*(b-a) >= a-1``, and is then ``x{k*a,n*b}``
      (``((a{0,110}){1,100}){1,100}`` = ``a{0,1100000}``, not 10^6 nested copies).
    """
    if hi is not None and hi < lo:
        return NEVER
    if node[0] == "never":
        return EMPTY if lo == 0 else NEVER
    if node[0] == "empty" or (lo == 1 and hi == 1):
        return node
    if hi == 0:
        return EMPTY
    try:
        body_nullable = nullable(node)
        if body_nullable:
            lo = 0
            ne = nonempty(node) if node[0] != "rep" else None
            if ne is not None:
                if ne[0] == "never":
                    return EMPTY
                node = ne
    except ValueError:  # a node the regex parser resolves later (an anchor): as it is
        pass
    if node[0] == "rep":
        x, a, b = node[1], node[2], node[3]
        if b is None:
            if lo >= 1 or a <= 1:  # j copies of x{a,} are x{j*a,}; their union from j=lo on
                return rep(x, lo * a if lo >= 1 else 0, None)
        elif lo * (b - a) >= a - 1:
            return rep(x, lo * a, None if hi is None else hi * b)
    return ("rep", node, lo, hi)


#: the most children of a concatenation that :func:`nonempty` rewrites (its result is
#: quadratic in them)
_NONEMPTY_MAX_CAT = 16


def nonempty(node) -> tuple | None:
    """``node`` minus the empty string (the same node when it does not match ""), or None
    where that would be large (a concatenation of many nullable parts)."""
    if not nullable(node):
        return node
    k = node[0]
    if k in ("empty", "bytes"):
        return NEVER
    if k == "dfa":
        return dfa_non_empty(node)
    if k == "alt":
        kids = [nonempty(m) for m in node[1]]
        return None if any(m is None for m in kids) else alt(*kids)
    if k == "rep":  # x{0,b} minus "" is x'{1,b}: at least one non-empty copy
        x = nonempty(node[1])
        return None if x is None else rep(x, 1, node[3]) if x[0] != "never" else NEVER
    if k == "counted":  # the same count bounds on the body's non-empty strings
        x = nonempty(node[1])
        return None if x is None else counted(x, node[2], node[3])
    if k == "cat":  # every part is nullable: the first non-empty part is part i
        items = node[1]
        if len(items) > _NONEMPTY_MAX_CAT:
            return None
        out = []
        for i, m in enumerate(items):
            x = nonempty(m)
            if x is None:
                return None
            out.append(cat(x, *items[i + 1 :]))
        return alt(*out)
    raise ValueError(f"unknown regex node {k!r}")


def counted(node, lo: int = 0, hi: int | None = None) -> tuple:
    """``node`` (built of :func:`unit` parts) while ``lo..hi`` units complete."""
    if hi is not None and hi < lo:
        return NEVER
    return NEVER if node[0] == "never" else ("counted", node, lo, hi)


def unit(node) -> tuple:
    """One counted unit (see :func:`counted`); ``node`` must not match ""."""
    if nullable(node):
        raise ValueError("a counted unit must not match the empty string")
    return node if node[0] == "never" else ("unit", node)


def opt(node) -> tuple:
    return rep(node, 0, 1)


def star(node) -> tuple:
    return rep(node, 0, None)


def plus(node) -> tuple:
    return rep(node, 1, None)


def nullable(node) -> bool:
    """Whether a regex node matches the empty string."""
    k = node[0]
    if k == "empty":
        return True
    if k in ("never", "cps", "byteset"):
        return False
    if k == "bytes":
        return len(node[1]) == 0
    if k == "cat":
        return all(nullable(m) for m in node[1])
    if k == "alt":
        return any(nullable(m) for m in node[1])
    if k == "rep":
        return node[2] == 0 or nullable(node[1])
    if k == "dfa":
        return 0 in node[2]
    if k == "counted":
        return node[2] == 0 and nullable(node[1])
    if k == "unit":
        return False
    raise ValueError(f"unknown regex node {k!r}")


def non_empty(node) -> tuple:
    """A regex node for ``L(node)`` minus the empty string (``NEVER`` when that is all it has)."""
    if not nullable(node):
        return node
    k = node[0]
    if k in ("empty", "bytes"):  # a nullable "bytes" is b""
        return NEVER
    if k == "dfa":
        return dfa_non_empty(node)
    if k == "alt":
        return alt(*[non_empty(m) for m in node[1]])
    if k == "cat":  # every part nullable: a non-empty first part then anything, or it empty
        first, rest = node[1][0], cat(*node[1][1:])
        return alt(cat(non_empty(first), rest), non_empty(rest))
    if k == "rep":  # n{lo,hi} nullable = n{0,hi} as a language: one non-empty n first
        sub, hi = node[1], node[3]
        return cat(non_empty(sub), rep(sub, 0, None if hi is None else hi - 1))
    if k == "counted":
        return counted(non_empty(node[1]), node[2], node[3])
    raise ValueError(f"unknown nullable regex node {k!r}")


def normalize_ranges(ranges, top: int = MAX_CODEPOINT, skip_surrogates: bool = True):
    """Sort, clip, merge and (for code points) cut out the surrogate block."""
    rs = sorted((max(0, a), min(top, b)) for a, b in ranges if a <= b and a <= top and b >= 0)
    merged: list[list[int]] = []
    for a, b in rs:
        if merged and a <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    out = []
    for a, b in merged:
        if skip_surrogates and a <= 0xDFFF and b >= 0xD800:
            if a < 0xD800:
                out.append((a, 0xD7FF))
            if b > 0xDFFF:
                out.append((0xE000, b))
        else:
            out.append((a, b))
    return tuple(out)


def negate_ranges(ranges, top: int = MAX_CODEPOINT):
    """Complement of a set of code point ranges within [0, top] (surrogates excluded)."""
    out = []
    nxt = 0
    for a, b in normalize_ranges(ranges, top):
        if a > nxt:
            out.append((nxt, a - 1))
        nxt = b + 1
    if nxt <= top:
        out.append((nxt, top))
    return normalize_ranges(out, top)


# ---------------------------------------------------------------- grammar
@dataclass(frozen=True)
class Lexeme:
    name: str
    regex: tuple


_set_lexeme_class(Lexeme)  # the builder's core (Cython) makes them


@dataclass
class GrammarIR:
    """A compiled-ready grammar.  ``rules[k] = (lhs, rhs)`` with encoded symbols."""

    lexemes: list[Lexeme]
    nonterminals: list[str]
    rules: list[tuple[int, tuple[int, ...]]]
    start: int
    ignore: list[int] = field(default_factory=list)  # lexeme ids skipped between lexemes
    # (lexeme id, max tokens): after that many tokens inside the lexeme, the engine allows
    # only its shortest completion (a reasoning budget; see csrc/matcher.h GrammarExtras)
    budgets: list[tuple[int, int]] = field(default_factory=list)
    # (lexeme id, role): DISTINCT_ITEM, a JSON string lexeme whose value must differ from
    # the earlier items of its scope (a list's items, an object's keys), DISTINCT_OPENER, a
    # bracket that opens a scope, DISTINCT_CLOSER, one that closes the innermost, or
    # DISTINCT_VALUE_LIST, the '[' of a list whose items are whole values (objects, arrays)
    # compared when their closing bracket arrives, or DISTINCT_FINITE_ITEM, an item whose
    # language can run out from some state (checked by the engine's matcher:
    # csrc/distinct.h)
    distinct: list[tuple[int, int]] = field(default_factory=list)
    # lexeme ids that end at their first match, not the longest (llguidance's ``lazy``;
    # csrc/ir_format.h): a lexer state where one accepts has no transitions
    lazy: list[int] = field(default_factory=list)

    def productive(self) -> list[bool]:
        """Per nonterminal: whether it derives some string (Knuth's fixpoint; a lexeme
        whose regex is NEVER derives none). The engine drops unproductive rules; an
        unproductive start symbol is an empty language."""
        # a worklist, linear in the grammar's size, as C (_wire.productive): each rule counts
        # its symbols not yet known productive; a nonterminal that becomes productive
        # decrements its users
        return _wire_productive(
            self.rules, [lx.regex != NEVER for lx in self.lexemes], len(self.nonterminals)
        )

    def symbol_name(self, sym: int) -> str:
        return self.nonterminals[sym] if sym >= 0 else self.lexemes[-sym - 1].name

    def __str__(self) -> str:  # debugging aid
        lines = []
        for lhs, rhs in self.rules:
            body = " ".join(self.symbol_name(s) for s in rhs) or "ε"
            lines.append(f"{self.nonterminals[lhs]} ::= {body}")
        for i, lx in enumerate(self.lexemes):
            mark = " (ignored)" if i in self.ignore else ""
            lines.append(f"{lx.name} = {lx.regex!r}{mark}")
        return "\n".join(lines)


# hash(regex) by the regex object, across grammars (_wire._HASHES; see _wire._LexemeKey, the
# builder's de-duplication key). Python does not keep a tuple's hash: every lookup of a nested
# regex tuple rehashes all of it (the JSON number lexeme of an unconstrained value: ~40 us), and
# the leaf lexemes that recur from schema to schema are one object each (strings._LEXEME_MEMO,
# the number memo), so their hash is computed once per process instead of twice per grammar.
# Literals (no nested tuple) are hashed directly and kept out of it: the key literals filled it.
_HASHES: dict = _wire_hashes


class GrammarBuilder(_BuilderCore):
    """Incremental construction of a :class:`GrammarIR`.

    >>> b = GrammarBuilder()
    >>> num = b.lexeme("NUM", plus(cps([(48, 57)])))
    >>> s = b.nonterminal("sum")
    >>> b.rule(s, [num]); b.rule(s, [s, b.literal("+"), num])
    >>> g = b.build(s)

    ``lexeme``, ``nonterminal`` and ``rule``, the calls a front end makes for every rule, are
    :class:`decoder.grammar._wire._BuilderCore`'s (Cython), which also holds the state:
    ``_lexemes``, ``_lexeme_by_regex`` (:class:`_LexemeKey` -> index), ``_lexeme_by_id``
    (id(regex) -> (regex, symbol)), ``_nonterminals``, ``_nt_names``, ``_nt_next``, ``_rules``,
    ``_rule_set``, ``_ignore``, ``_budgets``, ``_distinct``, ``_lazy``."""

    def budget(self, lexeme_symbol: int, max_tokens: int) -> None:
        """At most ``max_tokens`` tokens inside this lexeme, then its shortest completion."""
        if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 0:
            raise ValueError(f"a token budget is a non-negative int, not {max_tokens!r}")
        self._budgets.append((-lexeme_symbol - 1, max_tokens))

    def set_role(self, lexeme_symbol: int, role: int) -> None:
        """Gives an existing lexeme a distinct-item role (a bracket that opens or closes a
        scope; see :attr:`GrammarIR.distinct`)."""
        if role not in (
            DISTINCT_ITEM,
            DISTINCT_OPENER,
            DISTINCT_CLOSER,
            DISTINCT_VALUE_LIST,
            DISTINCT_FINITE_ITEM,
        ):
            raise ValueError(f"unknown distinct-item role {role!r}")
        self._distinct[-lexeme_symbol - 1] = role

    def has_roles(self) -> bool:
        return bool(self._distinct)

    def regex_of(self, lexeme_symbol: int) -> tuple:
        return self._lexemes[-lexeme_symbol - 1].regex

    def literal(self, s, name: str | None = None) -> int:
        return self.lexeme(name or repr(s), lit(s))

    def ignore(self, lexeme_symbol: int) -> None:
        j = -lexeme_symbol - 1
        if j not in self._ignore:
            self._ignore.append(j)

    def embed(self, g: GrammarIR) -> list[int]:
        """Copies grammar ``g`` (lexemes, rules, ignores, budgets) into this builder; returns
        the new symbol of each of its nonterminals (``[g.start]`` is its start). How one
        front end embeds another's grammar: a JSON schema inside Lark (``%json``), a grammar
        inside a structural tag."""
        roles = dict(g.distinct)
        lazy = set(g.lazy)
        lex = [
            self.lexeme(lx.name, lx.regex, roles.get(j, 0), j in lazy)
            for j, lx in enumerate(g.lexemes)
        ]
        nts = [self.nonterminal(n) for n in g.nonterminals]
        for j in g.ignore:
            self.ignore(lex[j])
        for lx, n in g.budgets:
            self.budget(lex[lx], n)
        for lhs, rhs in g.rules:
            self.rule(nts[lhs], [nts[x] if x >= 0 else lex[-x - 1] for x in rhs])
        return nts

    def build(self, start: int) -> GrammarIR:
        return without_nullable_lexemes(
            GrammarIR(
                list(self._lexemes),
                list(self._nonterminals),
                list(self._rules),
                start,
                list(self._ignore),
                list(self._budgets),
                sorted(self._distinct.items()),
                list(self._lazy),
            )
        )


# nullable(regex) by the regex object, across grammars, like _HASHES: the leaf lexemes that
# recur from schema to schema are one object each, and every build asks about every lexeme
_NULLABLE: dict[int, tuple[tuple, bool]] = {}
_NULLABLE_MAX = 2048


def _nullable_lexeme(regex: tuple) -> bool:
    got = _NULLABLE.get(id(regex))
    if got is not None and got[0] is regex:
        return got[1]
    v = nullable(regex)
    if len(_NULLABLE) >= _NULLABLE_MAX:
        _NULLABLE.clear()
    _NULLABLE[id(regex)] = (regex, v)
    return v


def without_nullable_lexemes(g: GrammarIR) -> GrammarIR:
    """The same language with no lexeme that matches the empty string (the engine's invariant).

    A nullable lexeme ``L`` keeps only its non-empty strings, and every use of it in a rule
    becomes a new nonterminal ``L?`` with the rules ``L? ::= L | ε`` (``L? ::= ε`` alone when
    ``L`` matched only the empty string; that lexeme then matches nothing). An ignored
    lexeme just loses the empty string (skipping nothing is a no-op). When the non-empty
    part equals another lexeme's regex, that lexeme is used instead (no two lexemes alike).
    ``g`` itself is returned when no lexeme is nullable."""
    bad = [j for j, lx in enumerate(g.lexemes) if _nullable_lexeme(lx.regex)]
    if not bad:
        return g
    lexemes = list(g.lexemes)
    roles = dict(g.distinct)  # an item or opener lexeme never stands in for another
    # (a lazy lexeme is a different lexeme from a greedy one with the same regex)
    skip = set(bad) | set(g.lazy) | set(roles)
    by_regex = {lx.regex: j for j, lx in enumerate(lexemes) if j not in skip}
    nonterminals = list(g.nonterminals)
    names = set(nonterminals)
    rules = list(g.rules)
    used = {sym for _, rhs in g.rules for sym in rhs if sym < 0}
    replace: dict[int, int] = {}  # lexeme symbol -> the symbol of its L? nonterminal
    for j in bad:
        lx = lexemes[j]
        ne = non_empty(lx.regex)
        target = j
        if ne != NEVER and ne in by_regex:
            target = by_regex[ne]
            ne = NEVER
        elif ne != NEVER:
            by_regex[ne] = j
        lexemes[j] = Lexeme(lx.name, ne)
        if -(j + 1) not in used:
            continue
        name, k = f"{lx.name}?", 1
        while name in names:
            k += 1
            name = f"{lx.name}?#{k}"
        names.add(name)
        nt = len(nonterminals)
        nonterminals.append(name)
        if lexemes[target].regex != NEVER:
            rules.append((nt, (-(target + 1),)))
        rules.append((nt, ()))
        replace[-(j + 1)] = nt
    body_rules = [
        (lhs, tuple(replace.get(s, s) for s in rhs)) for lhs, rhs in rules[: len(g.rules)]
    ]
    return GrammarIR(
        lexemes,
        nonterminals,
        body_rules + rules[len(g.rules) :],
        g.start,
        list(g.ignore),
        list(g.budgets),
        list(g.distinct),
        list(g.lazy),
    )


def dfa_non_empty(node) -> tuple:
    """A dfa node's language minus the empty string: a fresh, non-final copy of the start."""
    _, n, finals, edges = node
    shift = [tuple((lo, hi, t + 1) for lo, hi, t in es) for es in edges]
    return ("dfa", n + 1, tuple(f + 1 for f in finals), tuple([shift[0]] + shift))


def regex_grammar(node: tuple) -> GrammarIR:
    """The grammar whose sentences are the strings of one regex (a single lexeme)."""
    b = GrammarBuilder()
    s = b.nonterminal("start")
    b.rule(s, [b.lexeme("REGEX", node)])
    return b.build(s)
