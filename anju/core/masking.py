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
