"""``property_order="any"`` (decoder/grammar/json_schema/any_order.py): an object's declared
keys in any order, each at most once, every required one before the object closes; extra
keys anywhere (never repeated: distinct keys); ``minProperties``/``maxProperties`` counted.

The mask is checked exactly on a real tokenizer (Llama-3) against the finite set of valid
instances of a small schema, valid instances in every key order are accepted and invalid
ones refused (teacher-forced, against jsonschema with a no-duplicate-key parser), and random
walks of the mask end in valid instances without a dead end on the way. The default
(``"schema"``) is unchanged.
"""

from __future__ import annotations

import itertools
import json
import random

import jsonschema
import numpy as np
import pytest
from conftest import assert_mask_is_brute_force, bits_of, vocab_of
from differential import (
    TOKENS,
    loads_no_duplicate_keys,
    valid_without_duplicate_keys,
    vocab,
    walk_to_end,
)

from decoder import Grammar, Matcher
from decoder.errors import SchemaError
from decoder.grammar.json_schema.any_order import MAX_ANY_ORDER_STATES

_valid = valid_without_duplicate_keys  # the oracle


def _any(schema, **kw):
    return Grammar.from_json_schema(schema, property_order="any", **kw)


def _accepts(m, text: str) -> bool:
    m.reset()
    return m.commit_bytes(text.encode()) and m.is_accepting()


# a = null (required), b = true/false, c = "x"; nothing else: 19 valid compact objects
SMALL = {
    "type": "object",
    "properties": {"a": {"type": "null"}, "b": {"type": "boolean"}, "c": {"const": "x"}},
    "required": ["a"],
    "additionalProperties": False,
}


def _small_instances() -> list[bytes]:
    values = {"a": ["null"], "b": ["true", "false"], "c": ['"x"']}
    out = []
    for r in range(1, 4):
        for keys in itertools.permutations("abc", r):
            if "a" not in keys:
                continue
            for vals in itertools.product(*(values[k] for k in keys)):
                body = ",".join(f'"{k}":{v}' for k, v in zip(keys, vals))
                out.append(("{" + body + "}").encode())
    return out


@pytest.mark.parametrize(
    "prefix",
    [
        b"{",
        b'{"b":true,',
        b'{"b":true,"',
        b'{"b":true,"a":null',  # ',' (c is left) and '}'
        b'{"b":true,"a":null,"c":"x"',  # every key used: '}' only, no ','
        b'{"c":"x","b":false',  # a is missing: ',' only, no '}'
        b'{"c":"x","b":false,',  # only "a" may follow
        b'{"a":null,"c"',
    ],
)
def test_exact_tokens_at_key_positions(prefix):
    """The allowed tokens (without a backslash: escapes spell the same keys) are exactly
    those that continue the prefix into one of the schema's valid instances, every one of
    which is listed; EOS exactly when the prefix is one."""
    v = vocab_of("llama3")
    m = Matcher(_any(SMALL, whitespace="compact"), v)
    assert m.commit_bytes(prefix), prefix
    bits = bits_of(m, m.compiled.mask_words)
    instances = _small_instances()
    assert all(_valid(SMALL, t.decode()) for t in instances)
    want, got = set(), set()
    for t in range(v.model_vocab_size):
        tb = v.token_bytes(t)
        if not tb or b"\\" in tb:
            continue
        if any(w.startswith(prefix + tb) for w in instances):
            want.add(tb)
        if bits[t]:
            got.add(tb)
    assert got == want, (sorted(got - want)[:10], sorted(want - got)[:10])
    assert m.is_accepting() is (prefix in instances)


def test_every_order_of_the_small_schema_and_nothing_else():
    m = Matcher(_any(SMALL, whitespace="compact"), vocab())
    instances = {t.decode() for t in _small_instances()}
    assert len(instances) == 1 + 2 * 2 + 2 + 6 * 2  # {a}, {a,b}, {a,c}, {a,b,c}
    for t in instances:
        assert _accepts(m, t), t
    for t in [
        "{}",
        '{"b":true}',
        '{"b":true,"c":"x"}',  # a is missing
        '{"a":null,"a":null}',
        '{"a":null,"b":true,"b":false}',
        '{"c":"x","a":null,"c":"x"}',
        '{"a":null,"d":1}',
        '{"a":null,}',
        '{"a":null,"b":true,"c":"x",}',
        '{"a":1}',
    ]:
        assert not _valid(SMALL, t) and not _accepts(m, t), t


