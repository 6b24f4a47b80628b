"""Session 19's cuts of a JSON Schema compile's fixed costs (docs/optimizations.md "Compile time, round fourteen",
issue 23), each checked against what it replaced: the context managers every compile enters
(``_front_end``, ``_gc_rarely``, ``recursion_limit``, ``automata.work_budget``) as classes, not
``@contextmanager`` generators, with the same error conversions and restores; the builder's
first seven lexemes copied from ``compiler._BUILDER_START``, the same grammar as making them;
the excluded-keys walk's character encodings from ``strings._ENCODED_CPS``; the schema text
parsed by one ``json.JSONDecoder``."""

from __future__ import annotations

import gc
import json
import random
import sys
from pathlib import Path

import pytest

from decoder import Grammar
from decoder.errors import DecoderError, LimitError, SchemaError
from decoder.grammar import _front_end, _gc_rarely
from decoder.grammar.ir import GrammarBuilder
from decoder.grammar.json_schema import automata, compile_json_schema, compiler, strings
from decoder.grammar.json_schema._automata import star_minus_walk
from decoder.grammar.json_schema.regexops import ANY_CP
from decoder.grammar.json_schema.schema import _loads
from decoder.grammar.recursion import recursion_limit

# an open object (the excluded-keys lexeme, any value replayed), strings, numbers, an array
SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "maxLength": 40},
        "size": {"type": "integer", "minimum": 0},
        "tags": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["name"],
}


def _contextlib_calls(fn) -> int:
    """Python calls into contextlib.py while ``fn`` runs."""
    n = 0

    def prof(frame, event, arg):
        nonlocal n
        if event == "call" and frame.f_code.co_filename.endswith("contextlib.py"):
            n += 1

    sys.setprofile(prof)
    try:
        fn()
    finally:
        sys.setprofile(None)
    return n


def test_a_compile_enters_no_generator_context_manager():
    """Every compile entered four ``@contextmanager`` generators (a generator, a
    ``_GeneratorContextManager`` and five Python calls each); on main this counts 20 calls."""
    text = json.dumps(SCHEMA)
    Grammar.from_json_schema(text)  # the any-value template and the builder start recorded
    assert _contextlib_calls(lambda: Grammar.from_json_schema(text)) == 0


# ------------------------------------------------------------------ _front_end, _gc_rarely


def _raise(e: BaseException):
    with _front_end("JSON schema", SchemaError):
        raise e


