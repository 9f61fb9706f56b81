"""Two-factor sign-in for roles that require it (R5.1.2 access control; DESIGN.md "Login security").

A role with ``requires_two_factor`` makes its holders prove a second factor after the password:
a six-digit code from an authenticator app (TOTP, RFC 6238, through django-otp) or one of ten
single-use recovery codes. Until they do, ``TwoFactorRequiredMiddleware`` lets them reach only
the enrolment / verification pages and logout, and the API refuses their session. Every step is
in the audit trail; an administrator can reset a user's devices (lost phone) with a reason.
"""

from __future__ import annotations

import re

from django.db import transaction
from django.utils.translation import gettext as _
from django_otp import devices_for_user
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from anju.core import audit
from anju.core.errors import PermissionDeniedError, ValidationFailed
from anju.core.notifications import notify
from anju.core.permissions import require
from anju.core.scoping import require_in_scope, scope_of

from ..models import User
from ._common import MANAGE_USERS
from .users import end_sessions, tokens_revoke_all

RECOVERY_CODE_COUNT = 10
TOTP_NAME = "authenticator"
RECOVERY_NAME = "recovery codes"
_NOT_CODE = re.compile(r"[\s-]+")


def two_factor_required(user) -> bool:
    """Whether any of the user's roles requires a second factor (cached on the user for the request)."""
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    cached = getattr(user, "_anju_requires_two_factor", None)
    if cached is None:
        scope_of(user)  # loads the roles once for the request and caches the answer (superusers aside)
        cached = getattr(user, "_anju_requires_two_factor", None)
    if cached is None:
        cached = user.roles.filter(requires_two_factor=True).exists()
        user._anju_requires_two_factor = cached
    return cached


def is_verified(user) -> bool:
    """Whether this request's session passed its second factor (django-otp's OTPMiddleware sets it)."""
    check = getattr(user, "is_verified", None)
    return bool(check and check())


def has_authenticator(user) -> bool:
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()


def recovery_codes_left(user) -> int:
    return StaticToken.objects.filter(device__user=user, device__confirmed=True).count()


def _clean(code: str) -> str:
    """Spaces and dashes people type (``123 456``, ``abcd-efgh``) do not count; case does not matter."""
    return _NOT_CODE.sub("", code or "").lower()


def _wrong_code(field: str = "code") -> ValidationFailed:
    message = _("That code is not correct. Codes change every 30 seconds: enter the one your app shows now.")
    return ValidationFailed("two_factor.code_wrong", message, {field: [message]})


def _throttled(device) -> ValidationFailed | None:
    allowed, _details = device.verify_is_allowed()
    if allowed:
        return None
    message = _("Too many wrong codes. Wait a moment before you try again.")
    return ValidationFailed("two_factor.throttled", message, {"code": [message]}, status=429)


# --- enrolment -----------------------------------------------------------------------------------


@transaction.atomic
def enrolment_start(*, user: User) -> TOTPDevice:
    """The user's pending authenticator (created on first call, so the QR code survives a reload)."""
    device = TOTPDevice.objects.select_for_update().filter(user=user, confirmed=False).first()
    return device or TOTPDevice.objects.create(user=user, name=TOTP_NAME, confirmed=False)


def enrolment_confirm(*, user: User, code: str) -> tuple[TOTPDevice, list[str]]:
    """Confirm the pending authenticator with a code from it; it replaces any earlier one.

    Returns the device and a fresh set of recovery codes, shown to the user once. The code is
    checked outside the transaction that confirms the device, so a wrong code's failure count
    (the throttle) stays saved.
    """
    device = TOTPDevice.objects.filter(user=user, confirmed=False).first()
    if device is None:
        raise ValidationFailed(
            "two_factor.no_pending_device",
            _("Start the set-up again: scan the new QR code, then enter its code."),
        )
    refusal = _throttled(device)
    if refusal:
        raise refusal
    if not device.verify_token(_clean(code)):
        raise _wrong_code()
    with transaction.atomic():
        replaced = TOTPDevice.objects.filter(user=user, confirmed=True).exclude(pk=device.pk)
        replaced_count = replaced.count()
        replaced.delete()
        TOTPDevice.objects.filter(pk=device.pk).update(confirmed=True)
        device.confirmed = True
        codes = _new_recovery_codes(user)
        audit.record(
            actor=user,
            action="auth.two_factor.enrolled",
            target=user,
            after={"replaced_devices": replaced_count, "recovery_codes": len(codes)},
        )
    return device, codes


