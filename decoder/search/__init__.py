"""Search over constrained outputs: DeAL reward-guided decoding and its rewards.

    from decoder import Decoder
    from decoder.search import DeAL, Keywords, Length

    d = Decoder("default", None, search=DeAL(rewards=2 * Keywords(["dog", "park"]) + Length(15),
                                             beams=2, top_k=4, lookahead=4))
    d.generate("Write one sentence using: dog, park")

See :mod:`decoder.search.deal` for the algorithm and :mod:`decoder.search.rewards`
for the reward protocol.
"""

from .rewards import (
    Keywords,
    Length,
    Pattern,
    PerPrompt,
    Reward,
    RewardError,
    RewardModel,
    Weighted,
    as_reward,
    word_forms,
)


def __getattr__(name):  # DeAL needs the engine and torch: loaded on first use, so that the
    if name == "DeAL":  # command line's --help and argument parsing stay fast
        from .deal import DeAL

        return DeAL
    raise AttributeError(f"module 'decoder.search' has no attribute {name!r}")


__all__ = [
    "DeAL",
    "Reward",
    "as_reward",
    "Keywords",
    "Length",
    "Pattern",
    "RewardModel",
    "Weighted",
    "PerPrompt",
    "RewardError",
    "word_forms",
]
