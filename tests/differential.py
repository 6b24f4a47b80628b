"""Random schemas against ``jsonschema``: the soundness oracle of the JSON Schema front end.

A generator of small random schemas over the whole keyword set, written to hit the corners
where a compiler that thinks in "this schema describes objects" goes wrong: type-less
schemas, keywords of one type applied to values of another (``required`` holds for a
number), ``not``/``oneOf``/``if`` over them, ``const``/``enum`` of arrays and objects,
numbers equal across int/float forms (1 == 1.0), few property names so that branches
overlap. For each schema that compiles, random walks of the mask (a byte-level vocabulary
with a few multi-byte JSON tokens) are finished greedily and every output must be JSON that
``jsonschema`` accepts; random instances (and mutations of the outputs) teacher-forced
through the mask must never be accepted where ``jsonschema`` rejects them.

    python tests/differential.py --schemas 100000 --seed 1    # a long run (README)
    python tests/differential.py --jsonschemabench ../shared/jsonschemabench

tests/test_json_schema_differential.py runs a few thousand at a fixed seed.
"""

from __future__ import annotations

import argparse
import functools
import json
import random
import sys
import time
import warnings
from collections import Counter
from dataclasses import dataclass, field

KEYS = ["a", "b", "c"]
MULTI = [
    b'{"',
    b'":',
    b'","',
    b'", "',
    b'"}',
    b"null",
    b"true",
    b"false",
    b"[[",
    b"]]",
    b"1.0",
    b"-0",
    b"e1",
    b'"a"',
    b'"b":',
    b"\\u0",
    b"\xc3\xa9",
]
TOKENS = [bytes([i]) for i in range(256)] + MULTI + [b""]
EOS = len(TOKENS) - 1


# ------------------------------------------------------------ the duplicate-key oracle


class DuplicateKey(ValueError):
    """An object of the text repeats a key (json.loads would keep the last one)."""


def _no_duplicate_keys(pairs):
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        raise DuplicateKey(keys)
    return dict(pairs)


def loads_no_duplicate_keys(text):
    """json.loads, raising DuplicateKey where an object repeats a key."""
    return json.loads(text, object_pairs_hook=_no_duplicate_keys)


def valid_without_duplicate_keys(schema, text) -> bool:
    """The oracle of distinct keys: JSON text with no repeated key in any object, valid
    against the schema (draft 2020-12)."""
    import jsonschema

    try:
        x = loads_no_duplicate_keys(text)
    except ValueError:  # not JSON, or a repeated key
        return False
    return jsonschema.Draft202012Validator(schema).is_valid(x)


# --------------------------------------------------------------------------- values


def random_value(rng: random.Random, depth: int = 0):
    r = rng.random()
    if depth > 2:
        r = r * 0.6
    if r < 0.08:
        return None
    if r < 0.16:
        return rng.random() < 0.5
    if r < 0.3:
        return rng.choice([0, 1, -1, 2, 3, 10, 1.0, 2.0, 0.5, -2.5, 1.5])
    if r < 0.45:
        return rng.choice(["", "a", "b", "ab", "abc", "x", "é", "1"])
    if r < 0.6:
        return [random_value(rng, depth + 1) for _ in range(rng.randrange(3))]
    if r < 0.75:
        return {k: random_value(rng, depth + 1) for k in rng.sample(KEYS, rng.randrange(3))}
    return rng.choice([1, "a", None, True, [], {}, [1, 2], {"a": 1}])


def mutate(rng: random.Random, v):
    """A value near v (one member changed, added or removed; a number in another form)."""
    if isinstance(v, bool) or v is None:
        return random_value(rng)
    if isinstance(v, (int, float)):
        return rng.choice([float(v), int(v) if float(v).is_integer() else v + 1, -v, v + 1])
    if isinstance(v, str):
        return rng.choice([v + "a", v[1:], "", v * 2])
    if isinstance(v, list):
        w = list(v)
        op = rng.randrange(3)
        if op == 0 or not w:
            w.append(random_value(rng, 2))
        elif op == 1:
            w.pop(rng.randrange(len(w)))
        else:
            i = rng.randrange(len(w))
            w[i] = mutate(rng, w[i])
        return w
    w = dict(v)
    op = rng.randrange(3)
    if op == 0 or not w:
        w[rng.choice(KEYS + ["d"])] = random_value(rng, 2)
    elif op == 1:
        w.pop(rng.choice(list(w)))
    else:
        k = rng.choice(list(w))
        w[k] = mutate(rng, w[k])
    return w


