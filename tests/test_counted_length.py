"""String length bounds kept as counters in the lexer state (wire ops COUNT/UNIT; see
docs/architecture.md, "Counted repetition", and docs/optimizations.md).

Masks are compared with an oracle that knows nothing of the engine: a hand-written scanner of
a JSON string literal that decodes escapes (a surrogate pair is one code point), raw UTF-8
(one code point however many bytes) and partial characters at the end of the text, counts code
points, and asks whether some completion is valid (the decoded pattern's fewest characters
left must fit under maxLength). Every token of two tokenizer families (byte-level BPE:
llama3; SentencePiece with byte fallback: llama2) is checked in states near and far from both
bounds, and inside an escape or a UTF-8 character. Then the real-world schemas that were
refused ("maxLength ... together with format/pattern is too large to compile exactly")
compile, their instances are teacher-forced, over-long strings are rejected at the bound, and
random walks of the mask end in strings that `jsonschema` validates.
"""

from __future__ import annotations

import codecs
import json
import random

import numpy as np
import pytest
from conftest import bits_of, shared_path, vocab_of

from decoder import Grammar, Matcher, Vocabulary
from decoder.grammar.ir import MAX_CODEPOINT, GrammarBuilder, cat, cps, lit, rep
from decoder.grammar.json_schema import strings

FAMILIES = ["llama3", "llama2"]
INF = float("inf")


# ----------------------------------------------------------------- the oracle
class AnyChars:
    """Decoded language ``.*`` (or ``[^@]*``): one state; ``min_left`` is 0."""

    def __init__(self, no_at: bool = False) -> None:
        self.no_at = no_at

    start = 0

    def step(self, st, cp):
        return None if (self.no_at and cp == 0x40) else 0

    def min_left(self, st):
        return 0


class Email:
    """Decoded language ``[a-z]+@[a-z]+``: states 0 (nothing), 1 (letters), 2 (after @),
    3 (letters after @, accepting)."""

    start = 0

    def step(self, st, cp):
        letter = 0x61 <= cp <= 0x7A
        if st in (0, 1):
            return 1 if letter else (2 if cp == 0x40 and st == 1 else None)
        return 3 if letter else None

    def min_left(self, st):
        return {0: 3, 1: 2, 2: 1, 3: 0}[st]


class LettersThenDigits:
    """Decoded language ``[a-z]*[0-9]{3}``: state = digits so far (0..3)."""

    start = 0

    def step(self, st, cp):
        if 0x61 <= cp <= 0x7A:
            return 0 if st == 0 else None
        return st + 1 if 0x30 <= cp <= 0x39 and st < 3 else None

    def min_left(self, st):
        return 3 - st


_ACCEPTED_U = [(0, 0x1F), (0x80, 0xD7FF), (0xE000, 0xFFFF)]  # \uXXXX the grammar accepts
_SHORT = {ord('"'): 0x22, ord("\\"): 0x5C, ord("/"): 0x2F, ord("b"): 8, ord("f"): 12}
_SHORT.update({ord("n"): 10, ord("r"): 13, ord("t"): 9})
_REPS = [0x09, 0x40, 0x61, 0x7A, 0xE9, 0x65E5, 0x1F600]  # one of each kind the languages tell apart


def _hex_range(digits: bytes):
    """The values of ``\\u`` + ``digits`` + any missing hex digits, or None if not hex."""
    try:
        v = int(digits, 16) if digits else 0
    except ValueError:
        return None
    if not all(c in b"0123456789abcdefABCDEF" for c in digits):
        return None
    k = 4 - len(digits)
    return v << (4 * k), ((v + 1) << (4 * k)) - 1


