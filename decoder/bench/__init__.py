"""``decoder bench ...``: benchmarks that ship with the package.

``decoder bench jsonschemabench`` (:mod:`decoder.bench.jsonschemabench`) runs
JSONSchemaBench end to end with a real model, side by side with other engines.
Each benchmark module has ``add_arguments(parser)`` and ``run(args) -> exit status``.
"""

from __future__ import annotations

import argparse
import importlib

__all__ = ["BENCHMARKS", "add_arguments", "run"]

#: the engines ``decoder bench jsonschemabench`` compares by default (decoder.bench.hf_engines)
DEFAULT_ENGINES = ["decoder", "decoder-noff", "llguidance", "xgrammar", "outlines", "none"]

#: name -> (module, one-line help)
BENCHMARKS = {
    "jsonschemabench": (
        "decoder.bench.jsonschemabench",
        "JSONSchemaBench with a real model: coverage, compliance, GCT, TTFT, TPOT per engine",
    ),
}


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="benchmark", metavar="BENCHMARK")
    sub.required = True
    for name, (module, help_) in BENCHMARKS.items():
        from ..cli import EPILOG, HelpFormatter

        q = sub.add_parser(
            name, help=help_, description=help_, epilog=EPILOG, formatter_class=HelpFormatter
        )
        importlib.import_module(module).add_arguments(q)
        q.set_defaults(_bench=module)


def run(args) -> int:
    return importlib.import_module(args._bench).run(args)