# --------------------------------------------------------------------------- schemas

TYPES = ["null", "boolean", "integer", "number", "string", "array", "object"]


def random_schema(rng: random.Random, depth: int = 0, defs: bool = True):
    """A random schema; ``depth`` bounds nesting."""
    if depth > 3 or rng.random() < 0.08:
        return rng.choice([True, False, {}, {"type": rng.choice(TYPES)}])
    s: dict = {}
    n_kw = rng.choice([1, 1, 2, 2, 3, 4])
    for _ in range(n_kw):
        kind = rng.random()
        if kind < 0.14:
            t = rng.sample(TYPES, rng.choice([1, 1, 1, 2, 3]))
            s["type"] = t[0] if len(t) == 1 and rng.random() < 0.7 else t
        elif kind < 0.2:
            s["const"] = random_value(rng)
        elif kind < 0.27:
            s["enum"] = [random_value(rng) for _ in range(rng.randrange(1, 4))]
        elif kind < 0.36:
            _object_keywords(rng, s, depth)
        elif kind < 0.43:
            _array_keywords(rng, s, depth)
        elif kind < 0.49:
            _number_keywords(rng, s)
        elif kind < 0.55:
            _string_keywords(rng, s)
        elif kind < 0.65:
            s["not"] = random_schema(rng, depth + 1, defs)
        elif kind < 0.74:
            s["oneOf"] = [random_schema(rng, depth + 1, defs) for _ in range(rng.choice([2, 2, 3]))]
        elif kind < 0.81:
            s["anyOf"] = [random_schema(rng, depth + 1, defs) for _ in range(rng.choice([1, 2, 3]))]
        elif kind < 0.86:
            s["allOf"] = [random_schema(rng, depth + 1, defs) for _ in range(rng.choice([1, 2]))]
        elif kind < 0.93:
            s["if"] = random_schema(rng, depth + 1, defs)
            if rng.random() < 0.8:
                s["then"] = random_schema(rng, depth + 1, defs)
            if rng.random() < 0.8:
                s["else"] = random_schema(rng, depth + 1, defs)
        elif kind < 0.96:
            k = rng.choice(KEYS)
            if rng.random() < 0.5:
                s["dependentRequired"] = {k: rng.sample(KEYS, rng.randrange(1, 3))}
            else:
                s["dependentSchemas"] = {k: random_schema(rng, depth + 1, defs)}
        elif defs and depth < 3:
            s["$ref"] = "#/$defs/d"
    return s


def _object_keywords(rng, s, depth):
    r = rng.random()
    if r < 0.3:
        s["required"] = rng.sample(KEYS, rng.randrange(1, 3))
    elif r < 0.55:
        s["properties"] = {
            k: random_schema(rng, depth + 1) for k in rng.sample(KEYS, rng.randrange(1, 3))
        }
    elif r < 0.68:
        s["additionalProperties"] = random_schema(rng, depth + 2)
    elif r < 0.76:
        s["patternProperties"] = {
            rng.choice(["^a", "b", "^[bc]$", "."]): random_schema(rng, depth + 2)
        }
    elif r < 0.84:
        s[rng.choice(["minProperties", "maxProperties"])] = rng.randrange(3)
    elif r < 0.92:
        s["propertyNames"] = rng.choice(
            [
                {"enum": ["a", "b"]},
                {"maxLength": 1},
                {"const": "a"},
                {"pattern": "^[ab]"},
                {"not": {"const": "c"}},
            ]
        )
    else:
        s["unevaluatedProperties"] = rng.choice([False, {"type": "integer"}])


def _array_keywords(rng, s, depth):
    r = rng.random()
    if r < 0.3:
        s["items"] = random_schema(rng, depth + 1)
    elif r < 0.48:
        s["prefixItems"] = [random_schema(rng, depth + 1) for _ in range(rng.randrange(1, 3))]
    elif r < 0.68:
        s[rng.choice(["minItems", "maxItems"])] = rng.randrange(3)
    elif r < 0.85:
        s["contains"] = random_schema(rng, depth + 1)
        if rng.random() < 0.4:
            s[rng.choice(["minContains", "maxContains"])] = rng.randrange(3)
    elif r < 0.93:
        s["uniqueItems"] = rng.random() < 0.8
    else:
        s["unevaluatedItems"] = rng.choice([False, {"type": "integer"}])


