"""Follow-up cadence (R2.1.3, R2.4.2): per-branch plans of rules, the job that turns first visits
into tasks, completion with an outcome (which extends protection), ad-hoc follow-ups, and the
branch rules edited on the settings page."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable

from django.db import transaction
from django.db.models import CharField, Exists, OuterRef, Q, Value
from django.db.models.functions import Cast, Concat
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from anju.core import audit
from anju.core.errors import Conflict, PermissionDeniedError, ValidationFailed
from anju.core.permissions import require
from anju.core.scoping import require_in_scope
from anju.core.services import validated_save

from ..choices import Channel, FollowUpOutcome, FollowUpStatus, VisitStatus
from ..models import BranchCustomerSettings, Customer, FollowUpRule, FollowUpTask, Visit
from .communications import CLOCK_SKEW, communication_create
from .ownership import protection_extend

logger = logging.getLogger(__name__)

CHANGE = "customers.change_customer"
SUPERVISE = "customers.transfer_customer"
SETTINGS = "customers.manage_customer_settings"
FIRST_VISIT = FollowUpRule.Plan.FIRST_VISIT
# Plans the job turns into tasks (and the settings page edits); "registration" has no job yet.
PLANS_IN_USE = [FIRST_VISIT]

# The standard's cadence after a first visit: 一次到位 within 24 h, 二次跟进 within 3 days,
# 三次回访 within 7 days. Titles are msgids, translated on display (like built-in role names).
DEFAULT_RULES: dict[str, list[tuple[int, str, int]]] = {
    FIRST_VISIT: [
        (1, gettext_noop("First follow-up"), 24),
        (2, gettext_noop("Second follow-up"), 72),
        (3, gettext_noop("Revisit"), 168),
    ],
}
ADHOC_TITLE = gettext_noop("Follow-up")
DEFAULT_TITLES = [title for rules in DEFAULT_RULES.values() for _step, title, _hours in rules] + [ADHOC_TITLE]
LOOK_BACK = dt.timedelta(days=30)
MAX_RULES = 10


def anchor_for(visit: Visit) -> str:
    return f"visit:{visit.pk}"


def _defaults(branch_id: int | None, plan: str) -> list[FollowUpRule]:
    return [
        FollowUpRule(branch_id=branch_id, plan=plan, step=step, title=title, due_after_hours=hours)
        for step, title, hours in DEFAULT_RULES.get(plan, [])
    ]


def rules_for(branch, plan: str) -> list[FollowUpRule]:
    """The branch's rules of ``plan`` by step; the standard's defaults (unsaved) when it has none."""
    saved = list(FollowUpRule.objects.filter(branch=branch, plan=plan).order_by("step"))
    return saved or _defaults(branch.pk, plan)


def _stored_title(title: str) -> str:
    """A default title typed back in the user's language is stored as its msgid again."""
    title = title.strip()
    for msgid in DEFAULT_TITLES:
        if title in (msgid, _(msgid)):
            return msgid
    return title


# --- the job ---------------------------------------------------------------------------------


def _pending_first_visits(now: dt.datetime, limit: int):
    """First visits that have finished (or were never received) and have no plan yet."""
    planned = FollowUpTask.objects.filter(
        customer=OuterRef("customer"),
        plan=FIRST_VISIT,
        anchor=Concat(Value("visit:"), Cast(OuterRef("pk"), output_field=CharField())),
    )
    branch_rules = FollowUpRule.objects.filter(branch=OuterRef("customer__branch"), plan=FIRST_VISIT)
    return (
        Visit.objects.filter(is_first_visit=True, arrived_at__gte=now - LOOK_BACK, arrived_at__lte=now)
        .filter(Q(status=VisitStatus.DONE) | Q(status=VisitStatus.LEFT))
        .filter(customer__owner__isnull=False, customer__in_pool=False)
        .exclude(Exists(planned))
        # A branch that paused every step gets no tasks; its visits must not crowd the batch either.
        .filter(Exists(branch_rules.filter(is_active=True)) | ~Exists(branch_rules))
        .select_related("customer")
        .order_by("arrived_at")[:limit]
    )


def _anchor_time(visit: Visit) -> dt.datetime:
    if visit.status == VisitStatus.DONE and visit.reception_ended_at is not None:
        return visit.reception_ended_at
    return visit.arrived_at


