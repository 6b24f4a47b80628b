"""``format`` against the checker that judges it: the Test Suite's optional/format files
through the mask, and random walks of each format's mask validated by jsonschema's
FormatChecker with its optional format libraries (idna, rfc3987-syntax, uri-template: the
test extra installs them; a format whose library is absent is skipped, with the reason).

Formats are regular subsets of what their RFC allows (decoder/grammar/json_schema/formats.py):
every string the mask lets through must pass both the suite's label and the checker; the
count of suite tests answered right is a floor that only goes up."""

from __future__ import annotations

import json
import random
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import differential  # noqa: E402
from conftest import SHARED  # noqa: E402

from decoder import Grammar, Matcher  # noqa: E402
from decoder.errors import SchemaError  # noqa: E402
from decoder.grammar.json_schema.formats import FORMATS, UNSUPPORTED_FORMATS  # noqa: E402

jsonschema = pytest.importorskip("jsonschema")
SUITE = SHARED / "json-schema-test-suite"

#: the library behind each format's check in jsonschema (absent: every string passes)
CHECKER_LIBRARY = {
    "idn-hostname": "idna",
    "idn-email": None,
    "iri": "rfc3987_syntax",
    "iri-reference": "rfc3987_syntax",
    "uri-template": "uri_template",
}

#: suite tests answered right per optional/format file (both drafts hold the same
#: instances for these): a floor, raised when a format gains
RIGHT_AT_LEAST = {
    "idn-email.json": 13,
    "idn-hostname.json": 67,
    "iri.json": 20,
    "iri-reference.json": 13,
    "uri-template.json": 34,
}


def _checker(draft: str):
    cls = jsonschema.Draft7Validator if draft == "draft7" else jsonschema.Draft202012Validator
    return cls, cls.FORMAT_CHECKER


def _needs_library(fmt: str) -> None:
    lib = CHECKER_LIBRARY.get(fmt)
    if lib is not None:
        pytest.importorskip(lib, reason=f"jsonschema checks {fmt} with {lib} (the test extra)")


def _matcher(schema):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Matcher(Grammar.from_json_schema(schema), differential.vocab())


@pytest.mark.skipif(not SUITE.exists(), reason="../shared/json-schema-test-suite is absent")
@pytest.mark.parametrize("draft", ["draft2020-12", "draft7"])
@pytest.mark.parametrize("name", sorted(RIGHT_AT_LEAST))
def test_suite_format_files_sound_and_answered(draft, name):
    fmt = name[: -len(".json")]
    _needs_library(fmt)
    cls, checker = _checker(draft)
    right = 0
    for group in json.loads((SUITE / draft / "optional" / "format" / name).read_text()):
        m = _matcher(group["schema"])
        validator = cls(group["schema"], format_checker=checker)
        for t in group["tests"]:
            text = json.dumps(t["data"], separators=(",", ":"), ensure_ascii=False)
            got = differential.accepts(m, text.encode())
            if got:
                assert t["valid"], f"{name}: {t['description']}: {text} accepted, labelled invalid"
                assert validator.is_valid(t["data"]), f"{name}: {text} accepted, checker refuses"
            right += got == t["valid"]
    assert right >= RIGHT_AT_LEAST[name], f"{name}: {right} right, was {RIGHT_AT_LEAST[name]}"