@pytest.mark.parametrize(
    "exc, cls, words",
    [
        (RecursionError("deep"), LimitError, "nested too deeply to compile"),
        (OverflowError("int too big"), SchemaError, "number too large to compile: int too big"),
        (UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates"), SchemaError, "Unicode/UTF-8"),
    ],
)
def test_front_end_turns_python_failures_into_the_package_errors(exc, cls, words):
    saved = gc.get_threshold()
    with pytest.raises(cls) as e:
        _raise(exc)
    assert words in str(e.value) and "the JSON schema" in str(e.value)
    assert e.value.__suppress_context__  # raised "from None", as the generator did
    if cls is LimitError:
        assert e.value.limit == "max_depth"
    assert gc.get_threshold() == saved


@pytest.mark.parametrize(
    "exc", [SchemaError("bad", keyword="type", path="/a"), ValueError("x"), KeyError("k")]
)
def test_front_end_lets_other_exceptions_through_unchanged(exc):
    saved = gc.get_threshold()
    with pytest.raises(type(exc)) as e:
        _raise(exc)
    assert e.value is exc
    assert gc.get_threshold() == saved


def test_front_end_raises_the_collector_threshold_and_the_outermost_restores():
    saved = gc.get_threshold()
    with _front_end("JSON schema", SchemaError):
        inside = gc.get_threshold()
        assert inside[0] >= 500_000 and inside[1:] == saved[1:]
        with _gc_rarely():
            assert gc.get_threshold() == inside
        assert gc.get_threshold() == inside  # the inner block does not restore
    assert gc.get_threshold() == saved
    with pytest.raises(ZeroDivisionError):
        with _gc_rarely():
            raise ZeroDivisionError
    assert gc.get_threshold() == saved


def test_a_bad_schema_still_names_its_keyword_and_path():
    with pytest.raises(SchemaError) as e:
        Grammar.from_json_schema({"properties": {"a": {"minLength": -1}}})
    assert e.value.keyword == "minLength" and e.value.path == "/properties/a"
    assert isinstance(e.value, DecoderError)


# ------------------------------------------------------------------ recursion_limit, work_budget


def test_recursion_limit_raises_and_restores():
    old = sys.getrecursionlimit()
    with recursion_limit(old + 5000):
        assert sys.getrecursionlimit() == old + 5000
        with recursion_limit(old + 10):  # never lowered inside
            assert sys.getrecursionlimit() == old + 5000
        assert sys.getrecursionlimit() == old + 5000
    assert sys.getrecursionlimit() == old
    with pytest.raises(KeyError):
        with recursion_limit(old + 7000):
            raise KeyError("x")
    assert sys.getrecursionlimit() == old


def test_work_budget_sets_and_resets_the_compile_budget():
    outer = automata._COMPILE_WORK.get()
    with automata.work_budget(1234):
        assert automata._COMPILE_WORK.get() == [1234]
        with automata.work_budget(7):
            assert automata._COMPILE_WORK.get() == [7]
        assert automata._COMPILE_WORK.get() == [1234]
    assert automata._COMPILE_WORK.get() is outer
    with pytest.raises(KeyError):
        with automata.work_budget(5):
            raise KeyError("x")
    assert automata._COMPILE_WORK.get() is outer


# ------------------------------------------------------------------ the builder's start


def _ir(schema, **options):
    g = compile_json_schema(schema, **options)
    return (
        [(lx.name, lx.regex) for lx in g.lexemes],
        g.nonterminals,
        g.rules,
        g.ignore,
        g.start,
        sorted(g.distinct),
    )


SETTINGS = [
    {"whitespace": w, "max_ws": m}
    for w in ("compact", "separators", "pretty", "flexible")
    for m in (1, 3, 32)
]
SCHEMAS = [
    SCHEMA,
    {"type": "array", "items": {"enum": ["a", 1, None]}, "uniqueItems": True},
    {"type": "object", "additionalProperties": {"type": "number"}},
    {"anyOf": [{"type": "string"}, {"type": "object"}]},
    True,
]


@pytest.mark.parametrize("options", SETTINGS, ids=lambda o: f"{o['whitespace']}-{o['max_ws']}")
def test_the_copied_builder_start_gives_the_made_grammar(options):
    for schema in SCHEMAS:
        compiler._BUILDER_START.clear()
        made = _ir(schema, **options)  # made, and recorded
        assert (options["whitespace"], options["max_ws"]) in compiler._BUILDER_START
        copied = _ir(schema, **options)
        assert copied == made
        again = _ir(schema, **options)  # the first copy's lexemes did not leak into the start
        assert again == made


def test_a_second_compile_of_a_setting_makes_no_literal(monkeypatch):
    """The seven lexemes of Compiler.__init__ (on main, six ``literal`` calls per compile)."""
    compile_json_schema(SCHEMA, whitespace="pretty", max_ws=5)
    calls = []
    real = GrammarBuilder.literal

    def counting(self, s, name=None):
        calls.append(s)
        return real(self, s, name)

    monkeypatch.setattr(GrammarBuilder, "literal", counting)
    c = compiler.Compiler(
        compiler.SchemaDocument({"type": "string"}, check=lambda p: None),
        whitespace="pretty",
        max_ws=5,
    )
    assert calls == []
    start = compiler._BUILDER_START[("pretty", 5)]
    assert len(c.b._lexemes) == len(start[0]) == 7
    assert c.b._lexemes is not start[0] and c.b._lexeme_by_regex is not start[1]
    assert c.b._ignore == [0]
    assert (c.LB, c.RB, c.LS, c.RS, c.COMMA, c.COLON) == (-2, -3, -4, -5, -6, -7)


def test_the_builder_start_still_refuses_bad_options():
    for bad in ({"whitespace": "tabs"}, {"max_ws": 0}, {"max_ws": "3"}):
        with pytest.raises(SchemaError) as e:
            compile_json_schema({"type": "string"}, **bad)
        assert e.value.keyword == "whitespace"


# ------------------------------------------------------------------ _ENCODED_CPS

ALPHABET = ["a", "b", "ab", "z", "é", '"', "\\", "/", "\n", "\x01", "😀", "-", "_", "0", "\u2028"]
CLASSES = [ANY_CP, ("cps", ((0x61, 0x7A),)), ("cps", ((0x20, 0x7E), (0xE9, 0xE9)))]


def test_the_walk_with_kept_encodings_equals_the_python_walk():
    rng = random.Random(19)
    for seed in range(400):
        cls = CLASSES[seed % len(CLASSES)]
        keys = sorted(
            {
                "".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, 6)))
                for _ in range(rng.randint(0, 12))
            }
        )
        got = star_minus_walk(
            keys,
            cls[1],
            strings._SELF_ENCODING,
            strings._encode_ranges,
            strings._ENCODED_CPS.__getitem__,
            strings.NEVER,
            strings.EMPTY,
            1000,
        )
        assert got == strings._star_minus_walk(cls[1], keys)
        assert got == star_minus_walk(  # the previous callback
            keys,
            cls[1],
            strings._SELF_ENCODING,
            strings._encode_ranges,
            strings._encoded_cp,
            strings.NEVER,
            strings.EMPTY,
            1000,
        )


