"""Writes for the organisation: branches, teams, users, roles (R1.1.1–R1.1.3).

Every service is keyword-only, atomic, validates with ``full_clean()``, checks the actor's
permission and writes its audit event in the same transaction.
"""

from __future__ import annotations

import datetime as dt

from django.contrib.auth.models import Permission
from django.contrib.auth.password_validation import validate_password
from django.contrib.sessions.models import Session
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from anju.core import audit
from anju.core.crypto import blind_index
from anju.core.errors import ApplicationError, Conflict, PermissionDeniedError, ValidationFailed, from_validation_error
from anju.core.masking import normalise_phone
from anju.core.permissions import require
from anju.core.scoping import SCOPE_RANK, Scope, scope_of

from .choices import USER_STATUS_TRANSITIONS, UserStatus
from .models import ApiToken, Branch, Company, Role, Team, User, UserSession

MANAGE_USERS = "org.manage_users"
MANAGE_ROLES = "org.manage_roles"

BRANCH_FIELDS = ["company", "parent", "name", "code", "kind", "address", "is_active"]
TEAM_FIELDS = ["branch", "name", "lead", "is_active"]
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
ROLE_FIELDS = ["code", "name", "description", "data_scope", "permissions"]


def _validated_save(instance, *, exclude: list[str] | None = None) -> None:
    try:
        instance.full_clean(exclude=exclude)
    except ValidationError as exc:
        raise from_validation_error(exc) from None
    instance.save()


def require_visible(actor: User, obj) -> None:
    """Services act only on records inside the actor's data scope (R1.1.3); outside is "not found"."""
    if obj is None:
        return
    if not type(obj).objects.visible_to(actor).filter(pk=obj.pk).exists():
        raise ApplicationError("not_found", _("Not found."), status=404)


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


# --- branches ---------------------------------------------------------------------------------


def _branch_path(branch: Branch) -> str:
    parent_path = branch.parent.path if branch.parent_id else "/"
    return f"{parent_path}{branch.pk}/"


def _locked_parent(parent: Branch | None) -> Branch | None:
    """The parent as stored now: a caller's copy may hold a stale path after a move."""
    return Branch.objects.select_for_update().get(pk=parent.pk) if parent is not None else None


def _check_parent(branch: Branch, parent: Branch | None) -> None:
    if parent is None:
        return
    if parent.company_id != branch.company_id:
        raise ValidationFailed(
            "branch.parent_company",
            _("The parent branch belongs to another company."),
            {"parent": [_("Choose a branch of the same company.")]},
        )
    if branch.pk and (parent.pk == branch.pk or parent.path.startswith(branch.path)):
        raise ValidationFailed(
            "branch.parent_cycle",
            _("A branch cannot be placed under itself."),
            {"parent": [_("Choose a branch that is not this one or below it.")]},
        )


@transaction.atomic
def branch_create(
    *, actor: User, company: Company, name: str, code: str, kind: str, parent: Branch | None = None, address: str = ""
) -> Branch:
    """Create a branch under ``parent`` (or at the top of the company's tree)."""
    require(actor, MANAGE_USERS)
    require_visible(actor, parent)
    if parent is None and scope_of(actor) != Scope.ALL:
        raise PermissionDeniedError(
            "branch.top_level", _("Only company-wide administrators can add a top-level branch.")
        )
    parent = _locked_parent(parent)
    branch = Branch(company=company, parent=parent, name=name.strip(), code=code.strip(), kind=kind, address=address)
    _check_parent(branch, parent)
    branch.path = "/pending/"
    _validated_save(branch)
    branch.path = _branch_path(branch)
    branch.save(update_fields=["path"])
    audit.record(
        actor=actor, action="org.branch.created", target=branch, after=audit.model_snapshot(branch, BRANCH_FIELDS)
    )
    return branch