@pytest.mark.parametrize("fmt", sorted(CHECKER_LIBRARY))
def test_random_walks_of_a_format_pass_its_checker(fmt):
    """Every string a random walk of the mask writes is one the checker accepts (and is a
    string: the walks run on the byte vocabulary, so UTF-8 is built byte by byte)."""
    _needs_library(fmt)
    cls, checker = _checker("draft2020-12")
    schema = {"type": "string", "format": fmt}
    validator = cls(schema, format_checker=checker)
    m = _matcher(schema)
    buf = np.zeros((len(differential.TOKENS) + 31) // 32, dtype=np.int32)
    rng = random.Random(20261206)
    seen = set()
    for _ in range(60):
        data = differential.walk(m, rng, rng.choice((4, 12, 30)), buf)
        if data is None:
            continue
        value = json.loads(data.decode("utf-8"))
        assert isinstance(value, str)
        assert validator.is_valid(value), f"{fmt}: walk wrote {value!r}, the checker refuses it"
        seen.add(value)
    assert len(seen) >= 20, f"{fmt}: only {len(seen)} distinct walks"


@pytest.mark.parametrize(
    "fmt, good, bad",
    [
        (
            "iri",
            ["http://ƒøø.ßår/?∂éœ=πîx#πîüx", "urn:isbn:0451450523", "http://[1:2:3:4:5:6:7:8]/"],
            ["//ƒøø.ßår/", "http://ƒøø.ßår/ x", "http://[::1]/"],  # the last: see formats.py
        ),
        ("iri-reference", ["/âππ", "#ƒrägmênt", "http://x/y"], ["\\\\WINDOWS\\filë", "#frag\\x"]),
        (
            "uri-template",
            ["http://example.com/dictionary/{term:1}/{term}", "{+path}/here", "x{?a,b*}"],
            ["http://example.com/dictionary/{term:1}/{term", "{=x}", "{a..b}", "{a:0}"],
        ),
        ("idn-hostname", ["실례.테스트", "straße.de", "例え.jp", "example.com"], ["-a.b", "a_b"]),
        ("idn-email", ["실례@실례.테스트", "joe@example.com"], ["joe", "@example.com"]),
    ],
)
def test_common_spellings(fmt, good, bad):
    m = _matcher({"type": "string", "format": fmt})
    for s in good:
        assert differential.accepts(m, json.dumps(s, ensure_ascii=False).encode()), (fmt, s)
    for s in bad:
        assert not differential.accepts(m, json.dumps(s, ensure_ascii=False).encode()), (fmt, s)


def test_only_regex_is_refused_and_by_name():
    assert UNSUPPORTED_FORMATS == {"regex"}
    assert not UNSUPPORTED_FORMATS & set(FORMATS)
    with pytest.raises(SchemaError) as e:
        Grammar.from_json_schema({"type": "string", "format": "regex"})
    assert e.value.keyword == "format"


_DRAFT_VALIDATORS = {
    3: "Draft3Validator",
    4: "Draft4Validator",
    6: "Draft6Validator",
    7: "Draft7Validator",
    2019: "Draft201909Validator",
    2020: "Draft202012Validator",
}


@pytest.mark.parametrize("draft", sorted(_DRAFT_VALIDATORS))
def test_format_drafts_are_jsonschemas(draft):
    """FORMAT_DRAFTS says which drafts' validators check each negatable format: the same as
    jsonschema's checker of that draft (these formats need no optional library)."""
    from decoder.grammar.json_schema.formats import FORMAT_DRAFTS, FORMAT_SUPERSETS

    assert set(FORMAT_DRAFTS) == set(FORMAT_SUPERSETS)
    checkers = getattr(jsonschema, _DRAFT_VALIDATORS[draft]).FORMAT_CHECKER.checkers
    for fmt, drafts in FORMAT_DRAFTS.items():
        assert (fmt in checkers) == (draft in drafts), (fmt, draft)


_D7 = "http://json-schema.org/draft-07/schema#"
_D6 = "http://json-schema.org/draft-06/schema#"
UUID = "123e4567-e89b-12d3-a456-426614174000"


@pytest.mark.parametrize(
    "schema, instances",
    [
        # uuid is a 2019-09 format: draft-07 validators pass every value under it, so a
        # string satisfies both branches (oneOf fails) and a non-string the first only
        ({"$schema": _D7, "oneOf": [{"format": "uuid"}, {"type": "string"}]}, [" ", UUID, 5]),
        (
            {"$schema": _D7, "if": {"format": "uuid"}, "then": {"type": "integer"}},
            [UUID, "x", 3, None],
        ),
        (
            {"$schema": _D6, "anyOf": [{"not": {"format": "date"}}, {"type": "null"}]},
            [None, 1, "x", "2020-01-01"],
        ),
        # the same under 2020-12, where uuid is checked: strings that are not uuids pass
        ({"oneOf": [{"format": "uuid"}, {"type": "string"}]}, [" ", UUID, 5]),
    ],
)
def test_negated_format_of_another_draft_never_fails(schema, instances):
    """A format a document's draft does not define is an annotation for its validators: negated
    it never fails (we still assert it where it is not negated: stricter, never unsound).
    Teacher-forced verdicts equal the draft's own validator's, format checker on."""
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    v = cls(schema, format_checker=cls.FORMAT_CHECKER)
    m = Matcher(Grammar.from_json_schema(schema), differential.vocab())
    for x in instances:
        text = json.dumps(x).encode()
        assert differential.accepts(m, text) == v.is_valid(x), (schema, x)


def test_negated_format_of_another_draft_leaving_nothing_is_refused():
    """Taken as never failing, a negated format of another draft can leave no value: refused
    naming the format and its path, never an empty grammar."""
    schema = {"$schema": _D7, "type": "string", "not": {"format": "uuid"}}
    with pytest.raises(SchemaError, match=r"at /not: format 'uuid' is negated.*draft") as e:
        Grammar.from_json_schema(schema)
    assert e.value.keyword == "format"
