"""Agent outputs (decoder.agents, structural tags with free text, special-token terminals):
each family's documented tool-call strings, tokenized by that family's tokenizer, are
teacher-forced through the mask; malformed calls are rejected; special tokens are allowed
only where a grammar names them."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from decoder import agents
from decoder._engine import Matcher
from decoder.errors import DecoderError
from decoder.grammar import Grammar
from decoder.integrations.specs import SpecError, grammar_for
from decoder.vocab import Vocabulary

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "tokenizers"
pytestmark = pytest.mark.skipif(
    not SHARED.is_dir(), reason=f"needs the shared tokenizers in {SHARED}"
)

WEATHER = {
    "type": "object",
    "properties": {
        "location": {"type": "string"},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
    },
    "required": ["location"],
    "additionalProperties": False,
}
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Current weather",
            "parameters": WEATHER,
        },
    },
    {
        "type": "function",
        "function": {
            "name": "get_time",
            "parameters": {
                "type": "object",
                "properties": {"tz": {"type": "string"}},
                "required": ["tz"],
                "additionalProperties": False,
            },
        },
    },
]

_CACHE: dict = {}


def family(name):
    if name not in _CACHE:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from transformers import AutoTokenizer

        path = SHARED / name
        _CACHE[name] = (Vocabulary.from_path(str(path)), AutoTokenizer.from_pretrained(str(path)))
    return _CACHE[name]


def bits(mask):
    return np.unpackbits(mask.view(np.uint8), bitorder="little")


def force(grammar, vocab, ids):
    """Teacher-forces ids: (index of the first id the mask refuses or None, accepting at
    the end, matcher). Each mask bit must agree with commit."""
    m = Matcher(grammar, vocab)
    mask = np.zeros((vocab.model_vocab_size + 31) // 32, dtype=np.int32)
    for i, t in enumerate(ids):
        m.compute_mask(mask)
        allowed = bool(bits(mask)[t])
        assert allowed == m.is_allowed(t), f"mask and commit disagree on token {t} at {i}"
        if not allowed:
            return i, False, m
        assert m.commit(t)
    return None, m.is_accepting(), m


def enc(tok, text):
    return tok.encode(text, add_special_tokens=False)


def accepted(grammar, fam, text):
    vocab, tok = family(fam)
    where, ok, _ = force(grammar, vocab, enc(tok, text))
    return where is None and ok


# Each family's own example outputs (written from its documentation / chat template).
QWEN3 = (
    "<think>\nThe user asks for the weather in Paris; I should call get_weather.\n</think>\n\n"
    '<tool_call>\n{"name": "get_weather", "arguments": {"location": "Paris", "unit": "celsius"}}\n</tool_call>'
)
HERMES = (
    '<tool_call>\n{"name": "get_weather", "arguments": {"location": "San Francisco, CA"}}\n</tool_call>\n'
    '<tool_call>\n{"name": "get_time", "arguments": {"tz": "America/Los_Angeles"}}\n</tool_call>'
)
LLAMA_JSON = (
    '{"name": "get_weather", "parameters": {"location": "Menlo Park", "unit": "fahrenheit"}}'
)
MISTRAL = (
    '[TOOL_CALLS][{"name": "get_weather", "arguments": {"location": "Paris", "unit": "celsius"}}]'
)
DEEPSEEK = (
    "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather\n```json\n"
    '{"location": "Hangzhou"}\n```<｜tool▁call▁end｜><｜tool▁calls▁end｜>'
)

CASES = [
    ("qwen2", "qwen3", QWEN3),
    ("qwen2", "qwen3", "<think>\nNo tool needed.\n</think>\n\nParis is the capital of France."),
    ("qwen2", "hermes", HERMES),
    ("qwen2", "qwen2.5", "Let me look that up.\n" + HERMES),
    ("llama3", "llama3_json", LLAMA_JSON),
    (
        "llama3",
        "llama3_json",
        LLAMA_JSON + "; " + '{"name": "get_time", "parameters": {"tz": "UTC"}}',
    ),
    ("llama3", "llama3_json", "The weather tool is not needed here."),
    ("mistral-v3", "mistral", MISTRAL),
    ("mistral-v3", "mistral", "Bonjour! " + MISTRAL),
    (
        "mistral-tekken",
        "mistral",
        MISTRAL[:-1] + ', {"name": "get_time", "arguments": {"tz": "UTC"}}]',
    ),
    ("deepseek-coder", "deepseek_v3", "I will check the weather." + DEEPSEEK),
    ("deepseek-coder", "deepseek_r1", "The user wants the weather.\n</think>\n\n" + DEEPSEEK),
]


@pytest.mark.parametrize("fam,style,text", CASES, ids=[f"{c[1]}-{i}" for i, c in enumerate(CASES)])
def test_family_examples_accepted(fam, style, text):
    g = agents.tool_calls(TOOLS, style=style)
    vocab, tok = family(fam)
    ids = enc(tok, text)
    where, ok, m = force(g, vocab, ids)
    assert (
        where is None
    ), f"refused {tok.decode(ids[where:where + 1])!r} after {tok.decode(ids[:where])!r}"
    assert ok
    mask = np.zeros((vocab.model_vocab_size + 31) // 32, dtype=np.int32)
    m.compute_mask(mask)
    assert bits(mask)[vocab.eos_ids[0]]


def test_llama3_python_tag_is_the_special_token():
    vocab, tok = family("llama3")
    py = vocab.special_names["<|python_tag|>"]
    assert py in vocab.special_ids
    g = agents.tool_calls(TOOLS, style="llama3_python")
    body = enc(tok, '{"name": "get_weather", "parameters": {"location": "Paris"}}')
    where, ok, m = force(g, vocab, [py] + body)
    assert where is None and ok
    # the text "<|python_tag|>" spelled with ordinary tokens is not the special token
    spelled = enc(tok, "<|python") + enc(tok, "_tag|>")
    assert py not in spelled
    req = agents.tool_calls(TOOLS, style="llama3_python", tool_choice="required")
    assert force(req, vocab, [py] + body)[:2] == (None, True)
    assert force(req, vocab, spelled + body)[0] == 0
    # the special token only at the start: not inside the arguments, not twice
    where, _, _ = force(g, vocab, [py] + body[:6] + [py])
    assert where == 7


@pytest.mark.parametrize(
    "fam,style,text,why",
    [
        ("qwen2", "hermes", HERMES.replace("get_time", "get_date"), "undeclared tool"),
        ("qwen2", "qwen3", QWEN3.replace('"Paris"', "42"), "invalid arguments"),
        ("qwen2", "qwen3", QWEN3.replace('"celsius"', '"kelvin"'), "value outside the enum"),
        ("qwen2", "hermes", HERMES.replace('"tz"', '"zone"'), "unknown argument"),
        (
            "llama3",
            "llama3_json",
            LLAMA_JSON.replace('"parameters"', '"arguments"'),
            "wrong key for the style",
        ),
        ("mistral-v3", "mistral", MISTRAL.replace("get_weather", "weather"), "undeclared tool"),
        (
            "deepseek-coder",
            "deepseek_v3",
            DEEPSEEK.replace('{"location": "Hangzhou"}', "{}"),
            "missing required",
        ),
    ],
)
def test_malformed_calls_rejected(fam, style, text, why):
    assert not accepted(agents.tool_calls(TOOLS, style=style), fam, text), why


@pytest.mark.parametrize(
    "fam,style,text",
    [
        ("qwen2", "hermes", HERMES[: -len("</tool_call>")]),
        ("qwen2", "qwen3", QWEN3[: -len("\n</tool_call>")]),
        ("mistral-v3", "mistral", MISTRAL[:-1]),
        ("deepseek-coder", "deepseek_v3", DEEPSEEK[: -len("<｜tool▁calls▁end｜>")]),
    ],
)
def test_missing_end_tag_is_not_complete(fam, style, text):
    vocab, tok = family(fam)
    where, ok, _ = force(agents.tool_calls(TOOLS, style=style), vocab, enc(tok, text))
    assert where is None and not ok


def test_tool_choice_modes():
    g_none = agents.tool_calls(TOOLS, style="hermes", tool_choice="none")
    assert accepted(g_none, "qwen2", "Just text, even <tool_call> inside is text.")
    g_req = agents.tool_calls(TOOLS, style="hermes", tool_choice="required")
    assert not accepted(g_req, "qwen2", "No call here.")
    assert accepted(g_req, "qwen2", HERMES)
    g_named = agents.tool_calls(
        TOOLS, style="hermes", tool_choice={"type": "function", "function": {"name": "get_time"}}
    )
    assert not accepted(g_named, "qwen2", HERMES)  # get_weather, and two calls
    assert accepted(
        g_named,
        "qwen2",
        '<tool_call>\n{"name": "get_time", "arguments": {"tz": "UTC"}}\n</tool_call>',
    )
    g_one = agents.tool_calls(TOOLS, style="hermes", parallel_tool_calls=False)
    assert accepted(
        g_one,
        "qwen2",
        HERMES.split("\n<tool_call>")[0] if False else HERMES[: HERMES.index("</tool_call>") + 12],
    )
    assert not accepted(g_one, "qwen2", HERMES)
    g_auto_text = agents.tool_calls(TOOLS, style="hermes")
    assert not accepted(
        g_auto_text, "qwen2", "text <tool_call> not a call"
    )  # the trigger starts a call


def test_reasoning_off_and_on():
    g_off = agents.tool_calls(TOOLS, style="qwen3", reasoning=False)
    assert not accepted(g_off, "qwen2", QWEN3)
    assert accepted(g_off, "qwen2", QWEN3[QWEN3.index("<tool_call>") :])
    assert not accepted(
        agents.tool_calls(TOOLS, style="qwen3"), "qwen2", QWEN3[QWEN3.index("<tool_call>") :]
    )


def test_thousand_token_reasoning_then_call():
    vocab, tok = family("qwen2")
    words = " ".join(f"step{i % 97} considers option {i}" for i in range(400))
    think = enc(tok, "<think>\n" + words)
    while len(think) < 1010:
        think += enc(tok, " and more")
    rest = enc(
        tok,
        '\n</think>\n\n<tool_call>\n{"name": "get_time", "arguments": {"tz": "UTC"}}\n</tool_call>',
    )
    g = agents.tool_calls(TOOLS, style="qwen3")
    where, ok, _ = force(g, vocab, think + rest)
    assert len(think) >= 1000 and where is None and ok


def test_reasoning_budget_forces_the_end_tag():
    vocab, tok = family("qwen2")
    g = agents.tool_calls(TOOLS, style="qwen3", max_reasoning_tokens=20)
    ids = enc(tok, "<think>") + enc(tok, " word") * 25
    m = Matcher(g, vocab)
    mask = np.zeros((vocab.model_vocab_size + 31) // 32, dtype=np.int32)
    n_open = len(enc(tok, "<think>"))
    for i, t in enumerate(ids):
        m.compute_mask(mask)
        if not bits(mask)[t]:
            break
        m.commit(t)
    assert i == n_open + 20  # 20 tokens of reasoning, then the 21st " word" is refused
    allowed = np.flatnonzero(bits(mask)[: vocab.size])
    texts = {vocab.tokens[a] for a in allowed}
    assert texts and all(
        b"</think>".startswith(x) or x.startswith(b"</think>") for x in texts
    ), texts
    for t in enc(tok, "</think>\n\nok"):
        assert m.commit(t)
    assert m.is_accepting()


def test_trigger_split_across_two_tokens():
    vocab, tok = family("qwen2")
    a, b = enc(tok, "Checking <tool"), enc(tok, "_call>")
    assert vocab.decode(a).endswith(b"<tool") and len(b) >= 1
    call = enc(tok, '\n{"name": "get_time", "arguments": {"tz": "UTC"}}\n</tool_call>')
    g = agents.tool_calls(TOOLS, style="hermes")
    where, ok, _ = force(g, vocab, a + b + call)
    assert where is None and ok
    # and the split trigger really starts a call: free text may not go on
    where, _, _ = force(g, vocab, a + b + enc(tok, " just text"))
    assert where is not None


def test_trigger_inside_one_token():
    vocab, tok = family("qwen2")
    # ">\n" ends the trigger and begins the call in one token
    ids = enc(tok, 'Ok<tool_call>\n{"name": "get_time", "arguments": {"tz": "UTC"}}\n</tool_call>')
    assert accepted(agents.tool_calls(TOOLS, style="hermes"), "qwen2", tok.decode(ids))


def test_special_tokens_forbidden_outside_named_places():
    vocab, tok = family("llama3")
    g = agents.tool_calls(TOOLS, style="llama3_python")
    py = vocab.special_names["<|python_tag|>"]
    m = Matcher(g, vocab)
    mask = np.zeros((vocab.model_vocab_size + 31) // 32, dtype=np.int32)
    special = sorted(vocab.special_ids)
    m.compute_mask(mask)
    allowed_special = {s for s in special if bits(mask)[s]}
    assert allowed_special == {py} | set(vocab.eos_ids) - {py}  # free text may end the output
    for t in enc(tok, "Some free text"):
        m.commit(t)
    m.compute_mask(mask)
    assert {s for s in special if bits(mask)[s]} == set(vocab.eos_ids)  # no tag after text
    m2 = Matcher(g, vocab)
    m2.commit(py)
    for t in enc(tok, '{"name": "get_weather", "parameters": {"location": "Pa'):
        m2.compute_mask(mask)
        assert not any(bits(mask)[s] for s in special)
        assert m2.commit(t)


def test_structural_tag_free_text_and_tokens():
    tag = {
        "type": "structural_tag",
        "format": {
            "type": "sequence",
            "elements": [
                {"type": "any_text", "excludes": ["forbidden"]},
                {"type": "token", "token": "<|python_tag|>"},
                {"type": "regex", "pattern": "[0-9]+"},
            ],
        },
    }
    g = grammar_for("structural_tag", json.dumps(tag))
    vocab, tok = family("llama3")
    py = vocab.special_names["<|python_tag|>"]
    assert force(g, vocab, enc(tok, "hello") + [py] + enc(tok, "123"))[:2] == (None, True)
    assert force(g, vocab, enc(tok, "a forbidden word") + [py])[0] is not None
    by_id = {
        "type": "structural_tag",
        "format": {
            "type": "sequence",
            "elements": [{"type": "token", "token": py}, {"type": "const_string", "value": "x"}],
        },
    }
    assert force(grammar_for("structural_tag", json.dumps(by_id)), vocab, [py] + enc(tok, "x"))[
        :2
    ] == (None, True)


@pytest.mark.parametrize(
    "fmt,match",
    [
        (
            {
                "type": "sequence",
                "elements": [{"type": "any_text"}, {"type": "json_schema", "json_schema": {}}],
            },
            r"format.elements\[0\].*not a fixed string",
        ),
        ({"type": "bogus"}, "format type 'bogus' at format"),
        ({"type": "any_text", "max_tokens": -1}, "max_tokens"),
        (
            {
                "type": "triggered_tags",
                "triggers": ["<a>"],
                "tags": [
                    {
                        "type": "tag",
                        "begin": "<b>",
                        "content": {"type": "const_string", "value": "x"},
                        "end": "</b>",
                    }
                ],
            },
            r"tags\[0\] begins with no trigger",
        ),
        ({"type": "any_text", "excludes": [""]}, "excludes"),
        (  # an excluded string inside the text's own end: the text could never end
            {
                "type": "sequence",
                "elements": [
                    {"type": "any_text", "excludes": ["</v>"]},
                    {"type": "const_string", "value": "</v>\n"},
                ],
            },
            r"elements\[0\].*could never end",
        ),
    ],
)
def test_structural_tag_errors_name_the_place(fmt, match):
    with pytest.raises(SpecError, match=match):
        grammar_for("structural_tag", json.dumps({"type": "structural_tag", "format": fmt}))


def test_unknown_token_name_is_an_error_at_compile():
    vocab, _ = family("qwen2")
    g = grammar_for(
        "structural_tag", json.dumps({"format": {"type": "token", "token": "<|nope|>"}})
    )
    with pytest.raises(DecoderError, match="<\\|nope\\|>"):
        Matcher(g, vocab)


def test_tool_definition_errors():
    with pytest.raises(agents.ToolError, match="declared twice"):
        agents.tool_calls(TOOLS + TOOLS[:1])
    with pytest.raises(agents.ToolError, match="unknown style"):
        agents.tool_calls(TOOLS, style="gpt-9")
    with pytest.raises(agents.ToolError, match="not one of the tools"):
        agents.tool_calls(TOOLS, tool_choice="nope")
    with pytest.raises(agents.ToolError, match="no name"):
        agents.tool_calls([{"type": "function", "function": {"parameters": {}}}])
    with pytest.raises(DecoderError):
        agents.tool_calls([{"name": "f", "parameters": {"type": "object", "minProperties": "x"}}])


def test_style_auto_from_tokenizer():
    assert agents.detect_style(family("qwen2")[0]) == "hermes"
    assert agents.detect_style(family("llama3")[0]) == "llama3_json"
    assert agents.detect_style(family("mistral-v3")[0]) == "mistral"

    class T:
        chat_template = "{% if tools %}<tool_call>{% endif %}<think>"

    assert agents.detect_style(T()) == "qwen3"
    # SmolLM2's template is plain ChatML, no tool markers: the ChatML family's format
    assert agents.detect_style(family("smollm2")[1]) == "hermes"
    with pytest.raises(agents.ToolError, match="no known"):
        agents.detect_style(family("gpt2")[0])


def _harmony_vocab():
    base, tok = family("llama3")
    names = [
        "<|start|>",
        "<|end|>",
        "<|message|>",
        "<|channel|>",
        "<|constrain|>",
        "<|return|>",
        "<|call|>",
    ]
    toks = list(base.tokens) + [b""] * len(names)
    ids = {n: base.size + i for i, n in enumerate(names)}
    v = Vocabulary(
        toks,
        eos_ids=[ids["<|return|>"], ids["<|call|>"]],
        special_ids=sorted(base.special_ids) + list(ids.values()),
        special_names=ids,
    )
    return v, tok, ids


def test_harmony_with_special_tokens():
    v, tok, s = _harmony_vocab()
    g = agents.tool_calls(TOOLS, style="harmony")
    ids = (
        [s["<|channel|>"]]
        + enc(tok, "analysis")
        + [s["<|message|>"]]
        + enc(tok, "Need weather.")
        + [s["<|end|>"], s["<|start|>"]]
        + enc(tok, "assistant")
        + [s["<|channel|>"]]
        + enc(tok, "commentary to=functions.get_weather ")
        + [s["<|constrain|>"]]
        + enc(tok, "json")
        + [s["<|message|>"]]
        + enc(tok, '{"location": "Tokyo"}')
        + [s["<|call|>"]]
    )
    where, ok, _ = force(g, v, ids)
    assert where is None and ok
    final = (
        [s["<|channel|>"]]
        + enc(tok, "analysis")
        + [s["<|message|>"]]
        + enc(tok, "Easy.")
        + [s["<|end|>"], s["<|start|>"]]
        + enc(tok, "assistant")
        + [s["<|channel|>"]]
        + enc(tok, "final")
        + [s["<|message|>"]]
        + enc(tok, "Hello!")
    )
    assert force(g, v, final)[:2] == (None, True)
    bad = list(ids)
    bad[bad.index(s["<|call|>"])] = s["<|end|>"]
    assert force(g, v, bad)[0] is not None


def test_grammar_reused_across_vocabularies():
    g = agents.tool_calls(TOOLS, style="mistral")
    assert accepted(g, "mistral-v3", MISTRAL) and accepted(g, "mistral-tekken", MISTRAL)
    assert isinstance(g, Grammar)


# ---------------------------------------------------------------- llguidance's Lark extensions


def test_lark_special_tokens_json_and_max_tokens():
    vocab, tok = family("llama3")
    py = vocab.special_names["<|python_tag|>"]
    g = Grammar.from_lark(
        'start: TEXT <|python_tag|> call "<|eot|>"\n'
        'call: %json {"type": "object", "properties": {"a": {"type": "integer"}},'
        ' "required": ["a"]}\n'
        "TEXT[max_tokens=3]: /[a-z ]+/\n"
    )
    ok = enc(tok, "hi there") + [py] + enc(tok, '{"a":1}') + enc(tok, "<|eot") + enc(tok, "|>")
    assert force(g, vocab, ok)[:2] == (None, True)  # "<|eot|>" in quotes is text, not a token
    assert force(g, vocab, enc(tok, "hi there") + enc(tok, '{"a":1}'))[0] is not None
    assert force(g, vocab, [py] + enc(tok, '{"a":"x"}'))[0] is not None
    long = enc(tok, " a b c d e f")
    where, _, _ = force(g, vocab, long + [py])
    assert where == 3  # three tokens of TEXT, then only its end (the special token)
    by_id = Grammar.from_lark(f'start: "x" <[{py}]>')
    assert force(by_id, vocab, enc(tok, "x") + [py])[:2] == (None, True)


@pytest.mark.parametrize(
    "text,match",
    [
        ('start: "a"\n%llguidance {"no_forcing": true}', "%llguidance options"),
        ('start: a\na[temperature=0.5]: "x"', "attribute 'temperature=0.5' on a"),
        ('start: a\na[max_tokens=3]: "x" "y"', "max_tokens on a"),
        ('start: %json {"type": }', "not JSON"),
    ],
)
def test_lark_extensions_errors_name_the_construct(text, match):
    with pytest.raises(DecoderError, match=match):
        Grammar.from_lark(text)


def test_parse_tool_calls_round_trip():
    content, calls = agents.parse_tool_calls("Let me look that up.\n" + HERMES, "hermes")
    assert content.startswith("Let me look that up.")
    assert calls == [
        {"name": "get_weather", "arguments": {"location": "San Francisco, CA"}},
        {"name": "get_time", "arguments": {"tz": "America/Los_Angeles"}},
    ]
    assert agents.parse_tool_calls(QWEN3, "qwen3")[1][0]["arguments"] == {
        "location": "Paris",
        "unit": "celsius",
    }
    assert agents.parse_tool_calls(LLAMA_JSON, "llama3_json")[1][0]["name"] == "get_weather"
    assert agents.parse_tool_calls(MISTRAL, "mistral")[1][0]["arguments"]["unit"] == "celsius"
    assert agents.parse_tool_calls(DEEPSEEK, "deepseek_v3")[1] == [
        {"name": "get_weather", "arguments": {"location": "Hangzhou"}}
    ]
    with pytest.raises(agents.ToolError, match="without </tool_call>"):
        agents.parse_tool_calls("<tool_call>\n{}", "hermes")


def test_hf_logits_processor_takes_the_constraint():
    torch = pytest.importorskip("torch")
    import decoder

    vocab, tok = family("llama3")
    py = vocab.special_names["<|python_tag|>"]
    g = decoder.agents.tool_calls(TOOLS, style="llama3_python", tool_choice="required")
    proc = decoder.LogitsProcessor(g, tok, vocab.model_vocab_size, vocab=vocab)
    prompt = enc(tok, "<|start_header_id|>assistant<|end_header_id|>\n\n")
    out = proc(torch.tensor([prompt]), torch.zeros(1, vocab.model_vocab_size))
    finite = set(torch.isfinite(out[0]).nonzero().flatten().tolist())
    # the call's special token, or JSON's flexible whitespace (an %ignore: it may stand
    # between any two parts of the format; whitespace="compact" leaves it out)
    assert py in finite and all(vocab.tokens[t].strip() == b"" for t in finite - {py})
    assert not (finite - {py}) & set(vocab.special_ids)
    compact = decoder.agents.tool_calls(
        TOOLS, style="llama3_python", tool_choice="required", whitespace="compact"
    )
    proc2 = decoder.LogitsProcessor(compact, tok, vocab.model_vocab_size, vocab=vocab)
    out = proc2(torch.tensor([prompt]), torch.zeros(1, vocab.model_vocab_size))
    assert set(torch.isfinite(out[0]).nonzero().flatten().tolist()) == {py}
    out = proc(torch.tensor([prompt + [py]]), torch.zeros(1, vocab.model_vocab_size))
    finite = set(torch.isfinite(out[0]).nonzero().flatten().tolist())
    assert finite and not finite & set(vocab.special_ids)


def test_same_tools_same_grammar_object():
    a = agents.tool_calls(TOOLS, style="hermes")
    assert agents.tool_calls(TOOLS, style="hermes") is a
    assert agents.tool_calls(TOOLS, style="hermes", whitespace="compact") is not a


def test_serving_compiler_keeps_token_names_for_other_stop_sets():
    from decoder.integrations.compiler import SpecCompiler

    vocab, tok = family("llama3")
    py = vocab.special_names["<|python_tag|>"]
    sc = SpecCompiler(vocab)
    v2 = sc.vocab_for_stop([vocab.eos_ids[0], 128001])
    assert v2 is not vocab and v2.special_names["<|python_tag|>"] == py
    tag = agents.structural_tag(TOOLS, style="llama3_python", tool_choice="required")
    g = grammar_for("structural_tag", json.dumps(tag))
    assert force(g, v2, [py] + enc(tok, '{"name": "get_time", "parameters": {"tz": "UTC"}}'))[
        :2
    ] == (None, True)


# ------------------------------------------------------------------ Kimi K2 and GLM-4.5
KIMI_NAMES = [
    "<|tool_calls_section_begin|>",
    "<|tool_calls_section_end|>",
    "<|tool_call_begin|>",
    "<|tool_call_argument_begin|>",
    "<|tool_call_end|>",
    "<|im_end|>",
]


def _kimi_vocab():
    """Llama-3's tokens plus Kimi K2's tool-call special tokens (its own tokenizer is not
    in ../shared): the grammar must take them as tokens, never as text."""
    base, tok = family("llama3")
    toks = list(base.tokens) + [b""] * len(KIMI_NAMES)
    ids = {n: base.size + i for i, n in enumerate(KIMI_NAMES)}
    v = Vocabulary(
        toks,
        eos_ids=[ids["<|im_end|>"]],
        special_ids=sorted(base.special_ids) + list(ids.values()),
        special_names=ids,
    )
    return v, tok, ids


def _kimi_call(tok, s, name, idx, args):
    return (
        [s["<|tool_call_begin|>"]]
        + enc(tok, f"functions.{name}:{idx}")
        + [s["<|tool_call_argument_begin|>"]]
        + enc(tok, json.dumps(args))
        + [s["<|tool_call_end|>"]]
    )


def test_kimi_k2_calls_with_special_tokens():
    v, tok, s = _kimi_vocab()
    g = agents.tool_calls(TOOLS, style="kimi_k2", tool_choice="required")
    two = (
        [s["<|tool_calls_section_begin|>"]]
        + _kimi_call(tok, s, "get_weather", 0, {"location": "Beijing", "unit": "celsius"})
        + _kimi_call(tok, s, "get_time", 1, {"tz": "Asia/Shanghai"})
        + [s["<|tool_calls_section_end|>"]]
    )
    assert force(g, v, two)[:2] == (None, True)
    # the section's tokens written as text are not the tokens
    as_text = enc(tok, "<|tool_calls_section_begin|>") + two[1:]
    assert force(g, v, as_text)[0] == 0
    # arguments invalid for the tool, an unknown tool, a missing end token
    bad_args = two[:1] + _kimi_call(tok, s, "get_weather", 0, {"unit": "celsius"}) + two[-1:]
    assert force(g, v, bad_args)[0] is not None
    unknown = two[:1] + _kimi_call(tok, s, "get_news", 0, {}) + two[-1:]
    assert force(g, v, unknown)[0] is not None
    assert force(g, v, two[:-1])[:2] == (None, False)
    # auto: text, then the section; or text alone
    auto = agents.tool_calls(TOOLS, style="kimi_k2", tool_choice="auto")
    assert force(auto, v, enc(tok, "Let me check. ") + two)[:2] == (None, True)
    assert force(auto, v, enc(tok, "No tools needed."))[:2] == (None, True)
    # thinking: <think> first
    think = agents.tool_calls(TOOLS, style="kimi_k2_thinking", tool_choice="required")
    ids = enc(tok, "<think>Weather in Beijing.</think>") + two
    assert force(think, v, ids)[:2] == (None, True)
    assert force(think, v, two)[0] is not None


GLM = (
    "<think>The user wants the weather.</think>"
    "<tool_call>get_weather\n"
    "<arg_key>location</arg_key>\n<arg_value>Paris, 7e arrondissement</arg_value>\n"
    "<arg_key>unit</arg_key>\n<arg_value>celsius</arg_value>\n"
    "</tool_call>"
)
GLM_TOOLS = TOOLS + [
    {
        "name": "set_alarm",
        "parameters": {
            "type": "object",
            "properties": {
                "hour": {"type": "integer", "minimum": 0, "maximum": 23},
                "label": {"type": "string"},
                "days": {"type": "array", "items": {"type": "string"}, "maxItems": 7},
            },
            "required": ["hour"],
        },
    }
]


@pytest.mark.parametrize(
    "text,ok",
    [
        (GLM, True),
        # optional unit left out; a second call after a newline
        (
            "<think>x</think><tool_call>get_weather\n"
            "<arg_key>location</arg_key>\n<arg_value>Oslo</arg_value>\n</tool_call>\n"
            "<tool_call>set_alarm\n<arg_key>hour</arg_key>\n<arg_value>7</arg_value>\n"
            '<arg_key>days</arg_key>\n<arg_value>["mon", "tue"]</arg_value>\n</tool_call>',
            True,
        ),
        (GLM.replace("celsius", "kelvin"), False),  # not in the enum
        (
            GLM.replace(
                "<arg_key>location</arg_key>\n<arg_value>Paris, 7e arrondissement</arg_value>\n", ""
            ),
            False,
        ),
        (
            "<think>x</think><tool_call>set_alarm\n<arg_key>hour</arg_key>\n<arg_value>24</arg_value>\n</tool_call>",
            False,  # integer out of range
        ),
        (
            '<think>x</think><tool_call>set_alarm\n<arg_key>hour</arg_key>\n<arg_value>"7"</arg_value>\n</tool_call>',
            False,  # an integer argument is JSON
        ),
        (
            # keys in the schema's order
            "<think>x</think><tool_call>get_weather\n<arg_key>unit</arg_key>\n<arg_value>celsius</arg_value>\n"
            "<arg_key>location</arg_key>\n<arg_value>Rome</arg_value>\n</tool_call>",
            False,
        ),
    ],
)
def test_glm4_xml_arguments(text, ok):
    g = agents.tool_calls(GLM_TOOLS, style="glm4", tool_choice="required")
    assert accepted(g, "qwen2", text) == ok


def test_glm4_parse_and_errors():
    content, calls = agents.parse_tool_calls(GLM, style="glm4", tools=GLM_TOOLS)
    assert calls == [
        {
            "name": "get_weather",
            "arguments": {"location": "Paris, 7e arrondissement", "unit": "celsius"},
        }
    ]
    _, calls = agents.parse_tool_calls(
        "<tool_call>set_alarm\n<arg_key>hour</arg_key>\n<arg_value>7</arg_value>\n"
        "<arg_key>label</arg_key>\n<arg_value>42</arg_value>\n</tool_call>",
        style="glm4",
        tools=GLM_TOOLS,
    )
    assert calls[0]["arguments"] == {"hour": 7, "label": "42"}  # label is a string: raw
    auto = agents.tool_calls(GLM_TOOLS, style="glm4", tool_choice="auto")
    assert accepted(auto, "qwen2", "<think>none</think>Paris is sunny.")
    assert accepted(
        auto, "qwen2", GLM.replace("<think>", "<think>").replace("</think>", "</think>Sure. ")
    )
    for params, match in [
        ({"type": "object", "properties": {"q": {"type": "string", "pattern": "^a"}}}, "pattern"),
        ({"type": "object", "properties": {"q": {"type": ["string", "null"]}}}, "'type'"),
        ({"type": "object", "properties": {"q": {}}}, "'type'"),
        ({"type": "object", "properties": {}, "minProperties": 1}, "minProperties"),
        ({"type": "object", "required": ["x"]}, "required"),
    ]:
        with pytest.raises(agents.ToolError, match=match):
            agents.tool_calls([{"name": "f", "parameters": params}], style="glm4")
