"""``format`` as exact (or strictly-inside) regular languages over code points.

Every regex here describes a *subset* of what the format's RFC allows, chosen to
be exactly the common, canonical spelling; where the RFC language is regular we
follow it (dates with month lengths and leap years, times, IPv4, IPv6, UUID,
duration, JSON pointers, URI / URI-reference by RFC 3986's ABNF).  Deliberate
restrictions (a completeness gap, never a soundness one): year 0000 and leap
seconds are rejected, e-mail local parts are
dot-atoms, hostnames have no trailing dot and no ``--`` in positions 3-4
(no punycode A-labels) and at most 253 characters by construction.

Formats the JSON Schema validators know but which we cannot express exactly
(``regex``, ``idn-*``, ``iri*``, ``uri-template``) raise; unknown format names
are annotations and are ignored (as the specification says).
"""

from __future__ import annotations

from functools import cache

_DIGIT = r"[0-9]"
_YEAR = r"(?:[0-9]{3}[1-9]|[0-9]{2}[1-9]0|[0-9][1-9]00|[1-9]000)"
_LEAP = r"(?:[0-9]{2}(?:0[48]|[2468][048]|[13579][26])|(?:0[48]|[2468][048]|[13579][26])00)"
_DATE = (
    r"(?:" + _YEAR + r"-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])"
    r"|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)|02-(?:0[1-9]|1[0-9]|2[0-8]))"
    r"|" + _LEAP + r"-02-29)"
)
_TIME = r"(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]+)?(?:[Zz]|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])"
_DUR_TIME = r"T(?:[0-9]+H(?:[0-9]+M(?:[0-9]+S)?)?|[0-9]+M(?:[0-9]+S)?|[0-9]+S)"
_DUR_DATE = r"(?:[0-9]+Y(?:[0-9]+M(?:[0-9]+D)?)?|[0-9]+M(?:[0-9]+D)?|[0-9]+D)"
_DURATION = r"P(?:" + _DUR_DATE + r"(?:" + _DUR_TIME + r")?|" + _DUR_TIME + r"|[0-9]+W)"
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
_IPV4 = _OCTET + r"(?:\." + _OCTET + r"){3}"
_H16 = r"[0-9A-Fa-f]{1,4}"
_LS32 = r"(?:" + _H16 + ":" + _H16 + "|" + _IPV4 + ")"


def _ipv6() -> str:
    h = _H16
    alts = [
        rf"(?:{h}:){{6}}{_LS32}",
        rf"::(?:{h}:){{5}}{_LS32}",
        rf"(?:{h})?::(?:{h}:){{4}}{_LS32}",
        rf"(?:(?:{h}:){{0,1}}{h})?::(?:{h}:){{3}}{_LS32}",
        rf"(?:(?:{h}:){{0,2}}{h})?::(?:{h}:){{2}}{_LS32}",
        rf"(?:(?:{h}:){{0,3}}{h})?::{h}:{_LS32}",
        rf"(?:(?:{h}:){{0,4}}{h})?::{_LS32}",
        rf"(?:(?:{h}:){{0,5}}{h})?::{h}",
        rf"(?:(?:{h}:){{0,6}}{h})?::",
    ]
    return "(?:" + "|".join(alts) + ")"


_IPV6 = _ipv6()
_UUID = r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}"
# a label: 1-63 letters/digits/hyphens, not starting or ending with '-', no '-' in
# position 3 (this excludes the 'xx--' A-label form entirely)
_LABEL63 = r"(?:[A-Za-z0-9](?:[A-Za-z0-9](?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,59}[A-Za-z0-9])?)?)?)"
_LABEL27 = r"(?:[A-Za-z0-9](?:[A-Za-z0-9](?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,23}[A-Za-z0-9])?)?)?)"
# total length <= 253 by construction: <= 3 labels of <= 63, or <= 9 labels of <= 27
_HOSTNAME = (
    r"(?:"
    + _LABEL63
    + r"(?:\."
    + _LABEL63
    + r"){0,2}|"
    + _LABEL27
    + r"(?:\."
    + _LABEL27
    + r"){3,8})"
)
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_EMAIL = _ATOM + r"(?:\." + _ATOM + r")*@(?:" + _HOSTNAME + r"|\[" + _IPV4 + r"\])"