def _number_keywords(rng, s):
    kw = rng.choice(["minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"])
    s[kw] = (
        rng.choice([2, 3, 0.5, 0.25])
        if kw == "multipleOf"
        else rng.choice([-1, 0, 1, 1.5, 2, 10, 1.0])
    )


def _string_keywords(rng, s):
    kw = rng.choice(["minLength", "maxLength", "pattern", "format"])
    if kw == "pattern":
        s[kw] = rng.choice(
            [
                "^a",
                "b$",
                "^[ab]*$",
                "a|b",
                "^.$",
                "x",
                "^\\S+$",
                "^\\d",
                "^[^\\w]?$",
                "\\s",
                "^(ab)+$",
                "^a{2,3}$",
                "a(?=b)",
                "(?<!a)b$",
                "^(?:a(?!a)|b)*$",
                "(?:^|b)a(?=$|b)",
            ]
        )
    elif kw == "format":
        s[kw] = rng.choice(["date", "ipv4", "uuid", "email", "date-time", "time"])
    else:
        s[kw] = rng.randrange(3)


def _to_draft7(x):
    """The same schema in draft-07 words: prefixItems/items -> items/additionalItems,
    $defs -> definitions, dependentRequired/dependentSchemas -> dependencies."""
    if isinstance(x, list):
        return [_to_draft7(y) for y in x]
    if not isinstance(x, dict):
        return x
    out = {}
    for k, v in x.items():
        if k == "prefixItems":
            out["items"] = _to_draft7(v)
            if "items" in x:
                out["additionalItems"] = _to_draft7(x["items"])
        elif k == "items" and "prefixItems" in x:
            continue
        elif k == "$defs":
            out["definitions"] = _to_draft7(v)
        elif k in ("dependentRequired", "dependentSchemas"):
            out.setdefault("dependencies", {}).update(_to_draft7(v))
        elif k == "$ref":
            out[k] = v.replace("#/$defs/", "#/definitions/")
        elif k in ("unevaluatedProperties", "unevaluatedItems", "minContains", "maxContains"):
            continue  # not in draft-07
        elif k in ("properties", "patternProperties"):
            out[k] = {n: _to_draft7(w) for n, w in v.items()}
        elif k in ("enum", "const", "required"):
            out[k] = v
        else:
            out[k] = _to_draft7(v)
    return out


def random_document(rng: random.Random):
    s = random_schema(rng)
    if isinstance(s, dict) and (rng.random() < 0.3 or _mentions_ref(s)):
        s = dict(s)
        # sometimes recursive: the definition refers to itself
        s["$defs"] = {"d": random_schema(rng, 1, defs=rng.random() < 0.3)}
    if isinstance(s, dict) and rng.random() < 0.2:
        s = _to_draft7(s)
        s["$schema"] = "http://json-schema.org/draft-07/schema#"
    return s


TAGS = ["a", "b", 1, True, None]  # few values, so that discriminators often overlap


def _tag_schema(rng: random.Random):
    """A discriminator's subschema: a const, an enum, false, or a random schema."""
    r = rng.random()
    if r < 0.4:
        return {"const": rng.choice(TAGS)}
    if r < 0.75:
        return {"enum": rng.sample(TAGS, rng.randrange(1, 3))}
    if r < 0.85:
        return False
    return random_schema(rng, 3, defs=False)


def _tagged_branch(rng: random.Random, key: str, depth: int):
    """A oneOf/anyOf branch that may give ``key`` values, require it, restrict extra keys to
    finite values, or have its own tagged oneOf/anyOf."""
    b: dict = {}
    if rng.random() < 0.85:
        b["properties"] = {key: _tag_schema(rng)}
        if rng.random() < 0.4:
            b["properties"][rng.choice(KEYS)] = random_schema(rng, 3, defs=False)
    if rng.random() < 0.4:
        b["required"] = [key] if rng.random() < 0.8 else [rng.choice(KEYS)]
    if rng.random() < 0.2:
        b["additionalProperties"] = _tag_schema(rng)
    if rng.random() < 0.2:
        b["type"] = "object" if rng.random() < 0.8 else rng.choice(TYPES)
    if depth < 2 and rng.random() < 0.2:
        kw = rng.choice(["oneOf", "anyOf"])
        b[kw] = [_tagged_branch(rng, key, depth + 1) for _ in range(rng.choice([1, 2, 3]))]
    extra = random_schema(rng, 3, defs=False) if rng.random() < 0.15 else None
    if isinstance(extra, dict):
        b.update(extra)
    return b


