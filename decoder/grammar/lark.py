"""Lark grammars (EBNF) to the grammar IR.

Lark's own loader does the heavy lifting: it parses the grammar, resolves
``%import``/``%declare``/``%ignore``/templates, expands EBNF (``?`` ``*`` ``+``
``[]`` ``~`` ranges) into plain rules and builds one regular expression per
terminal.  We then map each terminal pattern through
:func:`decoder.grammar.regex.parse_regex` (Python syntax, the pattern's flags)
and each rule to a :class:`~decoder.grammar.ir.GrammarBuilder` rule.
Priorities, aliases and tree-shaping marks (``?rule``, ``_rule``, ``!rule``)
do not change the language and are ignored.

Lexing semantics: Lark matches a terminal with Python's backtracking ``re``
(the first match in pattern order); the engine lexes by longest match.  The two
agree for greedy patterns whose alternatives do not shadow each other, which
covers the common terminals.  Lazy quantifiers are where they differ (``".*?"``
stops at the first quote for Lark, at the last for a longest-match lexer), so a
terminal with a lazy quantifier is an error unless it is one of Lark's common
terminals that we know an exact equivalent for (``ESCAPED_STRING``,
``C_COMMENT``).  Pass ``allow_lazy=True`` to accept them anyway with greedy
semantics. llguidance's lexeme options ``[lazy]``, ``[stop="S"]`` and ``[suffix="S"]`` on a
definition are a different thing, and supported: the definition becomes one lexeme that
ends at its first match (see :func:`_lazy_lexeme` and csrc/ir_format.h).

>>> g = from_lark(load_bundled("json"))
>>> len(g.lexemes) > 5
True
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from ..errors import LimitError, UnknownGrammarError
from . import ir
from .regex import GrammarError, _make_error, _Parser, _resolve

__all__ = ["from_lark", "load_bundled", "bundled_path", "bundled_names", "KNOWN_EQUIVALENTS"]

# Lark's common.lark terminals whose meaning depends on lookbehind or lazy
# matching, mapped to exact regular equivalents of the tokens Lark produces.
KNOWN_EQUIVALENTS = {
    # ESCAPED_STRING: ".*?(?<!\\)(\\\\)*?" -- up to the first quote not escaped by an odd
    # run of backslashes, no newline inside.
    r'".*?(?<!\\)(\\\\)*?"': r'"(?:[^"\\\n]|\\[^\n])*"',
    # C_COMMENT: /* ... up to the first */  (Lark's pattern holds a real newline)
    "/\\*(.|\n)*?\\*/": r"/\*[^*]*\*+(?:[^/*][^*]*\*+)*/",
}


# ---------------------------------------------------------------- bundled grammars
BUNDLED_DIR = Path(__file__).resolve().parent.parent / "grammars"  # decoder/grammars/


def bundled_names() -> list[str]:
    """The names of the bundled grammars (``decoder/grammars/*.lark``)."""
    return sorted(p.stem for p in BUNDLED_DIR.glob("*.lark"))


def bundled_path(name: str) -> Path:
    """The path of ``decoder/grammars/<name>.lark`` (inside the package, checkout or wheel).
    An unknown name raises :class:`UnknownGrammarError` (a ``GrammarError`` and a
    ``FileNotFoundError``) that lists the known names."""
    fname = name if name.endswith(".lark") else name + ".lark"
    p = BUNDLED_DIR / fname
    if "/" not in fname and "\\" not in fname and p.is_file():
        return p
    known = ", ".join(bundled_names()) or f"none: {BUNDLED_DIR} is missing or empty"
    raise UnknownGrammarError(
        f"no bundled grammar named {name!r}; the bundled grammars are: {known}"
    )


def load_bundled(name: str) -> str:
    """The text of a bundled grammar: ``json``, ``arithmetic``, ``sql_select``, ``csv``."""
    return bundled_path(name).read_text(encoding="utf-8")


# ---------------------------------------------------------------- errors
def _excerpt(text: str, line: int, column: int) -> str:
    lines = text.splitlines() or [""]
    src = lines[line - 1] if 1 <= line <= len(lines) else ""
    col = max(1, column)
    return f"  {src}\n  {' ' * (col - 1)}^"


def _grammar_error(
    reason: str, text: str, line: int | None = None, column: int | None = None, **attrs
) -> GrammarError:
    if line is not None:
        column = column or 1
        msg = f"{reason} at line {line}, column {column}:\n{_excerpt(text, line, column)}"
    else:
        msg = reason
    return _make_error(msg, line=line, column=column, reason=reason, **attrs)


def _find(text: str, needle: str) -> tuple[int | None, int | None]:
    """1-based (line, column) of the first occurrence of needle as a whole word."""
    if not needle:
        return None, None
    m = re.search(r"(?<![\w.])" + re.escape(needle) + r"(?!\w)", text)
    if not m:
        return None, None
    line = text.count("\n", 0, m.start()) + 1
    col = m.start() - (text.rfind("\n", 0, m.start()) + 1) + 1
    return line, col


def _from_lark_error(e: Exception, text: str) -> GrammarError:
    msg = str(e)
    line = getattr(e, "line", None)
    column = getattr(e, "column", None)
    if isinstance(line, int) and line > 0:
        reason = msg.split("\n")[0].split(" at line ")[0].rstrip(".,")
        return _grammar_error(f"malformed grammar: {reason}", text, line, column)
    m = re.search(r"at line (\d+),? column (\d+)", msg)
    if m:
        reason = msg[: m.start()].strip().rstrip(",")
        return _grammar_error(
            f"malformed grammar: {reason}", text, int(m.group(1)), int(m.group(2))
        )
    reason = msg.strip().split("\n")[0]
    for name in re.findall(r"'([A-Za-z_][\w.]*)'", reason):
        line, col = _find(text, name)
        if line is not None:
            return _grammar_error(f"malformed grammar: {reason}", text, line, col)
    return _grammar_error(f"malformed grammar: {reason}", text)


# ---------------------------------------------------------------- conversion
def _no_lexer():
    import lark

    class NoLexer(lark.lexer.Lexer):
        """Lets Lark compile a grammar with zero-width terminals (its parser is never run)."""

        def __init__(self, conf):
            pass

        def lex(self, *args):  # pragma: no cover - decoder never parses with Lark
            raise NotImplementedError

    return NoLexer


def _terminal_regex(td, text: str, allow_lazy: bool) -> tuple:
    pat = td.pattern
    flags = "".join(sorted(pat.flags))
    if type(pat).__name__ == "PatternStr":
        if not flags:
            return ir.lit(pat.value)
        source = re.escape(pat.value)
    else:
        source = KNOWN_EQUIVALENTS.get(pat.value, pat.value)
    try:
        p = _Parser(source, "python", flags)
        node = p.parse()
        if p.anchors:
            node = _resolve(node, source, True, False)
    except GrammarError as e:
        line, col = _locate_terminal(td.name, pat.value, text)
        raise _grammar_error(
            f"terminal {td.name} (pattern /{pat.value}/): " f"{getattr(e, 'reason', None) or e}",
            text,
            line,
            col,
            terminal=td.name,
        ) from e
    if p.lazy and not allow_lazy:
        line, col = _locate_terminal(td.name, pat.value, text)
        raise _grammar_error(
            f"terminal {td.name} (pattern /{pat.value}/) uses a lazy quantifier: Lark stops at "
            f"the shortest match, the engine's lexer takes the longest; rewrite it without '?' "
            f"after the quantifier (or pass allow_lazy=True for greedy semantics)",
            text,
            line,
            col,
            terminal=td.name,
        )
    return node


def _locate_terminal(name: str, value: str, text: str):
    m = re.search(r"^[ \t]*[_?!]?" + re.escape(name) + r"(?:\.-?\d+)?[ \t]*:", text, re.M)
    if m:
        line = text.count("\n", 0, m.start()) + 1
        return line, m.start() - (text.rfind("\n", 0, m.start()) + 1) + 1
    i = text.find("/" + value + "/")
    if i < 0:
        i = text.find(value) if value else -1
    if i >= 0:
        return text.count("\n", 0, i) + 1, i - (text.rfind("\n", 0, i) + 1) + 1
    return None, None


# ---------------------------------------------------------------- llguidance extensions
_TOKEN_RE = re.compile(r"<\|([^|\s]+)\|>|<\[(\d+)\]>")
_ATTR_RE = re.compile(
    r"^([ \t]*[?!]?)([A-Za-z_][A-Za-z_0-9]*)"
    r'\[((?:"(?:[^"\\\n]|\\.)*"|[^\]\n"])*)\]([ \t]*(?:\.-?\d+)?[ \t]*:)',
    re.M,
)
# one lexeme option: key, or key=value with a string literal, a /regex/ or a bare word
_OPTION_RE = re.compile(
    r'\s*([A-Za-z_]+)\s*(?:=\s*("(?:[^"\\\n]|\\.)*"|/[^\n]*?/|[^,\s]+))?\s*(,|$)'
)


def _code_spans(text: str):
    """(start, end) of the parts of a Lark grammar outside strings, regexes and comments."""
    i, n, start = 0, len(text), 0
    while i < n:
        c = text[i]
        if c == "/" and i + 1 < n and text[i + 1] == "/":
            yield start, i
            j = text.find("\n", i)
            i = start = n if j < 0 else j
            continue
        if c in '"/':
            yield start, i
            j = i + 1
            in_class = False
            while j < n:
                if text[j] == "\\":
                    j += 2
                    continue
                if c == "/" and text[j] == "[":
                    in_class = True
                elif c == "/" and text[j] == "]":
                    in_class = False
                elif text[j] == c and not in_class:
                    break
                elif text[j] == "\n":
                    break
                j += 1
            i = start = j + 1
            continue
        i += 1
    yield start, n


def _extensions(
    text: str,
) -> tuple[str, dict[str, tuple], dict[str, object], dict[str, int], dict[str, tuple]]:
    """llguidance's Lark extensions rewritten to plain Lark: special tokens (``<|name|>``,
    ``<[id]>``), ``%json {schema}`` bodies, ``%llguidance {}`` and lexeme options on a
    definition (``[max_tokens=N]``, ``[lazy]``, ``[stop="S"]``, ``[suffix="S"]``). Returns
    the text and what the placeholders and options stand for (``lazies``: name ->
    (option, string appended to the lexeme))."""
    import json as _json

    tokens: dict[str, tuple] = {}
    jsons: dict[str, object] = {}
    budgets: dict[str, int] = {}
    lazies: dict[str, tuple] = {}
    if "<" not in text and "%" not in text and "[" not in text:
        return text, tokens, jsons, budgets, lazies
    # %json { ... } and %llguidance { ... } (a JSON object, found where the grammar has code)
    k = 0
    while True:
        spans = list(_code_spans(text))
        m = None
        for mm in re.finditer(r"%json\b|%llguidance\b", text[k:]):
            at = k + mm.start()
            if any(x <= at < y for x, y in spans):
                m = mm
                break
        if m is None:
            break
        at, j = k + m.start(), k + m.end()
        while j < len(text) and text[j] in " \t\r\n":
            j += 1
        line = text.count("\n", 0, at) + 1
        if j >= len(text) or text[j] != "{":
            raise _grammar_error(f"{m.group(0)} needs a JSON object after it", text, line, 1)
        try:
            obj, used = _json.JSONDecoder().raw_decode(text[j:])
        except ValueError as e:
            raise _grammar_error(
                f"{m.group(0)}: the object after it is not JSON ({e})", text, line, 1
            ) from None
        if m.group(0) == "%llguidance":
            if obj:
                raise _grammar_error(
                    f"%llguidance options {sorted(obj)} are not supported by decoder "
                    f"(only an empty object is accepted)",
                    text,
                    line,
                    1,
                )
            repl = ""
        else:
            repl = f"LLG_JSON_{len(jsons)}"
            jsons[repl] = obj
        text = text[:at] + repl + text[j + used :]
        k = at + len(repl)
    out, pos = [], 0
    for a, b in _code_spans(text):
        out.append(text[pos:a])
        seg = text[a:b]

        def tok(mm):
            name = f"LLG_TOKEN_{len(tokens)}"
            from . import freetext

            tokens[name] = (
                freetext.special_name(f"<|{mm.group(1)}|>")
                if mm.group(1) is not None
                else freetext.special_id(int(mm.group(2)))
            )
            return name

        out.append(_TOKEN_RE.sub(tok, seg))
        pos = b
    out.append(text[pos:])
    text = "".join(out)

    def attrs(m):
        name, spec = m.group(2), m.group(3)
        line = text.count("\n", 0, m.start()) + 1

        def refuse(item: str, why: str):
            raise _grammar_error(f"attribute {item!r} on {name}: {why}", text, line, 1)

        pos = 0
        while pos < len(spec) and spec[pos:].strip():
            o = _OPTION_RE.match(spec, pos)
            if o is None:
                refuse(spec[pos:].strip(), "cannot be read (key or key=value, comma-separated)")
            pos = o.end()
            key, val = o.group(1), o.group(2)
            item = o.group(0).strip().rstrip(",").strip()
            if key == "max_tokens" and val is not None and val.isdigit():
                budgets[name] = int(val)
            elif key == "lazy" and val is None:
                lazies.setdefault(name, ("lazy", ""))
            elif key in ("stop", "suffix") and val is not None:
                if not val.startswith('"'):
                    refuse(item, f"decoder takes {key}= as a string literal only")
                try:
                    s = _json.loads(val)
                except ValueError:
                    refuse(item, "the string cannot be read")
                if not s:
                    refuse(
                        item,
                        f'{key}="" (the EOS token as the stop, taken back afterwards) is not '
                        f"supported: decoder never takes tokens back",
                    )
                if name in lazies and lazies[name][0] != "lazy":
                    refuse(item, "one stop= or suffix= per definition")
                lazies[name] = (key, s)
            else:
                refuse(
                    item,
                    'not supported by decoder (only max_tokens=N, lazy, stop="S" and '
                    'suffix="S", on a terminal or a rule of terminals)',
                )
        return m.group(1) + name + m.group(4)

    text = _ATTR_RE.sub(attrs, text)
    decl = [n for n in list(tokens) + list(jsons)]
    if decl:
        text = text + "\n%declare " + " ".join(decl) + "\n"
    return text, tokens, jsons, budgets, lazies


#: Lark's own loader is slow on very large grammars (over 30 s for 5,000 rules or 20,000
#: alternatives) and never returns on a template that expands itself: bounded before it runs
MAX_LARK_RULES = 2_000
MAX_LARK_ALTERNATIVES = 5_000
#: the largest grammar text (UTF-8 bytes) compiled; refused before Lark's loader runs
MAX_LARK_TEXT_BYTES = 1 << 20
_RULE_DEF = re.compile(r"^[ \t]*[?!]?([a-z_][a-z_0-9]*)(\{[^}]*\})?[ \t]*(?:\.-?\d+)?[ \t]*:", re.M)


def _check_literals(text: str) -> None:
    """Names an unterminated string or regex literal, in linear time. Lark's grammar lexer
    reads a literal as a repetition of "escaped delimiter | escaped backslash | any other
    character", so each pair of backslashes reads two ways, and an unterminated literal
    holding many of them backtracks exponentially (a slash, ``a`` and 40 backslashes:
    minutes); it is a syntax error either way. A literal counts as closed where Lark's own
    terminal could close it (a later quote on the line, a later slash)."""
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "/" and text.startswith("//", i):  # a comment, to the end of its line
            j = text.find("\n", i)
            i = n if j < 0 else j
            continue
        if c in '"/':
            end = text.find("\n", i + 1) if c == '"' else -1
            end = n if end < 0 else end
            j = text.find(c, i + 1, end)
            if j < 0:
                what = "string" if c == '"' else "regular expression"
                line = text.count("\n", 0, i) + 1
                raise _grammar_error(
                    f"unterminated {what} literal", text, line, i - text.rfind("\n", 0, i)
                )
            k = i + 1  # past the escapes, where the literal really closes
            while k < end and text[k] != c:
                k += 2 if text[k] == "\\" and k + 1 < end else 1
            i = (k if k < end else j) + 1
            continue
        i += 1


def _check_size(text: str, max_rules: int, max_alternatives: int) -> None:
    defs = _RULE_DEF.findall(text)
    if len(defs) > max_rules:
        raise LimitError(
            f"the Lark grammar has {len(defs)} rules, more than the limit max_rules={max_rules} "
            f"(Grammar.from_lark(..., max_rules=N) raises it)",
            limit="max_rules",
        )
    bars = text.count("|")
    if bars > max_alternatives:
        raise LimitError(
            f"the Lark grammar has {bars} alternatives ('|'), more than the limit "
            f"max_alternatives={max_alternatives} (Grammar.from_lark(..., "
            f"max_alternatives=N) raises it)",
            limit="max_alternatives",
        )
    # a template whose body calls the same template (with a bigger argument) makes Lark's
    # loader expand forever
    for m in _RULE_DEF.finditer(text):
        name, params = m.group(1), m.group(2)
        if not params:
            continue
        body_end = _RULE_DEF.search(text, m.end())
        body = text[m.end() : body_end.start() if body_end else len(text)]
        if re.search(r"\b" + re.escape(name) + r"\s*\{", body):
            line = text.count("\n", 0, m.start()) + 1
            raise _grammar_error(
                f"template {name} calls itself: recursive templates are not "
                f"supported (Lark would expand it forever)",
                text,
                line,
                1,
            )


def from_lark(
    text: str | os.PathLike,
    start: str = "start",
    *,
    allow_lazy: bool = False,
    max_rules: int = MAX_LARK_RULES,
    max_alternatives: int = MAX_LARK_ALTERNATIVES,
    max_text_bytes: int = MAX_LARK_TEXT_BYTES,
) -> ir.GrammarIR:
    """Compile a Lark grammar (its text, or a path to a ``.lark`` file) to a :class:`GrammarIR`.

    Raises :class:`GrammarError` (with line, column and a caret where known) for a
    malformed grammar, a ``%declare``d terminal (no pattern to match), or a
    terminal whose regex cannot be expressed exactly. A grammar text longer than
    ``max_text_bytes`` (1 MiB) is a :class:`LimitError` (``limit="max_text_bytes"``), and
    the compile honours :func:`decoder.deadline.compile_deadline`.
    """
    import lark

    from .. import deadline as _deadline

    import_paths = []
    source_path = None
    if isinstance(text, os.PathLike) or (
        isinstance(text, str)
        and "\n" not in text
        and text.endswith(".lark")
        and os.path.isfile(text)
    ):
        source_path = os.fspath(text)
        import_paths.append(os.path.dirname(os.path.abspath(source_path)))
        size = os.path.getsize(source_path)
        if max_text_bytes and size > max_text_bytes:
            raise LimitError(
                f"the Lark grammar file {source_path} has {size} bytes, more than the limit "
                f"max_text_bytes={max_text_bytes}",
                limit="max_text_bytes",
            )
        text = Path(source_path).read_text(encoding="utf-8")
    if isinstance(text, str):
        if (
            max_text_bytes
            and len(text) > max_text_bytes // 4
            and len(text.encode("utf-8", "surrogatepass")) > max_text_bytes
        ):
            raise LimitError(
                f"the Lark grammar text has {len(text.encode('utf-8', 'surrogatepass'))} bytes, more "
                f"than the limit max_text_bytes={max_text_bytes} (Grammar.from_lark(..., "
                f"max_text_bytes=N) raises it)",
                limit="max_text_bytes",
            )
        _check_size(text, max_rules, max_alternatives)
    text, ext_tokens, ext_jsons, ext_budgets, ext_lazies = _extensions(text)
    _check_literals(text)
    _deadline.check("before Lark's loader")
    try:
        try:
            parser = lark.Lark(
                text,
                parser="earley",
                lexer="dynamic",
                start=start,
                import_paths=import_paths,
                source_path=source_path,
            )
        except lark.exceptions.GrammarError as e:
            if "zero-width" not in str(e):
                raise
            # Lark's dynamic lexer refuses a terminal that matches the empty string (/x*/);
            # the engine takes it (ir.without_nullable_lexemes), and only Lark's grammar
            # compiler is used here: the same grammar again, with a lexer that never runs
            parser = lark.Lark(
                text,
                parser="earley",
                lexer=_no_lexer(),
                start=start,
                import_paths=import_paths,
                source_path=source_path,
            )
    except Exception as e:  # Lark's GrammarError, UnexpectedInput, re errors, missing imports
        if isinstance(e, (KeyboardInterrupt, MemoryError)):  # pragma: no cover
            raise
        if isinstance(e, RecursionError) or isinstance(
            getattr(e, "orig_exc", None), RecursionError
        ):
            # Lark's own loader recursed too deep (a VisitError wraps it): name the problem
            raise LimitError(
                "the Lark grammar is nested too deeply to compile (Python's recursion "
                "limit, in Lark's grammar loader)",
                limit="max_depth",
            ) from None
        raise _from_lark_error(e, text) from e

    b = ir.GrammarBuilder()
    terminals = {t.name: t for t in parser.terminals}
    lexeme_of: dict[str, int] = {}

    def lexeme(name: str) -> int:
        sym = lexeme_of.get(name)
        if sym is None and name in ext_tokens:
            sym = lexeme_of[name] = b.lexeme(name, ext_tokens[name])
        elif sym is None and name in ext_jsons:
            from .json_schema import compile_json_schema

            try:
                g_ir = compile_json_schema(ext_jsons[name], whitespace="compact")
            except Exception as e:  # a SchemaError: where it came from
                raise _grammar_error(f"%json: {e}", text) from None
            sym = lexeme_of[name] = b.embed(g_ir)[g_ir.start]
        if sym is None:
            td = terminals.get(name)
            if td is None:
                line, col = _find(text, name)
                raise _grammar_error(
                    f"terminal {name} is declared (%declare) but has no pattern: "
                    f"the engine has nothing to match it with",
                    text,
                    line,
                    col,
                    terminal=name,
                )
            node = _terminal_regex(td, text, allow_lazy)
            if node == ir.NEVER:
                line, col = _locate_terminal(name, td.pattern.value, text)
                raise _grammar_error(
                    f"terminal {name} matches nothing", text, line, col, terminal=name
                )
            sym = lexeme_of[name] = b.lexeme(name, node)
        return sym

    nts: dict[str, int] = {}
    for r in parser.rules:
        name = str(r.origin.name)
        if name not in nts:
            nts[name] = b.nonterminal(name)
    _deadline.check("after Lark's loader")
    lazy_syms = {
        name: _lazy_lexeme(b, name, opt, parser, terminals, nts, text, allow_lazy)
        for name, opt in ext_lazies.items()
    }
    for name, sym in lazy_syms.items():
        if name in nts:
            b.rule(nts[name], [sym])
        else:
            lexeme_of[name] = sym
    for k, r in enumerate(parser.rules):
        if k & 255 == 0:
            _deadline.check(f"rule {r.origin.name}")
        if str(r.origin.name) in lazy_syms:
            continue  # one lazy lexeme stands for the rule's bodies
        body = []
        for s in _without_rewritten_stops(r.expansion, ext_lazies, terminals):
            if s.is_term:
                body.append(lexeme(str(s.name)))
            else:
                body.append(nts[str(s.name)])
        b.rule(nts[str(r.origin.name)], body)
    for name in parser.ignore_tokens:
        b.ignore(lexeme(str(name)))
    for name, n in ext_budgets.items():
        targets = []
        if name in lazy_syms:
            targets = [lazy_syms[name]]
        elif name in terminals or name in ext_tokens:
            targets = [lexeme(name)]
        else:
            for r in parser.rules:
                if str(r.origin.name) != name:
                    continue
                if len(r.expansion) != 1 or not r.expansion[0].is_term:
                    line, col = _find(text, name)
                    raise _grammar_error(
                        f"max_tokens on {name}: decoder counts tokens inside one lexeme, "
                        f"so the rule must be a terminal or alternatives of single terminals",
                        text,
                        line,
                        col,
                    )
                targets.append(lexeme(str(r.expansion[0].name)))
        for sym in targets:
            if sym >= 0:
                raise _grammar_error(f"max_tokens on {name}: a %json body is not one lexeme", text)
            b.budget(sym, n)
    if start not in nts:  # pragma: no cover - Lark raises first
        raise _grammar_error(f"no rule named {start!r}", text)
    return b.build(nts[start])


