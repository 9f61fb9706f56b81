"""Writes for employee accounts: create, edit, status, roles, passwords and sessions (R1.1.2).

Every service is keyword-only, atomic, validates with ``full_clean()``, checks the actor's
permission and writes its audit event in the same transaction.
"""

from __future__ import annotations

import datetime as dt

from django.contrib.auth.password_validation import validate_password
from django.contrib.sessions.models import Session
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from anju.core import audit
from anju.core.crypto import blind_index
from anju.core.errors import Conflict, PermissionDeniedError, ValidationFailed
from anju.core.masking import normalise_phone
from anju.core.permissions import require
from anju.core.scoping import SCOPE_RANK, Scope, require_in_scope, scope_of
from anju.core.services import validated_save
from anju.core.text import require_reason

from ..choices import USER_STATUS_TRANSITIONS, UserStatus
from ..models import ApiToken, Branch, Role, Team, User, UserSession
from ._common import MANAGE_ROLES, MANAGE_USERS

USER_FIELDS = [
    "username",
    "employee_no",
    "display_name",
    "email",
    "phone",
    "position",
    "branch",
    "team",
    "hire_date",
    "status",
]


def _check_grantable(actor: User, roles) -> None:
    """Without org.manage_roles an actor may only grant roles no stronger than their own.

    Otherwise a branch-level user administrator could create a company-wide administrator.
    """
    if actor.has_perm(MANAGE_ROLES):
        return
    granted = actor.get_all_permissions()
    actor_rank = SCOPE_RANK.get(scope_of(actor), 0)
    for role in roles:
        role_perms = {
            f"{app}.{code}" for app, code in role.permissions.values_list("content_type__app_label", "codename")
        }
        if not role_perms <= granted or SCOPE_RANK[Scope(role.data_scope)] > actor_rank:
            raise PermissionDeniedError(
                "user.role_not_grantable",
                _("You cannot grant the role “%(role)s”: it has more rights than your own.") % {"role": role},
                {"roles": [_("This role has more rights than your own.")]},
            )


def phone_index(phone: str) -> str:
    return blind_index(normalise_phone(phone), purpose="user.phone") if phone else ""


def _check_placement(user: User) -> None:
    if user.team_id and user.team.branch_id != user.branch_id:
        raise ValidationFailed(
            "user.team_branch",
            _("The team belongs to another branch."),
            {"team": [_("Choose a team of the user's branch.")]},
        )


def end_sessions(user: User, *, keep_session_key: str | None = None) -> int:
    """Log the user out everywhere but ``keep_session_key`` (API tokens are left alone); how many ended."""
    mine = UserSession.objects.filter(user=user).exclude(session_key=keep_session_key or "")
    keys = list(mine.values_list("session_key", flat=True))
    ended, _details = Session.objects.filter(session_key__in=keys).delete()
    mine.delete()
    return ended


def tokens_revoke_all(user: User) -> int:
    """Revoke every live API token of the user; how many. The caller audits why."""
    return ApiToken.objects.filter(user=user, revoked_at__isnull=True).update(revoked_at=timezone.now())


def _end_sessions_and_tokens(user: User, *, keep_session_key: str | None = None) -> dict[str, int]:
    return {
        "sessions_ended": end_sessions(user, keep_session_key=keep_session_key),
        "tokens_revoked": tokens_revoke_all(user),
    }


@transaction.atomic
def user_create(
    *,
    actor: User,
    username: str,
    display_name: str,
    password: str,
    branch: Branch | None,
    team: Team | None = None,
    roles: list[Role] | tuple = (),
    employee_no: str | None = None,
    phone: str = "",
    email: str = "",
    position: str = "",
    hire_date: dt.date | None = None,
) -> User:
    """Create an employee account with roles; the password must pass the validators."""
    require(actor, MANAGE_USERS)
    require_in_scope(actor, branch)
    require_in_scope(actor, team)
    _check_grantable(actor, roles)
    user = User(
        username=username.strip(),
        display_name=display_name.strip(),
        branch=branch,
        team=team,
        employee_no=(employee_no or "").strip() or None,
        phone=normalise_phone(phone),
        email=email.strip(),
        position=position.strip(),
        hire_date=hire_date,
    )
    user.phone_index = phone_index(user.phone)
    _check_placement(user)
    try:
        validate_password(password, user)
    except ValidationError as exc:
        raise ValidationFailed("user.weak_password", exc.messages[0], {"password": exc.messages}) from None
    user.set_password(password)
    validated_save(user)
    user.roles.set(roles)
    audit.record(
        actor=actor, action="org.user.created", target=user, after=audit.model_snapshot(user, [*USER_FIELDS, "roles"])
    )
    return user


