"""Structural tags (the format vLLM and SGLang accept, after xgrammar) → :class:`GrammarIR`.

``{"type": "structural_tag", "format": F}`` where a format ``F`` is one of

=======================  ====================================================================
``const_string``         ``value``: this exact text
``token``                ``token``: one token, by text (``"<|python_tag|>"``) or id; a special
                         token is allowed exactly there (decoder.grammar.freetext)
``json_schema``          ``json_schema``: JSON for this schema (decoder's JSON Schema front end)
``regex`` / ``grammar``  ``pattern`` / ``grammar`` (Lark, or GBNF-style EBNF)
``sequence`` / ``or``    ``elements``
``optional`` / ``star``  ``content``
``plus``
``tag``                  ``begin`` (text or token format), ``content``, ``end`` (text, list
                         of texts, or token format)
``any_text``             free text; ``excludes`` (strings it must not contain),
                         ``max_tokens`` (a token budget: then the text's end is forced),
                         ``max_chars`` (at most that many characters before its end string)
``triggered_tags``       free text in which each ``triggers`` string starts one of the
                         ``tags`` (whose ``begin`` starts with it); ``at_least_one``,
                         ``stop_after_first``, ``excludes``
``token_triggered_tags`` the same with trigger *tokens* (``trigger_tokens``)
``tags_with_separator``  ``tags`` joined by ``separator``; ``at_least_one``,
                         ``stop_after_first``
=======================  ====================================================================

and the legacy form ``{"structures": [{"begin", "schema", "end"}], "triggers": [...]}``.

Free text is one lexeme that *includes* what ends it (the end string of its tag, the next
constant of a sequence, a trigger): :func:`decoder.grammar.freetext.text_until`. So every
format is compiled knowing what follows it (``follow``): a literal that it must emit
itself, the end of the output, or something that is not a literal (where free text
cannot end, an error naming the place). Anything else is a :class:`SpecError` naming the
construct and where it is.
"""

from __future__ import annotations

from typing import Any

from .. import deadline as _deadline
from ..errors import DecoderError, GrammarError, LimitError
from . import freetext as ft
from .ir import GrammarBuilder, GrammarIR, cps, rep

# follow: what comes after a format. END: the output's end. NONE: something that is not a
# literal (nothing to emit). ("str", (s, ...)): one of these strings, which the format emits.
# ("tok", t): this token (by text or id), which the format emits.
END = ("end",)
NONE = ("none",)

FORMATS = (
    "const_string",
    "token",
    "json_schema",
    "regex",
    "grammar",
    "sequence",
    "or",
    "optional",
    "star",
    "plus",
    "tag",
    "any_text",
    "triggered_tags",
    "token_triggered_tags",
    "tags_with_separator",
)


def structural_tag_ir(tag: Any, whitespace: str = "flexible", *, error=None) -> GrammarIR:
    """The grammar of a structural tag. JSON parts use ``whitespace`` ("flexible": JSON
    whitespace between JSON tokens, skipped anywhere between lexemes of the tag's grammar;
    "compact": none). Errors are ``error`` (default: decoder.errors.SpecError)."""
    if error is None:
        from ..errors import SpecError as error
    if not isinstance(tag, dict):
        raise error("a structural_tag spec is a JSON object")
    fmt: object
    if "structures" in tag or "triggers" in tag:
        fmt = _legacy(tag, error)
    else:
        fmt = tag.get("format") if tag.get("type", "structural_tag") == "structural_tag" else tag
    if not isinstance(fmt, dict):
        raise error("a structural_tag spec needs a 'format' object")
    c = _Compiler(whitespace, error)
    c.batch_json(fmt)
    start = c.b.nonterminal("start")
    try:
        c.b.rule(start, [c.fmt(fmt, "format", END)])
    except RecursionError:
        raise LimitError(
            "the structural tag is nested too deeply to compile (Python's recursion limit)",
            limit="max_depth",
        ) from None
    return c.b.build(start)


def _legacy(tag: dict, error) -> dict:
    structures, triggers = tag.get("structures"), tag.get("triggers")
    if not isinstance(structures, list) or not isinstance(triggers, list) or not triggers:
        raise error(
            "a legacy structural tag has a list 'structures' and a non-empty list 'triggers'"
        )
    tags = []
    for i, s in enumerate(structures):
        if not isinstance(s, dict) or not all(isinstance(s.get(k), str) for k in ("begin", "end")):
            raise error(f"structural tag: structures[{i}] needs string 'begin' and 'end'")
        tags.append(
            {
                "type": "tag",
                "begin": s["begin"],
                "end": s["end"],
                "content": {"type": "json_schema", "json_schema": s.get("schema", {})},
            }
        )
    return {"type": "triggered_tags", "triggers": triggers, "tags": tags}


