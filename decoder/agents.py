"""Agent outputs as one constraint: reasoning, free text and tool calls in a model's format.

>>> g = tool_calls(tools, style="qwen3", tool_choice="auto", reasoning=True,
...                max_reasoning_tokens=512)          # a decoder.Grammar
>>> tag = structural_tag(tools, style="qwen3")          # the same, as a structural tag (dict)

``tools`` are OpenAI-style definitions (``{"type": "function", "function": {"name",
"parameters"}}`` or just ``{"name", "parameters"}``); each ``parameters`` schema is
compiled exactly by decoder's JSON Schema front end. The result works wherever a Grammar
does (``Decoder``, the Hugging Face logits processor, ``compile_grammar``), and the
structural tag is what the vLLM and SGLang integrations accept (``structural_tag``).

Styles (what the model writes; ``NAME``/``ARGS`` a declared tool and JSON valid for it):

==================  ============================================================================
``llama3_json``     ``{"name": NAME, "parameters": ARGS}`` (Llama 3.1-3.3 JSON tool calling;
                    parallel calls joined by ``; ``)
``llama3_python``   ``<|python_tag|>{"name": NAME, "parameters": ARGS}`` (the special token)
``hermes``          ``<tool_call>\\n{"name": NAME, "arguments": ARGS}\\n</tool_call>``
                    (Hermes 2/3, Qwen 2.5; ``qwen2.5`` is the same)
``qwen3``           ``hermes`` after ``<think>\\n…\\n</think>\\n\\n``
``mistral``         ``[TOOL_CALLS][{"name": NAME, "arguments": ARGS}, …]`` (special token)
``mistral_v11``     ``[TOOL_CALLS]NAME[ARGS]ARGS`` per call (special tokens; Mistral tokenizer v11+)
``deepseek_v3``     ``<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>NAME\\n```json\\n
                    ARGS\\n```<｜tool▁call▁end｜>…<｜tool▁calls▁end｜>``
``deepseek_r1``     ``deepseek_v3`` after ``…</think>`` (the ``<think>\\n`` is in the prompt)
``kimi_k2``         ``<|tool_calls_section_begin|><|tool_call_begin|>functions.NAME:IDX
                    <|tool_call_argument_begin|>ARGS<|tool_call_end|>…<|tool_calls_section_end|>``
                    (Kimi K2; IDX the call's index; special tokens)
``kimi_k2_thinking`` ``kimi_k2`` after ``<think>…</think>``
``glm4``            GLM-4.5/4.6: ``<think>…</think>`` then ``<tool_call>NAME\n`` and per argument
                    ``<arg_key>KEY</arg_key>\n<arg_value>VALUE</arg_value>\n``, then
                    ``</tool_call>``: a string VALUE raw, any other JSON (keys in the schema's
                    order; a schema this form cannot express exactly is a ToolError)
``harmony``         gpt-oss: ``<|channel|>analysis<|message|>…<|end|><|start|>assistant`` then
                    ``<|channel|>commentary to=functions.NAME <|constrain|>json<|message|>ARGS<|call|>``
                    or ``<|channel|>final<|message|>…`` (special tokens)
==================  ============================================================================

``tool_choice``: ``"none"`` (text only), ``"auto"`` (free text; a call starts where the
model writes the style's trigger), ``"required"`` (calls only), or a tool name /
``{"type": "function", "function": {"name": ...}}`` (exactly that tool). ``reasoning``:
the style's reasoning section first (styles without one ignore it);
``max_reasoning_tokens``: after that many tokens of reasoning, its end is forced.
``parallel_tool_calls``: several calls (default) or at most one.

Known limits: with ``whitespace="flexible"`` (default) JSON whitespace is an ``%ignore``
of the whole grammar, so up to 32 whitespace characters may also stand between other parts
(after a tag, at the end); ``whitespace="compact"`` forbids it everywhere (then the
arguments must be compact JSON too). Behind vLLM's or SGLang's reasoning parser (which
leave the think section unconstrained) build the tag with ``reasoning=False``.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from typing import Any

from .errors import DecoderError

__all__ = [
    "STYLES",
    "tool_calls",
    "structural_tag",
    "detect_style",
    "parse_tool_calls",
    "ToolError",
]


class ToolError(DecoderError, ValueError):
    """Tool definitions, a style or a tool_choice that cannot be compiled."""


STYLES = (
    "llama3_json",
    "llama3_python",
    "hermes",
    "qwen2.5",
    "qwen3",
    "mistral",
    "mistral_v11",
    "deepseek_v3",
    "deepseek_r1",
    "harmony",
    "kimi_k2",
    "kimi_k2_thinking",
    "glm4",
)


def _tok(t):
    return {"type": "token", "token": t}


def _cs(s):
    return {"type": "const_string", "value": s}


def _js(schema):
    return {"type": "json_schema", "json_schema": schema}


def _text(max_tokens=None, excludes=()):
    f: dict = {"type": "any_text"}
    if excludes:
        f["excludes"] = list(excludes)
    if max_tokens is not None:
        f["max_tokens"] = max_tokens
    return f


# ------------------------------------------------------------------ tools


def _tools(tools) -> list[tuple[str, Any]]:
    if isinstance(tools, dict):
        tools = [tools]
    if not isinstance(tools, (list, tuple)):
        raise ToolError(f"tools is a list of tool definitions, not {type(tools).__name__}")
    out, seen = [], set()
    for i, t in enumerate(tools):
        if not isinstance(t, dict):
            raise ToolError(f"tools[{i}] is not an object")
        if t.get("type", "function") != "function":
            raise ToolError(
                f"tools[{i}] has type {t.get('type')!r}; only 'function' tools can be called"
            )
        fn = t.get("function", t)
        if not isinstance(fn, dict):
            raise ToolError(f"tools[{i}].function is not an object")
        name = fn.get("name")
        if not isinstance(name, str) or not name:
            raise ToolError(f"tools[{i}] has no name")
        if name in seen:
            raise ToolError(f"tools[{i}]: the name {name!r} is declared twice")
        seen.add(name)
        params = fn.get("parameters", {"type": "object"})
        if params is None:
            params = {"type": "object"}
        if not isinstance(params, (dict, bool)):
            raise ToolError(f"tools[{i}] ({name}): parameters must be a JSON Schema object")
        out.append((name, params))
    return out


def _choice(tool_choice, tools) -> tuple[str, list]:
    names = [n for n, _ in tools]
    if tool_choice in ("none", "auto", "required"):
        if tool_choice != "none" and not tools:
            if tool_choice == "required":
                raise ToolError("tool_choice='required' with no tools")
            return "none", []
        return tool_choice, tools
    name = tool_choice
    if isinstance(tool_choice, dict):
        fn = tool_choice.get("function", tool_choice)
        name = fn.get("name") if isinstance(fn, dict) else None
    if not isinstance(name, str):
        raise ToolError(
            f"tool_choice is 'none', 'auto', 'required', a tool name or "
            f"{{'type': 'function', 'function': {{'name': ...}}}}, not {tool_choice!r}"
        )
    if name not in names:
        raise ToolError(
            f"tool_choice names {name!r}, which is not one of the tools ({', '.join(names)})"
        )
    return "named", [t for t in tools if t[0] == name]


def _jstr(s: str) -> str:
    return json.dumps(s, ensure_ascii=False)


# ------------------------------------------------------------------ styles
# Each style: the reasoning prefix, and (calls_format(tools, parallel), auto_format(...)).


def _json_call_tag(name, params, key, begin_prefix="", end_suffix=""):
    return {
        "type": "tag",
        "begin": f'{begin_prefix}{{"name": {_jstr(name)}, "{key}": ',
        "content": _js(params),
        "end": "}" + end_suffix,
    }


def _reasoning(style: str, reasoning: bool, budget: int | None) -> list:
    if not reasoning:
        return []
    if style in ("kimi_k2_thinking", "glm4"):
        return [{"type": "tag", "begin": "<think>", "content": _text(budget), "end": "</think>"}]
    if style == "qwen3":
        return [
            {"type": "tag", "begin": "<think>", "content": _text(budget), "end": "</think>"},
            _cs("\n\n"),
        ]
    if style == "deepseek_r1":  # the prompt ends with "<think>\n"
        return [{"type": "tag", "begin": "", "content": _text(budget), "end": "</think>"}]
    if style == "harmony":
        return [
            {
                "type": "tag",
                "begin": _tok("<|channel|>"),
                "content": {
                    "type": "sequence",
                    "elements": [
                        _cs("analysis"),
                        _tok("<|message|>"),
                        _text(budget),
                        _tok("<|end|>"),
                    ],
                },
                "end": "",
            },
            _tok("<|start|>"),
            _cs("assistant"),
        ]
    return []


def _separated(tags: list, separator: str, mode: str, parallel: bool) -> dict:
    """One call, or (parallel calls, a tool not named) one or more, between separators."""
    return {
        "type": "tags_with_separator",
        "tags": tags,
        "separator": separator,
        "at_least_one": True,
        "stop_after_first": not parallel or mode == "named",
    }


def _section(block: dict, mode: str, text_end: dict, trigger: str, ex: list) -> dict:
    """The modes of a style whose calls sit in one section (Mistral, DeepSeek, Kimi): text
    only; text, then the section from its trigger on (a special token's name is matched as
    that token); or the section alone."""
    if mode == "none":
        return text_end
    if mode != "auto":
        return block
    auto: dict[str, Any]
    if trigger.startswith(("[", "<|")):  # a special token (not text that spells it)
        auto = {"type": "token_triggered_tags", "trigger_tokens": [trigger]}
    else:
        auto = {"type": "triggered_tags", "triggers": [trigger]}
    auto.update(tags=[block], stop_after_first=True, excludes=ex)
    return auto


def _tool_call_modes(tags: list, mode: str, parallel: bool, ex: list, text_end: dict) -> dict:
    """The modes of a style whose calls are ``<tool_call>…</tool_call>`` tags (hermes, qwen,
    glm4): text only, text with calls from the trigger on, or calls one per line."""
    if mode == "none":
        return text_end
    if mode == "auto":
        return {
            "type": "triggered_tags",
            "triggers": ["<tool_call>"],
            "tags": tags,
            "stop_after_first": not parallel,
            "excludes": ex,
        }
    return _separated(tags, "\n", mode, parallel)


def _format(style: str, mode: str, tools, parallel: bool) -> dict:
    """The part after reasoning, for mode none / auto / required / named."""
    # the reasoning tags of a reasoning model never appear in its answer text
    ex = (
        ["<think>", "</think>"]
        if style in ("qwen3", "deepseek_r1", "kimi_k2_thinking", "glm4")
        else []
    )
    text_end = _text(excludes=ex)
    if style in ("hermes", "qwen2.5", "qwen3"):
        tags = [
            _json_call_tag(n, p, "arguments", "<tool_call>\n", "\n</tool_call>") for n, p in tools
        ]
        return _tool_call_modes(tags, mode, parallel, ex, text_end)
    if style in ("llama3_json", "llama3_python"):
        tags = [_json_call_tag(n, p, "parameters") for n, p in tools]
        calls = _separated(tags, "; ", mode, parallel)
        if mode == "none":
            return text_end
        if style == "llama3_python":
            call = {"type": "sequence", "elements": [_tok("<|python_tag|>"), calls]}
            if mode == "auto":
                return {"type": "or", "elements": [call, text_end]}
            return call
        # Llama 3 JSON: the whole answer is either text or the calls (a call begins with '{"name"')
        if mode == "auto":
            return {"type": "or", "elements": [calls, _text(excludes=['{"name"'])]}
        return calls
    if style == "mistral":
        tags = [_json_call_tag(n, p, "arguments") for n, p in tools]
        arr = _separated(tags, ", ", mode, parallel)
        block = {
            "type": "tag",
            "begin": _tok("[TOOL_CALLS]"),
            "content": {"type": "sequence", "elements": [_cs("["), arr]},
            "end": "]",
        }
        return _section(block, mode, text_end, "[TOOL_CALLS]", ex)
    if style == "mistral_v11":
        tags = [
            {
                "type": "tag",
                "begin": _tok("[TOOL_CALLS]"),
                "content": {"type": "sequence", "elements": [_cs(n), _tok("[ARGS]"), _js(p)]},
                "end": "",
            }
            for n, p in tools
        ]
        if mode == "none":
            return text_end
        one = {"type": "or", "elements": tags}
        if mode == "auto":
            return {
                "type": "token_triggered_tags",
                "trigger_tokens": ["[TOOL_CALLS]"],
                "tags": [
                    {
                        "type": "tag",
                        "begin": _tok("[TOOL_CALLS]"),
                        "content": t["content"],
                        "end": "",
                    }
                    for t in tags
                ],
                "stop_after_first": not parallel,
            }
        if parallel and mode == "required":
            return {"type": "plus", "content": one}
        return one
    if style in ("deepseek_v3", "deepseek_r1"):
        tags = [
            {
                "type": "tag",
                "begin": f"<｜tool▁call▁begin｜>function<｜tool▁sep｜>{n}\n```json\n",
                "content": _js(p),
                "end": "\n```<｜tool▁call▁end｜>",
            }
            for n, p in tools
        ]
        block = {
            "type": "tag",
            "begin": "<｜tool▁calls▁begin｜>",
            "content": _separated(tags, "\n", mode, parallel),
            "end": "<｜tool▁calls▁end｜>",
        }
        return _section(block, mode, text_end, "<｜tool▁calls▁begin｜>", ex)
    if style in ("kimi_k2", "kimi_k2_thinking"):
        tags = [
            {
                "type": "tag",
                "begin": _tok("<|tool_call_begin|>"),
                "content": {
                    "type": "sequence",
                    "elements": [
                        _cs(f"functions.{n}:"),
                        {"type": "regex", "pattern": "0|[1-9][0-9]{0,3}"},
                        _tok("<|tool_call_argument_begin|>"),
                        _js(p),
                    ],
                },
                "end": _tok("<|tool_call_end|>"),
            }
            for n, p in tools
        ]
        any_call: dict[str, Any] = {"type": "or", "elements": tags}
        kimi_calls: dict[str, Any] = (
            any_call if not parallel or mode == "named" else {"type": "plus", "content": any_call}
        )
        block = {
            "type": "tag",
            "begin": _tok("<|tool_calls_section_begin|>"),
            "content": kimi_calls,
            "end": _tok("<|tool_calls_section_end|>"),
        }
        return _section(block, mode, text_end, "<|tool_calls_section_begin|>", ex)
    if style == "glm4":
        tags = [
            {
                "type": "tag",
                "begin": f"<tool_call>{n}\n",
                "content": _glm_args(n, p),
                "end": "</tool_call>",
            }
            for n, p in tools
        ]
        return _tool_call_modes(tags, mode, parallel, ex, text_end)
    if style == "harmony":
        final = {
            "type": "sequence",
            "elements": [_tok("<|channel|>"), _cs("final"), _tok("<|message|>"), _text()],
        }
        call_seqs = [
            {
                "type": "sequence",
                "elements": [
                    _tok("<|channel|>"),
                    _cs(f"commentary to=functions.{n} "),
                    _tok("<|constrain|>"),
                    _cs("json"),
                    _tok("<|message|>"),
                    _js(p),
                    _tok("<|call|>"),
                ],
            }
            for n, p in tools
        ]
        if mode == "none":
            return final
        call = {"type": "or", "elements": call_seqs}
        if mode == "auto":
            return {"type": "or", "elements": [call, final]}
        return call
    raise ToolError(f"unknown style {style!r} (known: {', '.join(STYLES)}, or 'auto')")


#: the object keywords the GLM argument form can enforce exactly
_GLM_OBJECT_KEYS = {
    "type",
    "properties",
    "required",
    "additionalProperties",
    "title",
    "description",
    "$schema",
    "$defs",
    "definitions",
}
_GLM_STRING_KEYS = {"type", "title", "description", "enum", "const", "default", "examples"}


def _glm_args(name: str, params: Any) -> dict:
    """GLM-4.5's argument list for one tool: ``<arg_key>K</arg_key>\\n<arg_value>V</arg_value>\\n``
    per property in the schema's order (required ones present, others optional), a string
    value raw (free text without ``</arg_value>``, or one of its enum/const values), any
    other value JSON for the property's schema. Schemas whose constraints this form cannot
    carry exactly (a constrained raw string, a value that may be a string or not, keywords
    over the whole object) are a ToolError naming the tool and keyword."""
    where = f"tool {name!r}"
    if params is True or params == {}:
        params = {"type": "object", "properties": {}}
    if not isinstance(params, dict) or params.get("type") != "object":
        raise ToolError(f"glm4: {where}: parameters must be an object schema with properties")
    extra = sorted(set(params) - _GLM_OBJECT_KEYS)
    if extra:
        raise ToolError(f"glm4: {where}: parameters keyword {extra[0]!r} is not supported")
    props = params.get("properties") or {}
    required = params.get("required") or []
    missing = [k for k in required if k not in props]
    if missing:
        raise ToolError(f"glm4: {where}: required {missing[0]!r} is not in properties")
    defs = {k: params[k] for k in ("$defs", "definitions") if k in params}
    elements: list = []
    for key, sub in props.items():
        if "<" in key or ">" in key:
            raise ToolError(f"glm4: {where}: property {key!r} cannot be written as an arg_key")
        t = sub.get("type") if isinstance(sub, dict) else None
        if t == "string":
            bad = sorted(set(sub) - _GLM_STRING_KEYS)
            if bad:
                raise ToolError(
                    f"glm4: {where}: property {key!r}: {bad[0]!r} on a raw string value is not "
                    "supported (write the tool's parameter without it, or use a JSON style)"
                )
            values = [sub["const"]] if "const" in sub else sub.get("enum")
            if values is not None:
                if not all(isinstance(v, str) and v and "</arg_value>" not in v for v in values):
                    raise ToolError(
                        f"glm4: {where}: property {key!r}: an enum value that is not a "
                        "non-empty string"
                    )
                value: dict = {"type": "or", "elements": [_cs(v) for v in values]}
            else:  # free text, ended by the first "</arg_value>" (the part after it)
                value = _text()
        else:
            kinds = t if isinstance(t, list) else [t]
            if t is None or "string" in kinds:
                raise ToolError(
                    f"glm4: {where}: property {key!r} needs a 'type' that is not 'string' or "
                    "exactly 'string' (its value is raw text for a string, JSON otherwise)"
                )
            value = _js(dict(sub, **defs) if defs and isinstance(sub, dict) else sub)
        pair: dict[str, Any] = {
            "type": "sequence",
            "elements": [
                _cs(f"<arg_key>{key}</arg_key>\n<arg_value>"),
                value,
                _cs("</arg_value>\n"),
            ],
        }
        elements.append(pair if key in required else {"type": "optional", "content": pair})
    if not elements:
        return _cs("")
    return {"type": "sequence", "elements": elements}


def detect_style(tokenizer_or_vocab: Any) -> str:
    """The style of a tokenizer: from its chat template where it has one, else from its
    special tokens (decoder.Vocabulary.special_names). A ChatML template (``<|im_start|>``)
    that names no tool format, as SmolLM2's, gets ``hermes``."""
    tmpl = getattr(tokenizer_or_vocab, "chat_template", None)
    if isinstance(tmpl, dict):
        tmpl = "\n".join(v for v in tmpl.values() if isinstance(v, str))
    names = getattr(tokenizer_or_vocab, "special_names", None)
    if names is None and hasattr(tokenizer_or_vocab, "get_vocab"):
        try:
            names = {k: v for k, v in tokenizer_or_vocab.get_added_vocab().items()}
        except Exception:  # noqa: BLE001 - a tokenizer without added tokens
            names = {}
    names = names or {}
    text = tmpl if isinstance(tmpl, str) else ""
    if "<|channel|>" in text or "<|channel|>" in names:
        return "harmony"
    if "<|tool_calls_section_begin|>" in text or "<|tool_calls_section_begin|>" in names:
        return "kimi_k2_thinking" if "<think>" in text else "kimi_k2"
    if "<arg_key>" in text or "<arg_key>" in names:
        return "glm4"
    if "tool▁calls▁begin" in text:
        return "deepseek_r1" if "<think>" in text or "</think>" in text else "deepseek_v3"
    if "[TOOL_CALLS]" in text or "[TOOL_CALLS]" in names:
        return "mistral_v11" if "[ARGS]" in text or ("[ARGS]" in names and not text) else "mistral"
    if "<tool_call>" in text or "<tool_call>" in names:
        return "qwen3" if "<think>" in text or "<think>" in names else "hermes"
    if "<|python_tag|>" in text or "<|python_tag|>" in names:
        return "llama3_json"
    if "<|im_start|>" in text:
        # a ChatML template without tool markers (SmolLM2, older Qwen/Hermes fine-tunes):
        # the ChatML family's own call format is Hermes's <tool_call> tags
        return "hermes"
    raise ToolError(
        "style='auto': the tokenizer's chat template and special tokens match no known "
        f"tool-call style; pass style= one of {', '.join(STYLES)}"
    )


