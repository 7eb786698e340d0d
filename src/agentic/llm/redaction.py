"""Redaction of personal data and secrets in LLM prompts and responses before they are stored or logged.

Everything an agent sends to or receives from a model may carry what a user pasted: e-mail addresses,
phone numbers, card numbers, IBANs, US social security numbers, IP addresses, API keys, private keys and
passwords. `redact` replaces each one with a typed placeholder (`[REDACTED:email]`) so stored transcripts
and logs keep their meaning without keeping the data; `redact_value` does the same through JSON-like
structures (an OpenAI messages list, tool call arguments).

Detection is deliberately conservative where a false positive would destroy useful text (numbers must
pass a checksum or the phone-number library's validity rules) and deliberately eager where a miss would
leak a credential (anything assigned to a `password`/`token`/`api_key` is treated as secret).

Detectors run by priority: secrets, then structured identifiers (SSNs, IPs), then cards and IBANs,
then e-mail addresses, then phone numbers. Overlapping findings are merged into one span so no part of
either leaks; the merged span takes the kind of the highest-priority finding in it (earliest-starting,
then longest, among findings of the same priority).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from itertools import chain, islice
from typing import Any, Final

import phonenumbers

__all__ = ["Finding", "PiiKind", "find_pii", "placeholder", "redact", "redact_value"]


class PiiKind(StrEnum):
    """What a finding is; also the label in its placeholder."""

    SECRET = "secret"  # noqa: S105  # a label, not a password
    SSN = "ssn"
    IP = "ip"
    CARD = "card"
    IBAN = "iban"
    EMAIL = "email"
    PHONE = "phone"


# Detection priority, lowest first: when findings overlap, the highest-priority one names the merged
# span. Kinds of equal rank (a card inside an IBAN) defer to the earliest-starting, then longest.
_PRIORITY: Final = {
    PiiKind.SECRET: 0,
    PiiKind.SSN: 1,
    PiiKind.IP: 1,
    PiiKind.CARD: 2,
    PiiKind.IBAN: 2,
    PiiKind.EMAIL: 3,
    PiiKind.PHONE: 4,
}


@dataclass(frozen=True, slots=True)
class Finding:
    """One piece of personal data or secret in a text.

    Attributes:
        kind: What was found.
        start: Index of its first character.
        end: Index just past its last character (a slice end, like `re.Match.end`).
    """

    kind: PiiKind
    start: int
    end: int


def placeholder(kind: PiiKind) -> str:
    """The text that replaces a finding of `kind`, e.g. `[REDACTED:email]`."""
    return f"[REDACTED:{kind.value}]"


# A value that is already a placeholder is not redacted again (keeps find_pii quiet on redacted text).
_NOT_PLACEHOLDER = r"(?!\[REDACTED:)"
_PLACEHOLDER_RE: Final = re.compile(r"\[REDACTED:[a-z]+\]")

# --- secrets ---------------------------------------------------------------------------------------

# Case-insensitive patterns are written in lower case and run on an ASCII-lower-cased copy of the text
# (same length, so spans carry over): three times faster than re.IGNORECASE on a keyword alternation.
_ASCII_LOWER: Final = {code: code + 32 for code in range(ord("A"), ord("Z") + 1)}
_NOT_PLACEHOLDER_LOWER = r"(?!\[redacted:)"

# Key names whose value is a credential, matched at the end of a longer name (db_password, clientsecret,
# x-api-key, aws_secret_access_key). "token" must end the name so usage counters such as `max_tokens`
# or `prompt_tokens` are not mistaken for credentials.
_CREDENTIAL_NAMES = (
    r"(?:passw(?:or)?d|passphrase|secret|token|api[_\-]?key|apikey"
    r"|(?:access|secret|private|signing|encryption|master|client)[_\-]?key|credentials?|authorization|auth)"
)
# Bare values that are type names, literals or empty markers, not credentials: `password: str` in code.
_NOT_A_CREDENTIAL = (
    r"(?!(?:true|false|null|none|nil|undefined|str|string|int|bool|bytes|secretstr|optional|bearer)"
    r"(?![\w\-]))"
)
# An auth scheme stays readable and only the credential after it goes. Possessive: on redacted text the
# scheme must not be retried as the value itself.
_AUTH_SCHEME = r"(?:(?:bearer|basic|token|bot)[ \t]+)?+"
_ASSIGNMENT_RE: Final = re.compile(
    _CREDENTIAL_NAMES
    + r"""\\?["']?[ \t]*[:=][ \t]*"""
    + rf"""(?:
        \\"{_AUTH_SCHEME}(?!\[redacted:)(?P<escaped>[^"\\\n]{{1,1024}})\\"  # JSON in JSON: \"s3cr3t\"
      | "{_AUTH_SCHEME}(?!\[redacted:)(?P<double>(?:[^"\\\n]|\\.){{1,1024}})"
      | '{_AUTH_SCHEME}(?!\[redacted:)(?P<single>[^'\n]{{1,1024}})'
      | {_AUTH_SCHEME}{_NOT_PLACEHOLDER_LOWER}{_NOT_A_CREDENTIAL}
        # A bare value ends at whitespace or at what delimits it in a query string, JSON or a call.
        (?P<bare>[^\s"'`,;&(){{}}\[\]<>=:\\][^\s"'`,;&(){{}}\[\]<>]{{0,1023}})
    )""",
    re.VERBOSE,
)
_CASE_INSENSITIVE_PATTERNS: Final = (
    _ASSIGNMENT_RE,
    # Command-line flags: `mysql --password hunter2`.
    re.compile(
        r"-(?<!\S-)-?[a-z0-9\-]{0,30}(?:password|passwd|passphrase|secret|token|api-key|apikey)[ \t]+"
        + _NOT_PLACEHOLDER_LOWER
        + r"(?P<bare>[^\s\-]\S{0,1023})"
    ),
    # Bearer credentials outside a recognised header name ("curl -H 'Bearer …'").
    re.compile(
        r"bearer(?<![a-z0-9]bearer)[ \t]+"
        + _NOT_PLACEHOLDER_LOWER
        + r"(?=[a-z0-9._~+/\-]*[0-9])(?P<bare>[a-z0-9._~+/\-]{16,}=*)"
    ),
)

