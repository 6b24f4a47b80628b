"""GrammarIR → the flat int32 words the C++ engine reads (csrc/grammar.cc, csrc/regex.h).

Layout::

    MAGIC n_lexemes n_nonterminals n_rules start n_ignore  ignore_ids...
    regex(lexeme 0) ... regex(lexeme n-1)
    (lhs len sym...) for every rule

Regexes are written in prefix form: EMPTY=0, NEVER=1, BYTES=2 n b..., CPS=3 k (lo hi)...,
BYTESET=4 k (lo hi)..., CAT=5 k child..., ALT=6 k child..., REP=7 min max child
(max = -1 when unbounded).
"""
from __future__ import annotations

from array import array

from ..errors import LimitError
from .ir import MAX_REPEAT, GrammarIR

MAGIC = 0x44454301
_OP = {"empty": 0, "never": 1, "bytes": 2, "cps": 3, "byteset": 4, "cat": 5, "alt": 6, "rep": 7}


_END = object()  # stack marker: the node pushed with it has been written out


def _regex(node: tuple, out: array, memo: dict) -> None:
    """Writes ``node`` in prefix form. Regexes built by the front ends share subtrees (one
    character class or key set used by hundreds of lexemes): ``memo`` maps a compound node
    already written to its span of ``out``, which is copied instead of walked again."""
    # iterative over an explicit stack so deep regexes cannot blow Python's recursion limit
    stack = [node]
    while stack:
        n = stack.pop()
        kind = n[0]
        if kind is _END:
            memo[id(n[1])] = (n[1], n[2], len(out))
            continue
        op = _OP.get(kind)
        if op is None:
            raise ValueError(f"unknown regex node {kind!r}")
        if kind in ("cat", "alt", "rep"):
            got = memo.get(id(n))
            if got is not None and got[0] is n:
                out.extend(out[got[1]:got[2]])
                continue
            stack.append((_END, n, len(out)))
        out.append(op)
        if kind == "bytes":
            out.append(len(n[1]))
            out.extend(n[1])
        elif kind in ("cps", "byteset"):
            out.append(len(n[1]))
            for lo, hi in n[1]:
                out.append(lo)
                out.append(hi)
        elif kind in ("cat", "alt"):
            out.append(len(n[1]))
            stack.extend(reversed(n[1]))
        elif kind == "rep":
            if n[2] > MAX_REPEAT or (n[3] is not None and n[3] > MAX_REPEAT):
                big = n[2] if n[2] > MAX_REPEAT else n[3]
                raise LimitError(f"repetition bound {big} is larger than the engine's {MAX_REPEAT} "
                                 f"(limit max_repeat)", limit="max_repeat")
            out.append(n[2])
            out.append(-1 if n[3] is None else n[3])
            stack.append(n[1])


def serialize(g: GrammarIR) -> array:
    out = array("i", [MAGIC, len(g.lexemes), len(g.nonterminals), len(g.rules), g.start,
                      len(g.ignore)])
    out.extend(g.ignore)
    memo: dict = {}
    for lx in g.lexemes:
        _regex(lx.regex, out, memo)
    for lhs, rhs in g.rules:
        out.append(lhs)
        out.append(len(rhs))
        out.extend(rhs)
    return out