def structural_tag(
    tools,
    style: str = "hermes",
    tool_choice: str | dict = "auto",
    *,
    reasoning: bool = True,
    max_reasoning_tokens: int | None = None,
    parallel_tool_calls: bool = True,
    tokenizer: Any = None,
) -> dict:
    """The structural tag (``{"type": "structural_tag", "format": ...}``) of a tool-call
    constraint: what vLLM/SGLang's ``structural_tag`` takes. See the module docstring."""
    if style == "auto":
        if tokenizer is None:
            raise ToolError("style='auto' reads the tokenizer's chat template: pass tokenizer=")
        style = detect_style(tokenizer)
    if style not in STYLES:
        raise ToolError(f"unknown style {style!r} (known: {', '.join(STYLES)}, or 'auto')")
    if max_reasoning_tokens is not None and (
        isinstance(max_reasoning_tokens, bool)
        or not isinstance(max_reasoning_tokens, int)
        or max_reasoning_tokens < 0
    ):
        raise ToolError(f"max_reasoning_tokens is a non-negative int, not {max_reasoning_tokens!r}")
    mode, chosen = _choice(tool_choice, _tools(tools))
    parts = _reasoning(style, reasoning, max_reasoning_tokens) + [
        _format(style, mode, chosen, parallel_tool_calls)
    ]
    fmt = parts[0] if len(parts) == 1 else {"type": "sequence", "elements": parts}
    return {"type": "structural_tag", "format": fmt}