def _new_recovery_codes(user: User) -> list[str]:
    device, _created = StaticDevice.objects.get_or_create(user=user, name=RECOVERY_NAME, defaults={"confirmed": True})
    device.token_set.all().delete()
    codes = [StaticToken.random_token() for _ in range(RECOVERY_CODE_COUNT)]
    StaticToken.objects.bulk_create([StaticToken(device=device, token=code) for code in codes])
    return codes


@transaction.atomic
def recovery_codes_regenerate(*, user: User) -> list[str]:
    """Replace the user's recovery codes (the old ones stop working); needs an authenticator."""
    if not has_authenticator(user):
        raise ValidationFailed("two_factor.not_enrolled", _("Set up an authenticator app first."))
    codes = _new_recovery_codes(user)
    audit.record(actor=user, action="auth.two_factor.recovery_codes_regenerated", target=user)
    return codes


# --- sign-in -------------------------------------------------------------------------------------


def verify(*, user: User, code: str):
    """The device that accepts ``code`` (six digits: the authenticator; otherwise a recovery code).

    Not one transaction on purpose: a wrong code must leave its failure count (the throttle)
    saved. Raises ValidationFailed for a wrong or throttled code, recording the failure.
    """
    code = _clean(code)
    if len(code) == 6 and code.isdigit():
        devices = list(TOTPDevice.objects.filter(user=user, confirmed=True))
        kind = "authenticator"
    else:
        devices = list(StaticDevice.objects.filter(user=user, confirmed=True))
        kind = "recovery_code"
    for device in devices:
        refusal = _throttled(device)
        if refusal:
            audit.record(actor=user, action="auth.two_factor.throttled", target=user, after={"kind": kind})
            raise refusal
        if code and device.verify_token(code):
            after = {"kind": kind}
            if kind == "recovery_code":
                after["recovery_codes_left"] = device.token_set.count()
            audit.record(actor=user, action="auth.two_factor.verified", target=user, after=after)
            return device
    audit.record(actor=user, action="auth.two_factor.failed", target=user, after={"kind": kind})
    raise _wrong_code()


# --- turning it off ------------------------------------------------------------------------------


def _delete_devices(user: User) -> int:
    count = 0
    for device in devices_for_user(user, confirmed=None):
        device.delete()
        count += 1
    return count


@transaction.atomic
def two_factor_disable(*, user: User) -> None:
    """Remove one's own authenticator and recovery codes — only when no role of theirs requires them."""
    if two_factor_required(user):
        raise PermissionDeniedError(
            "two_factor.required_by_role",
            _("One of your roles requires two-factor sign-in, so it cannot be turned off."),
        )
    removed = _delete_devices(user)
    audit.record(actor=user, action="auth.two_factor.disabled", target=user, after={"devices_removed": removed})


@transaction.atomic
def two_factor_reset(*, actor: User, user: User, reason: str) -> int:
    """An administrator removes a user's devices (lost phone); the user sets up again at next sign-in.

    The user's sessions and API tokens end, so nobody keeps a session verified, or a token
    issued, with the lost device (issue #9).
    """
    require(actor, MANAGE_USERS)
    require_in_scope(actor, user)
    if actor.pk == user.pk:
        raise PermissionDeniedError(
            "two_factor.reset_self",
            _("You cannot reset your own two-factor sign-in; ask another administrator."),
        )
    return _reset(user=user, reason=reason, actor=actor)


@transaction.atomic
def two_factor_reset_by_operator(*, user: User, reason: str, operator: str) -> int:
    """The server-side way out when no administrator can sign in (``manage.py two_factor_reset``);
    recorded in the audit trail under the operator's name."""
    return _reset(user=user, reason=reason, actor=None, actor_name=f"{operator} (manage.py)")


def _reset(*, user: User, reason: str, actor: User | None, actor_name: str | None = None) -> int:
    reason = (reason or "").strip()
    if not reason:
        message = _("Give a reason.")
        raise ValidationFailed("two_factor.reason_required", message, {"reason": [message]})
    removed = _delete_devices(user)
    sessions_ended = end_sessions(user)
    tokens_revoked = tokens_revoke_all(user)
    audit.record(
        actor=actor,
        actor_name=actor_name,
        action="auth.two_factor.reset",
        target=user,
        reason=reason,
        after={"devices_removed": removed, "sessions_ended": sessions_ended, "tokens_revoked": tokens_revoked},
    )
    notify(
        user=user,
        title=_("Your two-factor sign-in was reset"),
        body=_("An administrator reset it (%(reason)s). Set up your authenticator app again at your next sign-in.")
        % {"reason": reason},
    )
    return removed