# Credential formats recognisable on their own. Each starts with a literal, which lets the regex engine
# skip ahead cheaply; the look-behind after it stops a match starting inside a longer identifier.
_TOKEN_PATTERNS: Final = tuple(
    re.compile(pattern, flags)
    for pattern, flags in (
        # PEM private keys (PKCS#1/#8, EC, OpenSSH, PGP): the whole block; when the END line is missing
        # (a truncated response), the base64 lines after BEGIN.
        (
            r"-----BEGIN[A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----"
            r"(?:.{0,20000}?-----END[A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----"
            r"|(?:(?:\r?\n|\\r?\\n)[A-Za-z0-9+/=]{1,100})*)",
            re.DOTALL,
        ),
        # OpenAI (sk-, sk-proj-, sk-svcacct-) and Anthropic (sk-ant-) keys. Random keys contain a digit;
        # requiring one keeps kebab-case words such as "sk-learn-compatible-transformers" intact.
        (r"sk-(?<![A-Za-z0-9_\-]sk-)(?=[A-Za-z0-9_\-]*[0-9])[A-Za-z0-9_\-]{20,}", 0),
        (r"A[KS]IA(?<![A-Za-z0-9]A[KS]IA)[0-9A-Z]{16}(?![A-Za-z0-9])", 0),  # AWS access key ids
        (r"gh[pousr]_(?<![A-Za-z0-9_]gh[pousr]_)[A-Za-z0-9]{36,}", 0),  # GitHub OAuth/app/user tokens
        (r"github_pat_(?<![A-Za-z0-9_]github_pat_)[A-Za-z0-9_]{22,}", 0),  # GitHub fine-grained tokens
        (r"xox[abprs]-(?<![A-Za-z0-9]xox[abprs]-)[A-Za-z0-9\-]{10,}", 0),  # Slack tokens
        (r"https://hooks\.slack\.com/services/[A-Za-z0-9_/]{10,}", 0),  # Slack webhooks carry their secret
        (r"AIza(?<![A-Za-z0-9_\-]AIza)[0-9A-Za-z_\-]{35}(?![A-Za-z0-9_\-])", 0),  # Google API keys
        (r"(?:sk|rk)_(?<![A-Za-z0-9][sr]k_)(?:live|test)_[A-Za-z0-9]{10,}", 0),  # Stripe secret keys
        (r"ag[ksr]_(?<![A-Za-z0-9]ag[ksr]_)[A-Za-z0-9_\-]{16,}", 0),  # ours: API keys, session tokens
        (r"eyJ(?<![A-Za-z0-9_\-]eyJ)[A-Za-z0-9_\-]{5,}\.eyJ[A-Za-z0-9_\-]{5,}\.[A-Za-z0-9_\-]*", 0),  # JWT
        # The password in a URL's user info: postgres://user:hunter2@db/app.
        (r"://[^\s:/@]{0,256}:" + _NOT_PLACEHOLDER + r"(?P<bare>[^\s/@]{1,256})@", 0),
    )
)
_VALUE_GROUPS: Final = ("escaped", "double", "single", "bare")

