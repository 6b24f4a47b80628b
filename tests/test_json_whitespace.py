"""The JSON whitespace policies of ``Grammar.from_json_schema`` (``whitespace=``), exactly:
which serialisations of the same instance each accepts, token by token on the Llama-3
vocabulary (the tokenizer's own tokenization of the text, through ``Matcher``'s masks),
and that every accepted text validates against the schema."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import load_tokenizer, shared_path

from decoder import Grammar, Matcher, Vocabulary
from decoder._json_whitespace import DEFAULT_WHITESPACE, WHITESPACE_POLICIES
from decoder.errors import SchemaError

jsonschema = pytest.importorskip("jsonschema")

SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "age": {"type": "integer", "minimum": 0},
        "tags": {"type": "array", "items": {"type": "string"}},
        "address": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "zip": {"type": ["string", "null"]}},
            "required": ["city"],
        },
        "scores": {"type": "array", "items": {"type": "array", "items": {"type": "number"}}},
    },
    "required": ["name", "age"],
}
X = {
    "name": "Ada Lovelace",
    "age": 36,
    "tags": ["math", "poetry"],
    "address": {"city": "London", "zip": None},
    "scores": [[1.5, 2], [], [3]],
}

COMPACT = json.dumps(X, separators=(",", ":"))  # {"name":"Ada Lovelace","age":36,...}
DUMPS = json.dumps(X)  # {"name": "Ada Lovelace", "age": 36, ...}
INDENT2 = json.dumps(X, indent=2)  # newlines, 2..6 spaces, ": " and ","
INDENT4 = json.dumps(X, indent=4)
NEWLINES40 = '{"name":' + "\n" * 40 + '"Ada","age":36}'
SPACES40 = '{"name":' + " " * 40 + '"Ada","age":36}'
TAB = '{"name":\t"Ada","age":36}'
LEADING_SPACE = ' {"name":"Ada","age":36}'
TRAILING_NEWLINE = '{"name":"Ada","age":36}\n'
SPACE_BEFORE_COMMA = '{"name":"Ada" ,"age":36}'
TWO_SPACES = '{"name":  "Ada","age":36}'
NEWLINE_AFTER_COLON = '{"name":\n"Ada","age":36}'
SPACE_IN_BRACKETS = '{"name":"Ada","age":36,"tags":[ "x" ]}'

# text -> the policies that accept it (exactly: every other policy rejects it)
EXPECTED = {
    COMPACT: {"compact", "separators", "pretty", "flexible"},
    DUMPS: {"separators", "pretty", "flexible"},
    INDENT2: {"pretty", "flexible"},
    INDENT4: {"pretty", "flexible"},
    NEWLINES40: set(),
    SPACES40: set(),  # flexible's runs are at most max_ws=32 characters
    TAB: {"flexible"},
    LEADING_SPACE: {"pretty", "flexible"},  # an ignore lexeme may also open and close the text
    TRAILING_NEWLINE: {"pretty", "flexible"},
    SPACE_BEFORE_COMMA: {"pretty", "flexible"},
    TWO_SPACES: {"flexible"},
    NEWLINE_AFTER_COLON: {"pretty", "flexible"},
    SPACE_IN_BRACKETS: {"pretty", "flexible"},
}


class Engine:
    def __init__(self) -> None:
        self.vocab = Vocabulary.from_path(shared_path("tokenizers", "llama3"))
        self.tok = load_tokenizer("llama3")
        words = (int(self.vocab.model_vocab_size) + 31) // 32
        self.buf = np.zeros(words, dtype=np.int32)
        self.eos = sorted(set(self.vocab.eos_ids))
        self.grammars = {
            ws: Grammar.from_json_schema(SCHEMA, whitespace=ws) for ws in WHITESPACE_POLICIES
        }

    def bit(self, t: int) -> bool:
        return bool((int(self.buf[t >> 5]) >> (t & 31)) & 1)

    def accepts(self, ws: str, text: str) -> bool:
        """Every token of the tokenizer's tokenization is in the mask in turn, and EOS at the end."""
        ids = self.tok.encode(text, add_special_tokens=False)
        assert self.vocab.decode(ids) == text.encode(), f"tokenization is not exact: {text!r}"
        m = Matcher(self.grammars[ws], self.vocab)
        for t in ids:
            m.compute_mask(self.buf)
            if not self.bit(t):
                return False
            assert m.commit(t)
        m.compute_mask(self.buf)
        eos = all(self.bit(e) for e in self.eos)
        assert eos == m.is_accepting()
        return eos


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine()


