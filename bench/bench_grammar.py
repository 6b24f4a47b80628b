#!/usr/bin/env python3
"""Per-token mask time and compile time of the grammar engine, side by side with llguidance.

Workloads (all on one tokenizer, Llama-3's 128,256 tokens by default):
  json           decoder/grammars/json.lark, teacher-forcing 20 real-looking JSON documents (API
                 responses, configs, GeoJSON, logs, deep nesting, unicode, escapes, numbers,
                 long strings; compact, pretty-printed and ASCII-escaped), built below,
                 deterministically
  datetime, email, lowercase200, phone, identlist, quoted
                 Grammar.from_regex(pattern) (llguidance: grammar_from_regex), each with 6
                 matching strings

Every text is tokenized once (``tok.encode(text, add_special_tokens=False)``) and the *same* ids
are fed to every engine: before each token the mask is computed (timed), the token's bit is
checked, then the token is committed (timed); after the last token the engine must accept.
Masks of the two engines are also compared bit for bit (eos bits left out: we allow every eos
id of the model, llguidance only the tokenizer's own), which cross-checks both engines.

Two modes, reported separately:
  cold   a freshly compiled grammar per document: ours clears ``decoder.compile._compiled``,
         then ``Grammar.from_lark``/``from_regex`` + ``Matcher``; llguidance builds a new
         ``LLMatcher(tokenizer, grammar_from_lark(text))``. So the lazily built lexer states and
         our per-lexer-state mask cache start empty: the first document a server sees.
  warm   one compiled grammar per workload, already run over every document once (untimed);
         each document then starts from a fresh matcher of it (ours ``Matcher(compiled)``,
         llguidance ``deep_copy()`` of its compiled matcher).

Compile time: ``Grammar.from_lark(text)`` (or ``from_regex``) through the first ``Matcher``, with
the compile cache cleared ("cold"; the front end's Python imports are warmed up first) and with
it hit ("warm": the front end still parses the text, the engine work is a cache hit);
llguidance: ``grammar_from_lark`` + ``LLMatcher(...)`` (cold), ``deep_copy()`` (warm). The
token trie / LLTokenizer are built once per run, before any timing (bench_trie.py times them).

Statistics: every (workload, mode, engine) is run --repeat times; p50/p99/max are computed over
all tokens of one repetition, and the table shows the median of those over the repetitions.
Ratios are ours / llguidance (below 1: we are faster). Times are wall-clock and include the
Python call (about 0.1-0.3 µs per call for both engines).

    python bench/bench_grammar.py --out results/bench_grammar.json
    python bench/bench_grammar.py --workloads json --repeat 5 --engines decoder
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import random
import statistics
import sys
import time

import numpy as np

from decoder.bench.common import shared_default

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_TOKENIZER = shared_default("tokenizers/llama3")
JSON_LARK = os.path.join(REPO, "decoder", "grammars", "json.lark")

# ------------------------------------------------------------------------------ data

LOREM = (
    "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor "
    "incididunt ut labore et dolore magna aliqua. Ut enim ad minim veniam, quis nostrud "
    "exercitation ullamco laboris nisi ut aliquip ex ea commodo consequat. "
)


def json_documents() -> list[tuple[str, str]]:
    """20 (name, text) JSON documents, deterministic."""
    rng = random.Random(1234)
    docs: list[tuple[str, object, dict]] = []

    docs.append(
        (
            "user_profile",
            {
                "id": 48213,
                "username": "jdoe_42",
                "email": "jane.doe@example.com",
                "verified": True,
                "profile": {
                    "displayName": "Jane Doe",
                    "bio": 'Engineer. Climber. "Coffee" person.',
                    "location": {"city": "Zürich", "country": "CH", "lat": 47.3769, "lon": 8.5417},
                    "website": None,
                },
                "roles": ["admin", "editor"],
                "createdAt": "2021-06-14T09:31:07Z",
                "loginCount": 1532,
                "preferences": {"theme": "dark", "notifications": {"email": False, "push": True}},
            },
            {"indent": 2},
        )
    )
    docs.append(
        (
            "github_issue",
            {
                "url": "https://api.github.com/repos/octo/hello/issues/1347",
                "number": 1347,
                "title": "Found a bug in the parser when input contains \\t tabs",
                "body": 'Steps to reproduce:\n1. Run `parse("a\\tb")`\n2. Observe the crash\n\n```\nTraceback (most recent call last):\n  File "x.py", line 3\n```\n',
                "labels": [{"id": 208045946, "name": "bug", "color": "f29513", "default": True}],
                "state": "open",
                "locked": False,
                "comments": 12,
                "assignee": None,
                "reactions": {"+1": 4, "-1": 0, "laugh": 1, "heart": 2, "rocket": 0},
            },
            {},
        )
    )
    docs.append(
        (
            "geojson",
            {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "properties": {
                            "name": f"station-{i}",
                            "elevation_m": rng.randint(-20, 3200),
                        },
                        "geometry": {
                            "type": "LineString",
                            "coordinates": [
                                [round(rng.uniform(-180, 180), 6), round(rng.uniform(-90, 90), 6)]
                                for _ in range(6)
                            ],
                        },
                    }
                    for i in range(5)
                ],
            },
            {"separators": (",", ":")},
        )
    )
    docs.append(
        (
            "multilingual",
            {
                "greetings": {
                    "ja": "こんにちは世界",
                    "zh": "你好，世界",
                    "ko": "안녕하세요 세계",
                    "ru": "Привет, мир",
                    "ar": "مرحبا بالعالم",
                    "he": "שלום עולם",
                    "hi": "नमस्ते दुनिया",
                    "th": "สวัสดีชาวโลก",
                    "el": "Γειά σου Κόσμε",
                    "emoji": "👋🌍✨ 🚀🔥 👨‍👩‍👧‍👦",
                },
                "note": "Mixed: naïve café résumé — “quotes” ‘single’ «guillemets» ½ ≤ ≥ ∞",
            },
            {"indent": 2, "ensure_ascii": False},
        )
    )
    docs.append(
        (
            "multilingual_ascii",
            {
                "title": "Ünïcödé ëscäpes",
                "text": "日本語のテキストと emoji 😀🎉 and math ∑∫√",
                "path": "C:\\Users\\test\\file.txt",
                "ctrl": "tab\there\nnewline\rcr\bbs\ffeed",
                "slash": "a/b</script>",
            },
            {"ensure_ascii": True},
        )
    )
    docs.append(
        (
            "numbers",
            {
                "ints": [0, -1, 7, 42, -987654321, 9007199254740993, 10**30],
                "floats": [
                    0.5,
                    -0.125,
                    3.141592653589793,
                    2.718281828459045e-10,
                    6.02214076e23,
                    -1.0e-300,
                    1e308,
                ],
                "matrix": [[round(rng.gauss(0, 10), 4) for _ in range(8)] for _ in range(8)],
                "mixed": [1, 2.0, -3e5, 4.5e-3, 0.0],
            },
            {"separators": (",", ":")},
        )
    )
    docs.append(
        (
            "long_string",
            {"id": "doc-0001", "content": (LOREM * 12).strip(), "summary": LOREM[:200]},
            {},
        )
    )
    depth = {"leaf": "bottom", "n": 0}
    for i in range(24):
        depth = {"level": 24 - i, "child": depth, "tags": [i, [i, [i]]]}
    docs.append(("deep_nesting", depth, {"separators": (",", ":")}))
    docs.append(
        (
            "openapi_fragment",
            {
                "openapi": "3.0.0",
                "info": {"title": "Pet Store", "version": "1.0.7"},
                "paths": {
                    "/pets/{petId}": {
                        "get": {
                            "summary": "Info for a specific pet",
                            "operationId": "showPetById",
                            "parameters": [
                                {
                                    "name": "petId",
                                    "in": "path",
                                    "required": True,
                                    "schema": {"type": "string", "pattern": "^[a-z0-9-]{3,64}$"},
                                }
                            ],
                            "responses": {
                                "200": {
                                    "description": "Expected response",
                                    "content": {
                                        "application/json": {
                                            "schema": {"$ref": "#/components/schemas/Pet"}
                                        }
                                    },
                                },
                                "default": {"description": "unexpected error"},
                            },
                        }
                    }
                },
            },
            {"indent": 4},
        )
    )
    docs.append(
        (
            "log_lines",
            [
                {
                    "ts": f"2024-03-{d:02d}T{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}.{rng.randint(0, 999):03d}Z",
                    "level": rng.choice(["INFO", "WARN", "ERROR", "DEBUG"]),
                    "svc": rng.choice(["api", "auth", "db"]),
                    "msg": rng.choice(
                        [
                            "request completed",
                            "cache miss for key user:%d" % rng.randint(1, 9999),
                            "timeout after 3000ms",
                            "connection reset by peer",
                        ]
                    ),
                    "latency_ms": round(rng.expovariate(1 / 80), 2),
                }
                for d in range(1, 13)
            ],
            {},
        )
    )
    docs.append(
        (
            "ecommerce_order",
            {
                "orderId": "ORD-2024-000193",
                "customer": {"id": 77, "name": "Łukasz Żółć", "vip": False},
                "items": [
                    {
                        "sku": f"SKU-{rng.randint(10000, 99999)}",
                        "qty": rng.randint(1, 5),
                        "price": round(rng.uniform(1, 500), 2),
                        "currency": "EUR",
                    }
                    for _ in range(7)
                ],
                "shipping": {"method": "express", "address": "Hauptstraße 5, 10115 Berlin"},
                "total": 1234.56,
                "paid": True,
                "coupon": None,
            },
            {"indent": 2, "ensure_ascii": False},
        )
    )
    docs.append(
        (
            "chat_messages",
            {
                "model": "some-model",
                "messages": [
                    {"role": "system", "content": "You are a helpful assistant. Answer in JSON."},
                    {"role": "user", "content": "What's the capital of France?\nAnswer briefly."},
                    {"role": "assistant", "content": '{"answer": "Paris", "confidence": 0.98}'},
                ],
                "temperature": 0.7,
                "max_tokens": 256,
                "stream": False,
            },
            {},
        )
    )
    docs.append(
        (
            "config",
            {
                "version": 3,
                "debug": False,
                "server": {
                    "host": "0.0.0.0",
                    "port": 8080,
                    "workers": 4,
                    "tls": {"enabled": True, "cert": "/etc/ssl/cert.pem"},
                },
                "database": {
                    "url": "postgres://user:p%40ss@db:5432/app?sslmode=require",
                    "pool": {"min": 2, "max": 20},
                },
                "features": {"beta": ["search-v2", "dark-mode"], "rollout": 0.25},
                "regex": "^(?:[a-z0-9!#$%&'*+/=?^_`{|}~-]+)@example\\.com$",
            },
            {"indent": 2},
        )
    )
    docs.append(
        (
            "empty_and_edge",
            {
                "": "",
                "empty_obj": {},
                "empty_arr": [],
                "nested_empty": [[], [{}], {"a": []}],
                "null": None,
                "t": True,
                "f": False,
                "zero": 0,
                "neg_zero": -0.0,
                "space key": " leading and trailing ",
                'quote"key': "\\",
            },
            {},
        )
    )
    docs.append(
        (
            "table_rows",
            [
                [
                    rng.randint(0, 1000),
                    f"name_{i}",
                    round(rng.random(), 5),
                    rng.random() < 0.5,
                    None,
                ]
                for i in range(30)
            ],
            {"separators": (",", ":")},
        )
    )
    docs.append(
        (
            "wikipedia_like",
            {
                "title": "Tokyo",
                "extract": (
                    "Tokyo (東京, Tōkyō), officially the Tokyo Metropolis (東京都, Tōkyō-to), "
                    "is the capital of Japan and one of the most populous cities in the world, "
                    "with a population of over 14 million residents as of 2023. "
                )
                * 3,
                "coordinates": {"lat": 35.6895, "lon": 139.69171},
                "population": 14094034,
                "categories": [
                    "Capitals in Asia",
                    "Cities in Japan",
                    "Populated places established in the 12th century",
                ],
            },
            {"indent": 2, "ensure_ascii": False},
        )
    )
    docs.append(
        (
            "code_snippet",
            {
                "language": "python",
                "filename": "main.py",
                "source": "def main():\n    data = {\"a\": 1, 'b': [2, 3]}\n    for k, v in data.items():\n        print(f\"{k}={v!r}\\n\")\n\nif __name__ == '__main__':\n    main()\n",
                "lines": 7,
            },
            {},
        )
    )
    docs.append(
        (
            "sensor_series",
            {
                "sensor": "t-17",
                "unit": "°C",
                "readings": [
                    {
                        "t": 1700000000 + 60 * i,
                        "v": round(20 + 5 * math.sin(i / 3) + rng.gauss(0, 0.3), 3),
                    }
                    for i in range(25)
                ],
            },
            {"separators": (",", ":"), "ensure_ascii": False},
        )
    )
    docs.append(("random_tree", _random_json(rng, 5), {"indent": 1, "ensure_ascii": False}))
    docs.append(
        (
            "tab_pretty",
            {"a": [1, {"b": [True, None, "x\u00e9\u4e2d"]}], "c": {"d": {"e": -12.5e-3}}},
            {"indent": "\t", "ensure_ascii": False},
        )
    )
    out = []
    for name, obj, kw in docs:
        out.append((name, json.dumps(obj, **kw)))
    return out


def _random_json(rng: random.Random, depth: int):
    words = [
        "alpha",
        "beta",
        "gamma",
        "δέλτα",
        "ε",
        "naïve",
        "emoji 🎈",
        "tab\t",
        'quote"',
        "back\\slash",
        "日本",
    ]
    if depth == 0 or rng.random() < 0.25:
        k = rng.randrange(6)
        return [
            lambda: rng.randint(-(10**6), 10**6),
            lambda: round(rng.uniform(-1e3, 1e3), rng.randint(0, 8)),
            lambda: " ".join(rng.choice(words) for _ in range(rng.randint(0, 6))),
            lambda: True,
            lambda: None,
            lambda: rng.random() * 10 ** rng.randint(-20, 20),
        ][k]()
    if rng.random() < 0.5:
        return [_random_json(rng, depth - 1) for _ in range(rng.randint(0, 4))]
    return {
        rng.choice(words) + str(i): _random_json(rng, depth - 1) for i in range(rng.randint(0, 4))
    }


def regex_workloads() -> list[tuple[str, str, list[str]]]:
    """(name, pattern, matching strings): deterministic."""
    rng = random.Random(99)
    dt = r"[0-9]{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]{1,6})?(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])"
    dts = [
        "2024-03-15T08:30:00Z",
        "1999-12-31T23:59:59.999999+05:30",
        "2000-01-01T00:00:00-08:00",
        "2023-07-04T12:00:00.5Z",
        "2031-11-30T17:45:12.123+01:00",
        "2010-02-28T06:07:08Z",
    ]
    email = r"[a-zA-Z0-9._%+-]+@[a-zA-Z0-9.-]+\.[a-zA-Z]{2,}"
    emails = [
        "jane.doe@example.com",
        "first.last+tag@sub.domain.co.uk",
        "x@y.io",
        "user_123%test@mail-server.example.org",
        "ALLCAPS@EXAMPLE.COM",
        "a.b.c.d.e@f-g.h-i.museum",
    ]
    lower = r"[a-z ]{1,200}"
    wl = "the quick brown fox jumps over lazy dog while grammar engines compute masks for every token".split()
    lowers = []
    for n in (20, 60, 120, 160, 190, 200):
        s = ""
        while len(s) < n:
            s += rng.choice(wl) + " "
        lowers.append(s[:n])
    phone = r"(?:\+1[ .-]?)?(?:\([0-9]{3}\)|[0-9]{3})[ .-]?[0-9]{3}[ .-]?[0-9]{4}"
    phones = [
        "+1 (415) 555-0132",
        "415-555-0132",
        "(212)5550199",
        "+1.650.253.0000",
        "8005551234",
        "+1-303 555 0142",
    ]
    ident = r"[A-Za-z_][A-Za-z0-9_]*(?:, [A-Za-z_][A-Za-z0-9_]*)*"
    idents = [
        "foo",
        "alpha, beta, gamma",
        "_private, __dunder__, CamelCase, snake_case_name, x1, y2",
        ", ".join(f"var_{i}" for i in range(40)),
        "getUserById, setUserName, HTTPServer, i, j, k",
        ", ".join(
            rng.choice(["a", "bb", "ccc", "Data", "item_", "X9"]) + str(i) for i in range(60)
        ),
    ]
    quoted = r'"[^"\\\n]{1,300}"'
    quoteds = [
        '"hello world"',
        '"Zürich — naïve café, ½ price!"',
        '"日本語のテキスト、とても長い文章です。"',
        '"emoji 🚀🔥👨‍👩‍👧 and more emoji 🎉"',
        '"' + LOREM[:290] + '"',
        '"Привет мир; مرحبا بالعالم; שלום עולם; नमस्ते"',
    ]
    return [
        ("datetime", dt, dts),
        ("email", email, emails),
        ("lowercase200", lower, lowers),
        ("phone", phone, phones),
        ("identlist", ident, idents),
        ("quoted", quoted, quoteds),
    ]


# ------------------------------------------------------------------------------ engines


class Ours:
    name = "decoder"

    def __init__(self, tok, fam: dict):
        import decoder
        import decoder.compile as dc
        from decoder.vocab import Vocabulary

        self.decoder, self.dc = decoder, dc
        self.vocab = Vocabulary.from_tokenizer(
            tok, model_vocab_size=fam.get("model_vocab_size"), eos_ids=fam.get("eos_ids")
        )
        dc.token_trie(self.vocab)  # built once, not timed here
        self.words = (self.vocab.model_vocab_size + 31) // 32
        self.eos_ids = list(self.vocab.eos_ids)
        # warm the front ends' imports (lark, the regex parser) so that "cold" is the grammar's cost
        decoder.Grammar.from_lark('start: "x"')
        decoder.Grammar.from_regex("x")

    def grammar(self, kind: str, src: str):
        return (
            self.decoder.Grammar.from_lark(src)
            if kind == "lark"
            else self.decoder.Grammar.from_regex(src)
        )

    def clear_cache(self):
        with self.dc._lock:
            self.dc._compiled.clear()

    def compile_cold(self, kind, src):
        """-> (compiled, seconds, parts)"""
        self.clear_cache()
        pc = time.perf_counter
        t0 = pc()
        g = self.grammar(kind, src)
        t1 = pc()
        m = self.decoder.Matcher(g, self.vocab)
        t2 = pc()
        return m.compiled, t2 - t0, {"front_end_s": t1 - t0, "engine_s": t2 - t1}

    def compile_warm(self, kind, src):
        pc = time.perf_counter
        t0 = pc()
        m = self.decoder.Matcher(self.grammar(kind, src), self.vocab)
        return m.compiled, pc() - t0

    def matcher(self, compiled):
        return self.decoder.Matcher(compiled)

    def new_row(self):
        return np.zeros(self.words, dtype=np.int32)

    def run(self, m, ids, row, mask_t, commit_t, rows_out=None):
        """Teacher-force ids; returns None or an error string."""
        pc = time.perf_counter_ns
        fill, commit = m.compute_mask, m.commit
        for i, t in enumerate(ids):
            a = pc()
            fill(row)
            b = pc()
            if rows_out is not None:
                rows_out.append(row.copy())
            if not (int(row[t >> 5]) >> (t & 31)) & 1:
                return f"token {i} ({t}) not allowed"
            c = pc()
            ok = commit(t)
            d = pc()
            mask_t.append(b - a)
            commit_t.append(d - c)
            if not ok:
                return f"token {i} ({t}) refused by commit"
        if not m.is_accepting():
            return "not accepting at the end"
        return None


class LLG:
    name = "llguidance"

    def __init__(self, tok, fam: dict):
        import llguidance
        import llguidance.hf

        self.llg = llguidance
        self.n_vocab = int(fam.get("model_vocab_size") or len(tok))
        self.eos = int(tok.eos_token_id)
        self.lltok = llguidance.hf.from_tokenizer(tok, n_vocab=self.n_vocab, eos_token=self.eos)
        self.words = (self.n_vocab + 31) // 32
        self.version = getattr(llguidance, "__version__", "?")

    def _make(self, kind, src):
        L = self.llg.LLMatcher
        g = L.grammar_from_lark(src) if kind == "lark" else L.grammar_from_regex(src)
        m = L(self.lltok, g, log_level=0)
        if m.is_error():
            raise ValueError(m.get_error())
        return m

    def compile_cold(self, kind, src):
        t0 = time.perf_counter()
        m = self._make(kind, src)
        return m, time.perf_counter() - t0, {}

    def compile_warm(self, kind, src, compiled=None):
        t0 = time.perf_counter()
        m = compiled.deep_copy()
        return m, time.perf_counter() - t0

    def matcher(self, compiled):
        return compiled.deep_copy()

    def new_row(self):
        return np.zeros(self.words, dtype=np.int32)

    def run(self, m, ids, row, mask_t, commit_t, rows_out=None):
        pc = time.perf_counter_ns
        ptr, nbytes = row.ctypes.data, row.nbytes
        fill, commit = m.unsafe_compute_mask_ptr, m.consume_token
        for i, t in enumerate(ids):
            a = pc()
            fill(ptr, nbytes)
            b = pc()
            if rows_out is not None:
                rows_out.append(row.copy())
            if not (int(row[t >> 5]) >> (t & 31)) & 1:
                return f"token {i} ({t}) not allowed: {m.get_error()}"
            c = pc()
            ok = commit(t)
            d = pc()
            mask_t.append(b - a)
            commit_t.append(d - c)
            if not ok:
                return f"token {i} ({t}) refused by consume_token: {m.get_error()}"
        if not m.is_accepting():
            return "not accepting at the end"
        return None


# ------------------------------------------------------------------------------ driver


def pct(xs, q):
    return float(np.percentile(np.asarray(xs, dtype=np.float64), q)) if len(xs) else float("nan")


def stats_us(ns: list[int]) -> dict:
    us = np.asarray(ns, dtype=np.float64) / 1e3
    return {
        "n": int(us.size),
        "p50": pct(us, 50),
        "p99": pct(us, 99),
        "max": float(us.max()) if us.size else float("nan"),
        "mean": float(us.mean()) if us.size else float("nan"),
    }


def med(dicts: list[dict], key: str) -> float:
    vals = [d[key] for d in dicts if not math.isnan(d[key])]
    return statistics.median(vals) if vals else float("nan")


def compare_masks(a_rows, b_rows, eos_ids) -> tuple[int, int]:
    """(steps where a allows a token b does not, steps where b allows one a does not), eos bits
    cleared."""
    clear = {}
    for e in eos_ids:
        clear[e >> 5] = clear.get(e >> 5, 0) | (1 << (e & 31))
    a_only = b_only = 0
    for x, y in zip(a_rows, b_rows):
        w = min(x.size, y.size)
        x = x[:w].view(np.uint32).copy()
        y = y[:w].view(np.uint32).copy()
        for i, bits in clear.items():
            x[i] &= ~np.uint32(bits)
            y[i] &= ~np.uint32(bits)
        a_only += bool(np.any(x & ~y))
        b_only += bool(np.any(y & ~x))
    return a_only, b_only


def run_workload(name, kind, src, texts, engines, tok, repeat, slowest, log):
    """Returns the result dict of one workload."""
    seqs = [(tn, tok.encode(tx, add_special_tokens=False)) for tn, tx in texts]
    ntok = sum(len(s) for _, s in seqs)
    log(f"[{name}] {len(seqs)} texts, {ntok} tokens")
    res = {
        "workload": name,
        "kind": kind,
        "source": src if kind == "regex" else os.path.relpath(JSON_LARK, REPO),
        "texts": len(seqs),
        "tokens": ntok,
        "engines": {},
    }
    errors: dict[str, list[str]] = {e.name: [] for e in engines}
    per = {
        e.name: {
            "cold": [],
            "warm": [],
            "compile_cold": [],
            "compile_warm": [],
            "compile_parts": [],
        }
        for e in engines
    }

    # mask agreement (one untimed pass per engine, warm compiled grammars)
    compiled = {}
    for e in engines:
        compiled[e.name] = e.compile_cold(kind, src)[0]
    if len(engines) > 1:
        diff = [0, 0]
        for tn, ids in seqs:
            rows = {}
            for e in engines:
                rows[e.name] = []
                err = e.run(e.matcher(compiled[e.name]), ids, e.new_row(), [], [], rows[e.name])
                if err:
                    errors[e.name].append(f"{tn}: {err}")
            a_only, b_only = compare_masks(
                rows[engines[0].name],
                rows[engines[1].name],
                list(engines[0].eos_ids) + [engines[1].eos],
            )
            diff[0] += a_only
            diff[1] += b_only
        res["mask_disagreements"] = {"decoder_only": diff[0], "llguidance_only": diff[1]}
        log(
            f"  steps where only decoder allows some token: {diff[0]}, only llguidance: {diff[1]} (of {ntok})"
        )
    else:
        for tn, ids in seqs:  # the warm-up pass
            err = engines[0].run(
                engines[0].matcher(compiled[engines[0].name]), ids, engines[0].new_row(), [], []
            )
            if err:
                errors[engines[0].name].append(f"{tn}: {err}")

    for rep in range(repeat):
        for e in engines:
            row = e.new_row()
            # cold: fresh compile per document
            mt, ct, comp = [], [], []
            for tn, ids in seqs:
                c, secs, parts = e.compile_cold(kind, src)
                comp.append(secs)
                if parts:
                    per[e.name]["compile_parts"].append(parts)
                start = len(mt)
                e.run(e.matcher(c), ids, row, mt, ct)
                if e.name == "decoder" and slowest is not None:
                    for j in range(start, len(mt)):
                        slowest.append((mt[j], "cold", name, tn, j - start, ids))
            per[e.name]["cold"].append((mt, ct))
            per[e.name]["compile_cold"].extend(comp)
            # warm: the compiled grammar already ran over every document
            mt, ct, comp = [], [], []
            if e.name == "decoder":
                e.compile_warm(kind, src)  # put it back in the cache (cold cleared it)
            for tn, ids in seqs:
                if e.name == "decoder":
                    c, secs = e.compile_warm(kind, src)
                else:
                    c, secs = e.compile_warm(kind, src, compiled[e.name])
                comp.append(secs)
                start = len(mt)
                e.run(e.matcher(compiled[e.name]), ids, row, mt, ct)
                if e.name == "decoder" and slowest is not None:
                    for j in range(start, len(mt)):
                        slowest.append((mt[j], "warm", name, tn, j - start, ids))
            per[e.name]["warm"].append((mt, ct))
            per[e.name]["compile_warm"].extend(comp)
        if slowest is not None and len(slowest) > 5000:
            slowest.sort(key=lambda x: -x[0])
            del slowest[200:]

    for e in engines:
        p = per[e.name]
        out = {"errors": errors[e.name][:10], "n_errors": len(errors[e.name])}
        for mode in ("cold", "warm"):
            ms = [stats_us(m) for m, _ in p[mode]]
            mc = [stats_us([a + b for a, b in zip(m, c)]) for m, c in p[mode]]
            out[mode] = {
                "mask": {k: med(ms, k) for k in ("p50", "p99", "max", "mean")},
                "mask_commit": {k: med(mc, k) for k in ("p50", "p99", "max", "mean")},
                "per_repetition_mask": ms,
            }
        cc = np.asarray(p["compile_cold"]) * 1e3
        cw = np.asarray(p["compile_warm"]) * 1e3
        out["compile_ms"] = {
            "cold_p50": pct(cc, 50),
            "cold_p99": pct(cc, 99),
            "cold_max": float(cc.max()),
            "warm_p50": pct(cw, 50),
            "warm_p99": pct(cw, 99),
            "n": int(cc.size),
        }
        if p["compile_parts"]:
            out["compile_ms"]["cold_front_end_p50"] = pct(
                [x["front_end_s"] * 1e3 for x in p["compile_parts"]], 50
            )
            out["compile_ms"]["cold_engine_p50"] = pct(
                [x["engine_s"] * 1e3 for x in p["compile_parts"]], 50
            )
        res["engines"][e.name] = out
        log(
            f"  {e.name:<10} cold mask p50 {out['cold']['mask']['p50']:7.1f} µs p99 {out['cold']['mask']['p99']:8.1f} "
            f"| warm p50 {out['warm']['mask']['p50']:7.1f} p99 {out['warm']['mask']['p99']:8.1f} "
            f"| compile {out['compile_ms']['cold_p50']:.2f} ms"
            + (f" | {len(errors[e.name])} errors: {errors[e.name][:2]}" if errors[e.name] else "")
        )
    return res


def fmt(x, d=1):
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    return f"{x:,.{d}f}"


def ratio(a, b):
    if a is None or b is None or math.isnan(a) or math.isnan(b) or b == 0:
        return "–"
    return f"{a / b:.2f}"


def tables(results, names) -> str:
    two = len(names) > 1
    ours, peer = names[0], (names[1] if two else None)
    out = []
    for metric, title in (("mask", "compute_mask"), ("mask_commit", "compute_mask + commit")):
        out.append(f"**{title}, µs per token** (p50 / p99 / max; median over repetitions)\n")
        hdr = "| workload | tokens | mode | decoder p50 | p99 | max |"
        sep = "| --- | ---: | --- | ---: | ---: | ---: |"
        if two:
            hdr += " llguidance p50 | p99 | max | ratio p50 | ratio p99 |"
            sep += " ---: | ---: | ---: | ---: | ---: |"
        out += [hdr, sep]
        for r in results:
            for mode in ("cold", "warm"):
                a = r["engines"][ours][mode][metric]
                line = f"| {r['workload']} | {r['tokens']:,} | {mode} | {fmt(a['p50'])} | {fmt(a['p99'])} | {fmt(a['max'])} |"
                if two:
                    b = r["engines"][peer][mode][metric]
                    line += (
                        f" {fmt(b['p50'])} | {fmt(b['p99'])} | {fmt(b['max'])} | {ratio(a['p50'], b['p50'])} | "
                        f"{ratio(a['p99'], b['p99'])} |"
                    )
                out.append(line)
        out.append("")
    out.append(
        "**compile, ms** (grammar text → first matcher; p50 / p99 over documents × repetitions)\n"
    )
    hdr = "| workload | decoder cold p50 | p99 | (front end / engine) | warm p50 |"
    sep = "| --- | ---: | ---: | --- | ---: |"
    if two:
        hdr += " llguidance cold p50 | p99 | warm (deep_copy) p50 | ratio cold p50 |"
        sep += " ---: | ---: | ---: | ---: |"
    out += [hdr, sep]
    for r in results:
        a = r["engines"][ours]["compile_ms"]
        line = (
            f"| {r['workload']} | {fmt(a['cold_p50'], 2)} | {fmt(a['cold_p99'], 2)} | "
            f"{fmt(a.get('cold_front_end_p50'), 2)} / {fmt(a.get('cold_engine_p50'), 2)} | {fmt(a['warm_p50'], 2)} |"
        )
        if two:
            b = r["engines"][peer]["compile_ms"]
            line += f" {fmt(b['cold_p50'], 2)} | {fmt(b['cold_p99'], 2)} | {fmt(b['warm_p50'], 3)} | {ratio(a['cold_p50'], b['cold_p50'])} |"
        out.append(line)
    if two:
        out.append("")
        out.append(
            "Mask agreement, steps where a token is allowed by only one engine (decoder-only / "
            "llguidance-only, of all steps; eos bits excluded): "
            + ", ".join(
                f"{r['workload']} {r['mask_disagreements']['decoder_only']} / "
                f"{r['mask_disagreements']['llguidance_only']} of {r['tokens']:,}"
                for r in results
                if "mask_disagreements" in r
            )
        )
    errs = [
        (r["workload"], n, r["engines"][n]["n_errors"])
        for r in results
        for n in names
        if r["engines"][n]["n_errors"]
    ]
    if errs:
        out.append("")
        out.append("Teacher-forcing failures: " + ", ".join(f"{w}/{n}: {k}" for w, n, k in errs))
    return "\n".join(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tokenizer", default=DEFAULT_TOKENIZER)
    ap.add_argument("--engines", default="decoder,llguidance")
    ap.add_argument(
        "--workloads", default="", help="comma-separated (default: all): json,datetime,email,..."
    )
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--slowest", type=int, default=15, help="list this many slowest decoder masks")
    ap.add_argument("--out", default="")
    a = ap.parse_args(argv)

    def log(msg):
        print(msg, file=sys.stderr, flush=True)

    import transformers
    from transformers import AutoTokenizer

    transformers.logging.set_verbosity_error()
    tok = AutoTokenizer.from_pretrained(a.tokenizer, local_files_only=True)
    fam = {}
    if os.path.exists(os.path.join(a.tokenizer, "family.json")):
        with open(os.path.join(a.tokenizer, "family.json")) as f:
            fam = json.load(f)
    want = a.engines.split(",")
    engines = [Ours(tok, fam)]
    missing = {}
    if "llguidance" in want:
        try:
            engines.append(LLG(tok, fam))
        except ImportError as ex:
            missing["llguidance"] = str(ex)
            log(f"llguidance not available ({ex}); running decoder only")
    names = [e.name for e in engines]

    work = [("json", "lark", open(JSON_LARK).read(), json_documents())]
    for n, pat, strings in regex_workloads():
        work.append((n, "regex", pat, [(f"{n}[{i}]", s) for i, s in enumerate(strings)]))
    if a.workloads:
        sel = a.workloads.split(",")
        work = [w for w in work if w[0] in sel]

    slowest: list = []
    results = []
    for name, kind, src, texts in work:
        results.append(run_workload(name, kind, src, texts, engines, tok, a.repeat, slowest, log))

    table = tables(results, names)
    print(table)
    slowest.sort(key=lambda x: -x[0])
    top = []
    for ns, mode, wl, tn, step, ids in slowest[: a.slowest]:
        prefix = tok.decode(ids[:step])
        top.append(
            {
                "us": ns / 1e3,
                "mode": mode,
                "workload": wl,
                "text": tn,
                "step": step,
                "prefix_tail": prefix[-60:],
                "next_token": tok.decode([ids[step]]),
            }
        )
    if top:
        print("\nSlowest decoder masks:")
        for t in top:
            print(
                f"  {t['us']:9.1f} µs  {t['mode']:<4} {t['workload']}/{t['text']} step {t['step']}: "
                f"…{t['prefix_tail']!r} → {t['next_token']!r}"
            )
    if a.out:
        import decoder

        os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
        meta = {
            "date": datetime.datetime.now().isoformat(timespec="seconds"),
            "machine": f"{platform.machine()}, {os.cpu_count()} cores",
            "python": platform.python_version(),
            "tokenizer": a.tokenizer,
            "repeat": a.repeat,
            "decoder": getattr(decoder, "__version__", "?"),
            "llguidance": next((e.version for e in engines if e.name == "llguidance"), None),
            "missing": missing,
        }
        with open(a.out, "w") as f:
            json.dump(
                {"meta": meta, "results": results, "slowest": top, "table": table}, f, indent=1
            )
        log(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
