"""Property-based fuzzing (hypothesis): random regexes, JSON schemas and Lark grammars,
random token walks through the mask on a real tokenizer (GPT-2, ../shared), and the
engine's invariants checked against independent oracles:

* soundness: every token the mask allows keeps the output completable: a random walk
  under the mask, finished byte by byte along ``min_completion_bytes`` (each byte must
  shorten it by one), must reach an accepting state, and the complete output must be
  accepted by the oracle (Python ``re``
  fullmatch, ``jsonschema``, Lark's own Earley parser);
* exactness on strings: random strings over the grammar's alphabet are accepted by the
  matcher (byte by byte) exactly when the oracle accepts them (regexes, Lark grammars);
  for JSON, an accepted random value always validates;
* a token the mask forbids is refused by ``commit`` and leaves the state unchanged; the
  mask bit of sampled ids equals ``is_allowed``; EOS is allowed exactly when accepting;
* fork/rollback: a fork keeps the masks of the state it was taken at, and a rollback gives
  the masks of a fresh matcher fed the same prefix;
* no crash: anything that escapes is a ``DecoderError`` (refusals are allowed where the
  construct is documented as refused, and then checked for what they claim).

Examples are bounded (``DECODER_FUZZ_EXAMPLES``, default 25 per test) and derandomized so
CI runs the same cases; set ``DECODER_FUZZ_EXAMPLES=2000`` (and ``DECODER_FUZZ_SEED``) for a
long run by hand. scripts/fuzz.sh runs the coverage-guided targets in fuzz/.
"""

from __future__ import annotations

import json
import os
import random
import re

import numpy as np
import pytest
from conftest import shared_path

from decoder import Grammar, Matcher, Vocabulary
from decoder.errors import DecoderError, GrammarError, LimitError, SchemaError

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

EXAMPLES = int(os.environ.get("DECODER_FUZZ_EXAMPLES", "25"))
SEED = os.environ.get("DECODER_FUZZ_SEED")
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    derandomize=SEED is None,
    suppress_health_check=list(HealthCheck),
    print_blob=True,
)
MAX_WALK = 12  # random tokens before the greedy completion
MAX_COMPLETION = 80  # bytes of the shortest completion allowed (the schemas here are small)


# --------------------------------------------------------------------------- the vocabulary


class Vocab:
    def __init__(self) -> None:
        self.v = Vocabulary.from_path(shared_path("tokenizers", "gpt2"))
        self.n = int(self.v.model_vocab_size)
        self.words = (self.n + 31) // 32
        self.eos = set(self.v.eos_ids)
        self.lengths = np.array(
            [len(t) if t else 1 << 20 for t in self.v.tokens]
            + [1 << 20] * (self.words * 32 - len(self.v.tokens))
        )
        self.byte_id = {t[0]: i for i, t in enumerate(self.v.tokens) if len(t) == 1}

    def allowed(self, m) -> np.ndarray:
        out = np.zeros(self.words, dtype=np.int32)
        m.compute_mask(out)
        return np.nonzero(np.unpackbits(out.view(np.uint8), bitorder="little"))[0]


_VOCAB = None


@pytest.fixture(scope="module")
def V() -> Vocab:
    global _VOCAB
    if _VOCAB is None:
        _VOCAB = Vocab()
    return _VOCAB


# --------------------------------------------------------------------------- the invariants


def walk_and_complete(V: Vocab, m, rng: random.Random, log: list | None = None) -> bytes:
    """A random walk under the mask, then the shortest allowed token until accepting;
    checks the step invariants on the way and returns the complete output (the committed
    ids are appended to ``log``)."""
    out = b""
    log = [] if log is None else log
    for step in range(MAX_WALK + MAX_COMPLETION):
        ids = V.allowed(m)
        accepting = m.is_accepting()
        assert (
            bool(V.eos & set(ids.tolist())) == accepting
        ), f"EOS allowed != accepting after {out!r}"
        non_eos = [int(i) for i in ids if int(i) not in V.eos]
        if accepting and (step >= MAX_WALK or not non_eos or rng.random() < 0.2):
            return out
        assert non_eos, f"dead end: nothing allowed and not accepting after {out!r}"
        # a forbidden token is refused and changes nothing
        t_bad = rng.randrange(V.n)
        if not np.isin(t_bad, ids):
            steps = m.num_steps
            assert not m.is_allowed(t_bad) and not m.commit(
                t_bad
            ), f"forbidden {t_bad} committed after {out!r}"
            assert m.num_steps == steps
        if step < MAX_WALK:
            t = rng.choice(non_eos)
        else:  # complete: a byte on a shortest completion (min_completion_bytes drops by one)
            t = shortest_path_byte(V, m, non_eos, out)
        assert m.is_allowed(t)
        assert m.commit(t), f"allowed token {t} ({V.v.tokens[t]!r}) refused after {out!r}"
        out += V.v.tokens[t]
        log.append(t)
    raise AssertionError(f"no accepting state within {MAX_COMPLETION} bytes of completion: {out!r}")


