"""Reception: visit registration, the reception rotation (轮接) and the reception clock (R2.1, R6.1.1).

The fairness of the rotation (R6.1.1, issue #9 defect 7): an agent acts only on their own turn and
their own visitors. Setting the roster, skipping or pausing a colleague's turn, reassigning a visitor and
receiving, finishing or closing another agent's visitor take ``customers.manage_rotation`` (team leads,
branch managers). Every such act is audited with the branch, the agent concerned and the reason, and the
desk lists them (``selectors.rotation_log``).

Who may act at a branch's desk is the scope policy's ``desk`` action (``Branch``, ``Visit``,
``DutyRoster``): the viewer's own branch, or a branch inside their data scope. Agents work with
"own" scope, so ``view`` alone would shut them out of the desk of the office they sit in; the desk
only ever shows names and masked phones, so opening it to the branch's own staff reveals nothing
their scope protects.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from anju.core import audit
from anju.core.errors import ApplicationError, Conflict, PermissionDeniedError, ValidationFailed
from anju.core.notifications import notify
from anju.core.permissions import require
from anju.core.scoping import require_in_scope
from anju.core.services import validated_save
from anju.core.text import clean_text, require_reason
from anju.org.choices import UserStatus
from anju.org.models import Branch, User

from ..choices import STAGE_TRANSITIONS, ConsentKind, OwnershipChangeKind, Source, Stage, VisitStatus
from ..models import Consent, Customer, DutyRoster, OwnershipChange, RotationSkip, Visit
from ..rules import (
    clean_mobile,
    manages_rotation,
    may_act_on_turn,
    may_mark_left,
    phone_index,
    protection_end,
    rotation_day,
    works_visit,
)
from ..search import rebuild_name_grams, set_search_name
from .customers import CUSTOMER_FIELDS, customer_change_stage, customer_register, duplicate_error
from .ownership import pool_claim

ADD_VISIT = "customers.add_visit"

# Allowed moves of a visit (DESIGN.md §5).
VISIT_TRANSITIONS: dict[str, set[str]] = {
    VisitStatus.WAITING: {VisitStatus.IN_RECEPTION, VisitStatus.LEFT},
    VisitStatus.IN_RECEPTION: {VisitStatus.DONE},
    VisitStatus.DONE: set(),
    VisitStatus.LEFT: set(),
}
VISIT_FIELDS = [
    "customer",
    "branch",
    "arrived_at",
    "is_first_visit",
    "party_size",
    "status",
    "assigned_to",
    "by_rotation",
    "received_by",
    "reception_started_at",
    "reception_ended_at",
]


# --- access ----------------------------------------------------------------------------------


def _can_own(agent: User) -> bool:
    return agent.is_active and agent.status == UserStatus.ACTIVE and agent.has_perm("customers.add_customer")


def _bad_transition(current: str, target: str) -> Conflict:
    return Conflict(
        "visit.bad_transition",
        _("A visit cannot go from “%(from)s” to “%(to)s”.")
        % {"from": VisitStatus(current).label, "to": VisitStatus(target).label},
    )


def _check_transition(visit: Visit, target: str) -> None:
    if target not in VISIT_TRANSITIONS[VisitStatus(visit.status)]:
        raise _bad_transition(visit.status, target)


def _desk_url(branch_id: int) -> str:
    return reverse("customers:reception-desk", args=[branch_id])


def _reason(reason: str, code: str) -> str:
    # The shared rule for typed reasons (issue #9 defect 5); 200 characters is what RotationSkip keeps.
    return require_reason(reason, code=code)[:200]


# --- the duty roster -------------------------------------------------------------------------


def _lock_day(branch: Branch, day: dt.date) -> list[DutyRoster]:
    """Lock every roster row of the day: two desks choosing the next agent at once queue up here."""
    return list(
        DutyRoster.objects.select_for_update(of=("self",))
        .select_related("agent")
        .filter(branch=branch, day=day)
        .order_by("position", "pk")
    )


def _snapshot(rows: list[DutyRoster]) -> list[dict]:
    return [
        {"agent": row.agent_id, "position": row.position, "turns_taken": row.turns_taken}
        for row in sorted(rows, key=lambda row: row.position)
    ]


@transaction.atomic
def roster_set(*, actor, branch: Branch, day: dt.date, agents: list[User]) -> list[DutyRoster]:
    """Set who is on reception duty on ``day``, in rotation order; agents who stay keep their turns."""
    require(actor, ADD_VISIT)
    if not manages_rotation(actor):
        raise PermissionDeniedError("roster.lead_only", _("Only a team lead or a manager can set the duty roster."))
    require_in_scope(actor, branch, "desk")
    if day < rotation_day():
        raise ValidationFailed(
            "roster.past_day", _("A past day's roster cannot be changed."), {"day": [_("Choose today or a later day.")]}
        )
    ids = [agent.pk for agent in agents]
    if len(set(ids)) != len(ids):
        raise ValidationFailed("roster.duplicate_agent", _("An agent can be on the list only once."))
    refused = [str(agent) for agent in agents if agent.branch_id != branch.pk or not _can_own(agent)]
    if refused:
        raise ValidationFailed(
            "roster.agent_not_eligible",
            _("Only active sales staff of %(branch)s can be on duty: %(names)s.")
            % {"branch": branch, "names": "、".join(refused)},
            {"agents": [_("Not an active sales employee of this branch.")]},
        )
    rows = _lock_day(branch, day)
    before = _snapshot(rows)
    existing = {row.agent_id: row for row in rows}
    removed = [row.pk for row in rows if row.agent_id not in set(ids)]
    # Their skip records go with the row; the audit events keep the history.
    DutyRoster.objects.filter(pk__in=removed).delete()
    result = []
    for position, agent in enumerate(agents, start=1):
        row = existing.get(agent.pk)
        if row is None:
            row = DutyRoster(branch=branch, day=day, agent=agent, position=position)
            validated_save(row)
        elif row.position != position:
            row.position = position
            row.save(update_fields=["position"])
        result.append(row)
    after = _snapshot(result)
    if before != after:
        audit.record(
            actor=actor,
            action="customers.roster.set",
            target=branch,
            before={"day": day, "agents": before},
            after={"day": day, "agents": after},
        )
    return result


def _next_entry(branch: Branch, day: dt.date) -> DutyRoster | None:
    return (
        DutyRoster.objects.select_related("agent")
        .filter(branch=branch, day=day, is_available=True, agent__is_active=True, agent__status=UserStatus.ACTIVE)
        .order_by("turns_taken", "position", "pk")
        .first()
    )


def next_agent(branch: Branch, day: dt.date) -> User | None:
    """The available on-duty agent with the fewest turns today; ties go by rotation order."""
    entry = _next_entry(branch, day)
    return entry.agent if entry else None


def _use_turn(entry: DutyRoster) -> None:
    entry.turns_taken += 1
    entry.last_turn_at = timezone.now()
    entry.save(update_fields=["turns_taken", "last_turn_at"])


def _take_turn(branch: Branch, day: dt.date) -> DutyRoster | None:
    """Give the next turn away (call with the day's rows locked)."""
    entry = _next_entry(branch, day)
    if entry is not None:
        _use_turn(entry)
    return entry


def _locked_entry(branch: Branch, day: dt.date, agent: User) -> DutyRoster:
    rows = _lock_day(branch, day)
    entry = next((row for row in rows if row.agent_id == agent.pk), None)
    if entry is None:
        raise ValidationFailed("roster.not_on_duty", _("%(agent)s is not on duty that day.") % {"agent": agent})
    return entry


@transaction.atomic
def roster_skip(*, actor, branch: Branch, day: dt.date, agent: User, reason: str) -> DutyRoster:
    """Pass the agent's turn (busy, on the phone …): it counts as taken, so the next agent is up.

    An agent may pass their own turn; skipping a colleague's takes ``customers.manage_rotation``
    (R6.1.1, issue #9). Either way the reason is required, recorded and listed on the desk.
    """
    require(actor, ADD_VISIT)
    require_in_scope(actor, branch, "desk")
    if not may_act_on_turn(actor, agent):
        raise PermissionDeniedError(
            "roster.skip_not_allowed",
            _("You can pass only your own turn; only a team lead or a manager can skip a colleague's turn."),
        )
    reason = _reason(reason, "roster.skip_reason_required")
    entry = _locked_entry(branch, day, agent)
    _use_turn(entry)
    RotationSkip.objects.create(roster=entry, reason=reason, skipped_by=actor)
    audit.record(
        actor=actor,
        action="customers.roster.skipped",
        target=entry,
        after={"branch": branch.pk, "agent": agent.pk, "day": day, "turns_taken": entry.turns_taken},
        reason=reason,
    )
    return entry


@transaction.atomic
def roster_set_available(*, actor, branch: Branch, day: dt.date, agent: User, is_available: bool) -> DutyRoster:
    """Take an agent out of the rotation for a while (or back in): the agent themself, or whoever runs the
    rotation (R6.1.1, issue #9)."""
    require(actor, ADD_VISIT)
    require_in_scope(actor, branch, "desk")
    if not may_act_on_turn(actor, agent):
        raise PermissionDeniedError(
            "roster.lead_only", _("Only the agent or a team lead / manager can change availability.")
        )
    entry = _locked_entry(branch, day, agent)
    if entry.is_available != is_available:
        entry.is_available = is_available
        entry.save(update_fields=["is_available"])
        audit.record(
            actor=actor,
            action="customers.roster.availability_changed",
            target=entry,
            before={"is_available": not is_available},
            after={"is_available": is_available, "branch": branch.pk, "agent": agent.pk},
        )
    return entry


# --- visits ----------------------------------------------------------------------------------


def _register_unowned(*, actor, branch: Branch, name: str, digits: str, source: str, consent_channel: str) -> Customer:
    """File a walk-in nobody could be given yet: no owner until the desk assigns the visit.

    Not in the public pool either, so nobody can claim the visitor from the pool page meanwhile.
    """
    now = timezone.now()
    index = phone_index(digits)
    customer = Customer(
        name=name,
        phone=digits,
        phone_index=index,
        phone_last4=digits[-4:],
        source=source,
        branch=branch,
        created_by=actor,
        last_contact_at=now,
    )
    set_search_name(customer)
    try:
        with transaction.atomic():
            validated_save(customer, exclude=["phone_index"])
    except IntegrityError:
        existing = Customer.objects.select_related("owner", "branch").filter(phone_index=index).first()
        if existing is None:
            raise
        raise duplicate_error(existing) from None
    rebuild_name_grams(customer, created=True)  # the name search index (R2.4.1)
    Consent.objects.create(
        customer=customer,
        kind=ConsentKind.PERSONAL_INFO,
        purpose=_("Property consultation and follow-up"),
        policy_version=settings.ANJU_PRIVACY_POLICY_VERSION,
        channel=consent_channel,
        granted_at=now,
        recorded_by=actor,
    )
    audit.record(
        actor=actor,
        action="customers.customer.registered",
        target=customer,
        after={**audit.model_snapshot(customer, CUSTOMER_FIELDS), "at_desk": True},
    )
    return customer


def _take_ownership(*, actor, customer: Customer, agent: User) -> None:
    """The agent a desk gives an unowned walk-in to becomes their first responder."""
    customer.owner, customer.team, customer.branch = agent, agent.team, agent.branch
    customer.acquired_via = OwnershipChangeKind.REGISTERED
    customer.protected_until = protection_end(agent.branch)
    customer.save(update_fields=["owner", "team", "branch", "acquired_via", "protected_until", "updated_at"])
    OwnershipChange.objects.create(
        customer=customer, kind=OwnershipChangeKind.REGISTERED, to_owner=agent, changed_by=actor
    )
    audit.record(
        actor=actor,
        action="customers.customer.assigned_at_desk",
        target=customer,
        before={"owner": None},
        after={"owner": agent.pk},
    )


def _give_customer(*, actor, customer: Customer, agent: User) -> str:
    """Make sure the agent receiving a first visitor owns them; returns what happened."""
    if customer.owner_id is not None and not customer.in_pool:
        return "owned"
    if not customer.in_pool:
        _take_ownership(actor=actor, customer=customer, agent=agent)
        return "registered"
    try:
        # A refused claim (holding cap, another branch's pool) must not block the desk:
        # the agent still receives the visitor and the customer stays in the pool.
        with transaction.atomic():
            pool_claim(actor=agent, customer=customer)
    except ApplicationError as exc:
        return f"claim_refused:{exc.code}"
    customer.refresh_from_db()
    return "claimed"


def _mark_visited(customer: Customer, agent: User) -> bool:
    """A lead who comes to the office has visited; done in the owner's name, as the state machine allows."""
    customer.refresh_from_db(fields=["stage", "owner"])
    if customer.stage != Stage.LEAD or Stage.VISITED not in STAGE_TRANSITIONS[Stage.LEAD]:
        return False
    if customer.owner_id != agent.pk or not agent.has_perm("customers.change_customer"):
        return False
    customer_change_stage(actor=agent, customer=customer, to_stage=Stage.VISITED)
    customer.stage = Stage.VISITED
    return True


def _notify_assigned(visit: Visit) -> None:
    notify(
        user=visit.assigned_to,
        title=_("%(name)s (party of %(size)s) is waiting for you at the reception desk")
        % {"name": visit.customer.name, "size": visit.party_size},
        url=_desk_url(visit.branch_id),
    )


@transaction.atomic
def visit_register(
    *,
    actor,
    branch: Branch,
    phone: str,
    name: str,
    party_size: int = 1,
    arrived_at: dt.datetime | None = None,
    source: str = Source.WALK_IN,
    consent_channel: str = "face_to_face",
    note: str = "",
) -> Visit:
    """Register a visitor at the desk: an owned customer goes to their owner without using a turn,
    anyone else to the next agent in the rotation (who becomes or claims the owner)."""
    require(actor, ADD_VISIT)
    require_in_scope(actor, branch, "desk")
    digits = clean_mobile(phone)
    now = timezone.now()
    arrived_at = arrived_at or now
    if arrived_at > now + dt.timedelta(minutes=5):
        raise ValidationFailed(
            "visit.future_arrival",
            _("The arrival time is in the future."),
            {"arrived_at": [_("The arrival time is in the future.")]},
        )
    day = rotation_day(arrived_at)
    # Lock the day's rotation before looking the phone up, so a racing desk sees our customer.
    _lock_day(branch, day)
    customer = (
        Customer.objects.select_for_update(of=("self",))
        .select_related("owner")
        .filter(phone_index=phone_index(digits))
        .first()
    )
    name = (name or "").strip()
    route = "owner"
    entry = None
    if customer is not None and customer.owner_id and not customer.in_pool and _can_own(customer.owner):
        assigned = customer.owner
    else:
        entry = _take_turn(branch, day)
        assigned = entry.agent if entry else None
        if customer is None:
            if not name:
                raise ValidationFailed(
                    "visit.name_required", _("Enter the visitor's name."), {"name": [_("Required for a new customer.")]}
                )
            if assigned is not None:
                # Registered in the receiving agent's name (first responder); the desk user is
                # named by the customers.visit.registered event below.
                customer = customer_register(
                    actor=assigned,
                    name=name,
                    phone=digits,
                    source=source,
                    consent_channel=consent_channel,
                    registered_at=arrived_at,
                )
                route = "registered"
            else:
                customer = _register_unowned(
                    actor=actor, branch=branch, name=name, digits=digits, source=source, consent_channel=consent_channel
                )
                route = "unassigned"
        elif assigned is not None:
            route = _give_customer(actor=actor, customer=customer, agent=assigned)
        else:
            route = "unassigned"
    is_first = not customer.visits.exclude(status=VisitStatus.LEFT).exists()
    visit = Visit(
        customer=customer,
        branch=branch,
        arrived_at=arrived_at,
        is_first_visit=is_first,
        party_size=party_size,
        assigned_to=assigned,
        by_rotation=entry is not None,
        registered_by=actor,
    )
    validated_save(visit)
    stage_changed = bool(is_first and assigned and _mark_visited(customer, assigned))
    audit.record(
        actor=actor,
        action="customers.visit.registered",
        target=visit,
        after={
            **audit.model_snapshot(visit, VISIT_FIELDS),
            "route": route,
            "stage_to_visited": stage_changed,
            "assigned_agent": str(assigned) if assigned else "",
        },
        reason=(note or "").strip()[:200],
    )
    if assigned is not None:
        _notify_assigned(visit)
    return visit


def _locked_visit(visit: Visit) -> Visit:
    return (
        Visit.objects.select_for_update(of=("self",))
        .select_related("customer", "branch", "assigned_to")
        .get(pk=visit.pk)
    )


def _desk_assignment(*, actor, visit: Visit, agent: User) -> bool:
    """A first assignment by someone who does not run the rotation follows it: the visitor goes to the
    agent up next, whose turn it uses; with nobody on duty, to any agent but the actor (an agent does not
    take a walk-in for themself). Returns whether a turn was used."""
    day = rotation_day()
    _lock_day(visit.branch, day)
    entry = _next_entry(visit.branch, day)
    if entry is None:
        if agent.pk == actor.pk:
            raise PermissionDeniedError(
                "visit.assign_self",
                _("You cannot take a waiting visitor yourself; the desk, a team lead or a manager assigns them."),
            )
        return False
    if entry.agent_id != agent.pk:
        raise PermissionDeniedError(
            "visit.not_next_in_rotation",
            _("The rotation gives this visitor to %(agent)s; only a team lead or a manager can choose someone else.")
            % {"agent": entry.agent},
        )
    _use_turn(entry)
    return True


@transaction.atomic
def visit_assign(*, actor, visit: Visit, agent: User, reason: str = "") -> Visit:
    """Give a waiting visitor to an agent by hand (nobody was on duty, or reassigning with a reason).

    R6.1.1, issue #9: reassigning a visitor who already has an agent takes ``customers.manage_rotation``;
    without it the desk only places a visitor nobody was given yet, and then as the rotation says.
    """
    require(actor, ADD_VISIT)
    require_in_scope(actor, visit, "desk")
    visit = _locked_visit(visit)
    if visit.status != VisitStatus.WAITING:
        raise Conflict(
            "visit.not_waiting",
            _("Only a waiting visitor can be assigned; this visit is “%(status)s”.")
            % {"status": visit.get_status_display()},
        )
    previous = visit.assigned_to
    runs_rotation = manages_rotation(actor)
    if previous is not None and not runs_rotation:
        raise PermissionDeniedError(
            "visit.reassign_not_allowed",
            _("Only a team lead or a manager can reassign a visitor who already has an agent."),
        )
    if not _can_own(agent) or (agent.branch_id != visit.branch_id and agent.pk != visit.customer.owner_id):
        raise ValidationFailed(
            "visit.agent_not_eligible",
            _("Choose an active sales employee of this branch."),
            {"agent": [_("Choose an active sales employee of this branch.")]},
        )
    if previous is not None and previous.pk == agent.pk:
        raise Conflict("visit.same_agent", _("The visitor is already assigned to %(agent)s.") % {"agent": agent})
    reason = _reason(reason, "visit.assign_reason_required") if previous is not None else clean_text(reason)[:200]
    by_rotation = False if runs_rotation else _desk_assignment(actor=actor, visit=visit, agent=agent)
    visit.assigned_to, visit.by_rotation = agent, by_rotation
    visit.save(update_fields=["assigned_to", "by_rotation"])
    customer = Customer.objects.select_for_update(of=("self",)).get(pk=visit.customer_id)
    route = _give_customer(actor=actor, customer=customer, agent=agent)
    stage_changed = bool(visit.is_first_visit and _mark_visited(customer, agent))
    audit.record(
        actor=actor,
        action="customers.visit.assigned",
        target=visit,
        before={"assigned_to": previous.pk if previous else None},
        after={
            "assigned_to": agent.pk,
            "branch": visit.branch_id,
            "by_rotation": by_rotation,
            "route": route,
            "stage_to_visited": stage_changed,
        },
        reason=reason,
    )
    _notify_assigned(visit)
    return visit


def _not_yours(message: str) -> PermissionDeniedError:
    return PermissionDeniedError("visit.not_yours", message)


@transaction.atomic
def visit_start_reception(*, actor, visit: Visit) -> Visit:
    """The assigned agent (or a lead / manager) starts receiving the visitor: the waiting clock stops."""
    require(actor, ADD_VISIT)
    require_in_scope(actor, visit, "desk")
    visit = _locked_visit(visit)
    _check_transition(visit, VisitStatus.IN_RECEPTION)
    if visit.assigned_to_id is None:
        raise Conflict("visit.unassigned", _("Assign the visitor to an agent first."))
    if not works_visit(actor, visit):
        raise _not_yours(
            _("This visitor is assigned to another agent; only they or a team lead / manager can receive them.")
        )
    visit.status = VisitStatus.IN_RECEPTION
    visit.received_by = actor
    visit.reception_started_at = max(timezone.now(), visit.arrived_at)
    visit.save(update_fields=["status", "received_by", "reception_started_at"])
    audit.record(
        actor=actor,
        action="customers.visit.reception_started",
        target=visit,
        before={"status": VisitStatus.WAITING},
        after={
            "status": visit.status,
            "waiting_seconds": visit.waiting_seconds,
            "branch": visit.branch_id,
            "assigned_to": visit.assigned_to_id,
        },
    )
    return visit


def _enqueue_followups() -> None:
    # Imported here: tasks.py imports the services, so a module-level import would be circular.
    from anju.customers.tasks import followups_generate

    followups_generate.enqueue()


@transaction.atomic
def visit_end_reception(*, actor, visit: Visit, presented: str = "", questions: str = "") -> Visit:
    """Finish the reception with what was presented and asked; follow-ups are planned after commit."""
    require(actor, ADD_VISIT)
    require_in_scope(actor, visit, "desk")
    visit = _locked_visit(visit)
    _check_transition(visit, VisitStatus.DONE)
    if not works_visit(actor, visit):
        raise _not_yours(_("Only the receiving agent or a team lead / manager can finish this reception."))
    visit.status = VisitStatus.DONE
    visit.reception_ended_at = max(timezone.now(), visit.reception_started_at)
    visit.presented = (presented or "").strip()
    visit.questions = (questions or "").strip()
    visit.save(update_fields=["status", "reception_ended_at", "presented", "questions"])
    audit.record(
        actor=actor,
        action="customers.visit.reception_ended",
        target=visit,
        before={"status": VisitStatus.IN_RECEPTION},
        after={"status": visit.status, "reception_seconds": visit.reception_seconds},
    )
    transaction.on_commit(_enqueue_followups)
    return visit


@transaction.atomic
def visit_mark_left(*, actor, visit: Visit, reason: str) -> Visit:
    """The visitor left before anyone received them (the rotation turn stays used).

    The assigned agent, whoever runs the rotation, or — for a visitor nobody was given yet — the desk user
    who registered them (R6.1.1, issue #9).
    """
    require(actor, ADD_VISIT)
    require_in_scope(actor, visit, "desk")
    visit = _locked_visit(visit)
    if not may_mark_left(actor, visit):
        raise _not_yours(
            _("This visitor is assigned to another agent; only they or a team lead / manager can mark them as left.")
            if visit.assigned_to_id
            else _("Only the desk user who registered this visitor or a team lead / manager can mark them as left.")
        )
    _check_transition(visit, VisitStatus.LEFT)
    reason = _reason(reason, "visit.left_reason_required")
    visit.status = VisitStatus.LEFT
    visit.save(update_fields=["status"])
    audit.record(
        actor=actor,
        action="customers.visit.left",
        target=visit,
        before={"status": VisitStatus.WAITING},
        after={"status": visit.status, "branch": visit.branch_id, "assigned_to": visit.assigned_to_id},
        reason=reason,
    )
    return visit
