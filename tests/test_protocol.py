"""The constraint/matcher contract (decoder.protocol), the one entry from user input to a
constraint (decoder.constraints.as_constraint), and one error class per meaning."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import shared_path

import decoder
from decoder import Grammar
from decoder.constraints import (
    AllOf,
    AllOfMatcher,
    Anagram,
    BanWords,
    Constraint,
    GrammarConstraint,
    Isogram,
    JSONSchema,
    MaxChars,
    MaxTokens,
    NoLetters,
    Palindrome,
    PyMatcher,
    Words,
    as_constraint,
)
from decoder.errors import ConstraintError, DecoderError, MatcherError
from decoder.protocol import (
    Capability,
    ConstraintProtocol,
    MatcherProtocol,
    capabilities,
    declare_capabilities,
)

SCHEMA = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}


@pytest.fixture(scope="module")
def vocab():
    transformers = pytest.importorskip("transformers")
    tok = transformers.AutoTokenizer.from_pretrained(str(shared_path("models", "stories260k")))
    return decoder.Vocabulary.from_tokenizer(tok)


# every kind of matcher the package makes: the engine's, each Python matcher, a composition
KINDS = {
    "engine regex": lambda: Grammar.from_regex(r"[a-z]{1,8}"),
    "engine json": lambda: JSONSchema(SCHEMA),
    "lexical": lambda: NoLetters("e"),
    "token budget": lambda: MaxTokens(8),
    "words": lambda: Words(max=4, end="any"),
    "chars": lambda: MaxChars(12),
    "isogram": lambda: Isogram(),
    "palindrome": lambda: Palindrome(),
    "anagram": lambda: Anagram("dog"),
    "word list": lambda: BanWords(["cat"]),
    "composition": lambda: Grammar.from_regex(r"[a-z ]{1,12}") & NoLetters("x") & MaxTokens(10),
}


def _first_allowed(m, vocab) -> int:
    row = np.zeros((vocab.model_vocab_size + 31) // 32, dtype=np.int32)
    m.compute_mask(row)
    bits = np.unpackbits(row.view(np.uint8), bitorder="little")[: vocab.model_vocab_size]
    ids = [i for i in np.flatnonzero(bits).tolist() if i not in vocab.eos_ids]
    assert ids, "the mask allows no text token at the start"
    return ids[0]


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_matcher_kind_satisfies_the_protocol(vocab, kind):
    c = as_constraint(KINDS[kind]())
    assert isinstance(c, Constraint) and isinstance(c, ConstraintProtocol)
    m = c.matcher(vocab)
    assert isinstance(m, MatcherProtocol), type(m)
    # declared capabilities come with their methods
    caps = capabilities(m)
    for cap, methods in (
        (Capability.FORCED_BYTES, ["forced_bytes"]),
        (Capability.COMMIT_BYTES, ["commit_bytes"]),
        (Capability.WITNESS, ["witness_token", "refine_scores"]),
    ):
        if cap in caps:
            assert all(callable(getattr(m, name, None)) for name in methods), (kind, cap)
    # commit / fork / rollback / reset
    t = _first_allowed(m, vocab)
    f = m.fork()
    assert m.commit(t)
    assert m.min_completion_bytes() >= -1 and isinstance(m.is_accepting(), bool)
    assert not f.is_terminated() and f.commit(t)  # the fork is independent and at the start
    m.rollback(1)
    with pytest.raises(MatcherError, match="roll back"):
        m.rollback(1)  # past the start: one class for every matcher kind
    m.reset()
    assert not m.is_terminated()


def test_capabilities_are_declared_not_probed(vocab):
    assert (
        capabilities(decoder.Matcher(Grammar.from_regex("a"), vocab))
        == Capability.FORCED_BYTES | Capability.COMMIT_BYTES
    )
    assert Capability.WITNESS in capabilities(
        (Grammar.from_regex("a|b") & NoLetters("b")).matcher(vocab)
    )
    assert capabilities(NoLetters("e").matcher(vocab)) == Capability.COMMIT_BYTES
    assert issubclass(AllOfMatcher, object) and PyMatcher.capabilities == Capability.COMMIT_BYTES

    class Probe:  # has the method, does not declare it: not used
        def forced_bytes(self, n=256):
            return b"x"

    assert capabilities(Probe()) == Capability.NONE
    declare_capabilities(Probe, Capability.FORCED_BYTES)
    assert capabilities(Probe()) == Capability.FORCED_BYTES


# ------------------------------------------------------------------ as_constraint


class _Custom:
    """A third-party constraint: only .matcher(vocab)."""

    def matcher(self, vocab):
        return decoder.Matcher(Grammar.from_regex("[0-9]+"), vocab)


class _ToGrammar:
    def to_grammar(self):
        return Grammar.from_regex("yes|no")


def _pydantic_model():
    pydantic = pytest.importorskip("pydantic")

    class Point(pydantic.BaseModel):
        x: int
        y: int

    return Point


INPUTS = {
    "Grammar": lambda tmp: Grammar.from_regex("ab+"),
    "Regex": lambda tmp: decoder.Regex("[xy]{2}"),
    "dict schema": lambda tmp: SCHEMA,
    "JSON text": lambda tmp: json.dumps(SCHEMA),
    "JSON bytes": lambda tmp: json.dumps(SCHEMA).encode(),
    "bool schema": lambda tmp: True,
    "Path": lambda tmp: _write(tmp),
    "path str": lambda tmp: str(_write(tmp)),
    "Pydantic class": lambda tmp: _pydantic_model(),
    "constraint": lambda tmp: NoLetters("q"),
    "composition": lambda tmp: SCHEMA & NoLetters("q"),
    "matcher() object": lambda tmp: _Custom(),
    "to_grammar() object": lambda tmp: _ToGrammar(),
}


def _write(tmp):
    p = tmp / "schema.json"
    p.write_text(json.dumps(SCHEMA))
    return p


@pytest.mark.parametrize("kind", sorted(INPUTS))
def test_as_constraint_accepts_each_input_kind(vocab, tmp_path, kind):
    obj = INPUTS[kind](tmp_path)
    c = as_constraint(obj)
    assert isinstance(c, Constraint)
    assert as_constraint(c) is c  # idempotent
    assert isinstance(c.matcher(vocab), MatcherProtocol)
    if kind in ("dict schema", "JSON text", "JSON bytes", "Path", "path str"):
        assert isinstance(c, JSONSchema)
    if kind in ("Grammar", "Regex", "to_grammar() object"):
        assert isinstance(c, GrammarConstraint) and not isinstance(c, JSONSchema)


def test_as_constraint_json_options_reach_the_schema(vocab):
    compact = as_constraint(SCHEMA, {"whitespace": "compact"}).matcher(vocab)
    flexible = as_constraint(SCHEMA).matcher(vocab)
    space = vocab.tokens.index(b" ") if b" " in vocab.tokens else None
    brace = vocab.tokens.index(b"{")
    assert compact.commit(brace) and flexible.commit(brace)
    if space is not None:
        assert flexible.is_allowed(space) and not compact.is_allowed(space)


@pytest.mark.parametrize(
    "bad,needle",
    [
        (42, "cannot use a int"),
        (3.5, "cannot use a float"),
        ([SCHEMA], "cannot use a list"),
        (object, "cannot use the class object"),
        ("[0-9]+", "not JSON; for a regex use decoder.Regex"),
        ("[1, 2]", "a JSON schema is an object or a boolean, not list"),
    ],
)
def test_as_constraint_rejects_bad_input_naming_the_problem(bad, needle):
    with pytest.raises(ConstraintError) as e:
        as_constraint(bad)
    assert needle in str(e.value)
    assert isinstance(e.value, ValueError) and isinstance(e.value, DecoderError)


def test_grammar_composes_with_and():
    a, b = Grammar.from_regex("[ab]+"), Grammar.from_regex("a.*")
    c = a & b
    assert isinstance(c, AllOf) and [p.grammar for p in c.parts] == [a, b]
    d = SCHEMA & a  # a dict on the left: the grammar takes over
    assert isinstance(d, AllOf) and isinstance(d.parts[0], JSONSchema)
    assert len((a & b & NoLetters("z")).parts) == 3


# ------------------------------------------------------------------ one error class per meaning


def test_one_error_class_per_meaning(vocab):
    import decoder.constraints as constraints
    import decoder.errors as errors
    import decoder.hf as hf

    assert (
        hf.ConstraintError
        is constraints.ConstraintError
        is errors.ConstraintError
        is decoder.ConstraintError
    )
    assert issubclass(errors.ConstraintError, (errors.DecoderError, ValueError))
    assert issubclass(errors.MatcherError, errors.DecoderError)
    # the engine and a Python matcher raise the same class for the same misuse
    for m in (
        decoder.Matcher(Grammar.from_regex("a"), vocab),
        NoLetters("e").matcher(vocab),
        (Grammar.from_regex("a") & NoLetters("e")).matcher(vocab),
    ):
        with pytest.raises(errors.MatcherError):
            m.rollback(3)
        with pytest.raises(errors.DecoderError):  # old `except DecoderError` clauses still catch it
            m.rollback(3)
    from decoder.generate import ContextLengthError, IncompleteOutput

    assert (
        ContextLengthError is errors.ContextLengthError
        and IncompleteOutput is errors.IncompleteOutput
    )


def test_hf_stays_importable_as_a_thin_reexport():
    import decoder.hf as old
    import decoder.integrations.hf as new

    assert old.DecoderLogitsProcessor is new.DecoderLogitsProcessor is decoder.LogitsProcessor
    assert old.as_matcher_factory is new.as_matcher_factory
    assert not hasattr(old, "GrammarLogitsProcessor")
