"""Writes for teams: create and edit a branch's teams and their leads (R1.1.1).

Every service is keyword-only, atomic, validates with ``full_clean()``, checks the actor's
permission and writes its audit event in the same transaction.
"""

from __future__ import annotations

from django.db import transaction
from django.utils.translation import gettext as _

from anju.core import audit
from anju.core.errors import Conflict, ValidationFailed
from anju.core.permissions import require
from anju.core.scoping import require_in_scope
from anju.core.services import validated_save

from ..choices import UserStatus
from ..models import Branch, Team, User
from ._common import MANAGE_USERS

TEAM_FIELDS = ["branch", "name", "lead", "is_active"]


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
    require_in_scope(actor, branch)
    team = Team(branch=branch, name=name.strip(), lead=lead)
    _check_team_lead(team)
    validated_save(team)
    audit.record(actor=actor, action="org.team.created", target=team, after=audit.model_snapshot(team, TEAM_FIELDS))
    return team


@transaction.atomic
def team_update(*, actor: User, team: Team, **changes) -> Team:
    """Edit a team's name, lead or active flag."""
    require(actor, MANAGE_USERS)
    require_in_scope(actor, team)
    team = Team.objects.select_for_update().get(pk=team.pk)
    before = audit.model_snapshot(team, TEAM_FIELDS)
    for name, value in changes.items():
        if name not in {"name", "lead", "is_active"}:
            raise ValueError(f"team field {name!r} cannot be changed")
        setattr(team, name, value.strip() if isinstance(value, str) else value)
    _check_team_lead(team)
    if not team.is_active and before["is_active"] and team.members.filter(status=UserStatus.ACTIVE).exists():
        raise Conflict("team.in_use", _("Move the team's active members before closing it."))
    validated_save(team)
    before, after = audit.diff(before, audit.model_snapshot(team, TEAM_FIELDS))
    if after:
        audit.record(actor=actor, action="org.team.updated", target=team, before=before, after=after)
    return team