class Oracle:
    """Whether ``data`` is a prefix of a JSON string literal (compact: nothing after the
    closing quote) whose decoded value is in ``lang`` with lo..hi code points."""

    def __init__(self, lang, lo: int, hi: int | None) -> None:
        self.lang, self.lo, self.hi = lang, lo, INF if hi is None else hi

    def fits(self, st, n):  # a completion exists from state st after n code points
        return st is not None and n <= self.hi and n + self.lang.min_left(st) <= self.hi

    def some(self, st, n, candidates):  # one more code point, any of these
        return any(self.fits(self.lang.step(st, c), n + 1) for c in candidates)

    def scan(self, data: bytes, st=None, n=0, opened=False):
        """(verdict, state, count, rest): ``rest`` is the unfinished character at the end."""
        lang = self.lang
        if st is None:
            st = lang.start
        i = 0
        if not opened:
            if not data:
                return True, st, n, b""
            if data[0] != 0x22:
                return False, st, n, b""
            i = 1
        while i < len(data):
            b = data[i]
            if b == 0x22:  # the closing quote: the end of everything (compact)
                ok = self.lang.min_left(st) == 0 and self.lo <= n <= self.hi and i == len(data) - 1
                return ok, st, n, None
            if b == 0x5C:
                rest = data[i:]
                if len(rest) == 1:
                    cands = [0x22, 0x5C, 0x2F, 8, 9, 10, 12, 13] + [c for c in _REPS if c >= 0x80]
                    return self.some(st, n, cands), st, n, rest
                e = rest[1]
                if e in _SHORT:
                    cp, i = _SHORT[e], i + 2
                elif e == ord("u"):
                    got = self._u_escape(rest, st, n)
                    if isinstance(got, bool):
                        return got, st, n, rest
                    cp, used = got
                    i += used
                else:
                    return False, st, n, b""
            elif b < 0x20:
                return False, st, n, b""
            elif b < 0x80:
                cp, i = b, i + 1
            else:
                k = 2 if b < 0xE0 else 3 if b < 0xF0 else 4
                chunk = data[i : i + k]
                dec = codecs.getincrementaldecoder("utf-8")()
                try:
                    s = dec.decode(chunk, final=len(chunk) == k)
                except UnicodeDecodeError:
                    return False, st, n, b""
                if len(chunk) < k:  # an unfinished character: any non-ASCII one of its length
                    lo_cp = {2: 0x80, 3: 0x800, 4: 0x10000}[k]
                    hi_cp = {2: 0x7FF, 3: 0xFFFF, 4: MAX_CODEPOINT}[k]
                    cands = [c for c in _REPS if lo_cp <= c <= hi_cp]
                    return self.some(st, n, cands), st, n, chunk
                cp, i = ord(s), i + k
            st = lang.step(st, cp)
            n += 1
            if not self.fits(st, n):
                return False, st, n, b""
        return True, st, n, b""

    def _u_escape(self, rest: bytes, st, n):
        """(code point, bytes used) of a complete ``\\u`` escape at the start of rest, or the
        verdict (a bool) when rest ends inside it or it is not accepted."""
        r = _hex_range(rest[2:6])
        if r is None:
            return False
        if len(rest) < 6:
            cands = [c for a, b in _ACCEPTED_U for c in (max(a, r[0]),) if c <= min(b, r[1])]
            cands += [c for c in _REPS if a_in(c, r) and c >= 0x80]
            if r[0] <= 0xDBFF and r[1] >= 0xD800:
                cands.append(0x1F600)
            return self.some(st, n, cands)
        v = int(rest[2:6], 16)
        if 0xDC00 <= v <= 0xDFFF or (0x20 <= v < 0x80):
            return False
        if v < 0xD800 or v > 0xDBFF:
            return v, 6
        tail = rest[6:12]
        if tail[:2] != b"\\u"[: len(tail[:2])]:
            return False
        low = _hex_range(tail[2:])
        if low is None or low[1] < 0xDC00 or low[0] > 0xDFFF:
            return False
        if len(tail) < 6:
            return self.some(st, n, [0x1F600])
        return 0x10000 + ((v - 0xD800) << 10) + (int(tail[2:], 16) - 0xDC00), 12


def a_in(c, r):
    return r[0] <= c <= r[1]


def oracle_mask(oracle, vocab, prefix: bytes):
    """Oracle verdict for every token with text (the others are left out: None)."""
    ok, st, n, rest = oracle.scan(prefix)
    assert ok and rest == b"", prefix  # prefixes end between characters
    out = []
    for t in range(vocab.size):
        b = vocab.token_bytes(t)
        if not b:
            out.append(None)
            continue
        out.append(oracle.scan(b, st, n, opened=len(prefix) > 0)[0])
    return out


