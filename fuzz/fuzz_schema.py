"""atheris target: the JSON Schema front end and the engine on arbitrary schema text.

python fuzz/fuzz_schema.py -max_total_time=60 [corpus dirs]    (see scripts/fuzz.sh)
"""

import atheris

with atheris.instrument_imports(include=["decoder"]):
    import _common

    import decoder.grammar.json_schema.compiler  # noqa: F401  (imported here so they are instrumented)
    from decoder import Grammar


@_common.clean
def test_one_input(data: bytes) -> None:
    text, fdp = _common.split(data)
    whitespace = "compact" if len(data) % 2 else "flexible"
    if not text.lstrip().startswith(("{", "true", "false")):
        return  # other strings are read as file paths; not the fuzzer's business
    g = Grammar.from_json_schema(text, whitespace=whitespace)
    _common.exercise(g, fdp)


if __name__ == "__main__":
    _common.run(test_one_input)
