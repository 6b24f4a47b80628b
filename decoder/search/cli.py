"""Command-line flags of ``decoder generate`` for DeAL search.

::

    decoder generate --prompt "Write one sentence using: dog, frisbee, catch, park" \\
        --deal-reward "4*keywords:dog,frisbee,catch,park" --deal-reward "length:15" \\
        --deal-beams 2 --deal-top-k 4 --deal-lookahead 4

A reward spec is ``[WEIGHT*]KIND:ARGUMENT`` with KIND one of ``keywords`` (comma-separated
words, inflections counted), ``length`` (target number of words), ``tokens`` (target
number of tokens), ``pattern`` (a regex the text should contain) and ``model`` (a local
Hugging Face sequence-classification model folder).  Any ``--deal-*`` flag turns the
search on; the hard constraint (``--schema``/``--grammar``/``--regex``) still holds.
"""

from __future__ import annotations

import argparse
import re

from .rewards import Keywords, Length, Pattern, RewardError, RewardModel, Weighted

__all__ = ["add_cli_arguments", "search_from_args", "parse_reward"]

_SPEC = re.compile(
    r"^(?:(?P<w>[-+]?\d+(?:\.\d*)?|[-+]?\.\d+)\*)?(?P<kind>[a-z_]+):(?P<arg>.*)$", re.S
)


def parse_reward(spec: str):
    """``(reward, weight)`` from ``[WEIGHT*]KIND:ARGUMENT``."""
    m = _SPEC.match(spec.strip())
    if not m:
        raise RewardError(
            f"reward spec {spec!r}: expected [WEIGHT*]KIND:ARGUMENT, e.g. "
            f"'4*keywords:dog,park' or 'length:15'"
        )
    w = float(m["w"]) if m["w"] else 1.0
    kind, arg = m["kind"], m["arg"]
    if kind == "keywords":
        words = [x.strip() for x in arg.split(",") if x.strip()]
        return Keywords(words), w
    if kind in ("length", "tokens"):
        try:
            n = int(arg)
        except ValueError:
            raise RewardError(f"reward spec {spec!r}: {kind} needs an integer target") from None
        return Length(n, "words" if kind == "length" else "tokens"), w
    if kind == "pattern":
        return Pattern(arg), w
    if kind == "model":
        return RewardModel(arg), w
    raise RewardError(
        f"reward spec {spec!r}: unknown kind {kind!r} (keywords, length, tokens, "
        f"pattern, model)"
    )


def add_cli_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("DeAL reward-guided search (decoder.search)")
    g.add_argument(
        "--deal-reward",
        action="append",
        default=None,
        metavar="[W*]KIND:ARG",
        help="a reward to maximise (repeatable): keywords:a,b | length:N | tokens:N | "
        "pattern:REGEX | model:PATH, optionally weighted, e.g. 4*keywords:dog,park "
        "(default: none; any --deal-* flag turns DeAL search on)",
    )
    g.add_argument(
        "--deal-beams",
        type=int,
        default=None,
        metavar="N",
        help="hypotheses kept per step (default 2)",
    )
    g.add_argument(
        "--deal-top-k",
        type=int,
        default=None,
        metavar="K",
        help="candidate tokens per hypothesis (default 4)",
    )
    g.add_argument(
        "--deal-lookahead",
        type=int,
        default=None,
        metavar="N",
        help="rollout tokens per candidate (default 4)",
    )


def search_from_args(args):
    """A :class:`~decoder.search.DeAL` when any ``--deal-*`` flag was given, else None."""
    specs = getattr(args, "deal_reward", None)
    knobs = {k: getattr(args, f"deal_{k}", None) for k in ("beams", "top_k", "lookahead")}
    if not specs and all(v is None for v in knobs.values()):
        return None
    if not specs:
        raise RewardError("DeAL search needs at least one --deal-reward (e.g. 4*keywords:dog,park)")
    reward = Weighted([parse_reward(s) for s in specs])
    from .deal import DeAL  # torch: after the flags are known to be right

    return DeAL(reward, **{k: v for k, v in knobs.items() if v is not None})