def random_tagged_document(rng: random.Random):
    """A ``oneOf`` of branches told apart (or not) by one property's values, the property
    required beside the oneOf, in an allOf'd part or in the branches: what
    ``Compiler._pairwise_disjoint`` decides (its shortcut must never call overlapping
    branches disjoint)."""
    key = rng.choice(KEYS)
    s: dict = {"oneOf": [_tagged_branch(rng, key, 0) for _ in range(rng.choice([2, 2, 3, 4]))]}
    r = rng.random()
    if r < 0.5:
        s["required"] = [key]
    elif r < 0.7:
        s["allOf"] = [{"required": [key]}]
    if rng.random() < 0.7:
        s["type"] = "object"
    if rng.random() < 0.2:
        s["additionalProperties"] = _tag_schema(rng)
    return s


def _mentions_ref(x) -> bool:
    if isinstance(x, dict):
        return "$ref" in x or any(_mentions_ref(v) for v in x.values())
    if isinstance(x, list):
        return any(_mentions_ref(v) for v in x)
    return False


# --------------------------------------------------------------------------- the check


def exact_validator(schema, default=None):
    """jsonschema's validator for the schema's draft (2020-12 by default), with the format
    checker, and ``multipleOf`` in exact decimal arithmetic: jsonschema divides floats and
    so rejects e.g. 19.99 as a multiple of 0.01 (19.99 / 0.01 == 1998.9999999999998),
    where the specification and the grammar say yes."""
    from decimal import Decimal, InvalidOperation

    import jsonschema

    cls = jsonschema.validators.validator_for(
        schema, default=default or jsonschema.Draft202012Validator
    )

    def multiple_of(validator, m, instance, schema):
        if not validator.is_type(instance, "number"):
            return
        try:
            ok = Decimal(repr(instance)) % Decimal(repr(m)) == 0
        except (InvalidOperation, ValueError):
            ok = True  # inf / nan: leave it to the float-edge check
        if not ok:
            yield jsonschema.ValidationError(f"{instance!r} is not a multiple of {m}")

    exact = jsonschema.validators.extend(cls, {"multipleOf": multiple_of})
    return exact(schema, format_checker=cls.FORMAT_CHECKER)


def _float_edge(data: bytes) -> bool:
    """Whether a number in the JSON text is one that double-precision parsing changes:
    it underflows to 0, overflows, or has more than 15 significant digits. jsonschema
    sees json.loads' floats, while the grammar follows the decimal text exactly (as the
    specification does), so the two may disagree on such numbers (README, "Soundness")."""
    import re
    from decimal import Decimal

    for m in re.finditer(rb"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?", data):
        try:
            d = Decimal(m.group().decode())
            f = float(d)
            digits = d.normalize().as_tuple().digits
        except ArithmeticError:  # an exponent past Decimal's range: far past a double's
            return True
        if (f == 0) != (d == 0) or f in (float("inf"), float("-inf")) or len(digits) > 15:
            return True
    return False


@dataclass
class Report:
    counts: Counter = field(default_factory=Counter)
    failures: list = field(default_factory=list)

    echo: bool = False

    def fail(self, msg: str) -> None:
        self.counts["UNSOUND"] += 1
        if self.echo:
            print("UNSOUND:", msg[:2000], flush=True)
        if len(self.failures) < 20:
            self.failures.append(msg)


@functools.cache
def vocab():
    from decoder import Vocabulary

    return Vocabulary.from_bytes(TOKENS, eos_ids=[EOS])


def _mask(m, buf):
    import numpy as np

    m.compute_mask(buf)
    return np.flatnonzero(np.unpackbits(buf.view(np.uint8), bitorder="little")[: len(TOKENS)])


def walk_to_end(m, rng: random.Random, buf, closers: bytes, p_close: float, steps: int) -> bytes:
    """A random walk of the mask to the end of the output, asserting on the way that EOS is
    allowed exactly when the matcher accepts, that no state before the end is a dead end, and
    that every token drawn commits. With probability ``p_close`` it draws among the tokens
    holding one of ``closers`` (so that walks finish)."""
    m.reset()
    out: list[bytes] = []
    for _ in range(steps):
        allowed = _mask(m, buf)
        acc = m.is_accepting()
        assert (EOS in allowed) == acc
        cands = [int(t) for t in allowed if t != EOS]
        if acc and (not cands or rng.random() < 0.3):
            return b"".join(out)
        assert cands, f"dead end after {b''.join(out)!r}"
        closing = [t for t in cands if any(c in TOKENS[t] for c in closers)]
        t = rng.choice(closing if closing and rng.random() < p_close else cands)
        assert m.commit(t), TOKENS[t]
        out.append(TOKENS[t])
    raise AssertionError(f"no end after {steps} tokens: {b''.join(out)[:200]!r}")


