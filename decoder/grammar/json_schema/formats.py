"""``format`` as exact (or strictly-inside) regular languages over code points.

Every regex here describes a *subset* of what the format's RFC allows, chosen to
be exactly the common, canonical spelling; where the RFC language is regular we
follow it (dates with month lengths and leap years, times, IPv4, IPv6, UUID,
duration, JSON pointers, URI / URI-reference by RFC 3986's ABNF, IRI / IRI-reference
by RFC 3987's, URI templates by RFC 6570's). Each is also inside what jsonschema's
FormatChecker accepts with its optional libraries (tests/test_formats.py checks both).
Deliberate restrictions (a completeness gap, never a soundness one): year 0000 and leap
seconds are rejected, e-mail local parts are
dot-atoms, hostnames have no trailing dot and no ``--`` in positions 3-4
(no punycode A-labels) and at most 253 characters by construction; IDN labels are
short (1-8 code points) and from a few left-to-right scripts; IRIs use the BMP part of
RFC 3987's characters and IPv6 literals only in full.

``regex`` (ECMA-262 regex syntax, which no regular language describes) raises; unknown
format names are annotations and are ignored (as the specification says).
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
# idn-hostname as jsonschema checks it (``idna.encode``, IDNA 2008): the hostnames above, or
# up to three labels of which some are U-labels of 1-8 lowercase letters and digits from
# scripts written left to right whose every code point is PVALID with no contextual rule
# (Latin-1 with ß, Greek, Cyrillic, Hiragana, Katakana, CJK, Hangul; all NFC). Eight code points
# below U+D7A4 take at most 4 + 8 + 1 + 5 * 6 < 63 bytes as an A-label ("xn--", the basic
# code points, "-", six punycode digits per delta at most), so every label and the whole
# name (three labels) stay within idna's length limits.
_ULETTER = (
    "a-z0-9\u00df\u00e0-\u00f6\u00f8-\u00ff"  # Latin-1 lowercase (not the division sign)
    "\u03b1-\u03c9\u0430-\u044f"  # Greek, Cyrillic lowercase
    "\u3041-\u3094\u30a1-\u30f6\u4e00-\u9fa5\uac00-\ud7a3"  # kana, CJK, Hangul syllables
)
_ULABEL = (
    rf"(?:[{_ULETTER}](?:[{_ULETTER}](?:[{_ULETTER}](?:[{_ULETTER}-]{{0,4}}[{_ULETTER}])?)?)?)"
)
_IDN_LABEL = rf"(?:{_LABEL63}|{_ULABEL})"
_IDN_HOSTNAME = rf"(?:{_IDN_LABEL}(?:\.{_IDN_LABEL}){{0,2}}|{_LABEL27}(?:\.{_LABEL27}){{3,8}})"
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_EMAIL = _ATOM + r"(?:\." + _ATOM + r")*@(?:" + _HOSTNAME + r"|\[" + _IPV4 + r"\])"
# RFC 6531/6532: the local part's atoms take non-ASCII characters too
_IATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~\u00a0-\ud7ff\uf900-\ufdcf\ufdf0-\uffef-]+"
_IDN_EMAIL = _IATOM + r"(?:\." + _IATOM + r")*@(?:" + _IDN_HOSTNAME + r"|\[" + _IPV4 + r"\])"

# RFC 3986 (URI) and RFC 3987 (IRI): one construction, over the characters each allows
_UNRESERVED = r"A-Za-z0-9\-._~"
_SUBDELIMS = r"!$&'()*+,;="
_PCT = r"%[0-9A-Fa-f]{2}"
_SCHEME = r"[A-Za-z][A-Za-z0-9+.\-]*"
_IPLIT = r"\[(?:" + _IPV6 + r"|[vV][0-9A-Fa-f]+\.[" + _UNRESERVED + _SUBDELIMS + r":]+)\]"
# RFC 3987's ucschar and iprivate, their BMP part (what rfc3987-syntax, jsonschema's iri
# checker, takes)
_UCSCHAR = "\u00a0-\ud7ff\uf900-\ufdcf\ufdf0-\uffef"
_IPRIVATE = "\ue000-\uf8ff"


def _uri_grammar(unreserved: str, ip_literal: str, query_extra: str = "") -> tuple[str, str]:
    """(absolute, reference) by RFC 3986's ABNF, with ``unreserved`` as its character class
    and ``ip_literal`` as its bracketed host; RFC 3987's IRIs are the same rules over
    ``iunreserved`` (and ``iprivate`` in the query)."""
    pchar = rf"(?:[{unreserved}{_SUBDELIMS}:@]|{_PCT})"
    userinfo = rf"(?:[{unreserved}{_SUBDELIMS}:]|{_PCT})*"
    regname = rf"(?:[{unreserved}{_SUBDELIMS}]|{_PCT})*"
    host = r"(?:" + ip_literal + "|" + _IPV4 + "|" + regname + ")"
    authority = rf"(?:{userinfo}@)?{host}(?::[0-9]*)?"
    segment = rf"{pchar}*"
    segment_nz = rf"{pchar}+"
    segment_nz_nc = rf"(?:[{unreserved}{_SUBDELIMS}@]|{_PCT})+"
    path_abempty = rf"(?:/{segment})*"
    path_absolute = rf"/(?:{segment_nz}(?:/{segment})*)?"
    path_rootless = rf"{segment_nz}(?:/{segment})*"
    path_noscheme = rf"{segment_nz_nc}(?:/{segment})*"
    query = rf"(?:{pchar}|[/?{query_extra}])*"
    fragment = rf"(?:{pchar}|[/?])*"
    hier = rf"(?://{authority}{path_abempty}|{path_absolute}|{path_rootless})?"
    absolute = rf"{_SCHEME}:{hier}(?:\?{query})?(?:#{fragment})?"
    relative = (
        rf"(?://{authority}{path_abempty}|{path_absolute}|{path_noscheme})?"
        rf"(?:\?{query})?(?:#{fragment})?"
    )
    return absolute, rf"(?:{absolute}|{relative})"


_URI, _URI_REFERENCE = _uri_grammar(_UNRESERVED, _IPLIT)
# IRIs: an IPv6 literal only in its full eight-group form (rfc3987-syntax's IPv6 rule has
# no shorter one), IPvFuture with a lowercase "v" (its rule is case-sensitive)
_IRI, _IRI_REFERENCE = _uri_grammar(
    _UNRESERVED + _UCSCHAR,
    r"\[(?:(?:"
    + _H16
    + r":){7}"
    + _H16
    + r"|v[0-9A-Fa-f]+\.["
    + _UNRESERVED
    + _SUBDELIMS
    + r":]+)\]",
    _IPRIVATE,
)

# RFC 6570 URI templates, as both the RFC and jsonschema's checker (the uri-template
# package) read them: literals, and expressions of an operator (not the reserved = , ! @ |)
# and variables, each a name that starts with a letter, digit or "_" (dots inside, never
# doubled) and a prefix length of 1-999 (the package's limit; the RFC's is 9,999) or "*"
_UT_LITERAL = rf"(?:[!#$&(-;=?-\[\]_a-z~{_UCSCHAR}{_IPRIVATE}]|{_PCT})"
_UT_VARCHAR = rf"(?:[A-Za-z0-9_]|{_PCT})"
_UT_VARSPEC = rf"[A-Za-z0-9_](?:\.?{_UT_VARCHAR})*(?::[1-9][0-9]{{0,2}}|\*)?"
_URI_TEMPLATE = rf"(?:{_UT_LITERAL}|\{{[+#./;?&]?{_UT_VARSPEC}(?:,{_UT_VARSPEC})*\}})*"

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
    "iri": _IRI,
    "iri-reference": _IRI_REFERENCE,
    "uri-template": _URI_TEMPLATE,
    "idn-hostname": _IDN_HOSTNAME,
    "idn-email": _IDN_EMAIL,
    "json-pointer": _JSON_POINTER,
    "relative-json-pointer": _REL_JSON_POINTER,
}

#: formats validators assert that we cannot express (exactly or as a safe subset)
UNSUPPORTED_FORMATS = frozenset({"regex"})


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
#: braces: the superset keeps just those dashes). The other formats are checked only with
#: optional libraries (:data:`LIBRARY_FORMATS`).
FORMAT_SUPERSETS: dict[str, str] = {
    "uuid": r"[^]{8}-[^]{4}-[^]{4}-[^]{4}-[^]*",
    "ipv4": _IPV4,  # exactly ipaddress's dotted quads (no leading zeros)
    "ipv6": r"[^]*:[^]*",
    "email": r"[^]*@[^]*",
    "idn-email": r"[^]*@[^]*",
    "date": _DATE,  # exactly date.fromisoformat's YYYY-MM-DD (years 0001-9999)
}

#: The drafts (as ``SchemaDocument.draft``: 3, 4, 6, 7, 2019, 2020) whose validators check
#: each format of :data:`FORMAT_SUPERSETS` (jsonschema's ``_checks_drafts``): ``uuid`` came
#: with 2019-09, ``date`` is a draft-03 and draft-07-on format, draft-03 names ``ipv4``
#: ``ip-address``. Under another draft the format is an annotation for validators, so,
#: negated, it never fails (we still assert it where it is not negated: stricter, sound).
FORMAT_DRAFTS: dict[str, frozenset[int]] = {
    "uuid": frozenset({2019, 2020}),
    "date": frozenset({3, 7, 2019, 2020}),
    "ipv4": frozenset({4, 6, 7, 2019, 2020}),
    "ipv6": frozenset({3, 4, 6, 7, 2019, 2020}),
    "email": frozenset({3, 4, 6, 7, 2019, 2020}),
    "idn-email": frozenset({3, 4, 6, 7, 2019, 2020}),
}

#: Formats jsonschema checks only when an optional library is installed (without it every
#: string passes). Negated, such a format never fails: a string that must *not* match it
#: would have to fail for a validator without the library too, and none does; so
#: ``oneOf: [{format: uri}, B]`` takes URIs that fail B and values of B that are not
#: strings or fail B's other keywords, a subset of what every validator accepts.
LIBRARY_FORMATS = frozenset(
    {
        "date-time",
        "time",
        "duration",
        "hostname",
        "idn-hostname",
        "uri",
        "uri-reference",
        "iri",
        "iri-reference",
        "uri-template",
        "json-pointer",
        "relative-json-pointer",
    }
)


@cache
def format_superset_regex(name: str) -> tuple | None:
    """The code-point regex of :data:`FORMAT_SUPERSETS` for ``name``, or None when no
    regular language is known to contain every string validators accept for it."""
    src = FORMAT_SUPERSETS.get(name)
    if src is None:
        return None
    from ..regex import parse_regex

    return parse_regex(src, syntax="ecma")