def followups_generate(*, now: dt.datetime | None = None, batch_size: int = 500) -> int:
    """Create the first-visit plan's tasks for each finished first visit; returns how many were created.

    Idempotent and safe on two hosts at once: each task is unique on (customer, plan, step,
    anchor), and ``get_or_create`` turns a lost insert race into a read of the winner's row.
    """
    now = now or timezone.now()
    visits = list(_pending_first_visits(now, batch_size))
    if not visits:
        return 0
    branch_ids = {visit.customer.branch_id for visit in visits}
    saved: dict[int, list[FollowUpRule]] = {}
    for rule in FollowUpRule.objects.filter(branch_id__in=branch_ids, plan=FIRST_VISIT).order_by("step"):
        saved.setdefault(rule.branch_id, []).append(rule)
    created = 0
    for visit in visits:
        customer = visit.customer
        rules = saved.get(customer.branch_id) or _defaults(customer.branch_id, FIRST_VISIT)
        anchor, start = anchor_for(visit), _anchor_time(visit)
        with transaction.atomic():
            for rule in rules:
                if not rule.is_active:
                    continue
                _task, made = FollowUpTask.objects.get_or_create(
                    customer=customer,
                    plan=FIRST_VISIT,
                    step=rule.step,
                    anchor=anchor,
                    defaults={
                        "assignee_id": customer.owner_id,
                        "title": rule.title,
                        "due_at": start + dt.timedelta(hours=rule.due_after_hours),
                    },
                )
                created += made
    if created:
        audit.record(
            actor=None,
            actor_name="system",
            action="customers.followup.generated",
            after={"tasks": created, "visits": len(visits)},
        )
        logger.info("Created %s follow-up tasks for %s first visits", created, len(visits))
    return created


# --- completing and scheduling ---------------------------------------------------------------


def _future(field: str, value: dt.datetime, now: dt.datetime) -> dt.datetime:
    if value <= now - CLOCK_SKEW:
        message = _("Choose a time in the future.")
        raise ValidationFailed("followup.due_in_past", message, {field: [message]})
    return value


def _adhoc(*, customer: Customer, assignee, due_at: dt.datetime, title: str) -> FollowUpTask:
    task = FollowUpTask(
        customer=customer,
        assignee=assignee,
        title=_stored_title(title) or ADHOC_TITLE,
        plan="",
        step=None,
        anchor="",
        due_at=due_at,
    )
    validated_save(task)
    return task


@transaction.atomic
def followup_complete(
    *,
    actor,
    task: FollowUpTask,
    outcome: str,
    method: str,
    content: str = "",
    next_due_at: dt.datetime | None = None,
) -> FollowUpTask:
    """Close a follow-up with its outcome: logs the contact, extends protection, may plan the next one."""
    require(actor, CHANGE)
    require_in_scope(actor, task)
    if task.assignee_id != actor.pk and not actor.has_perm(SUPERVISE):
        raise PermissionDeniedError(
            "followup.not_assignee", _("Only the assigned agent or their team lead can complete this follow-up.")
        )
    task = FollowUpTask.objects.select_for_update().get(pk=task.pk)
    if task.status != FollowUpStatus.OPEN:
        raise Conflict(
            "followup.bad_transition",
            _("A follow-up cannot go from “%(from)s” to “%(to)s”.")
            % {"from": FollowUpStatus(task.status).label, "to": FollowUpStatus.DONE.label},
        )
    if not outcome:
        message = _("Record the outcome of the follow-up.")
        raise ValidationFailed("followup.outcome_required", message, {"outcome": [message]})
    for field, value, choices in (("outcome", outcome, FollowUpOutcome), ("method", method, Channel)):
        if value not in choices.values:
            message = _("Choose one of the offered values.")
            raise ValidationFailed(f"followup.bad_{field}", message, {field: [message]})
    now = timezone.now()
    if next_due_at is not None:
        _future("next_due_at", next_due_at, now)
    customer = (
        Customer.objects.select_for_update(of=("self",)).select_related("owner", "branch").get(pk=task.customer_id)
    )
    outcome_label = FollowUpOutcome(outcome).label
    # The completion's own audit event below names the communication: no second event for it.
    communication = communication_create(
        actor=actor,
        customer=customer,
        channel=method,
        occurred_at=now,
        summary=content.strip() or str(outcome_label),
        next_step=_("Next follow-up planned") if next_due_at else "",
        audited=False,
    )
    task.status, task.outcome, task.method, task.content = FollowUpStatus.DONE, outcome, method, content.strip()
    task.completed_at, task.communication = now, communication
    task.save(update_fields=["status", "outcome", "method", "content", "completed_at", "communication"])
    protection_extend(customer, at=now)
    following = None
    if next_due_at is not None:
        following = _adhoc(
            customer=customer, assignee=customer.owner or task.assignee, due_at=next_due_at, title=ADHOC_TITLE
        )
    audit.record(
        actor=actor,
        action="customers.followup.completed",
        target=customer,
        before={"status": FollowUpStatus.OPEN.value},
        after={
            "task": task.pk,
            "status": task.status,
            "outcome": outcome,
            "method": method,
            "communication": communication.pk,
            "next_task": following.pk if following else None,
            "next_due_at": next_due_at.isoformat() if next_due_at else None,
        },
    )
    return task


