"""What the regex parser (:mod:`.regex`) and the lookaround construction
(:mod:`.lookaround`) share: the code points a ``.`` may match, ECMA-262's line terminators,
and the error that shows a pattern with a caret under the offending position."""

from __future__ import annotations

from ..errors import GrammarError
from . import ir

ANY_RANGES = ((0, 0xD7FF), (0xE000, ir.MAX_CODEPOINT))
ANY = ("cps", ANY_RANGES)
_ECMA_LT = ((0x0A, 0x0A), (0x0D, 0x0D), (0x2028, 0x2029))


def regex_error(message: str, pattern: str, position: int) -> GrammarError:
    """A GrammarError whose text shows the pattern with a caret under ``position``."""
    position = max(0, min(position, len(pattern)))
    if "\n" in pattern:
        start = pattern.rfind("\n", 0, position) + 1
        end = pattern.find("\n", position)
        end = len(pattern) if end < 0 else end
        shown, col = pattern[start:end], position - start
    else:
        shown, col = pattern, position
    text = f"{message} at position {position}:\n  {shown}\n  {' ' * col}^"
    return _make_error(text, pattern=pattern, position=position, reason=message)


def _make_error(text: str, **attrs) -> GrammarError:
    try:
        err = GrammarError(text, **attrs)
    except TypeError:
        err = GrammarError(text)
    for k, v in attrs.items():
        if getattr(err, k, None) is None:
            try:
                setattr(err, k, v)
            except (AttributeError, TypeError):  # pragma: no cover
                pass
    return err