def check_states(g, oracle, vocab, prefixes):
    for prefix in prefixes:
        m = Matcher(g, vocab)
        assert m.commit_bytes(prefix), prefix
        bits = bits_of(m, m.compiled.mask_words)
        want = oracle_mask(oracle, vocab, prefix)
        bad = [
            (t, vocab.token_bytes(t), bool(bits[t]))
            for t, w in enumerate(want)
            if w is not None and bool(bits[t]) != w
        ]
        assert not bad, f"{prefix[-40:]!r} (count state): mask differs from the oracle on {bad[:8]}"


def ir_grammar(chars, lo, hi):
    """A grammar of one JSON string lexeme whose decoded value is ``chars`` with lo..hi code
    points, counted (the front end's counted node, here with small bounds)."""
    b = GrammarBuilder()
    s = b.nonterminal("start")
    node = strings.counted_chars(chars, lo, hi)
    assert node is not None and node[0] == "counted"
    b.rule(s, [b.lexeme("STRING", strings.string_lexeme_regex(node))])
    return Grammar(b.build(s))


EMAIL_CHARS = cat(rep(cps([(0x61, 0x7A)]), 1, None), lit("@"), rep(cps([(0x61, 0x7A)]), 1, None))


# ----------------------------------------------------------------- masks = oracle
@pytest.mark.parametrize("family", FAMILIES)
def test_small_bounds_mask_equals_oracle(family):
    vocab = vocab_of(family)
    g = ir_grammar(strings.ANY_STRING, 2, 5)
    oracle = Oracle(AnyChars(), 2, 5)
    check_states(
        g,
        oracle,
        vocab,
        [
            b'"',  # below minLength: no closing quote yet
            b'"a',
            b'"ab',  # at minLength
            b'"abcd',  # one code point left
            b'"abcde',  # at maxLength: only the closing quote
            '"\u00e9\u00e9\u00e9'.encode(),  # raw two-byte characters count one each
            b'"\\u00e9\\u00e9\\u00e9\\u00e9',  # escapes count one each (4, not 24)
            b'"ab\\ud83d\\ude00',  # a surrogate pair is one code point: 3
            '"\U0001f600\U0001f600\U0001f600\U0001f600'.encode(),  # raw astral: 4
            b'"\\n\\"\\\\\\/',  # short escapes: 4
        ],
    )


@pytest.mark.parametrize("family", FAMILIES)
def test_pattern_near_the_bound_never_leads_into_a_dead_end(family):
    # [a-z]+@[a-z]+ with 3..6 code points: after "abcd" only "@" then one letter fit, so the
    # fifth letter is masked although the pattern alone would allow it
    vocab = vocab_of(family)
    g = ir_grammar(EMAIL_CHARS, 3, 6)
    oracle = Oracle(Email(), 3, 6)
    check_states(
        g, oracle, vocab, [b'"', b'"ab', b'"abcd', b'"ab@', b'"abcd@', b'"abcd@e', b'"a@b']
    )


@pytest.mark.parametrize("family", FAMILIES)
def test_long_bounds_from_json_schema(family):
    # counted by the front end (bounds over 1000): near minLength, far from both, near
    # maxLength, with escapes and multi-byte characters in the counted prefix
    vocab = vocab_of(family)
    schema = {"type": "string", "minLength": 1200, "maxLength": 1500, "pattern": "^[^@]*$"}
    g = Grammar.from_json_schema(schema, whitespace="compact")
    oracle = Oracle(AnyChars(no_at=True), 1200, 1500)
    mix = "\u00e9" * 5 + "\\u00e9" * 5 + "\\ud83d\\ude00" * 5 + "\U0001f600" * 5  # 20 code points

    def p(n):
        return ('"' + mix + "x" * (n - 20)).encode()

    check_states(
        g,
        oracle,
        vocab,
        [b'"', p(30), p(1195), p(1199), p(1200), p(1450), p(1495), p(1499), p(1500)],
    )


@pytest.mark.parametrize("family", FAMILIES)
def test_far_from_the_bounds_one_walk_serves_every_count(family):
    vocab = vocab_of(family)
    g = Grammar.from_json_schema({"type": "string", "maxLength": 65535}, whitespace="compact")
    m = Matcher(g, vocab)
    m.commit_bytes(b'"' + b"x" * 10)
    first = bits_of(m, m.compiled.mask_words)
    assert m.last_mask_cold
    for n in (11, 500, 3000, 60000):
        m.reset()
        assert m.commit_bytes(b'"' + b"x" * n)
        assert (bits_of(m, m.compiled.mask_words) == first).all()
        assert not m.last_mask_cold, f"count {n}: a new walk for the same count class"
    # near the bound the count matters: the closing quote only at 65535
    m.reset()
    assert m.commit_bytes(b'"' + b"x" * 65535)
    assert not m.commit_bytes(b"x") and m.commit_bytes(b'"')