@transaction.atomic
def followup_create(*, actor, customer: Customer, due_at: dt.datetime, title: str = "") -> FollowUpTask:
    """Plan an extra follow-up for the customer's owner (the owner, or their lead, plans it)."""
    require(actor, CHANGE)
    require_in_scope(actor, customer)
    customer = Customer.objects.select_for_update(of=("self",)).select_related("owner").get(pk=customer.pk)
    if customer.owner_id is None:
        raise Conflict("followup.no_owner", _("Customers in the public pool have nobody to follow them up."))
    if customer.owner_id != actor.pk and not actor.has_perm(SUPERVISE):
        raise PermissionDeniedError("followup.not_owner", _("Only the customer's owner plans their follow-ups."))
    task = _adhoc(
        customer=customer, assignee=customer.owner, due_at=_future("due_at", due_at, timezone.now()), title=title
    )
    audit.record(
        actor=actor,
        action="customers.followup.created",
        target=customer,
        after={"task": task.pk, "assignee": task.assignee_id, "due_at": due_at.isoformat()},
    )
    return task


# --- branch rules (settings page) ------------------------------------------------------------

SETTINGS_FIELDS = ["protection_days", "pool_claim_cap", "reception_sla_minutes"]


@transaction.atomic
def branch_settings_save(
    *, actor, branch, protection_days: int, pool_claim_cap: int, reception_sla_minutes: int
) -> BranchCustomerSettings:
    """Change a branch's protection period, public-pool cap and reception time limit."""
    require(actor, SETTINGS)
    require_in_scope(actor, branch)
    found = BranchCustomerSettings.objects.select_for_update().filter(branch=branch).first()
    current = found or BranchCustomerSettings(branch=branch)
    if reception_sla_minutes is None or reception_sla_minutes < 1:
        message = _("Enter at least one minute.")
        raise ValidationFailed("settings.bad_sla", message, {"reception_sla_minutes": [message]})
    before = audit.model_snapshot(current, SETTINGS_FIELDS)
    current.protection_days, current.pool_claim_cap = protection_days, pool_claim_cap
    current.reception_sla_minutes = reception_sla_minutes
    validated_save(current)
    changed_before, changed_after = audit.diff(before, audit.model_snapshot(current, SETTINGS_FIELDS))
    if changed_after or found is None:
        audit.record(
            actor=actor, action="customers.settings.saved", target=branch, before=changed_before, after=changed_after
        )
    return current


def _rule_snapshot(rules: Iterable[FollowUpRule]) -> list[dict]:
    return [
        {"step": rule.step, "title": rule.title, "due_after_hours": rule.due_after_hours, "is_active": rule.is_active}
        for rule in rules
    ]


@transaction.atomic
def followup_rules_save(*, actor, branch, plan: str, rules: list[dict]) -> list[FollowUpRule]:
    """Replace a plan's rules; steps follow the due times, an empty list restores the defaults.

    Each rule is ``{"title", "due_after_hours", "is_active"}``. Tasks already created keep their dates.
    """
    require(actor, SETTINGS)
    require_in_scope(actor, branch)
    if plan not in FollowUpRule.Plan.values:
        raise ValidationFailed("followup.bad_plan", _("Choose one of the offered values."))
    if len(rules) > MAX_RULES:
        message = _("A plan has at most %(count)s steps.") % {"count": MAX_RULES}
        raise ValidationFailed("followup.too_many_rules", message, {"rules": [message]})
    before = _rule_snapshot(rules_for(branch, plan))
    ordered = sorted(rules, key=lambda rule: rule["due_after_hours"] or 0)
    hours = [rule["due_after_hours"] for rule in ordered]
    if any(value is None or value < 1 for value in hours):
        message = _("Each step is due at least one hour after the visit.")
        raise ValidationFailed("followup.bad_hours", message, {"rules": [message]})
    if len(set(hours)) != len(hours):
        message = _("Two steps are due at the same time; give each step its own time.")
        raise ValidationFailed("followup.duplicate_hours", message, {"rules": [message]})
    FollowUpRule.objects.filter(branch=branch, plan=plan).delete()
    saved = []
    for step, rule in enumerate(ordered, start=1):
        title = _stored_title(rule.get("title") or "")
        if not title:
            message = _("Give every step a title.")
            raise ValidationFailed("followup.title_required", message, {"rules": [message]})
        row = FollowUpRule(
            branch=branch,
            plan=plan,
            step=step,
            title=title,
            due_after_hours=rule["due_after_hours"],
            is_active=rule.get("is_active", True),
        )
        validated_save(row)
        saved.append(row)
    after = _rule_snapshot(saved)
    if after != before:
        audit.record(
            actor=actor,
            action="customers.followup_rules.saved",
            target=branch,
            before={"plan": plan, "rules": before},
            after={"plan": plan, "rules": after},
        )
    return saved
