"""Rewards for reward-guided search: soft objectives scored on ``(prompt, text)``.

A reward is any callable ``(prompt: str, text: str) -> float``; higher is better.
The search scores many candidate texts per step, so it calls rewards in batches
through :func:`as_reward`, which wraps a plain callable in a :class:`Reward`:

    Reward.batch(prompts, texts, final=..., index=...) -> list[float]

``final[i]`` says whether ``texts[i]`` is a complete output (it ended with EOS) or
a prefix still being written (the search scores prefixes plus a short lookahead),
and ``index[i]`` which prompt of the batch it belongs to.  Plain callables never
see these; built-ins use them (:class:`Length` only penalises being too short
once the text is final, :class:`PerPrompt` picks the reward of each prompt).
``prompt`` is the prompt as text (for chat messages: the last user message).

Built-ins: :class:`Keywords` (inclusion of words, inflections counted),
:class:`Length` (a target length in words or tokens), :class:`Pattern` (a regex
check), :class:`RewardModel` (any Hugging Face sequence-classification model),
:class:`Weighted` (weighted sums; also ``2 * Keywords(...) + Length(...)``) and
:class:`PerPrompt` (one reward per prompt of a batch).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from ..errors import DecoderError

__all__ = [
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


class RewardError(DecoderError, ValueError):
    """A reward was misconfigured or returned something that is not a number."""


class Reward:
    """Base class: override :meth:`batch` (or :meth:`score` for one text at a time)."""

    name = "reward"

    def score(
        self, prompt: str, text: str, final: bool = True
    ) -> float:  # pragma: no cover - abstract
        raise NotImplementedError

    def batch(
        self,
        prompts: Sequence[str],
        texts: Sequence[str],
        *,
        final: Sequence[bool],
        index: Sequence[int],
    ) -> list[float]:
        return [float(self.score(p, t, f)) for p, t, f in zip(prompts, texts, final)]

    def bind(self, decoder) -> None:
        """Called once by the search with the :class:`~decoder.generate.Decoder` it runs in
        (rewards that need the tokenizer or the device take them from there)."""

    def __call__(self, prompt: str, text: str) -> float:
        return self.batch([prompt], [text], final=[True], index=[0])[0]

    def __mul__(self, w: float) -> Weighted:
        if not isinstance(w, (int, float)):
            return NotImplemented
        return Weighted([(self, float(w))])

    __rmul__ = __mul__

    def __add__(self, other) -> Weighted:
        if not callable(other):
            return NotImplemented
        return Weighted(_terms(self) + _terms(as_reward(other)))

    __radd__ = __add__

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def _terms(r: Reward) -> list:
    return list(r.terms) if isinstance(r, Weighted) else [(r, 1.0)]


class _Callable(Reward):
    """A plain ``(prompt, text) -> float`` callable."""

    def __init__(self, fn: Callable[[str, str], float]):
        self.fn = fn
        self.name = getattr(fn, "__name__", type(fn).__name__)

    def batch(self, prompts, texts, *, final, index):
        out = []
        for p, t in zip(prompts, texts):
            v = self.fn(p, t)
            try:
                out.append(float(v))
            except (TypeError, ValueError):
                raise RewardError(
                    f"reward {self.name!r} returned {v!r} for {t[:60]!r}: a reward "
                    f"returns a number"
                ) from None
        return out

    def __repr__(self) -> str:
        return f"reward({self.name})"


def as_reward(r: Any) -> Reward:
    """A :class:`Reward` from a Reward, a plain callable ``(prompt, text) -> float``, or a
    list of them (their sum)."""
    if isinstance(r, Reward):
        return r
    if isinstance(r, (list, tuple)):
        if not r:
            raise RewardError("an empty list of rewards")
        return Weighted([(as_reward(x), 1.0) for x in r])
    if callable(r):
        return _Callable(r)
    raise RewardError(f"a reward is a callable (prompt, text) -> float, not {type(r).__name__}")


class Weighted(Reward):
    """``sum(w * r(prompt, text))`` over ``terms = [(reward, weight), ...]``."""

    name = "weighted"

    def __init__(self, terms: Sequence):
        self.terms = []
        for t in terms:
            r, w = t if isinstance(t, (tuple, list)) else (t, 1.0)
            if not isinstance(w, (int, float)):
                raise RewardError(f"the weight of {r!r} must be a number, not {w!r}")
            self.terms.append((as_reward(r), float(w)))
        if not self.terms:
            raise RewardError("Weighted needs at least one (reward, weight) term")

    def bind(self, decoder) -> None:
        for r, _ in self.terms:
            r.bind(decoder)

    def batch(self, prompts, texts, *, final, index):
        total = [0.0] * len(texts)
        for r, w in self.terms:
            if w == 0.0:
                continue
            vals = r.batch(prompts, texts, final=final, index=index)
            if len(vals) != len(texts):
                raise RewardError(f"{r!r} returned {len(vals)} scores for {len(texts)} texts")
            total = [a + w * float(v) for a, v in zip(total, vals)]
        return total

    def __repr__(self) -> str:
        return " + ".join(f"{w:g}*{r!r}" for r, w in self.terms)


class PerPrompt(Reward):
    """One reward per prompt of a batch: ``rewards[i]`` scores the outputs of prompt ``i``
    (e.g. a different keyword list per prompt)."""

    name = "per_prompt"

    def __init__(self, rewards: Sequence):
        self.rewards = [as_reward(r) for r in rewards]

    def bind(self, decoder) -> None:
        for r in self.rewards:
            r.bind(decoder)

    def batch(self, prompts, texts, *, final, index):
        out = [0.0] * len(texts)
        groups: dict = {}
        for j, i in enumerate(index):
            if not 0 <= i < len(self.rewards):
                raise RewardError(
                    f"PerPrompt has {len(self.rewards)} rewards but the batch has a "
                    f"prompt {i}: pass one reward per prompt"
                )
            groups.setdefault(i, []).append(j)
        for i, js in groups.items():
            vals = self.rewards[i].batch(
                [prompts[j] for j in js],
                [texts[j] for j in js],
                final=[final[j] for j in js],
                index=[i] * len(js),
            )
            for j, v in zip(js, vals):
                out[j] = float(v)
        return out


# ------------------------------------------------------------------ keywords
_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)*")


def _words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]


def word_forms(word: str) -> set[str]:
    """The surface forms of ``word``: itself, its inflections and those of its lemmas
    ("dog" -> dogs, "run" -> ran, runs, running; "mouse" -> mice; "ran" -> run, runs...),
    from ``lemminflect`` (inflection tables from the SPECIALIST lexicon plus rules for
    unknown words).  Lower case.  Multi-word keywords inflect their last word."""
    try:
        import lemminflect
    except ImportError:  # pragma: no cover - depends on the environment
        from .._install import install_command

        raise RewardError(
            f"counting inflections needs the lemminflect package ({install_command('deal')}); "
            "or pass inflections=False"
        ) from None
    word = word.strip().lower()
    head, _, last = word.rpartition(" ")
    lemmas = {last}
    for ls in lemminflect.getAllLemmas(last).values():
        lemmas.update(ls)
    forms = {last}
    for lem in lemmas:
        forms.add(lem)
        table = lemminflect.getAllInflections(lem)
        if not table:
            for upos in ("NOUN", "VERB"):
                table.update(lemminflect.getAllInflectionsOOV(lem, upos))
        for fs in table.values():
            forms.update(f.lower() for f in fs)
    return {f"{head} {f}" if head else f for f in forms}


class Keywords(Reward):
    """The fraction of ``words`` the text contains (1.0 when all are there).

    Matching is on whole words, case-insensitive; with ``inflections=True`` (default)
    any inflected form counts ("dogs" for "dog", "ran" for "run", see
    :func:`word_forms`); ``forms`` adds forms by hand (``{"ok": ["okay"]}``).
    ``all_or_nothing=True`` scores 1.0 or 0.0 instead of the fraction.
    """

    name = "keywords"

    def __init__(
        self,
        words: Sequence[str],
        *,
        inflections: bool = True,
        forms: dict | None = None,
        all_or_nothing: bool = False,
    ):
        if isinstance(words, str):
            words = [words]
        words = [w for w in words]
        if not words or not all(isinstance(w, str) and _words(w) for w in words):
            raise RewardError(f"Keywords needs a non-empty list of words, got {words!r}")
        self.words = words
        self.all_or_nothing = all_or_nothing
        self._forms: list[list[tuple]] = []
        for w in words:
            fs = word_forms(w) if inflections else {w.lower()}
            fs |= {f.lower() for f in (forms or {}).get(w, ())}
            self._forms.append(sorted({tuple(_words(f)) for f in fs if _words(f)}))

    def found(self, text: str) -> list[bool]:
        """For each keyword, whether the text contains it."""
        ws = _words(text)
        single = set(ws)
        out = []
        for forms in self._forms:
            ok = False
            for f in forms:
                if len(f) == 1:
                    ok = f[0] in single
                else:
                    n = len(f)
                    ok = any(tuple(ws[i : i + n]) == f for i in range(len(ws) - n + 1))
                if ok:
                    break
            out.append(ok)
        return out

    def score(self, prompt: str, text: str, final: bool = True) -> float:
        f = self.found(text)
        if self.all_or_nothing:
            return float(all(f))
        return sum(f) / len(f)

    def __repr__(self) -> str:
        return f"Keywords({self.words!r})"


# ------------------------------------------------------------------ length
class Length(Reward):
    """Closeness to a target length: ``-|n - target| / target`` for a final text, and
    ``-max(0, n - target) / target`` for a prefix (a prefix is not yet too short).

    ``unit`` is ``"words"`` or ``"tokens"`` (counted with ``tokenizer``, by default
    the decoder's)."""

    name = "length"

    def __init__(self, target: int, unit: str = "words", tokenizer=None):
        if not isinstance(target, int) or target <= 0:
            raise RewardError(f"Length target must be a positive int, got {target!r}")
        if unit not in ("words", "tokens"):
            raise RewardError(f"Length unit must be 'words' or 'tokens', got {unit!r}")
        self.target, self.unit, self.tokenizer = target, unit, tokenizer

    def bind(self, decoder) -> None:
        if self.unit == "tokens" and self.tokenizer is None:
            self.tokenizer = decoder.tokenizer

    def count(self, text: str) -> int:
        if self.unit == "words":
            return len(text.split())
        if self.tokenizer is None:
            raise RewardError(
                "Length(unit='tokens') needs a tokenizer (or run it inside a Decoder)"
            )
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def score(self, prompt: str, text: str, final: bool = True) -> float:
        n = self.count(text)
        over = max(0, n - self.target) if not final else abs(n - self.target)
        return -over / self.target

    def __repr__(self) -> str:
        return f"Length({self.target}, {self.unit!r})"


# ------------------------------------------------------------------ regex
class Pattern(Reward):
    """1.0 when the text matches ``pattern`` (``re.search``; ``fullmatch=True`` for the
    whole text), else 0.0.  ``final_only=True`` scores prefixes 1.0 (a format that only
    a finished text can have, e.g. "ends with a period")."""

    name = "pattern"

    def __init__(
        self,
        pattern: str | re.Pattern,
        *,
        fullmatch: bool = False,
        final_only: bool = False,
        flags: int = 0,
    ):
        try:
            self.regex = re.compile(pattern, flags) if isinstance(pattern, str) else pattern
        except re.error as e:
            raise RewardError(f"Pattern: invalid regular expression {pattern!r}: {e}") from None
        self.fullmatch, self.final_only = fullmatch, final_only

    def score(self, prompt: str, text: str, final: bool = True) -> float:
        if self.final_only and not final:
            return 1.0
        m = self.regex.fullmatch(text) if self.fullmatch else self.regex.search(text)
        return float(m is not None)

    def __repr__(self) -> str:
        return f"Pattern({self.regex.pattern!r})"


# ------------------------------------------------------------------ reward models
class RewardModel(Reward):
    """Any Hugging Face sequence-classification model as a reward.

    ``model``: an ``AutoModelForSequenceClassification`` (or a path to one, loaded
    offline), ``tokenizer`` its tokenizer (or path).  The score of a text is the logit
    of the single output when the model has one label, else ``log p(label)``
    (``label``: an index or a name from ``config.label2id``; default the last label,
    the "positive" class of most binary classifiers).  ``pair=True`` classifies
    ``(prompt, text)`` pairs instead of the text alone.  Texts are scored
    ``batch_size`` at a time, truncated to ``max_length`` tokens.
    """

    name = "reward_model"

    def __init__(
        self,
        model,
        tokenizer=None,
        *,
        label: int | str | None = None,
        pair: bool = False,
        batch_size: int = 32,
        max_length: int = 512,
    ):
        if isinstance(model, str) or hasattr(model, "__fspath__"):
            from transformers import AutoModelForSequenceClassification, AutoTokenizer

            path = str(model)
            model = AutoModelForSequenceClassification.from_pretrained(path, local_files_only=True)
            tokenizer = tokenizer or AutoTokenizer.from_pretrained(path, local_files_only=True)
        elif isinstance(tokenizer, str) or hasattr(tokenizer, "__fspath__"):
            from transformers import AutoTokenizer

            tokenizer = AutoTokenizer.from_pretrained(str(tokenizer), local_files_only=True)
        if tokenizer is None:
            raise RewardError("RewardModel needs the classifier's tokenizer")
        self.model, self.tokenizer = model.eval(), tokenizer
        n = int(getattr(model.config, "num_labels", 1))
        if isinstance(label, str):
            l2i = getattr(model.config, "label2id", {}) or {}
            if label not in l2i:
                raise RewardError(f"label {label!r} is not one of the model's labels {sorted(l2i)}")
            label = int(l2i[label])
        if label is None:
            label = n - 1
        if not 0 <= label < n:
            raise RewardError(f"label {label} out of range for a model with {n} labels")
        self.label, self.num_labels = label, n
        self.pair, self.batch_size, self.max_length = pair, batch_size, max_length
        pad = getattr(model.config, "pad_token_id", None)
        if pad is None:  # HF classifiers find the last real token by looking for the pad id
            pad = getattr(tokenizer, "pad_token_id", None)
            if pad is None:
                pad = getattr(tokenizer, "eos_token_id", None)
            if pad is None:
                raise RewardError(
                    "the reward model has no pad_token_id and its tokenizer no pad or "
                    "EOS token: set model.config.pad_token_id"
                )
            model.config.pad_token_id = pad
        self.pad_id = int(pad)

    def batch(self, prompts, texts, *, final, index):
        import torch

        out: list[float] = []
        device = next(self.model.parameters()).device
        with torch.inference_mode():
            for s in range(0, len(texts), self.batch_size):
                chunk = list(texts[s : s + self.batch_size])
                args = (list(prompts[s : s + self.batch_size]), chunk) if self.pair else (chunk,)
                enc = self.tokenizer(*args, truncation=True, max_length=self.max_length)
                # right padding with the model's pad id, so that positions start at 0 in every row
                # and the classifier reads the last real token of each
                rows = [ids or [self.pad_id] for ids in enc["input_ids"]]
                n = max(len(r) for r in rows)
                x = torch.full((len(rows), n), self.pad_id, dtype=torch.long)
                am = torch.zeros((len(rows), n), dtype=torch.long)
                for j, r in enumerate(rows):
                    x[j, : len(r)] = torch.tensor(r, dtype=torch.long)
                    am[j, : len(r)] = 1
                kw = {"input_ids": x.to(device), "attention_mask": am.to(device)}
                if "token_type_ids" in enc:
                    tt = torch.zeros_like(x)
                    for j, r in enumerate(enc["token_type_ids"]):
                        tt[j, : len(r)] = torch.tensor(r, dtype=torch.long)
                    kw["token_type_ids"] = tt.to(device)
                logits = self.model(**kw).logits.float()
                if self.num_labels == 1:
                    vals = logits[:, 0]
                else:
                    vals = logits.log_softmax(-1)[:, self.label]
                out.extend(vals.tolist())
        return out

    def __repr__(self) -> str:
        return f"RewardModel({getattr(self.model.config, '_name_or_path', '') or type(self.model).__name__})"