@transaction.atomic
def branch_update(*, actor: User, branch: Branch, **changes) -> Branch:
    """Edit a branch; moving it re-roots the paths of its whole subtree."""
    require(actor, MANAGE_USERS)
    require_visible(actor, branch)
    if "parent" in changes:
        require_visible(actor, changes["parent"])
    branch = Branch.objects.select_for_update().get(pk=branch.pk)
    before = audit.model_snapshot(branch, BRANCH_FIELDS)
    for name, value in changes.items():
        if name not in {"parent", "name", "code", "kind", "address", "is_active"}:
            raise ValueError(f"branch field {name!r} cannot be changed")
        if name == "parent":
            value = _locked_parent(value)
        setattr(branch, name, value.strip() if isinstance(value, str) else value)
    _check_parent(branch, branch.parent)
    if not branch.is_active and before["is_active"]:
        active_members = User.objects.filter(branch=branch, status=UserStatus.ACTIVE).exists()
        if active_members or branch.children.filter(is_active=True).exists():
            raise Conflict("branch.in_use", _("Move its active staff and sub-branches before closing this branch."))
    old_path = branch.path
    _validated_save(branch)
    new_path = _branch_path(branch)
    if new_path != old_path:
        for node in Branch.objects.select_for_update().filter(path__startswith=old_path).order_by("path"):
            node.path = new_path + node.path[len(old_path) :]
            node.save(update_fields=["path"])
        branch.path = new_path
    before, after = audit.diff(before, audit.model_snapshot(branch, BRANCH_FIELDS))
    if after:
        audit.record(actor=actor, action="org.branch.updated", target=branch, before=before, after=after)
    return branch


# --- teams ------------------------------------------------------------------------------------


def _check_team_lead(team: Team) -> None:
    # Asked of the database: the caller's copy of the lead may predate a transfer.
    if team.lead_id and not User.objects.filter(pk=team.lead_id, branch_id=team.branch_id).exists():
        raise ValidationFailed(
            "team.lead_branch",
            _("The team lead must work in the team's branch."),
            {"lead": [_("Choose a member of this branch.")]},
        )


@transaction.atomic
def team_create(*, actor: User, branch: Branch, name: str, lead: User | None = None) -> Team:
    """Create a team in a branch."""
    require(actor, MANAGE_USERS)
    require_visible(actor, branch)
    team = Team(branch=branch, name=name.strip(), lead=lead)
    _check_team_lead(team)
    _validated_save(team)
    audit.record(actor=actor, action="org.team.created", target=team, after=audit.model_snapshot(team, TEAM_FIELDS))
    return team


@transaction.atomic
def team_update(*, actor: User, team: Team, **changes) -> Team:
    """Edit a team's name, lead or active flag."""
    require(actor, MANAGE_USERS)
    require_visible(actor, team)
    team = Team.objects.select_for_update().get(pk=team.pk)
    before = audit.model_snapshot(team, TEAM_FIELDS)
    for name, value in changes.items():
        if name not in {"name", "lead", "is_active"}:
            raise ValueError(f"team field {name!r} cannot be changed")
        setattr(team, name, value.strip() if isinstance(value, str) else value)
    _check_team_lead(team)
    if not team.is_active and before["is_active"] and team.members.filter(status=UserStatus.ACTIVE).exists():
        raise Conflict("team.in_use", _("Move the team's active members before closing it."))
    _validated_save(team)
    before, after = audit.diff(before, audit.model_snapshot(team, TEAM_FIELDS))
    if after:
        audit.record(actor=actor, action="org.team.updated", target=team, before=before, after=after)
    return team


# --- users ------------------------------------------------------------------------------------


def _check_placement(user: User) -> None:
    if user.team_id and user.team.branch_id != user.branch_id:
        raise ValidationFailed(
            "user.team_branch",
            _("The team belongs to another branch."),
            {"team": [_("Choose a team of the user's branch.")]},
        )


def end_sessions(user: User) -> None:
    """Log the user out everywhere (their browser sessions; API tokens are left alone)."""
    keys = list(UserSession.objects.filter(user=user).values_list("session_key", flat=True))
    Session.objects.filter(session_key__in=keys).delete()
    UserSession.objects.filter(user=user).delete()


def _end_sessions_and_tokens(user: User) -> None:
    end_sessions(user)
    ApiToken.objects.filter(user=user, revoked_at__isnull=True).update(revoked_at=timezone.now())


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
    require_visible(actor, branch)
    require_visible(actor, team)
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
    _validated_save(user)
    user.roles.set(roles)
    audit.record(
        actor=actor, action="org.user.created", target=user, after=audit.model_snapshot(user, [*USER_FIELDS, "roles"])
    )
    return user


