"""Exact numeric ranges as regexes over JSON number text.

``minimum``/``maximum``/``exclusiveMinimum``/``exclusiveMaximum`` are compiled into
the number lexeme itself, digit by digit, so a bound is never checked after the
fact.  Integers and decimals are both exact; the accepted text forms are:

* integers: ``-?(0|[1-9][0-9]*)`` optionally followed by ``.0+`` (``1.0`` is an
  integer in JSON Schema); ``-0`` is only accepted by unconstrained numbers;
* numbers with a bound other than 0: ``-?(0|[1-9][0-9]*)(\\.[0-9]+)?`` (no exponent:
  a documented completeness gap, never a soundness one);
* numbers with no bound, or bounds at 0 only (a sign test): the full JSON grammar
  with an exponent.

``multipleOf``: an integer divisor is exact when the range is finite and small
(the multiples are enumerated) or when the divisor is ``2^a 5^b`` (divisibility is
a test on the last digits); ``10^-k`` bounds the number of fraction digits.
Anything else raises :class:`UnsupportedNumeric`.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from functools import lru_cache

from ..ir import EMPTY, NEVER, alt, cat, cps, lit, opt, plus, rep, star
from .regexops import minus_finite, non_empty, nullable

DIGIT = cps([(0x30, 0x39)])
NZDIGIT = cps([(0x31, 0x39)])
MINUS = lit("-")
ZERO_FRAC = opt(cat(lit("."), plus(lit("0"))))
INT_TEXT = cat(opt(MINUS), alt(lit("0"), cat(NZDIGIT, star(DIGIT))))
FRAC = cat(lit("."), plus(DIGIT))
EXP = cat(cps([(0x45, 0x45), (0x65, 0x65)]), opt(cps([(0x2B, 0x2B), (0x2D, 0x2D)])), plus(DIGIT))
NUMBER = cat(INT_TEXT, opt(FRAC), opt(EXP))
INTEGER = cat(INT_TEXT, ZERO_FRAC)
#: a number with a non-zero fraction and no exponent (a non-integer)
NON_INTEGER = cat(
    opt(MINUS),
    alt(lit("0"), cat(NZDIGIT, star(DIGIT))),
    lit("."),
    star(DIGIT),
    NZDIGIT,
    star(DIGIT),
)
MAX_ENUMERATED_MULTIPLES = 2000


class UnsupportedNumeric(ValueError):
    pass


def _digits(lo: int, hi: int):
    return cps([(0x30 + lo, 0x30 + hi)]) if lo <= hi else NEVER


@lru_cache(maxsize=4096)
def _same_len(x: str, y: str):
    """Digit strings of len(x) == len(y) between x and y inclusive."""
    if not x:
        return EMPTY
    if x == y:
        return lit(x)
    xd, yd = int(x[0]), int(y[0])
    if xd == yd:
        return cat(lit(x[0]), _same_len(x[1:], y[1:]))
    n = len(x) - 1
    if x[1:] == "0" * n and y[1:] == "9" * n:
        return cat(_digits(xd, yd), rep(DIGIT, n, n))
    parts = [cat(lit(x[0]), _same_len(x[1:], "9" * n))]
    if yd - xd > 1:
        parts.append(cat(_digits(xd + 1, yd - 1), rep(DIGIT, n, n)))
    parts.append(cat(lit(y[0]), _same_len("0" * n, y[1:])))
    return alt(*parts)


def uint_range(a: int, b: int | None):
    """Canonical decimal texts of the integers in [a, b] (a >= 0; b None = no bound)."""
    a = max(a, 0)
    if b is not None and b < a:
        return NEVER
    la = len(str(a))
    lb = len(str(b)) if b is not None else la
    parts = []
    for n in range(la, lb + 1):
        lo_n = max(a, 10 ** (n - 1) if n > 1 else 0)
        hi_n = 10**n - 1 if b is None else min(b, 10**n - 1)
        if lo_n <= hi_n:
            parts.append(_same_len(str(lo_n), str(hi_n)))
    if b is None:
        parts.append(cat(NZDIGIT, rep(DIGIT, la, None)))
    return alt(*parts)


def int_range(lo: int | None, hi: int | None):
    """Canonical texts of the integers in [lo, hi] (None = unbounded), ``-0`` excluded."""
    parts = []
    if hi is None or hi >= 0:
        parts.append(uint_range(max(lo, 0) if lo is not None else 0, hi))
    if lo is None or lo < 0:
        # x < 0: |x| in [max(1, -hi), -lo]
        amin = 1 if hi is None or hi >= 0 else -hi
        amax = None if lo is None else -lo
        r = uint_range(amin, amax)
        if r != NEVER:
            parts.append(cat(MINUS, r))
    return alt(*parts)


def _split(d: Decimal) -> tuple[int, str]:
    """A non-negative decimal as (integer part, fraction digits without trailing zeros)."""
    i = int(d)
    f = d - i
    if f == 0:
        return i, ""
    s = format(f, "f")
    frac = s.split(".", 1)[1].rstrip("0") if "." in s else ""
    return i, frac


@lru_cache(maxsize=4096)
def _fr(lo: str | None, lox: bool, hi: str | None, hix: bool, maxd: int | None, nz: bool = False):
    """Digit strings s (possibly empty) with lo <(=) 0.s <(=) hi; digits past maxd are 0;
    with ``nz`` s must contain a non-zero digit."""
    if lo == "" and not lox:
        lo = None
    zeros = NEVER if nz else star(lit("0"))
    if hi == "":
        if hix or lo is not None:
            return NEVER
        return zeros
    if maxd == 0:
        return zeros if lo is None else NEVER
    if lo is None and hi is None and (maxd is None or not nz):
        if nz:
            return cat(star(DIGIT), NZDIGIT, star(DIGIT))
        return star(DIGIT) if maxd is None else cat(rep(DIGIT, 0, maxd), zeros)
    if lo == "" and hi is None and maxd is None:
        return cat(star(DIGIT), NZDIGIT, star(DIGIT))
    out = []
    if lo is None and not nz:
        out.append(EMPTY)  # value 0 <= hi (hi is non-empty here, hence positive)
    groups: dict = {}
    for d in range(10):
        if lo is None:
            nl = None
        elif lo == "":
            nl = "" if d == 0 else None
        else:
            l0 = int(lo[0])
            if d < l0:
                continue
            nl = lo[1:] if d == l0 else None
        if hi is None:
            nh = None
        else:
            h0 = int(hi[0])
            if d > h0:
                continue
            nh = hi[1:] if d == h0 else None
        groups.setdefault((nl, nh, nz and d == 0), []).append(d)
    nmaxd = None if maxd is None else maxd - 1
    for (nl, nh, nnz), ds in groups.items():
        tail = _fr(nl, lox, nh, hix, nmaxd, nnz)
        if tail != NEVER:
            cls = cps([(0x30 + d, 0x30 + d) for d in ds])
            out.append(cat(cls, tail))
    return alt(*out)


def _frac_part(f, nonint: bool = False):
    """The optional '.digits' suffix for fraction-digit language f."""
    if nonint:
        return cat(lit("."), non_empty(f))
    return alt(EMPTY if nullable(f) else NEVER, cat(lit("."), non_empty(f)))


def _nonneg_decimal(
    L: Decimal, lox: bool, H: Decimal | None, hix: bool, maxd: int | None, nonint: bool = False
):
    """Texts (no sign, no exponent) of x >= 0 with L <(=) x <(=) H."""
    li, lf = _split(L)
    lf_key = lf
    if H is not None:
        hi_i, hf = _split(H)
        if hi_i == li:
            return cat(lit(str(li)), _frac_part(_fr(lf_key, lox, hf, hix, maxd, nonint), nonint))
        if hi_i < li:
            return NEVER
    parts = [cat(lit(str(li)), _frac_part(_fr(lf_key, lox, None, False, maxd, nonint), nonint))]
    anyfrac = _frac_part(_fr(None, False, None, False, maxd, nonint), nonint)
    mid = uint_range(li + 1, None if H is None else hi_i - 1)
    if mid != NEVER:
        parts.append(cat(mid, anyfrac))
    if H is not None:
        parts.append(
            cat(lit(str(hi_i)), _frac_part(_fr(None, False, hf, hix, maxd, nonint), nonint))
        )
    return alt(*parts)


def _sign_only(lo, hi) -> bool:
    return all(b is None or b == 0 for b in (lo, hi))


def decimal_range(
    lo: Decimal | None,
    lox: bool,
    hi: Decimal | None,
    hix: bool,
    maxd: int | None = None,
    nonint: bool = False,
):
    """JSON number texts with value in the range (see the module docstring)."""
    if lo is not None and hi is not None and (lo > hi or (lo == hi and (lox or hix))):
        return NEVER
    if maxd is None and not nonint and _sign_only(lo, hi):
        mant_any = cat(alt(lit("0"), cat(NZDIGIT, star(DIGIT))), opt(FRAC))
        mant_nz = alt(
            cat(lit("0."), star(DIGIT), NZDIGIT, star(DIGIT)), cat(NZDIGIT, star(DIGIT), opt(FRAC))
        )
        mant_zero = cat(lit("0"), opt(cat(lit("."), plus(lit("0")))))
        parts = []
        # positives
        if hi is None:
            parts.append(cat(mant_nz, opt(EXP)))
        # zero
        if (lo is None or (lo == 0 and not lox)) and (hi is None or (hi == 0 and not hix)):
            parts.append(cat(mant_zero, opt(EXP)))
        # negatives
        if lo is None:
            parts.append(cat(MINUS, mant_nz, opt(EXP)))
        del mant_any
        return alt(*parts)
    parts = []
    # x >= 0 part
    if hi is None or hi > 0 or (hi == 0 and not hix):
        if lo is None or lo < 0:
            L, lx = Decimal(0), False
        else:
            L, lx = lo, lox
        parts.append(_nonneg_decimal(L, lx, hi, hix, maxd, nonint))
    # x < 0 part: |x| in (max(0, -hi), -lo)
    if lo is None or lo < 0:
        if hi is None or hi >= 0:
            L, lx = Decimal(0), True
        else:
            L, lx = -hi, hix
        r = _nonneg_decimal(L, lx, None if lo is None else -lo, lox, maxd, nonint)
        if r != NEVER:
            parts.append(cat(MINUS, r))
    return alt(*parts)


def _int_bounds(lo, lox, hi, hix):
    ilo = ihi = None
    if lo is not None:
        ilo = (
            int(lo.to_integral_value(ROUND_FLOOR)) + 1
            if lox
            else int(lo.to_integral_value(ROUND_CEILING))
        )
        if lox and lo != lo.to_integral_value(ROUND_FLOOR):
            ilo = int(lo.to_integral_value(ROUND_CEILING))
    if hi is not None:
        ihi = (
            int(hi.to_integral_value(ROUND_CEILING)) - 1
            if hix
            else int(hi.to_integral_value(ROUND_FLOOR))
        )
        if hix and hi != hi.to_integral_value(ROUND_CEILING):
            ihi = int(hi.to_integral_value(ROUND_FLOOR))
    return ilo, ihi


def _pow25(m: int):
    if m <= 0:
        return None
    a = b = 0
    while m % 2 == 0:
        m //= 2
        a += 1
    while m % 5 == 0:
        m //= 5
        b += 1
    return (a, b) if m == 1 else None


def _int_literal_alt(values):
    return alt(*(lit(str(v)) for v in values))


def integer_regex(
    lo: Decimal | None,
    lox: bool,
    hi: Decimal | None,
    hix: bool,
    multiple_of: int | None = None,
    zero_frac: bool = True,
):
    """Integer texts in the range, divisible by ``multiple_of``; ``.0+`` is allowed
    after them unless ``zero_frac`` is false (draft-04, where 1.0 is not an integer)."""
    r = _integer_regex(lo, lox, hi, hix, multiple_of)
    if not zero_frac and r != NEVER:
        assert r == INTEGER or (r[0] == "cat" and r[1][-1] == ZERO_FRAC)
        r = INT_TEXT if r == INTEGER else cat(*r[1][:-1])
    return r


def _integer_regex(lo, lox, hi, hix, multiple_of):
    ilo, ihi = _int_bounds(lo, lox, hi, hix)
    if ilo is not None and ihi is not None and ilo > ihi:
        return NEVER
    m = multiple_of
    if m is None or m == 1:
        if ilo is None and ihi is None:
            return INTEGER
        return cat(int_range(ilo, ihi), ZERO_FRAC)
    if ilo is not None and ihi is not None:
        first = -(-ilo // m) * m
        count = (ihi - first) // m + 1 if ihi >= first else 0
        if count <= MAX_ENUMERATED_MULTIPLES:
            vals = range(first, ihi + 1, m)
            return cat(_int_literal_alt(vals), ZERO_FRAC) if count else NEVER
    p = _pow25(m)
    if p is None:
        raise UnsupportedNumeric(f"multipleOf {m} over an unbounded or large range")
    k = max(p)
    # |x| divisible by m: short numbers enumerated, long ones end in a k-digit suffix
    short = list(range(0, 10**k, m))
    suffixes = [str(v).rjust(k, "0") for v in short]
    long_ = (
        cat(NZDIGIT, star(DIGIT), alt(*(lit(s) for s in suffixes)))
        if k
        else cat(NZDIGIT, star(DIGIT))
    )
    nonneg = alt(_int_literal_alt(short or [0]), long_)  # 0, m, 2m, ...
    positive = minus_finite(nonneg, {"0"})  # m, 2m, ...

    def bounded_side(side, lower):
        """Multiples on one side with |x| >= lower (finitely many excluded)."""
        if lower <= 0:
            return side
        excluded = {str(v) for v in range(0, lower, m)}
        if len(excluded) > MAX_ENUMERATED_MULTIPLES:
            raise UnsupportedNumeric(f"multipleOf {m} with a large bound")
        return minus_finite(side, excluded)

    def finite(values):
        values = list(values)
        if len(values) > MAX_ENUMERATED_MULTIPLES:
            raise UnsupportedNumeric(f"multipleOf {m} with a large bound")
        return _int_literal_alt(values)

    if ilo is None and ihi is None:
        body = alt(nonneg, cat(MINUS, positive))
    elif ihi is None:  # x >= ilo
        if ilo <= 0:
            body = alt(nonneg, cat(MINUS, finite(range(m, -ilo + 1, m))) if ilo <= -m else NEVER)
        else:
            body = bounded_side(nonneg, ilo)
    else:  # x <= ihi
        if ihi >= 0:
            body = alt(cat(MINUS, positive), finite(range(0, ihi + 1, m)))
        else:
            body = cat(MINUS, bounded_side(positive, -ihi))
    return cat(body, ZERO_FRAC)


def number_regex(
    lo: Decimal | None, lox: bool, hi: Decimal | None, hix: bool, multiple_of: Decimal | None = None
):
    """Number texts in the range (and multiple of ``multiple_of`` when given)."""
    maxd = None
    if multiple_of is not None:
        m = multiple_of
        if m == m.to_integral_value():
            return integer_regex(lo, lox, hi, hix, int(m))
        t = m.normalize().as_tuple()
        if t.digits == (1,) and isinstance(t.exponent, int) and t.exponent < 0:
            maxd = -t.exponent
        else:
            raise UnsupportedNumeric(f"multipleOf {m}")
    if lo is None and hi is None and maxd is None:
        return NUMBER
    return decimal_range(lo, lox, hi, hix, maxd)


def to_decimal(v) -> Decimal:
    if isinstance(v, bool):
        raise TypeError("boolean is not a number")
    if isinstance(v, int):
        return Decimal(v)
    if isinstance(v, float):
        return Decimal(repr(v))
    return Decimal(v)
