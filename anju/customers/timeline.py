"""One timeline of everything that happened to a customer (DESIGN.md "Detail pages").

``timeline_for`` reads each source once (one query per kind, never per row) and merges the
results newest first: visits, communications, follow-ups, ownership changes, consents,
needs revisions, feedback and stage changes (the latter from the audit trail).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.utils import timezone
from django.utils.functional import Promise
from django.utils.text import capfirst
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext as _

from anju.core.models import AuditEvent

from .choices import ConsentKind, FollowUpStatus, OwnershipChangeKind, Stage
from .models import Customer, CustomerNeeds

# Each source is capped so a customer with years of history still renders in one go.
PER_KIND_LIMIT = 100
STAGE_ACTION = "customers.customer.stage_changed"
CONSENT_WITHDRAWN_ACTION = "customers.consent.withdrawn"


@dataclass
class TimelineEntry:
    kind: str  # visit, communication, followup, ownership, consent, needs, feedback, stage
    time: dt.datetime
    actor: str
    title: str
    details: list[tuple[str, str]] = field(default_factory=list)
    icon: str = "dot"
    tone: str = "secondary"  # a Bootstrap colour for the marker

    @property
    def is_future(self) -> bool:
        return self.time > timezone.now()


def _name(user) -> str:
    return str(user) if user is not None else ""


def _minutes(seconds: int | None) -> str:
    if seconds is None:
        return ""
    minutes = max(seconds, 0) // 60
    return ngettext("%(minutes)s min", "%(minutes)s min", minutes) % {"minutes": minutes}


def _yes_no(value: bool) -> str:
    return _("Yes") if value else _("No")


def _details(*pairs: tuple[str | Promise, Any]) -> list[tuple[str, str]]:
    """Label/value pairs, dropping empty values; labels are translated at render time."""
    return [(str(label), str(value)) for label, value in pairs if value not in (None, "", [])]


def _visits(customer: Customer) -> list[TimelineEntry]:
    visits = customer.visits.select_related("received_by", "registered_by", "assigned_to").order_by("-arrived_at")
    entries = []
    for visit in visits[:PER_KIND_LIMIT]:
        entries.append(
            TimelineEntry(
                kind="visit",
                time=visit.arrived_at,
                actor=_name(visit.registered_by),
                title=_("First visit") if visit.is_first_visit else _("Return visit"),
                details=_details(
                    (_("Status"), visit.get_status_display()),
                    (_("Party size"), visit.party_size),
                    (_("Received by"), _name(visit.received_by or visit.assigned_to)),
                    (_("Waiting time"), _minutes(visit.waiting_seconds)),
                    (_("Reception duration"), _minutes(visit.reception_seconds)),
                    (_("What was presented"), visit.presented),
                    (_("What the customer asked"), visit.questions),
                ),
                icon="door-open",
                tone="primary",
            )
        )
    return entries


def _communications(customer: Customer) -> list[TimelineEntry]:
    rows = customer.communications.select_related("recorded_by").order_by("-occurred_at")
    return [
        TimelineEntry(
            kind="communication",
            time=row.occurred_at,
            actor=_name(row.recorded_by),
            title=_("Communication · %(channel)s") % {"channel": row.get_channel_display()},
            details=_details(
                (_("Summary"), row.summary),
                (_("Core information given"), row.info_core),
                (_("Auxiliary information"), row.info_auxiliary),
                (_("Supplementary information"), row.info_supplementary),
                (_("Materials shared"), row.materials),
                (_("Customer confirmed understanding"), _yes_no(row.customer_confirmed)),
                (_("Next step"), row.next_step),
            ),
            icon="chat-dots",
            tone="info",
        )
        for row in rows[:PER_KIND_LIMIT]
    ]


def _followups(customer: Customer) -> list[TimelineEntry]:
    rows = customer.followups.select_related("assignee").order_by("-due_at")
    now = timezone.now()
    entries = []
    for task in rows[:PER_KIND_LIMIT]:
        if task.status == FollowUpStatus.DONE:
            title = _("Follow-up done: %(title)s") % {"title": gettext(task.title)}
            time, icon, tone = task.completed_at or task.due_at, "calendar-check", "success"
        elif task.status == FollowUpStatus.CANCELLED:
            title = _("Follow-up cancelled: %(title)s") % {"title": gettext(task.title)}
            time, icon, tone = task.due_at, "calendar-x", "secondary"
        else:
            overdue = task.due_at < now
            title = (_("Follow-up overdue: %(title)s") if overdue else _("Follow-up due: %(title)s")) % {
                "title": gettext(task.title)
            }
            time, icon, tone = task.due_at, "calendar-event", "danger" if overdue else "warning"
        entries.append(
            TimelineEntry(
                kind="followup",
                time=time,
                actor=_name(task.assignee),
                title=title,
                details=_details(
                    (_("Due"), timezone.localtime(task.due_at).strftime("%Y-%m-%d %H:%M")),
                    (_("Method"), task.get_method_display() if task.method else ""),
                    (_("Outcome"), task.get_outcome_display() if task.outcome else ""),
                    (_("Content"), task.content),
                ),
                icon=icon,
                tone=tone,
            )
        )
    return entries


def _ownership(customer: Customer) -> list[TimelineEntry]:
    rows = customer.ownership_changes.select_related("from_owner", "to_owner", "changed_by").order_by("-changed_at")
    entries = []
    for change in rows[:PER_KIND_LIMIT]:
        details = []
        if change.kind == OwnershipChangeKind.TRANSFERRED:
            details.append((_("From"), _name(change.from_owner) or _("Public pool")))
        details += [(_("Owner"), _name(change.to_owner) or _("Public pool")), (_("Reason"), change.reason)]
        entries.append(
            TimelineEntry(
                kind="ownership",
                time=change.changed_at,
                actor=_name(change.changed_by) or _("System"),
                title=str(OwnershipChangeKind(change.kind).label),
                details=_details(*details),
                icon="person-plus" if change.kind == OwnershipChangeKind.REGISTERED else "arrow-left-right",
                tone="dark",
            )
        )
    return entries


def _consents(customer: Customer, withdrawals: list[AuditEvent]) -> list[TimelineEntry]:
    rows = customer.consents.select_related("recorded_by").order_by("-granted_at")
    entries = []
    for consent in rows[:PER_KIND_LIMIT]:
        kind = str(ConsentKind(consent.kind).label)
        entries.append(
            TimelineEntry(
                kind="consent",
                time=consent.granted_at,
                actor=_name(consent.recorded_by),
                title=_("Consent given: %(kind)s") % {"kind": kind},
                details=_details(
                    (_("Purpose"), consent.purpose),
                    (_("Privacy policy version"), consent.policy_version),
                    (_("Channel"), consent.get_channel_display()),
                ),
                icon="shield-check",
                tone="success",
            )
        )
        if consent.withdrawn_at is not None:
            event = _matching_withdrawal(consent, withdrawals)
            entries.append(
                TimelineEntry(
                    kind="consent",
                    time=consent.withdrawn_at,
                    actor=event.actor_name if event else "",
                    title=_("Consent withdrawn: %(kind)s") % {"kind": kind},
                    details=_details((_("Reason"), event.reason if event else "")),
                    icon="shield-x",
                    tone="danger",
                )
            )
    return entries


def _matching_withdrawal(consent, withdrawals: list[AuditEvent]) -> AuditEvent | None:
    """The audit row written with the withdrawal: same kind, closest in time (same transaction)."""
    candidates = [event for event in withdrawals if (event.after or {}).get("kind") == consent.kind]
    if not candidates:
        return None
    best = min(candidates, key=lambda event: abs((event.occurred_at - consent.withdrawn_at).total_seconds()))
    return best if abs((best.occurred_at - consent.withdrawn_at).total_seconds()) < 60 else None


_NEEDS_CHOICES = {
    "purpose": CustomerNeeds.Purpose,
    "usage": CustomerNeeds.Usage,
    "orientation": CustomerNeeds.Orientation,
    "payment": CustomerNeeds.Payment,
}


def needs_value(name: str, value: Any) -> str:
    """A needs value as a person reads it: choice labels, yes/no, lists joined."""
    if value in (None, ""):
        return "—"
    if isinstance(value, bool):
        return _yes_no(value)
    if isinstance(value, list):
        return "、".join(str(item) for item in value) or "—"
    if name in _NEEDS_CHOICES:
        try:
            return str(_NEEDS_CHOICES[name](value).label)
        except ValueError:
            return str(value)
    return str(value)


def needs_label(name: str) -> str:
    try:
        return str(capfirst(CustomerNeeds._meta.get_field(name).verbose_name))
    except Exception:  # a field removed since the revision was written
        return name


def needs_changes(revision) -> list[tuple[str, str]]:
    """(label, "before → after") for each field a revision changed."""
    before, after = revision.before or {}, revision.after or {}
    changes = []
    for name in after:
        old, new = needs_value(name, before.get(name)), needs_value(name, after.get(name))
        # The first answers are stored against an empty "before": only what was filled in is news.
        if old != new and not (old == "—" and new == _yes_no(False)):
            changes.append((needs_label(name), f"{old} → {new}"))
    return changes


def _needs(customer: Customer) -> list[TimelineEntry]:
    rows = customer.needs_revisions.select_related("changed_by").order_by("-changed_at")
    return [
        TimelineEntry(
            kind="needs",
            time=revision.changed_at,
            actor=_name(revision.changed_by),
            title=_("Needs updated"),
            details=needs_changes(revision),
            icon="clipboard-data",
            tone="info",
        )
        for revision in rows[:PER_KIND_LIMIT]
    ]


def _feedback(customer: Customer) -> list[TimelineEntry]:
    rows = customer.feedback.select_related("handler", "recorded_by").order_by("-received_at")
    return [
        TimelineEntry(
            kind="feedback",
            time=item.received_at,
            actor=_name(item.recorded_by),
            title=_("Feedback · %(category)s") % {"category": item.get_category_display()},
            details=_details(
                (_("Channel"), item.get_channel_display()),
                (_("Content"), item.content),
                (_("Handler"), _name(item.handler)),
                (_("Response"), item.response),
                (_("Time to first response"), _minutes(item.response_seconds)),
            ),
            icon="megaphone",
            tone="warning",
        )
        for item in rows[:PER_KIND_LIMIT]
    ]


def _stage_label(value: str | None) -> str:
    try:
        return str(Stage(value).label)
    except ValueError:
        return value or "—"


def _stages(events: list[AuditEvent]) -> list[TimelineEntry]:
    return [
        TimelineEntry(
            kind="stage",
            time=event.occurred_at,
            actor=event.actor_name,
            title=_("Stage: %(from)s → %(to)s")
            % {
                "from": _stage_label((event.before or {}).get("stage")),
                "to": _stage_label((event.after or {}).get("stage")),
            },
            details=_details((_("Reason"), event.reason)),
            icon="flag",
            tone="primary",
        )
        for event in events
    ]


def timeline_for(customer: Customer, viewer, *, limit: int = 200) -> list[TimelineEntry]:
    """Everything that happened to ``customer`` that ``viewer`` may see, newest first.

    The caller has already checked that the viewer sees the customer; visits additionally
    need ``customers.view_visit``. One query per source, whatever the number of entries.
    """
    events = list(
        AuditEvent.objects.filter(
            target_type=Customer._meta.label_lower,
            target_id=str(customer.pk),
            action__in=[STAGE_ACTION, CONSENT_WITHDRAWN_ACTION],
        )
        .only("occurred_at", "actor_name", "action", "before", "after", "reason")
        .order_by("-seq")[: PER_KIND_LIMIT * 2]
    )
    entries: list[TimelineEntry] = []
    if viewer.has_perm("customers.view_visit"):
        entries += _visits(customer)
    entries += _communications(customer)
    entries += _followups(customer)
    entries += _ownership(customer)
    entries += _consents(customer, [event for event in events if event.action == CONSENT_WITHDRAWN_ACTION])
    entries += _needs(customer)
    entries += _feedback(customer)
    entries += _stages([event for event in events if event.action == STAGE_ACTION])
    entries.sort(key=lambda entry: entry.time, reverse=True)
    return entries[:limit]