@pytest.mark.parametrize("family", ["bytes", "llama3"])
def test_fewest_units_left_are_kept_in_reach_of_the_bound(family):
    # [a-z]*[0-9]{3} under maxLength 1500: three code points from the bound a letter is a dead
    # end (three digits must follow), though the bound itself is further than a token reaches
    # on a one-byte vocabulary: the count class must take the fewest units left into account
    if family == "bytes":
        vocab = Vocabulary.from_bytes([bytes([i]) for i in range(256)] + [b""], eos_ids=[256])
    else:
        vocab = vocab_of(family)
    schema = {"type": "string", "maxLength": 1500, "pattern": "^[a-z]*[0-9]{3}$"}
    g = Grammar.from_json_schema(schema, whitespace="compact")
    oracle = Oracle(LettersThenDigits(), 0, 1500)
    check_states(g, oracle, vocab, [('"' + "a" * n).encode() for n in (0, 1200, 1496, 1497)])


def test_shortest_completion_counts_the_missing_code_points():
    vocab = Vocabulary.from_bytes([bytes([i]) for i in range(256)] + [b""], eos_ids=[256])
    g = Grammar.from_json_schema(
        {"type": "string", "minLength": 1200, "maxLength": 1500}, whitespace="compact"
    )
    m = Matcher(g, vocab)
    assert m.commit_bytes(b'"abc')
    assert m.min_completion_bytes() == 1197 + 1  # 1,197 characters, then the quote
    assert m.commit_bytes(b"\\u00e9" * 2)  # escapes: two code points (12 bytes)
    assert m.min_completion_bytes() == 1195 + 1
    m.reset()
    assert m.commit_bytes(b'"' + b"x" * 1200)
    assert m.min_completion_bytes() == 1


def test_escapes_and_astral_characters_count_as_one():
    vocab = Vocabulary.from_bytes([bytes([i]) for i in range(256)] + [b""], eos_ids=[256])
    for lo, hi in ((1001, 1001), (1500, 2000)):
        g = Grammar.from_json_schema({"type": "string", "minLength": lo, "maxLength": hi})
        for unit in ("x", "\u00e9", "\\u00e9", "\U0001f600", "\\ud83d\\ude00", "\\n"):
            for n, ok in ((lo - 1, False), (lo, True), (hi, True), (hi + 1, False)):
                m = Matcher(g, vocab)
                text = ('"' + unit * n + '"').encode()
                assert (m.commit_bytes(text) and m.is_accepting()) == ok, (unit, n)


# ----------------------------------------------------------------- real-world schemas
REFUSED = ["Github_easy/o21053", "Github_easy/o58907", "Github_hard/o21072", "Github_ultra/o21137"]


def _record(key):
    sub, rid = key.split("/")
    for line in open(shared_path("jsonschemabench", f"{sub}.jsonl"), encoding="utf-8"):
        r = json.loads(line)
        if r["id"] == rid:
            return r
    raise KeyError(key)


@pytest.mark.parametrize("key", REFUSED)
def test_formerly_refused_schemas_take_their_instances(key):
    jsonschema = pytest.importorskip("jsonschema")
    r = _record(key)
    g = Grammar.from_json_schema(r["schema"])
    vocab = Vocabulary.from_bytes([bytes([i]) for i in range(256)] + [b""], eos_ids=[256])
    m = Matcher(g, vocab)
    checker = jsonschema.validators.validator_for(r["schema"])(r["schema"])
    for tc in r["tests"]:
        for sep in ((",", ":"), (", ", ": ")):
            m.reset()
            text = json.dumps(tc["data"], separators=sep)
            got = m.commit_bytes(text.encode()) and m.is_accepting()
            if got:
                assert checker.is_valid(tc["data"]), (key, text[:200])
            assert got == tc["valid"], (key, tc["description"], text[:200])