class _Compiler:
    def __init__(self, whitespace: str, error) -> None:
        self.b = GrammarBuilder()
        self.ws = whitespace
        self.error = error
        # flexible and pretty JSON whitespace are an ignored lexeme, allowed between any two
        # lexemes of the whole tag; compact and separators are part of the JSON lexemes
        self.ignore_ok = whitespace in ("flexible", "pretty")
        self.json_syms: dict[int, int] = {}  # id(json_schema format) -> its start symbol
        self._hold: list = []

    def _json_ws(self) -> str:
        """The JSON whitespace policy of json_schema parts (decoder/_json_whitespace.py)."""
        from .._json_whitespace import WHITESPACE_POLICIES

        return self.ws if self.ws in WHITESPACE_POLICIES else "flexible"

    def batch_json(self, fmt) -> None:
        """Compiles every json_schema part in one go (tool sets: hundreds of parameter
        schemas share a builder and memos; decoder.grammar.json_schema.compile_json_schemas).
        On any error nothing is batched: each part is then compiled alone, so the error
        names its place."""
        found: list = []
        stack = [fmt]
        while stack:
            f = stack.pop()
            if isinstance(f, dict):
                if f.get("type") == "json_schema":
                    found.append(f)
                    continue
                stack.extend(v for k, v in f.items() if isinstance(v, (dict, list)))
            elif isinstance(f, list):
                stack.extend(f)
        if len(found) < 2:
            return
        from .json_schema import compile_json_schemas

        schemas = [{} if f.get("json_schema") is None else f.get("json_schema") for f in found]
        ws = self._json_ws()
        # straight into this builder; on an error nothing is kept (a fresh builder replaces
        # the one the failed batch wrote into, so each part is then compiled alone)
        saved = self.b
        trial = GrammarBuilder()
        try:
            _, starts = compile_json_schemas(schemas, whitespace=ws, builder=trial)
        except DecoderError:
            self.b = saved
            return
        self.b = trial
        for f, s in zip(found, starts):
            self.json_syms[id(f)] = s
        self._hold.append(found)

    # ------------------------------------------------------------ helpers
    def seq(self, name: str, syms) -> int:
        nt = self.b.nonterminal(name)
        self.b.rule(nt, [s for s in syms if s is not None])
        return nt

    def alt(self, name: str, alts) -> int:
        nt = self.b.nonterminal(name)
        for a in alts:
            self.b.rule(nt, [s for s in a if s is not None])
        return nt

    def text(self, s: str) -> int | None:
        return self.b.literal(s) if s else None

    def token(self, t, where: str) -> int:
        if isinstance(t, bool) or not isinstance(t, (int, str)):
            raise self.error(f"structural tag: {where} names a token by its text or id, not {t!r}")
        if isinstance(t, int):
            return self.b.lexeme(f"<[{t}]>", ft.special_id(t))
        return self.b.lexeme(t, ft.special_name(t))

    def emit(self, follow) -> int | None:
        """The symbol that emits ``follow`` (None for END/NONE)."""
        if follow[0] == "str":
            if len(follow[1]) == 1:
                return self.text(follow[1][0])
            return self.alt("end", [[self.text(s)] for s in follow[1]])
        if follow[0] == "tok":
            return self.token(follow[1], "an end token")
        return None

    def field(self, fmt: dict, name: str, typ, where: str):
        v = fmt.get(name)
        if not isinstance(v, typ) or isinstance(v, bool) and typ is not bool:
            tn = typ.__name__ if isinstance(typ, type) else " or ".join(t.__name__ for t in typ)
            raise self.error(f"structural tag: {where}.{name} must be a {tn}")
        return v

    def flag(self, fmt: dict, name: str, where: str) -> bool:
        v = fmt.get(name, False)
        if not isinstance(v, bool):
            raise self.error(f"structural tag: {where}.{name} must be true or false")
        return v

    def strings(self, fmt: dict, name: str, where: str) -> list:
        v = fmt.get(name, [])
        if not isinstance(v, list) or not all(isinstance(s, str) and s for s in v):
            raise self.error(f"structural tag: {where}.{name} must be a list of non-empty strings")
        return v

    def free_text(
        self, excludes, follow, where: str, max_tokens=None, max_chars=None, others=()
    ) -> int:
        """Free text then ``follow`` (which the free-text lexeme itself ends with)."""
        try:
            if follow[0] == "none":
                raise self.error(
                    f"structural tag: free text at {where} is followed by a part that is "
                    f"not a fixed string or token, so nothing says where it ends; put a "
                    f"const_string, a token or a tag after it, or end the output with it"
                )
            if max_chars is not None and (
                isinstance(max_chars, bool) or not isinstance(max_chars, int) or max_chars < 0
            ):
                raise self.error(
                    f"structural tag: {where}.max_chars must be a non-negative integer"
                )
            syms: list[int | None]  # seq() leaves out None (nothing to emit)
            if max_chars is not None and follow == END and not excludes and not others:
                node = rep(cps([(0, 0xD7FF), (0xE000, 0x10FFFF)]), 0, int(max_chars))
                syms = [self.b.lexeme("TEXT", node)]
                lexemes = list(syms)
            elif follow == END:
                lexemes = syms = [
                    self.b.lexeme("TEXT", ft.text_until(excludes, None, others, max_chars))
                ]
            elif follow[0] == "tok":
                lexemes = [self.b.lexeme("TEXT", ft.text_until(excludes, None, others, max_chars))]
                syms = [lexemes[0], self.emit(follow)]
            else:
                ends = follow[1]
                alts, lexemes = [], []
                for e in ends:
                    lx = self.b.lexeme(
                        f"TEXT…{e}",
                        ft.text_until(excludes, e, list(others) + list(ends), max_chars),
                    )
                    lexemes.append(lx)
                    alts.append([lx])
                return self._budget(self.alt("text", alts), lexemes, max_tokens, where)
        except GrammarError as e:
            raise self.error(f"structural tag: {where}: {e}") from None
        return self._budget(self.seq("text", syms), lexemes, max_tokens, where)

    def _budget(self, sym, lexemes, max_tokens, where):
        if max_tokens is not None:
            if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 0:
                raise self.error(
                    f"structural tag: {where}.max_tokens must be a non-negative integer"
                )
            for lx in lexemes:
                self.b.budget(lx, max_tokens)
        return sym

    def embed(self, g: GrammarIR, where: str) -> int:
        if g.ignore and not self.ignore_ok:
            raise self.error(
                f"structural tag: the grammar at {where} ignores lexemes between tokens "
                f"(%ignore), which cannot be scoped to one part of a structural tag"
            )
        return self.embed_all(g)[g.start]

    def embed_all(self, g: GrammarIR) -> list:
        """Copies ``g`` into the builder; returns its nonterminals' new symbols."""
        return self.b.embed(g)

    # ------------------------------------------------------------ formats
    def leading(self, fmt) -> tuple | None:
        """The literal a format starts with, as a follow for the part before it."""
        if not isinstance(fmt, dict):
            return None
        t = fmt.get("type")
        if t == "const_string" and isinstance(fmt.get("value"), str) and fmt["value"]:
            return ("str", (fmt["value"],))
        if (
            t == "token"
            and isinstance(fmt.get("token"), (int, str))
            and not isinstance(fmt.get("token"), bool)
        ):
            return ("tok", fmt["token"])
        if t == "tag":
            b = fmt.get("begin")
            if isinstance(b, str) and b:
                return ("str", (b,))
            if isinstance(b, dict) and b.get("type") == "token":
                return self.leading(b)
        return None

    def fmt(self, fmt: Any, where: str, follow, skip_leading: bool = False) -> int:
        """A symbol deriving ``fmt`` then ``follow`` (its leading literal left out when
        ``skip_leading``: the part before emitted it)."""
        _deadline.check(f"structural tag {where[:200]}")
        if not isinstance(fmt, dict) or not isinstance(fmt.get("type"), str):
            raise self.error(f"structural tag: {where} is not a format object with a 'type'")
        t = fmt["type"]
        after = self.emit(follow)
        if t == "const_string":
            v = self.field(fmt, "value", str, where)
            return self.seq("literal", [None if skip_leading else self.text(v), after])
        if t == "token":
            return self.seq(
                "token",
                [None if skip_leading else self.token(fmt.get("token"), f"{where}.token"), after],
            )
        if t == "json_schema":
            from .json_schema import compile_json_schema

            if id(fmt) in self.json_syms:
                return self.seq("json", [self.json_syms[id(fmt)], after])
            schema = fmt.get("json_schema", {})
            schema = {} if schema is None else schema
            try:
                g_ir = compile_json_schema(schema, whitespace=self._json_ws())
            except DecoderError as e:
                raise type(e)(f"structural tag: {where}.json_schema: {e}") from None
            return self.seq("json", [self.embed(g_ir, where), after])
        if t == "regex":
            from .ir import regex_grammar
            from .regex import parse_regex

            g_ir = regex_grammar(parse_regex(self.field(fmt, "pattern", str, where)))
            return self.seq("regex", [self.embed(g_ir, where), after])
        if t == "grammar":
            from .gbnf import lark_or_gbnf_ir

            g_ir = lark_or_gbnf_ir(self.field(fmt, "grammar", str, where))
            return self.seq("grammar", [self.embed(g_ir, where), after])
        if t in ("sequence", "or"):
            elements = self.field(fmt, "elements", list, where)
            if not elements:
                raise self.error(f"structural tag: {where} has no elements")
            if t == "or":
                return self.alt(
                    "or",
                    [
                        [self.fmt(e, f"{where}.elements[{i}]", follow)]
                        for i, e in enumerate(elements)
                    ],
                )
            n = len(elements)
            leads = [None] + [self.leading(e) for e in elements[1:]]
            syms = []
            for i, el in enumerate(elements):
                f = follow if i + 1 == n else (leads[i + 1] or NONE)
                skip = skip_leading if i == 0 else leads[i] is not None
                syms.append(self.fmt(el, f"{where}.elements[{i}]", f, skip_leading=skip))
            return self.seq("sequence", syms)
        if t in ("optional", "star", "plus"):
            content = fmt.get("content")
            inner = self.fmt(content, f"{where}.content", NONE)
            nt = self.b.nonterminal(t)
            if t == "optional":
                self.b.rule(nt, [inner])
                self.b.rule(nt, [])
            else:
                self.b.rule(nt, [inner] if t == "plus" else [])
                self.b.rule(nt, [nt, inner])
            return self.seq(t, [nt, after])
        if t == "tag":
            return self.tag(fmt, where, follow, skip_leading)
        if t == "any_text":
            return self.free_text(
                self.strings(fmt, "excludes", where),
                follow,
                where,
                fmt.get("max_tokens"),
                fmt.get("max_chars"),
            )
        if t in ("triggered_tags", "token_triggered_tags"):
            return self.triggered(fmt, where, follow, t == "token_triggered_tags")
        if t == "tags_with_separator":
            tags = self.tags(fmt, where)
            sep = self.field(fmt, "separator", str, where)
            one = self.alt(
                "tags", [[self.tag(tg, f"{where}.tags[{i}]", NONE)] for i, tg in enumerate(tags)]
            )
            if self.flag(fmt, "stop_after_first", where):
                body = one
            else:
                body = self.b.nonterminal("tags")
                self.b.rule(body, [one])
                self.b.rule(body, [body] + ([self.b.literal(sep)] if sep else []) + [one])
            if self.flag(fmt, "at_least_one", where):
                return self.seq("tags_with_separator", [body, after])
            return self.alt("tags_with_separator", [[body, after], [after]])
        raise self.error(
            f"structural tag: format type {t!r} at {where} is not supported by decoder "
            f"(supported: {', '.join(FORMATS)})"
        )

    def tags(self, fmt: dict, where: str) -> list:
        tags = self.field(fmt, "tags", list, where)
        if not tags:
            raise self.error(f"structural tag: {where}.tags is empty")
        for i, tg in enumerate(tags):
            if not isinstance(tg, dict) or tg.get("type", "tag") != "tag":
                raise self.error(f"structural tag: {where}.tags[{i}] is not a tag")
        return tags

    def tag(
        self, fmt: dict, where: str, follow, skip_leading: bool = False, skip_chars: int = 0
    ) -> int:
        begin = fmt.get("begin")
        if isinstance(begin, dict) and begin.get("type") == "token":
            head = None if skip_leading else self.token(begin.get("token"), f"{where}.begin")
        elif isinstance(begin, str):
            head = None if skip_leading else self.text(begin[skip_chars:])
        else:
            raise self.error(f"structural tag: {where}.begin must be a string or a token format")
        end = fmt.get("end", "")
        if isinstance(end, dict) and end.get("type") == "token":
            tok = end.get("token")
            content_follow = ("tok", tok)
        else:
            ends = [end] if isinstance(end, str) else end
            if not isinstance(ends, list) or not ends or not all(isinstance(e, str) for e in ends):
                raise self.error(
                    f"structural tag: {where}.end is a string, a list of strings or a token format"
                )
            if any(e == "" for e in ends):
                if len(ends) > 1:
                    raise self.error(f"structural tag: {where}.end mixes an empty end with others")
                content_follow = follow
                body = self.fmt(fmt.get("content"), f"{where}.content", content_follow)
                return self.seq("tag", [head, body])
            content_follow = ("str", tuple(ends))
        body = self.fmt(fmt.get("content"), f"{where}.content", content_follow)
        return self.seq("tag", [head, body, self.emit(follow)])

    def triggered(self, fmt: dict, where: str, follow, by_token: bool) -> int:
        tags = self.tags(fmt, where)
        excludes = self.strings(fmt, "excludes", where)
        once = self.flag(fmt, "stop_after_first", where)
        at_least_one = self.flag(fmt, "at_least_one", where)
        if by_token:
            trig = fmt.get("trigger_tokens")
            if not isinstance(trig, list) or not trig:
                raise self.error(f"structural tag: {where}.trigger_tokens must be a non-empty list")
            if fmt.get("exclude_tokens"):
                raise self.error(
                    f"structural tag: {where}.exclude_tokens: special tokens are always "
                    f"excluded from free text; name ordinary strings in 'excludes'"
                )
        else:
            trig = self.strings(fmt, "triggers", where)
            if not trig:
                raise self.error(f"structural tag: {where}.triggers is empty")
        str_trig = [] if by_token else trig
        if follow == END or follow[0] == "str":
            end_alt = self.free_text(
                excludes, follow, f"{where} (text after the last tag)", others=str_trig
            )
        else:
            raise self.error(
                f"structural tag: triggered tags at {where} are followed by a part that is "
                f"not a fixed string, so nothing says where their free text ends"
            )
        used = [False] * len(tags)
        alts = []
        for k, tr in enumerate(trig):
            rests = []
            for i, tg in enumerate(tags):
                begin = tg.get("begin")
                if by_token:
                    ok = (
                        isinstance(begin, dict)
                        and begin.get("type") == "token"
                        and begin.get("token") == tr
                    )
                    if ok:
                        rests.append(self.tag(tg, f"{where}.tags[{i}]", NONE, skip_leading=True))
                else:
                    ok = isinstance(begin, str) and begin.startswith(tr)
                    if ok:
                        rests.append(self.tag(tg, f"{where}.tags[{i}]", NONE, skip_chars=len(tr)))
                used[i] |= ok
            if not rests:
                continue
            if by_token:
                text = self.free_text(excludes, ("tok", tr), f"{where} (text before {tr!r})")
            else:
                text = self.free_text(
                    excludes,
                    ("str", (tr,)),
                    f"{where} (text before {tr!r})",
                    others=[x for x in trig if x != tr],
                )
            rest = self.alt("tag", [[r] for r in rests])
            alts.append([text, rest])
        for i, u in enumerate(used):
            if not u:
                what = "token" if by_token else "string"
                raise self.error(
                    f"structural tag: {where}.tags[{i}] begins with no trigger {what} "
                    f"(its begin must start with one of the triggers)"
                )
        # loop := text_end | text_i rest_i tail;  tail := loop (stop_after_first: follow);
        # with at_least_one the output starts with  text_i rest_i tail  (a tag is certain)
        after = self.emit(follow)
        loop = self.b.nonterminal("triggered")
        tail = self.b.nonterminal("after_tag")
        self.b.rule(tail, ([after] if after is not None else []) if once else [loop])
        for text, rest in alts:
            self.b.rule(loop, [text, rest, tail])
        self.b.rule(loop, [end_alt])
        if not at_least_one:
            return loop
        first = self.b.nonterminal("triggered_first")
        for text, rest in alts:
            self.b.rule(first, [text, rest, tail])
        return first


__all__ = ["structural_tag_ir", "FORMATS"]