@transaction.atomic
def user_update(*, actor: User, user: User, **changes) -> User:
    """Edit an employee's profile and placement (status and roles have their own services)."""
    require(actor, MANAGE_USERS)
    require_visible(actor, user)
    require_visible(actor, changes.get("branch"))
    require_visible(actor, changes.get("team"))
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
    _validated_save(user, exclude=["password"])
    before, after = audit.diff(before, audit.model_snapshot(user, USER_FIELDS))
    if after:
        audit.record(actor=actor, action="org.user.updated", target=user, before=before, after=after)
    return user


@transaction.atomic
def user_set_status(*, actor: User, user: User, status: str, reason: str) -> User:
    """Suspend, reactivate or mark an employee as left; leaving active status ends every session and token."""
    require(actor, MANAGE_USERS)
    if not reason.strip():
        raise ValidationFailed("user.reason_required", _("Please give a reason."), {"reason": [_("Required.")]})
    if status not in UserStatus.values:
        raise ValidationFailed("user.bad_status", _("Unknown status."), {"status": [_("Unknown status.")]})
    if user.pk == actor.pk:
        raise Conflict("user.self_status", _("You cannot change your own account status."))
    require_visible(actor, user)
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
        reason=reason.strip(),
    )
    return user


@transaction.atomic
def user_assign_roles(*, actor: User, user: User, roles: list[Role]) -> User:
    """Replace the user's roles; the change takes effect on their next request."""
    require(actor, MANAGE_USERS)
    require_visible(actor, user)
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
    """Set a new password chosen by an administrator; the user's sessions and tokens end."""
    require(actor, MANAGE_USERS)
    require_visible(actor, user)
    user = User.objects.select_for_update().get(pk=user.pk)
    try:
        validate_password(new_password, user)
    except ValidationError as exc:
        raise ValidationFailed("user.weak_password", exc.messages[0], {"new_password": exc.messages}) from None
    user.set_password(new_password)
    user.save(update_fields=["password"])
    _end_sessions_and_tokens(user)
    audit.record(actor=actor, action="org.user.password_reset", target=user)
    return user


@transaction.atomic
def password_change(*, user: User, old_password: str, new_password: str) -> User:
    """A user changes their own password."""
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
    audit.record(actor=user, action="org.user.password_changed", target=user)
    return user


# --- roles ------------------------------------------------------------------------------------


def _role_snapshot(role: Role) -> dict:
    snapshot = audit.model_snapshot(role, ["code", "name", "description", "data_scope", "requires_two_factor"])
    snapshot["permissions"] = sorted(
        f"{app}.{codename}" for app, codename in role.permissions.values_list("content_type__app_label", "codename")
    )
    return snapshot


@transaction.atomic
def role_create(
    *,
    actor: User,
    code: str,
    name: str,
    data_scope: str,
    permissions: list[Permission],
    description: str = "",
    requires_two_factor: bool = False,
) -> Role:
    """Create a custom role."""
    require(actor, MANAGE_ROLES)
    role = Role(
        code=code.strip(),
        name=name.strip(),
        description=description,
        data_scope=data_scope,
        requires_two_factor=requires_two_factor,
    )
    _validated_save(role)
    role.permissions.set(permissions)
    audit.record(actor=actor, action="org.role.created", target=role, after=_role_snapshot(role))
    return role


@transaction.atomic
def role_update(
    *,
    actor: User,
    role: Role,
    name: str,
    description: str,
    data_scope: str,
    permissions: list[Permission],
    requires_two_factor: bool | None = None,
) -> Role:
    """Change a role's name, data scope, two-factor requirement and permissions (built-in roles included)."""
    require(actor, MANAGE_ROLES)
    role = Role.objects.select_for_update().get(pk=role.pk)
    if data_scope not in Scope.values:
        raise ValidationFailed("role.bad_scope", _("Unknown data scope."), {"data_scope": [_("Unknown data scope.")]})
    before = _role_snapshot(role)
    role.name, role.description, role.data_scope = name.strip(), description, data_scope
    if requires_two_factor is not None:
        role.requires_two_factor = requires_two_factor
    _validated_save(role)
    role.permissions.set(permissions)
    before, after = audit.diff(before, _role_snapshot(role))
    if after:
        audit.record(actor=actor, action="org.role.updated", target=role, before=before, after=after)
    return role