OPEN = {  # extra keys allowed, counted toward min/maxProperties
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "name": {"type": "string", "maxLength": 3},
        "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 2},
    },
    "required": ["id", "name"],
    "additionalProperties": {"type": "integer"},
    "maxProperties": 4,
}


@pytest.mark.parametrize("ws", ["compact", "separators", "pretty"])
def test_teacher_forced_permutations_match_the_oracle(ws):
    m = Matcher(_any(OPEN, whitespace=ws), vocab())
    members = {
        "id": '"id": 7',
        "name": '"name": "ab"',
        "tags": '"tags": ["x"]',
        "x": '"x": 1',
        "y": '"y": 2',
        "z": '"z": 3',
        "id2": '"id": 8',
        "bad": '"name": 5',
    }
    seen = {True: 0, False: 0}
    rng = random.Random(19)
    for r in range(0, 6):
        for keys in itertools.permutations(list(members), r):
            if r >= 4 and rng.random() < 0.9:
                continue  # a sample of the long ones
            text = "{" + ", ".join(members[k] for k in keys) + "}"
            if ws == "compact":
                text = text.replace(": ", ":").replace(", ", ",")
            want = _valid(OPEN, text)
            assert _accepts(m, text) == want, text
            seen[want] += 1
    assert seen[True] > 60 and seen[False] > 1000


def test_schema_order_is_still_the_default():
    g = Grammar.from_json_schema(OPEN)
    assert g.fingerprint() == Grammar.from_json_schema(OPEN, property_order="schema").fingerprint()
    assert g.fingerprint() != _any(OPEN).fingerprint()
    m = Matcher(Grammar.from_json_schema(SMALL, whitespace="compact"), vocab())
    assert _accepts(m, '{"a":null,"b":true,"c":"x"}')
    assert not _accepts(m, '{"b":true,"a":null}')  # valid, but not in the schema's order
    assert _accepts(Matcher(_any(SMALL, whitespace="compact"), vocab()), '{"b":true,"a":null}')


def test_bad_option_and_too_many_key_sets_are_schema_errors():
    with pytest.raises(SchemaError, match="property_order='sorted'") as e:
        Grammar.from_json_schema(SMALL, property_order="sorted")
    assert e.value.keyword == "property_order"
    wide = {f"p{i}": {"type": "integer"} for i in range(14)}  # 2**14 sets of optional keys
    closed = {"type": "object", "properties": wide, "additionalProperties": False}
    schema = {"type": "object", "properties": {"inner": closed}}
    with pytest.raises(SchemaError, match=f"more than {MAX_ANY_ORDER_STATES} states") as e:
        _any(schema)
    assert e.value.keyword == "property_order"
    assert e.value.path == "/properties/inner"
    Grammar.from_json_schema(schema)  # schema order: one state per position
    # 13 optional keys (8192 sets) fit, and so do 14 once maxProperties bounds the sets
    _any({**closed, "properties": dict(list(wide.items())[:13])})
    _any({**closed, "maxProperties": 3})
    # an open object's optional keys are distinct items: only the required ones are sets
    many = {f"p{i}": {"type": "integer"} for i in range(40)}
    _any({"type": "object", "properties": many, "required": ["p1", "p2"]})
    with pytest.raises(SchemaError, match="property_order"):
        _any({"type": "object", "properties": many, "required": list(many)[:14]})


def _walk(m, rng, buf):
    return walk_to_end(m, rng, buf, b'"]},', 0.6, 800)


# an open object: its optional keys are distinct items (any_order's "open items"), so a
# repeat is refused by the matcher where the key closes, and the extra keys ("a" + more)
# continue the prefix of a key already written
OPEN_ITEMS = {
    "type": "object",
    "properties": {"a": {"type": "integer"}, "b": {"type": "boolean"}, "ab": {"type": "null"}},
    "required": ["b"],
}

