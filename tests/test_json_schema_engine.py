"""The JSON Schema compiler through the real C++ engine and a real tokenizer (Llama-3).

tests/test_json_schema_compile.py checks the compiler's grammars with a pure-Python
recogniser; here the same grammars go through ``Matcher`` token by token:

1. the official JSON Schema Test Suite (draft2020-12 and draft7, top-level keyword files,
   the files and the reasoned ``SUITE_SKIPS`` of test_json_schema_compile): every instance,
   serialised compactly and tokenized with Llama-3, is teacher-forced through the mask
   (each token's bit must be set before it is committed; EOS must be allowed at the end).
   An invalid instance accepted is always a failure; a valid one rejected is a failure
   unless its group is skip-listed, and the engine must agree with the recogniser on every
   instance (so the valid instances rejected are exactly those of the skip list);
2. seeded random walks under the mask for the first schemas of each ../shared/jsonschemabench
   subset: every output parses as JSON and ``jsonschema`` validates it (the schema's own
   draft, Draft 2020-12 by default, with the format checker); walks that reach their length
   cap are finished greedily by ``min_completion_bytes``, which must always succeed;
3. the jsonschemabench test instances of the first schemas of each subset (compact and
   MaskBench's default separators): 0 invalid accepted; a valid one rejected only for a
   schema listed in ``BENCH_REJECT_REASONS``.

Everything skips cleanly when ../shared (data, tokenizer) is absent. Sample sizes:
``DECODER_ENGINE_SAMPLE=n`` takes the first n schemas per subset in parts 2 and 3
(0 = every schema; default: 3 for the walks, 4 for the instances).
"""

from __future__ import annotations

import glob
import json
import os
import random
import re
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from conftest import SHARED, load_tokenizer, shared_path
from json_schema_util import accepts as recogniser_accepts
from json_schema_util import verdict
from test_json_schema_compile import (
    FORMAT_ASSERTED,
    PROPERTY_ORDER,
    SUITE,
    SUITE_SKIPS,
    _suite_files,
)

from decoder import Grammar, Matcher, Vocabulary
from decoder.errors import GrammarError, LimitError, SchemaError, UnsatisfiableSchemaError

BENCH = SHARED / "jsonschemabench"
FAMILY = "llama3"
DRAFT7 = "http://json-schema.org/draft-07/schema#"


# --------------------------------------------------------------------------- shared state


class Engine:
    """The Llama-3 vocabulary, its tokenizer and per-token classes (built once per module)."""

    def __init__(self) -> None:
        self.vocab = Vocabulary.from_path(shared_path("tokenizers", FAMILY))
        self.tok = load_tokenizer(FAMILY)
        self.words = (int(self.vocab.model_vocab_size) + 31) // 32
        self.nbits = self.words * 32
        self.eos = np.array(sorted(set(self.vocab.eos_ids)), dtype=np.int64)
        self.buf = np.zeros(self.words, dtype=np.int32)
        n = self.nbits
        self.single = np.zeros(n, dtype=bool)  # one byte
        self.short = np.zeros(n, dtype=bool)  # 1..3 bytes, not only whitespace
        self.struct = np.zeros(n, dtype=bool)  # one byte of JSON structure or a literal's start
        self.space = np.zeros(n, dtype=bool)  # only whitespace
        special = set(self.vocab.special_ids)
        for i, t in enumerate(self.vocab.tokens):
            if i in special or not t:
                continue
            ws = not t.strip(b" \t\r\n")
            self.space[i] = ws
            self.single[i] = len(t) == 1
            self.short[i] = len(t) <= 3 and not ws
            self.struct[i] = len(t) == 1 and t in b'"{}[],:-0123456789tfn'

    def ids(self, text: str) -> list[int]:
        ids = self.tok.encode(text, add_special_tokens=False)
        assert self.vocab.decode(ids) == text.encode(
            "utf-8"
        ), f"tokenization is not exact: {text!r}"
        return ids

    def bit(self, t: int) -> bool:
        return bool((int(self.buf[t >> 5]) >> (t & 31)) & 1)

    def mask(self, m: Matcher) -> np.ndarray:
        m.compute_mask(self.buf)
        return np.unpackbits(self.buf.view(np.uint8), bitorder="little").astype(bool)

    def teacher_force(self, m: Matcher, ids: list[int]) -> bool:
        """True when every token is allowed by the mask in turn and EOS is allowed at the end."""
        m.reset()
        for t in ids:
            m.compute_mask(self.buf)
            if not self.bit(t):
                return False
            assert m.commit(
                t
            ), f"token {t} {self.vocab.tokens[t]!r} is in the mask but commit refused it"
        m.compute_mask(self.buf)
        eos = all(self.bit(int(e)) for e in self.eos)
        assert eos == m.is_accepting(), "EOS bits disagree with is_accepting()"
        return eos


