"""Search over constrained outputs: DeAL reward-guided decoding and its rewards.

    from decoder import Decoder
    from decoder.search import DeAL, Keywords, Length

    d = Decoder("default", None, search=DeAL(rewards=2 * Keywords(["dog", "park"]) + Length(15),
                                             beams=2, top_k=4, lookahead=4))
    d.generate("Write one sentence using: dog, park")

See :mod:`decoder.search.deal` for the algorithm and :mod:`decoder.search.rewards`
for the reward protocol.
"""
from .deal import DeAL
from .rewards import (Keywords, Length, Pattern, PerPrompt, Reward, RewardError, RewardModel, Weighted,
                      as_reward, word_forms)

__all__ = ["DeAL", "Reward", "as_reward", "Keywords", "Length", "Pattern", "RewardModel", "Weighted",
           "PerPrompt", "RewardError", "word_forms"]