def walk(m, rng: random.Random, cap: int, buf) -> bytes | None:
    """A random walk of the mask, finished greedily after ``cap`` tokens; None if the
    greedy finish made no progress (min_completion_bytes did not drop)."""
    m.reset()
    out: list[bytes] = []
    steps = 0
    while steps < cap + 200:
        allowed = _mask(m, buf)
        acc = m.is_accepting()
        assert (EOS in allowed) == acc, "EOS allowed != is_accepting()"
        if acc and (steps >= cap or rng.random() < 0.25):
            return b"".join(out)
        cands = [int(t) for t in allowed if t != EOS]
        if not cands and acc:  # only EOS
            return b"".join(out)
        assert cands, f"dead end: nothing allowed and not accepting after {b''.join(out)!r}"
        if steps < cap:
            multi = [t for t in cands if t > 255]
            t = rng.choice(multi) if multi and rng.random() < 0.3 else rng.choice(cands)
        else:
            before = m.min_completion_bytes()
            rng.shuffle(cands)
            cands.sort(key=lambda c: -len(TOKENS[c]))  # longer tokens first, else random
            t = None
            for c in cands:
                f = m.fork()
                f.commit(c)
                after = f.min_completion_bytes()
                if 0 <= after < before:
                    t = c
                    break
            if t is None:
                return None
        assert m.commit(t), f"masked-in token {TOKENS[t]!r} refused"
        out.append(TOKENS[t])
        steps += 1
    return None


def walk_and_validate(
    m, validator, rng: random.Random, caps: tuple, walks: int, where: str, report: Report, buf
) -> list:
    """``walks`` random walks of ``m``'s mask (each capped at one of ``caps`` tokens, then
    finished greedily); every output must be JSON that ``validator`` accepts (numbers that
    doubles round are counted apart, see :func:`_float_edge`). Returns the values."""
    values = []
    for _ in range(walks):
        try:
            data = walk(m, rng, rng.choice(caps), buf)
        except AssertionError as e:  # a dead end or a mask/commit disagreement
            report.fail(f"{where}: {e}")
            continue
        if data is None:
            report.counts["walk: greedy finish stuck"] += 1
            continue
        report.counts["walks"] += 1
        try:
            value = json.loads(data.decode("utf-8"))
        except ValueError as e:  # UnicodeDecodeError is one
            report.fail(f"{where}: walk output is not JSON ({e}): {data[:300]!r}")
            continue
        values.append(value)
        if not validator.is_valid(value):
            if _float_edge(data):
                report.counts["walk: a number that doubles round"] += 1
                continue
            report.fail(f"{where}: walk output {data[:300]!r} is invalid")
    return values


def accepts(m, text: bytes) -> bool:
    m.reset()
    return m.commit_bytes(text) and m.is_accepting()


def check_schema(
    schema, rng: random.Random, report: Report, walks: int = 3, instances: int = 6
) -> None:
    try:
        _check_schema(schema, rng, report, walks, instances)
    except BaseException as e:  # noqa: BLE001
        # jsonschema on a $ref cycle that consumes nothing recurses for ever: a
        # RecursionError, or a PanicException (a BaseException) from its Rust helpers
        if not (isinstance(e, RecursionError) or type(e).__name__ == "PanicException"):
            raise
        report.counts["jsonschema recursion"] += 1


