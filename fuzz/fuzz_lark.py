"""atheris target: the Lark front end (through Lark's own loader) and the engine.

python fuzz/fuzz_lark.py -max_total_time=60 [corpus dirs]    (see scripts/fuzz.sh)
"""

import atheris

with atheris.instrument_imports(include=["decoder"]):
    import _common

    import decoder.grammar.ir
    import decoder.grammar.lark  # noqa: F401  (imported here so they are instrumented)
    from decoder import Grammar


@_common.clean
def test_one_input(data: bytes) -> None:
    text, fdp = _common.split(data)
    if "%import" in text and ("/" in text or ".." in text):
        return  # imports name files; the fuzzer must not read the file system at random
    if "\n" not in text:
        text += "\n"  # a one-line text ending in .lark would be taken for a path
    g = Grammar.from_lark(text)
    _common.exercise(g, fdp)


if __name__ == "__main__":
    _common.run(test_one_input)
