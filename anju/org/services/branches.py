"""Writes for branches: create, edit and move within the company's branch tree (R1.1.1).

Every service is keyword-only, atomic, validates with ``full_clean()``, checks the actor's
permission and writes its audit event in the same transaction.
"""

from __future__ import annotations

from django.db import transaction
from django.utils.translation import gettext as _

from anju.core import audit
from anju.core.errors import Conflict, PermissionDeniedError, ValidationFailed
from anju.core.permissions import require
from anju.core.scoping import Scope, require_in_scope, scope_of
from anju.core.services import validated_save

from ..choices import UserStatus
from ..models import Branch, Company, User
from ._common import MANAGE_USERS

BRANCH_FIELDS = ["company", "parent", "name", "code", "kind", "address", "is_active"]


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
    require_in_scope(actor, parent)
    if parent is None and scope_of(actor) != Scope.ALL:
        raise PermissionDeniedError(
            "branch.top_level", _("Only company-wide administrators can add a top-level branch.")
        )
    parent = _locked_parent(parent)
    branch = Branch(company=company, parent=parent, name=name.strip(), code=code.strip(), kind=kind, address=address)
    _check_parent(branch, parent)
    branch.path = "/pending/"
    validated_save(branch)
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
    require_in_scope(actor, branch)
    if "parent" in changes:
        require_in_scope(actor, changes["parent"])
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
    validated_save(branch)
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