NESTED = {
    "type": "object",
    "properties": {
        "a": {
            "type": "object",
            "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
            "required": ["b"],
            "additionalProperties": False,
        },
        "b": {"type": "array", "items": {"$ref": "#/properties/a"}, "maxItems": 2},
        "c": {"type": "boolean"},
    },
    "required": ["a", "c"],
    "additionalProperties": False,
}


@pytest.mark.parametrize(
    "schema",
    [
        SMALL,
        {**SMALL, "required": ["a", "b", "c"]},
        {**SMALL, "required": [], "minProperties": 2},
        {**SMALL, "required": [], "maxProperties": 1},
        {**SMALL, "required": ["c"], "minProperties": 2, "maxProperties": 2},
        OPEN,
        {**OPEN, "additionalProperties": True, "minProperties": 3, "maxProperties": 3},
        {  # extra keys by pattern, and a required key that is not in properties
            "type": "object",
            "properties": {"a": {"const": True}, "ab": {"type": "boolean"}},
            "patternProperties": {"^[ab]+$": {"type": "boolean"}},
            "additionalProperties": False,
            "required": ["ab", "b"],
        },
        {  # requirements from a negation: an object with a, or without b
            "type": "object",
            "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
            "additionalProperties": False,
            "not": {"required": ["b"], "not": {"required": ["a"]}},
        },
        NESTED,
        OPEN_ITEMS,
        {**OPEN_ITEMS, "minProperties": 4},
        {**OPEN_ITEMS, "maxProperties": 3},
        {**OPEN_ITEMS, "propertyNames": {"pattern": "^[a-c]+$"}, "maxProperties": 5},
    ],
)
def test_random_walks_are_valid_and_never_stuck(schema):
    m = Matcher(_any(schema), vocab())
    buf = np.zeros((len(TOKENS) + 31) // 32, dtype=np.int32)
    rng = random.Random(len(json.dumps(schema)))
    firsts = set()
    for _ in range(40):
        text = _walk(m, rng, buf).decode()
        assert _valid(schema, text), text
        x = json.loads(text)
        if x:
            firsts.add(next(iter(x)))
    assert len(firsts) > 1  # the walks started their objects with different keys


def test_nested_objects_keep_their_own_key_sets():
    m = Matcher(_any(NESTED, whitespace="compact"), vocab())
    for text, ok in [
        ('{"c":true,"a":{"b":1,"a":2}}', True),
        ('{"a":{"b":1},"b":[{"a":1,"b":2},{"b":3}],"c":false}', True),
        ('{"b":[],"a":{"a":1,"b":1},"c":true}', True),
        ('{"c":true,"a":{"a":2}}', False),  # the inner b is missing
        ('{"c":true,"a":{"b":1,"b":2}}', False),
        ('{"c":true,"a":{"b":1},"a":{"b":1}}', False),
        ('{"a":{"b":1,"c":true}}', False),  # the outer c written inside
        ('{"c":true,"b":[{"b":1,"b":1}],"a":{"b":1}}', False),
    ]:
        assert _valid(NESTED, text) is ok, text
        assert _accepts(m, text) is ok, text


@pytest.mark.parametrize(
    "schema, prefixes",
    [
        (OPEN, [b'{"name": "ab", ', b'{"x": 1, "id": 2, "name": "", "', b'{"tags": []']),
        (OPEN_ITEMS, [b'{"a": 1, "', b'{"ab": null, "a', b'{"b": true, "a": 1, "ab": null']),
    ],
    ids=["open", "open-items"],
)
def test_mask_equals_commit_on_a_real_tokenizer(schema, prefixes):
    v = vocab_of("llama3")
    m = Matcher(_any(schema), v)
    for prefix in prefixes:
        m.reset()
        assert m.commit_bytes(prefix), prefix
        assert_mask_is_brute_force(m, v, prefix.decode())


def test_serving_compiler_passes_the_option():
    """The serving integrations' compiler (vLLM takes "property_order" from a request's
    extra_args, next to "whitespace") builds the any-order grammar."""
    from decoder.integrations.compiler import SpecCompiler
    from decoder.integrations.specs import grammar_for

    text = json.dumps(SMALL)
    assert (
        grammar_for("json", text, property_order="any").fingerprint()
        == _any(SMALL, whitespace="flexible").fingerprint()
    )
    for order, ok in [("schema", False), ("any", True)]:
        compiled = SpecCompiler(vocab(), property_order=order).compile("json", text, None)
        assert _accepts(Matcher(compiled), '{"c": "x", "a": null}') is ok


@pytest.mark.parametrize(
    "prefix, token, allowed",
    [
        (b'{"a": 1, "a', b'":', False),  # a repeat of the optional key
        (b'{"a": 1, "a', b'"', False),
        (b'{"a": 1, "a', b"x", True),  # "ax" is an extra key
        (b'{"a": 1, "ab', b'":', True),
        (b'{"a": 1, ', b'"a', True),
        (b'{"b": true, "b', b'":', False),  # a repeat of the required key
        (b'{"b": true, "a', b'":', True),
        (b'{"b": true, "ab": null, "ab', b'":', False),
        (b'{"b": true, "ab": null, "ab', b"x", True),
        (b'{"a": 1, "ab": null', b"}", False),  # b is missing
        (b'{"a": 1, "ab": null', b"},", False),
        (b'{"a": 1, "b": false', b"}", True),
    ],
)
def test_open_object_tokens(prefix, token, allowed):
    v = vocab_of("llama3")
    m = Matcher(_any(OPEN_ITEMS), v)
    assert m.commit_bytes(prefix), prefix
    ids = {v.token_bytes(i): i for i in range(v.size)}
    tid = ids[token]
    assert bool(bits_of(m, m.compiled.mask_words)[tid]) is allowed
    assert m.is_allowed(tid) is allowed


def test_open_object_permutations_match_the_oracle():
    m = Matcher(_any(OPEN_ITEMS, whitespace="compact"), vocab())
    members = ['"a":1', '"a":2', '"b":true', '"b":false', '"ab":null', '"x":1', '"x":2', '"":0']
    n = 0
    for r in range(0, 5):
        for ms in itertools.permutations(members, r):
            text = "{" + ",".join(ms) + "}"
            want = _valid(OPEN_ITEMS, text)
            assert _accepts(m, text) == want, text
            n += want
    assert n > 100


def test_const_and_enum_objects_in_any_order():
    schema = {
        "type": "object",
        "properties": {
            "point": {"const": {"x": 1, "y": [2, {"u": None, "v": True}]}},
            "kind": {"enum": [{"a": 1, "b": 2}, {"b": 3}, "plain"]},
        },
        "required": ["point", "kind"],
        "additionalProperties": False,
    }
    m = Matcher(_any(schema, whitespace="compact"), vocab())
    for text in [
        '{"point":{"x":1,"y":[2,{"u":null,"v":true}]},"kind":"plain"}',
        '{"kind":{"b":2,"a":1},"point":{"y":[2,{"v":true,"u":null}],"x":1}}',
        '{"kind":{"b":3},"point":{"x":1,"y":[2,{"v":true,"u":null}]}}',
        '{"kind":{"a":1},"point":{"x":1,"y":[2,{"v":true,"u":null}]}}',
        '{"kind":{"a":1,"b":2,"a":1},"point":{"x":1,"y":[2,{"v":true,"u":null}]}}',
        '{"kind":{"b":3},"point":{"x":1,"x":1,"y":[2,{"v":true,"u":null}]}}',
        '{"kind":{"b":3},"point":{"y":[2,{"v":true,"u":null}]}}',
        '{"kind":{"b":3,"a":1},"point":{"x":1,"y":[2,{"v":true,"u":null}]}}',
    ]:
        assert _accepts(m, text) is _valid(schema, text), text
    wide = {"const": {f"k{i}": i for i in range(14)}}
    with pytest.raises(SchemaError, match="const/enum object with 14 keys") as e:
        _any(wide)
    assert e.value.keyword == "property_order"
    Grammar.from_json_schema(wide)  # in the schema's order: one sequence


def _shuffled(v, rng):
    if isinstance(v, dict):
        items = [(k, _shuffled(x, rng)) for k, x in v.items()]
        rng.shuffle(items)
        return dict(items)
    if isinstance(v, list):
        return [_shuffled(x, rng) for x in v]
    return v


def test_random_schemas_in_any_order():
    """differential.py's random schemas compiled with property_order="any": walks of the mask
    end in valid JSON with no repeated key (jsonschema, the exact validator), and random
    instances, their mutations and the walks' outputs with every object's keys shuffled are
    accepted only where valid; every schema that compiles in the schema's order compiles."""
    import differential as d

    from decoder.errors import DecoderError

    rng0 = random.Random(1)
    buf = np.zeros((len(TOKENS) + 31) // 32, dtype=np.int32)
    compiled = shuffled_ok = 0
    for i in range(300):
        schema = d.random_document(rng0)
        rng = random.Random(f"1/{i}")
        try:
            cls = jsonschema.validators.validator_for(schema, jsonschema.Draft202012Validator)
            cls.check_schema(schema)
            validator = d.exact_validator(schema)
            m = Matcher(_any(schema, timeout=5), vocab())
        except (jsonschema.exceptions.SchemaError, DecoderError, RecursionError):
            with pytest.raises((jsonschema.exceptions.SchemaError, DecoderError, RecursionError)):
                jsonschema.validators.validator_for(schema).check_schema(schema)
                Grammar.from_json_schema(schema, timeout=5)
            continue
        compiled += 1
        outs = []
        for _ in range(3):
            data = d.walk(m, rng, rng.choice((4, 12, 30)), buf)
            if data is None:
                continue
            x = loads_no_duplicate_keys(data.decode())  # DuplicateKey: a repeat
            assert validator.is_valid(x) or d._float_edge(data), (schema, data)
            outs.append(x)
        cands = [d.random_value(rng) for _ in range(4)] + [d.mutate(rng, v) for v in outs]
        cands += [_shuffled(v, rng) for v in outs + cands]
        for v in cands:
            text = json.dumps(v, separators=(",", ":"), allow_nan=True).encode()
            got, want = d.accepts(m, text), validator.is_valid(v)
            assert not got or want, (schema, text)
            shuffled_ok += got
    assert compiled > 150 and shuffled_ok > 500


def test_several_schemas_in_one_grammar():
    """compile_json_schemas (the parameters of many tools) takes the option too."""
    from decoder.grammar.json_schema import compile_json_schemas

    ir, _ = compile_json_schemas([SMALL, OPEN], whitespace="compact", property_order="any")
    m = Matcher(Grammar(ir), vocab())
    assert _accepts(m, '{"c":"x","a":null}') and _accepts(m, '{"name":"","id":1}')
    assert not _accepts(m, '{"c":"x","a":null,"c":"x"}')
    ir, _ = compile_json_schemas([SMALL, OPEN], whitespace="compact")
    assert not _accepts(Matcher(Grammar(ir), vocab()), '{"c":"x","a":null}')


def test_open_object_cover_by_derivatives(monkeypatch):
    """Where the extra-key automaton is over budget (many names), whether an extra key
    continues every declared name is read off the regex's derivatives: the same grammar,
    and the walks stay valid."""
    from types import SimpleNamespace

    from decoder.grammar.json_schema import any_order, automata

    def over_budget(*args, **kw):
        raise any_order.RegexBudgetError("over budget")

    want = _any(OPEN_ITEMS).fingerprint()
    ns = SimpleNamespace(**{k: getattr(automata, k) for k in ("trim", "charged_to", "Dfa")})
    monkeypatch.setattr(any_order, "automata", SimpleNamespace(**vars(ns), to_dfa=over_budget))
    g = _any(OPEN_ITEMS)
    assert g.fingerprint() == want
    # a name the extra keys cannot continue (they are [a-c]+): the sets instead, exactly
    limited = {**OPEN_ITEMS, "propertyNames": {"pattern": "^[a-c]+$|^x$"}}
    limited["properties"] = {**OPEN_ITEMS["properties"], "x": {"type": "integer"}}
    m = Matcher(_any(limited), vocab())
    buf = np.zeros((len(TOKENS) + 31) // 32, dtype=np.int32)
    rng = random.Random(3)
    for _ in range(30):
        text = _walk(m, rng, buf).decode()
        assert _valid(limited, text), text
