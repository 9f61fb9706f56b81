"""Masking of personal data for display, exports, logs and audit rows (R5.2.2)."""

from __future__ import annotations

import re
import unicodedata

_DIGITS = re.compile(r"\D+")


def normalise_phone(value: str) -> str:
    """Digits only, without the +86 / 0086 country prefix: the form we index and compare.

    NFKC first, so full-width digits typed on a Chinese keyboard (１３８…) index the same.
    """
    digits = _DIGITS.sub("", unicodedata.normalize("NFKC", value or "")).encode("ascii", "ignore").decode()
    if digits.startswith("0086"):
        digits = digits[4:]
    elif digits.startswith("86") and len(digits) == 13:
        digits = digits[2:]
    return digits


def mask_phone(value: str | None) -> str:
    """``13812341234`` → ``138****1234``; short values keep only their last two digits."""
    if not value:
        return ""
    if "*" in value:  # already masked: masking must be idempotent
        return value
    digits = normalise_phone(value)
    if len(digits) >= 8:
        return f"{digits[:3]}{'*' * (len(digits) - 7)}{digits[-4:]}"
    return "*" * max(len(digits) - 2, 0) + digits[-2:]


def mask_id_number(value: str | None) -> str:
    """``110101199003071234`` → ``110***********1234``."""
    if not value:
        return ""
    value = value.strip()
    if len(value) <= 7:
        return "*" * len(value)
    return f"{value[:3]}{'*' * (len(value) - 7)}{value[-4:]}"


# --- Redaction inside free text (logs, URLs, exception messages) — issue #9 defect 2, R5.2.2 ---
#
# Boundaries: a number must not be glued to other digits (an order id or a timestamp is not a phone), except
# right after a percent escape such as ``%20`` or ``%2B`` whose hex digits are not part of the number — also
# escaped once or twice more (``%2520``), as in a login redirect's ``next=`` that carries the searched URL.
_ESCAPED = r"(?<=%[0-9A-Fa-f]{2})|(?<=%25[0-9A-Fa-f]{2})|(?<=%2525[0-9A-Fa-f]{2})"
_START = rf"(?:(?<![0-9０-９])|{_ESCAPED})"
_END = r"(?![0-9０-９])"
_PERCENT = r"%(?:25)*"
# What sits between digit groups: spaces, dashes, dots, and their URL forms (``+`` is a space in a query string).
_SEP = rf"(?:[\s\-.]|{_PERCENT}20|{_PERCENT}2[Dd]|\+)?"
_D = r"[0-9０-９]"
_COUNTRY = rf"(?:(?:\+|{_PERCENT}2[Bb]|＋|[0０]{{2}})?[8８][6６]{_SEP})?"
_ID_TEXT = re.compile(_START + rf"(?P<id>{_D}{{6}}{_SEP}{_D}{{8}}{_SEP}{_D}{{3}}[0-9０-９Xx]){_END}")
_MOBILE_TEXT = re.compile(
    _START + rf"(?P<country>{_COUNTRY})(?P<mobile>[1１][3-9３-９]{_D}{_SEP}{_D}{{4}}{_SEP}{_D}{{4}}){_END}"
)
# Landlines only with their area code (0xx / 0xxx): a bare 8-digit run is too often something else.
_LANDLINE_TEXT = re.compile(rf"(?:(?<![0-9０-９.])|{_ESCAPED})(?P<landline>[0０]{_D}{{2,3}}{_SEP}{_D}{{7,8}}){_END}")


_ESCAPE = re.compile(r"%(?:25)*[0-9A-Fa-f]{2}")
# Hex digests (audit hashes, anchors, token fingerprints) hold digit runs that look like numbers but are not.
_HEX_DIGEST = re.compile(r"((?<![0-9A-Za-z])[0-9A-Fa-f]{32,}(?![0-9A-Za-z]))")


def _digits_of(text: str) -> str:
    """The number in a match, without separators; an escape like ``%20`` holds digits that are not part of it."""
    text = unicodedata.normalize("NFKC", _ESCAPE.sub("", text))
    return "".join(ch for ch in text if ch.isdigit() or ch in "Xx").upper()


def redact_text(text: str) -> str:
    """Mask every mainland mobile, landline (with area code) and 18-digit ID number inside free text.

    Used on log records and URLs (issue #9 defect 2, R5.2.2): ``/customers/?q=%2B86%20135-5123-4567`` becomes
    ``/customers/?q=135****4567``; the masks match the ones shown on screen. Idempotent, and text without such
    numbers is returned unchanged.
    """
    if not text or not isinstance(text, str):
        return text
    if _HEX_DIGEST.search(text):
        parts = _HEX_DIGEST.split(text)  # odd positions are the digests, kept as they are
        return "".join(part if index % 2 else _redact(part) for index, part in enumerate(parts))
    return _redact(text)


def _redact(text: str) -> str:
    # IDs first: an 18-digit ID contains runs that would otherwise look like a phone number.
    text = _ID_TEXT.sub(lambda m: mask_id_number(_digits_of(m["id"])), text)
    text = _MOBILE_TEXT.sub(lambda m: mask_phone(_digits_of(m["mobile"])), text)
    return _LANDLINE_TEXT.sub(lambda m: mask_phone(_digits_of(m["landline"])), text)