def test_email_with_max_length_is_cut_at_the_bound():
    r = _record("Github_easy/o58907")
    g = Grammar.from_json_schema(r["schema"], whitespace="compact")
    vocab = Vocabulary.from_bytes([bytes([i]) for i in range(256)] + [b""], eos_ids=[256])
    for n, ok in ((255, True), (256, False)):
        local = "a" * (n - len("@example.com"))
        doc = {"authentication": {"email": local + "@example.com", "password": "secret"}}
        assert len(doc["authentication"]["email"]) == n
        m = Matcher(g, vocab)
        text = json.dumps(doc, separators=(",", ":")).encode()
        assert (m.commit_bytes(text) and m.is_accepting()) == ok, n


@pytest.mark.parametrize(
    "regex",
    [
        ("rep", ("counted", ("unit", lit("a")), 0, 3), 0, 2),  # COUNT inside REP
        ("counted", ("counted", ("unit", lit("a")), 0, 3), 0, 2),  # COUNT inside COUNT
        ("unit", lit("a")),  # UNIT outside COUNT
        ("counted", ("unit", rep(lit("a"), 0, 2)), 0, 3),  # a unit that matches ""
        ("counted", ("unit", lit("a")), 3, 2),  # hi < lo
    ],
)
def test_malformed_counters_are_a_grammar_error(regex):
    from decoder.errors import GrammarError

    b = GrammarBuilder()
    s = b.nonterminal("start")
    b.rule(s, [b.lexeme("X", cat(lit("x"), regex))])
    vocab = Vocabulary.from_bytes([bytes([i]) for i in range(256)] + [b""], eos_ids=[256])
    with pytest.raises(GrammarError):
        Matcher(Grammar(b.build(s)), vocab)


@pytest.mark.parametrize("key", REFUSED[:2])
def test_random_walks_of_formerly_refused_schemas_validate(key):
    jsonschema = pytest.importorskip("jsonschema")
    r = _record(key)
    vocab = vocab_of("llama3")
    g = Grammar.from_json_schema(r["schema"], whitespace="compact")
    checker = jsonschema.validators.validator_for(r["schema"])(
        r["schema"], format_checker=jsonschema.FormatChecker()
    )
    eos = set(vocab.eos_ids)
    rng = random.Random(19)
    ids = np.arange(vocab.size)
    for walk in range(4):
        m = Matcher(g, vocab)
        out = b""
        for step in range(3000):
            bits = bits_of(m, m.compiled.mask_words)[: vocab.size]
            allowed = ids[bits]
            assert len(allowed), out[-80:]
            ends = [int(t) for t in allowed if t in eos]
            if ends and (step > 20 or rng.random() < 0.3):
                break
            # late in the walk, prefer tokens that close something, so walks finish
            pool = [int(t) for t in allowed if int(t) not in eos]
            if step > 60:
                closing = [t for t in pool if vocab.token_bytes(t)[:1] in (b'"', b"}", b",")]
                pool = closing or pool
            t = rng.choice(pool)
            assert m.commit(t)
            out += vocab.token_bytes(t)
        else:
            pytest.fail(f"walk {walk} did not finish: {out[-120:]!r}")
        doc = json.loads(out)
        assert checker.is_valid(doc), (key, out[:300])


def test_long_bounds_that_cross_are_no_string_not_a_crash():
    """minLength above maxLength with a long bound (a oneOf branch beside the negation of
    another: 1..1024 and 1025..) is the empty language; it went to the counted path, found
    nothing to count and raised IndexError while naming the refusal (Github_ultra/o62899)."""
    from decoder import Grammar
    from decoder.errors import UnsatisfiableSchemaError

    with pytest.raises(UnsatisfiableSchemaError):
        Grammar.from_json_schema({"type": "string", "minLength": 1025, "maxLength": 1024})
    one_of = {
        "type": "object",
        "oneOf": [
            {
                "properties": {"id": {"type": "string", "minLength": 1, "maxLength": 1024}},
                "required": ["id"],
                "additionalProperties": False,
            },
            {
                "properties": {"id": {"type": "string", "minLength": 1, "maxLength": 1024}},
                "required": ["id", "name"],
                "additionalProperties": False,
            },
        ],
    }
    Grammar.from_json_schema(one_of)
