"""Password rules beyond Django's own (R5.2; issue #9).

Django's ``UserAttributeSimilarityValidator`` compares the whole password with the username, so a
short username repeated (``qaqaqaqaqa`` for ``qa``) or padded with digits (``agent2026!!``) stays
below its similarity threshold. ``NotBuiltFromUsername`` refuses exactly those.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _


class NotBuiltFromUsername:
    """Refuse a password that is only the username (repeated, any case) plus digits or symbols."""

    def validate(self, password: str, user=None) -> None:
        username = (getattr(user, "username", "") or "").strip().lower()
        if not username:
            return
        lowered = password.lower()
        if username not in lowered:
            return
        rest = lowered.replace(username, "")
        if not any(char.isalpha() for char in rest):
            raise ValidationError(self.get_help_text(), code="password_built_from_username")

    def get_help_text(self) -> str:
        return _("Your password must not be made of your username, repeated or with only digits or symbols added.")