@transaction.atomic
def user_update(*, actor: User, user: User, **changes) -> User:
    """Edit an employee's profile and placement (status and roles have their own services)."""
    require(actor, MANAGE_USERS)
    require_in_scope(actor, user)
    require_in_scope(actor, changes.get("branch"))
    require_in_scope(actor, changes.get("team"))
    user = User.objects.select_for_update().get(pk=user.pk)
    before = audit.model_snapshot(user, USER_FIELDS)
    editable = {"display_name", "employee_no", "email", "phone", "position", "branch", "team", "hire_date"}
    for name, value in changes.items():
        if name not in editable:
            raise ValueError(f"user field {name!r} cannot be changed here")
        if isinstance(value, str):
            value = value.strip()
        if name == "phone":
            value = normalise_phone(value)
            user.phone_index = phone_index(value)
        if name == "employee_no":
            value = value or None
        setattr(user, name, value)
    _check_placement(user)
    validated_save(user, exclude=["password"])
    before, after = audit.diff(before, audit.model_snapshot(user, USER_FIELDS))
    if after:
        audit.record(actor=actor, action="org.user.updated", target=user, before=before, after=after)
    return user


@transaction.atomic
def user_set_status(*, actor: User, user: User, status: str, reason: str) -> User:
    """Suspend, reactivate or mark an employee as left; leaving active status ends every session and token."""
    require(actor, MANAGE_USERS)
    reason = require_reason(reason, code="user.reason_required")
    if status not in UserStatus.values:
        raise ValidationFailed("user.bad_status", _("Unknown status."), {"status": [_("Unknown status.")]})
    if user.pk == actor.pk:
        raise Conflict("user.self_status", _("You cannot change your own account status."))
    require_in_scope(actor, user)
    user = User.objects.select_for_update().get(pk=user.pk)
    current = UserStatus(user.status)
    target = UserStatus(status)
    if target not in USER_STATUS_TRANSITIONS[current]:
        raise Conflict(
            "user.bad_status_change",
            _("A user cannot go from “%(from)s” to “%(to)s”.") % {"from": current.label, "to": target.label},
        )
    user.status = target
    user.is_active = target == UserStatus.ACTIVE
    user.save(update_fields=["status", "is_active"])
    if not user.is_active:
        _end_sessions_and_tokens(user)
    audit.record(
        actor=actor,
        action=f"org.user.{target.value}",
        target=user,
        before={"status": current.value},
        after={"status": target.value},
        reason=reason,
    )
    return user


@transaction.atomic
def user_assign_roles(*, actor: User, user: User, roles: list[Role]) -> User:
    """Replace the user's roles; the change takes effect on their next request."""
    require(actor, MANAGE_USERS)
    require_in_scope(actor, user)
    user = User.objects.select_for_update().get(pk=user.pk)
    before = sorted(user.roles.values_list("code", flat=True))
    after = sorted(role.code for role in roles)
    if user.pk == actor.pk and "administrator" in before and "administrator" not in after:
        raise Conflict("user.self_admin", _("You cannot remove your own administrator role."))
    added = [role for role in roles if role.code not in before]
    _check_grantable(actor, added)
    user.roles.set(roles)
    if before != after:
        audit.record(
            actor=actor, action="org.user.roles_changed", target=user, before={"roles": before}, after={"roles": after}
        )
    return user


@transaction.atomic
def user_reset_password(*, actor: User, user: User, new_password: str) -> User:
    """Set a new password chosen by an administrator; the user's sessions and tokens end (issue #9)."""
    require(actor, MANAGE_USERS)
    require_in_scope(actor, user)
    user = User.objects.select_for_update().get(pk=user.pk)
    try:
        validate_password(new_password, user)
    except ValidationError as exc:
        raise ValidationFailed("user.weak_password", exc.messages[0], {"new_password": exc.messages}) from None
    user.set_password(new_password)
    user.save(update_fields=["password"])
    ended = _end_sessions_and_tokens(user)
    audit.record(actor=actor, action="org.user.password_reset", target=user, after=ended)
    return user


@transaction.atomic
def password_change(*, user: User, old_password: str, new_password: str, keep_session_key: str | None = None) -> User:
    """A user changes their own password; their API tokens and other sessions end (issue #9).

    ``keep_session_key``: the session the change was made from, which stays signed in.
    A wrong current password is counted like a failed login by the view (django-axes).
    """
    if not user.check_password(old_password):
        raise ValidationFailed(
            "user.wrong_password",
            _("The current password is not correct."),
            {"old_password": [_("The current password is not correct.")]},
        )
    try:
        validate_password(new_password, user)
    except ValidationError as exc:
        raise ValidationFailed("user.weak_password", exc.messages[0], {"new_password": exc.messages}) from None
    user.set_password(new_password)
    user.save(update_fields=["password"])
    ended = _end_sessions_and_tokens(user, keep_session_key=keep_session_key)
    audit.record(actor=user, action="org.user.password_changed", target=user, after=ended)
    return user