@pytest.mark.parametrize("ws", WHITESPACE_POLICIES)
@pytest.mark.parametrize("text", list(EXPECTED), ids=lambda t: repr(t[:24]) + f"..{len(t)}")
def test_policy_accepts_exactly(engine, ws, text):
    want = ws in EXPECTED[text]
    assert engine.accepts(ws, text) == want, f"{ws} {'rejects' if want else 'accepts'} {text!r}"
    if want:
        jsonschema.validate(json.loads(text), SCHEMA)


def test_separator_tokens_stay_allowed(engine):
    """The llama3 tokens that join a string to a separator (``","``, ``":"``, ``",``, ``":``)
    and the space after one (`` "``) are in the mask of ``"separators"``; two spaces are not."""
    g = engine.grammars["separators"]
    by_bytes = {t: i for i, t in enumerate(engine.vocab.tokens)}
    for prefix, token in [
        ('{"name":"Ada', '","'),
        ('{"name', '":"'),
        ('{"name":"Ada', '",'),
        ('{"name', '":'),
        ('{"name":"Ada",', ' "'),
        ('{"name":', ' "'),
    ]:
        m = Matcher(g, engine.vocab)
        assert m.commit_bytes(prefix.encode())
        m.compute_mask(engine.buf)
        assert engine.bit(by_bytes[token.encode()]), f"{token!r} refused after {prefix!r}"
    m = Matcher(g, engine.vocab)
    assert m.commit_bytes(b'{"name":')
    assert not m.commit_bytes(b"  ")
    m = Matcher(g, engine.vocab)
    assert m.commit_bytes(b'{"name": ') and not m.commit_bytes(b" ")


def test_pretty_indentation_is_bounded(engine):
    """``pretty``: one newline and at most max_ws-1 spaces between two tokens."""
    g = Grammar.from_json_schema(SCHEMA, whitespace="pretty", max_ws=8)
    ok = '{\n       "name": "Ada",\n"age": 1\n}'  # 7 spaces: the bound
    too_deep = '{\n        "name": "Ada","age": 1}'  # 8 spaces
    m = Matcher(g, engine.vocab)
    assert m.commit_bytes(ok.encode()) and m.is_accepting()
    m = Matcher(g, engine.vocab)
    assert not m.commit_bytes(too_deep.encode())
    m = Matcher(g, engine.vocab)
    assert not m.commit_bytes(b'{\n\n"name"')  # one newline per gap


def test_default_and_unknown_policy():
    assert DEFAULT_WHITESPACE in WHITESPACE_POLICIES
    g = Grammar.from_json_schema(SCHEMA)
    assert g.ir == Grammar.from_json_schema(SCHEMA, whitespace=DEFAULT_WHITESPACE).ir
    with pytest.raises(SchemaError) as e:
        Grammar.from_json_schema(SCHEMA, whitespace="indented")
    for name in WHITESPACE_POLICIES:
        assert repr(name) in str(e.value)


def test_policies_reach_the_cli_and_specs():
    from decoder.cli import build_parser
    from decoder.integrations.specs import grammar_for

    p = build_parser()
    for ws in WHITESPACE_POLICIES:
        assert (
            p.parse_args(
                ["generate", "--schema", "{}", "--prompt", "x", "--whitespace", ws]
            ).whitespace
            == ws
        )
        assert p.parse_args(["bench", "jsonschemabench", "--whitespace", ws]).whitespace == ws
        g = grammar_for("json", json.dumps(SCHEMA), whitespace=ws)
        assert g.ir == Grammar.from_json_schema(SCHEMA, whitespace=ws).ir