# RFC 3986
_UNRESERVED = r"A-Za-z0-9\-._~"
_SUBDELIMS = r"!$&'()*+,;="
_PCT = r"%[0-9A-Fa-f]{2}"
_PCHAR = rf"(?:[{_UNRESERVED}{_SUBDELIMS}:@]|{_PCT})"
_SCHEME = r"[A-Za-z][A-Za-z0-9+.\-]*"
_USERINFO = rf"(?:[{_UNRESERVED}{_SUBDELIMS}:]|{_PCT})*"
_REGNAME = rf"(?:[{_UNRESERVED}{_SUBDELIMS}]|{_PCT})*"
_IPLIT = r"\[(?:" + _IPV6 + r"|[vV][0-9A-Fa-f]+\.[" + _UNRESERVED + _SUBDELIMS + r":]+)\]"
_HOST = r"(?:" + _IPLIT + "|" + _IPV4 + "|" + _REGNAME + ")"
_AUTHORITY = rf"(?:{_USERINFO}@)?{_HOST}(?::[0-9]*)?"
_SEGMENT = rf"{_PCHAR}*"
_SEGMENT_NZ = rf"{_PCHAR}+"
_SEGMENT_NZ_NC = rf"(?:[{_UNRESERVED}{_SUBDELIMS}@]|{_PCT})+"
_PATH_ABEMPTY = rf"(?:/{_SEGMENT})*"
_PATH_ABSOLUTE = rf"/(?:{_SEGMENT_NZ}(?:/{_SEGMENT})*)?"
_PATH_ROOTLESS = rf"{_SEGMENT_NZ}(?:/{_SEGMENT})*"
_PATH_NOSCHEME = rf"{_SEGMENT_NZ_NC}(?:/{_SEGMENT})*"
_QUERY = rf"(?:{_PCHAR}|[/?])*"
_HIER = rf"(?://{_AUTHORITY}{_PATH_ABEMPTY}|{_PATH_ABSOLUTE}|{_PATH_ROOTLESS})?"
_URI = rf"{_SCHEME}:{_HIER}(?:\?{_QUERY})?(?:#{_QUERY})?"
_RELATIVE = (
    rf"(?://{_AUTHORITY}{_PATH_ABEMPTY}|{_PATH_ABSOLUTE}|{_PATH_NOSCHEME})?"
    rf"(?:\?{_QUERY})?(?:#{_QUERY})?"
)
_URI_REFERENCE = rf"(?:{_URI}|{_RELATIVE})"
_JSON_POINTER = r"(?:/(?:[^~/]|~[01])*)*"
_REL_JSON_POINTER = r"(?:0|[1-9][0-9]*)(?:#|(?:/(?:[^~/]|~[01])*)*)"

FORMATS: dict[str, str] = {
    "date": _DATE,
    "time": _TIME,
    "date-time": _DATE + "[Tt]" + _TIME,
    "duration": _DURATION,
    "email": _EMAIL,
    "hostname": _HOSTNAME,
    "ipv4": _IPV4,
    "ipv6": _IPV6,
    "uuid": _UUID,
    "uri": _URI,
    "uri-reference": _URI_REFERENCE,
    "json-pointer": _JSON_POINTER,
    "relative-json-pointer": _REL_JSON_POINTER,
}

#: formats validators assert that we cannot express (exactly or as a safe subset)
UNSUPPORTED_FORMATS = frozenset(
    {
        "regex",
        "idn-email",
        "idn-hostname",
        "iri",
        "iri-reference",
        "uri-template",
    }
)


@cache
def format_regex(name: str) -> tuple | None:
    """The code-point regex of a known format, or None for an unknown (annotation) one.

    Raises KeyError for formats in :data:`UNSUPPORTED_FORMATS`.
    """
    if name in UNSUPPORTED_FORMATS:
        raise KeyError(name)
    src = FORMATS.get(name)
    if src is None:
        return None
    from ..regex import parse_regex

    return parse_regex(src, syntax="ecma")


#: For ``not: {format}`` (and ``oneOf``/``if`` branches negated): a regular language that
#: contains every string a validator may accept for the format, so that its complement
#: is a safe "does not match the format". jsonschema's checks: ``ipv4``/``ipv6`` parse
#: with :mod:`ipaddress` (dotted quads; always a colon), ``email`` only looks for an
#: ``@``, ``date`` is ``\d{4}-\d{2}-\d{2}`` (ASCII) and a calendar date (for ipv4 and
#: date our regex is that set exactly, so their negation is exact). ``uuid`` takes
#: whatever :class:`uuid.UUID` parses with dashes at 8, 13, 18 and 23 (extra dashes,
#: braces), and the other formats depend on optional libraries (without them every
#: string passes), so no complement is known safe: negating them is refused.
FORMAT_SUPERSETS: dict[str, str] = {
    "ipv4": _IPV4,  # exactly ipaddress's dotted quads (no leading zeros)
    "ipv6": r"[^]*:[^]*",
    "email": r"[^]*@[^]*",
    "idn-email": r"[^]*@[^]*",
    "date": _DATE,  # exactly date.fromisoformat's YYYY-MM-DD (years 0001-9999)
}


@cache
def format_superset_regex(name: str) -> tuple | None:
    """The code-point regex of :data:`FORMAT_SUPERSETS` for ``name``, or None when no
    regular language is known to contain every string validators accept for it."""
    src = FORMAT_SUPERSETS.get(name)
    if src is None:
        return None
    from ..regex import parse_regex

    return parse_regex(src, syntax="ecma")
