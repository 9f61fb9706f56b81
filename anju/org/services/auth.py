"""Writes around authentication: personal API tokens and login-lockout release.

A token lives until it expires or is revoked, and no longer than the password it was issued under:
every new password revokes all of the user's tokens (issue #9, R5.1.2). A token issued without a
second factor stops working once a role of its user requires two-factor sign-in.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from anju.core import audit
from anju.core.errors import ApplicationError, ValidationFailed
from anju.core.permissions import require

from ..models import ApiToken, User
from .two_factor import two_factor_required

TOKEN_PREFIX = "anju_"  # noqa: S105 (a public marker, not a secret)
# Writing last_used_at on every call would turn each read into a write; once a minute is enough.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def _hash(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


@transaction.atomic
def token_create(
    *, actor: User, name: str, days: int | None = None, with_two_factor: bool = False
) -> tuple[ApiToken, str]:
    """Issue a personal access token; the clear secret is returned once and never stored.

    ``with_two_factor``: the caller proved a second factor for this issue (a code at the API
    exchange, or a web session that passed it); only such tokens work for users whose role
    requires two-factor sign-in.
    """
    name = name.strip()
    if not name:
        raise ValidationFailed("token.name_required", _("Give the token a name."), {"name": [_("Required.")]})
    if len(name) > 60:
        raise ValidationFailed(
            "token.name_too_long",
            _("The name is too long (60 characters at most)."),
            {"name": [_("60 characters at most.")]},
        )
    body = secrets.token_urlsafe(32)
    raw = f"{TOKEN_PREFIX}{body}"
    token = ApiToken.objects.create(
        user=actor,
        name=name,
        prefix=raw[:12],
        key_hash=_hash(raw),
        expires_at=timezone.now() + timedelta(days=days or settings.ANJU_API_TOKEN_DAYS),
        issued_with_two_factor=with_two_factor,
    )
    audit.record(
        actor=actor,
        action="org.api_token.created",
        target=token,
        after={
            "name": name,
            "prefix": token.prefix,
            "expires_at": token.expires_at,
            "issued_with_two_factor": with_two_factor,
        },
    )
    return token, raw


@transaction.atomic
def token_revoke(*, actor: User, token: ApiToken) -> ApiToken:
    """Revoke one of the actor's own tokens (idempotent)."""
    token = ApiToken.objects.select_for_update().get(pk=token.pk, user=actor)
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        audit.record(actor=actor, action="org.api_token.revoked", target=token)
    return token


def token_authenticate(raw: str) -> User | None:
    """The active user a bearer token belongs to, or None (unknown, revoked, expired, suspended).

    A token issued without a second factor is refused with its own 401 once a role of the user
    requires two-factor sign-in (issue #9): the password alone must not keep opening the API.
    """
    if not raw.startswith(TOKEN_PREFIX):
        return None
    now = timezone.now()
    token = (
        ApiToken.objects.select_related("user")
        .filter(key_hash=_hash(raw), revoked_at__isnull=True, expires_at__gt=now, user__is_active=True)
        .first()
    )
    if token is None:
        return None
    if not token.issued_with_two_factor and two_factor_required(token.user):
        raise ApplicationError(
            "auth.token_without_two_factor",
            _(
                "This token was issued without two-factor sign-in, which your role now requires. "
                "Issue a new token with a code from your authenticator app."
            ),
            status=401,
        )
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token.user


@transaction.atomic
def login_unlock(*, actor: User, username: str, ip_address: str | None = None) -> int:
    """Release a login lockout (django-axes) for a username, optionally only from one IP."""
    require(actor, "org.unlock_login")
    from axes.utils import reset

    kwargs = {"username": username}
    if ip_address:
        kwargs["ip"] = ip_address
    count = reset(**kwargs)
    audit.record(
        actor=actor,
        action="org.login.unlocked",
        target=None,
        actor_name=None,
        after={"username": username, "ip_address": ip_address or "", "attempts_cleared": count},
    )
    return count
