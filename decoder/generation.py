"""``Generation``: the result of a constrained generation (a ``str`` with extras).

:meth:`decoder.Decoder.generate` returns one per prompt, :meth:`decoder.Decoder.sample`
a list of them (each with ``.logprob``).  Besides the text: ``token_ids``, ``data`` (the
exact output bytes), ``finish_reason`` (``"stop"``: the constraint was complete and EOS
was chosen; ``"length"``: ``max_new_tokens`` or the context ran out first),
``complete`` (the constraint accepts the output), ``json`` (the parsed JSON value;
raises :class:`~decoder.errors.IncompleteOutput` when the output was cut short) and
``parsed`` (a Pydantic instance when the constraint was a Pydantic class, else ``json``).
"""

from __future__ import annotations

import json
from typing import Any

from .errors import IncompleteOutput

__all__ = ["Generation", "IncompleteOutput"]


class Generation(str):
    """The generated text, with ``token_ids``, ``data``, ``finish_reason``, ``complete``, ``json``."""

    token_ids: list
    data: bytes
    finish_reason: str
    complete: bool
    logprob: float  # set by Decoder.sample
    _model_class: Any

    def __new__(cls, data: bytes, token_ids, finish_reason: str, complete: bool, model_class=None):
        self = super().__new__(cls, data.decode("utf-8", "replace"))
        self.data = data
        self.token_ids = list(token_ids)
        self.finish_reason = finish_reason
        self.complete = complete
        self._model_class = model_class
        return self

    @property
    def text(self) -> str:
        return str(self)

    @property
    def json(self) -> Any:
        """The output parsed as JSON (for JSON-schema constraints)."""
        if not self.complete:
            raise IncompleteOutput(
                f"the output stopped ({self.finish_reason}) before the constraint was complete, so it "
                f"is not valid JSON yet: raise max_new_tokens. Output so far: {str(self)[:200]!r}"
            )
        return json.loads(self.data)

    @property
    def parsed(self) -> Any:
        """A Pydantic instance when the constraint was a Pydantic class, else :attr:`json`."""
        value = self.json
        return self._model_class.model_validate(value) if self._model_class is not None else value

    def __repr__(self) -> str:
        return f"Generation({str(self)!r}, finish_reason={self.finish_reason!r})"

    def __reduce__(self):
        return (Generation, (self.data, self.token_ids, self.finish_reason, self.complete))
