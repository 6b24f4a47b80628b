"""One compile deadline end to end (decoder.deadline): the front ends, serialisation and the
engine's compile check it; a compile cancelled from another thread (a serving request that
gave up) stops within milliseconds and consumes no more CPU; schema, grammar and regex
texts over their size limit are refused before they are parsed."""

from __future__ import annotations

import json
import threading
import time

import pytest
from hostile import isolate
from hostile.cases import ir_nullable_rep, nested, vocab

from decoder import Grammar, LimitError, SchemaError, compile_grammar
from decoder.deadline import CompileCancelled, Deadline, compile_deadline


def _cpu_while(seconds: float) -> float:
    c0 = time.process_time()
    time.sleep(seconds)
    return time.process_time() - c0


def cancelled_engine_compile() -> dict:
    """In a child: an engine compile that would run for seconds (quadratic epsilon closures,
    the work budget lifted) is cancelled from the main thread after 0.3 s."""
    d = Deadline(None)
    out = {}

    def run():
        try:
            with compile_deadline(deadline=d):
                compile_grammar(ir_nullable_rep(8000), vocab(), limits={"max_compile_work": 10**13})
            out["result"] = "compiled"
        except CompileCancelled as e:
            out["result"] = f"cancelled: {e}"
        out["ended"] = time.perf_counter()

    th = threading.Thread(target=run, daemon=True)
    th.start()
    time.sleep(0.3)
    t_cancel = time.perf_counter()
    d.cancel()
    th.join(5)
    out["alive"] = th.is_alive()
    out["stop_s"] = out.get("ended", 1e9) - t_cancel
    out["cpu_after"] = _cpu_while(0.5)
    return out


def test_cancelled_engine_compile_stops_consuming_cpu():
    out = isolate.run(cancelled_engine_compile, timeout=60)
    assert out.status == "ok", str(out)
    v = out.value
    assert not v["alive"] and v["result"].startswith("cancelled"), v
    assert "cancelled" in v["result"] and "deadline" in v["result"], v
    assert v["stop_s"] < 0.2 * isolate.TIME_SCALE, v  # stopped within milliseconds
    assert v["cpu_after"] < 0.05 * isolate.TIME_SCALE, v  # and nothing runs on afterwards


def test_deadline_passes_in_the_engine_compile():
    with pytest.raises(LimitError) as ei:
        with compile_deadline(0.2):
            compile_grammar(ir_nullable_rep(8000), vocab(), limits={"max_compile_work": 10**13})
    assert ei.value.limit == "deadline" and "deadline" in str(ei.value)


def test_deadline_stops_the_regex_front_end():
    pat = "|".join(f"w{i}" for i in range(100_000))  # ~0.7 s to parse
    t0 = time.process_time()
    with pytest.raises(LimitError) as ei:
        Grammar.from_regex(pat, timeout=0.05)
    assert ei.value.limit == "deadline" and "regex position" in str(ei.value)
    assert time.process_time() - t0 < 0.4


def test_deadline_stops_the_lark_front_end():
    text = (
        "start: "
        + " | ".join(f'"w{i}" r{i}' for i in range(1500))
        + "\n"
        + "".join(f'r{i}: "x" | "y{i}"\n' for i in range(1500))
    )
    with pytest.raises(LimitError) as ei:
        Grammar.from_lark(text, timeout=0.001)
    assert ei.value.limit == "deadline"


def test_schema_timeout_covers_parsing_and_indexing():
    """The schema's timeout runs from the call, not from after the document was indexed
    (a 30 MB schema took 18 s to be refused with the default 10 s timeout)."""
    tree = json.loads(
        json.dumps(
            nested(
                9,
                lambda n: {
                    "oneOf": [
                        n,
                        {"type": "array", "items": n},
                        {"type": "object", "properties": {"x": n}},
                    ]
                },
                {"type": "integer"},
            )
        )
    )
    t0 = time.perf_counter()
    with pytest.raises(SchemaError) as ei:
        Grammar.from_json_schema(tree, timeout=0.01)
    assert getattr(ei.value, "limit", "") == "timeout", ei.value
    assert time.perf_counter() - t0 < 1.0


def test_an_outer_deadline_applies_to_the_schema_compile():
    with pytest.raises(LimitError) as ei:
        with compile_deadline(0.01):
            time.sleep(0.02)
            Grammar.from_json_schema({"type": "integer"})
    assert ei.value.limit == "deadline"


@pytest.mark.parametrize(
    "make",
    [
        lambda: Grammar.from_json_schema('{"description": "' + "x" * (9 << 20) + '"}'),
        lambda: Grammar.from_json_schema(b'{"description": "' + b"x" * (9 << 20) + b'"}'),
        lambda: Grammar.from_lark('start: "a"\n' + "// " + "x" * (1 << 20) + "\n"),
        lambda: Grammar.from_regex("a" * ((1 << 20) + 1)),
    ],
    ids=["schema_text", "schema_bytes", "lark", "regex"],
)
def test_texts_over_the_size_limit_are_refused_before_parsing(make):
    t0 = time.process_time()
    with pytest.raises(LimitError) as ei:
        make()
    assert ei.value.limit == "max_text_bytes" and "max_text_bytes" in str(ei.value)
    assert time.process_time() - t0 < 0.5


