"""Free text and special tokens as grammar terminals.

**Special tokens.** A special token (``<|python_tag|>``, ``[TOOL_CALLS]``) has no text
bytes; a grammar names one by a lexeme of *marker bytes*: ``0xFF`` (a byte that never
occurs in UTF-8 text) then the token id in four 6-bit continuation bytes
(:func:`special_token`). The engine allows exactly the ids a grammar names, exactly where
its lexer takes their marker, and never an ordinary token holding the byte ``0xFF`` in
such a grammar (csrc/matcher.h, ``GrammarExtras``). A token named by its text
(:func:`special_name`) or by an id (:func:`special_id`) before the vocabulary is known is
a placeholder lexeme that :func:`resolve` replaces when the grammar is compiled for a
vocabulary: a special token of that vocabulary becomes its marker; an ordinary token
(Qwen2's ``<tool_call>`` is one) becomes its text, which any tokenization may spell.
Placeholders and markers are always whole lexemes of their own.

**Free text.** :func:`text_until` is one lexeme: text (any Unicode) that contains none of
the ``exclude`` strings, ended by the first occurrence of ``trigger`` (or, without a
trigger, ending anywhere). It is a deterministic automaton over code points (the
Aho-Corasick automaton of the strings; regex node ``("dfa", ...)``), so a trigger may begin
inside a token and end in another, and the mask inside free text is the cached mask of
one lexer state (no parser work, no walk once warm).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from ..errors import GrammarError
from .ir import MAX_CODEPOINT, dfa_non_empty  # noqa: F401  (re-exported)

MARKER = 0xFF
_NAME_PREFIX = b"\xff\xfe"  # placeholder: a special token by its text
_ID_PREFIX = b"\xff\xfd"  # placeholder: a token by its id
#: the most characters the excluded strings and trigger of one free-text region may have
MAX_PATTERN_CHARS = 4096


def marker_bytes(token_id: int) -> bytes:
    """The marker of special token ``token_id`` (see csrc/matcher.h special_marker_bytes)."""
    if not 0 <= token_id < (1 << 24):
        raise GrammarError(f"special token id {token_id} is out of range")
    return bytes([MARKER] + [0x80 | ((token_id >> (18 - 6 * i)) & 63) for i in range(4)])


def marker_id(b: bytes) -> int | None:
    """The token id of a marker, or None when ``b`` is not one."""
    if len(b) != 5 or b[0] != MARKER or any(x & 0xC0 != 0x80 for x in b[1:]):
        return None
    v = 0
    for x in b[1:]:
        v = (v << 6) | (x & 63)
    return v


def special_token(token_id: int) -> tuple:
    """The regex node of special token ``token_id`` (use it as a lexeme of its own)."""
    return ("bytes", marker_bytes(int(token_id)))


def special_name(text: str) -> tuple:
    """A placeholder for the token whose text is ``text`` (resolved per vocabulary)."""
    if not isinstance(text, str) or not text:
        raise GrammarError("a special token is named by a non-empty string")
    return ("bytes", _NAME_PREFIX + text.encode("utf-8"))


def special_id(token_id: int) -> tuple:
    """A placeholder for token id ``token_id`` (resolved per vocabulary)."""
    if isinstance(token_id, bool) or not isinstance(token_id, int) or token_id < 0:
        raise GrammarError(f"a token id is a non-negative integer, not {token_id!r}")
    return ("bytes", _ID_PREFIX + str(token_id).encode())


def has_placeholders(g) -> bool:
    return any(
        lx.regex[0] == "bytes" and lx.regex[1][:2] in (_NAME_PREFIX, _ID_PREFIX) for lx in g.lexemes
    )


def has_marker_bytes(g) -> bool:
    """Whether a lexeme is a marker or a placeholder (bytes beginning with ``0xFF``): when
    none is, :func:`resolve` and :func:`special_ids` have nothing to do (one pass over the
    lexemes instead of two, on every compile)."""
    for lx in g.lexemes:
        r = lx.regex
        if r[0] == "bytes" and r[1][:1] == b"\xff":
            return True
    return False


def special_ids(g) -> list[int]:
    """The special token ids a (resolved) grammar names."""
    out = []
    for lx in g.lexemes:
        if lx.regex[0] == "bytes":
            i = marker_id(lx.regex[1])
            if i is not None:
                out.append(i)
    return out


def _special_by_name(vocab) -> dict:
    names = getattr(vocab, "special_names", None)
    return names or {}


def resolve(g, vocab):
    """``g`` with its token placeholders replaced for ``vocab`` (``g`` itself when none)."""
    from .ir import GrammarIR, Lexeme

    if not has_placeholders(g):
        return g
    names = _special_by_name(vocab)
    special = vocab.special_ids
    lexemes = []
    for lx in g.lexemes:
        r = lx.regex
        if r[0] == "bytes" and r[1][:2] == _NAME_PREFIX:
            text = r[1][2:].decode("utf-8")
            tid = names.get(text)
            if tid is None:
                close = sorted(n for n in names if text.strip("<|>[]").lower() in n.lower())[:5]
                raise GrammarError(
                    f"the grammar names the token {text!r}, which this vocabulary does "
                    f"not have" + (f" (similar: {', '.join(close)})" if close else "")
                )
            r = _token_node(tid, vocab, special, text)
        elif r[0] == "bytes" and r[1][:2] == _ID_PREFIX:
            tid = int(r[1][2:])
            if tid >= vocab.size:
                raise GrammarError(
                    f"the grammar names the token id <[{tid}]>, outside this vocabulary "
                    f"({vocab.size} ids)"
                )
            r = _token_node(tid, vocab, special, f"<[{tid}]>")
        lexemes.append(Lexeme(lx.name, r))
    return GrammarIR(
        lexemes,
        list(g.nonterminals),
        list(g.rules),
        g.start,
        list(g.ignore),
        list(getattr(g, "budgets", [])),
        list(getattr(g, "distinct", [])),
        list(getattr(g, "lazy", [])),
    )


def _token_node(tid: int, vocab, special, what: str) -> tuple:
    if tid in special:
        return special_token(tid)
    b = vocab.tokens[tid]
    if not b:
        raise GrammarError(f"the token {what} has no text and is not special in this vocabulary")
    return ("bytes", b)


# ------------------------------------------------------------------ free text

_ALL = ((0, 0xD7FF), (0xE000, MAX_CODEPOINT))


#: the most automaton states a character budget may multiply a free-text region into
MAX_BUDGET_STATES = 200_000


def text_until(
    exclude: Sequence[str] = (),
    trigger: str | None = None,
    others: Iterable[str] = (),
    max_chars: int | None = None,
) -> tuple:
    """The regex node of free text containing none of ``exclude`` (nor any of ``others``,
    the triggers of sibling lexemes) ended by the first ``trigger``; without a trigger, text
    that may end anywhere. ``max_chars``: at most that many characters before the trigger
    (without one: in all); from there on only the trigger may continue. The result is a
    ``("dfa", n, finals, edges)`` node."""
    for e in exclude:
        if trigger is not None and isinstance(e, str) and e and e != trigger and e in trigger:
            raise GrammarError(
                f"free text: the excluded string {e!r} occurs inside the text's end "
                f"{trigger!r}, so the text could never end; leave it out (the text ends at "
                f"the first {trigger!r} anyway)"
            )
    pats: list[str] = []
    for pat in list(exclude) + list(others) + ([trigger] if trigger is not None else []):
        if not isinstance(pat, str) or not pat:
            raise GrammarError(
                f"free text: an excluded string or trigger is a non-empty string, not {pat!r}"
            )
        if any(0xD800 <= ord(c) <= 0xDFFF for c in pat):
            raise GrammarError(f"free text: the string {pat!r} holds a lone surrogate")
        if pat not in pats:
            pats.append(pat)
    if sum(map(len, pats)) > MAX_PATTERN_CHARS:
        raise GrammarError(
            f"free text: the excluded strings and triggers have more than "
            f"{MAX_PATTERN_CHARS} characters together"
        )
    # Aho-Corasick trie over code points
    goto: list[dict] = [{}]
    out: list[set] = [set()]
    for k, p in enumerate(pats):
        s = 0
        for ch in p:
            o = ord(ch)
            if o not in goto[s]:
                goto.append({})
                out.append(set())
                goto[s][o] = len(goto) - 1
            s = goto[s][o]
        out[s].add(k)
    fail = [0] * len(goto)
    order = []
    queue = list(goto[0].values())
    while queue:
        nxt = []
        for s in queue:
            order.append(s)
            for c, t in goto[s].items():
                f = fail[s]
                while f and c not in goto[f]:
                    f = fail[f]
                fail[t] = goto[f][c] if c in goto[f] and goto[f][c] != t else 0
                out[t] |= out[fail[t]]
                nxt.append(t)
        queue = nxt
    alphabet = sorted({ord(c) for p in pats for c in p})

    def delta(s: int, c: int) -> int:
        while s and c not in goto[s]:
            s = fail[s]
        return goto[s].get(c, 0)

    tk = pats.index(trigger) if trigger is not None else -1
    n = len(goto)
    # states: 0..n-1; a state whose output holds a pattern is terminal (no edges): final if
    # the pattern is the trigger, else dead (no edges into it are written)
    edges: list[tuple] = []
    rest = _minus(_ALL, alphabet)
    for s in range(n):
        if out[s]:
            edges.append(())
            continue
        es = []
        for c in alphabet:
            t = delta(s, c)
            if out[t] and tk not in out[t]:
                continue  # an excluded string (or another trigger) completes: not allowed
            es.append((c, c, t))
        es.extend((lo, hi, 0) for lo, hi in rest)
        edges.append(tuple(es))
    if trigger is None:
        finals = tuple(s for s in range(n) if not out[s])
    else:
        finals = tuple(s for s in range(n) if tk in out[s])
    if max_chars is None:
        return ("dfa", n, finals, tuple(edges))
    if isinstance(max_chars, bool) or not isinstance(max_chars, int) or max_chars < 0:
        raise GrammarError(f"free text: max_chars is a non-negative integer, not {max_chars!r}")
    if (max_chars + 1) * n > MAX_BUDGET_STATES:
        raise GrammarError(
            f"free text: max_chars={max_chars} times the {n} states of its excluded "
            f"strings and trigger is more than {MAX_BUDGET_STATES} automaton states"
        )
    # the product with a character count k: state k * n + s. Below the budget every edge
    # counts one character; at the budget only edges that go on matching the trigger (one
    # level deeper in its trie) or complete it remain, without counting.
    depth = [0] * n
    for s0 in [0] + order:
        for t in goto[s0].values():
            depth[t] = depth[s0] + 1
    on_trigger = set()
    if trigger is not None:
        s0 = 0
        for c in trigger:
            s0 = goto[s0][ord(c)]
            on_trigger.add(s0)
    big = []
    for k in range(max_chars + 1):
        for s0 in range(n):
            es = []
            for lo, hi, t in edges[s0]:
                if k < max_chars:
                    es.append((lo, hi, (k + 1) * n + t))
                elif (
                    t in on_trigger and depth[t] == depth[s0] + 1 and (s0 == 0 or s0 in on_trigger)
                ):
                    es.append((lo, hi, k * n + t))
            big.append(tuple(es))
    return (
        "dfa",
        (max_chars + 1) * n,
        tuple(k * n + f for k in range(max_chars + 1) for f in finals),
        tuple(big),
    )


def _minus(ranges, points):
    out = []
    for lo, hi in ranges:
        a = lo
        for p in points:
            if p < a or p > hi:
                continue
            if p > a:
                out.append((a, p - 1))
            a = p + 1
        if a <= hi:
            out.append((a, hi))
    return out


__all__ = [
    "marker_bytes",
    "marker_id",
    "special_token",
    "special_name",
    "special_id",
    "resolve",
    "special_ids",
    "has_placeholders",
    "text_until",
    "dfa_non_empty",
]
