"""atheris target: the regex parser (Python and ECMA-262 syntax) and the engine.

python fuzz/fuzz_regex.py -max_total_time=60 [corpus dirs]    (see scripts/fuzz.sh)
"""

import atheris

with atheris.instrument_imports(include=["decoder"]):
    import _common

    import decoder.grammar.ir
    import decoder.grammar.regex  # noqa: F401  (imported here so they are instrumented)
    from decoder import Grammar


@_common.clean
def test_one_input(data: bytes) -> None:
    pattern, fdp = _common.split(data)
    syntax = "ecma" if len(data) % 2 else "python"
    g = Grammar.from_regex(pattern, syntax=syntax)
    _common.exercise(g, fdp)


if __name__ == "__main__":
    _common.run(test_one_input)
