"""Writes for roles: custom roles, their data scope, permissions and two-factor requirement (R1.1.3).

Every service is keyword-only, atomic, validates with ``full_clean()``, checks the actor's
permission and writes its audit event in the same transaction.
"""

from __future__ import annotations

from django.contrib.auth.models import Permission
from django.db import transaction
from django.utils.translation import gettext as _

from anju.core import audit
from anju.core.errors import ValidationFailed
from anju.core.permissions import require
from anju.core.scoping import Scope
from anju.core.services import validated_save

from ..models import Role, User
from ._common import MANAGE_ROLES

ROLE_FIELDS = ["code", "name", "description", "data_scope", "permissions"]


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
    validated_save(role)
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
    validated_save(role)
    role.permissions.set(permissions)
    before, after = audit.diff(before, _role_snapshot(role))
    if after:
        audit.record(actor=actor, action="org.role.updated", target=role, before=before, after=after)
    return role
