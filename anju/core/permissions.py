"""Permission guard used by services (views and API check too; services are the last line)."""

from __future__ import annotations

from django.utils.translation import gettext as _

from .errors import PermissionDeniedError


def require(actor, *perms: str) -> None:
    """Refuse unless ``actor`` is an active user holding every permission in ``perms``."""
    if actor is None or not getattr(actor, "is_active", False) or not actor.has_perms(perms):
        raise PermissionDeniedError("permission_denied", _("You do not have permission to do this."))