# A whole dict key that names a credential: redact_value replaces its string value outright, since
# {"password": "hunter2"} carries no pattern the text detectors could recognise.
_CREDENTIAL_KEY_RE: Final = re.compile(r"[A-Za-z0-9_.\-]{0,40}" + _CREDENTIAL_NAMES, re.IGNORECASE)


def _find_secrets(text: str) -> Iterator[Finding]:
    lowered = text.translate(_ASCII_LOWER)
    for pattern, haystack in chain(
        ((pattern, text) for pattern in _TOKEN_PATTERNS),
        ((pattern, lowered) for pattern in _CASE_INSENSITIVE_PATTERNS),
    ):
        for match in pattern.finditer(haystack):
            # Assignment-like patterns redact the value only, so the key keeps the text readable.
            group = next((name for name in _VALUE_GROUPS if match.groupdict().get(name) is not None), None)
            start, end = match.span(group) if group else match.span()
            yield Finding(PiiKind.SECRET, start, end)


# --- structured identifiers ------------------------------------------------------------------------

# AAA-GG-SSSS; area 000, 666 and 900-999, group 00 and serial 0000 are never issued.
_SSN_RE: Final = re.compile(
    r"(?<![0-9A-Za-z])(?<![0-9A-Za-z]-)"
    r"(?!000|666|9[0-9]{2})[0-9]{3}-(?!00)[0-9]{2}-(?!0000)[0-9]{4}"
    r"(?![0-9A-Za-z]|-[0-9A-Za-z])"
)
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
# Exactly four octets, each 0-255, not part of a longer dotted run: "1.2.3" and "10.0.19045.3803" are
# versions, and a "v" or letter before the first octet means a version or identifier too.
_IPV4_RE: Final = re.compile(
    rf"(?<![0-9A-Za-z.])(?:{_OCTET}\.){{3}}{_OCTET}(?![0-9A-Za-z]|\.[0-9])",
)


def _find_ssns(text: str) -> Iterator[Finding]:
    for match in _SSN_RE.finditer(text):
        yield Finding(PiiKind.SSN, *match.span())


def _find_ips(text: str) -> Iterator[Finding]:
    for match in _IPV4_RE.finditer(text):
        address = ipaddress.IPv4Address(match.group())
        # Single-digit dotted quads are section and version numbers far more often than addresses.
        # Loopback, 0.0.0.0, netmasks (reserved 240/4), multicast and link-local addresses identify
        # nobody and fill configuration text; redacting them would only hide useful context.
        if not (
            all(len(octet) == 1 for octet in match.group().split("."))  # "section 4.5.3.1", "v 1.2.0.0"
            or address.is_loopback
            or address.is_unspecified
            or address.is_reserved
            or address.is_multicast
            or address.is_link_local
        ):
            yield Finding(PiiKind.IP, *match.span())


# --- cards and IBANs -------------------------------------------------------------------------------

# A run of digit groups separated by single spaces or dashes, not glued to letters, to a decimal point
# or thousands separator (prices, versions), or to a dash-joined identifier (UUIDs).
_DIGIT_RUN_RE: Final = re.compile(
    r"(?<![0-9A-Za-z])(?<![0-9A-Za-z]-)(?<![0-9][.,])"
    r"[0-9]+(?:[ \-][0-9]+)*"
    r"(?![0-9A-Za-z]|[.,][0-9])"
)
_ASCII_DIGITS_RE: Final = re.compile(r"[0-9]+")
_CARD_MIN_DIGITS, _CARD_MAX_DIGITS = 13, 19
# Card groupings are 4-4-4-4, 4-6-5, 4-6-4, 4-4-4-4-3: groups of 3 to 6 digits. Longer or shorter
# groups (UUIDs, dates, tables of small numbers) are not cards.
_CARD_GROUP_MIN, _CARD_GROUP_MAX = 3, 6
# Major industry identifiers of payment networks (Mir 2, Amex/Diners/JCB 3, Visa 4, Mastercard 5,
# Discover/UnionPay/Maestro 6). Leading 0, 1 (airlines; also every millisecond Unix timestamp until
# 2033) and 7-9 are skipped: a Luhn check alone passes one number in ten.
_CARD_LEADING_DIGITS: Final = frozenset("23456")


