"""Reads for customers, their follow-ups and feedback, and the reception desk; every list starts from
``restrict(user, action)`` (DESIGN.md §1). Counts are aggregates, lists are bounded."""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass

from django.db.models import (
    Avg,
    Count,
    DurationField,
    Exists,
    ExpressionWrapper,
    F,
    Min,
    OrderBy,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
)
from django.db.models.functions import Coalesce, NullIf
from django.utils import timezone
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from anju.core.grams import normalise
from anju.core.masking import mask_phone, normalise_phone
from anju.core.models import AuditEvent
from anju.org.choices import BranchKind, UserStatus
from anju.org.models import Branch, User

from .choices import FollowUpStatus, OwnershipChangeKind, VisitStatus
from .disclosure import mask_name
from .models import Customer, DutyRoster, FollowUpTask, OwnershipChange, Visit
from .rules import manages_rotation, may_mark_left, phone_index, rotation_day, settings_for, works_visit
from .search import name_search_q

# --- the customer list (search, filters, sort) --------------------------------------------------

# Sort keys offered on the list page → ORDER BY; the pk breaks ties so pages never overlap.
CUSTOMER_SORTS: dict[str, tuple] = {
    "updated": (F("updated_at").desc(), F("pk").desc()),
    "created": (F("created_at").desc(), F("pk").desc()),
    "name": (F("name").asc(), F("pk").asc()),
    "protection": (F("protected_until").asc(nulls_last=True), F("pk").asc()),
    "contact": (F("last_contact_at").desc(nulls_last=True), F("pk").desc()),
}
CUSTOMER_SORT_CHOICES = [
    ("updated", _("Recently updated")),
    ("created", _("Recently registered")),
    ("name", _("Name")),
    ("protection", _("Protection ending soon")),
    ("contact", _("Last contact")),
]
DEFAULT_SORT = "updated"

# Characters people type around a phone number: "+86 138-1234 (1234)".
_PHONE_LIKE = re.compile(r"[\d\s+\-().]+")


def _phone_digits(term: str) -> str | None:
    """The digits of a search term that is only a phone number (or part of one), else None."""
    text = unicodedata.normalize("NFKC", term).strip()
    if not text or not _PHONE_LIKE.fullmatch(text):
        return None
    return normalise_phone(text)


def customer_search_q(term: str) -> Q:
    """One search box: a full mobile hits the blind index, four digits the last four, anything else
    the name (a substring, through the name grams: anju.customers.search)."""
    term = (term or "").strip()
    digits = _phone_digits(term)
    if digits is not None and len(digits) == 11:
        return Q(phone_index=phone_index(digits))
    if digits is not None and len(digits) == 4:
        return Q(phone_last4=digits)
    return name_search_q(term)


def search_for_audit(term: str) -> str:
    """The search term as it may be written to the audit trail: a phone number only masked."""
    term = (term or "").strip()
    digits = _phone_digits(term)
    if digits is not None and len(digits) > 4:
        return mask_phone(digits)
    return term


def customer_list_for(
    viewer,
    *,
    search: str = "",
    stage: str = "",
    source: str = "",
    owner_id: int | None = None,
    team_id: int | None = None,
    tag: str = "",
    value_tier: str = "",
    sort: str = DEFAULT_SORT,
) -> QuerySet[Customer]:
    """Customers in the viewer's scope (the public pool has its own page), filtered and sorted; no N+1."""
    queryset = (
        Customer.objects.visible_to(viewer)
        .filter(in_pool=False)
        .select_related("owner", "team", "branch")
        .defer("owner__phone")  # the owner's phone is never shown here; skip decrypting it per row
        .prefetch_related("tags")
    )
    searching_names = _is_name_search(search)
    if search and search.strip():
        queryset = queryset.filter(customer_search_q(search))
    if stage:
        queryset = queryset.filter(stage=stage)
    if source:
        queryset = queryset.filter(source=source)
    if owner_id:
        queryset = queryset.filter(owner_id=owner_id)
    if team_id:
        queryset = queryset.filter(team_id=team_id)
    if tag:
        queryset = queryset.filter(tags__name=tag)
    if value_tier:
        queryset = queryset.filter(value_tier=value_tier)
    return queryset.order_by(*_ordering(sort, collect_first=searching_names))