def test_size_limits_can_be_raised():
    g = Grammar.from_regex("a" * ((1 << 20) + 1), max_text_bytes=4 << 20)
    assert g is not None
    Grammar.from_json_schema(
        '{"type": "integer", "description": "' + "x" * (9 << 20) + '"}', max_text_bytes=16 << 20
    )


def spec_compiler_deadline() -> dict:
    """In a child: SpecCompiler with a 0.1 s deadline and a regex spec that takes ~0.7 s to
    parse: CompileTimeout at the deadline, and the compile thread stops too."""
    from decoder.integrations.compiler import CompileTimeout, SpecCompiler

    sc = SpecCompiler(vocab(), deadline_s=0.1)
    pat = "|".join(f"w{i}" for i in range(100_000))
    t0 = time.perf_counter()
    try:
        sc.compile("regex", pat)
        raise AssertionError("no CompileTimeout")
    except CompileTimeout as e:
        waited = time.perf_counter() - t0
        msg = str(e)
    for _ in range(100):  # the compile thread notices within milliseconds
        if not sc._running:
            break
        time.sleep(0.01)
    stopped = time.perf_counter() - t0
    return dict(
        waited=waited,
        stopped=stopped,
        running=len(sc._running),
        msg=msg,
        cpu_after=_cpu_while(0.5),
        stats=dict(sc.stats),
    )


def test_spec_compiler_stops_a_compile_past_its_deadline():
    out = isolate.run(spec_compiler_deadline, timeout=60)
    assert out.status == "ok", str(out)
    v = out.value
    assert v["running"] == 0 and "stopped" in v["msg"], v
    assert v["stopped"] < 0.5 * isolate.TIME_SCALE, v
    assert v["cpu_after"] < 0.05 * isolate.TIME_SCALE, v
    assert v["stats"]["timeouts"] == 1 and v["stats"]["cancelled"] == 1, v


def test_spec_compiler_json_text_over_the_size_limit():
    from decoder.integrations.specs import grammar_for

    with pytest.raises(LimitError) as ei:
        grammar_for("json", '{"description": "' + "x" * (9 << 20) + '"}')
    assert ei.value.limit == "max_text_bytes"


@pytest.mark.parametrize(
    "text",
    [
        "[" * 3000 + "]" * 3000,  # deeper than Python's default limit: parsed, refused by depth
        "[" * 100_000 + "]" * 100_000,  # deeper than the parser's headroom
        '{"items":' * 3000 + "{}" + "}" * 3000,
    ],
    ids=["arrays-3000", "arrays-100k", "items-3000"],
)
def test_a_deep_spec_text_is_a_decoder_error_in_serving(text):
    """The serving path parsed spec texts at the caller's recursion limit: a deep text raised
    RecursionError (a crash for the server), or not, depending on whether another compile
    held the limit raised at the time (found by a soak run's replay)."""
    from decoder.errors import DecoderError
    from decoder.integrations.specs import grammar_for

    with pytest.raises(DecoderError):
        grammar_for("json", text)


def test_a_schema_value_is_held_to_the_same_size_limit():
    """A dict has no text to measure: its distinct JSON values are counted against the same
    limit, and a dict that contains itself is a SchemaError instead of an endless walk."""
    wide = {"type": "object", "properties": {f"p{i}": {"type": "integer"} for i in range(1000)}}
    with pytest.raises(LimitError) as ei:
        Grammar.from_json_schema(wide, max_text_bytes=4_000)
    assert ei.value.limit == "max_text_bytes" and "JSON values" in str(ei.value)
    assert Grammar.from_json_schema(wide, max_text_bytes=100_000) is not None  # ~4k values: fits
    loop: dict = {"type": "object", "properties": {}}
    loop["properties"]["self"] = loop
    t0 = time.process_time()
    with pytest.raises(SchemaError, match="contains itself"):
        Grammar.from_json_schema(loop)
    assert time.process_time() - t0 < 5


def test_spec_compiler_imports_the_front_ends_at_start():
    """A server's first request must not pay the JSON Schema front end's imports (jsonschema
    with rfc3987-syntax: seconds) inside its compile deadline: SpecCompiler imports them when
    it is made."""
    import subprocess
    import sys

    from conftest import ROOT

    code = (
        "import sys\n"
        "from decoder.integrations.compiler import SpecCompiler\n"
        "from decoder.vocab import Vocabulary\n"
        "assert 'jsonschema' not in sys.modules\n"
        "SpecCompiler(Vocabulary([b'a', b'b'], [1]))\n"
        "print(sorted(m for m in ('jsonschema', 'decoder.grammar.json_schema') if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split("\n")[-2] == "['decoder.grammar.json_schema', 'jsonschema']"
