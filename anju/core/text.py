"""Cleaning free text that people must type to justify an action (issue #9 defect 5, R5.2.2).

A reason has to *say* something. Before counting what it says we normalise it, so that text
which only looks filled in — zero-width or bidi characters, full-width or repeated spaces,
Hangul fillers — is seen as empty:

* ``clean_text`` is what gets stored: NFC-normalised, invisible characters removed, every kind
  of whitespace turned into one space, trimmed. NFC and not NFKC: NFKC would turn the
  full-width punctuation of Chinese text (，：（）) into ASCII, changing what people wrote;
  what NFKC adds for counting is not needed, since full-width letters already count as letters;
* ``meaningful_chars`` counts letters (CJK ideographs are letters); digits and punctuation
  alone ("1234", "....") are not a reason;
* ``require_reason`` is the one check every service calls: it returns the cleaned text or
  raises ``ValidationFailed`` with the caller's code.
"""

from __future__ import annotations

import re
import unicodedata

from django.utils.translation import gettext as _

from .errors import ValidationFailed

# Default-ignorable code points that are not of category Cf (those are removed by category):
# combining grapheme joiner, Hangul fillers (also the half-width one), Mongolian/variation
# selectors. They render as nothing, and the Hangul fillers would otherwise count as letters.
_INVISIBLE = re.compile("[\u034f\u115f\u1160\u17b4\u17b5\u180b-\u180f\u3164\ufe00-\ufe0f\uffa0\U000e0100-\U000e01ef]")
_SPACES = re.compile(r"\s+")


def clean_text(text: str | None) -> str:
    """Return ``text`` NFC-normalised, without format/zero-width characters, with whitespace collapsed and trimmed."""
    text = unicodedata.normalize("NFC", text or "")
    kept = []
    for char in text:
        category = unicodedata.category(char)
        if category == "Cf":  # zero-width space/joiner, BOM, soft hyphen, bidi marks and overrides
            continue
        if category == "Cc" and not char.isspace():  # NUL and other control characters
            continue
        kept.append(char)
    text = _INVISIBLE.sub("", "".join(kept))
    # ``\s`` covers the ideographic space, line/paragraph separators and no-break spaces.
    return _SPACES.sub(" ", text).strip()


def meaningful_chars(text: str | None) -> int:
    """How many letters (CJK ideographs included) the cleaned ``text`` holds; digits and punctuation do not count."""
    return sum(1 for char in clean_text(text) if char.isalpha())


def is_meaningful(text: str | None, *, minimum: int) -> bool:
    """True when ``text`` has at least ``minimum`` letters and is not one letter repeated ("aaaa", "哈哈哈哈")."""
    letters = [char for char in clean_text(text) if char.isalpha()]
    return len(letters) >= minimum and (minimum < 2 or len(set(letters)) >= 2)


def require_reason(text: str | None, *, code: str, field: str = "reason", minimum: int = 2) -> str:
    """Return the cleaned reason, or raise ``ValidationFailed(code)`` when it has fewer than ``minimum`` letters.

    One rule for every typed reason (issue #9 defect 5): reveals ask for 4 letters, other
    reasons (status changes, transfers, lost customers, deactivations) for 2.
    """
    cleaned = clean_text(text)
    if not is_meaningful(cleaned, minimum=minimum):
        message = _(
            "Give a specific reason (at least %(minimum)s characters; digits, spaces and punctuation do not count)."
        ) % {"minimum": minimum}
        raise ValidationFailed(code, message, {field: [message]})
    return cleaned
