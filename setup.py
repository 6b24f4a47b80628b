"""Builds decoder's C++ engine (csrc/) as the Cython extension decoder._engine, the IR
serializer decoder.grammar._wire (which reads the wire format's header, csrc/ir_format.h), and
the regex algebra's automaton core decoder.grammar.json_schema._automata (header-only C++,
csrc/code_point_dfa.h)."""

import glob
import os
import sys

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, find_packages, setup

# every C++ source of the engine: a new csrc/*.cc is built without editing this file
CSRC = sorted(glob.glob(os.path.join("csrc", "*.cc")))

extra_compile = ["-std=c++17", "-O3", "-fvisibility=hidden", "-Wall", "-Wno-unused-function"]
extra_link = []
if os.environ.get("DECODER_SANITIZE"):  # e.g. DECODER_SANITIZE=address,undefined
    flags = [f"-fsanitize={os.environ['DECODER_SANITIZE']}", "-fno-omit-frame-pointer", "-g", "-O1"]
    extra_compile = [f for f in extra_compile if not f.startswith("-O")] + flags
    extra_link += flags
if os.environ.get("DECODER_DEBUG"):
    extra_compile = [f for f in extra_compile if not f.startswith("-O")] + ["-O0", "-g"]
if sys.platform == "darwin":
    extra_compile.append("-stdlib=libc++")

ext = Extension(
    "decoder._engine",
    sources=["decoder/_engine.pyx"] + CSRC,
    include_dirs=["csrc", np.get_include()],
    language="c++",
    extra_compile_args=extra_compile,
    extra_link_args=extra_link,
    define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
)
wire = Extension(
    "decoder.grammar._wire",
    sources=["decoder/grammar/_wire.pyx"],
    include_dirs=["csrc"],
    language="c++",
    extra_compile_args=extra_compile,
    extra_link_args=extra_link,
)

automata = Extension(
    "decoder.grammar.json_schema._automata",
    sources=["decoder/grammar/json_schema/_automata.pyx"],
    include_dirs=["csrc"],
    language="c++",
    extra_compile_args=extra_compile,
    extra_link_args=extra_link,
)

setup(
    packages=find_packages(include=["decoder", "decoder.*"]),
    ext_modules=cythonize(
        [ext, wire, automata], language_level=3, compiler_directives={"embedsignature": True}
    ),
    include_package_data=True,
    # the bundled grammars (Grammar.builtin) live in decoder/grammars/, so a wheel has them;
    # MANIFEST.in puts the C++ sources, headers and the .pyx into the sdist
    package_data={
        "decoder": ["grammars/*.lark", "py.typed", "*.pyi"],
        "decoder.grammar": ["*.pyi"],
        "decoder.grammar.json_schema": ["*.pyi"],
    },
    exclude_package_data={
        "decoder": ["_engine.cpp", "*.pyx"],
        "decoder.grammar": ["_wire.cpp", "*.pyx"],
        "decoder.grammar.json_schema": ["_automata.cpp", "*.pyx"],
    },
)