def _lazy_lexeme(b, name: str, opt: tuple, parser, terminals, nts, text: str, allow_lazy) -> int:
    """The lexeme of a definition with ``lazy`` / ``stop="S"`` / ``suffix="S"`` (llguidance's
    lazy lexemes): the definition's terminals as one regex (a rule: its bodies, each a
    sequence of terminals), then ``S``; a lexeme that ends at its first match."""
    kind, suffix = opt
    what = "lazy" if kind == "lazy" else f"{kind}={suffix!r}"
    if name in nts:
        bodies = [r.expansion for r in parser.rules if str(r.origin.name) == name]
        alts = []
        for body in bodies:
            parts = []
            for s in body:
                sname = str(s.name)
                if not s.is_term or sname not in terminals:  # a rule, a token, a %json
                    line, col = _find(text, name)
                    raise _grammar_error(
                        f"{what} on {name}: its body must be terminals (strings, /regexes/, "
                        f"TERMINALS), not {sname}: the option makes the whole body one "
                        f"lexeme (write a repetition inside one terminal)",
                        text,
                        line,
                        col,
                    )
                parts.append(_terminal_regex(terminals[sname], text, allow_lazy))
            alts.append(ir.cat(*parts))
        node = ir.alt(*alts)
    elif name in terminals:
        node = _terminal_regex(terminals[name], text, allow_lazy)
    else:
        line, col = _find(text, name)
        raise _grammar_error(
            f"{what} on {name}: a special token or %json is not a lexeme", text, line, col
        )
    node = ir.cat(node, ir.lit(suffix))
    if ir.nullable(node):
        line, col = _find(text, name)
        raise _grammar_error(
            f"lazy on {name}: its pattern matches the empty string, so its first match is "
            f"always empty (llguidance matches only ''); give it a delimiter at the end",
            text,
            line,
            col,
        )
    return b.lexeme(name, node, lazy=True)


def _without_rewritten_stops(body, lazies: dict, terminals) -> list:
    """A rule body without the literal ``"S"`` right after a ``w[stop="S"]``: llguidance takes
    the stop string back from the output and, in that idiom (``outer: w "S"``), writes it
    again, one ``S`` in all; decoder never takes tokens back, so ``w``'s lexeme already holds
    the one ``S`` (llguidance's matcher, too, accepts ``fooS`` there and refuses ``fooSS``)."""
    out = []
    stop = None
    for s in body:
        td = terminals.get(str(s.name)) if s.is_term else None
        if (
            stop is not None
            and td is not None
            and type(td.pattern).__name__ == "PatternStr"
            and not td.pattern.flags
            and td.pattern.value == stop
        ):
            stop = None
            continue
        out.append(s)
        opt = lazies.get(str(s.name))
        stop = opt[1] if opt is not None and opt[0] == "stop" else None
    return out