def tool_calls(
    tools,
    style: str = "hermes",
    tool_choice: str | dict = "auto",
    *,
    reasoning: bool = True,
    max_reasoning_tokens: int | None = None,
    parallel_tool_calls: bool = True,
    tokenizer: Any = None,
    whitespace: str = "flexible",
):
    """A :class:`decoder.Grammar` for a model's reasoning, free text and tool calls in its
    own format (see the module docstring). ``tokenizer`` (or a Vocabulary) for
    ``style="auto"``."""
    from .grammar import Grammar
    from .grammar.structural_tag import structural_tag_ir

    tag = structural_tag(
        tools,
        style,
        tool_choice,
        reasoning=reasoning,
        max_reasoning_tokens=max_reasoning_tokens,
        parallel_tool_calls=parallel_tool_calls,
        tokenizer=tokenizer,
    )
    from .errors import SpecError
    from .grammar import _front_end

    # a server sends the same tools with every request: the grammar of a tag is kept (the
    # engine's compile cache then finds its compiled form by its words)
    key = (json.dumps(tag, sort_keys=True, ensure_ascii=False), whitespace)
    with _cache_lock:
        hit = _cache.get(key)
        if hit is not None:
            _cache.move_to_end(key)
            return hit
    with _front_end("tool-call constraint", SpecError):
        g = Grammar(structural_tag_ir(tag, whitespace), source="tool_calls")
    with _cache_lock:
        _cache[key] = g
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return g