def shortest_path_byte(V: Vocab, m, allowed: list, out: bytes) -> int:
    need = m.min_completion_bytes()
    assert need > 0, f"not accepting, yet min_completion_bytes() = {need} after {out!r}"
    allowed_set = set(allowed)
    for b in sorted(V.byte_id):
        t = V.byte_id[b]
        if t in allowed_set:
            f = m.fork()
            assert f.commit(t)
            if f.min_completion_bytes() == need - 1:
                return t
    raise AssertionError(f"no allowed byte shortens the completion ({need} bytes) after {out!r}")


def check_fork_rollback(V: Vocab, g, m, ids: list, rng: random.Random) -> None:
    """After the walk ``ids``: rollback(k) gives the masks of a fresh matcher fed the first
    len(ids) - k ids, a fork taken before the rollback keeps the masks it had, and
    committing the same ids again gives the masks before the rollback."""
    n = m.num_steps
    assert n == len(ids)
    if n == 0:
        return
    before = V.allowed(m)
    f = m.fork()
    k = rng.randint(1, n)
    m.rollback(k)
    assert np.array_equal(V.allowed(f), before), "the fork changed with the rollback"
    fresh = Matcher(g, V.v)
    for t in ids[: n - k]:
        assert fresh.commit(t)
    assert np.array_equal(V.allowed(m), V.allowed(fresh)), f"rollback({k}) != a fresh matcher"
    for t in ids[n - k :]:
        assert m.commit(t)
    assert np.array_equal(V.allowed(m), before), "re-committing after the rollback differs"


def accepts_bytes(m, data: bytes) -> bool:
    m.reset()
    for b in data:
        if not m.commit_bytes(bytes([b])):
            return False
    return m.is_accepting()


# --------------------------------------------------------------------------- regexes

ALPHA = "abc"


def regex_asts():
    leaf = st.one_of(st.sampled_from(list(ALPHA)), st.sampled_from(["[ab]", "[^a]", "[b-c]", "."]))

    def extend(inner):
        return st.one_of(
            st.lists(inner, min_size=2, max_size=3).map(lambda xs: "".join(f"(?:{x})" for x in xs)),
            st.lists(inner, min_size=2, max_size=3).map(lambda xs: "(?:" + "|".join(xs) + ")"),
            st.tuples(inner, st.sampled_from(["*", "+", "?", "{2}", "{0,2}", "{1,3}", "{2,}"])).map(
                lambda t: f"(?:{t[0]}){t[1]}"
            ),
        )

    return st.recursive(leaf, extend, max_leaves=6)


@FUZZ
@given(
    pattern=regex_asts(),
    rnd=st.randoms(use_true_random=False),
    strings=st.lists(st.text(alphabet=ALPHA + "d", max_size=7), max_size=12),
)
def test_random_regexes(V, pattern, rnd, strings):
    rx = re.compile(pattern)
    g = Grammar.from_regex(pattern)  # every pattern is a valid constraint, "" included
    m = Matcher(g, V.v)
    assert m.is_accepting() == (rx.fullmatch("") is not None), pattern
    ids: list = []
    out = walk_and_complete(V, m, rnd, ids)
    assert rx.fullmatch(out.decode("utf-8")), f"{pattern!r} accepted {out!r}"
    check_fork_rollback(V, g, m, ids, rnd)
    for s in strings:
        assert accepts_bytes(m, s.encode()) == bool(rx.fullmatch(s)), f"{pattern!r} on {s!r}"


# --------------------------------------------------------------------------- JSON schemas


def schemas():
    scalar = st.one_of(
        st.just({"type": "null"}),
        st.just({"type": "boolean"}),
        st.builds(
            lambda lo, span: {"type": "integer", "minimum": lo, "maximum": lo + span},
            st.integers(-50, 50),
            st.integers(0, 200),
        ),
        st.builds(lambda lo: {"type": "integer", "minimum": lo}, st.integers(-5, 5)),
        st.builds(
            lambda lo, span: {"type": "string", "minLength": lo, "maxLength": lo + span},
            st.integers(0, 3),
            st.integers(0, 4),
        ),
        st.builds(
            lambda p: {"type": "string", "pattern": p},
            st.sampled_from(["^[a-c]+$", "^x?y{1,2}$", "^\\d{2}$"]),
        ),
        st.lists(
            st.one_of(
                st.integers(-3, 3), st.sampled_from(["a", "b", "é"]), st.booleans(), st.none()
            ),
            min_size=1,
            max_size=4,
            unique_by=lambda x: json.dumps(x),
        ).map(lambda xs: {"enum": xs}),
        st.builds(lambda c: {"const": c}, st.sampled_from([1, "k", None, [1, 2], {"a": 1}])),
        st.just({"type": "number", "minimum": 0, "maximum": 1}),
    )

    def extend(inner):
        return st.one_of(
            st.builds(
                lambda props, req, extra: {
                    "type": "object",
                    "properties": props,
                    "required": [k for k in props if k in req],
                    "additionalProperties": extra,
                },
                st.dictionaries(st.sampled_from(["a", "b", "c", "d"]), inner, max_size=3),
                st.sets(st.sampled_from(["a", "b", "c"])),
                st.booleans(),
            ),
            st.builds(
                lambda items, lo, span: {
                    "type": "array",
                    "items": items,
                    "minItems": lo,
                    "maxItems": lo + span,
                },
                inner,
                st.integers(0, 2),
                st.integers(0, 3),
            ),
            st.lists(inner, min_size=2, max_size=3).map(lambda xs: {"anyOf": xs}),
        )

    return st.recursive(scalar, extend, max_leaves=5)


