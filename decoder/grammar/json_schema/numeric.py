"""Exact numeric ranges as regexes over JSON number text.

``minimum``/``maximum``/``exclusiveMinimum``/``exclusiveMaximum`` are compiled into
the number lexeme itself, digit by digit, so a bound is never checked after the
fact.  Integers and decimals are both exact; the accepted text forms are:

* integers: ``-?(0|[1-9][0-9]*)`` optionally followed by ``.0+`` (``1.0`` is an
  integer in JSON Schema); ``-0`` (and ``-0.0``) is zero, accepted wherever 0 is;
* numbers with a bound other than 0: ``-?(0|[1-9][0-9]*)(\\.[0-9]+)?`` (no exponent:
  a documented completeness gap, never a soundness one);
* numbers with no bound, or bounds at 0 only (a sign test): the full JSON grammar
  with an exponent.

``multipleOf``: an integer divisor is exact when the range is finite and small
(the multiples are enumerated) or when the divisor is ``2^a 5^b`` (divisibility is
a test on the last digits); ``10^-k`` bounds the number of fraction digits. Any other
divisor ``c / 10^e`` (30, 7, 1.5, 0.25) is a remainder automaton: the digits of
``x * 10^e`` read left to right, the remainder modulo ``c`` in the state
(:func:`multiple_dfa`), intersected with the range; its size is ``c * (e + 2)`` states,
and past :data:`MAX_MODULUS_STATES` the divisor raises :class:`UnsupportedNumeric`.
Multiples are written without an exponent (a completeness gap, as for bounded numbers).
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
NEG_ZERO = cat(lit("-0"), ZERO_FRAC)  # -0, -0.0, ...: the value 0
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
#: the most states a remainder automaton for multipleOf may have (c * (e + 2))
MAX_MODULUS_STATES = 4000


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


def _has_zero(lo: int | None, hi: int | None) -> bool:
    return (lo is None or lo <= 0) and (hi is None or hi >= 0)


def int_range(lo: int | None, hi: int | None):
    """Canonical texts of the integers in [lo, hi] (None = unbounded), and ``-0`` when 0
    is in the range."""
    parts = [lit("-0")] if _has_zero(lo, hi) else []
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


# ------------------------------------------------------------ exponent forms
#: integers with an exponent: the most significant fraction digits of the mantissa in the
#: decades strictly inside the range (17 significant digits: what repr() of a double writes)
MAX_INT_EXP_FRACTION = 16
#: the largest decade of a bound written out digit by digit (1e40 and beyond: a gap)
MAX_INT_EXP_DECADE = 40
#: the largest exponent of an integer written with one: a double holds integers up to
#: ~1.8e308, so larger ones would parse to infinity (not an integer) in most validators
MAX_INT_EXP_VALUE = 300
E_MARK = cps([(0x45, 0x45), (0x65, 0x65)])
ZEROS = star(lit("0"))
#: the fraction of a zero mantissa (``0.00e5``): zeros only -- ``0.83e1`` is 8.3, not zero
ZERO_FRAC = opt(cat(lit("."), plus(lit("0"))))


def _exp_values(a: int | None, b: int | None):
    """Exponent texts (after ``e``/``E``) whose value k is in [a, b] (None = unbounded);
    leading zeros and ``+`` are allowed, as JSON allows them."""
    if a is not None and b is not None and a > b:
        return NEVER
    parts = []
    if b is None or b >= 0:  # k >= 0: "+"? 0* digits
        nn = uint_range(max(a, 0) if a is not None else 0, b)
        parts.append(cat(opt(lit("+")), ZEROS, nn))
        if a is None or a <= 0:
            parts.append(cat(lit("-"), plus(lit("0"))))  # -0, -00: k = 0
    if a is None or a < 0:  # k < 0: "-" 0* |k| with |k| in [max(1, -b), -a]
        lo_abs = 1 if b is None or b >= 0 else -b
        parts.append(cat(lit("-"), ZEROS, uint_range(lo_abs, None if a is None else -a)))
    return alt(*parts)


def _decade(x: Decimal) -> int:
    """k with 10^k <= x < 10^(k+1), for x > 0."""
    return x.adjusted()


def _mantissas(lo: Decimal, lox: bool, hi: Decimal, hix: bool):
    r"""Normalised mantissa texts ``[1-9](\.[0-9]+)?`` with value in the range (within
    [1, 10))."""
    return _nonneg_decimal(lo, lox, hi, hix, None)


ANY_MANTISSA = cat(NZDIGIT, opt(FRAC))


def _positive_exp_forms(A: Decimal, ax: bool, B: Decimal | None, bx: bool):
    """Texts ``m e k`` (m a normalised mantissa) of x with A <(=) x <(=) B, x > 0 (A >= 0).

    Exact: the decades of A and B get their mantissa ranges, the decades between take any
    mantissa; A = 0 means no lower decade (every small decade is in). Mantissas with
    leading zeros or several integer digits (``0.1e1``, ``12e0``) are not generated: a
    completeness gap, never a soundness one."""
    one, ten = Decimal(1), Decimal(10)
    ka = _decade(A) if A > 0 else None
    kb = _decade(B) if B is not None else None
    if B is not None and (B <= 0 or (A > 0 and B < A)):
        return NEVER
    parts = []

    def form(mant, k_lo, k_hi):
        if mant == NEVER:
            return
        e = _exp_values(k_lo, k_hi)
        if e != NEVER:
            parts.append(cat(mant, E_MARK, e))

    if ka is not None and kb is not None and ka == kb:
        assert B is not None
        form(_mantissas(A.scaleb(-ka), ax, B.scaleb(-ka), bx), ka, ka)
        return alt(*parts)
    if ka is not None:  # the lower decade
        form(_mantissas(A.scaleb(-ka), ax, ten, True), ka, ka)
    if kb is not None:  # the upper decade
        assert B is not None
        form(_mantissas(one, False, B.scaleb(-kb), bx), kb, kb)
    mid_lo = None if ka is None else ka + 1
    mid_hi = None if kb is None else kb - 1
    form(ANY_MANTISSA, mid_lo, mid_hi)
    return alt(*parts)


@lru_cache(maxsize=256)
def _exp_forms(lo: Decimal | None, lox: bool, hi: Decimal | None, hix: bool):
    """The exponent forms of the numbers in the range: positives, negatives (mirrored) and
    zero (``0e5``, ``-0.0E-3``)."""
    parts = []
    if hi is None or hi > 0:
        A, ax = (lo, lox) if lo is not None and lo > 0 else (Decimal(0), True)
        parts.append(_positive_exp_forms(A, ax, hi, hix))
    if lo is None or lo < 0:
        A, ax = (-hi, hix) if hi is not None and hi < 0 else (Decimal(0), True)
        parts.append(cat(MINUS, _positive_exp_forms(A, ax, None if lo is None else -lo, lox)))
    zero_in = (lo is None or lo < 0 or (lo == 0 and not lox)) and (
        hi is None or hi > 0 or (hi == 0 and not hix)
    )
    if zero_in:
        parts.append(cat(opt(MINUS), lit("0"), ZERO_FRAC, E_MARK, _exp_values(None, None)))
    return alt(*parts)


@lru_cache(maxsize=256)
def _int_exp_forms(ilo: int | None, ihi: int | None):
    """Exponent forms of the integers in [ilo, ihi] (``1e2``, ``2.5E+3``, ``-1.20e1``): a
    normalised mantissa whose significant fraction digits number at most the exponent k
    (trailing zeros free). Exact: the decades of the bounds are intersected with the range
    digit by digit; the decades between (or beyond, when unbounded) take any mantissa with
    at most MAX_INT_EXP_FRACTION significant fraction digits (more: a completeness gap)."""
    parts = []
    n_max = MAX_INT_EXP_FRACTION

    def exact_decade(k: int, lo_k: int, hi_k: int):
        if k > MAX_INT_EXP_DECADE or lo_k > hi_k:
            return NEVER
        mant = _nonneg_decimal(Decimal(lo_k).scaleb(-k), False, Decimal(hi_k).scaleb(-k), False, k)
        return NEVER if mant == NEVER else cat(mant, E_MARK, _exp_values(k, k))

    def any_decades(k_lo: int, k_hi: int | None):
        """Integers m * 10^k with k in [k_lo, k_hi]: m has at most k fraction digits."""
        out = []
        if k_hi is not None and k_lo > k_hi:
            return NEVER
        for n in range(0, n_max + 1):
            lo_n = max(k_lo, n)
            if k_hi is not None and lo_n > k_hi:
                break
            frac = (
                opt(cat(lit("."), plus(lit("0"))))
                if n == 0
                else cat(lit("."), rep(DIGIT, n, n), ZEROS)
            )
            out.append(cat(NZDIGIT, frac, E_MARK, _exp_values(lo_n, k_hi)))
        return alt(*out)

    def side(alo: int, ahi: int | None):  # |x| in [alo, ahi], alo >= 1
        ka = len(str(alo)) - 1
        kb = None if ahi is None else len(str(ahi)) - 1
        if ahi is not None and kb == ka:
            return exact_decade(ka, alo, ahi)
        out = [exact_decade(ka, alo, 10 ** (ka + 1) - 1)]
        if ahi is not None and kb is not None:
            out.append(exact_decade(kb, 10**kb, ahi))
        out.append(any_decades(ka + 1, MAX_INT_EXP_VALUE if kb is None else kb - 1))
        return alt(*out)

    if ihi is None or ihi >= 1:
        parts.append(side(max(ilo, 1) if ilo is not None else 1, ihi))
    if ilo is None or ilo <= -1:
        parts.append(
            cat(MINUS, side(max(-ihi, 1) if ihi is not None else 1, None if ilo is None else -ilo))
        )
    if _has_zero(ilo, ihi):
        parts.append(cat(opt(MINUS), lit("0"), ZERO_FRAC, E_MARK, _exp_values(None, None)))
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
            parts.append(cat(opt(MINUS), mant_zero, opt(EXP)))
        # negatives
        if lo is None:
            parts.append(cat(MINUS, mant_nz, opt(EXP)))
        del mant_any
        return alt(*parts)
    parts = []
    zero_in = (lo is None or lo < 0 or (lo == 0 and not lox)) and (
        hi is None or hi > 0 or (hi == 0 and not hix)
    )
    if zero_in and not nonint:
        parts.append(NEG_ZERO)  # -0, -0.00: the value 0
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
    if maxd is None and not nonint:
        parts.append(_exp_forms(lo, lox, hi, hix))  # 1e-5, 2.5E+3: what json.dumps writes
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
    exponent: bool = True,
):
    """Integer texts in the range, divisible by ``multiple_of``; ``.0+`` is allowed
    after them unless ``zero_frac`` is false (draft-04, where 1.0 is not an integer);
    ``exponent=False`` leaves out the forms with an exponent (``1e2``)."""
    try:
        r = _integer_regex(lo, lox, hi, hix, multiple_of)
    except UnsupportedNumeric:
        # no enumeration and no last-digits test: the remainder automaton, in the range
        assert multiple_of is not None
        ilo, ihi = _int_bounds(lo, lox, hi, hix)
        texts = INT_TEXT if ilo is None and ihi is None else int_range(ilo, ihi)
        return _multiples_in(
            cat(texts, ZERO_FRAC) if zero_frac else texts, multiple_of, 0, False, zero_frac
        )
    if not zero_frac and r != NEVER:
        assert r == INTEGER or (r[0] == "cat" and r[1][-1] == ZERO_FRAC)
        return INT_TEXT if r == INTEGER else cat(*r[1][:-1])
    if r != NEVER and exponent and (multiple_of is None or multiple_of == 1):
        # 1e2, 2.5E+3: integers written with an exponent (not in draft-04, where an integer
        # is an integer literal); with multipleOf > 1 they are a completeness gap
        r = alt(r, _int_exp_forms(*_int_bounds(lo, lox, hi, hix)))
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
            if not count:
                return NEVER
            neg0 = [lit("-0")] if _has_zero(ilo, ihi) else []
            return cat(alt(_int_literal_alt(vals), *neg0), ZERO_FRAC)
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
    if _has_zero(ilo, ihi):
        body = alt(body, lit("-0"))  # zero is a multiple of everything
    return cat(body, ZERO_FRAC)


def _divisor(m: Decimal) -> tuple[int, int]:
    """``m`` as ``c / 10^e`` with ``c`` an integer and ``e >= 0`` smallest."""
    t = m.normalize().as_tuple()
    assert isinstance(t.exponent, int)
    e = max(0, -t.exponent)
    return int(m.scaleb(e)), e


def multiple_dfa(c: int, e: int, fraction: bool, zero_frac: bool = True):
    """The DFA of the JSON number texts without exponent (``-?(0|[1-9][0-9]*)(\\.[0-9]+)?``)
    whose value is a multiple of ``c / 10^e``: ``x`` is one exactly when ``N = x * 10^e`` is
    an integer divisible by ``c``, so the state holds ``N``'s remainder modulo ``c`` as its
    digits are read (the integer part, then up to ``e`` fraction digits; any further digit
    must be 0). A text ending after ``j < e`` fraction digits stands for ``N = r * 10^(e-j)``.
    ``fraction=False``: integers only (``e == 0``), with ``.0+`` after them when
    ``zero_frac``. Raises :class:`UnsupportedNumeric` past :data:`MAX_MODULUS_STATES`."""
    from . import automata

    if c <= 0 or e < 0 or (not fraction and e):
        raise ValueError("multiple_dfa: c > 0, e >= 0, and e == 0 for integers")
    if c * (e + 2) > MAX_MODULUS_STATES:
        raise UnsupportedNumeric(
            f"multipleOf {Decimal(c).scaleb(-e)} needs a remainder automaton of "
            f"{c * (e + 2):,} states (limit {MAX_MODULUS_STATES:,})"
        )
    # states: 0 start, 1 after '-', 2 "0", then int(r), frac(r, j) for j = 0..e, zeros(r)
    INT, FRAC0 = 3, 3 + c
    ZEROS = FRAC0 + c * (e + 1)
    n = ZEROS + c

    def frac(r: int, j: int) -> int:
        return FRAC0 + j * c + r

    edges: list[list] = [[] for _ in range(n)]
    finals = set()
    digit = lambda d: (0x30 + d, 0x30 + d)  # noqa: E731
    edges[0] += [(0x2D, 0x2D, 1)]
    for s0 in (0, 1):
        edges[s0] += [(0x30, 0x30, 2)] + [(*digit(d), INT + d % c) for d in range(1, 10)]
    finals.add(2)
    pow10 = [pow(10, e - j, c) for j in range(e + 1)]
    for r in range(c):
        edges[INT + r] += [(*digit(d), INT + (10 * r + d) % c) for d in range(10)]
        if r * pow10[0] % c == 0:
            finals.add(INT + r)
        for j in range(e + 1):
            s = frac(r, j)
            if j < e:
                edges[s] += [(*digit(d), frac((10 * r + d) % c, j + 1)) for d in range(10)]
            else:
                edges[s] += [(0x30, 0x30, ZEROS + r)]
            if j and r * pow10[j] % c == 0:
                finals.add(s)
        edges[ZEROS + r] += [(0x30, 0x30, ZEROS + r)]
        if r == 0:
            finals.add(ZEROS + r)
    if fraction or zero_frac:
        for s0, r in [(2, 0)] + [(INT + r, r) for r in range(c)]:
            edges[s0].append((0x2E, 0x2E, frac(r, 0)))
    for es in edges:
        es.sort()
    return automata.minimize(automata.Dfa(edges, finals))


def _multiples_in(range_rx, c: int, e: int, fraction: bool, zero_frac: bool = True):
    """The texts of ``range_rx`` that are multiples of ``c / 10^e`` (see multiple_dfa)."""
    from . import automata

    try:
        d = multiple_dfa(c, e, fraction, zero_frac)
        return automata.intersect(automata.to_dfa(range_rx), d).node()
    except automata.RegexBudgetError as err:
        raise UnsupportedNumeric(f"multipleOf {Decimal(c).scaleb(-e)}: {err}") from None


def _fraction_multiples(lo, lox, hi, hix, m: Decimal):
    """Multiples of a non-integer divisor in exact decimal arithmetic, as the specification
    defines them (jsonschema divides floats and so rejects 0.9 as a multiple of 0.3;
    tests/differential.py checks against exact arithmetic, README "Soundness")."""
    c, e = _divisor(m)
    texts = NUMBER if lo is None and hi is None else decimal_range(lo, lox, hi, hix, None)
    return _multiples_in(texts, c, e, True)


def non_multiples(texts, divisors):
    """The texts of ``texts`` without an exponent whose value is a multiple of none of
    ``divisors`` (``not: {multipleOf}``): with an exponent, ``3e1`` would be a multiple of 30
    that the remainder automaton does not read, so those forms are left out."""
    from . import automata

    try:
        d = automata.intersect(automata.to_dfa(texts), automata.to_dfa(cat(INT_TEXT, opt(FRAC))))
        for m in divisors:
            if m <= 0:
                raise UnsupportedNumeric(f"multipleOf {m} is not positive")
            c, e = _divisor(m)
            d = automata.intersect(d, automata.complement(multiple_dfa(c, e, True)))
    except automata.RegexBudgetError as err:
        raise UnsupportedNumeric(str(err)) from None
    return d.node()


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
            return _fraction_multiples(lo, lox, hi, hix, m)
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