def _is_name_search(term: str) -> bool:
    """A name (not phone) search of two or more characters: at most a few thousand matches."""
    term = (term or "").strip()
    return bool(term) and _phone_digits(term) is None and len(normalise(term)) >= 2


def _ordering(sort: str, *, collect_first: bool) -> tuple:
    """ORDER BY for a sort key. For a name search of two or more characters each key is wrapped
    so no index can provide the order: the database then collects the matches through the
    name grams and sorts them, instead of walking the recency index of the whole scope and
    probing every row (0.3–0.6 s for a common name such as 张英 at 1,000,000 customers).
    One character (a surname) matches too many customers for that; bench/README.md.
    """
    keys = CUSTOMER_SORTS.get(sort, CUSTOMER_SORTS[DEFAULT_SORT])
    if not collect_first:
        return keys
    return tuple(
        OrderBy(Coalesce(key.expression, key.expression), descending=key.descending, nulls_last=key.nulls_last)
        for key in keys
    )


# --- the public pool (R6.1.1) -------------------------------------------------------------------


def pool_list_for(viewer, *, search: str = "", source: str = "", tier: str = "") -> QuerySet[Customer]:
    """Pool customers in the viewer's ``pool`` reach, newest in the pool first, with the former owner."""
    former_owner = (
        OwnershipChange.objects.filter(
            customer=OuterRef("pk"), kind__in=[OwnershipChangeKind.LAPSED, OwnershipChangeKind.RELEASED]
        )
        .order_by("-changed_at", "-pk")
        .annotate(name=Coalesce(NullIf("from_owner__display_name", Value("")), "from_owner__username"))
        .values("name")[:1]
    )
    queryset = Customer.objects.restrict(viewer, "pool").filter(in_pool=True)
    if search and search.strip():
        queryset = queryset.filter(customer_search_q(search))  # the same search box as the list
    if source:
        queryset = queryset.filter(source=source)
    if tier:
        queryset = queryset.filter(value_tier=tier)
    return (
        queryset.select_related("branch")
        .defer("id_number", "household_notes")  # never shown here: no need to decrypt or load them
        .annotate(former_owner_name=Subquery(former_owner))
        .order_by("-pool_since", "-pk")
    )


def claimable_customers(viewer) -> QuerySet[Customer]:
    """Customers in (or claimed from) a pool the viewer sees.

    Customers already claimed stay reachable so the loser of a race gets "already claimed"
    rather than a bare 404; customers that were never in a pool are not revealed.
    """
    return Customer.objects.restrict(viewer, "pool").filter(
        Q(in_pool=True) | Q(acquired_via=OwnershipChangeKind.CLAIMED)
    )


# --- follow-ups ---------------------------------------------------------------------------------

OPEN = FollowUpStatus.OPEN
TABS = ("today", "overdue", "upcoming", "done")