def _luhn_valid(digits: str) -> bool:
    """Whether a digit string passes the Luhn (mod 10) check."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        digit = ord(char) - ord("0")
        if position % 2:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


def _is_card(digits: str) -> bool:
    return (
        _CARD_MIN_DIGITS <= len(digits) <= _CARD_MAX_DIGITS
        and digits[0] in _CARD_LEADING_DIGITS
        and _luhn_valid(digits)
    )


def _find_cards(text: str) -> Iterator[Finding]:
    for run in _DIGIT_RUN_RE.finditer(text):
        if len(run.group()) < _CARD_MIN_DIGITS:
            continue
        groups = [(run.start() + g.start(), g.group()) for g in _ASCII_DIGITS_RE.finditer(run.group())]
        # A run may hold a card next to other numbers ("4111 1111 1111 1111 12 25"): look for the
        # longest card made of consecutive groups, earliest first, without reusing a group.
        index = 0
        while index < len(groups):
            end_index = _longest_card_at(groups, index)
            if end_index is None:
                index += 1
                continue
            last_start, last_digits = groups[end_index]
            yield Finding(PiiKind.CARD, groups[index][0], last_start + len(last_digits))
            index = end_index + 1


def _longest_card_at(groups: list[tuple[int, str]], first: int) -> int | None:
    """Index of the last group of the longest card starting at group `first`, or None."""
    if _is_card(groups[first][1]):
        return first  # one unbroken 13-19 digit number; it cannot be extended by a group
    best: int | None = None
    digits = ""
    for index in range(first, len(groups)):
        group = groups[index][1]
        if not _CARD_GROUP_MIN <= len(group) <= _CARD_GROUP_MAX:
            break
        digits += group
        if len(digits) > _CARD_MAX_DIGITS:
            break
        if _is_card(digits):
            best = index
    return best


# ISO 13616 IBAN lengths: every SEPA country plus the other registered countries in common use.
_IBAN_LENGTHS: Final = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BR": 29,
    "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28, "EE": 20, "EG": 29,
    "ES": 24, "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28,
    "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20,
    "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "LY": 25, "MC": 27, "MD": 24, "ME": 22,
    "MK": 19, "MR": 27, "MT": 31, "MU": 30, "NL": 18, "NO": 15, "PK": 24, "PL": 28, "PS": 29, "PT": 25,
    "QA": 29, "RO": 24, "RS": 22, "SA": 24, "SC": 31, "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27,
    "ST": 25, "SV": 28, "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
}  # fmt: skip
# IBANs are written in capitals (ISO 13616); accepting lower case would let "de12 and the rest of a
# sentence" be read as one, one time in 97.
_IBAN_START_RE: Final = re.compile(r"(?<![0-9A-Za-z])([A-Z]{2})[0-9]{2}")


def _iban_checksum_valid(iban: str) -> bool:
    """ISO 13616 mod-97 check of an IBAN without spaces."""
    rearranged = iban[4:] + iban[:4]
    # Letters count as 10 (A) to 35 (Z): base-36 digit values.
    return int("".join(str(int(char, 36)) for char in rearranged)) % 97 == 1


def _is_iban_char(char: str) -> bool:
    return "0" <= char <= "9" or "A" <= char <= "Z"


def _find_ibans(text: str) -> Iterator[Finding]:
    for match in _IBAN_START_RE.finditer(text):
        length = _IBAN_LENGTHS.get(match.group(1))
        if length is None:
            continue
        # Read exactly the country's length of characters, allowing single spaces between them (the
        # printed "DE89 3704 0044 …" form); a regex cannot know where the BBAN ends, the length can.
        chars: list[str] = []
        position = match.start()
        while position < len(text) and len(chars) < length:
            char = text[position]
            if _is_iban_char(char):
                chars.append(char)
            elif not (char == " " and position + 1 < len(text) and _is_iban_char(text[position + 1])):
                break
            position += 1
        if len(chars) != length or (position < len(text) and text[position].isalnum()):
            continue  # too short, or the start of a longer token
        if _iban_checksum_valid("".join(chars)):
            yield Finding(PiiKind.IBAN, match.start(), position)


# --- e-mail addresses ------------------------------------------------------------------------------

# Latin letters with diacritics are allowed (josé@exämple.de); other scripts are not, so an address
# written inside Japanese or Cyrillic text does not swallow its neighbours. Lengths are bounded by the
# RFC 5321 limits, which also bounds the regex's backtracking on long runs without an "@".
_LATIN = r"A-Za-z0-9\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f"
_EMAIL_RE: Final = re.compile(
    rf"[{_LATIN}._%+\-]{{1,64}}@"
    rf"(?:[{_LATIN}](?:[{_LATIN}\-]{{0,61}}[{_LATIN}])?\.){{1,8}}"
    r"(?:[A-Za-z]{2,63}|xn--[A-Za-z0-9\-]{1,59})"
)


def _find_emails(text: str) -> Iterator[Finding]:
    if "@" not in text:
        return
    for match in _EMAIL_RE.finditer(text):
        yield Finding(PiiKind.EMAIL, *match.span())


# --- phone numbers ---------------------------------------------------------------------------------

# phonenumbers' own character classes (phonenumbermatcher._PATTERN): a candidate number is leading
# "+"/brackets, then digit blocks separated by this punctuation. A "chunk" is a maximal run of those.
# Running the library on a window around each chunk finds what a run over the whole text would, at a
# fraction of the cost, and a regional pass can be skipped for a chunk that cannot hold a number of
# that region's length.
_PHONE_PUNCTUATION = (
    r"\-x\u2010-\u2015\u2212\u30fc\uff0d-\uff0f \u00a0\u00ad\u200b\u2060\u3000()"
    r"\uff08\uff09\uff3b\uff3d.\[\]/~\u2053\u223c\uff5e"
)
_PHONE_LEAD = r"+\uff0b(\[\uff08\uff3b"
_PHONE_CHUNK_RE: Final = re.compile(
    rf"(?:[{_PHONE_LEAD}][{_PHONE_PUNCTUATION}]{{0,4}}){{0,2}}\d[\d{_PHONE_PUNCTUATION}]*"
)
_PLUS_SIGNS = ("+", "\uff0b")
_DIGIT_RE: Final = re.compile(r"\d")
_DIGIT_BLOCK_RE: Final = re.compile(r"\d+")
# ISO dates fill logs and JSON and are never phone numbers; they do not make a chunk worth a pass.
_ISO_DATE_RE: Final = re.compile(r"(?<!\d)\d{4}-\d{2}-\d{2}(?!\d)")
# Context kept around a chunk: the library looks at the character before a number (a letter or currency
# sign disqualifies it) and after it (extensions such as "ext. 1234", the ":30" of a time stamp).
_PHONE_CONTEXT_BEFORE, _PHONE_CONTEXT_AFTER = 1, 16
# The passes. The international one (no default region) finds only "+"-prefixed numbers, the shortest
# valid ones having 7 digits (+683 4002); texts with fewer digits are not searched at all. The regional
# passes also find national formats: in the US 10 digits, "(415) 555-2671", or 11 with the trunk prefix
# 1; in GB 7 to 11, "020 7946 0958", "0800 1111"; or anything after the international call prefix.
# The library builds candidates from consecutive digit blocks, so a chunk whose consecutive blocks never
# add up to such a length cannot hold one and the pass is skipped for it.
_PHONE_MIN_DIGITS = 7
_PHONE_REGIONS: Final[tuple[str | None, ...]] = (None, "US", "GB")
_NATIONAL_DIGITS: Final = {"US": frozenset({10, 11}), "GB": frozenset(range(7, 12))}
_MAX_NATIONAL_DIGITS = 11
_INTERNATIONAL_PREFIXES: Final = {"US": "011", "GB": "00"}
# Stands in for masked-out characters: neither a letter, a digit nor phone punctuation, so it separates
# numbers without disqualifying a neighbour the way a letter would.
_MASK = "_"


@dataclass(slots=True)
class _PhoneWindow:
    """A span of text around phone-number-like chunks, and the passes worth running on it."""

    start: int
    end: int
    regions: set[str | None]


def _count_digits(text: str) -> int:
    return sum(map(str.isdecimal, text))


def _chunk_regions(chunk: str) -> set[str | None]:
    """The passes that could find a valid number in `chunk`."""
    regions: set[str | None] = set()
    if any(sign in chunk for sign in _PLUS_SIGNS):
        regions.add(None)
    blocks = _DIGIT_BLOCK_RE.findall(_ISO_DATE_RE.sub(_MASK, chunk))
    for first, block in enumerate(blocks):
        for region, prefix in _INTERNATIONAL_PREFIXES.items():
            if block.startswith(prefix):
                regions.add(region)
        digits = 0
        for following in blocks[first:]:
            digits += len(following)
            if digits > _MAX_NATIONAL_DIGITS:
                break
            regions.update(region for region, lengths in _NATIONAL_DIGITS.items() if digits in lengths)
    return regions


def _phone_windows(text: str) -> list[_PhoneWindow]:
    """Merged windows of `text` that may hold a phone number, with the context the library inspects."""
    windows: list[_PhoneWindow] = []
    for chunk in _PHONE_CHUNK_RE.finditer(text):
        if _count_digits(chunk.group()) < _PHONE_MIN_DIGITS:
            continue
        regions = _chunk_regions(chunk.group())
        if not regions:
            continue
        start = max(0, chunk.start() - _PHONE_CONTEXT_BEFORE)
        end = min(len(text), chunk.end() + _PHONE_CONTEXT_AFTER)
        if windows and start <= windows[-1].end:
            windows[-1].end = max(end, windows[-1].end)
            windows[-1].regions |= regions
        else:
            windows.append(_PhoneWindow(start, end, regions))
    return windows


def _mask(text: str, spans: Iterable[tuple[int, int]]) -> str:
    """`text` with the characters of `spans` replaced by `_MASK`; same length, so offsets still hold."""
    parts: list[str] = []
    position = 0
    for span_start, span_end in sorted(spans):
        start = max(span_start, position)  # overlapping spans: mask only what is not masked yet
        if span_end > start:
            parts.extend((text[position:start], _MASK * (span_end - start)))
            position = span_end
    parts.append(text[position:])
    return "".join(parts)


def _find_phones(text: str, claimed: Iterable[Finding]) -> Iterator[Finding]:
    """Phone numbers in `text` outside the spans other detectors have `claimed`."""
    # Most texts have no phone number at all, and matching is the expensive step.
    if len(list(islice(_DIGIT_RE.finditer(text), _PHONE_MIN_DIGITS))) < _PHONE_MIN_DIGITS:
        return
    # The digits of a card, an IBAN or a key are not a phone number; masking them saves most of the work
    # on texts that hold them.
    masked = _mask(text, ((finding.start, finding.end) for finding in claimed))
    for window in _phone_windows(masked):
        window_text = masked[window.start : window.end]
        for region in _PHONE_REGIONS:
            if region not in window.regions:
                continue
            # VALID leniency: the number must be possible and valid for its region per the library's
            # metadata, so order numbers and random digit runs are not reported.
            matcher = phonenumbers.PhoneNumberMatcher(
                window_text, region, leniency=phonenumbers.Leniency.VALID
            )
            found = [(match.start, match.end) for match in matcher]
            for start, end in found:
                yield Finding(PiiKind.PHONE, window.start + start, window.start + end)
            if found:
                # Later passes would find the same numbers again: mask them, and stop once no other
                # number can be left.
                window_text = _mask(window_text, found)
                if _count_digits(window_text) < _PHONE_MIN_DIGITS:
                    break


# --- assembly --------------------------------------------------------------------------------------

_DETECTORS: Final = (
    _find_secrets,
    _find_ssns,
    _find_ips,
    _find_cards,
    _find_ibans,
    _find_emails,
)  # phone numbers come last, outside everything these found: see find_pii


def _merge_overlapping(candidates: Iterable[Finding]) -> list[Finding]:
    """One finding per cluster of overlapping candidates, covering all of them.

    The cluster's kind is the highest-priority candidate's: lowest `_PRIORITY` rank, then
    earliest-starting, then longest.
    """
    ordered = sorted(
        (f for f in candidates if f.end > f.start),
        key=lambda f: (f.start, -f.end, _PRIORITY[f.kind]),
    )
    merged: list[Finding] = []
    cluster: list[Finding] = []
    cluster_end = 0
    for finding in ordered:
        if cluster and finding.start >= cluster_end:
            merged.append(_cluster_finding(cluster, cluster_end))
            cluster = []
        if not cluster:
            cluster_end = finding.end
        cluster.append(finding)
        cluster_end = max(cluster_end, finding.end)
    if cluster:
        merged.append(_cluster_finding(cluster, cluster_end))
    return merged


def _cluster_finding(cluster: list[Finding], end: int) -> Finding:
    winner = min(cluster, key=lambda f: (_PRIORITY[f.kind], f.start, f.start - f.end))
    return Finding(winner.kind, cluster[0].start, end)


def find_pii(text: str) -> list[Finding]:
    """Find personal data and secrets in `text`.

    Args:
        text: Any text: a prompt, a model response, a tool call's arguments.

    Returns:
        Non-overlapping findings, ordered by position.
    """
    candidates = [finding for detector in _DETECTORS for finding in detector(text)]
    candidates.extend(list(_find_phones(text, candidates)))
    return _merge_overlapping(candidates)


# Detectors look one or two characters past a candidate: "606.6011…" reads as a decimal, "x4111…" as an
# identifier. Once a neighbouring finding is replaced by a placeholder, a candidate it disqualified can
# qualify, so redaction repeats while a replaced finding touched such a character. Three rounds is
# more than any real text needs; the bound only guards against a pathological input.
_MAX_ROUNDS = 3


def _is_context_char(char: str) -> bool:
    """Letters and digits of the scripts detectors look at (ASCII and Latin); CJK text is not one."""
    return char.isalnum() and ord(char) < 0x250


def _touches_context(text: str, finding: Finding) -> bool:
    """Whether a detector's look-around could have seen `finding` from a neighbouring candidate.

    That is a letter or digit right next to it, or the two-character look-arounds of cards, SSNs and
    IP addresses: a decimal point or comma before a digit ("606.6011…"), a dash before a letter or digit.
    """
    before = text[max(0, finding.start - 2) : finding.start]
    after = text[finding.end : finding.end + 2]
    for near, far in ((before[-1:], before[-2:-1]), (after[:1], after[1:2])):
        if _is_context_char(near):
            return True
        if (near in {".", ","} and far.isdigit()) or (near == "-" and _is_context_char(far)):
            return True
    return False


def _replace(text: str, findings: list[Finding]) -> str:
    parts: list[str] = []
    position = 0
    for finding in findings:
        parts.extend((text[position : finding.start], placeholder(finding.kind)))
        position = finding.end
    parts.append(text[position:])
    return "".join(parts)


def redact(text: str) -> str:
    """Replace personal data and secrets in `text` with typed placeholders.

    Redacting is idempotent: placeholders are never detected again, and when replacing a finding
    exposes a neighbour it had disqualified (a card glued to the end of an IBAN), that neighbour is
    redacted too, so the result may hold more placeholders than `find_pii(text)` has findings.

    Args:
        text: Any text bound for storage or logs.

    Returns:
        `text` with each finding replaced by e.g. `[REDACTED:email]`; `text` itself when nothing is found.

    Example:
        >>> redact("Mail jane@example.com, key sk-proj-4fG7hK2mN9pQ1rS5tV8wX3yZ")
        'Mail [REDACTED:email], key [REDACTED:secret]'
    """
    for _ in range(_MAX_ROUNDS):
        findings = find_pii(text)
        if not findings:
            break
        exposed = any(_touches_context(text, finding) for finding in findings)
        text = _replace(text, findings)
        if not exposed:
            break
    return text


def redact_value(value: Any) -> Any:
    """Redact every string inside a JSON-like value.

    Dicts, lists and tuples are rebuilt with their strings redacted; keys are kept as they are, and
    other values (numbers, booleans, None) are returned unchanged. A string stored under a key that
    names a credential (`password`, `api_key`, `clientSecret`, …) is replaced whole, since a bare
    password has no pattern of its own to detect.

    Args:
        value: A string, or a structure such as an OpenAI messages list.

    Returns:
        A redacted copy; the input is not modified.
    """
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {key: _redact_entry(key, item) for key, item in value.items()}
    if isinstance(value, list):
        return [redact_value(item) for item in value]
    if isinstance(value, tuple):
        return tuple(redact_value(item) for item in value)
    return value


def _redact_entry(key: Any, item: Any) -> Any:
    if isinstance(key, str) and isinstance(item, str) and item and _CREDENTIAL_KEY_RE.fullmatch(key):
        return item if _PLACEHOLDER_RE.fullmatch(item) else placeholder(PiiKind.SECRET)
    return redact_value(item)