json_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-300, 300),
        st.sampled_from(["a", "b", "ab", "é", "12", "y"]),
        st.sampled_from([0.5, 1.0, -2.25]),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.sampled_from(["a", "b", "c", "d"]), inner, max_size=3),
    ),
    max_leaves=6,
)


@FUZZ
@given(
    schema=schemas(),
    rnd=st.randoms(use_true_random=False),
    values=st.lists(json_values, max_size=8),
    whitespace=st.sampled_from(["compact", "flexible"]),
)
def test_random_json_schemas(V, schema, rnd, values, whitespace):
    jsonschema = pytest.importorskip("jsonschema")
    validator = jsonschema.Draft202012Validator(schema)
    try:
        g = Grammar.from_json_schema(schema, whitespace=whitespace)
        m = Matcher(g, V.v)
    except (SchemaError, LimitError):
        return  # a documented refusal (e.g. overlapping anyOf branches are fine, oneOf is not used)
    except GrammarError as e:
        # only for a schema no value satisfies: none of the random values may validate
        assert "empty" in str(e), str(e)
        assert not any(validator.is_valid(v) for v in values)
        return
    ids: list = []
    out = walk_and_complete(V, m, rnd, ids)
    value = json.loads(out.decode("utf-8"))
    assert validator.is_valid(value), f"{schema} accepted {out!r}"
    check_fork_rollback(V, g, m, ids, rnd)
    for v in values:
        text = json.dumps(v, separators=(",", ":"), ensure_ascii=False).encode()
        if accepts_bytes(m, text):
            assert validator.is_valid(v), f"{schema} accepted the invalid {text!r}"


# --------------------------------------------------------------------------- Lark grammars


def lark_grammars():
    """start and up to two more rules over one-character literals (so Lark's dynamic lexer
    and the engine's longest-match lexer agree on every text)."""
    sym = st.one_of(st.sampled_from(['"a"', '"b"', '"c"']), st.sampled_from(["r1", "r2"]))
    item = st.tuples(sym, st.sampled_from(["", "", "?", "*", "+"])).map(lambda t: t[0] + t[1])
    alt = st.lists(item, min_size=1, max_size=3).map(" ".join)
    rule = st.lists(alt, min_size=1, max_size=3).map(" | ".join)
    return st.tuples(rule, rule, rule).map(lambda r: f"start: {r[0]}\nr1: {r[1]}\nr2: {r[2]}\n")


@FUZZ
@given(
    text=lark_grammars(),
    rnd=st.randoms(use_true_random=False),
    strings=st.lists(st.text(alphabet="abcd", max_size=6), max_size=10),
)
def test_random_lark_grammars(V, text, rnd, strings):
    lark = pytest.importorskip("lark")
    oracle = lark.Lark(text, parser="earley", lexer="dynamic")

    def lark_accepts(s: str) -> bool:
        try:
            oracle.parse(s)
            return True
        except lark.exceptions.LarkError:
            return False

    try:
        g = Grammar.from_lark(text)
        m = Matcher(g, V.v)
    except GrammarError as e:
        assert "empty" in str(e), f"{text!r}: {e}"
        assert not any(lark_accepts(s) for s in strings), f"{text!r} called empty: {e}"
        return
    ids: list = []
    out = walk_and_complete(V, m, rnd, ids)
    assert lark_accepts(out.decode("utf-8")), f"{text!r} accepted {out!r}"
    check_fork_rollback(V, g, m, ids, rnd)
    for s in strings:
        assert accepts_bytes(m, s.encode()) == lark_accepts(s), f"{text!r} on {s!r}"


# --------------------------------------------------------------------------- no crash


@FUZZ
@given(
    pattern=st.text(
        alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"])
        | st.sampled_from(list("()[]{}|*+?\\^$.-,0123456789abdswDSWpPuxU:<>=!#")),
        max_size=14,
    )
)
def test_arbitrary_regex_text_never_crashes(V, pattern):
    """Any text as a regex: a compiled matcher or a DecoderError, nothing else."""
    try:
        m = Matcher(Grammar.from_regex(pattern), V.v)
    except DecoderError:
        return
    V.allowed(m)