#: tool-call grammars kept by tool_calls() (least recently used dropped first)
CACHE_SIZE = 32
_cache: OrderedDict[tuple, Any] = OrderedDict()
_cache_lock = threading.Lock()


def parse_tool_calls(text: str, style: str = "hermes", tools: Any = None) -> tuple[str, list[dict]]:
    """Splits a model's output in a text style into (content, calls), each call
    ``{"name", "arguments"}`` (arguments parsed from JSON). For outputs of this module's
    constraints; raises :class:`ToolError` where a call does not parse (harmony and the
    python_tag / Mistral token styles need the special tokens' text: decode with
    ``skip_special_tokens=False``). ``tools``: for ``glm4``, whose string arguments are
    written raw, the definitions say which arguments are strings (without them, a value
    that parses as JSON is read as JSON)."""
    import re

    def load(s: str, where: str):
        try:
            return json.loads(s)
        except ValueError as e:
            raise ToolError(f"{style}: the {where} is not JSON: {e}") from None

    calls: list[dict] = []
    if style in ("hermes", "qwen2.5", "qwen3"):
        body = re.sub(r"(?s)^\s*<think>.*?</think>\s*", "", text) if style == "qwen3" else text
        parts = body.split("<tool_call>")
        content = parts[0]
        for p in parts[1:]:
            if "</tool_call>" not in p:
                raise ToolError(f"{style}: a <tool_call> without </tool_call>")
            inner, rest = p.split("</tool_call>", 1)
            obj = load(inner.strip(), "tool call")
            calls.append({"name": obj.get("name"), "arguments": obj.get("arguments")})
            content += rest.strip("\n") if rest.strip() else ""
        return content, calls
    if style in ("llama3_json", "llama3_python"):
        body = text.replace("<|python_tag|>", "", 1) if style == "llama3_python" else text
        s = body.strip()
        if not s.startswith('{"name"'):
            return text, []
        dec = json.JSONDecoder()
        i = 0
        while i < len(s):
            obj, j = dec.raw_decode(s, i)
            calls.append({"name": obj.get("name"), "arguments": obj.get("parameters")})
            i = j
            while i < len(s) and s[i] in "; \n":
                i += 1
        return "", calls
    if style == "mistral":
        if "[TOOL_CALLS]" not in text:
            return text, []
        content, arr = text.split("[TOOL_CALLS]", 1)
        for obj in load(arr.strip(), "[TOOL_CALLS] array"):
            calls.append({"name": obj.get("name"), "arguments": obj.get("arguments")})
        return content, calls
    if style in ("deepseek_v3", "deepseek_r1"):
        body = (
            text.split("</think>", 1)[1] if style == "deepseek_r1" and "</think>" in text else text
        )
        content = body.split("<｜tool▁calls▁begin｜>")[0]
        for m in re.finditer(
            r"(?s)<｜tool▁call▁begin｜>function<｜tool▁sep｜>(.*?)\n```json\n(.*?)\n```<｜tool▁call▁end｜>",
            body,
        ):
            calls.append({"name": m.group(1), "arguments": load(m.group(2), "call arguments")})
        return content, calls
    if style in ("kimi_k2", "kimi_k2_thinking"):
        body = (
            re.sub(r"(?s)^\s*<think>.*?</think>", "", text) if style.endswith("thinking") else text
        )
        content = body.split("<|tool_calls_section_begin|>")[0]
        for m in re.finditer(
            r"(?s)<\|tool_call_begin\|>functions\.(.*?):[0-9]+<\|tool_call_argument_begin\|>"
            r"(.*?)<\|tool_call_end\|>",
            body,
        ):
            calls.append({"name": m.group(1), "arguments": load(m.group(2), "call arguments")})
        return content, calls
    if style == "glm4":
        body = re.sub(r"(?s)^\s*<think>.*?</think>", "", text)
        strings = {
            n: {
                k
                for k, v in ((p or {}).get("properties") or {}).items()
                if v.get("type") == "string"
            }
            for n, p in (_tools(tools) if tools is not None else [])
        }
        content = body.split("<tool_call>")[0]
        for m in re.finditer(r"(?s)<tool_call>(.*?)\n(.*?)</tool_call>", body):
            args: dict = {}
            for a in re.finditer(
                r"(?s)<arg_key>(.*?)</arg_key>\n<arg_value>(.*?)</arg_value>\n", m.group(2)
            ):
                key, raw = a.group(1), a.group(2)
                if key in strings.get(m.group(1), ()):
                    args[key] = raw
                    continue
                try:  # a string is written raw: JSON only where it parses
                    args[key] = json.loads(raw)
                except ValueError:
                    args[key] = raw
            calls.append({"name": m.group(1), "arguments": args})
        return content, calls
    raise ToolError(f"parse_tool_calls does not read style {style!r}")
