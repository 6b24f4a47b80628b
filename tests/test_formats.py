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
