"""Field encryption (MultiFernet) and blind indexes (HMAC-SHA256) — DESIGN.md §4.

``EncryptedTextField`` stores ciphertext; Python code sees plaintext. Exact lookups go
through a separate ``*_index`` column filled with :func:`blind_index` of the normalised
value, so the database never needs the encryption keys to search.
"""

from __future__ import annotations

import functools
import hashlib
import hmac

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models


@functools.cache
def _fernet() -> MultiFernet:
    try:
        return MultiFernet([Fernet(key.encode()) for key in settings.ANJU_FIELD_KEYS])
    except (ValueError, TypeError) as exc:
        raise ImproperlyConfigured(f"ANJU_FIELD_KEYS holds an invalid Fernet key: {exc}") from None


def reset_key_cache() -> None:
    """Forget cached keys (after a rotation or in tests that change the settings)."""
    _fernet.cache_clear()


def encrypt(value: str) -> str:
    return _fernet().encrypt(value.encode("utf-8")).decode("ascii")


def decrypt(token: str) -> str:
    try:
        return _fernet().decrypt(token.encode("ascii")).decode("utf-8")
    except InvalidToken:
        raise ImproperlyConfigured("A stored value cannot be decrypted with the configured keys") from None


def rotate(token: str) -> str:
    """Re-encrypt a stored token under the newest key."""
    return _fernet().rotate(token.encode("ascii")).decode("ascii")


def blind_index(value: str, *, purpose: str) -> str:
    """HMAC of an already-normalised value; ``purpose`` keeps indexes of different fields apart."""
    key = settings.ANJU_BLIND_INDEX_KEY.encode("utf-8")
    return hmac.new(key, f"{purpose}:{value}".encode(), hashlib.sha256).hexdigest()


class EncryptedTextField(models.TextField):
    """A text column holding Fernet ciphertext; empty values stay empty (not encrypted)."""

    def from_db_value(self, value, expression, connection):
        if value in (None, ""):
            return value
        return decrypt(value)

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if value in (None, ""):
            return value
        return encrypt(value)

    def get_lookup(self, lookup_name):
        # Ciphertext is randomised: any lookup but isnull would silently miss.
        if lookup_name != "isnull":
            raise TypeError(f"EncryptedTextField does not support the '{lookup_name}' lookup; use its blind index")
        return super().get_lookup(lookup_name)
