"""Reads for follow-ups, feedback and the role home pages: counts are aggregates, lists are bounded."""

from __future__ import annotations

import datetime as dt

from django.db.models import Avg, Count, DurationField, ExpressionWrapper, F, Min, Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from .choices import FollowUpStatus, Stage, VisitStatus
from .models import Customer, Feedback, FollowUpTask, Visit
from .rules import settings_for

OPEN = FollowUpStatus.OPEN
TABS = ("today", "overdue", "upcoming", "done")
HOME_LIST = 5


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
        return _("%(days)s d %(hours)s h") % {"days": days, "hours": hours}
    if hours:
        return _("%(hours)s h %(minutes)s min") % {"hours": hours, "minutes": minutes}
    if not minutes:
        return _("under a minute")
    return ngettext("%(minutes)s min", "%(minutes)s min", minutes) % {"minutes": minutes}


# --- home pages ---------------------------------------------------------------------------------


def stage_counts(queryset) -> list[dict]:
    """Customers per lifecycle stage in the standard's order, zeros included."""
    counted = dict(queryset.order_by().values_list("stage").annotate(count=Count("pk")))
    return [{"stage": stage, "label": stage.label, "count": counted.get(stage.value, 0)} for stage in Stage]


def agent_home(user, now: dt.datetime) -> dict:
    """Today's work of an agent: follow-ups due today and overdue, own customers by stage, visits today."""
    start, tomorrow = day_bounds(now)
    mine = my_followups(user)
    counts = tab_counts(mine.filter(status=OPEN), now)
    visits_today = Visit.objects.filter(assigned_to=user, arrived_at__gte=start, arrived_at__lt=tomorrow).count()
    return {
        "followups": counts,
        "followups_today": list(tab_rows(mine, "today", now)[:HOME_LIST]),
        "followups_overdue": list(tab_rows(mine, "overdue", now)[:HOME_LIST]),
        "stages": stage_counts(Customer.objects.filter(owner=user, in_pool=False)),
        "visits_today": visits_today,
    }


def lead_home(user, now: dt.datetime) -> dict:
    """A team lead: overdue follow-ups per agent of the team, the team's due today, and their own list."""
    _start, tomorrow = day_bounds(now)
    scoped = FollowUpTask.objects.visible_to(user)
    totals = scoped.aggregate(
        overdue=Count("pk", filter=Q(status=OPEN, due_at__lt=now)),
        today=Count("pk", filter=Q(status=OPEN, due_at__gte=now, due_at__lt=tomorrow)),
    )
    mine = my_followups(user)
    return {
        "team_followups": totals,
        "overdue_by_agent": overdue_by_agent(team_overdue(user, now), limit=20),
        "followups": tab_counts(mine.filter(status=OPEN), now),
        "followups_today": list(tab_rows(mine, "today", now)[:HOME_LIST]),
    }


def manager_home(user, now: dt.datetime) -> dict:
    """A branch manager: customers by stage, visits today, visitors waiting too long, overdue follow-ups."""
    start, tomorrow = day_bounds(now)
    sla = settings_for(user.branch).reception_sla_minutes if user.branch_id else 15
    visits = Visit.objects.visible_to(user).aggregate(
        today=Count("pk", filter=Q(arrived_at__gte=start, arrived_at__lt=tomorrow)),
        waiting_long=Count("pk", filter=Q(status=VisitStatus.WAITING, arrived_at__lt=now - dt.timedelta(minutes=sla))),
    )
    # One row per agent of the branch: the total is their sum, the page shows the ten most overdue.
    by_agent = overdue_by_agent(team_overdue(user, now), limit=10_000)
    return {
        "stages": stage_counts(Customer.objects.visible_to(user).filter(in_pool=False)),
        "visits": visits,
        "reception_sla": sla,
        "branch_overdue": sum(row["count"] for row in by_agent),
        "overdue_by_agent": by_agent[:10],
    }


def cs_home(user, now: dt.datetime) -> dict:
    stats = feedback_stats(Feedback.objects.visible_to(user), now)
    return {"feedback": stats, "feedback_avg_text": duration_text(stats["avg_response"])}