_ENGINE: list = []


@pytest.fixture(scope="module")
def engine() -> Engine:
    if not _ENGINE:
        _ENGINE.append(Engine())
    return _ENGINE[0]


def compile_strict(schema):
    """Grammar.from_json_schema with every warning an error (no approximation by default)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return Grammar.from_json_schema(schema)


def compact(x) -> str:
    return json.dumps(x, separators=(",", ":"), ensure_ascii=False)


def empty_language(e: Exception) -> bool:
    return isinstance(e, GrammarError) and "language is empty" in str(e)


# --------------------------------------------------------------------------- 1. test suite

_SUITE_TOTALS: Counter = Counter()


@pytest.mark.skipif(not SUITE.exists(), reason="../shared/json-schema-test-suite is absent")
@pytest.mark.parametrize("draft,name", _suite_files())
def test_suite_through_engine(engine, draft, name):
    groups = json.loads((SUITE / draft / name).read_text())
    failures, stale = [], []
    for gi, group in enumerate(groups):
        where = f"{draft}/{name} group {gi} {group['description']!r}"
        schema = group["schema"]
        if draft == "draft7" and isinstance(schema, dict) and "$schema" not in schema:
            schema = dict(schema, **{"$schema": DRAFT7})
        try:
            g = compile_strict(schema)
        except UnsatisfiableSchemaError as e:
            # a schema that no value satisfies (false, allOf of disjoint types, ...) is
            # refused by the front end, which is right when every instance is invalid
            bad = [t["description"] for t in group["tests"] if t["valid"]]
            assert not bad, f"{where}: refused as unsatisfiable ({e}), but {bad} are valid"
            _SUITE_TOTALS["groups no value satisfies"] += 1
            _SUITE_TOTALS["ok"] += len(group["tests"])
            continue
        except SchemaError as e:
            assert e.keyword and e.keyword in str(e), f"{where}: refusal names no keyword: {e}"
            _SUITE_TOTALS["groups refused (SchemaError)"] += 1
            _SUITE_TOTALS[f"refused: {e.keyword}"] += 1
            continue
        try:
            m = Matcher(g, engine.vocab)
        except GrammarError as e:
            # a schema that no value satisfies (false, allOf of disjoint types, ...): the
            # engine refuses an empty language, which is right when every instance is invalid
            assert empty_language(e), f"{where}: {e}"
            bad = [t["description"] for t in group["tests"] if t["valid"]]
            assert not bad, f"{where}: empty language, but the suite has valid instances {bad}"
            _SUITE_TOTALS["groups with an empty language"] += 1
            _SUITE_TOTALS["ok"] += len(group["tests"])
            continue
        _SUITE_TOTALS["groups compiled"] += 1
        skip = SUITE_SKIPS.get((draft, name, gi))
        rejected_valid = 0
        for t in group["tests"]:
            text = compact(t["data"])
            got = engine.teacher_force(m, engine.ids(text))
            what = f"{where} / {t['description']!r}: {text}"
            if got != recogniser_accepts(g.ir, text):
                failures.append(f"engine ({got}) and recogniser disagree: {what}")
            rejected_valid += verdict(got, t["valid"], what, _SUITE_TOTALS, failures, excused=skip)
        if skip and skip != FORMAT_ASSERTED and not rejected_valid:
            stale.append(f"{where}: skip-listed ({skip}) but no valid instance is rejected")
    assert not failures, "\n".join(failures)
    assert not stale, "stale SUITE_SKIPS entries:\n" + "\n".join(stale)


# --------------------------------------------------------------------------- jsonschemabench


def _subsets() -> list[str]:
    return sorted(Path(f).stem for f in glob.glob(str(BENCH / "*.jsonl")))


def _sample(default: int) -> int | None:
    n = int(os.environ.get("DECODER_ENGINE_SAMPLE", default))
    return n or None


def bench_schemas(engine: Engine, subset: str, n: int | None, need_tests: bool):
    """The first n records of a subset whose schema compiles (strictly) and whose grammar the
    engine accepts, with their matchers; the others are counted by why they were left out."""
    out, left_out = [], Counter()
    with open(shared_path("jsonschemabench", f"{subset}.jsonl")) as f:
        for line in f:
            if n is not None and len(out) >= n:
                break
            rec = json.loads(line)
            if need_tests and not rec.get("tests"):
                continue
            try:
                g = compile_strict(rec["schema"])
            except UnsatisfiableSchemaError:
                left_out["no value satisfies it"] += 1
                if need_tests:  # nothing may be valid then
                    assert not any(
                        t["valid"] for t in rec["tests"]
                    ), f"{subset}/{rec['id']}: unsatisfiable, but a test instance is valid"
                continue
            except SchemaError as e:
                assert e.keyword, f"{subset}/{rec['id']}: refusal names no keyword: {e}"
                left_out[f"SchemaError {e.keyword}"] += 1
                continue
            try:
                m = Matcher(g, engine.vocab)
            except (GrammarError, LimitError) as e:
                left_out["empty language" if empty_language(e) else type(e).__name__] += 1
                if empty_language(e) and need_tests:  # nothing may be valid then
                    assert not any(
                        t["valid"] for t in rec["tests"]
                    ), f"{subset}/{rec['id']}: empty language, but a test instance is valid"
                continue
            out.append((rec, m))
    return out, left_out


_RJP = re.compile(r"(0|[1-9][0-9]*)(#|(/([^/~]|~[01])*)*)")


def _relative_json_pointer(x) -> bool:
    """The spec's grammar. jsonschema 4.x refuses any digit after a 0 anywhere in the prefix
    ("100", valid in the suite's optional/format/relative-json-pointer.json, is refused)."""
    return not isinstance(x, str) or _RJP.fullmatch(x) is not None


def validator_for(schema):
    jsonschema = pytest.importorskip("jsonschema")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # unknown $schema URIs fall back to the default
        cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    fc = jsonschema.FormatChecker(formats=())
    fc.checkers = dict(cls.FORMAT_CHECKER.checkers)
    if "relative-json-pointer" in fc.checkers:
        fc.checkers["relative-json-pointer"] = (_relative_json_pointer, ())
    return cls(schema, format_checker=fc)


def test_relative_json_pointer_checker():
    ok = ["1", "0/foo/bar", "2/0/baz/1/zip", "0#", "120/foo/bar", "100", "0//", "170756753"]
    bad = [
        "/foo/bar",
        "-1/foo/bar",
        "+1/foo/bar",
        "\u0661/foo",
        "0##",
        "01/a",
        "01#",
        "",
        "0/~2",
        "0/foo/bar~",
        "1#/foo/bar",
        "1\n",
    ]
    assert all(_relative_json_pointer(x) for x in ok)
    assert not any(_relative_json_pointer(x) for x in bad)


# --------------------------------------------------------------------------- 2. random walks

_WALK_TOTALS: Counter = Counter()
WALKS_PER_SCHEMA = 8


def greedy_token(
    engine: Engine, m: Matcher, allowed: np.ndarray, rng: random.Random
) -> tuple[int, int]:
    """An allowed token after which min_completion_bytes is least: a sample of the longer
    tokens, then single-byte tokens (structural ones first) until one takes a byte off,
    each committed and rolled back."""
    before = m.min_completion_bytes()
    singles = allowed[engine.single[allowed]]
    others = allowed[~engine.single[allowed]]
    longs = [int(others[i]) for i in rng.sample(range(len(others)), min(16, len(others)))]
    firsts = [int(t) for t in singles if engine.struct[t]]
    rests = [int(t) for t in singles if not engine.struct[t]]
    rng.shuffle(firsts)
    rng.shuffle(rests)
    best_k, best = None, []
    for i, t in enumerate(longs + firsts + rests):
        if i >= len(longs) and best_k is not None and best_k < before - 1:
            break  # a longer token already does better than any single byte can
        assert m.commit(t), f"allowed token {t} was refused"
        k = m.min_completion_bytes()
        m.rollback(1)
        assert k >= 0, f"allowed token {t} {engine.vocab.tokens[t]!r} leads to a dead state"
        if best_k is None or k < best_k:
            best_k, best = k, [t]
        elif k == best_k:
            best.append(t)
        if i >= len(longs) and best_k <= before - 1:
            break
    return rng.choice(best), best_k


def random_walk(engine: Engine, m: Matcher, rng: random.Random, cap: int) -> tuple[bytes, bool]:
    """Samples allowed tokens (biased toward short, structural, non-whitespace tokens, and
    EOS with probability 0.3 where allowed) for up to ``cap`` tokens, then finishes greedily:
    each token must lower min_completion_bytes, and EOS is taken as soon as it is allowed.
    Returns the output and whether the cap was reached."""
    m.reset()
    ids: list[int] = []
    while True:
        finishing = len(ids) >= cap
        bits = engine.mask(m)
        acc = m.is_accepting()
        assert (bits[engine.eos] == acc).all(), "EOS bits disagree with is_accepting()"
        bits[engine.eos] = False
        allowed = np.flatnonzero(bits)
        if acc and (finishing or not len(allowed) or rng.random() < 0.3):
            assert m.min_completion_bytes() == 0
            assert m.commit(int(engine.eos[0])) and m.is_terminated()
            return engine.vocab.decode(ids), finishing
        assert len(allowed), f"not accepting and nothing allowed after {engine.vocab.decode(ids)!r}"
        if finishing:
            before = m.min_completion_bytes()
            t, after = greedy_token(engine, m, allowed, rng)
            assert after < before, (
                f"greedy finishing is stuck: min_completion_bytes {before}, the "
                f"best next token leaves {after}, after {engine.vocab.decode(ids)!r}"
            )
        else:
            r = rng.random()
            sel = engine.short if r < 0.35 else engine.struct if r < 0.7 else ~engine.space
            if rng.random() < 0.03:
                sel = engine.space
            pool = allowed[sel[allowed]]
            if not len(pool):
                pool = allowed
            t = int(pool[rng.randrange(len(pool))])
        assert m.commit(t), f"masked-in token {t} {engine.vocab.tokens[t]!r} was refused"
        ids.append(t)


def _count_duplicate_keys(pairs):
    """json.loads' object hook: keeps the last value of a key (as json.loads does) and
    counts the objects where a key repeats (JSON leaves them undefined; see
    test_min_properties_counts_distinct_keys)."""
    if len({k for k, _ in pairs}) < len(pairs):
        _WALK_TOTALS["objects with a repeated key"] += 1
    return dict(pairs)


@pytest.mark.skipif(not BENCH.exists(), reason="../shared/jsonschemabench is absent")
@pytest.mark.parametrize("subset", _subsets())
def test_random_walks_validate(engine, subset):
    chosen, left_out = bench_schemas(engine, subset, _sample(3), need_tests=False)
    _WALK_TOTALS["schemas"] += len(chosen)
    failures = []
    for rec, m in chosen:
        v = validator_for(rec["schema"])
        rng = random.Random(f"{subset}/{rec['id']}")
        for w in range(WALKS_PER_SCHEMA):
            data, capped = random_walk(engine, m, rng, cap=rng.choice([8, 32, 96]))
            _WALK_TOTALS["walks"] += 1
            _WALK_TOTALS["finished greedily at the cap"] += capped
            _WALK_TOTALS["bytes"] += len(data)
            where = f"{subset}/{rec['id']} walk {w}: {data[:400]!r}"
            try:
                text = data.decode("utf-8")
                value = json.loads(text, object_pairs_hook=_count_duplicate_keys)
            except (UnicodeDecodeError, ValueError) as e:
                failures.append(f"not JSON ({e}): {where}")
                continue
            errs = sorted(v.iter_errors(value), key=lambda e: list(e.path))
            if errs:
                failures.append(
                    f"jsonschema rejects it ({errs[0].message[:200]} at "
                    f"{list(errs[0].absolute_path)}): {where}"
                )
    assert chosen, f"no schema of {subset} compiles ({dict(left_out)})"
    assert not failures, "\n".join(failures)


# --------------------------------------------------------------------------- 3. bench instances

# Schemas of the sample whose valid instances the engine rejects, each with the reason
# (checked by hand: the instance is accepted with its keys in the schema's order).
BENCH_REJECT_REASONS = {
    ("Github_medium", "o10078"): PROPERTY_ORDER,  # "source": {"pattern", "options"}
    ("Github_ultra", "o2312"): PROPERTY_ORDER,  # "mainClass" after "type" (allOf/anyOf merge)
    ("Handwritten", "dep7"): PROPERTY_ORDER,  # {"a", "b"}: "b" comes first (dependencies)
    ("Handwritten", "dep8"): PROPERTY_ORDER,
    # compiles since the regex algebra (patternProperties beside additionalProperties);
    # inside website_section the instance writes "type" before "referent"
    ("WashingtonPost", "wp_100_Normalized"): PROPERTY_ORDER,
    # compiles since uniqueItems (an enum of modules): Authentication writes "Type" before
    # "Cookie" (the oneOf branch's order); accepted with Type last
    ("JsonSchemaStore", "aiproj-1.1"): PROPERTY_ORDER,
    # compiles since several contains (negated items): vega-lite's ExtendedUnitSpec declares
    # "data" before "mark"; accepted with data first
    ("Github_ultra", "o19343"): PROPERTY_ORDER,
}

_BENCH_TOTALS: Counter = Counter()


@pytest.mark.skipif(not BENCH.exists(), reason="../shared/jsonschemabench is absent")
@pytest.mark.parametrize("subset", _subsets())
def test_bench_instances(engine, subset):
    chosen, left_out = bench_schemas(engine, subset, _sample(4), need_tests=True)
    _BENCH_TOTALS["schemas"] += len(chosen)
    for k, v in left_out.items():
        _BENCH_TOTALS[f"left out: {k}"] += v
    failures = []
    for rec, m in chosen:
        reason = BENCH_REJECT_REASONS.get((subset, rec["id"]))
        rejected_valid = 0
        for t in rec["tests"]:
            for sep in ((",", ":"), (", ", ": ")):
                text = json.dumps(t["data"], separators=sep, ensure_ascii=False)
                got = engine.teacher_force(m, engine.ids(text))
                what = f"{subset}/{rec['id']} {t.get('description', '')!r}: {text[:400]}"
                _BENCH_TOTALS["instances"] += 1
                rejected_valid += verdict(
                    got, t["valid"], what, _BENCH_TOTALS, failures, excused=reason
                )
        if reason and not rejected_valid:
            failures.append(
                f"{subset}/{rec['id']}: a reason is recorded ({reason}) but no "
                f"valid instance is rejected"
            )
    assert chosen, f"no schema of {subset} with tests compiles ({dict(left_out)})"
    assert not failures, "\n".join(failures)


def test_min_properties_never_counts_repeatable_keys(engine):
    """Extra keys may repeat ('{"a":1,"a":2}' is one property for json.loads), so they never
    count toward minProperties: such a schema is refused (SchemaError naming minProperties)
    or the duplicate-key object is rejected."""
    from decoder.errors import SchemaError

    for schema in (
        {"type": "object", "minProperties": 2},
        {"type": "object", "not": {"maxProperties": 1}},
        {"type": "object", "properties": {"a": {}, "b": {}}, "minProperties": 2},
    ):
        try:
            g = compile_strict(schema)
        except SchemaError as e:
            assert e.keyword in ("minProperties", "maxProperties", "not"), e
            continue
        m = Matcher(g, engine.vocab)
        assert not engine.teacher_force(m, engine.ids('{"a":1,"a":2}')), schema
        assert not engine.teacher_force(m, engine.ids('{"x":1,"x":2}')), schema
        assert engine.teacher_force(m, engine.ids('{"a":1,"b":2}')), schema


def test_totals():
    """The totals of the tests above that ran before this one: nothing invalid was ever
    accepted, and excused rejections of valid instances stay rare."""
    ran = [
        (title, c)
        for title, c in (
            ("JSON Schema Test Suite through the engine", _SUITE_TOTALS),
            ("jsonschemabench instances", _BENCH_TOTALS),
        )
        if c
    ]
    if not ran and not _WALK_TOTALS:
        pytest.skip("none of the tests above ran before this one")
    for title, c in ran:
        assert c["INVALID ACCEPTED"] == 0, f"{title}: {dict(c)}"
        assert c["ok"] > 0 and c["ok"] >= 20 * c["valid rejected (excused)"], f"{title}: {dict(c)}"