def day_bounds(now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """Start of today and of tomorrow in the local time zone (Asia/Shanghai), as aware datetimes."""
    start = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
    return start, timezone.localtime(start + dt.timedelta(days=1, hours=2)).replace(hour=0)


def tab_filter(tab: str, now: dt.datetime) -> Q:
    """today / overdue / upcoming split the open follow-ups without overlap; done is the history."""
    _start, tomorrow = day_bounds(now)
    return {
        "overdue": Q(status=OPEN, due_at__lt=now),
        "today": Q(status=OPEN, due_at__gte=now, due_at__lt=tomorrow),
        "upcoming": Q(status=OPEN, due_at__gte=tomorrow),
        "done": Q(status=FollowUpStatus.DONE),
    }[tab]


def tab_counts(queryset, now: dt.datetime) -> dict[str, int]:
    """All four tab counts in one query."""
    return queryset.aggregate(**{tab: Count("pk", filter=tab_filter(tab, now)) for tab in TABS})


def tab_rows(queryset, tab: str, now: dt.datetime):
    order = ("-completed_at", "-pk") if tab == "done" else ("due_at", "pk")
    return queryset.filter(tab_filter(tab, now)).select_related("customer").order_by(*order)


def my_followups(user):
    """The user's own follow-ups (a wider scope does not put other people's work on this page)."""
    return FollowUpTask.objects.visible_to(user).filter(assignee=user)


def team_overdue(user, now: dt.datetime):
    """Overdue open follow-ups inside the user's scope (team for a lead, branch for a manager)."""
    return FollowUpTask.objects.visible_to(user).filter(status=OPEN, due_at__lt=now)


def overdue_by_agent(queryset, limit: int = 200) -> list[dict]:
    """One row per agent: how many follow-ups are overdue and since when (most overdue first)."""
    return list(
        queryset.values("assignee", "assignee__display_name", "assignee__username", "assignee__team__name")
        .annotate(count=Count("pk"), oldest=Min("due_at"))
        .order_by("-count", "assignee__display_name", "assignee")[:limit]
    )


# --- feedback ---------------------------------------------------------------------------------

RESPONSE_TIME = ExpressionWrapper(F("first_response_at") - F("received_at"), output_field=DurationField())


def feedback_stats(queryset, now: dt.datetime) -> dict:
    """Open and unanswered counts, and the average time to first response this (local) month."""
    month_start = day_bounds(now)[0].replace(day=1)
    return queryset.aggregate(
        open=Count("pk", filter=Q(resolved_at__isnull=True)),
        unanswered=Count("pk", filter=Q(first_response_at__isnull=True, resolved_at__isnull=True)),
        answered_month=Count("pk", filter=Q(received_at__gte=month_start, first_response_at__isnull=False)),
        avg_response=Avg(RESPONSE_TIME, filter=Q(received_at__gte=month_start, first_response_at__isnull=False)),
    )


def duration_text(value: dt.timedelta | float | int | None) -> str:
    """A short human duration: "45 min", "3 h 10 min", "2 d 4 h"."""
    if value is None:
        return "—"
    seconds = int(value.total_seconds() if isinstance(value, dt.timedelta) else value)
    minutes = max(seconds // 60, 0)
    days, rest = divmod(minutes, 1440)
    hours, minutes = divmod(rest, 60)
    if days:
        return gettext("%(days)s d %(hours)s h") % {"days": days, "hours": hours}
    if hours:
        return gettext("%(hours)s h %(minutes)s min") % {"hours": hours, "minutes": minutes}
    if not minutes:
        return gettext("under a minute")
    return ngettext("%(minutes)s min", "%(minutes)s min", minutes) % {"minutes": minutes}


# --- the reception desk (R2.1, R6.1.1) -----------------------------------------------------------

ADD_VISIT = "customers.add_visit"


def desk_branches_for(viewer) -> QuerySet[Branch]:
    """Active sales offices (not regions) whose desk the viewer may work at, in tree order."""
    return (
        Branch.objects.filter(is_active=True).exclude(kind=BranchKind.REGION).restrict(viewer, "desk").order_by("path")
    )


def eligible_agents(branch: Branch) -> QuerySet[User]:
    """Active staff of the branch who can own customers: who may be on duty or be given a visitor."""
    can_own = Q(roles__permissions__codename="add_customer", roles__permissions__content_type__app_label="customers")
    return (
        User.objects.filter(branch=branch, status=UserStatus.ACTIVE, is_active=True)
        .filter(can_own | Q(is_superuser=True))
        .distinct()
        .order_by("display_name", "username")
    )


def assign_candidates(visit: Visit) -> QuerySet[User]:
    """Whom the assign form may resolve: active staff of the visit's branch and the customer's owner
    (``visit_assign`` decides who may actually take the visitor)."""
    return User.objects.filter(Q(branch=visit.branch_id) | Q(pk=visit.customer.owner_id), status=UserStatus.ACTIVE)


def roster_positions(branch: Branch, day: dt.date) -> dict[int, int]:
    """Agent id → order number on the branch's duty roster of ``day``."""
    return dict(DutyRoster.objects.filter(branch=branch, day=day).values_list("agent_id", "position"))


def _minutes(seconds: float | None) -> int | None:
    return None if seconds is None else int(seconds // 60)


def reception_board_for(viewer, branch: Branch) -> dict:
    """Everything on a branch's live reception board for ``viewer`` (the branch is in their ``desk``
    reach): today's roster and who is up next, the visits with their clocks, and which customer files
    the viewer may open. A fixed number of queries whatever the number of visitors."""
    now = timezone.now()
    today = rotation_day()
    day_start = timezone.make_aware(dt.datetime.combine(today, dt.time.min))
    sla_minutes = settings_for(branch).reception_sla_minutes
    roster = list(DutyRoster.objects.filter(branch=branch, day=today).select_related("agent").order_by("position"))
    candidates = [
        entry
        for entry in roster
        if entry.is_available and entry.agent.is_active and entry.agent.status == UserStatus.ACTIVE
    ]
    up_next = min(candidates, key=lambda entry: (entry.turns_taken, entry.position, entry.pk), default=None)
    visits = list(
        Visit.objects.filter(branch=branch)
        # Still-open visits of earlier days stay on the board until someone closes them.
        .filter(Q(arrived_at__gte=day_start) | Q(status__in=[VisitStatus.WAITING, VisitStatus.IN_RECEPTION]))
        .select_related("customer", "customer__owner", "assigned_to", "received_by")
        .order_by("arrived_at", "pk")
    )
    visible = set(
        Customer.objects.visible_to(viewer)
        .filter(pk__in={visit.customer_id for visit in visits})
        .values_list("pk", flat=True)
    )
    runs_rotation = manages_rotation(viewer)
    can_act = viewer.has_perm(ADD_VISIT)
    agents = list(eligible_agents(branch)) if can_act else []
    for visit in visits:
        waited = (visit.reception_started_at or now) - visit.arrived_at
        visit.waiting_minutes = _minutes(max(waited.total_seconds(), 0))
        visit.over_sla = waited.total_seconds() > sla_minutes * 60
        visit.duration_minutes = _minutes(visit.reception_seconds)
        visit.in_reception_minutes = (
            _minutes((now - visit.reception_started_at).total_seconds()) if visit.reception_started_at else None
        )
        visit.customer_visible = visit.customer_id in visible
        visit.to_owner = visit.assigned_to_id is not None and visit.assigned_to_id == visit.customer.owner_id
        # The buttons follow the services' rules (which refuse anyway): R6.1.1, issue #9.
        visit.can_receive = visit.assigned_to_id is not None and works_visit(viewer, visit)
        visit.can_mark_left = may_mark_left(viewer, visit)
        visit.assign_agents = _assign_choices(viewer, visit, agents, up_next, runs_rotation)
    waiting = [visit for visit in visits if visit.status == VisitStatus.WAITING]
    finished = [visit for visit in visits if visit.status in (VisitStatus.DONE, VisitStatus.LEFT)]
    done = [visit for visit in finished if visit.status == VisitStatus.DONE and visit.waiting_seconds is not None]
    return {
        "branch": branch,
        "today": today,
        "now": now,
        "sla_minutes": sla_minutes,
        "roster": roster,
        "up_next": up_next,
        "waiting": waiting,
        "overdue_count": sum(1 for visit in waiting if visit.over_sla),
        "in_reception": [visit for visit in visits if visit.status == VisitStatus.IN_RECEPTION],
        "finished": finished,
        "average_wait": _minutes(sum(v.waiting_seconds for v in done) / len(done)) if done else None,
        "can_act": can_act,
        "manages_rotation": runs_rotation,
        "rotation_log": rotation_log(branch, today, viewer=viewer),
    }


def _assign_choices(viewer, visit: Visit, agents: list[User], up_next: DutyRoster | None, runs_rotation: bool):
    """Whom the viewer may give the visitor to (``visit_assign``'s rule): anyone but the current agent for
    whoever runs the rotation; else only a visitor nobody was given yet — to the agent up next, or with
    nobody on duty to any agent but the viewer."""
    if runs_rotation:
        return [agent for agent in agents if agent.pk != visit.assigned_to_id]
    if visit.assigned_to_id is not None:
        return []
    if up_next is not None:
        return [up_next.agent]
    return [agent for agent in agents if agent.pk != viewer.pk]


# --- the rotation log (轮接记录, R6.1.1, issue #9) ------------------------------------------------

ROTATION_LOG_LIMIT = 200
ROTATION_ACTIONS = (
    "customers.roster.skipped",
    "customers.roster.availability_changed",
    "customers.visit.assigned",
    "customers.visit.reception_started",
    "customers.visit.left",
)


@dataclass
class RotationLogEntry:
    """One act on the rotation: ``text`` says who did what to whom, in the viewer's language."""

    at: dt.datetime
    kind: str
    text: str
    reason: str
    actor_id: int | None
    agent_id: int | None


def _log_kind(event: AuditEvent) -> str | None:
    """What an audited rotation act was, or None when it touched nobody else's turn or visitor."""
    before, after = event.before or {}, event.after or {}
    if event.action == "customers.roster.skipped":
        return "passed" if after.get("agent") == event.actor_id else "skipped"
    if event.action == "customers.roster.availability_changed":
        if after.get("agent") == event.actor_id:
            return None
        return "back" if after.get("is_available") else "away"
    if event.action == "customers.visit.assigned":
        return "reassigned" if before.get("assigned_to") else "assigned"
    assigned = after.get("assigned_to")
    if assigned is None or assigned == event.actor_id:
        return None
    return "received" if event.action == "customers.visit.reception_started" else "left"


_LOG_TEXTS = {
    "passed": _("%(agent)s passed their own turn"),
    "skipped": _("%(actor)s skipped %(agent)s's turn"),
    "away": _("%(actor)s took %(agent)s out of the rotation"),
    "back": _("%(actor)s put %(agent)s back in the rotation"),
    "assigned": _("%(actor)s assigned visitor %(visitor)s to %(agent)s"),
    "reassigned": _("%(actor)s reassigned visitor %(visitor)s from %(previous)s to %(agent)s"),
    "received": _("%(actor)s received %(agent)s's visitor %(visitor)s"),
    "left": _("%(actor)s marked %(agent)s's visitor %(visitor)s as left"),
}


def rotation_log(branch: Branch, day: dt.date, *, viewer) -> list[RotationLogEntry]:
    """The day's skipped and passed turns, agents paused by others, manual assignments and reassignments,
    and visitors received or closed by someone other than their agent at ``branch``, newest first.

    Whoever runs the rotation sees every entry; anyone else only the entries that name them (their own
    turn or visitor, or what they did). Read from the audit trail (the ``occurred_at`` index serves the
    day) in at most three queries, whatever the day held."""
    start = timezone.make_aware(dt.datetime.combine(day, dt.time.min))
    events = AuditEvent.objects.filter(
        action__in=ROTATION_ACTIONS,
        occurred_at__gte=start,
        occurred_at__lt=start + dt.timedelta(days=1),
        after__branch=branch.pk,
    )
    if not manages_rotation(viewer):
        events = events.filter(
            Q(actor=viewer.pk)
            | Q(after__agent=viewer.pk)
            | Q(after__assigned_to=viewer.pk)
            | Q(before__assigned_to=viewer.pk)
        )
    events = list(
        events.only(
            "occurred_at", "actor_id", "actor_name", "action", "target_id", "before", "after", "reason"
        ).order_by("-seq")[:ROTATION_LOG_LIMIT]
    )
    kinds = [(event, kind) for event in events if (kind := _log_kind(event)) is not None]
    user_ids, visit_ids = set(), set()
    for event, _kind in kinds:
        before, after = event.before or {}, event.after or {}
        user_ids.update(filter(None, (after.get("agent"), after.get("assigned_to"), before.get("assigned_to"))))
        if event.action.startswith("customers.visit."):
            visit_ids.add(int(event.target_id))
    names = {user.pk: str(user) for user in User.objects.filter(pk__in=user_ids)} if user_ids else {}
    # A visitor outside the viewer's scope is named as the desk names them: masked (issue #9 defect 6).
    visible = Exists(Customer.objects.visible_to(viewer).filter(pk=OuterRef("customer_id")))
    visitors = (
        {
            pk: name if shown else mask_name(name)
            for pk, name, shown in Visit.objects.filter(pk__in=visit_ids, branch=branch)
            .annotate(shown=visible)
            .values_list("pk", "customer__name", "shown")
        }
        if visit_ids
        else {}
    )
    entries = []
    for event, kind in kinds:
        before, after = event.before or {}, event.after or {}
        agent_id = after.get("agent", after.get("assigned_to"))
        words = {
            "actor": event.actor_name or "—",
            "agent": names.get(agent_id, "—"),
            "previous": names.get(before.get("assigned_to"), "—"),
            "visitor": visitors.get(int(event.target_id), "—") if event.action.startswith("customers.visit.") else "",
        }
        entries.append(
            RotationLogEntry(
                at=event.occurred_at,
                kind=kind,
                text=str(_LOG_TEXTS[kind]) % words,
                reason=event.reason,
                actor_id=event.actor_id,
                agent_id=agent_id,
            )
        )
    return entries