def test_kept_encodings_are_the_encodings_and_bounded():
    table = strings._EncodedCps()
    for c in [*range(0, 0x100), 0x2028, 0xD7FF, 0xE000, 0x1F600, 0x10FFFF]:
        got = table[c]
        assert got == strings._encoded_cp(c)
        assert table[c] is got  # kept: the same object next time
    for c in range(0x3000, 0x3000 + 5000):
        assert table[c] == strings._encoded_cp(c)
    assert len(table) == 4096


# ------------------------------------------------------------------ _loads


def test_schema_text_is_parsed_without_a_decoder_per_call(monkeypatch):
    made = []
    real = json.JSONDecoder.__init__

    def counting(self, *a, **k):
        made.append(k)
        real(self, *a, **k)

    monkeypatch.setattr(json.JSONDecoder, "__init__", counting)
    Grammar.from_json_schema(json.dumps(SCHEMA))
    assert _loads('{"a": [1, 2.5, "x", null]}') == {"a": [1, 2.5, "x", None]}
    assert made == []  # on main: one JSONDecoder(parse_constant=...) per schema text


def test_loads_errors_are_json_loads_errors(tmp_path: Path):
    for text in ('{"a": 1', '{"a": 1} x', "\ufeff{}", '{"a": [1,]}'):
        with pytest.raises(json.JSONDecodeError) as mine:
            _loads(text)
        with pytest.raises(json.JSONDecodeError) as ref:
            json.loads(text)
        assert str(mine.value) == str(ref.value)
    for name in ("NaN", "Infinity", "-Infinity"):
        with pytest.raises(SchemaError) as e:
            Grammar.from_json_schema('{"type": "number", "maximum": %s}' % name)
        assert f"{name} is not a JSON number" in str(e.value) and e.value.keyword == "$schema"


def test_schema_files_with_a_byte_order_mark_load_and_bad_files_name_themselves(tmp_path: Path):
    # a UTF-8 byte order mark (editors write one; RFC 8259 lets a parser ignore it) is not the
    # schema's: as a file, a path string, bytes or text, the schema compiles as without it
    p = tmp_path / "bom.json"
    p.write_text('\ufeff{"type": "boolean"}', encoding="utf-8")
    plain = Grammar.from_json_schema('{"type": "boolean"}').fingerprint()
    for given in (p, str(p), p.read_bytes(), p.read_text(encoding="utf-8")):
        assert Grammar.from_json_schema(given).fingerprint() == plain, repr(given)
    # a file that is not JSON, or not UTF-8: a SchemaError naming the file and where (on main
    # json.loads' JSONDecodeError and a UnicodeDecodeError got out, naming neither)
    bad = tmp_path / "bad.json"
    bad.write_text('{"type": ', encoding="utf-8")
    for given in (bad, str(bad)):
        with pytest.raises(SchemaError) as e:
            Grammar.from_json_schema(given)
        assert f"schema file {bad} is not valid JSON: Expecting value: line 1 column 10" in str(
            e.value
        )
        assert e.value.keyword == "$schema"
    latin = tmp_path / "latin1.json"
    latin.write_bytes('{"enum": ["caf\u00e9"]}'.encode("latin-1"))
    with pytest.raises(SchemaError, match=f"schema file {latin} is not UTF-8 text: byte 14"):
        Grammar.from_json_schema(latin)