def _check_schema(schema, rng, report, walks, instances) -> None:
    import jsonschema
    import numpy as np

    from decoder import Grammar, Matcher
    from decoder.errors import DecoderError

    report.counts["schemas"] += 1
    try:
        cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
        cls.check_schema(schema)
        validator = exact_validator(schema)
    except jsonschema.exceptions.SchemaError:
        report.counts["not a valid schema"] += 1
        return
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            g = Grammar.from_json_schema(schema, timeout=5)
            m = Matcher(g, vocab())
    except DecoderError as e:
        report.counts[f"refused: {type(e).__name__}"] += 1
        return
    report.counts["compiled"] += 1
    buf = np.zeros((len(TOKENS) + 31) // 32, dtype=np.int32)
    what = json.dumps(schema)
    outputs = walk_and_validate(m, validator, rng, (4, 12, 30), walks, what, report, buf)
    cands = [random_value(rng) for _ in range(instances)]
    cands += [mutate(rng, v) for v in outputs for _ in range(2)]
    for v in cands:
        for sep in ((",", ":"), (", ", ": ")):
            text = json.dumps(v, separators=sep, ensure_ascii=False).encode()
            got = accepts(m, text)
            want = validator.is_valid(v)
            report.counts["instances"] += 1
            if got and not want:
                report.fail(f"{what}: accepts the invalid {text[:200]!r}")
            elif want and not got:
                report.counts["valid instance rejected"] += 1


def run(
    n: int,
    seed: int,
    report: Report | None = None,
    *,
    progress: bool = False,
    time_limit: float | None = None,
    start: int = 0,
    generator=None,
) -> Report:
    """Schemas ``start`` .. ``n - 1`` of the seed's sequence (a long run can resume), drawn
    by ``generator`` (default :func:`random_document`)."""
    report = report or Report(echo=progress)
    rng = random.Random(seed)
    generator = generator or random_document
    t0 = time.monotonic()
    for i in range(n):
        schema = generator(rng)
        if i < start:
            continue
        check_schema(schema, random.Random(f"{seed}/{i}"), report)
        if progress and (i + 1) % 1000 == 0:
            c = report.counts
            print(
                f"{i + 1} schemas, {c['compiled']} compiled, {c['walks']} walks, "
                f"{c['instances']} instances, {c['UNSOUND']} unsound, "
                f"{time.monotonic() - t0:.0f} s",
                flush=True,
            )
        if time_limit is not None and time.monotonic() - t0 > time_limit:
            break
    return report


def check_real_world(path: str, report: Report, walks: int = 4) -> None:
    """Every schema of a jsonschemabench folder (*.jsonl): random walks validated by
    jsonschema (the schema's own draft, with the format checker), and every test
    instance teacher-forced (compact and MaskBench's separators): nothing invalid may be
    accepted."""
    import glob

    import numpy as np

    from decoder import Grammar, Matcher
    from decoder.errors import DecoderError

    buf = np.zeros((len(TOKENS) + 31) // 32, dtype=np.int32)
    for f in sorted(glob.glob(f"{path}/*.jsonl")):
        for line in open(f, encoding="utf-8"):
            rec = json.loads(line)
            schema, where = rec["schema"], f"{rec['subset']}/{rec['id']}"
            report.counts["schemas"] += 1
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("error")
                    m = Matcher(Grammar.from_json_schema(schema, timeout=10), vocab())
            except DecoderError:
                report.counts["refused"] += 1
                continue
            report.counts["compiled"] += 1
            v = exact_validator(schema)
            walk_and_validate(m, v, random.Random(where), (10, 40, 120), walks, where, report, buf)
            for t in rec.get("tests", []):
                for sep in ((",", ":"), (", ", ": ")):
                    text = json.dumps(t["data"], separators=sep, ensure_ascii=False).encode()
                    report.counts["instances"] += 1
                    if accepts(m, text) and not t["valid"]:
                        report.fail(f"{where}: accepts the invalid {text[:300]!r}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--schemas", type=int, default=10000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--start", type=int, default=0, help="resume: skip the first schemas")
    ap.add_argument(
        "--jsonschemabench",
        metavar="DIR",
        help="instead: walk every real-world schema in DIR/*.jsonl",
    )
    ap.add_argument(
        "--tagged",
        action="store_true",
        help="oneOf documents told apart by a property's values (random_tagged_document)",
    )
    a = ap.parse_args(argv)
    if a.jsonschemabench:
        rep = Report(echo=True)
        check_real_world(a.jsonschemabench, rep)
        print(json.dumps(dict(sorted(rep.counts.items())), indent=1))
        return 1 if rep.counts["UNSOUND"] else 0
    gen = random_tagged_document if a.tagged else None
    rep = run(a.schemas, a.seed, progress=True, start=a.start, generator=gen)
    print(json.dumps(dict(sorted(rep.counts.items())), indent=1))
    return 1 if rep.counts["UNSOUND"] else 0


if __name__ == "__main__":
    sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[1]))
    sys.exit(main())
